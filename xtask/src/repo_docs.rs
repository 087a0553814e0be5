//! The project's policy documents: `SECURITY.md`, `CONTRIBUTING.md` and `.github/CODEOWNERS`.
//!
//! Documents that tell a contributor what to run, or a reviewer who owns a path, rot silently:
//! a renamed folder leaves a CODEOWNERS rule that matches nothing (so nobody is asked to review),
//! a removed `make` target leaves a contributor guide that fails on its first command. This check
//! makes that drift fail:
//!
//! - the three files exist;
//! - every CODEOWNERS rule has owners of the form `@org/team`, `@user` or an e-mail address (and
//!   no comment after them: GitHub ignores the whole file when one line is invalid), and
//!   its pattern matches at least one file of the repository (tracked, or new and not ignored:
//!   `git ls-files --cached --others --exclude-standard`), with the gitignore rules CODEOWNERS
//!   uses — a leading `/` anchors at the root, a trailing `/` matches directories only, a pattern
//!   with no inner `/` matches at any depth, `*` and `?` stay within one path segment (`**` is
//!   rejected: none of our rules needs it, and a half-right matcher would pass bad patterns);
//! - every relative link of `SECURITY.md` and `CONTRIBUTING.md` points to an existing file or
//!   directory (links to web pages, e-mail and anchors within the page are not followed);
//! - every `make <target>` and `cargo xtask <command>` written in code in `CONTRIBUTING.md`
//!   exists: the targets are read from the `Makefile`, the commands from this binary's own
//!   `--help` (clap's list, so it cannot disagree with what runs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

/// The files this check reads, relative to the repository root.
const SECURITY: &str = "SECURITY.md";
const CONTRIBUTING: &str = "CONTRIBUTING.md";
const CODEOWNERS: &str = ".github/CODEOWNERS";
const ISSUE_TEMPLATES: &str = ".github/ISSUE_TEMPLATE";

/// Checks the policy documents of the repository; returns one summary line per document.
pub fn check() -> Result<Vec<String>> {
    check_documents(crate::root(), &xtask_commands()?)
}

/// [`check`] on the repository at `root`, with the xtask commands given.
fn check_documents(root: &Path, commands: &BTreeSet<String>) -> Result<Vec<String>> {
    let read = |rel: &str| {
        std::fs::read_to_string(root.join(rel)).with_context(|| {
            format!("{rel} is required (the project's policy documents) but cannot be read")
        })
    };
    let security = read(SECURITY)?;
    let contributing = read(CONTRIBUTING)?;
    let codeowners = read(CODEOWNERS)?;

    let files = repository_files(root)?;
    let rules = parse_codeowners(&codeowners).with_context(|| format!("in {CODEOWNERS}"))?;
    for rule in &rules {
        ensure!(
            files.iter().any(|file| rule.pattern.matches(file)),
            "{CODEOWNERS}:{}: pattern `{}` matches no file of the repository",
            rule.line,
            rule.pattern.text
        );
    }

    let owners: BTreeSet<&str> = rules
        .iter()
        .flat_map(|rule| rule.owners.iter().map(String::as_str))
        .collect();
    let mut summary = vec![format!(
        "{CODEOWNERS}: {} rules for {} owners, each matching at least one of {} files",
        rules.len(),
        owners.len(),
        files.len()
    )];
    for (name, text) in [(SECURITY, &security), (CONTRIBUTING, &contributing)] {
        let links = relative_links(text);
        for link in &links {
            ensure!(
                root.join(link).exists(),
                "{name}: the link `{link}` points to no file"
            );
        }
        summary.push(format!("{name}: {} relative links resolve", links.len()));
    }

    let makefile = read("Makefile")?;
    let targets = make_targets(&makefile);
    let mentions = command_mentions(&contributing);
    for mention in &mentions {
        match mention {
            Mention::Make(target) => ensure!(
                targets.contains(target),
                "{CONTRIBUTING}: `make {target}` is not a target of the Makefile ({})",
                join(&targets)
            ),
            Mention::Xtask(command) => ensure!(
                commands.contains(command),
                "{CONTRIBUTING}: `cargo xtask {command}` is not an xtask command ({})",
                join(commands)
            ),
        }
    }
    summary.push(format!(
        "{CONTRIBUTING}: {} make targets and xtask commands named, all exist",
        mentions.len()
    ));
    Ok(summary)
}

/// The issue chooser and forms, against the schemas GitHub's formats have in SchemaStore, as
/// vendored by `check-jsonschema` (pinned in the tool cache): `github-issue-forms` for each form,
/// `github-issue-config` for `config.yml`. A form GitHub cannot parse is silently dropped from the
/// chooser, so nothing else would notice. First proves the validator rejects a broken form.
pub fn issue_forms(check_jsonschema: &Path) -> Result<String> {
    let dir = crate::root().join(ISSUE_TEMPLATES);
    let mut forms = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name != "config.yml"
            && Path::new(name.as_ref())
                .extension()
                .is_some_and(|e| e == "yml" || e == "yaml")
        {
            forms.push(path);
        }
    }
    forms.sort();
    ensure!(!forms.is_empty(), "{ISSUE_TEMPLATES}: no issue forms");

    let schema_run = |schema: &str, files: &[&Path]| -> Result<std::process::Output> {
        let mut cmd = crate::proc::isolated(check_jsonschema);
        cmd.args(["--builtin-schema", schema]).args(files);
        crate::proc::output(&mut cmd)
    };
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let broken = scratch.path().join("broken.yml");
    // An input without its required `label`, in a form without its required `description`.
    std::fs::write(
        &broken,
        "name: broken\nbody:\n  - type: input\n    attributes: {}\n",
    )
    .with_context(|| format!("writing {}", broken.display()))?;
    let rejected = schema_run("vendor.github-issue-forms", &[&broken])?;
    ensure!(
        !rejected.status.success(),
        "check-jsonschema accepted a broken issue form: the check cannot fail"
    );

    let paths: Vec<&Path> = forms.iter().map(PathBuf::as_path).collect();
    let config = dir.join("config.yml");
    for (schema, files) in [
        ("vendor.github-issue-forms", paths.clone()),
        ("vendor.github-issue-config", vec![config.as_path()]),
    ] {
        let output = schema_run(schema, &files)?;
        ensure!(
            output.status.success(),
            "{ISSUE_TEMPLATES}: not valid against {schema}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(format!(
        "{ISSUE_TEMPLATES}: {} issue forms and the chooser config valid (a broken form rejected)",
        forms.len()
    ))
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The repository's files: tracked, plus new files not ignored (so the check passes or fails
/// the same before and after they are committed).
fn repository_files(root: &Path) -> Result<Vec<String>> {
    let output = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .with_context(|| format!("running `git ls-files` in {}", root.display()))?;
    ensure!(
        output.status.success(),
        "`git ls-files` in {} failed: {}",
        root.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let text = String::from_utf8(output.stdout).context("`git ls-files` printed non-UTF-8")?;
    let files: BTreeSet<String> = text
        .split('\0')
        .filter(|f| !f.is_empty())
        // A file deleted from the work tree but still in the index is no longer there to own.
        .filter(|f| root.join(f).exists())
        .map(str::to_owned)
        .collect();
    Ok(files.into_iter().collect())
}

/// One CODEOWNERS rule: where it is, what it matches, who owns it.
#[derive(Debug)]
struct Rule {
    line: usize,
    pattern: Pattern,
    owners: Vec<String>,
}

fn parse_codeowners(text: &str) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let mut words = content.split_whitespace();
        let pattern = words.next().unwrap_or_default();
        let owners: Vec<String> = words.map(str::to_owned).collect();
        ensure!(
            !owners.iter().any(|w| w.starts_with('#')),
            "line {line}: a comment after a rule; GitHub documents comments only on lines of their \
             own, and one invalid line disables the whole file: put the comment on a line of its own"
        );
        ensure!(
            !owners.is_empty(),
            "line {line}: `{pattern}` has no owner (a rule without owners un-owns the path; say so \
             with a comment instead of leaving it implicit)"
        );
        for owner in &owners {
            ensure!(
                is_owner(owner),
                "line {line}: `{owner}` is not an owner (`@org/team`, `@user` or an e-mail address)"
            );
        }
        let pattern = Pattern::parse(pattern).with_context(|| format!("line {line}"))?;
        rules.push(Rule {
            line,
            pattern,
            owners,
        });
    }
    ensure!(!rules.is_empty(), "no rules");
    Ok(rules)
}

/// GitHub's owner syntax: `@user`, `@org/team`, or an e-mail address.
fn is_owner(owner: &str) -> bool {
    let name_ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    if let Some(handle) = owner.strip_prefix('@') {
        match handle.split_once('/') {
            Some((org, team)) => name_ok(org) && name_ok(team),
            None => name_ok(handle),
        }
    } else {
        owner
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
    }
}

/// A CODEOWNERS path pattern, with the subset of gitignore rules described in the module docs.
#[derive(Debug)]
struct Pattern {
    text: String,
    /// The pattern's segments, split on `/`, without the leading and trailing slash.
    segments: Vec<String>,
    /// Leading `/`, or a `/` inside: the pattern is relative to the repository root.
    anchored: bool,
    /// Trailing `/`: only directories match (so everything below them).
    directory_only: bool,
}

impl Pattern {
    fn parse(text: &str) -> Result<Self> {
        ensure!(
            !text.contains("**"),
            "`{text}`: `**` is not supported by this check; name the directory instead"
        );
        ensure!(
            !text.starts_with('!') && !text.contains('[') && !text.contains('\\'),
            "`{text}`: negation, character classes and escapes are not valid in CODEOWNERS"
        );
        let directory_only = text.ends_with('/');
        let body = text.trim_end_matches('/');
        let anchored = body.contains('/');
        let body = body.trim_start_matches('/');
        if body.is_empty() {
            bail!("`{text}` names the root itself; use `*` for every file");
        }
        Ok(Self {
            text: text.to_owned(),
            segments: body.split('/').map(str::to_owned).collect(),
            anchored,
            directory_only,
        })
    }

    /// Whether the rule applies to `file` (a path relative to the root, `/`-separated): the
    /// pattern matches the file itself or one of the directories containing it.
    fn matches(&self, file: &str) -> bool {
        let parts: Vec<&str> = file.split('/').collect();
        let n = self.segments.len();
        // `end` is the number of leading path segments the pattern is compared with: the whole
        // path (the file) or a proper prefix (a directory containing it).
        let candidates = |start: usize| {
            let end = start + n;
            end <= parts.len()
                && (!self.directory_only || end < parts.len())
                && self
                    .segments
                    .iter()
                    .zip(&parts[start..end])
                    .all(|(glob, part)| segment_matches(glob, part))
        };
        if self.anchored {
            candidates(0)
        } else {
            (0..parts.len()).any(candidates)
        }
    }
}

/// Glob matching within one path segment: `*` is any run of characters, `?` one character.
fn segment_matches(glob: &str, text: &str) -> bool {
    let glob: Vec<char> = glob.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if g < glob.len() && (glob[g] == '?' || glob[g] == text[t]) {
            g += 1;
            t += 1;
        } else if g < glob.len() && glob[g] == '*' {
            star = Some((g, t));
            g += 1;
        } else if let Some((sg, st)) = star {
            g = sg + 1;
            t = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == '*')
}

/// Lines outside fenced code blocks, and the fenced code lines, separately.
fn split_fences(markdown: &str) -> (Vec<&str>, Vec<&str>) {
    let (mut prose, mut code) = (Vec::new(), Vec::new());
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            code.push(line);
        } else {
            prose.push(line);
        }
    }
    (prose, code)
}

/// The targets of inline links and reference definitions outside code that are relative paths
/// (no scheme, not `mailto:`, not only an anchor), with any `#fragment` removed.
fn relative_links(markdown: &str) -> BTreeSet<String> {
    let (prose, _) = split_fences(markdown);
    let mut targets = Vec::new();
    for paragraph in paragraphs(&prose) {
        let text = strip_code_spans(&paragraph);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        // Reference definitions: `[name]: target`, each on a line of its own.
        for line in text.lines() {
            let trimmed = line.trim_start();
            if let Some(after) = trimmed.strip_prefix('[').and_then(|s| s.split_once("]:")) {
                targets.push(after.1.to_owned());
            }
        }
    }
    targets
        .into_iter()
        .filter_map(|target| {
            // `(<path with spaces> "title")`: keep the destination only.
            let target = target.trim();
            let target = match target.strip_prefix('<') {
                Some(bracketed) => bracketed.split_once('>').map_or(bracketed, |(t, _)| t),
                None => target.split_whitespace().next().unwrap_or_default(),
            };
            let path = target.split('#').next().unwrap_or_default();
            let external = target.contains("://") || target.starts_with("mailto:");
            (!external && !path.is_empty()).then(|| path.to_owned())
        })
        .collect()
}

/// The line with its inline code spans blanked out (text in backticks is not a link).
fn strip_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for (index, piece) in line.split('`').enumerate() {
        if index % 2 == 0 {
            out.push_str(piece);
        } else {
            out.push_str(&" ".repeat(piece.len()));
        }
    }
    out
}

/// The contents of inline code spans and fenced code lines.
fn code_texts(markdown: &str) -> Vec<String> {
    let (prose, code) = split_fences(markdown);
    let mut texts: Vec<String> = code.into_iter().map(str::to_owned).collect();
    for paragraph in paragraphs(&prose) {
        texts.extend(
            paragraph
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|span| span.replace('\n', " ")),
        );
    }
    texts
}

/// Consecutive non-blank lines joined with `\n`: a code span may continue on the next line of
/// its paragraph (so backticks pair up per paragraph, not per line), never past a blank line.
fn paragraphs(lines: &[&str]) -> Vec<String> {
    lines
        .split(|line| line.trim().is_empty())
        .filter(|group| !group.is_empty())
        .map(|group| group.join("\n"))
        .collect()
}

/// A command a document tells its reader to run.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mention {
    Make(String),
    Xtask(String),
}

/// `make <target>` and `cargo xtask <command>` in code (prose like "make sure" is not a command).
fn command_mentions(markdown: &str) -> BTreeSet<Mention> {
    let mut mentions = BTreeSet::new();
    for text in code_texts(markdown) {
        let words: Vec<&str> = text.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            let next = |k: usize| words.get(i + k).copied().filter(|w| is_name(w));
            if *word == "make" {
                if let Some(target) = next(1) {
                    mentions.insert(Mention::Make(target.to_owned()));
                }
            } else if *word == "cargo"
                && words.get(i + 1) == Some(&"xtask")
                && let Some(command) = next(2)
            {
                mentions.insert(Mention::Xtask(command.to_owned()));
            }
        }
    }
    mentions
}

/// A target or subcommand name: lower-case letters, digits and dashes, starting with a letter.
fn is_name(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_lowercase())
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The rule targets of a Makefile (`name:` at the start of a line, not a variable assignment).
fn make_targets(makefile: &str) -> BTreeSet<String> {
    makefile
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, rest)| is_name(name) && !rest.starts_with('='))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The subcommands of this very binary, from clap's `--help`.
fn xtask_commands() -> Result<BTreeSet<String>> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let output = Command::new(&exe)
        .arg("--help")
        .output()
        .with_context(|| format!("running `{} --help`", exe.display()))?;
    let help = String::from_utf8_lossy(&output.stdout);
    let commands = help_commands(&help);
    ensure!(
        output.status.success() && !commands.is_empty(),
        "`{} --help` listed no commands (is this the xtask binary?)",
        exe.display()
    );
    Ok(commands)
}

/// The command names of clap's help: the first word of each line in the `Commands:` section.
fn help_commands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        // Continuation lines of a wrapped description are indented deeper than the names.
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| is_name(name) && *name != "help")
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway repository holding the three documents, a Makefile and a few files.
    fn fixture_repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = [
            ("Makefile", "test: ## all\n\tcargo xtask test\nlint:\n"),
            (
                "SECURITY.md",
                "Report privately. See [the guide](CONTRIBUTING.md#set-up).\n",
            ),
            (
                "CONTRIBUTING.md",
                "Run `make test`, then `cargo xtask validate`. Map: [docs](docs/).\n",
            ),
            (
                ".github/CODEOWNERS",
                "* @org/maintainers\n/docs/ @org/docs\n",
            ),
            ("docs/guide.md", "# Guide\n"),
        ];
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        let status = Command::new("git")
            .args(["init", "--quiet"])
            .current_dir(dir.path())
            .status()
            .expect("git runs");
        assert!(status.success());
        dir
    }

    fn check_fixture(dir: &Path) -> Result<Vec<String>> {
        let commands = ["test", "validate"].map(String::from).into_iter().collect();
        check_documents(dir, &commands)
    }

    #[test]
    fn a_consistent_repository_passes_and_each_kind_of_drift_fails() {
        let repo = fixture_repo();
        let root = repo.path();
        let summary = check_fixture(root).expect("the fixture is consistent");
        assert_eq!(
            summary[0],
            ".github/CODEOWNERS: 2 rules for 2 owners, each matching at least one of 5 files"
        );

        let append = |path: &str, text: &str| {
            let path = root.join(path);
            let before = std::fs::read_to_string(&path).expect("read");
            std::fs::write(&path, format!("{before}{text}")).expect("write");
            before
        };
        let cases = [
            (
                ".github/CODEOWNERS",
                "/infra/ @org/platform\n",
                "`/infra/` matches no file",
            ),
            (
                "SECURITY.md",
                "[gone](docs/gone.md)\n",
                "`docs/gone.md` points to no file",
            ),
            (
                "CONTRIBUTING.md",
                "Then `make deploy`.\n",
                "`make deploy` is not a target",
            ),
            (
                "CONTRIBUTING.md",
                "Or `cargo xtask ship`.\n",
                "`cargo xtask ship` is not",
            ),
        ];
        for (path, text, expected) in cases {
            let before = append(path, text);
            let error = format!("{:#}", check_fixture(root).expect_err(expected));
            assert!(error.contains(expected), "{path}: {error}");
            std::fs::write(root.join(path), before).expect("restore");
        }
        std::fs::remove_file(root.join("SECURITY.md")).expect("remove");
        let error = format!("{:#}", check_fixture(root).expect_err("missing file"));
        assert!(error.contains("SECURITY.md is required"), "{error}");
    }

    fn pattern(text: &str) -> Pattern {
        Pattern::parse(text).expect("a supported pattern")
    }

    #[test]
    fn star_matches_every_file() {
        assert!(pattern("*").matches("README.md"));
        assert!(pattern("*").matches("apps/api/src/main.rs"));
    }

    #[test]
    fn anchored_directory_matches_only_below_it_at_the_root() {
        let p = pattern("/apps/");
        assert!(p.matches("apps/api/Cargo.toml"));
        assert!(!p.matches("xtask/apps/x.rs"));
        assert!(
            !p.matches("apps"),
            "a file named like the directory is not the directory"
        );
        assert!(!p.matches("apps-old/x"));
    }

    #[test]
    fn pattern_with_inner_slash_is_anchored() {
        let p = pattern("docs/runbooks/");
        assert!(p.matches("docs/runbooks/Watchdog.md"));
        assert!(!p.matches("x/docs/runbooks/Watchdog.md"));
    }

    #[test]
    fn unanchored_name_matches_at_any_depth() {
        let p = pattern("Dockerfile");
        assert!(p.matches("apps/api/Dockerfile"));
        assert!(p.matches("Dockerfile"));
        assert!(!p.matches("apps/api/Dockerfile.old"));
        let p = pattern("*.tf");
        assert!(p.matches("infra/terraform/main.tf"));
        assert!(!p.matches("infra/terraform/main.tfvars"));
    }

    #[test]
    fn anchored_file_matches_exactly() {
        let p = pattern("/Cargo.toml");
        assert!(p.matches("Cargo.toml"));
        assert!(!p.matches("apps/api/Cargo.toml"));
        assert!(pattern("/apps/*/Dockerfile").matches("apps/web/Dockerfile"));
        assert!(!pattern("/apps/*/Dockerfile").matches("apps/web/nginx/Dockerfile"));
    }

    #[test]
    fn segment_globs() {
        assert!(segment_matches("*.md", "README.md"));
        assert!(segment_matches("a*b*c", "aXXbYc"));
        assert!(!segment_matches("a*b*c", "aXXbY"));
        assert!(segment_matches("?.rs", "a.rs"));
        assert!(!segment_matches("?.rs", "ab.rs"));
    }

    #[test]
    fn unsupported_patterns_are_rejected() {
        for bad in ["/docs/**/x.md", "!secret", "/", "[ab].md"] {
            assert!(Pattern::parse(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn codeowners_rules_need_valid_owners() {
        let rules =
            parse_codeowners("# comment\n\n*  @sre-blueprint/maintainers\n/docs/ @a b@c.io\n")
                .expect("valid rules");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].line, 4);
        assert_eq!(rules[1].owners, ["@a", "b@c.io"]);
        let error = format!("{:#}", parse_codeowners("/docs/\n").expect_err("no owner"));
        assert!(
            error.contains("line 1") && error.contains("no owner"),
            "{error}"
        );
        let error = format!(
            "{:#}",
            parse_codeowners("* @o/t # why\n").expect_err("inline comment")
        );
        assert!(error.contains("line of its own"), "{error}");
        let error = format!(
            "{:#}",
            parse_codeowners("* sre-team\n").expect_err("bad owner")
        );
        assert!(error.contains("not an owner"), "{error}");
        assert!(parse_codeowners("# only comments\n").is_err());
    }

    #[test]
    fn links_outside_code_are_collected_without_fragments() {
        let md = "See [a](docs/a.md#part), [web](https://x.io/y), [mail](mailto:s@x.io), \
                  [here](#top) and `[not](code.md)`.\n\
                  ```\n[fenced](fenced.md)\n```\n\
                  [ref]: ../README.md\n[t](<with space.md> \"title\")\n\n\
                  A span `across\nlines` then [after](after.md).\n";
        let links: Vec<String> = relative_links(md).into_iter().collect();
        assert_eq!(
            links,
            ["../README.md", "after.md", "docs/a.md", "with space.md"]
        );
    }

    #[test]
    fn commands_are_read_from_code_only() {
        let md = "Make sure to run `make test` and `cargo xtask validate --only kubernetes`.\n\
                  ```sh\nmake lint && cargo xtask tag --next minor\n```\n\
                  Do not make noise; `cargo xtask` alone prints help. Then `cargo xtask\n\
                  observability` across lines.\n";
        let mentions: Vec<Mention> = command_mentions(md).into_iter().collect();
        assert_eq!(
            mentions,
            [
                Mention::Make("lint".into()),
                Mention::Make("test".into()),
                Mention::Xtask("observability".into()),
                Mention::Xtask("tag".into()),
                Mention::Xtask("validate".into()),
            ]
        );
    }

    #[test]
    fn make_targets_skip_variables_and_specials() {
        let makefile = "TF ?= tofu\nX := 1\n.PHONY: run\nhelp: ## list\n\t@awk 'x: y'\n\
                        run: ## run\ncluster-down: ## down\nname:=value\n";
        let targets: Vec<String> = make_targets(makefile).into_iter().collect();
        assert_eq!(targets, ["cluster-down", "help", "run"]);
    }

    #[test]
    fn help_commands_are_the_first_words_of_the_commands_section() {
        let help = "The task runner\n\nUsage: cargo xtask <COMMAND>\n\nCommands:\n  setup     \
                    Install the pinned tools\n  validate  The platform as code, with a very long\n\
                    \x20           description\n  help      Print this message\n\nOptions:\n  \
                    -h, --help  Print help\n";
        let commands: Vec<String> = help_commands(help).into_iter().collect();
        assert_eq!(commands, ["setup", "validate"]);
        assert!(help_commands("no commands here").is_empty());
    }
}

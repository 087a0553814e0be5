//! Supply-chain checks of the GitHub Actions workflows in `.github/workflows/`.
//!
//! Three independent judges, each shown able to fail in the same run:
//!
//! 1. **actionlint** (`-shellcheck` given explicitly, so every `run:` script is also linted by
//!    shellcheck): workflow syntax, expression types, untrusted inputs in scripts. Zero findings.
//! 2. **zizmor** `--offline` (persona `regular`, its default: minimal false positives): security
//!    audits — template injection, dangerous triggers, credential persistence, unpinned actions.
//!    Findings above `low` fail; `low` and `informational` ones are counted in the summary. A
//!    finding silenced inline with `# zizmor: ignore[rule]` must give its reason after the
//!    bracket on the same line (`# zizmor: ignore[artipacked] checkout only reads`), so every
//!    exception is explained where it is made.
//! 3. **Our own rules**, on the YAML parsed with serde_yaml:
//!    - every `uses:` (a step's action or a job's reusable workflow) is a local path (`./…`), or
//!      pinned to a full 40-hex commit SHA with a `# v…` version comment on the same line (the SHA
//!      is what runs; the comment is what a reviewer and Dependabot read). A `docker://` image
//!      must be pinned by `@sha256:` digest;
//!    - every job declares `permissions` itself (a top-level block alone is not enough: a job
//!      added later would silently inherit it);
//!    - every job running steps has `timeout-minutes` (GitHub's default is 360 min). Jobs that
//!      call a reusable workflow cannot carry the key; the called workflow's jobs are checked;
//!    - every workflow has a top-level `concurrency`, except one triggered only by
//!      `workflow_call`: it runs inside its caller's group, and `github.workflow` there is the
//!      caller's name, so a group of its own would deadlock with the caller's.
//!
//! The tools are shown able to fail on a known-bad workflow written to a temporary directory:
//! actionlint must report a shellcheck finding and an untrusted-input finding, zizmor a
//! high-severity template injection and an unpinned action.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use anyhow::{Context as _, Result, bail, ensure};
use regex::Regex;
use serde::Deserialize;
use serde_yaml::Value;

use crate::{proc, root};

/// The workflow directory, relative to the root.
const DIR: &str = ".github/workflows";

/// zizmor severities in rising order; findings above [`MAX_ACCEPTED_SEVERITY`] fail.
const SEVERITIES: [&str; 5] = ["unknown", "informational", "low", "medium", "high"];

/// The highest zizmor severity accepted without an inline ignore.
const MAX_ACCEPTED_SEVERITY: &str = "low";

/// A workflow with a shellcheck finding (SC2086, unquoted `$FOO`), an untrusted input expanded in
/// a script, a tag-pinned action and a dangerous trigger: actionlint and zizmor must both object.
const KNOWN_BAD: &str = r"name: known-bad
on:
  pull_request_target:
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo ${{ github.event.pull_request.title }} && echo $FOO
";

/// Runs the three checks on every workflow; returns the summary lines.
pub fn check(actionlint: &Path, zizmor: &Path, shellcheck: &Path) -> Result<Vec<String>> {
    let files = workflow_files(&root().join(DIR))?;
    ensure!(!files.is_empty(), "no workflows found in {DIR}");
    let mut lines = Vec::new();

    let mut problems = Vec::new();
    let mut uses = 0;
    let mut jobs = 0;
    for file in &files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let name = relative(file);
        match lint(&text) {
            Ok(stats) => {
                uses += stats.uses;
                jobs += stats.jobs;
            }
            Err(found) => problems.extend(found.into_iter().map(|p| format!("{name}: {p}"))),
        }
        problems.extend(
            unexplained_ignores(&text)
                .into_iter()
                .map(|line| format!("{name}:{line}: `# zizmor: ignore[…]` without a reason")),
        );
    }
    ensure!(
        problems.is_empty(),
        "workflow rules broken:\n  {}",
        problems.join("\n  ")
    );
    lines.push(ci_matches_pins(
        &std::fs::read_to_string(root().join(CI_WORKFLOW))
            .with_context(|| format!("reading {CI_WORKFLOW}"))?,
    )?);
    lines.push(format!(
        "workflows: {} files, {jobs} jobs, {uses} `uses:` pinned by SHA with a version comment, \
         permissions on every job, timeout-minutes on every job with steps, concurrency on every \
         workflow not only called",
        files.len()
    ));

    let relative_files: Vec<PathBuf> = files.iter().map(|f| PathBuf::from(relative(f))).collect();
    let findings = actionlint_findings(actionlint, shellcheck, root(), &relative_files)?;
    ensure!(
        findings.is_empty(),
        "actionlint found {} problems:\n  {}",
        findings.len(),
        findings.join("\n  ")
    );
    lines.push(format!(
        "workflows: actionlint ok on {} files (shellcheck {})",
        files.len(),
        shellcheck.display()
    ));

    let audit = zizmor_findings(zizmor, root(), Path::new(".github"))?;
    let (blocking, accepted): (Vec<_>, Vec<_>) = audit
        .iter()
        .partition(|f| severity_rank(&f.severity) > severity_rank(MAX_ACCEPTED_SEVERITY));
    ensure!(
        blocking.is_empty(),
        "zizmor found {} findings above {MAX_ACCEPTED_SEVERITY}:\n  {}",
        blocking.len(),
        blocking
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    lines.push(format!(
        "workflows: zizmor --offline: 0 findings above {MAX_ACCEPTED_SEVERITY}, {} at or below",
        accepted.len()
    ));

    lines.push(prove_tools_can_fail(actionlint, zizmor, shellcheck)?);
    Ok(lines)
}

/// `*.yml` and `*.yaml` files of `dir`, sorted.
fn workflow_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Our own rules.

/// What a workflow that passed [`lint`] holds.
#[derive(Debug, PartialEq, Eq)]
struct Stats {
    jobs: usize,
    uses: usize,
}

/// `uses: REF` on a line, with its optional trailing comment.
static USES_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*(?:-\s+)?uses:\s*["']?([^\s"'#]+)["']?\s*(?:#\s*(.*))?$"#)
        .expect("valid regex")
});

/// A full commit SHA after `@`.
static SHA_PIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^@\s]+@[0-9a-f]{40}$").expect("valid regex"));

/// A version comment: `v` and a digit (`v4`, `v4.2.2`).
static VERSION_COMMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^v\d").expect("valid regex"));

/// A docker image pinned by digest.
static DIGEST_PIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$").expect("valid regex"));

/// Checks one workflow's text against the rules of the module docs; returns every problem.
fn lint(text: &str) -> std::result::Result<Stats, Vec<String>> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| vec![format!("not YAML: {e}")])?;
    let mut problems = Vec::new();

    // The comment of every `uses:` line, by reference (the parsed YAML has no comments).
    let mut comments: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(caps) = USES_LINE.captures(line) {
            comments
                .entry(caps[1].to_owned())
                .or_default()
                .push(caps.get(2).map(|c| c.as_str().trim().to_owned()));
        }
    }

    let triggers = trigger_names(doc.get("on"));
    let called_only = !triggers.is_empty() && triggers.iter().all(|t| t == "workflow_call");
    if doc.get("concurrency").is_none() && !called_only {
        problems.push("no top-level `concurrency`".to_owned());
    }

    let Some(jobs) = doc.get("jobs").and_then(Value::as_mapping) else {
        problems.push("no `jobs` mapping".to_owned());
        return Err(problems);
    };
    let mut uses = 0;
    for (id, job) in jobs {
        let id = id.as_str().unwrap_or("?");
        if job.get("permissions").is_none() {
            problems.push(format!("job `{id}` declares no `permissions`"));
        }
        let mut refs = Vec::new();
        if let Some(reusable) = job.get("uses").and_then(Value::as_str) {
            refs.push(reusable.to_owned());
        } else if job.get("timeout-minutes").is_none() {
            problems.push(format!("job `{id}` has no `timeout-minutes`"));
        }
        for step in job
            .get("steps")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if let Some(action) = step.get("uses").and_then(Value::as_str) {
                refs.push(action.to_owned());
            }
        }
        for reference in refs {
            uses += 1;
            if let Err(problem) = pinned(&reference, comments.get(&reference)) {
                problems.push(format!("job `{id}`: {problem}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(Stats {
            jobs: jobs.len(),
            uses,
        })
    } else {
        Err(problems)
    }
}

/// The trigger names of `on:` (a string, a list or a mapping).
fn trigger_names(on: Option<&Value>) -> Vec<String> {
    match on {
        Some(Value::String(name)) => vec![name.clone()],
        Some(Value::Sequence(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::Mapping(map)) => map
            .keys()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether one `uses:` reference is pinned; `comments` are the comments of the lines it is on.
fn pinned(reference: &str, comments: Option<&Vec<Option<String>>>) -> Result<(), String> {
    if reference.starts_with("./") {
        return Ok(());
    }
    if reference.starts_with("docker://") {
        return if DIGEST_PIN.is_match(reference) {
            Ok(())
        } else {
            Err(format!("`{reference}` is not pinned by @sha256 digest"))
        };
    }
    if !SHA_PIN.is_match(reference) {
        return Err(format!(
            "`{reference}` is not pinned to a full 40-hex commit SHA"
        ));
    }
    let Some(comments) = comments else {
        return Err(format!("`{reference}`: its `uses:` line was not found"));
    };
    let versioned = |c: &Option<String>| c.as_deref().is_some_and(|c| VERSION_COMMENT.is_match(c));
    if comments.iter().all(versioned) {
        Ok(())
    } else {
        Err(format!(
            "`{reference}` lacks a `# v…` version comment on its line"
        ))
    }
}

/// `# zizmor: ignore[…]` followed by the reason, on the rest of the line.
static ZIZMOR_IGNORE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"#\s*zizmor:\s*ignore\[[^\]]*\](.*)$").expect("valid regex"));

/// Lines (1-based) whose zizmor ignore comment gives no reason after the bracket.
fn unexplained_ignores(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let caps = ZIZMOR_IGNORE.captures(line)?;
            let reason = caps[1].trim_matches(|c: char| c.is_whitespace() || "-:—".contains(c));
            reason.is_empty().then_some(index + 1)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// actionlint and zizmor.

/// One actionlint finding of its JSON output.
#[derive(Debug, Deserialize)]
struct ActionlintFinding {
    message: String,
    filepath: String,
    line: u64,
    column: u64,
    kind: String,
}

/// Runs actionlint on `files` (relative to `dir`); returns its findings, one line each, prefixed
/// with the kind in brackets (`[shellcheck]`).
fn actionlint_findings(
    actionlint: &Path,
    shellcheck: &Path,
    dir: &Path,
    files: &[PathBuf],
) -> Result<Vec<String>> {
    let out = proc::output(
        Command::new(actionlint)
            .current_dir(dir)
            .arg("-no-color")
            .arg("-shellcheck")
            .arg(shellcheck)
            .args(["-format", "{{json .}}"])
            .args(files),
    )?;
    // Exit status 0: clean; 1: findings (on stdout); anything else is a failure of the tool.
    ensure!(
        matches!(out.status.code(), Some(0 | 1)),
        "actionlint failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_actionlint(&String::from_utf8_lossy(&out.stdout))
}

fn parse_actionlint(stdout: &str) -> Result<Vec<String>> {
    let stdout = stdout.trim();
    if stdout.is_empty() {
        return Ok(Vec::new());
    }
    let findings: Vec<ActionlintFinding> =
        serde_json::from_str(stdout).context("parsing actionlint's JSON output")?;
    Ok(findings
        .iter()
        .map(|f| {
            format!(
                "[{}] {}:{}:{}: {}",
                f.kind, f.filepath, f.line, f.column, f.message
            )
        })
        .collect())
}

/// One zizmor finding, reduced to what is judged and shown.
#[derive(Debug, PartialEq, Eq)]
struct ZizmorFinding {
    ident: String,
    severity: String,
    location: String,
}

impl std::fmt::Display for ZizmorFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}) at {}", self.ident, self.severity, self.location)
    }
}

/// zizmor's JSON (format v1): only the fields judged here.
#[derive(Debug, Deserialize)]
struct RawZizmor {
    ident: String,
    determinations: RawDeterminations,
    locations: Vec<RawLocation>,
    #[serde(default)]
    ignored: bool,
}

#[derive(Debug, Deserialize)]
struct RawDeterminations {
    severity: String,
}

#[derive(Debug, Deserialize)]
struct RawLocation {
    symbolic: RawSymbolic,
    concrete: RawConcrete,
}

#[derive(Debug, Deserialize)]
struct RawSymbolic {
    key: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct RawConcrete {
    location: RawSpan,
}

#[derive(Debug, Deserialize)]
struct RawSpan {
    start_point: RawPoint,
}

#[derive(Debug, Deserialize)]
struct RawPoint {
    row: u64,
}

/// Runs `zizmor --offline` on `input` (relative to `dir`); returns the findings not ignored.
fn zizmor_findings(zizmor: &Path, dir: &Path, input: &Path) -> Result<Vec<ZizmorFinding>> {
    let out = proc::output(
        Command::new(zizmor)
            .current_dir(dir)
            .args(["--offline", "--no-progress", "--format", "json"])
            .arg(input),
    )?;
    // zizmor exits 0 when clean, 10 + the highest severity (11–14) with findings; below 10 is an
    // error of the tool itself (bad input, bad flags).
    let code = out.status.code();
    ensure!(
        code == Some(0) || code.is_some_and(|c| (10..=14).contains(&c)),
        "zizmor failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_zizmor(&String::from_utf8_lossy(&out.stdout))
}

fn parse_zizmor(stdout: &str) -> Result<Vec<ZizmorFinding>> {
    let raw: Vec<RawZizmor> =
        serde_json::from_str(stdout.trim()).context("parsing zizmor's JSON output")?;
    raw.into_iter()
        .filter(|f| !f.ignored)
        .map(|f| {
            let severity = f.determinations.severity.to_lowercase();
            ensure!(
                SEVERITIES.contains(&severity.as_str()),
                "zizmor finding {} has an unknown severity `{severity}`",
                f.ident
            );
            let location = f.locations.first().map_or_else(String::new, |l| {
                let path = l
                    .symbolic
                    .key
                    .pointer("/Local/verbatim_path")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("?");
                // zizmor's rows are 0-based.
                format!("{path}:{}", l.concrete.location.start_point.row + 1)
            });
            Ok(ZizmorFinding {
                ident: f.ident,
                severity,
                location,
            })
        })
        .collect()
}

fn severity_rank(severity: &str) -> usize {
    SEVERITIES
        .iter()
        .position(|s| *s == severity)
        .unwrap_or(SEVERITIES.len())
}

/// Feeds [`KNOWN_BAD`] to both tools and requires the findings it was written to produce.
fn prove_tools_can_fail(actionlint: &Path, zizmor: &Path, shellcheck: &Path) -> Result<String> {
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = work.path().join(DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let bad = dir.join("known-bad.yml");
    std::fs::write(&bad, KNOWN_BAD).with_context(|| format!("writing {}", bad.display()))?;

    let found = actionlint_findings(
        actionlint,
        shellcheck,
        work.path(),
        &[PathBuf::from(DIR).join("known-bad.yml")],
    )?;
    let mut missing = String::new();
    for kind in ["[shellcheck]", "[expression]"] {
        if !found.iter().any(|f| f.starts_with(kind)) {
            let _ = write!(missing, " actionlint {kind};");
        }
    }
    let audit = zizmor_findings(zizmor, work.path(), Path::new(".github"))?;
    for ident in ["template-injection", "unpinned-uses"] {
        if !audit
            .iter()
            .any(|f| f.ident == ident && f.severity == "high")
        {
            let _ = write!(missing, " zizmor {ident} (high);");
        }
    }
    if !missing.is_empty() {
        bail!(
            "the known-bad workflow was not rejected as expected, missing:{missing} \
             so the workflow checks prove nothing"
        );
    }
    Ok(format!(
        "workflows: known-bad workflow rejected ({} actionlint, {} zizmor findings)",
        found.len(),
        audit.len()
    ))
}

/// The workflow that runs `make test` on GitHub.
const CI_WORKFLOW: &str = ".github/workflows/ci.yml";

/// Debian packages of [`crate::tools::DEBIAN`] that `ci.yml` does not install with apt: Ubuntu's
/// `chromium` is a snap wrapper, so the job links the runner's Google Chrome in its place.
const CI_NOT_FROM_APT: [&str; 1] = ["chromium"];

/// `ci.yml` installs the Debian packages `make test` expects (`tools::DEBIAN`, the same list,
/// less [`CI_NOT_FROM_APT`]) and the cargo-deny version of `tools::CARGO_DENY_VERSION`: the two
/// copies a workflow cannot read from Rust, kept equal here.
fn ci_matches_pins(ci: &str) -> Result<String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(ci).with_context(|| format!("parsing {CI_WORKFLOW}"))?;
    let listed: std::collections::BTreeSet<&str> = doc["env"]["DEBIAN_PACKAGES"]
        .as_str()
        .with_context(|| format!("{CI_WORKFLOW}: no top-level env DEBIAN_PACKAGES"))?
        .split_whitespace()
        .collect();
    let wanted: std::collections::BTreeSet<&str> = crate::tools::DEBIAN
        .iter()
        .map(|d| d.package)
        .filter(|p| !CI_NOT_FROM_APT.contains(p))
        .collect();
    ensure!(
        listed == wanted,
        "{CI_WORKFLOW}: DEBIAN_PACKAGES is {listed:?}, but xtask/src/tools.rs DEBIAN (less {CI_NOT_FROM_APT:?}) is {wanted:?}"
    );
    let install = format!(
        "cargo install --locked cargo-deny --version {}",
        crate::tools::CARGO_DENY_VERSION
    );
    ensure!(
        ci.contains(&install),
        "{CI_WORKFLOW}: the advisories job must run `{install}` (the version xtask/src/tools.rs pins)"
    );
    Ok(format!(
        "workflows: {CI_WORKFLOW} installs the {} Debian packages of tools::DEBIAN and cargo-deny {}",
        listed.len(),
        crate::tools::CARGO_DENY_VERSION
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "11bd71901bbe5b1630ceea73d27597364c9af683";

    fn good() -> String {
        format!(
            "name: ci\n\
             on:\n  push:\n\
             concurrency:\n  group: ci-${{{{ github.ref }}}}\n  cancel-in-progress: true\n\
             permissions: {{}}\n\
             jobs:\n\
             \x20 test:\n\
             \x20   runs-on: ubuntu-24.04\n\
             \x20   permissions:\n      contents: read\n\
             \x20   timeout-minutes: 20\n\
             \x20   steps:\n\
             \x20     - uses: actions/checkout@{SHA} # v4.2.2\n\
             \x20     - uses: ./.github/actions/setup\n\
             \x20     - run: make test\n\
             \x20 build:\n\
             \x20   permissions:\n      contents: read\n\
             \x20   uses: octo/flows/.github/workflows/build.yml@{SHA} # v1.0.0\n"
        )
    }

    #[test]
    fn a_pinned_workflow_with_permissions_timeouts_and_concurrency_passes() {
        assert_eq!(lint(&good()), Ok(Stats { jobs: 2, uses: 3 }));
    }

    fn problems(text: &str) -> Vec<String> {
        lint(text).expect_err("the workflow breaks a rule")
    }

    #[test]
    fn a_tag_pinned_action_is_rejected() {
        let text = good().replace(&format!("actions/checkout@{SHA}"), "actions/checkout@v4");
        assert!(problems(&text)[0].contains("not pinned to a full 40-hex"));
    }

    #[test]
    fn a_short_sha_is_rejected() {
        let text = good().replace(&format!("checkout@{SHA}"), "checkout@11bd719");
        assert!(problems(&text)[0].contains("not pinned"));
    }

    #[test]
    fn a_sha_without_version_comment_is_rejected() {
        let text = good().replace(" # v4.2.2", "");
        assert!(problems(&text)[0].contains("version comment"));
        let text = good().replace("# v4.2.2", "# main");
        assert!(problems(&text)[0].contains("version comment"));
    }

    #[test]
    fn an_unpinned_reusable_workflow_is_rejected() {
        let text = good().replace(&format!("build.yml@{SHA}"), "build.yml@main");
        assert!(problems(&text)[0].contains("build.yml@main"));
    }

    #[test]
    fn docker_actions_need_a_digest() {
        let text = good().replace("./.github/actions/setup", "docker://alpine:3.22");
        assert!(problems(&text)[0].contains("sha256"));
        let digest = "a".repeat(64);
        let text = good().replace(
            "./.github/actions/setup",
            &format!("docker://alpine@sha256:{digest}"),
        );
        assert!(lint(&text).is_ok());
    }

    #[test]
    fn a_job_without_permissions_is_rejected_even_with_top_level_ones() {
        let text = good().replacen("    permissions:\n      contents: read\n", "", 1);
        assert_eq!(problems(&text), ["job `test` declares no `permissions`"]);
    }

    #[test]
    fn a_job_without_timeout_is_rejected() {
        let text = good().replace("    timeout-minutes: 20\n", "");
        assert_eq!(problems(&text), ["job `test` has no `timeout-minutes`"]);
    }

    #[test]
    fn a_workflow_without_concurrency_is_rejected_unless_only_called() {
        let text = good().replace(
            "concurrency:\n  group: ci-${{ github.ref }}\n  cancel-in-progress: true\n",
            "",
        );
        assert_eq!(problems(&text), ["no top-level `concurrency`"]);
        let called = text.replace("on:\n  push:\n", "on:\n  workflow_call:\n");
        assert!(lint(&called).is_ok());
        let both = text.replace("on:\n  push:\n", "on: [workflow_call, push]\n");
        assert_eq!(problems(&both), ["no top-level `concurrency`"]);
    }

    #[test]
    fn invalid_yaml_and_missing_jobs_are_rejected() {
        assert!(problems("jobs: [")[0].starts_with("not YAML"));
        assert!(problems("on: push\nconcurrency: x\n")[0].contains("no `jobs`"));
    }

    #[test]
    fn zizmor_ignores_need_a_reason() {
        let text = "a: 1 # zizmor: ignore[artipacked] checkout only reads\n\
                    b: 2 # zizmor: ignore[template-injection]\n\
                    c: 3 # zizmor: ignore[excessive-permissions] --  \n";
        assert_eq!(unexplained_ignores(text), [2, 3]);
    }

    #[test]
    fn actionlint_output_is_parsed() {
        assert!(parse_actionlint("").expect("empty").is_empty());
        assert!(parse_actionlint("[]\n").expect("empty list").is_empty());
        let one = r#"[{"message":"m","filepath":"a.yml","line":3,"column":9,"kind":"shellcheck","snippet":"s","end_column":1}]"#;
        assert_eq!(
            parse_actionlint(one).expect("one finding"),
            ["[shellcheck] a.yml:3:9: m"]
        );
        assert!(parse_actionlint("a.yml:1:1: error").is_err());
    }

    #[test]
    fn zizmor_output_is_parsed_and_ignored_findings_dropped() {
        let finding = |ident: &str, severity: &str, ignored: bool| {
            format!(
                r#"{{"ident":"{ident}","determinations":{{"confidence":"High","severity":"{severity}","persona":"Regular"}},
                "locations":[{{"symbolic":{{"key":{{"Local":{{"verbatim_path":".github/workflows/a.yml"}}}}}},
                "concrete":{{"location":{{"start_point":{{"row":8,"column":0}}}}}}}}],"ignored":{ignored}}}"#
            )
        };
        let out = format!(
            "[{},{}]",
            finding("unpinned-uses", "High", false),
            finding("artipacked", "Medium", true)
        );
        let parsed = parse_zizmor(&out).expect("valid output");
        assert_eq!(
            parsed,
            [ZizmorFinding {
                ident: "unpinned-uses".into(),
                severity: "high".into(),
                location: ".github/workflows/a.yml:9".into(),
            }]
        );
        assert!(severity_rank("high") > severity_rank(MAX_ACCEPTED_SEVERITY));
        assert!(severity_rank("low") <= severity_rank(MAX_ACCEPTED_SEVERITY));
        let odd = format!("[{}]", finding("x", "Severe", false));
        assert!(parse_zizmor(&odd).is_err());
        assert!(parse_zizmor("not json").is_err());
    }

    #[test]
    fn ci_must_install_the_pinned_packages_and_cargo_deny() {
        let packages: Vec<&str> = crate::tools::DEBIAN
            .iter()
            .map(|d| d.package)
            .filter(|p| !CI_NOT_FROM_APT.contains(p))
            .collect();
        let ci = |list: &str, deny: &str| {
            format!(
                "env:\n  DEBIAN_PACKAGES: {list}\njobs: {{}}\n# cargo install --locked cargo-deny --version {deny}\n"
            )
        };
        let good = ci(&packages.join(" "), crate::tools::CARGO_DENY_VERSION);
        ci_matches_pins(&good).expect("the pinned list and version");
        let missing = ci(&packages[1..].join(" "), crate::tools::CARGO_DENY_VERSION);
        let err = ci_matches_pins(&missing)
            .expect_err("a package missing")
            .to_string();
        assert!(err.contains("DEBIAN_PACKAGES is"), "{err}");
        let old_deny = ci(&packages.join(" "), "0.1.0");
        let err = ci_matches_pins(&old_deny)
            .expect_err("another cargo-deny")
            .to_string();
        assert!(err.contains("cargo-deny --version"), "{err}");
    }
}

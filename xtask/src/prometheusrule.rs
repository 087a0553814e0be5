//! The Kubernetes `PrometheusRule` generated from the Prometheus rule files.
//!
//! `config/prometheus/rules/*.yaml` are the one source of the rules: Prometheus outside Kubernetes
//! loads them as they are (`rule_files` in config/prometheus/prometheus.yml), `promtool` checks and
//! unit-tests them. In a cluster, kube-prometheus-stack's Prometheus reads rules from
//! `PrometheusRule` objects instead, so this module wraps every group of every file (files in name
//! order, groups in file order) into one `PrometheusRule`, committed in the monitoring component
//! so that a review shows it. `cargo xtask slo` rewrites it together with the SLO rules;
//! `cargo xtask validate` (and a unit test) render it again in memory and fail if the committed file
//! differs — the same approach as [`crate::slo`].
//!
//! The groups are copied as text, comments included (so the file reads like its sources and passes
//! yamllint like them), then parsed back: rendering fails unless they are the very groups of the
//! files. The `PrometheusRule` schema accepts what a rule file holds (`name`, `interval`, `limit`,
//! `query_offset`, `labels`, `rules`; per rule `record`/`alert`, `expr`, `for`, `keep_firing_for`,
//! `labels`, `annotations`); kubeconform checks the rendered overlays against the upstream CRD.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail, ensure};
use serde_yaml::Value;

use crate::root;

/// The rule files, relative to the workspace root.
pub const RULES_DIR: &str = "config/prometheus/rules";
/// The generated manifest, relative to the workspace root.
pub const OUTPUT: &str = "infra/kubernetes/components/monitoring/prometheusrule.yaml";
/// The object's name (one per namespace: the overlays' namespaces keep them apart).
const NAME: &str = "blueprint";

/// The rule files of `dir` (`*.yaml`, `*.yml`), sorted by name.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        let is_yaml = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    ensure!(
        !files.is_empty(),
        "no rule files (*.yaml) in {}",
        dir.display()
    );
    Ok(files)
}

/// The groups of one rule file, checked to be a Prometheus rule file: a mapping whose only key is
/// a non-empty `groups` list of mappings with a `name` and `rules`.
fn groups_of(path: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let Value::Mapping(map) = doc else {
        bail!(
            "{}: not a rule file (expected a mapping with `groups`)",
            path.display()
        );
    };
    if let Some(other) = map.keys().find(|k| k.as_str() != Some("groups")) {
        bail!(
            "{}: unexpected top-level key {other:?}; a rule file holds only `groups`",
            path.display()
        );
    }
    let Some(Value::Sequence(groups)) = map.get("groups") else {
        bail!("{}: `groups` is missing or not a list", path.display());
    };
    ensure!(!groups.is_empty(), "{}: `groups` is empty", path.display());
    for (i, group) in groups.iter().enumerate() {
        let name = group.get("name").and_then(Value::as_str);
        ensure!(
            name.is_some_and(|n| !n.is_empty()),
            "{}: group {} has no `name`",
            path.display(),
            i + 1
        );
        ensure!(
            group.get("rules").is_some_and(Value::is_sequence),
            "{}: group `{}` has no `rules` list",
            path.display(),
            name.unwrap_or_default()
        );
    }
    Ok(groups.clone())
}

/// The text of one rule file below its `groups:` line, indented two more columns (to sit under
/// `spec:`), after a comment naming the file. Blank lines stay empty; trailing ones are dropped.
fn embedded_groups(path: &Path, source: &str) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    // Everything above `groups:` is the file's header comment (the only key was checked).
    lines
        .by_ref()
        .find(|line| {
            line.split('#')
                .next()
                .is_some_and(|l| l.trim_end() == "groups:")
        })
        .with_context(|| {
            format!(
                "{}: no line `groups:` at the start of a line (a flow-style `groups: [...]` \
                 cannot be embedded; write the list in block style)",
                path.display()
            )
        })?;
    let body: Vec<&str> = lines.collect();
    let used = body.len()
        - body
            .iter()
            .rev()
            .take_while(|l| l.trim().is_empty())
            .count();
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut out = format!("    # {source}/{name}\n");
    for line in &body[..used] {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Renders the `PrometheusRule` for the rule files in `dir` (named as `source` in the comments).
///
/// The groups are embedded as text, comments included, so the generated file reads like its
/// sources (and passes yamllint like them); the result is then parsed back and must hold exactly
/// the groups parsed from the files, in order, or rendering fails.
pub fn render(dir: &Path, source: &str) -> Result<String> {
    let files = rule_files(dir)?;
    let mut groups = Vec::new();
    let mut names = BTreeSet::new();
    let mut file_names = Vec::new();
    let mut embedded = String::new();
    for file in &files {
        for group in groups_of(file)? {
            // Validated by groups_of: every group has a string name.
            let name = group
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            // One PrometheusRule is one rule file to Prometheus: group names must be unique in it.
            ensure!(
                names.insert(name.clone()),
                "{}: group `{name}` is also defined in an earlier rule file; group names must be \
                 unique across {source}",
                file.display()
            );
            groups.push(group);
        }
        embedded.push_str(&embedded_groups(file, source)?);
        file_names.push(
            file.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        );
    }
    let text = format!(
        "# Generated by `cargo xtask slo` from {source}/ ({files}).\n\
         # Do not edit: change the rule files and regenerate; `cargo xtask validate` and `make test`\n\
         # fail when this file and the rule files disagree.\n\
         apiVersion: monitoring.coreos.com/v1\n\
         kind: PrometheusRule\n\
         metadata:\n\
         \x20 name: {NAME}\n\
         \x20 labels:\n\
         \x20   # What kube-prometheus-stack's Prometheus selects by default (its Helm release name).\n\
         \x20   release: kube-prometheus-stack\n\
         spec:\n\
         \x20 groups:\n\
         {embedded}",
        files = file_names.join(", "),
    );
    let parsed: Value = serde_yaml::from_str(&text)
        .with_context(|| format!("the PrometheusRule rendered from {source} is not YAML"))?;
    ensure!(
        parsed["spec"]["groups"].as_sequence() == Some(&groups),
        "the PrometheusRule rendered from {source} does not hold the same groups as the files \
         (a rule file whose text cannot be re-indented, e.g. flow style or anchors across lines?)"
    );
    Ok(text)
}

/// `cargo xtask slo` (after the SLO rules): rewrites the committed `PrometheusRule`.
pub fn write() -> Result<()> {
    let text = render(&root().join(RULES_DIR), RULES_DIR)?;
    let path = root().join(OUTPUT);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {OUTPUT} (from {RULES_DIR})");
    Ok(())
}

/// Fails when `committed` differs from a fresh rendering of the rule files in `dir`.
fn check(dir: &Path, committed: &Path) -> Result<usize> {
    let fresh = render(dir, RULES_DIR)?;
    let text = std::fs::read_to_string(committed)
        .with_context(|| format!("reading {}", committed.display()))?;
    if text != fresh {
        let line = crate::slo::first_difference(&text, &fresh);
        bail!(
            "{} is out of date with {} (first difference at line {line}); run `cargo xtask slo` \
             and commit the result",
            committed.display(),
            dir.display()
        );
    }
    Ok(rule_files(dir)?.len())
}

/// The committed `PrometheusRule` matches the rule files.
pub fn check_committed() -> Result<()> {
    let files = check(&root().join(RULES_DIR), &root().join(OUTPUT))?;
    println!("{OUTPUT} matches {RULES_DIR} ({files} rule files)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the real rule files, and their rendering, in a temporary directory.
    fn scratch() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("rules");
        std::fs::create_dir(&dir).expect("mkdir");
        for file in rule_files(&root().join(RULES_DIR)).expect("rule files") {
            std::fs::copy(&file, dir.join(file.file_name().expect("name"))).expect("copy");
        }
        let out = tmp.path().join("prometheusrule.yaml");
        std::fs::write(&out, render(&dir, RULES_DIR).expect("render")).expect("write");
        (tmp, dir, out)
    }

    #[test]
    fn the_committed_prometheusrule_matches_the_rule_files() {
        check_committed().expect("regenerate with `cargo xtask slo`");
    }

    #[test]
    fn every_group_of_every_file_is_carried_in_file_order() {
        let dir = root().join(RULES_DIR);
        let expected: Vec<Value> = rule_files(&dir)
            .expect("rule files")
            .iter()
            .flat_map(|f| groups_of(f).expect("groups"))
            .collect();
        let rendered: Value =
            serde_yaml::from_str(&render(&dir, RULES_DIR).expect("render")).expect("YAML");
        assert_eq!(rendered["kind"], "PrometheusRule");
        assert_eq!(rendered["apiVersion"], "monitoring.coreos.com/v1");
        let groups = rendered["spec"]["groups"].as_sequence().expect("groups");
        assert!(groups.len() >= 2, "both rule files contribute groups");
        assert_eq!(groups, &expected, "same groups, same order, same content");
    }

    #[test]
    fn a_changed_rule_makes_the_check_fail() {
        let (_tmp, dir, out) = scratch();
        check(&dir, &out).expect("fresh rendering matches");
        let file = dir.join("blueprint.rules.yaml");
        let text = std::fs::read_to_string(&file).expect("read");
        let changed = text.replacen("for: ", "for: 1", 1);
        assert_ne!(changed, text, "the fixture has a `for:` to change");
        std::fs::write(&file, changed).expect("write");
        let err = check(&dir, &out).expect_err("a changed rule is detected");
        assert!(err.to_string().contains("out of date"), "{err}");
        assert!(err.to_string().contains("cargo xtask slo"), "{err}");
    }

    #[test]
    fn a_new_rule_file_makes_the_check_fail() {
        let (_tmp, dir, out) = scratch();
        std::fs::write(
            dir.join("zz-extra.rules.yaml"),
            "groups:\n  - name: extra\n    rules:\n      - record: x:y:z\n        expr: vector(1)\n",
        )
        .expect("write");
        let err = check(&dir, &out).expect_err("a new file is detected");
        assert!(err.to_string().contains("out of date"), "{err}");
    }

    #[test]
    fn bad_rule_files_are_refused_with_the_file_named() {
        let cases = [
            ("- just a list\n", "not a rule file"),
            ("groups: []\n", "`groups` is empty"),
            ("rules: []\n", "unexpected top-level key"),
            ("groups:\n  - rules: []\n", "has no `name`"),
            ("groups:\n  - name: a\n", "has no `rules` list"),
            ("groups: [\n", "parsing"),
            ("groups: [{name: a, rules: []}]\n", "block style"),
        ];
        for (text, problem) in cases {
            let tmp = tempfile::tempdir().expect("tempdir");
            std::fs::write(tmp.path().join("bad.yaml"), text).expect("write");
            let err = render(tmp.path(), "rules").expect_err(text);
            let message = format!("{err:#}");
            assert!(message.contains(problem), "{text:?} → {message}");
            assert!(message.contains("bad.yaml"), "{text:?} → {message}");
        }
    }

    #[test]
    fn a_group_name_used_in_two_files_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let group =
            "groups:\n  - name: same\n    rules:\n      - record: a:b:c\n        expr: vector(1)\n";
        std::fs::write(tmp.path().join("a.yaml"), group).expect("write");
        std::fs::write(tmp.path().join("b.yaml"), group).expect("write");
        let err = render(tmp.path(), "rules").expect_err("duplicate group");
        assert!(err.to_string().contains("group `same`"), "{err}");
    }

    #[test]
    fn an_empty_directory_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = render(tmp.path(), "rules").expect_err("no files");
        assert!(err.to_string().contains("no rule files"), "{err}");
    }
}

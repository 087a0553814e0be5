//! `/.pre-commit-config.yaml`: valid for pre-commit, local hooks only, and one hook per linter of
//! `make test`, running it with the same flags and configuration.
//!
//! 1. `pre-commit validate-config` accepts the file — and rejects a known-bad one (a hook without
//!    `entry`) in the same run, so its acceptance means something.
//! 2. Every repo is `repo: local` and every hook `language: system`: remote hook repositories would
//!    be cloned at install time (no network needed here, none wanted for contributors), and
//!    `system` runs the tool versions `cargo xtask setup` pins instead of versions of pre-commit's
//!    own choosing.
//! 3. [`REQUIRED`]: each linter has its hook, and the hook's `entry` holds the flags that make it
//!    the check of `make test` (e.g. yamllint with `--strict -c .yamllint.yaml`).
//!
//! The hooks are not run here: they would lint the same files `make test` lints already.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, ensure};
use serde::Deserialize;

use crate::{proc, root};

/// The configuration file, relative to the root.
const CONFIG: &str = ".pre-commit-config.yaml";

/// Hook id, and the words its `entry` must contain to run the linter as `make test` does.
const REQUIRED: [(&str, &[&str]); 9] = [
    ("cargo-fmt", &["cargo fmt --all", "--check"]),
    (
        "cargo-clippy",
        &["cargo clippy --workspace --all-targets", "-D warnings"],
    ),
    ("eslint", &["npm --prefix apps/web run lint"]),
    ("yamllint", &["yamllint", "--strict", "-c .yamllint.yaml"]),
    ("shellcheck", &["shellcheck"]),
    ("hadolint", &["hadolint", "--failure-threshold info"]),
    ("actionlint", &["actionlint", "-shellcheck"]),
    ("tofu-fmt", &["tofu fmt -check -recursive"]),
    ("cargo-deny", &["cargo deny", "check licenses bans sources"]),
];

/// A hook that pre-commit must reject: `entry` is required.
const KNOWN_BAD: &str = "repos:\n  - repo: local\n    hooks:\n      - id: x\n        name: x\n        language: system\n";

#[derive(Debug, Deserialize)]
struct Config {
    repos: Vec<Repo>,
}

#[derive(Debug, Deserialize)]
struct Repo {
    repo: String,
    #[serde(default)]
    hooks: Vec<Hook>,
}

#[derive(Debug, Deserialize)]
struct Hook {
    id: String,
    #[serde(default)]
    entry: String,
    #[serde(default)]
    language: String,
}

/// Validates the configuration; returns the summary lines.
pub fn check(pre_commit: &Path) -> Result<Vec<String>> {
    let path = root().join(CONFIG);
    let out = validate_config(pre_commit, &path)?;
    ensure!(
        out.status.success(),
        "pre-commit validate-config rejected {CONFIG} ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {CONFIG}"))?;
    let hooks = lint(&text).map_err(|problems| {
        anyhow::anyhow!("{CONFIG} breaks the rules:\n  {}", problems.join("\n  "))
    })?;

    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let bad = work.path().join(CONFIG);
    std::fs::write(&bad, KNOWN_BAD).with_context(|| format!("writing {}", bad.display()))?;
    let out = validate_config(pre_commit, &bad)?;
    ensure!(
        !out.status.success(),
        "pre-commit validate-config accepted a hook without `entry`, so it validates nothing"
    );

    Ok(vec![format!(
        "pre-commit: {CONFIG} valid, {hooks} local hooks, all {} linters of make test covered; \
         a known-bad config rejected",
        REQUIRED.len()
    )])
}

fn validate_config(pre_commit: &Path, config: &Path) -> Result<std::process::Output> {
    proc::output(
        Command::new(pre_commit)
            .current_dir(root())
            .arg("validate-config")
            .arg(config),
    )
}

/// Checks the rules of the module docs; returns the number of hooks, or every problem.
fn lint(text: &str) -> std::result::Result<usize, Vec<String>> {
    let config: Config = serde_yaml::from_str(text).map_err(|e| vec![format!("not valid: {e}")])?;
    let mut problems = Vec::new();
    let mut hooks = Vec::new();
    for repo in &config.repos {
        if repo.repo != "local" {
            problems.push(format!("repo `{}` is not `local`", repo.repo));
        }
        for hook in &repo.hooks {
            if hook.language != "system" {
                problems.push(format!(
                    "hook `{}` has language `{}`, not `system`",
                    hook.id, hook.language
                ));
            }
            hooks.push(hook);
        }
    }
    for (id, words) in REQUIRED {
        match hooks.iter().find(|h| h.id == id) {
            None => problems.push(format!("no hook `{id}`")),
            Some(hook) => {
                for word in words.iter().filter(|w| !hook.entry.contains(*w)) {
                    problems.push(format!("hook `{id}`: entry lacks `{word}`"));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(hooks.len())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository_config() -> String {
        std::fs::read_to_string(root().join(CONFIG)).expect("the repository's config")
    }

    #[test]
    fn the_repository_config_passes() {
        assert!(lint(&repository_config()).expect("valid") >= REQUIRED.len());
    }

    #[test]
    fn a_remote_repo_is_rejected() {
        let text = repository_config().replacen(
            "repos:\n",
            "repos:\n  - repo: https://github.com/pre-commit/pre-commit-hooks\n    rev: v6.0.0\n    hooks: []\n",
            1,
        );
        assert_eq!(
            lint(&text).expect_err("remote repo"),
            ["repo `https://github.com/pre-commit/pre-commit-hooks` is not `local`"]
        );
    }

    #[test]
    fn a_missing_linter_is_rejected() {
        let text = repository_config().replace("id: hadolint", "id: dockerfile-lint");
        assert_eq!(
            lint(&text).expect_err("no hadolint"),
            ["no hook `hadolint`"]
        );
    }

    #[test]
    fn a_hook_with_other_flags_than_make_test_is_rejected() {
        let text = repository_config().replace(" -c .yamllint.yaml", "");
        assert_eq!(
            lint(&text).expect_err("yamllint without config"),
            ["hook `yamllint`: entry lacks `-c .yamllint.yaml`"]
        );
    }

    #[test]
    fn a_non_system_language_is_rejected() {
        let text = "repos:\n  - repo: local\n    hooks:\n      - id: yamllint\n        entry: yamllint\n        language: python\n";
        let problems = lint(text).expect_err("python hook");
        assert_eq!(
            problems[0],
            "hook `yamllint` has language `python`, not `system`"
        );
    }

    #[test]
    fn invalid_yaml_is_rejected() {
        assert!(lint("repos: {").is_err());
    }
}

//! The Rust dependency graph against `/deny.toml`: `cargo deny --frozen check licenses bans
//! sources`.
//!
//! - **licenses**: every crate's license expression is satisfied by the allow-list (each entry
//!   names the crates that need it);
//! - **bans**: no wildcard version requirement; duplicate versions are reported as warnings and
//!   counted in the summary, not fatal;
//! - **sources**: crates.io only, no git dependency.
//!
//! `advisories` is not run here: it needs the RustSec database, which cargo-deny clones from
//! GitHub; with `--offline` and no local copy it fails (`failed to get 'FETCH_HEAD' metadata`).
//! The `advisories` job of `.github/workflows/ci.yml` runs it where the database can be fetched.
//!
//! `--frozen` (`--locked --offline`): the graph is exactly `Cargo.lock`, read without network.
//! Output is cargo-deny's JSON lines on stderr, parsed so the summary can count what was judged.
//!
//! cargo-deny is shown able to fail in the same run: with a configuration that allows only
//! `MIT`, the real graph must be rejected for its licenses.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, ensure};
use serde::Deserialize;

use crate::{proc, root};

/// The checks run here (all but `advisories`, see the module docs).
const CHECKS: [&str; 3] = ["licenses", "bans", "sources"];

/// A configuration too strict for the graph: the known-bad case.
const KNOWN_BAD_CONFIG: &str = "[licenses]\nallow = [\"MIT\"]\n";

/// One line of cargo-deny's JSON output.
#[derive(Debug, Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    fields: Fields,
}

#[derive(Debug, Default, Deserialize)]
struct Fields {
    #[serde(default)]
    severity: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The diagnostics of one run.
#[derive(Debug, Default, PartialEq, Eq)]
struct Diagnostics {
    /// `code: message` of each error.
    errors: Vec<String>,
    /// How many warnings (duplicate versions, unused allow-list entries).
    warnings: usize,
}

/// Runs the checks on the workspace; returns the summary lines.
pub fn check(cargo_deny: &Path) -> Result<Vec<String>> {
    let config = root().join("deny.toml");
    let (success, found) = run(cargo_deny, &config)?;
    ensure!(
        success && found.errors.is_empty(),
        "cargo deny check {} failed with {} errors:\n  {}",
        CHECKS.join(" "),
        found.errors.len(),
        found.errors.join("\n  ")
    );
    let mut lines = vec![format!(
        "deny: {} ok (deny.toml), {} warnings (duplicate versions are allowed); advisories run in the `advisories` job of ci.yml",
        CHECKS.join(", "),
        found.warnings
    )];

    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let bad = work.path().join("deny.toml");
    std::fs::write(&bad, KNOWN_BAD_CONFIG).with_context(|| format!("writing {}", bad.display()))?;
    let (success, found) = run(cargo_deny, &bad)?;
    let rejected = found
        .errors
        .iter()
        .filter(|e| e.starts_with("rejected:"))
        .count();
    ensure!(
        !success && rejected > 0,
        "cargo deny accepted the graph with only MIT allowed, so it does not judge licenses"
    );
    lines.push(format!(
        "deny: known-bad license allow-list rejected ({rejected} crates)"
    ));
    Ok(lines)
}

/// Runs cargo-deny with `config`; returns whether it exited 0, and its diagnostics.
fn run(cargo_deny: &Path, config: &Path) -> Result<(bool, Diagnostics)> {
    let out = proc::output(
        Command::new(cargo_deny)
            .current_dir(root())
            .args([
                "--frozen", "--color", "never", "--format", "json", "--config",
            ])
            .arg(config)
            .arg("check")
            .args(CHECKS),
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let found = parse(&stderr).with_context(|| format!("cargo deny with {}", config.display()))?;
    // Exit status 1 with no error diagnostic is a failure of the tool itself (bad config, no
    // `cargo metadata`): show what it said.
    ensure!(
        out.status.success() || !found.errors.is_empty(),
        "cargo deny failed ({}) without a diagnostic:\n{stderr}",
        out.status
    );
    Ok((out.status.success(), found))
}

/// Parses cargo-deny's JSON lines; lines that are not JSON (log lines) are ignored.
fn parse(stderr: &str) -> Result<Diagnostics> {
    let mut found = Diagnostics::default();
    for text in stderr.lines().filter(|l| l.starts_with('{')) {
        let line: Line = serde_json::from_str(text)
            .with_context(|| format!("parsing cargo deny output line {text}"))?;
        if line.kind != "diagnostic" {
            continue;
        }
        match line.fields.severity.as_str() {
            "error" => found
                .errors
                .push(format!("{}: {}", line.fields.code, line.fields.message)),
            "warning" => found.warnings += 1,
            _ => {}
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_warnings_are_counted() {
        let out = r#"2026-11-26 12:00:00 [WARN] a log line
{"type":"diagnostic","fields":{"severity":"warning","code":"duplicate","message":"found 2 duplicate entries for crate 'syn'","labels":[]}}
{"type":"diagnostic","fields":{"severity":"error","code":"rejected","message":"failed to satisfy license requirements"}}
{"type":"diagnostic","fields":{"severity":"help","code":"x","message":"y"}}
{"type":"summary","fields":{}}
"#;
        assert_eq!(
            parse(out).expect("valid output"),
            Diagnostics {
                errors: vec!["rejected: failed to satisfy license requirements".into()],
                warnings: 1,
            }
        );
    }

    #[test]
    fn a_clean_run_has_no_diagnostics() {
        assert_eq!(parse("").expect("empty"), Diagnostics::default());
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(parse("{\"type\":").is_err());
    }
}

//! `infra/terraform` checked without a cluster, a container engine or the provider registry.
//!
//! The root module (KIND cluster + Flux Operator) needs three providers that only the Terraform
//! registry serves, so it cannot be initialised here; what can be checked offline is:
//!
//! 1. `tofu fmt -check -recursive` over the whole tree (formatting is parsing: a syntax error
//!    fails here too);
//! 2. every provider-free module (today `modules/settings`, where all the input rules and the
//!    computed names, port maps and FluxInstance values live) initialised with
//!    `tofu init -backend=false` and run with `tofu test`; the summary must count exactly one
//!    passed run per `run` block of its `tests/*.tftest.hcl`, none failed or skipped — the
//!    `expect_failures` runs prove each validation rule fires;
//! 3. every environment the settings accept has the entry point its FluxInstance syncs
//!    (`flux/clusters/<env>/kustomization.yaml`), and the root module passes every settings input
//!    through (so no rule is bypassed);
//! 4. checkov's Terraform checks, clean, each skip justified inline
//!    (`# checkov:skip=CKV_…:<reason>`).
//!
//! OpenTofu (`tools.go.tofu`, built from the Go module proxy) runs the checks: HashiCorp's
//! `terraform` cannot be built from the module proxy, and the one installed on some machines is
//! not relied on. tofu is isolated from the caller: its CLI config is a file written under
//! `target/terraform/` (no `~/.terraformrc` provider mirrors or credentials), its data dir
//! (`TF_DATA_DIR`) is there too so the source tree gets no `.terraform/`, and `TF_VAR_*`,
//! `TF_CLI_ARGS*` and `TF_WORKSPACE` from the environment are removed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::tools::Tools;
use crate::{proc, root, target_dir};

/// The Terraform tree, relative to the repository root.
pub const DIR: &str = "infra/terraform";

/// Modules with no provider, tested with `tofu test` (relative to [`DIR`]).
const TESTED_MODULES: &[&str] = &["modules/settings"];

/// Inputs of the settings module that the root module derives instead of passing through.
const DERIVED_INPUTS: &[&str] = &["git_credentials"];

/// Runs every check; one summary line each.
pub fn check(tools: &Tools) -> Result<Vec<String>> {
    check_with(&tools.go.tofu, &tools.checkov)
}

/// [`check`] with the two tools it runs.
fn check_with(tofu: &Path, checkov_program: &Path) -> Result<Vec<String>> {
    let started = Instant::now();
    let tree = root().join(DIR);
    let work = target_dir().join("terraform");
    let tofu = Tofu::new(tofu, &work)?;
    let mut lines = Vec::new();

    let files = tofu.fmt_check(&tree)?;
    lines.push(format!(
        "terraform: tofu fmt -check ok on {files} files of {DIR}"
    ));

    for module in TESTED_MODULES {
        let summary = tofu.test(&tree.join(module), &work.join(module.replace('/', "-")))?;
        lines.push(format!(
            "terraform: {module}: {} tofu tests passed ({} expect_failures), 0 failed",
            summary.passed, summary.expect_failures
        ));
    }

    let paths = check_flux_paths(&tree, root())?;
    lines.push(format!(
        "terraform: the FluxInstance sync paths exist: {}",
        paths.join(", ")
    ));

    let passed_through = check_pass_through(&tree)?;
    lines.push(format!(
        "terraform: root module passes all {passed_through} settings inputs through; not \
         initialised here (its providers come from the registry: `tofu validate` belongs in CI)"
    ));

    let checkov = checkov(checkov_program, &tree)?;
    lines.push(format!(
        "terraform: checkov {} passed, 0 failed, {} skipped (justified) on {} resources ({:.1} s in all)",
        checkov.passed,
        checkov.skipped,
        checkov.resources,
        started.elapsed().as_secs_f64()
    ));
    Ok(lines)
}

/// The tofu binary with an environment of its own.
struct Tofu {
    program: PathBuf,
    cli_config: PathBuf,
}

impl Tofu {
    fn new(program: &Path, work: &Path) -> Result<Self> {
        let cache = work.join("plugin-cache");
        std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
        let cli_config = work.join("tofurc");
        // HCL string: the cache path is absolute and ours, with no quote or backslash in it.
        let text = format!(
            "# Written by cargo xtask validate: no provider mirrors, credentials or plugins of \
             the caller's ~/.terraformrc.\nplugin_cache_dir = \"{}\"\n",
            cache.display()
        );
        std::fs::write(&cli_config, text)
            .with_context(|| format!("writing {}", cli_config.display()))?;
        Ok(Self {
            program: program.to_owned(),
            cli_config,
        })
    }

    /// `tofu <args>` in `dir`, with `data_dir` as `TF_DATA_DIR` when given.
    fn command(&self, dir: &Path, data_dir: Option<&Path>) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.current_dir(dir)
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1");
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("TF_VAR_")
                || key_text.starts_with("TF_CLI_ARGS")
                || key_text == "TF_WORKSPACE"
                || key_text == "TF_DATA_DIR"
            {
                cmd.env_remove(&key);
            }
        }
        if let Some(data_dir) = data_dir {
            cmd.env("TF_DATA_DIR", data_dir);
        }
        cmd
    }

    /// `tofu fmt -check -recursive`; returns how many files it covered.
    fn fmt_check(&self, tree: &Path) -> Result<usize> {
        let mut cmd = self.command(tree, None);
        cmd.args(["fmt", "-check", "-recursive", "-diff", "-no-color", "."]);
        let out = proc::output(&mut cmd)?;
        if !out.status.success() {
            bail!(
                "`tofu fmt -check -recursive` in {} failed ({}): run `tofu fmt -recursive {DIR}`\n{}{}",
                tree.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let files = hcl_files(tree)?;
        if files.is_empty() {
            bail!("no .tf file under {}", tree.display());
        }
        Ok(files.len())
    }

    /// `tofu init -backend=false` then `tofu test` in a provider-free module.
    fn test(&self, module: &Path, work: &Path) -> Result<TestSummary> {
        let expected = run_blocks(&module.join("tests"))?;
        let data_dir = work.join("data");
        let mut init = self.command(module, Some(&data_dir));
        init.args(["init", "-backend=false", "-input=false", "-no-color"]);
        let out = proc::output(&mut init)?;
        if !out.status.success() {
            bail!(
                "`tofu init -backend=false` in {} failed ({}): {}",
                module.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut test = self.command(module, Some(&data_dir));
        test.args(["test", "-no-color"]);
        let out = proc::output(&mut test)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let context = || {
            format!(
                "`tofu test` in {} ({}):\n{}\n{}",
                module.display(),
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )
        };
        let counts = parse_test_summary(&stdout).with_context(context)?;
        if !out.status.success() {
            bail!(
                "tofu test exited {} although it reported no failure; {}",
                out.status,
                context()
            );
        }
        if counts.passed != expected.runs {
            bail!(
                "tofu test passed {} runs but the test files declare {}; {}",
                counts.passed,
                expected.runs,
                context()
            );
        }
        Ok(TestSummary {
            passed: counts.passed,
            expect_failures: expected.expect_failures,
        })
    }
}

/// What `tofu test` counted in its closing line.
#[derive(Debug, PartialEq, Eq)]
struct TestCounts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// What the check reports for one module.
struct TestSummary {
    passed: usize,
    expect_failures: usize,
}

/// The `run` blocks of a module's test files.
#[derive(Debug, PartialEq, Eq)]
struct RunBlocks {
    runs: usize,
    expect_failures: usize,
}

/// Parses tofu test's closing line (`Success! 21 passed, 0 failed.` or
/// `Failure! 5 passed, 2 failed, 14 skipped.`) and fails unless nothing failed or was skipped.
fn parse_test_summary(stdout: &str) -> Result<TestCounts> {
    let line = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with("Success!") || l.starts_with("Failure!"))
        .context("no `Success!`/`Failure!` summary line in tofu test's output")?;
    let (_, counts) = line.split_once('!').unwrap_or_default();
    let mut parsed = TestCounts {
        passed: 0,
        failed: 0,
        skipped: 0,
    };
    for part in counts.trim().trim_end_matches('.').split(',') {
        let (number, word) = part
            .trim()
            .split_once(' ')
            .with_context(|| format!("unexpected count `{part}` in `{line}`"))?;
        let number: usize = number
            .parse()
            .with_context(|| format!("unexpected count `{part}` in `{line}`"))?;
        match word {
            "passed" => parsed.passed = number,
            "failed" => parsed.failed = number,
            "skipped" => parsed.skipped = number,
            _ => bail!("unexpected count `{part}` in `{line}`"),
        }
    }
    if parsed.failed > 0 || parsed.skipped > 0 || line.starts_with("Failure!") {
        bail!(
            "tofu test: {} failed, {} skipped (`{line}`)",
            parsed.failed,
            parsed.skipped
        );
    }
    if parsed.passed == 0 {
        bail!("tofu test ran no test (`{line}`)");
    }
    Ok(parsed)
}

/// Counts the `run "…"` blocks (and those with `expect_failures`) in `dir/*.tftest.hcl`.
fn run_blocks(dir: &Path) -> Result<RunBlocks> {
    let mut total = RunBlocks {
        runs: 0,
        expect_failures: 0,
    };
    let mut files = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if !path.to_string_lossy().ends_with(".tftest.hcl") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let blocks = count_run_blocks(&text);
        total.runs += blocks.runs;
        total.expect_failures += blocks.expect_failures;
    }
    if files == 0 || total.runs == 0 {
        bail!("no `run` block in {}/*.tftest.hcl", dir.display());
    }
    Ok(total)
}

/// `run "name" {` opens a block at the top level (tofu fmt puts it at column 0);
/// `expect_failures` inside it marks a negative case.
fn count_run_blocks(text: &str) -> RunBlocks {
    let mut blocks = RunBlocks {
        runs: 0,
        expect_failures: 0,
    };
    let mut in_run = false;
    for line in text.lines() {
        if line.starts_with("run \"") {
            blocks.runs += 1;
            in_run = true;
        } else if !line.starts_with([' ', '}']) && !line.is_empty() && !line.starts_with('#') {
            in_run = false;
        }
        if in_run && line.trim_start().starts_with("expect_failures") {
            blocks.expect_failures += 1;
        }
    }
    blocks
}

/// The `.tf`, `.tfvars` and `.tftest.hcl` files under `dir` (what `tofu fmt` reads), skipping
/// `.terraform/` directories.
fn hcl_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if path.is_dir() {
                if name != ".terraform" {
                    pending.push(path);
                }
            } else if name.ends_with(".tf")
                || name.ends_with(".tfvars")
                || name.ends_with(".tftest.hcl")
            {
                found.push(path);
            }
        }
    }
    Ok(found)
}

/// Every variable of the settings module (but the derived ones) is a root variable and an
/// argument of the root's `module "settings"` block; returns how many.
fn check_pass_through(tree: &Path) -> Result<usize> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let settings = variable_names(&read(tree.join("modules/settings/variables.tf"))?);
    let root_vars = variable_names(&read(tree.join("variables.tf"))?);
    let main = read(tree.join("main.tf"))?;
    let arguments = module_arguments(&main, "settings")
        .context("no `module \"settings\"` block in infra/terraform/main.tf")?;
    let mut missing = Vec::new();
    for name in &settings {
        if !arguments.contains(name) {
            missing.push(format!("`{name}` is not set in module \"settings\""));
        }
        if !DERIVED_INPUTS.contains(&name.as_str()) && !root_vars.contains(name) {
            missing.push(format!("`{name}` has no root variable"));
        }
    }
    if !missing.is_empty() {
        bail!(
            "infra/terraform does not pass the settings inputs through: {}",
            missing.join("; ")
        );
    }
    Ok(settings.len() - DERIVED_INPUTS.len())
}

/// The environments the settings module accepts (its `contains([...], var.environment)` rule)
/// each have the Flux entry point the FluxInstance syncs, `flux/clusters/<env>/kustomization.yaml`;
/// returns those paths.
fn check_flux_paths(tree: &Path, repo: &Path) -> Result<Vec<String>> {
    let path = tree.join("modules/settings/variables.tf");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let list = text
        .split_once("contains([")
        .and_then(|(_, rest)| rest.split_once("], var.environment)"))
        .map(|(list, _)| list)
        .with_context(|| {
            format!(
                "no `contains([...], var.environment)` rule in {}",
                path.display()
            )
        })?;
    let environments: Vec<&str> = list
        .split(',')
        .map(|e| e.trim().trim_matches('"'))
        .filter(|e| !e.is_empty())
        .collect();
    if environments.is_empty() {
        bail!("the environment rule in {} lists nothing", path.display());
    }
    let mut paths = Vec::new();
    for env in environments {
        let entry = format!("flux/clusters/{env}");
        if !repo.join(&entry).join("kustomization.yaml").is_file() {
            bail!(
                "environment `{env}` is accepted by {} but {entry}/kustomization.yaml does not \
                 exist: the FluxInstance would sync nothing",
                path.display()
            );
        }
        paths.push(entry);
    }
    Ok(paths)
}

/// Names of the `variable "…"` blocks of a file.
fn variable_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("variable \""))
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_owned()))
        .collect()
}

/// The argument names set at the top level of `module "<name>" { … }`.
fn module_arguments(text: &str, name: &str) -> Option<BTreeSet<String>> {
    let header = format!("module \"{name}\" {{");
    let body = text.split_once(header.as_str())?.1;
    let body = &body[..body.find("\n}")?];
    Some(
        body.lines()
            // Top-level arguments are indented by exactly two spaces (tofu fmt).
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.trim().split_once('=').map(|(k, _)| k.trim().to_owned()))
            .filter(|k| !k.is_empty() && !k.starts_with('#'))
            .collect(),
    )
}

/// checkov's counts for the tree.
#[derive(Debug, PartialEq, Eq)]
struct CheckovCounts {
    passed: usize,
    skipped: usize,
    resources: usize,
}

fn checkov(program: &Path, tree: &Path) -> Result<CheckovCounts> {
    let mut cmd = Command::new(program);
    cmd.current_dir(tree).args([
        "--framework",
        "terraform",
        "--skip-download",
        "--compact",
        "-o",
        "json",
        "-d",
        ".",
    ]);
    let out = proc::output(&mut cmd)?;
    let counts = parse_checkov(&String::from_utf8_lossy(&out.stdout)).with_context(|| {
        format!(
            "checkov ({}) in {}: {}",
            out.status,
            tree.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    if !out.status.success() {
        bail!(
            "checkov exited {} with no failed check in its report",
            out.status
        );
    }
    Ok(counts)
}

/// Reads checkov's JSON report (one object, or a list with one per framework); fails on a failed
/// check, a parsing error, a skip without a reason, or no passing check at all.
fn parse_checkov(json: &str) -> Result<CheckovCounts> {
    let report: Value = serde_json::from_str(json).context("checkov's output is not JSON")?;
    let reports = match report {
        Value::Array(reports) => reports,
        other => vec![other],
    };
    let mut counts = CheckovCounts {
        passed: 0,
        skipped: 0,
        resources: 0,
    };
    let mut problems = Vec::new();
    for report in &reports {
        let list = |key: &str| {
            report
                .pointer(&format!("/results/{key}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let describe = |c: &Value| {
            let text = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            format!(
                "{} {} on {} in {}",
                text("check_id"),
                text("check_name"),
                text("resource"),
                text("file_path")
            )
        };
        problems.extend(
            list("failed_checks")
                .iter()
                .map(|c| format!("failed: {}", describe(c))),
        );
        problems.extend(
            list("parsing_errors")
                .iter()
                .map(|e| format!("could not parse {e}")),
        );
        for skipped in list("skipped_checks") {
            let reason = skipped
                .pointer("/check_result/suppress_comment")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if reason.trim().is_empty() {
                problems.push(format!(
                    "skipped without a reason (write `# checkov:skip=<id>:<why>`): {}",
                    describe(&skipped)
                ));
            }
            counts.skipped += 1;
        }
        counts.passed += list("passed_checks").len();
        counts.resources += report
            .pointer("/summary/resource_count")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or_default();
    }
    if !problems.is_empty() {
        bail!("checkov: {}", problems.join("\n    "));
    }
    if counts.passed == 0 {
        bail!("checkov ran no passing check (did it find the .tf files?)");
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successful_tofu_test_summary_is_counted() {
        let out = "tests/a.tftest.hcl... pass\n\nSuccess! 21 passed, 0 failed.\n";
        assert_eq!(
            parse_test_summary(out).expect("a passing summary"),
            TestCounts {
                passed: 21,
                failed: 0,
                skipped: 0
            }
        );
    }

    #[test]
    fn a_failing_tofu_test_summary_is_an_error() {
        let out = "  run \"x\"... fail\n\nFailure! 5 passed, 2 failed, 14 skipped.\n";
        let err = parse_test_summary(out)
            .expect_err("a failing summary")
            .to_string();
        assert!(err.contains("2 failed, 14 skipped"), "{err}");
    }

    #[test]
    fn a_tofu_test_run_without_summary_or_tests_is_an_error() {
        assert!(parse_test_summary("Error: Invalid value for variable\n").is_err());
        assert!(parse_test_summary("Success! 0 passed, 0 failed.\n").is_err());
        assert!(parse_test_summary("Success! 3 passed, 0 exploded.\n").is_err());
    }

    #[test]
    fn run_blocks_and_negative_cases_are_counted() {
        let text = "variables {\n  a = 1\n}\n\nrun \"ok\" {\n  command = plan\n}\n\n\
                    run \"bad\" {\n  command = plan\n  expect_failures = [var.a]\n}\n\
                    # run \"commented\" {\n";
        assert_eq!(
            count_run_blocks(text),
            RunBlocks {
                runs: 2,
                expect_failures: 1
            }
        );
    }

    #[test]
    fn module_arguments_are_the_top_level_ones() {
        let main = "module \"settings\" {\n  source = \"./x\"\n\n  a = var.a\n  b = {\n    \
                    nested = 1\n  }\n}\n\nresource \"x\" \"y\" {\n  c = 1\n}\n";
        let args = module_arguments(main, "settings").expect("the settings block");
        assert_eq!(args.into_iter().collect::<Vec<_>>(), ["a", "b", "source"]);
        assert!(module_arguments(main, "other").is_none());
    }

    #[test]
    fn checkov_failures_and_unjustified_skips_are_errors() {
        let failed = r#"{"results": {"passed_checks": [{}], "failed_checks": [
            {"check_id": "CKV_K8S_21", "check_name": "default ns", "resource": "r", "file_path": "/main.tf"}],
            "skipped_checks": [], "parsing_errors": []}, "summary": {"resource_count": 1}}"#;
        let err = parse_checkov(failed)
            .expect_err("a failed check")
            .to_string();
        assert!(err.contains("failed: CKV_K8S_21"), "{err}");

        let unjustified = r#"[{"results": {"passed_checks": [{}], "failed_checks": [],
            "skipped_checks": [{"check_id": "CKV_X", "check_result": {"suppress_comment": " "}}]}}]"#;
        let err = parse_checkov(unjustified)
            .expect_err("an unjustified skip")
            .to_string();
        assert!(err.contains("without a reason"), "{err}");

        let nothing = r#"{"results": {"passed_checks": [], "failed_checks": []}}"#;
        assert!(parse_checkov(nothing).is_err());
    }

    #[test]
    fn a_clean_checkov_report_is_counted() {
        let json = r#"{"check_type": "terraform", "results": {"passed_checks": [{}, {}],
            "failed_checks": [], "skipped_checks": [{"check_id": "CKV_X",
            "check_result": {"suppress_comment": "kind has no cloud KMS"}}], "parsing_errors": []},
            "summary": {"resource_count": 6}}"#;
        assert_eq!(
            parse_checkov(json).expect("a clean report"),
            CheckovCounts {
                passed: 2,
                skipped: 1,
                resources: 6
            }
        );
    }

    #[test]
    fn every_accepted_environment_needs_its_flux_entry_point() {
        let tree = root().join(DIR);
        let paths = check_flux_paths(&tree, root()).expect("the committed flux/clusters");
        assert_eq!(
            paths,
            [
                "flux/clusters/dev",
                "flux/clusters/staging",
                "flux/clusters/production"
            ]
        );
        let empty = tempfile::tempdir().expect("a temporary directory");
        let err = check_flux_paths(&tree, empty.path())
            .expect_err("no flux/ in an empty repository")
            .to_string();
        assert!(
            err.contains("flux/clusters/dev/kustomization.yaml"),
            "{err}"
        );
    }

    #[test]
    fn the_committed_root_module_passes_every_setting_through() {
        let n = check_pass_through(&root().join(DIR)).expect("every input passed through");
        assert!(n >= 10, "{n}");
    }
}

//! `cargo xtask test` and `cargo xtask lint`.
//!
//! `test` runs every check in a fixed order, cheapest and most likely to fail first, and stops at
//! the first failure with the step's name: setup → fmt → clippy → shellcheck → `cargo test` →
//! observability as code (SLO rules regenerated, alerts and runbooks, promtool, amtool, Grafana,
//! collector and Jaeger configs) → the platform as code (PrometheusRule and Compose file, overlays
//! rendered and validated against schemas and CRDs, yamllint, checkov, Kyverno policies, the Flux
//! tree and image policies, canaries, Terraform, encrypted secrets, the workflows, cargo-deny,
//! pre-commit and the policy documents; see [`crate::validate`]) → the web UI's checks (npm ci, API types, vue-tsc, ESLint, Vitest, build,
//! JS budget) → coverage → contract checks against a live api (promtool,
//! OpenMetrics, schemathesis, graceful shutdown) → the web UI in Chromium (api `--ui-path`, nginx) →
//! the collector's log pipeline on real api logs →
//! the live alerting test (real Prometheus and Alertmanager, see [`obs_live`]) → the images
//! (hadolint, checkov, the runtime stages built with buildah and run; their static binaries build
//! in the background from the coverage step on, see [`images`]). It ends with the line
//! `xtask: N passed, 0 failed`.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::proc::{self, Server};
use crate::tools::{self, Cache, Scope, Tools};
use crate::{
    cargo, grafana, http, images, kubernetes, obs_live, observability, otelcol, policies, root,
    slo, target_dir, validate, web,
};

/// Line coverage floor for `apps/api`, in percent; below it the coverage step fails.
pub const COVERAGE_FLOOR_PERCENT: f64 = 80.0;

/// Upper bound on the whole tarpaulin run (build included). A cold build of the api with
/// tarpaulin's flags takes a few minutes on 2 cores; an hour means something hangs.
const COVERAGE_LIMIT: Duration = Duration::from_secs(60 * 60);

/// Tarpaulin's target dir, under the tool cache root (see [`coverage`]).
const TARPAULIN_TARGET_DIR: &str = "cargo-target-tarpaulin";

/// Tarpaulin's own per-test-binary limit, in seconds without a response from it: generous, since
/// the integration tests spawn and stop the api many times with an instrumented (slower) build.
const TARPAULIN_TEST_TIMEOUT_SECS: &str = "300";

/// How long the api may take to answer 200 on /readyz after spawn; it needs milliseconds.
const READY_LIMIT: Duration = Duration::from_secs(10);

/// Interval between readiness probes in the contract checks.
const READY_POLL: Duration = Duration::from_millis(20);

/// How long the api may take to exit after SIGTERM (drain delay 0 s) before SIGKILL.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Upper bound on the schemathesis run; the example budget in the config keeps it near a minute.
const SCHEMATHESIS_LIMIT: Duration = Duration::from_secs(5 * 60);

/// The schemathesis config (checks, example budget, excluded chaos routes), relative to the root.
const SCHEMATHESIS_CONFIG: &str = "tests/schemathesis/schemathesis.toml";

/// The OpenMetrics content type we ask for (Prometheus sends this first when it can parse it).
const OPENMETRICS_ACCEPT: &str = "application/openmetrics-text; version=1.0.0";

/// Counts passed steps and labels failures with the step's name.
#[derive(Default)]
struct Steps {
    passed: usize,
}

impl Steps {
    fn run<T>(&mut self, name: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("\n==> {name}");
        let started = Instant::now();
        let value = step().with_context(|| format!("step `{name}` failed"))?;
        self.passed += 1;
        println!(
            "==> {name}: passed in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(value)
    }

    fn summary(&self) {
        println!("\nxtask: {} passed, 0 failed", self.passed);
    }
}

/// `cargo xtask test`.
pub fn test() -> Result<()> {
    let started = Instant::now();
    let mut steps = Steps::default();
    let cache = Cache::from_env()?;
    let tools = steps.run("setup", || tools::setup(&cache, Scope::default()))?;
    lint_steps(&mut steps, Some(&tools.shellcheck))?;
    steps.run("cargo test", || {
        proc::run(cargo().args(["test", "--workspace"]))
    })?;
    let observability = observability_static(&mut steps, &tools)?;
    platform_steps(&mut steps, &tools)?;
    web_checks(&mut steps)?;
    steps.run("coverage", || coverage(&tools))?;
    // The static image binaries build at the lowest priority while the next steps mostly wait.
    let image_binaries = images::start_binaries_build()?;
    contract(&mut steps, &tools)?;
    web_e2e(&mut steps, &tools)?;
    observability_live_steps(&mut steps, &tools, &observability)?;
    steps.run("images: hadolint, checkov, buildah build and run", || {
        images::check_with(&tools, image_binaries)
    })?;
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    steps.summary();
    Ok(())
}

/// What the static observability checks read, for the live test: the SLO source, the rules,
/// and every PromQL expression of the rules, dashboards and docs.
struct Observability {
    spec: slo::Spec,
    rules: observability::Rules,
    exprs: Vec<observability::Expr>,
}

/// The static observability checks: the SLO rules match their source; every alert is complete,
/// has a runbook and promtool cases; promtool and amtool pass; dashboards, collector and Jaeger
/// configs are well-formed.
fn observability_static(steps: &mut Steps, tools: &Tools) -> Result<Observability> {
    let spec = slo::Spec::load()?;
    steps.run("SLO rules match config/slo/slos.yaml", || {
        slo::check_committed(&spec)
    })?;
    let rules = observability::load_rules()?;
    steps.run(
        "alerts: labels, annotations, runbooks, promtool cases",
        || {
            observability::check_alert_metadata(&rules, &spec.runbook_base_url)?;
            observability::check_runbooks(&rules)?;
            observability::check_alert_tests(&rules)?;
            println!(
                "{} alerts, each complete, with a runbook and with firing and quiet promtool cases",
                rules.alert_names().len()
            );
            Ok(())
        },
    )?;
    steps.run("promtool check config + test rules", || {
        observability::promtool(&tools.promtool)
    })?;
    steps.run("amtool check-config + routes test", || {
        observability::amtool(&tools.amtool)
    })?;
    let dashboards = steps.run("Grafana dashboards and provisioning", || {
        grafana::check(root())
    })?;
    steps.run("OpenTelemetry Collector and Jaeger configs", || {
        otelcol::validate(&tools.otelcol)?;
        otelcol::check_jaeger_config(root())
    })?;
    let mut exprs = rules.exprs.clone();
    exprs.extend(observability::doc_exprs()?);
    exprs.extend(dashboards.into_iter().map(|e| observability::Expr {
        source: e.source,
        promql: e.promql,
    }));
    Ok(Observability { spec, rules, exprs })
}

/// The platform as code (`cargo xtask validate`, step by step): generated manifests and the Compose
/// file against their sources, every overlay rendered and validated, the admission policies, the
/// images.
fn platform_steps(steps: &mut Steps, tools: &Tools) -> Result<()> {
    steps.run("PrometheusRule and Compose file", validate::sources)?;
    let rendered = steps.run("kustomize build of every overlay", || {
        validate::render(tools)
    })?;
    steps.run(
        "Kubernetes schemas 1.33-1.35, CRDs, yamllint, checkov",
        || {
            for line in kubernetes::validate(tools, &rendered)? {
                println!("{line}");
            }
            Ok(())
        },
    )?;
    steps.run("admission policies in the Kyverno CLI", || {
        policies::test(tools, &rendered)
    })?;
    steps.run(
        "GitOps: Flux, image policies, canaries, Terraform, secrets",
        || {
            for line in validate::gitops(tools)? {
                println!("{line}");
            }
            Ok(())
        },
    )?;
    steps.run(
        "CI/CD and supply chain: workflows, cargo-deny, pre-commit, policy docs",
        || {
            for line in validate::supply_chain(tools)? {
                println!("{line}");
            }
            Ok(())
        },
    )
}

/// The collector's log pipeline on real api logs, then the live alerting test.
fn observability_live_steps(
    steps: &mut Steps,
    tools: &Tools,
    observability: &Observability,
) -> Result<()> {
    steps.run("collector log pipeline on real api log lines", || {
        build_services()?;
        otelcol::log_pipeline_check(
            &tools.otelcol,
            &target_dir().join("debug/blueprint-api"),
            &target_dir().join("otelcol-log-check"),
        )
    })?;
    steps.run(
        "live alerting: Prometheus + Alertmanager + api + worker",
        || {
            build_services()?;
            obs_live::run(
                tools,
                &obs_live::Binaries {
                    api: target_dir().join("debug/blueprint-api"),
                    worker: target_dir().join("debug/blueprint-worker"),
                },
                &observability.spec,
                &observability.rules,
                &observability.exprs,
            )
        },
    )
}

/// Debug builds of both services: the binaries `cargo test --workspace` builds for the
/// integration tests (`target/debug/blueprint-{api,worker}`). After the test step this is a
/// no-op; a separate `cargo build -p …` would unify features differently and rebuild the
/// dependency tree (about a minute and a half on 2 cores).
fn build_services() -> Result<()> {
    proc::run(cargo().args(["test", "--workspace", "--no-run"]))
}

/// The web UI's own checks: install, API types vs the OpenAPI snapshot, types, lint, unit
/// tests, build, JS budget.
fn web_checks(steps: &mut Steps) -> Result<()> {
    ensure_node()?;
    steps.run("web: npm ci", web::install)?;
    for check in web::CHECKS {
        steps.run(&format!("web: npm run {check}"), || web::script(check))?;
    }
    Ok(())
}

/// Node.js and npm on PATH (the machine's; the web UI needs node 20.19 or newer).
fn ensure_node() -> Result<()> {
    for tool in ["node", "npm"] {
        if proc::on_path(tool).is_none() {
            bail!("`{tool}` is not on PATH: the web UI needs Node.js 20.19+ with npm");
        }
    }
    Ok(())
}

/// The web UI in Chromium against the api and through nginx; returns the screenshot directory.
fn web_e2e(steps: &mut Steps, tools: &Tools) -> Result<PathBuf> {
    steps.run("web UI end to end: Chromium, api --ui-path, nginx", || {
        build_services()?;
        web::end_to_end(tools, &target_dir().join("debug/blueprint-api"))
    })
}

/// `cargo xtask screenshots`: the web UI's checks and e2e run, then the screenshots into
/// `docs/images/`.
pub fn screenshots() -> Result<()> {
    let mut steps = Steps::default();
    let cache = Cache::from_env()?;
    let tools = steps.run("setup", || tools::setup(&cache, Scope::default()))?;
    web_checks(&mut steps)?;
    let shots = web_e2e(&mut steps, &tools)?;
    web::update_screenshots(&shots)?;
    steps.summary();
    Ok(())
}

/// `cargo xtask observability`: setup, the static observability checks, then the live alerting test.
pub fn observability_only() -> Result<()> {
    let mut steps = Steps::default();
    let cache = Cache::from_env()?;
    let tools = steps.run("setup", || tools::setup(&cache, Scope::default()))?;
    let observability = observability_static(&mut steps, &tools)?;
    observability_live_steps(&mut steps, &tools, &observability)?;
    steps.summary();
    Ok(())
}

/// `cargo xtask contract`: setup, then the contract checks alone (a quick loop for api work).
pub fn contract_only() -> Result<()> {
    let mut steps = Steps::default();
    let cache = Cache::from_env()?;
    let tools = steps.run("setup", || tools::setup(&cache, Scope::default()))?;
    contract(&mut steps, &tools)?;
    steps.summary();
    Ok(())
}

/// `cargo xtask lint`: no installs; shellcheck runs when it is installed.
pub fn lint() -> Result<()> {
    let mut steps = Steps::default();
    let shellcheck = proc::on_path("shellcheck");
    if shellcheck.is_none() {
        println!("shellcheck is not installed (`cargo xtask setup` installs it): skipping it");
    }
    lint_steps(&mut steps, shellcheck.as_deref())?;
    steps.summary();
    Ok(())
}

fn lint_steps(steps: &mut Steps, shellcheck: Option<&Path>) -> Result<()> {
    steps.run("cargo fmt --check", || {
        proc::run(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    steps.run("cargo clippy", || {
        proc::run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    if let Some(shellcheck) = shellcheck {
        steps.run("shellcheck", || {
            proc::run(
                Command::new(shellcheck)
                    .current_dir(root())
                    .args(shell_scripts()?),
            )
        })?;
    }
    Ok(())
}

/// `.ci/run` and `scripts/*.sh`, relative to the root, sorted.
fn shell_scripts() -> Result<Vec<PathBuf>> {
    let mut scripts = vec![PathBuf::from(".ci/run")];
    let dir = root().join("scripts");
    if dir.is_dir() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "sh"))
            .filter_map(|path| path.strip_prefix(root()).ok().map(Path::to_owned))
            .collect();
        found.sort();
        scripts.extend(found);
    }
    Ok(scripts)
}

/// Line coverage of `apps/api/src` with the cached tarpaulin, failing under the floor.
///
/// Engine: `llvm` (`-C instrument-coverage`; tarpaulin parses the profiles itself, so no
/// `llvm-tools` component is needed). Every instrumented process writes a profile when it exits,
/// including the api binaries the integration tests spawn and stop with SIGTERM, so `main.rs` and
/// the shutdown path count. The ptrace engine only measures the test binaries (`main.rs` showed
/// 0 %), and its `--follow-exec` segfaults under tokio's threads.
///
/// Only `apps/api/src/*` counts: test helpers under `tests/` would inflate the figure.
/// A target dir of its own keeps tarpaulin's RUSTFLAGS from invalidating the normal build. It lives
/// in the tool cache (`<cache>/cargo-target-tarpaulin`), not in the clone: the instrumented
/// dependencies are pinned by `Cargo.lock` and compile identically for every clone, so a fresh
/// clone rebuilds only the workspace's crates (the trade-off CI's cargo caches make; cargo's
/// fingerprints still rebuild whatever changed). Tarpaulin empties its profile directory there
/// before each run, so no stale profile counts.
fn coverage(tools: &Tools) -> Result<()> {
    let out_dir = target_dir().join("coverage");
    let report = out_dir.join("tarpaulin-report.json");
    let _ = std::fs::remove_file(&report);
    let mut cmd = Command::new(&tools.tarpaulin);
    crate::no_incremental_in_ci(&mut cmd);
    cmd.current_dir(root())
        .arg("tarpaulin")
        .args([
            "--packages",
            "blueprint-api",
            "--engine",
            "llvm",
            "--skip-clean",
        ])
        .args(["--include-files", "apps/api/src/*"])
        .args(["--timeout", TARPAULIN_TEST_TIMEOUT_SECS])
        .args(["--out", "Json", "--output-dir"])
        .arg(&out_dir)
        .arg("--target-dir")
        .arg(Cache::from_env()?.root.join(TARPAULIN_TARGET_DIR))
        .args(["--fail-under", &COVERAGE_FLOOR_PERCENT.to_string()]);
    let run = proc::run_with_timeout(&mut cmd, COVERAGE_LIMIT);
    // Report the figure even when tarpaulin failed on the floor: it says by how much.
    if let Ok(text) = std::fs::read_to_string(&report) {
        let (covered, coverable) = parse_tarpaulin_report(&text)
            .with_context(|| format!("reading {}", report.display()))?;
        let percent = percent(covered, coverable);
        println!(
            "xtask: apps/api line coverage {percent:.2}% ({covered}/{coverable} lines), floor {COVERAGE_FLOOR_PERCENT}%"
        );
        run?;
        if percent < COVERAGE_FLOOR_PERCENT {
            bail!("line coverage {percent:.2}% is under the floor of {COVERAGE_FLOOR_PERCENT}%");
        }
        Ok(())
    } else {
        run?;
        bail!("tarpaulin succeeded but wrote no {}", report.display())
    }
}

fn percent(covered: u64, coverable: u64) -> f64 {
    if coverable == 0 {
        0.0
    } else {
        covered as f64 * 100.0 / coverable as f64
    }
}

/// Sums `covered` and `coverable` over the `files` of a tarpaulin JSON report.
fn parse_tarpaulin_report(text: &str) -> Result<(u64, u64)> {
    let report: serde_json::Value = serde_json::from_str(text)?;
    let files = report["files"].as_array().context("no `files` array")?;
    let sum = |key: &str| -> Result<u64> {
        files
            .iter()
            .map(|f| {
                f[key]
                    .as_u64()
                    .with_context(|| format!("a file without `{key}`"))
            })
            .sum()
    };
    Ok((sum("covered")?, sum("coverable")?))
}

/// Contract checks against a live debug build of the api on a free loopback port.
fn contract(steps: &mut Steps, tools: &Tools) -> Result<()> {
    let work = target_dir().join("contract");
    let _ = std::fs::remove_dir_all(&work);
    let data = work.join("data");
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;

    let binary = steps.run("build blueprint-api", || {
        build_services()?;
        Ok(target_dir().join("debug/blueprint-api"))
    })?;
    let api = steps.run("start blueprint-api", || {
        let port = proc::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = proc::isolated(&binary);
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--data-path",
        ])
        .arg(&data)
        .args(["--drain-delay", "0s"]);
        let stdout = File::create(work.join("blueprint-api.stdout.log"))?;
        let mut api = Server::spawn("blueprint-api", addr, &mut cmd, stdout.into(), &work)?;
        let took = api.wait_ready("/readyz", READY_LIMIT, READY_POLL)?;
        println!(
            "blueprint-api ready on {addr} after {} ms",
            took.as_millis()
        );
        Ok(api)
    })?;
    steps.run("promtool check metrics", || {
        promtool_check(&api, &tools.promtool, &work)
    })?;
    steps.run("OpenMetrics scrape", || openmetrics_check(&api))?;
    steps.run("schemathesis", || {
        schemathesis(&api, &tools.schemathesis, &work)
    })?;
    steps.run("graceful shutdown on SIGTERM", || {
        let (status, killed) = api.stop(SHUTDOWN_GRACE)?;
        if killed {
            bail!(
                "blueprint-api ignored SIGTERM for {} s and was killed",
                SHUTDOWN_GRACE.as_secs()
            );
        }
        if !status.success() {
            bail!("blueprint-api exited with {status} after SIGTERM; a graceful shutdown exits 0");
        }
        println!("blueprint-api exited 0");
        Ok(())
    })?;
    Ok(())
}

/// Scrapes /metrics in the Prometheus text format (no Accept header) and lints it with
/// `promtool check metrics`: exit 1 is an error (fails), exit 3 means lint warnings only (printed).
fn promtool_check(api: &Server, promtool: &Path, work: &Path) -> Result<()> {
    let resp = http::get(api.addr, "/metrics", &[], Duration::from_secs(5))?;
    if resp.status != 200 {
        bail!("GET /metrics answered {}", resp.status);
    }
    let content_type = resp.header("content-type").unwrap_or("(none)");
    println!(
        "GET /metrics: 200, {} bytes, Content-Type: {content_type}",
        resp.body.len()
    );
    let scrape = work.join("metrics.txt");
    std::fs::write(&scrape, &resp.body)?;
    let mut cmd = Command::new(promtool);
    cmd.args(["check", "metrics"]).stdin(File::open(&scrape)?);
    let out = proc::output(&mut cmd)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => println!("promtool: no problems"),
        Some(3) => println!("promtool lint warnings (not errors):\n{}", text.trim_end()),
        _ => bail!(
            "promtool check metrics failed ({}) on {}:\n{}",
            out.status,
            scrape.display(),
            text.trim_end()
        ),
    }
    Ok(())
}

/// Asks for OpenMetrics: must answer 200 and end with `# EOF`.
fn openmetrics_check(api: &Server) -> Result<()> {
    let resp = http::get(
        api.addr,
        "/metrics",
        &[("Accept", OPENMETRICS_ACCEPT)],
        Duration::from_secs(5),
    )?;
    if resp.status != 200 {
        bail!(
            "GET /metrics with Accept: {OPENMETRICS_ACCEPT} answered {}",
            resp.status
        );
    }
    let text = resp.text();
    if text.trim_end().lines().last() != Some("# EOF") {
        bail!("the OpenMetrics exposition does not end with `# EOF`");
    }
    println!(
        "GET /metrics (OpenMetrics): 200, ends with # EOF, Content-Type: {}",
        resp.header("content-type").unwrap_or("(none)")
    );
    Ok(())
}

/// schemathesis against the live OpenAPI document, configured by [`SCHEMATHESIS_CONFIG`].
fn schemathesis(api: &Server, schemathesis: &Path, work: &Path) -> Result<()> {
    let mut cmd = Command::new(schemathesis);
    // Loopback only: never through a proxy a developer's shell may configure.
    cmd.current_dir(root())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .arg("--config-file")
        .arg(root().join(SCHEMATHESIS_CONFIG))
        .arg("run")
        .arg(format!("http://{}/openapi.json", api.addr))
        .args(["--report", "junit", "--report-dir"])
        .arg(work.join("schemathesis"))
        .arg("--no-color")
        // No example database under the repo: each run starts fresh.
        .args(["--generation-database", "none"]);
    proc::run_with_timeout(&mut cmd, SCHEMATHESIS_LIMIT).with_context(|| {
        format!(
            "schemathesis found contract violations; api stderr ends with:\n{}",
            api.stderr_tail()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tarpaulin_reports_sum_over_files() {
        let report = r#"{"files":[{"path":["a.rs"],"covered":8,"coverable":10},
                                   {"path":["b.rs"],"covered":0,"coverable":0}]}"#;
        let (covered, coverable) = parse_tarpaulin_report(report).expect("parses");
        assert_eq!((covered, coverable), (8, 10));
        assert!((percent(covered, coverable) - 80.0).abs() < 1e-9);
        assert!(parse_tarpaulin_report(r#"{"files":[{"covered":1}]}"#).is_err());
    }

    #[test]
    fn shell_scripts_start_with_the_ci_entry_point() {
        let scripts = shell_scripts().expect("lists");
        assert_eq!(scripts[0], Path::new(".ci/run"));
        assert!(
            scripts[1..]
                .iter()
                .all(|s| s.extension().is_some_and(|e| e == "sh"))
        );
    }
}

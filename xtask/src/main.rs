//! `cargo xtask` — the SRE Blueprint task runner.
//!
//! The Makefile and `.ci/run` are thin entry points; every decision (which tools, which versions,
//! which checks, in which order) lives here, in Rust, so it is reviewed, typed and testable like the
//! services it checks. Each module owns one concern:
//!
//! - [`tools`]: every pinned tool version, and the idempotent install into the versioned cache;
//! - [`gotools`]: the pinned Go CLIs (Kyverno, kubeconform, kustomize) built from
//!   `xtask/tools/go.mod` into the cache, and CRD schemas read from pinned Go modules;
//! - [`proc`]: child processes — printing and running commands, free ports, servers that are
//!   started, probed for readiness and stopped with SIGTERM;
//! - [`http`]: a tiny blocking HTTP/1.1 GET client over `std::net` (enough for probes and scrapes);
//! - [`test`]: `test` and `lint` — fmt, clippy, shellcheck, tests, coverage, contract checks;
//! - [`bench`]: the loopback benchmark against nginx and podinfo baselines;
//! - [`bench_jobs`]: its jobs section, blueprint-worker against Celery on one Redis;
//! - [`grafana`]: dashboards and provisioning checked structurally, their PromQL extracted;
//! - [`otelcol`]: the collector built with ocb into the cache, its config validated, its log
//!   pipeline run on real api logs; Jaeger's config checked structurally;
//! - [`observability`]: rules, alerts, runbooks, routing and PromQL checked with their tools;
//! - [`obs_live`]: the live alerting test on real Prometheus and Alertmanager binaries;
//! - [`web`]: the web UI's npm checks and its end-to-end run in Chromium (api `--ui-path`, nginx);
//! - [`tag`]: the image tag scheme and the next release version (`cargo xtask tag`);
//! - [`validate`]: the platform as code (`cargo xtask validate`), with [`compose`], [`kubernetes`],
//!   [`policies`], [`images`], [`gitops`], [`canary`], [`terraform`], [`secrets`];
//! - [`slo`]: SLOs as code, `config/slo/slos.yaml` → Prometheus recording rules and burn-rate alerts.

mod bench;
mod bench_jobs;
mod canary;
mod compose;
mod deny;
mod gitops;
mod gotools;
mod grafana;
mod http;
mod images;
mod kubernetes;
mod obs_live;
mod observability;
mod otelcol;
mod policies;
mod precommit;
mod proc;
mod prometheusrule;
mod repo_docs;
mod secrets;
mod slo;
mod tag;
mod terraform;
mod test;
mod tools;
mod validate;
mod web;
mod workflows;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// The SRE Blueprint task runner (`cargo xtask <command>`).
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the pinned tools into the versioned cache (idempotent; a second run only prints "ok").
    Setup {
        /// Also install the benchmark baselines (podinfo, via `go install`, when Go is present).
        #[arg(long)]
        bench: bool,
    },
    /// Everything `make test` runs: setup, fmt, clippy, shellcheck, tests, coverage, contract checks.
    Test,
    /// Only the observability checks: SLO rules, alerts, runbooks, promtool, amtool, and the live
    /// alerting test on real Prometheus and Alertmanager binaries.
    Observability,
    /// Only the contract checks against a live api (promtool, OpenMetrics, schemathesis, SIGTERM).
    Contract,
    /// Formatting check, clippy with warnings denied, shellcheck on the shell scripts.
    Lint,
    /// Loopback benchmark: blueprint-api vs nginx and podinfo, then blueprint-worker vs Celery;
    /// writes target/bench/report.{md,json}.
    Bench {
        /// How long wrk loads each route, after a 2 s warm-up (humane form: `10s`, `500ms`, `1m`).
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        /// Only the jobs section (blueprint-worker vs Celery).
        #[arg(long, conflicts_with = "no_jobs")]
        jobs_only: bool,
        /// Only the HTTP section (blueprint-api vs nginx and podinfo).
        #[arg(long)]
        no_jobs: bool,
        /// Jobs enqueued per system in the jobs section.
        #[arg(long, default_value_t = bench_jobs::DEFAULT_JOBS, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        jobs: u32,
        /// Jobs each worker runs at once in the jobs section (blueprint-worker and Celery alike).
        #[arg(long, default_value_t = bench_jobs::DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs_concurrency: u32,
        /// Celery pools measured, comma-separated (`prefork`, `threads`); `none` skips Celery.
        #[arg(long, default_value = "prefork,threads", value_delimiter = ',', value_parser = ["prefork", "threads", "none"])]
        celery_pool: Vec<String>,
    },
    /// The platform as code, with no cluster or container engine: the PrometheusRule and Compose
    /// file, every overlay rendered and validated (schemas, CRDs, yamllint, checkov), the admission
    /// policies in the Kyverno CLI, and the images (hadolint, buildah build, size, inspect, run).
    Validate {
        /// Only these parts (repeatable); all when absent.
        #[arg(long, value_enum)]
        only: Vec<validate::Part>,
    },
    /// The image tag of a build (`{branch}-{version}-{sha}-{timestamp}`), or with `--next` the
    /// release version a promotion creates; prints only the tag.
    Tag {
        /// Branch [default: $GITHUB_REF_NAME, else the checked-out branch].
        #[arg(long, conflicts_with = "next")]
        branch: Option<String>,
        /// Commit [default: $GITHUB_SHA, else HEAD].
        #[arg(long, conflicts_with = "next")]
        sha: Option<String>,
        /// Build time in seconds since the epoch [default: $SOURCE_DATE_EPOCH, else now].
        #[arg(long, conflicts_with = "next")]
        epoch: Option<i64>,
        /// Print the next release version instead, raising this part.
        #[arg(long, value_enum)]
        next: Option<tag::Level>,
        /// The version to raise [default: the workspace version].
        #[arg(long, requires = "next")]
        from: Option<String>,
    },
    /// The web UI's checks and end-to-end run, then its screenshots copied to docs/images/.
    Screenshots,
    /// Generate the SLO rules from config/slo/slos.yaml into config/prometheus/rules/slos.rules.yaml.
    Slo {
        /// Only check that the committed rules match the source (what `make test` does).
        #[arg(long, conflicts_with_all = ["profile", "out"])]
        check: bool,
        /// Render with a profile's shortened windows (e.g. `test`) instead of the production ones.
        #[arg(long, requires = "out")]
        profile: Option<String>,
        /// Write here instead of the committed rules file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The web UI built, then a release build of blueprint-api serving it, with the `make run`
    /// flags (extra args are passed on).
    Run {
        /// Extra arguments for blueprint-api, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Setup { bench } => tools::Cache::from_env()
            .and_then(|cache| tools::setup(&cache, tools::Scope { bench }).map(|_| ())),
        Cmd::Test => test::test(),
        Cmd::Contract => test::contract_only(),
        Cmd::Observability => test::observability_only(),
        Cmd::Screenshots => test::screenshots(),
        Cmd::Validate { only } => validate::command(&only),
        Cmd::Tag {
            branch,
            sha,
            epoch,
            next,
            from,
        } => tag::command(&match next {
            Some(level) => tag::Request::Next { level, from },
            None => tag::Request::Build {
                branch,
                sha,
                epoch_seconds: epoch,
            },
        }),
        Cmd::Lint => test::lint(),
        Cmd::Bench {
            duration,
            jobs_only,
            no_jobs,
            jobs,
            jobs_concurrency,
            celery_pool,
        } => bench::bench(
            duration,
            &bench::Sections {
                http: !jobs_only,
                jobs: (!no_jobs).then(|| bench_jobs::Options {
                    jobs: jobs as usize,
                    concurrency: jobs_concurrency as usize,
                    celery_pools: celery_pool.into_iter().filter(|p| p != "none").collect(),
                }),
            },
        ),
        Cmd::Slo {
            check,
            profile,
            out,
        } => slo::command(check, profile.as_deref(), out.as_deref()),
        Cmd::Run { args } => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The cause chain without a backtrace: each layer names the step, tool or command.
            eprintln!("\nxtask: FAILED: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives at `<root>/xtask`, so its manifest dir's parent.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask's manifest dir has a parent")
}

/// Cargo's target dir, honouring `CARGO_TARGET_DIR` like cargo itself does.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// A `cargo` command run from the workspace root, using the cargo that launched us when known.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    no_incremental_in_ci(&mut cmd);
    cmd
}

/// Under CI (`CI` set, as every CI service does) a build starts from a clean clone, where
/// incremental compilation only costs time; locally it stays on for quick rebuilds.
pub fn no_incremental_in_ci(cmd: &mut Command) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
        && std::env::var_os("CARGO_INCREMENTAL").is_none()
    {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
}

/// Parses a duration in the humane form used across the project's flags (`10s`, `500ms`, `2m`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 10s, 500ms or 1m"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" => number * 60.0,
        _ => return Err(format!("`{text}`: unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// `cargo xtask run`: builds the web UI, then replaces this process with
/// `cargo run --release -p blueprint-api -- … --ui-path apps/web/dist` so Ctrl-C and SIGTERM reach
/// the api directly.
fn run(extra: &[String]) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let data = target_dir().join("run/data");
    std::fs::create_dir_all(&data)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", data.display()))?;
    let mut cmd = cargo();
    cmd.args(["run", "--release", "-p", "blueprint-api", "--"])
        .args(["--host", "127.0.0.1", "--port", "9898", "--data-path"])
        .arg(&data);
    // The web UI at http://127.0.0.1:9898/, built first (npm ci is skipped when up to date).
    if proc::on_path("npm").is_some() {
        web::install()?;
        web::script("build")?;
        cmd.arg("--ui-path").arg(root().join("apps/web/dist"));
    } else {
        println!("npm is not on PATH: blueprint-api runs without the web UI");
    }
    cmd.args(extra);
    proc::print_command(&cmd);
    let err = cmd.exec();
    Err(anyhow::anyhow!(
        "exec {}: {err}",
        proc::display_command(&cmd)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_humane_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn root_holds_the_workspace_manifest() {
        assert!(root().join("Cargo.toml").is_file());
        assert!(root().join("xtask").is_dir());
    }
}

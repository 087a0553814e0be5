//! `cargo xtask bench`: a loopback benchmark of blueprint-api against two baselines, in one run.
//!
//! - **nginx** (Debian's) serving the same routes from memory or static files — the ceiling of what
//!   an HTTP server does on this machine;
//! - **podinfo** 6.9.2 (Go), the service blueprint-api is compatible with — the peer to beat. (The
//!   newest podinfo cannot be `go install`ed; see [`crate::tools::PODINFO_VERSION`].)
//!
//! The api runs as in production: release build, metrics on, JSON access logs on (to /dev/null),
//! and tracing on, exporting spans over OTLP/HTTP to a `return 200` sink in the nginx baseline, so
//! the figures include the cost of the telemetry. wrk (one thread, 64 connections) loads each route
//! after a 2 s warm-up; on 2 cores the load generator takes one, so nginx gets one worker.
//!
//! A jobs section follows (blueprint-worker against Celery on one Redis, see [`crate::bench_jobs`]);
//! `--jobs-only` runs only that, `--no-jobs` only the HTTP part.
//!
//! Results go to `target/bench/report.md` and `report.json`. The targets are printed as PASS/MISS;
//! a benchmark informs, it does not fail the build.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::bench_jobs::{self, JobsReport};
use crate::proc::{self, Server};
use crate::tools::{self, Cache, PODINFO_MODULE_VERSION, PODINFO_VERSION, Scope, Tools};
use crate::{cargo, http, target_dir};

/// Routes loaded on every target, in this order.
const ROUTES: [&str; 3] = ["/healthz", "/api/info", "/metrics"];

/// wrk threads: one, leaving the other core to the server under test.
const WRK_THREADS: u32 = 1;

/// wrk connections: enough to keep a server busy without queueing far past its accept loop.
const WRK_CONNECTIONS: u32 = 64;

/// Warm-up load before each measured run (lets allocators, caches and the CPU governor settle).
const WARMUP: Duration = Duration::from_secs(2);

/// Pause after a server is ready before reading its idle RSS, so start-up allocations settle.
const IDLE_SETTLE: Duration = Duration::from_secs(1);

/// Start-up is measured this many times; the best run counts (the others see scheduling noise).
const STARTUP_RUNS: usize = 5;

/// Poll interval for the start-up measurement: 1 ms resolution.
const STARTUP_POLL: Duration = Duration::from_millis(1);

/// Upper bound for any server to become ready.
const READY_LIMIT: Duration = Duration::from_secs(10);

/// Grace period after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Target: blueprint-api idle RSS, in KiB (8 MiB).
const TARGET_IDLE_RSS_KIB: u64 = 8 * 1024;

/// Target: from exec to the first 200 on /readyz, in milliseconds.
const TARGET_READY_MS: f64 = 20.0;

/// Target: /api/info throughput as a multiple of podinfo's.
const TARGET_INFO_RPS_VS_PODINFO: f64 = 2.0;

/// Target: /api/info p99 latency as a fraction of podinfo's.
const TARGET_INFO_P99_VS_PODINFO: f64 = 0.5;

/// Target: /healthz throughput as a multiple of nginx's.
const TARGET_HEALTHZ_RPS_VS_NGINX: f64 = 1.0;

/// One wrk run's figures.
#[derive(Debug, Clone, Serialize)]
struct RouteResult {
    route: String,
    requests_per_sec: f64,
    /// Median latency, microseconds.
    p50_us: f64,
    /// 99th percentile latency, microseconds.
    p99_us: f64,
    /// Responses outside 2xx/3xx (a healthy run has none).
    non_2xx: u64,
    /// Connect, read, write and timeout errors summed.
    socket_errors: u64,
}

/// One server's results.
#[derive(Debug, Serialize)]
struct TargetResult {
    name: String,
    version: String,
    /// VmRSS after start-up, before load, KiB (nginx: master + worker).
    idle_rss_kib: u64,
    /// VmHWM after the load, KiB (nginx: the sum of each process's peak).
    peak_rss_kib: u64,
    routes: Vec<RouteResult>,
}

impl TargetResult {
    fn route(&self, route: &str) -> Option<&RouteResult> {
        self.routes.iter().find(|r| r.route == route)
    }
}

/// A PASS/MISS line; `passed` is `None` when its baseline was not measured.
#[derive(Debug, Serialize)]
pub struct Check {
    pub target: String,
    pub measured: String,
    pub passed: Option<bool>,
}

#[derive(Debug, Serialize)]
struct Report {
    duration_secs: u64,
    warmup_secs: u64,
    wrk_threads: u32,
    wrk_connections: u32,
    cpus: usize,
    /// `/proc/loadavg` when the bench started: a busy machine makes every figure noisy.
    loadavg_at_start: String,
    /// Each start-up measurement, milliseconds from spawn to the first 200 on /readyz.
    startup_ms: Vec<f64>,
    startup_best_ms: f64,
    targets: Vec<TargetResult>,
    checks: Vec<Check>,
    notes: Vec<String>,
    /// The jobs section (absent with `--no-jobs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    jobs: Option<JobsReport>,
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes).
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Which parts of the bench run.
#[derive(Debug)]
pub struct Sections {
    /// The HTTP part (blueprint-api vs nginx and podinfo).
    pub http: bool,
    /// The jobs part (blueprint-worker vs Celery).
    pub jobs: Option<bench_jobs::Options>,
}

/// `cargo xtask bench`.
pub fn bench(duration: Duration, sections: &Sections) -> Result<()> {
    let tools = tools::setup(&Cache::from_env()?, Scope { bench: true })?;
    let http = if sections.http {
        Some(bench_http(&tools, duration)?)
    } else {
        None
    };
    let jobs = match &sections.jobs {
        Some(options) => Some(bench_jobs::bench(&tools, options)?),
        None => None,
    };
    if let Some(mut report) = http {
        report.jobs = jobs;
        write_report(&render_markdown(&report), &report)
    } else {
        let jobs = jobs.context("nothing to run: both sections are off")?;
        let markdown = format!(
            "# blueprint-worker benchmark\n\n{}",
            bench_jobs::render_markdown(&jobs)
        );
        write_report(&markdown, &serde_json::json!({ "jobs": jobs }))
    }
}

/// The HTTP part: blueprint-api against nginx and podinfo.
fn bench_http(tools: &Tools, duration: Duration) -> Result<Report> {
    let duration_secs = duration.as_secs().max(1);
    let loadavg_at_start = loadavg();
    proc::run(cargo().args(["build", "--release", "-p", "blueprint-api"]))?;

    // A private temp dir, world-readable so nginx workers (user nobody when run as root) can read
    // the static copies served from it.
    let tmp_dir = tempfile::Builder::new().prefix("xtask-bench-").tempdir()?;
    fs::set_permissions(tmp_dir.path(), fs::Permissions::from_mode(0o755))?;
    let tmp = tmp_dir.path();
    let nginx_port = proc::free_port()?;
    let api = ApiLauncher {
        binary: target_dir().join("release/blueprint-api"),
        data: tmp.join("api-data"),
        otlp_endpoint: format!("http://127.0.0.1:{nginx_port}"),
        log_dir: tmp.to_owned(),
    };
    fs::create_dir_all(&api.data)?;

    // One api run to capture the bodies the nginx baseline serves; then nginx, which is also the
    // OTLP sink for the api's spans from here on.
    let captured = capture_bodies(&api)?;
    let nginx = start_nginx(tools, tmp, nginx_port, &captured)?;
    let nginx_idle = nginx_rss_kib(nginx.pid(), "VmRSS")?;

    let startup_ms = measure_startup(&api)?;
    let startup_best_ms = startup_ms.iter().copied().fold(f64::INFINITY, f64::min);

    let mut notes = vec![format!(
        "podinfo baseline is {PODINFO_VERSION} (Go module pseudo-version {PODINFO_MODULE_VERSION}): \
         newer podinfo releases (6.14.x) cannot be installed with `go install`, because their \
         go.mod lacks the /v6 suffix, so the Go module proxy serves only pseudo-versions, the newest being 6.9.2."
    )];
    let mut targets = vec![measure_api(
        tools,
        &api,
        &captured,
        duration_secs,
        &mut notes,
    )?];
    // Proof that tracing was on: the sink logs one line per OTLP export request it received.
    let otlp_exports =
        fs::read_to_string(tmp.join("otlp-sink.log")).map_or(0, |log| log.lines().count());
    notes.push(if otlp_exports > 0 {
        format!("the OTLP sink received {otlp_exports} span export requests from blueprint-api")
    } else {
        "WARNING: the OTLP sink received no span exports: tracing was not on".to_owned()
    });
    targets.push(TargetResult {
        name: "nginx".into(),
        version: nginx_version(&tools.nginx),
        idle_rss_kib: nginx_idle,
        routes: load_routes(tools, &nginx, duration_secs)?,
        peak_rss_kib: nginx_rss_kib(nginx.pid(), "VmHWM")?,
    });
    if let Some(podinfo) = &tools.podinfo {
        targets.push(measure_podinfo(tools, podinfo, tmp, duration_secs)?);
    } else {
        notes.push("podinfo is not installed (no `go`): its columns are empty.".into());
    }
    nginx.stop(STOP_GRACE)?;

    Ok(Report {
        duration_secs,
        warmup_secs: WARMUP.as_secs(),
        wrk_threads: WRK_THREADS,
        wrk_connections: WRK_CONNECTIONS,
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        loadavg_at_start,
        checks: checks(&targets, startup_best_ms),
        startup_ms,
        startup_best_ms,
        targets,
        notes,
        jobs: None,
    })
}

/// Spawn → first 200 on /readyz, [`STARTUP_RUNS`] times, in milliseconds.
fn measure_startup(api: &ApiLauncher) -> Result<Vec<f64>> {
    let mut startup_ms = Vec::new();
    for _ in 0..STARTUP_RUNS {
        let started = Instant::now();
        let mut server = api.spawn()?;
        server.wait_ready("/readyz", READY_LIMIT, STARTUP_POLL)?;
        startup_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        server.stop(STOP_GRACE)?;
    }
    println!("startup (spawn → first 200 on /readyz): {startup_ms:.1?} ms");
    Ok(startup_ms)
}

fn measure_api(
    tools: &Tools,
    api: &ApiLauncher,
    captured: &Captured,
    duration_secs: u64,
    notes: &mut Vec<String>,
) -> Result<TargetResult> {
    let mut server = api.spawn()?;
    server.wait_ready("/readyz", READY_LIMIT, Duration::from_millis(5))?;
    proc::pause(IDLE_SETTLE);
    let idle_rss_kib = proc::proc_status_kib(server.pid(), "VmRSS")?;
    let routes = load_routes(tools, &server, duration_secs)?;
    let peak_rss_kib = proc::proc_status_kib(server.pid(), "VmHWM")?;
    let (status, killed) = server.stop(STOP_GRACE)?;
    if killed || !status.success() {
        notes.push(format!(
            "blueprint-api did not shut down cleanly after SIGTERM: {status}"
        ));
    }
    let version = serde_json::from_str::<serde_json::Value>(&captured.info)
        .ok()
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    Ok(TargetResult {
        name: "blueprint-api".into(),
        version,
        idle_rss_kib,
        peak_rss_kib,
        routes,
    })
}

fn measure_podinfo(
    tools: &Tools,
    bin: &Path,
    tmp: &Path,
    duration_secs: u64,
) -> Result<TargetResult> {
    let podinfo = start_podinfo(bin, tmp)?;
    proc::pause(IDLE_SETTLE);
    let idle_rss_kib = proc::proc_status_kib(podinfo.pid(), "VmRSS")?;
    let routes = load_routes(tools, &podinfo, duration_secs)?;
    let peak_rss_kib = proc::proc_status_kib(podinfo.pid(), "VmHWM")?;
    podinfo.stop(STOP_GRACE)?;
    Ok(TargetResult {
        name: "podinfo".into(),
        version: PODINFO_VERSION.into(),
        idle_rss_kib,
        peak_rss_kib,
        routes,
    })
}

fn write_report(markdown: &str, report: &impl Serialize) -> Result<()> {
    let out_dir = target_dir().join("bench");
    fs::create_dir_all(&out_dir)?;
    fs::write(out_dir.join("report.md"), markdown)?;
    fs::write(
        out_dir.join("report.json"),
        serde_json::to_string_pretty(report)? + "\n",
    )?;
    println!("\n{markdown}");
    println!("written: {0}/report.md, {0}/report.json", out_dir.display());
    Ok(())
}

/// How to start the api for the benchmark (the same flags and environment every time).
struct ApiLauncher {
    binary: PathBuf,
    data: PathBuf,
    otlp_endpoint: String,
    log_dir: PathBuf,
}

impl ApiLauncher {
    fn spawn(&self) -> Result<Server> {
        let port = proc::free_port()?;
        let mut cmd = proc::isolated(&self.binary);
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", &self.otlp_endpoint)
            .env("OTEL_SERVICE_NAME", "blueprint-api")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--data-path")
            .arg(&self.data)
            // `=`: the api's boolean flags take their value only attached.
            .args(["--access-log=true", "--drain-delay", "0s"]);
        Server::spawn(
            "blueprint-api",
            SocketAddr::from(([127, 0, 0, 1], port)),
            &mut cmd,
            Stdio::null(),
            &self.log_dir,
        )
    }
}

/// Bodies copied from one api response each, for the nginx baseline.
struct Captured {
    info: String,
    metrics: String,
    metrics_content_type: String,
}

fn capture_bodies(api: &ApiLauncher) -> Result<Captured> {
    let mut server = api.spawn()?;
    server.wait_ready("/readyz", READY_LIMIT, Duration::from_millis(5))?;
    let get = |path: &str| -> Result<http::Response> {
        let resp = http::get(server.addr, path, &[], Duration::from_secs(5))?;
        if resp.status != 200 {
            bail!("blueprint-api answered {} on {path}", resp.status);
        }
        Ok(resp)
    };
    let info = get("/api/info")?.text();
    let metrics = get("/metrics")?;
    let captured = Captured {
        info,
        metrics: metrics.text(),
        metrics_content_type: metrics
            .header("content-type")
            .unwrap_or("text/plain; version=0.0.4; charset=utf-8")
            .to_owned(),
    };
    server.stop(STOP_GRACE)?;
    Ok(captured)
}

/// Writes the baseline config and starts nginx in the foreground (`daemon off`), as our child.
fn start_nginx(tools: &Tools, tmp: &Path, port: u16, captured: &Captured) -> Result<Server> {
    let info = tmp.join("info.json");
    let metrics = tmp.join("metrics.txt");
    fs::write(&info, &captured.info)?;
    fs::write(&metrics, &captured.metrics)?;
    let conf = tmp.join("nginx.conf");
    fs::write(
        &conf,
        nginx_config(tmp, port, &info, &metrics, &captured.metrics_content_type),
    )?;
    let mut cmd = Command::new(&tools.nginx);
    cmd.arg("-p")
        .arg(tmp)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(tmp.join("error.log"));
    let mut server = Server::spawn(
        "nginx",
        SocketAddr::from(([127, 0, 0, 1], port)),
        &mut cmd,
        Stdio::null(),
        tmp,
    )?;
    server
        .wait_ready("/healthz", READY_LIMIT, Duration::from_millis(5))
        .with_context(|| format!("nginx with {}", conf.display()))?;
    Ok(server)
}

/// The nginx baseline: one worker, no access log, every route answered from memory or a cached
/// file; `/v1/traces` is the OTLP/HTTP sink for the api's spans.
fn nginx_config(tmp: &Path, port: u16, info: &Path, metrics: &Path, metrics_type: &str) -> String {
    let tmp = tmp.display();
    let (info, metrics) = (info.display(), metrics.display());
    format!(
        r#"# Written by cargo xtask bench.
daemon off;
master_process on;
# One worker: the machine has 2 cores and wrk needs one.
worker_processes 1;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    # OTLP batches can be large; the sink discards them.
    client_max_body_size 64m;
    # hyper and Go keep connections open indefinitely; nginx's default closes every 1000 requests.
    keepalive_requests 100000000;
    sendfile on;
    open_file_cache max=16 inactive=1h;
    open_file_cache_valid 1h;

    server {{
        listen 127.0.0.1:{port};

        location = /healthz {{
            default_type application/json;
            return 200 '{{"status":"OK"}}';
        }}
        # A copy of one blueprint-api /api/info answer.
        location = /api/info {{
            types {{ }}
            default_type application/json;
            alias {info};
        }}
        # A copy of one blueprint-api scrape.
        location = /metrics {{
            types {{ }}
            default_type "{metrics_type}";
            alias {metrics};
        }}
        # OTLP/HTTP trace sink for the api under test; its log counts the exports.
        location = /v1/traces {{
            access_log {tmp}/otlp-sink.log;
            return 200;
        }}
    }}
}}
"#
    )
}

/// `nginx -v` prints `nginx version: nginx/1.22.1` on stderr.
fn nginx_version(nginx: &Path) -> String {
    Command::new(nginx)
        .arg("-v")
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            text.trim().rsplit('/').next().map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}

/// Sum of a `/proc/<pid>/status` field over the nginx master and its workers, KiB.
fn nginx_rss_kib(master: u32, field: &str) -> Result<u64> {
    let mut total = proc::proc_status_kib(master, field)?;
    for worker in proc::children_of(master) {
        total += proc::proc_status_kib(worker, field)?;
    }
    Ok(total)
}

fn start_podinfo(bin: &Path, tmp: &Path) -> Result<Server> {
    let port = proc::free_port()?;
    let data = tmp.join("podinfo-data");
    fs::create_dir_all(&data)?;
    let mut cmd = Command::new(bin);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--port-metrics", "0", "--level", "warn"])
        .arg("--data-path")
        .arg(&data)
        .arg("--ui-path")
        .arg(tmp.join("podinfo-ui"));
    let mut server = Server::spawn(
        "podinfo",
        SocketAddr::from(([127, 0, 0, 1], port)),
        &mut cmd,
        Stdio::null(),
        tmp,
    )?;
    server.wait_ready("/readyz", READY_LIMIT, Duration::from_millis(5))?;
    Ok(server)
}

/// Warm-up then a measured wrk run per route.
fn load_routes(tools: &Tools, server: &Server, duration_secs: u64) -> Result<Vec<RouteResult>> {
    let mut results = Vec::new();
    for route in ROUTES {
        let url = format!("http://{}{route}", server.addr);
        wrk(tools, &url, WARMUP.as_secs())?;
        let text = wrk(tools, &url, duration_secs)?;
        let result = parse_wrk(route, &text)
            .with_context(|| format!("parsing wrk's output for {url}:\n{text}"))?;
        println!(
            "{:<14} {:<10} {:>10.0} req/s  p50 {:>8}  p99 {:>8}{}",
            server.name,
            route,
            result.requests_per_sec,
            format_latency(result.p50_us),
            format_latency(result.p99_us),
            errors_note(&result)
        );
        results.push(result);
    }
    Ok(results)
}

fn wrk(tools: &Tools, url: &str, secs: u64) -> Result<String> {
    let mut cmd = Command::new(&tools.wrk);
    cmd.arg(format!("-t{WRK_THREADS}"))
        .arg(format!("-c{WRK_CONNECTIONS}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg(url);
    let out = proc::output(&mut cmd)?;
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Extracts req/s, p50, p99 and error counts from `wrk --latency` output.
fn parse_wrk(route: &str, text: &str) -> Result<RouteResult> {
    let mut result = RouteResult {
        route: route.to_owned(),
        requests_per_sec: f64::NAN,
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        non_2xx: 0,
        socket_errors: 0,
    };
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            result.requests_per_sec = rest.trim().parse().context("Requests/sec")?;
        } else if let Some(rest) = line.strip_prefix("50%") {
            result.p50_us = parse_wrk_latency(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("99%") {
            result.p99_us = parse_wrk_latency(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            result.non_2xx = rest.trim().parse().context("Non-2xx count")?;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            result.socket_errors = rest
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        }
    }
    if result.requests_per_sec.is_nan() || result.p50_us.is_nan() || result.p99_us.is_nan() {
        bail!("missing Requests/sec or the 50%/99% latency lines");
    }
    Ok(result)
}

/// wrk latency (`635.00us`, `1.20ms`, `2.01s`, `1.00m`) in microseconds.
fn parse_wrk_latency(text: &str) -> Result<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in `{text}`"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().with_context(|| format!("`{text}`"))?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => bail!("unknown unit in `{text}`"),
    };
    Ok(value * scale)
}

fn format_latency(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn errors_note(result: &RouteResult) -> String {
    let mut note = String::new();
    if result.non_2xx > 0 {
        let _ = write!(note, " ({} non-2xx)", result.non_2xx);
    }
    if result.socket_errors > 0 {
        let _ = write!(note, " ({} socket errors)", result.socket_errors);
    }
    note
}

fn find<'a>(targets: &'a [TargetResult], name: &str, route: &str) -> Option<&'a RouteResult> {
    targets.iter().find(|t| t.name == name)?.route(route)
}

fn checks(targets: &[TargetResult], startup_best_ms: f64) -> Vec<Check> {
    let api_info = find(targets, "blueprint-api", "/api/info");
    let pod_info = find(targets, "podinfo", "/api/info");
    let ratio = |f: fn(&RouteResult) -> f64, a: Option<&RouteResult>, b: Option<&RouteResult>| {
        Some(f(a?) / f(b?))
    };
    let rps = |r: &RouteResult| r.requests_per_sec;
    let p99 = |r: &RouteResult| r.p99_us;
    let shown = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.2}×"));

    let info_rps = ratio(rps, api_info, pod_info);
    let info_p99 = ratio(p99, api_info, pod_info);
    let healthz_rps = ratio(
        rps,
        find(targets, "blueprint-api", "/healthz"),
        find(targets, "nginx", "/healthz"),
    );
    let idle_kib = targets
        .iter()
        .find(|t| t.name == "blueprint-api")
        .map(|t| t.idle_rss_kib);
    vec![
        Check {
            target: format!("/api/info req/s ≥ {TARGET_INFO_RPS_VS_PODINFO}× podinfo"),
            measured: shown(info_rps),
            passed: info_rps.map(|r| r >= TARGET_INFO_RPS_VS_PODINFO),
        },
        Check {
            target: format!("/api/info p99 ≤ {TARGET_INFO_P99_VS_PODINFO}× podinfo"),
            measured: shown(info_p99),
            passed: info_p99.map(|r| r <= TARGET_INFO_P99_VS_PODINFO),
        },
        Check {
            target: format!("/healthz req/s ≥ {TARGET_HEALTHZ_RPS_VS_NGINX}× nginx"),
            measured: shown(healthz_rps),
            passed: healthz_rps.map(|r| r >= TARGET_HEALTHZ_RPS_VS_NGINX),
        },
        Check {
            target: format!("idle RSS ≤ {} MiB", TARGET_IDLE_RSS_KIB / 1024),
            measured: idle_kib.map_or_else(|| "n/a".into(), |k| format!("{:.1} MiB", mib(k))),
            passed: idle_kib.map(|k| k <= TARGET_IDLE_RSS_KIB),
        },
        Check {
            target: format!("ready ≤ {TARGET_READY_MS} ms after exec"),
            measured: format!("{startup_best_ms:.1} ms"),
            passed: Some(startup_best_ms <= TARGET_READY_MS),
        },
    ]
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn render_markdown(report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# blueprint-api benchmark\n");
    let _ = writeln!(
        md,
        "Loopback, {} CPUs (load average at start: {}); wrk -t{} -c{} -d{}s --latency per route \
         after a {} s warm-up. blueprint-api: release build, metrics on, JSON access logs on \
         (to /dev/null), OTLP trace export on (to the nginx sink). Ratios compare figures from \
         this same run.\n",
        report.cpus,
        report.loadavg_at_start,
        report.wrk_threads,
        report.wrk_connections,
        report.duration_secs,
        report.warmup_secs
    );
    let _ = writeln!(
        md,
        "| target | route | req/s | p50 | p99 | req/s vs nginx | req/s vs podinfo | p99 vs podinfo |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|");
    for target in &report.targets {
        for r in &target.routes {
            let vs = |base: &str, f: fn(&RouteResult) -> f64| {
                find(&report.targets, base, &r.route)
                    .map_or_else(|| "–".to_owned(), |b| format!("{:.2}×", f(r) / f(b)))
            };
            let _ = writeln!(
                md,
                "| {} {} | {} | {:.0}{} | {} | {} | {} | {} | {} |",
                target.name,
                target.version,
                r.route,
                r.requests_per_sec,
                errors_note(r),
                format_latency(r.p50_us),
                format_latency(r.p99_us),
                vs("nginx", |x| x.requests_per_sec),
                vs("podinfo", |x| x.requests_per_sec),
                vs("podinfo", |x| x.p99_us),
            );
        }
    }
    let _ = writeln!(md, "\n| target | idle RSS | peak RSS (VmHWM) |");
    let _ = writeln!(md, "|---|---:|---:|");
    for target in &report.targets {
        let _ = writeln!(
            md,
            "| {} | {:.1} MiB | {:.1} MiB |",
            target.name,
            mib(target.idle_rss_kib),
            mib(target.peak_rss_kib)
        );
    }
    let _ = writeln!(
        md,
        "\nStart-up (spawn → first 200 on /readyz, polled every 1 ms): best {:.1} ms of {:?}.\n",
        report.startup_best_ms,
        report
            .startup_ms
            .iter()
            .map(|ms| format!("{ms:.1}"))
            .collect::<Vec<_>>()
    );
    let _ = writeln!(md, "## Targets\n");
    render_checks(&mut md, &report.checks);
    if !report.notes.is_empty() {
        let _ = writeln!(md, "\n## Notes\n");
        for note in &report.notes {
            let _ = writeln!(md, "- {note}");
        }
    }
    if let Some(jobs) = &report.jobs {
        let _ = writeln!(md, "\n{}", bench_jobs::render_markdown(jobs));
    }
    md
}

/// One `- PASS|MISS|N/A target — measured …` line per check.
pub fn render_checks(md: &mut String, checks: &[Check]) {
    for check in checks {
        let verdict = match check.passed {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "N/A ",
        };
        let _ = writeln!(
            md,
            "- {verdict} {} — measured {}",
            check.target, check.measured
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_OUTPUT: &str = "Running 10s test @ http://127.0.0.1:8080/healthz
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.06ms  211.17us   6.58ms   91.52%
    Req/Sec    60.40k     1.91k   63.85k    82.00%
  Latency Distribution
     50%  635.00us
     75%    1.08ms
     90%    1.20ms
     99%    1.84ms
  601164 requests in 10.00s, 97.47MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  60107.68
Transfer/sec:      9.75MB
";

    #[test]
    fn wrk_output_parses() {
        let r = parse_wrk("/healthz", WRK_OUTPUT).expect("parses");
        assert!((r.requests_per_sec - 60107.68).abs() < 1e-6);
        assert!((r.p50_us - 635.0).abs() < 1e-6);
        assert!((r.p99_us - 1840.0).abs() < 1e-6);
        assert_eq!((r.non_2xx, r.socket_errors), (7, 3));
    }

    #[test]
    fn wrk_output_without_latency_lines_is_an_error() {
        assert!(parse_wrk("/x", "Requests/sec: 1.0\n").is_err());
    }

    #[test]
    fn wrk_latency_units_convert_to_microseconds() {
        assert!((parse_wrk_latency("2.01s").expect("s") - 2_010_000.0).abs() < 1e-6);
        assert!((parse_wrk_latency("1.00m").expect("m") - 60e6).abs() < 1e-6);
        assert!(parse_wrk_latency("3").is_err());
        assert!(parse_wrk_latency("3ns").is_err());
    }

    fn target(name: &str, rps: f64, p99_us: f64, idle_rss_kib: u64) -> TargetResult {
        let routes = ROUTES
            .iter()
            .map(|route| RouteResult {
                route: (*route).into(),
                requests_per_sec: rps,
                p50_us: p99_us / 2.0,
                p99_us,
                non_2xx: 0,
                socket_errors: 0,
            })
            .collect();
        TargetResult {
            name: name.into(),
            version: "1".into(),
            idle_rss_kib,
            peak_rss_kib: idle_rss_kib * 2,
            routes,
        }
    }

    #[test]
    fn checks_compare_within_the_run() {
        let targets = vec![
            target("blueprint-api", 50_000.0, 1000.0, 6000),
            target("nginx", 60_000.0, 800.0, 3000),
            target("podinfo", 20_000.0, 3000.0, 12000),
        ];
        let checks = checks(&targets, 12.0);
        let verdicts: Vec<_> = checks.iter().map(|c| c.passed).collect();
        // 2.5× podinfo, p99 0.33×, 0.83× nginx, 5.9 MiB, 12 ms.
        assert_eq!(
            verdicts,
            [Some(true), Some(true), Some(false), Some(true), Some(true)]
        );
        let report = Report {
            duration_secs: 10,
            warmup_secs: 2,
            wrk_threads: 1,
            wrk_connections: 64,
            cpus: 2,
            loadavg_at_start: "0.10 0.20 0.30".into(),
            startup_ms: vec![12.0],
            startup_best_ms: 12.0,
            targets,
            checks,
            notes: vec![],
            jobs: None,
        };
        let md = render_markdown(&report);
        assert!(
            md.contains(
                "| blueprint-api 1 | /api/info | 50000 | 500 µs | 1.00 ms | 0.83× | 2.50× | 0.33× |"
            ),
            "{md}"
        );
        assert!(
            md.contains("- MISS /healthz req/s ≥ 1× nginx — measured 0.83×"),
            "{md}"
        );
    }

    #[test]
    fn checks_without_podinfo_are_not_applicable() {
        let targets = vec![
            target("blueprint-api", 1.0, 1.0, 1),
            target("nginx", 1.0, 1.0, 1),
        ];
        let checks = checks(&targets, 50.0);
        assert_eq!(checks[0].passed, None);
        assert_eq!(checks[0].measured, "n/a");
        assert_eq!(checks[4].passed, Some(false));
    }

    #[test]
    fn the_nginx_config_serves_every_route_and_the_trace_sink() {
        let conf = nginx_config(
            Path::new("/t"),
            8080,
            Path::new("/t/info.json"),
            Path::new("/t/metrics.txt"),
            "text/plain; version=0.0.4",
        );
        for needle in [
            "listen 127.0.0.1:8080;",
            "location = /healthz",
            "return 200 '{\"status\":\"OK\"}';",
            "alias /t/info.json;",
            "default_type \"text/plain; version=0.0.4\";",
            "location = /v1/traces",
            "access_log /t/otlp-sink.log;",
            "worker_processes 1;",
            "pid /t/nginx.pid;",
        ] {
            assert!(conf.contains(needle), "missing {needle} in\n{conf}");
        }
    }
}

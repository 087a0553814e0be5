//! The live alerting test: our rules and routes on real Prometheus and Alertmanager binaries.
//!
//! On loopback, on free ports, stopped by PID at the end (or on any error, by `Drop`):
//!
//! ```text
//!  traffic ─> blueprint-api ──jobs──> redis-server <── blueprint-worker
//!                  │  /metrics                               │  /metrics
//!                  └──────────> Prometheus (scrape 1 s) <────┘
//!                               rules: the SLO source rendered with the `test` profile
//!                               (windows of seconds) + the hand-written rules, unchanged
//!                                    │ alerts
//!                               Alertmanager: the committed routing tree and inhibitions;
//!                               receivers → webhooks of this test, timers shortened
//! ```
//!
//! It asserts, in order: the SLI recording rules read 0 while everything succeeds; every PromQL
//! expression of the rules, dashboards and runbooks names only metrics the live scrapes carry (or
//! the rules record); with the api's fault injection on, the availability SLI reaches 1 and the
//! page burn-rate alert arrives at the `api-pager` receiver with the SLO's labels while the
//! same SLO's ticket is inhibited; with it off, the page resolves. The Watchdog, always firing,
//! never reaches a webhook (null route).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::observability::{self, Expr, Rules};
use crate::proc::{self, Server};
use crate::tools::Tools;
use crate::{bench_jobs, http, root, slo, target_dir};

/// Prometheus scrapes and evaluates this often in the test (the `test` profile's windows are
/// 5 s and up, so each holds several samples).
const SCRAPE_INTERVAL: &str = "1s";

/// Alertmanager's timers in the test (production: tens of seconds to hours).
const GROUP_WAIT: &str = "1s";
const GROUP_INTERVAL: &str = "1s";
const REPEAT_INTERVAL: &str = "1h";

/// Requests per second the traffic thread sends to `/api/info`.
const TRAFFIC_INTERVAL: Duration = Duration::from_millis(20);

/// A job is enqueued every this many requests (so the worker's metrics have series).
const JOB_EVERY: u64 = 10;

/// Upper bounds of the phases; the whole test takes about a minute.
const START_LIMIT: Duration = Duration::from_secs(30);
const HEALTHY_LIMIT: Duration = Duration::from_secs(60);
const FIRE_LIMIT: Duration = Duration::from_secs(60);
const RESOLVE_LIMIT: Duration = Duration::from_secs(120);

/// How often the test polls Prometheus and its webhook log.
const POLL: Duration = Duration::from_millis(250);

/// The alert the fault injection must fire, its SLO and the receiver its labels route to.
const ALERT: &str = "ApiAvailabilityBudgetBurn";
const SLO: &str = "api-availability";
const PAGE_RECEIVER: &str = "api-pager";
const TICKET_RECEIVER: &str = "api-tickets";

/// The collector's span metrics, which the docs query; not exported by the services, so the
/// name check takes them as known. Their names are the span_metrics connector's defaults.
const COLLECTOR_SPAN_METRICS: [&str; 4] = [
    "traces_span_metrics_calls_total",
    "traces_span_metrics_duration_seconds_bucket",
    "traces_span_metrics_duration_seconds_sum",
    "traces_span_metrics_duration_seconds_count",
];

/// One notification received by the webhook: the receiver (from the URL path) and the payload.
#[derive(Debug, Clone)]
struct Notification {
    receiver: String,
    at: Duration,
    body: Json,
}

impl Notification {
    fn alerts(&self) -> impl Iterator<Item = &Json> {
        self.body["alerts"].as_array().into_iter().flatten()
    }
}

impl std::fmt::Display for Notification {
    /// `api-tickets at 10.9 s: firing ApiAvailabilityBudgetBurn{severity=ticket, slo=…}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {:.1} s:", self.receiver, self.at.as_secs_f64())?;
        for alert in self.alerts() {
            let labels = alert["labels"].as_object().into_iter().flatten();
            let labels: Vec<String> = labels
                .filter(|(k, _)| *k != "alertname")
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            write!(
                f,
                " {} {}{{{}}}",
                alert["status"].as_str().unwrap_or("?"),
                alert["labels"]["alertname"].as_str().unwrap_or("?"),
                labels.join(", ")
            )?;
        }
        Ok(())
    }
}

/// One line per notification, for error messages.
fn list(notifications: &[Notification]) -> String {
    notifications.iter().fold(String::new(), |mut out, n| {
        let _ = write!(out, "\n    {n}");
        out
    })
}

/// A webhook receiver for Alertmanager on a free loopback port; keeps every notification.
struct Webhook {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Notification>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    fn start(started: Instant) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            if let Ok(n) = receive(stream, started) {
                                received.lock().expect("not poisoned").push(n);
                            }
                        }
                        Err(_) => proc::pause(Duration::from_millis(20)),
                    }
                }
            })
        };
        Ok(Self {
            addr,
            received,
            stop,
            thread: Some(thread),
        })
    }

    fn all(&self) -> Vec<Notification> {
        self.received.lock().expect("not poisoned").clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one HTTP/1.1 POST (Content-Length body), answers 200 and closes.
fn receive(stream: TcpStream, started: Instant) -> Result<Notification> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .context("no request path")?
        .to_owned();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut stream = stream;
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    Ok(Notification {
        receiver: path.trim_start_matches('/').to_owned(),
        at: started.elapsed(),
        body: serde_json::from_slice(&body)?,
    })
}

/// The committed Alertmanager config with every receiver's integrations replaced by a webhook
/// to `webhook/<receiver>` (the `null` receiver stays empty), the timers shortened and the
/// templates dropped (no integration uses them any more). Routes and inhibitions are untouched.
fn alertmanager_config(committed: &str, webhook: SocketAddr) -> Result<String> {
    let mut config: Yaml = serde_yaml::from_str(committed)?;
    let map = config.as_mapping_mut().context("not a mapping")?;
    map.remove("templates");
    let receivers = map
        .get_mut("receivers")
        .and_then(Yaml::as_sequence_mut)
        .context("no receivers")?;
    for receiver in receivers {
        let receiver = receiver.as_mapping_mut().context("a receiver")?;
        let name = receiver
            .get("name")
            .and_then(Yaml::as_str)
            .context("a receiver without a name")?
            .to_owned();
        let had_integrations = receiver.len() > 1;
        receiver.retain(|key, _| key.as_str() == Some("name"));
        if had_integrations {
            let hook: Yaml = serde_yaml::from_str(&format!(
                "[{{url: 'http://{webhook}/{name}', send_resolved: true}}]"
            ))?;
            receiver.insert("webhook_configs".into(), hook);
        }
    }
    let route = map.get_mut("route").context("no route")?;
    shorten(route);
    if let Some(root) = route.as_mapping_mut() {
        root.insert("group_wait".into(), GROUP_WAIT.into());
        root.insert("group_interval".into(), GROUP_INTERVAL.into());
    }
    Ok(serde_yaml::to_string(&config)?)
}

/// Sets the timers of a route and its children, where the route sets them, to the test's.
fn shorten(route: &mut Yaml) {
    if let Some(route) = route.as_mapping_mut() {
        for (key, value) in [
            ("group_wait", GROUP_WAIT),
            ("group_interval", GROUP_INTERVAL),
            ("repeat_interval", REPEAT_INTERVAL),
        ] {
            if route.contains_key(key) {
                route.insert(key.into(), value.into());
            }
        }
        if let Some(children) = route.get_mut("routes").and_then(Yaml::as_sequence_mut) {
            children.iter_mut().for_each(shorten);
        }
    }
}

/// The Prometheus config of the test: loopback targets, 1-second scrapes and evaluations.
fn prometheus_config(api: SocketAddr, worker: SocketAddr, alertmanager: SocketAddr) -> String {
    format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  evaluation_interval: {SCRAPE_INTERVAL}\n\
         rule_files:\n  - rules/*.yaml\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n\
         scrape_configs:\n\
         \x20 - job_name: blueprint-api\n    static_configs:\n      - targets: ['{api}']\n\
         \x20 - job_name: blueprint-worker\n    static_configs:\n      - targets: ['{worker}']\n"
    )
}

/// Instant query; the first sample's value, or `None` when the result is empty.
fn query(prometheus: SocketAddr, promql: &str) -> Result<Option<f64>> {
    let path = format!("/api/v1/query?query={}", http::encode_query(promql));
    let resp = http::get(prometheus, &path, &[], Duration::from_secs(5))?;
    ensure!(
        resp.status == 200,
        "Prometheus answered {} to {promql}: {}",
        resp.status,
        resp.text()
    );
    let body: Json = serde_json::from_slice(&resp.body)?;
    let Some(first) = body["data"]["result"].as_array().and_then(|r| r.first()) else {
        return Ok(None);
    };
    let value = first["value"][1]
        .as_str()
        .context("a sample without a value")?;
    Ok(Some(value.parse()?))
}

/// Polls `probe` every [`POLL`] until it returns `Some`, or fails after `limit` with `what`.
fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<(T, Duration)> {
    let started = Instant::now();
    let mut last_err = None;
    loop {
        match probe() {
            Ok(Some(value)) => return Ok((value, started.elapsed())),
            Ok(None) => {}
            Err(err) => last_err = Some(err),
        }
        if started.elapsed() >= limit {
            let cause = last_err.map_or(String::new(), |e| format!(" (last error: {e:#})"));
            bail!("{what}: not within {} s{cause}", limit.as_secs());
        }
        proc::pause(POLL);
    }
}

/// Background load: `GET /api/info` every [`TRAFFIC_INTERVAL`], and a short `sleep` job every
/// [`JOB_EVERY`] requests. Counts answers by class.
struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(api: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, ok, errors) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&errors));
            std::thread::spawn(move || {
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    sent += 1;
                    match http::get(api, "/api/info", &[], Duration::from_secs(2)) {
                        Ok(r) if r.status < 500 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => errors.fetch_add(1, Ordering::Relaxed),
                    };
                    if sent.is_multiple_of(JOB_EVERY) {
                        let _ = http::post(
                            api,
                            "/jobs",
                            &[("Content-Type", "application/json")],
                            br#"{"kind":"sleep","payload":{"duration_ms":5}}"#,
                            Duration::from_secs(2),
                        );
                    }
                    proc::pause(TRAFFIC_INTERVAL);
                }
            })
        };
        Self {
            stop,
            ok,
            errors,
            thread: Some(thread),
        }
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `POST /fault_injection/{enable|disable}` on the api.
fn fault_injection(api: SocketAddr, verb: &str) -> Result<()> {
    let path = format!("/fault_injection/{verb}");
    let resp = http::post(api, &path, &[], &[], Duration::from_secs(5))?;
    ensure!(resp.status < 300, "POST {path} answered {}", resp.status);
    Ok(())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn spawn(name: &str, port: u16, cmd: &mut Command, work: &Path) -> Result<Server> {
    let log = work.join(format!("{name}.stdout.log"));
    let stdout = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    Server::spawn(name, loopback(port), cmd, Stdio::from(stdout), work)
}

/// Binaries of the services, built by the caller (`cargo build -p blueprint-api -p blueprint-worker`).
pub struct Binaries {
    pub api: PathBuf,
    pub worker: PathBuf,
}

/// Runs the live test. `exprs`: every PromQL expression of the rules, dashboards and docs, for
/// the metric-name check against the live scrapes.
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
pub fn run(
    tools: &Tools,
    bins: &Binaries,
    spec: &slo::Spec,
    rules: &Rules,
    exprs: &[Expr],
) -> Result<()> {
    let started = Instant::now();
    let work = target_dir().join("obs-live");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("rules"))?;

    // Rules: the SLO source rendered with the test profile's windows in place of the generated
    // file, and every other rule file as it is.
    for file in observability::rule_files()? {
        let name = file.file_name().context("a rule file name")?;
        if file == Path::new(slo::RULES) {
            std::fs::write(
                work.join("rules").join(name),
                slo::render(spec, Some("test"))?,
            )?;
        } else {
            std::fs::copy(root().join(&file), work.join("rules").join(name))?;
        }
    }

    let redis = bench_jobs::start_redis(&work)?;
    let redis_url = format!("redis://{}/0", redis.addr);

    let (api_port, worker_port, prom_port, am_port) = (
        proc::free_port()?,
        proc::free_port()?,
        proc::free_port()?,
        proc::free_port()?,
    );
    let data = work.join("api-data");
    std::fs::create_dir_all(&data)?;
    let mut api = spawn(
        "blueprint-api",
        api_port,
        proc::isolated(&bins.api)
            .args(["--host", "127.0.0.1", "--port", &api_port.to_string()])
            .args([
                "--redis-url",
                &redis_url,
                "--drain-delay",
                "0s",
                "--data-path",
            ])
            .arg(&data),
        &work,
    )?;
    let mut worker = spawn(
        "blueprint-worker",
        worker_port,
        proc::isolated(&bins.worker)
            .args(["--host", "127.0.0.1", "--port", &worker_port.to_string()])
            .args(["--redis-url", &redis_url]),
        &work,
    )?;

    let webhook = Webhook::start(started)?;
    let am_config = work.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        alertmanager_config(
            &std::fs::read_to_string(root().join(observability::ALERTMANAGER_CONFIG))?,
            webhook.addr,
        )?,
    )?;
    let mut alertmanager = spawn(
        "alertmanager",
        am_port,
        Command::new(&tools.alertmanager)
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!("--storage.path={}", work.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            // An empty address turns clustering (port 9094 on all interfaces) off.
            .arg("--cluster.listen-address="),
        &work,
    )?;
    let prom_config = work.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        prometheus_config(api.addr, worker.addr, alertmanager.addr),
    )?;
    let mut prometheus = spawn(
        "prometheus",
        prom_port,
        Command::new(&tools.prometheus)
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        &work,
    )?;
    api.wait_ready("/readyz", START_LIMIT, POLL)?;
    worker.wait_ready("/readyz", START_LIMIT, POLL)?;
    alertmanager.wait_ready("/-/ready", START_LIMIT, POLL)?;
    prometheus.wait_ready("/-/ready", START_LIMIT, POLL)?;
    println!(
        "up after {:.1} s: redis {}, api {}, worker {}, alertmanager {}, prometheus {}, webhook {}",
        started.elapsed().as_secs_f64(),
        redis.addr,
        api.addr,
        worker.addr,
        alertmanager.addr,
        prometheus.addr,
        webhook.addr
    );

    let traffic = Traffic::start(api.addr);

    // 1. Healthy: every SLI reads 0 (not "no data": the error series may not exist yet).
    let ratio = |slo: &str| format!("slo:sli_error:ratio_rate5m{{slo=\"{slo}\"}}");
    for name in spec.slos.iter().map(|s| s.name.as_str()) {
        let (_, took) = wait_for(
            &format!("{} reads 0 while all succeeds", ratio(name)),
            HEALTHY_LIMIT,
            || Ok(query(prometheus.addr, &ratio(name))?.filter(|v| *v == 0.0)),
        )?;
        println!(
            "{name}: SLI error ratio 0 after {:.1} s of traffic",
            took.as_secs_f64()
        );
    }

    // 2. Every expression names only metrics that exist: the live scrapes (the services, and
    // Prometheus and Alertmanager themselves, which the Watchdog runbook queries), plus what the
    // rules record, plus the series Prometheus makes.
    let mut known: BTreeSet<String> = rules.records.clone();
    known.extend(
        observability::PROMETHEUS_OWN
            .iter()
            .map(|s| (*s).to_owned()),
    );
    known.extend(COLLECTOR_SPAN_METRICS.iter().map(|s| (*s).to_owned()));
    for server in [&api, &worker, &prometheus, &alertmanager] {
        let scrape = http::get(server.addr, "/metrics", &[], Duration::from_secs(5))?;
        ensure!(
            scrape.status == 200,
            "{} /metrics answered {}",
            server.name,
            scrape.status
        );
        known.extend(observability::exposition_names(&scrape.text()));
    }
    let parsed = observability::parse_all(exprs)?;
    observability::check_names(&parsed, &known)?;
    let used: BTreeSet<&String> = parsed.iter().flat_map(|(_, names)| names).collect();
    println!(
        "{} expressions read {} distinct metrics; all exist in the live scrapes or the rules",
        parsed.len(),
        used.len()
    );
    ensure!(
        webhook.all().is_empty(),
        "notifications before any fault:{}",
        list(&webhook.all())
    );

    // 3. Fault: application routes answer 500. The availability SLI goes to 1 and the page
    // arrives at the api team's pager, with the SLO's labels.
    let fault_on = started.elapsed();
    fault_injection(api.addr, "enable")?;
    let (_, took) = wait_for(
        &format!("{} reaches 1 with every request failing", ratio(SLO)),
        FIRE_LIMIT,
        || Ok(query(prometheus.addr, &ratio(SLO))?.filter(|v| *v > 0.99)),
    )?;
    println!(
        "fault on: SLI error ratio 1 after {:.1} s",
        took.as_secs_f64()
    );
    let (page, took) = wait_for(
        &format!("{ALERT} (page) reaches the `{PAGE_RECEIVER}` webhook"),
        FIRE_LIMIT,
        || {
            Ok(webhook.all().into_iter().find(|n| {
                n.receiver == PAGE_RECEIVER
                    && n.alerts().any(|a| {
                        a["status"] == "firing"
                            && a["labels"]["alertname"] == ALERT
                            && a["labels"]["severity"] == "page"
                    })
            }))
        },
    )?;
    let alert = page
        .alerts()
        .find(|a| a["labels"]["alertname"] == ALERT)
        .context("the alert")?;
    for (label, expected) in [
        ("slo", SLO),
        ("team", "api"),
        ("service", "blueprint-api"),
        ("severity", "page"),
    ] {
        ensure!(
            alert["labels"][label] == expected,
            "the page's label {label} is {}, expected {expected}",
            alert["labels"][label]
        );
    }
    ensure!(
        alert["annotations"]["runbook_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("docs/runbooks/{ALERT}.md"))),
        "the page has no runbook_url to its runbook: {}",
        alert["annotations"]
    );
    let fired_after = page.at.saturating_sub(fault_on);
    println!(
        "page at `{PAGE_RECEIVER}` {:.1} s after the fault ({:.1} s of polling)",
        fired_after.as_secs_f64(),
        took.as_secs_f64()
    );

    // The ticket of the same SLO fires in Prometheus too (its windows are over budget) …
    wait_for(
        &format!("{ALERT} (ticket) fires in Prometheus"),
        FIRE_LIMIT,
        || {
            query(
                prometheus.addr,
                &format!(
                    "ALERTS{{alertname=\"{ALERT}\", severity=\"ticket\", alertstate=\"firing\"}}"
                ),
            )
        },
    )?;
    // … and Alertmanager holds it back while the page fires (inhibition by `slo`).
    proc::pause(Duration::from_secs(3));
    let tickets: Vec<_> = webhook
        .all()
        .into_iter()
        .filter(|n| n.receiver == TICKET_RECEIVER)
        .collect();
    ensure!(
        tickets.is_empty(),
        "the ticket reached `{TICKET_RECEIVER}` although the page of the same SLO fires:{}",
        list(&tickets)
    );
    println!("ticket of the same SLO firing in Prometheus, inhibited in Alertmanager");

    // 4. Fault off: the page resolves once its short windows are clean.
    let fault_off = started.elapsed();
    fault_injection(api.addr, "disable")?;
    let (resolved, _) = wait_for(
        &format!("{ALERT} (page) resolves at the `{PAGE_RECEIVER}` webhook"),
        RESOLVE_LIMIT,
        || {
            Ok(webhook.all().into_iter().find(|n| {
                n.receiver == PAGE_RECEIVER
                    && n.at > fault_off
                    && n.body["status"] == "resolved"
                    && n.alerts().any(|a| a["labels"]["alertname"] == ALERT)
            }))
        },
    )?;
    println!(
        "page resolved at `{PAGE_RECEIVER}` {:.1} s after the fault ended",
        resolved.at.saturating_sub(fault_off).as_secs_f64()
    );
    let (ok, errors) = traffic.counts();
    drop(traffic);

    let watchdog: Vec<_> = webhook
        .all()
        .into_iter()
        .filter(|n| n.alerts().any(|a| a["labels"]["alertname"] == "Watchdog"))
        .collect();
    ensure!(
        watchdog.is_empty(),
        "the Watchdog reached a webhook; its route is the null receiver:{}",
        list(&watchdog)
    );
    let firing_watchdog = query(
        prometheus.addr,
        "ALERTS{alertname=\"Watchdog\", alertstate=\"firing\"}",
    )?;
    ensure!(
        firing_watchdog == Some(1.0),
        "the Watchdog does not fire in Prometheus"
    );
    println!("Watchdog firing in Prometheus, dropped by the null route");

    for server in [prometheus, alertmanager, worker, api, redis] {
        server.stop(Duration::from_secs(10))?;
    }
    println!(
        "live alerting test: {:.1} s; traffic: {ok} answered below 500, {errors} with 5xx or no answer; \
         page {:.1} s after the fault, resolved {:.1} s after its end",
        started.elapsed().as_secs_f64(),
        fired_after.as_secs_f64(),
        resolved.at.saturating_sub(fault_off).as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_alertmanager_config_keeps_routes_and_swaps_receivers_for_webhooks() {
        let committed = std::fs::read_to_string(root().join(observability::ALERTMANAGER_CONFIG))
            .expect("committed config");
        let text = alertmanager_config(&committed, loopback(9)).expect("rewrites");
        let rewritten: Yaml = serde_yaml::from_str(&text).expect("YAML");
        let original: Yaml = serde_yaml::from_str(&committed).expect("YAML");
        assert_eq!(rewritten["inhibit_rules"], original["inhibit_rules"]);
        assert_eq!(
            rewritten["route"]["routes"][1]["routes"],
            original["route"]["routes"][1]["routes"]
        );
        assert_eq!(rewritten["route"]["routes"][1]["group_wait"], GROUP_WAIT);
        assert!(rewritten.get("templates").is_none());
        let receivers = rewritten["receivers"].as_sequence().expect("receivers");
        for receiver in receivers {
            let name = receiver["name"].as_str().expect("name");
            if name == "null" {
                assert_eq!(receiver.as_mapping().expect("map").len(), 1, "{receiver:?}");
            } else {
                assert_eq!(
                    receiver["webhook_configs"][0]["url"],
                    format!("http://127.0.0.1:9/{name}").as_str()
                );
                assert!(receiver.get("pagerduty_configs").is_none());
                assert!(receiver.get("slack_configs").is_none());
            }
        }
    }
}

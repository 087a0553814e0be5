//! `cargo xtask bench`, jobs section: blueprint-worker against Celery, on one loopback Redis.
//!
//! One `redis-server` (Debian's, no persistence) on a free loopback port serves both systems in
//! turn: blueprint-worker on DB 0, then — after a `FLUSHALL`, so both start from an empty Redis —
//! Celery on DB 1. For each, one worker process runs `concurrency` jobs at once; once it is ready,
//! `jobs` no-op jobs are enqueued as fast as the producer can, and the run ends when every job
//! has run.
//!
//! - **blueprint-worker** (release build): xtask enqueues `sleep` jobs with `duration_ms: 0`
//!   through [`jobs::redis::RedisQueue`] from [`PRODUCERS`] concurrent tasks on one thread, waits
//!   for `stats()` to show nothing waiting or claimed, then reads every job record. Throughput =
//!   jobs / (first `enqueued_at_ms` → last `finished_at_ms`); lag = `started_at_ms −
//!   enqueued_at_ms` (Redis clock, whole milliseconds).
//! - **Celery** (pinned in the tool cache): `xtask/bench/celery_bench.py` does the same with a
//!   no-op task and prints its figures as JSON; by default once with the prefork pool and once
//!   with the threads pool, and the targets compare with the better Celery figure of each.
//!
//! The targets are printed PASS/MISS; like the HTTP part, the bench informs and does not fail on
//! them. If Celery cannot be installed or run, the error goes into the report and the blueprint-
//! worker figures stand alone.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use jobs::redis::RedisQueue;
use jobs::{JobRecord, JobStatus, NewJob, Queue, QueueConfig};
use serde::{Deserialize, Serialize};

use crate::bench::Check;
use crate::proc::{self, Server};
use crate::tools::{CELERY_VERSION, Tools};
use crate::{cargo, root, target_dir};

/// Jobs enqueued per system, unless `--jobs` says otherwise.
pub const DEFAULT_JOBS: u32 = 20_000;

/// Jobs each worker runs at once, unless `--jobs-concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: u32 = 16;

/// Concurrent enqueue tasks in xtask. They share one thread and pipeline their commands on the
/// queue's multiplexed connection, so the producer takes at most one core.
const PRODUCERS: usize = 4;

/// Debian's Redis (see [`crate::tools::DEBIAN`]).
const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// blueprint-worker's default `--queue-prefix`; xtask enqueues under the same.
const QUEUE_PREFIX: &str = "blueprint:";

/// Target: blueprint-worker's throughput as a multiple of Celery's.
const TARGET_THROUGHPUT_VS_CELERY: f64 = 5.0;

/// Target: blueprint-worker's p99 enqueue → start lag as a fraction of Celery's.
const TARGET_P99_LAG_VS_CELERY: f64 = 0.2;

/// Target: blueprint-worker's throughput, jobs per second.
const TARGET_JOBS_PER_S: f64 = 5000.0;

/// Upper bound for redis-server and the worker to become ready.
const READY_LIMIT: Duration = Duration::from_secs(10);

/// Grace period after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Poll interval of `stats()` while the worker drains the queue.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// How long one system may take for all its jobs: a minute plus 10 ms per job (260 s for 20,000,
/// ten times what Celery needs here). Past it the run fails instead of hanging.
fn run_limit(jobs: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(10).saturating_mul(jobs as u32)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Jobs per system.
    pub jobs: usize,
    /// Jobs run at once by each worker.
    pub concurrency: usize,
    /// Celery pools to measure (`prefork`, `threads`); empty skips Celery.
    pub celery_pools: Vec<String>,
}

/// One system's figures.
#[derive(Debug, Clone, Serialize)]
pub struct JobsResult {
    /// `blueprint-worker` or `celery`.
    pub name: String,
    pub version: String,
    /// How it ran (process model and concurrency).
    pub config: String,
    pub jobs: usize,
    /// First enqueue → last job finished, seconds.
    pub seconds: f64,
    pub jobs_per_s: f64,
    /// How long the producer took to enqueue every job, seconds.
    pub enqueue_seconds: f64,
    /// Enqueue → start of the run, milliseconds.
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
}

/// The jobs section of the report.
#[derive(Debug, Serialize)]
pub struct JobsReport {
    pub jobs: usize,
    pub concurrency: usize,
    pub producers: usize,
    pub redis_version: String,
    pub cpus: usize,
    /// `/proc/loadavg` before and after: other work on the machine makes the figures noisy.
    pub loadavg_at_start: String,
    pub loadavg_at_end: String,
    /// blueprint-worker first, then one entry per Celery pool that ran.
    pub results: Vec<JobsResult>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

/// Runs the jobs section.
pub fn bench(tools: &Tools, options: &Options) -> Result<JobsReport> {
    let loadavg_at_start = crate::bench::loadavg();
    proc::run(cargo().args(["build", "--release", "-p", "blueprint-worker"]))?;
    let tmp_dir = tempfile::Builder::new()
        .prefix("xtask-bench-jobs-")
        .tempdir()?;
    let tmp = tmp_dir.path();
    let redis = start_redis(tmp)?;
    let mut notes = Vec::new();

    let url = format!("redis://{}/0", redis.addr);
    let mut results = vec![measure_worker(&url, options, tmp, &mut notes)?];
    redis_command(redis.addr, &["FLUSHALL"]).context("FLUSHALL between the systems")?;

    let mut celery_error = None;
    for pool in &options.celery_pools {
        let run = match &tools.celery {
            Ok(python) => measure_celery(
                python,
                &format!("redis://{}/1", redis.addr),
                options,
                pool,
                tmp,
            ),
            Err(err) => Err(anyhow::anyhow!(
                "celery {CELERY_VERSION} is not installed: {err}"
            )),
        };
        match run {
            Ok(result) => results.push(result),
            Err(err) => {
                let text = format!("{err:#}");
                println!("celery ({pool}) FAILED: {text}");
                notes.push(format!("Celery ({pool} pool) did not run: {text}"));
                celery_error.get_or_insert(text);
            }
        }
    }
    redis.stop(STOP_GRACE)?;

    notes.extend(standing_notes(options));
    Ok(JobsReport {
        jobs: options.jobs,
        concurrency: options.concurrency,
        producers: PRODUCERS,
        redis_version: redis_version(),
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        loadavg_at_start,
        loadavg_at_end: crate::bench::loadavg(),
        checks: checks(&results),
        results,
        notes,
    })
}

/// What every report says about the method, so the figures are read as they were taken.
fn standing_notes(options: &Options) -> Vec<String> {
    let mut notes = vec![
        "Lag is mostly queueing: all jobs are enqueued at once, so a worker slower than the \
         producer builds a backlog, and the last jobs wait for it. blueprint-worker's timestamps \
         are whole milliseconds from Redis's clock; Celery's are `time.time()` in the producer \
         (just before `apply_async`) and in the task."
            .to_owned(),
        "Celery's time ends when its last task started (its ack follows), blueprint-worker's when \
         its last job was acknowledged: a bias of about one Redis round trip in Celery's favour."
            .to_owned(),
    ];
    if !options.celery_pools.is_empty() {
        notes.push(format!(
            "Celery {CELERY_VERSION} with the Redis broker, --concurrency {c}, pools: {pools}. \
             acks_late (acknowledged after the run, at-least-once like blueprint-worker); no \
             result backend (the task's one HSET of its start time is its whole record, where \
             blueprint-worker writes a job record on enqueue, claim and ack); default prefetch \
             (4 × concurrency); no gossip, mingle or heartbeat. The targets compare with the \
             better Celery figure of each metric.",
            c = options.concurrency,
            pools = options.celery_pools.join(", "),
        ));
    }
    notes
}

/// Starts redis-server on a free loopback port, without persistence, and waits for `PING`.
pub fn start_redis(tmp: &Path) -> Result<Server> {
    let port = proc::free_port()?;
    let log = tmp.join("redis-server.log");
    let mut cmd = Command::new(REDIS_SERVER);
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
        .arg("--dir")
        .arg(tmp);
    let stdout = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut server = Server::spawn(
        "redis-server",
        SocketAddr::from(([127, 0, 0, 1], port)),
        &mut cmd,
        Stdio::from(stdout),
        tmp,
    )?;
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait()? {
            bail!(
                "redis-server exited ({status}) before answering PING; its log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        match redis_command(server.addr, &["PING"]) {
            Ok(reply) if reply == "+PONG" => return Ok(server),
            other if started.elapsed() >= READY_LIMIT => {
                bail!("redis-server did not answer PING within {READY_LIMIT:?}: {other:?}")
            }
            _ => proc::pause(Duration::from_millis(10)),
        }
    }
}

/// Sends one command in RESP and returns the first line of the answer (`+PONG`, `+OK`, `-ERR …`).
fn redis_command(addr: SocketAddr, args: &[&str]) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(resp(args).as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    let line = line.trim_end().to_owned();
    if line.starts_with('-') {
        bail!("redis answered {} with {line}", args.join(" "));
    }
    Ok(line)
}

/// A command as a RESP array of bulk strings.
fn resp(args: &[&str]) -> String {
    let mut text = format!("*{}\r\n", args.len());
    for arg in args {
        let _ = write!(text, "${}\r\n{arg}\r\n", arg.len());
    }
    text
}

/// `redis-server --version` → `7.0.15`.
fn redis_version() -> String {
    Command::new(REDIS_SERVER)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let version = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
            Some(version.to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

/// One blueprint-worker process: start, load, drain, read the records, stop.
fn measure_worker(
    url: &str,
    options: &Options,
    tmp: &Path,
    notes: &mut Vec<String>,
) -> Result<JobsResult> {
    let port = proc::free_port()?;
    let mut cmd = proc::isolated(&target_dir().join("release/blueprint-worker"));
    cmd.args(["--redis-url", url])
        .args(["--concurrency", &options.concurrency.to_string()])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--level", "warn"]);
    let mut worker = Server::spawn(
        "blueprint-worker",
        SocketAddr::from(([127, 0, 0, 1], port)),
        &mut cmd,
        Stdio::null(),
        tmp,
    )?;
    worker.wait_ready("/readyz", READY_LIMIT, Duration::from_millis(5))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a tokio runtime")?;
    let records = runtime
        .block_on(load_and_drain(url, options.jobs))
        .with_context(|| {
            format!(
                "blueprint-worker's run; its stderr ends with:\n{}",
                worker.stderr_tail()
            )
        })?;
    let (status, killed) = worker.stop(STOP_GRACE)?;
    if killed || !status.success() {
        notes.push(format!(
            "blueprint-worker did not shut down cleanly after SIGTERM: {status}"
        ));
    }
    let mut result = summarise(&records.records, records.enqueue_seconds)?;
    result.config = format!("1 process, --concurrency {}", options.concurrency);
    print_result(&result);
    Ok(result)
}

/// The records of a finished run.
struct Drained {
    records: Vec<JobRecord>,
    enqueue_seconds: f64,
}

/// Enqueues `count` no-op jobs from [`PRODUCERS`] tasks, waits until the queue is empty and
/// nothing is pending, then reads every record (again until all succeeded, within the limit).
async fn load_and_drain(url: &str, count: usize) -> Result<Drained> {
    let config = QueueConfig {
        // Never refuse the load: the bench measures throughput, not backpressure.
        max_backlog: QueueConfig::default().max_backlog.max(count as u64),
        ..QueueConfig::default()
    };
    let queue = Queue::Redis(RedisQueue::connect(url, QUEUE_PREFIX, config).await?);
    let started = Instant::now();
    let deadline = started + run_limit(count);
    println!("enqueueing {count} sleep jobs (duration_ms 0) from {PRODUCERS} tasks");
    let mut tasks = Vec::new();
    for producer in 0..PRODUCERS {
        let share = count / PRODUCERS + usize::from(producer < count % PRODUCERS);
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                let job = NewJob {
                    kind: "sleep".into(),
                    payload: serde_json::json!({ "duration_ms": 0 }),
                    idempotency_key: None,
                    traceparent: None,
                };
                ids.push(queue.enqueue(job).await?.id);
            }
            Ok::<_, jobs::QueueError>(ids)
        }));
    }
    let mut ids = Vec::with_capacity(count);
    for task in tasks {
        ids.extend(task.await.context("an enqueue task panicked")??);
    }
    let enqueue_seconds = started.elapsed().as_secs_f64();

    loop {
        let stats = queue.stats().await?;
        if stats.depth == 0 && stats.pending == 0 {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "the queue did not drain within {:?}: {stats:?}",
                run_limit(count)
            );
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
    loop {
        let records = read_records(&queue, &ids).await?;
        let unfinished: Vec<&JobRecord> = records
            .iter()
            .filter(|r| r.status != JobStatus::Succeeded)
            .collect();
        if unfinished.is_empty() {
            return Ok(Drained {
                records,
                enqueue_seconds,
            });
        }
        if Instant::now() >= deadline {
            let first = unfinished[0];
            bail!(
                "{} of {count} jobs did not succeed within {:?}; e.g. {} is {} ({:?})",
                unfinished.len(),
                run_limit(count),
                first.id,
                first.status.as_str(),
                first.last_error
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record, read by [`PRODUCERS`] concurrent tasks.
async fn read_records(queue: &Queue, ids: &[String]) -> Result<Vec<JobRecord>> {
    let chunk = ids.len().div_ceil(PRODUCERS).max(1);
    let mut tasks = Vec::new();
    for part in ids.chunks(chunk) {
        let (queue, part) = (queue.clone(), part.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut records = Vec::with_capacity(part.len());
            for id in &part {
                records.push(queue.get(id).await?);
            }
            Ok::<_, jobs::QueueError>(records)
        }));
    }
    let mut records = Vec::with_capacity(ids.len());
    for task in tasks {
        records.extend(task.await.context("a read task panicked")??);
    }
    Ok(records)
}

/// Throughput and lag percentiles from finished records.
fn summarise(records: &[JobRecord], enqueue_seconds: f64) -> Result<JobsResult> {
    let first = records
        .iter()
        .map(|r| r.enqueued_at_ms)
        .min()
        .context("no records")?;
    let mut last = first;
    let mut lags = Vec::with_capacity(records.len());
    for r in records {
        let (Some(started), Some(finished)) = (r.started_at_ms, r.finished_at_ms) else {
            bail!("job {} succeeded without start and finish times", r.id);
        };
        last = last.max(finished);
        lags.push(started.saturating_sub(r.enqueued_at_ms) as f64);
    }
    lags.sort_by(f64::total_cmp);
    // Whole milliseconds: a run under 1 ms counts as 1 ms.
    let seconds = (last - first).max(1) as f64 / 1000.0;
    Ok(JobsResult {
        name: "blueprint-worker".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        config: String::new(),
        jobs: records.len(),
        seconds,
        jobs_per_s: records.len() as f64 / seconds,
        enqueue_seconds,
        lag_p50_ms: percentile(&lags, 50.0),
        lag_p99_ms: percentile(&lags, 99.0),
        lag_max_ms: lags.last().copied().unwrap_or(f64::NAN),
    })
}

/// Nearest-rank percentile of sorted values (the Celery script computes it the same way).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// The JSON line `celery_bench.py` prints.
#[derive(Debug, Deserialize)]
struct CeleryOutput {
    jobs: usize,
    seconds: f64,
    jobs_per_s: f64,
    enqueue_seconds: f64,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
    lag_max_ms: f64,
    celery_version: String,
    pool: String,
    concurrency: usize,
}

/// Runs `xtask/bench/celery_bench.py` with the Celery venv's Python and parses its last line.
fn measure_celery(
    python: &Path,
    url: &str,
    options: &Options,
    pool: &str,
    tmp: &Path,
) -> Result<JobsResult> {
    let limit = run_limit(options.jobs);
    let stdout_path = tmp.join(format!("celery-{pool}.stdout"));
    let stderr_path = tmp.join(format!("celery-{pool}.stderr"));
    let mut cmd = Command::new(python);
    cmd.arg(root().join("xtask/bench/celery_bench.py"))
        .args(["--redis-url", url, "--pool", pool])
        .args(["--jobs", &options.jobs.to_string()])
        .args(["--concurrency", &options.concurrency.to_string()])
        .args(["--timeout", &limit.as_secs().to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?);
    proc::print_command(&cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{}`", proc::display_command(&cmd)))?;
    let stderr_tail = || {
        let text = fs::read_to_string(&stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    // The script bounds itself by `limit`; this is the backstop should it hang.
    match proc::wait_with_deadline(&mut child, limit + Duration::from_secs(30))? {
        None => {
            proc::terminate(&mut child, Duration::from_secs(15))?;
            bail!(
                "celery_bench.py did not finish in time; its stderr ends with:\n{}",
                stderr_tail()
            )
        }
        Some(status) if !status.success() => {
            bail!(
                "celery_bench.py failed ({status}); its stderr ends with:\n{}",
                stderr_tail()
            )
        }
        Some(_) => {}
    }
    let stdout = fs::read_to_string(&stdout_path)?;
    let last = stdout.lines().last().unwrap_or_default();
    let out: CeleryOutput = serde_json::from_str(last)
        .with_context(|| format!("parsing celery_bench.py's output: {stdout}"))?;
    let result = JobsResult {
        name: "celery".into(),
        version: out.celery_version,
        config: format!(
            "1 worker, --pool {} --concurrency {}",
            out.pool, out.concurrency
        ),
        jobs: out.jobs,
        seconds: out.seconds,
        jobs_per_s: out.jobs_per_s,
        enqueue_seconds: out.enqueue_seconds,
        lag_p50_ms: out.lag_p50_ms,
        lag_p99_ms: out.lag_p99_ms,
        lag_max_ms: out.lag_max_ms,
    };
    print_result(&result);
    Ok(result)
}

fn print_result(r: &JobsResult) {
    println!(
        "{} {} ({}): {} jobs in {:.2} s = {:.0} jobs/s (enqueued in {:.2} s); lag p50 {} p99 {} max {}",
        r.name,
        r.version,
        r.config,
        r.jobs,
        r.seconds,
        r.jobs_per_s,
        r.enqueue_seconds,
        format_ms(r.lag_p50_ms),
        format_ms(r.lag_p99_ms),
        format_ms(r.lag_max_ms)
    );
}

fn format_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// The Celery run with the highest throughput and the one with the lowest p99 lag.
fn best_celery(results: &[JobsResult]) -> (Option<&JobsResult>, Option<&JobsResult>) {
    let celery = || results.iter().filter(|r| r.name == "celery");
    (
        celery().max_by(|a, b| a.jobs_per_s.total_cmp(&b.jobs_per_s)),
        celery().min_by(|a, b| a.lag_p99_ms.total_cmp(&b.lag_p99_ms)),
    )
}

fn checks(results: &[JobsResult]) -> Vec<Check> {
    let ours = results.iter().find(|r| r.name == "blueprint-worker");
    let (fastest, lowest_lag) = best_celery(results);
    let throughput = ours
        .zip(fastest)
        .map(|(a, b)| (a.jobs_per_s / b.jobs_per_s, b));
    let lag = ours
        .zip(lowest_lag)
        .map(|(a, b)| (a.lag_p99_ms / b.lag_p99_ms, b));
    let shown = |x: Option<(f64, &JobsResult)>| {
        x.map_or_else(
            || "n/a (no Celery figures)".to_owned(),
            |(ratio, base)| format!("{ratio:.3}× (vs {})", base.config),
        )
    };
    vec![
        Check {
            target: format!("jobs/s ≥ {TARGET_THROUGHPUT_VS_CELERY}× Celery's"),
            measured: shown(throughput),
            passed: throughput.map(|(r, _)| r >= TARGET_THROUGHPUT_VS_CELERY),
        },
        Check {
            target: "p99 enqueue → start lag ≤ ⅕ of Celery's".to_owned(),
            measured: shown(lag),
            passed: lag.map(|(r, _)| r <= TARGET_P99_LAG_VS_CELERY),
        },
        Check {
            target: format!("jobs/s ≥ {TARGET_JOBS_PER_S:.0}"),
            measured: ours.map_or_else(|| "n/a".into(), |r| format!("{:.0} jobs/s", r.jobs_per_s)),
            passed: ours.map(|r| r.jobs_per_s >= TARGET_JOBS_PER_S),
        },
    ]
}

/// The "Jobs" section of `report.md`, starting with a level-2 heading.
pub fn render_markdown(report: &JobsReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Jobs: blueprint-worker vs Celery\n");
    let _ = writeln!(
        md,
        "Loopback, {} CPUs (load average at start: {}, at end: {}); one redis-server {} without \
         persistence. Per system: one worker process running {} jobs at once; {} no-op jobs \
         enqueued as fast as possible once it is ready (blueprint-worker: `sleep` with \
         `duration_ms: 0`, from {} concurrent xtask tasks; Celery: a task that records its start, \
         from one `apply_async` loop). jobs/s = jobs / (first enqueue → last job finished); lag = \
         enqueue → start of the run. Ratios compare figures from this same run.\n",
        report.cpus,
        report.loadavg_at_start,
        report.loadavg_at_end,
        report.redis_version,
        report.concurrency,
        report.jobs,
        report.producers,
    );
    let _ = writeln!(
        md,
        "| system | config | jobs/s | enqueue time | p50 lag | p99 lag | max lag | blueprint-worker jobs/s × | blueprint-worker p99 lag × |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let ours = report.results.iter().find(|r| r.name == "blueprint-worker");
    for r in &report.results {
        let vs = |f: fn(&JobsResult) -> f64| match ours {
            Some(o) if r.name != o.name => format!("{:.3}×", f(o) / f(r)),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {} {} | {} | {:.0} | {:.2} s | {} | {} | {} | {} | {} |",
            r.name,
            r.version,
            r.config,
            r.jobs_per_s,
            r.enqueue_seconds,
            format_ms(r.lag_p50_ms),
            format_ms(r.lag_p99_ms),
            format_ms(r.lag_max_ms),
            vs(|x| x.jobs_per_s),
            vs(|x| x.lag_p99_ms),
        );
    }
    let _ = writeln!(md, "\n### Targets (jobs)\n");
    crate::bench::render_checks(&mut md, &report.checks);
    if !report.notes.is_empty() {
        let _ = writeln!(md, "\n### Notes (jobs)\n");
        for note in &report.notes {
            let _ = writeln!(md, "- {note}");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(enqueued: u64, started: u64, finished: u64) -> JobRecord {
        JobRecord {
            id: format!("job-{enqueued}-{started}"),
            kind: "sleep".into(),
            payload: serde_json::json!({ "duration_ms": 0 }),
            status: JobStatus::Succeeded,
            attempts: 1,
            max_attempts: 5,
            last_error: None,
            result: None,
            idempotency_key: None,
            traceparent: None,
            enqueued_at_ms: enqueued,
            started_at_ms: Some(started),
            finished_at_ms: Some(finished),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((percentile(&values, 50.0) - 50.0).abs() < 1e-9);
        assert!((percentile(&values, 99.0) - 99.0).abs() < 1e-9);
        assert!((percentile(&[7.0], 99.0) - 7.0).abs() < 1e-9);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn throughput_runs_from_the_first_enqueue_to_the_last_finish() {
        // 4 jobs from t=1000 to t=1500: 8 jobs/s; lags 0, 10, 20, 400 ms.
        let records = [
            record(1000, 1000, 1001),
            record(1000, 1010, 1011),
            record(1100, 1120, 1121),
            record(1090, 1490, 1500),
        ];
        let r = summarise(&records, 0.1).expect("summarises");
        assert!((r.seconds - 0.5).abs() < 1e-9);
        assert!((r.jobs_per_s - 8.0).abs() < 1e-9);
        assert!((r.lag_p50_ms - 10.0).abs() < 1e-9);
        assert!((r.lag_p99_ms - 400.0).abs() < 1e-9);
        let mut unfinished = record(1, 2, 3);
        unfinished.finished_at_ms = None;
        assert!(summarise(&[unfinished], 0.0).is_err());
    }

    fn result(name: &str, pool: &str, jobs_per_s: f64, lag_p99_ms: f64) -> JobsResult {
        JobsResult {
            name: name.into(),
            version: "1".into(),
            config: pool.into(),
            jobs: 100,
            seconds: 1.0,
            jobs_per_s,
            enqueue_seconds: 0.5,
            lag_p50_ms: lag_p99_ms / 2.0,
            lag_p99_ms,
            lag_max_ms: lag_p99_ms,
        }
    }

    #[test]
    fn checks_compare_with_the_best_celery_figure_of_each_metric() {
        let results = [
            result("blueprint-worker", "one", 9000.0, 100.0),
            result("celery", "prefork", 1000.0, 900.0),
            result("celery", "threads", 2000.0, 400.0),
        ];
        let checks = checks(&results);
        // 4.5× the faster Celery (threads): MISS; 0.25× its lower p99: MISS; 9000 ≥ 5000: PASS.
        let verdicts: Vec<_> = checks.iter().map(|c| c.passed).collect();
        assert_eq!(verdicts, [Some(false), Some(false), Some(true)]);
        assert_eq!(checks[0].measured, "4.500× (vs threads)");
        assert_eq!(checks[1].measured, "0.250× (vs threads)");
        let report = JobsReport {
            jobs: 100,
            concurrency: 16,
            producers: PRODUCERS,
            redis_version: "7.0.15".into(),
            cpus: 2,
            loadavg_at_start: "0.1 0.2 0.3".into(),
            loadavg_at_end: "0.4 0.5 0.6".into(),
            results: results.to_vec(),
            checks,
            notes: vec![],
        };
        let md = render_markdown(&report);
        assert!(
            md.contains("| celery 1 | prefork | 1000 | 0.50 s | 450.0 ms | 900.0 ms | 900.0 ms | 9.000× | 0.111× |"),
            "{md}"
        );
        assert!(
            md.contains("- PASS jobs/s ≥ 5000 — measured 9000 jobs/s"),
            "{md}"
        );
    }

    #[test]
    fn without_celery_the_relative_targets_are_not_applicable() {
        let checks = checks(&[result("blueprint-worker", "one", 100.0, 1.0)]);
        assert_eq!(checks[0].passed, None);
        assert_eq!(checks[0].measured, "n/a (no Celery figures)");
        assert_eq!(checks[2].passed, Some(false));
    }

    #[test]
    fn redis_commands_are_resp_arrays() {
        assert_eq!(resp(&["PING"]), "*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            resp(&["SET", "k", ""]),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn the_celery_script_is_where_the_bench_runs_it() {
        assert!(root().join("xtask/bench/celery_bench.py").is_file());
    }
}

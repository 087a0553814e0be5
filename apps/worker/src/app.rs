//! Building and running the worker, and its shutdown.
//!
//! [`Application::build`] binds the admin port and builds the metrics; nothing in it needs Redis.
//! [`Application::run_until_stopped`] then runs three things side by side:
//!
//! * the admin server (probes and metrics), from the first moment on;
//! * the connector: it connects to Redis, retrying with a capped backoff for as long as it takes
//!   (a worker that starts before Redis waits, not-ready, instead of crash-looping), then starts
//! * the backend watcher (pings Redis every [`PING_EVERY`]; readiness follows the answer) and the
//!   job loop ([`jobs::worker::Worker`], shared with the api's embedded mode).
//!
//! When the shutdown future resolves: readiness fails at once, the job loop stops claiming, jobs in
//! flight get `--drain-timeout` to finish (what is left stays unacknowledged and another worker
//! reclaims it after the visibility timeout), then the admin server stops and `run_until_stopped`
//! returns; `main` flushes telemetry and exits 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use jobs::job::{JobContext, Registry};
use jobs::metrics::JobMetrics;
use jobs::queue::Queue;
use jobs::redis::RedisQueue;
use jobs::worker::{Worker, WorkerConfig, WorkerReport};
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::probes::Probes;

/// Version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// VCS revision given at build time in `BLUEPRINT_REVISION`, else `unknown`.
pub const REVISION: &str = match option_env!("BLUEPRINT_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// Interval of the readiness ping to Redis.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// Longest wait for a ping's answer; no answer counts as down.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for one connection attempt to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// First pause between connection attempts; doubles up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
/// Longest pause between connection attempts: readiness follows Redis within about this long.
const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// After the job loop has drained, how long open admin connections (a scrape) may take.
const ADMIN_GRACE: Duration = Duration::from_secs(2);
/// Connect limit of the jobs' HTTP client (`checksum`, `http-probe`).
const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request limit of the jobs' HTTP client, unless a job sets its own (`http-probe`).
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// A bound, ready-to-run worker.
#[derive(Debug)]
pub struct Application {
    config: Arc<Config>,
    listener: TcpListener,
    probes: Arc<Probes>,
    metrics: JobMetrics,
    registry: Arc<prometheus_client::registry::Registry>,
    consumer: String,
}

impl Application {
    /// Bind the admin port and build the metrics. Port 0 picks a free port (tests).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding --port {addr}"))?;
        let mut registry = telemetry::metrics::base_registry(VERSION, REVISION);
        let metrics = JobMetrics::new();
        metrics.register(&mut registry);
        Ok(Self {
            config: Arc::new(config),
            listener,
            probes: Arc::new(Probes::new()),
            metrics,
            registry: Arc::new(registry),
            consumer: consumer_name(),
        })
    }

    /// The bound admin port.
    pub fn admin_port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The readiness inputs (tests watch them).
    pub fn probes(&self) -> Arc<Probes> {
        Arc::clone(&self.probes)
    }

    /// This process's consumer name in the Redis consumer group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Serve and run jobs until `shutdown` resolves, then drain as described in the module docs.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<WorkerReport> {
        let Self {
            config,
            listener,
            probes,
            metrics,
            registry,
            consumer,
        } = self;
        let port = listener.local_addr().map_or(0, |a| a.port());
        let stop_admin = CancellationToken::new();
        let admin = tokio::spawn(admin::serve(
            listener,
            admin::router(AdminState {
                probes: Arc::clone(&probes),
                registry,
            }),
            stop_admin.clone(),
            ADMIN_GRACE,
        ));
        tracing::info!(
            port,
            consumer = %consumer,
            redis = %config.redis_target(),
            queue_prefix = %config.queue_prefix,
            concurrency = config.concurrency,
            version = VERSION,
            revision = REVISION,
            "blueprint-worker started"
        );

        let stop_jobs = CancellationToken::new();
        let jobs = tokio::spawn(run_jobs(
            Arc::clone(&config),
            Arc::clone(&probes),
            metrics,
            consumer,
            stop_jobs.clone(),
        ));

        shutdown.await;
        probes.start_draining();
        tracing::info!(
            drain_timeout_seconds = config.drain_timeout.as_secs_f64(),
            "shutdown requested: readiness is now failing, no new jobs are claimed; waiting for jobs in flight"
        );
        stop_jobs.cancel();
        let report = match jobs.await {
            Ok(report) => report,
            Err(err) => {
                stop_admin.cancel();
                let _ = admin.await;
                return Err(anyhow::anyhow!("the job loop failed: {err}"));
            }
        };
        stop_admin.cancel();
        let _ = admin.await;
        tracing::info!(abandoned = report.abandoned, "blueprint-worker stopped");
        Ok(report)
    }
}

/// Connect (for as long as it takes), then watch the backend and run the job loop until `stop`.
async fn run_jobs(
    config: Arc<Config>,
    probes: Arc<Probes>,
    metrics: JobMetrics,
    consumer: String,
    stop: CancellationToken,
) -> WorkerReport {
    let Some(queue) = connect(&config, &probes, &stop).await else {
        return WorkerReport::default();
    };
    let watcher = tokio::spawn(watch_backend(
        queue.clone(),
        Arc::clone(&config),
        Arc::clone(&probes),
        stop.clone(),
    ));
    let http = reqwest::Client::builder()
        .user_agent(concat!("blueprint-worker/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(HTTP_CONNECT_TIMEOUT)
        .timeout(HTTP_TIMEOUT)
        .build()
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "building the jobs' HTTP client failed; using the defaults");
            reqwest::Client::new()
        });
    let ctx = JobContext {
        http,
        api_url: config.api_url.clone(),
    };
    let worker = Worker::new(
        queue,
        Registry::default(),
        ctx,
        metrics,
        WorkerConfig {
            consumer,
            concurrency: config.concurrency,
            drain_timeout: config.drain_timeout,
            ..WorkerConfig::default()
        },
    );
    let report = worker.run(stop).await;
    let _ = watcher.await;
    report
}

/// Connect to Redis, retrying until it works or `stop` is cancelled (then `None`).
async fn connect(config: &Config, probes: &Probes, stop: &CancellationToken) -> Option<Queue> {
    let url = config.redis_url.as_ref()?.expose_secret();
    let target = config.redis_target();
    let mut pause = RECONNECT_FIRST;
    let mut attempts: u32 = 0;
    loop {
        attempts += 1;
        let attempt = tokio::select! {
            () = stop.cancelled() => return None,
            attempt = tokio::time::timeout(
                CONNECT_TIMEOUT,
                RedisQueue::connect(url, &config.queue_prefix, config.queue_config()),
            ) => attempt,
        };
        let error = match attempt {
            Ok(Ok(redis)) => {
                let queue = Queue::Redis(redis);
                match tokio::time::timeout(PING_TIMEOUT, queue.ping()).await {
                    Ok(Ok(())) => {
                        probes.set_backend_up(true);
                        tracing::info!(redis = %target, attempts, "connected to the queue backend; ready");
                        return Some(queue);
                    }
                    // Connected but not answering: the watcher keeps readiness honest and the
                    // job loop backs off until it answers.
                    Ok(Err(err)) => {
                        let err = config.scrub(&err.to_string());
                        tracing::warn!(redis = %target, error = %err, "connected, but the queue backend does not answer yet");
                        return Some(queue);
                    }
                    Err(_) => {
                        tracing::warn!(redis = %target, "connected, but the queue backend's ping timed out");
                        return Some(queue);
                    }
                }
            }
            Ok(Err(err)) => config.scrub(&err.to_string()),
            Err(_) => format!(
                "no answer within {}",
                humantime::format_duration(CONNECT_TIMEOUT)
            ),
        };
        tracing::warn!(
            redis = %target,
            attempts,
            error = %error,
            retry_in_ms = pause.as_millis() as u64,
            "cannot reach the queue backend; not ready, retrying"
        );
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

/// Ping the backend every [`PING_EVERY`] until `stop`; readiness follows the answers.
async fn watch_backend(
    queue: Queue,
    config: Arc<Config>,
    probes: Arc<Probes>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(PING_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let answer = match tokio::time::timeout(PING_TIMEOUT, queue.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(config.scrub(&err.to_string())),
            Err(_) => Err(format!(
                "no answer within {}",
                humantime::format_duration(PING_TIMEOUT)
            )),
        };
        let was_up = probes.set_backend_up(answer.is_ok());
        match answer {
            Ok(()) if !was_up => tracing::info!("the queue backend answers again; ready"),
            Err(err) if was_up => {
                tracing::warn!(error = %err, "the queue backend stopped answering; not ready");
            }
            _ => {}
        }
    }
}

/// Unique per process: `<hostname>-<pid>` (in Kubernetes the hostname is the pod name).
fn consumer_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}-{}", std::process::id())
}

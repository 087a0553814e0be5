//! Serving and shutdown.
//!
//! [`Application::build`] binds the ports and builds the state; [`Application::run_until_stopped`]
//! serves until the given shutdown future resolves, then shuts down in this order:
//!
//! 1. readiness fails at once (`/readyz` → 503), everything else keeps serving;
//! 2. after `--drain-delay` (load balancers have noticed), stop accepting connections;
//! 3. tell open connections to finish: in-flight requests complete, idle keep-alive connections
//!    close, WebSockets get a 1001 close frame;
//! 4. wait for them up to `--shutdown-timeout`, then return (the caller flushes traces and exits).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::routes::store::Store;
use crate::routes::token::JwtKeys;
use crate::state::{AppState, Jobs, Probes, REVISION, Shared, VERSION};
use crate::stress::Stress;

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    _stress: Stress,
}

impl Application {
    /// Bind the ports and build the state. Port 0 picks a free port (tests).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding --port {addr}"))?;
        let metrics_listener = if config.port_metrics == 0 {
            None
        } else {
            let addr = SocketAddr::new(config.host, config.port_metrics);
            Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding --port-metrics {addr}"))?,
            )
        };
        let jwt = JwtKeys::new(config.jwt_secret.as_ref());
        if jwt.generated {
            tracing::warn!(
                "no --jwt-secret set: using a random key; tokens will not verify on other instances or after a restart"
            );
        }
        let http = reqwest::Client::builder()
            .timeout(config.http_client_timeout)
            .build()
            .context("building the HTTP client for --backend-url")?;
        let hostname = config.hostname.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map_or_else(|_| "localhost".to_owned(), |h| h.trim().to_owned())
        });
        let stress = Stress::start(config.stress_cpu, config.stress_memory);
        let queue_config = jobs::QueueConfig {
            max_attempts: config.max_attempts,
            max_backlog: config.max_backlog,
            ..jobs::QueueConfig::default()
        };
        let (queue, cache) = match &config.redis_url {
            Some(url) => {
                use secrecy::ExposeSecret as _;
                let url = url.expose_secret();
                let queue =
                    jobs::redis::RedisQueue::connect(url, &config.queue_prefix, queue_config)
                        .await
                        .context("connecting the job queue to --redis-url")?;
                let client = redis::Client::open(url).context("--redis-url")?;
                let cache = redis::aio::ConnectionManager::new(client)
                    .await
                    .context("connecting the cache to --redis-url")?;
                (jobs::Queue::Redis(queue), Some(cache))
            }
            None => (
                jobs::Queue::Memory(jobs::MemoryQueue::new(queue_config)),
                None,
            ),
        };
        let job_metrics = jobs::metrics::JobMetrics::new();
        let state = AppState::new(Shared {
            probes: Arc::new(Probes::new(!config.unhealthy, !config.unready)),
            fault_injection: AtomicBool::new(false),
            metrics: Metrics::new(VERSION, REVISION, &job_metrics),
            jwt,
            store: Store::open(config.data_path.clone()),
            http,
            hostname,
            num_cpu: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            started: Instant::now(),
            jobs: Jobs {
                queue,
                registry: jobs::job::Registry::default(),
                metrics: job_metrics,
            },
            cache,
            shutdown: CancellationToken::new(),
            config: Arc::new(config),
        });
        Ok(Self {
            listener,
            metrics_listener,
            state,
            _stress: stress,
        })
    }

    /// The bound HTTP port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The bound metrics port, if any.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// The shared state (tests flip switches through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves, then drain and stop as described in the module docs.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let config = Arc::clone(&state.config);
        let stop_accepting = CancellationToken::new();
        let connections = TaskTracker::new();
        let port = self.listener.local_addr().map_or(config.port, |a| a.port());

        // Background work stops with the connections, after the drain.
        let background = TaskTracker::new();
        if let jobs::Queue::Memory(_) = state.jobs.queue {
            background.spawn(embedded_worker(&state, port).run(state.shutdown.clone()));
        } else {
            background.spawn(check_dependencies(state.clone()));
        }

        let mut accept_loops = Vec::new();
        accept_loops.push(tokio::spawn(service::http::serve(
            self.listener,
            app::router(state.clone()),
            config.http_server_timeout,
            stop_accepting.clone(),
            state.shutdown.clone(),
            connections.clone(),
        )));
        if let Some(listener) = self.metrics_listener {
            accept_loops.push(tokio::spawn(service::http::serve(
                listener,
                app::metrics_router(state.clone()),
                config.http_server_timeout,
                stop_accepting.clone(),
                state.shutdown.clone(),
                connections.clone(),
            )));
        }
        tracing::info!(
            port = config.port,
            port_metrics = config.port_metrics,
            version = VERSION,
            revision = REVISION,
            "blueprint-api listening"
        );

        shutdown.await;
        state.probes.start_draining();
        tracing::info!(
            drain_delay_seconds = config.drain_delay.as_secs_f64(),
            "shutdown requested: readiness is now failing; draining"
        );
        tokio::time::sleep(config.drain_delay).await;

        stop_accepting.cancel();
        for handle in accept_loops {
            let _ = handle.await;
        }
        state.shutdown.cancel();
        connections.close();
        let open = connections.len();
        tracing::info!(
            open_connections = open,
            shutdown_timeout_seconds = config.shutdown_timeout.as_secs_f64(),
            "stopped accepting; waiting for in-flight requests"
        );
        background.close();
        let finished = async {
            connections.wait().await;
            background.wait().await;
        };
        if tokio::time::timeout(config.shutdown_timeout, finished)
            .await
            .is_err()
        {
            tracing::warn!(
                still_open = connections.len(),
                "shutdown timeout reached; closing the remaining connections"
            );
        } else {
            tracing::info!("all connections finished");
        }
        Ok(())
    }
}

/// How often readiness re-checks the dependencies.
const DEPENDENCY_CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long one dependency check may take before it counts as a failure.
const DEPENDENCY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The in-process worker of the in-memory mode, so `make run` runs jobs with no Redis.
fn embedded_worker(state: &AppState, port: u16) -> jobs::worker::Worker {
    jobs::worker::Worker::new(
        state.jobs.queue.clone(),
        state.jobs.registry.clone(),
        jobs::job::JobContext {
            http: state.http.clone(),
            api_url: format!("http://127.0.0.1:{port}"),
        },
        state.jobs.metrics.clone(),
        jobs::worker::WorkerConfig {
            consumer: "embedded".to_owned(),
            concurrency: state.config.worker_concurrency,
            drain_timeout: state.config.shutdown_timeout,
            ..jobs::worker::WorkerConfig::default()
        },
    )
}

/// Keep readiness in step with Redis: ping every second; a failure or a slow answer makes
/// `/readyz` 503 until Redis answers again. No restart needed either way.
async fn check_dependencies(state: AppState) {
    let mut tick = tokio::time::interval(DEPENDENCY_CHECK_EVERY);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let ok = matches!(
            tokio::time::timeout(DEPENDENCY_CHECK_TIMEOUT, state.jobs.queue.ping()).await,
            Ok(Ok(()))
        );
        if ok != state.probes.dependencies_ok() {
            if ok {
                tracing::info!("redis answers again: ready");
            } else {
                tracing::warn!("redis does not answer: not ready");
            }
            state.probes.set_dependencies_ok(ok);
        }
        if let Ok(stats) = state.jobs.queue.stats().await {
            state.jobs.metrics.set_stats(stats);
        }
    }
}

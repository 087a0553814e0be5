//! Shared application state, cheap to clone into every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::routes::store::Store;
use crate::routes::token::JwtKeys;

/// Version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// VCS revision given at build time in `BLUEPRINT_REVISION`, else `unknown`.
pub const REVISION: &str = match option_env!("BLUEPRINT_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// Liveness and readiness, kept apart on purpose.
///
/// *Liveness* only says the process can serve; it fails solely when an operator asks for it
/// (`--unhealthy`), so Kubernetes restarts us only when a restart can help. *Readiness* is a latch:
/// on at start unless `--unready`, toggled by `POST /readyz/enable|disable`, and dropped for good
/// when shutdown begins, so load balancers stop sending before we stop accepting.
#[derive(Debug, Default)]
pub struct Probes {
    healthy: AtomicBool,
    ready: AtomicBool,
    draining: AtomicBool,
    /// Whether the dependencies (Redis) answered the last check; true when there are none.
    dependencies: AtomicBool,
}

impl Probes {
    /// Probes in their start state.
    pub fn new(healthy: bool, ready: bool) -> Self {
        Self {
            healthy: AtomicBool::new(healthy),
            ready: AtomicBool::new(ready),
            draining: AtomicBool::new(false),
            dependencies: AtomicBool::new(true),
        }
    }
    /// Liveness.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
    /// Readiness: the latch is on, the dependencies answer, and shutdown has not begun.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
            && self.dependencies.load(Ordering::Relaxed)
            && !self.draining.load(Ordering::Relaxed)
    }
    /// Record whether the dependencies answered.
    pub fn set_dependencies_ok(&self, ok: bool) {
        self.dependencies.store(ok, Ordering::Relaxed);
    }
    /// Whether the dependencies answered the last check.
    pub fn dependencies_ok(&self) -> bool {
        self.dependencies.load(Ordering::Relaxed)
    }
    /// Turn the readiness latch on or off.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
    /// Shutdown has begun: readiness fails from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// Everything a handler may need, behind one `Arc`: extractors and middleware clone the state for
/// every request, so a clone must be one reference-count increment, not one per field.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// The shared part of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub config: Arc<Config>,
    pub probes: Arc<Probes>,
    /// Runtime fault injection (`POST /fault_injection/enable`): application routes answer 500.
    pub fault_injection: AtomicBool,
    pub metrics: Metrics,
    pub jwt: JwtKeys,
    pub store: Store,
    /// Client for `--backend-url` calls, with `--http-client-timeout`.
    pub http: reqwest::Client,
    /// Reported by /api/info.
    pub hostname: String,
    /// Logical CPUs available to the process, read once at start (reading it costs system calls).
    pub num_cpu: usize,
    pub started: Instant,
    /// The job queue, its kinds and the producer metrics.
    pub jobs: Jobs,
    /// Redis for `/cache`, when `--redis-url` is set.
    pub cache: Option<redis::aio::ConnectionManager>,
    /// Cancelled when shutdown begins; long-lived handlers (WebSocket, chunked) watch it.
    pub shutdown: CancellationToken,
}

/// The job side of the state.
#[derive(Debug, Clone)]
pub struct Jobs {
    pub queue: jobs::Queue,
    pub registry: jobs::job::Registry,
    pub metrics: jobs::metrics::JobMetrics,
}

impl AppState {
    /// Wrap the shared state.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// Whether fault injection is on.
    pub fn faults_on(&self) -> bool {
        self.fault_injection.load(Ordering::Relaxed)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

//! Liveness and readiness of the worker, kept apart on purpose.
//!
//! *Liveness* (`/healthz`, `/livez`) only says the process runs and serves its admin port: a Redis
//! outage must not make Kubernetes restart every worker, since a restart cannot fix Redis.
//! *Readiness* (`/readyz`) says the worker can do its job: the queue backend answered its last ping
//! (checked every [`crate::app::PING_EVERY`]) and shutdown has not begun. It follows Redis both ways
//! without a restart, and drops for good when the drain starts.

use std::sync::atomic::{AtomicBool, Ordering};

/// The readiness inputs, shared by the admin server, the backend watcher and the shutdown path.
#[derive(Debug, Default)]
pub struct Probes {
    backend_up: AtomicBool,
    draining: AtomicBool,
}

/// Why the worker is not ready, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// The queue backend did not answer its last ping (or was never reached).
    BackendDown,
    /// Shutdown has begun: no new jobs are claimed.
    Draining,
}

impl NotReady {
    /// The message of the 503.
    pub fn message(self) -> &'static str {
        match self {
            Self::BackendDown => "queue backend (redis) is not answering",
            Self::Draining => "shutting down",
        }
    }
}

impl Probes {
    /// Not ready: the backend has not answered yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Readiness: `Ok` when the backend answers and shutdown has not begun.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if self.draining.load(Ordering::Relaxed) {
            Err(NotReady::Draining)
        } else if self.backend_up.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(NotReady::BackendDown)
        }
    }

    /// Record the outcome of a backend ping; returns the previous state (to log changes once).
    pub fn set_backend_up(&self, up: bool) -> bool {
        self.backend_up.swap(up, Ordering::Relaxed)
    }

    /// Shutdown has begun: readiness fails from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_backend_until_the_drain_starts() {
        let p = Probes::new();
        assert_eq!(p.readiness(), Err(NotReady::BackendDown));
        assert!(!p.set_backend_up(true));
        assert_eq!(p.readiness(), Ok(()));
        assert!(p.set_backend_up(false));
        assert_eq!(p.readiness(), Err(NotReady::BackendDown));
        p.set_backend_up(true);
        p.start_draining();
        assert_eq!(p.readiness(), Err(NotReady::Draining));
    }
}

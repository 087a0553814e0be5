//! Shared telemetry for the SRE Blueprint services.
//!
//! One call, [`init`], wires the three signals the same way in every service:
//!
//! * **Logs** — JSON lines on stdout (`ts`, `level`, `msg`, `target`, `trace_id`, `span_id`, then the
//!   event's own fields), filtered by `RUST_LOG` or the service's `--level`. See [`logs`].
//! * **Traces** — OpenTelemetry spans bridged from `tracing`, exported over OTLP only when the standard
//!   `OTEL_EXPORTER_OTLP_*` variables name an endpoint. Trace ids exist even with no exporter, so logs
//!   and propagated `traceparent` headers always carry them. See [`traces`].
//! * **Metrics** — a `prometheus-client` registry with build info and process metrics, rendered as
//!   Prometheus text or OpenMetrics (with exemplars) by content negotiation. See [`metrics`].
//!
//! The returned [`TelemetryGuard`] must be kept alive and [`TelemetryGuard::shutdown`] called on exit,
//! so that buffered spans are flushed before the process ends.

pub mod logs;
pub mod metrics;
pub mod traces;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What a service tells [`init`] about itself.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `service.name` when `OTEL_SERVICE_NAME` is not set, e.g. `blueprint-api`.
    pub service_name: &'static str,
    /// `service.version`, usually `env!("CARGO_PKG_VERSION")`.
    pub service_version: &'static str,
    /// Default log filter (`error`, `warn`, `info`, `debug`, `trace` or an `EnvFilter` directive);
    /// `RUST_LOG`, when set, wins.
    pub log_level: String,
}

/// Errors that stop telemetry from starting; each names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log level {0:?} is not a valid filter: {1}")]
    LogFilter(String, String),
    #[error("{var}={value:?} is not supported: {reason}")]
    OtelEnv {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("OTLP exporter could not be built: {0}")]
    Exporter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Keeps the tracer provider alive; flushes it on [`TelemetryGuard::shutdown`].
#[derive(Debug)]
pub struct TelemetryGuard {
    tracing: traces::Tracing,
}

impl TelemetryGuard {
    /// Whether spans are being exported (an OTLP endpoint was configured).
    pub fn exporting(&self) -> bool {
        self.tracing.exporting()
    }

    /// Flush buffered spans and stop the exporter. Safe to call once at exit.
    pub fn shutdown(self) {
        self.tracing.shutdown();
    }
}

/// Install the global log + trace pipeline. Call once, early in `main`.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|e| TelemetryError::LogFilter(directives.clone(), e.to_string()))?,
        _ => EnvFilter::try_new(&config.log_level)
            .map_err(|e| TelemetryError::LogFilter(config.log_level.clone(), e.to_string()))?,
    };
    let tracing = traces::Tracing::from_env(config)?;
    let otel_layer = tracing_opentelemetry::layer().with_tracer(tracing.tracer());
    tracing_subscriber::registry()
        .with(otel_layer)
        .with(logs::json_layer(std::io::stdout).with_filter(filter))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    traces::install_propagator();
    Ok(TelemetryGuard { tracing })
}

//! The admin port: probes and metrics, nothing else.
//!
//! | Path | Answer |
//! | --- | --- |
//! | `/healthz`, `/livez` | 200 `{"status":"OK"}` while the process runs |
//! | `/readyz` | 200 `{"status":"OK"}`; 503 `{"code":503,"message":…}` when Redis does not answer or shutdown began |
//! | `/metrics` | Prometheus text 0.0.4, or OpenMetrics 1.0 when `Accept` asks for it |
//!
//! Served by the accept loop blueprint-api uses (`service::http::serve`): [`serve`] accepts until
//! told to stop, then asks open connections to finish (idle keep-alive connections close at once).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::probes::Probes;

/// Longest wait for a request's headers, so a stalled client cannot hold a connection forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the admin handlers read.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub probes: Arc<Probes>,
    /// Build info, process metrics and the job metrics.
    pub registry: Arc<Registry>,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(live))
        .route("/livez", get(live))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .with_state(state)
}

/// `{"code": N, "message": "…"}`, the body of every error, as in blueprint-api.
fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "code": status.as_u16(), "message": message })),
    )
        .into_response()
}

fn ok() -> Response {
    axum::Json(json!({ "status": "OK" })).into_response()
}

async fn live() -> Response {
    ok()
}

async fn ready(State(state): State<AdminState>) -> Response {
    match state.probes.readiness() {
        Ok(()) => ok(),
        Err(why) => error(StatusCode::SERVICE_UNAVAILABLE, why.message()),
    }
}

async fn metrics(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = telemetry::metrics::render(&state.registry, accept);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Accept on `listener` until `stop` is cancelled, then ask open connections to finish and wait
/// for them up to `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    stop: CancellationToken,
    grace: Duration,
) {
    let connections = TaskTracker::new();
    service::http::serve(
        listener,
        router,
        HEADER_READ_TIMEOUT,
        stop.clone(),
        stop,
        connections.clone(),
    )
    .await;
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            still_open = connections.len(),
            "admin connections did not finish in time; closing them"
        );
    }
}

//! Probes: `/healthz` and `/livez` (liveness), `/readyz` (readiness) and the readiness switches.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{StatusOk, ok};
use crate::error::{ErrorBody, error_response};
use crate::state::AppState;

fn liveness(state: &AppState) -> Response {
    if state.probes.is_healthy() {
        ok().into_response()
    } else {
        error_response(StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    }
}

/// Liveness: 200 while the process can serve.
#[utoipa::path(get, path = "/healthz", tag = "health", responses(
    (status = 200, description = "Live", body = StatusOk),
    (status = 503, description = "Marked unhealthy", body = ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    liveness(&state)
}

/// Liveness (Kubernetes-style alias of `/healthz`).
#[utoipa::path(get, path = "/livez", tag = "health", responses(
    (status = 200, description = "Live", body = StatusOk),
    (status = 503, description = "Marked unhealthy", body = ErrorBody)))]
pub async fn livez(State(state): State<AppState>) -> Response {
    liveness(&state)
}

/// Readiness: 200 when this instance should get traffic; 503 when disabled or shutting down.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready", body = StatusOk),
    (status = 503, description = "Not ready", body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.probes.is_ready() {
        ok().into_response()
    } else if state.probes.is_draining() {
        error_response(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if !state.probes.dependencies_ok() {
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} queue unavailable", state.jobs.queue.backend()),
        )
    } else {
        error_response(StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Turn readiness on.
#[utoipa::path(post, path = "/readyz/enable", tag = "health",
    responses((status = 202, description = "Readiness enabled", body = StatusOk)))]
pub async fn enable(State(state): State<AppState>) -> (StatusCode, Json<StatusOk>) {
    state.probes.set_ready(true);
    tracing::info!("readiness enabled");
    (StatusCode::ACCEPTED, ok())
}

/// Turn readiness off: `/readyz` answers 503 until enabled again.
#[utoipa::path(post, path = "/readyz/disable", tag = "health",
    responses((status = 202, description = "Readiness disabled", body = StatusOk)))]
pub async fn disable(State(state): State<AppState>) -> (StatusCode, Json<StatusOk>) {
    state.probes.set_ready(false);
    tracing::warn!("readiness disabled");
    (StatusCode::ACCEPTED, ok())
}

//! Chaos routes, for breaking the service on purpose in the course's labs.
//!
//! `--disable-chaos` removes every route here (they answer 404) and turns off random faults, so a
//! production overlay can ship the same image without the knobs.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// `{"status": N}`, the body of `/status/{code}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    pub status: u16,
}

/// `{"delay": N}`, the body of `/delay/{seconds}` and `/chunked/{seconds}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DelayBody {
    /// Seconds waited.
    pub delay: u64,
}

/// Fault injection state.
#[derive(Debug, Serialize, ToSchema)]
pub struct FaultStatus {
    /// Whether application routes currently answer 500.
    pub enabled: bool,
}

/// Parse a path segment as a number, with a 400 that says what was wrong.
fn parse_number<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("{what} must be a whole number, got {raw:?}")))
}

/// Parse a wait in whole seconds, bounded by `--max-delay`.
fn bounded_delay(state: &AppState, raw: &str) -> Result<u64, ApiError> {
    let seconds: u64 = parse_number(raw, "delay")?;
    let max = state.config.max_delay;
    if Duration::from_secs(seconds) > max {
        return Err(ApiError::bad_request(format!(
            "delay {seconds}s is above the maximum of {}",
            humantime::format_duration(max)
        )));
    }
    Ok(seconds)
}

/// Answer with the given status code (100–599).
#[utoipa::path(get, path = "/status/{code}", tag = "chaos",
    params(("code" = u16, Path, description = "HTTP status code to answer with, 100–599")),
    responses(
        (status = 200, description = "The requested status (any 100–599)", body = StatusBody),
        (status = 400, description = "Not a status code", body = ErrorBody)))]
pub async fn status(Path(raw): Path<String>) -> Result<Response, ApiError> {
    let code: u16 = parse_number(&raw, "status code")?;
    if !(100..=599).contains(&code) {
        return Err(ApiError::bad_request(format!(
            "status code must be in 100–599, got {code}"
        )));
    }
    let status = StatusCode::from_u16(code)
        .map_err(|_| ApiError::bad_request(format!("{code} is not a status code")))?;
    if status.is_informational() {
        // A 1xx cannot be a final response in HTTP/1.1; hyper would refuse it. Say so honestly.
        return Err(ApiError::bad_request(format!(
            "{code} is informational and cannot be a final response"
        )));
    }
    Ok((status, Json(StatusBody { status: code })).into_response())
}

/// Wait `seconds`, then answer (bounded by `--max-delay`).
#[utoipa::path(get, path = "/delay/{seconds}", tag = "chaos",
    params(("seconds" = u64, Path, description = "Seconds to wait, at most --max-delay")),
    responses(
        (status = 200, description = "Waited", body = DelayBody),
        (status = 400, description = "Not a number, or above --max-delay", body = ErrorBody)))]
pub async fn delay(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<DelayBody>, ApiError> {
    let seconds = bounded_delay(&state, &raw)?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(Json(DelayBody { delay: seconds }))
}

/// Crash the process: log, then exit with code 255 (for restart and alerting labs).
#[utoipa::path(get, path = "/panic", tag = "chaos",
    responses((status = 500, description = "Never answers: the process exits 255")))]
pub async fn panic() -> Response {
    tracing::error!("panic requested via /panic; exiting with code 255");
    std::process::exit(255);
}

/// Make application routes answer 500 (probes and metrics keep working).
#[utoipa::path(post, path = "/fault_injection/enable", tag = "chaos",
    responses((status = 202, description = "Fault injection on", body = FaultStatus)))]
pub async fn fault_enable(State(state): State<AppState>) -> (StatusCode, Json<FaultStatus>) {
    switch_faults(&state, true)
}

/// Stop fault injection.
#[utoipa::path(post, path = "/fault_injection/disable", tag = "chaos",
    responses((status = 202, description = "Fault injection off", body = FaultStatus)))]
pub async fn fault_disable(State(state): State<AppState>) -> (StatusCode, Json<FaultStatus>) {
    switch_faults(&state, false)
}

fn switch_faults(state: &AppState, enabled: bool) -> (StatusCode, Json<FaultStatus>) {
    state
        .fault_injection
        .store(enabled, std::sync::atomic::Ordering::Relaxed);
    tracing::warn!(enabled, "fault injection switched");
    (StatusCode::ACCEPTED, Json(FaultStatus { enabled }))
}

/// Whether fault injection is on.
#[utoipa::path(get, path = "/fault_injection/status", tag = "chaos",
    responses((status = 200, description = "Fault injection state", body = FaultStatus)))]
pub async fn fault_status(State(state): State<AppState>) -> Json<FaultStatus> {
    Json(FaultStatus {
        enabled: state.faults_on(),
    })
}

/// Send the headers at once, then the body after `seconds` (bounded by `--max-delay`).
#[utoipa::path(get, path = "/chunked/{seconds}", tag = "chaos",
    params(("seconds" = u64, Path, description = "Seconds before the body, at most --max-delay")),
    responses(
        (status = 200, description = "Chunked body after the wait", body = DelayBody),
        (status = 400, description = "Not a number, or above --max-delay", body = ErrorBody)))]
pub async fn chunked(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let seconds = bounded_delay(&state, &raw)?;
    let body = delayed_body(seconds);
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// A stream that yields an empty chunk at once (so hyper sends the headers), then the JSON body
/// after `seconds`.
fn delayed_body(seconds: u64) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    use futures::StreamExt;
    let first = futures::stream::once(async { Ok(bytes::Bytes::new()) });
    let rest = futures::stream::once(async move {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let body = serde_json::to_vec(&DelayBody { delay: seconds }).unwrap_or_default();
        Ok(bytes::Bytes::from(body))
    });
    first.chain(rest)
}

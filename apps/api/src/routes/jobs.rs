//! `/jobs`: enqueue typed background jobs, read their state, list and retry dead letters.
//!
//! The kind and payload are validated here, at the door, so a bad request is a 400/422 naming the
//! field rather than a dead job later. The request's trace context travels with the job, so the
//! worker's span joins the same trace.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jobs::{JobRecord, JobStatus, NewJob, Page};
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 200;
/// Largest page of a listing.
pub const MAX_PAGE: usize = 200;

/// The body of `POST /jobs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueRequest {
    /// Job kind: sleep, cpu, flaky, checksum or http-probe.
    pub kind: String,
    /// The kind's payload, e.g. `{"duration_ms": 500}` for sleep.
    #[serde(default)]
    pub payload: serde_json::Value,
    /// Same key → same job: a retried request does not enqueue twice.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// The answer to `POST /jobs`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EnqueueResponse {
    pub id: String,
    /// Where to read the job's state.
    pub status_url: String,
    /// True when an earlier request with the same idempotency key made this job.
    pub duplicate: bool,
}

/// Query of `GET /jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// queued, running, succeeded, failed or dead.
    pub state: String,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–200 [default: 50].
    pub limit: Option<usize>,
}

/// The current span's context as a W3C `traceparent`.
fn current_traceparent() -> Option<String> {
    let mut headers = axum::http::HeaderMap::new();
    telemetry::traces::inject(&tracing::Span::current().context(), &mut headers);
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Enqueue a job.
#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = EnqueueRequest,
    responses(
        (status = 202, description = "Accepted", body = EnqueueResponse),
        (status = 400, description = "Unknown kind or malformed body", body = ErrorBody),
        (status = 422, description = "Payload does not fit the kind", body = ErrorBody),
        (status = 503, description = "Queue full (see Retry-After) or unavailable", body = ErrorBody)))]
pub async fn enqueue(
    State(state): State<AppState>,
    Json(request): Json<EnqueueRequest>,
) -> Result<(StatusCode, Json<EnqueueResponse>), ApiError> {
    if let Some(key) = &request.idempotency_key
        && (key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES)
    {
        return Err(ApiError::bad_request(format!(
            "idempotency_key must be 1–{MAX_IDEMPOTENCY_KEY_BYTES} bytes"
        )));
    }
    state
        .jobs
        .registry
        .validate(&request.kind, &request.payload)?;
    let kind = request.kind.clone();
    let enqueued = state
        .jobs
        .queue
        .enqueue(NewJob {
            kind: request.kind,
            payload: request.payload,
            idempotency_key: request.idempotency_key,
            traceparent: current_traceparent(),
        })
        .await?;
    if !enqueued.duplicate {
        state
            .jobs
            .metrics
            .enqueued
            .get_or_create(&jobs::metrics::KindLabels { kind })
            .inc();
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(EnqueueResponse {
            status_url: format!("/jobs/{}", enqueued.id),
            id: enqueued.id,
            duplicate: enqueued.duplicate,
        }),
    ))
}

/// A job's state.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobRecord),
        (status = 404, description = "No such job (or expired)", body = ErrorBody),
        (status = 503, description = "Queue unavailable", body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, ApiError> {
    Ok(Json(state.jobs.queue.get(&id).await?))
}

/// Jobs in one state, newest first, paged.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(ListQuery),
    responses(
        (status = 200, description = "One page", body = Page),
        (status = 400, description = "Unknown state or bad limit", body = ErrorBody),
        (status = 503, description = "Queue unavailable", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page>, ApiError> {
    let status: JobStatus = query.state.parse().map_err(ApiError::bad_request)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1–{MAX_PAGE}, got {limit}"
        )));
    }
    Ok(Json(
        state
            .jobs
            .queue
            .list(status, query.cursor.as_deref(), limit)
            .await?,
    ))
}

/// Put a dead job back in the queue.
#[utoipa::path(post, path = "/jobs/{id}/retry", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 202, description = "Queued again", body = JobRecord),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is not dead", body = ErrorBody),
        (status = 503, description = "Queue unavailable", body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<JobRecord>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.jobs.queue.retry(&id).await?),
    ))
}

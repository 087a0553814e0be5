//! `/cache/{key}`: podinfo's Redis-backed cache. 400 when no Redis is configured, 503 when it is
//! configured but unreachable, 404 for a missing key.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use redis::AsyncCommands as _;

use super::echo::inert_headers;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

fn connection(state: &AppState) -> Result<redis::aio::ConnectionManager, ApiError> {
    state
        .cache
        .clone()
        .ok_or_else(|| ApiError::bad_request("no cache configured: start with --redis-url"))
}

fn redis_key(state: &AppState, key: &str) -> Result<String, ApiError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(ApiError::bad_request(format!(
            "key must be 1–{MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(format!("{}cache:{key}", state.config.queue_prefix))
}

fn unavailable(err: &redis::RedisError) -> ApiError {
    ApiError::Unavailable(format!("cache unavailable: {err}"))
}

/// Store the body under `key`.
#[utoipa::path(method(post, put), path = "/cache/{key}", tag = "cache", operation_id = "cache_write",
    params(("key" = String, Path, description = "Cache key")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 202, description = "Stored"),
        (status = 400, description = "No cache configured, or a bad key", body = ErrorBody),
        (status = 503, description = "Redis unreachable", body = ErrorBody)))]
pub async fn write(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let key = redis_key(&state, &key)?;
    let mut conn = connection(&state)?;
    let () = conn
        .set(&key, body.as_ref())
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(StatusCode::ACCEPTED)
}

/// Read the value under `key`.
#[utoipa::path(get, path = "/cache/{key}", tag = "cache", operation_id = "cache_read",
    params(("key" = String, Path, description = "Cache key")),
    responses(
        (status = 200, description = "The value", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "No cache configured, or a bad key", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 503, description = "Redis unreachable", body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let redis_key = redis_key(&state, &key)?;
    let mut conn = connection(&state)?;
    let value: Option<Vec<u8>> = conn.get(&redis_key).await.map_err(|e| unavailable(&e))?;
    match value {
        Some(bytes) => Ok((inert_headers(), bytes).into_response()),
        None => Err(ApiError::not_found(format!("no cache entry {key:?}"))),
    }
}

/// Delete `key`.
#[utoipa::path(delete, path = "/cache/{key}", tag = "cache", operation_id = "cache_delete",
    params(("key" = String, Path, description = "Cache key")),
    responses(
        (status = 202, description = "Deleted (or was absent)"),
        (status = 400, description = "No cache configured, or a bad key", body = ErrorBody),
        (status = 503, description = "Redis unreachable", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = redis_key(&state, &key)?;
    let mut conn = connection(&state)?;
    let _: u64 = conn.del(&key).await.map_err(|e| unavailable(&e))?;
    Ok(StatusCode::ACCEPTED)
}

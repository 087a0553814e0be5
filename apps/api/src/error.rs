//! The API's one error type.
//!
//! Every error leaves as a real 4xx/5xx with a JSON body `{"code": N, "message": "…"}`. The message of
//! a 4xx tells the client what to fix; the cause of a 5xx is logged once (with the trace id, since the
//! log line is written inside the request span) and the client gets a generic message only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code, repeated for clients that only see the body.
    pub code: u16,
    /// What went wrong, for a person.
    pub message: String,
}

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The client sent something we cannot act on (400, 401, 404, 413, …).
    #[error("{message}")]
    Client { status: StatusCode, message: String },
    /// A dependency is not available (503).
    #[error("{0}")]
    Unavailable(String),
    /// Too busy to take this now: 503 with `Retry-After`, in seconds.
    #[error("{message}")]
    Busy {
        message: String,
        retry_after: std::time::Duration,
    },
    /// Our fault; the cause is logged, not returned.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// 400 Bad Request with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Client {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 401 Unauthorized with `message`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Client {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    /// 404 Not Found with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::Client {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

/// An error response with `status` and `message`, outside of handlers (middleware, fallbacks).
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            code: status.as_u16(),
            message: message.into(),
        }),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Client { status, message } => error_response(status, message),
            Self::Unavailable(message) => {
                tracing::warn!(error = %message, "dependency unavailable");
                error_response(StatusCode::SERVICE_UNAVAILABLE, message)
            }
            Self::Busy {
                message,
                retry_after,
            } => {
                let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, message);
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(retry_after.as_secs().max(1)),
                );
                response
            }
            Self::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "request failed");
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
        }
    }
}

impl From<jobs::QueueError> for ApiError {
    fn from(err: jobs::QueueError) -> Self {
        use jobs::QueueError as Q;
        let message = err.to_string();
        match err {
            Q::UnknownKind { .. } => Self::bad_request(message),
            Q::InvalidPayload { .. } => Self::Client {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message,
            },
            Q::Backpressure { retry_after, .. } => Self::Busy {
                message,
                retry_after,
            },
            Q::NotFound(_) => Self::not_found(message),
            Q::WrongState { .. } => Self::Client {
                status: StatusCode::CONFLICT,
                message,
            },
            Q::Unavailable(_) => Self::Unavailable(message),
        }
    }
}

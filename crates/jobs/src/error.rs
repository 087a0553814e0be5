//! Queue errors, each with what a caller should do about it.

use std::time::Duration;

/// Why a queue operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The job kind is not registered.
    #[error("unknown job kind {kind:?}; known kinds: {known}")]
    UnknownKind { kind: String, known: String },
    /// The payload does not fit the kind; `field` names the offending field when known.
    #[error("invalid payload for {kind}{}: {message}", field.as_ref().map_or_else(String::new, |f| format!(", field {f}")))]
    InvalidPayload {
        kind: String,
        field: Option<String>,
        message: String,
    },
    /// The backlog is at its maximum: try again later. Nothing was enqueued.
    #[error("queue is full ({depth} jobs waiting, maximum {max}); retry later")]
    Backpressure {
        depth: u64,
        max: u64,
        retry_after: Duration,
    },
    /// No such job (or its record expired).
    #[error("no job with id {0}")]
    NotFound(String),
    /// The operation does not apply to the job in its state (e.g. retrying a job that is not dead).
    #[error("job {id} is {status}, not {expected}")]
    WrongState {
        id: String,
        status: &'static str,
        expected: &'static str,
    },
    /// The backend cannot be reached or answered with an error: retry later.
    #[error("queue backend unavailable: {0}")]
    Unavailable(String),
}

impl From<redis::RedisError> for QueueError {
    fn from(err: redis::RedisError) -> Self {
        Self::Unavailable(err.to_string())
    }
}

//! The data the queue stores and returns.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A job id: a UUIDv7 (time-ordered), as a string.
pub type JobId = String;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting in the stream (or waiting for its retry time).
    Queued,
    /// Claimed by a worker.
    Running,
    /// Finished without error.
    Succeeded,
    /// Failed; will be retried after a backoff.
    Failed,
    /// Failed `max_attempts` times, or could not be run at all: in the dead-letter stream.
    Dead,
}

impl JobStatus {
    /// The lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            "dead" => Ok(Self::Dead),
            other => Err(format!(
                "unknown state {other:?}; expected queued, running, succeeded, failed or dead"
            )),
        }
    }
}

/// A request to enqueue a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewJob {
    /// The job kind, a registered `Job::NAME`.
    pub kind: String,
    /// The kind's payload, validated at enqueue.
    pub payload: serde_json::Value,
    /// Same key → same job id; the second enqueue is not run again.
    pub idempotency_key: Option<String>,
    /// W3C `traceparent` of the enqueuing request, so the worker continues the trace.
    pub traceparent: Option<String>,
}

/// Everything known about a job, kept with a TTL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub status: JobStatus,
    /// Runs started so far.
    pub attempts: u32,
    /// Runs allowed before the job is dead.
    pub max_attempts: u32,
    /// The error of the last failed run.
    pub last_error: Option<String>,
    /// What the last successful run returned.
    pub result: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    pub traceparent: Option<String>,
    /// Unix time, milliseconds.
    pub enqueued_at_ms: u64,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
}

/// The answer to an enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enqueued {
    pub id: JobId,
    /// `true` when an earlier enqueue with the same idempotency key made this job.
    pub duplicate: bool,
}

/// A job handed to a worker. `ack`/`fail` take it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The record as it was when claimed (`attempts` already counts this run).
    pub record: JobRecord,
    /// Backend handle (the stream entry id in Redis).
    pub receipt: String,
    /// The consumer this run was handed to: [`Queue::heartbeat`](crate::Queue::heartbeat) keeps
    /// the claim in its name.
    pub consumer: String,
}

/// What became of a failed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Will run again after `backoff_ms`.
    Retrying { backoff_ms: u64 },
    /// No attempts left: moved to the dead letters.
    Dead,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page {
    pub jobs: Vec<JobRecord>,
    /// Pass back as `cursor` for the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Queue gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Jobs waiting to be claimed (includes those waiting for a retry time).
    pub depth: u64,
    /// Jobs claimed by a worker and not yet acknowledged.
    pub pending: u64,
    /// Jobs in the dead letters.
    pub dead: u64,
}

/// Unix time now, in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

//! The queue contract, one type over two backends.
//!
//! [`Queue`] is an enum rather than a trait object: there are exactly two backends, the calls are
//! async, and an enum keeps them static and cheap to clone. Both backends implement the same
//! semantics, which the shared contract tests check against each of them:
//!
//! * `enqueue` refuses with [`QueueError::Backpressure`] when `depth >= max_backlog` — nothing is
//!   dropped silently; the same `idempotency_key` returns the same id with `duplicate: true`.
//! * `reserve` hands out up to `max` jobs to one consumer (status → running, `attempts` + 1).
//! * `ack` marks success; `fail` schedules a retry after an exponential backoff with jitter, or
//!   moves the job to the dead letters when `attempts >= max_attempts` or the error is permanent.
//! * `heartbeat` tells the queue that a run is still going: its claim counts as fresh again, so a
//!   job that runs longer than `visibility_timeout` is not reclaimed while its worker is alive.
//!   The worker loop sends one every `visibility_timeout / 3`. A heartbeat for a run that is no
//!   longer current (reclaimed meanwhile, or finished) changes nothing, like a late ack.
//! * `maintain` moves due retries back to the queue and reclaims jobs whose consumer has held them
//!   longer than `visibility_timeout` without a heartbeat (a crashed or stalled worker):
//!   at-least-once delivery. A reclaimed job that has already used its `max_attempts` runs is not
//!   run again but dead-lettered ("worker lost the job N times (crashed or stalled)"), so a job
//!   that kills its worker every time cannot circulate forever.
//! * `retry` puts a dead job back in the queue with its attempts reset.

use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::error::QueueError;
use crate::memory::MemoryQueue;
use crate::model::{
    Delivery, Enqueued, FailOutcome, JobId, JobRecord, JobStatus, NewJob, Page, QueueStats,
};
use crate::redis::RedisQueue;

/// Queue behaviour, shared by both backends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct QueueConfig {
    /// Runs allowed per job before it is dead.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    /// Largest retry delay.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// A job held this long by a consumer without ack or heartbeat is handed to another (crash
    /// recovery). Workers send a heartbeat every third of it while a job runs.
    #[serde(with = "humantime_serde")]
    pub visibility_timeout: Duration,
    /// Most jobs waiting; above it enqueue is refused (backpressure).
    pub max_backlog: u64,
    /// How long job records are kept after they are written.
    #[serde(with = "humantime_serde")]
    pub record_ttl: Duration,
    /// `Retry-After` suggested to clients refused by backpressure.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            visibility_timeout: Duration::from_secs(30),
            max_backlog: 100_000,
            record_ttl: Duration::from_secs(7 * 24 * 3600),
            retry_after: Duration::from_secs(5),
        }
    }
}

impl QueueConfig {
    /// The delay before retry number `attempt` (1-based): `base · 2^(attempt-1)`, capped at `max`,
    /// with ±20% jitter so that jobs failing together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(1_u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.backoff_max);
        let jitter = rand::rng().random_range(0.8..=1.2);
        capped.mul_f64(jitter)
    }
}

/// A job queue: in memory (embedded mode, unit tests) or on Redis Streams.
#[derive(Debug, Clone)]
pub enum Queue {
    Memory(MemoryQueue),
    Redis(RedisQueue),
}

macro_rules! dispatch {
    ($self:ident, $q:ident => $call:expr) => {
        match $self {
            Queue::Memory($q) => $call.await,
            Queue::Redis($q) => $call.await,
        }
    };
}

impl Queue {
    /// The backend's name, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }

    /// Enqueue a job whose kind and payload the caller has validated.
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
        dispatch!(self, q => q.enqueue(job))
    }

    /// The job's record.
    pub async fn get(&self, id: &str) -> Result<JobRecord, QueueError> {
        dispatch!(self, q => q.get(id))
    }

    /// Jobs in `status`, newest first, `limit` per page.
    pub async fn list(
        &self,
        status: JobStatus,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, QueueError> {
        dispatch!(self, q => q.list(status, cursor, limit))
    }

    /// Put a dead job back in the queue.
    pub async fn retry(&self, id: &str) -> Result<JobRecord, QueueError> {
        dispatch!(self, q => q.retry(id))
    }

    /// Depth, pending and dead counts.
    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        dispatch!(self, q => q.stats())
    }

    /// Whether the backend answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        dispatch!(self, q => q.ping())
    }

    /// Claim up to `max` jobs for `consumer`, waiting up to `block` for the first.
    pub async fn reserve(
        &self,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        dispatch!(self, q => q.reserve(consumer, max, block))
    }

    /// The run succeeded with `result`.
    pub async fn ack(
        &self,
        delivery: &Delivery,
        result: serde_json::Value,
    ) -> Result<(), QueueError> {
        dispatch!(self, q => q.ack(delivery, result))
    }

    /// The run failed with `error`; `permanent` skips the retries.
    pub async fn fail(
        &self,
        delivery: &Delivery,
        error: &str,
        permanent: bool,
    ) -> Result<FailOutcome, QueueError> {
        dispatch!(self, q => q.fail(delivery, error, permanent))
    }

    /// The run of `delivery` is still going: refresh its claim so that `maintain` does not
    /// reclaim it. Does nothing when the run is no longer current (reclaimed, or finished).
    pub async fn heartbeat(&self, delivery: &Delivery) -> Result<(), QueueError> {
        dispatch!(self, q => q.heartbeat(delivery))
    }

    /// Housekeeping for `consumer`: due retries back to the queue, stalled jobs reclaimed.
    /// Returns jobs reclaimed for this consumer to run.
    pub async fn maintain(&self, consumer: &str) -> Result<Vec<Delivery>, QueueError> {
        dispatch!(self, q => q.maintain(consumer))
    }

    /// The configuration.
    pub fn config(&self) -> &QueueConfig {
        match self {
            Self::Memory(q) => q.config(),
            Self::Redis(q) => q.config(),
        }
    }
}

/// A fresh, time-ordered job id.
pub fn new_id() -> JobId {
    uuid::Uuid::now_v7().to_string()
}

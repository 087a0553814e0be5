//! Typed background jobs and the queue that carries them.
//!
//! # Redis Streams in brief
//!
//! A stream is an append-only log of entries with ids like `1732600000000-0`. `XADD` appends. A
//! *consumer group* tracks, for a set of workers, which entries were delivered: `XREADGROUP … >`
//! hands each new entry to exactly one consumer and records it in that group's *pending entries
//! list* (PEL) until the consumer sends `XACK`. A consumer that dies leaves its entries pending;
//! `XAUTOCLAIM` transfers entries idle for longer than a timeout to a live consumer. That gives
//! at-least-once delivery: an entry is acknowledged only after its job finished, so a crash means a
//! re-run, never a loss. Jobs must therefore be safe to run twice (idempotent).
//!
//! # This crate
//!
//! * [`job`] — the [`Job`](job::Job) trait (a unique `NAME`, a serde payload, `run`), the demo kinds
//!   of the course, and the [`Registry`](job::Registry) that validates payloads at enqueue.
//! * [`queue`] — the [`Queue`] contract over two backends: [`memory`] (embedded mode)
//!   and [`redis`] (Redis Streams: consumer group, ack, reclaim, retries with backoff, dead letters,
//!   idempotency keys, job state with a TTL, backpressure).

pub mod error;
pub mod job;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod queue;
pub mod redis;
pub mod worker;

pub use error::QueueError;
pub use memory::MemoryQueue;
pub use model::{
    Delivery, Enqueued, FailOutcome, JobId, JobRecord, JobStatus, NewJob, Page, QueueStats,
};
pub use queue::{Queue, QueueConfig};

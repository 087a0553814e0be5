//! blueprint-worker: runs the background jobs that blueprint-api enqueues on Redis Streams.
//!
//! The job loop itself ([`jobs::worker::Worker`]: claim, run, ack or retry, reclaim stalled jobs) is
//! shared with the api's embedded mode; this crate is the process around it: [`config`] (flags, env,
//! file), the [`admin`] port (probes and metrics), [`probes`] (readiness follows Redis and the drain)
//! and [`app`] (connect with retries, run, drain on shutdown). `main.rs` is thin.

pub mod admin;
pub mod app;
pub mod config;
pub mod probes;

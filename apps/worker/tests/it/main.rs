//! Integration tests of blueprint-worker, in one binary (one link, shared helpers).
//!
//! The worker runs as the real binary, a child process, for what only a process shows: signals,
//! exit codes, logs. Redis is a real `redis-server` each test starts on its own loopback port (the
//! harness of the queue's contract tests, `crates/jobs/tests/support`, included below); jobs are
//! enqueued by the test through the same `jobs::Queue` the api uses. No mocks. Every wait is
//! bounded in seconds.

mod helpers;
#[path = "../../../../crates/jobs/tests/support/mod.rs"]
mod redis_support;

mod admin;
mod config;
mod crash;
mod malformed;
mod processing;
mod readiness;
mod shutdown;
mod traces;

#[path = "../../../../crates/telemetry/tests/support/otlp.rs"]
mod otlp;

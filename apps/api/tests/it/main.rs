//! Integration tests of blueprint-api, in one binary (one link, shared helpers).
//!
//! In-process tests drive the same `Application::build()` that `main` runs, on port 0; process tests
//! run the real binary as a child for what only a process can show: signals, exit codes, the
//! global telemetry pipeline.

mod helpers;

mod compat;
mod config;
mod jobs;
mod redis_mode;
mod routes;
mod shutdown;
mod traces;
mod ui;

#[path = "../../../../crates/telemetry/tests/support/otlp.rs"]
mod otlp;

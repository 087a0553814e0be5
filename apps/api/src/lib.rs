//! blueprint-api: the SRE Blueprint reference HTTP service.
//!
//! A drop-in for podinfo's HTTP API (same paths, flags and JSON fields) with correct status codes,
//! a real graceful shutdown, exemplars on its metrics, and podinfo's past security bugs designed out.
//! `main.rs` is thin: it parses [`config`], installs telemetry and runs [`server::Application`].

pub mod app;
pub mod config;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod routes;
pub mod server;
pub mod state;
pub mod stress;
pub mod ui;

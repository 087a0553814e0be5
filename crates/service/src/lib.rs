//! Process glue shared by blueprint-api and blueprint-worker, so both behave the same way:
//!
//! * [`config`] — embedded defaults → optional TOML/YAML file → flags and `BLUEPRINT_*` variables,
//!   and one error type that names the setting (the binaries exit 64 with it).
//! * [`signals`] — the first SIGTERM/SIGINT starts a graceful shutdown; a second exits 1 at once.
//! * [`http`] — the accept loop on hyper-util with a header-read timeout, graceful connection
//!   shutdown and a task tracker, so the caller decides when to stop accepting and when to finish.
//! * [`healthcheck`] — the `healthcheck [URL]` subcommand's probe, for container `HEALTHCHECK`s in
//!   images without a shell or curl.

pub mod config;
pub mod healthcheck;
pub mod http;
pub mod signals;

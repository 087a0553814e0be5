//! `GET /`, `GET /api/info`, `GET /version`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::{AppState, REVISION, VERSION};

/// Runtime information, field for field as podinfo's `/api/info`, plus uptime.
#[derive(Debug, Serialize, ToSchema)]
pub struct Info {
    pub hostname: String,
    pub version: &'static str,
    pub revision: &'static str,
    pub color: String,
    pub logo: String,
    pub message: String,
    /// Language runtime, e.g. `rustc 1.95.0`.
    pub runtime: String,
    /// Operating system (podinfo: `goos`).
    pub os: &'static str,
    /// CPU architecture (podinfo: `goarch`).
    pub arch: &'static str,
    /// Logical CPUs visible to the process, as a string like podinfo.
    pub num_cpu: String,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
}

/// Version and commit.
#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    pub version: &'static str,
    pub commit: &'static str,
}

fn info(state: &AppState) -> Info {
    Info {
        hostname: state.hostname.clone(),
        version: VERSION,
        revision: REVISION,
        color: state.config.ui_color.clone(),
        logo: state.config.ui_logo.clone(),
        message: state.config.ui_message.clone(),
        runtime: env!("BLUEPRINT_RUSTC_VERSION").to_owned(),
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        num_cpu: state.num_cpu.to_string(),
        uptime_seconds: state.started.elapsed().as_secs(),
    }
}

/// Runtime information (podinfo's `/` for non-browser clients).
#[utoipa::path(get, path = "/", tag = "info",
    responses((status = 200, description = "Runtime information", body = Info)))]
pub async fn index(State(state): State<AppState>) -> Json<Info> {
    Json(info(&state))
}

/// Runtime information.
#[utoipa::path(get, path = "/api/info", tag = "info",
    responses((status = 200, description = "Runtime information", body = Info)))]
pub async fn api_info(State(state): State<AppState>) -> Json<Info> {
    Json(info(&state))
}

/// Version and commit of this build.
#[utoipa::path(get, path = "/version", tag = "info",
    responses((status = 200, description = "Version", body = Version)))]
pub async fn version() -> Json<Version> {
    Json(Version {
        version: VERSION,
        commit: REVISION,
    })
}

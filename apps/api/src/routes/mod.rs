//! HTTP handlers, one module per area. Each handler documents itself with `#[utoipa::path]`, so the
//! OpenAPI document at `/openapi.json` is generated from the code that serves it.

pub mod cache;
pub mod chaos;
pub mod echo;
pub mod health;
pub mod info;
pub mod jobs;
pub mod store;
pub mod token;

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// `{"status": "OK"}`, the body of a passing probe.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOk {
    pub status: &'static str,
}

/// The passing-probe body.
pub fn ok() -> Json<StatusOk> {
    Json(StatusOk { status: "OK" })
}

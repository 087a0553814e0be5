//! podinfo 6.x compatibility: the routes a podinfo client, dashboard or Flagger check relies on
//! answer with the same status and carry the same JSON fields.
//!
//! Deliberate differences from podinfo, each a fix rather than an accident:
//!
//! * `POST /store` names blobs by **SHA-256** (64 hex digits), not SHA-1 (40); `GET /store/{hash}`
//!   answers **200** (podinfo: 202), accepts only a lower-case SHA-256 (no path traversal) and serves
//!   the bytes as `application/octet-stream` with `nosniff` and a CSP (no stored XSS).
//! * Errors are JSON `{"code","message"}` with the right status code (podinfo sends some errors as
//!   text, and some with 200).
//! * `--random-error` fails requests with 5xx codes only (podinfo also draws 4xx codes).
//! * `/env` redacts values of variables whose names look secret (podinfo prints them all).
//! * `/api/info` reports `os`/`arch` instead of `goos`/`goarch`, `runtime` is the rustc version, and
//!   there is no `num_goroutine` (there are no goroutines); `uptime_seconds` is extra.
//! * `/token` has no default secret: without `--jwt-secret` each instance draws a random one.

use serde_json::Value;

use self::Shape::{Any, Array, Object};
use crate::helpers::spawn_app;

/// What the body of a route must look like.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A JSON object with at least these fields.
    Object(&'static [&'static str]),
    /// A JSON array.
    Array,
    /// Anything (not JSON, or not checked).
    Any,
}

/// One row of the compatibility table.
#[derive(Debug, Clone, Copy)]
struct Route {
    method: &'static str,
    path: &'static str,
    /// Request body, sent as is.
    body: &'static str,
    status: u16,
    shape: Shape,
}

const INFO: &[&str] = &[
    "hostname", "version", "revision", "color", "logo", "message", "runtime", "num_cpu",
];

const fn row(
    method: &'static str,
    path: &'static str,
    body: &'static str,
    status: u16,
    shape: Shape,
) -> Route {
    Route {
        method,
        path,
        body,
        status,
        shape,
    }
}

/// podinfo 6.x routes, in an order that leaves the app as it found it (readiness is disabled and
/// enabled again).
#[rustfmt::skip]
const PODINFO_ROUTES: &[Route] = &[
    //  method  path                       body        status shape
    row("GET",  "/",                       "",         200, Object(INFO)),
    row("GET",  "/api/info",               "",         200, Object(INFO)),
    row("GET",  "/version",                "",         200, Object(&["version", "commit"])),
    row("GET",  "/healthz",                "",         200, Object(&["status"])),
    row("GET",  "/readyz",                 "",         200, Object(&["status"])),
    row("POST", "/readyz/disable",         "",         202, Any),
    row("GET",  "/readyz",                 "",         503, Object(&["code", "message"])),
    row("POST", "/readyz/enable",          "",         202, Any),
    row("GET",  "/readyz",                 "",         200, Object(&["status"])),
    row("GET",  "/status/404",             "",         404, Object(&["status"])),
    row("GET",  "/delay/0",                "",         200, Object(&["delay"])),
    row("GET",  "/env",                    "",         200, Array),
    row("POST", "/env",                    "",         200, Array),
    row("GET",  "/headers",                "",         200, Object(&[])),
    row("POST", "/headers",                "",         200, Object(&[])),
    row("POST", "/echo",                   "echo me",  202, Any),
    row("POST", "/api/echo",               "echo me",  202, Any),
    row("POST", "/store",                  "store me", 202, Object(&["hash"])),
    row("POST", "/token",                  "alice",    200, Object(&["token", "expires_at"])),
    row("GET",  "/token/validate",         "",         401, Object(&["code", "message"])),
    row("GET",  "/metrics",                "",         200, Any),
    row("GET",  "/chunked/0",              "",         200, Object(&["delay"])),
    row("GET",  "/fault_injection/status", "",         200, Object(&["enabled"])),
    row("GET",  "/swagger.json",           "",         200, Object(&["openapi", "paths"])),
];

#[tokio::test]
async fn podinfo_routes_answer_with_podinfos_status_and_fields() {
    let app = spawn_app().await;
    let mut failures = Vec::new();
    for row in PODINFO_ROUTES {
        let method = reqwest::Method::from_bytes(row.method.as_bytes()).expect("a method");
        let response = app
            .client
            .request(method, format!("{}{}", app.address, row.path))
            .body(row.body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let label = format!("{} {}", row.method, row.path);
        if status != row.status {
            failures.push(format!("{label}: status {status}, podinfo {}", row.status));
            continue;
        }
        if let Err(problem) = check_shape(row.shape, &text) {
            failures.push(format!("{label}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "incompatible:\n{}",
        failures.join("\n")
    );
}

/// Whether `text` has `shape`.
fn check_shape(shape: Shape, text: &str) -> Result<(), String> {
    let parsed = || serde_json::from_str::<Value>(text).map_err(|e| format!("not JSON ({e})"));
    match shape {
        Shape::Any => Ok(()),
        Shape::Array => parsed()?
            .is_array()
            .then_some(())
            .ok_or_else(|| format!("not an array: {text}")),
        Shape::Object(fields) => {
            let value = parsed()?;
            let object = value
                .as_object()
                .ok_or_else(|| format!("not an object: {text}"))?;
            let missing: Vec<&str> = fields
                .iter()
                .copied()
                .filter(|f| !object.contains_key(*f))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("missing {missing:?} in {text}"))
            }
        }
    }
}

#[test]
fn the_compat_table_covers_each_podinfo_route_once_per_method() {
    // Guards the table itself: a duplicated row would hide a dropped one.
    let mut seen = std::collections::BTreeSet::new();
    for row in PODINFO_ROUTES {
        if row.path == "/readyz" {
            continue; // visited three times on purpose, around the readiness switch
        }
        assert!(
            seen.insert((row.method, row.path)),
            "{} {} twice",
            row.method,
            row.path
        );
    }
    assert_eq!(seen.len(), PODINFO_ROUTES.len() - 3);
}

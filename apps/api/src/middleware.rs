//! The middleware every request passes through, outermost first:
//!
//! 1. [`observe`] — opens the server span (continuing a remote `traceparent`), records the RED
//!    metrics by route template, writes the access-log line.
//! 2. [`json_errors`] — turns any error response that is not JSON yet (axum's rejections, 404, 405,
//!    413, timeouts) into `{"code","message"}`, so clients see one error shape.
//! 3. panic catcher and request timeout (`--http-server-timeout`) — from `tower-http`.
//! 4. [`chaos`] — fault injection and random delay/errors, never on probes or metrics.
//! 5. the router, whose `route_layer` [`remember_route`] hands the matched route template back up to
//!    [`observe`] in the response's extensions. Answers that match no route but come from the
//!    `--ui-path` directory are labelled [`UI`] by [`label_route`] instead.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use opentelemetry::trace::TraceContextExt as _;
use rand::Rng as _;
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::error::error_response;
use crate::state::AppState;

/// The `path` label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The `path` label of answers served from the `--ui-path` directory: one value for every file and
/// for the single-page app's history fallback, so the label set stays bounded whatever the
/// browser asks for (a raw path would make one time series per URL).
pub const UI: &str = "/ui";

/// Largest non-JSON error body [`json_errors`] reads to reuse as the message, in bytes.
const MAX_ERROR_BODY_BYTES: usize = 4096;

/// Route label of a request, carried from the router back to [`observe`].
#[derive(Debug, Clone)]
enum Route {
    /// The template of the route that matched, e.g. `/delay/{seconds}`.
    Matched(MatchedPath),
    /// A fixed label set by a handler, e.g. [`UI`].
    Fixed(&'static str),
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Self::Matched(matched) => matched.as_str(),
            Self::Fixed(label) => label,
        }
    }
}

/// `route_layer` middleware: copy the matched route template onto the response, unless the
/// handler already chose a label with [`label_route`].
pub async fn remember_route(matched: MatchedPath, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if response.extensions().get::<Route>().is_none() {
        response.extensions_mut().insert(Route::Matched(matched));
    }
    response
}

/// Label `response` with the fixed route `label` in metrics, traces and the access log. Only for
/// constants: the label set must stay bounded.
pub fn label_route(response: &mut Response, label: &'static str) {
    response.extensions_mut().insert(Route::Fixed(label));
}

/// Trace, measure and log one request.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = Empty,
        http.response.status_code = Empty,
        url.path = %req.uri().path(),
        url.scheme = "http",
        network.protocol.version = Empty,
        user_agent.original = Empty,
    );
    if let Some(ua) = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        span.record("user_agent.original", ua);
    }
    span.record(
        "network.protocol.version",
        match req.version() {
            axum::http::Version::HTTP_10 => "1.0",
            axum::http::Version::HTTP_2 => "2",
            _ => "1.1",
        },
    );
    let _ = span.set_parent(telemetry::traces::extract(req.headers()));

    let response = next.run(req).instrument(span.clone()).await;

    let elapsed = start.elapsed();
    let status = response.status();
    let route = response
        .extensions()
        .get::<Route>()
        .map_or(UNMATCHED, Route::as_str);
    span.record("http.route", route);
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    let trace_id = {
        let cx = span.context();
        let otel_span = cx.span();
        // The span is already started, so `otel.name` can no longer be recorded; rename it on the
        // OpenTelemetry side to the semantic-convention name "{method} {route}".
        otel_span.update_name(format!("{method} {route}"));
        let sc = otel_span.span_context();
        sc.is_sampled().then(|| sc.trace_id().to_string())
    };
    state.metrics.observe(
        method.as_str(),
        route,
        status.as_u16(),
        elapsed.as_secs_f64(),
        trace_id,
    );
    if state.config.access_log {
        let bytes = axum::body::HttpBody::size_hint(response.body()).exact();
        tracing::info!(
            target: "access",
            parent: &span,
            method = %method,
            route,
            status = status.as_u16(),
            duration_seconds = elapsed.as_secs_f64(),
            bytes,
            "request"
        );
    }
    response
}

/// Give every error response the `{"code","message"}` JSON body.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if status.as_u16() < 400 {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match http_body_util::Limited::new(body, MAX_ERROR_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let mut fixed = error_response(status, message);
    // Keep headers such as Allow (405) or Retry-After; the body and its length are new.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    // And the extensions: the matched route rides there, so a rejected request (a 400 from a bad
    // query) is still counted under its route template, not as `unmatched`.
    *fixed.extensions_mut() = parts.extensions;
    fixed
}

/// Paths chaos never touches: probes, metrics, the fault switch itself and the API docs.
fn chaos_exempt(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/livez" | "/readyz" | "/metrics" | "/openapi.json" | "/swagger.json"
    ) || path.starts_with("/readyz/")
        || path.starts_with("/fault_injection/")
        || path.starts_with("/swagger")
}

/// 5xx codes a random error is drawn from.
const RANDOM_ERRORS: [StatusCode; 4] = [
    StatusCode::INTERNAL_SERVER_ERROR,
    StatusCode::BAD_GATEWAY,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::GATEWAY_TIMEOUT,
];

/// Fault injection and random delay/errors.
pub async fn chaos(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if chaos_exempt(req.uri().path()) {
        return next.run(req).await;
    }
    if state.faults_on() {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "fault injection is enabled",
        );
    }
    let config = &state.config;
    if config.random_delay {
        let (min, max) = config.random_delay_bounds();
        let wait = rand::rng().random_range(min..=max);
        tokio::time::sleep(wait).await;
    }
    if config.random_error && rand::rng().random_bool(config.random_error_rate) {
        let status = RANDOM_ERRORS[rand::rng().random_range(0..RANDOM_ERRORS.len())];
        return error_response(status, "random error injected (--random-error)");
    }
    next.run(req).await
}

/// The response for a handler that panicked: a plain 500, the panic logged in the request span.
#[allow(
    clippy::needless_pass_by_value,
    reason = "the signature CatchPanicLayer::custom asks for"
)]
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

/// Prometheus metrics: text format 0.0.4, or OpenMetrics 1.0 with exemplars when `Accept` asks for it.
#[utoipa::path(get, path = "/metrics", tag = "info",
    responses((status = 200, description = "Metrics in the exposition format",
        content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>, req: Request) -> Response {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (content_type, body) = state.metrics.render(accept);
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        Body::from(body),
    )
        .into_response()
}

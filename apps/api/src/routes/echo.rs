//! `/echo`, `/env`, `/headers` and the `/ws/echo` WebSocket.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use opentelemetry::trace::TraceContextExt as _;
use serde::Serialize;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::state::{AppState, REVISION, VERSION};

/// CSP for bodies we echo back: nothing in them may run or load anything.
const ECHO_CSP: &str = "default-src 'none'; sandbox";

/// Headers that make an echoed body inert in a browser: no MIME sniffing, no scripts.
pub fn inert_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(ECHO_CSP),
        ),
    ]
}

/// Echo the body back (202), or with `--backend-url` POST it to every backend and answer with
/// their answers as a JSON array of strings, like podinfo. The trace context is propagated.
#[utoipa::path(
    method(get, post, put, patch, delete), path = "/echo", tag = "echo",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Any bytes"),
    responses(
        (status = 202, description = "The request body, as opaque bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 200, description = "With --backend-url: each backend's answer", body = Vec<String>),
        (status = 413, description = "Body above --body-limit", body = ErrorBody)))]
pub async fn echo(State(state): State<AppState>, body: Bytes) -> Response {
    if state.config.backend_url.is_empty() {
        return (StatusCode::ACCEPTED, inert_headers(), body).into_response();
    }
    let calls = state
        .config
        .backend_url
        .iter()
        .map(|url| call_backend(&state.http, url, body.clone()));
    let answers: Vec<String> = join_all(calls).await;
    let mut response = Json(answers).into_response();
    if let Ok(color) = HeaderValue::from_str(&state.config.ui_color) {
        response.headers_mut().insert("x-color", color);
    }
    response
}

/// One backend call; failures become a message in the result, as in podinfo.
async fn call_backend(client: &reqwest::Client, url: &str, body: Bytes) -> String {
    let mut headers = HeaderMap::new();
    let cx = tracing::Span::current().context();
    telemetry::traces::inject(&cx, &mut headers);
    headers.insert("x-api-version", HeaderValue::from_static(VERSION));
    headers.insert("x-api-revision", HeaderValue::from_static(REVISION));
    let trace_id = cx.span().span_context().trace_id().to_string();
    let result = client.post(url).headers(headers).body(body).send().await;
    match result {
        Ok(resp) if resp.status().is_client_error() || resp.status().is_server_error() => {
            tracing::warn!(backend = url, status = resp.status().as_u16(), %trace_id, "backend call failed");
            format!(
                "backend {url} response status code {}",
                resp.status().as_u16()
            )
        }
        Ok(resp) => match resp.text().await {
            Ok(text) => text,
            Err(err) => format!("backend {url} call failed {err}"),
        },
        Err(err) => {
            tracing::warn!(backend = url, error = %err, "backend call failed");
            format!("backend {url} call failed {err}")
        }
    }
}

/// Names whose values `/env` hides.
const SECRET_MARKERS: [&str; 6] = ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"];

/// The process environment as `NAME=value` strings (podinfo's shape), with secret-looking values
/// replaced by `<redacted>`: podinfo prints them, which leaks e.g. the JWT secret.
#[utoipa::path(method(get, post), path = "/env", tag = "echo",
    responses((status = 200, description = "Environment, secrets redacted", body = Vec<String>)))]
pub async fn env() -> Json<Vec<String>> {
    let mut vars: Vec<String> = std::env::vars_os()
        .map(|(k, v)| {
            let name = k.to_string_lossy().into_owned();
            let upper = name.to_ascii_uppercase();
            if SECRET_MARKERS.iter().any(|m| upper.contains(m)) {
                format!("{name}=<redacted>")
            } else {
                format!("{name}={}", v.to_string_lossy())
            }
        })
        .collect();
    vars.sort();
    Json(vars)
}

/// The request headers as a map of name → values (podinfo's shape).
#[utoipa::path(method(get, post), path = "/headers", tag = "echo",
    responses((status = 200, description = "Request headers", body = BTreeMap<String, Vec<String>>)))]
pub async fn headers(headers: HeaderMap) -> Json<BTreeMap<String, Vec<String>>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &headers {
        map.entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    Json(map)
}

/// One echoed WebSocket message.
#[derive(Debug, Serialize, ToSchema)]
pub struct WsEcho {
    /// When the message was received, RFC 3339.
    pub ts: String,
    /// The message text.
    pub msg: String,
}

/// WebSocket echo: each text message comes back as `{"ts","msg"}`. Messages above
/// `--ws-max-message-bytes` or faster than `--ws-max-messages-per-second` close the socket (1009 /
/// 1008); shutdown closes it with 1001.
#[utoipa::path(get, path = "/ws/echo", tag = "echo",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request", body = ErrorBody)))]
pub async fn ws_echo(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let max = state.config.ws_max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| ws_session(socket, state))
}

async fn ws_session(mut socket: WebSocket, state: AppState) {
    let per_second = state.config.ws_max_messages_per_second;
    let mut window = Instant::now();
    let mut in_window = 0_u32;
    loop {
        let msg = tokio::select! {
            () = state.shutdown.cancelled() => {
                close(&mut socket, close_code::AWAY, "server shutting down").await;
                return;
            }
            msg = socket.recv() => msg,
        };
        let msg = match msg {
            Some(Ok(msg)) => msg,
            // The library refuses a message above the size limit but does not tell the peer; say
            // why with 1009, as documented.
            Some(Err(err)) if is_too_big(&err) => {
                close(&mut socket, close_code::SIZE, "message too big").await;
                return;
            }
            // Closed by the peer, or a protocol error.
            _ => return,
        };
        if window.elapsed() >= Duration::from_secs(1) {
            window = Instant::now();
            in_window = 0;
        }
        in_window += 1;
        if in_window > per_second {
            close(&mut socket, close_code::POLICY, "rate limit exceeded").await;
            return;
        }
        let text = match msg {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let reply = WsEcho {
            ts: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            msg: text,
        };
        let Ok(json) = serde_json::to_string(&reply) else {
            return;
        };
        if socket.send(Message::Text(json.into())).await.is_err() {
            return;
        }
    }
}

/// Whether a receive error is the size limit (`--ws-max-message-bytes`). The error is
/// tungstenite's `Error::Capacity`, which we cannot name (tungstenite is axum's private dependency),
/// so its message is matched; `ws_message_above_the_size_limit_is_closed_with_1009` pins it.
fn is_too_big(err: &axum::Error) -> bool {
    err.to_string().contains("Space limit exceeded")
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

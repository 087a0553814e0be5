//! Traces leave the process over OTLP/HTTP, continue the caller's trace, and are flushed at exit.
//!
//! A real OTLP/HTTP receiver runs inside the test (`crates/telemetry/tests/support/otlp.rs`: axum
//! on a free loopback port, decoding the protobuf export requests), and the real binary
//! exports to it, configured only by the standard `OTEL_*` variables.

use std::time::Duration;

use nix::sys::signal::Signal;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use crate::helpers::ChildApp;
use crate::otlp::{PARENT_SPAN_ID, TRACE_ID, attribute, hex, start_receiver, wait_for_span};

fn traced_get(port: u16, path: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\ntraceparent: 00-{TRACE_ID}-{PARENT_SPAN_ID}-01\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_spans_continue_the_callers_trace_with_http_attributes() {
    let (receiver_port, mut rx) = start_receiver().await;
    let endpoint = format!("http://127.0.0.1:{receiver_port}");
    let app = ChildApp::start(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "blueprint-api-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let port = app.port;
    let status = tokio::task::spawn_blocking(move || traced_get(port, "/delay/0"))
        .await
        .expect("client");
    assert_eq!(status, 200);

    let got = wait_for_span(&mut rx, "GET /delay/{seconds}", Duration::from_secs(10)).await;
    assert_eq!(got.service, "blueprint-api-under-test");
    let span = got.span;
    assert_eq!(
        hex(&span.trace_id),
        TRACE_ID,
        "the caller's trace continues"
    );
    assert_eq!(
        hex(&span.parent_span_id),
        PARENT_SPAN_ID,
        "the caller's span is the parent"
    );
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        attribute(&span, "http.request.method"),
        Some(Value::StringValue("GET".into()))
    );
    assert_eq!(
        attribute(&span, "http.route"),
        Some(Value::StringValue("/delay/{seconds}".into()))
    );
    assert_eq!(
        attribute(&span, "url.path"),
        Some(Value::StringValue("/delay/0".into()))
    );
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(Value::IntValue(200))
    );
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_buffered_at_sigterm_are_flushed_before_exit() {
    let (receiver_port, mut rx) = start_receiver().await;
    let endpoint = format!("http://127.0.0.1:{receiver_port}");
    // A one-minute batch delay: only the shutdown flush can deliver the span in time.
    let mut app = ChildApp::start(
        &["--drain-delay", "0s"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ],
    );
    let port = app.port;
    let status = tokio::task::spawn_blocking(move || traced_get(port, "/status/503"))
        .await
        .expect("client");
    assert_eq!(status, 503);
    app.signal(Signal::SIGTERM);
    let code = tokio::task::spawn_blocking(move || app.wait_exit(Duration::from_secs(10)))
        .await
        .expect("waiter");
    assert_eq!(code, Some(0));
    let got = wait_for_span(&mut rx, "GET /status/{code}", Duration::from_secs(2)).await;
    assert_eq!(hex(&got.span.trace_id), TRACE_ID);
    assert_eq!(got.service, "blueprint-api");
    let status = got.span.status.expect("a 5xx sets the span status");
    assert_eq!(status.code, 2, "STATUS_CODE_ERROR");
}

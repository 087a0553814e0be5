//! Traces leave the process over OTLP/HTTP, continue the caller's trace, and are flushed at exit.
//!
//! A real OTLP/HTTP receiver runs inside the test (axum on a free loopback port, decoding the
//! protobuf export requests with the OpenTelemetry protocol definitions), and the real binary
//! exports to it, configured only by the standard `OTEL_*` variables.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use nix::sys::signal::Signal;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio::sync::mpsc;

use crate::helpers::ChildApp;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP trace receiver; every export request is sent down the channel.
async fn start_receiver() -> (u16, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            post(
                |State(tx): State<mpsc::UnboundedSender<ExportTraceServiceRequest>>,
                 body: Bytes| async move {
                    let request = ExportTraceServiceRequest::decode(body)
                        .expect("the exporter sends valid OTLP protobuf");
                    let _ = tx.send(request);
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, rx)
}

/// A received span with its resource's service name.
struct Received {
    service: String,
    span: Span,
}

/// Collect spans until one named `name` arrives or `limit` passes.
async fn wait_for_span(
    rx: &mut mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    name: &str,
    limit: Duration,
) -> Received {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let request = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no span named {name:?} within {limit:?}"))
            .expect("receiver open");
        for rs in request.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    if span.name == name {
                        return Received { service, span };
                    }
                }
            }
        }
    }
}

fn attribute(span: &Span, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone())
}

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

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

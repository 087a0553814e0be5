//! An OTLP/HTTP trace receiver for tests: axum on a free loopback port, decoding the protobuf
//! export requests with the OpenTelemetry protocol definitions. The api's and the worker's test
//! suites include this file (`#[path]`), so both check spans the same way.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio::sync::mpsc;

pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP trace receiver; every export request is sent down the channel.
pub async fn start_receiver() -> (u16, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
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
pub struct Received {
    pub service: String,
    pub span: Span,
}

/// Collect spans until one named `name` arrives or `limit` passes.
pub async fn wait_for_span(
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

pub fn attribute(span: &Span, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone())
}

/// Lower-case hex of a trace or span id.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

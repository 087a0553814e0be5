//! Trace continuity: a job's span continues the trace of the request that enqueued it.
//!
//! The api stores the `traceparent` of `POST /jobs` in the job (tested in `apps/api`); here the
//! worker binary runs a job carrying such a `traceparent` and exports its span over OTLP/HTTP to a
//! receiver inside the test (axum on a free loopback port, decoding the protobuf export requests
//! with the OpenTelemetry protocol definitions, as in `apps/api/tests/it/traces.rs`). Together the
//! two prove one trace from `POST /jobs` through the worker's `job <kind>` span.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use jobs::model::{JobStatus, NewJob};
use jobs::queue::QueueConfig;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::json;
use tokio::sync::mpsc;

use crate::helpers::{WorkerProcess, producer, unique_prefix, wait_for_status};
use crate::redis_support::RedisServer;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP trace receiver on a free loopback port; every export request goes down the
/// channel.
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

/// Collect spans until one named `name` arrives; panics after `limit`.
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

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_job_span_continues_the_trace_of_the_enqueuing_request() {
    let (receiver_port, mut rx) = start_receiver().await;
    let endpoint = format!("http://127.0.0.1:{receiver_port}");
    let redis = RedisServer::start().await;
    let prefix = unique_prefix();
    let mut worker = WorkerProcess::spawn_with(
        &["--redis-url", &redis.url(), "--queue-prefix", &prefix],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    worker
        .wait_for("/readyz", 200, Duration::from_secs(10))
        .await;
    let queue = producer(&redis.url(), &prefix, QueueConfig::default()).await;

    let id = queue
        .enqueue(NewJob {
            kind: "sleep".to_owned(),
            payload: json!({ "duration_ms": 1 }),
            idempotency_key: None,
            traceparent: Some(format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")),
        })
        .await
        .expect("enqueued")
        .id;
    wait_for_status(&queue, &id, JobStatus::Succeeded, Duration::from_secs(10)).await;

    let got = wait_for_span(&mut rx, "job sleep", Duration::from_secs(10)).await;
    assert_eq!(got.service, "blueprint-worker");
    let span = got.span;
    assert_eq!(
        hex(&span.trace_id),
        TRACE_ID,
        "the enqueuing request's trace continues"
    );
    assert_eq!(
        hex(&span.parent_span_id),
        PARENT_SPAN_ID,
        "the enqueuing request's span is the parent"
    );
    assert_eq!(span.kind, 5, "SPAN_KIND_CONSUMER");
    assert_eq!(attribute(&span, "job.id"), Some(Value::StringValue(id)));
    assert_eq!(
        attribute(&span, "job.kind"),
        Some(Value::StringValue("sleep".into()))
    );
}

//! Trace continuity: a job's span continues the trace of the request that enqueued it.
//!
//! The api stores the `traceparent` of `POST /jobs` in the job (tested in `apps/api`); here the
//! worker binary runs a job carrying such a `traceparent` and exports its span over OTLP/HTTP to a
//! receiver inside the test (axum on a free loopback port, decoding the protobuf export requests
//! with the OpenTelemetry protocol definitions: `crates/telemetry/tests/support/otlp.rs`). Together the
//! two prove one trace from `POST /jobs` through the worker's `job <kind>` span.

use std::time::Duration;

use jobs::model::{JobStatus, NewJob};
use jobs::queue::QueueConfig;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::json;

use crate::helpers::{WorkerProcess, producer, unique_prefix, wait_for_status};
use crate::otlp::{PARENT_SPAN_ID, TRACE_ID, attribute, hex, start_receiver, wait_for_span};
use crate::redis_support::RedisServer;

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

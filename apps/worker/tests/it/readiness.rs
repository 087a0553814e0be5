//! Readiness follows Redis both ways, without restarting the worker.

use std::time::Duration;

use jobs::model::JobStatus;
use jobs::queue::QueueConfig;
use serde_json::json;

use crate::helpers::{WorkerProcess, enqueue, producer, unique_prefix, wait_for_status};
use crate::redis_support::RedisServer;

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_started_before_redis_becomes_ready_when_redis_comes_up() {
    // A server started and stopped again: its port is known and nothing listens there.
    let mut redis = RedisServer::start().await;
    redis.stop().await;
    let prefix = unique_prefix();
    let mut worker =
        WorkerProcess::spawn(&["--redis-url", &redis.url(), "--queue-prefix", &prefix]);
    worker
        .wait_for("/readyz", 503, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(worker.is_running(), "kept retrying instead of exiting");

    redis.restart().await;
    worker
        .wait_for("/readyz", 200, Duration::from_secs(10))
        .await;
    let queue = producer(&redis.url(), &prefix, QueueConfig::default()).await;
    let id = enqueue(&queue, "sleep", json!({ "duration_ms": 1 })).await;
    wait_for_status(&queue, &id, JobStatus::Succeeded, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_fails_within_5_s_of_a_redis_outage_and_recovers_without_a_restart() {
    let mut redis = RedisServer::start().await;
    let prefix = unique_prefix();
    let mut worker = WorkerProcess::start_ready(&redis.url(), &prefix, &[]).await;
    let pid = worker.child.id();

    redis.stop().await;
    let noticed = worker
        .wait_for("/readyz", 503, Duration::from_secs(5))
        .await;
    assert!(noticed < Duration::from_secs(5), "{noticed:?}");
    let (_, body) = worker.get("/readyz").await.expect("answer");
    assert!(body.contains(r#""code":503"#), "{body}");
    assert_eq!(
        worker.get("/healthz").await.map(|r| r.0),
        Some(200),
        "liveness does not follow Redis"
    );

    redis.restart().await;
    worker
        .wait_for("/readyz", 200, Duration::from_secs(10))
        .await;
    assert!(worker.is_running());
    assert_eq!(worker.child.id(), pid, "the same process");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_run_again_after_redis_restarts_empty() {
    let mut redis = RedisServer::start().await;
    let prefix = unique_prefix();
    // A job claimed in the moment Redis comes back can be delivered by XREADGROUP and then miss
    // its CLAIM script (the shared connection fails once with "broken pipe" before it
    // reconnects); it stays pending and is reclaimed after the visibility timeout — at-least-once,
    // late. A short timeout keeps that case within the test's bound.
    let mut worker =
        WorkerProcess::start_ready(&redis.url(), &prefix, &["--visibility-timeout", "2s"]).await;
    redis.restart().await;
    worker
        .wait_for("/readyz", 200, Duration::from_secs(10))
        .await;
    // The restarted Redis has no stream and no consumer group: they must be made again.
    let queue = producer(&redis.url(), &prefix, QueueConfig::default()).await;
    let id = enqueue(&queue, "sleep", json!({ "duration_ms": 1 })).await;
    wait_for_status(&queue, &id, JobStatus::Succeeded, Duration::from_secs(10)).await;
}

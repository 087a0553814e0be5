//! Graceful drain: readiness drops, claiming stops, jobs in flight finish, the process exits 0.

use std::time::{Duration, Instant};

use jobs::model::JobStatus;
use jobs::queue::QueueConfig;
use nix::sys::signal::Signal;
use serde_json::json;

use crate::helpers::{WorkerProcess, enqueue, producer, unique_prefix, wait_for_status};
use crate::redis_support::RedisServer;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_running_job_finish_stops_claiming_and_exits_0() {
    let redis = RedisServer::start().await;
    let prefix = unique_prefix();
    let mut worker =
        WorkerProcess::start_ready(&redis.url(), &prefix, &["--drain-timeout", "10s"]).await;
    let queue = producer(&redis.url(), &prefix, QueueConfig::default()).await;
    let long = enqueue(&queue, "sleep", json!({ "duration_ms": 1500 })).await;
    wait_for_status(&queue, &long, JobStatus::Running, Duration::from_secs(5)).await;

    let signalled = Instant::now();
    worker.signal(Signal::SIGTERM);
    // Readiness drops at once; the admin port keeps serving during the drain.
    worker
        .wait_for("/readyz", 503, Duration::from_secs(1))
        .await;
    let (_, body) = worker.get("/readyz").await.expect("served while draining");
    assert!(body.contains("shutting down"), "{body}");
    // Past the claim that may have been in flight at the signal (one poll, 500 ms), nothing new
    // is claimed.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let late = enqueue(&queue, "sleep", json!({ "duration_ms": 1 })).await;

    let record = wait_for_status(&queue, &long, JobStatus::Succeeded, Duration::from_secs(5)).await;
    assert_eq!(
        record.attempts, 1,
        "finished by the draining worker, not re-run"
    );
    assert_eq!(worker.wait_exit(Duration::from_secs(5)).await, Some(0));
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "waited for the job: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        queue.get(&late).await.expect("record").status,
        JobStatus::Queued,
        "a draining worker claims nothing new"
    );
    assert!(
        crate::helpers::get_with(worker.port, "/healthz", None)
            .await
            .is_none(),
        "the admin port is closed after exit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_1_at_once() {
    let redis = RedisServer::start().await;
    let prefix = unique_prefix();
    let mut worker =
        WorkerProcess::start_ready(&redis.url(), &prefix, &["--drain-timeout", "30s"]).await;
    let queue = producer(&redis.url(), &prefix, QueueConfig::default()).await;
    let id = enqueue(&queue, "sleep", json!({ "duration_ms": 20_000 })).await;
    wait_for_status(&queue, &id, JobStatus::Running, Duration::from_secs(5)).await;
    worker.signal(Signal::SIGTERM);
    worker
        .wait_for("/readyz", 503, Duration::from_secs(1))
        .await;
    let second = Instant::now();
    worker.signal(Signal::SIGINT);
    assert_eq!(worker.wait_exit(Duration::from_secs(3)).await, Some(1));
    assert!(second.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_longer_than_the_drain_timeout_is_left_for_another_worker() {
    let redis = RedisServer::start().await;
    let prefix = unique_prefix();
    let mut first =
        WorkerProcess::start_ready(&redis.url(), &prefix, &["--drain-timeout", "300ms"]).await;
    let queue = producer(&redis.url(), &prefix, QueueConfig::default()).await;
    let id = enqueue(&queue, "sleep", json!({ "duration_ms": 1500 })).await;
    wait_for_status(&queue, &id, JobStatus::Running, Duration::from_secs(5)).await;
    let signalled = Instant::now();
    first.signal(Signal::SIGTERM);
    assert_eq!(first.wait_exit(Duration::from_secs(4)).await, Some(0));
    assert!(
        signalled.elapsed() < Duration::from_millis(1400),
        "did not wait for the job: {:?}",
        signalled.elapsed()
    );
    assert_eq!(
        queue.get(&id).await.expect("record").status,
        JobStatus::Running,
        "left unacknowledged"
    );

    // Another worker reclaims it once it has been idle for the visibility timeout, and runs it.
    // (The timeout must exceed the job's run time, or a worker would reclaim its own run.)
    let _second =
        WorkerProcess::start_ready(&redis.url(), &prefix, &["--visibility-timeout", "3s"]).await;
    let record = wait_for_status(&queue, &id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(record.attempts, 2, "{record:?}");
}

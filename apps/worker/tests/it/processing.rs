//! Jobs flow end to end: enqueued by a producer on the same Redis, run by the worker process.

use std::time::Duration;

use jobs::model::JobStatus;
use jobs::queue::QueueConfig;
use serde_json::json;

use crate::helpers::{WorkerProcess, enqueue, producer, unique_prefix, wait_for_status};
use crate::redis_support::RedisServer;

#[tokio::test(flavor = "multi_thread")]
async fn enqueued_jobs_reach_succeeded_and_show_in_the_metrics() {
    let redis = RedisServer::start().await;
    let prefix = unique_prefix();
    let worker = WorkerProcess::start_ready(&redis.url(), &prefix, &["--concurrency", "4"]).await;
    let queue = producer(&redis.url(), &prefix, QueueConfig::default()).await;

    let mut ids = Vec::new();
    for ms in [10, 20, 30] {
        ids.push(enqueue(&queue, "sleep", json!({ "duration_ms": ms })).await);
    }
    ids.push(enqueue(&queue, "cpu", json!({ "duration_ms": 5 })).await);
    for id in &ids {
        let record =
            wait_for_status(&queue, id, JobStatus::Succeeded, Duration::from_secs(10)).await;
        assert_eq!(record.attempts, 1);
        assert!(record.result.is_some(), "{record:?}");
    }
    let done = queue.get(&ids[0]).await.expect("record");
    assert_eq!(done.result, Some(json!({ "slept_ms": 10 })));

    worker
        .metrics_with(
            &[
                r#"blueprint_jobs_processed_total{kind="sleep",outcome="succeeded"} 3"#,
                r#"blueprint_jobs_processed_total{kind="cpu",outcome="succeeded"} 1"#,
                "blueprint_job_lag_seconds_bucket{",
                "blueprint_job_duration_seconds_bucket{",
            ],
            Duration::from_secs(5),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_always_fails_is_retried_then_dead() {
    let redis = RedisServer::start().await;
    let prefix = unique_prefix();
    let worker = WorkerProcess::start_ready(
        &redis.url(),
        &prefix,
        &["--max-attempts", "2", "--backoff-base", "50ms"],
    )
    .await;
    let config = QueueConfig {
        max_attempts: 2,
        backoff_base: Duration::from_millis(50),
        ..QueueConfig::default()
    };
    let queue = producer(&redis.url(), &prefix, config).await;
    let id = enqueue(&queue, "flaky", json!({ "p": 1.0 })).await;
    let record = wait_for_status(&queue, &id, JobStatus::Dead, Duration::from_secs(10)).await;
    assert_eq!(record.attempts, 2);
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("flaky")),
        "{record:?}"
    );
    assert_eq!(queue.stats().await.expect("stats").dead, 1);

    worker
        .metrics_with(
            &[
                r#"blueprint_jobs_processed_total{kind="flaky",outcome="retried"} 1"#,
                r#"blueprint_jobs_processed_total{kind="flaky",outcome="dead"} 1"#,
                "blueprint_jobs_retried_total 1",
                "blueprint_jobs_dead_total 1",
            ],
            Duration::from_secs(5),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_that_cannot_run_goes_to_the_dead_letters_without_retries() {
    let redis = RedisServer::start().await;
    let prefix = unique_prefix();
    let _worker = WorkerProcess::start_ready(&redis.url(), &prefix, &[]).await;
    let queue = producer(&redis.url(), &prefix, QueueConfig::default()).await;
    // The api validates payloads at enqueue; a record that slipped past (or an older kind) is a
    // permanent failure: retrying cannot help.
    let id = enqueue(&queue, "sleep", json!({ "duration_ms": "soon" })).await;
    let record = wait_for_status(&queue, &id, JobStatus::Dead, Duration::from_secs(10)).await;
    assert_eq!(record.attempts, 1, "{record:?}");
}

/// `rediss://`: the worker trusts the server's throwaway CA the production way, through the
/// system root store (`SSL_CERT_FILE`, given to the child process only), and runs a job.
#[tokio::test(flavor = "multi_thread")]
async fn over_tls_a_job_is_run_when_the_ca_is_trusted() {
    let redis = RedisServer::tls().await;
    let prefix = unique_prefix();
    let ca_file = redis.tls_files().ca_cert.clone();
    let mut worker = WorkerProcess::spawn_with(
        &["--redis-url", &redis.url(), "--queue-prefix", &prefix],
        &[("SSL_CERT_FILE", ca_file.to_str().expect("utf-8 path"))],
    );
    worker
        .wait_for("/readyz", 200, Duration::from_secs(10))
        .await;
    let queue = jobs::Queue::Redis(
        jobs::redis::RedisQueue::connect_with_root_ca(
            &redis.url(),
            &redis.ca_cert(),
            &prefix,
            QueueConfig::default(),
        )
        .await
        .expect("producer connects over TLS"),
    );
    let id = enqueue(&queue, "sleep", json!({ "duration_ms": 5 })).await;
    let record = wait_for_status(&queue, &id, JobStatus::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(record.result, Some(json!({ "slept_ms": 5 })));
}

/// An untrusted certificate: the worker stays unready, keeps retrying, and logs why (without
/// the password).
#[tokio::test(flavor = "multi_thread")]
async fn over_tls_an_untrusted_certificate_keeps_the_worker_unready_with_a_clear_log() {
    let redis = RedisServer::tls().await;
    let other = tempfile::tempdir().expect("tempdir");
    let other_ca = crate::redis_support::make_ca(other.path(), "other-ca");
    let url = format!("rediss://:s3cret-pass@127.0.0.1:{}", redis.port());
    let mut worker = WorkerProcess::spawn_with(
        &["--redis-url", &url, "--queue-prefix", &unique_prefix()],
        &[("SSL_CERT_FILE", other_ca.to_str().expect("utf-8 path"))],
    );
    worker
        .wait_for("/readyz", 503, Duration::from_secs(10))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !worker.logs().contains("invalid peer certificate") {
        assert!(
            std::time::Instant::now() < deadline,
            "no certificate error logged:\n{}",
            worker.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(worker.logs().contains("UnknownIssuer"), "{}", worker.logs());
    assert!(!worker.logs().contains("s3cret-pass"), "{}", worker.logs());
    assert!(worker.is_running(), "kept retrying instead of exiting");
}

//! Malformed queue entries: whatever lands in the stream, the worker dead-letters what it cannot
//! run, with a reason, and goes on working.
//!
//! The bad entries are written the way an operator's mistake or another program would: straight
//! into Redis with the real `redis-cli`, bypassing the queue. The record layout they corrupt is
//! the one documented in `crates/jobs/src/redis.rs` (`{p}job:{id}` hash with the payload as JSON
//! text, `{p}jobs` entries of `id` and `kind`, dead letters in `{p}dead` with a `reason`).

use std::time::{Duration, Instant};

use jobs::model::JobStatus;
use jobs::queue::QueueConfig;
use serde_json::json;

use crate::helpers::{WorkerProcess, enqueue, producer, unique_prefix, wait_for_status};
use crate::redis_support::RedisServer;

/// The Debian package's client.
const REDIS_CLI: &str = "/usr/bin/redis-cli";

/// Run `redis-cli -p <port> --json <args>`; returns its answer as JSON. Panics on a failure or
/// an error reply.
async fn redis_cli(port: u16, args: &[&str]) -> serde_json::Value {
    let out = tokio::process::Command::new(REDIS_CLI)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--json"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("redis-cli runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.starts_with("\"ERR") && !text.starts_with("(error)"),
        "redis-cli {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("redis-cli {args:?}: {e}: {text}"))
}

/// The dead letters as `(reason, whole entry as text)`, once there are `count`; panics after
/// `limit`.
async fn wait_for_dead_letters(
    port: u16,
    dead: &str,
    count: usize,
    limit: Duration,
) -> Vec<(String, String)> {
    let started = Instant::now();
    loop {
        let entries = redis_cli(port, &["XRANGE", dead, "-", "+"]).await;
        let entries = entries.as_array().cloned().unwrap_or_default();
        if entries.len() >= count {
            return entries
                .iter()
                .map(|entry| {
                    let fields = entry[1].as_array().cloned().unwrap_or_default();
                    let reason = fields
                        .chunks(2)
                        .find(|kv| kv[0] == "reason")
                        .and_then(|kv| kv.get(1))
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_else(|| panic!("a dead letter without a reason: {entry}"))
                        .to_owned();
                    (reason, entry.to_string())
                })
                .collect();
        }
        assert!(
            started.elapsed() < limit,
            "{} dead letters after {limit:?}, expected {count}: {entries:?}",
            entries.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_that_cannot_run_are_dead_lettered_with_a_reason_and_the_worker_goes_on() {
    let redis = RedisServer::start().await;
    let port = redis.port();
    let prefix = unique_prefix();
    let (stream, dead) = (format!("{prefix}jobs"), format!("{prefix}dead"));
    // One slot, held by a long job while the bad entries are written: the worker cannot claim a
    // record before the test has corrupted it.
    let mut worker =
        WorkerProcess::start_ready(&redis.url(), &prefix, &["--concurrency", "1"]).await;
    let queue = producer(&redis.url(), &prefix, QueueConfig::default()).await;
    let blocker = enqueue(&queue, "sleep", json!({ "duration_ms": 1500 })).await;
    wait_for_status(&queue, &blocker, JobStatus::Running, Duration::from_secs(5)).await;

    // 1. An entry without an `id` field.
    redis_cli(port, &["XADD", &stream, "*", "garbage", "1"]).await;
    // 2. An entry naming a job that does not exist.
    let ghost = "01900000-0000-7000-8000-000000000000";
    redis_cli(port, &["XADD", &stream, "*", "id", ghost, "kind", "sleep"]).await;
    // 3. A record whose payload is valid JSON but not a `sleep` payload (it is a `flaky` one).
    let misfit = enqueue(&queue, "sleep", json!({ "duration_ms": 1 })).await;
    let misfit_key = format!("{prefix}job:{misfit}");
    redis_cli(port, &["HSET", &misfit_key, "payload", r#"{"p":0.5}"#]).await;
    // 4. A record whose payload is not JSON at all.
    let garbled = enqueue(&queue, "sleep", json!({ "duration_ms": 1 })).await;
    let garbled_key = format!("{prefix}job:{garbled}");
    redis_cli(port, &["HSET", &garbled_key, "payload", "{not json"]).await;
    assert_eq!(
        queue.get(&blocker).await.expect("record").status,
        JobStatus::Running,
        "the slot was busy all along: nothing was claimed before it was corrupted"
    );

    let letters = wait_for_dead_letters(port, &dead, 4, Duration::from_secs(10)).await;
    assert_eq!(letters.len(), 4, "exactly the bad entries: {letters:?}");
    assert_eq!(redis_cli(port, &["XLEN", &dead]).await, json!(4));
    let letter = |needle: &str| {
        letters
            .iter()
            .find(|(reason, _)| reason.contains(needle))
            .unwrap_or_else(|| panic!("no dead letter whose reason has {needle:?}: {letters:?}"))
            .1
            .clone()
    };
    assert!(letter("stream entry has no id field").contains("garbage"));
    assert!(letter("job record missing").contains(ghost));
    assert!(letter("invalid payload for sleep").contains(&misfit));
    assert!(letter("unparseable job record").contains(&garbled));

    // The records that exist say so too.
    let record = wait_for_status(&queue, &misfit, JobStatus::Dead, Duration::from_secs(5)).await;
    assert_eq!(
        record.attempts, 1,
        "a payload that cannot fit is not retried"
    );
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("invalid payload for sleep")),
        "{record:?}"
    );
    assert_eq!(
        redis_cli(port, &["HGET", &garbled_key, "status"]).await,
        json!("dead")
    );
    // The stream keeps nothing of them: no entry is left to stall a consumer.
    wait_for_status(
        &queue,
        &blocker,
        JobStatus::Succeeded,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(redis_cli(port, &["XLEN", &stream]).await, json!(0));
    let stats = queue.stats().await.expect("stats");
    assert_eq!((stats.depth, stats.pending, stats.dead), (0, 0, 4));

    // The worker is unharmed: ready, and a good job enqueued afterwards succeeds.
    assert!(worker.is_running(), "{}", worker.logs());
    assert_eq!(worker.get("/readyz").await.map(|r| r.0), Some(200));
    let good = enqueue(&queue, "sleep", json!({ "duration_ms": 1 })).await;
    let record =
        wait_for_status(&queue, &good, JobStatus::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(record.attempts, 1);
    worker
        .metrics_with(
            &[
                r#"blueprint_jobs_processed_total{kind="sleep",outcome="succeeded"} 2"#,
                r#"blueprint_jobs_processed_total{kind="sleep",outcome="dead"} 1"#,
            ],
            Duration::from_secs(5),
        )
        .await;
}

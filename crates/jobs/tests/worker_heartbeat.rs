//! The worker loop's heartbeat, end to end: two in-process [`Worker`]s (two consumers) on one
//! Redis queue whose visibility timeout is shorter than the job, on a real `redis-server`.

mod support;

use std::time::{Duration, Instant};

use jobs::job::{JobContext, Registry};
use jobs::metrics::JobMetrics;
use jobs::redis::RedisQueue;
use jobs::worker::{Worker, WorkerConfig};
use jobs::{JobRecord, JobStatus, NewJob, Queue, QueueConfig};
use serde_json::json;
use support::RedisServer;
use tokio_util::sync::CancellationToken;

/// Upper bound on the test.
const TEST_DEADLINE: Duration = Duration::from_secs(20);
/// The visibility timeout: a quarter of the job, so that without heartbeats the other worker's
/// housekeeping would reclaim the job about three times before it ends.
const VISIBILITY: Duration = Duration::from_millis(300);
/// How long the `sleep` job runs.
const JOB_MS: u64 = 1200;

fn worker(queue: &Queue, consumer: &str, concurrency: usize) -> Worker {
    Worker::new(
        queue.clone(),
        Registry::default(),
        JobContext {
            http: reqwest::Client::new(),
            api_url: "http://127.0.0.1:9".to_owned(),
        },
        JobMetrics::new(),
        WorkerConfig {
            consumer: consumer.to_owned(),
            concurrency,
            poll: Duration::from_millis(50),
            // Housekeeping (reclaim) far more often than the visibility timeout.
            maintain_every: Duration::from_millis(50),
            drain_timeout: Duration::from_secs(5),
        },
    )
}

async fn redis_queue(server: &RedisServer) -> Queue {
    let prefix = format!("test:{:016x}:", rand::random::<u64>());
    let config = QueueConfig {
        max_attempts: 5,
        visibility_timeout: VISIBILITY,
        ..QueueConfig::default()
    };
    Queue::Redis(
        RedisQueue::connect(&server.url(), &prefix, config)
            .await
            .expect("connect to the test redis-server"),
    )
}

fn sleep_job(ms: u64) -> NewJob {
    NewJob {
        kind: "sleep".to_owned(),
        payload: json!({ "duration_ms": ms }),
        idempotency_key: None,
        traceparent: None,
    }
}

/// Poll until every job in `ids` is succeeded or dead (or `limit` passes).
async fn finished(queue: &Queue, ids: &[String], limit: Duration) -> Vec<JobRecord> {
    let started = Instant::now();
    loop {
        let mut records = Vec::new();
        for id in ids {
            records.push(queue.get(id).await.expect("get"));
        }
        if records
            .iter()
            .all(|r| matches!(r.status, JobStatus::Succeeded | JobStatus::Dead))
        {
            return records;
        }
        assert!(
            started.elapsed() < limit,
            "the jobs did not finish: {records:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_job_longer_than_the_visibility_timeout_runs_once_while_another_worker_maintains() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let server = RedisServer::start().await;
        let queue = redis_queue(&server).await;
        let id = queue.enqueue(sleep_job(JOB_MS)).await.expect("enqueue").id;

        let shutdown = CancellationToken::new();
        let workers = [
            tokio::spawn(worker(&queue, "worker-a", 2).run(shutdown.clone())),
            tokio::spawn(worker(&queue, "worker-b", 2).run(shutdown.clone())),
        ];

        let record = finished(&queue, std::slice::from_ref(&id), Duration::from_secs(10))
            .await
            .remove(0);
        shutdown.cancel();
        for handle in workers {
            let report = handle.await.expect("worker task");
            assert_eq!(report.abandoned, 0);
        }

        assert_eq!(record.status, JobStatus::Succeeded, "{record:?}");
        assert_eq!(
            record.attempts, 1,
            "never reclaimed while it ran: {record:?}"
        );
        assert_eq!(record.result, Some(json!({ "slept_ms": JOB_MS })));
        let ran_ms = record
            .finished_at_ms
            .zip(record.started_at_ms)
            .map(|(end, start)| end - start);
        assert!(
            ran_ms.is_some_and(|ms| ms >= JOB_MS),
            "ran {ran_ms:?} ms, longer than the {VISIBILITY:?} visibility timeout"
        );
        let stats = queue.stats().await.expect("stats");
        assert_eq!((stats.depth, stats.pending, stats.dead), (0, 0, 0));
    })
    .await
    .expect("the test finished within its deadline");
}

#[tokio::test]
async fn reclaimed_jobs_waiting_for_a_free_slot_are_kept_alive_until_they_run() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let server = RedisServer::start().await;
        let queue = redis_queue(&server).await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            ids.push(queue.enqueue(sleep_job(900)).await.expect("enqueue").id);
        }
        // A consumer that crashes right after claiming both jobs.
        let lost = queue
            .reserve("crashed", 2, Duration::from_millis(100))
            .await
            .expect("reserve");
        assert_eq!(lost.len(), 2);
        tokio::time::sleep(VISIBILITY).await;

        // Two workers with one slot each. The first to run housekeeping reclaims both jobs and
        // runs one; the other waits for its slot for 900 ms, three visibility timeouts, while
        // the second worker, idle, runs housekeeping every 50 ms.
        let shutdown = CancellationToken::new();
        let workers = [
            tokio::spawn(worker(&queue, "worker-a", 1).run(shutdown.clone())),
            tokio::spawn(worker(&queue, "worker-b", 1).run(shutdown.clone())),
        ];
        let records = finished(&queue, &ids, Duration::from_secs(10)).await;
        shutdown.cancel();
        for handle in workers {
            assert_eq!(handle.await.expect("worker task").abandoned, 0);
        }
        for record in records {
            assert_eq!(record.status, JobStatus::Succeeded, "{record:?}");
            assert_eq!(
                record.attempts, 2,
                "one lost run, one reclaim, no more: {record:?}"
            );
        }
    })
    .await
    .expect("the test finished within its deadline");
}

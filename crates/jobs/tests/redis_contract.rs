//! The queue contract (see `jobs::queue`), checked against the Redis Streams backend on a real
//! `redis-server` started by the test itself. Each test has its own server and a random key prefix,
//! and runs under [`TEST_DEADLINE`].

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use jobs::redis::RedisQueue;
use jobs::{Delivery, FailOutcome, JobStatus, NewJob, QueueConfig, QueueError, QueueStats};
use redis::aio::MultiplexedConnection;
use serde_json::json;
use support::RedisServer;

/// Upper bound on any one test.
const TEST_DEADLINE: Duration = Duration::from_secs(20);
/// Upper bound on a call while Redis is down (the backend promises about two seconds).
const OUTAGE_ANSWER: Duration = Duration::from_millis(2500);

async fn within<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_DEADLINE, test)
        .await
        .expect("the test finished within its deadline");
}

/// Small timings so that retries and reclaims happen within a test.
fn config() -> QueueConfig {
    QueueConfig {
        max_attempts: 3,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        visibility_timeout: Duration::from_millis(200),
        max_backlog: 1_000,
        record_ttl: Duration::from_secs(600),
        retry_after: Duration::from_secs(7),
    }
}

fn random_prefix() -> String {
    format!("test:{:016x}:", rand::random::<u64>())
}

async fn connect(server: &RedisServer, config: QueueConfig) -> RedisQueue {
    RedisQueue::connect(&server.url(), &random_prefix(), config)
        .await
        .expect("connect to the test redis-server")
}

/// A plain connection, for looking at the keys behind the queue.
async fn raw(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection")
}

async fn query<T: redis::FromRedisValue>(conn: &mut MultiplexedConnection, cmd: &redis::Cmd) -> T {
    cmd.query_async(conn).await.expect("raw command")
}

fn job(n: u64) -> NewJob {
    NewJob {
        kind: "echo".to_owned(),
        payload: json!({ "n": n, "list": [], "big": 9_007_199_254_740_993_u64 }),
        idempotency_key: None,
        traceparent: None,
    }
}

fn stats(depth: u64, pending: u64, dead: u64) -> QueueStats {
    QueueStats {
        depth,
        pending,
        dead,
    }
}

/// Reserve (with maintenance, so due retries come back) until one job arrives.
async fn next_delivery(queue: &RedisQueue, consumer: &str) -> Delivery {
    loop {
        queue.maintain(consumer).await.expect("maintain");
        let mut got = queue
            .reserve(consumer, 1, Duration::from_millis(20))
            .await
            .expect("reserve");
        if let Some(delivery) = got.pop() {
            return delivery;
        }
    }
}

#[tokio::test]
async fn an_enqueued_job_is_reserved_then_acked_and_reads_as_succeeded_with_its_result() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let mut new = job(1);
        new.traceparent = Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
        let enqueued = queue.enqueue(new.clone()).await.expect("enqueue");
        assert!(!enqueued.duplicate);

        let queued = queue.get(&enqueued.id).await.expect("get");
        assert_eq!(queued.status, JobStatus::Queued);
        assert_eq!(queued.attempts, 0);
        assert_eq!(queued.max_attempts, 3);
        assert_eq!(
            queued.payload, new.payload,
            "payload kept exactly (big ints, empty arrays)"
        );
        assert!(queued.enqueued_at_ms > 1_700_000_000_000);

        let mut got = queue
            .reserve("worker-a", 10, Duration::from_secs(1))
            .await
            .expect("reserve");
        assert_eq!(got.len(), 1);
        let delivery = got.remove(0);
        assert_eq!(delivery.record.id, enqueued.id);
        assert_eq!(delivery.record.status, JobStatus::Running);
        assert_eq!(delivery.record.attempts, 1);
        assert!(delivery.record.started_at_ms.is_some());
        assert!(
            delivery.receipt.contains('-'),
            "receipt is the stream entry id"
        );
        assert_eq!(delivery.consumer, "worker-a");
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 1, 0));

        queue
            .ack(&delivery, json!({ "echoed": 1 }))
            .await
            .expect("ack");
        let done = queue.get(&enqueued.id).await.expect("get");
        assert_eq!(done.status, JobStatus::Succeeded);
        assert_eq!(done.result, Some(json!({ "echoed": 1 })));
        assert!(done.finished_at_ms.is_some());
        assert_eq!(done.traceparent, new.traceparent);
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 0));

        let mut conn = raw(&server).await;
        let xlen: u64 = query(
            &mut conn,
            redis::cmd("XLEN").arg(format!("{}jobs", queue.prefix())),
        )
        .await;
        assert_eq!(xlen, 0, "acknowledged entries are deleted from the stream");
        let page = queue
            .list(JobStatus::Succeeded, None, 10)
            .await
            .expect("list");
        assert_eq!(page.jobs, vec![done]);
    })
    .await;
}

#[tokio::test]
async fn a_failing_job_retries_with_backoff_then_dies_and_retry_brings_it_back() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let id = queue.enqueue(job(1)).await.expect("enqueue").id;

        // Attempts 1 and 2 fail and are scheduled with an exponential backoff (±20% jitter).
        for (attempt, base_ms) in [(1_u32, 50_u64), (2, 100)] {
            let delivery = next_delivery(&queue, "w").await;
            assert_eq!(delivery.record.attempts, attempt);
            let outcome = queue.fail(&delivery, "boom", false).await.expect("fail");
            let FailOutcome::Retrying { backoff_ms } = outcome else {
                panic!("attempt {attempt} should be retried, got {outcome:?}");
            };
            assert!(
                (base_ms * 8 / 10..=base_ms * 12 / 10).contains(&backoff_ms),
                "attempt {attempt}: backoff {backoff_ms} ms"
            );
            let failed = queue.get(&id).await.expect("get");
            assert_eq!(failed.status, JobStatus::Failed);
            assert_eq!(failed.last_error.as_deref(), Some("boom"));
            assert_eq!(
                queue.stats().await.expect("stats"),
                stats(1, 0, 0),
                "delayed counts in depth"
            );
            assert!(
                queue
                    .reserve("w", 1, Duration::ZERO)
                    .await
                    .expect("reserve")
                    .is_empty(),
                "a delayed job is not handed out before maintain moves it back"
            );
        }

        // Attempt 3 = max_attempts: dead.
        let delivery = next_delivery(&queue, "w").await;
        assert_eq!(delivery.record.attempts, 3);
        assert_eq!(
            queue.fail(&delivery, "boom", false).await.expect("fail"),
            FailOutcome::Dead
        );
        let dead = queue.get(&id).await.expect("get");
        assert_eq!(dead.status, JobStatus::Dead);
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 1));
        let listed = queue.list(JobStatus::Dead, None, 10).await.expect("list");
        assert_eq!(
            listed
                .jobs
                .iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>(),
            [id.as_str()]
        );

        // retry: queued again with attempts reset, out of the dead letters, and it can succeed.
        let retried = queue.retry(&id).await.expect("retry");
        assert_eq!(retried.status, JobStatus::Queued);
        assert_eq!(retried.attempts, 0);
        assert_eq!(queue.stats().await.expect("stats"), stats(1, 0, 0));
        assert!(
            queue
                .list(JobStatus::Dead, None, 10)
                .await
                .expect("list")
                .jobs
                .is_empty()
        );
        let delivery = next_delivery(&queue, "w").await;
        assert_eq!(delivery.record.attempts, 1);
        queue.ack(&delivery, json!("ok")).await.expect("ack");
        assert_eq!(
            queue.get(&id).await.expect("get").status,
            JobStatus::Succeeded
        );
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 0));
    })
    .await;
}

#[tokio::test]
async fn a_permanent_failure_goes_to_the_dead_letter_stream_at_once() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let id = queue.enqueue(job(1)).await.expect("enqueue").id;
        let delivery = next_delivery(&queue, "w").await;
        let outcome = queue
            .fail(&delivery, "bad input", true)
            .await
            .expect("fail");
        assert_eq!(outcome, FailOutcome::Dead);
        assert_eq!(delivery.record.attempts, 1, "no retries were spent");
        assert_eq!(queue.get(&id).await.expect("get").status, JobStatus::Dead);

        let mut conn = raw(&server).await;
        let letters: redis::streams::StreamRangeReply = query(
            &mut conn,
            redis::cmd("XRANGE")
                .arg(format!("{}dead", queue.prefix()))
                .arg("-")
                .arg("+"),
        )
        .await;
        assert_eq!(letters.ids.len(), 1);
        let letter = &letters.ids[0];
        assert_eq!(letter.get::<String>("id"), Some(id));
        assert_eq!(letter.get::<String>("kind").as_deref(), Some("echo"));
        assert_eq!(letter.get::<String>("reason").as_deref(), Some("bad input"));
    })
    .await;
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_id_and_adds_one_stream_entry() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let mut new = job(1);
        new.idempotency_key = Some("order-42".to_owned());
        let first = queue.enqueue(new.clone()).await.expect("enqueue");
        let second = queue.enqueue(new).await.expect("enqueue again");
        assert!(!first.duplicate);
        assert!(second.duplicate);
        assert_eq!(first.id, second.id);

        let mut conn = raw(&server).await;
        let xlen: u64 = query(
            &mut conn,
            redis::cmd("XLEN").arg(format!("{}jobs", queue.prefix())),
        )
        .await;
        assert_eq!(xlen, 1);
        assert_eq!(queue.stats().await.expect("stats").depth, 1);
        let record = queue.get(&first.id).await.expect("get");
        assert_eq!(record.idempotency_key.as_deref(), Some("order-42"));
    })
    .await;
}

#[tokio::test]
async fn a_full_backlog_refuses_with_backpressure_and_loses_nothing() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(
            &server,
            QueueConfig {
                max_backlog: 3,
                ..config()
            },
        )
        .await;
        let mut ids = HashSet::new();
        for n in 0..3 {
            ids.insert(queue.enqueue(job(n)).await.expect("enqueue").id);
        }
        match queue.enqueue(job(4)).await {
            Err(QueueError::Backpressure {
                depth,
                max,
                retry_after,
            }) => {
                assert_eq!((depth, max), (3, 3));
                assert_eq!(retry_after, Duration::from_secs(7));
            }
            other => panic!("expected backpressure, got {other:?}"),
        }
        let delivered: HashSet<String> = queue
            .reserve("w", 10, Duration::from_millis(100))
            .await
            .expect("reserve")
            .into_iter()
            .map(|d| d.record.id)
            .collect();
        assert_eq!(delivered, ids, "the three accepted jobs are all delivered");
        // Claimed jobs no longer count toward the backlog.
        queue.enqueue(job(5)).await.expect("room again");
    })
    .await;
}

#[tokio::test]
async fn concurrent_enqueues_from_eight_tasks_never_exceed_the_backlog() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(
            &server,
            QueueConfig {
                max_backlog: 20,
                ..config()
            },
        )
        .await;
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let queue = queue.clone();
                tokio::spawn(async move {
                    let mut accepted = 0_u64;
                    for n in 0..10 {
                        match queue.enqueue(job(t * 100 + n)).await {
                            Ok(_) => accepted += 1,
                            Err(QueueError::Backpressure { .. }) => {}
                            Err(e) => panic!("unexpected error: {e}"),
                        }
                    }
                    accepted
                })
            })
            .collect();
        let mut accepted = 0;
        for task in tasks {
            accepted += task.await.expect("task");
        }
        assert_eq!(accepted, 20);
        assert_eq!(queue.stats().await.expect("stats").depth, 20);
        let mut conn = raw(&server).await;
        let xlen: u64 = query(
            &mut conn,
            redis::cmd("XLEN").arg(format!("{}jobs", queue.prefix())),
        )
        .await;
        assert_eq!(xlen, 20);
    })
    .await;
}

#[tokio::test]
async fn a_job_held_past_the_visibility_timeout_is_reclaimed_by_another_consumer() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let id = queue.enqueue(job(1)).await.expect("enqueue").id;
        let held = queue
            .reserve("consumer-a", 1, Duration::from_millis(100))
            .await
            .expect("reserve")
            .pop()
            .expect("a delivery");
        assert!(
            queue
                .maintain("consumer-b")
                .await
                .expect("maintain")
                .is_empty(),
            "not stalled yet"
        );

        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut reclaimed = queue.maintain("consumer-b").await.expect("maintain");
        assert_eq!(reclaimed.len(), 1);
        let reclaimed = reclaimed.remove(0);
        assert_eq!(reclaimed.record.id, id);
        assert_eq!(reclaimed.record.attempts, 2);
        assert_eq!(reclaimed.record.status, JobStatus::Running);
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 1, 0));

        // The first consumer wakes up late: its ack must not overwrite the current run.
        queue.ack(&held, json!("late")).await.expect("late ack");
        assert_eq!(
            queue.get(&id).await.expect("get").status,
            JobStatus::Running
        );
        assert_eq!(queue.stats().await.expect("stats").pending, 1);

        queue.ack(&reclaimed, json!("b")).await.expect("ack");
        let done = queue.get(&id).await.expect("get");
        assert_eq!(done.status, JobStatus::Succeeded);
        assert_eq!(done.result, Some(json!("b")));
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 0));
    })
    .await;
}

/// `(owner, delivery count)` of a pending entry, from `XPENDING`.
async fn pending_entry(
    conn: &mut MultiplexedConnection,
    queue: &RedisQueue,
    entry: &str,
) -> Option<(String, u64)> {
    let rows: Vec<(String, String, u64, u64)> = query(
        conn,
        redis::cmd("XPENDING")
            .arg(format!("{}jobs", queue.prefix()))
            .arg(format!("{}workers", queue.prefix()))
            .arg(entry)
            .arg(entry)
            .arg(1),
    )
    .await;
    rows.into_iter()
        .next()
        .map(|(_, owner, _, count)| (owner, count))
}

#[tokio::test]
async fn a_job_whose_consumer_keeps_heart_beating_past_three_visibility_timeouts_is_never_reclaimed()
 {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let id = queue.enqueue(job(1)).await.expect("enqueue").id;
        let held = queue
            .reserve("consumer-a", 1, Duration::from_millis(100))
            .await
            .expect("reserve")
            .pop()
            .expect("a delivery");
        assert_eq!(held.consumer, "consumer-a");

        // A heartbeat every third of the 200 ms visibility timeout, for more than 3 timeouts;
        // another consumer's housekeeping runs after each one.
        let visibility = config().visibility_timeout;
        let started = Instant::now();
        while started.elapsed() < visibility * 3 + visibility / 2 {
            tokio::time::sleep(visibility / 3).await;
            queue.heartbeat(&held).await.expect("heartbeat");
            assert!(
                queue
                    .maintain("consumer-b")
                    .await
                    .expect("maintain")
                    .is_empty(),
                "reclaimed after {:?} despite heartbeats",
                started.elapsed()
            );
        }
        let mut conn = raw(&server).await;
        assert_eq!(
            pending_entry(&mut conn, &queue, &held.receipt).await,
            Some(("consumer-a".to_owned(), 1)),
            "still held by its consumer; heartbeats do not count as deliveries"
        );
        let running = queue.get(&id).await.expect("get");
        assert_eq!((running.status, running.attempts), (JobStatus::Running, 1));

        queue.ack(&held, json!("done")).await.expect("ack");
        let done = queue.get(&id).await.expect("get");
        assert_eq!(done.status, JobStatus::Succeeded, "the ack was accepted");
        assert_eq!(done.attempts, 1);
        assert_eq!(done.result, Some(json!("done")));
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 0));
        // A heartbeat after the ack changes nothing.
        queue.heartbeat(&held).await.expect("heartbeat after ack");
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 0));
    })
    .await;
}

#[tokio::test]
async fn a_heartbeat_from_a_reclaimed_run_does_not_take_the_job_back_nor_keep_it_alive() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        queue.enqueue(job(1)).await.expect("enqueue");
        let stale = next_delivery(&queue, "consumer-a").await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let second = queue.maintain("consumer-b").await.expect("maintain");
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].consumer, "consumer-b");

        tokio::time::sleep(Duration::from_millis(150)).await;
        queue.heartbeat(&stale).await.expect("stale heartbeat");
        let mut conn = raw(&server).await;
        let (owner, _) = pending_entry(&mut conn, &queue, &stale.receipt)
            .await
            .expect("still pending");
        assert_eq!(
            owner, "consumer-b",
            "the stale heartbeat did not claim it back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let third = queue.maintain("consumer-c").await.expect("maintain");
        assert_eq!(
            third.len(),
            1,
            "b stopped heart-beating: reclaimed, the stale heartbeat did not refresh it"
        );
        assert_eq!(third[0].record.attempts, 3);
    })
    .await;
}

#[tokio::test]
async fn a_job_reclaimed_with_no_attempts_left_goes_to_the_dead_letters_instead_of_running_again() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let id = queue.enqueue(job(1)).await.expect("enqueue").id;
        let mut last = next_delivery(&queue, "consumer-0").await;
        // Runs 2 and 3 (= max_attempts) are reclaims of lost runs.
        for attempt in 2..=3 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let mut got = queue
                .maintain(&format!("consumer-{attempt}"))
                .await
                .expect("maintain");
            assert_eq!(got.len(), 1);
            last = got.remove(0);
            assert_eq!(last.record.attempts, attempt);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            queue
                .maintain("consumer-4")
                .await
                .expect("maintain")
                .is_empty(),
            "attempts == max_attempts: not handed out a fourth time"
        );

        let dead = queue.get(&id).await.expect("get");
        assert_eq!(dead.status, JobStatus::Dead);
        assert_eq!(dead.attempts, 3);
        assert_eq!(
            dead.last_error.as_deref(),
            Some("worker lost the job 3 times (crashed or stalled)")
        );
        assert!(dead.finished_at_ms.is_some());
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 1));
        let listed = queue.list(JobStatus::Dead, None, 10).await.expect("list");
        assert_eq!(listed.jobs, vec![dead]);
        assert!(
            queue
                .list(JobStatus::Running, None, 10)
                .await
                .expect("list")
                .jobs
                .is_empty()
        );

        let mut conn = raw(&server).await;
        let letters: redis::streams::StreamRangeReply = query(
            &mut conn,
            redis::cmd("XRANGE")
                .arg(format!("{}dead", queue.prefix()))
                .arg("-")
                .arg("+"),
        )
        .await;
        assert_eq!(letters.ids.len(), 1);
        let letter = &letters.ids[0];
        assert_eq!(letter.get::<String>("id"), Some(id.clone()));
        assert_eq!(letter.get::<String>("attempts").as_deref(), Some("3"));
        let reason: String = letter.get("reason").expect("a reason");
        assert!(reason.contains("lost"), "{reason}");
        let xlen: u64 = query(
            &mut conn,
            redis::cmd("XLEN").arg(format!("{}jobs", queue.prefix())),
        )
        .await;
        assert_eq!(xlen, 0, "the entry was acknowledged and deleted");

        // The last lost run reports late: nothing changes. Then retry works as for any dead job.
        queue.ack(&last, json!("late")).await.expect("late ack");
        assert_eq!(queue.get(&id).await.expect("get").status, JobStatus::Dead);
        let retried = queue.retry(&id).await.expect("retry");
        assert_eq!((retried.status, retried.attempts), (JobStatus::Queued, 0));
        assert_eq!(queue.stats().await.expect("stats"), stats(1, 0, 0));
    })
    .await;
}

#[tokio::test]
async fn malformed_stream_entries_are_dead_lettered_and_the_consumer_keeps_going() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let stream = format!("{}jobs", queue.prefix());
        let mut conn = raw(&server).await;
        let _: String = query(
            &mut conn,
            redis::cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("garbage")
                .arg("1"),
        )
        .await;
        let _: String = query(
            &mut conn,
            redis::cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("id")
                .arg("no-such-job")
                .arg("kind")
                .arg("echo"),
        )
        .await;
        let good = queue.enqueue(job(1)).await.expect("enqueue").id;
        assert_eq!(
            queue.stats().await.expect("stats").depth,
            3,
            "bad entries wait like any other"
        );

        let got = queue
            .reserve("w", 10, Duration::from_millis(100))
            .await
            .expect("reserve survives bad entries");
        assert_eq!(
            got.iter().map(|d| d.record.id.as_str()).collect::<Vec<_>>(),
            [good.as_str()]
        );
        assert_eq!(
            queue.stats().await.expect("stats"),
            stats(0, 1, 2),
            "bad entries left the PEL"
        );

        let letters: redis::streams::StreamRangeReply = query(
            &mut conn,
            redis::cmd("XRANGE")
                .arg(format!("{}dead", queue.prefix()))
                .arg("-")
                .arg("+"),
        )
        .await;
        assert_eq!(letters.ids.len(), 2);
        for letter in &letters.ids {
            let reason: String = letter.get("reason").expect("a reason");
            assert!(!reason.is_empty());
            assert!(letter.contains_key("entry"));
        }
        assert_eq!(
            letters.ids[1].get::<String>("id").as_deref(),
            Some("no-such-job")
        );

        // A bad entry after good ones, and the next good job still arrives.
        let _: String = query(
            &mut conn,
            redis::cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("junk")
                .arg("x"),
        )
        .await;
        let next = queue.enqueue(job(2)).await.expect("enqueue").id;
        let got = next_delivery(&queue, "w").await;
        assert_eq!(got.record.id, next);
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 2, 3));
    })
    .await;
}

#[tokio::test]
async fn stats_stay_exact_through_a_scripted_sequence() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 0));
        for n in 0..5 {
            queue.enqueue(job(n)).await.expect("enqueue");
        }
        assert_eq!(queue.stats().await.expect("stats"), stats(5, 0, 0));

        let two = queue
            .reserve("w", 2, Duration::ZERO)
            .await
            .expect("reserve");
        assert_eq!(two.len(), 2);
        assert_eq!(queue.stats().await.expect("stats"), stats(3, 2, 0));

        queue.ack(&two[0], json!(null)).await.expect("ack");
        assert_eq!(queue.stats().await.expect("stats"), stats(3, 1, 0));

        queue.fail(&two[1], "again", false).await.expect("fail");
        assert_eq!(
            queue.stats().await.expect("stats"),
            stats(4, 0, 0),
            "3 waiting + 1 delayed"
        );

        let three = queue
            .reserve("w", 3, Duration::ZERO)
            .await
            .expect("reserve");
        assert_eq!(three.len(), 3);
        assert_eq!(queue.stats().await.expect("stats"), stats(1, 3, 0));

        queue.fail(&three[0], "fatal", true).await.expect("fail");
        assert_eq!(queue.stats().await.expect("stats"), stats(1, 2, 1));

        queue.retry(&three[0].record.id).await.expect("retry");
        assert_eq!(queue.stats().await.expect("stats"), stats(2, 2, 0));

        queue.ack(&three[1], json!(1)).await.expect("ack");
        queue.ack(&three[2], json!(2)).await.expect("ack");
        assert_eq!(queue.stats().await.expect("stats"), stats(2, 0, 0));

        // Drain: the retried job and the delayed one (once due).
        for _ in 0..2 {
            let d = next_delivery(&queue, "w").await;
            queue.ack(&d, json!(null)).await.expect("ack");
        }
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 0));
    })
    .await;
}

#[tokio::test]
async fn listing_pages_newest_first_without_duplicates_and_skips_expired_records() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let mut ids = Vec::new();
        for n in 0..25 {
            ids.push(queue.enqueue(job(n)).await.expect("enqueue").id);
        }
        let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = queue
                .list(JobStatus::Queued, cursor.as_deref(), 10)
                .await
                .expect("list");
            sizes.push(page.jobs.len());
            seen.extend(page.jobs.into_iter().map(|j| j.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(seen, newest_first, "every job once, newest first");
        assert!(
            queue
                .list(JobStatus::Running, None, 10)
                .await
                .expect("list")
                .jobs
                .is_empty()
        );

        // An expired record is skipped and pruned from the index.
        let mut conn = raw(&server).await;
        let index = format!("{}state:queued", queue.prefix());
        let _: u64 = query(
            &mut conn,
            redis::cmd("DEL").arg(format!("{}job:{}", queue.prefix(), ids[24])),
        )
        .await;
        let page = queue.list(JobStatus::Queued, None, 10).await.expect("list");
        assert_eq!(page.jobs.len(), 10);
        assert_eq!(page.jobs[0].id, ids[23]);
        let members: u64 = query(&mut conn, redis::cmd("ZCARD").arg(&index)).await;
        assert_eq!(members, 24);
        assert!(matches!(
            queue.get(&ids[24]).await,
            Err(QueueError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn job_records_and_idempotency_keys_carry_the_record_ttl() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let mut new = job(1);
        new.idempotency_key = Some("k".to_owned());
        let id = queue.enqueue(new).await.expect("enqueue").id;
        let mut conn = raw(&server).await;
        let ttl_limit = 600_000_i64;
        for key in [
            format!("{}job:{id}", queue.prefix()),
            format!("{}idem:k", queue.prefix()),
        ] {
            let pttl: i64 = query(&mut conn, redis::cmd("PTTL").arg(&key)).await;
            assert!(pttl > 0 && pttl <= ttl_limit, "{key}: PTTL {pttl}");
        }
        // Refreshed on later writes: it is still set after a run.
        let d = next_delivery(&queue, "w").await;
        queue.ack(&d, json!(null)).await.expect("ack");
        let pttl: i64 = query(
            &mut conn,
            redis::cmd("PTTL").arg(format!("{}job:{id}", queue.prefix())),
        )
        .await;
        assert!(pttl > 0 && pttl <= ttl_limit);
    })
    .await;
}

#[tokio::test]
async fn get_and_retry_report_missing_jobs_and_wrong_states() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        assert!(matches!(queue.get("nope").await, Err(QueueError::NotFound(id)) if id == "nope"));
        assert!(matches!(
            queue.retry("nope").await,
            Err(QueueError::NotFound(_))
        ));
        let id = queue.enqueue(job(1)).await.expect("enqueue").id;
        match queue.retry(&id).await {
            Err(QueueError::WrongState {
                status, expected, ..
            }) => assert_eq!((status, expected), ("queued", "dead")),
            other => panic!("expected WrongState, got {other:?}"),
        }
        queue.ping().await.expect("ping");
    })
    .await;
}

#[tokio::test]
async fn a_blocked_reserve_does_not_stall_other_calls_and_wakes_on_enqueue() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;

        let start = Instant::now();
        assert!(
            queue
                .reserve("w", 5, Duration::ZERO)
                .await
                .expect("reserve")
                .is_empty()
        );
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "zero block does not wait"
        );
        let start = Instant::now();
        assert!(
            queue
                .reserve("w", 5, Duration::from_millis(200))
                .await
                .expect("reserve")
                .is_empty()
        );
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "waited for the block"
        );

        let blocked = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.reserve("w", 5, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let start = Instant::now();
        queue.stats().await.expect("stats while a reserve blocks");
        let id = queue
            .enqueue(job(1))
            .await
            .expect("enqueue while a reserve blocks")
            .id;
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "other calls are not stalled"
        );
        let got = tokio::time::timeout(Duration::from_secs(2), blocked)
            .await
            .expect("the enqueue woke the blocked reserve")
            .expect("task")
            .expect("reserve");
        assert_eq!(
            got.iter().map(|d| d.record.id.as_str()).collect::<Vec<_>>(),
            [id.as_str()]
        );
    })
    .await;
}

#[tokio::test]
async fn connect_reports_an_unreachable_redis_quickly_with_or_without_tls() {
    within(async {
        // A port bound but never listened on: connecting is refused at once, and no other test's
        // redis-server can take the port meanwhile (a stopped server's port could be reused by
        // one started in parallel, and the connect would then succeed).
        let reserved = tokio::net::TcpSocket::new_v4().expect("socket");
        reserved
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind");
        let port = reserved.local_addr().expect("bound").port();
        let url = format!("redis://127.0.0.1:{port}/0");
        // `rediss://` is accepted (TLS is built in, see tests/redis_tls.rs) and fails the same way.
        let tls_url = url.replacen("redis://", "rediss://", 1);
        for url in [url, tls_url] {
            let start = Instant::now();
            assert!(
                matches!(
                    RedisQueue::connect(&url, "t:", config()).await,
                    Err(QueueError::Unavailable(_))
                ),
                "{url}"
            );
            assert!(
                start.elapsed() < OUTAGE_ANSWER,
                "{url} took {:?}",
                start.elapsed()
            );
        }
        drop(reserved);
    })
    .await;
}

#[tokio::test]
async fn the_same_queue_recovers_after_a_redis_restart_and_keeps_every_job() {
    within(async {
        let mut server = RedisServer::aof().await;
        let queue = connect(&server, config()).await;
        let mut ids = HashSet::new();
        for n in 0..100 {
            ids.insert(queue.enqueue(job(n)).await.expect("enqueue").id);
        }
        // Have a pooled blocking connection from before the outage.
        assert!(
            queue
                .reserve("w", 1, Duration::ZERO)
                .await
                .is_ok_and(|d| d.len() == 1)
        );
        let mut pending = queue.stats().await.expect("stats");
        assert_eq!(pending, stats(99, 1, 0));

        server.stop().await;
        for (call, result) in [
            ("ping", timed(queue.ping()).await),
            (
                "enqueue",
                timed(async { queue.enqueue(job(999)).await.map(drop) }).await,
            ),
            (
                "stats",
                timed(async { queue.stats().await.map(drop) }).await,
            ),
            (
                "reserve",
                timed(async {
                    queue
                        .reserve("w", 1, Duration::from_millis(100))
                        .await
                        .map(drop)
                })
                .await,
            ),
            (
                "maintain",
                timed(async { queue.maintain("w").await.map(drop) }).await,
            ),
            ("get", timed(async { queue.get("x").await.map(drop) }).await),
        ] {
            let (elapsed, result) = result;
            assert!(
                matches!(result, Err(QueueError::Unavailable(_))),
                "{call}: {result:?}"
            );
            assert!(elapsed < OUTAGE_ANSWER, "{call} took {elapsed:?}");
        }

        server.restart().await;
        let back = Instant::now();
        while queue.ping().await.is_err() {
            assert!(
                back.elapsed() < Duration::from_secs(5),
                "the queue did not reconnect"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pending = queue.stats().await.expect("stats after restart");
        assert_eq!(pending, stats(99, 1, 0), "all jobs survived the restart");

        let mut delivered = HashSet::new();
        while delivered.len() < 99 {
            let batch = match queue.reserve("w", 50, Duration::from_millis(200)).await {
                Ok(batch) => batch,
                // The first read on a connection from before the restart may fail once.
                Err(QueueError::Unavailable(_)) => continue,
                Err(e) => panic!("{e}"),
            };
            for d in batch {
                queue.ack(&d, json!(null)).await.expect("ack");
                assert!(delivered.insert(d.record.id));
            }
        }
        // The job reserved before the outage comes back through the visibility timeout.
        tokio::time::sleep(Duration::from_millis(250)).await;
        for d in queue.maintain("w2").await.expect("maintain") {
            queue.ack(&d, json!(null)).await.expect("ack");
            assert!(delivered.insert(d.record.id));
        }
        assert_eq!(delivered, ids);
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 0));
    })
    .await;
}

#[tokio::test]
async fn a_job_enqueued_before_a_redis_restart_is_claimed_within_a_second_after_it() {
    within(async {
        let mut server = RedisServer::aof().await;
        // A visibility timeout far beyond the test's 1 s: a job whose claim failed would only
        // come back through a reclaim, much later.
        let queue = connect(
            &server,
            QueueConfig {
                visibility_timeout: Duration::from_secs(30),
                ..config()
            },
        )
        .await;
        let id = queue.enqueue(job(1)).await.expect("enqueue").id;

        // The shared connection was in use before the restart and is not used in between: its
        // first command after the restart (the claim) meets the dead socket.
        server.restart().await;
        let back = Instant::now();
        let mut delivered = Vec::new();
        let mut errors = Vec::new();
        while delivered.is_empty() && back.elapsed() < Duration::from_secs(1) {
            match queue.reserve("w", 1, Duration::from_millis(100)).await {
                Ok(got) => delivered = got,
                Err(e) => errors.push(e.to_string()),
            }
        }
        assert_eq!(
            delivered.len(),
            1,
            "not claimed within 1 s of the restart; errors: {errors:?}"
        );
        assert_eq!(delivered[0].record.id, id);
        assert_eq!(delivered[0].record.attempts, 1);
        let record = queue.get(&id).await.expect("get");
        assert_eq!((record.status, record.attempts), (JobStatus::Running, 1));
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 1, 0));
        assert!(
            errors.is_empty(),
            "the claim was retried on the new connection, no error surfaced: {errors:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn heartbeat_and_ack_sent_first_after_a_redis_restart_are_accepted() {
    within(async {
        let mut server = RedisServer::aof().await;
        let queue = connect(&server, config()).await;
        let id = queue.enqueue(job(1)).await.expect("enqueue").id;
        let held = next_delivery(&queue, "w").await;

        server.restart().await;
        queue
            .heartbeat(&held)
            .await
            .expect("the first heartbeat after the restart");
        server.restart().await;
        queue
            .ack(&held, json!("after"))
            .await
            .expect("the first ack after the restart");
        let done = queue.get(&id).await.expect("get");
        assert_eq!((done.status, done.attempts), (JobStatus::Succeeded, 1));
        assert_eq!(queue.stats().await.expect("stats"), stats(0, 0, 0));
    })
    .await;
}

#[tokio::test]
async fn a_frozen_redis_makes_calls_fail_within_two_seconds_and_they_work_again_when_it_thaws() {
    within(async {
        let server = RedisServer::start().await;
        let queue = connect(&server, config()).await;
        let id = queue.enqueue(job(1)).await.expect("enqueue").id;

        server.freeze();
        for (call, (elapsed, result)) in [
            ("ping", timed(queue.ping()).await),
            ("get", timed(async { queue.get(&id).await.map(drop) }).await),
            (
                "reserve",
                timed(async { queue.reserve("w", 1, Duration::ZERO).await.map(drop) }).await,
            ),
        ] {
            assert!(
                matches!(result, Err(QueueError::Unavailable(_))),
                "{call}: {result:?}"
            );
            assert!(elapsed < OUTAGE_ANSWER, "{call} took {elapsed:?}");
        }

        server.thaw();
        let back = Instant::now();
        while queue.ping().await.is_err() {
            assert!(
                back.elapsed() < Duration::from_secs(5),
                "the queue did not recover"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut delivered = Vec::new();
        while delivered.is_empty() {
            assert!(
                back.elapsed() < Duration::from_secs(8),
                "the job was not delivered"
            );
            delivered = queue
                .reserve("w", 1, Duration::from_millis(100))
                .await
                .unwrap_or_default();
            // A reserve cut off by the freeze may have claimed the entry: reclaimed after the
            // visibility timeout.
            delivered.extend(queue.maintain("w").await.unwrap_or_default());
        }
        assert_eq!(delivered[0].record.id, id);
    })
    .await;
}

#[tokio::test]
async fn a_password_in_the_url_authenticates_and_a_wrong_one_is_refused_without_echoing_it() {
    within(async {
        let server = RedisServer::with_password("s3cret-pw").await;
        let queue = connect(&server, config()).await;
        queue.ping().await.expect("ping with the password");
        queue
            .enqueue(job(1))
            .await
            .expect("enqueue with the password");

        let wrong = format!("redis://:wrong-pw@127.0.0.1:{}", server.port());
        match RedisQueue::connect(&wrong, &random_prefix(), config()).await {
            Err(QueueError::Unavailable(msg)) => assert!(!msg.contains("wrong-pw"), "{msg}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        let debug = format!("{queue:?}");
        assert!(
            !debug.contains("s3cret-pw"),
            "Debug redacts the password: {debug}"
        );
    })
    .await;
}

async fn timed<T>(
    call: impl Future<Output = Result<T, QueueError>>,
) -> (Duration, Result<T, QueueError>) {
    let start = Instant::now();
    let result = call.await;
    (start.elapsed(), result)
}

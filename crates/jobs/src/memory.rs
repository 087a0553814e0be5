//! The in-memory backend: the same semantics as Redis, inside one process.
//!
//! Used by `make run` (no Redis needed: an in-process worker drains it) and by unit tests. One mutex
//! guards all state; a `Notify` wakes consumers blocked in `reserve`. Nothing survives a restart —
//! that is what the Redis backend is for.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::error::QueueError;
use crate::model::{
    Delivery, Enqueued, FailOutcome, JobRecord, JobStatus, NewJob, Page, QueueStats, now_ms,
};
use crate::queue::{QueueConfig, new_id};

/// The in-memory queue; clones share the same queue.
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    config: QueueConfig,
    inner: Arc<Mutex<State>>,
    ready: Arc<Notify>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<String, JobRecord>,
    /// Ids waiting to be claimed, oldest first.
    waiting: VecDeque<String>,
    /// Failed ids waiting for their retry time.
    delayed: Vec<(Instant, String)>,
    /// Claimed ids: consumer and claim time.
    pending: HashMap<String, (String, Instant)>,
    /// Dead ids, in the order they died.
    dead: BTreeMap<u64, String>,
    dead_seq: u64,
    idempotency: HashMap<String, String>,
    /// Receipts are unique per claim, so a late ack from a reclaimed run is ignored.
    receipt_seq: u64,
    receipts: HashMap<String, String>,
}

#[allow(
    clippy::unused_async,
    reason = "the same async signatures as the Redis backend: one contract for both"
)]
impl MemoryQueue {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config,
            inner: Arc::new(Mutex::new(State::default())),
            ready: Arc::new(Notify::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is a few
        // assignments), so a poisoned lock is taken over rather than propagated.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
        let mut s = self.state();
        if let Some(key) = &job.idempotency_key
            && let Some(id) = s.idempotency.get(key)
        {
            return Ok(Enqueued {
                id: id.clone(),
                duplicate: true,
            });
        }
        let depth = (s.waiting.len() + s.delayed.len()) as u64;
        if depth >= self.config.max_backlog {
            return Err(QueueError::Backpressure {
                depth,
                max: self.config.max_backlog,
                retry_after: self.config.retry_after,
            });
        }
        let id = new_id();
        let record = JobRecord {
            id: id.clone(),
            kind: job.kind,
            payload: job.payload,
            status: JobStatus::Queued,
            attempts: 0,
            max_attempts: self.config.max_attempts,
            last_error: None,
            result: None,
            idempotency_key: job.idempotency_key.clone(),
            traceparent: job.traceparent,
            enqueued_at_ms: now_ms(),
            started_at_ms: None,
            finished_at_ms: None,
        };
        if let Some(key) = job.idempotency_key {
            s.idempotency.insert(key, id.clone());
        }
        s.records.insert(id.clone(), record);
        s.waiting.push_back(id.clone());
        drop(s);
        self.ready.notify_one();
        Ok(Enqueued {
            id,
            duplicate: false,
        })
    }

    pub async fn get(&self, id: &str) -> Result<JobRecord, QueueError> {
        self.state()
            .records
            .get(id)
            .cloned()
            .ok_or_else(|| QueueError::NotFound(id.to_owned()))
    }

    pub async fn list(
        &self,
        status: JobStatus,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, QueueError> {
        let s = self.state();
        // Ids are UUIDv7: ordering them orders by enqueue time. Newest first.
        let mut ids: Vec<&String> = s
            .records
            .values()
            .filter(|r| r.status == status)
            .map(|r| &r.id)
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let start = cursor.map_or(0, |c| ids.iter().take_while(|id| id.as_str() >= c).count());
        let jobs: Vec<JobRecord> = ids[start..]
            .iter()
            .take(limit)
            .filter_map(|id| s.records.get(*id).cloned())
            .collect();
        let next_cursor = (start + jobs.len() < ids.len())
            .then(|| jobs.last().map(|j| j.id.clone()))
            .flatten();
        Ok(Page { jobs, next_cursor })
    }

    pub async fn retry(&self, id: &str) -> Result<JobRecord, QueueError> {
        let mut s = self.state();
        let record = s
            .records
            .get_mut(id)
            .ok_or_else(|| QueueError::NotFound(id.to_owned()))?;
        if record.status != JobStatus::Dead {
            return Err(QueueError::WrongState {
                id: id.to_owned(),
                status: record.status.as_str(),
                expected: "dead",
            });
        }
        record.status = JobStatus::Queued;
        record.attempts = 0;
        record.finished_at_ms = None;
        let record = record.clone();
        s.dead.retain(|_, dead_id| dead_id != id);
        s.waiting.push_back(id.to_owned());
        drop(s);
        self.ready.notify_one();
        Ok(record)
    }

    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        let s = self.state();
        Ok(QueueStats {
            depth: (s.waiting.len() + s.delayed.len()) as u64,
            pending: s.pending.len() as u64,
            dead: s.dead.len() as u64,
        })
    }

    pub async fn ping(&self) -> Result<(), QueueError> {
        Ok(())
    }

    fn claim(s: &mut State, id: &str, consumer: &str) -> Option<Delivery> {
        let now = now_ms();
        let record = s.records.get_mut(id)?;
        record.status = JobStatus::Running;
        record.attempts += 1;
        record.started_at_ms = Some(now);
        let record = record.clone();
        s.receipt_seq += 1;
        let receipt = s.receipt_seq.to_string();
        s.receipts.insert(id.to_owned(), receipt.clone());
        s.pending
            .insert(id.to_owned(), (consumer.to_owned(), Instant::now()));
        Some(Delivery {
            record,
            receipt,
            consumer: consumer.to_owned(),
        })
    }

    pub async fn reserve(
        &self,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + block;
        loop {
            // Register interest before looking, so an enqueue between the look and the wait
            // still wakes us.
            let notified = self.ready.notified();
            {
                let mut s = self.state();
                let mut out = Vec::new();
                while out.len() < max {
                    let Some(id) = s.waiting.pop_front() else {
                        break;
                    };
                    if let Some(d) = Self::claim(&mut s, &id, consumer) {
                        out.push(d);
                    }
                }
                if !out.is_empty() {
                    return Ok(out);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    /// Whether `delivery` is still the current claim of its job.
    fn current(s: &State, delivery: &Delivery) -> bool {
        s.receipts.get(&delivery.record.id) == Some(&delivery.receipt)
    }

    pub async fn heartbeat(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let mut s = self.state();
        if !Self::current(&s, delivery) {
            // Reclaimed by another consumer, or finished: nothing of ours to keep alive.
            return Ok(());
        }
        if let Some(claim) = s.pending.get_mut(&delivery.record.id) {
            *claim = (delivery.consumer.clone(), Instant::now());
        }
        Ok(())
    }

    pub async fn ack(
        &self,
        delivery: &Delivery,
        result: serde_json::Value,
    ) -> Result<(), QueueError> {
        let mut s = self.state();
        if !Self::current(&s, delivery) {
            return Ok(());
        }
        let id = &delivery.record.id;
        s.pending.remove(id);
        s.receipts.remove(id);
        if let Some(r) = s.records.get_mut(id) {
            r.status = JobStatus::Succeeded;
            r.result = Some(result);
            r.finished_at_ms = Some(now_ms());
        }
        Ok(())
    }

    pub async fn fail(
        &self,
        delivery: &Delivery,
        error: &str,
        permanent: bool,
    ) -> Result<FailOutcome, QueueError> {
        let mut s = self.state();
        let id = delivery.record.id.clone();
        let current = Self::current(&s, delivery);
        if current {
            s.pending.remove(&id);
            s.receipts.remove(&id);
        }
        let Some(r) = s.records.get_mut(&id) else {
            return Err(QueueError::NotFound(id));
        };
        if !current && r.status == JobStatus::Dead {
            // A late report from a run that was lost and dead-lettered meanwhile: the job is
            // already in the dead letters (once).
            return Ok(FailOutcome::Dead);
        }
        r.last_error = Some(error.to_owned());
        r.finished_at_ms = Some(now_ms());
        if permanent || r.attempts >= r.max_attempts {
            r.status = JobStatus::Dead;
            s.dead_seq += 1;
            let seq = s.dead_seq;
            s.dead.insert(seq, id);
            return Ok(FailOutcome::Dead);
        }
        r.status = JobStatus::Failed;
        let backoff = self.config.backoff(r.attempts);
        s.delayed.push((Instant::now() + backoff, id));
        Ok(FailOutcome::Retrying {
            backoff_ms: u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// A stalled job that has used all its runs: dead, not run again. Each of its runs was lost
    /// (a worker crashed or stalled), so it may well be what kills them.
    fn give_up(s: &mut State, id: &str) {
        s.receipts.remove(id);
        let Some(r) = s.records.get_mut(id) else {
            return;
        };
        let reason = lost_reason(r.attempts);
        tracing::warn!(job_id = %id, attempts = r.attempts, "{reason}: moved to the dead letters");
        r.status = JobStatus::Dead;
        r.last_error = Some(reason);
        r.finished_at_ms = Some(now_ms());
        s.dead_seq += 1;
        let seq = s.dead_seq;
        s.dead.insert(seq, id.to_owned());
    }

    pub async fn maintain(&self, consumer: &str) -> Result<Vec<Delivery>, QueueError> {
        let now = Instant::now();
        let mut s = self.state();
        let (due, later): (Vec<_>, Vec<_>) = s.delayed.drain(..).partition(|(at, _)| *at <= now);
        s.delayed = later;
        let woke = !due.is_empty();
        for (_, id) in due {
            if let Some(r) = s.records.get_mut(&id) {
                r.status = JobStatus::Queued;
            }
            s.waiting.push_back(id);
        }
        let stalled: Vec<String> = s
            .pending
            .iter()
            .filter(|(_, (_, since))| now.duration_since(*since) >= self.config.visibility_timeout)
            .map(|(id, _)| id.clone())
            .collect();
        let mut reclaimed = Vec::new();
        for id in stalled {
            s.pending.remove(&id);
            let spent = s
                .records
                .get(&id)
                .is_some_and(|r| r.attempts >= r.max_attempts);
            if spent {
                Self::give_up(&mut s, &id);
            } else if let Some(d) = Self::claim(&mut s, &id, consumer) {
                reclaimed.push(d);
            }
        }
        drop(s);
        if woke {
            self.ready.notify_waiters();
        }
        Ok(reclaimed)
    }
}

/// `last_error` of a job dead-lettered because its runs kept being reclaimed (the same text as
/// the Redis backend's).
fn lost_reason(attempts: u32) -> String {
    format!("worker lost the job {attempts} times (crashed or stalled)")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn queue(config: QueueConfig) -> MemoryQueue {
        MemoryQueue::new(config)
    }

    fn job(key: Option<&str>) -> NewJob {
        NewJob {
            kind: "sleep".into(),
            payload: json!({"duration_ms": 1}),
            idempotency_key: key.map(str::to_owned),
            traceparent: None,
        }
    }

    #[tokio::test]
    async fn a_job_goes_from_queued_to_running_to_succeeded() {
        let q = queue(QueueConfig::default());
        let id = q.enqueue(job(None)).await.expect("enqueued").id;
        assert_eq!(q.get(&id).await.expect("record").status, JobStatus::Queued);
        let d = q
            .reserve("a", 10, Duration::from_millis(10))
            .await
            .expect("reserve");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].record.status, JobStatus::Running);
        assert_eq!(d[0].record.attempts, 1);
        q.ack(&d[0], json!({"ok": true})).await.expect("ack");
        let r = q.get(&id).await.expect("record");
        assert_eq!(r.status, JobStatus::Succeeded);
        assert_eq!(r.result, Some(json!({"ok": true})));
        assert_eq!(q.stats().await.expect("stats"), QueueStats::default());
    }

    #[tokio::test]
    async fn failures_retry_with_backoff_then_die_and_can_be_retried() {
        let q = queue(QueueConfig {
            max_attempts: 2,
            backoff_base: Duration::from_millis(20),
            ..QueueConfig::default()
        });
        let id = q.enqueue(job(None)).await.expect("enqueued").id;
        let d = q.reserve("a", 1, Duration::ZERO).await.expect("reserve");
        let outcome = q.fail(&d[0], "boom", false).await.expect("fail");
        assert!(
            matches!(outcome, FailOutcome::Retrying { backoff_ms } if (16..=24).contains(&backoff_ms))
        );
        assert_eq!(q.get(&id).await.expect("record").status, JobStatus::Failed);
        assert!(
            q.reserve("a", 1, Duration::ZERO)
                .await
                .expect("reserve")
                .is_empty(),
            "not before the backoff"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(q.maintain("a").await.expect("maintain").is_empty());
        let d = q.reserve("a", 1, Duration::ZERO).await.expect("reserve");
        assert_eq!(d[0].record.attempts, 2);
        assert_eq!(
            q.fail(&d[0], "boom again", false).await.expect("fail"),
            FailOutcome::Dead
        );
        let dead = q.list(JobStatus::Dead, None, 10).await.expect("list");
        assert_eq!(dead.jobs.len(), 1);
        assert_eq!(dead.jobs[0].last_error.as_deref(), Some("boom again"));
        assert_eq!(q.stats().await.expect("stats").dead, 1);
        let again = q.retry(&id).await.expect("retry");
        assert_eq!((again.status, again.attempts), (JobStatus::Queued, 0));
        assert!(matches!(
            q.retry(&id).await,
            Err(QueueError::WrongState { .. })
        ));
        let d = q.reserve("a", 1, Duration::ZERO).await.expect("reserve");
        q.ack(&d[0], json!(null)).await.expect("ack");
        assert_eq!(q.stats().await.expect("stats").dead, 0);
    }

    #[tokio::test]
    async fn the_same_idempotency_key_gives_the_same_job() {
        let q = queue(QueueConfig::default());
        let a = q.enqueue(job(Some("k1"))).await.expect("first");
        let b = q.enqueue(job(Some("k1"))).await.expect("second");
        assert_eq!(a.id, b.id);
        assert!(!a.duplicate && b.duplicate);
        assert_eq!(q.stats().await.expect("stats").depth, 1);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_loses_nothing() {
        let q = queue(QueueConfig {
            max_backlog: 3,
            ..QueueConfig::default()
        });
        for _ in 0..3 {
            q.enqueue(job(None)).await.expect("room");
        }
        assert!(matches!(
            q.enqueue(job(None)).await,
            Err(QueueError::Backpressure {
                depth: 3,
                max: 3,
                ..
            })
        ));
        let d = q.reserve("a", 10, Duration::ZERO).await.expect("reserve");
        assert_eq!(d.len(), 3);
    }

    #[tokio::test]
    async fn jobs_held_past_the_visibility_timeout_are_reclaimed() {
        let q = queue(QueueConfig {
            visibility_timeout: Duration::from_millis(30),
            ..QueueConfig::default()
        });
        q.enqueue(job(None)).await.expect("enqueued");
        let stale = q
            .reserve("crashed", 1, Duration::ZERO)
            .await
            .expect("reserve");
        assert!(
            q.maintain("b").await.expect("maintain").is_empty(),
            "not yet"
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        let reclaimed = q.maintain("b").await.expect("maintain");
        assert_eq!(reclaimed.len(), 1);
        assert_eq!(reclaimed[0].record.attempts, 2);
        // The crashed consumer's late ack is ignored; the new claim decides.
        q.ack(&stale[0], json!("late")).await.expect("late ack");
        assert_eq!(
            q.get(&stale[0].record.id).await.expect("record").status,
            JobStatus::Running
        );
        q.ack(&reclaimed[0], json!("done")).await.expect("ack");
        assert_eq!(
            q.get(&stale[0].record.id).await.expect("record").status,
            JobStatus::Succeeded
        );
    }

    #[tokio::test]
    async fn a_job_whose_consumer_keeps_heart_beating_is_never_reclaimed_and_its_ack_counts() {
        let q = queue(QueueConfig {
            visibility_timeout: Duration::from_millis(30),
            ..QueueConfig::default()
        });
        let id = q.enqueue(job(None)).await.expect("enqueued").id;
        let held = q.reserve("a", 1, Duration::ZERO).await.expect("reserve");
        assert_eq!(held[0].consumer, "a");
        // 10 × 10 ms = more than 3 visibility timeouts, a heartbeat every third of one.
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            q.heartbeat(&held[0]).await.expect("heartbeat");
            assert!(
                q.maintain("b").await.expect("maintain").is_empty(),
                "a job with a live heartbeat is not reclaimed"
            );
        }
        q.ack(&held[0], json!("done")).await.expect("ack");
        let r = q.get(&id).await.expect("record");
        assert_eq!((r.status, r.attempts), (JobStatus::Succeeded, 1));
        assert_eq!(q.stats().await.expect("stats"), QueueStats::default());
    }

    #[tokio::test]
    async fn a_heartbeat_from_a_reclaimed_run_does_not_keep_the_new_run_alive() {
        let q = queue(QueueConfig {
            visibility_timeout: Duration::from_millis(30),
            ..QueueConfig::default()
        });
        q.enqueue(job(None)).await.expect("enqueued");
        let stale = q.reserve("a", 1, Duration::ZERO).await.expect("reserve");
        tokio::time::sleep(Duration::from_millis(40)).await;
        let second = q.maintain("b").await.expect("maintain");
        assert_eq!(second.len(), 1);
        tokio::time::sleep(Duration::from_millis(40)).await;
        q.heartbeat(&stale[0]).await.expect("stale heartbeat");
        let third = q.maintain("c").await.expect("maintain");
        assert_eq!(
            third.len(),
            1,
            "b's run stalled: the stale heartbeat did not save it"
        );
        assert_eq!(third[0].record.attempts, 3);
    }

    #[tokio::test]
    async fn a_job_reclaimed_with_no_attempts_left_goes_to_the_dead_letters() {
        let q = queue(QueueConfig {
            max_attempts: 2,
            visibility_timeout: Duration::from_millis(20),
            ..QueueConfig::default()
        });
        let id = q.enqueue(job(None)).await.expect("enqueued").id;
        q.reserve("a", 1, Duration::ZERO).await.expect("reserve");
        tokio::time::sleep(Duration::from_millis(30)).await;
        let second = q.maintain("b").await.expect("maintain");
        assert_eq!(second[0].record.attempts, 2);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            q.maintain("c").await.expect("maintain").is_empty(),
            "attempts == max_attempts: not run a third time"
        );
        let r = q.get(&id).await.expect("record");
        assert_eq!(r.status, JobStatus::Dead);
        assert_eq!(
            r.last_error.as_deref(),
            Some("worker lost the job 2 times (crashed or stalled)")
        );
        assert!(r.finished_at_ms.is_some());
        assert_eq!(
            q.stats().await.expect("stats"),
            QueueStats {
                depth: 0,
                pending: 0,
                dead: 1
            }
        );
        let dead = q.list(JobStatus::Dead, None, 10).await.expect("list");
        assert_eq!(dead.jobs.len(), 1);
        // The run that was lost last reports late: it changes nothing any more.
        q.ack(&second[0], json!("late")).await.expect("late ack");
        assert_eq!(q.get(&id).await.expect("record").status, JobStatus::Dead);
        // And it can be retried like any dead job.
        assert_eq!(q.retry(&id).await.expect("retry").attempts, 0);
    }

    #[tokio::test]
    async fn reserve_wakes_up_when_a_job_arrives() {
        let q = queue(QueueConfig::default());
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.reserve("a", 1, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = std::time::Instant::now();
        q.enqueue(job(None)).await.expect("enqueued");
        let d = waiter.await.expect("task").expect("reserve");
        assert_eq!(d.len(), 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn listing_pages_newest_first() {
        let q = queue(QueueConfig::default());
        let mut ids = Vec::new();
        for _ in 0..25 {
            ids.push(q.enqueue(job(None)).await.expect("enqueued").id);
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = q
                .list(JobStatus::Queued, cursor.as_deref(), 10)
                .await
                .expect("page");
            seen.extend(page.jobs.into_iter().map(|j| j.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        ids.reverse();
        assert_eq!(seen, ids);
    }
}

//! The worker loop, shared by blueprint-worker and the api's embedded (in-memory) mode.
//!
//! One loop claims jobs in batches while it has free slots (`concurrency`), runs each on its own
//! task inside a span that continues the enqueuing request's trace, and acknowledges or fails it.
//! While a job runs, its worker sends a heartbeat every third of the visibility timeout, so that
//! long jobs are not mistaken for the jobs of a crashed worker.
//! Every `maintain_every` it runs the queue's housekeeping (due retries back to the queue, jobs of
//! crashed workers reclaimed) and refreshes the queue gauges.
//!
//! Shutdown: when the token is cancelled the loop stops claiming; runs in flight get until the
//! drain deadline to finish. Anything unfinished stays unacknowledged, its heartbeats stop, and it
//! is reclaimed by another worker after the visibility timeout — at-least-once, never lost.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::job::{JobContext, Registry};
use crate::metrics::{JobMetrics, KindLabels, OutcomeLabels};
use crate::model::{Delivery, FailOutcome, now_ms};
use crate::queue::Queue;

/// Heartbeats per visibility timeout while a job runs: with 3, two heartbeats in a row may be lost
/// (or late) before the job looks stalled.
const HEARTBEATS_PER_TIMEOUT: u32 = 3;
/// Shortest interval between two heartbeats of one run, whatever the visibility timeout (a zero
/// timeout would otherwise make a busy loop).
const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(10);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Consumer name in the group; unique per process (e.g. hostname + pid).
    pub consumer: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Longest wait for new jobs in one claim call.
    pub poll: Duration,
    /// Interval of housekeeping (retries, reclaim, gauges).
    pub maintain_every: Duration,
    /// After shutdown is requested, how long runs in flight may take.
    pub drain_timeout: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            consumer: format!("worker-{}", std::process::id()),
            concurrency: 8,
            poll: Duration::from_millis(500),
            maintain_every: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Runs still going when the drain deadline passed (left for another worker).
    pub abandoned: usize,
}

/// A worker: queue, kinds, context, metrics.
#[derive(Debug, Clone)]
pub struct Worker {
    queue: Queue,
    registry: Registry,
    ctx: JobContext,
    metrics: JobMetrics,
    config: WorkerConfig,
    /// Cancelled when the drain deadline passes: runs still going stop their heartbeats, so that
    /// another worker reclaims them even if this process lives on.
    abandoned: CancellationToken,
}

impl Worker {
    /// A worker on `queue` running the kinds of `registry`.
    pub fn new(
        queue: Queue,
        registry: Registry,
        ctx: JobContext,
        metrics: JobMetrics,
        config: WorkerConfig,
    ) -> Self {
        Self {
            queue,
            registry,
            ctx,
            metrics,
            config,
            abandoned: CancellationToken::new(),
        }
    }

    /// Run until `shutdown` is cancelled, then drain.
    pub async fn run(mut self, shutdown: CancellationToken) -> WorkerReport {
        // Its own token, not one shared with the clone it was made from.
        self.abandoned = CancellationToken::new();
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.config.concurrency.max(1)));
        let runs = TaskTracker::new();
        let mut last_housekeeping: Option<std::time::Instant> = None;
        tracing::info!(
            consumer = %this.config.consumer,
            concurrency = this.config.concurrency,
            backend = this.queue.backend(),
            "worker started"
        );
        while !shutdown.is_cancelled() {
            if last_housekeeping.is_none_or(|t| t.elapsed() >= this.config.maintain_every) {
                this.housekeeping(&runs, &slots).await;
                last_housekeeping = Some(std::time::Instant::now());
            }
            // Wait for a free slot (or shutdown) before claiming, so claimed jobs start at once.
            let first = tokio::select! {
                () = shutdown.cancelled() => break,
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let free = slots.available_permits() + 1;
            // Not raced against shutdown: a claim dropped half-way would leave its jobs pending
            // until the visibility timeout. `poll` bounds how long shutdown waits for it.
            let deliveries = match this
                .queue
                .reserve(&this.config.consumer, free, this.config.poll)
                .await
            {
                Ok(d) => d,
                Err(err) => {
                    tracing::warn!(error = %err, "claiming jobs failed; backing off");
                    drop(first);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(this.config.poll) => continue,
                    }
                }
            };
            let mut first = Some(first);
            for delivery in deliveries {
                let permit = match first.take() {
                    Some(p) => p,
                    None => match Arc::clone(&slots).acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let worker = Arc::clone(&this);
                runs.spawn(async move {
                    worker.execute(delivery).await;
                    drop(permit);
                });
            }
        }
        runs.close();
        tracing::info!(in_flight = runs.len(), "worker draining");
        let abandoned = if tokio::time::timeout(this.config.drain_timeout, runs.wait())
            .await
            .is_err()
        {
            runs.len()
        } else {
            0
        };
        if abandoned > 0 {
            this.abandoned.cancel();
            tracing::warn!(
                abandoned,
                "drain deadline passed; unfinished jobs will be reclaimed by another worker"
            );
        }
        tracing::info!("worker stopped");
        WorkerReport { abandoned }
    }

    /// Due retries, reclaimed jobs (run here), queue gauges.
    async fn housekeeping(self: &Arc<Self>, runs: &TaskTracker, slots: &Arc<Semaphore>) {
        match self.queue.maintain(&self.config.consumer).await {
            Ok(mut waiting) => {
                for delivery in &waiting {
                    tracing::warn!(job.id = %delivery.record.id, attempt = delivery.record.attempts, "reclaimed a stalled job");
                }
                // Reclaimed jobs wait here for a free slot, possibly longer than the visibility
                // timeout: they get heartbeats meanwhile (one schedule for the whole wait), or
                // another worker would reclaim them again, spending an attempt each time.
                waiting.reverse();
                let mut ticks = self.heartbeat_ticks();
                let span = tracing::Span::current();
                while !waiting.is_empty() {
                    let permit = tokio::select! {
                        permit = Arc::clone(slots).acquire_owned() => permit,
                        never = self.keep_alive(&waiting, &mut ticks, &span) => match never {},
                    };
                    let (Ok(permit), Some(delivery)) = (permit, waiting.pop()) else {
                        return;
                    };
                    let worker = Arc::clone(self);
                    runs.spawn(async move {
                        worker.execute(delivery).await;
                        drop(permit);
                    });
                }
            }
            Err(err) => tracing::warn!(error = %err, "queue housekeeping failed"),
        }
        if let Ok(stats) = self.queue.stats().await {
            self.metrics.set_stats(stats);
        }
    }

    /// The heartbeat schedule of a claim made now: every third of the visibility timeout, the
    /// first one a third of it from now.
    fn heartbeat_ticks(&self) -> tokio::time::Interval {
        let every = (self.queue.config().visibility_timeout / HEARTBEATS_PER_TIMEOUT)
            .max(MIN_HEARTBEAT_INTERVAL);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        // After a slow heartbeat, the next one is due a full interval later, not at once.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    }

    /// Send a heartbeat for each of `deliveries` at every tick, for ever (the caller drops this
    /// future when the runs end): a job that runs longer than the visibility timeout is not
    /// reclaimed while this worker is alive. A failed heartbeat is logged and the next one tries
    /// again; two in a row may fail before the job is reclaimed. Once the drain deadline has
    /// passed ([`WorkerReport::abandoned`]), no more heartbeats: the runs are left to others.
    async fn keep_alive(
        &self,
        deliveries: &[Delivery],
        ticks: &mut tokio::time::Interval,
        span: &tracing::Span,
    ) -> Infallible {
        loop {
            ticks.tick().await;
            if self.abandoned.is_cancelled() {
                return std::future::pending().await;
            }
            for delivery in deliveries {
                if let Err(err) = self.queue.heartbeat(delivery).await {
                    tracing::warn!(parent: span, job.id = %delivery.record.id, error = %err,
                        "heartbeat failed; the job may be reclaimed if this goes on");
                }
            }
        }
    }

    /// Run one delivery and record its outcome.
    async fn execute(&self, delivery: Delivery) {
        let record = &delivery.record;
        let span = tracing::info_span!(
            "job",
            otel.name = format!("job {}", record.kind),
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
            job.id = %record.id,
            job.kind = %record.kind,
            job.attempt = record.attempts,
        );
        if let Some(traceparent) = &record.traceparent {
            let mut headers = http::HeaderMap::new();
            if let Ok(value) = http::HeaderValue::from_str(traceparent) {
                headers.insert("traceparent", value);
                let _ = span.set_parent(telemetry::traces::extract(&headers));
            }
        }
        let kind = KindLabels {
            kind: record.kind.clone(),
        };
        if record.attempts == 1 {
            let lag_ms = record
                .started_at_ms
                .unwrap_or_else(now_ms)
                .saturating_sub(record.enqueued_at_ms);
            self.metrics
                .lag
                .get_or_create(&kind)
                .observe(lag_ms as f64 / 1000.0);
        }
        let started = std::time::Instant::now();
        let run = self
            .registry
            .run(&record.kind, record.payload.clone(), self.ctx.clone())
            .instrument(span.clone());
        // Both polled by this task; the heartbeats stop (a call in flight is dropped) as soon as
        // the run ends, before its ack or fail is sent.
        let mut ticks = self.heartbeat_ticks();
        let result = tokio::select! {
            result = run => result,
            never = self.keep_alive(std::slice::from_ref(&delivery), &mut ticks, &span) => match never {},
        };
        self.metrics
            .duration
            .get_or_create(&kind)
            .observe(started.elapsed().as_secs_f64());
        let outcome = match result {
            Ok(value) => match self.queue.ack(&delivery, value).await {
                Ok(()) => "succeeded",
                Err(err) => {
                    // Not acknowledged: the job will be reclaimed and run again (at-least-once).
                    tracing::warn!(parent: &span, error = %err, "ack failed; the job will run again");
                    return;
                }
            },
            Err(job_error) => {
                span.record("otel.status_code", "ERROR");
                let message = job_error.to_string();
                match self
                    .queue
                    .fail(&delivery, &message, job_error.is_permanent())
                    .await
                {
                    Ok(FailOutcome::Retrying { backoff_ms }) => {
                        tracing::warn!(parent: &span, error = %message, backoff_ms, "job failed; will retry");
                        self.metrics.retried.inc();
                        "retried"
                    }
                    Ok(FailOutcome::Dead) => {
                        tracing::error!(parent: &span, error = %message, "job failed for good: dead letter");
                        self.metrics.dead_total.inc();
                        "dead"
                    }
                    Err(err) => {
                        tracing::warn!(parent: &span, error = %err, "recording the failure failed; the job will run again");
                        return;
                    }
                }
            }
        };
        self.metrics
            .processed
            .get_or_create(&OutcomeLabels {
                kind: record.kind.clone(),
                outcome,
            })
            .inc();
    }
}

//! The worker loop, shared by blueprint-worker and the api's embedded (in-memory) mode.
//!
//! One loop claims jobs in batches while it has free slots (`concurrency`), runs each on its own
//! task inside a span that continues the enqueuing request's trace, and acknowledges or fails it.
//! Every `maintain_every` it runs the queue's housekeeping (due retries back to the queue, jobs of
//! crashed workers reclaimed) and refreshes the queue gauges.
//!
//! Shutdown: when the token is cancelled the loop stops claiming; runs in flight get until the
//! drain deadline to finish. Anything unfinished stays unacknowledged and is reclaimed by another
//! worker after the visibility timeout — at-least-once, never lost.

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
        }
    }

    /// Run until `shutdown` is cancelled, then drain.
    pub async fn run(self, shutdown: CancellationToken) -> WorkerReport {
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
            Ok(reclaimed) => {
                for delivery in reclaimed {
                    tracing::warn!(job.id = %delivery.record.id, attempt = delivery.record.attempts, "reclaimed a stalled job");
                    let Ok(permit) = Arc::clone(slots).acquire_owned().await else {
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
        let result = self
            .registry
            .run(&record.kind, record.payload.clone(), self.ctx.clone())
            .instrument(span.clone())
            .await;
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

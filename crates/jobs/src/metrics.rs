//! Job metrics, declared in one place; the api registers the producer side, the worker all of it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::model::QueueStats;

/// Buckets of job duration and lag, in seconds: 5 ms to 2 min (the lag SLO threshold is 5 s).
pub const JOB_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// `{kind}` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

/// `{kind, outcome}` labels; outcome is `succeeded`, `retried` or `dead`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub kind: String,
    pub outcome: &'static str,
}

fn job_histogram() -> Histogram {
    Histogram::new(JOB_BUCKETS)
}

/// Every job metric.
#[derive(Debug, Clone)]
pub struct JobMetrics {
    /// Jobs accepted by enqueue.
    pub enqueued: Family<KindLabels, Counter>,
    /// Runs finished, by outcome.
    pub processed: Family<OutcomeLabels, Counter>,
    /// Seconds a run took.
    pub duration: Family<KindLabels, Histogram, fn() -> Histogram>,
    /// Seconds from enqueue to the start of the first run.
    pub lag: Family<KindLabels, Histogram, fn() -> Histogram>,
    /// Runs that failed and were scheduled again.
    pub retried: Counter,
    /// Jobs moved to the dead letters.
    pub dead_total: Counter,
    /// Jobs waiting (including those waiting for a retry time).
    pub depth: Gauge,
    /// Jobs claimed and not yet acknowledged.
    pub pending: Gauge,
    /// Jobs in the dead letters.
    pub dead: Gauge,
}

impl Default for JobMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl JobMetrics {
    /// Fresh metrics, not yet registered.
    pub fn new() -> Self {
        Self {
            enqueued: Family::default(),
            processed: Family::default(),
            duration: Family::new_with_constructor(job_histogram),
            lag: Family::new_with_constructor(job_histogram),
            retried: Counter::default(),
            dead_total: Counter::default(),
            depth: Gauge::default(),
            pending: Gauge::default(),
            dead: Gauge::default(),
        }
    }

    /// Register everything into `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "blueprint_jobs_enqueued",
            "Jobs accepted by enqueue",
            self.enqueued.clone(),
        );
        registry.register(
            "blueprint_jobs_processed",
            "Job runs finished, by outcome (succeeded, retried, dead)",
            self.processed.clone(),
        );
        registry.register(
            "blueprint_job_duration_seconds",
            "Seconds a job run took",
            self.duration.clone(),
        );
        registry.register(
            "blueprint_job_lag_seconds",
            "Seconds from enqueue to the start of a job's first run",
            self.lag.clone(),
        );
        registry.register(
            "blueprint_jobs_retried",
            "Job runs that failed and were scheduled again",
            self.retried.clone(),
        );
        registry.register(
            "blueprint_jobs_dead",
            "Jobs moved to the dead letters",
            self.dead_total.clone(),
        );
        registry.register(
            "blueprint_queue_depth",
            "Jobs waiting to run, including those waiting for a retry",
            self.depth.clone(),
        );
        registry.register(
            "blueprint_queue_pending",
            "Jobs claimed by a worker and not yet acknowledged",
            self.pending.clone(),
        );
        registry.register(
            "blueprint_queue_dead_letters",
            "Jobs in the dead letters now",
            self.dead.clone(),
        );
    }

    /// Set the queue gauges.
    pub fn set_stats(&self, stats: QueueStats) {
        self.depth
            .set(i64::try_from(stats.depth).unwrap_or(i64::MAX));
        self.pending
            .set(i64::try_from(stats.pending).unwrap_or(i64::MAX));
        self.dead.set(i64::try_from(stats.dead).unwrap_or(i64::MAX));
    }
}

//! The API's metric families, declared in one place.
//!
//! Names and labels follow podinfo so its dashboards and Flagger's built-in checks work unchanged:
//! `http_request_duration_seconds{method,path,status}` (a histogram; `path` is the matched route
//! template such as `/delay/{seconds}`, never the raw path, and `unmatched` for 404s, so a scanner
//! cannot blow up the series count) and `http_requests_total{status}`. Both carry the trace id of a
//! sample request as an OpenMetrics exemplar, so a latency spike on a dashboard links to a trace.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Upper bounds of the latency buckets, in seconds (Prometheus' defaults, as podinfo uses; 0.25 s is
/// the latency SLO threshold).
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Labels of `http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// Labels of `http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: u16,
}

/// The exemplar label set: the trace that produced the sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceLabels {
    pub trace_id: String,
}

type Histogram = HistogramWithExemplars<TraceLabels>;
type Counter = CounterWithExemplar<TraceLabels>;

fn latency_histogram() -> Histogram {
    HistogramWithExemplars::new(LATENCY_BUCKETS.into_iter())
}

/// Every metric the API exports, and the registry that renders them.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The registry with build info, process metrics and the families below.
    pub registry: Arc<Registry>,
    /// Seconds spent serving HTTP requests.
    pub request_duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
    /// The total number of HTTP requests.
    pub requests: Family<StatusLabels, Counter>,
}

impl Metrics {
    /// Register the families (and the job producer's) into a fresh registry labelled with this
    /// build.
    pub fn new(version: &str, revision: &str, jobs: &jobs::metrics::JobMetrics) -> Self {
        let mut registry = telemetry::metrics::base_registry(version, revision);
        jobs.register(&mut registry);
        let request_duration =
            Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let requests = Family::<StatusLabels, Counter>::default();
        registry.register(
            "http_request_duration_seconds",
            "Seconds spent serving HTTP requests",
            request_duration.clone(),
        );
        registry.register(
            "http_requests",
            "The total number of HTTP requests",
            requests.clone(),
        );
        Self {
            registry: Arc::new(registry),
            request_duration,
            requests,
        }
    }

    /// Record one finished request.
    pub fn observe(
        &self,
        method: &str,
        path: &str,
        status: u16,
        seconds: f64,
        trace_id: Option<String>,
    ) {
        let exemplar = trace_id.map(|trace_id| TraceLabels { trace_id });
        self.request_duration
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                path: path.to_owned(),
                status,
            })
            .observe(seconds, exemplar.clone(), None);
        self.requests
            .get_or_create(&StatusLabels { status })
            .inc_by(1, exemplar, None);
    }

    /// Render for a scrape with this `Accept` header.
    pub fn render(&self, accept: Option<&str>) -> (&'static str, String) {
        telemetry::metrics::render(&self.registry, accept)
    }
}

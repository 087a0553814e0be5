//! Prometheus metrics shared by every service: build info, process metrics, and rendering.
//!
//! Services declare their own metric families in one struct each and register them into the
//! [`prometheus_client::registry::Registry`] that [`base_registry`] returns, which already holds:
//!
//! * `blueprint_build_info{version,revision}` — always 1; join on it to label dashboards by release.
//! * `process_*` — CPU seconds, resident and virtual memory bytes, open and max file descriptors,
//!   start time, threads; read from `/proc/self` at scrape time (Linux only; absent elsewhere).
//!
//! [`render`] picks the format from the scrape's `Accept` header: OpenMetrics 1.0 (which carries
//! exemplars — the trace ids of sample requests) when the scraper asks for it, as Prometheus does
//! by default, and the classic Prometheus text format 0.0.4 otherwise (curl, `promtool check metrics`).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

/// Content type of OpenMetrics 1.0 text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format 0.0.4.
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Labels of `blueprint_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// Semantic version of the binary.
    pub version: String,
    /// VCS revision it was built from (`unknown` when not given at build time).
    pub revision: String,
}

/// A registry pre-filled with build info and process metrics.
pub fn base_registry(version: &str, revision: &str) -> Registry {
    let mut registry = Registry::default();
    let build_info = Family::<BuildLabels, Gauge>::default();
    build_info
        .get_or_create(&BuildLabels {
            version: version.to_owned(),
            revision: revision.to_owned(),
        })
        .set(1);
    registry.register(
        "blueprint_build_info",
        "Build information: always 1, labelled with the version and VCS revision",
        build_info,
    );
    registry.register_collector(Box::new(ProcessCollector));
    registry
}

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// Encode `registry` in the format the scraper asked for; returns `(content type, body)`.
pub fn render(registry: &Registry, accept: Option<&str>) -> (&'static str, String) {
    let mut body = String::with_capacity(8 * 1024);
    if wants_openmetrics(accept) {
        // Writing to a String cannot fail; an error here would be a bug in an encoder.
        prometheus_client::encoding::text::encode(&mut body, registry)
            .expect("encoding metrics into a String");
        (OPENMETRICS_CONTENT_TYPE, body)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut body, registry)
            .expect("encoding metrics into a String");
        (PROMETHEUS_CONTENT_TYPE, body)
    }
}

/// Process metrics in the names the Prometheus client libraries use, read at scrape time.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// One scrape's reading of `/proc/self`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessSample {
    /// User + system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub resident_memory_bytes: u64,
    /// Virtual memory size, bytes.
    pub virtual_memory_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// Soft limit on file descriptors.
    pub max_fds: u64,
    /// Process start, seconds since the Unix epoch.
    pub start_time_seconds: f64,
    /// OS threads.
    pub threads: u64,
}

impl ProcessSample {
    /// Read this process's figures; `None` where `/proc` is not available.
    pub fn read() -> Option<Self> {
        let me = procfs::process::Process::myself().ok()?;
        let stat = me.stat().ok()?;
        let ticks = procfs::ticks_per_second() as f64;
        let page = procfs::page_size();
        let boot = procfs::boot_time_secs().ok()? as f64;
        let open_fds = me.fd_count().ok()? as u64;
        let max_fds = me
            .limits()
            .ok()
            .and_then(|l| match l.max_open_files.soft_limit {
                procfs::process::LimitValue::Value(v) => Some(v),
                procfs::process::LimitValue::Unlimited => None,
            })
            .unwrap_or(0);
        Some(Self {
            cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
            resident_memory_bytes: stat.rss * page,
            virtual_memory_bytes: stat.vsize,
            open_fds,
            max_fds,
            start_time_seconds: boot + stat.starttime as f64 / ticks,
            threads: stat.num_threads as u64,
        })
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = ProcessSample::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges: [(&str, &str, f64); 6] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                s.resident_memory_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                s.virtual_memory_bytes as f64,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                s.open_fds as f64,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                s.max_fds as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                s.start_time_seconds,
            ),
            ("process_threads", "Number of OS threads.", s.threads as f64),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_sample_reflects_this_process() {
        let s = ProcessSample::read().expect("/proc is available on Linux");
        assert!(s.resident_memory_bytes > 0);
        assert!(s.open_fds >= 3, "stdin, stdout and stderr at least");
        assert!(s.max_fds >= s.open_fds);
        assert!(s.threads >= 1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs_f64();
        assert!(s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 3600.0);
    }

    #[test]
    fn plain_scrapes_get_prometheus_text_and_openmetrics_scrapes_get_eof() {
        let registry = base_registry("1.2.3", "abc123");
        let (ct, text) = render(&registry, None);
        assert_eq!(ct, PROMETHEUS_CONTENT_TYPE);
        assert!(text.contains("blueprint_build_info{version=\"1.2.3\",revision=\"abc123\"} 1"));
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
        assert!(text.contains("process_resident_memory_bytes "));
        assert!(!text.contains("# EOF"));

        let (ct, om) = render(
            &registry,
            Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
        );
        assert_eq!(ct, OPENMETRICS_CONTENT_TYPE);
        assert!(om.ends_with("# EOF\n"));
    }
}

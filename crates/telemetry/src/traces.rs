//! OpenTelemetry traces, configured only by the standard `OTEL_*` environment variables.
//!
//! * Export is **off** unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is
//!   set, or when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
//! * The transport is OTLP over HTTP: `http/protobuf` (default, as the specification asks) or
//!   `http/json`, chosen by `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`.
//!   `grpc` is refused with a clear error rather than silently sending HTTP to a gRPC port.
//! * Endpoint, headers, timeout, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and the
//!   `OTEL_TRACES_SAMPLER*` variables are read by the OpenTelemetry SDK itself.
//!
//! Even with export off, an SDK tracer provider is installed so that every request gets real trace
//! and span ids: they show in the logs and in the `traceparent` the service propagates downstream.

use std::time::Duration;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};

use crate::{TelemetryConfig, TelemetryError};

/// How long shutdown waits for the exporter to flush buffered spans, in seconds.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracer provider and whether it exports.
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
    exporting: bool,
}

/// Read one environment variable, treating empty as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether the `OTEL_*` variables ask for span export.
pub fn export_requested() -> bool {
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let none = env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
    let endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        || env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
    endpoint && !disabled && !none
}

/// The OTLP protocol named by the environment; `http/protobuf` when unset.
pub fn protocol_from_env() -> Result<Protocol, TelemetryError> {
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(value) = env(var) {
            return match value.to_ascii_lowercase().as_str() {
                "http/protobuf" => Ok(Protocol::HttpBinary),
                "http/json" => Ok(Protocol::HttpJson),
                "grpc" => Err(TelemetryError::OtelEnv {
                    var,
                    value,
                    reason: "this build exports OTLP over HTTP only; use http/protobuf and the collector's HTTP port (4318)",
                }),
                _ => Err(TelemetryError::OtelEnv {
                    var,
                    value,
                    reason: "expected http/protobuf or http/json",
                }),
            };
        }
    }
    Ok(Protocol::HttpBinary)
}

impl Tracing {
    /// Build the provider from the `OTEL_*` environment.
    pub fn from_env(config: &TelemetryConfig) -> Result<Self, TelemetryError> {
        let mut resource = Resource::builder();
        if env("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(config.service_name);
        }
        let resource = resource
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                config.service_version,
            ))
            .build();
        let builder = SdkTracerProvider::builder().with_resource(resource);
        if !export_requested() {
            return Ok(Self {
                provider: builder.build(),
                exporting: false,
            });
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol_from_env()?)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        Ok(Self {
            provider: builder.with_batch_exporter(exporter).build(),
            exporting: true,
        })
    }

    /// The tracer bridged into `tracing` by `tracing-opentelemetry`.
    pub fn tracer(&self) -> Tracer {
        self.provider.tracer("sre-blueprint")
    }

    /// Whether spans leave the process.
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// Flush and stop; errors are logged, never fatal at exit.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.force_flush() {
            tracing::warn!(error = %err, "flushing spans failed");
        }
        if let Err(err) = self.provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
            tracing::warn!(error = %err, "stopping the span exporter failed");
        }
    }
}

/// Install W3C tracecontext + baggage as the global propagator.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

/// The remote parent context carried by `headers` (`traceparent`, `tracestate`, `baggage`).
pub fn extract(headers: &http::HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&opentelemetry_http::HeaderExtractor(headers))
    })
}

/// Write `cx` into outgoing `headers`, so the next hop continues the trace.
pub fn inject(cx: &opentelemetry::Context, headers: &mut http::HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(cx, &mut opentelemetry_http::HeaderInjector(headers));
    });
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TraceContextExt;

    use super::*;

    #[test]
    fn a_traceparent_round_trips_through_extract_and_inject() {
        install_propagator();
        let mut incoming = http::HeaderMap::new();
        incoming.insert(
            "traceparent",
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        );
        incoming.insert("baggage", http::HeaderValue::from_static("tenant=acme"));
        let cx = extract(&incoming);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let mut outgoing = http::HeaderMap::new();
        inject(&cx, &mut outgoing);
        assert_eq!(
            outgoing["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(outgoing["baggage"], "tenant=acme");
    }
}

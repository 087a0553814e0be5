//! JSON log lines.
//!
//! One object per line, with a fixed head so log pipelines (Loki, Alloy, the OpenTelemetry Collector)
//! can parse every service the same way:
//!
//! ```json
//! {"ts":"2026-11-26T05:36:10.123456Z","level":"info","msg":"request","target":"blueprint_api::http",
//!  "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","status":200}
//! ```
//!
//! `trace_id`/`span_id` appear when the event happens inside a span; they are the OpenTelemetry ids,
//! so a log line joins its trace in the trace backend. The event's own fields follow, flattened.

use std::fmt;
use std::io::{self, Write};
use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt;
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// A `tracing-subscriber` layer writing one JSON object per event to `writer`.
pub fn json_layer<W>(writer: W) -> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    JsonLayer {
        writer,
        dispatch: OnceLock::new(),
    }
}

/// The layer behind [`json_layer`].
///
/// It keeps a weak handle on the dispatcher it is registered with: the OpenTelemetry ids of the
/// current span are looked up through it, because inside a subscriber callback `Span::current()`
/// cannot reach the dispatcher.
pub struct JsonLayer<W> {
    writer: W,
    dispatch: OnceLock<WeakDispatch>,
}

impl<W> fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer").finish_non_exhaustive()
    }
}

impl<S, W> tracing_subscriber::Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        // The event's own fields are written first into their own buffer, because the message
        // comes out of the same visit and belongs in the head.
        let mut fields = FieldWriter::default();
        event.record(&mut fields);

        let mut line = Vec::with_capacity(256 + fields.out.len());
        line.extend_from_slice(b"{\"ts\":");
        push_json_str(&mut line, &now_rfc3339());
        line.extend_from_slice(b",\"level\":\"");
        line.extend_from_slice(level_name(*meta.level()).as_bytes());
        line.extend_from_slice(b"\",\"msg\":");
        push_json_str(&mut line, fields.message.as_deref().unwrap_or(""));
        line.extend_from_slice(b",\"target\":");
        push_json_str(&mut line, meta.target());
        let span = ctx.event_span(event);
        let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
        if let (Some(span), Some(dispatch)) = (span, dispatch)
            && let Some(cx) = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)
        {
            let otel_span = cx.span();
            let sc = otel_span.span_context();
            if sc.is_valid() {
                // Hex ids need no escaping.
                let _ = write!(
                    line,
                    ",\"trace_id\":\"{}\",\"span_id\":\"{}\"",
                    sc.trace_id(),
                    sc.span_id()
                );
            }
        }
        line.extend_from_slice(&fields.out);
        line.extend_from_slice(b"}\n");
        // One write per line, so lines from concurrent tasks never interleave; a failed write to
        // stdout has nowhere better to be reported.
        let _ = self.writer.make_writer_for(meta).write_all(&line);
    }
}

/// The fixed head's keys; an event field with one of these names is written as `field.<name>`.
const HEAD: [&str; 6] = ["ts", "level", "msg", "target", "trace_id", "span_id"];

fn level_name(level: tracing::Level) -> &'static str {
    match level {
        tracing::Level::ERROR => "error",
        tracing::Level::WARN => "warn",
        tracing::Level::INFO => "info",
        tracing::Level::DEBUG => "debug",
        tracing::Level::TRACE => "trace",
    }
}

/// Append `s` as a JSON string (quoted and escaped).
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Writes an event's fields as `,"name":value` pairs; `message` is kept apart for the head.
#[derive(Default)]
struct FieldWriter {
    message: Option<String>,
    out: Vec<u8>,
}

impl FieldWriter {
    fn key(&mut self, field: &Field) {
        let name = field.name();
        self.out.push(b',');
        if HEAD.contains(&name) {
            push_json_str(&mut self.out, &format!("field.{name}"));
        } else {
            push_json_str(&mut self.out, name);
        }
        self.out.push(b':');
    }

    fn raw(&mut self, field: &Field, value: impl std::fmt::Display) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn string(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.key(field);
            push_json_str(&mut self.out, value);
        }
    }
}

impl Visit for FieldWriter {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, value);
        } else {
            self.raw(field, "null");
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.string(field, &value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.string(field, &format!("{value:?}"));
    }
}

/// A writer that discards everything; for benchmarks and tests that want the formatting cost only.
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl io::Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("buffer lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(buffer: &Buffer) -> Vec<Value> {
        let bytes = buffer.0.lock().expect("buffer lock").clone();
        String::from_utf8(bytes)
            .expect("utf-8 logs")
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
            .collect()
    }

    #[test]
    fn an_event_outside_a_span_has_the_fixed_head_and_its_fields() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                status = 503_u64,
                ratio = 0.5,
                ok = false,
                "readiness dropped"
            );
        });
        let line = &lines(&buffer)[0];
        assert_eq!(line["level"], "warn");
        assert_eq!(line["msg"], "readiness dropped");
        assert_eq!(line["target"], "telemetry::logs::tests");
        assert_eq!(line["status"], 503);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["ok"], false);
        assert!(line.get("trace_id").is_none(), "no span, no trace id");
        let ts = line["ts"].as_str().expect("ts is a string");
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
            .expect("ts is RFC 3339");
    }

    #[test]
    fn strings_are_escaped_and_odd_numbers_stay_valid_json() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(
                path = "/a\"b\\c\n",
                nan = f64::NAN,
                big = u64::MAX,
                neg = -5_i64,
                err = &std::io::Error::other("disk \"full\"") as &dyn std::error::Error,
                dbg = ?Some("x"),
                "line one\nline \"two\""
            );
        });
        let line = &lines(&buffer)[0];
        assert_eq!(line["msg"], "line one\nline \"two\"");
        assert_eq!(line["level"], "error");
        assert_eq!(line["path"], "/a\"b\\c\n");
        assert_eq!(line["nan"], Value::Null);
        assert_eq!(line["big"], u64::MAX);
        assert_eq!(line["neg"], -5);
        assert_eq!(line["err"], "disk \"full\"");
        assert_eq!(line["dbg"], "Some(\"x\")");
    }

    #[test]
    fn an_event_inside_a_traced_span_carries_the_trace_and_span_ids() {
        use opentelemetry::trace::TracerProvider as _;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            let _entered = span.enter();
            tracing::info!(
                message = "inside",
                msg = "a field that clashes with the head"
            );
        });
        let line = &lines(&buffer)[0];
        assert_eq!(line["msg"], "inside");
        assert_eq!(line["field.msg"], "a field that clashes with the head");
        let trace_id = line["trace_id"].as_str().expect("trace id present");
        let span_id = line["span_id"].as_str().expect("span id present");
        assert_eq!(trace_id.len(), 32);
        assert_eq!(span_id.len(), 16);
        assert_ne!(trace_id, "0".repeat(32));
    }
}

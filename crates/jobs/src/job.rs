//! Typed jobs: the [`Job`] trait, the demo kinds of the course, and the [`Registry`].
//!
//! A job kind is a type with a unique `NAME`, a serde payload (the type itself) and an async `run`.
//! The registry maps names to kinds; it validates a payload at enqueue — so a bad request is a 400
//! naming the field, not a dead job later — and runs a payload in the worker.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::QueueError;

/// What a job gets to run with.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// HTTP client for jobs that call out (`checksum`, `http-probe`).
    pub http: reqwest::Client,
    /// Base URL of blueprint-api, where `checksum` reads blobs (`GET /store/{hash}`).
    pub api_url: String,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth retrying (a flaky dependency, a timeout).
    #[error("{0}")]
    Retryable(String),
    /// Will fail the same way every time (bad data): straight to the dead letters.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    /// Whether retries are pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }
}

/// A kind of background job.
pub trait Job: DeserializeOwned + Send + 'static {
    /// The kind's unique name, as clients send it in `kind`.
    const NAME: &'static str;

    /// Run once. Runs may repeat (at-least-once delivery), so a run must be safe to repeat.
    fn run(
        self,
        ctx: JobContext,
    ) -> impl Future<Output = Result<serde_json::Value, JobError>> + Send;
}

/// Longest `sleep`, in milliseconds: a job must finish within a worker's drain deadline.
pub const MAX_SLEEP_MS: u64 = 60_000;
/// Longest `cpu` burn, in milliseconds.
pub const MAX_CPU_MS: u64 = 10_000;

/// `sleep`: wait `duration_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sleep {
    /// Milliseconds to wait, at most [`MAX_SLEEP_MS`].
    pub duration_ms: u64,
}

impl Job for Sleep {
    const NAME: &'static str = "sleep";

    async fn run(self, _ctx: JobContext) -> Result<serde_json::Value, JobError> {
        tokio::time::sleep(Duration::from_millis(self.duration_ms)).await;
        Ok(serde_json::json!({ "slept_ms": self.duration_ms }))
    }
}

/// `cpu`: burn a core for `duration_ms` (for autoscaling labs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    /// Milliseconds of CPU to burn, at most [`MAX_CPU_MS`].
    pub duration_ms: u64,
}

impl Job for Cpu {
    const NAME: &'static str = "cpu";

    async fn run(self, _ctx: JobContext) -> Result<serde_json::Value, JobError> {
        let ms = self.duration_ms;
        // Burning on a blocking thread keeps the async workers free.
        let hashes = tokio::task::spawn_blocking(move || {
            let until = Instant::now() + Duration::from_millis(ms);
            let mut digest = [0_u8; 32];
            let mut rounds = 0_u64;
            while Instant::now() < until {
                digest = Sha256::digest(digest).into();
                rounds += 1;
            }
            rounds
        })
        .await
        .map_err(|e| JobError::Retryable(format!("cpu burner failed: {e}")))?;
        Ok(serde_json::json!({ "burned_ms": ms, "hashes": hashes }))
    }
}

/// `flaky`: fail with probability `p` (for retry and dead-letter labs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flaky {
    /// Probability of failure, 0.0–1.0.
    pub p: f64,
}

impl Job for Flaky {
    const NAME: &'static str = "flaky";

    async fn run(self, _ctx: JobContext) -> Result<serde_json::Value, JobError> {
        if rand::random::<f64>() < self.p {
            Err(JobError::Retryable(format!(
                "flaky job failed (p = {})",
                self.p
            )))
        } else {
            Ok(serde_json::json!({ "ok": true }))
        }
    }
}

/// `checksum`: fetch a blob from the api's store and verify its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checksum {
    /// The blob's SHA-256, 64 lower-case hex digits.
    pub hash: String,
}

impl Job for Checksum {
    const NAME: &'static str = "checksum";

    async fn run(self, ctx: JobContext) -> Result<serde_json::Value, JobError> {
        let url = format!("{}/store/{}", ctx.api_url.trim_end_matches('/'), self.hash);
        let resp = ctx
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| JobError::Retryable(format!("GET {url}: {e}")))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(JobError::Permanent(format!("no blob {}", self.hash))),
            s => return Err(JobError::Retryable(format!("GET {url}: status {s}"))),
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| JobError::Retryable(format!("reading {url}: {e}")))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != self.hash {
            return Err(JobError::Permanent(format!(
                "blob {} has SHA-256 {actual}",
                self.hash
            )));
        }
        Ok(serde_json::json!({ "bytes": bytes.len(), "sha256": actual, "verified": true }))
    }
}

/// `http-probe`: a synthetic check of a URL; records status and latency.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// `http://` URL to GET.
    pub url: String,
    /// Status that counts as success [default: any 2xx].
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Time limit, in milliseconds [default: 5000].
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl Job for HttpProbe {
    const NAME: &'static str = "http-probe";

    async fn run(self, ctx: JobContext) -> Result<serde_json::Value, JobError> {
        let timeout = Duration::from_millis(self.timeout_ms.unwrap_or(5_000));
        let started = Instant::now();
        let resp = ctx
            .http
            .get(&self.url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| JobError::Retryable(format!("GET {}: {e}", self.url)))?;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let status = resp.status().as_u16();
        let ok = self
            .expect_status
            .map_or(resp.status().is_success(), |want| want == status);
        if ok {
            Ok(serde_json::json!({ "status": status, "latency_ms": latency_ms }))
        } else {
            Err(JobError::Retryable(format!(
                "GET {}: status {status}, latency {latency_ms:.1} ms",
                self.url
            )))
        }
    }
}

type BoxedRun = Pin<Box<dyn Future<Output = Result<serde_json::Value, JobError>> + Send>>;

/// One registered kind: how to check a payload and how to run it.
#[derive(Clone, Copy)]
struct Kind {
    validate: fn(&str, &serde_json::Value) -> Result<(), QueueError>,
    run: fn(serde_json::Value, JobContext) -> BoxedRun,
}

fn parse<J: Job>(kind: &str, payload: &serde_json::Value) -> Result<J, QueueError> {
    serde_path_to_error::deserialize::<_, J>(payload).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // A missing field is reported at the parent path; the name is in the message.
        let field = if path == "." {
            message.split('`').nth(1).map(str::to_owned)
        } else {
            Some(path)
        };
        QueueError::InvalidPayload {
            kind: kind.to_owned(),
            field,
            message,
        }
    })
}

fn validate<J: Job + Bounded>(kind: &str, payload: &serde_json::Value) -> Result<(), QueueError> {
    parse::<J>(kind, payload)?
        .check()
        .map_err(|(field, message)| QueueError::InvalidPayload {
            kind: kind.to_owned(),
            field: Some(field.to_owned()),
            message,
        })
}

fn run<J: Job>(payload: serde_json::Value, ctx: JobContext) -> BoxedRun {
    Box::pin(async move {
        let job = parse::<J>(J::NAME, &payload).map_err(|e| JobError::Permanent(e.to_string()))?;
        job.run(ctx).await
    })
}

/// Range checks beyond the payload's shape: `(field, message)` on failure.
pub trait Bounded {
    /// Check the values.
    fn check(&self) -> Result<(), (&'static str, String)>;
}

impl Bounded for Sleep {
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.duration_ms > MAX_SLEEP_MS {
            return Err(("duration_ms", format!("at most {MAX_SLEEP_MS} ms")));
        }
        Ok(())
    }
}

impl Bounded for Cpu {
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.duration_ms > MAX_CPU_MS {
            return Err(("duration_ms", format!("at most {MAX_CPU_MS} ms")));
        }
        Ok(())
    }
}

impl Bounded for Flaky {
    fn check(&self) -> Result<(), (&'static str, String)> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(("p", format!("{} is not a probability in 0.0–1.0", self.p)));
        }
        Ok(())
    }
}

impl Bounded for Checksum {
    fn check(&self) -> Result<(), (&'static str, String)> {
        let valid = self.hash.len() == 64
            && self
                .hash
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(("hash", "must be 64 lower-case hex digits".to_owned()));
        }
        Ok(())
    }
}

impl Bounded for HttpProbe {
    fn check(&self) -> Result<(), (&'static str, String)> {
        // The jobs' HTTP client is built without TLS, so an https:// URL would fail every run:
        // it is refused at enqueue instead.
        if !self.url.starts_with("http://") {
            return Err((
                "url",
                "must be an http:// URL (the probe client has no TLS)".to_owned(),
            ));
        }
        if let Some(code) = self.expect_status
            && !(100..=599).contains(&code)
        {
            return Err(("expect_status", format!("{code} is not an HTTP status")));
        }
        if self.timeout_ms.is_some_and(|t| t == 0 || t > 60_000) {
            return Err(("timeout_ms", "must be 1–60000".to_owned()));
        }
        Ok(())
    }
}

/// The job kinds a process knows.
#[derive(Clone)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Kind>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

impl Default for Registry {
    /// All demo kinds.
    fn default() -> Self {
        Self::empty()
            .with::<Sleep>()
            .with::<Cpu>()
            .with::<Flaky>()
            .with::<Checksum>()
            .with::<HttpProbe>()
    }
}

impl Registry {
    /// No kinds.
    pub fn empty() -> Self {
        Self {
            kinds: BTreeMap::new(),
        }
    }

    /// Register `J`. Panics if the name is taken: names must be unique, and that is a bug.
    #[must_use]
    pub fn with<J: Job + Bounded>(mut self) -> Self {
        let previous = self.kinds.insert(
            J::NAME,
            Kind {
                validate: validate::<J>,
                run: run::<J>,
            },
        );
        assert!(previous.is_none(), "job kind {} registered twice", J::NAME);
        self
    }

    /// The registered names.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    fn kind(&self, name: &str) -> Result<Kind, QueueError> {
        self.kinds
            .get(name)
            .copied()
            .ok_or_else(|| QueueError::UnknownKind {
                kind: name.to_owned(),
                known: self.names().collect::<Vec<_>>().join(", "),
            })
    }

    /// Check that `kind` exists and `payload` fits it.
    pub fn validate(&self, kind: &str, payload: &serde_json::Value) -> Result<(), QueueError> {
        (self.kind(kind)?.validate)(kind, payload)
    }

    /// Run one job. An unknown kind or a payload that no longer parses is a permanent failure.
    pub async fn run(
        &self,
        kind: &str,
        payload: serde_json::Value,
        ctx: JobContext,
    ) -> Result<serde_json::Value, JobError> {
        let k = self
            .kind(kind)
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        (k.run)(payload, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> JobContext {
        JobContext {
            http: reqwest::Client::new(),
            api_url: "http://127.0.0.1:9".to_owned(),
        }
    }

    #[test]
    fn bad_payloads_are_rejected_naming_the_field() {
        let r = Registry::default();
        let cases = [
            ("sleep", json!({}), "duration_ms"),
            ("sleep", json!({"duration_ms": "soon"}), "duration_ms"),
            ("sleep", json!({"duration_ms": 60_001}), "duration_ms"),
            ("cpu", json!({"duration_ms": -1}), "duration_ms"),
            ("flaky", json!({"p": 1.5}), "p"),
            ("checksum", json!({"hash": "abc"}), "hash"),
            ("http-probe", json!({"url": "ftp://x"}), "url"),
            ("http-probe", json!({"url": "https://x"}), "url"),
            (
                "http-probe",
                json!({"url": "http://x", "expect_status": 42}),
                "expect_status",
            ),
        ];
        for (kind, payload, field) in cases {
            match r.validate(kind, &payload) {
                Err(QueueError::InvalidPayload { field: Some(f), .. }) => {
                    assert_eq!(f, field, "{kind} {payload}");
                }
                other => panic!("{kind} {payload}: {other:?}"),
            }
        }
        assert!(matches!(
            r.validate("sleep", &json!({"duration_ms": 1, "extra": true})),
            Err(QueueError::InvalidPayload { .. })
        ));
        assert!(matches!(
            r.validate("nope", &json!({})),
            Err(QueueError::UnknownKind { .. })
        ));
        assert!(r.validate("sleep", &json!({"duration_ms": 5})).is_ok());
    }

    #[tokio::test]
    async fn demo_kinds_run() {
        let r = Registry::default();
        let out = r
            .run("sleep", json!({"duration_ms": 1}), ctx())
            .await
            .expect("sleep runs");
        assert_eq!(out["slept_ms"], 1);
        let out = r
            .run("cpu", json!({"duration_ms": 5}), ctx())
            .await
            .expect("cpu runs");
        assert!(out["hashes"].as_u64().expect("hashes") > 0);
        assert!(r.run("flaky", json!({"p": 1.0}), ctx()).await.is_err());
        assert!(r.run("flaky", json!({"p": 0.0}), ctx()).await.is_ok());
        let err = r
            .run("nope", json!({}), ctx())
            .await
            .expect_err("unknown kind");
        assert!(err.is_permanent());
        let err = r
            .run("sleep", json!({"bad": 1}), ctx())
            .await
            .expect_err("bad payload");
        assert!(err.is_permanent());
    }
}

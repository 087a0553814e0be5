//! Test harness: the real `blueprint-worker` binary as a child process, a producer-side queue on
//! the same Redis, and small polling helpers. Every wait has a limit in seconds.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jobs::QueueError;
use jobs::model::{JobRecord, JobStatus, NewJob};
use jobs::queue::{Queue, QueueConfig};
use jobs::redis::RedisQueue;

/// Path of the built `blueprint-worker` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blueprint-worker"))
}

/// A free loopback port (bound, then released; the child binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A key prefix of its own for each test, so nothing leaks between tests.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "it-{}-{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The worker binary running as a child; killed (SIGKILL) on drop if still running. Its stdout
/// (JSON logs) goes to a file, so a chatty child can never block on a full pipe; a failing test
/// prints it.
pub struct WorkerProcess {
    pub child: Child,
    /// The admin port.
    pub port: u16,
    logs: tempfile::NamedTempFile,
}

impl WorkerProcess {
    /// Start `blueprint-worker --host 127.0.0.1 --port <free>` with `args`.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_with(args, &[])
    }

    /// Start `blueprint-worker --host 127.0.0.1 --port <free>` with `args` and `envs` (no other
    /// settings leak in from the test's environment).
    pub fn spawn_with(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let port = free_port();
        let logs = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("BLUEPRINT_REDIS_URL")
            .env_remove("BLUEPRINT_CONFIG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(logs.reopen().expect("log file handle"))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("blueprint-worker starts");
        Self { child, port, logs }
    }

    /// Start against `redis` with `args` and wait until `/readyz` answers 200 (at most 10 s).
    pub async fn start_ready(redis_url: &str, prefix: &str, args: &[&str]) -> Self {
        let mut all = vec!["--redis-url", redis_url, "--queue-prefix", prefix];
        all.extend_from_slice(args);
        let mut worker = Self::spawn(&all);
        worker
            .wait_for("/readyz", 200, Duration::from_secs(10))
            .await;
        worker
    }

    /// GET `path` on the admin port: `(status, body)`, or `None` if nothing answered.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        get_with(self.port, path, None).await
    }

    /// Poll `path` until it answers `status`; returns how long that took. Panics after `limit`
    /// or if the process exits.
    pub async fn wait_for(&mut self, path: &str, status: u16, limit: Duration) -> Duration {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < limit {
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("blueprint-worker exited early with {exit}\n{}", self.logs());
            }
            last = self.get(path).await;
            if last.as_ref().is_some_and(|(s, _)| *s == status) {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{path} did not answer {status} within {limit:?}; last answer {last:?}\n{}",
            self.logs()
        );
    }

    /// Poll `/metrics` until it contains every one of `needles` (counters move right after the
    /// job's record does); returns the text. Panics after `limit`.
    pub async fn metrics_with(&self, needles: &[&str], limit: Duration) -> String {
        let started = Instant::now();
        loop {
            let text = self
                .get("/metrics")
                .await
                .map(|(_, t)| t)
                .unwrap_or_default();
            if needles.iter().all(|n| text.contains(n)) {
                return text;
            }
            assert!(
                started.elapsed() < limit,
                "/metrics lacks one of {needles:?} after {limit:?}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Send `signal` to the child.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        nix::sys::signal::kill(pid, signal).expect("signal delivered");
    }

    /// Wait for exit up to `limit`; returns the exit code (`None` if killed by a signal).
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "blueprint-worker did not exit within {limit:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the child has logged so far (JSON lines).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.logs.path()).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- blueprint-worker logs ---\n{}", self.logs());
        }
    }
}

/// GET `http://127.0.0.1:<port><path>` with an optional `Accept`, 2 s limit.
pub async fn get_with(port: u16, path: &str, accept: Option<&str>) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let mut request = client.get(format!("http://127.0.0.1:{port}{path}"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// The producer side, as the api holds it: a queue on the same Redis and prefix.
pub async fn producer(redis_url: &str, prefix: &str, config: QueueConfig) -> Queue {
    Queue::Redis(
        RedisQueue::connect(redis_url, prefix, config)
            .await
            .expect("the test connects to redis"),
    )
}

/// Enqueue one job of `kind`; returns its id.
pub async fn enqueue(queue: &Queue, kind: &str, payload: serde_json::Value) -> String {
    queue
        .enqueue(NewJob {
            kind: kind.to_owned(),
            payload,
            idempotency_key: None,
            traceparent: None,
        })
        .await
        .expect("enqueued")
        .id
}

/// Poll the job until it is in `status`; panics after `limit` with the last record.
pub async fn wait_for_status(
    queue: &Queue,
    id: &str,
    status: JobStatus,
    limit: Duration,
) -> JobRecord {
    let started = Instant::now();
    loop {
        let record = queue.get(id).await.expect("the job record exists");
        if record.status == status {
            return record;
        }
        assert!(
            started.elapsed() < limit,
            "job {id} not {} within {limit:?}: {record:?}",
            status.as_str()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Enqueue `count` jobs of `kind` with `payload` over 64 concurrent lanes (the queue multiplexes
/// them on one connection, so Redis sees them pipelined); returns their ids, in no order.
pub async fn enqueue_many(
    queue: &Queue,
    count: usize,
    kind: &str,
    payload: &serde_json::Value,
) -> Vec<String> {
    const LANES: usize = 64;
    let mut lanes = tokio::task::JoinSet::new();
    for lane in 0..LANES {
        let n = count / LANES + usize::from(lane < count % LANES);
        let (queue, kind, payload) = (queue.clone(), kind.to_owned(), payload.clone());
        lanes.spawn(async move {
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(enqueue(&queue, &kind, payload.clone()).await);
            }
            ids
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(lane) = lanes.join_next().await {
        ids.extend(lane.expect("an enqueue lane"));
    }
    ids
}

/// The records of `ids` (read over 16 concurrent lanes), in no order; panics if one is missing.
pub async fn records(queue: &Queue, ids: &[String]) -> Vec<JobRecord> {
    const LANES: usize = 16;
    let mut lanes = tokio::task::JoinSet::new();
    for chunk in ids.chunks(ids.len().div_ceil(LANES).max(1)) {
        let (queue, chunk) = (queue.clone(), chunk.to_vec());
        lanes.spawn(async move {
            let mut records = Vec::with_capacity(chunk.len());
            for id in &chunk {
                match queue.get(id).await {
                    Ok(record) => records.push(record),
                    Err(err) => panic!("job {id}: {err}"),
                }
            }
            records
        });
    }
    let mut all = Vec::with_capacity(ids.len());
    while let Some(lane) = lanes.join_next().await {
        all.extend(lane.expect("a read lane"));
    }
    all
}

/// Jobs out of the queue's hands: `total` minus those waiting (`depth`, retry waits included)
/// and those claimed and not acknowledged (`pending`). For jobs that cannot fail (`sleep`), that
/// is the number succeeded. One atomic `stats` call.
pub async fn finished(queue: &Queue, total: usize) -> Result<usize, QueueError> {
    let stats = queue.stats().await?;
    let open = usize::try_from(stats.depth + stats.pending).expect("fits usize");
    Ok(total.saturating_sub(open))
}

/// Poll [`finished`] until it reaches `at_least`; returns the count seen. A failed poll (the
/// test's own connection reconnecting after a Redis restart) is retried. Panics after `limit`.
pub async fn wait_finished(queue: &Queue, total: usize, at_least: usize, limit: Duration) -> usize {
    let started = Instant::now();
    loop {
        let last = finished(queue, total).await;
        if let Ok(done) = last
            && done >= at_least
        {
            return done;
        }
        assert!(
            started.elapsed() < limit,
            "not {at_least} of {total} jobs finished within {limit:?}; last count {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

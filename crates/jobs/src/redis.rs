//! The Redis Streams backend: the same contract as [`MemoryQueue`](crate::memory::MemoryQueue),
//! shared by every process that points at the same Redis and key prefix.
//!
//! # Keys
//!
//! Every key starts with the configured prefix `{p}` (e.g. `blueprint:`; tests add a random
//! namespace so that they never see each other's keys).
//!
//! | key                 | type        | why it exists |
//! |---------------------|-------------|---------------|
//! | `{p}jobs`           | stream      | The work queue. One entry (`id`, `kind`) per *queued run* of a job. Never trimmed: an entry is `XDEL`eted in the same script that `XACK`s it, so the stream only ever holds entries not yet delivered plus entries delivered and not yet acknowledged. |
//! | `{p}workers`        | group of `{p}jobs` | The consumer group: `XREADGROUP … >` hands each entry to one consumer and keeps it in the pending entries list (PEL) until `XACK`; `XAUTOCLAIM` moves stalled entries to a live consumer. |
//! | `{p}job:{id}`       | hash        | The [`JobRecord`], one field per record field (`payload` and `result` as JSON text) plus `entry` (the stream entry of the current run, the fencing token of acks), `claim` (the token of the claim call that started the current run, so that a retried claim is not counted twice) and `dead_entry` (its entry in `{p}dead`). `PEXPIRE record_ttl` on every write. A hash, not a JSON string, so that the Lua scripts change scalar fields without decoding the payload (Lua's cjson would re-encode numbers as doubles and empty arrays as objects). |
//! | `{p}idem:{key}`     | string      | Idempotency key → job id, written with the record and the same TTL. |
//! | `{p}delayed`        | sorted set  | Failed jobs waiting for their retry: score = due time, Unix ms (Redis clock). |
//! | `{p}dead`           | stream      | Dead letters: jobs out of attempts or failed permanently (`id`, `kind`, `entry`, `attempts`, `reason`), and stream entries that could not be run at all (`entry`, `reason`, the raw `fields`). `retry` deletes the job's dead letter, so its length is exactly the number of dead letters. |
//! | `{p}state:{status}` | sorted set  | Listing index, one per status: all scores 0, members are job ids ordered *lexically*, and ids are UUIDv7, so lexical order is enqueue order — the same order as the memory backend. Updated by every script that changes a status; members whose record expired are pruned when a listing meets them and, a few at a time, by `maintain`. |
//!
//! # What is atomic, and why
//!
//! Every state change is one Lua script, so that the record, the stream, the PEL and the indexes
//! never disagree, whatever runs concurrently and wherever a process crashes:
//!
//! * **enqueue** — idempotency check, backlog check, record, `XADD`, index. Concurrent enqueues
//!   cannot exceed `max_backlog` nor create two jobs for one idempotency key.
//! * **claim** (after `XREADGROUP` or `XAUTOCLAIM`) — status running, attempts + 1, started at;
//!   entries with no `id` field or no record are acknowledged, deleted and dead-lettered with a
//!   `reason`, so that a bad entry can never stall a consumer. A job reclaimed by `XAUTOCLAIM`
//!   with `attempts >= max_attempts` is not run again: every one of its runs was lost, so it is
//!   dead-lettered ("worker lost the job N times (crashed or stalled)"). `XREADGROUP` itself
//!   cannot run in the script (a script cannot block), so a crash between the two leaves the
//!   entry in the PEL: `XAUTOCLAIM` hands it out again after the visibility timeout —
//!   at-least-once. A claim that fails on a dropped connection (the first command after a Redis
//!   restart) is sent once more, on the reconnected connection, so that entries just delivered do
//!   not wait a visibility timeout; a token per call makes that second try harmless when the
//!   first was applied and only its answer was lost.
//! * **heartbeat** — `XCLAIM … 0 <entry> JUSTID` to the run's own consumer (resets the entry's
//!   idle time, keeps its delivery counter), only while the record says the delivery is the
//!   current run; see [`RedisQueue::heartbeat`] for the one race left and why it is harmless.
//! * **ack** / **fail** — `XACK` + `XDEL` + record update (+ `ZADD {p}delayed` or
//!   `XADD {p}dead`), only if the delivery is still the current run of the job: the record's
//!   `entry` equals the receipt and its `attempts` equals the delivery's. A late ack from a run
//!   that was reclaimed by another consumer is ignored, as in the memory backend.
//! * **promote** (in `maintain`) — due ids leave `{p}delayed` and get a new stream entry.
//! * **retry** — dead → queued with a new stream entry, its dead letter deleted.
//!
//! The scripts compute key names from the prefix passed as `ARGV[1]` (the job keys depend on ids
//! only known inside the script), so this backend targets a single Redis (with replicas), not
//! Redis Cluster. Timestamps come from the Redis clock (`TIME`), so processes with skewed clocks
//! still agree on when a retry is due.
//!
//! # Counting
//!
//! * `depth` = `XLEN {p}jobs − XPENDING count + ZCARD {p}delayed`. Exact because acknowledged
//!   entries are deleted in the same script: the stream holds exactly the undelivered entries and
//!   the pending ones. (`XINFO GROUPS lag` was rejected: it becomes unknown once entries are
//!   deleted, which this design does all the time.)
//! * `pending` = `XPENDING {p}jobs {p}workers` count.
//! * `dead` = `XLEN {p}dead` (see the table: `retry` deletes the job's dead letter).
//!
//! # Connections
//!
//! Commands go through one [`ConnectionManager`] (multiplexed, reconnects by itself). Blocking
//! `XREADGROUP … BLOCK` calls would hold that shared connection for the whole block, so each
//! `reserve` borrows a dedicated connection from a small pool instead. Every call is bounded by
//! `OP_DEADLINE` (reserve by `block` + `BLOCK_GRACE`): when Redis is down, methods return
//! [`QueueError::Unavailable`] within about two seconds, and work again once it is back, without
//! a new `RedisQueue`. A call cut off by the deadline may still have been applied by Redis (e.g. an
//! enqueue): callers that retry should use idempotency keys.
//!
//! The consumer group is created from id `0`, not `$`: every entry in `{p}jobs` is unprocessed
//! work (processed ones are deleted), so a group created late (or re-created after Redis lost its
//! data) must start from the beginning of the stream or it would skip jobs.
//!
//! # Known limits (shared with the memory backend unless said otherwise)
//!
//! * A job runs past `visibility_timeout` only as long as its worker sends heartbeats (the worker
//!   loop does, every third of it): a worker that is alive but whose event loop is blocked for a
//!   whole timeout, or cut off from Redis that long, loses its job to another worker.
//! * (Redis only.) After a dropped connection, claim, heartbeat and ack are sent once more (a
//!   second run of those scripts is harmless); other calls are not, so the first `fail` after a
//!   Redis restart may fail once (the job then runs again after the visibility timeout), and so
//!   may an enqueue (callers retry with an idempotency key).
//! * A `fail` from a run that was reclaimed meanwhile changes nothing and answers
//!   `Retrying { backoff_ms: 0 }` (the job is running again elsewhere). The memory backend
//!   applies such a late failure to the record, unless the job is dead by then.
//! * Stream entries that could not be run count in `stats().dead` (they are dead letters) but
//!   are not in `list(Dead)`, which lists job records. `{p}dead` is never trimmed.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply};
use redis::{AsyncConnectionConfig, FromRedisValue, RedisResult, Script};

use crate::error::QueueError;
use crate::model::{
    Delivery, Enqueued, FailOutcome, JobRecord, JobStatus, NewJob, Page, QueueStats,
};
use crate::queue::{QueueConfig, new_id};

/// Time allowed for one TCP connect (and handshake) to Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Time allowed for Redis to answer one command on the shared connection. Scripts are short
/// (bounded batches), so anything slower means Redis is unwell.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Upper bound on one call to Redis, reconnect attempts included: the promise that a call
/// returns `Unavailable` in about two seconds when Redis is down.
const OP_DEADLINE: Duration = Duration::from_secs(2);
/// Reconnect attempts the connection manager makes per failed connection before reporting the
/// error (the next call starts a new round).
const RECONNECT_RETRIES: usize = 2;
/// First delay between reconnect attempts; doubles per attempt, with jitter.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
/// Largest delay between reconnect attempts.
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(400);
/// Extra time, beyond the requested `block`, allowed for a blocking `XREADGROUP` to answer.
const BLOCK_GRACE: Duration = Duration::from_secs(2);
/// Idle dedicated connections kept for blocking reads (more are opened on demand).
const MAX_IDLE_BLOCKING_CONNS: usize = 8;
/// Due retries moved back to the stream per script run, and runs per `maintain` call.
const PROMOTE_BATCH: usize = 100;
const PROMOTE_ROUNDS: usize = 10;
/// Pending entries examined per `XAUTOCLAIM` (`COUNT`), and calls per `maintain`.
const RECLAIM_BATCH: usize = 100;
const RECLAIM_ROUNDS: usize = 10;
/// Oldest members of each `{p}state:*` index checked for an expired record per `maintain`.
const PRUNE_BATCH: usize = 32;
/// Index reads per `list` call (each prunes what it finds expired) before it returns a short
/// page with a cursor.
const LIST_ROUNDS: usize = 8;

/// A queue on Redis Streams; clones share the connections. One `Arc`, so that clones are cheap
/// and the [`Queue`](crate::Queue) enum stays small.
#[derive(Debug, Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: QueueConfig,
    keys: Keys,
    /// Shared, multiplexed, reconnecting: every command except blocking reads.
    conn: ConnectionManager,
    /// Blocking `XREADGROUP`s only.
    blocking: BlockingConns,
    /// `config.record_ttl` in milliseconds, at least 1.
    ttl_ms: u64,
}

/// Key names under one prefix.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
    stream: String,
    group: String,
    dead: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            stream: format!("{prefix}jobs"),
            group: format!("{prefix}workers"),
            dead: format!("{prefix}dead"),
        }
    }

    fn job(&self, id: &str) -> String {
        format!("{}job:{id}", self.prefix)
    }

    fn state(&self, status: JobStatus) -> String {
        format!("{}state:{}", self.prefix, status.as_str())
    }
}

/// Dedicated connections for blocking reads, so that a long `BLOCK` never holds the shared one.
#[derive(Clone)]
struct BlockingConns {
    client: redis::Client,
    idle: Arc<Mutex<Vec<MultiplexedConnection>>>,
}

impl fmt::Debug for BlockingConns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingConns")
            .field("idle", &self.idle().len())
            .finish_non_exhaustive()
    }
}

impl BlockingConns {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<MultiplexedConnection>> {
        // The vector is consistent after any panic (push/pop only).
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A pooled connection (`true`) or a new one (`false`).
    async fn take(&self) -> RedisResult<(MultiplexedConnection, bool)> {
        let pooled = self.idle().pop();
        if let Some(conn) = pooled {
            return Ok((conn, true));
        }
        self.open().await.map(|conn| (conn, false))
    }

    async fn open(&self) -> RedisResult<MultiplexedConnection> {
        // No response timeout: the caller bounds each read by its own `block` + grace.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None);
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    fn give_back(&self, conn: MultiplexedConnection) {
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE_BLOCKING_CONNS {
            idle.push(conn);
        }
    }
}

/// The `CLAIM` script's answer: `(entry, record fields)` per claimed job, the counts of
/// dead-lettered and superseded entries, then `(job id, attempts)` per job dead-lettered because
/// its runs were all lost.
type ClaimReply = (
    Vec<(String, HashMap<String, String>)>,
    u64,
    u64,
    Vec<(String, u32)>,
);

/// How the entries given to the `CLAIM` script reached the consumer.
#[derive(Debug, Clone, Copy)]
enum ClaimKind {
    /// New entries, from `XREADGROUP … >`.
    Read,
    /// Stalled entries, from `XAUTOCLAIM`: a job with no attempts left is dead-lettered instead.
    Reclaim,
}

/// Bound a Redis call by [`OP_DEADLINE`] and map its error.
async fn bounded<T>(
    what: &str,
    fut: impl Future<Output = RedisResult<T>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(OP_DEADLINE, fut).await {
        Ok(result) => result.map_err(QueueError::from),
        Err(_) => Err(QueueError::Unavailable(format!(
            "Redis did not answer {what} within {OP_DEADLINE:?}"
        ))),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn is_nogroup(err: &redis::RedisError) -> bool {
    err.code() == Some("NOGROUP")
}

/// Whether `err` means the connection broke (broken pipe, reset, refused…) rather than Redis
/// answering with an error or being slow: a command sent again, on the reconnected connection,
/// may well work. A timeout is not one of them: Redis may be hung, and the deadline is spent.
fn is_dropped_connection(err: &redis::RedisError) -> bool {
    (err.is_connection_dropped() || err.is_io_error()) && !err.is_timeout()
}

impl RedisQueue {
    /// Connect to `url` (`redis://host:port/db`, `redis://:password@host`,
    /// `redis://user:password@host`, `unix:///path`, or `rediss://…` for TLS) and make sure the
    /// consumer group exists. All keys start with `prefix` (e.g. `blueprint:`).
    ///
    /// With `rediss://`, the server's certificate must chain to the system root store
    /// (rustls-native-certs: `/etc/ssl/certs`, or the files named by `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR`) and name the URL's host; see [`connect_with_root_ca`](Self::connect_with_root_ca)
    /// to trust a private CA instead. An untrusted certificate fails the connection with
    /// [`QueueError::Unavailable`] ("invalid peer certificate: UnknownIssuer").
    pub async fn connect(url: &str, prefix: &str, config: QueueConfig) -> Result<Self, QueueError> {
        // The URL may carry a password: it is never put in an error message.
        let client = redis::Client::open(url)
            .map_err(|e| QueueError::Unavailable(format!("invalid Redis URL: {e}")))?;
        Self::connect_client(client, prefix, config).await
    }

    /// [`connect`](Self::connect) to a `rediss://` URL whose server certificate is trusted when
    /// it chains to one of the CA certificates in `root_ca_pem` (PEM, one or more), *instead of*
    /// the system root store. Any other scheme is refused.
    pub async fn connect_with_root_ca(
        url: &str,
        root_ca_pem: &[u8],
        prefix: &str,
        config: QueueConfig,
    ) -> Result<Self, QueueError> {
        let tls = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_ca_pem.to_vec()),
        };
        // The URL may carry a password: it is never put in an error message.
        let client = redis::Client::build_with_tls(url, tls)
            .map_err(|e| QueueError::Unavailable(format!("invalid Redis TLS settings: {e}")))?;
        Self::connect_client(client, prefix, config).await
    }

    async fn connect_client(
        client: redis::Client,
        prefix: &str,
        config: QueueConfig,
    ) -> Result<Self, QueueError> {
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let conn = bounded(
            "the first connection",
            ConnectionManager::new_with_config(client.clone(), manager_config),
        )
        .await?;
        let queue = Self {
            inner: Arc::new(Inner {
                ttl_ms: millis(config.record_ttl).max(1),
                config,
                keys: Keys::new(prefix),
                conn,
                blocking: BlockingConns {
                    client,
                    idle: Arc::new(Mutex::new(Vec::new())),
                },
            }),
        };
        queue.ensure_group().await?;
        Ok(queue)
    }

    /// The configuration.
    pub fn config(&self) -> &QueueConfig {
        &self.inner.config
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.keys.prefix
    }

    /// `XGROUP CREATE {p}jobs {p}workers 0 MKSTREAM`, tolerating an existing group.
    async fn ensure_group(&self) -> Result<(), QueueError> {
        let mut conn = self.inner.conn.clone();
        let create = async {
            let created = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&self.inner.keys.stream)
                .arg(&self.inner.keys.group)
                .arg("0")
                .arg("MKSTREAM")
                .exec_async(&mut conn)
                .await;
            match created {
                Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
                other => other,
            }
        };
        bounded("XGROUP CREATE", create).await
    }

    /// Run `script` with the prefix as `ARGV[1]` followed by `args`.
    async fn eval<T: FromRedisValue>(
        &self,
        what: &str,
        script: &Script,
        args: &[String],
    ) -> Result<T, QueueError> {
        bounded(what, self.invoke(script, args)).await
    }

    /// [`eval`](Self::eval), tried a second time (within the same [`OP_DEADLINE`]) when the first
    /// try fails on a dropped connection. After Redis restarts, the shared connection only learns
    /// that its socket is dead from the first command sent on it, which fails with an I/O error
    /// ("broken pipe") while the connection manager reconnects in the background; the second try
    /// goes out on the new connection. Only for scripts that are safe to run twice: the second
    /// try may follow a first that Redis did apply before the connection broke.
    async fn eval_retrying<T: FromRedisValue>(
        &self,
        what: &str,
        script: &Script,
        args: &[String],
    ) -> Result<T, QueueError> {
        let twice = async {
            match self.invoke(script, args).await {
                Err(e) if is_dropped_connection(&e) => {
                    tracing::info!(error = %e, script = what,
                        "the connection to Redis dropped (restarted?); trying once more");
                    self.invoke(script, args).await
                }
                other => other,
            }
        };
        bounded(what, twice).await
    }

    async fn invoke<T: FromRedisValue>(&self, script: &Script, args: &[String]) -> RedisResult<T> {
        let mut invocation = script.prepare_invoke();
        invocation.arg(&self.inner.keys.prefix);
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.inner.conn.clone();
        invocation.invoke_async(&mut conn).await
    }

    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
        let id = new_id();
        let payload = serde_json::to_string(&job.payload)
            .map_err(|e| QueueError::Unavailable(format!("cannot encode payload: {e}")))?;
        let (has_key, key) = match &job.idempotency_key {
            Some(key) => ("1", key.clone()),
            None => ("0", String::new()),
        };
        let mut args = vec![
            id.clone(),
            job.kind.clone(),
            self.inner.config.max_backlog.to_string(),
            self.inner.ttl_ms.to_string(),
            has_key.to_owned(),
            key,
        ];
        // The record's fields (HSET pairs); the script adds enqueued_at_ms and entry.
        for (field, value) in [
            ("id", id.clone()),
            ("kind", job.kind),
            ("payload", payload),
            ("status", JobStatus::Queued.as_str().to_owned()),
            ("attempts", "0".to_owned()),
            ("max_attempts", self.inner.config.max_attempts.to_string()),
        ] {
            args.extend([field.to_owned(), value]);
        }
        if let Some(key) = job.idempotency_key {
            args.extend(["idempotency_key".to_owned(), key]);
        }
        if let Some(traceparent) = job.traceparent {
            args.extend(["traceparent".to_owned(), traceparent]);
        }
        let (outcome, value): (String, String) = self.eval("enqueue", &ENQUEUE, &args).await?;
        match outcome.as_str() {
            "new" => Ok(Enqueued {
                id: value,
                duplicate: false,
            }),
            "duplicate" => Ok(Enqueued {
                id: value,
                duplicate: true,
            }),
            "full" => Err(QueueError::Backpressure {
                depth: value.parse().unwrap_or(self.inner.config.max_backlog),
                max: self.inner.config.max_backlog,
                retry_after: self.inner.config.retry_after,
            }),
            other => Err(unexpected("enqueue", other)),
        }
    }

    pub async fn get(&self, id: &str) -> Result<JobRecord, QueueError> {
        let mut conn = self.inner.conn.clone();
        let fields: HashMap<String, String> = bounded(
            "HGETALL",
            redis::cmd("HGETALL")
                .arg(self.inner.keys.job(id))
                .query_async(&mut conn),
        )
        .await?;
        if fields.is_empty() {
            return Err(QueueError::NotFound(id.to_owned()));
        }
        parse_record(&fields).map_err(|e| corrupt(id, &e))
    }

    pub async fn list(
        &self,
        status: JobStatus,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, QueueError> {
        if limit == 0 {
            return Ok(Page {
                jobs: Vec::new(),
                next_cursor: None,
            });
        }
        let index = self.inner.keys.state(status);
        let mut conn = self.inner.conn.clone();
        // Newest first = lexically descending ids; the cursor is exclusive, like the memory
        // backend's. One extra record tells whether there is a next page.
        let want = limit.saturating_add(1);
        let mut upper = cursor.map_or_else(|| "+".to_owned(), |c| format!("({c}"));
        let mut last_scanned: Option<String> = None;
        let mut exhausted = false;
        let mut jobs = Vec::new();
        for _ in 0..LIST_ROUNDS {
            let need = want - jobs.len();
            let ids: Vec<String> = bounded(
                "ZRANGE",
                redis::cmd("ZRANGE")
                    .arg(&index)
                    .arg(&upper)
                    .arg("-")
                    .arg("BYLEX")
                    .arg("REV")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(need)
                    .query_async(&mut conn),
            )
            .await?;
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HGETALL").arg(self.inner.keys.job(id));
            }
            let records: Vec<HashMap<String, String>> = if ids.is_empty() {
                Vec::new()
            } else {
                bounded("HGETALL", pipe.query_async(&mut conn)).await?
            };
            let mut expired = Vec::new();
            for (id, fields) in ids.iter().zip(records) {
                if fields.is_empty() {
                    expired.push(id.clone());
                } else if let Ok(record) = parse_record(&fields)
                    && record.status == status
                {
                    // A record in another status moved on after the index read: not listed
                    // here (its own transition already updated the indexes).
                    jobs.push(record);
                }
            }
            if !expired.is_empty() {
                // Ids are never reused, so an expired record cannot come back: safe to prune.
                bounded(
                    "ZREM",
                    redis::cmd("ZREM")
                        .arg(&index)
                        .arg(&expired)
                        .exec_async(&mut conn),
                )
                .await?;
            }
            if ids.len() < need {
                exhausted = true;
            }
            if let Some(last) = ids.last() {
                upper = format!("({last}");
                last_scanned = Some(last.clone());
            }
            if exhausted || jobs.len() >= want {
                break;
            }
        }
        let next_cursor = if jobs.len() > limit {
            jobs.truncate(limit);
            jobs.last().map(|j| j.id.clone())
        } else if exhausted {
            None
        } else {
            // Rounds ran out among expired records: let the caller continue from there.
            last_scanned
        };
        Ok(Page { jobs, next_cursor })
    }

    pub async fn retry(&self, id: &str) -> Result<JobRecord, QueueError> {
        let args = [id.to_owned(), self.inner.ttl_ms.to_string()];
        let (outcome, fields): (String, HashMap<String, String>) =
            self.eval("retry", &RETRY, &args).await?;
        match outcome.as_str() {
            "ok" => parse_record(&fields).map_err(|e| corrupt(id, &e)),
            "missing" => Err(QueueError::NotFound(id.to_owned())),
            "wrong" => {
                let status = fields
                    .get("status")
                    .and_then(|s| s.parse::<JobStatus>().ok())
                    .ok_or_else(|| corrupt(id, "unknown status"))?;
                Err(QueueError::WrongState {
                    id: id.to_owned(),
                    status: status.as_str(),
                    expected: JobStatus::Dead.as_str(),
                })
            }
            other => Err(unexpected("retry", other)),
        }
    }

    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        let (depth, pending, dead): (i64, i64, i64) = self.eval("stats", &STATS, &[]).await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(QueueStats {
            depth: count(depth),
            pending: count(pending),
            dead: count(dead),
        })
    }

    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.inner.conn.clone();
        let pong: String = bounded("PING", redis::cmd("PING").query_async(&mut conn)).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(unexpected("PING", &pong))
        }
    }

    pub async fn reserve(
        &self,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        if max == 0 {
            // Nothing can be claimed; wait like a reserve that found nothing.
            tokio::time::sleep(block).await;
            return Ok(Vec::new());
        }
        let mut options = StreamReadOptions::default()
            .group(&self.inner.keys.group, consumer)
            .count(max);
        // BLOCK 0 means "forever" to Redis; a zero `block` means "do not wait" here.
        if !block.is_zero() {
            let ms = usize::try_from(block.as_millis())
                .unwrap_or(usize::MAX)
                .max(1);
            options = options.block(ms);
        }
        let deadline = block.saturating_add(BLOCK_GRACE);
        let read = tokio::time::timeout(deadline, self.read_group(&options));
        let entries = match read.await {
            Ok(result) => result?,
            Err(_) => {
                return Err(QueueError::Unavailable(format!(
                    "Redis did not answer XREADGROUP within {deadline:?}"
                )));
            }
        };
        self.claim(
            consumer,
            ClaimKind::Read,
            entries.iter().map(entry_job).collect(),
        )
        .await
    }

    /// `XREADGROUP … STREAMS {p}jobs >` on a dedicated connection. A connection is returned to
    /// the pool only after a complete answer; a pooled connection that turns out dead (Redis
    /// restarted) is replaced once; a missing group is re-created once.
    async fn read_group(&self, options: &StreamReadOptions) -> RedisResult<Vec<StreamId>> {
        let mut fresh_retry = true;
        let mut group_retry = true;
        loop {
            let (mut conn, pooled) = self.inner.blocking.take().await?;
            let reply: RedisResult<Option<StreamReadReply>> = redis::cmd("XREADGROUP")
                .arg(options)
                .arg("STREAMS")
                .arg(&self.inner.keys.stream)
                .arg(">")
                .query_async(&mut conn)
                .await;
            match reply {
                Ok(reply) => {
                    self.inner.blocking.give_back(conn);
                    return Ok(reply
                        .into_iter()
                        .flat_map(|r| r.keys)
                        .flat_map(|k| k.ids)
                        .collect());
                }
                Err(e) if is_nogroup(&e) && group_retry => {
                    group_retry = false;
                    self.inner.blocking.give_back(conn);
                    if let Err(err) = self.ensure_group().await {
                        tracing::warn!(error = %err, "could not re-create the consumer group");
                        return Err(e);
                    }
                }
                Err(e)
                    if pooled && fresh_retry && (e.is_io_error() || e.is_unrecoverable_error()) =>
                {
                    fresh_retry = false;
                    // The pool may hold more connections from before the outage.
                    self.inner.blocking.idle().clear();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Mark entries just handed to `consumer` as running (or dead-letter them); see the `CLAIM`
    /// script. Retried once on a dropped connection: otherwise, right after a Redis restart, the
    /// entries `XREADGROUP` just delivered would stay pending, not running, until the visibility
    /// timeout. The claim token makes the retry safe when the first try was applied and only its
    /// answer was lost: the script then hands the entries out as they are, without counting a
    /// second attempt.
    async fn claim(
        &self,
        consumer: &str,
        kind: ClaimKind,
        entries: Vec<(String, String)>,
    ) -> Result<Vec<Delivery>, QueueError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mode = match kind {
            ClaimKind::Read => "read",
            ClaimKind::Reclaim => "reclaim",
        };
        let mut args = vec![self.inner.ttl_ms.to_string(), mode.to_owned(), new_id()];
        for (entry, id) in entries {
            args.extend([entry, id]);
        }
        let (claimed, buried, stale, lost): ClaimReply =
            self.eval_retrying("claim", &CLAIM, &args).await?;
        for (id, attempts) in &lost {
            tracing::warn!(job_id = %id, attempts, dead = %self.inner.keys.dead,
                "a job whose every run was lost (its worker crashed or stalled) moved to the dead letters");
        }
        if buried > 0 {
            tracing::warn!(
                count = buried,
                stream = %self.inner.keys.stream,
                dead = %self.inner.keys.dead,
                "stream entries without a usable job moved to the dead letters"
            );
        }
        if stale > 0 {
            tracing::debug!(count = stale, "superseded stream entries dropped");
        }
        let mut deliveries = Vec::with_capacity(claimed.len());
        for (receipt, fields) in claimed {
            match parse_record(&fields) {
                Ok(record) => deliveries.push(Delivery {
                    record,
                    receipt,
                    consumer: consumer.to_owned(),
                }),
                Err(reason) => {
                    let id = fields.get("id").cloned().unwrap_or_default();
                    let args = [
                        receipt.clone(),
                        id.clone(),
                        format!("unparseable job record: {reason}"),
                    ];
                    // A failure here must not lose the good deliveries of this batch: the
                    // entry stays pending and is dead-lettered when it is reclaimed.
                    match self.eval::<i64>("bury", &BURY, &args).await {
                        Ok(_) => tracing::warn!(job_id = %id, entry = %receipt, %reason,
                            "unparseable job record moved to the dead letters"),
                        Err(err) => tracing::warn!(job_id = %id, entry = %receipt, error = %err,
                            "could not dead-letter an unparseable job record"),
                    }
                }
            }
        }
        Ok(deliveries)
    }

    /// `XCLAIM {p}jobs {p}workers <consumer> 0 <entry> JUSTID` in a script, only while the record
    /// says this delivery is the current run (same `entry`, status running, same `attempts`).
    /// `XCLAIM` with min-idle-time 0 resets the entry's idle time, which is what `XAUTOCLAIM`
    /// compares with the visibility timeout; `JUSTID` keeps the delivery counter as it is.
    ///
    /// One race remains, on purpose: `maintain` runs `XAUTOCLAIM` and then the claim script, two
    /// calls. A heartbeat landing between them finds the record unchanged and refreshes the entry
    /// (for its own consumer); the claim script then still counts the new run, and the old run's
    /// later heartbeats, ack and fail are stale. That only happens to a run that already missed
    /// three heartbeats (a third of the timeout each), so the reclaim winning is the right call;
    /// nothing runs without a record that says so.
    pub async fn heartbeat(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let args = [
            delivery.receipt.clone(),
            delivery.record.id.clone(),
            delivery.record.attempts.to_string(),
            delivery.consumer.clone(),
        ];
        // Safe to send twice: a second XCLAIM of the same entry only resets its idle time again.
        let outcome: String = self.eval_retrying("heartbeat", &HEARTBEAT, &args).await?;
        match outcome.as_str() {
            "ok" => Ok(()),
            "stale" => {
                tracing::debug!(job_id = %delivery.record.id,
                    "heartbeat of a run that is no longer current ignored");
                Ok(())
            }
            "missing" => Err(QueueError::NotFound(delivery.record.id.clone())),
            other => Err(unexpected("heartbeat", other)),
        }
    }

    pub async fn ack(
        &self,
        delivery: &Delivery,
        result: serde_json::Value,
    ) -> Result<(), QueueError> {
        let result = serde_json::to_string(&result)
            .map_err(|e| QueueError::Unavailable(format!("cannot encode result: {e}")))?;
        let args = [
            delivery.receipt.clone(),
            delivery.record.id.clone(),
            delivery.record.attempts.to_string(),
            result,
            self.inner.ttl_ms.to_string(),
        ];
        // Safe to send twice: once the first is applied, the second finds the run finished
        // (stale) and changes nothing.
        let outcome: String = self.eval_retrying("ack", &ACK, &args).await?;
        if outcome == "stale" {
            tracing::debug!(job_id = %delivery.record.id, "late ack of a reclaimed run ignored");
        }
        Ok(())
    }

    pub async fn fail(
        &self,
        delivery: &Delivery,
        error: &str,
        permanent: bool,
    ) -> Result<FailOutcome, QueueError> {
        let backoff = self.inner.config.backoff(delivery.record.attempts);
        let backoff_ms = millis(backoff);
        let args = [
            delivery.receipt.clone(),
            delivery.record.id.clone(),
            delivery.record.attempts.to_string(),
            error.to_owned(),
            if permanent { "1" } else { "0" }.to_owned(),
            backoff_ms.to_string(),
            self.inner.ttl_ms.to_string(),
        ];
        let outcome: String = self.eval("fail", &FAIL, &args).await?;
        match outcome.as_str() {
            "dead" => Ok(FailOutcome::Dead),
            "retrying" => Ok(FailOutcome::Retrying { backoff_ms }),
            // Another consumer reclaimed the job and is running it: this late report changes
            // nothing, and the job will indeed run (it is running) again.
            "stale" => {
                tracing::debug!(job_id = %delivery.record.id, "late fail of a reclaimed run ignored");
                Ok(FailOutcome::Retrying { backoff_ms: 0 })
            }
            "missing" => Err(QueueError::NotFound(delivery.record.id.clone())),
            other => Err(unexpected("fail", other)),
        }
    }

    pub async fn maintain(&self, consumer: &str) -> Result<Vec<Delivery>, QueueError> {
        // 1. Due retries back to the stream.
        for _ in 0..PROMOTE_ROUNDS {
            let moved: usize = self
                .eval(
                    "promote",
                    &PROMOTE,
                    &[PROMOTE_BATCH.to_string(), self.inner.ttl_ms.to_string()],
                )
                .await?;
            if moved < PROMOTE_BATCH {
                break;
            }
        }
        // 2. Bound the listing indexes: drop members whose record expired.
        let pruned: usize = self
            .eval("prune", &PRUNE, &[PRUNE_BATCH.to_string()])
            .await?;
        if pruned > 0 {
            tracing::debug!(
                count = pruned,
                "expired jobs pruned from the listing indexes"
            );
        }
        // 3. Reclaim entries idle in the PEL for longer than the visibility timeout.
        let mut conn = self.inner.conn.clone();
        let min_idle = millis(self.inner.config.visibility_timeout);
        let mut start = "0-0".to_owned();
        let mut reclaimed = Vec::new();
        for _ in 0..RECLAIM_ROUNDS {
            let reply: RedisResult<StreamAutoClaimReply> = match tokio::time::timeout(
                OP_DEADLINE,
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.inner.keys.stream)
                    .arg(&self.inner.keys.group)
                    .arg(consumer)
                    .arg(min_idle)
                    .arg(&start)
                    .arg("COUNT")
                    .arg(RECLAIM_BATCH)
                    .query_async(&mut conn),
            )
            .await
            {
                Ok(reply) => reply,
                Err(_) => {
                    return Err(QueueError::Unavailable(format!(
                        "Redis did not answer XAUTOCLAIM within {OP_DEADLINE:?}"
                    )));
                }
            };
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) if is_nogroup(&e) => {
                    // Redis lost the group (and with it any PEL): nothing to reclaim.
                    self.ensure_group().await?;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            if !reply.deleted_ids.is_empty() {
                // Entries are only deleted after XACK, so this is someone else's XDEL.
                tracing::warn!(entries = ?reply.deleted_ids,
                    "pending stream entries were deleted by hand; dropped from the PEL");
            }
            reclaimed.extend(
                self.claim(
                    consumer,
                    ClaimKind::Reclaim,
                    reply.claimed.iter().map(entry_job).collect(),
                )
                .await?,
            );
            if reply.next_stream_id == "0-0" || reclaimed.len() >= RECLAIM_BATCH {
                break;
            }
            start = reply.next_stream_id;
        }
        if !reclaimed.is_empty() {
            tracing::info!(count = reclaimed.len(), consumer, "stalled jobs reclaimed");
        }
        Ok(reclaimed)
    }
}

/// `(entry id, job id)` of a stream entry; the job id is empty when the entry has none.
fn entry_job(entry: &StreamId) -> (String, String) {
    (
        entry.id.clone(),
        entry.get::<String>("id").unwrap_or_default(),
    )
}

fn unexpected(what: &str, reply: &str) -> QueueError {
    QueueError::Unavailable(format!("unexpected reply to {what} from Redis: {reply:?}"))
}

fn corrupt(id: &str, reason: &str) -> QueueError {
    QueueError::Unavailable(format!("job {id} has a corrupt record in Redis: {reason}"))
}

/// A [`JobRecord`] from the fields of its hash.
fn parse_record(fields: &HashMap<String, String>) -> Result<JobRecord, String> {
    let required = |name: &str| {
        fields
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("field {name} missing"))
    };
    let number = |name: &str| -> Result<u64, String> {
        required(name)?
            .parse()
            .map_err(|e| format!("field {name}: {e}"))
    };
    let optional_number = |name: &str| -> Result<Option<u64>, String> {
        fields
            .get(name)
            .map(|v| v.parse().map_err(|e| format!("field {name}: {e}")))
            .transpose()
    };
    let small = |name: &str| -> Result<u32, String> {
        u32::try_from(number(name)?).map_err(|e| format!("field {name}: {e}"))
    };
    Ok(JobRecord {
        id: required("id")?.to_owned(),
        kind: required("kind")?.to_owned(),
        payload: serde_json::from_str(required("payload")?)
            .map_err(|e| format!("field payload: {e}"))?,
        status: required("status")?.parse()?,
        attempts: small("attempts")?,
        max_attempts: small("max_attempts")?,
        last_error: fields.get("last_error").cloned(),
        result: fields
            .get("result")
            .map(|r| serde_json::from_str(r).map_err(|e| format!("field result: {e}")))
            .transpose()?,
        idempotency_key: fields.get("idempotency_key").cloned(),
        traceparent: fields.get("traceparent").cloned(),
        enqueued_at_ms: number("enqueued_at_ms")?,
        started_at_ms: optional_number("started_at_ms")?,
        finished_at_ms: optional_number("finished_at_ms")?,
    })
}

/// Helpers shared by every script. `ARGV[1]` is always the key prefix.
macro_rules! prelude {
    () => {
        r"
local P = ARGV[1]
local STREAM = P .. 'jobs'
local GROUP = P .. 'workers'
local DEAD = P .. 'dead'
local DELAYED = P .. 'delayed'

-- Unix time in ms from the Redis clock, as an integer-valued number.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- A number as an integer string (tostring would use an exponent for large values).
local function int(n) return string.format('%.0f', n) end
local function job_key(id) return P .. 'job:' .. id end
-- Move id from one listing index to another (from may be false: not indexed yet).
local function set_state(id, from, to)
  if from then redis.call('ZREM', P .. 'state:' .. from, id) end
  redis.call('ZADD', P .. 'state:' .. to, 0, id)
end
-- Entries delivered and not acknowledged. Re-creates the group (from 0) if Redis lost it.
local function pending_count()
  local ok, reply = pcall(redis.call, 'XPENDING', STREAM, GROUP)
  if ok then return tonumber(reply[1]) end
  redis.call('XGROUP', 'CREATE', STREAM, GROUP, '0', 'MKSTREAM')
  return 0
end
-- An entry is done with: out of the PEL and out of the stream (so XLEN stays exact).
local function finish_entry(entry)
  redis.call('XACK', STREAM, GROUP, entry)
  redis.call('XDEL', STREAM, entry)
end
-- An entry that cannot be run: dead-lettered with a reason (and its raw fields); its record, if
-- any, marked dead. Returns the dead-letter entry id.
local function bury(entry, id, reason)
  local fields = {'entry', entry, 'reason', reason}
  if id ~= '' then fields[#fields + 1] = 'id'; fields[#fields + 1] = id end
  local raw = redis.call('XRANGE', STREAM, entry, entry)
  if raw[1] then fields[#fields + 1] = 'fields'; fields[#fields + 1] = cjson.encode(raw[1][2]) end
  finish_entry(entry)
  local dead_entry = redis.call('XADD', DEAD, '*', unpack(fields))
  if id ~= '' then
    local key = job_key(id)
    local status = redis.call('HGET', key, 'status')
    if status then
      redis.call('HSET', key, 'status', 'dead', 'dead_entry', dead_entry, 'last_error', reason)
      redis.call('HDEL', key, 'entry')
      set_state(id, status, 'dead')
    end
  end
  return dead_entry
end
"
    };
}

/// ARGV: prefix, id, kind, max_backlog, ttl_ms, has_key (0/1), key, then the record's HSET
/// pairs. Returns `{'new', id}`, `{'duplicate', id}` or `{'full', depth}`.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local id, kind, max_backlog, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local idem = false
if ARGV[6] == '1' then
  idem = P .. 'idem:' .. ARGV[7]
  local existing = redis.call('GET', idem)
  if existing then return {'duplicate', existing} end
end
local depth = redis.call('XLEN', STREAM) - pending_count() + redis.call('ZCARD', DELAYED)
if depth >= max_backlog then return {'full', int(depth)} end
local key = job_key(id)
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, 'enqueued_at_ms', int(now_ms()), unpack(fields))
local entry = redis.call('XADD', STREAM, '*', 'id', id, 'kind', kind)
redis.call('HSET', key, 'entry', entry)
redis.call('PEXPIRE', key, ttl)
if idem then redis.call('SET', idem, id, 'PX', ttl) end
set_state(id, false, 'queued')
return {'new', id}
"
    ))
});

/// ARGV: prefix, ttl_ms, mode (`read`: new entries from `XREADGROUP`; `reclaim`: stalled ones
/// from `XAUTOCLAIM`), claim token (unique per call), then (entry, job id or '') pairs just
/// handed to a consumer. Returns `{ {{entry, record fields}...}, buried, stale, {{id, attempts}...} }`,
/// the last list naming the jobs dead-lettered because their runs were all lost.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local ttl, reclaim, token = ARGV[2], ARGV[3] == 'reclaim', ARGV[4]
local now = int(now_ms())
local claimed, buried, stale, lost = {}, 0, 0, {}
for i = 5, #ARGV, 2 do
  local entry, id = ARGV[i], ARGV[i + 1]
  local key = job_key(id)
  if id == '' then
    bury(entry, id, 'stream entry has no id field')
    buried = buried + 1
  elseif redis.call('EXISTS', key) == 0 then
    bury(entry, id, 'job record missing (expired, or the entry was not written by the queue)')
    buried = buried + 1
  else
    local cur = redis.call('HMGET', key, 'entry', 'status', 'attempts', 'max_attempts', 'kind',
      'claim')
    if cur[1] ~= entry then
      -- Superseded: the job has moved on to another entry (or finished). Drop this one.
      finish_entry(entry)
      stale = stale + 1
    elseif cur[6] == token and cur[2] == 'running' then
      -- This very call was applied once already and its answer lost on a broken connection;
      -- the caller tried again. The run is counted: hand it out as it is.
      claimed[#claimed + 1] = {entry, redis.call('HGETALL', key)}
    elseif reclaim and (tonumber(cur[3]) or 0) >= (tonumber(cur[4]) or math.huge) then
      -- Every run so far was lost (the worker crashed or stalled, maybe because of this job):
      -- no run left, so dead-lettered instead of run again.
      local reason = 'worker lost the job ' .. cur[3] .. ' times (crashed or stalled)'
      finish_entry(entry)
      local dead_entry = redis.call('XADD', DEAD, '*', 'id', id, 'kind', cur[5], 'entry', entry,
        'attempts', cur[3], 'permanent', '0', 'reason', reason)
      redis.call('HSET', key, 'status', 'dead', 'dead_entry', dead_entry, 'last_error', reason,
        'finished_at_ms', now)
      redis.call('HDEL', key, 'entry')
      redis.call('PEXPIRE', key, ttl)
      set_state(id, cur[2], 'dead')
      lost[#lost + 1] = {id, cur[3]}
    else
      redis.call('HSET', key, 'status', 'running', 'started_at_ms', now, 'claim', token)
      redis.call('HINCRBY', key, 'attempts', 1)
      redis.call('PEXPIRE', key, ttl)
      set_state(id, cur[2], 'running')
      claimed[#claimed + 1] = {entry, redis.call('HGETALL', key)}
    end
  end
end
return {claimed, buried, stale, lost}
"
    ))
});

/// ARGV: prefix, entry, id, attempts, consumer. Refreshes the claim of a run that is still
/// current; returns ok, stale (not the current run, or no longer pending) or missing.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local entry, id, attempts, consumer = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cur = redis.call('HMGET', job_key(id), 'entry', 'status', 'attempts')
if not cur[2] then return 'missing' end
if cur[1] ~= entry or cur[2] ~= 'running' or cur[3] ~= attempts then return 'stale' end
-- Min idle time 0: always claimed, idle time reset. JUSTID: delivery counter unchanged.
local refreshed = redis.call('XCLAIM', STREAM, GROUP, consumer, 0, entry, 'JUSTID')
if #refreshed == 0 then return 'stale' end
return 'ok'
"
    ))
});

/// ARGV: prefix, entry, job id, reason. Dead-letters one delivered entry.
static BURY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
bury(ARGV[2], ARGV[3], ARGV[4])
return 1
"
    ))
});

/// ARGV: prefix, entry, id, attempts, result JSON, ttl_ms. Returns ok, stale or missing.
static ACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local entry, id, attempts = ARGV[2], ARGV[3], ARGV[4]
local key = job_key(id)
local cur = redis.call('HMGET', key, 'entry', 'status', 'attempts')
if not cur[2] then
  -- The record expired while the job ran: the run is over all the same.
  finish_entry(entry)
  return 'missing'
end
if cur[1] ~= entry or cur[2] ~= 'running' or cur[3] ~= attempts then return 'stale' end
finish_entry(entry)
redis.call('HSET', key, 'status', 'succeeded', 'result', ARGV[5], 'finished_at_ms', int(now_ms()))
redis.call('HDEL', key, 'entry')
redis.call('PEXPIRE', key, ARGV[6])
set_state(id, 'running', 'succeeded')
return 'ok'
"
    ))
});

/// ARGV: prefix, entry, id, attempts, error, permanent (0/1), backoff_ms, ttl_ms.
/// Returns dead, retrying, stale or missing.
static FAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local entry, id, attempts, err = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local permanent, backoff, ttl = ARGV[6] == '1', tonumber(ARGV[7]), ARGV[8]
local key = job_key(id)
local cur = redis.call('HMGET', key, 'entry', 'status', 'attempts', 'max_attempts', 'kind')
if not cur[2] then
  finish_entry(entry)
  return 'missing'
end
if cur[1] ~= entry or cur[2] ~= 'running' or cur[3] ~= attempts then return 'stale' end
finish_entry(entry)
local now = now_ms()
redis.call('HSET', key, 'last_error', err, 'finished_at_ms', int(now))
redis.call('HDEL', key, 'entry')
redis.call('PEXPIRE', key, ttl)
if permanent or tonumber(cur[3]) >= tonumber(cur[4]) then
  local dead_entry = redis.call('XADD', DEAD, '*', 'id', id, 'kind', cur[5], 'entry', entry,
    'attempts', cur[3], 'permanent', permanent and '1' or '0', 'reason', err)
  redis.call('HSET', key, 'status', 'dead', 'dead_entry', dead_entry)
  set_state(id, 'running', 'dead')
  return 'dead'
end
redis.call('HSET', key, 'status', 'failed')
redis.call('ZADD', DELAYED, int(now + backoff), id)
set_state(id, 'running', 'failed')
return 'retrying'
"
    ))
});

/// ARGV: prefix, batch, ttl_ms. Moves due retries back to the stream; returns how many were due.
static PROMOTE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local ttl = ARGV[3]
local due = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', int(now_ms()), 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('ZREM', DELAYED, id)
  local key = job_key(id)
  local cur = redis.call('HMGET', key, 'status', 'kind')
  -- Anything else (record expired, or moved on) has nothing to re-queue.
  if cur[1] == 'failed' then
    local entry = redis.call('XADD', STREAM, '*', 'id', id, 'kind', cur[2])
    redis.call('HSET', key, 'status', 'queued', 'entry', entry)
    redis.call('PEXPIRE', key, ttl)
    set_state(id, 'failed', 'queued')
  end
end
return #due
"
    ))
});

/// ARGV: prefix, id, ttl_ms. Returns `{'ok', fields}`, `{'missing', {}}` or
/// `{'wrong', {'status', status}}`.
static RETRY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local id, ttl = ARGV[2], ARGV[3]
local key = job_key(id)
local cur = redis.call('HMGET', key, 'status', 'kind', 'dead_entry')
if not cur[1] then return {'missing', {}} end
if cur[1] ~= 'dead' then return {'wrong', {'status', cur[1]}} end
if cur[3] then redis.call('XDEL', DEAD, cur[3]) end
local entry = redis.call('XADD', STREAM, '*', 'id', id, 'kind', cur[2])
redis.call('HSET', key, 'status', 'queued', 'attempts', 0, 'entry', entry)
redis.call('HDEL', key, 'finished_at_ms', 'dead_entry')
redis.call('PEXPIRE', key, ttl)
set_state(id, 'dead', 'queued')
return {'ok', redis.call('HGETALL', key)}
"
    ))
});

/// ARGV: prefix. Returns `{depth, pending, dead}`.
static STATS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local pending = pending_count()
local depth = redis.call('XLEN', STREAM) - pending + redis.call('ZCARD', DELAYED)
return {depth, pending, redis.call('XLEN', DEAD)}
"
    ))
});

/// ARGV: prefix, batch. Prunes the oldest members of each listing index whose record expired.
static PRUNE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        prelude!(),
        r"
local pruned = 0
for _, status in ipairs({'queued', 'running', 'succeeded', 'failed', 'dead'}) do
  local index = P .. 'state:' .. status
  local oldest = redis.call('ZRANGE', index, '-', '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[2]))
  for _, id in ipairs(oldest) do
    if redis.call('EXISTS', job_key(id)) == 0 then
      redis.call('ZREM', index, id)
      pruned = pruned + 1
    end
  end
end
return pruned
"
    ))
});

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_complete_hash_parses_into_a_record() {
        let record = parse_record(&fields(&[
            ("id", "j1"),
            ("kind", "echo"),
            ("payload", r#"{"a":[1,2]}"#),
            ("status", "running"),
            ("attempts", "2"),
            ("max_attempts", "5"),
            ("result", "null"),
            ("enqueued_at_ms", "1732600000000"),
            ("started_at_ms", "1732600000100"),
        ]))
        .expect("parses");
        assert_eq!(record.status, JobStatus::Running);
        assert_eq!(record.attempts, 2);
        assert_eq!(record.payload, serde_json::json!({"a": [1, 2]}));
        assert_eq!(record.result, Some(serde_json::Value::Null));
        assert_eq!(record.started_at_ms, Some(1_732_600_000_100));
        assert_eq!(record.finished_at_ms, None);
        assert_eq!(record.last_error, None);
    }

    #[test]
    fn a_hash_with_a_bad_field_names_it() {
        let err = parse_record(&fields(&[
            ("id", "j1"),
            ("kind", "echo"),
            ("payload", "{not json"),
            ("status", "queued"),
            ("attempts", "0"),
            ("max_attempts", "5"),
            ("enqueued_at_ms", "1"),
        ]))
        .expect_err("bad payload");
        assert!(err.contains("payload"), "{err}");
    }
}

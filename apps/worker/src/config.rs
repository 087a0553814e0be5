//! Configuration: embedded defaults → optional file → `BLUEPRINT_*` environment → flags.
//!
//! The same layering as blueprint-api: every setting is a flag and an environment variable
//! `BLUEPRINT_<FLAG_IN_SCREAMING_SNAKE_CASE>`, both handled by clap so `--help` lists them with their
//! units; a file given with `--config` (TOML, or YAML by extension, keys as the flag names) sits
//! between the defaults and the environment. [`Config::validate`] then rejects nonsense with one line
//! naming the setting, and `main` exits with code 64 (`EX_USAGE`).
//!
//! `--redis-url` has no default on purpose: the worker has no in-memory mode (the api runs an
//! embedded worker for that), so a worker without Redis is a deployment mistake, not a demo.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jobs::QueueConfig;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

/// The exit code for a configuration error (`EX_USAGE` from sysexits.h).
pub const EXIT_CONFIG: i32 = 64;

/// Most jobs one process runs at once; beyond it, run more replicas.
pub const MAX_CONCURRENCY: usize = 1024;

/// Command line of `blueprint-worker`.
#[derive(Debug, Parser)]
#[command(
    name = "blueprint-worker",
    version,
    about = "The SRE Blueprint background worker: runs jobs from Redis Streams.",
    long_about = None,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Overrides,
}

/// Subcommands; with none, the worker runs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe a running worker's admin port and exit 0 if it answers 2xx (for container
    /// HEALTHCHECKs without curl).
    Healthcheck {
        /// URL to probe [default: http://127.0.0.1:<port>/healthz].
        url: Option<String>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// Settings given as flags or environment variables. `None` means "not given here".
#[derive(Debug, Default, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Overrides {
    /// Configuration file (TOML, or YAML if it ends in .yaml/.yml); below env vars and flags.
    #[arg(long, env = "BLUEPRINT_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Redis to take jobs from, e.g. redis://127.0.0.1:6379/0 (required; a password in it is never logged).
    #[arg(
        long,
        env = "BLUEPRINT_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key; must match the api's [default: blueprint:].
    #[arg(long, env = "BLUEPRINT_QUEUE_PREFIX", value_name = "PREFIX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_prefix: Option<String>,
    /// Jobs run at once by this process, 1–1024 [default: 8].
    #[arg(long, env = "BLUEPRINT_CONCURRENCY", value_name = "JOBS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,

    /// Address of the admin port [default: 0.0.0.0, every interface].
    #[arg(long, env = "BLUEPRINT_HOST")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<IpAddr>,
    /// Admin port serving /healthz, /livez, /readyz and /metrics; 0 = any free port [default: 9899].
    #[arg(long, env = "BLUEPRINT_PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Log level: error, warn, info, debug, trace (RUST_LOG wins when set) [default: info].
    #[arg(long, env = "BLUEPRINT_LEVEL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// After SIGTERM, how long jobs in flight may take to finish, e.g. 30s; unfinished jobs are
    /// left to another worker [default: 30s].
    #[arg(long, env = "BLUEPRINT_DRAIN_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub drain_timeout: Option<Duration>,
    /// Base URL of blueprint-api, where `checksum` jobs read blobs [default: http://127.0.0.1:9898].
    #[arg(long, env = "BLUEPRINT_API_URL", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,

    /// Runs allowed per job before it goes to the dead letters [default: 5].
    #[arg(long, env = "BLUEPRINT_MAX_ATTEMPTS", value_name = "RUNS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// First retry delay, doubled per attempt, e.g. 500ms [default: 500ms].
    #[arg(long, env = "BLUEPRINT_BACKOFF_BASE", value_name = "DURATION", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub backoff_base: Option<Duration>,
    /// Longest retry delay, e.g. 60s [default: 60s].
    #[arg(long, env = "BLUEPRINT_BACKOFF_MAX", value_name = "DURATION", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub backoff_max: Option<Duration>,
    /// A job whose worker stopped renewing its claim (heartbeat every third of this) for this long
    /// is given to another: crash recovery [default: 30s].
    #[arg(long, env = "BLUEPRINT_VISIBILITY_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub visibility_timeout: Option<Duration>,
    /// Most jobs waiting in the queue, in jobs; above it enqueue is refused [default: 100000].
    #[arg(long, env = "BLUEPRINT_MAX_BACKLOG", value_name = "JOBS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_backlog: Option<u64>,
    /// How long job records are kept, e.g. 7d [default: 7d].
    #[arg(long, env = "BLUEPRINT_JOB_TTL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub job_ttl: Option<Duration>,
}

/// The layered, validated configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Never serialized, never printed: it may carry a password.
    #[serde(skip_serializing)]
    pub redis_url: Option<SecretString>,
    pub queue_prefix: String,
    pub concurrency: usize,
    pub host: IpAddr,
    pub port: u16,
    pub level: String,
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    pub api_url: String,
    pub max_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    #[serde(with = "humantime_serde")]
    pub visibility_timeout: Duration,
    pub max_backlog: u64,
    #[serde(with = "humantime_serde")]
    pub job_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let queue = QueueConfig::default();
        Self {
            redis_url: None,
            queue_prefix: "blueprint:".into(),
            concurrency: 8,
            host: IpAddr::from([0, 0, 0, 0]),
            port: 9899,
            level: "info".into(),
            drain_timeout: Duration::from_secs(30),
            api_url: "http://127.0.0.1:9898".into(),
            max_attempts: queue.max_attempts,
            backoff_base: queue.backoff_base,
            backoff_max: queue.backoff_max,
            visibility_timeout: queue.visibility_timeout,
            max_backlog: queue.max_backlog,
            job_ttl: queue.record_ttl,
        }
    }
}

pub use service::config::ConfigError;
use service::config::invalid;

impl Config {
    /// Layer defaults, the optional file and the overrides (flags and env), then validate.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let config = Self::layered(overrides)?;
        config.validate()?;
        Ok(config)
    }

    /// The layered settings without [`Config::validate`]: what `healthcheck` reads (the admin
    /// port), which must not fail on settings the probe does not use, such as `--redis-url`.
    pub fn layered(overrides: &Overrides) -> Result<Self, ConfigError> {
        service::config::load_layered(&Self::default(), overrides.config.as_deref(), overrides)
    }

    /// Reject settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let Some(url) = &self.redis_url else {
            return Err(invalid(
                "--redis-url",
                "required (or BLUEPRINT_REDIS_URL): the worker has no in-memory mode",
            ));
        };
        check_redis_url(url.expose_secret())?;
        if self.queue_prefix.is_empty() || self.queue_prefix.contains(char::is_whitespace) {
            return Err(invalid(
                "--queue-prefix",
                "must be non-empty, without spaces",
            ));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(invalid(
                "--concurrency",
                format!("{} is not in 1–{MAX_CONCURRENCY}", self.concurrency),
            ));
        }
        if self.drain_timeout.is_zero() {
            return Err(invalid("--drain-timeout", "must be longer than 0s"));
        }
        match reqwest::Url::parse(&self.api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) => {
                return Err(invalid(
                    "--api-url",
                    format!(
                        "{}: scheme {} is not http or https",
                        self.api_url,
                        u.scheme()
                    ),
                ));
            }
            Err(e) => return Err(invalid("--api-url", format!("{}: {e}", self.api_url))),
        }
        if self.max_attempts == 0 {
            return Err(invalid("--max-attempts", "must be at least 1"));
        }
        if self.backoff_base.is_zero() {
            return Err(invalid("--backoff-base", "must be longer than 0s"));
        }
        if self.backoff_max < self.backoff_base {
            return Err(invalid(
                "--backoff-max",
                format!(
                    "{} is shorter than --backoff-base {}",
                    humantime::format_duration(self.backoff_max),
                    humantime::format_duration(self.backoff_base)
                ),
            ));
        }
        if self.visibility_timeout.is_zero() {
            return Err(invalid("--visibility-timeout", "must be longer than 0s"));
        }
        if self.max_backlog == 0 {
            return Err(invalid("--max-backlog", "must be at least 1 job"));
        }
        if self.job_ttl.is_zero() {
            return Err(invalid("--job-ttl", "must be longer than 0s"));
        }
        Ok(())
    }

    /// The queue behaviour these settings describe.
    pub fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            max_attempts: self.max_attempts,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            visibility_timeout: self.visibility_timeout,
            max_backlog: self.max_backlog,
            record_ttl: self.job_ttl,
            ..QueueConfig::default()
        }
    }

    /// `text` with the password of `--redis-url` masked: for errors that might quote the URL.
    pub fn scrub(&self, text: &str) -> String {
        let password = self
            .redis_url
            .as_ref()
            .and_then(|u| reqwest::Url::parse(u.expose_secret()).ok())
            .and_then(|u| u.password().map(str::to_owned))
            .filter(|p| !p.is_empty());
        match password {
            Some(p) => text.replace(&p, "***"),
            None => text.to_owned(),
        }
    }

    /// `--redis-url` without its credentials, for logs.
    pub fn redis_target(&self) -> String {
        self.redis_url
            .as_ref()
            .map_or_else(String::new, |u| redacted(u.expose_secret()))
    }
}

/// Schemes the Redis client accepts. `rediss://` is TLS: the server certificate must chain to the
/// system root store (`SSL_CERT_FILE` / `SSL_CERT_DIR` name a private CA).
const REDIS_SCHEMES: [&str; 4] = ["redis", "rediss", "unix", "redis+unix"];

fn check_redis_url(url: &str) -> Result<(), ConfigError> {
    // The message must not echo the URL: it may hold a password.
    let parsed =
        reqwest::Url::parse(url).map_err(|e| invalid("--redis-url", format!("not a URL: {e}")))?;
    if !REDIS_SCHEMES.contains(&parsed.scheme()) {
        return Err(invalid(
            "--redis-url",
            format!(
                "scheme {} is not one of {}",
                parsed.scheme(),
                REDIS_SCHEMES.join(", ")
            ),
        ));
    }
    if matches!(parsed.scheme(), "redis" | "rediss") && parsed.host_str().is_none_or(str::is_empty)
    {
        return Err(invalid("--redis-url", "has no host"));
    }
    Ok(())
}

/// `url` with user name and password removed.
pub fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(args: &[&str]) -> Overrides {
        let mut command_line = vec!["blueprint-worker"];
        command_line.extend_from_slice(args);
        Cli::try_parse_from(command_line)
            .expect("flags parse")
            .settings
    }

    const REDIS: [&str; 2] = ["--redis-url", "redis://127.0.0.1:6379"];

    #[test]
    fn defaults_match_the_documented_ones() {
        let c = Config::load(&overrides(&REDIS)).expect("valid");
        assert_eq!(c.queue_prefix, "blueprint:");
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.port, 9899);
        assert_eq!(c.drain_timeout, Duration::from_secs(30));
        assert_eq!(c.api_url, "http://127.0.0.1:9898");
        let q = c.queue_config();
        assert_eq!(q.max_attempts, 5);
        assert_eq!(q.backoff_base, Duration::from_millis(500));
        assert_eq!(q.backoff_max, Duration::from_secs(60));
        assert_eq!(q.visibility_timeout, Duration::from_secs(30));
        assert_eq!(q.max_backlog, 100_000);
        assert_eq!(q.record_ttl, Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn a_missing_redis_url_is_an_error_naming_it() {
        let err = Config::load(&Overrides::default()).expect_err("required");
        assert_eq!(err.setting, "--redis-url");
    }

    #[test]
    fn queue_flags_reach_the_queue_config() {
        let mut args = REDIS.to_vec();
        args.extend([
            "--max-attempts",
            "2",
            "--backoff-base",
            "50ms",
            "--backoff-max",
            "1s",
            "--visibility-timeout",
            "5s",
            "--max-backlog",
            "10",
            "--job-ttl",
            "1h",
        ]);
        let q = Config::load(&overrides(&args))
            .expect("valid")
            .queue_config();
        assert_eq!(q.max_attempts, 2);
        assert_eq!(q.backoff_base, Duration::from_millis(50));
        assert_eq!(q.backoff_max, Duration::from_secs(1));
        assert_eq!(q.visibility_timeout, Duration::from_secs(5));
        assert_eq!(q.max_backlog, 10);
        assert_eq!(q.record_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("worker.toml");
        std::fs::write(
            &file,
            "redis-url = \"redis://10.0.0.1:6379\"\nconcurrency = 3\ndrain-timeout = \"5s\"\n",
        )
        .expect("write");
        let path = file.to_str().expect("utf-8 path");
        let c = Config::load(&overrides(&["--config", path, "--concurrency", "4"])).expect("valid");
        assert_eq!(c.concurrency, 4, "flag beats file");
        assert_eq!(
            c.drain_timeout,
            Duration::from_secs(5),
            "file beats default"
        );
        assert_eq!(c.redis_target(), "redis://10.0.0.1:6379");
    }

    #[test]
    fn an_unknown_key_in_the_file_names_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("worker.yaml");
        std::fs::write(&file, "concurency: 3\n").expect("write");
        let err = Config::load(&overrides(&["--config", file.to_str().expect("utf-8")]))
            .expect_err("typo rejected");
        assert!(err.to_string().contains("concurency"), "{err}");
    }

    #[test]
    fn nonsense_is_rejected_with_the_setting_named() {
        let cases: &[(&[&str], &str)] = &[
            (&["--redis-url", "http://127.0.0.1:6379"], "--redis-url"),
            (&["--redis-url", "rediss://"], "--redis-url"),
            (&["--redis-url", "not a url"], "--redis-url"),
            (&["--queue-prefix", ""], "--queue-prefix"),
            (&["--concurrency", "0"], "--concurrency"),
            (&["--concurrency", "5000"], "--concurrency"),
            (&["--drain-timeout", "0s"], "--drain-timeout"),
            (&["--api-url", "ftp://x"], "--api-url"),
            (&["--max-attempts", "0"], "--max-attempts"),
            (&["--backoff-base", "0s"], "--backoff-base"),
            (
                &["--backoff-base", "2s", "--backoff-max", "1s"],
                "--backoff-max",
            ),
            (&["--visibility-timeout", "0s"], "--visibility-timeout"),
            (&["--max-backlog", "0"], "--max-backlog"),
            (&["--job-ttl", "0s"], "--job-ttl"),
        ];
        for (args, setting) in cases {
            let mut all = REDIS.to_vec();
            all.extend_from_slice(args);
            let err = Config::load(&overrides(&all)).expect_err("rejected");
            assert_eq!(&err.setting, setting, "{args:?} → {err}");
        }
    }

    #[test]
    fn the_redis_password_never_prints() {
        let url = "redis://user:hunter2@127.0.0.1:6379/0";
        let c = Config::load(&overrides(&["--redis-url", url])).expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.redis_target(), "redis://127.0.0.1:6379/0");
        assert_eq!(
            c.scrub("cannot connect to redis://user:hunter2@127.0.0.1"),
            "cannot connect to redis://user:***@127.0.0.1"
        );
        let bad = Config::load(&overrides(&["--redis-url", "ftp://user:hunter2@x"]))
            .expect_err("bad scheme");
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn a_tls_redis_url_is_accepted_and_its_password_never_prints() {
        let url = "rediss://user:hunter2@redis.example:6380/0";
        let c = Config::load(&overrides(&["--redis-url", url])).expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.redis_target(), "rediss://redis.example:6380/0");
    }
}

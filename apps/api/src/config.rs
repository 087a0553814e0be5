//! Configuration: embedded defaults → optional file → `BLUEPRINT_*` environment → flags.
//!
//! Every setting is a flag (named like podinfo's where podinfo has one) and an environment variable
//! `BLUEPRINT_<FLAG_IN_SCREAMING_SNAKE_CASE>`; both are handled by clap, so `--help` lists them
//! together with their units. A file given with `--config` (TOML, or YAML by extension) sits between
//! the defaults and the environment. After layering, [`Config::validate`] rejects nonsense with one
//! line naming the setting, and `main` exits with code 64 (`EX_USAGE`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The exit code for a configuration error (`EX_USAGE` from sysexits.h).
pub const EXIT_CONFIG: i32 = 64;

/// Smallest accepted JWT secret, in bytes: HS256 keys shorter than the hash output are weak.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Command line of `blueprint-api`.
#[derive(Debug, Parser)]
#[command(
    name = "blueprint-api",
    version,
    about = "The SRE Blueprint reference HTTP service (podinfo-compatible).",
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

/// Subcommands; with none, the server runs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe a running instance and exit 0 if it answers 2xx (for container HEALTHCHECKs without curl).
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
#[allow(clippy::struct_excessive_bools)]
pub struct Overrides {
    /// Configuration file (TOML, or YAML if it ends in .yaml/.yml); below env vars and flags.
    #[arg(long, env = "BLUEPRINT_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 0.0.0.0, every interface].
    #[arg(long, env = "BLUEPRINT_HOST")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<IpAddr>,
    /// HTTP port [default: 9898].
    #[arg(long, env = "BLUEPRINT_PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Extra port serving only /metrics and /healthz; 0 = off [default: 0].
    #[arg(long, env = "BLUEPRINT_PORT_METRICS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_metrics: Option<u16>,
    /// Hostname reported by /api/info [default: the machine's hostname].
    #[arg(long, env = "BLUEPRINT_HOSTNAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Directory for /store files [default: /data].
    #[arg(long, env = "BLUEPRINT_DATA_PATH", value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_path: Option<PathBuf>,

    /// Log level: error, warn, info, debug, trace (RUST_LOG wins when set) [default: info].
    #[arg(long, env = "BLUEPRINT_LEVEL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// One JSON access-log line per request at info [default: true].
    #[arg(long, env = "BLUEPRINT_ACCESS_LOG", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log: Option<bool>,

    /// UI colour reported by /api/info [default: #34577c].
    #[arg(long, env = "BLUEPRINT_UI_COLOR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_color: Option<String>,
    /// UI greeting reported by /api/info [default: greetings from blueprint-api].
    #[arg(long, env = "BLUEPRINT_UI_MESSAGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_message: Option<String>,
    /// UI logo URL reported by /api/info.
    #[arg(long, env = "BLUEPRINT_UI_LOGO")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_logo: Option<String>,
    /// Directory of a built single-page app (index.html, assets/) to serve to browsers next to the
    /// API; must contain index.html. Unset = API only.
    #[arg(long, env = "BLUEPRINT_UI_PATH", value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_path: Option<PathBuf>,

    /// Backend URL(s) that /echo fans out to; repeat or comma-separate.
    #[arg(long, env = "BLUEPRINT_BACKEND_URL", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_url: Option<Vec<String>>,

    /// Start with liveness failing (503 on /healthz and /livez).
    #[arg(long, env = "BLUEPRINT_UNHEALTHY", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy: Option<bool>,
    /// Start with readiness failing (503 on /readyz) until POST /readyz/enable.
    #[arg(long, env = "BLUEPRINT_UNREADY", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unready: Option<bool>,

    /// Turn every chaos route (/status, /delay, /panic, /fault_injection, /chunked, random faults) off: 404.
    #[arg(long, env = "BLUEPRINT_DISABLE_CHAOS", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_chaos: Option<bool>,
    /// Add a random delay to every request (see --random-delay-min/max/unit).
    #[arg(long, env = "BLUEPRINT_RANDOM_DELAY", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_delay: Option<bool>,
    /// Smallest random delay, in --random-delay-unit [default: 0].
    #[arg(long, env = "BLUEPRINT_RANDOM_DELAY_MIN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_delay_min: Option<u64>,
    /// Largest random delay, in --random-delay-unit [default: 5].
    #[arg(long, env = "BLUEPRINT_RANDOM_DELAY_MAX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_delay_max: Option<u64>,
    /// Unit of the random delay bounds: s or ms [default: s].
    #[arg(long, env = "BLUEPRINT_RANDOM_DELAY_UNIT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_delay_unit: Option<DelayUnit>,
    /// Fail requests at random (see --random-error-rate).
    #[arg(long, env = "BLUEPRINT_RANDOM_ERROR", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_error: Option<bool>,
    /// Probability, 0.0–1.0, that a request fails with a 5xx while random errors are on [default: 0.33].
    #[arg(long, env = "BLUEPRINT_RANDOM_ERROR_RATE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_error_rate: Option<f64>,
    /// Largest delay /delay/{seconds} accepts, e.g. 10s; above it → 400 [default: 10s].
    #[arg(long, env = "BLUEPRINT_MAX_DELAY", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub max_delay: Option<Duration>,
    /// Burn this many CPU cores (fractions allowed) for autoscaling demos; 0 = off [default: 0].
    #[arg(long, env = "BLUEPRINT_STRESS_CPU")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stress_cpu: Option<f64>,
    /// Hold this many MiB of memory for autoscaling demos; 0 = off [default: 0].
    #[arg(long, env = "BLUEPRINT_STRESS_MEMORY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stress_memory: Option<u64>,

    /// HS256 secret for /token, at least 32 bytes; unset = a random one per process (with a warning).
    #[arg(long, env = "BLUEPRINT_JWT_SECRET", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<String>,

    /// Largest request body accepted, in bytes; larger → 413 [default: 10485760 = 10 MiB].
    #[arg(long, env = "BLUEPRINT_BODY_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_limit: Option<usize>,
    /// Time limit to read request headers and to answer a request; must exceed --max-delay [default: 30s].
    #[arg(long, env = "BLUEPRINT_HTTP_SERVER_TIMEOUT", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub http_server_timeout: Option<Duration>,
    /// Time limit of each call to a --backend-url [default: 2m].
    #[arg(long, env = "BLUEPRINT_HTTP_CLIENT_TIMEOUT", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub http_client_timeout: Option<Duration>,
    /// After SIGTERM, keep serving (with /readyz at 503) this long so load balancers drain [default: 5s].
    #[arg(long, env = "BLUEPRINT_DRAIN_DELAY", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub drain_delay: Option<Duration>,
    /// After the drain, how long in-flight requests may take to finish [default: 10s].
    #[arg(long, alias = "server-shutdown-timeout", env = "BLUEPRINT_SHUTDOWN_TIMEOUT", value_parser = humantime::parse_duration)]
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    pub shutdown_timeout: Option<Duration>,

    /// Redis for the job queue and /cache, e.g. redis://:password@host:6379/0; unset = in-memory
    /// queue with an in-process worker, and no /cache.
    #[arg(
        long,
        alias = "cache-server",
        env = "BLUEPRINT_REDIS_URL",
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key this service writes [default: blueprint:].
    #[arg(long, env = "BLUEPRINT_QUEUE_PREFIX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_prefix: Option<String>,
    /// Most jobs waiting; above it POST /jobs answers 503 with Retry-After [default: 100000].
    #[arg(long, env = "BLUEPRINT_MAX_BACKLOG")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_backlog: Option<u64>,
    /// Runs allowed per job before it goes to the dead letters [default: 5].
    #[arg(long, env = "BLUEPRINT_MAX_ATTEMPTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Jobs the in-process worker runs at once (in-memory mode only) [default: 4].
    #[arg(long, env = "BLUEPRINT_WORKER_CONCURRENCY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_concurrency: Option<usize>,

    /// Largest WebSocket message on /ws/echo, in bytes [default: 65536].
    #[arg(long, env = "BLUEPRINT_WS_MAX_MESSAGE_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_max_message_bytes: Option<usize>,
    /// Messages per second one /ws/echo connection may send; more closes it (1008) [default: 50].
    #[arg(long, env = "BLUEPRINT_WS_MAX_MESSAGES_PER_SECOND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_max_messages_per_second: Option<u32>,
}

/// Unit of `--random-delay-min/max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DelayUnit {
    /// Seconds.
    S,
    /// Milliseconds.
    Ms,
}

impl DelayUnit {
    /// The duration of `n` of this unit.
    pub fn of(self, n: u64) -> Duration {
        match self {
            Self::S => Duration::from_secs(n),
            Self::Ms => Duration::from_millis(n),
        }
    }
}

/// The layered, validated configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub port_metrics: u16,
    pub hostname: Option<String>,
    pub data_path: PathBuf,
    pub level: String,
    pub access_log: bool,
    pub ui_color: String,
    pub ui_message: String,
    pub ui_logo: String,
    pub ui_path: Option<PathBuf>,
    pub backend_url: Vec<String>,
    pub unhealthy: bool,
    pub unready: bool,
    pub disable_chaos: bool,
    pub random_delay: bool,
    pub random_delay_min: u64,
    pub random_delay_max: u64,
    pub random_delay_unit: DelayUnit,
    pub random_error: bool,
    pub random_error_rate: f64,
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    pub stress_cpu: f64,
    pub stress_memory: u64,
    #[serde(skip_serializing)]
    pub jwt_secret: Option<SecretString>,
    pub body_limit: usize,
    #[serde(with = "humantime_serde")]
    pub http_server_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub http_client_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub ws_max_message_bytes: usize,
    pub ws_max_messages_per_second: u32,
    #[serde(skip_serializing)]
    pub redis_url: Option<SecretString>,
    pub queue_prefix: String,
    pub max_backlog: u64,
    pub max_attempts: u32,
    pub worker_concurrency: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: IpAddr::from([0, 0, 0, 0]),
            port: 9898,
            port_metrics: 0,
            hostname: None,
            data_path: PathBuf::from("/data"),
            level: "info".into(),
            access_log: true,
            ui_color: "#34577c".into(),
            ui_message: "greetings from blueprint-api".into(),
            ui_logo: String::new(),
            ui_path: None,
            backend_url: Vec::new(),
            unhealthy: false,
            unready: false,
            disable_chaos: false,
            random_delay: false,
            random_delay_min: 0,
            random_delay_max: 5,
            random_delay_unit: DelayUnit::S,
            random_error: false,
            random_error_rate: 0.33,
            max_delay: Duration::from_secs(10),
            stress_cpu: 0.0,
            stress_memory: 0,
            jwt_secret: None,
            body_limit: 10 * 1024 * 1024,
            http_server_timeout: Duration::from_secs(30),
            http_client_timeout: Duration::from_secs(120),
            drain_delay: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            ws_max_message_bytes: 64 * 1024,
            ws_max_messages_per_second: 50,
            redis_url: None,
            queue_prefix: "blueprint:".into(),
            max_backlog: 100_000,
            max_attempts: 5,
            worker_concurrency: 4,
        }
    }
}

pub use service::config::ConfigError;
use service::config::invalid;

impl Config {
    /// Layer defaults, the optional file and the overrides (flags and env), then validate.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        let config: Self = service::config::load_layered(
            &Self::default(),
            overrides.config.as_deref(),
            overrides,
        )?;
        config.validate()?;
        Ok(config)
    }

    /// Reject settings that cannot work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.port_metrics != 0 && self.port_metrics == self.port {
            return Err(invalid(
                "--port-metrics",
                format!("must differ from --port ({})", self.port),
            ));
        }
        if self.random_delay_min > self.random_delay_max {
            return Err(invalid(
                "--random-delay-min",
                format!(
                    "{} is larger than --random-delay-max {}",
                    self.random_delay_min, self.random_delay_max
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.random_error_rate) {
            return Err(invalid(
                "--random-error-rate",
                format!("{} is not a probability in 0.0–1.0", self.random_error_rate),
            ));
        }
        if self.max_delay >= self.http_server_timeout {
            return Err(invalid(
                "--max-delay",
                format!(
                    "{} must be shorter than --http-server-timeout {}",
                    humantime::format_duration(self.max_delay),
                    humantime::format_duration(self.http_server_timeout)
                ),
            ));
        }
        if self.random_delay
            && self.random_delay_unit.of(self.random_delay_max) >= self.http_server_timeout
        {
            return Err(invalid(
                "--random-delay-max",
                "must be shorter than --http-server-timeout",
            ));
        }
        if self.body_limit == 0 {
            return Err(invalid("--body-limit", "must be at least 1 byte"));
        }
        if self.shutdown_timeout.is_zero() {
            return Err(invalid("--shutdown-timeout", "must be longer than 0s"));
        }
        if self.http_client_timeout.is_zero() {
            return Err(invalid("--http-client-timeout", "must be longer than 0s"));
        }
        if !(0.0..=1024.0).contains(&self.stress_cpu) || self.stress_cpu.is_nan() {
            return Err(invalid(
                "--stress-cpu",
                format!("{} is not a number of cores in 0–1024", self.stress_cpu),
            ));
        }
        if self.ws_max_message_bytes == 0 || self.ws_max_messages_per_second == 0 {
            return Err(invalid(
                "--ws-max-message-bytes",
                "WebSocket limits must be at least 1",
            ));
        }
        if self.data_path.as_os_str().is_empty() {
            return Err(invalid("--data-path", "must not be empty"));
        }
        self.validate_ui_path()?;
        self.validate_urls()?;
        if self.max_backlog == 0 || self.max_attempts == 0 || self.worker_concurrency == 0 {
            return Err(invalid(
                "--max-backlog",
                "--max-backlog, --max-attempts and --worker-concurrency must be at least 1",
            ));
        }
        if let Some(secret) = &self.jwt_secret {
            use secrecy::ExposeSecret;
            let len = secret.expose_secret().len();
            if len < MIN_JWT_SECRET_BYTES {
                return Err(invalid(
                    "--jwt-secret",
                    format!("is {len} bytes; use at least {MIN_JWT_SECRET_BYTES}"),
                ));
            }
        }
        Ok(())
    }

    /// `--backend-url` and `--redis-url` must be URLs with a scheme we speak.
    fn validate_urls(&self) -> Result<(), ConfigError> {
        for url in &self.backend_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                Ok(u) => {
                    return Err(invalid(
                        "--backend-url",
                        format!("{url}: scheme {} is not http or https", u.scheme()),
                    ));
                }
                Err(e) => return Err(invalid("--backend-url", format!("{url}: {e}"))),
            }
        }
        if let Some(url) = &self.redis_url {
            use secrecy::ExposeSecret;
            match reqwest::Url::parse(url.expose_secret()) {
                // `rediss://` is TLS: the server certificate must chain to the system root
                // store (SSL_CERT_FILE / SSL_CERT_DIR name a private CA).
                Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "unix" | "redis+unix") => {}
                Ok(u) => {
                    return Err(invalid(
                        "--redis-url",
                        format!("scheme {} is not redis, rediss or unix", u.scheme()),
                    ));
                }
                // The URL may hold a password: name the problem, never the value.
                Err(e) => return Err(invalid("--redis-url", format!("not a URL ({e})"))),
            }
        }
        Ok(())
    }

    /// `--ui-path`, when set, must be a directory with an `index.html`: checked once at start, so a
    /// typo or an unbuilt UI stops the process instead of answering 404 to every browser.
    fn validate_ui_path(&self) -> Result<(), ConfigError> {
        let Some(dir) = &self.ui_path else {
            return Ok(());
        };
        if !dir.is_dir() {
            return Err(invalid(
                "--ui-path",
                format!("{} is not a directory", dir.display()),
            ));
        }
        if !dir.join("index.html").is_file() {
            return Err(invalid(
                "--ui-path",
                format!("{} has no index.html (is the UI built?)", dir.display()),
            ));
        }
        Ok(())
    }

    /// Random delay bounds when random delay is on (by flag or by fault injection).
    pub fn random_delay_bounds(&self) -> (Duration, Duration) {
        (
            self.random_delay_unit.of(self.random_delay_min),
            self.random_delay_unit.of(self.random_delay_max),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(args: &[&str]) -> Overrides {
        let mut command_line = vec!["blueprint-api"];
        command_line.extend_from_slice(args);
        Cli::try_parse_from(command_line)
            .expect("flags parse")
            .settings
    }

    #[test]
    fn defaults_match_podinfo_where_podinfo_has_them() {
        let c = Config::load(&Overrides::default()).expect("defaults are valid");
        assert_eq!(c.port, 9898);
        assert_eq!(c.port_metrics, 0);
        assert_eq!(c.data_path, PathBuf::from("/data"));
        assert_eq!(c.drain_delay, Duration::from_secs(5));
        assert!(c.access_log);
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("api.toml");
        std::fs::write(&file, "port = 7000\nui-message = \"from file\"\n").expect("write");
        let path = file.to_str().expect("utf-8 path");
        let c = Config::load(&overrides(&["--config", path, "--port", "7001"])).expect("valid");
        assert_eq!(c.port, 7001, "flag beats file");
        assert_eq!(c.ui_message, "from file", "file beats default");
    }

    #[test]
    fn a_yaml_file_is_read_by_its_extension() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("api.yaml");
        std::fs::write(&file, "drain-delay: 1s\nrandom-error-rate: 0.5\n").expect("write");
        let c =
            Config::load(&overrides(&["--config", file.to_str().expect("utf-8")])).expect("valid");
        assert_eq!(c.drain_delay, Duration::from_secs(1));
        assert!((c.random_error_rate - 0.5).abs() < f64::EPSILON);
    }

    #[test]
    fn an_unknown_key_in_the_file_names_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("api.toml");
        std::fs::write(&file, "prot = 1\n").expect("write");
        let err = Config::load(&overrides(&["--config", file.to_str().expect("utf-8")]))
            .expect_err("typo rejected");
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let err = Config::load(&overrides(&["--config", "/nonexistent/api.toml"]))
            .expect_err("missing file");
        assert_eq!(err.setting, "--config");
    }

    #[test]
    fn a_wrong_type_in_the_file_names_the_setting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("api.toml");
        std::fs::write(&file, "port = \"eighty\"\n").expect("write");
        let err = Config::load(&overrides(&["--config", file.to_str().expect("utf-8")]))
            .expect_err("bad type");
        assert_eq!(err.setting, "--port", "{err}");
    }

    #[test]
    fn nonsense_is_rejected_with_the_setting_named() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--port", "9898", "--port-metrics", "9898"],
                "--port-metrics",
            ),
            (
                &["--random-delay-min", "6", "--random-delay-max", "5"],
                "--random-delay-min",
            ),
            (&["--random-error-rate", "1.5"], "--random-error-rate"),
            (&["--max-delay", "40s"], "--max-delay"),
            (
                &["--random-delay", "--random-delay-max", "31"],
                "--random-delay-max",
            ),
            (&["--body-limit", "0"], "--body-limit"),
            (&["--shutdown-timeout", "0s"], "--shutdown-timeout"),
            (&["--http-client-timeout", "0s"], "--http-client-timeout"),
            (&["--stress-cpu=-1"], "--stress-cpu"),
            (&["--ws-max-message-bytes", "0"], "--ws-max-message-bytes"),
            (&["--backend-url", "ftp://example"], "--backend-url"),
            (&["--backend-url", "not a url"], "--backend-url"),
            (&["--jwt-secret", "short"], "--jwt-secret"),
            (&["--redis-url", "http://localhost"], "--redis-url"),
            (&["--redis-url", "not a url"], "--redis-url"),
            (&["--max-backlog", "0"], "--max-backlog"),
            (&["--ui-path", "/nonexistent/dist"], "--ui-path"),
        ];
        for (args, setting) in cases {
            let err = Config::load(&overrides(args)).expect_err("rejected");
            assert_eq!(&err.setting, setting, "{args:?} → {err}");
        }
    }

    #[test]
    fn redis_urls_with_and_without_tls_are_accepted_and_the_password_never_prints() {
        for url in [
            "redis://127.0.0.1:6379",
            "rediss://host:6380",
            "rediss://:hunter2@redis.example:6380/0",
            "unix:///run/redis.sock",
        ] {
            let c = Config::load(&overrides(&["--redis-url", url])).expect("valid");
            assert!(!format!("{c:?}").contains("hunter2"), "{url}");
        }
        let err = Config::load(&overrides(&["--redis-url", "http://:hunter2@host"]))
            .expect_err("rejected");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_ui_path_needs_an_index_html_and_is_read_from_the_file_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ui = dir.path().to_str().expect("utf-8");
        let err = Config::load(&overrides(&["--ui-path", ui])).expect_err("no index.html");
        assert_eq!(err.setting, "--ui-path");
        assert!(err.problem.contains("index.html"), "{err}");

        std::fs::write(dir.path().join("index.html"), "<!doctype html>").expect("write");
        let c = Config::load(&overrides(&["--ui-path", ui])).expect("valid");
        assert_eq!(c.ui_path.as_deref(), Some(dir.path()));

        let file = dir.path().join("api.toml");
        std::fs::write(&file, format!("ui-path = {ui:?}\n")).expect("write");
        let c =
            Config::load(&overrides(&["--config", file.to_str().expect("utf-8")])).expect("valid");
        assert_eq!(c.ui_path.as_deref(), Some(dir.path()), "config-file key");
        assert_eq!(
            Config::load(&Overrides::default()).expect("valid").ui_path,
            None
        );
    }

    #[test]
    fn bool_flags_work_bare_and_with_a_value() {
        let o = overrides(&["--unready", "--access-log=false"]);
        assert_eq!(o.unready, Some(true));
        assert_eq!(o.access_log, Some(false));
    }

    #[test]
    fn the_secret_never_prints() {
        let secret = "s".repeat(40);
        let c = Config::load(&overrides(&["--jwt-secret", &secret])).expect("valid");
        assert!(!format!("{c:?}").contains(&secret));
    }
}

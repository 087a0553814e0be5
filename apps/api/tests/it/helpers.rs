//! Test harness: an in-process app on a free port, and the real binary as a child process.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use blueprint_api::config::{Cli, Config};
use blueprint_api::server::Application;
use blueprint_api::state::AppState;
use clap::Parser as _;
use tokio::sync::oneshot;

/// A running in-process app. Dropping it shuts the server down.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub port: u16,
    pub metrics_port: Option<u16>,
    pub client: reqwest::Client,
    pub state: AppState,
    pub data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// POST `body` to `path`.
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Trigger shutdown and wait for the server to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server
            .take()
            .expect("server running")
            .await
            .expect("server task did not panic")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Config for a test: port 0 on loopback, a fresh data dir, no drain delay, plus `args`.
pub fn test_config(data_dir: &std::path::Path, args: &[&str]) -> Config {
    let data = data_dir.to_str().expect("utf-8 temp path");
    let mut command_line = vec![
        "blueprint-api",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data-path",
        data,
        "--drain-delay",
        "0s",
        "--access-log=false",
    ];
    command_line.extend_from_slice(args);
    let cli = Cli::try_parse_from(command_line).expect("test flags parse");
    Config::load(&cli.settings).expect("test config is valid")
}

/// Start the app in-process with extra flags.
pub async fn spawn_app_with(args: &[&str]) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp data dir");
    let config = test_config(data_dir.path(), args);
    let app = Application::build(config).await.expect("app builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        metrics_port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        state,
        data_dir,
        stop: Some(stop),
        server: Some(server),
    }
}

/// Start the app in-process with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Path of the built `blueprint-api` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blueprint-api"))
}

/// A free loopback port (bound, then released; the child binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// The real binary running as a child. Killed (SIGKILL) on drop if still running.
pub struct ChildApp {
    pub child: Child,
    pub port: u16,
    pub address: String,
    /// Removed when the app is dropped.
    _data_dir: tempfile::TempDir,
}

impl ChildApp {
    /// Start `blueprint-api` on a free port with `args` and `envs`, stdout/stderr captured,
    /// and wait until `/readyz` answers 200 (at most 10 s).
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let port = free_port();
        let port_arg = port.to_string();
        let mut command = Command::new(binary());
        command
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port_arg,
                "--data-path",
                data_dir.path().to_str().expect("utf-8 path"),
            ])
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command.spawn().expect("blueprint-api starts");
        let mut app = Self {
            child,
            port,
            address: format!("http://127.0.0.1:{port}"),
            _data_dir: data_dir,
        };
        app.wait_ready(Duration::from_secs(10));
        app
    }

    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("blueprint-api exited early with {status}");
            }
            if blocking_get(self.port, "/readyz").is_some_and(|(status, _)| status == 200) {
                return;
            }
            pause(Duration::from_millis(20));
        }
        panic!("blueprint-api not ready within {limit:?}");
    }

    /// Send `signal` to the child.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        nix::sys::signal::kill(pid, signal).expect("signal delivered");
    }

    /// Wait for exit up to `limit`; returns the exit code (None if killed by a signal).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "blueprint-api did not exit within {limit:?}"
            );
            pause(Duration::from_millis(20));
        }
    }

    /// Everything the child wrote to stdout (call after it exited).
    pub fn stdout(&mut self) -> String {
        use std::io::Read as _;
        let mut out = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for ChildApp {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A tiny blocking HTTP/1.1 GET on loopback: `(status, body)`, or `None` if nothing answered.
/// Used where a test must not depend on an async runtime (process start-up polling).
pub fn blocking_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Block this thread for `d`. Process tests are synchronous on purpose (signals, exit codes); async
/// tests use `tokio::time::sleep`.
#[allow(
    clippy::disallowed_methods,
    reason = "synchronous process tests, not an async worker"
)]
pub fn pause(d: Duration) {
    std::thread::sleep(d);
}

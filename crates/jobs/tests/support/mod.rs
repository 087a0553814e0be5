//! Test support: a real `redis-server` per test, on a free port of 127.0.0.1, in its own
//! temporary directory, stopped by PID when dropped.
//!
//! Each test starts its own server (about 20 ms) rather than sharing one: outage tests stop and
//! restart theirs, and a server per test cannot outlive the test binary (a `static` would never be
//! dropped, leaving the process behind).

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The Debian package's server.
const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// How long a server may take to answer PING after it was spawned (AOF replay included).
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between two readiness or exit checks.
const POLL: Duration = Duration::from_millis(10);
/// Ports tried before giving up (another process may take a free port before the server does).
const PORT_ATTEMPTS: usize = 5;

/// A `redis-server` child process.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    aof: bool,
    password: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A server without persistence (`--save '' --appendonly no`).
    pub async fn start() -> Self {
        Self::launch(false).await
    }

    /// A server that persists every write before answering (`--appendonly yes --appendfsync
    /// always`), so a restart keeps everything acknowledged.
    pub async fn aof() -> Self {
        Self::launch(true).await
    }

    /// A server that requires `password` (`--requirepass`).
    pub async fn with_password(password: &str) -> Self {
        Self::launch_with(false, Some(password.to_owned())).await
    }

    async fn launch(aof: bool) -> Self {
        Self::launch_with(aof, None).await
    }

    async fn launch_with(aof: bool, password: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for redis-server");
        let mut server = Self {
            port: 0,
            dir,
            aof,
            password,
            child: None,
        };
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            if server.spawn_and_wait().await {
                return server;
            }
        }
        panic!(
            "redis-server did not start in {PORT_ATTEMPTS} attempts; its log:\n{}",
            server.log()
        );
    }

    /// `redis://127.0.0.1:{port}` (with `:password@` when the server requires one).
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Stop the server (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]); the port and the data
    /// directory stay, for [`restart`](Self::restart).
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        terminate(&child);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Start again on the same port and directory (with AOF, the data comes back).
    pub async fn restart(&mut self) {
        self.stop().await;
        assert!(
            self.spawn_and_wait().await,
            "redis-server did not restart on port {}; its log:\n{}",
            self.port,
            self.log()
        );
    }

    /// Freeze the server (SIGSTOP): connections stay open but nothing answers, like a hung host.
    pub fn freeze(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// Resume a frozen server (SIGCONT).
    pub fn thaw(&self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        let child = self.child.as_ref().expect("the server is running");
        let pid = i32::try_from(child.id()).expect("a pid fits i32");
        kill(Pid::from_raw(pid), signal).expect("signal redis-server");
    }

    /// Spawn on `self.port` and wait until it answers PING; `false` if it exits or never answers.
    async fn spawn_and_wait(&mut self) -> bool {
        let dir = self.dir.path();
        let mut command = Command::new(REDIS_SERVER);
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.aof {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        if let Some(password) = &self.password {
            command.arg("--requirepass").arg(password);
        }
        let mut child = command.spawn().expect("spawn /usr/bin/redis-server");
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                // Exited: most likely the port was taken meanwhile.
                return false;
            }
            if pong(self.port).await {
                self.child = Some(child);
                return true;
            }
            tokio::time::sleep(POLL).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        terminate(&child);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            // Drop cannot await; the wait is a few milliseconds at the end of a test.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(POLL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// SIGTERM to the child, by its PID (and SIGCONT, in case a test froze it).
fn terminate(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        // A frozen server only acts on SIGTERM once it runs again.
        let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
    }
}

/// A port the OS considers free right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Whether a server on `port` answers `PING` with `+PONG` (or `-NOAUTH`, when it requires a
/// password) rather than `-LOADING` or nothing.
async fn pong(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0_u8; 7];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(&reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Ok(true))
    )
}

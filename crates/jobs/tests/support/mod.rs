//! Test support: a real `redis-server` per test, on a free port of 127.0.0.1, in its own
//! temporary directory, stopped by PID when dropped.
//!
//! Each test starts its own server (about 20 ms) rather than sharing one: outage tests stop and
//! restart theirs, and a server per test cannot outlive the test binary (a `static` would never be
//! dropped, leaving the process behind).
//!
//! [`RedisServer::tls`] starts a server that only speaks TLS, with a throwaway CA and server
//! certificate made by the `openssl` CLI in the server's temporary directory.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
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
    tls: Option<TlsFiles>,
    child: Option<Child>,
}

/// The certificates of a TLS server, in its temporary directory.
pub struct TlsFiles {
    /// The CA that signed the server certificate (PEM).
    pub ca_cert: PathBuf,
    /// The server certificate (PEM): `CN=127.0.0.1`, SAN `IP:127.0.0.1` and `DNS:localhost`.
    pub server_cert: PathBuf,
    /// The server's private key (PEM).
    pub server_key: PathBuf,
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

    /// A server that only accepts TLS (`--port 0 --tls-port N`), with a certificate signed by a
    /// CA made for this server alone (see [`ca_cert`](Self::ca_cert)); clients need no
    /// certificate (`--tls-auth-clients no`).
    pub async fn tls() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for redis-server");
        let ca = make_ca(dir.path(), "ca");
        let tls = make_server_cert(dir.path(), &ca);
        Self::launch_in(dir, false, None, Some(tls)).await
    }

    async fn launch(aof: bool) -> Self {
        Self::launch_with(aof, None).await
    }

    async fn launch_with(aof: bool, password: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for redis-server");
        Self::launch_in(dir, aof, password, None).await
    }

    async fn launch_in(
        dir: TempDir,
        aof: bool,
        password: Option<String>,
        tls: Option<TlsFiles>,
    ) -> Self {
        let mut server = Self {
            port: 0,
            dir,
            aof,
            password,
            tls,
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

    /// `redis://127.0.0.1:{port}` (with `:password@` when the server requires one), or
    /// `rediss://…` for a [`tls`](Self::tls) server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// The certificates of a [`tls`](Self::tls) server.
    pub fn tls_files(&self) -> &TlsFiles {
        self.tls
            .as_ref()
            .expect("a server started with RedisServer::tls")
    }

    /// The CA certificate (PEM) that a client must trust to talk to a [`tls`](Self::tls) server.
    pub fn ca_cert(&self) -> Vec<u8> {
        std::fs::read(&self.tls_files().ca_cert).expect("read the test CA certificate")
    }

    /// The temporary directory of the server (certificates, log, data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
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
        match &self.tls {
            None => command.arg("--port").arg(self.port.to_string()),
            Some(tls) => command
                .args(["--port", "0", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(&tls.server_cert)
                .arg("--tls-key-file")
                .arg(&tls.server_key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca_cert)
                .args(["--tls-auth-clients", "no"]),
        };
        command
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
        // A TLS server cannot be PINGed in plain text: its readiness is the log line written
        // after this spawn (the log is appended to across restarts).
        let log_start = self.log().len();
        let mut child = command.spawn().expect("spawn /usr/bin/redis-server");
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                // Exited: most likely the port was taken meanwhile.
                return false;
            }
            let ready = if self.tls.is_some() {
                self.log()
                    .get(log_start..)
                    .is_some_and(|new| new.contains("Ready to accept connections"))
                    && tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                        .await
                        .is_ok()
            } else {
                pong(self.port).await
            };
            if ready {
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
/// A free port for a redis-server, picked at random below Linux's ephemeral range
/// (32768–60999). Not `bind(0)`: the kernel hands a just-released port out again soon, so while
/// an outage test has its server stopped, a server started by a test running in parallel could
/// land on the same port and answer in its place. Here a stopped server's port comes back only
/// by a 1-in-12,000 draw, and never as a client connection's source port.
fn free_port() -> u16 {
    use rand::Rng as _;
    let mut rng = rand::rng();
    loop {
        let port = rng.random_range(PORTS);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Where [`free_port`] draws from: registered ports below the ephemeral range.
const PORTS: std::ops::Range<u16> = 20_000..32_768;

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

/// A self-signed CA made by the `openssl` CLI: `{dir}/{name}.crt` and `{dir}/{name}.key`;
/// returns the certificate's path. P-256 keys (fast to make), valid for two days.
pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    openssl(
        Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-days", "2"])
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-subj", &format!("/CN=blueprint test {name}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    cert
}

/// A server certificate for `127.0.0.1` / `localhost`, signed by the CA at `ca_cert` (its key
/// next to it, as [`make_ca`] writes it).
fn make_server_cert(dir: &Path, ca_cert: &Path) -> TlsFiles {
    let ca_key = ca_cert.with_extension("key");
    let server_key = dir.join("server.key");
    let server_csr = dir.join("server.csr");
    let server_cert = dir.join("server.crt");
    let extensions = dir.join("server.ext");
    std::fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
         basicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write the certificate extensions");
    openssl(
        Command::new("openssl")
            .args(["req", "-nodes", "-subj", "/CN=127.0.0.1"])
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .arg("-keyout")
            .arg(&server_key)
            .arg("-out")
            .arg(&server_csr),
    );
    openssl(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-set_serial", "2"])
            .arg("-in")
            .arg(&server_csr)
            .arg("-CA")
            .arg(ca_cert)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-extfile")
            .arg(&extensions)
            .arg("-out")
            .arg(&server_cert),
    );
    TlsFiles {
        ca_cert: ca_cert.to_owned(),
        server_cert,
        server_key,
    }
}

/// Run an `openssl` command, panicking with its output if it fails.
fn openssl(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("run the openssl CLI (Debian package openssl)");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

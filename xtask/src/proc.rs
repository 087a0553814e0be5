//! Child processes: print-then-run commands, free loopback ports, and long-running servers.
//!
//! Every command is printed (`$ prog args…`) before it runs, so a failure in CI can be replayed by
//! copying one line. Servers are wrapped in [`Server`], which owns the child: it is probed for
//! readiness with a deadline, stopped with SIGTERM and waited for by PID, and — if an error unwinds
//! past it — stopped on drop, so no `cargo xtask` run leaves a process listening behind it.

use std::fs::File;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::http;

/// How often [`wait_with_deadline`] checks whether a child exited. 50 ms keeps the overhead
/// negligible while adding at most 50 ms to a command's apparent run time.
const EXIT_POLL: Duration = Duration::from_millis(50);

/// Blocks this thread for `duration`. xtask is synchronous (no async runtime to starve), so the
/// workspace ban on `std::thread::sleep` does not apply; this is its one sanctioned use.
#[allow(clippy::disallowed_methods)]
pub fn pause(duration: Duration) {
    std::thread::sleep(duration);
}

/// Renders a command as one shell-like line: env overrides, program, arguments (quoted if needed).
pub fn display_command(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            parts.push(format!(
                "{}={}",
                key.to_string_lossy(),
                quote(&value.to_string_lossy())
            ));
        }
    }
    parts.push(quote(&cmd.get_program().to_string_lossy()));
    parts.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    parts.join(" ")
}

/// Quotes an argument for display when it holds characters a shell would split or expand.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+^".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Prints the command line, prefixed like a shell prompt.
pub fn print_command(cmd: &Command) {
    println!("$ {}", display_command(cmd));
}

/// Runs a command with inherited stdio and fails, naming the command, unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    print_command(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", display_command(cmd)))?;
    check_status(cmd, status)
}

/// Like [`run`], but stops the command (SIGTERM, then SIGKILL) when it outlives `limit`.
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Result<()> {
    print_command(cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{}`", display_command(cmd)))?;
    if let Some(status) = wait_with_deadline(&mut child, limit)? {
        return check_status(cmd, status);
    }
    terminate(&mut child, Duration::from_secs(10))?;
    bail!(
        "`{}` did not finish within {} s and was stopped",
        display_command(cmd),
        limit.as_secs()
    )
}

/// Runs a command capturing stdout and stderr; the caller judges the exit status.
pub fn output(cmd: &mut Command) -> Result<Output> {
    print_command(cmd);
    cmd.output()
        .with_context(|| format!("could not start `{}`", display_command(cmd)))
}

fn check_status(cmd: &Command, status: ExitStatus) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("`{}` failed: {status}", display_command(cmd))
    }
}

/// A command for a service under test: `BLUEPRINT_*`, `OTEL_*` and `RUST_LOG` from the caller's
/// environment are removed so a developer's shell settings cannot change what is tested or measured.
pub fn isolated(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("BLUEPRINT_") || key_text.starts_with("OTEL_") || key == "RUST_LOG"
        {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// Whether `program` is found on `PATH` (or is an existing path itself).
pub fn on_path(program: &str) -> Option<PathBuf> {
    let candidate = Path::new(program);
    if candidate.components().count() > 1 {
        return candidate.is_file().then(|| candidate.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// A loopback port that was free a moment ago: bind port 0, read the port, release it. The small
/// window before the server binds it is acceptable on a machine that runs one test suite at a time.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits for `child` up to `limit`; `None` when it is still running then.
pub fn wait_with_deadline(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child process")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        pause(EXIT_POLL);
    }
}

/// Sends `signal` (a name such as `TERM`) to `pid` with the system `kill`, keeping this crate free
/// of `unsafe` and of a signals dependency.
pub fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .context("running `kill`")?;
    if !status.success() {
        bail!("`kill -{signal} {pid}` failed: {status}");
    }
    Ok(())
}

/// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status and whether SIGKILL was needed.
pub fn terminate(child: &mut Child, grace: Duration) -> Result<(ExitStatus, bool)> {
    if let Some(status) = child.try_wait()? {
        return Ok((status, false));
    }
    // The process may exit between try_wait and kill; a failed signal is then harmless.
    let _ = signal(child.id(), "TERM");
    if let Some(status) = wait_with_deadline(child, grace)? {
        return Ok((status, false));
    }
    child.kill().context("SIGKILL")?;
    Ok((child.wait()?, true))
}

/// A long-running child process (api, nginx, podinfo) with its stderr captured to a file.
pub struct Server {
    /// Human name used in messages (`blueprint-api`, `nginx`, …).
    pub name: String,
    /// Where it listens (always loopback).
    pub addr: SocketAddr,
    child: Option<Child>,
    stderr_path: PathBuf,
}

impl Server {
    /// Spawns `cmd` with stdin closed, stdout to `stdout` (a file or `Stdio::null()`), and stderr
    /// to `<log_dir>/<name>.stderr.log` for the error message should it fail to become ready.
    pub fn spawn(
        name: &str,
        addr: SocketAddr,
        cmd: &mut Command,
        stdout: Stdio,
        log_dir: &Path,
    ) -> Result<Self> {
        let stderr_path = log_dir.join(format!("{name}.stderr.log"));
        let stderr = File::create(&stderr_path)
            .with_context(|| format!("creating {}", stderr_path.display()))?;
        print_command(cmd);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("could not start {name}: `{}`", display_command(cmd)))?;
        Ok(Self {
            name: name.to_owned(),
            addr,
            child: Some(child),
            stderr_path,
        })
    }

    /// The server's process id (the nginx master for nginx).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The exit status if the process has exited, without waiting (`None` while it runs).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        let child = self.child.as_mut().context("server already stopped")?;
        Ok(child.try_wait()?)
    }

    /// Polls `GET <path>` every `poll` until it answers 200, failing after `limit` — or at once if
    /// the process exits — with the tail of its stderr. Returns the time from the first poll.
    pub fn wait_ready(&mut self, path: &str, limit: Duration, poll: Duration) -> Result<Duration> {
        let start = Instant::now();
        loop {
            let child = self.child.as_mut().context("server already stopped")?;
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{} exited ({status}) before {path} answered 200; its stderr ends with:\n{}",
                    self.name,
                    self.stderr_tail()
                );
            }
            let last = match http::get(self.addr, path, &[], Duration::from_secs(2)) {
                Ok(resp) if resp.status == 200 => return Ok(start.elapsed()),
                Ok(resp) => format!("last answer: HTTP {}", resp.status),
                Err(err) => format!("last error: {err:#}"),
            };
            if start.elapsed() >= limit {
                bail!(
                    "{} did not answer 200 on {path} within {} ms ({last}); its stderr ends with:\n{}",
                    self.name,
                    limit.as_millis(),
                    self.stderr_tail()
                );
            }
            pause(poll);
        }
    }

    /// Stops the server with SIGTERM and waits by PID; SIGKILL after `grace`. Returns the exit
    /// status and whether SIGKILL was needed, so callers can judge graceful shutdown.
    pub fn stop(mut self, grace: Duration) -> Result<(ExitStatus, bool)> {
        let mut child = self.child.take().context("server already stopped")?;
        println!("stopping {} (pid {}) with SIGTERM", self.name, child.id());
        terminate(&mut child, grace).with_context(|| format!("stopping {}", self.name))
    }

    /// The last 40 lines of the server's stderr.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        if lines.is_empty() {
            "(stderr was empty)".to_owned()
        } else {
            lines[from..].join("\n")
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Not eprintln!: it panics when stderr is a closed pipe (`cargo xtask … | head`), and
            // a panic while unwinding aborts before the child is stopped.
            // (Unit tests skip the note: the harness captures eprintln!, not direct writes.)
            if matches!(child.try_wait(), Ok(None)) && !cfg!(test) {
                let _ = writeln!(
                    std::io::stderr(),
                    "xtask: stopping {} (pid {}) on the way out",
                    self.name,
                    child.id()
                );
            }
            let _ = terminate(&mut child, Duration::from_secs(5));
        }
    }
}

/// Reads a `kB` field (`VmRSS`, `VmHWM`) of `/proc/<pid>/status`, in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_kib(&text, field).with_context(|| format!("no {field} in {path}"))
}

fn parse_status_kib(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The direct children of `pid`, found by scanning `/proc/*/stat` for their parent id (works on
/// kernels without `/proc/<pid>/task/<tid>/children`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let child: u32 = name.to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            (parse_stat_ppid(&stat)? == pid).then_some(child)
        })
        .collect()
}

/// The parent pid from `/proc/<pid>/stat`: the field after the state, after the last `)` (the
/// command name in parentheses may itself hold spaces and parentheses).
fn parse_stat_ppid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_display_with_quotes_only_where_needed() {
        let mut cmd = Command::new("cargo");
        cmd.args(["clippy", "--", "-D", "warnings", "a b", "it's"]);
        cmd.env("GOFLAGS", "-mod=mod");
        assert_eq!(
            display_command(&cmd),
            r"GOFLAGS=-mod=mod cargo clippy -- -D warnings 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn status_fields_parse_in_kib() {
        let status = "Name:\tnginx\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(4096));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(5120));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn parent_pid_parses_past_odd_command_names() {
        assert_eq!(parse_stat_ppid("42 (nginx) S 7 42 42 0"), Some(7));
        assert_eq!(parse_stat_ppid("43 (a) b (c) S 9 43 43 0"), Some(9));
    }

    #[test]
    fn free_ports_are_loopback_bindable() {
        let port = free_port().expect("a free port");
        TcpListener::bind(("127.0.0.1", port)).expect("the port is still free");
    }

    #[test]
    fn a_command_that_outlives_its_limit_is_stopped() {
        let started = Instant::now();
        let err = run_with_timeout(Command::new("sleep").arg("30"), Duration::from_millis(200))
            .expect_err("sleep 30 outlives 200 ms");
        assert!(err.to_string().contains("did not finish"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    fn loopback(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_server_that_exits_early_fails_readiness_with_its_stderr() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo boom >&2; exit 3"]);
        let mut server = Server::spawn(
            "fake",
            loopback(free_port().expect("port")),
            &mut cmd,
            Stdio::null(),
            dir.path(),
        )
        .expect("spawns");
        let err = server
            .wait_ready(
                "/readyz",
                Duration::from_secs(10),
                Duration::from_millis(10),
            )
            .expect_err("it exits");
        let text = err.to_string();
        assert!(text.contains("fake exited (exit status: 3)"), "{text}");
        assert!(text.ends_with("boom"), "{text}");
    }

    #[test]
    fn a_server_that_never_listens_times_out_and_is_stopped_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut server = Server::spawn(
            "sleeper",
            loopback(free_port().expect("port")),
            &mut cmd,
            Stdio::null(),
            dir.path(),
        )
        .expect("spawns");
        let pid = server.pid();
        let err = server
            .wait_ready(
                "/readyz",
                Duration::from_millis(300),
                Duration::from_millis(10),
            )
            .expect_err("nothing listens");
        assert!(
            err.to_string()
                .contains("did not answer 200 on /readyz within 300 ms"),
            "{err}"
        );
        drop(server);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} survived the drop"
        );
    }

    #[test]
    fn stop_reports_a_clean_exit_on_sigterm() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A shell that exits 0 on SIGTERM, like a graceful server.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"]);
        let server = Server::spawn("graceful", loopback(1), &mut cmd, Stdio::null(), dir.path())
            .expect("spawns");
        pause(Duration::from_millis(200)); // let the shell install its trap
        let (status, killed) = server.stop(Duration::from_secs(5)).expect("stops");
        assert!(status.success() && !killed, "{status} killed={killed}");
    }

    #[test]
    fn a_failing_command_names_itself() {
        let err = run(Command::new("false").arg("--flag")).expect_err("false fails");
        assert!(err.to_string().contains("`false --flag` failed"), "{err}");
    }
}

//! Configuration and the process contract: exit code 64, `--help`, the README, the config file.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::{WorkerProcess, binary, free_port};

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("BLUEPRINT_REDIS_URL")
        .env_remove("BLUEPRINT_CONFIG")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("blueprint-worker runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_redis_url_exits_64_with_one_line_naming_it() {
    let out = run(&["--port", "0"], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("--redis-url"), "{err}");
    assert!(err.contains("BLUEPRINT_REDIS_URL"), "{err}");
}

#[test]
fn invalid_settings_exit_64_with_one_line_naming_the_setting() {
    /// Flags, environment, and the name the error line must contain.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let redis = [("BLUEPRINT_REDIS_URL", "redis://127.0.0.1:6379")];
    let cases: &[Case<'_>] = &[
        (
            &["--redis-url", "http://127.0.0.1:6379"],
            &[],
            "--redis-url",
        ),
        (&[], &[("BLUEPRINT_REDIS_URL", "nonsense")], "--redis-url"),
        (&["--concurrency", "0"], &redis, "--concurrency"),
        (&["--concurrency", "many"], &redis, "--concurrency"),
        (&["--port", "99999"], &redis, "--port"),
        (&["--drain-timeout", "soon"], &redis, "--drain-timeout"),
        (
            &[],
            &[redis[0], ("BLUEPRINT_DRAIN_TIMEOUT", "0s")],
            "--drain-timeout",
        ),
        (&["--api-url", "ftp://x"], &redis, "--api-url"),
        (&["--max-attempts", "0"], &redis, "--max-attempts"),
        (
            &["--backoff-base", "2s", "--backoff-max", "1s"],
            &redis,
            "--backoff-max",
        ),
        (&["--level", "info,[["], &redis, "log level"),
        (&["--no-such-flag"], &redis, "--no-such-flag"),
        (&["--config", "/nonexistent.toml"], &redis, "--config"),
    ];
    for (args, envs, named) in cases {
        let out = run(args, envs);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(64), "{args:?} {envs:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(named), "{args:?} should name {named}: {err}");
    }
}

#[test]
fn help_documents_every_setting_with_its_env_var_and_units() {
    let out = run(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--redis-url",
        "BLUEPRINT_REDIS_URL",
        "--queue-prefix",
        "--concurrency",
        "--host",
        "--port",
        "BLUEPRINT_PORT",
        "/readyz",
        "--level",
        "--drain-timeout",
        "BLUEPRINT_DRAIN_TIMEOUT",
        "--api-url",
        "--max-attempts",
        "--backoff-base",
        "500ms",
        "--backoff-max",
        "--visibility-timeout",
        "--max-backlog",
        "in jobs",
        "--job-ttl",
        "7d",
        "--config",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let version = run(&["--version"], &[]);
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

/// Flags named in `text` (`--word-word`), in order of appearance, without duplicates.
fn flags_in(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for (i, _) in text.match_indices("--") {
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let flag = format!("--{name}");
        if name.len() > 1 && !found.contains(&flag) {
            found.push(flag);
        }
    }
    found
}

#[test]
fn the_readme_settings_table_lists_exactly_the_flags_of_help() {
    let help = String::from_utf8(run(&["--help"], &[]).stdout).expect("utf-8 help");
    let mut from_help: Vec<String> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| {
            let name: String = l
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            format!("--{name}")
        })
        .filter(|f| !matches!(f.as_str(), "--help" | "--version"))
        .collect();
    from_help.sort();

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("apps/worker/README.md");
    let table = readme
        .split("| Flag | Default | Meaning |")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the settings table");
    let mut from_readme: Vec<String> = table
        .lines()
        .filter_map(|row| row.split('|').nth(1))
        .flat_map(flags_in)
        .collect();
    from_readme.sort();
    assert_eq!(from_readme, from_help, "README settings table vs --help");
}

#[tokio::test]
async fn a_config_file_named_by_env_supplies_the_redis_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("worker.yaml");
    // Nothing listens there: the worker must start anyway, live but not ready.
    let closed = free_port();
    std::fs::write(
        &file,
        format!("redis-url: redis://127.0.0.1:{closed}\nconcurrency: 2\n"),
    )
    .expect("write");
    let mut worker = WorkerProcess::spawn_with(
        &[],
        &[("BLUEPRINT_CONFIG", file.to_str().expect("utf-8 path"))],
    );
    worker
        .wait_for("/healthz", 200, Duration::from_secs(10))
        .await;
    assert_eq!(worker.get("/readyz").await.map(|r| r.0), Some(503));
}

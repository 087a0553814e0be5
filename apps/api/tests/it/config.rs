//! Configuration and the process contract: exit codes, `--help`, the healthcheck subcommand, logs.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::{ChildApp, binary, blocking_get, free_port};

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("RUST_LOG")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("blueprint-api runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn invalid_settings_exit_64_with_one_line_naming_the_setting() {
    /// Flags, environment, and the name the error line must contain.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (&["--port", "abc"], &[], "--port"),
        (&[], &[("BLUEPRINT_PORT", "99999")], "--port"),
        (&["--random-error-rate", "2"], &[], "--random-error-rate"),
        (&["--max-delay", "soon"], &[], "--max-delay"),
        (&["--max-delay", "1m"], &[], "--max-delay"),
        (&["--jwt-secret", "tooshort"], &[], "--jwt-secret"),
        (&["--level", "info,[["], &[], "log level"),
        (&["--no-such-flag"], &[], "--no-such-flag"),
        (&["--config", "/nonexistent.toml"], &[], "--config"),
        (
            &[],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
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
        "--port",
        "BLUEPRINT_PORT",
        "--port-metrics",
        "--data-path",
        "--level",
        "--random-delay",
        "--random-error-rate",
        "--unhealthy",
        "--unready",
        "--backend-url",
        "--drain-delay",
        "BLUEPRINT_DRAIN_DELAY",
        "--shutdown-timeout",
        "--max-delay",
        "--disable-chaos",
        "--stress-cpu",
        "--stress-memory",
        "--body-limit",
        "in bytes",
        "MiB",
        "healthcheck",
        "--ui-path",
        "BLUEPRINT_UI_PATH",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    let version = run(&["--version"], &[]);
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_config_file_named_by_env_is_layered_under_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("api.yaml");
    std::fs::write(&file, "ui-message: from the file\nui-color: \"#ff0000\"\n").expect("write");
    let app = ChildApp::start(
        &["--ui-color", "#00ff00"],
        &[("BLUEPRINT_CONFIG", file.to_str().expect("utf-8"))],
    );
    let (status, body) = blocking_get(app.port, "/api/info").expect("answer");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(info["message"], "from the file");
    assert_eq!(info["color"], "#00ff00", "the flag wins over the file");
}

#[test]
fn healthcheck_exits_0_for_a_live_instance_and_1_otherwise() {
    let app = ChildApp::start(&[], &[]);
    let ok = run(&["healthcheck", &format!("{}/healthz", app.address)], &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));

    let default_url = run(
        &["healthcheck"],
        &[("BLUEPRINT_PORT", &app.port.to_string())],
    );
    assert_eq!(
        default_url.status.code(),
        Some(0),
        "{}",
        stderr(&default_url)
    );

    let failing = run(
        &["healthcheck", &format!("{}/status/503", app.address)],
        &[],
    );
    assert_eq!(failing.status.code(), Some(1));
    assert!(stderr(&failing).contains("503"));

    let closed = free_port();
    let nothing = run(
        &[
            "healthcheck",
            &format!("http://127.0.0.1:{closed}/healthz"),
            "--timeout",
            "1s",
        ],
        &[],
    );
    assert_eq!(nothing.status.code(), Some(1));
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn logs_are_json_lines_with_one_access_line_per_request() {
    let mut app = ChildApp::start(&["--drain-delay", "0s"], &[]);
    let (status, _) = blocking_get(app.port, "/delay/0").expect("answer");
    assert_eq!(status, 200);
    let _ = blocking_get(app.port, "/no/such/route");
    app.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(app.wait_exit(Duration::from_secs(10)), Some(0));
    let lines = json_lines(&app.stdout());
    for line in &lines {
        for key in ["ts", "level", "msg", "target"] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
    }
    let delay = lines
        .iter()
        .find(|l| l["target"] == "access" && l["route"] == "/delay/{seconds}")
        .expect("an access line for /delay/0");
    assert_eq!(delay["method"], "GET");
    assert_eq!(delay["status"], 200);
    assert!(delay["duration_seconds"].as_f64().expect("duration") >= 0.0);
    assert_eq!(delay["bytes"], 11, "{{\"delay\":0}} is 11 bytes");
    assert_eq!(delay["trace_id"].as_str().map(str::len), Some(32));
    assert_eq!(delay["span_id"].as_str().map(str::len), Some(16));
    assert!(
        lines
            .iter()
            .any(|l| l["target"] == "access" && l["route"] == "unmatched" && l["status"] == 404)
    );
}

#[test]
fn access_logs_can_be_turned_off_and_the_level_raised() {
    let mut app = ChildApp::start(&["--drain-delay", "0s", "--access-log=false"], &[]);
    let _ = blocking_get(app.port, "/api/info");
    app.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(app.wait_exit(Duration::from_secs(10)), Some(0));
    let lines = json_lines(&app.stdout());
    assert!(!lines.is_empty(), "start-up is logged");
    assert!(lines.iter().all(|l| l["target"] != "access"));

    let mut quiet = ChildApp::start(&["--drain-delay", "0s", "--level", "error"], &[]);
    let _ = blocking_get(quiet.port, "/api/info");
    quiet.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(quiet.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(quiet.stdout(), "", "nothing at error level happened");
}

#[test]
fn panic_route_exits_with_255() {
    let mut app = ChildApp::start(&[], &[]);
    let _ = blocking_get(app.port, "/panic");
    assert_eq!(app.wait_exit(Duration::from_secs(5)), Some(255));
    let logs = app.stdout();
    assert!(logs.contains("exiting with code 255"), "{logs}");
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
        .filter(|f| !matches!(f.as_str(), "--help" | "--version" | "--config"))
        .collect();
    from_help.sort();

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("apps/api/README.md");
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

//! The admin port with Redis absent: the process stays up and live, is not ready, serves metrics,
//! and stops cleanly. (Kubernetes-friendly: a worker started before Redis waits, it does not crash.)

use std::time::{Duration, Instant};

use blueprint_worker::app::Application;
use blueprint_worker::config::{Cli, Config};
use clap::Parser as _;
use nix::sys::signal::Signal;

use crate::helpers::{WorkerProcess, free_port, get_with};

/// A worker pointed at a loopback port where nothing listens.
fn worker_without_redis(extra: &[&str]) -> WorkerProcess {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let mut args = vec!["--redis-url", url.as_str()];
    args.extend_from_slice(extra);
    WorkerProcess::spawn(&args)
}

#[tokio::test]
async fn without_redis_the_worker_stays_live_but_not_ready() {
    let mut worker = worker_without_redis(&[]);
    worker
        .wait_for("/healthz", 200, Duration::from_secs(10))
        .await;
    let (status, body) = worker.get("/livez").await.expect("answer");
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"status":"OK"}"#);

    let (status, body) = worker.get("/readyz").await.expect("answer");
    assert_eq!(status, 503);
    let error: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(error["code"], 503);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("redis")),
        "{body}"
    );

    // Still retrying, not crashed, a few connection attempts later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(worker.is_running(), "{}", worker.logs());
    assert_eq!(worker.get("/readyz").await.map(|r| r.0), Some(503));
    assert!(worker.logs().contains("cannot reach the queue backend"));

    let (status, body) = worker.get("/no/such/route").await.expect("answer");
    assert_eq!(status, 404);
    assert!(body.contains(r#""code":404"#), "{body}");
}

#[tokio::test]
async fn metrics_are_served_in_both_formats_before_any_job_ran() {
    let mut worker = worker_without_redis(&[]);
    worker
        .wait_for("/healthz", 200, Duration::from_secs(10))
        .await;
    let (status, text) = worker.get("/metrics").await.expect("answer");
    assert_eq!(status, 200);
    for needle in [
        "blueprint_build_info{version=\"",
        "process_resident_memory_bytes ",
        // Labelled families appear with their first sample; these have none yet.
        "blueprint_jobs_retried_total 0",
        "blueprint_jobs_dead_total 0",
        "blueprint_queue_depth 0",
        "blueprint_queue_pending 0",
        "blueprint_queue_dead_letters 0",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
    assert!(!text.contains("# EOF"));
    let (status, open_metrics) = get_with(
        worker.port,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0"),
    )
    .await
    .expect("answer");
    assert_eq!(status, 200);
    assert!(open_metrics.ends_with("# EOF\n"));
}

#[tokio::test]
async fn logs_are_json_lines_and_never_show_the_redis_password() {
    let url = format!("redis://:hunter2@127.0.0.1:{}/0", free_port());
    let mut worker = WorkerProcess::spawn(&["--redis-url", &url]);
    worker
        .wait_for("/healthz", 200, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    worker.signal(Signal::SIGTERM);
    assert_eq!(worker.wait_exit(Duration::from_secs(5)).await, Some(0));
    let logs = worker.logs();
    assert!(!logs.contains("hunter2"), "{logs}");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let started = lines
        .iter()
        .find(|l| l["msg"] == "blueprint-worker started")
        .expect("a start line");
    assert!(
        started["redis"]
            .as_str()
            .is_some_and(|r| r.starts_with("redis://127.0.0.1:")),
        "{started}"
    );
    assert!(
        started["consumer"]
            .as_str()
            .is_some_and(|c| c.ends_with(&format!("-{}", worker.child.id()))),
        "consumer is hostname-pid: {started}"
    );
    assert!(lines.iter().any(|l| {
        l["level"] == "warn"
            && l["msg"]
                .as_str()
                .is_some_and(|m| m.contains("cannot reach the queue backend"))
    }));
}

#[tokio::test]
async fn sigterm_without_redis_exits_0_at_once() {
    let mut worker = worker_without_redis(&[]);
    worker
        .wait_for("/healthz", 200, Duration::from_secs(10))
        .await;
    let signalled = Instant::now();
    worker.signal(Signal::SIGTERM);
    assert_eq!(worker.wait_exit(Duration::from_secs(5)).await, Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "nothing to drain"
    );
}

#[tokio::test]
async fn the_library_serves_probes_on_port_0_and_returns_when_stopped() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let cli = Cli::try_parse_from([
        "blueprint-worker",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--redis-url",
        &url,
    ])
    .expect("flags parse");
    let app = Application::build(Config::load(&cli.settings).expect("valid"))
        .await
        .expect("builds");
    let port = app.admin_port();
    assert_ne!(port, 0);
    let probes = app.probes();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    assert_eq!(
        get_with(port, "/healthz", None).await.map(|r| r.0),
        Some(200)
    );
    assert_eq!(
        get_with(port, "/readyz", None).await.map(|r| r.0),
        Some(503)
    );
    assert!(probes.readiness().is_err());
    stop.send(()).expect("still running");
    let report = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops within 5 s")
        .expect("task")
        .expect("clean stop");
    assert_eq!(report.abandoned, 0);
    assert!(
        get_with(port, "/healthz", None).await.is_none(),
        "stopped listening"
    );
}

/// `blueprint-worker healthcheck [URL]` with no Redis URL in its environment: the probe reads
/// only the admin port, so a missing `--redis-url` must not fail it.
fn healthcheck(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(crate::helpers::binary())
        .arg("healthcheck")
        .args(args)
        .env_remove("BLUEPRINT_REDIS_URL")
        .env_remove("BLUEPRINT_CONFIG")
        .env_remove("BLUEPRINT_PORT")
        .envs(envs.iter().copied())
        .output()
        .expect("blueprint-worker healthcheck runs")
}

#[tokio::test]
async fn healthcheck_exits_0_for_a_live_worker_and_1_otherwise() {
    let mut worker = worker_without_redis(&[]);
    worker
        .wait_for("/healthz", 200, Duration::from_secs(10))
        .await;
    let base = format!("http://127.0.0.1:{}", worker.port);
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let live = healthcheck(&[&format!("{base}/livez")], &[]);
    assert_eq!(live.status.code(), Some(0), "{}", stderr(&live));

    // The default URL is /healthz on the admin port the layered settings name.
    let port = worker.port.to_string();
    let default_url = healthcheck(&[], &[("BLUEPRINT_PORT", &port)]);
    assert_eq!(
        default_url.status.code(),
        Some(0),
        "{}",
        stderr(&default_url)
    );

    // Not ready without Redis: a probe of /readyz fails and says why.
    let unready = healthcheck(&[&format!("{base}/readyz")], &[]);
    assert_eq!(unready.status.code(), Some(1));
    assert!(stderr(&unready).contains("503"), "{}", stderr(&unready));

    let closed = format!("http://127.0.0.1:{}/healthz", free_port());
    let nothing = healthcheck(&[&closed, "--timeout", "1s"], &[]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(stderr(&nothing).starts_with("blueprint-worker healthcheck: "));

    let any_port = healthcheck(&[], &[("BLUEPRINT_PORT", "0")]);
    assert_eq!(any_port.status.code(), Some(64), "{}", stderr(&any_port));
    assert!(stderr(&any_port).contains("--port is 0"));
}

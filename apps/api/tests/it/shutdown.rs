//! Graceful shutdown: readiness drops first, in-flight work finishes, the process exits 0.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::helpers::{ChildApp, blocking_get, pause, spawn_app_with};

#[test]
fn sigterm_drains_then_finishes_in_flight_requests_and_exits_0() {
    let mut app = ChildApp::start(&["--drain-delay", "1s", "--shutdown-timeout", "5s"], &[]);
    let port = app.port;
    let in_flight = std::thread::spawn(move || blocking_get(port, "/delay/2"));
    pause(Duration::from_millis(200));
    let signalled = Instant::now();
    app.signal(Signal::SIGTERM);

    // During the drain: readiness fails at once, liveness and other routes keep serving.
    pause(Duration::from_millis(200));
    let (ready, body) = blocking_get(port, "/readyz").expect("still serving during the drain");
    assert_eq!(ready, 503, "{body}");
    assert!(body.contains("shutting down"));
    assert_eq!(blocking_get(port, "/healthz").map(|r| r.0), Some(200));

    let (status, body) = in_flight
        .join()
        .expect("client thread")
        .expect("the in-flight request got an answer");
    assert_eq!(status, 200);
    assert!(body.contains("\"delay\":2"), "{body}");

    assert_eq!(app.wait_exit(Duration::from_secs(6)), Some(0));
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "drained for --drain-delay: {took:?}"
    );
    assert!(
        took < Duration::from_secs(6),
        "within the timeout: {took:?}"
    );
    assert!(
        blocking_get(port, "/healthz").is_none(),
        "nothing listens after exit"
    );
}

#[test]
fn a_second_signal_exits_1_at_once() {
    let mut app = ChildApp::start(&["--drain-delay", "10s"], &[]);
    app.signal(Signal::SIGTERM);
    pause(Duration::from_millis(300));
    let second = Instant::now();
    app.signal(Signal::SIGINT);
    assert_eq!(app.wait_exit(Duration::from_secs(3)), Some(1));
    assert!(second.elapsed() < Duration::from_secs(2));
}

#[test]
fn requests_longer_than_the_shutdown_timeout_are_cut_and_the_process_still_exits() {
    let mut app = ChildApp::start(
        &[
            "--drain-delay",
            "0s",
            "--shutdown-timeout",
            "1s",
            "--max-delay",
            "10s",
        ],
        &[],
    );
    let port = app.port;
    let slow = std::thread::spawn(move || blocking_get(port, "/delay/8"));
    pause(Duration::from_millis(200));
    let signalled = Instant::now();
    app.signal(Signal::SIGTERM);
    assert_eq!(app.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(signalled.elapsed() < Duration::from_secs(4));
    assert!(
        slow.join().expect("client thread").is_none(),
        "the cut request got no answer"
    );
}

#[tokio::test]
async fn in_process_shutdown_flips_readiness_before_it_stops_serving() {
    let app = spawn_app_with(&["--drain-delay", "500ms", "--shutdown-timeout", "3s"]).await;
    let client = app.client.clone();
    let url = format!("{}/delay/1", app.address);
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let probes = app.state.probes.clone();
    let readyz = format!("{}/readyz", app.address);
    let client = app.client.clone();
    assert!(probes.is_ready());
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !probes.is_ready(),
        "readiness drops as soon as shutdown starts"
    );
    let during = client
        .get(&readyz)
        .send()
        .await
        .expect("served during the drain");
    assert_eq!(during.status(), 503);
    let done = in_flight
        .await
        .expect("task")
        .expect("the in-flight request completed");
    assert_eq!(done.status(), 200);
    stopping.await.expect("task").expect("clean stop");
    assert!(
        client.get(&readyz).send().await.is_err(),
        "stopped listening"
    );
}

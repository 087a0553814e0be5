//! The api with `--redis-url`, against a real `redis-server` started by the test.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with, test_config};

#[path = "../../../../crates/jobs/tests/support/mod.rs"]
mod redis_support;

use redis_support::RedisServer;

async fn api_on(redis: &RedisServer) -> TestApp {
    spawn_app_with(&["--redis-url", &redis.url()]).await
}

/// Poll `path` until it answers `status` (or fail after `limit`).
async fn wait_status(app: &TestApp, path: &str, status: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if app.get(path).await.status() == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} did not answer {status} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_cache_stores_reads_and_deletes_in_redis() {
    let redis = RedisServer::start().await;
    let app = api_on(&redis).await;
    let put = app
        .client
        .put(format!("{}/cache/greeting", app.address))
        .body("hello")
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 202);
    let got = app.get("/cache/greeting").await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    assert_eq!(got.text().await.expect("body"), "hello");
    let deleted = app
        .client
        .delete(format!("{}/cache/greeting", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 202);
    assert_eq!(app.get("/cache/greeting").await.status(), 404);
    let long_key = "k".repeat(300);
    assert_eq!(app.get(&format!("/cache/{long_key}")).await.status(), 400);
}

#[tokio::test]
async fn readiness_follows_redis_down_and_back_without_a_restart() {
    let mut redis = RedisServer::start().await;
    let app = api_on(&redis).await;
    wait_status(&app, "/readyz", 200, Duration::from_secs(5)).await;

    redis.stop().await;
    wait_status(&app, "/readyz", 503, Duration::from_secs(5)).await;
    let body: Value = app.get("/readyz").await.json().await.expect("JSON");
    assert!(
        body["message"].as_str().expect("message").contains("redis"),
        "{body}"
    );
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "liveness does not follow Redis"
    );
    assert_eq!(app.get("/cache/k").await.status(), 503);
    let refused = app
        .client
        .post(format!("{}/jobs", app.address))
        .json(&json!({"kind": "sleep", "payload": {"duration_ms": 1}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        refused.status(),
        503,
        "an enqueue that cannot be stored is refused, not lost"
    );

    redis.restart().await;
    wait_status(&app, "/readyz", 200, Duration::from_secs(10)).await;
    let accepted = app
        .client
        .post(format!("{}/jobs", app.address))
        .json(&json!({"kind": "sleep", "payload": {"duration_ms": 1}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(accepted.status(), 202);
}

#[tokio::test]
async fn with_redis_the_api_only_enqueues_and_a_worker_finishes_the_job() {
    let redis = RedisServer::start().await;
    let app = api_on(&redis).await;
    let body: Value = app
        .client
        .post(format!("{}/jobs", app.address))
        .json(&json!({"kind": "sleep", "payload": {"duration_ms": 1}}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let id = body["id"].as_str().expect("id").to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job: Value = app
        .get(&format!("/jobs/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        job["status"], "queued",
        "no in-process worker in the Redis mode"
    );

    // Play the worker: claim from the same stream and acknowledge.
    let queue = jobs::Queue::Redis(
        jobs::redis::RedisQueue::connect(&redis.url(), "blueprint:", jobs::QueueConfig::default())
            .await
            .expect("connect"),
    );
    let claimed = queue
        .reserve("test-worker", 10, Duration::from_secs(1))
        .await
        .expect("reserve");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].record.id, id);
    queue
        .ack(&claimed[0], json!({"ok": true}))
        .await
        .expect("ack");
    let job: Value = app
        .get(&format!("/jobs/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(job["status"], "succeeded");
}

#[tokio::test]
async fn a_password_protected_redis_works_and_a_wrong_password_stops_the_start() {
    let redis = RedisServer::with_password("s3cret-pass").await;
    let app = api_on(&redis).await;
    assert_eq!(
        app.client
            .put(format!("{}/cache/k", app.address))
            .body("v")
            .send()
            .await
            .expect("sent")
            .status(),
        202
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = format!("redis://:wrong@127.0.0.1:{}", redis.port());
    let config = test_config(dir.path(), &["--redis-url", &wrong]);
    let err = blueprint_api::server::Application::build(config)
        .await
        .expect_err("a wrong password is an error at start");
    assert!(format!("{err:#}").contains("--redis-url"), "{err:#}");
    assert!(
        !format!("{err:#}").contains("wrong@"),
        "the password is not printed: {err:#}"
    );
}

/// `rediss://`: the job queue and `/cache` share the URL, and both go over TLS. The server's
/// throwaway CA is trusted the production way, through the system root store: `SSL_CERT_FILE`,
/// given to the api started as a child process (never set in this process).
#[tokio::test]
async fn over_tls_the_queue_and_the_cache_work_when_the_ca_is_trusted() {
    let redis = RedisServer::tls().await;
    let url = redis.url();
    let ca_file = redis.tls_files().ca_cert.clone();
    let app = tokio::task::spawn_blocking(move || {
        crate::helpers::ChildApp::start(
            &["--redis-url", &url],
            &[("SSL_CERT_FILE", ca_file.to_str().expect("utf-8 path"))],
        )
    })
    .await
    .expect("the api started over TLS and answered /readyz 200");
    let client = reqwest::Client::new();

    let put = client
        .put(format!("{}/cache/greeting", app.address))
        .body("over tls")
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 202);
    let got = client
        .get(format!("{}/cache/greeting", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.expect("body"), "over tls");

    let body: Value = client
        .post(format!("{}/jobs", app.address))
        .json(&json!({"kind": "sleep", "payload": {"duration_ms": 1}}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let id = body["id"].as_str().expect("id").to_owned();
    // Play the worker over TLS: the job is in the Redis behind the TLS port.
    let queue = jobs::redis::RedisQueue::connect_with_root_ca(
        &redis.url(),
        &redis.ca_cert(),
        "blueprint:",
        jobs::QueueConfig::default(),
    )
    .await
    .expect("connect over TLS");
    let claimed = queue
        .reserve("test-worker", 10, Duration::from_secs(1))
        .await
        .expect("reserve");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].record.id, id);
    queue.ack(&claimed[0], json!("done")).await.expect("ack");
    let job: Value = client
        .get(format!("{}/jobs/{id}", app.address))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(job["status"], "succeeded");
}

#[tokio::test]
async fn over_tls_an_untrusted_certificate_stops_the_start_with_a_clear_error() {
    let redis = RedisServer::tls().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The system root store (this process sets no SSL_CERT_FILE) does not hold the test CA.
    let url = format!("rediss://:s3cret-pass@127.0.0.1:{}", redis.port());
    let config = test_config(dir.path(), &["--redis-url", &url]);
    let err = blueprint_api::server::Application::build(config)
        .await
        .expect_err("an untrusted certificate is an error at start");
    let text = format!("{err:#}");
    assert!(text.contains("--redis-url"), "{text}");
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
    assert!(
        !text.contains("s3cret-pass"),
        "the password is not printed: {text}"
    );
}

//! `/jobs` and `/cache` in the embedded mode: the in-memory queue and the in-process worker.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ChildApp, TestApp, spawn_app, spawn_app_with};

async fn enqueue(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(format!("{}/jobs", app.address))
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

/// Poll the job until it reaches `status` (or fail after `limit`).
async fn wait_for(app: &TestApp, id: &str, status: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let job: Value = app
            .get(&format!("/jobs/{id}"))
            .await
            .json()
            .await
            .expect("job JSON");
        if job["status"] == status {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} did not reach {status} within {limit:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_sleep_job_is_accepted_and_succeeds_without_redis() {
    let app = spawn_app().await;
    let response = enqueue(
        &app,
        json!({"kind": "sleep", "payload": {"duration_ms": 10}}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("JSON");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(body["status_url"], format!("/jobs/{id}"));
    assert_eq!(body["duplicate"], false);
    let job = wait_for(&app, &id, "succeeded", Duration::from_secs(5)).await;
    assert_eq!(job["kind"], "sleep");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["result"]["slept_ms"], 10);
    assert!(
        job["finished_at_ms"].as_u64().expect("finished")
            >= job["enqueued_at_ms"].as_u64().expect("enqueued")
    );
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("blueprint_jobs_enqueued_total{kind=\"sleep\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_jobs_are_rejected_naming_the_problem() {
    let app = spawn_app().await;
    let unknown = enqueue(&app, json!({"kind": "mine-bitcoin", "payload": {}})).await;
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await.expect("JSON");
    assert!(
        body["message"].as_str().expect("message").contains("sleep"),
        "lists known kinds: {body}"
    );

    let bad = enqueue(
        &app,
        json!({"kind": "sleep", "payload": {"duration_ms": "soon"}}),
    )
    .await;
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.expect("JSON");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("duration_ms"),
        "{body}"
    );

    let too_long = enqueue(
        &app,
        json!({"kind": "sleep", "payload": {"duration_ms": 3_600_000}}),
    )
    .await;
    assert_eq!(too_long.status(), 422);

    let not_json = app
        .client
        .post(format!("{}/jobs", app.address))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .expect("sent");
    assert_eq!(not_json.status(), 400);
    assert_eq!(not_json.json::<Value>().await.expect("JSON")["code"], 400);

    let wrong_type = app.post("/jobs", "kind=sleep").await;
    assert_eq!(wrong_type.status(), 415);

    let empty_key = enqueue(
        &app,
        json!({"kind": "sleep", "payload": {"duration_ms": 1}, "idempotency_key": ""}),
    )
    .await;
    assert_eq!(empty_key.status(), 400);

    assert_eq!(app.get("/jobs/no-such-job").await.status(), 404);
    assert_eq!(app.get("/jobs?state=lost").await.status(), 400);
    assert_eq!(app.get("/jobs?state=dead&limit=0").await.status(), 400);
    assert_eq!(app.get("/jobs").await.status(), 400, "state is required");
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_job() {
    let app = spawn_app().await;
    let body =
        json!({"kind": "sleep", "payload": {"duration_ms": 1}, "idempotency_key": "order-42"});
    let first: Value = enqueue(&app, body.clone())
        .await
        .json()
        .await
        .expect("JSON");
    let second: Value = enqueue(&app, body).await.json().await.expect("JSON");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["duplicate"], true);
}

#[tokio::test]
async fn a_job_that_keeps_failing_goes_to_the_dead_letters_and_can_be_retried() {
    let app = spawn_app_with(&["--max-attempts", "1"]).await;
    let body: Value = enqueue(&app, json!({"kind": "flaky", "payload": {"p": 1.0}}))
        .await
        .json()
        .await
        .expect("JSON");
    let id = body["id"].as_str().expect("id").to_owned();
    let dead = wait_for(&app, &id, "dead", Duration::from_secs(5)).await;
    assert!(
        dead["last_error"]
            .as_str()
            .expect("error")
            .contains("flaky")
    );

    let page: Value = app
        .get("/jobs?state=dead")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(page["jobs"][0]["id"], id.as_str());
    assert_eq!(page["next_cursor"], Value::Null);

    let retried = app.post(&format!("/jobs/{id}/retry"), "").await;
    assert_eq!(retried.status(), 202);
    // It fails again (p = 1) and dies again: the retry really ran it.
    let again = wait_for(&app, &id, "dead", Duration::from_secs(5)).await;
    assert_eq!(again["attempts"], 1);

    let done: Value = enqueue(
        &app,
        json!({"kind": "sleep", "payload": {"duration_ms": 1}}),
    )
    .await
    .json()
    .await
    .expect("JSON");
    let done_id = done["id"].as_str().expect("id");
    wait_for(&app, done_id, "succeeded", Duration::from_secs(5)).await;
    let conflict = app.post(&format!("/jobs/{done_id}/retry"), "").await;
    assert_eq!(conflict.status(), 409);
    assert_eq!(app.post("/jobs/no-such-job/retry", "").await.status(), 404);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_loses_nothing() {
    let app = spawn_app_with(&["--max-backlog", "2", "--worker-concurrency", "1"]).await;
    let mut accepted = Vec::new();
    let mut refused = 0;
    for _ in 0..6 {
        let response = enqueue(
            &app,
            json!({"kind": "sleep", "payload": {"duration_ms": 300}}),
        )
        .await;
        match response.status().as_u16() {
            202 => accepted.push(
                response.json::<Value>().await.expect("JSON")["id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
            ),
            503 => {
                assert!(response.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(refused >= 1, "the backlog limit refused some");
    assert!(accepted.len() >= 2, "and accepted up to the limit");
    for id in &accepted {
        wait_for(&app, id, "succeeded", Duration::from_secs(10)).await;
    }
}

#[tokio::test]
async fn cache_without_redis_is_a_400_naming_the_setting() {
    let app = spawn_app().await;
    for response in [
        app.get("/cache/k").await,
        app.post("/cache/k", "v").await,
        app.client
            .delete(format!("{}/cache/k", app.address))
            .send()
            .await
            .expect("sent"),
    ] {
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("JSON");
        assert!(
            body["message"]
                .as_str()
                .expect("message")
                .contains("--redis-url")
        );
    }
}

#[tokio::test]
async fn the_job_keeps_the_trace_of_the_request_that_enqueued_it() {
    // The real binary: only `main` installs the global trace propagator.
    let app = ChildApp::start(&[], &[]);
    let client = reqwest::Client::new();
    let body: Value = client
        .post(format!("{}/jobs", app.address))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .json(&json!({"kind": "sleep", "payload": {"duration_ms": 1}}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let id = body["id"].as_str().expect("id");
    let job: Value = client
        .get(format!("{}/jobs/{id}", app.address))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let traceparent = job["traceparent"].as_str().expect("traceparent stored");
    assert!(
        traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{traceparent}"
    );
}

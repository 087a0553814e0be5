//! Every route over real HTTP on loopback, good input and bad.
//!
//! Most tests run the app in-process (`spawn_app`). The few that need the global telemetry
//! pipeline — trace-context propagation to a backend, exemplars carrying trace ids — or the process
//! environment (`/env` redaction) run the real binary as a child (`ChildApp`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use blueprint_api::server::Application;
use futures::{SinkExt as _, StreamExt as _};
use reqwest::header::{
    ACCEPT, ALLOW, AUTHORIZATION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{self, ChildApp, TestApp, spawn_app, spawn_app_with};

/// A W3C `traceparent` from the specification's examples; its trace id is [`TRACE_ID`].
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// The trace id inside [`TRACEPARENT`].
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// A 40-byte HS256 secret (the service wants at least 32).
const JWT_SECRET: &str = "0123456789abcdef0123456789abcdef01234567";
/// Every field of `/api/info`.
const INFO_FIELDS: [&str; 11] = [
    "hostname",
    "version",
    "revision",
    "color",
    "logo",
    "message",
    "runtime",
    "os",
    "arch",
    "num_cpu",
    "uptime_seconds",
];

// ---------------------------------------------------------------------------------------------
// Helpers local to this module.

/// The response body as JSON (panics with the body if it is not JSON).
async fn json_body(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body read");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"))
}

/// Assert `response` has status `code` and the error body `{"code": code, "message": "…"}`;
/// returns the message.
async fn expect_json_error(response: reqwest::Response, code: u16) -> String {
    let url = response.url().clone();
    assert_eq!(response.status().as_u16(), code, "status of {url}");
    let content_type = header(&response, CONTENT_TYPE);
    assert!(
        content_type.starts_with("application/json"),
        "{url}: error content type is {content_type:?}"
    );
    let body = json_body(response).await;
    assert_eq!(body["code"], code, "{url}: {body}");
    let message = body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{url}: no message in {body}"));
    assert!(!message.is_empty(), "{url}: empty message");
    message.to_owned()
}

/// A response header as a string ("" when absent).
fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
        .unwrap_or_default()
}

/// The lower-case hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Start the real binary off the async worker (start-up polling blocks).
async fn start_child(args: &[&str], envs: &[(&str, &str)]) -> ChildApp {
    let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ChildApp::start(&args, &envs)
    })
    .await
    .expect("child start-up did not panic")
}

/// An in-process app whose `--data-path` is `data_path` (the harness always sets its own temp
/// dir, and clap refuses the flag twice). Stops when the returned sender is dropped.
async fn spawn_app_with_data_path(data_path: PathBuf) -> (String, oneshot::Sender<()>) {
    let placeholder = tempfile::tempdir().expect("temp dir");
    let mut config = helpers::test_config(placeholder.path(), &[]);
    config.data_path = data_path;
    let app = Application::build(config).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    (address, stop)
}

// ---------------------------------------------------------------------------------------------
// Info.

#[tokio::test]
async fn info_routes_report_every_podinfo_field_and_uptime() {
    let app = spawn_app().await;
    for path in ["/", "/api/info"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let info = json_body(response).await;
        for field in INFO_FIELDS {
            assert!(info.get(field).is_some(), "{path} lacks {field}: {info}");
        }
        assert_eq!(info["version"], env!("CARGO_PKG_VERSION"), "{path}");
        let num_cpu = info["num_cpu"].as_str().expect("num_cpu is a string");
        assert!(num_cpu.parse::<u32>().expect("num_cpu is a number") >= 1);
        assert!(info["uptime_seconds"].is_u64(), "{path}: {info}");
        assert_eq!(info["os"], std::env::consts::OS);
        assert_eq!(info["arch"], std::env::consts::ARCH);
        assert!(
            info["runtime"].as_str().expect("runtime").contains("rustc"),
            "{info}"
        );
    }
}

#[tokio::test]
async fn version_reports_the_crate_version_and_the_same_commit_as_info() {
    let app = spawn_app().await;
    let version = json_body(app.get("/version").await).await;
    let info = json_body(app.get("/api/info").await).await;
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert!(version["commit"].is_string(), "{version}");
    assert_eq!(version["commit"], info["revision"]);
}

#[tokio::test]
async fn api_info_matches_its_snapshot() {
    let app = spawn_app().await;
    let mut info = json_body(app.get("/api/info").await).await;
    // Redacted by hand: the workspace's insta has no `redactions` feature. Each field is first
    // checked to be present, so a removed field still fails the test.
    for field in [
        "hostname",
        "uptime_seconds",
        "runtime",
        "num_cpu",
        "arch",
        "os",
        "revision",
        "version",
    ] {
        let slot = info
            .get_mut(field)
            .unwrap_or_else(|| panic!("/api/info lacks {field}"));
        *slot = Value::String(format!("[{field}]"));
    }
    insta::assert_json_snapshot!("api_info", info);
}

// ---------------------------------------------------------------------------------------------
// Probes.

#[tokio::test]
async fn probes_answer_200_ok_by_default() {
    let app = spawn_app().await;
    for path in ["/healthz", "/livez", "/readyz"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(json_body(response).await, json!({"status": "OK"}), "{path}");
    }
}

#[tokio::test]
async fn readiness_can_be_disabled_and_enabled_again() {
    let app = spawn_app().await;
    let response = app.post("/readyz/disable", "").await;
    assert_eq!(response.status(), 202);
    let message = expect_json_error(app.get("/readyz").await, 503).await;
    assert_eq!(message, "not ready");
    // Liveness is independent of readiness.
    assert_eq!(app.get("/healthz").await.status(), 200);

    assert_eq!(app.post("/readyz/enable", "").await.status(), 202);
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!({"status": "OK"}));
}

#[tokio::test]
async fn unhealthy_flag_fails_liveness_only() {
    let app = spawn_app_with(&["--unhealthy"]).await;
    expect_json_error(app.get("/healthz").await, 503).await;
    expect_json_error(app.get("/livez").await, 503).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn unready_flag_fails_readiness_until_enabled() {
    let app = spawn_app_with(&["--unready"]).await;
    expect_json_error(app.get("/readyz").await, 503).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.post("/readyz/enable", "").await.status(), 202);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// /status, /delay, /chunked.

#[tokio::test]
async fn status_answers_with_the_requested_code() {
    let app = spawn_app().await;
    for code in [200_u16, 201, 404, 418, 503, 599] {
        let response = app.get(&format!("/status/{code}")).await;
        assert_eq!(response.status().as_u16(), code);
        assert_eq!(json_body(response).await, json!({ "status": code }));
    }
}

#[tokio::test]
async fn status_outside_200_to_599_is_rejected_with_400_naming_the_input() {
    let app = spawn_app().await;
    for raw in [
        "99",
        "100",
        "101",
        "199",
        "600",
        "1000",
        "abc",
        "-1",
        "99999999999999999999",
    ] {
        let message = expect_json_error(app.get(&format!("/status/{raw}")).await, 400).await;
        assert!(message.contains(raw), "/status/{raw}: {message:?}");
    }
}

#[tokio::test]
async fn delay_zero_answers_at_once() {
    let app = spawn_app().await;
    let response = app.get("/delay/0").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!({"delay": 0}));
}

#[tokio::test]
async fn delay_one_waits_at_least_a_second() {
    let app = spawn_app().await;
    let start = Instant::now();
    let response = app.get("/delay/1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!({"delay": 1}));
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn delay_above_the_limit_is_rejected_with_400_naming_the_maximum() {
    let app = spawn_app_with(&["--max-delay", "2s"]).await;
    let start = Instant::now();
    let message = expect_json_error(app.get("/delay/3").await, 400).await;
    assert!(message.contains("maximum"), "{message:?}");
    assert!(message.contains("2s"), "{message:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "rejected without waiting"
    );
    // The largest u64 must not overflow into a panic or an empty reply.
    expect_json_error(app.get("/delay/18446744073709551615").await, 400).await;
}

#[tokio::test]
async fn delay_that_is_not_a_number_is_rejected_with_400() {
    let app = spawn_app().await;
    for raw in ["abc", "-1", "1.5", "99999999999999999999"] {
        let message = expect_json_error(app.get(&format!("/delay/{raw}")).await, 400).await;
        assert!(message.contains(raw), "/delay/{raw}: {message:?}");
    }
}

#[tokio::test]
async fn chunked_sends_headers_at_once_and_the_body_after_the_delay() {
    let app = spawn_app().await;
    let start = Instant::now();
    let response = app.get("/chunked/1").await;
    let headers_after = start.elapsed();
    assert_eq!(response.status(), 200);
    assert!(
        header(&response, CONTENT_TYPE).starts_with("application/json"),
        "{:?}",
        response.headers()
    );
    assert_eq!(json_body(response).await, json!({"delay": 1}));
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(
        headers_after < Duration::from_millis(900),
        "headers took {headers_after:?}"
    );
}

#[tokio::test]
async fn chunked_above_the_limit_or_not_a_number_is_rejected_with_400() {
    let app = spawn_app_with(&["--max-delay", "2s"]).await;
    let message = expect_json_error(app.get("/chunked/3").await, 400).await;
    assert!(message.contains("maximum"), "{message:?}");
    expect_json_error(app.get("/chunked/soon").await, 400).await;
}

// ---------------------------------------------------------------------------------------------
// Fault injection and random faults.

#[tokio::test]
async fn fault_injection_fails_application_routes_but_not_probes_or_metrics() {
    let app = spawn_app().await;
    let status = json_body(app.get("/fault_injection/status").await).await;
    assert_eq!(status, json!({"enabled": false}));

    let response = app.post("/fault_injection/enable", "").await;
    assert_eq!(response.status(), 202);
    assert_eq!(json_body(response).await, json!({"enabled": true}));
    let status = json_body(app.get("/fault_injection/status").await).await;
    assert_eq!(status, json!({"enabled": true}));

    expect_json_error(app.get("/api/info").await, 500).await;
    expect_json_error(app.get("/version").await, 500).await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(app.get(path).await.status(), 200, "{path} during faults");
    }

    assert_eq!(app.post("/fault_injection/disable", "").await.status(), 202);
    assert_eq!(app.get("/api/info").await.status(), 200);
    let status = json_body(app.get("/fault_injection/status").await).await;
    assert_eq!(status, json!({"enabled": false}));
}

#[tokio::test]
async fn random_errors_at_rate_one_fail_every_application_request_with_a_5xx() {
    let app = spawn_app_with(&["--random-error", "--random-error-rate", "1.0"]).await;
    for _ in 0..8 {
        let response = app.get("/api/info").await;
        let code = response.status().as_u16();
        assert!([500, 502, 503, 504].contains(&code), "got {code}");
        expect_json_error(response, code).await;
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn random_delay_in_milliseconds_slows_application_requests() {
    let app = spawn_app_with(&[
        "--random-delay",
        "--random-delay-min",
        "50",
        "--random-delay-max",
        "60",
        "--random-delay-unit",
        "ms",
    ])
    .await;
    for _ in 0..3 {
        let start = Instant::now();
        let response = app.get("/api/info").await;
        assert_eq!(response.status(), 200);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(50), "took {took:?}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }
}

#[tokio::test]
async fn disable_chaos_removes_every_chaos_route() {
    let app = spawn_app_with(&["--disable-chaos"]).await;
    for path in [
        "/status/500",
        "/delay/1",
        "/panic",
        "/chunked/1",
        "/fault_injection/status",
    ] {
        expect_json_error(app.get(path).await, 404).await;
    }
    expect_json_error(app.post("/fault_injection/enable", "").await, 404).await;
    for path in ["/", "/api/info", "/healthz", "/readyz", "/version", "/env"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// /env and /headers.

#[tokio::test]
async fn env_lists_name_value_pairs_with_secret_looking_names_redacted() {
    let app = spawn_app().await;
    let get = json_body(app.get("/env").await).await;
    let post = json_body(app.post("/env", "").await).await;
    for vars in [get, post] {
        let vars = vars.as_array().expect("an array");
        assert!(!vars.is_empty());
        let mut saw_path = false;
        for entry in vars {
            let entry = entry.as_str().expect("strings");
            let (name, value) = entry.split_once('=').expect("NAME=value");
            if name == "PATH" {
                saw_path = true;
                assert_ne!(value, "<redacted>", "PATH is not a secret");
            }
            let upper = name.to_ascii_uppercase();
            if ["KEY", "SECRET", "TOKEN", "PASSWORD"]
                .iter()
                .any(|m| upper.contains(m))
            {
                assert_eq!(value, "<redacted>", "{name} leaked");
            }
        }
        assert!(saw_path, "PATH missing from /env");
    }
}

#[tokio::test]
async fn env_never_shows_the_jwt_secret_of_the_running_binary() {
    let secret = "s3cr3t-".repeat(6);
    let (status, body) = tokio::task::spawn_blocking(move || {
        let child = ChildApp::start(&[], &[("BLUEPRINT_JWT_SECRET", &secret)]);
        let answer = helpers::blocking_get(child.port, "/env").expect("/env answered");
        drop(child);
        assert!(
            !answer.1.contains(&secret),
            "the secret leaked: {}",
            answer.1
        );
        answer
    })
    .await
    .expect("child test did not panic");
    assert_eq!(status, 200);
    assert!(
        body.contains("\"BLUEPRINT_JWT_SECRET=<redacted>\""),
        "the variable is listed, redacted: {body}"
    );
}

#[tokio::test]
async fn headers_echoes_request_headers_as_lists() {
    let app = spawn_app().await;
    let url = format!("{}/headers", app.address);
    let get = app
        .client
        .get(&url)
        .header("x-test", "1")
        .send()
        .await
        .expect("sent");
    assert_eq!(get.status(), 200);
    assert_eq!(json_body(get).await["x-test"], json!(["1"]));

    let post = app
        .client
        .post(&url)
        .header("x-test", "1")
        .header("x-multi", "a")
        .header("x-multi", "b")
        .send()
        .await
        .expect("sent");
    assert_eq!(post.status(), 200);
    let body = json_body(post).await;
    assert_eq!(body["x-test"], json!(["1"]));
    assert_eq!(body["x-multi"], json!(["a", "b"]));
}

// ---------------------------------------------------------------------------------------------
// /echo.

#[tokio::test]
async fn echo_returns_the_body_as_inert_bytes() {
    let app = spawn_app().await;
    let payload = "<script>alert(1)</script>";
    for path in ["/echo", "/api/echo"] {
        let response = app.post(path, payload).await;
        assert_eq!(response.status(), 202, "{path}");
        assert_eq!(header(&response, CONTENT_TYPE), "application/octet-stream");
        assert_eq!(header(&response, X_CONTENT_TYPE_OPTIONS), "nosniff");
        let csp = header(&response, CONTENT_SECURITY_POLICY);
        assert!(csp.starts_with("default-src 'none'"), "{path}: CSP {csp:?}");
        assert_eq!(
            response.bytes().await.expect("body").as_ref(),
            payload.as_bytes()
        );
    }
}

#[tokio::test]
async fn echo_body_above_the_limit_is_rejected_with_413_json() {
    let app = spawn_app_with(&["--body-limit", "1024"]).await;
    expect_json_error(app.post("/echo", vec![b'x'; 2048]).await, 413).await;
    expect_json_error(app.post("/store", vec![b'x'; 2048]).await, 413).await;
    // At the limit is fine.
    assert_eq!(app.post("/echo", vec![b'x'; 1024]).await.status(), 202);
}

#[tokio::test]
async fn echo_with_a_backend_answers_with_the_backends_replies() {
    let backend = spawn_app().await;
    let backend_url = format!("{}/echo", backend.address);
    let front = spawn_app_with(&["--backend-url", &backend_url]).await;
    let response = front.post("/echo", "ping from the front").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!(["ping from the front"]));
}

#[tokio::test]
async fn echo_with_a_backend_that_is_down_reports_the_failure_and_still_answers_200() {
    let dead = format!("http://127.0.0.1:{}/echo", helpers::free_port());
    let front = spawn_app_with(&["--backend-url", &dead]).await;
    let response = front.post("/echo", "anyone there?").await;
    assert_eq!(response.status(), 200);
    let answers = json_body(response).await;
    let answer = answers[0].as_str().expect("one string answer");
    assert!(answer.contains("call failed"), "{answer:?}");
    assert!(answer.contains(&dead), "names the backend: {answer:?}");
}

#[tokio::test]
async fn echo_propagates_the_trace_context_to_the_backend() {
    // The backend only echoes headers, so it can run in-process; the front needs the real
    // telemetry pipeline (a tracer and the W3C propagator), which only the binary installs.
    let backend = spawn_app().await;
    let backend_url = format!("{}/headers", backend.address);
    let front = start_child(&["--backend-url", &backend_url], &[]).await;
    let response = reqwest::Client::new()
        .post(format!("{}/echo", front.address))
        .header("traceparent", TRACEPARENT)
        .body("traced")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let answers = json_body(response).await;
    let seen: Value =
        serde_json::from_str(answers[0].as_str().expect("a string")).expect("backend JSON");
    let traceparent = seen["traceparent"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no traceparent reached the backend: {seen}"));
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], TRACE_ID, "same trace");
    assert_ne!(parts[2], "00f067aa0ba902b7", "a new span of the front");
    assert!(seen["x-api-version"].is_array(), "{seen}");
}

// ---------------------------------------------------------------------------------------------
// /store.

#[tokio::test]
async fn store_write_answers_202_with_the_sha256_and_read_returns_the_bytes() {
    let app = spawn_app().await;
    let content = b"hello, store".to_vec();
    let expected = sha256_hex(&content);
    let put = app
        .client
        .put(format!("{}/store", app.address))
        .body(content.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 202);
    assert_eq!(json_body(put).await, json!({ "hash": expected }));

    let post = app.post("/store", content.clone()).await;
    assert_eq!(post.status(), 202);
    let hash = json_body(post).await["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    assert_eq!(hash, expected);
    assert_eq!(hash.len(), 64);
    // On disk under its hash, inside --data-path, and no temporary file left behind.
    let on_disk = std::fs::read(app.data_dir.path().join(&hash)).expect("blob file");
    assert_eq!(on_disk, content);
    let files = std::fs::read_dir(app.data_dir.path())
        .expect("data dir")
        .count();
    assert_eq!(files, 1, "one blob, no leftovers");

    let read = app.get(&format!("/store/{hash}")).await;
    assert_eq!(read.status(), 200);
    assert_eq!(header(&read, CONTENT_TYPE), "application/octet-stream");
    assert_eq!(header(&read, X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(header(&read, CONTENT_SECURITY_POLICY).starts_with("default-src 'none'"));
    assert_eq!(
        read.bytes().await.expect("body").as_ref(),
        content.as_slice()
    );
}

#[tokio::test]
async fn stored_html_is_served_as_inert_bytes() {
    let app = spawn_app().await;
    let page = "<html><script>alert(document.cookie)</script></html>";
    let hash = json_body(app.post("/store", page).await).await["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let read = app.get(&format!("/store/{hash}")).await;
    assert_eq!(read.status(), 200);
    assert_eq!(header(&read, CONTENT_TYPE), "application/octet-stream");
    assert_eq!(header(&read, X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(read.text().await.expect("body"), page);
}

#[tokio::test]
async fn store_read_of_an_unknown_hash_is_404() {
    let app = spawn_app().await;
    let unknown = sha256_hex(b"never stored");
    let message = expect_json_error(app.get(&format!("/store/{unknown}")).await, 404).await;
    assert!(message.contains(&unknown), "{message:?}");
}

#[tokio::test]
async fn store_read_of_a_malformed_hash_is_never_served() {
    let app = spawn_app().await;
    // The traversal targets exist on every Linux host, so a traversal would answer 200.
    let valid = sha256_hex(b"x");
    for bad in [
        "..%2F..%2Fetc%2Fpasswd".to_owned(),
        "..%2F..%2F..%2F..%2Fproc%2Fself%2Fenviron".to_owned(),
        "%2Fetc%2Fpasswd".to_owned(),
        valid[..63].to_owned(),
        format!("{valid}0"),
        valid.to_ascii_uppercase(),
        "abc".to_owned(),
    ] {
        let response = app.get(&format!("/store/{bad}")).await;
        let code = response.status().as_u16();
        assert!(code == 400 || code == 404, "/store/{bad} answered {code}");
        expect_json_error(response, code).await;
    }
}

#[tokio::test]
async fn store_on_an_unwritable_data_path_answers_503_and_the_rest_still_serves() {
    // Not writable even for root.
    let (address, _stop) = spawn_app_with_data_path(PathBuf::from("/proc/blueprint-test")).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{address}/store"))
        .body("lost")
        .send()
        .await
        .expect("sent");
    let message = expect_json_error(response, 503).await;
    assert!(message.contains("store"), "{message:?}");
    for path in ["/api/info", "/healthz", "/readyz"] {
        let response = client
            .get(format!("{address}{path}"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// /token.

/// Issue a token named `name` on `app`; returns `(token, expires_at)`.
async fn issue_token(app: &TestApp, name: &str) -> (String, String) {
    let response = app.post("/token", name.to_owned()).await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    (
        body["token"].as_str().expect("token").to_owned(),
        body["expires_at"].as_str().expect("expires_at").to_owned(),
    )
}

/// `GET /token/validate` with `authorization` (if any).
async fn validate(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}/token/validate", app.address));
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    request.send().await.expect("sent")
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_token_is_issued_for_a_minute_and_validates() {
    let app = spawn_app().await;
    let (token, expires_at) = issue_token(&app, "alice").await;
    let expiry =
        time::OffsetDateTime::parse(&expires_at, &time::format_description::well_known::Rfc3339)
            .expect("expires_at is RFC 3339");
    let ahead = expiry.unix_timestamp() - unix_now();
    assert!((55..=61).contains(&ahead), "expires in {ahead}s");

    let response = validate(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["token_name"], "alice");
    assert_eq!(body["expires_at"], expires_at.as_str());
}

#[tokio::test]
async fn validate_without_a_bearer_token_is_401() {
    let app = spawn_app().await;
    for authorization in [None, Some("Basic xyz"), Some("Bearer"), Some("Bearer ")] {
        let response = validate(&app, authorization).await;
        expect_json_error(response, 401).await;
    }
}

#[tokio::test]
async fn validate_rejects_garbage_and_tokens_of_another_instance_with_401() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let (foreign, _) = issue_token(&other, "mallory").await;
    for token in ["garbage", "a.b.c", &foreign] {
        let response = validate(&app, Some(&format!("Bearer {token}"))).await;
        expect_json_error(response, 401).await;
    }
}

#[tokio::test]
async fn validate_rejects_a_wrong_issuer_an_expired_token_and_alg_none_with_401() {
    let app = spawn_app_with(&["--jwt-secret", JWT_SECRET]).await;
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let sign = |claims: Value| jsonwebtoken::encode(&header, &claims, &key).expect("signed");

    // Control: our own claims with the right key pass, so the rejections below are meaningful.
    let good = sign(json!({"name": "eve", "iss": "blueprint", "exp": unix_now() + 60}));
    assert_eq!(
        validate(&app, Some(&format!("Bearer {good}")))
            .await
            .status(),
        200
    );

    let wrong_issuer = sign(json!({"name": "eve", "iss": "someone-else", "exp": unix_now() + 60}));
    let no_issuer = sign(json!({"name": "eve", "exp": unix_now() + 60}));
    let expired = sign(json!({"name": "eve", "iss": "blueprint", "exp": unix_now() - 5}));
    // `{"alg":"none","typ":"JWT"}` base64url-encoded, with the valid token's claims and no
    // signature: the classic downgrade.
    let claims = good.split('.').nth(1).expect("claims segment");
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
    for token in [wrong_issuer, no_issuer, expired, alg_none] {
        let response = validate(&app, Some(&format!("Bearer {token}"))).await;
        expect_json_error(response, 401).await;
    }
}

#[tokio::test]
async fn a_token_name_over_256_bytes_is_rejected_with_400() {
    let app = spawn_app().await;
    let message = expect_json_error(app.post("/token", "n".repeat(257)).await, 400).await;
    assert!(message.contains("256"), "{message:?}");
    assert_eq!(app.post("/token", "n".repeat(256)).await.status(), 200);
}

#[tokio::test]
async fn tokens_validate_across_instances_sharing_a_jwt_secret() {
    let issuer = spawn_app_with(&["--jwt-secret", JWT_SECRET]).await;
    let verifier = spawn_app_with(&["--jwt-secret", JWT_SECRET]).await;
    let (token, _) = issue_token(&issuer, "bob").await;
    let response = validate(&verifier, Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["token_name"], "bob");
}

// ---------------------------------------------------------------------------------------------
// /ws/echo.

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(app: &TestApp) -> Ws {
    let (ws, response) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws/echo", app.port))
            .await
            .expect("WebSocket handshake");
    assert_eq!(response.status(), 101);
    ws
}

/// The next frame, within 2 s.
async fn ws_next(ws: &mut Ws) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .expect("the server answered within 2 s")
}

#[tokio::test]
async fn ws_echo_returns_each_message_with_a_timestamp() {
    let app = spawn_app().await;
    let mut ws = ws_connect(&app).await;
    for text in ["hello", "second"] {
        ws.send(Message::text(text)).await.expect("sent");
        let Some(Ok(Message::Text(reply))) = ws_next(&mut ws).await else {
            panic!("expected a text reply");
        };
        let reply: Value = serde_json::from_str(reply.as_str()).expect("JSON reply");
        assert_eq!(reply["msg"], text);
        let ts = reply["ts"].as_str().expect("ts");
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
            .expect("ts is RFC 3339");
    }
}

#[tokio::test]
async fn ws_message_above_the_size_limit_is_closed_with_1009() {
    let app = spawn_app_with(&["--ws-max-message-bytes", "1024"]).await;
    let mut ws = ws_connect(&app).await;
    ws.send(Message::text("x".repeat(1024)))
        .await
        .expect("sent");
    assert!(
        matches!(ws_next(&mut ws).await, Some(Ok(Message::Text(_)))),
        "a message at the limit is echoed"
    );
    ws.send(Message::text("x".repeat(4096)))
        .await
        .expect("sent");
    match ws_next(&mut ws).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
}

#[tokio::test]
async fn ws_burst_above_the_rate_limit_is_closed_with_1008() {
    let app = spawn_app_with(&["--ws-max-messages-per-second", "5"]).await;
    let mut ws = ws_connect(&app).await;
    // Exactly one over the limit, so the server has read everything before it closes.
    for i in 0..6 {
        ws.send(Message::text(format!("m{i}"))).await.expect("sent");
    }
    for i in 0..5 {
        let Some(Ok(Message::Text(reply))) = ws_next(&mut ws).await else {
            panic!("expected echo {i}");
        };
        assert!(reply.as_str().contains(&format!("m{i}")), "{reply}");
    }
    match ws_next(&mut ws).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a 1008 close, got {other:?}"),
    }
}

#[tokio::test]
async fn ws_echo_without_upgrade_headers_is_a_4xx_json_error() {
    let app = spawn_app().await;
    let response = app.get("/ws/echo").await;
    let code = response.status().as_u16();
    assert!((400..500).contains(&code), "got {code}");
    expect_json_error(response, code).await;
}

// ---------------------------------------------------------------------------------------------
// /metrics.

#[tokio::test]
async fn a_rejected_request_is_counted_under_its_route_template_not_as_unmatched() {
    let app = spawn_app().await;
    // A query axum rejects (plain text, rewritten to JSON by the error middleware).
    assert_eq!(app.get("/jobs?limit=not-a-number").await.status(), 400);
    let text = app.get("/metrics").await.text().await.expect("body");
    assert!(text.contains("path=\"/jobs\",status=\"400\""), "{text}");
    assert!(
        !text.contains("path=\"unmatched\",status=\"400\""),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_label_requests_by_route_template_and_include_process_metrics() {
    let app = spawn_app().await;
    assert_eq!(app.get("/delay/0").await.status(), 200);
    assert_eq!(app.get("/no/such/thing").await.status(), 404);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        header(&response, CONTENT_TYPE).starts_with("text/plain; version=0.0.4"),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("body");
    for needle in [
        "http_request_duration_seconds_bucket{method=\"GET\",path=\"/delay/{seconds}\",status=\"200\",le=",
        "path=\"unmatched\",status=\"404\"",
        "http_requests_total{status=\"200\"}",
        "http_requests_total{status=\"404\"}",
        &format!(
            "blueprint_build_info{{version=\"{}\",revision=",
            env!("CARGO_PKG_VERSION")
        ),
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("blueprint_build_info{") && l.ends_with(" 1")),
        "{text}"
    );
    assert!(
        !text.contains("path=\"/delay/0\""),
        "raw paths must not be labels"
    );
    assert!(
        !text.contains("/no/such/thing"),
        "raw paths must not be labels"
    );
}

#[tokio::test]
async fn metrics_speak_openmetrics_when_asked() {
    let app = spawn_app().await;
    assert_eq!(app.get("/api/info").await.status(), 200);
    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .header(ACCEPT, "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(header(&response, CONTENT_TYPE).starts_with("application/openmetrics-text"));
    let text = response.text().await.expect("body");
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("path=\"/api/info\""), "{text}");
}

#[tokio::test]
async fn openmetrics_buckets_carry_the_trace_id_as_an_exemplar() {
    // Exemplars need sampled spans, so the real binary with its telemetry pipeline.
    let child = start_child(&[], &[]).await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/api/info", child.address))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let text = client
        .get(format!("{}/metrics", child.address))
        .header(ACCEPT, "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    let exemplar = format!(" # {{trace_id=\"{TRACE_ID}\"}}");
    assert!(
        text.lines().any(|l| {
            // OpenMetrics puts `le` first; the label order carries no meaning.
            l.starts_with("http_request_duration_seconds_bucket{")
                && l.contains("path=\"/api/info\"")
                && l.contains(&exemplar)
        }),
        "no exemplar with trace {TRACE_ID} on an /api/info bucket:\n{text}"
    );
}

#[tokio::test]
async fn the_metrics_port_serves_only_metrics_and_healthz() {
    let port = helpers::free_port();
    let app = spawn_app_with(&["--port-metrics", &port.to_string()]).await;
    assert_eq!(app.metrics_port, Some(port));
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let metrics = client.get(url("/metrics")).send().await.expect("sent");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .expect("body")
            .contains("blueprint_build_info")
    );
    let healthz = client.get(url("/healthz")).send().await.expect("sent");
    assert_eq!(healthz.status(), 200);
    assert_eq!(json_body(healthz).await, json!({"status": "OK"}));
    let info = client.get(url("/api/info")).send().await.expect("sent");
    expect_json_error(info, 404).await;
}

// ---------------------------------------------------------------------------------------------
// Errors of the router itself.

#[tokio::test]
async fn an_unknown_route_is_a_404_json_error() {
    let app = spawn_app().await;
    expect_json_error(app.get("/no/such/thing").await, 404).await;
    expect_json_error(app.post("/api/nothing", "x").await, 404).await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_json_error_with_allow() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("sent");
    let allow = header(&response, ALLOW);
    assert!(allow.contains("GET"), "Allow: {allow:?}");
    expect_json_error(response, 405).await;
}

// ---------------------------------------------------------------------------------------------
// API documentation.

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_matches_its_snapshot() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc = json_body(response).await;
    assert!(
        doc["openapi"].as_str().expect("openapi").starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/",
        "/api/info",
        "/version",
        "/healthz",
        "/livez",
        "/readyz",
        "/readyz/enable",
        "/readyz/disable",
        "/status/{code}",
        "/delay/{seconds}",
        "/chunked/{seconds}",
        "/panic",
        "/fault_injection/enable",
        "/fault_injection/disable",
        "/fault_injection/status",
        "/env",
        "/headers",
        "/echo",
        "/ws/echo",
        "/store",
        "/store/{hash}",
        "/token",
        "/token/validate",
    ] {
        assert!(paths.contains_key(path), "{path} not documented");
    }
    // Nothing volatile is left in the document: `info.version` is the crate version.
    insta::assert_json_snapshot!("openapi", doc);
}

#[tokio::test]
async fn swagger_json_is_the_same_document_as_openapi_json() {
    let app = spawn_app().await;
    let openapi = json_body(app.get("/openapi.json").await).await;
    let response = app.get("/swagger.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, openapi);
}

#[tokio::test]
async fn swagger_ui_is_served_without_network_access() {
    let app = spawn_app().await;
    for path in ["/swagger/", "/swagger/index.html"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            header(&response, CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
        let html = response.text().await.expect("body");
        assert!(html.to_ascii_lowercase().contains("swagger"), "{path}");
    }
}

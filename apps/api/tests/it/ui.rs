//! `--ui-path`: the single-page app served next to the API, over real HTTP on loopback.
//!
//! Each test builds a small "built app" in a temp dir — `index.html`, a hashed `assets/app-1234.js`,
//! `config.json` — with a `secret.txt` next to (outside) it that must never be served.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderName, IF_MODIFIED_SINCE,
    LAST_MODIFIED, VARY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use serde_json::Value;

use crate::helpers::{ChildApp, TestApp, binary, blocking_get, spawn_app, spawn_app_with};

/// What Firefox sends on a navigation.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const INDEX_HTML: &str = "<!doctype html><title>blueprint</title><div id=\"app\"></div>\
     <script type=\"module\" src=\"/assets/app-1234.js\"></script>";
const APP_JS: &str = "console.log('blueprint');\n";
const CONFIG_JSON: &str = "{\"apiBase\":\"\"}";
const SECRET: &str = "outside the ui directory";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A temp dir holding `dist/` (the built app) and `secret.txt` beside it.
struct BuiltUi {
    root: tempfile::TempDir,
}

impl BuiltUi {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let dist = root.path().join("dist");
        std::fs::create_dir_all(dist.join("assets")).expect("mkdir dist/assets");
        std::fs::write(dist.join("index.html"), INDEX_HTML).expect("write index.html");
        std::fs::write(dist.join("assets/app-1234.js"), APP_JS).expect("write app js");
        std::fs::write(dist.join("config.json"), CONFIG_JSON).expect("write config.json");
        std::fs::write(root.path().join("secret.txt"), SECRET).expect("write secret");
        Self { root }
    }

    fn dist(&self) -> PathBuf {
        self.root.path().join("dist")
    }

    fn dist_arg(&self) -> String {
        self.dist().to_str().expect("utf-8 temp path").to_owned()
    }

    fn secret(&self) -> PathBuf {
        self.root.path().join("secret.txt")
    }
}

/// The app in-process, serving `ui`.
async fn spawn_with_ui(ui: &BuiltUi) -> TestApp {
    spawn_app_with(&["--ui-path", &ui.dist_arg()]).await
}

/// GET `path` as a browser navigation.
async fn browse(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .expect("request sent")
}

/// A response header as a string ("" when absent).
fn header(response: &reqwest::Response, name: HeaderName) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
        .unwrap_or_default()
}

/// Assert `response` is the app's `index.html`, revalidated on every use, with the UI's
/// security headers.
async fn expect_index(response: reqwest::Response) {
    let url = response.url().clone();
    assert_eq!(response.status(), 200, "{url}");
    assert!(
        header(&response, CONTENT_TYPE).starts_with("text/html"),
        "{url}: {:?}",
        response.headers()
    );
    assert_eq!(header(&response, CACHE_CONTROL), "no-cache", "{url}");
    expect_security_headers(&response);
    assert_eq!(response.text().await.expect("body"), INDEX_HTML, "{url}");
}

fn expect_security_headers(response: &reqwest::Response) {
    let url = response.url();
    assert_eq!(header(response, X_CONTENT_TYPE_OPTIONS), "nosniff", "{url}");
    assert_eq!(header(response, X_FRAME_OPTIONS), "DENY", "{url}");
    let csp = header(response, CONTENT_SECURITY_POLICY);
    assert!(csp.starts_with("default-src 'self'"), "{url}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{url}: {csp}");
}

/// Assert `response` is the JSON 404 `{"code":404,"message":…}` of an unknown route.
async fn expect_json_404(response: reqwest::Response) {
    let url = response.url().clone();
    assert_eq!(response.status(), 404, "{url}");
    assert!(
        header(&response, CONTENT_TYPE).starts_with("application/json"),
        "{url}: {:?}",
        response.headers()
    );
    assert!(
        header(&response, CACHE_CONTROL).is_empty(),
        "{url}: a 404 must not be cached as an asset"
    );
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["code"], 404, "{url}: {body}");
    assert!(body["message"].is_string(), "{url}: {body}");
}

#[tokio::test]
async fn a_browser_gets_the_app_at_the_root_and_every_other_client_the_json_info() {
    let ui = BuiltUi::new();
    let app = spawn_with_ui(&ui).await;

    let html = browse(&app, "/").await;
    assert!(
        header(&html, VARY).contains("accept"),
        "{:?}",
        html.headers()
    );
    expect_index(html).await;

    // reqwest sends `Accept: */*`, like curl.
    for accept in ["*/*", "application/json"] {
        let response = app
            .client
            .get(format!("{}/", app.address))
            .header(ACCEPT, accept)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{accept}");
        assert!(header(&response, VARY).contains("accept"), "{accept}");
        let info: Value = response.json().await.expect("JSON info");
        assert!(info["hostname"].is_string(), "{accept}: {info}");
        assert!(info["uptime_seconds"].is_u64(), "{accept}: {info}");
    }
}

#[tokio::test]
async fn hashed_assets_are_served_immutable_with_a_javascript_type() {
    let ui = BuiltUi::new();
    let app = spawn_with_ui(&ui).await;
    // A module script is fetched with `Accept: */*`; a navigation to it must get the file too.
    for response in [
        app.get("/assets/app-1234.js").await,
        browse(&app, "/assets/app-1234.js").await,
    ] {
        assert_eq!(response.status(), 200);
        let content_type = header(&response, CONTENT_TYPE);
        assert!(content_type.contains("javascript"), "{content_type}");
        assert_eq!(header(&response, CACHE_CONTROL), IMMUTABLE);
        expect_security_headers(&response);
        assert_eq!(response.text().await.expect("body"), APP_JS);
    }
}

#[tokio::test]
async fn index_html_and_config_json_are_revalidated_on_every_use() {
    let ui = BuiltUi::new();
    let app = spawn_with_ui(&ui).await;

    let config = app.get("/config.json").await;
    assert_eq!(config.status(), 200);
    assert!(header(&config, CONTENT_TYPE).starts_with("application/json"));
    assert_eq!(header(&config, CACHE_CONTROL), "no-cache");
    assert_eq!(config.text().await.expect("body"), CONFIG_JSON);

    let index = app.get("/index.html").await;
    let last_modified = header(&index, LAST_MODIFIED);
    assert!(!last_modified.is_empty(), "{:?}", index.headers());
    expect_index(index).await;

    // `no-cache` means "ask first": the answer to the question is a 304 without a body.
    let again = app
        .client
        .get(format!("{}/", app.address))
        .header(ACCEPT, BROWSER_ACCEPT)
        .header(IF_MODIFIED_SINCE, &last_modified)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, CACHE_CONTROL), "no-cache");
}

#[tokio::test]
async fn api_routes_win_over_files_and_over_the_history_fallback() {
    let ui = BuiltUi::new();
    // Files named like API routes must never shadow them.
    std::fs::write(ui.dist().join("healthz"), "a file").expect("write");
    std::fs::write(ui.dist().join("jobs"), "a file").expect("write");
    let app = spawn_with_ui(&ui).await;
    for path in [
        "/jobs?state=dead",
        "/healthz",
        "/api/info",
        "/version",
        "/openapi.json",
    ] {
        for response in [app.get(path).await, browse(&app, path).await] {
            assert_eq!(response.status(), 200, "{path}");
            assert!(
                header(&response, CONTENT_TYPE).starts_with("application/json"),
                "{path}: {:?}",
                response.headers()
            );
            assert!(header(&response, CACHE_CONTROL).is_empty(), "{path}");
        }
    }
    let doc: Value = app.get("/openapi.json").await.json().await.expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/"), "the JSON / stays documented");
    assert!(
        paths.keys().all(|p| !p.contains("assets") && p != "/ui"),
        "UI files are not the API: {:?}",
        paths.keys()
    );
}

#[tokio::test]
async fn a_browser_navigation_to_an_unknown_path_gets_the_app() {
    let ui = BuiltUi::new();
    let app = spawn_with_ui(&ui).await;
    for path in ["/jobs-view", "/jobs-view/0192-abcd", "/assets/", "/assets"] {
        let response = browse(&app, path).await;
        assert!(header(&response, VARY).contains("accept"), "{path}");
        expect_index(response).await;
    }
    let head = app
        .client
        .head(format!("{}/jobs-view", app.address))
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .expect("sent");
    assert_eq!(head.status(), 200);
    assert!(header(&head, CONTENT_TYPE).starts_with("text/html"));
}

#[tokio::test]
async fn other_requests_to_unknown_paths_keep_the_json_404() {
    let ui = BuiltUi::new();
    let app = spawn_with_ui(&ui).await;
    // Not a browser navigation: a fetch, a script, curl.
    for path in [
        "/jobs-view",
        "/assets/missing-9999.js",
        "/assets/",
        "/assets",
    ] {
        let response = app.get(path).await;
        assert!(header(&response, VARY).contains("accept"), "{path}");
        expect_json_404(response).await;
    }
    // Only GET and HEAD navigate.
    let post = app
        .client
        .post(format!("{}/jobs-view", app.address))
        .header(ACCEPT, BROWSER_ACCEPT)
        .body("x")
        .send()
        .await
        .expect("sent");
    expect_json_404(post).await;
}

#[tokio::test]
async fn paths_outside_the_ui_directory_are_never_served() {
    let ui = BuiltUi::new();
    let app = spawn_with_ui(&ui).await;
    let absolute = ui
        .secret()
        .to_str()
        .expect("utf-8 path")
        .replace('/', "%2f");
    let attempts = [
        "/..%2fsecret.txt".to_owned(),
        "/assets/..%2f..%2fsecret.txt".to_owned(),
        "/..%5csecret.txt".to_owned(),
        format!("/{absolute}"),
    ];
    for path in &attempts {
        expect_json_404(app.get(path).await).await;
        // A browser gets the app instead, never the file.
        expect_index(browse(&app, path).await).await;
    }
    // Unencoded `..` sent as is on the wire (clients normalise it away; attackers do not).
    let port = app.port;
    let raw = tokio::task::spawn_blocking(move || blocking_get(port, "/../secret.txt"))
        .await
        .expect("no panic")
        .expect("an answer");
    assert!(!raw.1.contains(SECRET), "{raw:?}");
    assert_ne!(raw.0, 200, "{raw:?}");
}

#[tokio::test]
async fn ui_answers_are_labelled_ui_in_metrics_never_by_raw_path() {
    let ui = BuiltUi::new();
    let app = spawn_with_ui(&ui).await;
    assert_eq!(app.get("/assets/app-1234.js").await.status(), 200);
    assert_eq!(browse(&app, "/jobs-view/42").await.status(), 200);
    assert_eq!(browse(&app, "/").await.status(), 200);
    assert_eq!(app.get("/").await.status(), 200);
    assert_eq!(app.get("/no-such-file.js").await.status(), 404);
    let text = app.get("/metrics").await.text().await.expect("body");
    for needle in [
        "http_request_duration_seconds_bucket{method=\"GET\",path=\"/ui\",status=\"200\",le=",
        "path=\"/\",status=\"200\"",
        "path=\"unmatched\",status=\"404\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    for raw in ["app-1234", "jobs-view", "no-such-file"] {
        assert!(
            !text.contains(raw),
            "raw path {raw} became a label:\n{text}"
        );
    }
}

#[tokio::test]
async fn without_a_ui_path_a_browser_gets_json_as_before() {
    let app = spawn_app().await;
    let root = browse(&app, "/").await;
    assert_eq!(root.status(), 200);
    assert!(header(&root, CONTENT_TYPE).starts_with("application/json"));
    assert!(header(&root, VARY).is_empty(), "{:?}", root.headers());
    expect_json_404(browse(&app, "/jobs-view").await).await;
    expect_json_404(app.get("/index.html").await).await;
}

fn exit_code_and_stderr(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(binary())
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("BLUEPRINT_UI_PATH")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("blueprint-api runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unusable_ui_path_exits_64_with_one_line_naming_it() {
    /// Flags, environment, and the path the error line must name.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a Path);
    let ui = BuiltUi::new();
    let missing = ui.root.path().join("not-built");
    let no_index = ui.dist().join("assets");
    let file = ui.secret();
    let (missing_arg, no_index_arg, file_arg) = (
        missing.to_str().expect("utf-8"),
        no_index.to_str().expect("utf-8"),
        file.to_str().expect("utf-8"),
    );
    let cases: &[Case<'_>] = &[
        (&["--ui-path", missing_arg], &[], &missing),
        (&["--ui-path", no_index_arg], &[], &no_index),
        (&["--ui-path", file_arg], &[], &file),
        (&[], &[("BLUEPRINT_UI_PATH", missing_arg)], &missing),
    ];
    for (args, envs, dir) in cases {
        let (code, err) = exit_code_and_stderr(args, envs);
        assert_eq!(code, Some(64), "{args:?} {envs:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains("--ui-path"), "{err}");
        assert!(
            err.contains(&*dir.to_string_lossy()),
            "names the path: {err}"
        );
    }
}

#[test]
fn the_binary_serves_the_ui_named_by_its_environment_variable() {
    let ui = BuiltUi::new();
    let app = ChildApp::start(&[], &[("BLUEPRINT_UI_PATH", &ui.dist_arg())]);
    let (status, body) = blocking_get(app.port, "/assets/app-1234.js").expect("an answer");
    assert_eq!(status, 200);
    assert!(body.ends_with(APP_JS), "{body}");
    let (status, body) = blocking_get(app.port, "/").expect("an answer");
    assert_eq!(status, 200);
    assert!(
        body.contains("\"hostname\""),
        "no Accept header: JSON. {body}"
    );
}

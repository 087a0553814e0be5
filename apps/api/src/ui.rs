//! `--ui-path`: a built single-page app served next to the API, like podinfo's `--ui-path`.
//!
//! Who answers a request, first match wins:
//!
//! 1. An API route. `GET /` is one: a browser (`Accept` containing `text/html`) gets the app's
//!    `index.html` ([`browser_root`]); everything else (curl, podinfo clients, the app's own
//!    `fetch`) keeps the JSON runtime information, and the OpenAPI document keeps describing that.
//! 2. A file in the directory ([`ServeDir`]: no directory listings, `..` and absolute paths
//!    refused before any file access, `If-Modified-Since` and `Range` honoured).
//! 3. A browser navigation (GET or HEAD with `Accept: text/html`) gets `index.html` with 200: the
//!    path belongs to the app's client-side router (history fallback), so a reload on
//!    `/jobs-view` works.
//! 4. Anything else: the JSON 404 `{"code":404,"message":…}`, as without a UI.
//!
//! What comes from the directory is labelled `path="/ui"` in metrics, traces and the access log
//! (one label value for every file, never the raw path), carries the security headers of the
//! `web` container's nginx (`apps/web/nginx/`, so a CSP problem shows up under `make run` as well),
//! and one of two caching policies: Vite's content-hashed `/assets/*` never change under their
//! name, so browsers keep them a year without asking; everything else (`index.html`,
//! `config.json`, the favicon) is `no-cache`: kept, but revalidated (`If-Modified-Since` → 304)
//! on every use, so a deploy shows at the next load.

use std::path::Path;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::error_response;
use crate::middleware::{UI, label_route};

/// `Cache-Control` of `/assets/*`: Vite puts a content hash in those names, so one year (in
/// seconds, the longest period caches honour) and `immutable` (no revalidation on reload).
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of every other UI file: cache, but revalidate on every use.
pub const CACHE_REVALIDATE: &str = "no-cache";

/// `Content-Security-Policy` of UI answers: the app's own origin only. `data:` images and fonts
/// because Vite inlines assets under 4 KiB as `data:` URLs; `frame-ancestors 'none'` for
/// clickjacking (with `X-Frame-Options` for old browsers).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";

/// Security headers of every UI answer; the same values as `apps/web/nginx/default.conf.template`.
const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
];

/// The UI directory, ready to serve.
#[derive(Debug, Clone)]
pub struct Ui {
    files: ServeDir,
    index: ServeFile,
}

impl Ui {
    /// Serve `dir`, which [`crate::config::Config::validate`] has checked holds an `index.html`.
    pub fn new(dir: &Path) -> Self {
        Self {
            // A directory is not a page: no listing and no implicit index.html, so `/assets/`
            // is "no such file" (a browser gets the app, anything else the JSON 404).
            files: ServeDir::new(dir).append_index_html_on_directories(false),
            index: ServeFile::new(dir.join("index.html")),
        }
    }

    /// The router's fallback: a file of the directory, else the app for a browser navigation,
    /// else the JSON 404.
    pub async fn serve(&self, req: Request) -> Response {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return not_found();
        }
        let (parts, body) = req.into_parts();
        let cache_control = if parts.uri.path().starts_with("/assets/") {
            CACHE_IMMUTABLE
        } else {
            CACHE_REVALIDATE
        };
        let Ok(file) = self
            .files
            .clone()
            .oneshot(Request::from_parts(parts.clone(), body))
            .await;
        // ServeDir answers 404 only when there is no such file (or the path was refused).
        if file.status() != StatusCode::NOT_FOUND {
            let mut response = file.map(Body::new);
            decorate(&mut response, cache_control);
            return response;
        }
        let mut response = if accepts_html(&parts.headers) {
            self.index(Request::from_parts(parts, Body::empty())).await
        } else {
            not_found()
        };
        vary_on_accept(&mut response);
        response
    }

    /// `index.html`, honouring the method and the conditional headers of `req`.
    async fn index(&self, req: Request) -> Response {
        let Ok(response) = self.index.clone().oneshot(req).await;
        let mut response = response.map(Body::new);
        decorate(&mut response, CACHE_REVALIDATE);
        response
    }
}

/// Middleware around the API routes: `GET /` from a browser answers the app instead of the JSON
/// runtime information. Both answers say `Vary: Accept`, so no cache hands one to the other.
pub async fn browser_root(State(ui): State<Ui>, req: Request, next: Next) -> Response {
    if req.uri().path() != "/" {
        return next.run(req).await;
    }
    let mut response =
        if matches!(*req.method(), Method::GET | Method::HEAD) && accepts_html(req.headers()) {
            let (parts, _) = req.into_parts();
            ui.index(Request::from_parts(parts, Body::empty())).await
        } else {
            next.run(req).await
        };
    vary_on_accept(&mut response);
    response
}

/// Whether the client takes HTML: browsers' navigations send `Accept: text/html,…`; `fetch`,
/// curl and podinfo clients do not.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("text/html")))
}

/// The 404 of an unknown path, the same as without a UI.
fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "no such route")
}

fn vary_on_accept(response: &mut Response) {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept"));
}

/// Security headers, caching policy and the `/ui` route label on an answer from the directory.
fn decorate(response: &mut Response, cache_control: &'static str) {
    let status = response.status();
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
    }
    label_route(response, UI);
}

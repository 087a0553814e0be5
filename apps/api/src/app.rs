//! The router: every route, the OpenAPI document generated from them, and the middleware stack.
//! With `--ui-path`, the single-page app of [`crate::ui`] behind the API routes (and outside the
//! OpenAPI document: it is not the API).

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::error_response;
use crate::middleware;
use crate::routes::{cache, chaos, echo, health, info, jobs, store, token};
use crate::state::AppState;
use crate::ui::{self, Ui};

/// Top-level OpenAPI metadata; the paths come from the handlers' `#[utoipa::path]`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "blueprint-api",
        description = "The SRE Blueprint reference HTTP service: a podinfo-compatible API with probes, chaos endpoints, Prometheus metrics and OpenTelemetry traces.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "info", description = "What is running"),
        (name = "health", description = "Liveness and readiness probes"),
        (name = "chaos", description = "Break the service on purpose (off with --disable-chaos)"),
        (name = "echo", description = "Echo requests, headers and environment"),
        (name = "store", description = "Content-addressed blob store"),
        (name = "token", description = "JSON Web Tokens"),
        (name = "jobs", description = "Background jobs: enqueue, state, dead letters"),
        (name = "cache", description = "Redis-backed cache (with --redis-url)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The routes and the OpenAPI document, before state and middleware.
fn documented_routes(chaos_enabled: bool) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(info::index))
        .routes(routes!(info::api_info))
        .routes(routes!(info::version))
        .routes(routes!(middleware::metrics))
        .routes(routes!(health::healthz))
        .routes(routes!(health::livez))
        .routes(routes!(health::readyz))
        .routes(routes!(health::enable))
        .routes(routes!(health::disable))
        .routes(routes!(echo::echo))
        .routes(routes!(echo::env))
        .routes(routes!(echo::headers))
        .routes(routes!(echo::ws_echo))
        .routes(routes!(store::write))
        .routes(routes!(store::read))
        .routes(routes!(token::issue))
        .routes(routes!(token::validate))
        .routes(routes!(jobs::enqueue, jobs::list))
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::retry))
        .routes(routes!(cache::write, cache::read, cache::delete));
    if chaos_enabled {
        router = router
            .routes(routes!(chaos::status))
            .routes(routes!(chaos::delay))
            .routes(routes!(chaos::panic))
            .routes(routes!(chaos::fault_enable))
            .routes(routes!(chaos::fault_disable))
            .routes(routes!(chaos::fault_status))
            .routes(routes!(chaos::chunked));
    }
    router
}

/// The OpenAPI document of the full API (chaos routes included).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = documented_routes(true).into_openapi();
    crate::state::VERSION.clone_into(&mut doc.info.version);
    doc
}

/// The main router with all middleware, ready to serve.
pub fn router(state: AppState) -> Router {
    let chaos_enabled = !state.config.disable_chaos;
    let (routes, mut doc) = documented_routes(chaos_enabled).split_for_parts();
    crate::state::VERSION.clone_into(&mut doc.info.version);
    let doc_json = doc.clone();
    let routes = routes
        // podinfo-compatible aliases, left out of the document to keep it one path per operation.
        .route("/api/echo", axum::routing::any(echo::echo))
        .route(
            "/swagger.json",
            get(move || async move { axum::Json(doc_json) }),
        )
        .merge(SwaggerUi::new("/swagger").url("/openapi.json", doc))
        .route_layer(axum::middleware::from_fn(middleware::remember_route))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.body_limit,
        ));
    let routes = match &state.config.ui_path {
        // API routes first; then the UI's files, its history fallback, or the JSON 404.
        Some(dir) => {
            let ui = Ui::new(dir);
            let files = ui.clone();
            routes
                .fallback(move |req: Request| {
                    let files = files.clone();
                    async move { files.serve(req).await }
                })
                .layer(axum::middleware::from_fn_with_state(ui, ui::browser_root))
        }
        None => {
            routes.fallback(|| async { error_response(StatusCode::NOT_FOUND, "no such route") })
        }
    };

    let chaos_layer = chaos_enabled
        .then(|| axum::middleware::from_fn_with_state(state.clone(), middleware::chaos));
    routes
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    middleware::observe,
                ))
                .layer(axum::middleware::from_fn(middleware::json_errors))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    state.config.http_server_timeout,
                ))
                .option_layer(chaos_layer),
        )
        .with_state(state)
}

/// The router of `--port-metrics`: `/metrics` and `/healthz` only.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(middleware::metrics))
        .route("/healthz", get(health::healthz))
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "no such route") })
        .with_state(state)
}

//! Everything HTTP: the [`router`] with every route (the REST API under `/api` — the contract of
//! `API.md`, kept exactly, plus extras; docs/api.md and `GET /api/openapi.json` describe it —
//! `/auth/*`, `/metrics`, the dashboard's pages), auth extractors, the JSON body extractor, the
//! error type and the access log. The only module that knows axum handlers; nothing below it
//! imports from it.
//!
//! Unknown `/api` paths and wrong methods answer with the same JSON error body as everything
//! else; bodies over [`BODY_LIMIT`] are refused with 413 before they are read whole.

pub mod access;
pub mod access_log;
pub mod auth;
mod cached;
pub mod device;
pub mod error;
pub mod extract;
pub mod host_check;
mod identities;
pub mod json;
pub mod oidc;
mod openapi;
pub mod owner_action;
mod pages;
mod positions;
mod records;
mod schemas;
pub mod session;
pub mod ssr_backend;
pub mod state;
mod stream;
mod subscriptions;
mod system;
pub mod tokens;
pub mod topics;

use app::backend::SharedBackend;
use axum::{
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, post},
    Router,
};
use error::ApiError;
use host_check::check_host;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use ssr_backend::{revalidate_bundle, SsrBackend};
use state::AppState;
use std::sync::Arc;

/// Largest request body the API reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole HTTP surface: `/api`, `/auth/*` (sign-in), `/metrics`, the dashboard's
/// server-rendered pages and static files, with the layers every request passes.
pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(SsrBackend::new(state.clone()));
    let routes = generate_route_list(app::App);
    let options = state.leptos_options.clone();
    Router::new()
        .nest("/api", api_router())
        .route("/auth/login", axum::routing::get(oidc::login))
        .route("/auth/callback", axum::routing::get(oidc::callback))
        .route("/auth/device", axum::routing::post(device::start))
        .route("/auth/device/token", axum::routing::post(device::token))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(backend.clone()),
            move || app::shell(options.clone()),
        )
        .route("/metrics", axum::routing::get(metrics))
        .route_layer(middleware::from_fn(access_log::tag_route))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(middleware::from_fn(revalidate_bundle))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.limits.body_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.allowed_hosts.clone(),
            check_host,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            access_log::log_request,
        ))
        .with_state(state)
}

/// `GET /metrics`: request metrics plus topic counts by status and broker reachability.
pub async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    use std::fmt::Write;
    let mut text = state.metrics.render();
    text.push_str(
        "# HELP streamhub_topics Topics by lifecycle status.\n# TYPE streamhub_topics gauge\n",
    );
    if let Ok(stats) = state.store.stats().await {
        for (status, count) in [
            ("pending", stats.pending_topics),
            ("approved", stats.approved_topics),
            ("active", stats.active_topics),
            ("rejected", stats.rejected_topics),
            ("inactive", stats.inactive_topics),
        ] {
            let _ = writeln!(text, "streamhub_topics{{status=\"{status}\"}} {count}");
        }
        let _ = writeln!(
            text,
            "# TYPE streamhub_subscriptions gauge\nstreamhub_subscriptions {}",
            stats.total_subscriptions
        );
    }
    text.push_str(&state.relay.stats().render());
    text.push_str(&state.relay.schemas().metrics_text());
    text.push_str(&state.webhooks.render());
    let health = state.health.report();
    for (part, status) in [
        ("broker", &health.broker.component.status),
        ("database", &health.database.status),
    ] {
        let _ = writeln!(
            text,
            "streamhub_up{{part=\"{part}\"}} {}",
            u8::from(status == "up")
        );
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
}

/// The `/api` routes, to be nested under `/api`.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/health", get(system::health))
        .route("/openapi.json", get(openapi::document))
        .route("/stream", get(stream::stream))
        .route("/stats", get(system::stats))
        .route(
            "/session",
            get(session::current)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route("/audit", get(system::audit))
        .route("/topics", get(topics::list).post(topics::create))
        .route("/topics/active", get(topics::active))
        .route("/topics/rates", get(topics::rates))
        .route("/topics/activate_by_name", post(topics::activate_by_name))
        .route("/topics/{id}", get(topics::detail))
        .route("/topics/{id}/approve", post(topics::approve))
        .route("/topics/{id}/reject", post(topics::reject))
        .route("/topics/{id}/deactivate", post(topics::deactivate))
        .route("/topics/{id}/reactivate", post(topics::reactivate))
        .route("/topics/{id}/adopt", post(topics::adopt))
        .route("/topics/{id}/records", post(records::produce))
        .route("/schemas/{id}", get(schemas::show))
        .route(
            "/topics/{id}/access",
            axum::routing::put(access::update_access),
        )
        .route("/topics/{id}/owner", axum::routing::put(access::set_owner))
        .route("/topics/{id}/claim", post(access::claim))
        .route("/topics/{id}/subscribers", get(subscriptions::subscribers))
        .route("/topics/{id}/claim/decision", post(access::decide_claim))
        .route(
            "/subscriptions",
            get(subscriptions::list)
                .post(subscriptions::subscribe)
                .delete(subscriptions::unsubscribe),
        )
        .route("/subscriptions/decision", post(subscriptions::decide))
        .route("/inbox", get(subscriptions::inbox))
        .route("/subscriptions/lag", get(positions::lag))
        .route("/positions", axum::routing::put(positions::save))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route(
            "/identities/{user_id}",
            axum::routing::delete(identities::unbind),
        )
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

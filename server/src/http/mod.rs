//! The REST API under `/api` (the contract of `../shared/API.md`, plus extras): routes, auth
//! extractors, the JSON body extractor, the error type and the access log.
//!
//! Unknown `/api` paths and wrong methods answer with the same JSON error body as everything
//! else; bodies over [`BODY_LIMIT`] are refused with 413 before they are read whole.

pub mod access_log;
pub mod auth;
pub mod error;
pub mod json;
mod subscriptions;
mod system;
mod topics;

use crate::state::AppState;
use axum::{
    extract::DefaultBodyLimit,
    routing::{get, post},
    Router,
};
use error::ApiError;

/// Largest request body the API reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The `/api` routes, to be nested under `/api`.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/health", get(system::health))
        .route("/stats", get(system::stats))
        .route("/audit", get(system::audit))
        .route("/topics", get(topics::list).post(topics::create))
        .route("/topics/active", get(topics::active))
        .route("/topics/activate_by_name", post(topics::activate_by_name))
        .route("/topics/{id}", get(topics::detail))
        .route("/topics/{id}/approve", post(topics::approve))
        .route("/topics/{id}/reject", post(topics::reject))
        .route("/topics/{id}/deactivate", post(topics::deactivate))
        .route("/topics/{id}/reactivate", post(topics::reactivate))
        .route(
            "/subscriptions",
            get(subscriptions::list)
                .post(subscriptions::subscribe)
                .delete(subscriptions::unsubscribe),
        )
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

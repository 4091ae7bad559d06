//! One structured log line and one metrics observation per request: method, route, status,
//! latency and request id. The route is the matched pattern (`/api/topics/{id}/approve`), not
//! the raw path, so that lines group well and ids in paths do not explode label sets.
//!
//! Two layers cooperate: [`tag_route`] runs after routing (as a route layer) and copies the
//! matched pattern into the response; [`log_request`] wraps everything and reads it back.

use super::state::AppState;
use axum::{
    extract::{MatchedPath, Request, State},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// The response header carrying the request id (also accepted from a proxy on the request).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Route layer: remembers which route pattern matched, for [`log_request`].
pub async fn tag_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(matched);
    }
    response
}

/// Outer layer: times the request, tags the response with a request id, logs one line and
/// counts it in the metrics.
pub async fn log_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:x}", NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed)));

    let mut response = next.run(request).await;

    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or("unmatched")
        .to_owned();
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    state
        .metrics
        .observe(method.as_str(), &route, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let latency_ms = elapsed * 1000.0;
    // Failures and refusals are worth a line at the default level; routine requests (the
    // producer's polls, health checks, pages, static files) only at DEBUG, and in the
    // per-minute summary (`crate::summary`). What a write changed has its own line.
    match status {
        500.. => tracing::warn!(%method, %route, status, latency_ms, request_id, "request"),
        400..=499 => tracing::info!(%method, %route, status, latency_ms, request_id, "request"),
        _ => tracing::debug!(%method, %route, status, latency_ms, request_id, "request"),
    }
    response
}

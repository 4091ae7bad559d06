//! One structured log line per request: method, route, status, latency and request id. The
//! route is the matched pattern (`/api/topics/{id}/approve`), not the raw path, so that lines
//! group well and ids in paths do not explode label sets.

use axum::{
    extract::{MatchedPath, Request},
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

/// Middleware: times the request, tags the response with a request id and logs one line.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:x}", NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed)));

    let mut response = next.run(request).await;

    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if status >= 500 {
        tracing::warn!(%method, %route, status, latency_ms, request_id, "request");
    } else {
        tracing::info!(%method, %route, status, latency_ms, request_id, "request");
    }
    response
}

//! The Leptos side of the server: the [`app::backend::Backend`] through which server-side
//! rendering calls the REST API in-process, and the options that tell leptos_axum where the
//! built site is.

use super::{api_router, state::AppState};
use app::{
    api::Method,
    backend::{ApiRequest, ApiResponse, Backend, BackendFuture},
};
use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{header, request::Parts, HeaderValue, Request},
    middleware::Next,
    response::Response,
    Router,
};
use leptos::{config::LeptosOptions, prelude::use_context};
use std::{net::SocketAddr, path::Path};
use tower::ServiceExt;

/// Largest answer an in-process call reads (the topic list of a big installation fits).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Server-side rendering reaches the REST API through this: the same router, handlers, checks
/// and audit log as a request from outside.
pub struct SsrBackend {
    api: Router,
}

impl SsrBackend {
    /// The `/api` router over the shared state.
    pub fn new(state: AppState) -> Self {
        Self {
            api: Router::new().nest("/api", api_router()).with_state(state),
        }
    }
}

fn page_request() -> Option<Parts> {
    use_context::<Parts>()
}

impl Backend for SsrBackend {
    fn prepare(&self, method: Method, path: String, body: Option<String>) -> ApiRequest {
        let parts = page_request();
        ApiRequest {
            method,
            path,
            body,
            cookie: parts.as_ref().and_then(|p| {
                p.headers
                    .get(header::COOKIE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            }),
            remote_addr: parts.as_ref().and_then(super::auth::remote_addr),
        }
    }

    fn call(&self, request: ApiRequest) -> BackendFuture<'_, ApiResponse> {
        Box::pin(async move {
            let failed = |status: u16, message: String| ApiResponse {
                status,
                body: serde_json::json!({"error": "internal", "message": message}).to_string(),
            };
            let mut builder = Request::builder()
                .method(request.method.as_str())
                .uri(&request.path)
                .header(header::ACCEPT, "application/json");
            if let Some(cookie) = &request.cookie {
                builder = builder.header(header::COOKIE, cookie);
            }
            if request.body.is_some() {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
            }
            let mut http_request = match builder.body(Body::from(request.body.unwrap_or_default()))
            {
                Ok(r) => r,
                Err(e) => return failed(400, format!("bad in-process request: {e}")),
            };
            if let Some(addr) = request
                .remote_addr
                .and_then(|a| a.parse::<SocketAddr>().ok())
            {
                http_request.extensions_mut().insert(ConnectInfo(addr));
            }
            let response = match self.api.clone().oneshot(http_request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = response.status().as_u16();
            match axum::body::to_bytes(response.into_body(), MAX_RESPONSE_BYTES).await {
                Ok(bytes) => ApiResponse {
                    status,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                },
                Err(e) => failed(500, format!("could not read an in-process answer: {e}")),
            }
        })
    }

    fn cookie(&self, name: &str) -> Option<String> {
        page_request()
            .as_ref()
            .and_then(|p| super::auth::cookie(&p.headers, name))
            .map(str::to_owned)
    }
}

/// Leptos options for a site built by `.ci/build-site` into `site_dir`.
pub fn leptos_options(site_dir: &Path, addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(app::BUNDLE_NAME)
        .site_root(site_dir.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

/// Makes browsers check the bundle under `/pkg/` with the server before each use (answered with
/// 304 Not Modified while it is unchanged). The page modules are fetched on demand and must come
/// from the same build as the shell a tab already runs: without this, browsers guess a cache
/// lifetime from `Last-Modified` and could pair a rebuilt shell with an old cached chunk.
pub async fn revalidate_bundle(request: Request<Body>, next: Next) -> Response {
    let bundle = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    if bundle {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-cache"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{middleware, routing::get};

    #[tokio::test]
    async fn the_bundle_is_revalidated_and_other_answers_are_left_alone() {
        let router = Router::new()
            .route("/pkg/streamhub_bg.wasm", get(|| async { "wasm" }))
            .route("/api/stats", get(|| async { "{}" }))
            .layer(middleware::from_fn(revalidate_bundle));
        let cache_control = |path: &'static str| {
            let router = router.clone();
            async move {
                let request = Request::get(path).body(Body::empty()).unwrap();
                let response = router.oneshot(request).await.unwrap();
                response.headers().get(header::CACHE_CONTROL).cloned()
            }
        };
        assert_eq!(
            cache_control("/pkg/streamhub_bg.wasm").await,
            Some(HeaderValue::from_static("no-cache"))
        );
        assert_eq!(cache_control("/api/stats").await, None);
    }
}

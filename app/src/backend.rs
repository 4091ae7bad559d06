//! The seam between server-side rendering and the server: pages call the REST API through
//! [`crate::api`], and while rendering on the server that call comes here, to an in-process
//! request on the server's own `/api` router.
//!
//! `app` cannot depend on the `streamhub` server crate (that crate depends on this one), so the
//! server implements [`Backend`] and hands it to Leptos as context. Only compiled with `ssr`: the
//! browser never sees it.

use crate::http_method::Method;
use std::{future::Future, pin::Pin, sync::Arc};

/// A boxed future, so that [`Backend`] stays object-safe without an extra crate.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One REST call, with what it carries over from the page request being rendered.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Starts with `/api/`.
    pub path: String,
    /// JSON.
    pub body: Option<String>,
    /// The visitor's `Cookie` header (their admin session, if any).
    pub cookie: Option<String>,
    /// The visitor's address, for the audit log.
    pub remote_addr: Option<String>,
}

/// A REST answer.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub body: String,
}

/// What server-side rendering needs from the server.
pub trait Backend: Send + Sync + 'static {
    /// Builds a call, capturing the visitor's cookies and address from the page request; must be
    /// called while that request's Leptos context is current.
    fn prepare(&self, method: Method, path: String, body: Option<String>) -> ApiRequest;
    /// Runs a call against the `/api` router.
    fn call(&self, request: ApiRequest) -> BackendFuture<'_, ApiResponse>;
    /// A cookie of the page request being rendered (same context rule as [`Backend::prepare`]).
    fn cookie(&self, name: &str) -> Option<String>;
}

/// How the backend travels in Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

//! The seam between the dashboard's server functions and the server's store and Kafka clients.
//!
//! `app` cannot depend on the `streamhub` server crate (that crate depends on this one), so the
//! server implements [`Backend`] and hands it to Leptos as context; server functions call it. Only
//! compiled with `ssr`: the browser never sees it.

use crate::wire::Overview;
use std::{future::Future, pin::Pin, sync::Arc};

/// A boxed future, so that [`Backend`] stays object-safe without an extra crate.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// What the dashboard needs from the server. Errors are sentences for the page to show.
pub trait Backend: Send + Sync + 'static {
    /// Counters and health in one round trip.
    fn overview(&self) -> BackendFuture<'_, Overview>;
}

/// How the backend travels in Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

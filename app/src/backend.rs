//! The seam between the dashboard's server functions and the server's store and Kafka clients.
//!
//! `app` cannot depend on the `streamhub` server crate (that crate depends on this one), so the
//! server implements [`Backend`] and hands it to Leptos as context; server functions call it. Only
//! compiled with `ssr`: the browser never sees it.

use crate::wire::{FormError, NewTopicRequest, Overview, Topic};
use std::{future::Future, pin::Pin, sync::Arc};

/// A boxed future, so that [`Backend`] stays object-safe without an extra crate.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// What the dashboard needs from the server. Errors are sentences for the page to show.
pub trait Backend: Send + Sync + 'static {
    /// Counters and health in one round trip.
    fn overview(&self) -> BackendFuture<'_, Overview>;
    /// Every topic, newest first.
    fn topics(&self) -> BackendFuture<'_, Vec<Topic>>;
    /// Records a topic request (called inside a server function, so the request's details are
    /// in Leptos context); a refusal names the field at fault.
    fn request_topic(&self, request: NewTopicRequest) -> BackendFuture<'_, Result<i64, FormError>>;
}

/// How the backend travels in Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

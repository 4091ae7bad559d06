//! The Leptos side of the server: the [`app::backend::Backend`] that the dashboard's server
//! functions call, and the options that tell leptos_axum where the built site is.

use crate::{
    http::{auth::Caller, topics::submit_request},
    state::AppState,
};
use app::{
    backend::{Backend, BackendFuture},
    wire::{FormError, NewTopicRequest, Overview, Topic},
};
use leptos::config::LeptosOptions;
use std::{net::SocketAddr, path::Path};

/// Server functions reach the store and health monitor through this.
pub struct DashboardBackend {
    state: AppState,
}

impl DashboardBackend {
    /// Wraps the shared state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl Backend for DashboardBackend {
    fn overview(&self) -> BackendFuture<'_, Overview> {
        Box::pin(async move {
            let stats = self.state.store.stats().await.map_err(|e| e.to_string())?;
            Ok(Overview {
                stats,
                health: self.state.health.report(),
            })
        })
    }

    fn topics(&self) -> BackendFuture<'_, Vec<Topic>> {
        Box::pin(async move {
            self.state
                .store
                .list_topics(None)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn request_topic(&self, request: NewTopicRequest) -> BackendFuture<'_, Result<i64, FormError>> {
        // The peer address, for the audit log, from the request leptos_axum put in context.
        let remote_addr = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|parts| crate::http::auth::remote_addr(&parts));
        Box::pin(async move {
            let caller = Caller { remote_addr };
            match submit_request(&self.state, &request, &caller).await {
                Ok(id) => Ok(Ok(id)),
                Err(e) if e.status().is_client_error() => {
                    let body = e.body();
                    Ok(Err(FormError {
                        field: body.field,
                        message: body.message,
                    }))
                }
                Err(e) => Err(e.to_string()),
            }
        })
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

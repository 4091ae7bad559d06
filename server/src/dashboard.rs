//! The Leptos side of the server: the [`app::backend::Backend`] that the dashboard's server
//! functions call, and the options that tell leptos_axum where the built site is.

use crate::state::AppState;
use app::{
    backend::{Backend, BackendFuture},
    wire::Overview,
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

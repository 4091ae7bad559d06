//! The state every handler and the SSR backend share. Each field is a cheap handle.

use super::host_check::AllowedHosts;
use crate::rate_limit::RateLimit;
use crate::{
    health::HealthMonitor,
    kafka::{KafkaAdmin, RecordSender},
    lifecycle::Lifecycle,
    metrics::Metrics,
    rates::Rates,
    relay::Relay,
    secrets::ServerSecrets,
    store::Store,
};
use crate::{sessions::Sessions, store::read_cache::ReadCache};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// Limits on what a request may ask for (from configuration).
#[derive(Clone)]
pub struct Limits {
    /// Largest partition count of a topic request.
    pub max_partitions: i64,
    /// Anonymous writes (topic requests, subscription changes) per client address.
    pub writes: Arc<RateLimit>,
    /// Wrong secrets presented (admin token, producer key) per client address.
    pub failed_secrets: Arc<RateLimit>,
    /// Sign-in steps and token changes per client address (each a provider round trip or a
    /// write).
    pub sign_ins: Arc<RateLimit>,
    /// How long reading a request's body may take (a declared body that never comes would
    /// hold its connection otherwise).
    pub body_timeout: std::time::Duration,
}

/// Everything a request may need. `LeptosOptions: FromRef<AppState>` is what leptos_axum asks.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Where the built site is and what the bundle is called (for SSR and static files).
    pub leptos_options: LeptosOptions,
    /// Topics, subscriptions, audit log.
    pub store: Store,
    /// Creating topics and reading cluster metadata.
    pub kafka: KafkaAdmin,
    /// Sends the records people compose.
    pub records: RecordSender,
    /// The latest broker and database checks.
    pub health: HealthMonitor,
    /// Admin token and producer secret.
    pub secrets: Arc<ServerSecrets>,
    /// Request bounds.
    pub limits: Limits,
    /// The names (`Host`) requests may reach this server by.
    pub allowed_hosts: Arc<AllowedHosts>,
    /// A topic's lifecycle moves and their rules (four-eyes, activation one at a time).
    pub lifecycle: Lifecycle,
    /// Request counts and latencies for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Notifications of requests and decisions to the configured webhook.
    pub webhooks: crate::webhooks::Webhooks,
    /// Hot read answers, valid until the next write.
    pub read_cache: Arc<ReadCache>,
    /// Live streams to WebSocket clients.
    pub relay: Relay,
    /// Recent message rates of active topics.
    pub rates: Rates,
    /// Signed-in dashboard admins and (`oidc` mode) people.
    pub sessions: Arc<Sessions>,
    /// How callers are known: `open` (they name themselves) or `oidc`.
    pub auth: crate::oidc::AuthMode,
    /// The identity provider, in `oidc` mode.
    pub oidc: Option<Arc<crate::oidc::Oidc>>,
}

//! StreamHub's server side: the axum server that serves the dashboard and the REST API, and the
//! library that the producer daemon and the CLI consumer share with it.
//!
//! Read this map first:
//!
//! | module | owns |
//! | --- | --- |
//! | [`config`] | every setting, from flags and env vars, with its default |
//! | [`telemetry`] | `tracing` set-up (text or JSON lines, `RUST_LOG`) |
//! | [`secrets`] | the admin token and producer secret: generated, stored 0600, compared in constant time, never printed |
//! | [`sessions`] | dashboard admin sessions: signed cookies, CSRF tokens, revocation (no axum here) |
//! | [`relay`] | the live relay: one Kafka read per topic fanned out to WebSocket clients |
//! | [`schema`] | records with schemas (Avro, Protobuf, JSON Schema) through a schema registry or schema files: decoded once into JSON, encoded from it |
//! | [`consumer`] | the CLI consumer: interactive menu, script subcommands, Kafka and relay readers |
//! | [`producer`] | the producer daemon: activation loop, per-topic feeding, delivery counting |
//! | [`generate`] | realistic typed events (sensor, weather, payment, logs, user activity) for the producer |
//! | [`api_client`] | a typed REST client for the producer and the CLI |
//! | [`access`] | who may read what: owners, access levels, masked fields, decided for one viewer and one topic |
//! | [`lifecycle`] | a topic's lifecycle rules: approval and rejection with four-eyes, activation (Kafka first, one at a time, names taken in Kafka held for an admin), deactivation, reactivation, adoption; each refusal audited |
//! | [`store`] | metadata on SQLite or PostgreSQL through sqlx: topics and their lifecycle, subscriptions, the audit log, tokens, the change log every instance follows |
//! | [`change_effects`] | what this instance does about each metadata change of the deployment (relay, sessions) |
//! | [`kafka`] | librdkafka client settings, topic administration, and a local `tansu` broker for tests |
//! | [`metrics`] | request counts and latencies for `GET /metrics` (Prometheus text) |
//! | [`filter`] | filter expressions (CEL) over records: compiled once, evaluated within a budget |
//! | [`forwarded`] | the client address behind trusted proxies (`X-Forwarded-For`) |
//! | [`oidc`] | sign-in through an OpenID Connect provider: discovery, the code flow, ID token checks, claims |
//! | [`open_files`] | the open-files budget: connection and socket caps sized to the process's limit |
//! | [`rate_limit`] | per-address token buckets: anonymous writes and failed secrets, 429 past them |
//! | [`webhooks`] | notifications of requests and decisions to a webhook: queued, signed, retried, counted |
//! | [`rates`] | recent message rates of active topics, sampled for the overview |
//! | [`summary`] | the per-minute activity line of the server's log (routine requests log at DEBUG) |
//! | [`health`] | the background check of broker and database behind `GET /api/health` |
//! | [`reconciler`] | recreates `active` topics missing in Kafka, audited (run by the health check) |
//! | [`http`] | everything axum: the router (every route), REST and WebSocket handlers, auth extractors, the sign-in endpoints, the JSON error type, access log, [`http::state::AppState`] (the handles every request shares) and [`http::ssr_backend`] (SSR of the `app` crate and the in-process REST calls its pages make) |
//! | [`listener`] | accepting connections, with a header-read timeout against slowloris |
//! | [`server`] | [`server::run`]: wires all of the above onto a bound listener until shutdown |
//!
//! The binaries in `src/bin/` only parse their arguments and call into this library.

pub mod access;
pub mod api_client;
pub mod change_effects;
pub mod config;
pub mod consumer;
pub mod filter;
pub mod forwarded;
pub mod generate;
pub mod health;
pub mod http;
pub mod kafka;
pub mod lifecycle;
pub mod listener;
pub mod metrics;
pub mod oidc;
pub mod open_files;
pub mod producer;
pub mod rate_limit;
pub mod rates;
pub mod reconciler;
pub mod relay;
pub mod schema;
pub mod secrets;
pub mod server;
pub mod sessions;
pub mod store;
pub mod summary;
pub mod telemetry;
pub mod webhooks;

/// The RFC 3339 UTC timestamp (milliseconds, `Z`) used in every API body and database row.
/// Such strings sort in time order, which the store relies on.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested");
}

//! Every setting of every StreamHub process, read from command-line flags and environment
//! variables (flags win), each with a documented default. docs/configuration.md lists them, and
//! an integration test (`docs::`) fails when an environment variable is missing there.

use crate::{kafka::KafkaArgs, relay::RelayArgs, telemetry::LogArgs};
use clap::Parser;
use std::{net::SocketAddr, path::PathBuf};

/// Settings of the `streamhub` server.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "streamhub",
    version,
    about = "StreamHub server: dashboard, REST API and live relay for approval-gated Kafka topics"
)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    #[arg(long, env = "STREAMHUB_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Directory for the SQLite database (unless `--database-url` says otherwise), generated
    /// secrets and (locally) broker storage.
    #[arg(long, env = "STREAMHUB_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Where the metadata lives: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`
    /// (shared by several instances). Unset: `streamhub.db` in the data directory.
    #[arg(long, env = "STREAMHUB_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// What health reports call this instance among the deployment's (several instances may
    /// share a database). Unset: the host's name and the listening port.
    #[arg(long, env = "STREAMHUB_INSTANCE_NAME")]
    pub instance_name: Option<String>,

    /// Directory holding the built dashboard (`pkg/` with WASM, JS and CSS, plus public files).
    #[arg(long, env = "STREAMHUB_SITE_DIR", default_value = "target/site")]
    pub site_dir: PathBuf,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub relay: RelayArgs,

    #[command(flatten)]
    pub log: LogArgs,

    #[command(flatten)]
    pub auth: crate::oidc::AuthArgs,

    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookArgs,

    #[command(flatten)]
    pub schemas: crate::schema::SchemaArgs,

    /// Admin bearer token, from `ADMIN_TOKEN` only: a flag would show it to everyone on the
    /// machine (`ps`). Unset: generated at first start and kept in `<data dir>/admin_token`.
    #[arg(skip = crate::secrets::from_env("ADMIN_TOKEN"))]
    pub admin_token: Option<String>,

    /// Shared secret the producer sends as `X-Producer-Key`, from `PRODUCER_SECRET` only (as the
    /// admin token). Unset: generated at first start and kept in `<data dir>/producer_secret`.
    #[arg(skip = crate::secrets::from_env("PRODUCER_SECRET"))]
    pub producer_secret: Option<String>,

    /// The key dashboard sessions are signed with, from `STREAMHUB_SESSION_SECRET` only (as the
    /// admin token). Unset: generated once and kept in the database, so that every instance of a
    /// deployment shares it. Changing it signs everyone out.
    #[arg(skip = crate::secrets::from_env("STREAMHUB_SESSION_SECRET"))]
    pub session_secret: Option<String>,

    /// Largest partition count a topic request may ask for.
    #[arg(long, env = "STREAMHUB_MAX_PARTITIONS", default_value_t = app::domain::DEFAULT_MAX_PARTITIONS,
          value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub max_partitions: i64,

    /// How often the broker and database are checked, in milliseconds.
    #[arg(long, env = "STREAMHUB_HEALTH_INTERVAL_MS", default_value_t = 5000)]
    pub health_interval_ms: u64,

    /// How often the overview's message rates are sampled, in seconds.
    #[arg(long, env = "STREAMHUB_RATES_INTERVAL_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub rates_interval_secs: u64,

    /// How long a client may take to send a request's headers, in milliseconds; slower
    /// connections are closed (slowloris).
    #[arg(long, env = "STREAMHUB_HEADER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub header_timeout_ms: u64,

    /// Connections served at once, WebSockets included; past it, newcomers displace idle
    /// connections, or wait in the kernel's backlog while none is idle.
    /// Unset: 25,000, or what the open files limit allows if that is less. Set: this many, and a
    /// warning at start if the open files limit lowers it.
    #[arg(long, env = "STREAMHUB_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_connections: Option<u64>,

    /// Connections served at once from one client address (WebSockets count while their
    /// handshake runs; open sockets have their own cap); more from it are closed at once.
    #[arg(long, env = "STREAMHUB_MAX_CONNECTIONS_PER_ADDR", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_connections_per_addr: u64,

    /// How long a dashboard admin sign-in lasts, in hours.
    #[arg(long, env = "STREAMHUB_SESSION_HOURS", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=720))]
    pub session_hours: u64,

    /// Anonymous writes (topic requests, subscription changes) per second per client address;
    /// past it (and the burst) they are refused with 429 and `Retry-After`.
    #[arg(long, env = "STREAMHUB_WRITE_RATE", default_value_t = 50.0,
          value_parser = crate::rate_limit::parse_rate)]
    pub write_rate: f64,

    /// Anonymous writes one client address may make at once before the rate applies.
    #[arg(long, env = "STREAMHUB_WRITE_BURST", default_value_t = 200)]
    pub write_burst: u32,

    /// Sign-in steps (`/auth/login`, the device flow's start and polls) and token changes (made,
    /// revoked) per minute per client address: each costs a round trip to the identity provider
    /// or a write; past it (and the burst) they get 429 and `Retry-After`.
    #[arg(long, env = "STREAMHUB_SIGN_INS_PER_MINUTE", default_value_t = 60.0,
          value_parser = crate::rate_limit::parse_rate)]
    pub sign_ins_per_minute: f64,

    /// Sign-in steps and token changes one client address may make at once before the rate
    /// applies.
    #[arg(long, env = "STREAMHUB_SIGN_IN_BURST", default_value_t = 30)]
    pub sign_in_burst: u32,

    /// Failed attempts at a secret (a wrong or missing admin token or producer key) per minute
    /// per client address; past it (and the burst) further failures get 429 and are no longer
    /// audited one by one. A right secret is always accepted.
    #[arg(long, env = "STREAMHUB_FAILED_SECRETS_PER_MINUTE", default_value_t = 10.0,
          value_parser = crate::rate_limit::parse_rate)]
    pub failed_secrets_per_minute: f64,

    /// Failed attempts at a secret one client address may make at once before the rate applies.
    #[arg(long, env = "STREAMHUB_FAILED_SECRETS_BURST", default_value_t = 20)]
    pub failed_secrets_burst: u32,

    /// Host names (`Host` header, port left out) the server answers to; `*` for any. Unset: the
    /// loopback names when listening on loopback (against DNS rebinding), any otherwise.
    #[arg(long, env = "STREAMHUB_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Load balancers whose `X-Forwarded-For` names the client (addresses or networks,
    /// comma-separated): per-address caps, rate limits and audit addresses are then the client's.
    /// From anyone else the header is ignored. None by default.
    #[arg(long, env = "STREAMHUB_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = crate::forwarded::parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Mark session cookies `Secure` (only sent over HTTPS) and name the session cookie
    /// `__Host-streamhub_session`: set it when the dashboard is served over HTTPS, directly or
    /// behind a TLS-terminating proxy. On by itself when the identity provider's redirect URL
    /// (the public URL) is `https://`.
    #[arg(long, env = "STREAMHUB_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,
}

impl ServerConfig {
    /// Whether people reach the server over HTTPS, as far as its settings say: the public URL
    /// the identity provider redirects to is `https://`.
    pub fn serves_https(&self) -> bool {
        self.auth
            .oidc_redirect_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }
}

//! Every setting of every StreamHub process, read from command-line flags and environment
//! variables (flags win), each with a documented default. The README's configuration table is
//! written from this file: keep them in step.

use clap::{Args, Parser, ValueEnum};
use std::{net::SocketAddr, path::PathBuf};

/// Where the Kafka-compatible cluster is and how to talk to it. Shared by all three binaries.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Comma-separated `host:port` list of the Kafka-compatible brokers.
    #[arg(
        long = "kafka-bootstrap-servers",
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_servers: String,

    /// Extra librdkafka properties as `key=value` pairs, comma-separated
    /// (e.g. `security.protocol=ssl`). Applied after StreamHub's own settings.
    #[arg(
        long = "kafka-option",
        env = "KAFKA_OPTIONS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub options: Vec<String>,

    /// How long one Kafka admin or metadata request may take, in milliseconds.
    #[arg(
        long = "kafka-timeout-ms",
        env = "KAFKA_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub timeout_ms: u64,
}

impl KafkaArgs {
    /// Settings for a given cluster with every other field at its default (tests, benchmarks).
    pub fn for_bootstrap(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            options: Vec::new(),
            timeout_ms: 5000,
        }
    }

    /// The per-request timeout as a `Duration`.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms)
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

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

    /// Directory for the SQLite database, generated secrets and (locally) broker storage.
    #[arg(long, env = "STREAMHUB_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Directory holding the built dashboard (`pkg/` with WASM, JS and CSS, plus public files).
    #[arg(long, env = "STREAMHUB_SITE_DIR", default_value = "target/site")]
    pub site_dir: PathBuf,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Admin bearer token. Unset: generated at first start and kept in `<data dir>/admin_token`.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Shared secret the producer sends as `X-Producer-Key`. Unset: generated at first start and
    /// kept in `<data dir>/producer_secret`.
    #[arg(long, env = "PRODUCER_SECRET", hide_env_values = true)]
    pub producer_secret: Option<String>,

    /// Largest partition count a topic request may ask for.
    #[arg(long, env = "STREAMHUB_MAX_PARTITIONS", default_value_t = app::domain::DEFAULT_MAX_PARTITIONS,
          value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub max_partitions: i64,

    /// How often the broker and database are checked, in milliseconds.
    #[arg(long, env = "STREAMHUB_HEALTH_INTERVAL_MS", default_value_t = 5000)]
    pub health_interval_ms: u64,

    /// Log line format.
    #[arg(long, env = "STREAMHUB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Most open stream sockets in total.
    #[arg(long, env = "STREAMHUB_WS_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub ws_max_connections: usize,

    /// Most open stream sockets per client address.
    #[arg(long, env = "STREAMHUB_WS_MAX_PER_ADDR", default_value_t = 500)]
    pub ws_max_per_addr: usize,

    /// Most records replayed per partition for `earliest`, `last` and `offsets` starts.
    #[arg(long, env = "STREAMHUB_MAX_REPLAY", default_value_t = 10_000)]
    pub max_replay: i64,

    /// How long the broker may hold a relay fetch that found no data, in milliseconds: lower is
    /// lower latency on tansu (which holds empty fetches for the whole wait) but more broker
    /// load per streamed topic; real Kafka answers as soon as data arrives, so 500 suits it.
    #[arg(long, env = "STREAMHUB_RELAY_FETCH_WAIT_MS", default_value_t = crate::relay::DEFAULT_FETCH_WAIT_MS,
          value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub relay_fetch_wait_ms: u32,

    /// How often the overview's message rates are sampled, in seconds.
    #[arg(long, env = "STREAMHUB_RATES_INTERVAL_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub rates_interval_secs: u64,

    /// How long a client may take to send a request's headers, in milliseconds; slower
    /// connections are closed (slowloris).
    #[arg(long, env = "STREAMHUB_HEADER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub header_timeout_ms: u64,

    /// Connections served at once, WebSockets included; more wait in the kernel's backlog. Lowered
    /// to what the open files limit allows.
    #[arg(long, env = "STREAMHUB_MAX_CONNECTIONS", default_value_t = 25_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_connections: u64,

    /// How long a dashboard admin sign-in lasts, in hours.
    #[arg(long, env = "STREAMHUB_SESSION_HOURS", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=720))]
    pub session_hours: u64,

    /// Mark session cookies `Secure` (only sent over HTTPS): set it when the dashboard is served
    /// over HTTPS, directly or behind a TLS-terminating proxy.
    #[arg(long, env = "STREAMHUB_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// Origins (`https://host:port`) besides the server's own whose pages may open streams.
    #[arg(long, env = "STREAMHUB_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
}

impl ServerConfig {
    /// The relay's bounds from these settings.
    pub fn relay_limits(&self) -> crate::relay::RelayLimits {
        crate::relay::RelayLimits {
            max_connections: self.ws_max_connections,
            max_per_addr: self.ws_max_per_addr,
            max_replay: self.max_replay,
            allowed_origins: self.allowed_origins.clone(),
            fetch_wait_ms: self.relay_fetch_wait_ms,
            ..crate::relay::RelayLimits::default()
        }
    }

    /// A configuration for tests: everything at its default but the directories and the cluster.
    pub fn for_tests(data_dir: PathBuf, site_dir: PathBuf, bootstrap_servers: &str) -> Self {
        let mut config = ServerConfig::parse_from(["streamhub"]);
        config.data_dir = data_dir;
        config.site_dir = site_dir;
        config.kafka = KafkaArgs::for_bootstrap(bootstrap_servers);
        config.admin_token = None;
        config.producer_secret = None;
        config.health_interval_ms = 500;
        config.rates_interval_secs = 1;
        config.header_timeout_ms = 1_000;
        config
    }
}

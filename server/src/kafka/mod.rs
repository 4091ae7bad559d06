//! Kafka, through librdkafka (`rdkafka`): where the cluster is ([`KafkaArgs`]), the one place
//! client settings are built, and topic administration. (The local `tansu` broker that tests,
//! benchmarks and `make run` start lives in the `streamhub-testkit` crate.)
//!
//! Settings that tansu 0.6 needs (docs/deployment.md, "The local broker"): topics are created
//! explicitly (no auto-creation), compression defaults to `none`, and nothing relies on
//! timestamp offset lookups.

pub mod admin;
pub mod groups;
mod produce;

use clap::Args;
use rdkafka::ClientConfig;

pub use admin::{KafkaAdmin, KafkaError, TopicEnsured};
pub use produce::{OutgoingRecord, RecordSender};

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

/// The base librdkafka configuration every StreamHub client starts from; producers and consumers
/// add their own keys. User-supplied `KAFKA_OPTIONS` come last, so they win.
pub fn client_config(args: &KafkaArgs) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("client.id", "streamhub")
        // The broker may come and go; reconnect quickly but without hammering it.
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "2000")
        .set("socket.timeout.ms", args.timeout_ms.max(1000).to_string())
        .set("allow.auto.create.topics", "false");
    apply_user_options(&mut config, args);
    config
}

/// Applies `KAFKA_OPTIONS` (again): clients that set keys of their own after
/// [`client_config`] call this last, so that the user's settings always win.
pub fn apply_user_options(config: &mut ClientConfig, args: &KafkaArgs) {
    for option in &args.options {
        if let Some((key, value)) = option.split_once('=') {
            config.set(key.trim(), value.trim());
        } else if !option.trim().is_empty() {
            tracing::warn!(option = %option, "ignoring KAFKA_OPTIONS entry without '='");
        }
    }
}

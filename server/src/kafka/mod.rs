//! Kafka, through librdkafka (`rdkafka`): the one place client settings are built, topic
//! administration, a local `tansu` broker for tests and benchmarks, and the bare consumer they
//! measure the relay against.
//!
//! Settings that tansu 0.6 needs (see the README's "Broker notes"): topics are created
//! explicitly (no auto-creation), compression defaults to `none`, and nothing relies on
//! timestamp offset lookups.

pub mod admin;
pub mod baseline;
pub mod local_broker;

use crate::config::KafkaArgs;
use rdkafka::ClientConfig;

pub use admin::{KafkaAdmin, KafkaError, TopicEnsured};

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

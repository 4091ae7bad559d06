//! Settings for processes started by tests and benchmarks: every value at its documented default
//! except the directories, the cluster, and intervals shortened so tests do not wait.

use clap::Parser;
use std::path::PathBuf;
use streamhub::{config::ServerConfig, kafka::KafkaArgs, producer::config::ProducerConfig};

/// A server on `data_dir` and `site_dir` talking to `bootstrap_servers`, with generated
/// secrets, health checked every 500 ms, rates sampled every second, and a 1 s header timeout.
pub fn server_config(
    data_dir: PathBuf,
    site_dir: PathBuf,
    bootstrap_servers: &str,
) -> ServerConfig {
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

/// A producer for a given server and cluster, polling every 200 ms, with a fixed seed.
pub fn producer_config(
    api_url: &str,
    bootstrap_servers: &str,
    producer_secret: &str,
) -> ProducerConfig {
    let mut config = ProducerConfig::parse_from(["streamhub-producer"]);
    config.api.api_url = api_url.to_owned();
    config.kafka = KafkaArgs::for_bootstrap(bootstrap_servers);
    config.producer_secret = Some(producer_secret.to_owned());
    config.poll_interval_ms = 200;
    config.seed = Some(7);
    config
}

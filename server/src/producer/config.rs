//! Settings of the `streamhub-producer` daemon.

use crate::{api_client::ApiArgs, kafka::KafkaArgs, telemetry::LogArgs};
use app::domain::EventType;
use clap::Parser;
use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

/// Settings of the producer daemon (flags and env vars; flags win).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "streamhub-producer",
    version,
    about = "StreamHub producer daemon: activates approved topics and feeds every active topic with realistic events",
    after_help = "Examples:\n  streamhub-producer                         # a few records/s into every active topic\n  streamhub-producer --rate 50 --rate-for payment=5 --seed 42\n  streamhub-producer --max-rate              # as fast as the broker accepts (benchmarks)"
)]
pub struct ProducerConfig {
    /// The StreamHub server to watch for topics.
    #[command(flatten)]
    pub api: ApiArgs,

    /// How events are written: `json`, or `avro` / `protobuf` in the schema registry's wire
    /// format (each event type's schema registered under `<topic>-value`; needs
    /// `STREAMHUB_SCHEMA_REGISTRY_URL`).
    #[arg(long, env = "PRODUCER_FORMAT", value_enum, default_value_t = super::encoding::OutputFormat::Json)]
    pub format: super::encoding::OutputFormat,

    /// The schema registry, for `--format avro|protobuf`.
    #[command(flatten)]
    pub schemas: crate::schema::SchemaArgs,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// The `X-Producer-Key` secret. Unset: read from `<data dir>/producer_secret`, where a
    /// server on the same machine saves its generated one.
    /// From `PRODUCER_SECRET` only: a flag would show it to everyone on the machine (`ps`).
    #[arg(skip = crate::secrets::from_env("PRODUCER_SECRET"))]
    pub producer_secret: Option<String>,

    /// Where to look for `producer_secret` when `PRODUCER_SECRET` is unset.
    #[arg(long, env = "STREAMHUB_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// How often to ask the API for topics to activate, start or stop, in milliseconds.
    #[arg(long, env = "PRODUCER_POLL_INTERVAL_MS", default_value_t = 3000)]
    pub poll_interval_ms: u64,

    /// Records per second into each active topic.
    #[arg(long, env = "PRODUCER_RATE", default_value_t = 2.0)]
    pub rate: f64,

    /// Per-type rates overriding `--rate`, as `type=rate` pairs (`sensor=20,payment=1`).
    #[arg(long = "rate-for", env = "PRODUCER_RATES", value_delimiter = ',', value_parser = parse_rate)]
    pub rates: Vec<(EventType, f64)>,

    /// Produce as fast as the broker accepts (ignores the rates).
    #[arg(long, env = "PRODUCER_MAX_RATE")]
    pub max_rate: bool,

    /// Produce this many records per topic, then flush and exit (smoke tests, benchmarks).
    #[arg(long, env = "PRODUCER_COUNT")]
    pub count: Option<u64>,

    /// Seed for reproducible data (the same seed gives the same values per topic).
    #[arg(long, env = "PRODUCER_SEED")]
    pub seed: Option<u64>,

    /// `compression.type` for records (`none` while tansu 0.6 mishandles compressed batches;
    /// `lz4` or `zstd` for real Kafka).
    #[arg(long, env = "PRODUCER_COMPRESSION", default_value = "none")]
    pub compression: String,

    /// Most records held while the broker is unreachable; past it production pauses.
    #[arg(long, env = "PRODUCER_BUFFER_MESSAGES", default_value_t = 100_000)]
    pub buffer_messages: u32,

    /// Seconds between per-topic status lines (one a minute keeps a terminal readable).
    #[arg(long, env = "PRODUCER_STATUS_INTERVAL_S", default_value_t = 60)]
    pub status_interval_s: u64,

    /// Serve Prometheus metrics on this address (e.g. `127.0.0.1:9464`).
    #[arg(long, env = "PRODUCER_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    #[command(flatten)]
    pub log: LogArgs,
}

fn parse_rate(raw: &str) -> Result<(EventType, f64), String> {
    let (word, rate) = raw
        .split_once('=')
        .ok_or_else(|| format!("expected type=rate, got {raw:?}"))?;
    let event_type = EventType::parse(word.trim())
        .map_err(|e| e.message)?
        .ok_or_else(|| "missing event type".to_owned())?;
    let rate: f64 = rate.parse().map_err(|_| format!("bad rate {rate:?}"))?;
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(format!("rate must be positive, got {rate}"));
    }
    Ok((event_type, rate))
}

impl ProducerConfig {
    /// The rate for topics of `event_type`, in records per second.
    pub fn rate_for(&self, event_type: EventType) -> f64 {
        let overrides: HashMap<_, _> = self.rates.iter().copied().collect();
        overrides.get(&event_type).copied().unwrap_or(self.rate)
    }

    /// The poll interval as a `Duration`.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(50))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_type_rates_override_the_default() {
        let config = ProducerConfig::parse_from([
            "streamhub-producer",
            "--rate",
            "3",
            "--rate-for",
            "payment=0.5,sensor=20",
        ]);
        assert_eq!(config.rate_for(EventType::Payment), 0.5);
        assert_eq!(config.rate_for(EventType::Sensor), 20.0);
        assert_eq!(config.rate_for(EventType::Logs), 3.0);
        assert!(ProducerConfig::try_parse_from(["p", "--rate-for", "video=1"]).is_err());
        assert!(ProducerConfig::try_parse_from(["p", "--rate-for", "logs=0"]).is_err());
    }
}

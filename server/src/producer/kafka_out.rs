//! The Kafka side of the producer: one idempotent `ThreadedProducer` (`acks=all`) shared by all
//! topics, whose delivery callback counts each record into its topic's [`TopicStats`].

use super::{config::ProducerConfig, stats::TopicStats};
use crate::kafka::{apply_user_options, client_config};
use rdkafka::{
    error::KafkaError,
    producer::{DeliveryResult, ProducerContext, ThreadedProducer},
    ClientContext, Message,
};
use std::sync::{atomic::Ordering, Arc};

/// Routes delivery reports to the record's topic counters.
pub struct DeliveryCounter;

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = Arc<TopicStats>;

    fn delivery(&self, result: &DeliveryResult<'_>, stats: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                stats.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, message)) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(topic = message.topic(), %error, "record not delivered");
            }
        }
    }
}

/// The producer type the daemon uses.
pub type Producer = ThreadedProducer<DeliveryCounter>;

/// Builds the producer. Records wait in librdkafka's buffer (at most `buffer_messages`) while the
/// broker is away and are retried without a deadline; idempotence keeps retries from
/// duplicating them.
pub fn producer(config: &ProducerConfig) -> Result<Producer, KafkaError> {
    let mut client = client_config(&config.kafka);
    client
        .set("client.id", "streamhub-producer")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", if config.max_rate { "20" } else { "5" })
        .set("batch.num.messages", "10000")
        .set("compression.type", &config.compression)
        .set(
            "queue.buffering.max.messages",
            config.buffer_messages.to_string(),
        )
        .set("queue.buffering.max.kbytes", "262144")
        // 0 = no deadline: a record is retried until the broker takes it.
        .set("message.timeout.ms", "0");
    apply_user_options(&mut client, &config.kafka);
    client.create_with_context(DeliveryCounter)
}

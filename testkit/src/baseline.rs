//! The yardstick the relay is measured against: a bare rdkafka consumer that reads a topic the
//! way the relay's feed does (assigned at the end of every partition, the same fetch wait), with
//! nothing between it and the broker. Benchmarks and the soak run it beside their WebSocket
//! clients, so the broker's share of a latency can be told apart from the relay's.

use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
    message::BorrowedMessage,
    Offset, TopicPartitionList,
};
use std::time::{Duration, Instant};
use streamhub::kafka::{client_config, KafkaArgs};

/// The fetch wait the server's relay uses, in milliseconds (see [`relay_setting_ms`]).
pub fn relay_fetch_wait_ms() -> u64 {
    relay_setting_ms(
        "STREAMHUB_RELAY_FETCH_WAIT_MS",
        streamhub::relay::DEFAULT_FETCH_WAIT_MS,
    )
}

/// The relay's batch window, in milliseconds (see [`relay_setting_ms`]).
pub fn relay_batch_window_ms() -> u64 {
    relay_setting_ms(
        "STREAMHUB_RELAY_BATCH_WINDOW_MS",
        streamhub::relay::DEFAULT_BATCH_WINDOW_MS,
    )
}

/// A relay setting as the server reads it: `var` when set (the benchmarks and the soak start
/// the server with the same environment), else its default.
fn relay_setting_ms(var: &str, default: u32) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default.into())
}

/// Reads `topic` from its current end until `until` (blocking), handing each record to `each`.
pub fn tail(
    bootstrap: &str,
    topic: &str,
    fetch_wait_ms: u64,
    until: Instant,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), KafkaError> {
    let consumer: BaseConsumer = client_config(&KafkaArgs::for_bootstrap(bootstrap))
        .set("group.id", "streamhub-baseline")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::End)?;
    }
    consumer.assign(&assignment)?;
    while Instant::now() < until {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            each(&message);
        }
    }
    Ok(())
}

//! Replays for one socket (`earliest`, `last N`, `offsets`, `timestamp`): a short-lived consumer reads the
//! asked ranges up to where the live stream joins, in batches, then goes away. Bounded: ranges
//! are cut to the relay's replay limit per partition before they get here.

use super::{
    feed::FeedError,
    record::{encode, EncodedRecord},
};
use crate::kafka::{client_config, KafkaArgs};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    message::Message,
    Offset, TopicPartitionList,
};
use std::{collections::BTreeMap, time::Duration};
use tokio::sync::mpsc;

/// Reads `[start, end)` of each partition in `ranges` and sends the records (those stamped at or
/// after `not_before`, when given, in ms since the epoch) in batches of at most `max_batch`.
/// Blocking: run it on the blocking pool, under a replay turn of the relay's. Stops within a
/// poll (100 ms) of the receiver going away (the stream ended, the socket closed).
pub fn replay(
    kafka: &KafkaArgs,
    topic: &str,
    ranges: &BTreeMap<i32, (i64, i64)>,
    not_before: Option<i64>,
    max_batch: usize,
    out: mpsc::Sender<Vec<EncodedRecord>>,
) -> Result<(), FeedError> {
    let mut pending: BTreeMap<i32, i64> = ranges
        .iter()
        .filter(|(_, (start, end))| start < end)
        .map(|(p, (_, end))| (*p, *end))
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let consumer: BaseConsumer = client_config(kafka)
        .set("group.id", "streamhub-relay-replay")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for (partition, (start, end)) in ranges {
        if start < end {
            assignment.add_partition_offset(topic, *partition, Offset::Offset(*start))?;
        }
    }
    consumer.assign(&assignment)?;
    let deadline = std::time::Instant::now() + kafka.timeout() * 6;
    let mut batch = Vec::with_capacity(max_batch);
    while !pending.is_empty() {
        if std::time::Instant::now() > deadline {
            tracing::warn!(
                topic,
                "replay did not reach the live stream in time; joining live"
            );
            break;
        }
        // The stream was replaced, unsubscribed or its socket closed: stop reading now (a
        // replay that matches nothing would otherwise scan to its end unseen).
        if out.is_closed() {
            return Ok(());
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        let partition = message.partition();
        let Some(end) = pending.get(&partition).copied() else {
            continue;
        };
        let early =
            not_before.is_some_and(|at| message.timestamp().to_millis().is_some_and(|t| t < at));
        if message.offset() < end && !early {
            batch.push(encode(&message));
        }
        if message.offset() + 1 >= end {
            pending.remove(&partition);
        }
        let full = batch.len() >= max_batch || (pending.is_empty() && !batch.is_empty());
        if full && out.blocking_send(std::mem::take(&mut batch)).is_err() {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = out.blocking_send(batch);
    }
    Ok(())
}

//! Replays for one socket (`earliest`, `last N`, `offsets`, `timestamp`): a [`RangeReader`]
//! reads the asked ranges up to where the live stream joins, in batches, then goes away.
//! Bounded: ranges are cut to the relay's replay limit per partition before they get here.

use super::{
    feed::FeedError,
    range_reader::{Next, RangeReader},
    record::{encode, EncodedRecord},
};
use crate::{kafka::KafkaArgs, schema::Schemas};
use rdkafka::message::Message;
use std::collections::BTreeMap;
use tokio::sync::mpsc;

/// Reads `[start, end)` of each partition in `ranges` and sends the records (those stamped at or
/// after `not_before`, when given, in ms since the epoch) in batches of at most `max_batch`.
/// Blocking: run it on the blocking pool, under a replay turn of the relay's. Stops within a
/// poll of the receiver going away (the stream ended, the socket closed).
pub fn replay(
    kafka: &KafkaArgs,
    topic: &str,
    ranges: &BTreeMap<i32, (i64, i64)>,
    not_before: Option<i64>,
    max_batch: usize,
    (schemas, runtime): (&Schemas, &tokio::runtime::Handle),
    out: mpsc::Sender<Vec<EncodedRecord>>,
) -> Result<(), FeedError> {
    let Some(mut reader) = RangeReader::open(kafka, "streamhub-relay-replay", topic, ranges)?
    else {
        return Ok(());
    };
    let deadline = std::time::Instant::now() + kafka.timeout() * 6;
    let mut batch = Vec::with_capacity(max_batch);
    while !reader.is_done() {
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
        if let Next::Record(message) = reader.next()? {
            let early = not_before
                .is_some_and(|at| message.timestamp().to_millis().is_some_and(|t| t < at));
            if !early {
                schemas.prepare_blocking(runtime, topic, [message.key(), message.payload()]);
                batch.push(encode(&message, schemas));
            }
        }
        let full = batch.len() >= max_batch || (reader.is_done() && !batch.is_empty());
        if full && out.blocking_send(std::mem::take(&mut batch)).is_err() {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = out.blocking_send(batch);
    }
    Ok(())
}

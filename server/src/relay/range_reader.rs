//! A short-lived broker reader of `[start, end)` of each partition of one topic, in a group
//! of its own that never commits: what replays and searches read through. Blocking: run it on
//! the blocking pool, under a turn of the relay's.

use super::feed::FeedError;
use crate::kafka::{client_config, KafkaArgs};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    message::{BorrowedMessage, Message},
    Offset, TopicPartitionList,
};
use std::{collections::BTreeMap, time::Duration};

/// How long one [`RangeReader::next`] waits for the broker: a reader notices that nobody
/// wants its records any more within this.
pub const POLL: Duration = Duration::from_millis(100);

/// What one look at the broker gave.
pub enum Next<'a> {
    /// Nothing arrived within [`POLL`].
    Idle,
    /// A record outside the ranges (past a partition's end, or of a partition already done):
    /// proof that the broker answers, nothing to hand on.
    Outside,
    /// A record within its partition's range.
    Record(BorrowedMessage<'a>),
}

/// Reads the ranges it was opened on, each partition up to its end.
pub struct RangeReader {
    consumer: BaseConsumer,
    /// Per partition still being read, the offset it ends before.
    pending: BTreeMap<i32, i64>,
}

impl RangeReader {
    /// A reader of `ranges` (partition → `[start, end)`) of `topic` under consumer group
    /// `group`; `None` when every range is empty.
    pub fn open(
        kafka: &KafkaArgs,
        group: &str,
        topic: &str,
        ranges: &BTreeMap<i32, (i64, i64)>,
    ) -> Result<Option<Self>, FeedError> {
        let pending: BTreeMap<i32, i64> = ranges
            .iter()
            .filter(|(_, (start, end))| start < end)
            .map(|(p, (_, end))| (*p, *end))
            .collect();
        if pending.is_empty() {
            return Ok(None);
        }
        let consumer: BaseConsumer = client_config(kafka)
            .set("group.id", group)
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
        Ok(Some(Self { consumer, pending }))
    }

    /// Whether every partition has been read to its end.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// The next record, waiting at most [`POLL`] for one.
    pub fn next(&mut self) -> Result<Next<'_>, FeedError> {
        let Some(message) = self.consumer.poll(POLL) else {
            return Ok(Next::Idle);
        };
        let message = message?;
        let Some(end) = self.pending.get(&message.partition()).copied() else {
            return Ok(Next::Outside);
        };
        if message.offset() + 1 >= end {
            self.pending.remove(&message.partition());
        }
        Ok(if message.offset() < end {
            Next::Record(message)
        } else {
            Next::Outside
        })
    }
}

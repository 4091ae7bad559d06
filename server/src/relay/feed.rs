//! One live read per topic: a consumer assigned to every partition at its end, whose records
//! are encoded once and broadcast to every socket that streams the topic. A slow socket lags on
//! its own receiver (the broadcast never waits), so it cannot slow the read or other sockets.
//! The feed runs until it is stopped: the relay retires it when nobody has listened for a while
//! (deciding that under its feed map's lock, so a socket joining at that moment is never left
//! holding a receiver of a retired feed), or when the topic is deactivated.
//!
//! The feed knows where it is in each partition ([`FeedHandle::positions`]), so a socket that
//! starts at `latest` joins without asking the broker anything: under churn that was one
//! offsets round trip per partition per socket.
//!
//! Records are broadcast in batches: what the feed reads within a short window after a record
//! (the relay's batch window, a few milliseconds) goes out together, so that a socket takes
//! them in one wake-up and one write. A delivery's cost is mostly that wake-up and that write
//! (a system call and TCP's work), not the record, so at a hundred records a second a window of
//! 10 ms makes each delivery several times cheaper, for at most that much more latency.

use super::record::{encode, EncodedRecord};
use crate::schema::Schemas;
use crate::{
    kafka::KafkaArgs,
    kafka::{apply_user_options, client_config},
};
use rdkafka::{
    consumer::{BaseConsumer, Consumer, StreamConsumer},
    message::Message as _,
    Offset, TopicPartitionList,
};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::{broadcast, watch};

/// One record of the feed, encoded once for every socket.
pub type LiveRecord = Arc<EncodedRecord>;

/// The records the feed read within one batch window, broadcast together.
#[derive(Debug)]
pub struct LiveBatch {
    /// How many records the feed broadcast before this batch: a receiver that lagged learns
    /// from the next batch it gets exactly how many records it missed.
    pub first_seq: u64,
    pub records: Vec<LiveRecord>,
}

/// Batches buffered per receiver before a slow socket starts to lag: at most
/// [`BATCH_RECORDS`] records and about [`BATCH_BYTES`] each, so a stalled socket holds on to
/// 8 MB of small records at most (a record at most, per batch, beyond that), twice that when
/// the records carry their masked copies too.
pub const BROADCAST_CAPACITY: usize = 512;
/// Most records in one batch.
const BATCH_RECORDS: usize = 32;
/// A batch takes no more records once its frames hold this many bytes.
const BATCH_BYTES: usize = 16 * 1024;

/// A running feed. [`FeedHandle::stop`] stops it, and so does dropping its last handle.
#[derive(Clone)]
pub struct FeedHandle {
    sender: broadcast::Sender<Arc<LiveBatch>>,
    stop: watch::Sender<bool>,
    pub partitions: i32,
    /// Per partition, the offset of the next record the feed will broadcast.
    next: Arc<[AtomicI64]>,
    /// Records broadcast so far, counted before each batch is sent: a new receiver owes its
    /// lag count from here.
    sent: Arc<AtomicU64>,
    /// Whether the relay's last idle sweep found nobody listening: a feed retires only when two
    /// sweeps in a row do, so one that was just started or just left is never taken for idle.
    idle_seen: Arc<AtomicBool>,
}

impl FeedHandle {
    /// A new receiver of the live records.
    pub fn subscribe(&self) -> LiveReceiver {
        let batches = self.sender.subscribe();
        // Read after subscribing: a batch counted but not yet sent arrives with a sequence
        // number below this one (its records are before the join positions too), and every
        // later one at it exactly, so a lag is always counted in records.
        LiveReceiver {
            batches,
            expected: self.sent.load(Ordering::SeqCst),
        }
    }

    /// Per partition, the offset of the next record the feed will broadcast. Read after
    /// [`FeedHandle::subscribe`], every record at or past it reaches that receiver: the feed
    /// moves a position before it broadcasts the record.
    pub fn positions(&self) -> BTreeMap<i32, i64> {
        (0..)
            .zip(self.next.iter())
            .map(|(p, next)| (p, next.load(Ordering::SeqCst)))
            .collect()
    }

    /// Ends the feed: its receivers see the channel close.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Whether the feed task has ended.
    pub fn is_stopped(&self) -> bool {
        *self.stop.borrow() || self.stop.is_closed()
    }

    /// Someone joined: the next sweep starts counting idleness afresh.
    pub(super) fn listened_to(&self) {
        self.idle_seen.store(false, Ordering::SeqCst);
    }

    /// One idle sweep: `true` when nobody listens now and nobody did at the previous sweep.
    /// Only meaningful under the relay's feed map lock, where nobody can join meanwhile.
    pub(super) fn idle_twice(&self) -> bool {
        let idle = self.sender.receiver_count() == 0;
        self.idle_seen.swap(idle, Ordering::SeqCst) && idle
    }
}

/// A socket's end of a feed.
pub struct LiveReceiver {
    batches: broadcast::Receiver<Arc<LiveBatch>>,
    /// The sequence number of the next record this receiver is owed.
    expected: u64,
}

/// What [`LiveReceiver::take`] found besides records.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Taken {
    /// Records this receiver missed because it lagged (the broadcast moved on without it).
    pub skipped: u64,
    /// The feed has ended: nothing more will come.
    pub closed: bool,
}

/// The broadcast's answers, whether waited for or not.
enum Next {
    Batch(Arc<LiveBatch>),
    Lagged(u64),
    Closed,
    Empty,
}

impl LiveReceiver {
    /// Waits for the next batch, then appends its records and those of every batch already
    /// waiting to `into`, until `into` holds `max_records` or `max_bytes` of frames (a batch is
    /// taken whole, so it may go over by one batch).
    pub async fn take(
        &mut self,
        into: &mut Vec<LiveRecord>,
        max_records: usize,
        max_bytes: usize,
    ) -> Taken {
        use broadcast::error::{RecvError, TryRecvError};
        let mut taken = Taken::default();
        // Batches lost since the last one received: counted exactly by the next batch's
        // sequence number, else (the feed closed first) as one record each, the least they held.
        let mut lost = 0_u64;
        let mut bytes: usize = into.iter().map(|r| r.frame.len()).sum();
        let mut first = true;
        while into.len() < max_records && bytes < max_bytes {
            let next = if std::mem::take(&mut first) {
                match self.batches.recv().await {
                    Ok(batch) => Next::Batch(batch),
                    Err(RecvError::Lagged(n)) => Next::Lagged(n),
                    Err(RecvError::Closed) => Next::Closed,
                }
            } else {
                match self.batches.try_recv() {
                    Ok(batch) => Next::Batch(batch),
                    Err(TryRecvError::Lagged(n)) => Next::Lagged(n),
                    Err(TryRecvError::Closed) => Next::Closed,
                    Err(TryRecvError::Empty) => Next::Empty,
                }
            };
            match next {
                Next::Batch(batch) => {
                    taken.skipped += batch.first_seq.saturating_sub(self.expected);
                    lost = 0;
                    let next = batch.first_seq + batch.records.len() as u64;
                    self.expected = self.expected.max(next);
                    bytes += batch.records.iter().map(|r| r.frame.len()).sum::<usize>();
                    into.extend(batch.records.iter().cloned());
                }
                Next::Lagged(n) => lost += n,
                Next::Closed => {
                    taken.closed = true;
                    break;
                }
                Next::Empty => break,
            }
        }
        taken.skipped += lost;
        taken
    }
}

/// Why a feed could not start.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("topic {0} has no partitions in Kafka (yet)")]
    NoPartitions(String),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("topic {0} was deactivated while its stream started")]
    TopicEnded(String),
}

fn consumer_config(kafka: &KafkaArgs, fetch_wait_ms: u32) -> rdkafka::ClientConfig {
    let mut config = client_config(kafka);
    config
        .set("group.id", "streamhub-relay")
        .set("client.id", "streamhub-relay")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // How long the broker may hold a fetch that has no data. tansu 0.6 holds every empty
        // fetch for the full wait, so this bounds the relay's latency — and each streamed topic
        // costs the broker one fetch per wait (measured: 2 ms costs 24% of a core, 10 ms 11%, 50 ms 4%, 100 ms 2%).
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string());
    apply_user_options(&mut config, kafka);
    config
}

/// Partition count of `topic` (blocking).
fn partition_count<C: rdkafka::consumer::ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, FeedError> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let count = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len() as i32)
        .unwrap_or(0);
    if count == 0 {
        return Err(FeedError::NoPartitions(topic.to_owned()));
    }
    Ok(count)
}

/// A client for offset queries (watermarks), meant to be kept: creating one costs threads, a
/// broker connection and a metadata round trip.
pub fn offsets_client(kafka: &KafkaArgs) -> Result<BaseConsumer, FeedError> {
    Ok(consumer_config(kafka, 100).create()?)
}

/// Low and high watermarks of every partition (blocking).
pub fn watermarks(
    client: &BaseConsumer,
    kafka: &KafkaArgs,
    topic: &str,
    partitions: i32,
) -> Result<BTreeMap<i32, (i64, i64)>, FeedError> {
    (0..partitions)
        .map(|p| Ok((p, client.fetch_watermarks(topic, p, kafka.timeout())?)))
        .collect()
}

/// Starts the live feed of `topic` at the end of every partition, as `offsets` reads it,
/// broadcasting what it reads within `batch_window` of a record together.
pub async fn start(
    kafka: &KafkaArgs,
    schemas: Arc<Schemas>,
    fetch_wait_ms: u32,
    batch_window: Duration,
    offsets: Arc<BaseConsumer>,
    topic: &str,
) -> Result<FeedHandle, FeedError> {
    let consumer: StreamConsumer = consumer_config(kafka, fetch_wait_ms).create()?;
    let consumer = Arc::new(consumer);
    let ends = {
        let (consumer, name, kafka) = (consumer.clone(), topic.to_owned(), kafka.clone());
        tokio::task::spawn_blocking(move || {
            let count = partition_count(consumer.as_ref(), &name, kafka.timeout())?;
            // The ends as numbers rather than `Offset::End`: the feed's positions must be
            // exactly where its read starts.
            let ends = watermarks(&offsets, &kafka, &name, count)?;
            let mut assignment = TopicPartitionList::new();
            for (p, (_, high)) in &ends {
                assignment.add_partition_offset(&name, *p, Offset::Offset(*high))?;
            }
            consumer.assign(&assignment)?;
            Ok::<_, FeedError>(ends)
        })
        .await
        .map_err(|e| FeedError::NoPartitions(format!("{topic}: {e}")))??
    };
    let next: Arc<[AtomicI64]> = ends
        .values()
        .map(|(_, high)| AtomicI64::new(*high))
        .collect();
    let partitions = next.len() as i32;
    let sent = Arc::new(AtomicU64::new(0));
    let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(run(
        (consumer, schemas),
        topic.to_owned(),
        sender.clone(),
        next.clone(),
        sent.clone(),
        batch_window,
        stopped,
    ));
    tracing::info!(topic, partitions, "relay feed started");
    Ok(FeedHandle {
        sender,
        stop,
        partitions,
        next,
        sent,
        idle_seen: Arc::new(AtomicBool::new(false)),
    })
}

/// Reads with `consumer` and decodes with `schemas` until stopped.
async fn run(
    (consumer, schemas): (Arc<StreamConsumer>, Arc<Schemas>),
    topic: String,
    sender: broadcast::Sender<Arc<LiveBatch>>,
    next: Arc<[AtomicI64]>,
    sent: Arc<AtomicU64>,
    batch_window: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    // librdkafka reconnects by itself and keeps its position; a failed read is said once.
    let mut reported_error = false;
    let report = |reported_error: &mut bool, error: &rdkafka::error::KafkaError| {
        if !std::mem::replace(reported_error, true) {
            tracing::warn!(topic = %topic, %error, "relay feed read failed; retrying");
        }
    };
    // Encodes a record, moving its partition's position first (see `FeedHandle::positions`).
    // A store, not a maximum: one task reads each partition in order, and a partition that
    // starts over (the topic recreated) must be followed back down.
    let take = |message: &rdkafka::message::BorrowedMessage<'_>| {
        let record = encode(message, &schemas);
        if let Some(position) = usize::try_from(record.partition)
            .ok()
            .and_then(|p| next.get(p))
        {
            position.store(record.offset + 1, Ordering::SeqCst);
        }
        Arc::new(record)
    };
    loop {
        let first = tokio::select! {
            _ = stopped.changed() => break,
            message = consumer.recv() => message,
        };
        let message = match first {
            Ok(message) => message,
            Err(error) => {
                report(&mut reported_error, &error);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        reported_error = false;
        // A schema not known yet is looked up here, once for every socket (bounded in time).
        schemas
            .prepare(&topic, [message.key(), message.payload()])
            .await;
        let mut records = vec![take(&message)];
        let mut bytes = records[0].frame.len();
        let window_ends = tokio::time::Instant::now() + batch_window;
        while records.len() < BATCH_RECORDS && bytes < BATCH_BYTES {
            // What librdkafka holds already is taken at once (a timeout polls its future
            // first), then more until the window ends.
            match tokio::time::timeout_at(window_ends, consumer.recv()).await {
                Ok(Ok(message)) => {
                    schemas
                        .prepare(&topic, [message.key(), message.payload()])
                        .await;
                    let record = take(&message);
                    bytes += record.frame.len();
                    records.push(record);
                }
                Ok(Err(error)) => {
                    report(&mut reported_error, &error);
                    break;
                }
                Err(_) => break,
            }
        }
        // Counted before it is sent (see `FeedHandle::subscribe`).
        let first_seq = sent.fetch_add(records.len() as u64, Ordering::SeqCst);
        // No receiver is fine: a socket may be between subscriptions.
        let _ = sender.send(Arc::new(LiveBatch { first_seq, records }));
    }
    tracing::info!(topic = %topic, "relay feed stopped");
    // Dropping the sender (and the relay dropping its handle) closes every receiver: sockets
    // learn the stream ended.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::record::encode_record;
    use app::stream::StreamRecord;

    /// A batch of `count` records whose offsets count on from `first_seq` (one partition).
    fn batch(first_seq: u64, count: u64) -> Arc<LiveBatch> {
        let records = (first_seq..first_seq + count)
            .map(|offset| {
                Arc::new(encode_record(&StreamRecord {
                    topic: "t".into(),
                    partition: 0,
                    offset: offset as i64,
                    timestamp: None,
                    key: None,
                    headers: Default::default(),
                    value: Some(serde_json::json!({"n": offset})),
                    encoding: "json".into(),
                    ..Default::default()
                }))
            })
            .collect();
        Arc::new(LiveBatch { first_seq, records })
    }

    fn offsets(records: &[LiveRecord]) -> Vec<i64> {
        records.iter().map(|r| r.offset).collect()
    }

    fn receiver(sender: &broadcast::Sender<Arc<LiveBatch>>) -> LiveReceiver {
        LiveReceiver {
            batches: sender.subscribe(),
            expected: 0,
        }
    }

    #[tokio::test]
    async fn waiting_batches_are_taken_together_up_to_the_bounds() {
        let (sender, _) = broadcast::channel(8);
        let mut live = receiver(&sender);
        for (seq, count) in [(0, 2), (2, 1), (3, 3)] {
            sender.send(batch(seq, count)).unwrap();
        }
        let mut into = Vec::new();
        let taken = live.take(&mut into, 3, usize::MAX).await;
        assert_eq!(taken, Taken::default());
        assert_eq!(
            offsets(&into),
            [0, 1, 2],
            "whole batches until three records"
        );
        into.clear();
        live.take(&mut into, 100, usize::MAX).await;
        assert_eq!(offsets(&into), [3, 4, 5]);
    }

    #[tokio::test]
    async fn a_receiver_that_lagged_learns_exactly_how_many_records_it_missed() {
        let (sender, _) = broadcast::channel(2);
        let mut live = receiver(&sender);
        let mut into = Vec::new();
        sender.send(batch(0, 1)).unwrap();
        live.take(&mut into, 100, usize::MAX).await;
        // Four more batches into a buffer of two: the first two (2 + 3 records) are lost.
        for (seq, count) in [(1, 2), (3, 3), (6, 1), (7, 2)] {
            sender.send(batch(seq, count)).unwrap();
        }
        into.clear();
        let taken = live.take(&mut into, 100, usize::MAX).await;
        assert_eq!(offsets(&into), [6, 7, 8]);
        assert_eq!(
            taken,
            Taken {
                skipped: 5,
                closed: false
            }
        );
    }

    #[tokio::test]
    async fn a_receiver_that_lagged_before_its_first_batch_counts_records_not_batches() {
        let (sender, _) = broadcast::channel(2);
        // Joined when the feed had sent 10 records (its own `sent` at subscription).
        let mut live = LiveReceiver {
            batches: sender.subscribe(),
            expected: 10,
        };
        for (seq, count) in [(10, 4), (14, 3), (17, 1), (18, 2)] {
            sender.send(batch(seq, count)).unwrap();
        }
        let mut into = Vec::new();
        let taken = live.take(&mut into, 100, usize::MAX).await;
        assert_eq!(offsets(&into), [17, 18, 19]);
        assert_eq!(taken.skipped, 7, "the two lost batches' records");
    }

    #[tokio::test]
    async fn a_feed_that_ends_closes_its_receivers_after_what_they_had_not_taken() {
        let (sender, _) = broadcast::channel(4);
        let mut live = receiver(&sender);
        sender.send(batch(0, 2)).unwrap();
        drop(sender);
        let mut into = Vec::new();
        let taken = live.take(&mut into, 100, usize::MAX).await;
        assert_eq!(offsets(&into), [0, 1]);
        assert!(taken.closed);
    }
}

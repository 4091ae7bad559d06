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

use super::record::{encode, EncodedRecord};
use crate::{
    kafka::KafkaArgs,
    kafka::{apply_user_options, client_config},
};
use rdkafka::{
    consumer::{BaseConsumer, Consumer, StreamConsumer},
    Offset, TopicPartitionList,
};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::{broadcast, watch};

/// What the feed sends to sockets.
pub type LiveRecord = Arc<EncodedRecord>;

/// Records buffered per receiver before a slow socket starts to lag.
pub const BROADCAST_CAPACITY: usize = 4096;

/// A running feed. [`FeedHandle::stop`] stops it, and so does dropping its last handle.
#[derive(Clone)]
pub struct FeedHandle {
    pub sender: broadcast::Sender<LiveRecord>,
    stop: watch::Sender<bool>,
    pub partitions: i32,
    /// Per partition, the offset of the next record the feed will broadcast.
    next: Arc<[AtomicI64]>,
    /// Whether the relay's last idle sweep found nobody listening: a feed retires only when two
    /// sweeps in a row do, so one that was just started or just left is never taken for idle.
    idle_seen: Arc<AtomicBool>,
}

impl FeedHandle {
    /// A new receiver of the live records.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveRecord> {
        self.sender.subscribe()
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

/// Starts the live feed of `topic` at the end of every partition, as `offsets` reads it.
pub async fn start(
    kafka: &KafkaArgs,
    fetch_wait_ms: u32,
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
    let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(run(
        consumer,
        topic.to_owned(),
        sender.clone(),
        next.clone(),
        stopped,
    ));
    tracing::info!(topic, partitions, "relay feed started");
    Ok(FeedHandle {
        sender,
        stop,
        partitions,
        next,
        idle_seen: Arc::new(AtomicBool::new(false)),
    })
}

async fn run(
    consumer: Arc<StreamConsumer>,
    topic: String,
    sender: broadcast::Sender<LiveRecord>,
    next: Arc<[AtomicI64]>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut reported_error = false;
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            message = consumer.recv() => match message {
                Ok(message) => {
                    reported_error = false;
                    let record = encode(&message);
                    // Position first, then the record (see `FeedHandle::positions`). A store, not
                    // a maximum: one task reads each partition in order, and a partition that
                    // starts over (the topic recreated) must be followed back down.
                    if let Some(position) = usize::try_from(record.partition).ok().and_then(|p| next.get(p)) {
                        position.store(record.offset + 1, Ordering::SeqCst);
                    }
                    // No receiver is fine: a socket may be between subscriptions.
                    let _ = sender.send(Arc::new(record));
                }
                Err(error) => {
                    // librdkafka reconnects by itself and keeps its position; say so once.
                    if !std::mem::replace(&mut reported_error, true) {
                        tracing::warn!(topic = %topic, %error, "relay feed read failed; retrying");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    tracing::info!(topic = %topic, "relay feed stopped");
    // Dropping the sender (and the relay dropping its handle) closes every receiver: sockets
    // learn the stream ended.
}

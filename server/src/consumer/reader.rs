//! Where records come from: Kafka directly (a consumer group per user, so a user resumes where
//! they stopped) or the server's WebSocket relay. Both yield the protocol's [`StreamRecord`].

use super::{config::start_position, ConsumerError};
use crate::{
    filter::Filter,
    kafka::KafkaArgs,
    kafka::{apply_user_options, client_config},
    relay::record::to_stream_record,
    schema::Schemas,
};
use app::stream::{ClientFrame, ServerFrame, StartPosition, StreamRecord};
use futures::{SinkExt, StreamExt};
use rdkafka::{
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
    Message, Offset, TopicPartitionList,
};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// What a reader yields.
#[derive(Debug)]
pub enum Event {
    /// Boxed: a record is several times the size of the other events.
    Record(Box<StreamRecord>),
    /// The relay skipped records for us (we read too slowly).
    Lagged { topic: String, skipped: u64 },
    /// A topic stopped streaming (deactivated or unsubscribed).
    Ended { topic: String, reason: String },
    /// Every partition has been read to its end (only with `exit_at_end`).
    AtEnd,
}

/// A source of records.
pub enum Reader {
    Kafka(KafkaReader),
    /// Boxed: the WebSocket state is several times the size of the Kafka handle.
    Relay(Box<RelayReader>),
}

impl Reader {
    /// The next event; `Ok(None)` when the source closed.
    pub async fn next(&mut self) -> Result<Option<Event>, ConsumerError> {
        match self {
            Reader::Kafka(r) => r.next().await.map(Some),
            Reader::Relay(r) => r.next().await,
        }
    }

    /// Marks a record as processed (commits it, for group reads).
    pub fn done(&mut self, record: &StreamRecord) {
        if let Reader::Kafka(r) = self {
            r.done(record);
        }
    }

    /// Commits what was processed (direct reads) before exit.
    pub fn close(&mut self) {
        if let Reader::Kafka(r) = self {
            let _ = r.consumer.commit_consumer_state(CommitMode::Sync);
        }
    }
}

/// Direct reads from Kafka.
pub struct KafkaReader {
    consumer: StreamConsumer,
    /// Decodes records with schemas as the relay does.
    schemas: Arc<Schemas>,
    /// Records it does not match are read (and committed) but not returned. Boxed: a compiled
    /// expression is several times the size of the rest.
    filter: Option<Box<Filter>>,
    exit_at_end: bool,
    at_end: HashSet<(String, i32)>,
    partitions: usize,
    grouped: bool,
}

impl KafkaReader {
    /// Reads `topics` (with their partition counts) from `from` (`--from`'s spelling).
    /// Earliest/latest join the consumer group `group` and resume from its committed offsets;
    /// offsets and last-N are explicit assignments.
    pub fn open(
        kafka: &KafkaArgs,
        schemas: Arc<Schemas>,
        topics: &[(String, i32)],
        from: &str,
        group: &str,
        exit_at_end: bool,
        filter: Option<Filter>,
    ) -> Result<Self, ConsumerError> {
        let start = start_position(from, 0).map_err(ConsumerError::Usage)?;
        let mut config = client_config(kafka);
        config
            .set("group.id", group)
            .set("client.id", "streamhub-consumer")
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set(
                "enable.partition.eof",
                if exit_at_end { "true" } else { "false" },
            )
            .set(
                "auto.offset.reset",
                if start == StartPosition::Earliest {
                    "earliest"
                } else {
                    "latest"
                },
            );
        apply_user_options(&mut config, kafka);
        let consumer: StreamConsumer = config
            .create()
            .map_err(kafka_error(&kafka.bootstrap_servers))?;
        let names: Vec<&str> = topics.iter().map(|(t, _)| t.as_str()).collect();
        // A group resumes from its committed offsets: what `stored` asks for.
        let grouped = matches!(
            start,
            StartPosition::Earliest | StartPosition::Latest | StartPosition::Stored
        );
        if grouped {
            consumer
                .subscribe(&names)
                .map_err(kafka_error(&kafka.bootstrap_servers))?;
        } else {
            let mut assignment = TopicPartitionList::new();
            for (topic, partitions) in topics {
                let start = start_position(from, *partitions).map_err(ConsumerError::Usage)?;
                for p in 0..*partitions {
                    let offset = match &start {
                        StartPosition::Offsets { offsets } => {
                            offsets.get(p).map_or(Offset::End, Offset::Offset)
                        }
                        StartPosition::Last { n } => {
                            Offset::OffsetTail(i64::try_from(*n).unwrap_or(i64::MAX))
                        }
                        _ => Offset::End,
                    };
                    assignment
                        .add_partition_offset(topic, p, offset)
                        .map_err(kafka_error(&kafka.bootstrap_servers))?;
                }
            }
            consumer
                .assign(&assignment)
                .map_err(kafka_error(&kafka.bootstrap_servers))?;
        }
        Ok(Self {
            consumer,
            schemas,
            filter: filter.map(Box::new),
            exit_at_end,
            at_end: HashSet::new(),
            partitions: topics.iter().map(|(_, p)| *p as usize).sum(),
            grouped,
        })
    }

    async fn next(&mut self) -> Result<Event, ConsumerError> {
        loop {
            match self.consumer.recv().await {
                Ok(message) => {
                    self.at_end
                        .remove(&(message.topic().to_owned(), message.partition()));
                    self.schemas
                        .prepare(message.topic(), [message.key(), message.payload()])
                        .await;
                    let record = to_stream_record(&message, &self.schemas);
                    if self.filter.as_ref().is_some_and(|f| !f.matches(&record)) {
                        self.done(&record);
                        continue;
                    }
                    return Ok(Event::Record(Box::new(record)));
                }
                Err(KafkaError::PartitionEOF(partition)) => {
                    if !self.exit_at_end {
                        continue;
                    }
                    // The EOF error names only the partition; the assignment names the topics.
                    let topics: Vec<String> = self
                        .consumer
                        .assignment()
                        .map(|a| {
                            a.elements()
                                .iter()
                                .filter(|e| e.partition() == partition)
                                .map(|e| e.topic().to_owned())
                                .collect()
                        })
                        .unwrap_or_default();
                    for topic in topics {
                        self.at_end.insert((topic, partition));
                    }
                    if self.at_end.len() >= self.partitions {
                        return Ok(Event::AtEnd);
                    }
                }
                Err(e) => {
                    // librdkafka retries by itself; report and keep reading.
                    eprintln!("warning: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    fn done(&mut self, record: &StreamRecord) {
        if self.grouped {
            // librdkafka's offset store takes the processed record's offset and commits it + 1.
            let _ = self
                .consumer
                .store_offset(&record.topic, record.partition, record.offset);
        }
    }
}

fn kafka_error(bootstrap: &str) -> impl Fn(KafkaError) -> ConsumerError + '_ {
    move |e| ConsumerError::Kafka {
        bootstrap: bootstrap.to_owned(),
        message: e.to_string(),
    }
}

/// Reads through the server's relay. When the connection drops (the server restarts, the
/// network blips) it reconnects with backoff and resumes every partition after the last record
/// it returned, so a reader that stays up sees no gap and no duplicate.
pub struct RelayReader {
    socket: RelaySocket,
    url: String,
    /// Sent as `Authorization: Bearer` (a personal access token, in `oidc` mode).
    bearer: Option<String>,
    topics: Vec<(String, i32)>,
    /// `--from`, for topics nothing was read of yet.
    from: String,
    /// Per topic and partition: the offset after the last record returned.
    next_offsets: HashMap<String, BTreeMap<i32, i64>>,
    pending: std::collections::VecDeque<Event>,
    exit_at_end: bool,
    /// Per topic and partition: the offset at which the replay ends (the join point).
    remaining: HashMap<String, BTreeMap<i32, i64>>,
    subscribed: HashSet<String>,
    /// The filter expression the relay applies, if any.
    filter: Option<String>,
}

use crate::relay::client::RelaySocket;

/// Longest wait between two reconnection attempts.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(10);

impl RelayReader {
    /// Connects as `user` and asks for `topics` from `start`.
    pub async fn open(
        api_url: &str,
        user: Option<&str>,
        topics: &[(String, i32)],
        from: &str,
        exit_at_end: bool,
        filter: Option<String>,
        bearer: Option<String>,
    ) -> Result<Self, ConsumerError> {
        let ws_base = api_url
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let url = match user {
            Some(user) => format!(
                "{}/api/stream?follow=false&user_id={}",
                ws_base.trim_end_matches('/'),
                app::api::encode(user)
            ),
            // A token's socket is its owner's: without `follow=false` it would stream their
            // subscriptions from the latest records before the reader asks for its topics.
            None => format!("{}/api/stream?follow=false", ws_base.trim_end_matches('/')),
        };
        let topics = topics.to_vec();
        let next_offsets = HashMap::new();
        let socket = Self::connect(
            &url,
            bearer.as_deref(),
            &topics,
            from,
            &next_offsets,
            filter.as_deref(),
        )
        .await?;
        Ok(Self {
            socket,
            url,
            bearer,
            topics,
            from: from.to_owned(),
            next_offsets,
            pending: Default::default(),
            exit_at_end,
            remaining: HashMap::new(),
            subscribed: HashSet::new(),
            filter,
        })
    }

    /// Opens a socket and subscribes every topic (through `filter`): after the offsets already
    /// seen, or from `start` for a topic nothing was read of yet.
    async fn connect(
        url: &str,
        bearer: Option<&str>,
        topics: &[(String, i32)],
        from: &str,
        next_offsets: &HashMap<String, BTreeMap<i32, i64>>,
        filter: Option<&str>,
    ) -> Result<RelaySocket, ConsumerError> {
        let unreachable = |e: tokio_tungstenite::tungstenite::Error| ConsumerError::Unreachable {
            url: url.to_owned(),
            message: e.to_string(),
        };
        let request = crate::relay::client::request(url, bearer).map_err(unreachable)?;
        let (mut socket, _) = crate::relay::client::connect(request)
            .await
            .map_err(unreachable)?;
        for (topic, partitions) in topics {
            let from = match next_offsets.get(topic) {
                Some(seen) if !seen.is_empty() => StartPosition::Offsets {
                    offsets: (0..*partitions)
                        .map(|p| (p, seen.get(&p).copied().unwrap_or(0)))
                        .collect(),
                },
                _ => start_position(from, *partitions).map_err(ConsumerError::Usage)?,
            };
            let frame = serde_json::to_string(&ClientFrame::Subscribe {
                topics: vec![topic.clone()],
                from,
                filter: filter.map(str::to_owned),
            })
            .unwrap_or_default();
            socket
                .send(WsMessage::Text(frame.into()))
                .await
                .map_err(unreachable)?;
        }
        Ok(socket)
    }

    /// Reconnects until it works, waiting 1, 2, 4 … 10 s between attempts.
    async fn reconnect(&mut self, why: &str) {
        eprintln!("relay connection lost ({why}); reconnecting");
        let mut wait = Duration::from_secs(1);
        loop {
            tokio::time::sleep(wait).await;
            let connected = Self::connect(
                &self.url,
                self.bearer.as_deref(),
                &self.topics,
                &self.from,
                &self.next_offsets,
                self.filter.as_deref(),
            );
            match connected.await {
                Ok(socket) => {
                    eprintln!("relay connection restored; resuming after the last record read");
                    self.socket = socket;
                    return;
                }
                Err(e) => {
                    eprintln!("still unreachable ({e}); next attempt in {wait:?}");
                    wait = (wait * 2).min(MAX_RECONNECT_WAIT);
                }
            }
        }
    }

    fn all_caught_up(&self) -> bool {
        self.subscribed.len() >= self.topics.len()
            && self.remaining.values().all(|parts| parts.is_empty())
    }

    async fn next(&mut self) -> Result<Option<Event>, ConsumerError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.exit_at_end && self.all_caught_up() {
                return Ok(Some(Event::AtEnd));
            }
            let message = match self.socket.next().await {
                Some(Ok(message)) => message,
                Some(Err(e)) => {
                    self.reconnect(&e.to_string()).await;
                    continue;
                }
                None => {
                    self.reconnect("closed by the server").await;
                    continue;
                }
            };
            let WsMessage::Text(text) = message else {
                continue;
            };
            let frame: ServerFrame =
                serde_json::from_str(&text).map_err(|e| ConsumerError::Relay(e.to_string()))?;
            match frame {
                ServerFrame::Records { records } => {
                    for record in records {
                        self.next_offsets
                            .entry(record.topic.clone())
                            .or_default()
                            .insert(record.partition, record.offset + 1);
                        if let Some(parts) = self.remaining.get_mut(&record.topic) {
                            if parts
                                .get(&record.partition)
                                .is_some_and(|end| record.offset + 1 >= *end)
                            {
                                parts.remove(&record.partition);
                            }
                        }
                        self.pending.push_back(Event::Record(Box::new(record)));
                    }
                }
                ServerFrame::Subscribed {
                    topic,
                    next_offsets,
                    from,
                    filter: _,
                } => {
                    // What has to arrive before "the end": the replayed range of each partition.
                    let parts = next_offsets
                        .iter()
                        .filter(|(p, end)| match &from {
                            StartPosition::Latest => false,
                            StartPosition::Offsets { offsets } => {
                                offsets.get(*p).is_some_and(|o| *end > o)
                            }
                            _ => *end > 0,
                        })
                        .collect();
                    self.remaining.insert(topic.clone(), parts);
                    // Where a partition nothing arrived from yet starts, so that a reconnection
                    // resumes it there (not from its first record).
                    let seen = self.next_offsets.entry(topic.clone()).or_default();
                    for (partition, next) in next_offsets.iter() {
                        let start = match &from {
                            StartPosition::Latest => Some(next),
                            StartPosition::Offsets { offsets } => offsets.get(partition),
                            _ => None,
                        };
                        if let Some(start) = start {
                            seen.entry(partition).or_insert(start);
                        }
                    }
                    self.subscribed.insert(topic);
                }
                ServerFrame::CaughtUp {
                    topic,
                    next_offsets,
                } => {
                    // The replay is over: records up to here that did not come did not match.
                    let seen = self.next_offsets.entry(topic.clone()).or_default();
                    for (partition, next) in next_offsets.iter() {
                        let at = seen.entry(partition).or_insert(next);
                        *at = (*at).max(next);
                    }
                    self.remaining.insert(topic, BTreeMap::new());
                }
                ServerFrame::Lagged { topic, skipped } => {
                    self.pending.push_back(Event::Lagged { topic, skipped })
                }
                ServerFrame::Unsubscribed { topic, reason } => {
                    self.pending.push_back(Event::Ended { topic, reason })
                }
                ServerFrame::TopicState { topic, state } => self.pending.push_back(Event::Ended {
                    topic,
                    reason: state,
                }),
                ServerFrame::Error { error, message } => {
                    return Err(match error.as_str() {
                        "not_subscribed" | "topic_not_active" => {
                            ConsumerError::NotStreamable(message)
                        }
                        "topic_not_found" => ConsumerError::NoSuchTopic(message),
                        _ => ConsumerError::Relay(message),
                    })
                }
                ServerFrame::Hello { .. }
                | ServerFrame::Pong
                | ServerFrame::SearchProgress { .. }
                | ServerFrame::SearchResults { .. }
                | ServerFrame::SearchDone { .. }
                | ServerFrame::PositionSaved { .. } => {}
            }
        }
    }
}

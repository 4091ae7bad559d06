//! The live relay: Kafka records of active topics to browsers and CLIs over WebSocket
//! (`GET /api/stream`, upgraded in `http::stream`; protocol in `app::stream` and
//! docs/protocol.md).
//!
//! One Kafka read per topic ([`feed`]) fans out to every socket that streams it through a
//! bounded broadcast buffer. Each socket ([`socket`]) keeps one forwarder task per stream
//! ([`forward`]) that writes its frames itself ([`outlet`]), so a slow one lags on its own
//! receiver (and is told how many records it skipped) without slowing the read or anyone
//! else. Replays ([`replay`]) and searches ([`search`]) read through a short-lived
//! [`range_reader`] on a blocking thread under a turn ([`turns`]) and hand over to the live
//! stream at known offsets, without gap or duplicate.
//!
//! | module | owns | lives as long as |
//! | --- | --- | --- |
//! | this file | [`Relay`]: the feeds by topic, their start and retirement, the change and revocation announcements | the server |
//! | [`admission`] | the caps on sockets, in all and per address | a socket's slot |
//! | [`turns`] | replay and search turns | one replay or search |
//! | [`stats`] | the counters and their `/metrics` text | the server |
//! | [`feed`] | one topic's Kafka read and its broadcast buffer | while anyone streams the topic |
//! | [`socket`] | one connection: its peer, select loop, control frames, access rules, positions | a socket |
//! | [`forward`] | one stream of one topic on one socket: replay, live batches, filter, rejoin | a stream |
//! | [`refusal`] | every refusal a socket can get, as its frame's word and sentence | — |
//! | [`filters`] | compiled filter expressions shared by streams, verdicts kept per record | while a stream uses one |
//! | [`evaluation`] | filter evaluation off the runtime, each stream's and client's share of it, expressions cooling down | a batch; a client's while it uses filters |
//! | [`record`] | a Kafka message as the protocol's record, serialised once | a record |
//! | [`masked`] | records as readers outside a topic's owners see them, masked once per record | a record |
//! | [`outlet`] | a socket's sending half, shared by its streams | a socket |
//! | [`range_reader`], [`replay`], [`search`] | reading a range of a topic's history | one replay or search |
//! | [`blocking`] | blocking work's results as one error text | — |
//! | [`client`] | a relay client for the CLI and tests | — |
//!
//! It reads the store only to authorise streams and searches.

mod admission;
mod args;
mod blocking;
pub mod client;
mod evaluation;
pub mod feed;
mod filters;
mod forward;
mod masked;
mod outlet;
mod range_reader;
pub mod record;
mod refusal;
mod replay;
mod search;
mod socket;
mod stats;
mod turns;

pub use admission::{AdmissionRefusal, ConnectionSlot};
pub use args::RelayArgs;
pub use socket::{serve, Peer};
pub use stats::RelayStats;

use crate::kafka::KafkaArgs;
use feed::{FeedError, FeedHandle};
use rdkafka::consumer::BaseConsumer;
use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    time::Duration,
};
use tokio::sync::{broadcast, watch};

/// The feeds' `fetch.wait.max.ms` unless configured. tansu 0.6 answers a fetch only when the
/// wait is over, so a record waits about 1.5 × this in the broker; 5 ms keeps 1,000 clients'
/// p99 under 50 ms (BENCHMARKS.md) for about a third of a core of idle broker work per
/// streamed topic (10 ms: a quarter).
pub const DEFAULT_FETCH_WAIT_MS: u32 = 5;

/// The feeds' batch window unless configured: records read within this long of one another
/// reach each socket in one write (see [`feed`]).
pub const DEFAULT_BATCH_WINDOW_MS: u32 = 10;

/// Stream sockets open at once when none is configured (and the open files allow them).
pub const DEFAULT_MAX_SOCKETS: usize = 20_000;

/// Bounds of the relay (from configuration).
#[derive(Debug, Clone)]
pub struct RelayLimits {
    /// Open sockets at most, in total.
    pub max_connections: usize,
    /// Open sockets at most per client address.
    pub max_per_addr: usize,
    /// Records replayed at most per partition (`earliest` is cut to the newest this many).
    pub max_replay: i64,
    /// Origins allowed besides the server's own (`scheme://host:port`).
    pub allowed_origins: Vec<String>,
    /// `fetch.wait.max.ms` of the live feeds: latency against idle broker load.
    pub fetch_wait_ms: u32,
    /// How long a feed gathers records after one before broadcasting them together: latency
    /// against the cost of each delivery.
    pub batch_window: Duration,
    /// Replays running at once across all sockets (each is a broker reader on a blocking thread).
    pub max_concurrent_replays: usize,
    /// Replays one client runs at once (see [`turns`]).
    pub max_replays_per_client: usize,
    /// Searches running at once across all sockets, and per client (its address, else its
    /// user); more are refused (`too_many_searches`).
    pub max_concurrent_searches: usize,
    pub max_searches_per_user: usize,
    /// How often idle feeds are looked for; a feed nobody listened to at two looks in a row
    /// stops (each costs the broker a fetch every `fetch_wait_ms`).
    pub idle_sweep: Duration,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_SOCKETS,
            max_per_addr: 500,
            max_replay: 10_000,
            allowed_origins: Vec::new(),
            fetch_wait_ms: DEFAULT_FETCH_WAIT_MS,
            batch_window: Duration::from_millis(DEFAULT_BATCH_WINDOW_MS.into()),
            max_concurrent_replays: 16,
            max_replays_per_client: 4,
            max_concurrent_searches: 4,
            max_searches_per_user: 1,
            idle_sweep: Duration::from_secs(5),
        }
    }
}

/// A change of a user's subscriptions, announced by the REST handlers.
#[derive(Debug, Clone)]
pub struct SubscriptionChange {
    pub user_id: String,
    pub topic: String,
    pub added: bool,
}

/// The relay's shared state; cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

/// What happened to a topic, as the sockets hear it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopicNotice {
    /// It is no longer active: its searches end (its streams end with their feed).
    Ended(String),
    /// Who may read it changed: its streams and searches end.
    AccessChanged(String),
}

struct Inner {
    kafka: KafkaArgs,
    /// Decodes records that carry a schema, once each (shared with replays and searches).
    schemas: Arc<crate::schema::Schemas>,
    /// The deployment's key for hashed masked fields.
    mask_key: crate::access::masking::MaskKey,
    limits: RelayLimits,
    feeds: tokio::sync::Mutex<HashMap<String, FeedHandle>>,
    /// Per topic, what serialises starting its feed (so one starts, not one per subscriber).
    starts: Mutex<HashMap<String, Arc<FeedStart>>>,
    /// Turns for replays, across all sockets.
    replays: Arc<tokio::sync::Semaphore>,
    /// Turns for replays per client (see [`turns`]), while any is held or waited for.
    client_replays: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    changes: broadcast::Sender<SubscriptionChange>,
    /// Ids of dashboard sessions just signed out: sockets whose admin right came from one
    /// give it up.
    revoked_sessions: broadcast::Sender<Revocation>,
    /// What happened to topics that sockets streaming or searching them act on.
    topic_notices: broadcast::Sender<TopicNotice>,
    shutdown: watch::Sender<bool>,
    per_addr: Mutex<HashMap<IpAddr, usize>>,
    stats: RelayStats,
    /// Answers every subscription's watermark query; made on first use, then kept.
    offsets: Mutex<Option<Arc<BaseConsumer>>>,
    /// Whether the idle sweeper runs (started with the first feed, ends with the relay).
    sweeping: AtomicBool,
    /// The filter expressions streams use, compiled once each.
    filters: filters::Filters,
    /// Searches running, by who asked.
    searches: Mutex<HashMap<String, usize>>,
    /// Filter evaluation's threads and every client's share of them.
    evaluation: evaluation::Evaluation,
}

/// The start of one topic's feed: one at a time, and how many times the topic has ended.
#[derive(Default)]
struct FeedStart {
    lock: tokio::sync::Mutex<()>,
    epoch: AtomicU64,
}

/// A socket's place in a topic's live feed, taken under the feed map's lock: the feed cannot
/// be retired between the socket asking for it and listening to it.
pub struct Joined {
    /// The live records from `positions` on.
    pub receiver: feed::LiveReceiver,
    /// Per partition, the offset of the first record `receiver` gets: every record at or past
    /// it arrives there, anything before it must come from a replay.
    pub positions: BTreeMap<i32, i64>,
    /// Partitions of the topic as the feed reads it.
    pub partitions: i32,
}

impl Relay {
    /// A relay reading from the cluster in `kafka`.
    /// A relay reading through `kafka`, hashing masked fields with `mask_key` (the same on every
    /// instance of a deployment).
    pub fn new(
        kafka: KafkaArgs,
        limits: RelayLimits,
        mask_key: crate::access::masking::MaskKey,
        schemas: Arc<crate::schema::Schemas>,
    ) -> Self {
        let (changes, _) = broadcast::channel(1024);
        let (revoked_sessions, _) = broadcast::channel(64);
        // As many as a burst of changes read from the change log at once may bring.
        let (topic_notices, _) = broadcast::channel(1024);
        let replay_turns = limits.max_concurrent_replays.max(1);
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                kafka,
                schemas,
                mask_key,
                limits,
                feeds: tokio::sync::Mutex::new(HashMap::new()),
                starts: Mutex::new(HashMap::new()),
                replays: Arc::new(tokio::sync::Semaphore::new(replay_turns)),
                client_replays: Mutex::default(),
                changes,
                revoked_sessions,
                topic_notices,
                shutdown,
                per_addr: Mutex::new(HashMap::new()),
                stats: RelayStats::default(),
                filters: filters::Filters::default(),
                searches: Mutex::default(),
                evaluation: evaluation::Evaluation::new(evaluation::default_threads()),
                offsets: Mutex::new(None),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// The relay's limits.
    pub fn limits(&self) -> &RelayLimits {
        &self.inner.limits
    }

    /// The deployment's key for hashed masked fields.
    pub(crate) fn mask_key(&self) -> &crate::access::masking::MaskKey {
        &self.inner.mask_key
    }

    /// The relay's counters.
    pub fn stats(&self) -> &RelayStats {
        &self.inner.stats
    }

    pub(crate) fn kafka(&self) -> &KafkaArgs {
        &self.inner.kafka
    }

    /// The records' schemas, for decoding outside the feeds (replays, searches).
    pub fn schemas(&self) -> &Arc<crate::schema::Schemas> {
        &self.inner.schemas
    }

    /// Low and high watermarks of every partition of `topic` (blocking), through one client
    /// kept for all subscriptions: a client per subscription cost a broker connection and a
    /// metadata round trip each, and under churn wore the broker down (see RELIABILITY.md, soak).
    pub(crate) fn watermarks(
        &self,
        topic: &str,
        partitions: i32,
    ) -> Result<BTreeMap<i32, (i64, i64)>, FeedError> {
        let client = self.offsets_client()?;
        feed::watermarks(&client, &self.inner.kafka, topic, partitions)
    }

    fn offsets_client(&self) -> Result<Arc<BaseConsumer>, FeedError> {
        let mut slot = self.inner.offsets.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some(client) => Ok(client.clone()),
            None => {
                let client = Arc::new(feed::offsets_client(&self.inner.kafka)?);
                *slot = Some(client.clone());
                Ok(client)
            }
        }
    }

    /// Joins the live feed of `topic`, starting it if nobody streams it yet (or its last feed
    /// stopped). The receiver is taken while the feed map is held, where idle feeds are also
    /// retired, so the feed it belongs to is running and stays so while it is kept.
    ///
    /// `epoch` is [`Relay::topic_epoch`] as read before the caller checked that the topic is
    /// active: if the topic ended since, the check is stale and the join is refused
    /// ([`FeedError::TopicEnded`]) rather than start a feed nobody would stop.
    pub async fn join(&self, topic: &str, epoch: u64) -> Result<Joined, FeedError> {
        if let Some(joined) = self.join_running(topic).await? {
            return Ok(joined);
        }
        let start = self.start_lock(topic);
        let current = |start: &FeedStart| start.epoch.load(Ordering::Acquire);
        // Starting a feed asks the broker for metadata and watermarks (up to KAFKA_TIMEOUT_MS
        // each when it is slow or down): that happens under this topic's own start lock, never
        // under the feed map's, so other topics' subscribes, deactivations and sweeps go on.
        let _starting = start.lock.lock().await;
        if current(&start) != epoch {
            return Err(FeedError::TopicEnded(topic.to_owned()));
        }
        if let Some(joined) = self.join_running(topic).await? {
            return Ok(joined);
        }
        let offsets = self.offsets_client()?;
        let limits = &self.inner.limits;
        let feed = feed::start(
            &self.inner.kafka,
            self.inner.schemas.clone(),
            limits.fetch_wait_ms,
            limits.batch_window,
            offsets,
            topic,
        )
        .await?;
        let mut feeds = self.inner.feeds.lock().await;
        if *self.inner.shutdown.borrow() {
            feed.stop();
            return Err(FeedError::ShuttingDown);
        }
        // Deactivated while its feed started (under this lock `topic_ended` cannot run).
        if current(&start) != epoch {
            feed.stop();
            return Err(FeedError::TopicEnded(topic.to_owned()));
        }
        feeds.insert(topic.to_owned(), feed.clone());
        self.inner.stats.feeds.store(feeds.len(), Ordering::Relaxed);
        self.start_sweeping();
        Ok(Self::listen(&feed))
    }

    /// A place in the topic's running feed, if it has one (taken under the feed map's lock).
    async fn join_running(&self, topic: &str) -> Result<Option<Joined>, FeedError> {
        let feeds = self.inner.feeds.lock().await;
        // After shutdown no feed would be retired or stopped any more.
        if *self.inner.shutdown.borrow() {
            return Err(FeedError::ShuttingDown);
        }
        Ok(feeds
            .get(topic)
            .filter(|feed| !feed.is_stopped())
            .map(Self::listen))
    }

    /// Subscribes to `feed` (call with the feed map locked: it cannot be retired meanwhile).
    fn listen(feed: &FeedHandle) -> Joined {
        // Receive first, then read where the feed is: see `FeedHandle::positions`.
        let receiver = feed.subscribe();
        feed.listened_to();
        Joined {
            receiver,
            positions: feed.positions(),
            partitions: feed.partitions,
        }
    }

    /// How many times `topic` has ended ([`Relay::topic_ended`]): read it before checking that
    /// the topic is active, and pass it to [`Relay::join`].
    pub fn topic_epoch(&self, topic: &str) -> u64 {
        self.start_lock(topic).epoch.load(Ordering::Acquire)
    }

    /// The topic's start lock (made on first use; one per topic name ever streamed).
    fn start_lock(&self, topic: &str) -> Arc<FeedStart> {
        let mut starts = self.inner.starts.lock().unwrap_or_else(|p| p.into_inner());
        match starts.get(topic) {
            Some(start) => start.clone(),
            None => starts.entry(topic.to_owned()).or_default().clone(),
        }
    }

    /// Starts the task that retires idle feeds, once. It holds the relay weakly and ends with
    /// it or at shutdown.
    fn start_sweeping(&self) {
        if self.inner.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let relay = Arc::downgrade(&self.inner);
        let mut shutdown = self.shutdown_signal();
        let every = self.inner.limits.idle_sweep;
        tokio::spawn(async move {
            let mut sweeps = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            // A sweep delayed behind a slow feed start is not made up for by another at once.
            sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let shutting_down = tokio::select! {
                    _ = sweeps.tick() => false,
                    _ = shutdown.changed() => true,
                };
                let Some(inner) = Weak::upgrade(&relay) else {
                    return;
                };
                let relay = Relay { inner };
                if shutting_down {
                    return relay.stop_feeds().await;
                }
                relay.retire_idle_feeds().await;
            }
        });
    }

    /// Stops every feed (at shutdown: each is a broker consumer fetching all the time).
    async fn stop_feeds(&self) {
        let mut feeds = self.inner.feeds.lock().await;
        for feed in feeds.values() {
            feed.stop();
        }
        feeds.clear();
        self.inner.stats.feeds.store(0, Ordering::Relaxed);
    }

    /// Stops the feeds that nobody listened to at this sweep and the one before. Under the
    /// feed map's lock, like [`Relay::join`]: nobody can join a feed while it is retired.
    async fn retire_idle_feeds(&self) {
        let mut feeds = self.inner.feeds.lock().await;
        feeds.retain(|topic, feed| {
            let retire = feed.is_stopped() || feed.idle_twice();
            if retire {
                tracing::info!(topic, "relay feed idle; stopping");
                feed.stop();
            }
            !retire
        });
        self.inner.stats.feeds.store(feeds.len(), Ordering::Relaxed);
    }

    /// Ends the stream of a topic that is no longer active: every socket streaming it gets a
    /// `topic_state` frame. (A socket whose topic is active again by the time it hears of it,
    /// as after a quick deactivate and reactivate, moves to a new feed instead.)
    pub async fn topic_ended(&self, topic: &str) {
        let start = self.start_lock(topic);
        let mut feeds = self.inner.feeds.lock().await;
        // Under the feed map's lock: a join that started a feed meanwhile checks the epoch
        // under it too, before inserting, so one of the two sees the other.
        start.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(feed) = feeds.remove(topic) {
            feed.stop();
        }
        self.inner.stats.feeds.store(feeds.len(), Ordering::Relaxed);
        let _ = self
            .inner
            .topic_notices
            .send(TopicNotice::Ended(topic.to_owned()));
    }

    /// Announces a subscription change to sockets following that user.
    pub fn subscription_changed(&self, user_id: &str, topic: &str, added: bool) {
        let _ = self.inner.changes.send(SubscriptionChange {
            user_id: user_id.to_owned(),
            topic: topic.to_owned(),
            added,
        });
    }

    pub(crate) fn changes(&self) -> broadcast::Receiver<SubscriptionChange> {
        self.inner.changes.subscribe()
    }

    /// Announces that dashboard session `id` was signed out: sockets that stream as admin by
    /// that session stop what they may no longer stream.
    pub fn session_revoked(&self, id: &str) {
        let _ = self
            .inner
            .revoked_sessions
            .send(Revocation::One(id.to_owned()));
    }

    /// Announces every sign-in known to be revoked (sessions by id, tokens under
    /// [`revoked_token_key`]) at once: after announcements were missed, each socket checks its
    /// own against them.
    pub fn sign_ins_revoked(&self, ids: std::collections::HashSet<String>) {
        let _ = self
            .inner
            .revoked_sessions
            .send(Revocation::All(Arc::new(ids)));
    }

    /// Sign-outs from now on ([`Relay::session_revoked`], [`Relay::sign_ins_revoked`]), for a
    /// socket about to be served: listen before checking its sign-in, so that one revoked in
    /// between is heard. A revoked personal access token is announced the same way, under
    /// [`revoked_token_key`].
    pub fn revoked_sessions(&self) -> broadcast::Receiver<Revocation> {
        self.inner.revoked_sessions.subscribe()
    }

    /// Topics that stop being active from now on ([`Relay::topic_ended`]).
    pub(crate) fn topic_notices(&self) -> broadcast::Receiver<TopicNotice> {
        self.inner.topic_notices.subscribe()
    }

    /// Who may read `topic` changed (its level, masks or owners): every socket ends its stream
    /// and search of it, to start again under the new rules.
    pub fn access_changed(&self, topic: &str) {
        let _ = self
            .inner
            .topic_notices
            .send(TopicNotice::AccessChanged(topic.to_owned()));
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Closes every socket with "going away" (server shutdown).
    pub fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
    }

    /// The compiled filter for `source` (shared with every stream that uses the same one), or
    /// why it is refused.
    pub(crate) fn filter(
        &self,
        source: &str,
    ) -> Result<Arc<filters::SharedFilter>, crate::filter::FilterError> {
        self.inner.filters.get(source)
    }
}

/// A sign-in that ended, as sockets hear of it.
#[derive(Debug, Clone)]
pub enum Revocation {
    /// One session (by id) or personal access token ([`revoked_token_key`]).
    One(String),
    /// Every one known to be revoked (read back from the store after missed announcements).
    All(Arc<std::collections::HashSet<String>>),
}

impl Revocation {
    /// Whether it ends the sign-in `id`.
    pub fn ends(&self, id: &str) -> bool {
        match self {
            Revocation::One(one) => one == id,
            Revocation::All(all) => all.contains(id),
        }
    }
}

/// What a revoked personal access token is announced as on the relay's revocations (beside
/// signed-out session ids, which never contain `:`): its sockets end as a signed-out person's do.
pub fn revoked_token_key(token_id: i64) -> String {
    format!("token:{token_id}")
}

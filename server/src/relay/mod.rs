//! The live relay: Kafka records of active topics to browsers and CLIs over WebSocket
//! (`GET /api/stream`, upgraded in `http::stream`; protocol in `app::stream` and the README).
//!
//! One Kafka read per topic ([`feed`]) fans out to every socket that streams it through a
//! bounded broadcast buffer; each socket ([`socket`]) writes its streams' frames itself
//! ([`outlet`]), so a slow one lags on its own receiver (and is told how many records it
//! skipped) without slowing the read or anyone else. Replays ([`replay`]) use a short-lived
//! reader per socket and hand over to the live stream at known offsets, without gap or
//! duplicate. This module owns the feeds, the connection limits and the relay's counters; it
//! reads the store only to authorise subscriptions.

mod args;
pub mod client;
pub mod feed;
mod filters;
mod outlet;
pub mod record;
mod replay;
mod search;
mod socket;

pub use args::RelayArgs;
pub use socket::{serve, Peer};

use crate::kafka::KafkaArgs;
use feed::{FeedError, FeedHandle};
use rdkafka::consumer::BaseConsumer;
use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write,
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
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
    /// Replays running at once across all sockets (each is a broker reader on a blocking thread).
    pub max_concurrent_replays: usize,
    /// Searches running at once across all sockets, and per user (or per address for sockets
    /// without one); more are refused (`too_many_searches`).
    pub max_concurrent_searches: usize,
    pub max_searches_per_user: usize,
    /// How often idle feeds are looked for; a feed nobody listened to at two looks in a row
    /// stops (each costs the broker a fetch every `fetch_wait_ms`).
    pub idle_sweep: Duration,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_connections: 20_000,
            max_per_addr: 500,
            max_replay: 10_000,
            allowed_origins: Vec::new(),
            fetch_wait_ms: DEFAULT_FETCH_WAIT_MS,
            max_concurrent_replays: 16,
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

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub connections: AtomicUsize,
    /// Live feeds running (one Kafka read each).
    pub feeds: AtomicUsize,
    /// Replays running (one broker reader on a blocking thread each).
    pub replays: AtomicUsize,
    /// Searches running (one broker reader on a blocking thread each).
    pub searches: AtomicUsize,
    pub connections_total: AtomicU64,
    pub refused_connections: AtomicU64,
    pub records_sent: AtomicU64,
    pub frames_sent: AtomicU64,
    pub lagged_events: AtomicU64,
    pub skipped_records: AtomicU64,
    /// Filter evaluations: at most one per record per distinct expression, however many
    /// streams share it.
    pub filter_evaluations: AtomicU64,
    /// Records a filter kept from a stream.
    pub filtered_records: AtomicU64,
}

/// The relay's shared state; cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    kafka: KafkaArgs,
    limits: RelayLimits,
    feeds: tokio::sync::Mutex<HashMap<String, FeedHandle>>,
    /// Per topic, what serialises starting its feed (so one starts, not one per subscriber).
    starts: Mutex<HashMap<String, Arc<FeedStart>>>,
    /// Turns for replays, across all sockets.
    replays: Arc<tokio::sync::Semaphore>,
    changes: broadcast::Sender<SubscriptionChange>,
    /// Ids of dashboard sessions just signed out: sockets whose admin right came from one
    /// give it up.
    revoked_sessions: broadcast::Sender<String>,
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
}

/// A running search's turn: counted (for its user and in `streamhub_relay_searches`) until
/// dropped.
pub(crate) struct SearchTurn {
    who: String,
    relay: Weak<Inner>,
}

impl Drop for SearchTurn {
    fn drop(&mut self) {
        if let Some(inner) = self.relay.upgrade() {
            inner.stats.searches.fetch_sub(1, Ordering::Relaxed);
            let mut running = inner.searches.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = running.get_mut(&self.who) {
                *count -= 1;
                if *count == 0 {
                    running.remove(&self.who);
                }
            }
        }
    }
}

/// A running replay's turn: counted in `streamhub_relay_replays` until dropped.
pub(crate) struct ReplayTurn {
    _permit: tokio::sync::OwnedSemaphorePermit,
    relay: Weak<Inner>,
}

impl Drop for ReplayTurn {
    fn drop(&mut self) {
        if let Some(inner) = self.relay.upgrade() {
            inner.stats.replays.fetch_sub(1, Ordering::Relaxed);
        }
    }
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
    pub receiver: broadcast::Receiver<feed::LiveRecord>,
    /// Per partition, the offset of the first record `receiver` gets: every record at or past
    /// it arrives there, anything before it must come from a replay.
    pub positions: BTreeMap<i32, i64>,
    /// Partitions of the topic as the feed reads it.
    pub partitions: i32,
}

/// Why [`Relay::admit`] turned a socket away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The relay serves its maximum of sockets (503: try later).
    Full,
    /// This address has its maximum of sockets open (429: close some first).
    TooManyFromAddress,
}

/// Holds a connection slot; frees it when dropped.
pub struct ConnectionSlot {
    relay: Relay,
    addr: Option<IpAddr>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let inner = &self.relay.inner;
        inner.stats.connections.fetch_sub(1, Ordering::AcqRel);
        if let Some(addr) = self.addr {
            let mut per_addr = inner.per_addr.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = per_addr.get_mut(&addr) {
                *count -= 1;
                if *count == 0 {
                    per_addr.remove(&addr);
                }
            }
        }
    }
}

impl Relay {
    /// A relay reading from the cluster in `kafka`.
    pub fn new(kafka: KafkaArgs, limits: RelayLimits) -> Self {
        let (changes, _) = broadcast::channel(1024);
        let (revoked_sessions, _) = broadcast::channel(64);
        let replay_turns = limits.max_concurrent_replays.max(1);
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                kafka,
                limits,
                feeds: tokio::sync::Mutex::new(HashMap::new()),
                starts: Mutex::new(HashMap::new()),
                replays: Arc::new(tokio::sync::Semaphore::new(replay_turns)),
                changes,
                revoked_sessions,
                shutdown,
                per_addr: Mutex::new(HashMap::new()),
                stats: RelayStats::default(),
                filters: filters::Filters::default(),
                searches: Mutex::default(),
                offsets: Mutex::new(None),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// Waits for a replay turn (held while the replay runs); `Err` only if the relay closed it.
    pub(crate) async fn replay_turn(&self) -> Result<ReplayTurn, tokio::sync::AcquireError> {
        let permit = self.inner.replays.clone().acquire_owned().await?;
        self.inner.stats.replays.fetch_add(1, Ordering::Relaxed);
        Ok(ReplayTurn {
            _permit: permit,
            relay: Arc::downgrade(&self.inner),
        })
    }

    /// A turn for a search by `who` (a user id, or an address), held while its reader runs;
    /// `None` when `who` or the relay runs as many as they may.
    pub(crate) fn search_turn(&self, who: &str) -> Option<SearchTurn> {
        let mut running = self
            .inner
            .searches
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let total: usize = running.values().sum();
        let mine = running.get(who).copied().unwrap_or(0);
        let limits = &self.inner.limits;
        if total >= limits.max_concurrent_searches || mine >= limits.max_searches_per_user {
            return None;
        }
        *running.entry(who.to_owned()).or_default() += 1;
        self.inner.stats.searches.fetch_add(1, Ordering::Relaxed);
        Some(SearchTurn {
            who: who.to_owned(),
            relay: Arc::downgrade(&self.inner),
        })
    }

    /// The relay's limits.
    pub fn limits(&self) -> &RelayLimits {
        &self.inner.limits
    }

    /// The relay's counters.
    pub fn stats(&self) -> &RelayStats {
        &self.inner.stats
    }

    pub(crate) fn kafka(&self) -> &KafkaArgs {
        &self.inner.kafka
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
        let feed = feed::start(&self.inner.kafka, limits.fetch_wait_ms, offsets, topic).await?;
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
        let _ = self.inner.revoked_sessions.send(id.to_owned());
    }

    /// Sign-outs from now on ([`Relay::session_revoked`]), for a socket about to be served.
    /// A revoked personal access token is announced the same way, under
    /// [`revoked_token_key`].
    pub fn revoked_sessions(&self) -> broadcast::Receiver<String> {
        self.inner.revoked_sessions.subscribe()
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Closes every socket with "going away" (server shutdown).
    pub fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
    }

    /// Takes a connection slot, or says which limit is reached.
    pub fn admit(&self, addr: Option<IpAddr>) -> Result<ConnectionSlot, Refusal> {
        let inner = &self.inner;
        let mut per_addr = inner.per_addr.lock().unwrap_or_else(|p| p.into_inner());
        let total = inner.stats.connections.load(Ordering::Acquire);
        let from_addr = addr.and_then(|a| per_addr.get(&a).copied()).unwrap_or(0);
        let refusal = if total >= inner.limits.max_connections {
            Some(Refusal::Full)
        } else if from_addr >= inner.limits.max_per_addr {
            Some(Refusal::TooManyFromAddress)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            inner
                .stats
                .refused_connections
                .fetch_add(1, Ordering::Relaxed);
            return Err(refusal);
        }
        if let Some(addr) = addr {
            *per_addr.entry(addr).or_default() += 1;
        }
        inner.stats.connections.fetch_add(1, Ordering::AcqRel);
        inner
            .stats
            .connections_total
            .fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionSlot {
            relay: self.clone(),
            addr,
        })
    }

    /// The compiled filter for `source` (shared with every stream that uses the same one), or
    /// why it is refused.
    pub(crate) fn filter(
        &self,
        source: &str,
    ) -> Result<Arc<filters::SharedFilter>, crate::filter::FilterError> {
        self.inner.filters.get(source)
    }

    /// The relay's counters in Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let s = &self.inner.stats;
        let mut out = String::new();
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let gauge = |g: &AtomicUsize| g.load(Ordering::Relaxed) as u64;
        // Each name is `streamhub_relay_` and this.
        for (name, kind, value) in [
            ("connections", "gauge", gauge(&s.connections)),
            ("feeds", "gauge", gauge(&s.feeds)),
            ("replays", "gauge", gauge(&s.replays)),
            ("searches", "gauge", gauge(&s.searches)),
            ("connections_total", "counter", count(&s.connections_total)),
            (
                "refused_connections_total",
                "counter",
                count(&s.refused_connections),
            ),
            ("records_sent_total", "counter", count(&s.records_sent)),
            ("frames_sent_total", "counter", count(&s.frames_sent)),
            ("lagged_events_total", "counter", count(&s.lagged_events)),
            (
                "skipped_records_total",
                "counter",
                count(&s.skipped_records),
            ),
            (
                "filter_evaluations_total",
                "counter",
                count(&s.filter_evaluations),
            ),
            (
                "filtered_records_total",
                "counter",
                count(&s.filtered_records),
            ),
        ] {
            let name = format!("streamhub_relay_{name}");
            let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

/// What a revoked personal access token is announced as on the relay's revocations (beside
/// signed-out session ids, which never contain `:`): its sockets end as a signed-out person's do.
pub fn revoked_token_key(token_id: i64) -> String {
    format!("token:{token_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::KafkaArgs;

    #[test]
    fn sockets_are_refused_per_address_first_and_in_all_last_and_slots_come_back() {
        let limits = RelayLimits {
            max_connections: 3,
            max_per_addr: 2,
            ..RelayLimits::default()
        };
        let relay = Relay::new(KafkaArgs::for_bootstrap("127.0.0.1:9"), limits);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = relay.admit(Some(a)).unwrap();
        let _second = relay.admit(Some(a)).unwrap();
        assert_eq!(
            relay.admit(Some(a)).err(),
            Some(Refusal::TooManyFromAddress)
        );
        let _third = relay.admit(Some(b)).unwrap();
        assert_eq!(relay.admit(Some(b)).err(), Some(Refusal::Full));
        drop(first);
        assert!(
            relay.admit(Some(a)).is_ok(),
            "a closed socket frees its slots"
        );
        assert_eq!(
            relay
                .inner
                .stats
                .refused_connections
                .load(Ordering::Relaxed),
            2
        );
    }
}

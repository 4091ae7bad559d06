//! One WebSocket connection: reads control frames and keeps one forwarder task per streamed
//! topic. Each writes its own frames through the socket's [`Outlet`]; a forwarder whose client
//! reads slowly waits there, stops taking records from the feed, so its broadcast receiver lags
//! and the client is told how many records it skipped — nobody else waits.

use super::{
    feed::{FeedError, LiveRecord},
    filters::SharedFilter,
    outlet::Outlet,
    record::{records_frame, EncodedRecord},
    replay::replay,
    search::{self, RunningSearch},
    ConnectionSlot, Relay,
};
use crate::{
    filter::{Verdict, EVALUATION_BUDGET},
    store::{Store, TopicKey},
};
use app::{
    domain::TopicName,
    stream::{ClientFrame, PartitionOffsets, SearchRequest, ServerFrame, StartPosition},
    wire::{Topic, TopicStatus},
};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures::StreamExt;
use std::{
    borrow::Borrow,
    collections::{BTreeMap, HashMap, HashSet},
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tokio::{
    sync::{
        broadcast::{
            self,
            error::{RecvError, TryRecvError},
        },
        mpsc, Semaphore,
    },
    task::JoinHandle,
    time::Instant,
};

/// Most records in one `records` frame.
pub const MAX_BATCH: usize = 500;
/// Most bytes of records in one frame: it bounds what a stalled socket holds on the server
/// (a frame per streamed topic) beyond the shared broadcast buffer.
const MAX_FRAME_BYTES: usize = 256 * 1024;
/// Server pings keep proxies from closing idle sockets and tell us the client is alive.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A client that sends nothing (not even a pong) for this long is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(75);
/// Replays one socket runs at once; its other streams wait their turn.
const REPLAYS_PER_SOCKET: usize = 2;
/// Control frames: a burst of this many, refilled at this rate per second.
const CONTROL_BURST: f64 = 20.0;
const CONTROL_RATE: f64 = 5.0;

/// Who is on the other end.
pub struct Peer {
    pub user_id: Option<String>,
    /// Stream the user's subscriptions by themselves (else only what the client asks for).
    pub follow: bool,
    pub admin: bool,
    /// The dashboard session the admin right came from (`None` for the admin token, which
    /// signing out does not revoke): when it is signed out, the right goes.
    pub admin_session: Option<String>,
    /// What the socket rides on in `oidc` mode (a person's or an admin's): their session's id,
    /// or `token:<id>` for a personal access token. When it is signed out or revoked, the
    /// socket is told and closed.
    pub person_session: Option<String>,
    /// When the session or token the socket rides on expires (seconds since the epoch): a
    /// person's socket is then told and closed, an admin session's loses the admin right.
    pub ends_at: Option<i64>,
    /// The socket was opened with a `read` personal access token: it changes nothing (no
    /// `save_position`).
    pub read_only: bool,
    /// Sign-outs, listened to since before the session was read (see [`Relay::revoked_sessions`]).
    pub revocations: broadcast::Receiver<String>,
    pub slot: ConnectionSlot,
}

/// Serves one socket until either side ends it.
pub async fn serve(socket: WebSocket, relay: Relay, store: Store, mut peer: Peer) {
    let (sink, mut incoming) = socket.split();
    let outlet = Outlet::new(sink, relay.clone());
    let mut shutdown = relay.shutdown_signal();
    let mut connection = Connection {
        relay: relay.clone(),
        store,
        user_id: peer.user_id.clone(),
        admin: peer.admin,
        read_only: peer.read_only,
        outlet: outlet.clone(),
        streams: HashMap::new(),
        by_subscription: HashSet::new(),
        replays: Arc::new(Semaphore::new(REPLAYS_PER_SOCKET)),
        search: None,
        positions: HashMap::new(),
        searcher: match (&peer.user_id, peer.slot.addr) {
            (Some(user), _) => format!("user:{user}"),
            (None, Some(addr)) => format!("addr:{addr}"),
            (None, None) => "anyone".to_owned(),
        },
        tokens: CONTROL_BURST,
        refilled: Instant::now(),
    };
    connection
        .send(&ServerFrame::Hello {
            user_id: peer.user_id.clone(),
            max_batch: MAX_BATCH,
        })
        .await;
    let mut changes = relay.changes();
    let following = peer.user_id.is_some() && peer.follow;
    if following {
        connection.reconcile_subscriptions(true).await;
    }
    let mut expiry = peer.ends_at.map(|at| {
        let left = u64::try_from(at - crate::sessions::unix_now()).unwrap_or(0);
        Box::pin(tokio::time::sleep(Duration::from_secs(left)))
    });
    let mut last_heard = Instant::now();
    let mut silence = tokio::time::interval(Duration::from_secs(5));
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            frame = incoming.next() => {
                let Some(Ok(frame)) = frame else { break };
                last_heard = Instant::now();
                match frame {
                    Message::Text(text) => connection.control(text.as_str()).await,
                    Message::Binary(_) => connection.error("unsupported", "send JSON text frames").await,
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            // A socket that named its user hears about that user's subscriptions: following
            // sockets start and stop with them; others stop a topic they stream because of the
            // subscription (an admin watching by right keeps it).
            change = changes.recv(), if peer.user_id.is_some() => match change {
                Ok(change) if Some(&change.user_id) == peer.user_id.as_ref() => {
                    if change.added && following {
                        connection.subscribe(&change.topic, StartPosition::Latest, true, None).await;
                    } else if !change.added
                        && (following || connection.by_subscription.contains(&change.topic))
                    {
                        connection.stop(&change.topic, "unsubscribed").await;
                    }
                }
                Ok(_) => {}
                // Missed announcements (an unsubscribe among them, perhaps): re-read the user's
                // subscriptions and act on the difference.
                Err(RecvError::Lagged(_)) => connection.reconcile_subscriptions(following).await,
                Err(RecvError::Closed) => {}
            },
            // A lag may have hidden this socket's session among the revoked: assume it did.
            id = peer.revocations.recv(),
                if (connection.admin && peer.admin_session.is_some()) || peer.person_session.is_some() => {
                let ended = |session: &Option<String>| match &id {
                    Ok(id) => Some(id) == session.as_ref(),
                    Err(RecvError::Lagged(_)) => session.is_some(),
                    Err(RecvError::Closed) => false,
                };
                if ended(&peer.person_session) {
                    let message = "your sign-in ended (signed out, or its token revoked): sign in again to stream";
                    connection.error("signed_out", message).await;
                    break;
                }
                if connection.admin && ended(&peer.admin_session) {
                    connection.lose_admin_right().await;
                }
            }
            () = async {
                match expiry.as_mut() {
                    Some(at) => at.await,
                    None => std::future::pending().await,
                }
            } => {
                expiry = None;
                if peer.admin_session.is_some() && peer.person_session.is_none() {
                    connection.lose_admin_right().await;
                } else {
                    let message = "your sign-in expired: sign in again to stream";
                    connection.error("session_expired", message).await;
                    break;
                }
            }
            _ = silence.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    break;
                }
            }
            _ = ping.tick() => {
                outlet.send(Message::Ping(Default::default())).await;
            }
            _ = outlet.broken() => break,
            _ = shutdown.changed() => {
                outlet.close(1001, "server shutting down").await;
                break;
            }
        }
    }
    for (_, task) in connection.streams.drain() {
        task.abort();
    }
    drop(peer.slot);
}

struct Connection {
    relay: Relay,
    store: Store,
    user_id: Option<String>,
    admin: bool,
    /// Opened with a `read` token: nothing it asks may change anything.
    read_only: bool,
    outlet: Outlet,
    streams: HashMap<String, JoinHandle<()>>,
    /// Streams this socket has because its user subscribes to them (not by admin right): a
    /// REST unsubscribe ends them.
    by_subscription: HashSet<String>,
    /// Replays this socket may run at once (its streams wait for a turn beyond that).
    replays: Arc<Semaphore>,
    /// This socket's search, if it started one (cancelled when replaced or dropped).
    search: Option<RunningSearch>,
    /// Where each of its streams stands.
    positions: HashMap<String, Position>,
    /// Who this socket's searches count against: its user, else its address.
    searcher: String,
    tokens: f64,
    refilled: Instant,
}

impl Connection {
    async fn send(&self, frame: &ServerFrame) {
        self.outlet.send_frame(frame).await;
    }

    async fn error(&self, error: &str, message: &str) {
        self.send(&ServerFrame::Error {
            error: error.to_owned(),
            message: message.to_owned(),
        })
        .await;
    }

    /// Token bucket for control frames.
    fn allow_control(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.refilled).as_secs_f64() * CONTROL_RATE;
        self.tokens = (self.tokens + refill).min(CONTROL_BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    async fn control(&mut self, text: &str) {
        if !self.allow_control() {
            return self
                .error("rate_limited", "too many control frames; slow down")
                .await;
        }
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                return self
                    .error("invalid_frame", &format!("not a control frame: {e}"))
                    .await
            }
        };
        match frame {
            ClientFrame::Ping => self.send(&ServerFrame::Pong).await,
            ClientFrame::Subscribe {
                topics,
                from,
                filter,
            } => {
                if topics.len() > 100 {
                    return self
                        .error("too_many_topics", "at most 100 topics per frame")
                        .await;
                }
                // Each entry may start a replay: the same name twice would replay it twice (a
                // cheap way to multiply the broker reads one frame costs).
                let mut seen = std::collections::HashSet::new();
                if let Some(twice) = topics.iter().find(|t| !seen.insert(t.as_str())) {
                    let message = format!("{twice} is named twice in one frame");
                    return self.error("duplicate_topics", &message).await;
                }
                // Compiled once for all the frame's topics (and shared with every other stream
                // that uses the same expression).
                let filter = match filter.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(source) => match self.relay.filter(source) {
                        Ok(filter) => Some(filter),
                        Err(e) => return self.error("invalid_filter", &e.to_string()).await,
                    },
                };
                for topic in topics {
                    self.subscribe(&topic, from.clone(), false, filter.clone())
                        .await;
                }
            }
            ClientFrame::Unsubscribe { topics } => {
                for topic in topics {
                    self.stop(&topic, "requested").await;
                }
            }
            ClientFrame::Search(request) => self.search(request).await,
            ClientFrame::SavePosition if self.read_only => {
                self.error(
                    "forbidden",
                    "this socket was opened with a token that may only read",
                )
                .await
            }
            ClientFrame::SavePosition => self.save_positions().await,
            ClientFrame::CancelSearch { id } => {
                if let Some(search) = self.search.as_ref().filter(|s| s.id == id) {
                    search.cancel();
                }
            }
        }
    }

    /// Brings the socket in line with its user's subscriptions as stored: streams held by a
    /// subscription that is gone stop, and (when `follow`) every active subscribed topic not
    /// streamed yet starts. Run at start and after missed change announcements.
    async fn reconcile_subscriptions(&mut self, follow: bool) {
        let Some(user) = self.user_id.clone() else {
            return;
        };
        let subscriptions = match self.store.subscriptions(Some(&user)).await {
            Ok(subscriptions) => subscriptions,
            Err(e) => return self.error("database_unavailable", &e.to_string()).await,
        };
        let gone: Vec<String> = self
            .by_subscription
            .iter()
            .filter(|topic| !subscriptions.iter().any(|s| &s.topic_name == *topic))
            .cloned()
            .collect();
        for topic in gone {
            self.stop(&topic, "unsubscribed").await;
        }
        if !follow {
            return;
        }
        for s in subscriptions {
            if s.topic_status == TopicStatus::Active && !self.streams.contains_key(&s.topic_name) {
                self.subscribe(&s.topic_name, StartPosition::Latest, true, None)
                    .await;
            }
        }
    }

    async fn stop(&mut self, topic: &str, reason: &str) {
        self.by_subscription.remove(topic);
        self.positions.remove(topic);
        if let Some(task) = self.streams.remove(topic) {
            end(task).await;
            self.send(&ServerFrame::Unsubscribed {
                topic: topic.to_owned(),
                reason: reason.to_owned(),
            })
            .await;
        }
    }

    /// The session that made this socket an admin's was signed out: streams the user does not
    /// subscribe to end (`unsubscribed`, reason `signed_out`); the socket stays open.
    async fn lose_admin_right(&mut self) {
        self.admin = false;
        let topics: Vec<String> = self.streams.keys().cloned().collect();
        for topic in topics {
            if !self.user_subscribes(&topic).await {
                self.stop(&topic, "signed_out").await;
            }
        }
    }

    /// Checks that this client may stream `topic` now, then starts (or restarts) its stream, of
    /// the records `filter` matches when there is one.
    async fn subscribe(
        &mut self,
        topic: &str,
        from: StartPosition,
        known_subscribed: bool,
        filter: Option<Arc<SharedFilter>>,
    ) {
        let name = match TopicName::parse_field(topic, "topics") {
            Ok(name) => name,
            Err(e) => return self.error("invalid_topic", &e.message).await,
        };
        // Read before the store says "active", so that a deactivation after it is noticed.
        let epoch = self.relay.topic_epoch(name.as_str());
        if self.active_topic(&name).await.is_none() {
            return;
        }
        let subscribed = known_subscribed || self.user_subscribes(name.as_str()).await;
        if !self.admin && !subscribed {
            let message = match &self.user_id {
                None => "connect with ?user_id=<you> to stream your subscribed topics".to_owned(),
                Some(user) => format!("{user} is not subscribed to {name}; subscribe first"),
            };
            return self.error("not_subscribed", &message).await;
        }
        if let Some(old) = self.streams.remove(name.as_str()) {
            end(old).await;
        }
        let joined = match self.relay.join(name.as_str(), epoch).await {
            Ok(joined) => joined,
            Err(e @ FeedError::TopicEnded(_)) => {
                return self.error("topic_not_active", &e.to_string()).await
            }
            Err(e) => return self.error("broker_unavailable", &e.to_string()).await,
        };
        let join = joined.positions;
        // A stored position is where the user's consumer group stands: its committed offsets.
        let start = match &from {
            StartPosition::Stored => {
                match self.stored_position(name.as_str(), joined.partitions).await {
                    Ok(offsets) => StartPosition::Offsets { offsets },
                    Err((error, message)) => return self.error(error, &message).await,
                }
            }
            other => other.clone(),
        };
        let marks = match start {
            // Nothing to replay: no need to ask the broker where the log begins.
            StartPosition::Latest => join.iter().map(|(p, next)| (*p, (*next, *next))).collect(),
            _ => match log_starts(&self.relay, name.as_str(), joined.partitions).await {
                Ok(starts) => join
                    .iter()
                    .map(|(p, next)| (*p, (starts.get(p).copied().unwrap_or(0).min(*next), *next)))
                    .collect(),
                Err(e) => return self.error("broker_unavailable", &e).await,
            },
        };
        let ranges = replay_ranges(&start, &marks, self.relay.limits().max_replay);
        let not_before = match start {
            StartPosition::Timestamp { at } => Some(at),
            _ => None,
        };
        self.send(&ServerFrame::Subscribed {
            topic: name.to_string(),
            from,
            next_offsets: join.iter().map(|(p, o)| (*p, *o)).collect(),
            filter: filter.as_ref().map(|f| f.source().to_owned()),
        })
        .await;
        // Until the replay moves it, the stream stands where it starts.
        let position: Position = Arc::new(std::sync::Mutex::new(
            join.iter()
                .map(|(p, next)| (*p, ranges.get(p).map_or(*next, |(start, _)| *start)))
                .collect(),
        ));
        let task = tokio::spawn(forward(Forward {
            relay: self.relay.clone(),
            store: self.store.clone(),
            topic: name.to_string(),
            receiver: joined.receiver,
            next: join.clone(),
            join,
            ranges,
            not_before,
            outlet: self.outlet.clone(),
            replays: self.replays.clone(),
            filter,
            position: position.clone(),
        }));
        self.streams.insert(name.to_string(), task);
        self.positions.insert(name.to_string(), position);
        if subscribed {
            self.by_subscription.insert(name.to_string());
        } else {
            self.by_subscription.remove(name.as_str());
        }
    }

    /// The topic `name` when it is active; else the client is told why not (`topic_not_active`,
    /// `topic_not_found`, `database_unavailable`) and there is none. Streams and searches
    /// both start only on an active topic.
    async fn active_topic(&self, name: &TopicName) -> Option<Topic> {
        let why = match self.store.topic(TopicKey::Name(name.as_str())).await {
            Ok(Some(t)) if t.status == TopicStatus::Active => return Some(t),
            Ok(Some(t)) => ("topic_not_active", format!("topic {name} is {}", t.status)),
            Ok(None) => ("topic_not_found", format!("no topic {name}")),
            Err(e) => ("database_unavailable", e.to_string()),
        };
        self.error(why.0, &why.1).await;
        None
    }

    /// Starts a search of a topic's history for this socket, replacing its running one. The
    /// same rule as for streaming applies: an active topic the user subscribes to, or any for
    /// an admin.
    async fn search(&mut self, request: SearchRequest) {
        if let Some(previous) = self.search.take() {
            previous.stop().await;
        }
        let name = match TopicName::parse_field(&request.topic, "topic") {
            Ok(name) => name,
            Err(e) => return self.error("invalid_topic", &e.message).await,
        };
        let Some(topic) = self.active_topic(&name).await else {
            return;
        };
        if !self.admin && !self.user_subscribes(name.as_str()).await {
            let message = format!("subscribe to {name} first to search it");
            return self.error("not_subscribed", &message).await;
        }
        let filter = match request.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(source) => match self.relay.filter(source) {
                Ok(filter) => Some(filter),
                Err(e) => return self.error("invalid_filter", &e.to_string()).await,
            },
        };
        let partitions = topic.partitions;
        if request
            .partition
            .is_some_and(|p| !(0..partitions).contains(&p))
        {
            let message = format!("{name} has partitions 0 to {}", partitions - 1);
            return self.error("invalid_partition", &message).await;
        }
        let (relay, topic_name) = (self.relay.clone(), name.to_string());
        let marks =
            match tokio::task::spawn_blocking(move || relay.watermarks(&topic_name, partitions))
                .await
            {
                Ok(Ok(marks)) => marks,
                Ok(Err(e)) => return self.error("broker_unavailable", &e.to_string()).await,
                Err(e) => return self.error("broker_unavailable", &e.to_string()).await,
            };
        let ranges = marks
            .into_iter()
            .filter(|(p, _)| request.partition.is_none_or(|only| only == *p))
            .map(|(p, (low, high))| {
                let start = request
                    .from_offset
                    .map_or(low, |from| from.clamp(low, high));
                let end = request.to_offset.map_or(high, |to| to.clamp(start, high));
                (p, (start, end))
            })
            .collect();
        let Some(turn) = self.relay.search_turn(&self.searcher) else {
            let limits = self.relay.limits();
            let message = format!(
                "at most {} search(es) per user and {} in all run at once; wait for one to end",
                limits.max_searches_per_user, limits.max_concurrent_searches
            );
            return self.error("too_many_searches", &message).await;
        };
        let scope = search::Scope {
            topic: name.to_string(),
            ranges,
            since: request.since,
            until: request.until,
            max_matches: request
                .max_matches
                .unwrap_or(search::DEFAULT_MATCHES)
                .clamp(1, search::MAX_MATCHES),
            filter,
        };
        self.search = Some(search::start(
            &self.relay,
            self.outlet.clone(),
            request.id,
            scope,
            turn,
        ));
    }

    /// Stores where each of this socket's streams stands as its user's position (their consumer
    /// group's committed offsets): `position_saved` per topic, or why not.
    async fn save_positions(&mut self) {
        let Some(user) = self.user_id.clone() else {
            let message = "connect with ?user_id=<you> to save your position";
            return self.error("no_user", message).await;
        };
        let positions: Vec<(String, BTreeMap<i32, i64>)> = self
            .positions
            .iter()
            .map(|(topic, p)| {
                (
                    topic.clone(),
                    p.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                )
            })
            .collect();
        if positions.is_empty() {
            return self
                .error("nothing_streamed", "no stream to save the position of")
                .await;
        }
        // Only the user's own topics: an admin's socket may stream others, which are not part
        // of the user's position.
        let (mine, others): (Vec<_>, Vec<_>) = match self.store.subscriptions(Some(&user)).await {
            Ok(subscriptions) => positions
                .into_iter()
                .partition(|(topic, _)| subscriptions.iter().any(|s| s.topic_name == *topic)),
            Err(e) => return self.error("database_unavailable", &e.to_string()).await,
        };
        for (topic, _) in &others {
            let message =
                format!("{user} does not subscribe to {topic}: its position is not theirs to keep");
            self.error("not_subscribed", &message).await;
        }
        if mine.is_empty() {
            return;
        }
        let (kafka, group) = (
            self.relay.kafka().clone(),
            crate::kafka::groups::group_of(&user),
        );
        let topics: Vec<String> = mine.iter().map(|(topic, _)| topic.clone()).collect();
        let saved = tokio::task::spawn_blocking(move || {
            crate::kafka::groups::commit(&kafka, &group, &mine)
        })
        .await;
        let why = match saved {
            Ok(Ok(())) => {
                for topic in topics {
                    self.send(&ServerFrame::PositionSaved { topic }).await;
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        self.error(
            "position_not_saved",
            &format!("{}: {why}", topics.join(", ")),
        )
        .await;
    }

    /// Where the socket's user stands in `topic`: their consumer group's committed offsets (the
    /// partitions without one are left out, and start at latest).
    async fn stored_position(
        &self,
        topic: &str,
        partitions: i32,
    ) -> Result<PartitionOffsets, (&'static str, String)> {
        let Some(user) = self.user_id.clone() else {
            let message = "connect with ?user_id=<you> to start from your stored position";
            return Err(("no_user", message.to_owned()));
        };
        let (kafka, topics) = (
            self.relay.kafka().clone(),
            vec![(topic.to_owned(), partitions)],
        );
        let committed = tokio::task::spawn_blocking(move || {
            crate::kafka::groups::committed(&kafka, &crate::kafka::groups::group_of(&user), &topics)
        })
        .await;
        match committed {
            Ok(Ok(committed)) => Ok(committed
                .into_iter()
                .filter_map(|((_, partition), offset)| offset.map(|o| (partition, o)))
                .collect()),
            Ok(Err(e)) => Err(("broker_unavailable", e.to_string())),
            Err(e) => Err(("broker_unavailable", e.to_string())),
        }
    }

    /// Whether the socket's user (if it named one) subscribes to `topic`.
    async fn user_subscribes(&self, topic: &str) -> bool {
        let Some(user) = &self.user_id else {
            return false;
        };
        self.store
            .subscriptions(Some(user))
            .await
            .map(|subs| subs.iter().any(|s| s.topic_name == topic))
            .unwrap_or(false)
    }
}

/// Where each partition of `topic` begins (its low watermark), from the broker.
async fn log_starts(
    relay: &Relay,
    topic: &str,
    partitions: i32,
) -> Result<BTreeMap<i32, i64>, String> {
    let (relay, topic) = (relay.clone(), topic.to_owned());
    match tokio::task::spawn_blocking(move || relay.watermarks(&topic, partitions)).await {
        Ok(Ok(marks)) => Ok(marks.into_iter().map(|(p, (low, _))| (p, low)).collect()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Per partition, `[start, end)` to replay before joining the live stream at `end`.
fn replay_ranges(
    from: &StartPosition,
    marks: &BTreeMap<i32, (i64, i64)>,
    max_replay: i64,
) -> BTreeMap<i32, (i64, i64)> {
    marks
        .iter()
        .map(|(p, (low, high))| {
            let bounded_low = (*low).max(high - max_replay);
            let start = match from {
                // A stored position arrives here as the offsets it stands for.
                StartPosition::Latest | StartPosition::Stored => *high,
                // Older records are skipped while replaying (see `replay`'s `not_before`): exact
                // on any broker, whether or not it answers offsets-for-times lookups.
                StartPosition::Earliest | StartPosition::Timestamp { .. } => bounded_low,
                StartPosition::Last { n } => {
                    (high - i64::try_from(*n).unwrap_or(i64::MAX)).max(bounded_low)
                }
                StartPosition::Offsets { offsets } => offsets
                    .get(*p)
                    .map(|o| o.clamp(bounded_low, *high))
                    .unwrap_or(*high),
            };
            (*p, (start, *high))
        })
        .collect()
}

/// Stops a forwarder and waits until it has stopped, so that nothing of its stream is written
/// after the frame that says it ended.
async fn end(task: JoinHandle<()>) {
    task.abort();
    let _ = task.await;
}

struct Forward {
    relay: Relay,
    store: Store,
    topic: String,
    receiver: tokio::sync::broadcast::Receiver<LiveRecord>,
    /// Per partition, where `receiver` joined the feed: live records before it come from the
    /// replay (or came earlier) and are dropped.
    join: BTreeMap<i32, i64>,
    /// Per partition, the offset of the next record this socket is owed: where it resumes if
    /// its feed stops under it.
    next: BTreeMap<i32, i64>,
    ranges: BTreeMap<i32, (i64, i64)>,
    /// Replayed records stamped before this (ms since the epoch) are not sent.
    not_before: Option<i64>,
    outlet: Outlet,
    /// The socket's replay turns (see [`REPLAYS_PER_SOCKET`]).
    replays: Arc<Semaphore>,
    /// Only the records this matches are sent (positions still advance past the others).
    filter: Option<Arc<SharedFilter>>,
    /// Where the stream stands (partition → the next offset it hands out), for the socket to
    /// save as its user's position.
    position: Position,
}

/// A stream's position, shared between its task and its socket.
type Position = Arc<std::sync::Mutex<BTreeMap<i32, i64>>>;

impl Forward {
    /// Makes `next` (for the partitions it names) the stream's published position.
    fn publish(&self, next: impl IntoIterator<Item = (i32, i64)>) {
        let mut position = self.position.lock().unwrap_or_else(|p| p.into_inner());
        position.extend(next);
    }
}

/// How the live part of a stream ended.
enum LiveEnd {
    /// The socket is gone (nothing more can be sent).
    SocketGone,
    /// The feed closed: the topic was deactivated, or its feed stopped for another reason.
    FeedClosed,
    /// The stream's filter went over its budget; the client was told.
    FilterStopped,
}

/// How a stream goes on after its feed closed.
enum AfterFeed {
    /// It joined a new feed and replays what it missed in between.
    Resumed,
    /// It ended with the frame that says why.
    Ended(ServerFrame),
}

/// Sends one `records` frame; `false` when the socket is gone. A lone record goes out as the
/// frame the feed built for it, shared by every socket (the usual case at modest rates: each
/// wake-up finds one record); several are framed together here.
async fn send_records<'a>(
    f: &Forward,
    mut records: impl ExactSizeIterator<Item = &'a EncodedRecord>,
) -> bool {
    let count = records.len() as u64;
    let frame: Utf8Bytes = match (count, records.next()) {
        (1, Some(only)) => only.frame.clone(),
        (_, first) => records_frame(first.into_iter().chain(records).map(|r| r.json())).into(),
    };
    f.relay
        .stats()
        .records_sent
        .fetch_add(count, Ordering::Relaxed);
    f.outlet.send(Message::Text(frame)).await
}

/// Replays, then forwards live records in batches until the socket goes, the topic is no
/// longer active or the task is aborted. A feed that stops while the topic is still active (a
/// quick deactivate and reactivate, a feed task that died) is rejoined at this socket's own
/// positions: no gap, no duplicate.
async fn forward(mut f: Forward) {
    loop {
        let Some(complete) = send_replay(&f).await else {
            return;
        };
        f.next.clone_from(&f.join);
        // A replay that stopped early leaves the position where it got to, and says nothing
        // of having caught up.
        if complete {
            f.publish(f.join.clone());
        }
        if complete && f.filter.is_some() {
            let frame = ServerFrame::CaughtUp {
                topic: f.topic.clone(),
                next_offsets: f.join.iter().map(|(p, o)| (*p, *o)).collect(),
            };
            if !f.outlet.send_frame(&frame).await {
                return;
            }
        }
        match send_live(&mut f).await {
            LiveEnd::SocketGone | LiveEnd::FilterStopped => return,
            LiveEnd::FeedClosed => {}
        }
        match after_feed_closed(&mut f).await {
            AfterFeed::Resumed => continue,
            AfterFeed::Ended(frame) => {
                f.outlet.send_frame(&frame).await;
                return;
            }
        }
    }
}

/// Sends the records of `f.ranges` (those not stamped before `f.not_before`): `Some(true)` when
/// all were looked at, `Some(false)` when the replay stopped early (the client was told),
/// `None` when the socket is gone.
async fn send_replay(f: &Forward) -> Option<bool> {
    if !f.ranges.values().any(|(start, end)| start < end) {
        return Some(true);
    }
    // A turn of this socket's, then one of the relay's: each replay is a broker reader on a
    // blocking thread, and those are shared with everything else the server does.
    // Both are held by the reader itself: a stream that is replaced releases its turns only
    // once its reader has stopped.
    let (Ok(socket_turn), Ok(relay_turn)) = (
        f.replays.clone().acquire_owned().await,
        f.relay.replay_turn().await,
    ) else {
        return Some(true);
    };
    let (batches, mut replayed) = mpsc::channel::<Vec<EncodedRecord>>(4);
    let (kafka, topic, ranges) = (f.relay.kafka().clone(), f.topic.clone(), f.ranges.clone());
    let not_before = f.not_before;
    let reader = tokio::task::spawn_blocking(move || {
        let _turns = (socket_turn, relay_turn);
        replay(&kafka, &topic, &ranges, not_before, MAX_BATCH, batches)
    });
    while let Some(mut batch) = replayed.recv().await {
        let taken: Vec<(i32, i64)> = batch.iter().map(|r| (r.partition, r.offset + 1)).collect();
        if !keep_matching(f, &mut batch).await {
            return None;
        }
        if !batch.is_empty() && !send_records(f, batch.iter()).await {
            return None;
        }
        f.publish(taken);
    }
    if let Ok(Err(e)) = reader.await {
        f.outlet
            .send_frame(&ServerFrame::Error {
                error: "replay_failed".into(),
                message: format!("replay of {} stopped early: {e}", f.topic),
            })
            .await;
        return Some(false);
    }
    Some(true)
}

/// Keeps the records of `batch` that the stream's filter (if any) matches. `false` when an
/// evaluation went over its budget: the client is told, and the stream must end.
async fn keep_matching<R: Borrow<EncodedRecord>>(f: &Forward, batch: &mut Vec<R>) -> bool {
    let Some(filter) = &f.filter else {
        return true;
    };
    let stats = f.relay.stats();
    let before = batch.len();
    let mut over_budget = false;
    batch.retain(|r| {
        let r: &EncodedRecord = r.borrow();
        match (!over_budget).then(|| r.verdicts.of(filter, r.json(), &stats.filter_evaluations)) {
            Some(Verdict::Match) => true,
            Some(Verdict::NoMatch) => false,
            Some(Verdict::OverBudget) | None => {
                over_budget = true;
                false
            }
        }
    });
    stats
        .filtered_records
        .fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
    if !over_budget {
        return true;
    }
    let message = format!(
        "the filter took longer than {} ms on one record of {}: simplify it",
        EVALUATION_BUDGET.as_millis(),
        f.topic
    );
    f.outlet
        .send_frame(&ServerFrame::Error {
            error: "filter_too_costly".into(),
            message,
        })
        .await;
    f.outlet
        .send_frame(&ServerFrame::Unsubscribed {
            topic: f.topic.clone(),
            reason: "filter_too_costly".into(),
        })
        .await;
    false
}

/// Tells the client it misses `skipped` records of this stream (if any), and counts them.
async fn report_skipped(f: &Forward, skipped: u64) {
    if skipped == 0 {
        return;
    }
    let stats = f.relay.stats();
    stats.lagged_events.fetch_add(1, Ordering::Relaxed);
    stats.skipped_records.fetch_add(skipped, Ordering::Relaxed);
    f.outlet
        .send_frame(&ServerFrame::Lagged {
            topic: f.topic.clone(),
            skipped,
        })
        .await;
}

/// Forwards live records in batches until the feed closes or the socket goes.
async fn send_live(f: &mut Forward) -> LiveEnd {
    let mut batch: Vec<LiveRecord> = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = f.receiver.recv().await;
        let mut skipped = 0_u64;
        let mut ended = false;
        match first {
            Ok(record) => batch.push(record),
            Err(RecvError::Lagged(n)) => skipped += n,
            Err(RecvError::Closed) => ended = true,
        }
        let mut bytes = batch.first().map_or(0, |r| r.frame.len());
        while !ended && batch.len() < MAX_BATCH && bytes < MAX_FRAME_BYTES {
            match f.receiver.try_recv() {
                Ok(record) => {
                    bytes += record.frame.len();
                    batch.push(record);
                }
                Err(TryRecvError::Lagged(n)) => skipped += n,
                Err(TryRecvError::Closed) => ended = true,
                Err(TryRecvError::Empty) => break,
            }
        }
        report_skipped(f, skipped).await;
        // Records the replay already sent (or older than where this stream joined) are dropped.
        batch.retain(|r| r.offset >= f.join.get(&r.partition).copied().unwrap_or(0));
        // Each partition's records come in order: the last one taken says where it stands,
        // whether or not the filter lets it through.
        for r in &batch {
            f.next.insert(r.partition, r.offset + 1);
        }
        let taken: Vec<(i32, i64)> = batch.iter().map(|r| (r.partition, r.offset + 1)).collect();
        if !keep_matching(f, &mut batch).await {
            return LiveEnd::FilterStopped;
        }
        if !batch.is_empty() {
            if !send_records(f, batch.iter().map(|r| &**r)).await {
                return LiveEnd::SocketGone;
            }
            batch.clear();
        }
        // Only what was handed to the socket counts as where the stream stands.
        f.publish(taken);
        if ended {
            return LiveEnd::FeedClosed;
        }
    }
}

/// Attempts at joining a new feed before a stream whose feed closed gives up.
const REJOIN_ATTEMPTS: u32 = 5;

/// After the feed closed: ends the stream if the topic is no longer active (or cannot be
/// rejoined), else joins a new feed and sets up the replay from this socket's positions to it.
async fn after_feed_closed(f: &mut Forward) -> AfterFeed {
    let mut last_error = String::new();
    for attempt in 0..REJOIN_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Read before the store says "active", so that a deactivation after it is noticed.
        let epoch = f.relay.topic_epoch(&f.topic);
        match f.store.topic(TopicKey::Name(&f.topic)).await {
            Ok(Some(t)) if t.status == TopicStatus::Active => {}
            Ok(Some(_)) => {
                return AfterFeed::Ended(ServerFrame::TopicState {
                    topic: f.topic.clone(),
                    state: "inactive".into(),
                })
            }
            Ok(None) => break,
            Err(e) => {
                last_error = e.to_string();
                continue;
            }
        }
        match f.relay.join(&f.topic, epoch).await {
            Ok(joined) => {
                let max_replay = f.relay.limits().max_replay;
                let (ranges, skipped) = resume_ranges(&f.next, &joined.positions, max_replay);
                tracing::debug!(topic = %f.topic, ?ranges, skipped, "stream moved to a new feed");
                report_skipped(f, skipped).await;
                f.receiver = joined.receiver;
                f.join = joined.positions;
                f.ranges = ranges;
                f.not_before = None;
                return AfterFeed::Resumed;
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    if !last_error.is_empty() {
        tracing::warn!(topic = %f.topic, error = %last_error, "stream could not rejoin its topic's feed");
    }
    AfterFeed::Ended(ServerFrame::Unsubscribed {
        topic: f.topic.clone(),
        reason: "ended".into(),
    })
}

/// Per partition, the replay from where a socket is (`next`) to where its new feed joined
/// (`join`), cut to the newest `max_replay`; and how many records that cut skips.
fn resume_ranges(
    next: &BTreeMap<i32, i64>,
    join: &BTreeMap<i32, i64>,
    max_replay: i64,
) -> (BTreeMap<i32, (i64, i64)>, u64) {
    let mut skipped = 0_u64;
    let ranges = join
        .iter()
        .map(|(p, end)| {
            // A partition the socket has not seen yet, or one that starts over (the topic
            // recreated), joins live.
            let at = next.get(p).copied().filter(|at| at <= end).unwrap_or(*end);
            let start = at.max(end - max_replay);
            skipped += u64::try_from(start - at).unwrap_or(0);
            (*p, (start, *end))
        })
        .collect();
    (ranges, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_stream_replays_from_its_own_positions_to_the_new_feed() {
        let next = BTreeMap::from([(0, 10), (1, 50), (2, 7)]);
        // Partition 0 moved on, 1 did not, 2 starts over (recreated), 3 is new.
        let join = BTreeMap::from([(0, 25), (1, 50), (2, 3), (3, 4)]);
        let (ranges, skipped) = resume_ranges(&next, &join, 1000);
        assert_eq!(
            ranges,
            BTreeMap::from([(0, (10, 25)), (1, (50, 50)), (2, (3, 3)), (3, (4, 4))])
        );
        assert_eq!(skipped, 0);
        // Past the replay limit the oldest are skipped, and counted.
        let (ranges, skipped) = resume_ranges(&next, &join, 5);
        assert_eq!(ranges[&0], (20, 25));
        assert_eq!(skipped, 10);
    }

    #[test]
    fn replay_ranges_follow_the_start_position() {
        let marks = BTreeMap::from([(0, (0, 100)), (1, (50, 60))]);
        let r = |from| replay_ranges(&from, &marks, 1000);
        assert_eq!(
            r(StartPosition::Latest),
            BTreeMap::from([(0, (100, 100)), (1, (60, 60))])
        );
        assert_eq!(
            r(StartPosition::Earliest),
            BTreeMap::from([(0, (0, 100)), (1, (50, 60))])
        );
        assert_eq!(
            r(StartPosition::Last { n: 20 }),
            BTreeMap::from([(0, (80, 100)), (1, (50, 60))])
        );
        let offsets = StartPosition::Offsets {
            offsets: [(0, 90), (1, 10)].into(),
        };
        assert_eq!(r(offsets), BTreeMap::from([(0, (90, 100)), (1, (50, 60))]));
        // The replay limit bounds `earliest`.
        assert_eq!(
            replay_ranges(&StartPosition::Earliest, &marks, 30),
            BTreeMap::from([(0, (70, 100)), (1, (50, 60))])
        );
    }
}

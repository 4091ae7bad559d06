//! What each client frame does, one function per frame (`subscribe`, `unsubscribe`, `search`,
//! `cancel_search`, `save_position`, `ping`), under the socket's allowance of control frames.
//! A function returns the [`Refusal`] that tells the client why not; [`Connection::control`]
//! sends it.

use super::{Connection, Refusal};
use crate::relay::{
    evaluation::{FilterLease, Share, STREAM_SHARE},
    forward::{self, end, Forward, Position},
    masked::MaskView,
    refusal::MAX_TOPICS_PER_FRAME,
    search,
};
use app::{
    domain::TopicName,
    stream::{ClientFrame, SearchRequest, ServerFrame, StartPosition},
};
use std::{collections::HashSet, sync::Arc};
use tokio::time::Instant;

/// Control frames: a burst of this many, refilled at this rate per second.
const CONTROL_BURST: f64 = 20.0;
const CONTROL_RATE: f64 = 5.0;

/// A token bucket for one socket's control frames.
pub(super) struct Allowance {
    tokens: f64,
    refilled: Instant,
}

impl Allowance {
    pub(super) fn new() -> Self {
        Self {
            tokens: CONTROL_BURST,
            refilled: Instant::now(),
        }
    }

    /// Takes one frame's token; `false` when there is none left.
    fn take(&mut self) -> bool {
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
}

impl Connection {
    /// Parses a text frame and applies it; a refusal is sent to the client.
    pub(super) async fn control(&mut self, text: &str) {
        if let Err(refusal) = self.apply(text).await {
            self.refuse(refusal).await;
        }
    }

    async fn apply(&mut self, text: &str) -> Result<(), Refusal> {
        if !self.allowance.take() {
            return Err(Refusal::RateLimited);
        }
        let frame = serde_json::from_str::<ClientFrame>(text)
            .map_err(|e| Refusal::InvalidFrame(e.to_string()))?;
        match frame {
            ClientFrame::Ping => self.ping().await,
            ClientFrame::Subscribe {
                topics,
                from,
                filter,
            } => self.subscribe_frame(topics, from, filter).await,
            ClientFrame::Unsubscribe { topics } => self.unsubscribe_frame(topics).await,
            ClientFrame::Search(request) => self.search(request).await,
            ClientFrame::CancelSearch { id } => self.cancel_search(&id),
            ClientFrame::SavePosition => self.save_position().await,
        }
    }

    /// `ping`: a `pong`, for clients that check the socket's liveness themselves.
    async fn ping(&mut self) -> Result<(), Refusal> {
        self.send(&ServerFrame::Pong).await;
        Ok(())
    }

    /// `unsubscribe`: ends the streams of these topics (`unsubscribed`, reason `requested`).
    async fn unsubscribe_frame(&mut self, topics: Vec<String>) -> Result<(), Refusal> {
        for topic in topics {
            self.stop(&topic, "requested").await;
        }
        Ok(())
    }

    /// `cancel_search`: stops the search `id` if it is this socket's running one (it then ends
    /// `cancelled`); any other id is no matter.
    fn cancel_search(&mut self, id: &str) -> Result<(), Refusal> {
        if let Some(search) = self.search.as_ref().filter(|s| s.id == id) {
            search.cancel();
        }
        Ok(())
    }

    /// `save_position`: stores where each stream stands as the user's position; refused on a
    /// socket opened with a `read` token.
    async fn save_position(&mut self) -> Result<(), Refusal> {
        if self.read_only {
            return Err(Refusal::ReadOnly);
        }
        self.save_positions().await;
        Ok(())
    }

    /// `subscribe`: starts (or restarts) a stream of each named topic, from `from`, through
    /// `filter` when there is one. Each topic is checked on its own: one refused does not stop
    /// the others.
    async fn subscribe_frame(
        &mut self,
        topics: Vec<String>,
        from: StartPosition,
        filter: Option<String>,
    ) -> Result<(), Refusal> {
        if topics.len() > MAX_TOPICS_PER_FRAME {
            return Err(Refusal::TooManyTopics);
        }
        // Each entry may start a replay: the same name twice would replay it twice (a cheap
        // way to multiply the broker reads one frame costs).
        let mut seen = HashSet::new();
        if let Some(twice) = topics.iter().find(|t| !seen.insert(t.as_str())) {
            return Err(Refusal::DuplicateTopics(twice.clone()));
        }
        // Compiled once for all the frame's topics (and shared with every other stream that
        // uses the same expression).
        let filter = self.compile(filter.as_deref())?;
        // The user's subscriptions read once for the whole frame, not once per topic.
        let subscribed = self.subscribed_topics().await;
        for topic in topics {
            let known = subscribed.contains(topic.as_str());
            self.subscribe(&topic, from.clone(), known, filter.clone())
                .await;
        }
        Ok(())
    }

    /// This client's hold on the shared compiled filter of an expression, `None` for none (or
    /// a blank one).
    fn compile(&self, source: Option<&str>) -> Result<Option<FilterLease>, Refusal> {
        match source.map(str::trim) {
            None | Some("") => Ok(None),
            Some(source) => self.relay.filter_for(&self.client, source).map(Some),
        }
    }

    /// Checks that this client may stream `topic` now, then starts (or restarts) its stream,
    /// of the records `filter` matches when there is one. `subscribed`: whether the socket's
    /// user subscribes to it, as the caller read it (once per frame, or from a change).
    pub(super) async fn subscribe(
        &mut self,
        topic: &str,
        from: StartPosition,
        subscribed: bool,
        filter: Option<FilterLease>,
    ) {
        if let Err(refusal) = self.start_stream(topic, from, subscribed, filter).await {
            self.refuse(refusal).await;
        }
    }

    async fn start_stream(
        &mut self,
        topic: &str,
        from: StartPosition,
        subscribed: bool,
        filter: Option<FilterLease>,
    ) -> Result<(), Refusal> {
        let name = TopicName::parse_field(topic, "topics")
            .map_err(|e| Refusal::InvalidTopic(e.message))?;
        // Read before the store says "active", so that a deactivation after it is noticed.
        let epoch = self.relay.topic_epoch(name.as_str());
        let topic = self.active_topic(&name).await?;
        let subscribed = self.may_stream(&name, subscribed)?;
        let mask = MaskView::for_reader(&self.viewer, &topic, self.relay.mask_key());
        if let Some(old) = self.streams.remove(name.as_str()) {
            end(old).await;
        }
        let joined = self
            .relay
            .join(name.as_str(), epoch)
            .await
            .map_err(|e| match e {
                crate::relay::feed::FeedError::TopicEnded(_) => {
                    Refusal::TopicNotActive(e.to_string())
                }
                e => Refusal::BrokerUnavailable(e.to_string()),
            })?;
        let join = joined.positions;
        // A stored position is where the user's consumer group stands: its committed offsets.
        let start = match &from {
            StartPosition::Stored => StartPosition::Offsets {
                offsets: self
                    .stored_position(name.as_str(), joined.partitions)
                    .await?,
            },
            other => other.clone(),
        };
        let ranges =
            forward::start_ranges(&self.relay, name.as_str(), joined.partitions, &start, &join)
                .await?;
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
        let task = tokio::spawn(forward::forward(Forward {
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
            client: self.client.clone(),
            epoch,
            filter,
            mask,
            share: Share::new(STREAM_SHARE),
            position: position.clone(),
        }));
        self.streams.insert(name.to_string(), task);
        self.positions.insert(name.to_string(), position);
        if subscribed {
            self.by_subscription.insert(name.to_string());
        } else {
            self.by_subscription.remove(name.as_str());
        }
        Ok(())
    }

    /// `search`: starts a search of a topic's history for this socket, replacing its running
    /// one. The same rule as for streaming applies (see [`Connection::may_search`]).
    async fn search(&mut self, request: SearchRequest) -> Result<(), Refusal> {
        if let Some(previous) = self.search.take() {
            previous.stop().await;
        }
        let name = TopicName::parse_field(&request.topic, "topic")
            .map_err(|e| Refusal::InvalidTopic(e.message))?;
        let topic = self.active_topic(&name).await?;
        self.may_search(&name).await?;
        let filter = self.compile(request.filter.as_deref())?;
        let partitions = topic.partitions;
        if request
            .partition
            .is_some_and(|p| !(0..partitions).contains(&p))
        {
            return Err(Refusal::InvalidPartition {
                topic: name.to_string(),
                partitions,
            });
        }
        // A turn first: a client with none left costs the broker nothing.
        let Some(turn) = self.relay.search_turn(&self.client) else {
            let limits = self.relay.limits();
            return Err(Refusal::TooManySearches {
                per_user: limits.max_searches_per_user,
                total: limits.max_concurrent_searches,
            });
        };
        let (relay, topic_name) = (self.relay.clone(), name.to_string());
        let marks =
            crate::relay::blocking::blocking(move || relay.watermarks(&topic_name, partitions))
                .await
                .map_err(Refusal::BrokerUnavailable)?;
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
            mask: MaskView::for_reader(&self.viewer, &topic, self.relay.mask_key()),
        };
        self.search = Some(search::start(
            &self.relay,
            self.outlet.clone(),
            request.id,
            scope,
            turn,
        ));
        Ok(())
    }
}

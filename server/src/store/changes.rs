//! The change log: every metadata change that the instances of a deployment must act on — a
//! subscription added or removed, a topic requested or moved in its lifecycle, a session signed
//! out, a token revoked — is appended to `change_log` in the transaction of the change itself.
//! Each instance reads the log in id order from where it stopped and hands each change to
//! whoever listens ([`Store::changes`]: the relay, the sessions). After its own writes an
//! instance reads at once; other instances' writes wake it (PostgreSQL `NOTIFY`), and a poll
//! every second catches whatever a lost wake-up missed: a missed notification costs latency,
//! never a change.
//!
//! The position this instance has read to is also what the read cache is keyed by
//! ([`Store::position`]): an answer computed at a position holds until the log moves on.

use super::{on_db, topic_cache::TopicCache, Backend, Store, StoreError};
use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::Duration,
};
use tokio::sync::{broadcast, Mutex, Notify};

/// A metadata change other instances must see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `user_id` subscribed to `topic` (`added`) or unsubscribed.
    Subscription {
        user_id: String,
        topic: String,
        added: bool,
    },
    /// `topic` was requested or moved in its lifecycle.
    Topic { topic: String, event: TopicEvent },
    /// A dashboard session was signed out before its expiry (seconds since the epoch).
    SessionRevoked { session_id: String, expires: i64 },
    /// A personal access token was revoked.
    TokenRevoked { token_id: i64 },
}

/// What happened to a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicEvent {
    Requested,
    Approved,
    Rejected,
    Activated,
    Deactivated,
    Reactivated,
    /// Its name was found taken in Kafka: activation waits for an admin.
    FoundTaken,
    /// An admin let activation adopt the Kafka topic of its name.
    AdoptionAllowed,
    /// Who may read it changed: its level, masks or owners. Open streams of it end, so that
    /// each starts again under the new rules.
    AccessChanged,
}

impl TopicEvent {
    /// The log's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicEvent::Requested => "requested",
            TopicEvent::Approved => "approved",
            TopicEvent::Rejected => "rejected",
            TopicEvent::Activated => "activated",
            TopicEvent::Deactivated => "deactivated",
            TopicEvent::Reactivated => "reactivated",
            TopicEvent::FoundTaken => "found_taken",
            TopicEvent::AdoptionAllowed => "adoption_allowed",
            TopicEvent::AccessChanged => "access_changed",
        }
    }

    /// The event of a log word; `None` for a word this version does not know.
    pub fn parse(word: &str) -> Option<TopicEvent> {
        [
            TopicEvent::Requested,
            TopicEvent::Approved,
            TopicEvent::Rejected,
            TopicEvent::Activated,
            TopicEvent::Deactivated,
            TopicEvent::Reactivated,
            TopicEvent::FoundTaken,
            TopicEvent::AdoptionAllowed,
            TopicEvent::AccessChanged,
        ]
        .into_iter()
        .find(|e| e.as_str() == word)
    }
}

/// Changes read from the log but not yet taken by a slow listener: past it, the listener hears
/// it lagged (and the changes it missed are lost to it).
const LISTENER_BUFFER: usize = 4096;
/// Changes read per query.
const PAGE: i64 = 1000;
/// How often the log is read without a wake-up.
pub(super) const POLL: Duration = Duration::from_secs(1);
/// How long changes are kept: an instance away from the database for longer than this misses
/// the changes in between (it still reads the current state at its next start).
const KEPT_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// How often old changes are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(600);

/// This instance's reading of the log.
pub(super) struct ChangeFeed {
    /// The newest change read from the log and handed to the listeners: this instance's reads
    /// include its effects.
    position: AtomicI64,
    /// Held while reading the log, so that each change goes out once, in order.
    reading: Mutex<()>,
    listeners: broadcast::Sender<Change>,
    /// Rings when the log may have moved (a wake-up from another instance).
    pub(super) wake: Notify,
    /// Topics as subscribe requests last read them, void at each topic change read here.
    pub(super) topics: TopicCache,
}

impl ChangeFeed {
    /// A feed that starts after change `last` (the changes before are in the state read at start).
    pub(super) fn starting_after(last: i64) -> Self {
        Self {
            position: AtomicI64::new(last),
            reading: Mutex::new(()),
            listeners: broadcast::channel(LISTENER_BUFFER).0,
            wake: Notify::new(),
            topics: TopicCache::default(),
        }
    }
}

/// Reads the log from where this instance stopped and hands the changes out. Called after every
/// write of this instance (so that its own changes take effect before it answers) and by the
/// follower.
pub(super) async fn catch_up(db: &Backend, feed: &ChangeFeed) -> Result<(), StoreError> {
    let _reading = feed.reading.lock().await;
    loop {
        let after = feed.position.load(Ordering::Acquire);
        let page = on_db!(db, db => db.changes_after(after, PAGE).await)?;
        let full = page.len() as i64 == PAGE;
        for (id, change) in page {
            // Any change but a subscription's voids the topic cache: the others are rare, and
            // one this version cannot read (a newer instance's, during an upgrade) may be a
            // topic's.
            if !matches!(change, Some(Change::Subscription { .. })) {
                feed.topics.topics_changed();
            }
            if let Some(change) = change {
                let _ = feed.listeners.send(change);
            }
            feed.position.store(id, Ordering::Release);
        }
        if !full {
            return Ok(());
        }
    }
}

/// After a write of this instance: takes its changes in at once. Should the database fail just
/// after the commit, the follower takes them in at its next turn.
pub(super) async fn after_write(db: &Backend, feed: &ChangeFeed) {
    if let Err(e) = catch_up(db, feed).await {
        tracing::debug!(error = %e, "reading the change log after a write failed; the follower will");
    }
}

impl Store {
    /// Changes from now on, in the order they were made, each once: this instance's and every
    /// other's.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.feed.listeners.subscribe()
    }

    /// The newest change whose effects this instance's reads include; it moves with every
    /// change anywhere in the deployment, so a derived answer computed at one position holds
    /// while it stays.
    pub fn position(&self) -> u64 {
        u64::try_from(self.feed.position.load(Ordering::Acquire)).unwrap_or(0)
    }

    /// After a write of this instance: takes its changes in at once (see [`after_write`]).
    pub(super) async fn changed(&self) {
        after_write(&self.db, &self.feed).await;
    }

    /// Reads the log whenever it may have moved, and at least every [`POLL`], until the store
    /// closes; forgets changes older than [`KEPT_FOR`] now and then.
    pub(super) async fn follow_changes(self) {
        let mut failing = false;
        let mut forgotten_at = tokio::time::Instant::now();
        while !self.is_closed() {
            tokio::select! {
                _ = self.feed.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            match catch_up(&self.db, &self.feed).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("reading the change log again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot read the change log; retrying every second");
                }
                Err(_) => {}
            }
            if forgotten_at.elapsed() >= FORGET_EVERY {
                forgotten_at = tokio::time::Instant::now();
                let before = (chrono::Utc::now() - KEPT_FOR)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                match on_db!(&self.db, db => db.forget_changes_before(&before).await) {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(forgotten = n, "old changes forgotten"),
                    Err(e) => tracing::debug!(error = %e, "forgetting old changes failed"),
                }
            }
        }
    }
}

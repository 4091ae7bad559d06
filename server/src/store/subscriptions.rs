//! Subscriptions: which user follows which topic. Subscribing twice is harmless; a subscription
//! names a topic that exists (any status: users may follow a topic before it is active).
//!
//! Subscription changes are the write that arrives in crowds (every viewer clicking), so they go
//! through a group-committing writer: one task takes every change waiting in its queue, applies
//! them in one transaction (each with its audit row) and answers each caller after the commit.
//! One commit then serves many requests instead of one, and nobody waits for a lock. The SQL is
//! in `sql/subscriptions.rs`.

use super::{
    changes::ChangeFeed, on_db, topic_cache::TopicAccess, Actor, Backend, Store, StoreError,
    TopicKey,
};
use app::{
    access::SubscriptionDecision,
    domain::{TopicName, UserId},
    wire::Subscription,
};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// What a subscribe call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription.
    Added,
    /// The user already had it (or had asked for it).
    AlreadySubscribed,
    /// A request, waiting for the topic's owners (a topic at level `approval`).
    Requested,
    /// Nothing written: the topic's level or owners are no longer those the subscription was
    /// decided by ([`Store::subscribe_as_decided`]); decide again on a fresh read.
    TopicChanged,
}

/// Most changes committed together.
const MAX_BATCH: usize = 256;
/// Changes waiting for the writer; callers wait for room past it (backpressure).
const QUEUE: usize = 4096;

/// One queued change.
pub(super) enum Change {
    /// `request`: the owners must approve it first (stored `pending`). `decided_on`: what the
    /// topic's level and owners must still be for it to be written.
    Subscribe {
        request: bool,
        decided_on: Option<TopicAccess>,
    },
    Unsubscribe,
}

impl Change {
    /// Whether it is a request to the topic's owners (which grants nothing yet).
    pub(super) fn is_request(&self) -> bool {
        matches!(self, Change::Subscribe { request: true, .. })
    }

    /// The topic's level and owners it was decided by, if it must check them.
    pub(super) fn decided_on(&self) -> Option<&TopicAccess> {
        match self {
            Change::Subscribe { decided_on, .. } => decided_on.as_ref(),
            Change::Unsubscribe => None,
        }
    }
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applied {
    /// Added (subscribe) or removed (unsubscribe).
    Changed,
    /// There already (subscribe) or not there (unsubscribe).
    Unchanged,
    /// Not written: the topic is no longer as it was decided on.
    TopicChanged,
}

/// What a change did, or `Err` for "no such topic".
pub(super) type ChangeResult = Result<Applied, StoreError>;

type Reply = oneshot::Sender<ChangeResult>;

/// A change waiting for the writer, with whom to answer.
pub(super) struct Pending {
    pub(super) change: Change,
    pub(super) user_id: String,
    pub(super) topic_name: String,
    pub(super) actor: Actor,
    reply: Reply,
}

/// The handle the store keeps; the task behind it owns the writes.
#[derive(Clone)]
pub(super) struct SubscriptionWriter {
    queue: mpsc::Sender<Pending>,
}

impl SubscriptionWriter {
    /// Starts the writer task on the current runtime.
    pub(super) fn start(db: Backend, feed: Arc<ChangeFeed>) -> Self {
        let (queue, incoming) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, feed, incoming));
        Self { queue }
    }

    async fn submit(
        &self,
        change: Change,
        user_id: &str,
        topic_name: &str,
        actor: &Actor,
    ) -> Result<Applied, StoreError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            change,
            user_id: user_id.to_owned(),
            topic_name: topic_name.to_owned(),
            actor: actor.clone(),
            reply,
        };
        let gone = || StoreError::Unavailable("the subscription writer has stopped".into());
        self.queue.send(pending).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(db: Backend, feed: Arc<ChangeFeed>, mut incoming: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while incoming.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match on_db!(&db, db => db.apply_subscriptions(&batch).await) {
            Ok(results) => {
                // The batch's changes take effect before its callers hear it is done.
                if results.iter().any(|r| matches!(r, Ok(Applied::Changed))) {
                    super::changes::after_write(&db, &feed).await;
                }
                for (pending, result) in batch.drain(..).zip(results) {
                    let _ = pending.reply.send(result);
                }
            }
            Err(e) => {
                // The transaction as a whole failed (database unavailable): nothing was
                // written, and every caller hears why.
                let message = match e {
                    StoreError::Unavailable(message) => message,
                    other => other.to_string(),
                };
                for pending in batch.drain(..) {
                    let _ = pending
                        .reply
                        .send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
}

impl Store {
    /// Subscribes `user_id` to `topic_name`.
    pub async fn subscribe(
        &self,
        user_id: &UserId,
        topic_name: &TopicName,
        actor: &Actor,
    ) -> Result<Subscribed, StoreError> {
        self.add_subscription(user_id, topic_name.as_str(), actor, false, None)
            .await
    }

    /// The topic named `name`, for deciding a subscribe request by its level and owners: as
    /// this instance last read it when no topic change has been seen since (`fresh`: from the
    /// database, whatever the cache holds). A decision on it is written with
    /// [`Store::subscribe_as_decided`], which checks it; a refusal should be taken on a fresh
    /// read only (see `topic_cache`).
    pub async fn topic_for_subscribing(
        &self,
        name: &TopicName,
        fresh: bool,
    ) -> Result<Option<(TopicAccess, bool)>, StoreError> {
        let cache = &self.feed.topics;
        if !fresh {
            if let Some(topic) = cache.get(name.as_str()) {
                return Ok(Some((topic, false)));
            }
        }
        let generation = cache.generation();
        let topic = self.topic_uncounted(TopicKey::Name(name.as_str())).await?;
        match topic {
            Some(topic) => {
                let topic = TopicAccess::of(&topic);
                cache.put(generation, &topic);
                Ok(Some((topic, true)))
            }
            None => {
                cache.forget(name.as_str());
                Ok(None)
            }
        }
    }

    /// Subscribes `user_id` to `topic` (`request`: asks its owners), decided by `decided_on`'s
    /// level and owners: [`Subscribed::TopicChanged`], with nothing written, when the topic's
    /// are no longer those.
    pub async fn subscribe_as_decided(
        &self,
        user_id: &UserId,
        decided_on: &TopicAccess,
        actor: &Actor,
        request: bool,
    ) -> Result<Subscribed, StoreError> {
        let outcome = self
            .add_subscription(
                user_id,
                &decided_on.topic_name,
                actor,
                request,
                Some(decided_on.clone()),
            )
            .await?;
        if outcome == Subscribed::TopicChanged {
            self.feed.topics.forget(&decided_on.topic_name);
        }
        Ok(outcome)
    }

    #[tracing::instrument(skip(self, actor, decided_on), fields(user_id = %user_id, topic = %topic_name))]
    async fn add_subscription(
        &self,
        user_id: &UserId,
        topic_name: &str,
        actor: &Actor,
        request: bool,
        decided_on: Option<TopicAccess>,
    ) -> Result<Subscribed, StoreError> {
        self.refuse_while_down()?;
        let user_id = user_id.as_str();
        let change = Change::Subscribe {
            request,
            decided_on,
        };
        let applied = self
            .subscription_writer
            .submit(change, user_id, topic_name, actor)
            .await?;
        Ok(match (applied, request) {
            (Applied::TopicChanged, _) => Subscribed::TopicChanged,
            (Applied::Unchanged, _) => Subscribed::AlreadySubscribed,
            (Applied::Changed, false) => {
                tracing::info!(user_id, topic = topic_name, "subscribed");
                Subscribed::Added
            }
            (Applied::Changed, true) => {
                tracing::info!(user_id, topic = topic_name, "subscription requested");
                Subscribed::Requested
            }
        })
    }

    /// The owners' decision on a subscription: approving a request makes it active (and its
    /// streams may start), rejecting one forgets it, revoking an active one removes it (and
    /// ends its streams and searches on every instance, through the change log). `false` when
    /// there was no such request (or, for a revocation, no such subscription).
    pub async fn decide_subscription(
        &self,
        user_id: &UserId,
        topic_name: &TopicName,
        decision: SubscriptionDecision,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let now = crate::now_rfc3339();
        let (user_id, topic_name) = (user_id.as_str(), topic_name.as_str());
        let decided = on_db!(&self.db, db => db
            .decide_subscription(user_id, topic_name, decision, actor, &now)
            .await)?;
        if decided {
            self.changed().await;
            let decision = decision.action();
            tracing::info!(
                user_id,
                topic = topic_name,
                decision,
                "subscription decided"
            );
        }
        Ok(decided)
    }

    /// Removes the subscription; `false` when there was none.
    #[tracing::instrument(skip(self, actor), fields(user_id = %user_id, topic = %topic_name))]
    pub async fn unsubscribe(
        &self,
        user_id: &UserId,
        topic_name: &TopicName,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        self.refuse_while_down()?;
        let (user_id, topic_name) = (user_id.as_str(), topic_name.as_str());
        let removed = self
            .subscription_writer
            .submit(Change::Unsubscribe, user_id, topic_name, actor)
            .await?
            == Applied::Changed;
        if removed {
            tracing::info!(user_id, topic = topic_name, "unsubscribed");
        }
        Ok(removed)
    }

    /// Subscriptions, of one user or of everyone, ordered by user then topic.
    pub async fn subscriptions(
        &self,
        user_id: Option<&str>,
    ) -> Result<Vec<Subscription>, StoreError> {
        // A negative limit: no limit.
        self.subscriptions_page(user_id, None, -1).await
    }

    /// The first `limit` subscribers of topic `topic_id` by user id, requests waiting for its
    /// owners among them: what its owners see of who reads it.
    pub async fn subscribers(
        &self,
        topic_id: i64,
        limit: i64,
    ) -> Result<Vec<Subscription>, StoreError> {
        on_db!(&self.db, db => db.subscribers(topic_id, limit).await)
    }

    /// Subscription requests waiting for their topics' owners, oldest first (at most `limit`),
    /// each with its topic's owners.
    pub async fn pending_subscriptions(
        &self,
        limit: i64,
    ) -> Result<Vec<(Subscription, crate::access::Ownership)>, StoreError> {
        on_db!(&self.db, db => db.pending_subscriptions(limit).await)
    }

    /// At most `limit` subscriptions (of `user_id`, if given) in the order of the whole list,
    /// from just after `after` (a user id and topic name, the last of the previous page).
    pub async fn subscriptions_page(
        &self,
        user_id: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<Subscription>, StoreError> {
        on_db!(&self.db, db => db.subscriptions_page(user_id, after, limit).await)
    }
}

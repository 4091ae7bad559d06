//! Subscriptions: which user follows which topic. Subscribing twice is harmless; a subscription
//! names a topic that exists (any status: users may follow a topic before it is active).
//!
//! Subscription changes are the write that arrives in crowds (every viewer clicking), so they go
//! through a group-committing writer: one task takes every change waiting in its queue, applies
//! them in one transaction (each with its audit row) and answers each caller after the commit.
//! One commit then serves many requests instead of one, and nobody waits for a lock. The SQL is
//! in `sql/subscriptions.rs`.

use super::{changes::ChangeFeed, on_db, Actor, Backend, Store, StoreError};
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
}

/// Most changes committed together.
const MAX_BATCH: usize = 256;
/// Changes waiting for the writer; callers wait for room past it (backpressure).
const QUEUE: usize = 4096;

/// One queued change.
pub(super) enum Change {
    /// `request`: the owners must approve it first (stored `pending`).
    Subscribe {
        request: bool,
    },
    Unsubscribe,
}

/// What a change did: for subscribe, `true` = added; for unsubscribe, `true` = removed.
pub(super) type ChangeResult = Result<bool, StoreError>;

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
    ) -> Result<bool, StoreError> {
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
                if results.iter().any(|r| matches!(r, Ok(true))) {
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
        self.add_subscription(user_id, topic_name, actor, false)
            .await
    }

    /// Asks for `user_id`'s subscription to `topic_name`, which its owners approve or reject
    /// ([`Store::decide_subscription`]); until then it grants nothing.
    pub async fn request_subscription(
        &self,
        user_id: &UserId,
        topic_name: &TopicName,
        actor: &Actor,
    ) -> Result<Subscribed, StoreError> {
        self.add_subscription(user_id, topic_name, actor, true)
            .await
    }

    #[tracing::instrument(skip(self, actor), fields(user_id = %user_id, topic = %topic_name))]
    async fn add_subscription(
        &self,
        user_id: &UserId,
        topic_name: &TopicName,
        actor: &Actor,
        request: bool,
    ) -> Result<Subscribed, StoreError> {
        let (user_id, topic_name) = (user_id.as_str(), topic_name.as_str());
        let added = self
            .subscription_writer
            .submit(Change::Subscribe { request }, user_id, topic_name, actor)
            .await?;
        Ok(match (added, request) {
            (false, _) => Subscribed::AlreadySubscribed,
            (true, false) => {
                tracing::info!(user_id, topic = topic_name, "subscribed");
                Subscribed::Added
            }
            (true, true) => {
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
        let (user_id, topic_name) = (user_id.as_str(), topic_name.as_str());
        let removed = self
            .subscription_writer
            .submit(Change::Unsubscribe, user_id, topic_name, actor)
            .await?;
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

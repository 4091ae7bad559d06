//! Who may stream or search what on this socket: an active topic, which the socket's user
//! subscribes to, or any active topic for an admin. Reads the store; starts nothing.

use super::{Connection, Refusal};
use crate::store::TopicKey;
use app::{
    domain::TopicName,
    wire::{Subscription, Topic, TopicStatus},
};

impl Connection {
    /// The topic `name` when it is active; else why not (`topic_not_active`,
    /// `topic_not_found`, `database_unavailable`). Streams and searches both start only on an
    /// active topic.
    /// A private topic the socket's reader may not see is `topic_not_found`, as one that does
    /// not exist.
    pub(super) async fn active_topic(&self, name: &TopicName) -> Result<Topic, Refusal> {
        let topic = self
            .store
            .topic_uncounted(TopicKey::Name(name.as_str()))
            .await?;
        match topic.filter(|t| self.viewer.sees_topic(t)) {
            Some(t) if t.status == TopicStatus::Active => Ok(t),
            Some(t) => Err(Refusal::TopicNotActive(format!(
                "topic {name} is {}",
                t.status
            ))),
            None => Err(Refusal::TopicNotFound(name.to_string())),
        }
    }

    /// Whether this socket may stream `name`: its user subscribes to it (`subscribed`, as the
    /// caller read it), or it is an admin's. `Ok(true)` when it streams it by subscription (a
    /// REST unsubscribe then ends the stream).
    pub(super) fn may_stream(&self, name: &TopicName, subscribed: bool) -> Result<bool, Refusal> {
        if self.admin || subscribed {
            return Ok(subscribed);
        }
        Err(match &self.user_id {
            None => Refusal::NoUserToStream,
            Some(user) => Refusal::NotSubscribed {
                user: user.clone(),
                topic: name.to_string(),
            },
        })
    }

    /// Whether this socket may search `name`: as for streaming.
    pub(super) async fn may_search(&self, name: &TopicName) -> Result<(), Refusal> {
        if self.admin || self.user_subscribes(name.as_str()).await {
            Ok(())
        } else {
            Err(Refusal::NotSubscribedToSearch(name.to_string()))
        }
    }

    /// The topics the socket's user (if it named one) subscribes to (requests waiting for the
    /// owners grant nothing); none when the store does
    /// not answer (each topic is then checked on its own).
    pub(super) async fn subscribed_topics(&self) -> std::collections::HashSet<String> {
        let Some(user) = &self.user_id else {
            return Default::default();
        };
        self.store
            .subscriptions(Some(user))
            .await
            .map(|subs| {
                subs.into_iter()
                    .filter(Subscription::is_active)
                    .map(|s| s.topic_name)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the socket's user (if it named one) subscribes to `topic`.
    pub(super) async fn user_subscribes(&self, topic: &str) -> bool {
        let Some(user) = &self.user_id else {
            return false;
        };
        self.store
            .subscriptions(Some(user))
            .await
            .map(|subs| subs.iter().any(|s| s.topic_name == topic && s.is_active()))
            .unwrap_or(false)
    }
}

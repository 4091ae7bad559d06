//! Subscriptions: which user follows which topic. Subscribing twice is harmless; a subscription
//! names a topic that exists (any status: users may follow a topic before it is active).

use super::{audit, Actor, Store, StoreError};
use crate::now_rfc3339;
use app::wire::{Subscription, TopicStatus};

/// What a subscribe call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription.
    Added,
    /// The user already had it.
    AlreadySubscribed,
}

impl Store {
    /// Subscribes `user_id` to `topic_name`.
    #[tracing::instrument(skip(self, actor))]
    pub async fn subscribe(
        &self,
        user_id: &str,
        topic_name: &str,
        actor: &Actor,
    ) -> Result<Subscribed, StoreError> {
        let now = now_rfc3339();
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO user_subscriptions (user_id, topic_id, status, subscribed_at) \
             SELECT ?1, topic_id, 'active', ?2 FROM topics WHERE topic_name = ?3 \
             ON CONFLICT (user_id, topic_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(&now)
        .bind(topic_name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT topic_id FROM topics WHERE topic_name = ?1")
                    .bind(topic_name)
                    .fetch_optional(&mut *tx)
                    .await?;
            return match exists {
                None => Err(StoreError::TopicNotFound(topic_name.to_owned())),
                Some(_) => Ok(Subscribed::AlreadySubscribed),
            };
        }
        audit::insert(
            &mut tx,
            &now,
            actor,
            "subscribe",
            Some(topic_name),
            "ok",
            Some(&format!("user_id={user_id}")),
        )
        .await?;
        tx.commit().await?;
        self.changed();
        Ok(Subscribed::Added)
    }

    /// Removes the subscription; `false` when there was none.
    #[tracing::instrument(skip(self, actor))]
    pub async fn unsubscribe(
        &self,
        user_id: &str,
        topic_name: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let removed = sqlx::query(
            "DELETE FROM user_subscriptions WHERE user_id = ?1 \
             AND topic_id = (SELECT topic_id FROM topics WHERE topic_name = ?2)",
        )
        .bind(user_id)
        .bind(topic_name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        audit::insert(
            &mut tx,
            &now_rfc3339(),
            actor,
            "unsubscribe",
            Some(topic_name),
            "ok",
            Some(&format!("user_id={user_id}")),
        )
        .await?;
        tx.commit().await?;
        self.changed();
        Ok(true)
    }

    /// Subscriptions, of one user or of everyone, ordered by user then topic.
    pub async fn subscriptions(
        &self,
        user_id: Option<&str>,
    ) -> Result<Vec<Subscription>, StoreError> {
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT s.user_id, t.topic_name, s.status, s.subscribed_at, t.status \
             FROM user_subscriptions s JOIN topics t ON t.topic_id = s.topic_id \
             WHERE (?1 IS NULL OR s.user_id = ?1) ORDER BY s.user_id, t.topic_name",
        )
        .bind(user_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(user_id, topic_name, status, subscribed_at, topic_status)| Subscription {
                    user_id,
                    topic_name,
                    status,
                    subscribed_at,
                    topic_status: TopicStatus::parse(&topic_status).unwrap_or(TopicStatus::Pending),
                },
            )
            .collect())
    }
}

//! Subscriptions: which user follows which topic. Subscribing twice is harmless; a subscription
//! names a topic that exists (any status: users may follow a topic before it is active).
//!
//! Subscription changes are the write that arrives in crowds (every viewer clicking), so they go
//! through a group-committing writer: one task takes every change waiting in its queue, applies
//! them in one transaction (each with its audit row) and answers each caller after the commit.
//! One commit then serves many requests instead of one, and nobody waits for a lock.

use super::{audit, Actor, AuditOutcome, Store, StoreError};
use crate::now_rfc3339;
use app::{
    domain::{TopicName, UserId},
    wire::{Subscription, TopicStatus},
};
use sqlx::{SqliteConnection, SqlitePool};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};
use tokio::sync::{mpsc, oneshot};

/// What a subscribe call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription.
    Added,
    /// The user already had it.
    AlreadySubscribed,
}

/// Most changes committed together.
const MAX_BATCH: usize = 256;
/// Changes waiting for the writer; callers wait for room past it (backpressure).
const QUEUE: usize = 4096;

enum Change {
    Subscribe,
    Unsubscribe,
}

/// What a change did: for subscribe, `true` = added; for unsubscribe, `true` = removed.
type Reply = oneshot::Sender<Result<bool, StoreError>>;

struct Pending {
    change: Change,
    user_id: String,
    topic_name: String,
    actor: Actor,
    reply: Reply,
}

/// The handle the store keeps; the task behind it owns the writes.
#[derive(Clone)]
pub(super) struct SubscriptionWriter {
    queue: mpsc::Sender<Pending>,
}

impl SubscriptionWriter {
    /// Starts the writer task on the current runtime.
    pub(super) fn start(writer: SqlitePool, generation: Arc<AtomicU64>) -> Self {
        let (queue, incoming) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, generation, incoming));
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

async fn run(
    writer: SqlitePool,
    generation: Arc<AtomicU64>,
    mut incoming: mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while incoming.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match apply(&writer, &batch).await {
            Ok(results) => {
                if results.iter().any(|r| matches!(r, Ok(true))) {
                    generation.fetch_add(1, Ordering::AcqRel);
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

/// Applies a batch in one transaction; per change, `Err` only for "no such topic". Runs of
/// consecutive subscribes are applied with a few multi-row statements (the common crowd), each
/// unsubscribe on its own; the order of changes is kept.
async fn apply(
    writer: &SqlitePool,
    batch: &[Pending],
) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
    let mut conn = super::WriterConn::acquire(writer).await?;
    let result = apply_in(conn.conn(), batch).await;
    conn.finish(result)
}

async fn apply_in(
    conn: &mut sqlx::SqliteConnection,
    batch: &[Pending],
) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
    use sqlx::Connection;
    let now = now_rfc3339();
    let mut tx = conn.begin().await?;
    let mut results = Vec::with_capacity(batch.len());
    let mut rest = batch;
    while let Some(first) = rest.first() {
        match first.change {
            Change::Subscribe => {
                let run = rest
                    .iter()
                    .take_while(|p| matches!(p.change, Change::Subscribe))
                    .count();
                results.extend(subscribe_run(&mut tx, &now, &rest[..run]).await?);
                rest = &rest[run..];
            }
            Change::Unsubscribe => {
                results.push(unsubscribe_one(&mut tx, &now, first).await?);
                rest = &rest[1..];
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// Subscribes a run of changes with three statements: resolve the topic names, insert the pairs
/// (`RETURNING` tells which were new), audit the new ones.
async fn subscribe_run(
    conn: &mut SqliteConnection,
    now: &str,
    run: &[Pending],
) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
    let mut names: Vec<&str> = run.iter().map(|p| p.topic_name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut lookup =
        sqlx::QueryBuilder::new("SELECT topic_name, topic_id FROM topics WHERE topic_name IN (");
    let mut listed = lookup.separated(", ");
    for name in &names {
        listed.push_bind(*name);
    }
    listed.push_unseparated(")");
    let ids: HashMap<String, i64> = lookup
        .build_query_as::<(String, i64)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();

    let known: Vec<(&Pending, i64)> = run
        .iter()
        .filter_map(|p| ids.get(&p.topic_name).map(|id| (p, *id)))
        .collect();
    let mut inserted: HashSet<(String, i64)> = HashSet::new();
    if !known.is_empty() {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO user_subscriptions (user_id, topic_id, status, subscribed_at) ",
        );
        insert.push_values(&known, |mut values, (p, id)| {
            values
                .push_bind(&p.user_id)
                .push_bind(*id)
                .push("'active'")
                .push_bind(now);
        });
        insert.push(" ON CONFLICT (user_id, topic_id) DO NOTHING RETURNING user_id, topic_id");
        inserted = insert
            .build_query_as::<(String, i64)>()
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    }

    // The first change of each new pair added it; a repeat in the same run found it there.
    let mut results = Vec::with_capacity(run.len());
    let mut added = Vec::new();
    for p in run {
        results.push(match ids.get(&p.topic_name) {
            None => Err(StoreError::TopicNotFound(p.topic_name.clone())),
            Some(id) => {
                let new = inserted.remove(&(p.user_id.clone(), *id));
                if new {
                    added.push(p);
                }
                Ok(new)
            }
        });
    }
    audit::insert_many(
        conn,
        now,
        added.iter().map(|p| audit::Row {
            actor: &p.actor,
            action: "subscribe",
            topic_name: Some(&p.topic_name),
            outcome: AuditOutcome::Ok,
            detail: Some(format!("user_id={}", p.user_id)),
        }),
    )
    .await?;
    Ok(results)
}

async fn unsubscribe_one(
    conn: &mut SqliteConnection,
    now: &str,
    p: &Pending,
) -> Result<Result<bool, StoreError>, StoreError> {
    let removed = sqlx::query(
        "DELETE FROM user_subscriptions WHERE user_id = $1 \
         AND topic_id = (SELECT topic_id FROM topics WHERE topic_name = $2)",
    )
    .bind(&p.user_id)
    .bind(&p.topic_name)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if removed > 0 {
        let row = audit::Row {
            actor: &p.actor,
            action: "unsubscribe",
            topic_name: Some(&p.topic_name),
            outcome: AuditOutcome::Ok,
            detail: Some(format!("user_id={}", p.user_id)),
        };
        audit::insert(conn, now, row).await?;
    }
    Ok(Ok(removed > 0))
}

impl Store {
    /// Subscribes `user_id` to `topic_name`.
    #[tracing::instrument(skip(self, actor), fields(user_id = %user_id, topic = %topic_name))]
    pub async fn subscribe(
        &self,
        user_id: &UserId,
        topic_name: &TopicName,
        actor: &Actor,
    ) -> Result<Subscribed, StoreError> {
        let (user_id, topic_name) = (user_id.as_str(), topic_name.as_str());
        let added = self
            .subscription_writer
            .submit(Change::Subscribe, user_id, topic_name, actor)
            .await?;
        if added {
            tracing::info!(user_id, topic = topic_name, "subscribed");
        }
        Ok(if added {
            Subscribed::Added
        } else {
            Subscribed::AlreadySubscribed
        })
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

    /// At most `limit` subscriptions (of `user_id`, if given) in the order of the whole list,
    /// from just after `after` (a user id and topic name, the last of the previous page).
    pub async fn subscriptions_page(
        &self,
        user_id: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<Subscription>, StoreError> {
        // Only the conditions asked for, so that SQLite starts at `after` in its index of user
        // ids instead of reading and sorting every subscription for every page.
        let mut query = sqlx::QueryBuilder::new(
            "SELECT s.user_id, t.topic_name, s.status, s.subscribed_at, t.status \
             FROM user_subscriptions s JOIN topics t ON t.topic_id = s.topic_id WHERE 1 = 1",
        );
        if let Some(user_id) = user_id {
            query.push(" AND s.user_id = ").push_bind(user_id);
        }
        if let Some((after_user, after_topic)) = after {
            query
                .push(" AND s.user_id >= ")
                .push_bind(after_user)
                .push(" AND (s.user_id > ")
                .push_bind(after_user)
                .push(" OR t.topic_name > ")
                .push_bind(after_topic)
                .push(")");
        }
        query.push(" ORDER BY s.user_id, t.topic_name");
        if limit >= 0 {
            query.push(" LIMIT ").push_bind(limit);
        }
        let rows: Vec<(String, String, String, String, String)> =
            query.build_query_as().fetch_all(&self.reader).await?;
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

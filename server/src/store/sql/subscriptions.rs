//! The SQL of subscriptions (see `store::subscriptions`).

use super::{audit, changes, Connection, Pools};
use crate::{
    access::Ownership,
    now_rfc3339,
    store::{
        subscriptions::{Applied, Change, ChangeResult, Pending},
        topic_cache::TopicAccess,
        AuditOutcome, Change as StoreChange, StoreError,
    },
};
use app::{
    access::SubscriptionDecision,
    wire::{Subscription, TopicStatus},
};
use sqlx::Connection as _;
use std::collections::{HashMap, HashSet};

impl Pools {
    /// Applies a batch of queued changes in one transaction; per change, `Err` only for "no such
    /// topic". Runs of consecutive subscribes are applied with a few multi-row statements (the
    /// common crowd), each unsubscribe on its own; the order of changes is kept.
    pub(in crate::store) async fn apply_subscriptions(
        &self,
        batch: &[Pending],
    ) -> Result<Vec<ChangeResult>, StoreError> {
        self.write(async |conn| apply_in(conn, batch).await).await
    }

    /// See `Store::subscriptions_page`.
    pub(in crate::store) async fn subscriptions_page(
        &self,
        user_id: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<Subscription>, StoreError> {
        // Only the conditions asked for, so that the database starts at `after` in its index of user
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
        let rows: Vec<SubscriptionRow> = query.build_query_as().fetch_all(&self.reader).await?;
        Ok(rows.into_iter().map(subscription).collect())
    }
}

async fn apply_in(
    conn: &mut Connection,
    batch: &[Pending],
) -> Result<Vec<ChangeResult>, StoreError> {
    let now = now_rfc3339();
    let mut tx = conn.begin().await?;
    let mut results = Vec::with_capacity(batch.len());
    let mut rest = batch;
    while let Some(first) = rest.first() {
        match first.change {
            Change::Subscribe { .. } => {
                let run = rest
                    .iter()
                    .take_while(|p| matches!(p.change, Change::Subscribe { .. }))
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
    // A request grants nothing until the owners approve it: nothing to announce yet.
    let changes: Vec<StoreChange> = batch
        .iter()
        .zip(&results)
        .filter(|(p, result)| matches!(result, Ok(Applied::Changed)) && !p.change.is_request())
        .map(|(p, _)| StoreChange::Subscription {
            user_id: p.user_id.clone(),
            topic: p.topic_name.clone(),
            added: matches!(p.change, Change::Subscribe { .. }),
        })
        .collect();
    changes::append(&mut tx, &now, &changes).await?;
    tx.commit().await?;
    Ok(results)
}

/// Subscribes a run of changes with three statements: resolve the topic names, insert the pairs
/// (`RETURNING` tells which were new), audit the new ones. A change decided on a topic's level
/// and owners that are no longer its own is not written ([`Applied::TopicChanged`]).
async fn subscribe_run(
    conn: &mut Connection,
    now: &str,
    run: &[Pending],
) -> Result<Vec<ChangeResult>, StoreError> {
    let mut names: Vec<&str> = run.iter().map(|p| p.topic_name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut lookup = sqlx::QueryBuilder::new(
        "SELECT topic_name, topic_id, access, owner_team, owner_user FROM topics \
         WHERE topic_name IN (",
    );
    let mut listed = lookup.separated(", ");
    for name in &names {
        listed.push_bind(*name);
    }
    listed.push_unseparated(")");
    let topics: HashMap<String, (i64, Option<TopicAccess>)> = lookup
        .build_query_as::<(String, i64, String, Option<String>, Option<String>)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(name, id, access, team, user)| {
            // A level this version does not know matches no decision.
            let now = app::access::AccessLevel::parse(&access).map(|access| TopicAccess {
                topic_name: name.clone(),
                access,
                owner: Ownership { team, user },
            });
            (name, (id, now))
        })
        .collect();
    // Per change: the topic's id to write it with, or why it is not written.
    let verdict = |p: &Pending| match topics.get(&p.topic_name) {
        None => Verdict::NoSuchTopic,
        Some((_, now))
            if p.change
                .decided_on()
                .is_some_and(|d| Some(d) != now.as_ref()) =>
        {
            Verdict::TopicChanged
        }
        Some((id, _)) => Verdict::Write(*id),
    };

    let mut known: Vec<(&Pending, i64)> = run
        .iter()
        .filter_map(|p| match verdict(p) {
            Verdict::Write(id) => Some((p, id)),
            _ => None,
        })
        .collect();
    // Rows in one order whichever instance inserts them: two batches taking the same pairs'
    // locks in opposite orders would deadlock (PostgreSQL).
    known.sort_by(|(a, a_id), (b, b_id)| (&a.user_id, a_id).cmp(&(&b.user_id, b_id)));
    let mut inserted: HashSet<(String, i64)> = HashSet::new();
    if !known.is_empty() {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO user_subscriptions (user_id, topic_id, status, subscribed_at) ",
        );
        insert.push_values(&known, |mut values, (p, id)| {
            let status = match p.change {
                Change::Subscribe { request: true, .. } => "pending",
                _ => "active",
            };
            values
                .push_bind(&p.user_id)
                .push_bind(*id)
                .push_bind(status)
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
        results.push(match verdict(p) {
            Verdict::NoSuchTopic => Err(StoreError::TopicNotFound(p.topic_name.clone())),
            Verdict::TopicChanged => Ok(Applied::TopicChanged),
            Verdict::Write(id) => {
                let new = inserted.remove(&(p.user_id.clone(), id));
                if new {
                    added.push(p);
                }
                Ok(if new {
                    Applied::Changed
                } else {
                    Applied::Unchanged
                })
            }
        });
    }
    audit::insert_many(
        conn,
        now,
        added.iter().map(|p| audit::Row {
            actor: &p.actor,
            action: match p.change {
                Change::Subscribe { request: true, .. } => "request_subscription",
                _ => "subscribe",
            },
            topic_name: Some(&p.topic_name),
            outcome: AuditOutcome::Ok,
            detail: Some(format!("user_id={}", p.user_id)),
        }),
    )
    .await?;
    Ok(results)
}

/// What becomes of one subscribe change of a run.
enum Verdict {
    /// Written for the topic of this id.
    Write(i64),
    NoSuchTopic,
    /// Decided on a level or owners the topic no longer has.
    TopicChanged,
}

async fn unsubscribe_one(
    conn: &mut Connection,
    now: &str,
    p: &Pending,
) -> Result<ChangeResult, StoreError> {
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
    Ok(Ok(if removed > 0 {
        Applied::Changed
    } else {
        Applied::Unchanged
    }))
}

impl Pools {
    /// See `Store::subscribers`.
    pub(in crate::store) async fn subscribers(
        &self,
        topic_id: i64,
        limit: i64,
    ) -> Result<Vec<Subscription>, StoreError> {
        let rows: Vec<SubscriptionRow> = sqlx::query_as(
            "SELECT s.user_id, t.topic_name, s.status, s.subscribed_at, t.status \
             FROM user_subscriptions s JOIN topics t ON t.topic_id = s.topic_id \
             WHERE s.topic_id = $1 ORDER BY s.user_id LIMIT $2",
        )
        .bind(topic_id)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(subscription).collect())
    }

    /// See `Store::pending_subscriptions`.
    pub(in crate::store) async fn pending_subscriptions(
        &self,
        limit: i64,
    ) -> Result<Vec<(Subscription, crate::access::Ownership)>, StoreError> {
        type Row = (
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT s.user_id, t.topic_name, s.status, s.subscribed_at, t.status, \
             t.owner_team, t.owner_user \
             FROM user_subscriptions s JOIN topics t ON t.topic_id = s.topic_id \
             WHERE s.status = 'pending' ORDER BY s.subscribed_at, s.subscription_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(user_id, topic_name, status, subscribed_at, topic_status, team, user)| {
                    let subscription = Subscription {
                        user_id,
                        topic_name,
                        status,
                        subscribed_at,
                        topic_status: TopicStatus::parse(&topic_status)
                            .unwrap_or(TopicStatus::Pending),
                    };
                    (subscription, crate::access::Ownership { team, user })
                },
            )
            .collect())
    }

    /// See `Store::decide_subscription`: the row's change, its audit row and its announcement
    /// in one transaction.
    pub(in crate::store) async fn decide_subscription(
        &self,
        user_id: &str,
        topic_name: &str,
        decision: SubscriptionDecision,
        actor: &crate::store::Actor,
        now: &str,
    ) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            const OF_PAIR: &str = "user_id = $1 \
                 AND topic_id = (SELECT topic_id FROM topics WHERE topic_name = $2)";
            let sql = match decision {
                SubscriptionDecision::Approve => format!(
                    "UPDATE user_subscriptions SET status = 'active', decided_by = $3, \
                     decided_at = $4 WHERE {OF_PAIR} AND status = 'pending'"
                ),
                SubscriptionDecision::Reject => {
                    format!("DELETE FROM user_subscriptions WHERE {OF_PAIR} AND status = 'pending'")
                }
                SubscriptionDecision::Revoke => {
                    format!("DELETE FROM user_subscriptions WHERE {OF_PAIR} AND status = 'active'")
                }
            };
            let query = sqlx::query(&sql);
            let mut query = query.bind(user_id).bind(topic_name);
            if decision == SubscriptionDecision::Approve {
                query = query.bind(&actor.name).bind(now);
            }
            let changed = query.execute(&mut *tx).await?.rows_affected() > 0;
            if changed {
                let row = audit::Row {
                    actor,
                    action: decision.action(),
                    topic_name: Some(topic_name),
                    outcome: AuditOutcome::Ok,
                    detail: Some(format!("user_id={user_id}")),
                };
                audit::insert(&mut tx, now, row).await?;
                // Rejecting a request changes nothing anyone reads.
                if decision != SubscriptionDecision::Reject {
                    let change = StoreChange::Subscription {
                        user_id: user_id.to_owned(),
                        topic: topic_name.to_owned(),
                        added: decision == SubscriptionDecision::Approve,
                    };
                    changes::append(&mut tx, now, &[change]).await?;
                }
            }
            tx.commit().await?;
            Ok(changed)
        })
        .await
    }
}

/// A subscription as its queries select it: user, topic name, its status, when, the topic's
/// status.
type SubscriptionRow = (String, String, String, String, String);

/// The subscription a [`SubscriptionRow`] holds.
fn subscription(
    (user_id, topic_name, status, subscribed_at, topic_status): SubscriptionRow,
) -> Subscription {
    Subscription {
        user_id,
        topic_name,
        status,
        subscribed_at,
        topic_status: TopicStatus::parse(&topic_status).unwrap_or(TopicStatus::Pending),
    }
}

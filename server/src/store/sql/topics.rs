//! The SQL of topics and their lifecycle (see `store::topics`).

use super::{audit, changes, dialect, Connection, Db, Pools};
use crate::store::{
    AccessChange, Actor, AuditOutcome, Change, KafkaClaim, NewTopic, StoreError, TopicEvent,
    TopicKey, TopicPage, Transition,
};
use app::{
    access::{AccessLevel, MaskRule},
    domain::EventType,
    wire::{ActiveTopic, Stats, Topic, TopicStatus},
};
use sqlx::{Connection as _, FromRow};

/// A `topics` row joined with its subscriber count.
#[derive(FromRow)]
struct TopicRow {
    topic_id: i64,
    topic_name: String,
    status: String,
    partitions: i32,
    replication_factor: i32,
    description: String,
    event_type: Option<String>,
    created_by: String,
    created_at: String,
    approved_at: Option<String>,
    activated_at: Option<String>,
    rejected_at: Option<String>,
    rejected_reason: Option<String>,
    deactivated_at: Option<String>,
    updated_at: String,
    subscriber_count: i64,
    kafka_claim: Option<String>,
    owner_team: Option<String>,
    owner_user: Option<String>,
    access: String,
    masks: String,
    value_schema_format: Option<String>,
    value_schema_id: Option<i64>,
}

impl TryFrom<TopicRow> for Topic {
    type Error = StoreError;
    fn try_from(row: TopicRow) -> Result<Topic, StoreError> {
        let status = TopicStatus::parse(&row.status).ok_or_else(|| {
            StoreError::Other(format!("unknown status {:?} in topics", row.status))
        })?;
        Ok(Topic {
            topic_id: row.topic_id,
            topic_name: row.topic_name,
            status,
            partitions: row.partitions,
            replication_factor: row.replication_factor,
            description: row.description,
            event_type: row.event_type,
            created_by: row.created_by,
            created_at: row.created_at,
            approved_at: row.approved_at,
            activated_at: row.activated_at,
            rejected_at: row.rejected_at,
            rejected_reason: row.rejected_reason,
            deactivated_at: row.deactivated_at,
            updated_at: row.updated_at,
            subscriber_count: row.subscriber_count,
            kafka_conflict: row.kafka_claim.as_deref() == Some(KafkaClaim::Foreign.as_str()),
            owner_team: row.owner_team,
            owner_user: row.owner_user,
            access: access_level(&row.access)?,
            masks: serde_json::from_str(&row.masks).map_err(|e| {
                StoreError::Other(format!("unreadable masks {:?} in topics: {e}", row.masks))
            })?,
            value_schema_format: row.value_schema_format,
            value_schema_id: row.value_schema_id,
        })
    }
}

/// A topic's columns, then its subscriber count (`SELECT_TOPIC`) or 0 in its place
/// (`SELECT_TOPIC_UNCOUNTED`).
macro_rules! select_topic {
    ($subscriber_count:literal) => {
        concat!(
            "SELECT t.topic_id, t.topic_name, t.status, t.partitions, \
             t.replication_factor, t.description, t.event_type, t.created_by, t.created_at, \
             t.approved_at, t.activated_at, t.rejected_at, t.rejected_reason, t.deactivated_at, \
             t.updated_at, t.kafka_claim, t.owner_team, t.owner_user, t.access, t.masks, \
             t.value_schema_format, t.value_schema_id, ",
            $subscriber_count,
            " AS subscriber_count FROM topics t"
        )
    };
}
const SELECT_TOPIC: &str = select_topic!(
    "(SELECT COUNT(*) FROM user_subscriptions s \
     WHERE s.topic_id = t.topic_id AND s.status = 'active')"
);
/// Without counting subscribers: an index look-up where the count reads every subscription of
/// the topic.
const SELECT_TOPIC_UNCOUNTED: &str = select_topic!("CAST(0 AS BIGINT)");

/// A stored access level word, read back.
fn access_level(word: &str) -> Result<AccessLevel, StoreError> {
    AccessLevel::parse(word)
        .ok_or_else(|| StoreError::Other(format!("unknown access level {word:?} in topics")))
}

impl Pools {
    /// See `Store::claim_for_activation`. One conditional UPDATE, so that of two instances
    /// activating the same topic at once only one finds it unclaimed.
    pub(in crate::store) async fn claim_for_activation(
        &self,
        topic_id: i64,
    ) -> Result<KafkaClaim, StoreError> {
        self.write(async |conn| {
            let claimed = sqlx::query(
                "UPDATE topics SET kafka_claim = 'pending' \
                 WHERE topic_id = $1 AND kafka_claim IS NULL",
            )
            .bind(topic_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if claimed > 0 {
                return Ok(KafkaClaim::Unclaimed);
            }
            let word: Option<Option<String>> =
                sqlx::query_scalar("SELECT kafka_claim FROM topics WHERE topic_id = $1")
                    .bind(topic_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            Ok(KafkaClaim::parse(word.flatten().as_deref()))
        })
        .await
    }

    /// See `Store::mark_foreign_in_kafka`.
    pub(in crate::store) async fn mark_foreign_in_kafka(
        &self,
        topic_id: i64,
    ) -> Result<(), StoreError> {
        // Only over this attempt's own `pending` mark, of a topic still waiting for activation.
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            let marked: Option<String> = sqlx::query_scalar(
                "UPDATE topics SET kafka_claim = 'foreign' \
                 WHERE topic_id = $1 AND status = 'approved' AND kafka_claim = 'pending' \
                 RETURNING topic_name",
            )
            .bind(topic_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(topic) = marked {
                let change = topic_change(topic, TopicEvent::FoundTaken);
                changes::append(&mut tx, &crate::now_rfc3339(), &[change]).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// See `Store::allow_adoption`.
    pub(in crate::store) async fn allow_adoption(
        &self,
        topic_id: i64,
        actor: &Actor,
        now: &str,
    ) -> Result<(), StoreError> {
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            let name: Option<String> = sqlx::query_scalar(
                "UPDATE topics SET kafka_claim = 'adopt', updated_at = $2 \
                 WHERE topic_id = $1 AND status = 'approved' AND kafka_claim = 'foreign' \
                 RETURNING topic_name",
            )
            .bind(topic_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(name) = name else {
                return Err(StoreError::NothingToAdopt(format!("#{topic_id}")));
            };
            let row = audit::Row {
                actor,
                action: "adopt",
                topic_name: Some(&name),
                outcome: AuditOutcome::Ok,
                detail: Some("the existing Kafka topic of this name is to be used".into()),
            };
            audit::insert(&mut tx, now, row).await?;
            changes::append(
                &mut tx,
                now,
                &[topic_change(name, TopicEvent::AdoptionAllowed)],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// See `Store::create_topic`.
    pub(in crate::store) async fn create_topic(
        &self,
        new: &NewTopic,
        actor: &Actor,
        now: &str,
    ) -> Result<i64, StoreError> {
        self.write(async |conn| create_in(conn, new, actor, now).await)
            .await
    }

    /// See `Store::list_topics_page`.
    pub(in crate::store) async fn list_topics_page(
        &self,
        page: &TopicPage<'_>,
    ) -> Result<Vec<Topic>, StoreError> {
        // Only the conditions asked for, so that the database walks the ids down from `before`
        // instead of testing every row.
        let mut query = sqlx::QueryBuilder::<Db>::new(SELECT_TOPIC);
        query.push(" WHERE 1 = 1");
        if let Some(status) = page.status {
            query.push(" AND t.status = ").push_bind(status.as_str());
        }
        if let Some(before) = page.before {
            query.push(" AND t.topic_id < ").push_bind(before);
        }
        if let Some(search) = page.search {
            let (find, byte_wise) = (dialect::FIND_TEXT, dialect::BYTE_WISE);
            query
                .push(format!(" AND ({find}(lower(t.topic_name), lower("))
                .push_bind(search)
                .push(format!(
                    "{byte_wise})) > 0 OR {find}(lower(t.created_by), lower("
                ))
                .push_bind(search)
                .push(format!("{byte_wise})) > 0)"));
        }
        query.push(" ORDER BY t.topic_id DESC");
        if page.limit >= 0 {
            query.push(" LIMIT ").push_bind(page.limit);
        }
        let rows: Vec<TopicRow> = query.build_query_as().fetch_all(&self.reader).await?;
        rows.into_iter().map(Topic::try_from).collect()
    }

    /// See `Store::topic` (`counted`) and `Store::topic_uncounted`.
    pub(in crate::store) async fn value_schema(
        &self,
        topic_id: i64,
    ) -> Result<Option<app::wire::ValueSchema>, StoreError> {
        let sql = "SELECT value_schema_format, value_schema FROM topics WHERE topic_id = $1";
        let row = sqlx::query_as(sql)
            .bind(topic_id)
            .fetch_optional(&self.reader);
        Ok(match row.await? {
            Some((Some(format), Some(schema))) => Some(app::wire::ValueSchema { format, schema }),
            _ => None,
        })
    }

    pub(in crate::store) async fn topic(
        &self,
        key: TopicKey<'_>,
        counted: bool,
    ) -> Result<Option<Topic>, StoreError> {
        let select = if counted {
            SELECT_TOPIC
        } else {
            SELECT_TOPIC_UNCOUNTED
        };
        let row: Option<TopicRow> = match key {
            TopicKey::Id(id) => {
                sqlx::query_as(&format!("{select} WHERE t.topic_id = $1"))
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await?
            }
            TopicKey::Name(name) => {
                sqlx::query_as(&format!("{select} WHERE t.topic_name = $1"))
                    .bind(name)
                    .fetch_optional(&self.reader)
                    .await?
            }
        };
        row.map(Topic::try_from).transpose()
    }

    /// See `Store::active_topics`.
    pub(in crate::store) async fn active_topics(&self) -> Result<Vec<ActiveTopic>, StoreError> {
        #[derive(FromRow)]
        struct ActiveRow {
            topic_name: String,
            activated_at: Option<String>,
            partitions: i32,
            event_type: Option<String>,
            access: String,
            owner_team: Option<String>,
            owner_user: Option<String>,
        }
        let rows: Vec<ActiveRow> = sqlx::query_as(
            "SELECT topic_name, activated_at, partitions, event_type, access, owner_team, \
             owner_user FROM topics WHERE status = 'active' ORDER BY activated_at, topic_id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ActiveTopic {
                    access: access_level(&row.access)?,
                    topic_name: row.topic_name,
                    activated_at: row.activated_at,
                    partitions: row.partitions,
                    event_type: row.event_type,
                    owner_team: row.owner_team,
                    owner_user: row.owner_user,
                })
            })
            .collect()
    }

    /// See `Store::transition`; the topic's name when it moved.
    pub(in crate::store) async fn transition(
        &self,
        key: TopicKey<'_>,
        transition: &Transition,
        actor: &Actor,
        now: &str,
    ) -> Result<String, StoreError> {
        self.write(async |conn| transition_in(conn, key, transition, actor, now).await)
            .await
    }

    /// See `Store::stats`.
    pub(in crate::store) async fn stats(&self) -> Result<Stats, StoreError> {
        let (total, pending, approved, active, rejected, inactive, subscriptions): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(
            "SELECT COUNT(*), \
             COUNT(*) FILTER (WHERE status = 'pending'), \
             COUNT(*) FILTER (WHERE status = 'approved'), \
             COUNT(*) FILTER (WHERE status = 'active'), \
             COUNT(*) FILTER (WHERE status = 'rejected'), \
             COUNT(*) FILTER (WHERE status = 'inactive'), \
             (SELECT COUNT(*) FROM user_subscriptions WHERE status = 'active') FROM topics",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(Stats {
            total_topics: total,
            pending_topics: pending,
            approved_topics: approved,
            active_topics: active,
            rejected_topics: rejected,
            inactive_topics: inactive,
            total_subscriptions: subscriptions,
            timestamp: crate::now_rfc3339(),
        })
    }
}

/// The request's insert and its audit row, in one transaction.
async fn create_in(
    conn: &mut Connection,
    new: &NewTopic,
    actor: &Actor,
    now: &str,
) -> Result<i64, StoreError> {
    let mut tx = conn.begin().await?;
    // Two instances checking two colliding names at once would each find the other's absent.
    if let Some(lock) = dialect::LOCK_TOPIC_NAME {
        sqlx::query(lock)
            .bind(new.name.as_str())
            .execute(&mut *tx)
            .await?;
    }
    let colliding: Option<String> = sqlx::query_scalar(
        "SELECT topic_name FROM topics \
         WHERE replace(topic_name, '.', '_') = replace($1, '.', '_') AND topic_name <> $1 \
           AND status <> 'rejected' LIMIT 1",
    )
    .bind(new.name.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(existing) = colliding {
        return Err(StoreError::CollidingTopic {
            name: new.name.to_string(),
            existing,
        });
    }
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO topics (topic_name, status, partitions, replication_factor, description, \
         event_type, created_by, created_at, updated_at, owner_team, owner_user, access, masks, \
         value_schema_format, value_schema) \
         VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (topic_name) DO NOTHING RETURNING topic_id",
    )
    .bind(new.name.as_str())
    .bind(new.partitions)
    .bind(new.replication_factor)
    .bind(&new.description)
    .bind(new.event_type.map(EventType::as_str))
    .bind(new.created_by.as_str())
    .bind(now)
    .bind(new.owner.team.as_deref())
    .bind(new.owner.user.as_deref())
    .bind(new.access.as_str())
    .bind(masks_json(&new.masks))
    .bind(new.value_schema.as_ref().map(|s| s.format.as_str()))
    .bind(new.value_schema.as_ref().map(|s| s.schema.as_str()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(topic_id) = inserted else {
        return Err(StoreError::DuplicateTopic(new.name.to_string()));
    };
    let row = audit::Row {
        actor,
        action: "request",
        topic_name: Some(new.name.as_str()),
        outcome: AuditOutcome::Ok,
        detail: Some(format!(
            "partitions={} replication_factor={} access={} owner={}",
            new.partitions, new.replication_factor, new.access, new.owner
        )),
    };
    audit::insert(&mut tx, now, row).await?;
    let change = topic_change(new.name.to_string(), TopicEvent::Requested);
    changes::append(&mut tx, now, &[change]).await?;
    tx.commit().await?;
    Ok(topic_id)
}

/// A query with `key` bound as what its column holds: an id as an integer (SQLite would
/// compare it with text too; PostgreSQL compares no integer with text).
fn bind_key<'q, O>(
    query: sqlx::query::QueryAs<'q, Db, O, <Db as sqlx::Database>::Arguments<'q>>,
    key: TopicKey<'q>,
) -> sqlx::query::QueryAs<'q, Db, O, <Db as sqlx::Database>::Arguments<'q>> {
    match key {
        TopicKey::Id(id) => query.bind(id),
        TopicKey::Name(name) => query.bind(name),
    }
}

/// The guarded UPDATE and its audit row, in one transaction; the topic's name when it moved.
async fn transition_in(
    conn: &mut Connection,
    key: TopicKey<'_>,
    transition: &Transition,
    actor: &Actor,
    now: &str,
) -> Result<String, StoreError> {
    // `$3`: a rejection's reason, or the value schema's id an approval registered.
    let reason = match transition {
        Transition::Reject { reason } => Some(reason.clone()),
        Transition::Approve { value_schema_id } => value_schema_id.map(|id| id.to_string()),
        _ => None,
    };
    let column = match key {
        TopicKey::Id(_) => "topic_id",
        TopicKey::Name(_) => "topic_name",
    };
    let mut tx = conn.begin().await?;
    // The UPDATE comes first so that this transaction holds the write lock from its start.
    let update = format!(
        "UPDATE topics SET status = $4, updated_at = $1, {} \
         WHERE {column} = $5 AND status = $6 RETURNING topic_name",
        set_clause(transition)
    );
    let updated = sqlx::query_as(&update)
        .bind(now)
        .bind(&actor.name)
        .bind(reason.as_deref())
        .bind(transition.to().as_str());
    let updated: Option<(String,)> = bind_key(updated, key)
        .bind(transition.from().as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let updated = updated.map(|(name,)| name);
    let Some(topic_name) = updated else {
        let sql = format!("SELECT topic_name, status FROM topics WHERE {column} = $1");
        let current: Option<(String, String)> = bind_key(sqlx::query_as(&sql), key)
            .fetch_optional(&mut *tx)
            .await?;
        drop(tx);
        return Err(match current {
            None => StoreError::TopicNotFound(key.to_string()),
            Some((topic, status)) => StoreError::IllegalTransition {
                topic,
                current: TopicStatus::parse(&status).unwrap_or(TopicStatus::Pending),
                attempted: transition.past_tense(),
            },
        });
    };
    let row = audit::Row {
        actor,
        action: transition.action(),
        topic_name: Some(&topic_name),
        outcome: AuditOutcome::Ok,
        detail: match transition {
            Transition::Approve {
                value_schema_id: Some(id),
            } => Some(format!(
                "value schema registered as {topic_name}-value, id {id}"
            )),
            _ => reason,
        },
    };
    audit::insert(&mut tx, now, row).await?;
    let change = topic_change(topic_name.clone(), transition.event());
    changes::append(&mut tx, now, &[change]).await?;
    tx.commit().await?;
    Ok(topic_name)
}

/// A transition's `SET` clause beyond `status` and `updated_at` (`$1` is now, `$2` the actor, `$3` the
/// reason).
fn set_clause(transition: &Transition) -> &'static str {
    match transition {
        Transition::Approve { .. } => {
            "approved_at = $1, approved_by = $2, value_schema_id = CAST($3 AS BIGINT)"
        }
        Transition::Reject { .. } => "rejected_at = $1, rejected_reason = $3",
        Transition::Activate | Transition::Reactivate => {
            "activated_at = $1, deactivated_at = NULL, kafka_claim = 'created'"
        }
        Transition::Deactivate => "deactivated_at = $1",
    }
}

fn topic_change(topic: String, event: TopicEvent) -> Change {
    Change::Topic { topic, event }
}

/// A topic's masks as stored: their JSON list.
fn masks_json(masks: &[MaskRule]) -> String {
    // A list of plain structs always serialises.
    serde_json::to_string(masks).unwrap_or_else(|_| "[]".to_owned())
}

impl Pools {
    /// See `Store::change_access`: the row, its audit row and the announcement in one
    /// transaction; `false` when there is no such topic.
    pub(in crate::store) async fn change_access(
        &self,
        id: i64,
        change: &AccessChange,
        action: &str,
        actor: &Actor,
        now: &str,
    ) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            let mut update = sqlx::QueryBuilder::<Db>::new("UPDATE topics SET updated_at = ");
            update.push_bind(now);
            if let Some(access) = change.access {
                update.push(", access = ").push_bind(access.as_str());
            }
            if let Some(masks) = &change.masks {
                update.push(", masks = ").push_bind(masks_json(masks));
            }
            if let Some(owner) = &change.owner {
                update
                    .push(", owner_team = ")
                    .push_bind(owner.team.as_deref())
                    .push(", owner_user = ")
                    .push_bind(owner.user.as_deref());
            }
            update
                .push(" WHERE topic_id = ")
                .push_bind(id)
                .push(" RETURNING topic_name");
            let name: Option<String> = update.build_query_scalar().fetch_optional(&mut *tx).await?;
            let Some(name) = name else {
                return Ok(false);
            };
            let row = audit::Row {
                actor,
                action,
                topic_name: Some(&name),
                outcome: AuditOutcome::Ok,
                detail: Some(change.describe()),
            };
            audit::insert(&mut tx, now, row).await?;
            let change = topic_change(name, TopicEvent::AccessChanged);
            changes::append(&mut tx, now, &[change]).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }
}

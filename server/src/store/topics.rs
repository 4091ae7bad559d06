//! Topics and their lifecycle: `pending → approved → active`, `pending → rejected`,
//! `active ⇄ inactive`. Each transition is one `UPDATE … WHERE status IN (legal sources)`, so two
//! racing requests cannot both win: the loser sees zero rows and gets the current status back.

use super::{audit, Actor, AuditOutcome, Store, StoreError, WriterConn};
use crate::now_rfc3339;
use app::{
    domain::{EventType, TopicName, UserId},
    wire::{ActiveTopic, Stats, Topic, TopicStatus},
};
use sqlx::{Connection, FromRow, SqliteConnection};

/// A validated topic request, ready to insert.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: TopicName,
    pub created_by: UserId,
    pub partitions: i32,
    pub replication_factor: i32,
    pub description: String,
    /// The generator the producer uses; `None` guesses from the name.
    pub event_type: Option<EventType>,
}

/// A lifecycle step.
#[derive(Debug, Clone)]
pub enum Transition {
    /// `pending → approved` (admin).
    Approve,
    /// `pending → rejected` with a reason (admin).
    Reject { reason: String },
    /// `approved → active`, once the Kafka topic exists (producer).
    Activate,
    /// `active → inactive`: producer and relay stop; Kafka data kept (admin).
    Deactivate,
    /// `inactive → active` (admin).
    Reactivate,
}

impl Transition {
    /// The audit action word and the verb for "cannot be …" messages.
    pub fn action(&self) -> &'static str {
        match self {
            Transition::Approve => "approve",
            Transition::Reject { .. } => "reject",
            Transition::Activate => "activate",
            Transition::Deactivate => "deactivate",
            Transition::Reactivate => "reactivate",
        }
    }

    fn past_tense(&self) -> &'static str {
        match self {
            Transition::Approve => "approved",
            Transition::Reject { .. } => "rejected",
            Transition::Activate => "activated",
            Transition::Deactivate => "deactivated",
            Transition::Reactivate => "reactivated",
        }
    }

    /// The one legal source status of each transition.
    pub fn from(&self) -> TopicStatus {
        match self {
            Transition::Approve | Transition::Reject { .. } => TopicStatus::Pending,
            Transition::Activate => TopicStatus::Approved,
            Transition::Deactivate => TopicStatus::Active,
            Transition::Reactivate => TopicStatus::Inactive,
        }
    }

    /// Where it leads.
    pub fn to(&self) -> TopicStatus {
        match self {
            Transition::Approve => TopicStatus::Approved,
            Transition::Reject { .. } => TopicStatus::Rejected,
            Transition::Activate | Transition::Reactivate => TopicStatus::Active,
            Transition::Deactivate => TopicStatus::Inactive,
        }
    }

    /// The `SET` clause beyond `status` and `updated_at` (`$1` is now, `$2` the actor, `$3` the
    /// reason).
    fn set_clause(&self) -> &'static str {
        match self {
            Transition::Approve => "approved_at = $1, approved_by = $2",
            Transition::Reject { .. } => "rejected_at = $1, rejected_reason = $3",
            Transition::Activate | Transition::Reactivate => {
                "activated_at = $1, deactivated_at = NULL, kafka_claim = 'created'"
            }
            Transition::Deactivate => "deactivated_at = $1",
        }
    }
}

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
        })
    }
}

const SELECT_TOPIC: &str = "SELECT t.topic_id, t.topic_name, t.status, t.partitions, \
     t.replication_factor, t.description, t.event_type, t.created_by, t.created_at, \
     t.approved_at, t.activated_at, t.rejected_at, t.rejected_reason, t.deactivated_at, \
     t.updated_at, t.kafka_claim, \
     (SELECT COUNT(*) FROM user_subscriptions s WHERE s.topic_id = t.topic_id) AS subscriber_count \
     FROM topics t";

/// Which topic a call is about.
#[derive(Debug, Clone, Copy)]
pub enum TopicKey<'a> {
    Id(i64),
    Name(&'a str),
}

impl std::fmt::Display for TopicKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopicKey::Id(id) => write!(f, "#{id}"),
            TopicKey::Name(name) => f.write_str(name),
        }
    }
}

/// Whose the Kafka topic of a row's name is, as activation knows it (the `kafka_claim` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaClaim {
    /// Activation has not tried to create it yet.
    Unclaimed,
    /// An activation started creating it (and may have).
    Pending,
    /// StreamHub made it, or adopted it with an admin's leave.
    Created,
    /// It was in Kafka before StreamHub tried: activation waits for an admin.
    Foreign,
    /// An admin allowed adopting the existing topic.
    Adopt,
}

impl KafkaClaim {
    fn parse(word: Option<&str>) -> KafkaClaim {
        match word {
            Some("pending") => KafkaClaim::Pending,
            Some("created") => KafkaClaim::Created,
            Some("foreign") => KafkaClaim::Foreign,
            Some("adopt") => KafkaClaim::Adopt,
            _ => KafkaClaim::Unclaimed,
        }
    }

    /// The column's word (`NULL` for [`KafkaClaim::Unclaimed`]).
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaClaim::Unclaimed => "",
            KafkaClaim::Pending => "pending",
            KafkaClaim::Created => "created",
            KafkaClaim::Foreign => "foreign",
            KafkaClaim::Adopt => "adopt",
        }
    }
}

/// Which page of the topic list to read.
#[derive(Debug, Clone, Copy)]
pub struct TopicPage<'a> {
    /// Only topics with this status.
    pub status: Option<TopicStatus>,
    /// Only topics whose name or requester contains this text (ASCII case ignored).
    pub search: Option<&'a str>,
    /// Only topics with smaller ids: the last id of the previous page.
    pub before: Option<i64>,
    /// At most this many (negative: all).
    pub limit: i64,
}

impl Store {
    /// The topic's claim before this activation attempt; an unclaimed one is marked `pending`
    /// first, so that a later attempt knows an earlier one may have created the Kafka topic.
    pub async fn claim_for_activation(&self, topic_id: i64) -> Result<KafkaClaim, StoreError> {
        let mut writer = WriterConn::acquire(&self.writer).await?;
        let result = async {
            let word: Option<Option<String>> =
                sqlx::query_scalar("SELECT kafka_claim FROM topics WHERE topic_id = $1")
                    .bind(topic_id)
                    .fetch_optional(&mut *writer.conn())
                    .await?;
            let claim = KafkaClaim::parse(word.flatten().as_deref());
            if claim == KafkaClaim::Unclaimed {
                sqlx::query("UPDATE topics SET kafka_claim = 'pending' WHERE topic_id = $1")
                    .bind(topic_id)
                    .execute(writer.conn())
                    .await?;
            }
            Ok(claim)
        }
        .await;
        writer.finish(result)
    }

    /// Marks the topic's name as taken in Kafka by someone else: activation waits for an admin.
    pub async fn mark_foreign_in_kafka(&self, topic_id: i64) -> Result<(), StoreError> {
        let mut writer = WriterConn::acquire(&self.writer).await?;
        // Only over this attempt's own `pending` mark, of a topic still waiting for activation.
        let result = sqlx::query(
            "UPDATE topics SET kafka_claim = 'foreign' \
             WHERE topic_id = $1 AND status = 'approved' AND kafka_claim = 'pending'",
        )
        .bind(topic_id)
        .execute(writer.conn())
        .await
        .map(drop)
        .map_err(StoreError::from);
        let result = writer.finish(result);
        if result.is_ok() {
            self.changed();
        }
        result
    }

    /// An admin lets activation adopt the existing Kafka topic of an approved topic's name;
    /// audited (`adopt`). Refused unless the topic is approved and its name was found taken.
    pub async fn allow_adoption(&self, topic_id: i64, actor: &Actor) -> Result<(), StoreError> {
        let now = now_rfc3339();
        let mut writer = WriterConn::acquire(&self.writer).await?;
        let result = async {
            let mut tx = writer.conn().begin().await?;
            let name: Option<String> = sqlx::query_scalar(
                "UPDATE topics SET kafka_claim = 'adopt', updated_at = $2 \
                 WHERE topic_id = $1 AND status = 'approved' AND kafka_claim = 'foreign' \
                 RETURNING topic_name",
            )
            .bind(topic_id)
            .bind(&now)
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
            audit::insert(&mut tx, &now, row).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        writer.finish(result)?;
        self.changed();
        Ok(())
    }
}

impl Store {
    /// Records a topic request as `pending` and returns its id.
    #[tracing::instrument(skip(self, new), fields(topic = %new.name))]
    pub async fn create_topic(&self, new: &NewTopic, actor: &Actor) -> Result<i64, StoreError> {
        let now = now_rfc3339();
        let mut writer = WriterConn::acquire(&self.writer).await?;
        let result = create_in(writer.conn(), new, actor, &now).await;
        let topic_id = writer.finish(result)?;
        self.changed();
        tracing::info!(topic_id, created_by = %new.created_by, "topic requested");
        Ok(topic_id)
    }

    /// All topics, newest first, optionally only those with `status`.
    pub async fn list_topics(&self, status: Option<TopicStatus>) -> Result<Vec<Topic>, StoreError> {
        // A negative limit: no limit.
        self.list_topics_page(&TopicPage {
            status,
            search: None,
            before: None,
            limit: -1,
        })
        .await
    }

    /// One page of the topic list, newest first, for callers that cannot take it whole.
    pub async fn list_topics_page(&self, page: &TopicPage<'_>) -> Result<Vec<Topic>, StoreError> {
        // Only the conditions asked for, so that SQLite walks the ids down from `before`
        // instead of testing every row.
        let mut query = sqlx::QueryBuilder::new(SELECT_TOPIC);
        query.push(" WHERE 1 = 1");
        if let Some(status) = page.status {
            query.push(" AND t.status = ").push_bind(status.as_str());
        }
        if let Some(before) = page.before {
            query.push(" AND t.topic_id < ").push_bind(before);
        }
        if let Some(search) = page.search {
            query
                .push(" AND (instr(lower(t.topic_name), lower(")
                .push_bind(search)
                .push(")) > 0 OR instr(lower(t.created_by), lower(")
                .push_bind(search)
                .push(")) > 0)");
        }
        query.push(" ORDER BY t.topic_id DESC");
        if page.limit >= 0 {
            query.push(" LIMIT ").push_bind(page.limit);
        }
        let rows: Vec<TopicRow> = query.build_query_as().fetch_all(&self.reader).await?;
        rows.into_iter().map(Topic::try_from).collect()
    }

    /// One topic by id or name.
    pub async fn topic(&self, key: TopicKey<'_>) -> Result<Option<Topic>, StoreError> {
        let row: Option<TopicRow> = match key {
            TopicKey::Id(id) => {
                sqlx::query_as(&format!("{SELECT_TOPIC} WHERE t.topic_id = $1"))
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await?
            }
            TopicKey::Name(name) => {
                sqlx::query_as(&format!("{SELECT_TOPIC} WHERE t.topic_name = $1"))
                    .bind(name)
                    .fetch_optional(&self.reader)
                    .await?
            }
        };
        row.map(Topic::try_from).transpose()
    }

    /// Active topics for the producer and the relay, oldest activation first.
    pub async fn active_topics(&self) -> Result<Vec<ActiveTopic>, StoreError> {
        let rows: Vec<(String, Option<String>, i32, Option<String>)> = sqlx::query_as(
            "SELECT topic_name, activated_at, partitions, event_type FROM topics \
             WHERE status = 'active' ORDER BY activated_at, topic_id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(topic_name, activated_at, partitions, event_type)| ActiveTopic {
                    topic_name,
                    activated_at,
                    partitions,
                    event_type,
                },
            )
            .collect())
    }

    /// Applies `transition` to the topic if its current status allows it, recording it in the
    /// audit log in the same transaction; returns the updated topic.
    #[tracing::instrument(skip(self, actor), fields(action = transition.action()))]
    pub async fn transition(
        &self,
        key: TopicKey<'_>,
        transition: &Transition,
        actor: &Actor,
    ) -> Result<Topic, StoreError> {
        let now = now_rfc3339();
        let reason = match transition {
            Transition::Reject { reason } => Some(reason.as_str()),
            _ => None,
        };
        let mut writer = WriterConn::acquire(&self.writer).await?;
        let result = transition_in(writer.conn(), key, transition, actor, &now, reason).await;
        let topic_name = writer.finish(result)?;
        self.changed();
        tracing::info!(
            topic = %topic_name,
            from = %transition.from(),
            to = %transition.to(),
            actor = %actor.name,
            "topic transition"
        );
        let topic = self.topic(TopicKey::Name(&topic_name)).await?;
        topic.ok_or(StoreError::TopicNotFound(topic_name))
    }

    /// The counters of `GET /api/stats`, from one consistent read.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
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
             (SELECT COUNT(*) FROM user_subscriptions) FROM topics",
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
            timestamp: now_rfc3339(),
        })
    }
}

/// The request's insert and its audit row, in one transaction.
async fn create_in(
    conn: &mut SqliteConnection,
    new: &NewTopic,
    actor: &Actor,
    now: &str,
) -> Result<i64, StoreError> {
    let mut tx = conn.begin().await?;
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
         event_type, created_by, created_at, updated_at) \
         VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (topic_name) DO NOTHING RETURNING topic_id",
    )
    .bind(new.name.as_str())
    .bind(new.partitions)
    .bind(new.replication_factor)
    .bind(&new.description)
    .bind(new.event_type.map(EventType::as_str))
    .bind(new.created_by.as_str())
    .bind(now)
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
            "partitions={} replication_factor={}",
            new.partitions, new.replication_factor
        )),
    };
    audit::insert(&mut tx, now, row).await?;
    tx.commit().await?;
    Ok(topic_id)
}

/// A query with `key` bound as what its column holds: an id as an integer (SQLite would
/// compare it with text too; PostgreSQL compares no integer with text).
fn bind_key<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'q>>,
    key: TopicKey<'q>,
) -> sqlx::query::QueryAs<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'q>> {
    match key {
        TopicKey::Id(id) => query.bind(id),
        TopicKey::Name(name) => query.bind(name),
    }
}

/// The guarded UPDATE and its audit row, in one transaction; the topic's name when it moved.
async fn transition_in(
    conn: &mut SqliteConnection,
    key: TopicKey<'_>,
    transition: &Transition,
    actor: &Actor,
    now: &str,
    reason: Option<&str>,
) -> Result<String, StoreError> {
    let column = match key {
        TopicKey::Id(_) => "topic_id",
        TopicKey::Name(_) => "topic_name",
    };
    let mut tx = conn.begin().await?;
    // The UPDATE comes first so that this transaction holds the write lock from its start.
    let update = format!(
        "UPDATE topics SET status = $4, updated_at = $1, {} \
         WHERE {column} = $5 AND status = $6 RETURNING topic_name",
        transition.set_clause()
    );
    let updated = sqlx::query_as(&update)
        .bind(now)
        .bind(&actor.name)
        .bind(reason)
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
        detail: reason.map(str::to_owned),
    };
    audit::insert(&mut tx, now, row).await?;
    tx.commit().await?;
    Ok(topic_name)
}

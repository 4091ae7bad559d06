//! Topics and their lifecycle: `pending → approved → active`, `pending → rejected`,
//! `active ⇄ inactive`. Each transition is one `UPDATE … WHERE status IN (legal sources)`, so two
//! racing requests — on one instance or on several — cannot both win: the loser sees zero rows
//! and gets the current status back. The SQL is in `sql/topics.rs`.

use super::{on_db, Actor, Store, StoreError, TopicEvent};
use crate::access::Ownership;
use crate::now_rfc3339;
use app::{
    access::{AccessLevel, MaskRule},
    domain::{EventType, TopicName, UserId},
    wire::{ActiveTopic, Stats, Topic, TopicStatus},
};

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
    /// Who owns it.
    pub owner: Ownership,
    /// Who may read it.
    pub access: AccessLevel,
    /// Fields masked for readers outside its owners (checked).
    pub masks: Vec<MaskRule>,
    /// The schema of its record values (checked), registered when it is approved.
    pub value_schema: Option<app::wire::ValueSchema>,
}

/// A lifecycle step.
#[derive(Debug, Clone)]
pub enum Transition {
    /// `pending → approved` (admin), with the registry's id for its value schema once
    /// approval registered it.
    Approve { value_schema_id: Option<i64> },
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
            Transition::Approve { .. } => "approve",
            Transition::Reject { .. } => "reject",
            Transition::Activate => "activate",
            Transition::Deactivate => "deactivate",
            Transition::Reactivate => "reactivate",
        }
    }

    /// The word for "cannot be …" messages.
    pub(super) fn past_tense(&self) -> &'static str {
        match self {
            Transition::Approve { .. } => "approved",
            Transition::Reject { .. } => "rejected",
            Transition::Activate => "activated",
            Transition::Deactivate => "deactivated",
            Transition::Reactivate => "reactivated",
        }
    }

    /// What the change log says of it.
    pub(super) fn event(&self) -> TopicEvent {
        match self {
            Transition::Approve { .. } => TopicEvent::Approved,
            Transition::Reject { .. } => TopicEvent::Rejected,
            Transition::Activate => TopicEvent::Activated,
            Transition::Deactivate => TopicEvent::Deactivated,
            Transition::Reactivate => TopicEvent::Reactivated,
        }
    }

    /// The one legal source status of each transition.
    pub fn from(&self) -> TopicStatus {
        match self {
            Transition::Approve { .. } | Transition::Reject { .. } => TopicStatus::Pending,
            Transition::Activate => TopicStatus::Approved,
            Transition::Deactivate => TopicStatus::Active,
            Transition::Reactivate => TopicStatus::Inactive,
        }
    }

    /// Where it leads.
    pub fn to(&self) -> TopicStatus {
        match self {
            Transition::Approve { .. } => TopicStatus::Approved,
            Transition::Reject { .. } => TopicStatus::Rejected,
            Transition::Activate | Transition::Reactivate => TopicStatus::Active,
            Transition::Deactivate => TopicStatus::Inactive,
        }
    }
}

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
    /// The column's value read back.
    pub(super) fn parse(word: Option<&str>) -> KafkaClaim {
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
        on_db!(&self.db, db => db.claim_for_activation(topic_id).await)
    }

    /// Marks the topic's name as taken in Kafka by someone else: activation waits for an admin.
    pub async fn mark_foreign_in_kafka(&self, topic_id: i64) -> Result<(), StoreError> {
        on_db!(&self.db, db => db.mark_foreign_in_kafka(topic_id).await)?;
        self.changed().await;
        Ok(())
    }

    /// An admin lets activation adopt the existing Kafka topic of an approved topic's name;
    /// audited (`adopt`). Refused unless the topic is approved and its name was found taken.
    pub async fn allow_adoption(&self, topic_id: i64, actor: &Actor) -> Result<(), StoreError> {
        let now = now_rfc3339();
        on_db!(&self.db, db => db.allow_adoption(topic_id, actor, &now).await)?;
        self.changed().await;
        Ok(())
    }

    /// Records a topic request as `pending` and returns its id.
    #[tracing::instrument(skip(self, new), fields(topic = %new.name))]
    pub async fn create_topic(&self, new: &NewTopic, actor: &Actor) -> Result<i64, StoreError> {
        let now = now_rfc3339();
        let topic_id = on_db!(&self.db, db => db.create_topic(new, actor, &now).await)?;
        self.changed().await;
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
        on_db!(&self.db, db => db.list_topics_page(page).await)
    }

    /// One topic by id or name.
    pub async fn topic(&self, key: TopicKey<'_>) -> Result<Option<Topic>, StoreError> {
        on_db!(&self.db, db => db.topic(key, true).await)
    }

    /// [`Store::topic`] without counting its subscribers (its `subscriber_count` is 0): the
    /// look-up of every subscribe request and relay stream, which decide by its status, level
    /// and owners, and where the count would cost more than the rest of the read.
    pub async fn topic_uncounted(&self, key: TopicKey<'_>) -> Result<Option<Topic>, StoreError> {
        on_db!(&self.db, db => db.topic(key, false).await)
    }

    /// The value schema a topic's request carried, if it carried one.
    pub async fn value_schema(
        &self,
        topic_id: i64,
    ) -> Result<Option<app::wire::ValueSchema>, StoreError> {
        on_db!(&self.db, db => db.value_schema(topic_id).await)
    }

    /// Active topics for the producer and the relay, oldest activation first.
    pub async fn active_topics(&self) -> Result<Vec<ActiveTopic>, StoreError> {
        on_db!(&self.db, db => db.active_topics().await)
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
        let topic_name = on_db!(&self.db, db => db.transition(key, transition, actor, &now).await)?;
        self.changed().await;
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
        on_db!(&self.db, db => db.stats().await)
    }
}

/// A change of who may read a topic; each part left `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct AccessChange {
    /// Its new level.
    pub access: Option<AccessLevel>,
    /// Its new masks (checked).
    pub masks: Option<Vec<MaskRule>>,
    /// Its new owners.
    pub owner: Option<Ownership>,
}

impl AccessChange {
    /// What changes, as the audit log's detail says it.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(access) = self.access {
            parts.push(format!("access={access}"));
        }
        if let Some(masks) = &self.masks {
            let paths: Vec<String> = masks
                .iter()
                .map(|m| format!("{}:{}", m.path, m.method.as_str()))
                .collect();
            parts.push(format!("masks=[{}]", paths.join(",")));
        }
        if let Some(owner) = &self.owner {
            parts.push(format!("owner={owner}"));
        }
        parts.join(" ")
    }
}

impl Store {
    /// Changes who may read topic `id` (`action` names it in the audit log: `change_access`,
    /// `move_owner`, `claim`), audited and announced to every instance (their open streams of
    /// it end, to start again under the new rules). `Ok(None)` when there is no such topic;
    /// the topic as it now is otherwise.
    pub async fn change_access(
        &self,
        id: i64,
        change: &AccessChange,
        action: &str,
        actor: &Actor,
    ) -> Result<Option<Topic>, StoreError> {
        let now = now_rfc3339();
        let changed =
            on_db!(&self.db, db => db.change_access(id, change, action, actor, &now).await)?;
        if !changed {
            return Ok(None);
        }
        self.changed().await;
        self.topic(super::TopicKey::Id(id)).await
    }
}

//! A topic's lifecycle as the deployment's rules have it: approval and rejection (with
//! four-eyes), activation by the producer (the topic made in Kafka before the row says
//! `active`, one activation of a topic at a time, a name found taken in Kafka held for an
//! admin), deactivation and reactivation, adoption. Every move, and every refusal, is audited:
//! a success by the store in the same transaction as the change, a refusal here, once per
//! change.
//!
//! Owns the rules; not the HTTP answers (`http::topics` parses, calls and answers), nor the
//! SQL (`store`), nor the Kafka calls (`kafka::KafkaAdmin`).

use crate::{
    health::HealthMonitor,
    kafka::{KafkaAdmin, KafkaError, TopicEnsured},
    relay::Relay,
    schema::RegisterError,
    store::{
        Actor, AuditFilter, AuditOutcome, KafkaClaim, NewAuditEntry, Store, StoreError, TopicKey,
        Transition,
    },
};
use app::{
    domain::TopicName,
    wire::{Topic, TopicStatus},
};
use std::{collections::HashMap, sync::Arc};

/// Why a lifecycle move was refused or failed. `http::error` maps each to its answer.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The topic's status does not allow the move.
    #[error("topic {} is {}; it cannot be {attempted}", topic.topic_name, topic.status)]
    Illegal {
        topic: Box<Topic>,
        attempted: &'static str,
    },
    /// Activation found the name taken in Kafka by a topic StreamHub did not create.
    #[error(
        "a topic named {} already exists in Kafka and StreamHub did not create it; an admin \
         may adopt it (POST /api/topics/{}/adopt), or the requester asks for another name",
        topic.topic_name, topic.topic_id
    )]
    ExistsInKafka { topic: Box<Topic> },
    /// Four-eyes approval: the admin deciding requested the topic.
    #[error(
        "four-eyes approval: you requested this topic, so another admin must approve or reject it"
    )]
    FourEyes,
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Kafka refused or failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The schema registry did not take the topic's value schema, so the topic was not
    /// approved.
    #[error("the value schema was not registered: {0}")]
    SchemaNotRegistered(RegisterError),
}

impl LifecycleError {
    /// Whether the caller's request was at fault (audited as `rejected`), rather than a part
    /// of the deployment (audited as `failed`).
    pub fn is_refusal(&self) -> bool {
        match self {
            LifecycleError::Illegal { .. }
            | LifecycleError::ExistsInKafka { .. }
            | LifecycleError::FourEyes => true,
            LifecycleError::Store(e) => {
                !matches!(e, StoreError::Unavailable(_) | StoreError::Other(_))
            }
            LifecycleError::Kafka(e) => matches!(
                e,
                KafkaError::ShapeMismatch { .. } | KafkaError::GroupActive(_)
            ),
            LifecycleError::SchemaNotRegistered(e) => matches!(e, RegisterError::Refused(_)),
        }
    }
}

/// Per topic, the lock one activation at a time holds (made on first use; one per topic id
/// ever activated in this process).
#[derive(Default)]
struct ActivationLocks(std::sync::Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>);

impl ActivationLocks {
    /// The lock of topic `id`.
    fn of(&self, id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(id).or_default().clone()
    }
}

/// The lifecycle's handles; cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    store: Store,
    kafka: KafkaAdmin,
    /// Ends a deactivated topic's streams at once.
    relay: Relay,
    /// Told to look again when a Kafka call failed.
    health: HealthMonitor,
    /// Activations of one topic run one at a time.
    activations: Arc<ActivationLocks>,
    /// Four-eyes approval: nobody approves or rejects their own topic request.
    four_eyes: bool,
}

type Outcome<T> = Result<T, LifecycleError>;

impl Lifecycle {
    /// The lifecycle over these handles; `four_eyes` from configuration.
    pub fn new(
        store: Store,
        kafka: KafkaAdmin,
        relay: Relay,
        health: HealthMonitor,
        four_eyes: bool,
    ) -> Self {
        Self {
            store,
            kafka,
            relay,
            health,
            activations: Arc::default(),
            four_eyes,
        }
    }

    /// `pending → approved`, by an admin who (under four-eyes) did not request it.
    /// A request that carried a value schema is approved only once the registry took it as
    /// `<topic>-value`.
    pub async fn approve(&self, actor: &Actor, id: i64) -> Outcome<Topic> {
        self.four_eyes(actor, id, "approve").await?;
        let value_schema_id = self.register_value_schema(actor, id).await?;
        self.transition(
            actor,
            TopicKey::Id(id),
            Transition::Approve { value_schema_id },
        )
        .await
    }

    /// Registers the value schema of a pending topic's request, if it carried one; its id.
    async fn register_value_schema(&self, actor: &Actor, id: i64) -> Outcome<Option<i64>> {
        let Some(value_schema) = self.store.value_schema(id).await? else {
            return Ok(None);
        };
        let topic = self.find(TopicKey::Id(id)).await?;
        if topic.status != TopicStatus::Pending {
            let error = illegal(topic, "approved");
            return Err(self.audit_failure(actor, "approve", error).await);
        }
        let registered = match (
            self.relay.schemas().registry(),
            crate::schema::Format::parse(&value_schema.format),
        ) {
            (None, _) => Err(RegisterError::Refused(
                "no schema registry is configured".to_owned(),
            )),
            (_, None) => Err(RegisterError::Refused(format!(
                "unknown format {}",
                value_schema.format
            ))),
            (Some(registry), Some(format)) => {
                let subject = format!("{}-value", topic.topic_name);
                crate::schema::register(registry, &subject, format, &value_schema.schema).await
            }
        };
        match registered {
            Ok(schema_id) => Ok(Some(i64::from(schema_id))),
            Err(error) => {
                let error = LifecycleError::SchemaNotRegistered(error);
                Err(self
                    .audit_failure_of(actor, "approve", &topic.topic_name, error)
                    .await)
            }
        }
    }

    /// `pending → rejected` with a reason, by an admin who (under four-eyes) did not request it.
    pub async fn reject(&self, actor: &Actor, id: i64, reason: String) -> Outcome<Topic> {
        self.four_eyes(actor, id, "reject").await?;
        self.transition(actor, TopicKey::Id(id), Transition::Reject { reason })
            .await
    }

    /// `active → inactive`: the relay ends the topic's streams now, the producer notices at
    /// its next poll; the data stays in Kafka.
    pub async fn deactivate(&self, actor: &Actor, id: i64) -> Outcome<Topic> {
        let topic = self
            .transition(actor, TopicKey::Id(id), Transition::Deactivate)
            .await?;
        self.relay.topic_ended(&topic.topic_name).await;
        Ok(topic)
    }

    /// `inactive → active`, once the Kafka topic is there (made again if it went).
    pub async fn reactivate(&self, actor: &Actor, id: i64) -> Outcome<Topic> {
        let topic = self.find(TopicKey::Id(id)).await?;
        if topic.status != TopicStatus::Inactive {
            let error = illegal(topic, "reactivated");
            return Err(self.audit_failure(actor, "reactivate", error).await);
        }
        if let Err(e) = self.kafka.ensure(&topic).await {
            return Err(self.kafka_failure(actor, "reactivate", &topic, e).await);
        }
        self.transition(actor, TopicKey::Id(topic.topic_id), Transition::Reactivate)
            .await
    }

    /// The producer's activation of an approved topic: made in Kafka with its partitions and
    /// replication factor, then marked `active`. Harmless on an active topic. A name another
    /// application already uses in Kafka is not taken over: the first attempt that finds it
    /// there marks it, and activation waits for an admin's [`Lifecycle::adopt`].
    pub async fn activate(&self, actor: &Actor, name: &TopicName) -> Outcome<()> {
        let topic = self.find(TopicKey::Name(name.as_str())).await?;
        match topic.status {
            TopicStatus::Active => return Ok(()),
            TopicStatus::Approved => {}
            _ => {
                let error = illegal(topic, "activated");
                return Err(self.audit_failure(actor, "activate", error).await);
            }
        }
        // One activation of a topic at a time (the producer retries; several may run): the
        // claim below must see the previous attempt's outcome, not race it.
        let lock = self.activations.of(topic.topic_id);
        let _one_at_a_time = lock.lock().await;
        let topic = self.find(TopicKey::Id(topic.topic_id)).await?;
        if topic.status == TopicStatus::Active {
            return Ok(());
        }
        let claim = self.store.claim_for_activation(topic.topic_id).await?;
        if claim == KafkaClaim::Foreign {
            return Err(self.taken_in_kafka(actor, topic).await);
        }
        let ensured = self.kafka.ensure(&topic).await;
        let found_there = match &ensured {
            Ok(TopicEnsured::Adopted) | Err(KafkaError::ShapeMismatch { .. }) => true,
            Ok(TopicEnsured::Created) | Err(_) => false,
        };
        if found_there && claim == KafkaClaim::Unclaimed {
            self.store.mark_foreign_in_kafka(topic.topic_id).await?;
            tracing::warn!(topic = %topic.topic_name, "a topic of this name already exists in Kafka; activation waits for an admin to adopt it");
            return Err(self.taken_in_kafka(actor, topic).await);
        }
        if let Err(e) = ensured {
            return Err(self.kafka_failure(actor, "activate", &topic, e).await);
        }
        let key = TopicKey::Id(topic.topic_id);
        match self
            .store
            .transition(key, &Transition::Activate, actor)
            .await
        {
            // A concurrent activation won the race: the topic is active, which is what was
            // asked.
            Err(StoreError::IllegalTransition {
                current: TopicStatus::Active,
                ..
            })
            | Ok(_) => Ok(()),
            Err(e) => Err(self
                .audit_failure_of(actor, "activate", &topic.topic_name, e.into())
                .await),
        }
    }

    /// Lets the producer's next activation use the Kafka topic of this name that existed
    /// before StreamHub tried to create it (an admin's decision).
    pub async fn adopt(&self, actor: &Actor, id: i64) -> Outcome<()> {
        let topic = self.find(TopicKey::Id(id)).await?;
        match self.store.allow_adoption(topic.topic_id, actor).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self
                .audit_failure_of(actor, "adopt", &topic.topic_name, e.into())
                .await),
        }
    }

    async fn find(&self, key: TopicKey<'_>) -> Outcome<Topic> {
        let name = match key {
            TopicKey::Id(id) => format!("#{id}"),
            TopicKey::Name(name) => name.to_owned(),
        };
        Ok(self
            .store
            .topic(key)
            .await?
            .ok_or(StoreError::TopicNotFound(name))?)
    }

    /// Four-eyes approval (`STREAMHUB_FOUR_EYES`): the admin deciding on topic `id` must not
    /// be the person who requested it, nor the admin who filed the request for someone else.
    /// Admins known by no name (the admin token) are not checked: they are nobody in
    /// particular.
    async fn four_eyes(&self, actor: &Actor, id: i64, action: &str) -> Outcome<()> {
        if !self.four_eyes || actor.name == "admin" {
            return Ok(());
        }
        let topic = self.find(TopicKey::Id(id)).await?;
        let filed_by = self
            .store
            .audit(&AuditFilter {
                topic: Some(topic.topic_name.clone()),
                action: Some("request".into()),
                limit: 1,
                ..AuditFilter::default()
            })
            .await?
            .into_iter()
            .next()
            .map(|row| row.actor);
        if topic.created_by != actor.name && filed_by.as_deref() != Some(actor.name.as_str()) {
            return Ok(());
        }
        Err(self
            .audit_failure_of(actor, action, &topic.topic_name, LifecycleError::FourEyes)
            .await)
    }

    /// Applies a transition; a refused one is audited as `rejected` (the success is audited
    /// by the store in the same transaction as the change).
    async fn transition(
        &self,
        actor: &Actor,
        key: TopicKey<'_>,
        transition: Transition,
    ) -> Outcome<Topic> {
        match self.store.transition(key, &transition, actor).await {
            Ok(topic) => Ok(topic),
            Err(e) => {
                let name = match &e {
                    StoreError::IllegalTransition { topic, .. } => topic.clone(),
                    _ => key.to_string(),
                };
                Err(self
                    .audit_failure_of(actor, transition.action(), &name, e.into())
                    .await)
            }
        }
    }

    /// Refuses (and audits, once) an activation whose name is taken in Kafka.
    async fn taken_in_kafka(&self, actor: &Actor, topic: Topic) -> LifecycleError {
        let error = LifecycleError::ExistsInKafka {
            topic: Box::new(topic),
        };
        self.audit_failure(actor, "activate", error).await
    }

    /// A Kafka call for `topic` failed: the health check looks again now, and the failure is
    /// audited (once per change).
    async fn kafka_failure(
        &self,
        actor: &Actor,
        action: &str,
        topic: &Topic,
        error: KafkaError,
    ) -> LifecycleError {
        self.health.poke();
        self.audit_failure_of(actor, action, &topic.topic_name, error.into())
            .await
    }

    /// Audits a refusal about the topic it names.
    async fn audit_failure(
        &self,
        actor: &Actor,
        action: &str,
        error: LifecycleError,
    ) -> LifecycleError {
        let name = match &error {
            LifecycleError::Illegal { topic, .. } | LifecycleError::ExistsInKafka { topic } => {
                topic.topic_name.clone()
            }
            _ => String::new(),
        };
        self.audit_failure_of(actor, action, &name, error).await
    }

    /// Audits a failed move of `topic_name` (`rejected` when the request was at fault,
    /// `failed` otherwise), unless the same failure was the last thing audited of it.
    async fn audit_failure_of(
        &self,
        actor: &Actor,
        action: &str,
        topic_name: &str,
        error: LifecycleError,
    ) -> LifecycleError {
        let outcome = if error.is_refusal() {
            AuditOutcome::Rejected
        } else {
            AuditOutcome::Failed
        };
        let detail = error.to_string();
        let entry = NewAuditEntry {
            action,
            topic_name: Some(topic_name),
            outcome,
            detail: Some(&detail),
        };
        if let Err(e) = self.store.record_unless_repeated(actor, entry).await {
            tracing::warn!(error = %e, "could not audit a failed request");
        }
        error
    }
}

/// The move `attempted` is not legal from the topic's status.
fn illegal(topic: Topic, attempted: &'static str) -> LifecycleError {
    LifecycleError::Illegal {
        topic: Box::new(topic),
        attempted,
    }
}

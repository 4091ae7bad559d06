//! Keeps Kafka in step with the store: an `active` topic missing in Kafka (the broker's storage
//! was wiped, someone deleted it) is created again and the attempt audited. The health check
//! runs it each time the broker answers; it owns no schedule of its own.

use crate::{
    kafka::KafkaAdmin,
    store::{Actor, AuditOutcome, NewAuditEntry, Store},
};
use app::wire::Topic;
use std::collections::HashMap;

/// Recreates missing active topics; cheap to clone.
#[derive(Clone)]
pub struct TopicReconciler {
    kafka: KafkaAdmin,
    store: Store,
}

/// What one pass did, for the health report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Active topics that were missing in Kafka and were created again.
    pub recreated: Vec<String>,
    /// Active topics missing in Kafka that could not be created.
    pub missing: Vec<String>,
}

impl TopicReconciler {
    /// A reconciler acting on this cluster and recording in this store.
    pub fn new(kafka: KafkaAdmin, store: Store) -> Self {
        Self { kafka, store }
    }

    /// Creates every topic of `active` that `in_kafka` (name → partitions) lacks. `active` must
    /// be read before `in_kafka`: a topic activated in between is then in Kafka's list
    /// (activation creates it there first) and never taken for missing.
    pub async fn reconcile(
        &self,
        active: Vec<Topic>,
        in_kafka: &HashMap<String, i32>,
    ) -> Reconciled {
        let mut outcome = Reconciled::default();
        for topic in active {
            if in_kafka.contains_key(&topic.topic_name) {
                continue;
            }
            tracing::warn!(topic = %topic.topic_name, "active topic missing in Kafka; recreating");
            let result = self.kafka.ensure(&topic).await;
            let (audit_outcome, detail) = match &result {
                Ok(_) => (AuditOutcome::Ok, None),
                Err(e) => (AuditOutcome::Failed, Some(e.to_string())),
            };
            let entry = NewAuditEntry {
                action: "recreate",
                topic_name: Some(&topic.topic_name),
                outcome: audit_outcome,
                detail: detail.as_deref(),
            };
            // Each recreation is an event; a failure repeats on every pass while the broker
            // refuses, and is worth one row per change.
            let actor = Actor::system("reconciler");
            let recorded = match audit_outcome {
                AuditOutcome::Ok => self.store.record(&actor, entry).await,
                _ => self
                    .store
                    .record_unless_repeated(&actor, entry)
                    .await
                    .map(drop),
            };
            if let Err(e) = recorded {
                tracing::warn!(error = %e, topic = %topic.topic_name, "could not audit a recreation");
            }
            match result {
                Ok(_) => outcome.recreated.push(topic.topic_name),
                Err(_) => outcome.missing.push(topic.topic_name),
            }
        }
        outcome
    }
}

//! The background health check: every few seconds it asks the broker for metadata and the
//! database for a write lock, keeps the latest answer for `GET /api/health`, logs each change of
//! state once (not every tick), and — each time the broker is reachable — has the
//! [`TopicReconciler`] recreate `active` topics missing in Kafka, reporting what it did.

use crate::{kafka::KafkaAdmin, now_rfc3339, reconciler::TopicReconciler, store::Store};
use app::wire::{BrokerHealth, ComponentHealth, Health, TopicStatus};
use std::{
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio::sync::Notify;

/// Shared view of the latest check; cheap to clone.
#[derive(Clone)]
pub struct HealthMonitor {
    inner: Arc<Inner>,
}

struct Inner {
    kafka: KafkaAdmin,
    store: Store,
    reconciler: TopicReconciler,
    latest: RwLock<Snapshot>,
    /// Wakes the loop early (after a request saw the broker fail, say).
    poke: Notify,
}

#[derive(Clone)]
struct Snapshot {
    broker: BrokerHealth,
    database: ComponentHealth,
}

fn unknown() -> ComponentHealth {
    ComponentHealth {
        status: "unknown".into(),
        error: None,
        checked_at: None,
    }
}

fn component(result: Result<(), String>) -> ComponentHealth {
    let (status, error) = match result {
        Ok(()) => ("up", None),
        Err(e) => ("down", Some(e)),
    };
    ComponentHealth {
        status: status.into(),
        error,
        checked_at: Some(now_rfc3339()),
    }
}

impl HealthMonitor {
    /// A monitor with nothing checked yet; [`HealthMonitor::run`] does the checking.
    pub fn new(kafka: KafkaAdmin, store: Store) -> Self {
        let broker = BrokerHealth {
            component: unknown(),
            bootstrap_servers: kafka.bootstrap_servers().to_owned(),
            brokers: 0,
            recreated_topics: Vec::new(),
            missing_topics: Vec::new(),
        };
        Self {
            inner: Arc::new(Inner {
                reconciler: TopicReconciler::new(kafka.clone(), store.clone()),
                kafka,
                store,
                latest: RwLock::new(Snapshot {
                    broker,
                    database: unknown(),
                }),
                poke: Notify::new(),
            }),
        }
    }

    /// The latest report, as `GET /api/health` answers it.
    pub fn report(&self) -> Health {
        let snapshot = self.snapshot();
        let healthy = snapshot.broker.component.status == "up" && snapshot.database.status == "up";
        Health {
            status: if healthy { "healthy" } else { "degraded" }.into(),
            timestamp: now_rfc3339(),
            version: env!("CARGO_PKG_VERSION").into(),
            broker: snapshot.broker,
            database: snapshot.database,
        }
    }

    /// Broker count from the last successful check (`None` while unreachable).
    pub fn broker_count(&self) -> Option<usize> {
        let snapshot = self.snapshot();
        (snapshot.broker.component.status == "up").then_some(snapshot.broker.brokers)
    }

    /// Asks for a check now rather than at the next tick.
    pub fn poke(&self) {
        self.inner.poke.notify_one();
    }

    fn snapshot(&self) -> Snapshot {
        // A poisoned lock only means a panic elsewhere while writing a plain value; the value
        // itself is still whole.
        self.inner
            .latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Checks now, then every `interval`, until the task is dropped.
    pub async fn run(self, interval: Duration) {
        loop {
            self.check_once().await;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.inner.poke.notified() => {}
            }
        }
    }

    /// One round of checks (public so that tests and start-up can wait for a first answer).
    pub async fn check_once(&self) {
        let database = component(self.inner.store.ping().await.map_err(|e| e.to_string()));
        // Active topics are read before Kafka's topic list: a topic activated in between is in
        // Kafka's list (activation creates it there first), so it is never taken for missing.
        // The other order saw such a topic as active but not yet in a list read earlier, and
        // "recreated" it with a warning and an audit row.
        let active = self
            .inner
            .store
            .list_topics(Some(TopicStatus::Active))
            .await;
        let cluster = self.inner.kafka.cluster_info().await;
        let previous = self.snapshot();
        let mut broker = previous.broker.clone();
        broker.component = component(cluster.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        if let Ok(info) = &cluster {
            broker.brokers = info.brokers;
            match active {
                Ok(active) => {
                    let outcome = self.inner.reconciler.reconcile(active, &info.topics).await;
                    for name in outcome.recreated {
                        if !broker.recreated_topics.contains(&name) {
                            broker.recreated_topics.push(name);
                        }
                    }
                    broker.missing_topics = outcome.missing;
                }
                Err(e) => tracing::warn!(error = %e, "cannot list active topics to reconcile"),
            }
        } else {
            broker.brokers = 0;
        }
        log_change("broker", &previous.broker.component, &broker.component);
        log_change("database", &previous.database, &database);
        *self.inner.latest.write().unwrap_or_else(|p| p.into_inner()) =
            Snapshot { broker, database };
    }
}

fn log_change(part: &str, before: &ComponentHealth, after: &ComponentHealth) {
    if before.status == after.status {
        return;
    }
    match after.status.as_str() {
        "up" => tracing::info!(part, "reachable"),
        _ => tracing::warn!(
            part,
            error = after.error.as_deref().unwrap_or(""),
            "unreachable"
        ),
    }
}

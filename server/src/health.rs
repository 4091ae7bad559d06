//! The background health check: every few seconds it asks the broker for metadata and the
//! database for a write lock, notes in the database that this instance is alive and reads which
//! other instances are (a deployment may have several), keeps the latest answer for
//! `GET /api/health`, logs each change of state once (not every tick), and — each time the
//! broker is reachable, on the one instance elected for it — has the [`TopicReconciler`]
//! recreate `active` topics missing in Kafka, reporting what it did.

use crate::{
    kafka::KafkaAdmin,
    now_rfc3339,
    reconciler::TopicReconciler,
    store::{
        instances::{InstanceRow, Singleton},
        Store, StoreError,
    },
};
use app::wire::{BrokerHealth, ComponentHealth, Health, InstancesHealth, TopicStatus};
use std::{
    collections::BTreeMap,
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
    this: ThisInstance,
    /// An instance that has not checked in for this long is lost.
    lost_after: chrono::TimeDelta,
    reconciler: TopicReconciler,
    latest: RwLock<Snapshot>,
    /// Wakes the loop early (after a request saw the broker fail, say).
    poke: Notify,
}

#[derive(Clone)]
struct Snapshot {
    broker: BrokerHealth,
    database: ComponentHealth,
    instances: InstancesHealth,
}

/// Who this instance is to the others of its deployment.
#[derive(Debug, Clone)]
pub struct ThisInstance {
    /// Unique to this run of this process.
    pub id: String,
    /// What health reports call it (`--instance-name`).
    pub name: String,
    pub started_at: String,
}

impl ThisInstance {
    /// This process, called `name`.
    pub fn new(name: String) -> Self {
        let mut id = [0u8; 8];
        // Without the system's randomness the time makes it unique enough: the id only tells
        // this run's check-ins from another's.
        if getrandom::fill(&mut id).is_err() {
            id = chrono::Utc::now()
                .timestamp_nanos_opt()
                .unwrap_or_default()
                .to_be_bytes();
        }
        Self {
            id: crate::secrets::hex(&id),
            name,
            started_at: now_rfc3339(),
        }
    }
}

/// Instances seen within this long are listed (running or lost); older ones are forgotten.
const INSTANCES_KEPT: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How long each of a round's database calls may take before the round goes on without its
/// answer (as "unavailable"): a slow database delays the round, and the broker's state, by
/// this much at most.
const DATABASE_WAIT: Duration = Duration::from_secs(2);

/// `call`'s answer, or `Unavailable` if it takes longer than [`DATABASE_WAIT`] (which `store`
/// hears of: its outage watcher looks whether the database is down).
async fn within_wait<T>(
    store: &Store,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(DATABASE_WAIT, call).await {
        Ok(answer) => answer,
        Err(_) => {
            store.no_answer_in_time();
            Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                DATABASE_WAIT.as_millis()
            )))
        }
    }
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
    /// A monitor with nothing checked yet; [`HealthMonitor::run`] does the checking, every
    /// `interval`.
    pub fn new(kafka: KafkaAdmin, store: Store, this: ThisInstance, interval: Duration) -> Self {
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
                // Three missed checks (15 s at the default interval).
                lost_after: chrono::TimeDelta::from_std(interval * 3)
                    .unwrap_or(chrono::TimeDelta::MAX),
                latest: RwLock::new(Snapshot {
                    broker,
                    database: unknown(),
                    instances: InstancesHealth {
                        component: unknown(),
                        running: vec![this.name.clone()],
                        lost: Vec::new(),
                    },
                }),
                this,
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
            instances: snapshot.instances,
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

    /// Checks now, then every `interval`, and at once when the store finds the database gone
    /// or back, until the task is dropped.
    pub async fn run(self, interval: Duration) {
        let mut database_down = self.inner.store.database_down();
        loop {
            self.check_once().await;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.inner.poke.notified() => {}
                Ok(()) = database_down.changed() => {}
            }
        }
    }

    /// One round of checks (public so that tests and start-up can wait for a first answer).
    pub async fn check_once(&self) {
        let store = &self.inner.store;
        let broker_side = async {
            // Active topics are read before Kafka's topic list: a topic activated in between is
            // in Kafka's list (activation creates it there first), so it is never taken for
            // missing. The other order saw such a topic as active but not yet in a list read
            // earlier, and "recreated" it with a warning and an audit row. Without an answer in
            // time this round does not reconcile.
            let active = within_wait(store, store.list_topics(Some(TopicStatus::Active))).await;
            (active, self.inner.kafka.cluster_info().await)
        };
        // Side by side, each database call bounded: a slow database holds the broker's state
        // back by [`DATABASE_WAIT`] at most.
        let (database, instances, (active, cluster)) = tokio::join!(
            within_wait(store, store.ping()),
            self.instances(),
            broker_side
        );
        let database = component(database.map_err(|e| e.to_string()));
        let previous = self.snapshot();
        let mut broker = previous.broker.clone();
        broker.component = component(cluster.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        if let Ok(info) = &cluster {
            broker.brokers = info.brokers;
            match active {
                Ok(active) if self.inner.store.lead(Singleton::Reconciler).await => {
                    let outcome = self.inner.reconciler.reconcile(active, &info.topics).await;
                    for name in outcome.recreated {
                        if !broker.recreated_topics.contains(&name) {
                            broker.recreated_topics.push(name);
                        }
                    }
                    broker.missing_topics = outcome.missing;
                }
                // Another instance reconciles.
                Ok(_) => broker.missing_topics.clear(),
                Err(e) => tracing::warn!(error = %e, "cannot list active topics to reconcile"),
            }
        } else {
            broker.brokers = 0;
        }
        log_change("broker", &previous.broker.component, &broker.component);
        log_change("database", &previous.database, &database);
        log_change(
            "instances",
            &previous.instances.component,
            &instances.component,
        );
        *self.inner.latest.write().unwrap_or_else(|p| p.into_inner()) = Snapshot {
            broker,
            database,
            instances,
        };
    }
}

impl HealthMonitor {
    /// Notes that this instance is alive, and reads which instances are running and which
    /// were lost (seen lately, not for a while, and not stopped cleanly).
    async fn instances(&self) -> InstancesHealth {
        let (store, this) = (&self.inner.store, &self.inner.this);
        let now = chrono::Utc::now();
        let rfc3339 = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let seen = async {
            let forget_before = rfc3339(now - INSTANCES_KEPT);
            store
                .heartbeat(&this.id, &this.name, &this.started_at, &forget_before)
                .await?;
            store.instances().await
        };
        let rows = match within_wait(store, seen).await {
            Ok(rows) => rows,
            Err(e) => {
                // Without the database nobody can tell; this one runs.
                return InstancesHealth {
                    component: component(Err(e.to_string())),
                    running: vec![this.name.clone()],
                    lost: Vec::new(),
                };
            }
        };
        let alive_since = rfc3339(now - self.inner.lost_after);
        // A run of this name that checked in after this one started is alive beside it: two
        // instances were given one name (each replaces the other's entry at its turn).
        if rows.iter().any(|r| {
            r.name == this.name
                && r.instance_id != this.id
                && r.stopped_at.is_none()
                && r.seen_at > this.started_at
        }) {
            tracing::warn!(
                name = %this.name,
                "another running instance has this instance's name; give each its own (--instance-name)"
            );
        }
        let (running, lost) = listed(rows, this, &alive_since);
        let result = match lost.as_slice() {
            [] => Ok(()),
            lost => Err(format!("lost: {}", lost.join(", "))),
        };
        InstancesHealth {
            component: component(result),
            running,
            lost,
        }
    }

    /// Tells the others that this instance stops (so it shows as stopped, not lost).
    pub async fn stopping(&self) {
        if let Err(e) = self.inner.store.instance_stopped(&self.inner.this.id).await {
            tracing::debug!(error = %e, "could not note the clean stop");
        }
    }
}

/// Which instances run (this one first) and which were lost, from the registry's rows: per
/// name only its newest run counts (an instance started again under its name replaces its
/// earlier runs, whatever became of them), alive if seen since `alive_since`, lost if silent
/// since without a clean stop. The registry forgets rows after [`INSTANCES_KEPT`].
fn listed(
    rows: Vec<InstanceRow>,
    this: &ThisInstance,
    alive_since: &str,
) -> (Vec<String>, Vec<String>) {
    let mut newest: BTreeMap<String, InstanceRow> = BTreeMap::new();
    for row in rows {
        if row.instance_id == this.id || row.name == this.name {
            continue;
        }
        match newest.get(&row.name) {
            Some(kept) if (&kept.started_at, &kept.seen_at) >= (&row.started_at, &row.seen_at) => {}
            _ => {
                newest.insert(row.name.clone(), row);
            }
        }
    }
    let mut running = vec![this.name.clone()];
    let mut lost = Vec::new();
    for (name, row) in newest {
        if row.stopped_at.is_some() {
            continue;
        }
        if row.seen_at.as_str() >= alive_since {
            running.push(name);
        } else {
            lost.push(format!("{name} (last seen {})", row.seen_at));
        }
    }
    (running, lost)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str, started_at: &str, seen_at: &str, stopped: bool) -> InstanceRow {
        InstanceRow {
            instance_id: id.into(),
            name: name.into(),
            started_at: started_at.into(),
            seen_at: seen_at.into(),
            stopped_at: stopped.then(|| seen_at.to_owned()),
        }
    }

    fn this(name: &str) -> ThisInstance {
        ThisInstance {
            id: "this-run".into(),
            name: name.into(),
            started_at: "2026-12-06T10:00:00.000Z".into(),
        }
    }

    const ALIVE_SINCE: &str = "2026-12-06T10:00:00.000Z";

    #[test]
    fn runs_of_this_instance_s_name_before_this_one_are_neither_running_nor_lost() {
        // Three earlier `make cluster` runs, each killed: a's earlier runs, seen by a itself.
        let rows = vec![
            row(
                "a1",
                "a",
                "2026-12-06T07:00:00.000Z",
                "2026-12-06T07:10:00.000Z",
                false,
            ),
            row(
                "a2",
                "a",
                "2026-12-06T08:00:00.000Z",
                "2026-12-06T08:10:00.000Z",
                false,
            ),
            row(
                "a3",
                "a",
                "2026-12-06T09:00:00.000Z",
                "2026-12-06T09:10:00.000Z",
                false,
            ),
            row(
                "this-run",
                "a",
                "2026-12-06T10:00:00.000Z",
                "2026-12-06T10:00:05.000Z",
                false,
            ),
            row(
                "b4",
                "b",
                "2026-12-06T10:00:00.000Z",
                "2026-12-06T10:00:04.000Z",
                false,
            ),
        ];
        let (running, lost) = listed(rows, &this("a"), ALIVE_SINCE);
        assert_eq!(running, ["a", "b"]);
        assert!(lost.is_empty(), "{lost:?}");
    }

    #[test]
    fn another_instance_counts_by_its_newest_run() {
        let old_runs_of_b = [
            row(
                "b1",
                "b",
                "2026-12-06T07:00:00.000Z",
                "2026-12-06T07:10:00.000Z",
                false,
            ),
            row(
                "b2",
                "b",
                "2026-12-06T08:00:00.000Z",
                "2026-12-06T08:10:00.000Z",
                false,
            ),
        ];
        // What a sees with b's earlier runs and a newest one.
        let with_newest_b = |started_at: &str, seen_at: &str, stopped: bool| {
            let mut rows = old_runs_of_b.to_vec();
            rows.push(row("b3", "b", started_at, seen_at, stopped));
            listed(rows, &this("a"), ALIVE_SINCE)
        };
        // b runs again: running once, none of its runs lost.
        assert_eq!(
            with_newest_b(
                "2026-12-06T10:00:00.000Z",
                "2026-12-06T10:00:04.000Z",
                false
            ),
            (vec!["a".into(), "b".into()], vec![])
        );
        // b was killed again: lost once, as its newest run.
        let (running, lost) = with_newest_b(
            "2026-12-06T09:00:00.000Z",
            "2026-12-06T09:30:00.000Z",
            false,
        );
        assert_eq!(running, ["a"]);
        assert_eq!(lost, ["b (last seen 2026-12-06T09:30:00.000Z)"]);
        // b's newest run stopped cleanly: not lost, whatever its earlier runs were.
        assert_eq!(
            with_newest_b("2026-12-06T09:00:00.000Z", "2026-12-06T09:30:00.000Z", true),
            (vec!["a".into()], vec![])
        );
    }
}

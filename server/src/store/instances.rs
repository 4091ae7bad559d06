//! Several instances of one deployment: which are running, which were lost, and which
//! one does the work that must run once per deployment.
//!
//! Every instance notes at each health check that it is alive ([`Store::heartbeat`]); one that
//! has not for a while is lost. Jobs that must not run twice — the rates sampler, the reconciler
//! that recreates missing Kafka topics (and audits it) — run where [`Store::lead`] says: on
//! PostgreSQL the holder of the job's advisory lock, held on a connection of its own, so that
//! the lock goes with the instance when it dies (at once when its process ends, within about
//! 15 s when its host goes silent) and another takes the job at its next turn; on SQLite always
//! here (one instance). What the elected instance shares with the others (the
//! rates) is kept in `shared_state`.

use super::{on_db, Backend, Store, StoreError};
use sqlx::FromRow;

/// A job that runs on one instance of a deployment at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Singleton {
    /// Samples message counts for the overview's rates.
    RatesSampler,
    /// Recreates active topics missing in Kafka.
    Reconciler,
}

impl Singleton {
    /// Its advisory lock's key (beside StreamHub's own key space).
    pub(super) fn key(self) -> i32 {
        match self {
            Singleton::RatesSampler => 101,
            Singleton::Reconciler => 102,
        }
    }
}

/// An `instances` row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct InstanceRow {
    pub instance_id: String,
    pub name: String,
    pub started_at: String,
    pub seen_at: String,
    /// Set by a clean shutdown.
    pub stopped_at: Option<String>,
}

impl Store {
    /// Notes that instance `instance_id` (`name`, up since `started_at`) is alive now, and
    /// forgets instances not seen since `forget_before` (RFC 3339) and the earlier runs of
    /// `name` (it replaces them).
    pub async fn heartbeat(
        &self,
        instance_id: &str,
        name: &str,
        started_at: &str,
        forget_before: &str,
    ) -> Result<(), StoreError> {
        let now = crate::now_rfc3339();
        on_db!(&self.db, db => db.heartbeat(instance_id, name, started_at, &now, forget_before).await)
    }

    /// Notes that the instance stopped cleanly (not lost).
    pub async fn instance_stopped(&self, instance_id: &str) -> Result<(), StoreError> {
        let now = crate::now_rfc3339();
        on_db!(&self.db, db => db.instance_stopped(instance_id, &now).await)
    }

    /// The instances not forgotten yet ([`Store::heartbeat`]), by name.
    pub async fn instances(&self) -> Result<Vec<InstanceRow>, StoreError> {
        on_db!(&self.db, db => db.instances().await)
    }

    /// Whether this instance does `job` now, taking it if no instance does.
    pub async fn lead(&self, job: Singleton) -> bool {
        match &self.db {
            Backend::Sqlite(_) => true,
            Backend::Postgres(db) => self.leases.hold(db, job.key()).await,
        }
    }

    /// A job's shared state and when it was written, if any.
    pub async fn shared_state(&self, name: &str) -> Result<Option<(String, String)>, StoreError> {
        on_db!(&self.db, db => db.shared_state(name).await)
    }

    /// The state kept under `name`: the one some instance stored first, else `value`, stored
    /// now (what makes every instance of a deployment use one generated secret).
    pub async fn first_state(&self, name: &str, value: &str) -> Result<String, StoreError> {
        let now = crate::now_rfc3339();
        on_db!(&self.db, db => db.first_state(name, value, &now).await)
    }

    /// Replaces a job's shared state.
    pub async fn share_state(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let now = crate::now_rfc3339();
        on_db!(&self.db, db => db.share_state(name, value, &now).await)
    }
}

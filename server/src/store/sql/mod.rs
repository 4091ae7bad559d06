//! The SQL of every store call, written once against `Db` and compiled once per database:
//! [`super::sqlite`] and [`super::postgres`] each include this module with their own `Db` and
//! `dialect`. Only portable SQL lives here (`$N` placeholders, lists through `QueryBuilder`,
//! standard `RETURNING`, `ON CONFLICT` and `FILTER`); the few things the two databases write
//! differently are named fragments of the including module's `dialect`.
//!
//! Compiling the same source twice keeps one copy of every statement without making each
//! function generic over sqlx's database traits, whose bounds Rust cannot bundle into one name.

mod audit;
mod changes;
mod claims;
mod identities;
mod instances;
mod revoked_sessions;
mod subscriptions;
mod tokens;
mod topics;

use super::{dialect, Db};
use crate::store::{outage::Outage, StoreError};
use sqlx::{Database, Pool};
use std::sync::Arc;

/// A connection of this database.
type Connection = <Db as Database>::Connection;

/// The deployment's database: a pool for reads and one for writes. Cheap to clone.
#[derive(Clone)]
pub(in crate::store) struct Pools {
    pub(in crate::store) reader: Pool<Db>,
    pub(in crate::store) writer: Pool<Db>,
    /// Whether the database is known down (every store call checks it first: `on_db!`).
    pub(in crate::store) outage: Arc<Outage>,
}

impl Pools {
    /// Runs `write` on a writer connection, retiring the connection if the database failed.
    ///
    /// A write that fails inside SQLite (disk full, I/O error, read-only file) can leave the
    /// connection in a transaction that sqlx no longer tracks: the next writes would then run as
    /// savepoints of a transaction nobody commits — answered as done, never durable. A
    /// PostgreSQL connection that failed may be half-closed. So after such a failure the
    /// connection is closed instead of going back to the pool, which opens a fresh one.
    pub(in crate::store) async fn write<T>(
        &self,
        write: impl AsyncFnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.writer.acquire().await?;
        let result = write(&mut conn).await;
        if let Err(e @ (StoreError::Unavailable(_) | StoreError::Other(_))) = &result {
            tracing::warn!(error = %e, "a write failed; retiring the writer connection");
            conn.close_on_drop();
        }
        result
    }

    /// Closes both pools.
    pub(in crate::store) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

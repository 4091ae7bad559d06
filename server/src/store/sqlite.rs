//! The store on SQLite: one file, WAL journal, one writer connection and a few readers. The
//! embedded default: nothing to install or run beside the server.

use super::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::{path::Path, time::Duration};

/// The database the shared SQL is compiled for here.
type Db = sqlx::Sqlite;

/// What the shared SQL writes in SQLite's words.
mod dialect {
    /// Said after a bound text value that is folded like a column: nothing, SQLite compares
    /// text byte-wise and its `lower` folds ASCII only.
    pub const BYTE_WISE: &str = "";
    /// `F(text, part)`: where `part` starts in `text` (from 1), 0 when it is not there.
    pub const FIND_TEXT: &str = "instr";
    /// Taken before a topic request's colliding-name check: none needed, the one writer
    /// connection already serialises every write.
    pub const LOCK_TOPIC_NAME: Option<&str> = None;
    /// Taken before checking whether a failure repeats the last audited one: none needed (one
    /// writer).
    pub const LOCK_AUDIT_REPEATS: Option<&str> = None;
}

// The same SQL is this module's and the other database's, on purpose (see `sql/mod.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

pub(super) use sql::Pools;

/// Opens (creating if needed) the database at `path` and applies pending migrations.
pub(super) async fn open(path: &Path) -> Result<Pools, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", parent.display())))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.clone())
        .await?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&writer)
        .await
        .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.read_only(true))
        .await?;
    // A file does not go away as a server does: nothing watches for an outage.
    Ok(Pools {
        reader,
        writer,
        outage: Default::default(),
    })
}

/// Checks that the database answers a read and accepts a write transaction.
pub(super) async fn ping(db: &Pools) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(&db.reader).await?;
    // `BEGIN IMMEDIATE` takes the write lock without writing: it fails on a read-only or
    // vanished file, which a plain SELECT would not notice.
    db.write(async |conn| {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        Ok(())
    })
    .await
}

/// Checkpoints the WAL into the database file and closes the pools (clean shutdown).
pub(super) async fn close(db: &Pools) {
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&db.writer)
        .await
    {
        tracing::warn!(error = %e, "final checkpoint failed");
    }
    db.close().await;
}

/// Whether SQLite's error says the database cannot be used right now (locked, full, read-only,
/// gone) rather than that the statement is wrong.
pub(super) fn is_unavailable(error: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_none()
    {
        return false;
    }
    // SQLite's primary result codes (the low byte of an extended code).
    let primary = error
        .code()
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    // BUSY, LOCKED, IOERR, FULL, CANTOPEN, READONLY
    matches!(primary, Some(5 | 6 | 10 | 13 | 14 | 8))
}

//! The metadata store: SQLite through sqlx, schema from `server/migrations` applied at start-up.
//!
//! Owns the tables `topics`, `user_subscriptions` and `audit_log`, and the rules of the topic
//! lifecycle (which transition is legal from which status). Handlers never write SQL; a
//! PostgreSQL store would replace this module's queries and pool types, nothing above it.
//!
//! Writes go through a single-connection pool, reads through a pool of several: SQLite allows
//! one writer at a time anyway, and serialising writes in-process means no `SQLITE_BUSY` between
//! our own transactions. Every state change and its audit row commit together or not at all.

mod audit;
pub mod read_cache;
mod revoked_sessions;
mod subscriptions;
pub mod tokens;
mod topics;

pub use audit::{AuditFilter, AuditOutcome, NewAuditEntry};
pub use subscriptions::Subscribed;
pub use topics::{KafkaClaim, NewTopic, TopicKey, TopicPage, Transition};

use sqlx::{
    pool::PoolConnection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Sqlite, SqliteConnection, SqlitePool,
};
use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

/// The database file's name in the data directory.
pub const DATABASE_FILE: &str = "streamhub.db";

/// Why a store call failed. Each variant maps to one HTTP answer in `http::error`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A topic with this name already exists.
    #[error("a topic named {0} already exists")]
    DuplicateTopic(String),
    /// Another topic's name differs from this one only by `.` against `_`: Kafka's metric names
    /// would mix the two up (it warns about such names; it refuses them once both exist).
    #[error("{name} collides with the existing topic {existing}: Kafka's metric names do not tell '.' from '_'")]
    CollidingTopic { name: String, existing: String },
    /// Adoption was asked for a topic whose name is not waiting for it (not approved, or not
    /// found taken in Kafka).
    #[error("topic {0} is not waiting for an adoption: only an approved topic whose name was found taken in Kafka is")]
    NothingToAdopt(String),
    /// No such topic.
    #[error("no topic {0}")]
    TopicNotFound(String),
    /// The transition is not legal from the topic's current status.
    #[error("topic {topic} is {current}; it cannot be {attempted}")]
    IllegalTransition {
        topic: String,
        current: app::wire::TopicStatus,
        attempted: &'static str,
    },
    /// The database cannot be written or read right now (read-only file, disk full, locked,
    /// gone); retrying later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a corrupt database.
    #[error("database error: {0}")]
    Other(String),
}

/// The writer connection for one write.
///
/// A write that fails inside SQLite (disk full, I/O error, read-only file) can leave the
/// connection in a transaction that sqlx no longer tracks: the next writes would then run as
/// savepoints of a transaction nobody commits — answered as done, never durable. So after such a
/// failure the connection is closed instead of going back to the pool, which opens a fresh one.
pub(super) struct WriterConn(PoolConnection<Sqlite>);

impl WriterConn {
    /// Takes the writer connection (waits for it: there is one).
    pub(super) async fn acquire(pool: &SqlitePool) -> Result<Self, StoreError> {
        Ok(Self(pool.acquire().await?))
    }

    /// The connection to run the write on.
    pub(super) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.0
    }

    /// Hands back `result`, retiring the connection if the database failed.
    pub(super) fn finish<T>(mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e @ (StoreError::Unavailable(_) | StoreError::Other(_))) = &result {
            tracing::warn!(error = %e, "a write failed; retiring the writer connection");
            self.0.close_on_drop();
        }
        result
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(error.to_string())
            }
            sqlx::Error::Database(db) => {
                // SQLite's primary result codes (the low byte of an extended code).
                let primary = db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff);
                match primary {
                    // BUSY, LOCKED, IOERR, FULL, CANTOPEN, READONLY
                    Some(5 | 6 | 10 | 13 | 14 | 8) => StoreError::Unavailable(error.to_string()),
                    _ => StoreError::Other(error.to_string()),
                }
            }
            _ => StoreError::Other(error.to_string()),
        }
    }
}

/// Who did something and from where, recorded with every change.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `admin`, `producer`, a user id, or `anonymous`.
    pub name: String,
    /// The peer address of the request, when known.
    pub remote_addr: Option<String>,
    /// The user an admin acted for (`oidc` mode: an admin subscribing someone, say).
    pub on_behalf_of: Option<String>,
}

impl Actor {
    /// An actor without an address (internal jobs such as reconciling).
    pub fn system(name: &str) -> Self {
        Self::new(name, None)
    }

    /// `name` acting for themself, from `remote_addr`.
    pub fn new(name: &str, remote_addr: Option<String>) -> Self {
        Self {
            name: name.to_owned(),
            remote_addr,
            on_behalf_of: None,
        }
    }
}

/// The store handle; cheap to clone.
#[derive(Clone)]
pub struct Store {
    reader: SqlitePool,
    writer: SqlitePool,
    /// Bumped after every committed change to topics or subscriptions, so that readers can
    /// cache derived answers (the topic list, the counters) until the next change.
    generation: Arc<AtomicU64>,
    /// The group-committing writer of subscription changes.
    subscription_writer: subscriptions::SubscriptionWriter,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
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
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.read_only(true))
            .await?;
        let generation = Arc::new(AtomicU64::new(0));
        Ok(Store {
            subscription_writer: subscriptions::SubscriptionWriter::start(
                writer.clone(),
                generation.clone(),
            ),
            reader,
            writer,
            generation,
        })
    }

    /// Changes with every committed write to topics or subscriptions (see the field).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called after each commit that changed topics or subscriptions.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Checks that the database answers a read and accepts a write transaction.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        // `BEGIN IMMEDIATE` takes the write lock without writing: it fails on a read-only or
        // vanished file, which a plain SELECT would not notice.
        let mut writer = WriterConn::acquire(&self.writer).await?;
        let result: Result<(), StoreError> = async {
            sqlx::query("BEGIN IMMEDIATE")
                .execute(writer.conn())
                .await?;
            sqlx::query("ROLLBACK").execute(writer.conn()).await?;
            Ok(())
        }
        .await;
        writer.finish(result)
    }

    /// Checkpoints the WAL into the database file and closes the pools (clean shutdown).
    pub async fn close(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await
        {
            tracing::warn!(error = %e, "final checkpoint failed");
        }
        self.writer.close().await;
        self.reader.close().await;
    }
}

//! The metadata store: SQLite (embedded, the default) or PostgreSQL (several instances), through
//! sqlx, schema from `server/migrations/<database>` applied at start-up.
//!
//! Owns the tables `topics`, `user_subscriptions`, `audit_log`, `revoked_sessions` and
//! `access_tokens`, and the rules of the topic lifecycle (which transition is legal from which
//! status). Handlers never write SQL. Each store call is a `Store` method here (in the module of
//! its table) that hands the work to the database's `Pools`: the SQL of every call lives once in
//! `sql/`, compiled for each database by [`sqlite`] and [`postgres`].
//!
//! Writes go through a pool of their own: on SQLite one connection (SQLite allows one writer at a
//! time anyway, and serialising writes in-process means no `SQLITE_BUSY` between our own
//! transactions), on PostgreSQL a few. Every state change and its audit row commit together or
//! not at all.

mod audit;
mod changes;
mod claims;
mod identities;
pub mod instances;
mod outage;
mod postgres;
pub mod read_cache;
mod revoked_sessions;
mod sqlite;
mod subscriptions;
pub mod tokens;
mod topic_cache;
mod topics;

pub use audit::{AuditFilter, AuditOutcome, NewAuditEntry};
pub use changes::{Change, TopicEvent};
pub use claims::Claimed;
pub use subscriptions::Subscribed;
pub use topic_cache::TopicAccess;
pub use topics::{AccessChange, KafkaClaim, NewTopic, TopicKey, TopicPage, Transition};

use changes::ChangeFeed;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
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
    /// The database cannot keep this text (PostgreSQL refuses the NUL character): the
    /// request's fault, unlike [`StoreError::Other`].
    #[error("the text holds a character the database cannot store (NUL)")]
    Unstorable(String),
    /// A subscription was decided on a topic's level and owners that changed again before it
    /// could be written, twice: a race with the topic's owners, over in milliseconds.
    #[error("topic {0}'s level or owners changed during the request; try again")]
    TopicChangedMeanwhile(String),
    /// The database cannot be written or read right now (read-only file, disk full, locked,
    /// gone); retrying later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a corrupt database.
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let unavailable = match &error {
            // Not TLS: a refused handshake is a setting to fix (`sslmode`), not an outage.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                sqlite::is_unavailable(db.as_ref()) || postgres::is_unavailable(db.as_ref())
            }
            _ => false,
        };
        let unstorable =
            matches!(&error, sqlx::Error::Database(db) if postgres::is_unstorable(db.as_ref()));
        if unavailable {
            StoreError::Unavailable(error.to_string())
        } else if unstorable {
            StoreError::Unstorable(error.to_string())
        } else {
            StoreError::Other(error.to_string())
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

/// Where the metadata lives (`--database-url`).
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file, created if missing (with its directory).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its `postgres://` URL (which may hold a password: never shown).
    Postgres(String),
}

impl Database {
    /// `url` when given (`sqlite://PATH`, `sqlite:PATH`, `postgres://…` or `postgresql://…`),
    /// else [`DATABASE_FILE`] in `data_dir`.
    pub fn from_url(url: Option<&str>, data_dir: &Path) -> Result<Self, String> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Database::Sqlite(data_dir.join(DATABASE_FILE)));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        match url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Some("") | None => Err(format!(
                "{}: a database URL is sqlite://PATH or postgres://USER@HOST/DATABASE",
                Self::redacted(url)
            )),
            Some(path) => Ok(Database::Sqlite(PathBuf::from(path))),
        }
    }

    /// `url` without a password (in the user part or as a `password` parameter), for messages
    /// and logs.
    fn redacted(url: &str) -> String {
        let Ok(mut parsed) = url::Url::parse(url) else {
            return "(a database URL that does not parse)".to_owned();
        };
        if parsed.password().is_some() {
            let _ = parsed.set_password(Some("***"));
        }
        if parsed.query().is_some() {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let hidden = k.eq_ignore_ascii_case("password");
                    (
                        k.into_owned(),
                        if hidden { "***".into() } else { v.into_owned() },
                    )
                })
                .collect();
            parsed.query_pairs_mut().clear().extend_pairs(pairs);
        }
        parsed.to_string()
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Database::Postgres(url) => f.write_str(&Self::redacted(url)),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The database behind a store: the same calls, compiled for each.
#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Pools),
    Postgres(postgres::Pools),
}

/// Runs `$body` (a store call, answering `Result<_, StoreError>`) with `$db` bound to the
/// store's `Pools`, whichever database they are of: the body is compiled once for each. While
/// the database is known down the call is refused at once (and one in flight when it becomes
/// known down is refused then), and a call that finds it unavailable has the outage watcher
/// look (`outage`).
macro_rules! on_db {
    ($backend:expr, $db:ident => $body:expr) => {
        match $backend {
            $crate::store::Backend::Sqlite($db) => $crate::store::on_db!(@gated $db, $body),
            $crate::store::Backend::Postgres($db) => $crate::store::on_db!(@gated $db, $body),
        }
    };
    (@gated $db:ident, $body:expr) => {
        match $db.outage.refuse_while_down() {
            Err(refused) => Err(refused),
            Ok(()) => $db.outage.observe($db.outage.unless_down(async { $body }).await),
        }
    };
}
use on_db;

/// The store handle; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Backend,
    /// This instance's reading of the change log.
    feed: Arc<ChangeFeed>,
    /// The group-committing writer of subscription changes.
    subscription_writer: subscriptions::SubscriptionWriter,
    /// The elected jobs this instance holds (PostgreSQL; empty on SQLite).
    leases: Arc<postgres::Leases>,
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations; starts following
    /// the change log from its newest change.
    pub async fn open(database: &Database) -> Result<Store, StoreError> {
        let (db, connect_options) = match database {
            Database::Sqlite(path) => (Backend::Sqlite(sqlite::open(path).await?), None),
            Database::Postgres(url) => {
                let (pools, options) = postgres::open(url).await?;
                (Backend::Postgres(pools), Some(options))
            }
        };
        let last = on_db!(&db, db => db.last_change().await)?;
        let feed = Arc::new(ChangeFeed::starting_after(last));
        if let (Backend::Postgres(pools), Some(options)) = (&db, connect_options) {
            tokio::spawn(postgres::listen_for_changes(pools.clone(), feed.clone()));
            tokio::spawn(postgres::watch_for_outages(pools.clone(), options));
        }
        let store = Store {
            subscription_writer: subscriptions::SubscriptionWriter::start(db.clone(), feed.clone()),
            db,
            feed,
            leases: Arc::default(),
        };
        tokio::spawn(store.clone().follow_changes());
        Ok(store)
    }

    /// Whether the store was closed ([`Store::close`]).
    fn is_closed(&self) -> bool {
        match &self.db {
            Backend::Sqlite(db) => db.writer.is_closed(),
            Backend::Postgres(db) => db.writer.is_closed(),
        }
    }

    /// Checks that the database answers a read and accepts a write transaction (at once
    /// `Unavailable` while it is known down).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.db {
            Backend::Sqlite(db) => on_db!(@gated db, sqlite::ping(db).await),
            Backend::Postgres(db) => on_db!(@gated db, postgres::ping(db).await),
        }
    }

    /// `Err(Unavailable)` at once while the database is known down: for calls that queue work
    /// (the subscription writer) rather than wait behind a batch stuck on the dead database.
    fn refuse_while_down(&self) -> Result<(), StoreError> {
        match &self.db {
            Backend::Sqlite(db) => db.outage.refuse_while_down(),
            Backend::Postgres(db) => db.outage.refuse_while_down(),
        }
    }

    /// Tells the store that a call of a caller with a deadline of its own (health's) got no
    /// answer in time, which the store cannot see itself: it looks at once whether the database
    /// is down, so that later calls are refused at once rather than each waiting for the pool.
    pub fn no_answer_in_time(&self) {
        match &self.db {
            Backend::Sqlite(db) => db.outage.suspect(),
            Backend::Postgres(db) => db.outage.suspect(),
        }
    }

    /// `true` while the database is known down (store calls are then refused at once), `false`
    /// while not; changes as it does, so that health can say so at once.
    pub fn database_down(&self) -> tokio::sync::watch::Receiver<bool> {
        match &self.db {
            Backend::Sqlite(db) => db.outage.changes(),
            Backend::Postgres(db) => db.outage.changes(),
        }
    }

    /// Closes the database cleanly (on SQLite, after folding the WAL into the file).
    pub async fn close(&self) {
        self.leases.release().await;
        match &self.db {
            Backend::Sqlite(db) => sqlite::close(db).await,
            Backend::Postgres(db) => db.close().await,
        }
    }
}

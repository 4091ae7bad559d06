//! The store on PostgreSQL: for several StreamHub instances sharing their metadata.
//! Every statement is the same as on SQLite (`sql/`); what PostgreSQL adds is that other
//! instances write too, so the few read-then-write steps that relied on SQLite's single writer
//! take a lock here (`dialect`).

use super::{changes::ChangeFeed, StoreError};
use sqlx::{
    postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions},
    Connection as _,
};
use std::{collections::HashMap, str::FromStr, sync::Arc, time::Duration};

/// The database the shared SQL is compiled for here.
type Db = sqlx::Postgres;

/// What the shared SQL writes in PostgreSQL's words.
mod dialect {
    /// Said after a bound text value that is folded like a column: the byte-wise collation.
    /// The columns have it (see the schema); a bound value has the database's default, whose
    /// `lower` would fold `É` where the column's folds ASCII only.
    pub const BYTE_WISE: &str = " COLLATE \"C\"";
    /// `F(text, part)`: where `part` starts in `text` (from 1), 0 when it is not there.
    pub const FIND_TEXT: &str = "strpos";
    /// Taken before a topic request's colliding-name check, until its transaction ends: two
    /// instances checking colliding names at once would each miss the other's. One lock per
    /// name as Kafka's metrics read it (`.` as `_`; `$1` is the requested name), in a key space
    /// of its own ("SH" + 1), so that requests for unrelated names do not wait for each other.
    pub const LOCK_TOPIC_NAME: Option<&str> =
        Some("SELECT pg_advisory_xact_lock(21321, hashtext(replace($1, '.', '_')))");
    /// Taken before checking whether a failure repeats the last audited one, until the
    /// transaction ends: two instances seeing the same failure would both find it new.
    pub const LOCK_AUDIT_REPEATS: Option<&str> = Some("SELECT pg_advisory_xact_lock(21320, 3)");
}

// The same SQL is this module's and the other database's, on purpose (see `sql/mod.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

pub(super) use sql::Pools;

/// Writer connections per instance. A few, not one: unlike SQLite, PostgreSQL writes rows
/// concurrently, and a slow write (a subscription batch) need not hold up the next.
const WRITERS: u32 = 4;
/// Reader connections per instance; reads are cached above the store (`read_cache`).
const READERS: u32 = 8;
/// How long a caller waits for a connection before the store answers `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the database at `url` and applies pending migrations; the pools, and the options
/// they connect with (for the outage watcher). While the database cannot be reached it keeps
/// trying (instances may well start before it), saying so in the log.
pub(super) async fn open(url: &str) -> Result<(Pools, PgConnectOptions), StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("the database URL: {e}")))?
        .application_name("streamhub")
        // The server notices a client host that died or was cut off within seconds, not the
        // two hours of TCP's default, and lets go of its locks (the elected jobs').
        .options([
            ("tcp_keepalives_idle", "5"),
            ("tcp_keepalives_interval", "2"),
            ("tcp_keepalives_count", "3"),
            ("tcp_user_timeout", "10000"),
        ]);
    let pool = |size| {
        PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.clone())
    };
    let (reader, writer) = (pool(READERS), pool(WRITERS));
    let mut delay = Duration::from_millis(200);
    loop {
        // The migrator locks the database (an advisory lock), so instances starting together
        // apply each migration once.
        match sqlx::migrate!("./migrations/postgres").run(&writer).await {
            Ok(()) => break,
            Err(sqlx::migrate::MigrateError::Execute(e)) => match StoreError::from(e) {
                StoreError::Unavailable(e) => tracing::warn!(
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "the database is unavailable; retrying"
                ),
                e => return Err(StoreError::Other(format!("migration failed: {e}"))),
            },
            Err(e) => return Err(StoreError::Other(format!("migration failed: {e}"))),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    let pools = Pools {
        reader,
        writer,
        outage: Default::default(),
    };
    Ok((pools, options))
}

/// Runs the store's outage watcher (`store::outage`) until the store closes. Its look: a pooled
/// connection that answers, else a fresh connection; the database is there if the server
/// answers anything at all (a refusal too: too many clients, a wrong password), and down only if
/// nothing answers.
pub(super) async fn watch_for_outages(pools: Pools, options: PgConnectOptions) {
    let try_connect = || async {
        if let Some(mut conn) = pools.reader.try_acquire() {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return Ok(());
            }
        }
        match PgConnection::connect_with(&options).await {
            Ok(conn) => {
                let _ = conn.close().await;
                Ok(())
            }
            Err(e) if nothing_answers(&e) => Err(e.to_string()),
            Err(_) => Ok(()),
        }
    };
    pools
        .outage
        .watch(try_connect, || pools.writer.is_closed())
        .await;
}

/// Whether a connection attempt's error says that no database answered: the connection was
/// refused, reset or timed out, or the server is shutting down or starting up (SQLSTATE class
/// 08, 57P01–57P03). Any other answer comes from a server that is there.
fn nothing_answers(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Checks that the database answers a read and that a writer connection is usable and not on a
/// read-only standby.
pub(super) async fn ping(db: &Pools) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(&db.reader).await?;
    db.write(async |conn| {
        let read_only: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(&mut *conn)
            .await?;
        if read_only {
            return Err(StoreError::Unavailable(
                "the database is a read-only standby".into(),
            ));
        }
        Ok(())
    })
    .await
}

/// Whether PostgreSQL's error says the database cannot be used right now (its SQLSTATE class:
/// connection trouble, out of resources, shutting down, a statement cancelled or timed out, a
/// serialisation failure or deadlock worth retrying, a read-only standby) rather than that the
/// statement is wrong.
pub(super) fn is_unavailable(error: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    let Some(error) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() else {
        return false;
    };
    let code = error.code();
    ["08", "53", "57P", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || matches!(code, "40001" | "40P01" | "25006" | "57014")
}

/// Whether PostgreSQL refused a value's text (a NUL character, which SQLite keeps): SQLSTATE
/// 22021 or 22P05.
pub(super) fn is_unstorable(error: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|e| matches!(e.code(), "22021" | "22P05"))
}

/// The channel every append to the change log announces on (at its commit; see the trigger
/// `change_log_in_order` in the migrations).
const CHANGES_CHANNEL: &str = "streamhub_changes";

/// Rings the feed's wake-up whenever another instance announces a change, and after every
/// (re)connection (announcements made while disconnected are lost; the log is not), until the
/// store closes.
pub(super) async fn listen_for_changes(db: Pools, feed: Arc<ChangeFeed>) {
    while !db.reader.is_closed() {
        let listening = async {
            let mut listener = PgListener::connect_with(&db.reader).await?;
            listener.listen(CHANGES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listening.await {
            Ok(listener) => listener,
            Err(_) => {
                // The follower's poll says that the database is away; nothing to add here.
                tokio::time::sleep(super::changes::POLL).await;
                continue;
            }
        };
        feed.wake.notify_one();
        // `Ok(None)`: the connection was lost and made again; `Err`: it could not be, or the
        // store closed.
        while let Ok(announced) = listener.try_recv().await {
            if announced.is_none() {
                tracing::debug!("change announcements: reconnected");
            }
            feed.wake.notify_one();
        }
    }
}

/// StreamHub's key space for advisory locks (the first half of each two-part key).
const LOCK_SPACE: i32 = 21320;
/// How long checking or taking a lease may take before it counts as not held.
const LEASE_CHECK: Duration = Duration::from_secs(2);

/// The advisory locks this instance holds for elected jobs, each on a connection of its own
/// (taken out of the pool): a session lock lives as long as its connection, so an instance that
/// dies lets go of its jobs as soon as the database notices — at once for a process that ends
/// (its host closes the connection), within about 15 s for a host that goes silent (TCP
/// keep-alives and the user timeout set at connect).
#[derive(Default)]
pub(super) struct Leases {
    held: tokio::sync::Mutex<HashMap<i32, PgConnection>>,
}

impl Leases {
    /// Whether this instance holds lease `key`, taking it if nobody does.
    pub(super) async fn hold(&self, db: &Pools, key: i32) -> bool {
        let mut held = self.held.lock().await;
        if let Some(conn) = held.get_mut(&key) {
            let alive =
                tokio::time::timeout(LEASE_CHECK, sqlx::query("SELECT 1").execute(&mut *conn))
                    .await;
            if matches!(alive, Ok(Ok(_))) {
                return true;
            }
            // Its connection is gone, and the lock with it.
            tracing::warn!(
                lease = key,
                "lost an elected job's lock with its connection"
            );
            held.remove(&key);
        }
        let Ok(Ok(mut conn)) = tokio::time::timeout(LEASE_CHECK, db.writer.acquire()).await else {
            return false;
        };
        let take = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK_SPACE)
            .bind(key)
            .fetch_one(&mut *conn);
        match tokio::time::timeout(LEASE_CHECK, take).await {
            Ok(Ok(true)) => {
                tracing::info!(lease = key, "took an elected job");
                // Kept out of the pool while held.
                held.insert(key, conn.detach());
                true
            }
            // Not taken: back to the pool, holding nothing.
            Ok(Ok(false)) => false,
            // Unknown whether the lock was taken: the connection must not go back holding it.
            Ok(Err(_)) | Err(_) => {
                conn.close_on_drop();
                false
            }
        }
    }

    /// Lets go of every lease (a clean shutdown: the others take over at once).
    pub(super) async fn release(&self) {
        for (_, conn) in self.held.lock().await.drain() {
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

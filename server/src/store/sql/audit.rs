//! The SQL of the audit log (see `store::audit`).

use super::{dialect, Connection, Pools};
use crate::store::{Actor, AuditFilter, AuditOutcome, NewAuditEntry, StoreError};
use app::wire::AuditEntry;
use sqlx::Connection as _;
use sqlx::FromRow;

#[derive(FromRow)]
struct AuditRow {
    audit_id: i64,
    at: String,
    actor: String,
    action: String,
    topic_name: Option<String>,
    remote_addr: Option<String>,
    outcome: String,
    detail: Option<String>,
    on_behalf_of: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            audit_id: r.audit_id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            topic_name: r.topic_name,
            remote_addr: r.remote_addr,
            outcome: r.outcome,
            detail: r.detail,
            on_behalf_of: r.on_behalf_of,
        }
    }
}

/// Appends one row inside the caller's transaction.
pub(super) async fn insert(
    conn: &mut Connection,
    at: &str,
    row: Row<'_>,
) -> Result<(), StoreError> {
    insert_many(conn, at, std::iter::once(row)).await
}

/// One row for [`insert`] and [`insert_many`]: every audit row is written through these two.
pub(super) struct Row<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub topic_name: Option<&'a str>,
    pub outcome: AuditOutcome,
    pub detail: Option<String>,
}

/// Appends several rows with as few statements as SQLite's limit on bound values allows, inside
/// the caller's transaction.
pub(super) async fn insert_many<'a>(
    conn: &mut Connection,
    at: &str,
    rows: impl Iterator<Item = Row<'a>>,
) -> Result<(), StoreError> {
    let rows: Vec<Row<'a>> = rows.collect();
    // SQLite allows 32,766 bound values per statement (PostgreSQL 65,535); a row binds 8.
    for chunk in rows.chunks(4000) {
        // The builder writes the placeholders in the database's own form.
        let mut query = sqlx::QueryBuilder::new(
            "INSERT INTO audit_log \
             (at, actor, action, topic_name, remote_addr, outcome, detail, on_behalf_of) ",
        );
        query.push_values(chunk, |mut values, row| {
            values
                .push_bind(at)
                .push_bind(&row.actor.name)
                .push_bind(row.action)
                .push_bind(row.topic_name)
                .push_bind(&row.actor.remote_addr)
                .push_bind(row.outcome.as_str())
                .push_bind(row.detail.as_deref())
                .push_bind(&row.actor.on_behalf_of);
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

impl<'a> Row<'a> {
    /// The row `entry` makes when `actor` did it.
    fn by(actor: &'a Actor, entry: NewAuditEntry<'a>) -> Row<'a> {
        Row {
            actor,
            action: entry.action,
            topic_name: entry.topic_name,
            outcome: entry.outcome,
            detail: entry.detail.map(str::to_owned),
        }
    }
}

impl Pools {
    /// See `Store::record`.
    pub(in crate::store) async fn record(
        &self,
        actor: &Actor,
        entry: NewAuditEntry<'_>,
        now: &str,
    ) -> Result<(), StoreError> {
        self.write(async |conn| insert(conn, now, Row::by(actor, entry)).await)
            .await
    }

    /// See `Store::record_unless_repeated`.
    pub(in crate::store) async fn record_unless_repeated(
        &self,
        actor: &Actor,
        entry: NewAuditEntry<'_>,
        now: &str,
    ) -> Result<(), StoreError> {
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            // Two instances seeing the same failure at once would both find it new.
            if let Some(lock) = dialect::LOCK_AUDIT_REPEATS {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            let latest: Option<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT actor, outcome, detail FROM audit_log \
                 WHERE topic_name IS NOT DISTINCT FROM $1 AND action = $2 \
                 ORDER BY audit_id DESC LIMIT 1",
            )
            .bind(entry.topic_name)
            .bind(entry.action)
            .fetch_optional(&mut *tx)
            .await?;
            let repeated = latest.is_some_and(|(a, outcome, detail)| {
                a == actor.name
                    && outcome == entry.outcome.as_str()
                    && detail.as_deref() == entry.detail
            });
            if !repeated {
                insert(&mut tx, now, Row::by(actor, entry)).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// See `Store::audit`.
    pub(in crate::store) async fn audit(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT audit_id, at, actor, action, topic_name, remote_addr, outcome, detail, \
                    on_behalf_of \
             FROM audit_log \
             WHERE ($1 IS NULL OR topic_name = $1) \
               AND ($2 IS NULL OR actor = $2 OR actor = 'user:' || $2) \
               AND ($3 IS NULL OR action = $3) \
             ORDER BY audit_id DESC LIMIT $4",
        )
        .bind(&filter.topic)
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(filter.limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}

//! The audit log: one row for every mutating call and every denied attempt — who, what, which
//! topic, from where, and how it ended. Rows are only ever appended.

use super::{Actor, Store, StoreError};
use crate::now_rfc3339;
use app::wire::AuditEntry;
use sqlx::{FromRow, SqliteConnection};

/// How an audited action ended: the `outcome` column, a closed set so that queries and readers
/// of the log can rely on its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    /// It took effect.
    Ok,
    /// The caller was not allowed to do it (bad or missing credentials).
    Denied,
    /// The request was refused as invalid (a 4xx).
    Rejected,
    /// It was allowed and valid but did not succeed (broker or database trouble).
    Failed,
}

impl AuditOutcome {
    /// The word stored in the `outcome` column and shown by `GET /api/audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Rejected => "rejected",
            AuditOutcome::Failed => "failed",
        }
    }
}

/// An event to record outside a lifecycle transaction (denials, failures).
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub action: &'a str,
    pub topic_name: Option<&'a str>,
    pub outcome: AuditOutcome,
    pub detail: Option<&'a str>,
}

impl<'a> NewAuditEntry<'a> {
    /// The row this entry makes when `actor` did it.
    fn by(self, actor: &'a Actor) -> Row<'a> {
        Row {
            actor,
            action: self.action,
            topic_name: self.topic_name,
            outcome: self.outcome,
            detail: self.detail.map(str::to_owned),
        }
    }
}

/// Which rows `GET /api/audit` wants.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub topic: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

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
    conn: &mut SqliteConnection,
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
    conn: &mut SqliteConnection,
    at: &str,
    rows: impl Iterator<Item = Row<'a>>,
) -> Result<(), StoreError> {
    let rows: Vec<Row<'a>> = rows.collect();
    // SQLite allows 32,766 bound values per statement; a row binds 8.
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

impl Store {
    /// Records an event on its own (a denied attempt, a failed activation, …).
    pub async fn record(&self, actor: &Actor, entry: NewAuditEntry<'_>) -> Result<(), StoreError> {
        let mut writer = super::WriterConn::acquire(&self.writer).await?;
        let result = insert(writer.conn(), &now_rfc3339(), entry.by(actor)).await;
        writer.finish(result)
    }

    /// Records an event unless the topic's latest row for the same action says the same (same
    /// actor, outcome and detail): a failure that repeats on every poll (an activation while
    /// the broker is down, a recreation it refuses) is written once per change of state, not
    /// once per attempt.
    pub async fn record_unless_repeated(
        &self,
        actor: &Actor,
        entry: NewAuditEntry<'_>,
    ) -> Result<(), StoreError> {
        let mut writer = super::WriterConn::acquire(&self.writer).await?;
        let result = async {
            let latest: Option<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT actor, outcome, detail FROM audit_log \
                 WHERE topic_name IS NOT DISTINCT FROM $1 AND action = $2 ORDER BY audit_id DESC LIMIT 1",
            )
            .bind(entry.topic_name)
            .bind(entry.action)
            .fetch_optional(&mut *writer.conn())
            .await?;
            let repeated = latest.is_some_and(|(a, outcome, detail)| {
                a == actor.name
                    && outcome == entry.outcome.as_str()
                    && detail.as_deref() == entry.detail
            });
            if repeated {
                return Ok(());
            }
            insert(writer.conn(), &now_rfc3339(), entry.by(actor)).await
        }
        .await;
        writer.finish(result)
    }

    /// Audit rows matching `filter`, newest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
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

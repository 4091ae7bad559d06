//! The SQL of the change log (see `store::changes`).

use super::{Connection, Pools};
use crate::store::{
    changes::{Change, TopicEvent},
    StoreError,
};
use sqlx::FromRow;

/// A `change_log` row.
#[derive(FromRow)]
struct ChangeRow {
    change_id: i64,
    kind: String,
    topic_name: Option<String>,
    user_id: Option<String>,
    subject: Option<String>,
    expires: Option<i64>,
}

/// Appends `changes` inside the caller's transaction, so that they commit with the changes
/// themselves or not at all. Ids must commit in order (a reader that has seen id N must never
/// miss a smaller one that commits later): on SQLite the one writer connection sees to it; on
/// PostgreSQL the insert itself takes the log's lock before any row gets its id, held until the
/// commit, and wakes the other instances at the commit (the trigger `change_log_in_order`,
/// PostgreSQL's migrations), so that the lock is held for this statement and the commit only.
pub(super) async fn append(
    conn: &mut Connection,
    at: &str,
    changes: &[Change],
) -> Result<(), StoreError> {
    // A row binds 6 values: far below either database's limit per statement.
    for chunk in changes.chunks(1000) {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO change_log (at, kind, topic_name, user_id, subject, expires) ",
        );
        insert.push_values(chunk, |mut values, change| {
            let row = Columns::of(change);
            values
                .push_bind(at)
                .push_bind(row.kind)
                .push_bind(row.topic_name)
                .push_bind(row.user_id)
                .push_bind(row.subject)
                .push_bind(row.expires);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// A change as the log's columns.
struct Columns<'a> {
    kind: &'a str,
    topic_name: Option<&'a str>,
    user_id: Option<&'a str>,
    subject: Option<String>,
    expires: Option<i64>,
}

impl<'a> Columns<'a> {
    fn of(change: &'a Change) -> Self {
        let empty = Columns {
            kind: "",
            topic_name: None,
            user_id: None,
            subject: None,
            expires: None,
        };
        match change {
            Change::Subscription {
                user_id,
                topic,
                added,
            } => Columns {
                kind: if *added { "subscribe" } else { "unsubscribe" },
                topic_name: Some(topic),
                user_id: Some(user_id),
                ..empty
            },
            Change::Topic { topic, event } => Columns {
                kind: "topic",
                topic_name: Some(topic),
                subject: Some(event.as_str().to_owned()),
                ..empty
            },
            Change::SessionRevoked {
                session_id,
                expires,
            } => Columns {
                kind: "session_revoked",
                subject: Some(session_id.clone()),
                expires: Some(*expires),
                ..empty
            },
            Change::TokenRevoked { token_id } => Columns {
                kind: "token_revoked",
                subject: Some(token_id.to_string()),
                ..empty
            },
        }
    }
}

impl ChangeRow {
    /// The change this row records; `None` for a kind this version does not know (written by a
    /// newer instance during a rolling upgrade).
    fn change(self) -> Option<Change> {
        Some(match self.kind.as_str() {
            "subscribe" | "unsubscribe" => Change::Subscription {
                added: self.kind == "subscribe",
                user_id: self.user_id?,
                topic: self.topic_name?,
            },
            "topic" => Change::Topic {
                event: TopicEvent::parse(self.subject.as_deref()?)?,
                topic: self.topic_name?,
            },
            "session_revoked" => Change::SessionRevoked {
                session_id: self.subject?,
                expires: self.expires?,
            },
            "token_revoked" => Change::TokenRevoked {
                token_id: self.subject?.parse().ok()?,
            },
            _ => return None,
        })
    }
}

impl Pools {
    /// Up to `limit` changes after `after`, in id order, each with its id.
    pub(in crate::store) async fn changes_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Option<Change>)>, StoreError> {
        let rows: Vec<ChangeRow> = sqlx::query_as(
            "SELECT change_id, kind, topic_name, user_id, subject, expires FROM change_log \
             WHERE change_id > $1 ORDER BY change_id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.change_id, r.change()))
            .collect())
    }

    /// The newest change's id (0 for none).
    pub(in crate::store) async fn last_change(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(change_id), 0) FROM change_log")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    /// Forgets changes made before `at` (RFC 3339); how many.
    pub(in crate::store) async fn forget_changes_before(
        &self,
        at: &str,
    ) -> Result<u64, StoreError> {
        self.write(async |conn| {
            Ok(sqlx::query("DELETE FROM change_log WHERE at < $1")
                .bind(at)
                .execute(conn)
                .await?
                .rows_affected())
        })
        .await
    }
}

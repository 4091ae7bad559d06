//! The SQL of `store/identities.rs`.

use super::{audit, changes, Pools};
use crate::store::{Actor, AuditOutcome, Change, StoreError};
use sqlx::Connection as _;

impl Pools {
    /// See `Store::bind_identity`.
    pub(in crate::store) async fn bind_identity(
        &self,
        user_id: &str,
        subject: &str,
        teams: &str,
        now: &str,
    ) -> Result<String, StoreError> {
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO identities (user_id, subject, bound_at, teams) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id) DO UPDATE SET teams = excluded.teams \
                 WHERE identities.subject = excluded.subject",
            )
            .bind(user_id)
            .bind(subject)
            .bind(now)
            .bind(teams)
            .execute(&mut *conn)
            .await?;
            let (bound,): (String,) =
                sqlx::query_as("SELECT subject FROM identities WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&mut *conn)
                    .await?;
            Ok(bound)
        })
        .await
    }

    /// See `Store::teams_of`: the stored JSON list, if the person signed in.
    pub(in crate::store) async fn teams_of(
        &self,
        user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT teams FROM identities WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    /// See `Store::unbind_identity`.
    pub(in crate::store) async fn unbind_identity(
        &self,
        user_id: &str,
        actor: &Actor,
        now: &str,
    ) -> Result<Option<String>, StoreError> {
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            let subject: Option<String> =
                sqlx::query_scalar("DELETE FROM identities WHERE user_id = $1 RETURNING subject")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(subject) = &subject {
                // The old account's personal tokens end with its hold on the name (on every
                // instance, through the change log).
                let revoked: Vec<i64> = sqlx::query_scalar(
                    "UPDATE access_tokens SET revoked_at = $1 \
                     WHERE user_id = $2 AND revoked_at IS NULL RETURNING token_id",
                )
                .bind(now)
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
                let ended: Vec<Change> = revoked
                    .iter()
                    .map(|&token_id| Change::TokenRevoked { token_id })
                    .collect();
                changes::append(&mut tx, now, &ended).await?;
                let row = audit::Row {
                    actor,
                    action: "unbind_identity",
                    topic_name: None,
                    outcome: AuditOutcome::Ok,
                    detail: Some(format!(
                        "user={user_id} subject={subject} tokens_revoked={}",
                        revoked.len()
                    )),
                };
                audit::insert(&mut tx, now, row).await?;
            }
            tx.commit().await?;
            Ok(subject)
        })
        .await
    }
}

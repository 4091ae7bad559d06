//! The SQL of signed-out sessions (see `store::revoked_sessions`).

use super::{changes, Pools};
use crate::store::{Change, StoreError};
use sqlx::Connection as _;

impl Pools {
    /// See `Store::revoke_session`.
    pub(in crate::store) async fn revoke_session(
        &self,
        id: &str,
        expires: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            sqlx::query("DELETE FROM revoked_sessions WHERE expires <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO revoked_sessions (session_id, expires) VALUES ($1, $2) \
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(id)
            .bind(expires)
            .execute(&mut *tx)
            .await?;
            let change = Change::SessionRevoked {
                session_id: id.to_owned(),
                expires,
            };
            changes::append(&mut tx, &crate::now_rfc3339(), &[change]).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// See `Store::revoked_sessions`.
    pub(in crate::store) async fn revoked_sessions(
        &self,
        now: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT session_id, expires FROM revoked_sessions WHERE expires > $1")
                .bind(now)
                .fetch_all(&self.reader)
                .await?,
        )
    }
}

//! The SQL of signed-out sessions (see `store::revoked_sessions`).

use super::{Pools, WriterConn};
use crate::store::StoreError;

impl Pools {
    /// See `Store::revoke_session`.
    pub(in crate::store) async fn revoke_session(
        &self,
        id: &str,
        expires: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut writer = WriterConn::acquire(&self.writer).await?;
        let result = async {
            sqlx::query("DELETE FROM revoked_sessions WHERE expires <= $1")
                .bind(now)
                .execute(writer.conn())
                .await?;
            sqlx::query(
                "INSERT INTO revoked_sessions (session_id, expires) VALUES ($1, $2) \
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(id)
            .bind(expires)
            .execute(writer.conn())
            .await?;
            Ok(())
        }
        .await;
        writer.finish(result)
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

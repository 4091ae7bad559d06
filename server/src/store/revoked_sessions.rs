//! Signed-out dashboard sessions, kept until they would have expired anyway, so that a
//! signed-out cookie is refused after a restart too. [`crate::sessions`] checks its own
//! in-memory copy per request; this is what it is restored from.

use super::{Store, StoreError, WriterConn};

impl Store {
    /// Records that session `id` (valid until `expires`, seconds since the epoch) was signed
    /// out, and forgets revocations that expired before `now`.
    pub async fn revoke_session(&self, id: &str, expires: i64, now: i64) -> Result<(), StoreError> {
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

    /// Sessions signed out that have not expired by `now`: `(id, expires)`.
    pub async fn revoked_sessions(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT session_id, expires FROM revoked_sessions WHERE expires > $1")
                .bind(now)
                .fetch_all(&self.reader)
                .await?,
        )
    }
}

//! Signed-out dashboard sessions, kept until they would have expired anyway, so that a
//! signed-out cookie is refused after a restart too. [`crate::sessions`] checks its own
//! in-memory copy per request; this is what it is restored from. The SQL is in
//! `sql/revoked_sessions.rs`.

use super::{on_db, Store, StoreError};

impl Store {
    /// Records that session `id` (valid until `expires`, seconds since the epoch) was signed
    /// out, and forgets revocations that expired before `now`.
    pub async fn revoke_session(&self, id: &str, expires: i64, now: i64) -> Result<(), StoreError> {
        on_db!(&self.db, db => db.revoke_session(id, expires, now).await)?;
        // Its sockets end here before the caller hears it is done.
        self.changed().await;
        Ok(())
    }

    /// Sessions signed out that have not expired by `now`: `(id, expires)`.
    pub async fn revoked_sessions(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        on_db!(&self.db, db => db.revoked_sessions(now).await)
    }
}

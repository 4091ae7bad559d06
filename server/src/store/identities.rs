//! Which provider subject each user id belongs to (`oidc` mode): bound at a name's first
//! sign-in, checked at every later one. The SQL is in `sql/identities.rs`.

use super::{on_db, Store, StoreError};

impl Store {
    /// Binds `user_id` to the provider's `subject` if it is not bound yet; the subject it is
    /// bound to (a different one: the name is someone else's).
    pub async fn bind_identity(&self, user_id: &str, subject: &str) -> Result<String, StoreError> {
        let now = crate::now_rfc3339();
        on_db!(&self.db, db => db.bind_identity(user_id, subject, &now).await)
    }
}

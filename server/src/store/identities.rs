//! Which provider subject each user id belongs to (`oidc` mode): bound at a name's first
//! sign-in, checked at every later one; and the person's teams as of their latest sign-in,
//! which their sessions and personal tokens act with. The SQL is in `sql/identities.rs`.

use super::{on_db, Actor, Store, StoreError};
use app::access::TeamName;

impl Store {
    /// Binds `user_id` to the provider's `subject` if it is not bound yet, and records `teams`
    /// when it is bound to that subject; the subject it is bound to (a different one: the name
    /// is someone else's, and nothing was recorded).
    pub async fn bind_identity(
        &self,
        user_id: &str,
        subject: &str,
        teams: &[TeamName],
    ) -> Result<String, StoreError> {
        let now = crate::now_rfc3339();
        let teams = serde_json::to_string(teams).unwrap_or_else(|_| "[]".to_owned());
        on_db!(&self.db, db => db.bind_identity(user_id, subject, &teams, &now).await)
    }

    /// The teams `user_id` had at their latest sign-in (none for someone who never signed in
    /// through the identity provider).
    pub async fn teams_of(&self, user_id: &str) -> Result<Vec<TeamName>, StoreError> {
        let stored = on_db!(&self.db, db => db.teams_of(user_id).await)?;
        // Written by `bind_identity` from checked names; anything else reads as no team.
        Ok(stored
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default())
    }

    /// Releases `user_id` from the provider subject it is bound to (an admin's decision, when
    /// the person's account at the provider was replaced): their next sign-in binds the name
    /// anew. Audited as `unbind_identity`; the subject it was bound to, if it was.
    pub async fn unbind_identity(
        &self,
        user_id: &str,
        actor: &Actor,
    ) -> Result<Option<String>, StoreError> {
        let now = crate::now_rfc3339();
        on_db!(&self.db, db => db.unbind_identity(user_id, actor, &now).await)
    }
}

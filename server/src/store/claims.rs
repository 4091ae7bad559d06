//! Claims: a team asks to own a topic that nobody owns, and an admin decides. The SQL is in
//! `sql/claims.rs`.

use super::{on_db, AccessChange, Actor, Store, StoreError};
use crate::access::Ownership;
use app::access::TopicClaim;

/// What asking for a topic did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// A new claim, waiting for an admin.
    Asked,
    /// The team had asked already.
    AskedAlready,
    /// Someone owns the topic: there is nothing to claim.
    Owned,
    /// No such topic.
    NoTopic,
}

impl Store {
    /// `team` asks (through `actor`) to own topic `id`, if nobody owns it; audited as
    /// `request_claim`.
    pub async fn claim_topic(
        &self,
        id: i64,
        team: &str,
        actor: &Actor,
    ) -> Result<Claimed, StoreError> {
        let now = crate::now_rfc3339();
        on_db!(&self.db, db => db.claim_topic(id, team, actor, &now).await)
    }

    /// Claims waiting for an admin, oldest first (at most `limit`).
    pub async fn topic_claims(&self, limit: i64) -> Result<Vec<TopicClaim>, StoreError> {
        on_db!(&self.db, db => db.topic_claims(limit).await)
    }

    /// An admin gives topic `id` to `team`, whose claim it was (the topic's other claims are
    /// dropped: it is owned now): `false` when there was no such claim, or someone owns the
    /// topic meanwhile. Audited as `approve_claim`.
    pub async fn grant_claim(
        &self,
        id: i64,
        team: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        if !on_db!(&self.db, db => db.take_claims(id, Some(team)).await)? {
            return Ok(false);
        }
        let change = AccessChange {
            owner: Some(Ownership {
                team: Some(team.to_owned()),
                user: None,
            }),
            ..AccessChange::default()
        };
        let topic = self
            .change_access(id, &change, "approve_claim", actor)
            .await?;
        Ok(topic.is_some())
    }

    /// An admin turns `team`'s claim on topic `id` down: `false` when there was none.
    /// Audited as `reject_claim`.
    pub async fn reject_claim(
        &self,
        id: i64,
        team: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let now = crate::now_rfc3339();
        on_db!(&self.db, db => db.reject_claim(id, team, actor, &now).await)
    }
}

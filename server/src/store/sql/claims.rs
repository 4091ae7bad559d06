//! The SQL of `store/claims.rs`.

use super::{audit, Pools};
use crate::store::{claims::Claimed, Actor, AuditOutcome, StoreError};
use app::access::TopicClaim;
use sqlx::Connection as _;

impl Pools {
    /// See `Store::claim_topic`.
    pub(in crate::store) async fn claim_topic(
        &self,
        id: i64,
        team: &str,
        actor: &Actor,
        now: &str,
    ) -> Result<Claimed, StoreError> {
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            let topic: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT topic_name, owner_team, owner_user FROM topics WHERE topic_id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((name, owner_team, owner_user)) = topic else {
                return Ok(Claimed::NoTopic);
            };
            if owner_team.is_some() || owner_user.is_some() {
                return Ok(Claimed::Owned);
            }
            let added = sqlx::query(
                "INSERT INTO topic_claims (topic_id, team, requested_by, requested_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (topic_id, team) DO NOTHING",
            )
            .bind(id)
            .bind(team)
            .bind(&actor.name)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if !added {
                return Ok(Claimed::AskedAlready);
            }
            let row = audit::Row {
                actor,
                action: "request_claim",
                topic_name: Some(&name),
                outcome: AuditOutcome::Ok,
                detail: Some(format!("team={team}")),
            };
            audit::insert(&mut tx, now, row).await?;
            tx.commit().await?;
            Ok(Claimed::Asked)
        })
        .await
    }

    /// See `Store::topic_claims`.
    pub(in crate::store) async fn topic_claims(
        &self,
        limit: i64,
    ) -> Result<Vec<TopicClaim>, StoreError> {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            "SELECT c.topic_id, t.topic_name, c.team, c.requested_by, c.requested_at \
             FROM topic_claims c JOIN topics t ON t.topic_id = c.topic_id \
             ORDER BY c.requested_at, c.topic_id, c.team LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(topic_id, topic_name, team, requested_by, requested_at)| TopicClaim {
                    topic_id,
                    topic_name,
                    team,
                    requested_by,
                    requested_at,
                },
            )
            .collect())
    }

    /// Drops topic `id`'s claims once it is owned, if `team` (when given) had claimed it and
    /// nobody owns it yet: whether it did.
    pub(in crate::store) async fn take_claims(
        &self,
        id: i64,
        team: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            let mut asked = sqlx::QueryBuilder::new(
                "SELECT COUNT(*) FROM topic_claims c JOIN topics t ON t.topic_id = c.topic_id \
                 WHERE c.topic_id = ",
            );
            asked
                .push_bind(id)
                .push(" AND t.owner_team IS NULL AND t.owner_user IS NULL");
            if let Some(team) = team {
                asked.push(" AND c.team = ").push_bind(team);
            }
            let (claims,): (i64,) = asked.build_query_as().fetch_one(&mut *tx).await?;
            if claims == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM topic_claims WHERE topic_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// See `Store::reject_claim`.
    pub(in crate::store) async fn reject_claim(
        &self,
        id: i64,
        team: &str,
        actor: &Actor,
        now: &str,
    ) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            let name: Option<String> = sqlx::query_scalar(
                "DELETE FROM topic_claims WHERE topic_id = $1 AND team = $2 \
                 RETURNING (SELECT topic_name FROM topics WHERE topic_id = $1)",
            )
            .bind(id)
            .bind(team)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(name) = name else {
                return Ok(false);
            };
            let row = audit::Row {
                actor,
                action: "reject_claim",
                topic_name: Some(&name),
                outcome: AuditOutcome::Ok,
                detail: Some(format!("team={team}")),
            };
            audit::insert(&mut tx, now, row).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }
}

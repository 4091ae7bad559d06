//! The SQL of `store/identities.rs`.

use super::Pools;
use crate::store::StoreError;

impl Pools {
    /// See `Store::bind_identity`.
    pub(in crate::store) async fn bind_identity(
        &self,
        user_id: &str,
        subject: &str,
        now: &str,
    ) -> Result<String, StoreError> {
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO identities (user_id, subject, bound_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user_id)
            .bind(subject)
            .bind(now)
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
}

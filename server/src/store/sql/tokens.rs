//! The SQL of personal access tokens (see `store::tokens`).

use super::{changes, Pools};
use crate::{
    now_rfc3339,
    store::{tokens::NewToken, tokens::TokenHolder, Change, StoreError},
};
use app::wire::{AccessToken, TokenScope};
use sqlx::Connection as _;
use sqlx::FromRow;

/// A token as the store keeps it.
#[derive(Debug, Clone, FromRow)]
struct TokenRow {
    token_id: i64,
    user_id: String,
    name: String,
    scope: String,
    created_at: String,
    expires_at: Option<i64>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl From<TokenRow> for AccessToken {
    fn from(r: TokenRow) -> Self {
        AccessToken {
            token_id: r.token_id,
            user_id: r.user_id,
            name: r.name,
            scope: TokenScope::parse(&r.scope).unwrap_or(TokenScope::Read),
            created_at: r.created_at,
            expires_at: r.expires_at.and_then(|at| {
                chrono::DateTime::from_timestamp(at, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            }),
            last_used_at: r.last_used_at,
            revoked: r.revoked_at.is_some(),
        }
    }
}

/// The columns of a [`TokenRow`], in every statement that reads one.
const TOKEN_COLUMNS: &str =
    "token_id, user_id, name, scope, created_at, expires_at, last_used_at, revoked_at";

impl Pools {
    /// See the `Store` method of this name.
    pub(in crate::store) async fn create_token(
        &self,
        token: &NewToken<'_>,
    ) -> Result<AccessToken, StoreError> {
        self.write(async |conn| {
            let insert = format!(
                "INSERT INTO access_tokens \
                 (user_id, name, scope, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
            );
            let row = sqlx::query_as::<_, TokenRow>(&insert)
                .bind(token.user_id)
                .bind(token.name)
                .bind(token.scope.as_str())
                .bind(token.token_hash)
                .bind(now_rfc3339())
                .bind(token.expires_at)
                .fetch_one(conn)
                .await?;
            Ok(AccessToken::from(row))
        })
        .await
    }

    /// See the `Store` method of this name.
    pub(in crate::store) async fn tokens(
        &self,
        user: Option<&str>,
    ) -> Result<Vec<AccessToken>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens \
             WHERE ($1 IS NULL OR user_id = $1) ORDER BY token_id DESC LIMIT 1000"
        ))
        .bind(user)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(AccessToken::from).collect())
    }

    /// See the `Store` method of this name.
    pub(in crate::store) async fn revoked_tokens(&self, now: i64) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT token_id FROM access_tokens \
             WHERE revoked_at IS NOT NULL AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// See the `Store` method of this name.
    pub(in crate::store) async fn revoke_token(
        &self,
        id: i64,
        user: Option<&str>,
    ) -> Result<Option<(String, String)>, StoreError> {
        let now = now_rfc3339();
        self.write(async |conn| {
            let mut tx = conn.begin().await?;
            let revoked: Option<(String, String)> = sqlx::query_as(
                "UPDATE access_tokens SET revoked_at = $1 \
                 WHERE token_id = $2 AND ($3 IS NULL OR user_id = $3) AND revoked_at IS NULL \
                 RETURNING user_id, name",
            )
            .bind(&now)
            .bind(id)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            if revoked.is_some() {
                changes::append(&mut tx, &now, &[Change::TokenRevoked { token_id: id }]).await?;
            }
            tx.commit().await?;
            Ok(revoked)
        })
        .await
    }

    /// See the `Store` method of this name.
    pub(in crate::store) async fn token_holder(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<TokenHolder>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE token_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) =
            row.filter(|r| r.revoked_at.is_none() && r.expires_at.is_none_or(|e| e > now))
        else {
            return Ok(None);
        };
        let stale = row.last_used_at.as_deref().is_none_or(|at| {
            chrono::DateTime::parse_from_rfc3339(at).map_or(true, |at| now - at.timestamp() >= 60)
        });
        if stale {
            self.write(async |conn| {
                sqlx::query("UPDATE access_tokens SET last_used_at = $1 WHERE token_id = $2")
                    .bind(now_rfc3339())
                    .bind(row.token_id)
                    .execute(conn)
                    .await?;
                Ok(())
            })
            .await?;
        }
        Ok(Some(TokenHolder {
            token_id: row.token_id,
            user_id: row.user_id,
            scope: TokenScope::parse(&row.scope).unwrap_or(TokenScope::Read),
            expires_at: row.expires_at,
        }))
    }
}

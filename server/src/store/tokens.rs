//! Personal access tokens (`oidc` mode): what each one may do, whose it is, when it expires and
//! was last used, whether it was revoked. Only a SHA-256 of each token is kept: tokens are long
//! random strings, so a fast hash cannot be reversed, and a stolen database lets nobody in. The
//! SQL is in `sql/tokens.rs`.

use super::{on_db, Store, StoreError};
use app::wire::{AccessToken, TokenScope};

/// A token that proves someone: whose it is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub token_id: i64,
    pub user_id: String,
    pub scope: TokenScope,
    /// When it stops working (seconds since the epoch), if ever.
    pub expires_at: Option<i64>,
}

/// A new token to keep (its hash, never the token).
pub struct NewToken<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub scope: TokenScope,
    pub token_hash: &'a str,
    pub expires_at: Option<i64>,
}

impl Store {
    /// Keeps a new token; the token as kept.
    pub async fn create_token(&self, token: &NewToken<'_>) -> Result<AccessToken, StoreError> {
        on_db!(&self.db, db => db.create_token(token).await)
    }

    /// `user`'s tokens (everyone's for `None`), newest first.
    pub async fn tokens(&self, user: Option<&str>) -> Result<Vec<AccessToken>, StoreError> {
        on_db!(&self.db, db => db.tokens(user).await)
    }

    /// The ids of every revoked token that would otherwise still work at `now` (seconds since
    /// the epoch), however many.
    pub async fn revoked_tokens(&self, now: i64) -> Result<Vec<i64>, StoreError> {
        on_db!(&self.db, db => db.revoked_tokens(now).await)
    }

    /// Revokes token `id` if it is `user`'s (anyone's for `None`): its owner and name, or `None`
    /// when no such token was in use.
    pub async fn revoke_token(
        &self,
        id: i64,
        user: Option<&str>,
    ) -> Result<Option<(String, String)>, StoreError> {
        let revoked = on_db!(&self.db, db => db.revoke_token(id, user).await)?;
        if revoked.is_some() {
            // Its sockets end here before the caller hears it is done.
            self.changed().await;
        }
        Ok(revoked)
    }

    /// The holder of the token whose hash is `hash`, if it is neither revoked nor expired at
    /// `now` (seconds since the epoch); its last use is noted (at most once a minute).
    pub async fn token_holder(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<TokenHolder>, StoreError> {
        on_db!(&self.db, db => db.token_holder(hash, now).await)
    }
}

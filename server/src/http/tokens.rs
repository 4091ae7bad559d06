//! Personal access tokens (`oidc` mode): `GET /api/tokens` (your own; an admin's `?all=true`
//! lists everyone's), `POST /api/tokens` (made by a signed-in person, shown once, its scope
//! capped at their role), `DELETE /api/tokens/{id}` (yours; an admin revokes anyone's). Sent as
//! `Authorization: Bearer shp_…`, a token proves its owner (see [`super::auth::verified`]).

use super::{
    auth::{session_from_cookie, Reader},
    error::ApiError,
    extract::{ApiPath, ApiQuery},
    json::ApiJson,
    state::AppState,
};
use crate::{
    oidc::AuthMode,
    secrets::{token_hash, Secret, TOKEN_PREFIX},
    sessions::unix_now,
    store::tokens::NewToken,
};
use app::{
    domain::FieldError,
    wire::{
        AccessToken, CreatedAccessToken, MessageBody, NewAccessToken, TokenScope,
        ADMIN_TOKEN_MAX_DAYS, TOKEN_DEFAULT_DAYS, TOKEN_MAX_DAYS,
    },
};
use axum::{extract::State, http::request::Parts, http::StatusCode, Json};
use serde::Deserialize;

fn oidc_only(state: &AppState) -> Result<(), ApiError> {
    match state.auth {
        AuthMode::Oidc => Ok(()),
        AuthMode::Open => Err(ApiError::not_found(
            "personal access tokens belong to people signed in through an identity provider (STREAMHUB_AUTH=oidc)",
        )),
    }
}

/// `?all=true` (an admin's: everyone's tokens).
#[derive(Debug, Deserialize)]
pub struct TokensQuery {
    all: Option<bool>,
}

/// `GET /api/tokens`
pub async fn list(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(query): ApiQuery<TokensQuery>,
) -> Result<Json<Vec<AccessToken>>, ApiError> {
    oidc_only(&state)?;
    let verified = reader.0.unwrap_or_default();
    let whose = match (query.all.unwrap_or(false) && verified.admin, &verified.user) {
        (true, _) => None,
        (false, Some(user)) => Some(user.as_str()),
        (false, None) => return Ok(Json(Vec::new())),
    };
    Ok(Json(state.store.tokens(whose).await?))
}

/// `POST /api/tokens`: a signed-in person makes one (a token cannot make tokens).
pub async fn create(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(request): ApiJson<NewAccessToken>,
) -> Result<(StatusCode, Json<CreatedAccessToken>), ApiError> {
    oidc_only(&state)?;
    super::extract::take_sign_in(&state, super::auth::client_ip(&parts), "token changes").await?;
    let Some((session, actor)) = session_from_cookie(&state, &parts).await? else {
        return Err(ApiError::Unauthenticated(
            "sign in on the dashboard to make a token (a token cannot make tokens)",
        ));
    };
    let Some(user) = session.user() else {
        return Err(ApiError::Forbidden(
            "the admin token's session is nobody in particular: sign in as a person to make a token",
        ));
    };
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.contains('\0') {
        return Err(FieldError::new("name", "give the token a name of 1 to 100 characters").into());
    }
    if request.scope == TokenScope::Admin && !session.admin() {
        return Err(ApiError::Forbidden(
            "only admins make admin tokens: a token may do at most what you may",
        ));
    }
    let expires_at = match (request.scope, request.expires_in_days) {
        // The role is read once, here: an admin token would outlive its owner's removal from
        // the admins' group at the provider, so it must end within a bounded time.
        (TokenScope::Admin, days) if !matches!(days, Some(1..=ADMIN_TOKEN_MAX_DAYS)) => {
            return Err(FieldError::new(
                "expires_in_days",
                "an admin token must expire within 1 to 90 days",
            )
            .into())
        }
        // Every token expires: a stolen one is of use for a bounded time at most.
        (_, None) => Some(unix_now() + TOKEN_DEFAULT_DAYS * 86_400),
        (_, Some(days @ 1..=TOKEN_MAX_DAYS)) => Some(unix_now() + days * 86_400),
        (_, Some(_)) => {
            return Err(
                FieldError::new("expires_in_days", "must be 1 to 366 (left out: 90)").into(),
            )
        }
    };
    let created = issue(&state, &actor, user, name, request.scope, expires_at).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Makes a token for `user` (checked by the caller), audited as `actor`'s: the token itself,
/// shown this once, and what is kept of it.
pub(super) async fn issue(
    state: &AppState,
    actor: &crate::store::Actor,
    user: &str,
    name: &str,
    scope: TokenScope,
    expires_at: Option<i64>,
) -> Result<CreatedAccessToken, ApiError> {
    let secret = Secret::generate().map_err(|e| ApiError::Internal(e.to_string()))?;
    let token = format!("{TOKEN_PREFIX}{}", secret.expose());
    let about = state
        .store
        .create_token(&NewToken {
            user_id: user,
            name,
            scope,
            token_hash: &token_hash(&token),
            expires_at,
        })
        .await?;
    let detail = format!(
        "#{} {:?} ({})",
        about.token_id,
        about.name,
        about.scope.as_str()
    );
    audit(state, actor, "create_token", &detail).await;
    Ok(CreatedAccessToken { token, about })
}

/// `DELETE /api/tokens/{id}`: yours, or anyone's for an admin.
pub async fn revoke(
    State(state): State<AppState>,
    reader: Reader,
    parts: Parts,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MessageBody>, ApiError> {
    oidc_only(&state)?;
    super::extract::take_sign_in(&state, super::auth::client_ip(&parts), "token changes").await?;
    let Some(verified) = reader.0 else {
        return Err(ApiError::Unauthenticated("sign in to revoke a token"));
    };
    // An admin revokes anyone's; a person their own; nobody else any (never "anyone's" by
    // default).
    let whose = match (verified.admin, verified.user.as_deref()) {
        (true, _) => None,
        (false, Some(user)) => Some(user),
        (false, None) => {
            return Err(ApiError::Forbidden(
                "only the token's owner or an admin revokes it",
            ))
        }
    };
    let Some((owner, name)) = state.store.revoke_token(id, whose).await? else {
        return Err(ApiError::NotFound {
            error: "token_not_found",
            message: format!("no token #{id} of yours is in use"),
        });
    };
    // Its open sockets end now, here and on other instances, through the change log.
    let mut actor =
        crate::store::Actor::new(verified.actor_name(), super::auth::remote_addr(&parts));
    if verified.user.as_deref() != Some(owner.as_str()) {
        actor.on_behalf_of = Some(owner);
    }
    audit(&state, &actor, "revoke_token", &format!("#{id} {name:?}")).await;
    Ok(Json(MessageBody::new("Token revoked")))
}

async fn audit(state: &AppState, actor: &crate::store::Actor, action: &str, detail: &str) {
    let entry = crate::store::NewAuditEntry {
        action,
        topic_name: None,
        outcome: crate::store::AuditOutcome::Ok,
        detail: Some(detail),
    };
    if let Err(e) = state.store.record(actor, entry).await {
        tracing::warn!(error = %e, action, "could not audit a token change");
    }
}

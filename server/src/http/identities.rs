//! `DELETE /api/identities/{user_id}` (`oidc` mode, admins): releases a user id from the
//! provider account it was first signed in with. A name is bound to the provider's subject at
//! its first sign-in and a sign-in with another subject is refused; when a person's account at
//! the provider is replaced, an admin releases the name and their next sign-in binds it anew.

use super::{auth::Admin, error::ApiError, extract::ApiPath, state::AppState};
use crate::oidc::AuthMode;
use app::{
    domain::UserId,
    wire::{ErrorBody, MessageBody},
};
use axum::{extract::State, Json};

#[utoipa::path(delete, path = "/api/identities/{user_id}", tag = "system", security(("admin" = [])),
    description = "Releases `user_id` from the identity provider's account it is bound to (`oidc` mode): the next sign-in with that name binds it anew. The name's personal tokens are revoked with it; dashboard sessions already signed in end at their expiry or sign-out. Audited as `unbind_identity`.",
    params(("user_id" = String, Path, description = "The user id")),
    responses((status = 200, body = MessageBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "Not bound to any account, or not `oidc` mode", body = ErrorBody),
        (status = 503, description = "The database did not answer", body = ErrorBody)))]
/// `DELETE /api/identities/{user_id}` (admin)
pub async fn unbind(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<MessageBody>, ApiError> {
    if state.auth != AuthMode::Oidc {
        return Err(ApiError::not_found(
            "user ids are bound to accounts only with an identity provider (STREAMHUB_AUTH=oidc)",
        ));
    }
    let user = UserId::parse(&user_id, "user_id")?;
    match state
        .store
        .unbind_identity(user.as_str(), &admin.actor)
        .await?
    {
        Some(_) => Ok(Json(MessageBody::new(
            "Released: the next sign-in with this name binds it",
        ))),
        None => Err(ApiError::NotFound {
            error: "identity_not_found",
            message: format!("{user} is not bound to any account"),
        }),
    }
}

//! [`OwnerAction`]: someone who may act for a topic's owners, the extractor of the routes its
//! owners share with admins (test records, deactivation, reactivation, level and masks).

use super::{
    auth::{bearer_token, personal_token, remote_addr, session_from_cookie, session_holder, Check},
    error::ApiError,
    state::AppState,
};
use crate::{
    oidc::AuthMode,
    store::{Actor, AuditOutcome, NewAuditEntry},
};
use axum::{extract::FromRequestParts, http::request::Parts};

/// Someone who may act for a topic's owners once the topic is known ([`OwnerAction::check`]):
/// a signed-in person (their session, with the CSRF token, or a personal access token) or the
/// admin token. Producing test records, deactivating and reactivating a topic take it: its
/// owners do those as admins do.
pub struct OwnerAction {
    /// Who acts, as the audit log names them, with their address.
    pub actor: Actor,
    /// Who they are, for the rules of who may act for which topic.
    pub who: crate::access::Viewer,
}

impl FromRequestParts<AppState> for OwnerAction {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = bearer_token(&parts.headers);
        if presented.is_none() {
            if let Some((session, actor)) = session_from_cookie(state, parts).await? {
                let verified = session_holder(state, &session).await?;
                return Ok(OwnerAction {
                    actor,
                    who: verified.viewer(),
                });
            }
        }
        let personal =
            |t: &&str| state.auth == AuthMode::Oidc && t.starts_with(crate::secrets::TOKEN_PREFIX);
        if let Some(token) = presented.filter(personal) {
            let verified = personal_token(state, parts, token).await?;
            return Ok(OwnerAction {
                actor: Actor::new(verified.actor_name(), remote_addr(parts)),
                who: verified.viewer(),
            });
        }
        let help = "this action is for the topic's owners and admins: sign in, or send `Authorization: Bearer <ADMIN_TOKEN>`";
        let actor = Check::admin(state, help)
            .run(state, parts, presented)
            .await?;
        Ok(OwnerAction {
            actor,
            who: crate::access::Viewer::AdminToken,
        })
    }
}

impl OwnerAction {
    /// Whether this caller may act for `topic`'s owners: `404` when the topic is hidden from
    /// them (as a missing one), `403` (audited) when they are not among its owners.
    pub async fn check(&self, state: &AppState, topic: &app::wire::Topic) -> Result<(), ApiError> {
        let owner = crate::access::Ownership::of(topic);
        if !self.who.sees_topic(topic) {
            return Err(ApiError::Store(crate::store::StoreError::TopicNotFound(
                format!("#{}", topic.topic_id),
            )));
        }
        if self.who.acts_for_owners(&owner) {
            return Ok(());
        }
        let entry = NewAuditEntry {
            action: "owner_action",
            topic_name: Some(&topic.topic_name),
            outcome: AuditOutcome::Denied,
            detail: Some("not one of the topic's owners"),
        };
        if let Err(e) = state.store.record(&self.actor, entry).await {
            tracing::warn!(error = %e, "could not audit a denied request");
        }
        Err(ApiError::Forbidden(
            "this action is for the topic's owners and admins",
        ))
    }
}

//! The routes that change who may read a topic: its level and masks (its owners), its owners
//! (admins), claims on topics nobody owns. The rules themselves are `crate::access`'s.

use super::{
    auth::{Admin, Caller},
    error::ApiError,
    extract::ApiPath,
    json::ApiJson,
    owner_action::OwnerAction,
    state::AppState,
    topics::{find, parse_id},
};
use crate::{
    access::Ownership,
    oidc::AuthMode,
    store::{AccessChange, Actor, Claimed},
    webhooks::Event,
};
use app::{
    access::{
        AccessLevel, AccessUpdate, ClaimDecision, ClaimRequest, NamedOwner, OwnerUpdate, TeamName,
    },
    domain::FieldError,
    wire::{ErrorBody, MessageBody, Topic},
};
use axum::{extract::State, http::StatusCode, Json};

#[utoipa::path(put, path = "/api/topics/{id}/access", tag = "topics", request_body = AccessUpdate,
    description = "Its owners (or an admin) change who may read the topic: its level, its masks, or both. Open streams and searches of it end (`unsubscribed`, reason `access_changed`) on every instance, to start again under the new rules. Audited as `change_access`.",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])),
    responses((status = 200, body = Topic), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not one of the topic's owners", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
/// `PUT /api/topics/{id}/access`
pub async fn update_access(
    State(state): State<AppState>,
    owner: OwnerAction,
    parts: axum::http::request::Parts,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<AccessUpdate>,
) -> Result<Json<Topic>, ApiError> {
    let id = parse_id(&id)?;
    let topic = find(&state, id).await?;
    owner.check(&state, &topic).await?;
    // Nothing to change: nothing written, no stream restarted.
    if update.access.is_none() && update.masks.is_none() {
        return Ok(Json(topic));
    }
    // Each change restarts every open stream of the topic on every instance: a few a minute
    // per address, like the other changes of who may do what (sign-ins, tokens).
    super::extract::take_sign_in(&state, super::auth::client_ip(&parts), "access changes").await?;
    if state.auth == AuthMode::Open && update.access.is_some_and(|a| a != AccessLevel::Open) {
        return Err(FieldError::new(
            "access",
            "this server lets everyone read every topic (open mode): only `open` is possible",
        )
        .into());
    }
    if let Some(masks) = &update.masks {
        app::access::parse_masks(masks)?;
    }
    let change = AccessChange {
        access: update.access,
        masks: update.masks,
        owner: None,
    };
    changed(&state, id, &change, "change_access", &owner.actor).await
}

#[utoipa::path(put, path = "/api/topics/{id}/owner", tag = "topics", request_body = OwnerUpdate,
    description = "An admin moves the topic to other owners: a team (`team:<team>`), a person (`user:<user id>`), or nobody (`null`). Open streams of it start again under the new rules. Audited as `move_owner`.",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])),
    responses((status = 200, body = Topic), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// `PUT /api/topics/{id}/owner` (admin)
pub async fn set_owner(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<OwnerUpdate>,
) -> Result<Json<Topic>, ApiError> {
    let id = parse_id(&id)?;
    let owner = match update.owner.as_deref().map(NamedOwner::parse).transpose()? {
        Some(NamedOwner::Team(team)) => Ownership {
            team: Some(team.to_string()),
            user: None,
        },
        Some(NamedOwner::User(user)) => Ownership {
            team: None,
            user: Some(user.to_string()),
        },
        None => Ownership::default(),
    };
    let change = AccessChange {
        owner: Some(owner),
        ..AccessChange::default()
    };
    changed(&state, id, &change, "move_owner", &admin.actor).await
}

/// Applies `change` to topic `id`: the topic as it now is, or 404.
async fn changed(
    state: &AppState,
    id: i64,
    change: &AccessChange,
    action: &str,
    actor: &Actor,
) -> Result<Json<Topic>, ApiError> {
    state
        .store
        .change_access(id, change, action, actor)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no topic #{id}")))
}

#[utoipa::path(post, path = "/api/topics/{id}/claim", tag = "topics", request_body = ClaimRequest,
    description = "A member of `team` asks for it to own the topic, which nobody owns (topics from before ownership, adopted ones); an admin decides. Audited as `request_claim`.",
    params(("id" = i64, Path, description = "Topic id")),
    responses((status = 202, description = "Asked: waits for an admin", body = MessageBody),
        (status = 200, description = "Asked already", body = MessageBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not a member of the team", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Someone owns it", body = ErrorBody),
        (status = 429, description = "Too many writes from this address", body = ErrorBody)))]
/// `POST /api/topics/{id}/claim`
pub async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ClaimRequest>,
) -> Result<(StatusCode, Json<MessageBody>), ApiError> {
    let id = parse_id(&id)?;
    let team = TeamName::parse(&request.team, "team")?;
    let who = caller.viewer();
    let topic = super::topics::find_seen(&state, id, &who).await?;
    let member = match &who {
        crate::access::Viewer::Person { teams, admin, .. } => *admin || teams.contains(&team),
        crate::access::Viewer::AdminToken => true,
        crate::access::Viewer::Anyone => false,
    };
    if !member {
        return Err(ApiError::Forbidden(
            "a team's members (or an admin) claim topics for it",
        ));
    }
    let actor = caller.actor();
    match state.store.claim_topic(id, team.as_str(), &actor).await? {
        Claimed::Asked => {
            let event = Event::new("claim_requested", &topic.topic_name, &actor.name)
                .team(Some(team.as_str()));
            state.webhooks.notify(event);
            Ok((
                StatusCode::ACCEPTED,
                Json(MessageBody::new("Claim submitted: an admin decides")),
            ))
        }
        Claimed::AskedAlready => Ok((StatusCode::OK, Json(MessageBody::new("Claimed already")))),
        Claimed::Owned => Err(ApiError::Conflict {
            error: "topic_owned",
            message: format!(
                "{} has owners: only a topic nobody owns is claimed",
                topic.topic_name
            ),
            current_status: None,
        }),
        Claimed::NoTopic => Err(ApiError::not_found(format!("no topic #{id}"))),
    }
}

#[utoipa::path(post, path = "/api/topics/{id}/claim/decision", tag = "topics", request_body = ClaimDecision,
    description = "An admin gives the topic to the team whose claim it is (its other claims are dropped), or turns the claim down. Audited as `approve_claim` or `reject_claim`.",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])),
    responses((status = 200, body = MessageBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such claim (or the topic is owned meanwhile)", body = ErrorBody)))]
/// `POST /api/topics/{id}/claim/decision` (admin)
pub async fn decide_claim(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(decision): ApiJson<ClaimDecision>,
) -> Result<Json<MessageBody>, ApiError> {
    let id = parse_id(&id)?;
    let team = TeamName::parse(&decision.team, "team")?;
    let done = match decision.approve {
        true => {
            state
                .store
                .grant_claim(id, team.as_str(), &admin.actor)
                .await?
        }
        false => {
            state
                .store
                .reject_claim(id, team.as_str(), &admin.actor)
                .await?
        }
    };
    if done {
        let topic = find(&state, id).await?;
        let kind = match decision.approve {
            true => "claim_approved",
            false => "claim_rejected",
        };
        let event =
            Event::new(kind, &topic.topic_name, &admin.actor.name).team(Some(team.as_str()));
        state.webhooks.notify(event);
    }
    if !done {
        return Err(ApiError::NotFound {
            error: "claim_not_found",
            message: format!("team {team:?} has no open claim on topic #{id}"),
        });
    }
    Ok(Json(MessageBody::new(match decision.approve {
        true => "Claim approved: the team owns the topic",
        false => "Claim rejected",
    })))
}

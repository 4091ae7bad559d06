//! `/api/subscriptions`: users follow and unfollow topics, independently of the lifecycle.

use super::state::AppState;
use super::{
    auth::{Caller, Reader},
    error::ApiError,
    extract::ApiQuery,
    json::ApiJson,
    pages::{page_size, with_next_link},
};
use crate::store::Actor;
use crate::store::Subscribed;
use app::{
    api::encode,
    domain::{FieldError, TopicName, UserId},
    wire::{ErrorBody, MessageBody, Subscription, SubscriptionRequest},
};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;

/// `?user_id=` filter, and a page (`limit`, `after`) for callers that ask for one.
#[derive(Debug, Deserialize)]
pub struct SubscriptionQuery {
    user_id: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

#[utoipa::path(get, path = "/api/subscriptions", tag = "subscriptions", operation_id = "list_subscriptions",
    description = "Subscriptions by user id, then topic name. With `limit` or `after`, one page of them: at most `limit` (100 by default, 1,000 at most) after the `after` position, and a `Link: <…>; rel=\"next\"` header while more follow. Without either, the whole list, as the REST contract has it.",
    params(("user_id" = Option<String>, Query, description = "Only this user's"),
        ("limit" = Option<i64>, Query, description = "Page size (1 to 1,000; clamped)"),
        ("after" = Option<String>, Query, description = "`<user_id>/<topic_name>` of the last subscription of the previous page")),
    responses((status = 200, body = Vec<Subscription>), (status = 400, body = ErrorBody)))]
/// `GET /api/subscriptions[?user_id=…][&limit=…&after=…]`
pub async fn list(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(query): ApiQuery<SubscriptionQuery>,
) -> Result<Response, ApiError> {
    let user = match query.user_id.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(UserId::parse(raw, "user_id")?),
    };
    // `oidc` mode: people list their own; admins anyone's.
    let user = reader.whose(user)?;
    let user = user.as_ref().map(UserId::as_str);
    if query.limit.is_none() && query.after.is_none() {
        return Ok(Json(state.store.subscriptions(user).await?).into_response());
    }
    // A topic name has no `/`: the last one splits the position.
    let after = match query.after.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(raw.rsplit_once('/').ok_or_else(|| {
            ApiError::InvalidField(FieldError::new(
                "after",
                "must be `<user_id>/<topic_name>` of the previous page's last subscription",
            ))
        })?),
    };
    let limit = page_size(query.limit);
    let mut page = state
        .store
        .subscriptions_page(user, after, limit + 1)
        .await?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    let next = page.last().filter(|_| more).map(|last| {
        let user = user.map_or(String::new(), |u| format!("&user_id={}", encode(u)));
        let after = encode(&format!("{}/{}", last.user_id, last.topic_name));
        format!("/api/subscriptions?limit={limit}&after={after}{user}")
    });
    Ok(with_next_link(Json(page).into_response(), next))
}

/// The subscription a request names, for whom, and the audit actor (see [`Caller::acting_for`]).
fn parse(
    req: &SubscriptionRequest,
    caller: &Caller,
) -> Result<(UserId, TopicName, Actor), ApiError> {
    let (user, actor) = caller.acting_for(&req.user_id, "user_id")?;
    let topic = TopicName::parse_field(&req.topic_name, "topic_name")?;
    Ok((user, topic, actor))
}

#[utoipa::path(post, path = "/api/subscriptions", tag = "subscriptions", request_body = SubscriptionRequest,
    responses((status = 201, body = MessageBody), (status = 200, description = "Already subscribed", body = MessageBody),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "Too many writes from this address", body = ErrorBody)))]
/// `POST /api/subscriptions`: 201 when added, 200 when the user already had it.
pub async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SubscriptionRequest>,
) -> Result<(StatusCode, Json<MessageBody>), ApiError> {
    let (user, topic, actor) = parse(&req, &caller)?;
    // The relay hears of it through the change log (`change_effects`), here and elsewhere.
    let outcome = state.store.subscribe(&user, &topic, &actor).await?;
    Ok(match outcome {
        Subscribed::Added => (
            StatusCode::CREATED,
            Json(MessageBody::new("Subscription added successfully")),
        ),
        Subscribed::AlreadySubscribed => {
            (StatusCode::OK, Json(MessageBody::new("Already subscribed")))
        }
    })
}

#[utoipa::path(delete, path = "/api/subscriptions", tag = "subscriptions", request_body = SubscriptionRequest,
    responses((status = 200, body = MessageBody), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "Too many writes from this address", body = ErrorBody)))]
/// `DELETE /api/subscriptions`: 404 when there was no such subscription.
pub async fn unsubscribe(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SubscriptionRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    let (user, topic, actor) = parse(&req, &caller)?;
    let removed = state.store.unsubscribe(&user, &topic, &actor).await?;
    if removed {
        Ok(Json(MessageBody::new("Subscription removed successfully")))
    } else {
        Err(ApiError::NotFound {
            error: "subscription_not_found",
            message: format!("{user} is not subscribed to {topic}"),
        })
    }
}

//! `/api/subscriptions`: users follow and unfollow topics, independently of the lifecycle.

use super::state::AppState;
use super::{auth::Caller, error::ApiError, extract::ApiQuery, json::ApiJson};
use crate::store::Subscribed;
use app::{
    domain::{TopicName, UserId},
    wire::{ErrorBody, MessageBody, Subscription, SubscriptionRequest},
};
use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;

/// `?user_id=` filter.
#[derive(Debug, Deserialize)]
pub struct SubscriptionQuery {
    user_id: Option<String>,
}

#[utoipa::path(get, path = "/api/subscriptions", tag = "subscriptions", operation_id = "list_subscriptions",
    params(("user_id" = Option<String>, Query, description = "Only this user's")),
    responses((status = 200, body = Vec<Subscription>), (status = 400, body = ErrorBody)))]
/// `GET /api/subscriptions[?user_id=…]`
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SubscriptionQuery>,
) -> Result<Json<Vec<Subscription>>, ApiError> {
    let user = match query.user_id.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(UserId::parse(raw, "user_id")?),
    };
    Ok(Json(
        state
            .store
            .subscriptions(user.as_ref().map(UserId::as_str))
            .await?,
    ))
}

fn parse(req: &SubscriptionRequest) -> Result<(UserId, TopicName), ApiError> {
    Ok((
        UserId::parse(&req.user_id, "user_id")?,
        TopicName::parse_field(&req.topic_name, "topic_name")?,
    ))
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
    let (user, topic) = parse(&req)?;
    let outcome = state
        .store
        .subscribe(&user, &topic, &caller.as_actor(user.as_str()))
        .await?;
    if outcome == Subscribed::Added {
        state
            .relay
            .subscription_changed(user.as_str(), topic.as_str(), true);
    }
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
    let (user, topic) = parse(&req)?;
    let removed = state
        .store
        .unsubscribe(&user, &topic, &caller.as_actor(user.as_str()))
        .await?;
    if removed {
        state
            .relay
            .subscription_changed(user.as_str(), topic.as_str(), false);
        Ok(Json(MessageBody::new("Subscription removed successfully")))
    } else {
        Err(ApiError::NotFound {
            error: "subscription_not_found",
            message: format!("{user} is not subscribed to {topic}"),
        })
    }
}

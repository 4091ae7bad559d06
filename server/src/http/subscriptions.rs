//! `/api/subscriptions`: users follow and unfollow topics, independently of the lifecycle;
//! owners decide requests and see who reads their topics (`/api/topics/{id}/subscribers`).

use super::state::AppState;
use super::{
    auth::{Caller, Reader, Viewer},
    error::ApiError,
    extract::{ApiPath, ApiQuery},
    json::ApiJson,
    owner_action::OwnerAction,
    pages::{page_size, with_next_link},
};
use crate::access::Ownership;
use crate::kafka::{
    admin::off_runtime,
    groups::{committed, group_of},
};
use crate::store::{Actor, StoreError, Subscribed, TopicKey};
use crate::webhooks::Event;
use app::access::{
    TopicSubscriber, TopicSubscribers, SUBSCRIBERS_LAG_MEASURED, SUBSCRIBERS_LISTED,
};
use app::wire::TopicStatus;
use app::{
    access::{SubscriptionDecision, SubscriptionDecisionRequest},
    api::encode,
    domain::{FieldError, TopicName, UserId},
    wire::{ErrorBody, Inbox, MessageBody, Subscription, SubscriptionRequest},
};
use axum::extract::ConnectInfo;
use axum::Extension;
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;

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
    description = "Subscribes a user to a topic. To a topic at level `approval` (unless its owners or an admin ask) it is a request: 202, and its status stays `pending` until the owners decide (`POST /api/subscriptions/decision`); until then nothing streams, replays or searches. A private topic one may not see answers 404 as a missing one.",
    responses((status = 201, body = MessageBody), (status = 200, description = "Already subscribed (or asked)", body = MessageBody),
        (status = 202, description = "Requested: waits for the topic's owners", body = MessageBody),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`topic_changed`: the topic's level or owners changed twice while the request was decided; try again", body = ErrorBody),
        (status = 429, description = "Too many writes from this address", body = ErrorBody)))]
/// `POST /api/subscriptions`: 201 when added, 202 when asked of the owners, 200 when the user
/// already had it.
pub async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SubscriptionRequest>,
) -> Result<(StatusCode, Json<MessageBody>), ApiError> {
    let (user, topic, actor) = parse(&req, &caller)?;
    let viewer = caller.viewer();
    // The topic as last read (most requests cost the database no read of their own); the
    // writer checks its level and owners again, and a refusal is decided on a fresh read only.
    let mut fresh = false;
    let outcome = loop {
        // `None` is always a fresh read's: unknown topics answer 404 here, never subscribed
        // unchecked (one created meanwhile may need its owners' approval).
        let Some((found, was_fresh)) = state.store.topic_for_subscribing(&topic, fresh).await?
        else {
            return Err(ApiError::Store(StoreError::TopicNotFound(
                topic.to_string(),
            )));
        };
        if !viewer.sees(found.access, &found.owner) {
            if was_fresh {
                // Hidden ones answer the same as unknown ones.
                return Err(ApiError::Store(StoreError::TopicNotFound(
                    topic.to_string(),
                )));
            }
            fresh = true;
            continue;
        }
        let request = found.access.needs_approval() && !viewer.acts_for_owners(&found.owner);
        // The relay hears of it through the change log (`change_effects`), here and elsewhere.
        match state
            .store
            .subscribe_as_decided(&user, &found, &actor, request)
            .await?
        {
            // Changed since it was read: decide again on the topic as it is now (a topic that
            // keeps changing under fresh reads is the database's to say at the next try).
            Subscribed::TopicChanged if !was_fresh => fresh = true,
            outcome => break outcome,
        }
    };
    Ok(match outcome {
        Subscribed::Added => (
            StatusCode::CREATED,
            Json(MessageBody::new("Subscription added successfully")),
        ),
        Subscribed::Requested => {
            let event = Event::new("subscription_requested", topic.as_str(), &actor.name)
                .user(user.as_str());
            state.webhooks.notify(event);
            (
                StatusCode::ACCEPTED,
                Json(MessageBody::new(
                    "Subscription requested: the topic's owners approve it before anything streams",
                )),
            )
        }
        Subscribed::AlreadySubscribed => {
            (StatusCode::OK, Json(MessageBody::new("Already subscribed")))
        }
        // A fresh read's decision found the topic changed again before its write: a race with
        // an owner's change, over in milliseconds.
        Subscribed::TopicChanged => {
            return Err(ApiError::Store(StoreError::TopicChangedMeanwhile(
                topic.to_string(),
            )))
        }
    })
}

/// Most requests an inbox lists.
const INBOX_LIMIT: i64 = 500;

#[utoipa::path(get, path = "/api/inbox", tag = "subscriptions",
    description = "What waits for the caller as one of topics' owners (an admin: for every topic): subscription requests, and for admins teams' claims on topics nobody owns; oldest first, at most 500 of each. Empty for someone who owns nothing.",
    responses((status = 200, body = Inbox), (status = 401, description = "A bearer token that is not valid", body = ErrorBody)))]
/// `GET /api/inbox`
pub async fn inbox(State(state): State<AppState>, viewer: Viewer) -> Result<Json<Inbox>, ApiError> {
    if viewer.who == crate::access::Viewer::Anyone {
        return Ok(Json(Inbox::default()));
    }
    let pending = state.store.pending_subscriptions(INBOX_LIMIT).await?;
    let claims = match viewer.who.is_admin() {
        true => state.store.topic_claims(INBOX_LIMIT).await?,
        false => Vec::new(),
    };
    Ok(Json(Inbox {
        subscription_requests: pending
            .into_iter()
            .filter(|(_, owner)| viewer.who.acts_for_owners(owner))
            .map(|(subscription, _)| subscription)
            .collect(),
        claims,
    }))
}

#[utoipa::path(post, path = "/api/subscriptions/decision", tag = "subscriptions", request_body = SubscriptionDecisionRequest,
    description = "The owners of a topic (or an admin) approve or reject a subscription request, or revoke an active subscription (its streams and searches end within a second, on every instance). Nobody approves their own request.",
    responses((status = 200, body = MessageBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not one of the topic's owners, or one's own request", body = ErrorBody),
        (status = 404, description = "No such topic, request or subscription", body = ErrorBody),
        (status = 429, description = "Too many writes from this address", body = ErrorBody)))]
/// `POST /api/subscriptions/decision`
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SubscriptionDecisionRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    let user = UserId::parse(&req.user_id, "user_id")?;
    let topic = TopicName::parse_field(&req.topic_name, "topic_name")?;
    let viewer = caller.viewer();
    let found = state
        .store
        .topic_uncounted(TopicKey::Name(topic.as_str()))
        .await?;
    let owner = match &found {
        Some(t) if viewer.sees_topic(t) => Ownership::of(t),
        _ => {
            return Err(ApiError::Store(StoreError::TopicNotFound(
                topic.to_string(),
            )))
        }
    };
    if !viewer.acts_for_owners(&owner) {
        return Err(ApiError::Forbidden(
            "only the topic's owners or an admin decide who reads it",
        ));
    }
    let actor = caller.actor();
    if req.decision == SubscriptionDecision::Approve && actor.name == user.as_str() {
        return Err(ApiError::Forbidden(
            "nobody approves their own request: another owner or an admin does",
        ));
    }
    let decided = state
        .store
        .decide_subscription(&user, &topic, req.decision, &actor)
        .await?;
    if decided {
        let kind = match req.decision {
            SubscriptionDecision::Approve => "subscription_approved",
            SubscriptionDecision::Reject => "subscription_rejected",
            SubscriptionDecision::Revoke => "subscription_revoked",
        };
        let event = Event::new(kind, topic.as_str(), &actor.name).user(user.as_str());
        state.webhooks.notify(event);
    }
    if !decided {
        let what = match req.decision {
            SubscriptionDecision::Revoke => "subscription",
            _ => "subscription request",
        };
        return Err(ApiError::NotFound {
            error: "subscription_not_found",
            message: format!("{user} has no {what} for {topic}"),
        });
    }
    Ok(Json(MessageBody::new(match req.decision {
        SubscriptionDecision::Approve => "Subscription approved",
        SubscriptionDecision::Reject => "Subscription request rejected",
        SubscriptionDecision::Revoke => "Subscription revoked",
    })))
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

#[utoipa::path(get, path = "/api/topics/{id}/subscribers", tag = "subscriptions", operation_id = "topic_subscribers",
    description = "Who reads the topic, for its owners and admins: the first 200 subscribers by user id, requests waiting for the owners among them, each active one's lag (records behind, by their stored position; measured for the first 20, `null` where the broker did not answer).",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])),
    responses((status = 200, body = TopicSubscribers), (status = 401, body = ErrorBody),
        (status = 403, description = "Not one of the topic's owners", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "The database did not answer", body = ErrorBody)))]
/// `GET /api/topics/{id}/subscribers`
pub async fn subscribers(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    owner: OwnerAction,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TopicSubscribers>, ApiError> {
    // The lags are broker look-ups: the answer counts as a costly request, as a lag read does
    // (taken first, so that refusals, which are audited, cost the same).
    super::extract::take_costly(&state, peer, "lag reads and anonymous writes").await?;
    let topic = super::topics::find(&state, super::topics::parse_id(&id)?).await?;
    owner.check(&state, &topic).await?;
    let mut rows = state
        .store
        .subscribers(topic.topic_id, SUBSCRIBERS_LISTED as i64 + 1)
        .await?;
    let more = rows.len() > SUBSCRIBERS_LISTED;
    rows.truncate(SUBSCRIBERS_LISTED);
    let measured: Vec<String> = rows
        .iter()
        .filter(|s| s.is_active())
        .take(SUBSCRIBERS_LAG_MEASURED)
        .map(|s| s.user_id.clone())
        .collect();
    let lags = match topic.status {
        TopicStatus::Active if !measured.is_empty() => {
            lags_of_readers(&state, &topic.topic_name, measured).await
        }
        _ => HashMap::new(),
    };
    let subscribers = rows
        .into_iter()
        .map(|s| TopicSubscriber {
            lag: lags.get(&s.user_id).copied().flatten(),
            user_id: s.user_id,
            status: s.status,
            subscribed_at: s.subscribed_at,
        })
        .collect();
    Ok(Json(TopicSubscribers { subscribers, more }))
}

/// How many records each of `users` is behind in `topic` by their stored position: the
/// topic's ends read once, then each user's group's offsets. A look-up the broker does not
/// answer leaves that user's lag unknown (`None`), not the whole answer failed.
async fn lags_of_readers(
    state: &AppState,
    topic: &str,
    users: Vec<String>,
) -> HashMap<String, Option<i64>> {
    let Ok(Some(partitions)) = state.kafka.topic_partitions(topic).await else {
        return HashMap::new();
    };
    let (kafka, relay, topic) = (
        state.relay.kafka().clone(),
        state.relay.clone(),
        topic.to_owned(),
    );
    off_runtime(move || {
        let Ok(ends) = relay.watermarks(&topic, partitions) else {
            return Ok(HashMap::new());
        };
        let asked = [(topic.clone(), partitions)];
        Ok(users
            .into_iter()
            .map(|user| {
                let lag = committed(&kafka, &group_of(&user), &asked)
                    .ok()
                    .and_then(|stored| {
                        ends.iter()
                            .filter_map(|(partition, (_, end))| {
                                let at = stored
                                    .get(&(topic.clone(), *partition))
                                    .copied()
                                    .flatten()?;
                                Some((end - at).max(0))
                            })
                            .reduce(|a, b| a + b)
                    });
                (user, lag)
            })
            .collect())
    })
    .await
    .unwrap_or_default()
}

//! Where people are in their topics: `GET /api/subscriptions/lag` (how far each of a user's
//! subscriptions is behind, per partition) and `PUT /api/positions` (store where they are). A
//! position is the committed offsets of the user's consumer group, `streamhub-<user>`: the CLI's
//! direct reads move it as they go, the viewer saves it, and `{"position": "stored"}` starts
//! there, from any device.

use super::{
    auth::{Caller, Reader},
    error::ApiError,
    extract::ApiQuery,
    json::ApiJson,
    state::AppState,
};
use crate::kafka::{
    admin::off_runtime,
    groups::{commit, committed, group_of},
    KafkaError,
};
use app::{
    domain::{FieldError, TopicName, UserId},
    wire::{ErrorBody, MessageBody, PartitionLag, SavePosition, TopicLag, TopicStatus},
};
use axum::{
    extract::{ConnectInfo, State},
    Extension, Json,
};
use serde::Deserialize;
use std::{collections::BTreeMap, net::SocketAddr};

/// The largest offset a position may name: 2^53 − 1, the largest whole number a JSON reader's
/// double holds exactly.
pub(super) const MAX_EXACT_OFFSET: i64 = (1 << 53) - 1;

/// `?user_id=` (required).
#[derive(Debug, Deserialize)]
pub struct LagQuery {
    user_id: Option<String>,
}

#[utoipa::path(get, path = "/api/subscriptions/lag", tag = "subscriptions", operation_id = "subscription_lag",
    description = "How far `user_id`'s consumer group (`streamhub-<user>`) is behind in each of their subscriptions to an active topic, per partition.",
    params(("user_id" = String, Query, description = "Whose subscriptions")),
    responses((status = 200, body = Vec<TopicLag>), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `GET /api/subscriptions/lag?user_id=…`
pub async fn lag(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    reader: Reader,
    ApiQuery(query): ApiQuery<LagQuery>,
) -> Result<Json<Vec<TopicLag>>, ApiError> {
    let named = match query.user_id.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(UserId::parse(raw, "user_id")?),
    };
    // `oidc` mode: one's own lag (named or not); an admin's of whom they name.
    let Some(user) = reader.whose(named)? else {
        return Err(FieldError::new("user_id", "must name whose lag").into());
    };
    // Each answer asks the broker for a group's offsets and every partition's end (a client
    // and several round trips): it counts against the address's allowance of costly requests,
    // as writes do. A subscriptions page open reads it every 5 s, well within it.
    super::extract::take_costly(&state, peer, "lag reads and anonymous writes").await?;
    let mut topics = Vec::new();
    for s in state.store.subscriptions(Some(user.as_str())).await? {
        // A request waiting for the topic's owners shows nothing, lag included.
        if s.topic_status != TopicStatus::Active || !s.is_active() {
            continue;
        }
        if let Some(partitions) = state.kafka.topic_partitions(&s.topic_name).await? {
            topics.push((s.topic_name, partitions));
        }
    }
    if topics.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let (kafka, relay, group) = (
        state.relay.kafka().clone(),
        state.relay.clone(),
        group_of(user.as_str()),
    );
    let lags = off_runtime(move || lags_of(&kafka, &relay, &group, &topics)).await?;
    Ok(Json(lags))
}

/// How far consumer group `group` is behind in each of `topics` (name, partitions), per
/// partition: a client for the group's offsets and a watermark look-up per topic (blocking).
pub(super) fn lags_of(
    kafka: &crate::kafka::KafkaArgs,
    relay: &crate::relay::Relay,
    group: &str,
    topics: &[(String, i32)],
) -> Result<Vec<TopicLag>, KafkaError> {
    let stored = committed(kafka, group, topics)?;
    topics
        .iter()
        .map(|(topic, partitions)| {
            let marks = relay
                .watermarks(topic, *partitions)
                .map_err(|e| KafkaError::Unavailable(e.to_string()))?;
            let partitions: Vec<PartitionLag> = marks
                .iter()
                .map(|(partition, (_, end))| {
                    let committed = stored.get(&(topic.clone(), *partition)).copied().flatten();
                    PartitionLag {
                        partition: *partition,
                        committed,
                        end: *end,
                        lag: committed.map(|c| (end - c).max(0)),
                    }
                })
                .collect();
            let total = partitions.iter().filter_map(|p| p.lag).reduce(|a, b| a + b);
            Ok(TopicLag {
                topic: topic.clone(),
                partitions,
                total,
            })
        })
        .collect()
}

#[utoipa::path(put, path = "/api/positions", tag = "subscriptions", request_body = SavePosition,
    description = "Stores where `user_id` is in a topic they subscribe to: partition → the next offset to read, as the committed offsets of their consumer group. Refused (409 `group_active`) while a reader of that group is connected to the broker (on brokers that enforce it), 409 `position_refused` when the broker refuses it otherwise.",
    responses((status = 200, body = MessageBody), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `PUT /api/positions`
pub async fn save(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<SavePosition>,
) -> Result<Json<MessageBody>, ApiError> {
    let (user, _) = caller.acting_for(&request.user_id, "user_id")?;
    let topic = TopicName::parse_field(&request.topic_name, "topic_name")?;
    let subscribed = state
        .store
        .subscriptions(Some(user.as_str()))
        .await?
        .into_iter()
        .any(|s| s.topic_name == topic.as_str() && s.is_active());
    if !subscribed {
        return Err(ApiError::not_found(format!(
            "{user} does not subscribe to {topic}"
        )));
    }
    let mut offsets = BTreeMap::new();
    for (partition, offset) in &request.offsets {
        let partition = partition.parse::<i32>().ok().filter(|p| *p >= 0);
        // Whole, not negative, and within what a double holds exactly.
        let exact = (0.0..=MAX_EXACT_OFFSET as f64).contains(offset) && offset.fract() == 0.0;
        let offset = exact.then_some(*offset as i64);
        let (Some(partition), Some(offset)) = (partition, offset) else {
            let message = "keys must be partition numbers and values offsets (whole, not negative)";
            return Err(FieldError::new("offsets", message).into());
        };
        offsets.insert(partition, offset);
    }
    if offsets.is_empty() {
        return Err(FieldError::new("offsets", "name at least one partition's offset").into());
    }
    let (kafka, group, name) = (
        state.relay.kafka().clone(),
        group_of(user.as_str()),
        topic.to_string(),
    );
    let saved = off_runtime(move || commit(&kafka, &group, &[(name, offsets)])).await;
    match saved {
        Ok(()) => {
            tracing::info!(user = %user, topic = %topic, "position saved");
            Ok(Json(MessageBody::new("Position saved")))
        }
        Err(KafkaError::GroupActive(why)) => Err(ApiError::Conflict {
            error: "group_active",
            message: format!("{}'s position cannot be stored while one of their readers is connected to the broker ({why})", user),
            current_status: None,
        }),
        // The broker refused this position (not the request's form, not its own health).
        Err(KafkaError::Refused(why)) => Err(ApiError::Conflict {
            error: "position_refused",
            message: format!("the broker refused {user}'s position in {topic}: {why}"),
            current_status: None,
        }),
        Err(e) => Err(e.into()),
    }
}

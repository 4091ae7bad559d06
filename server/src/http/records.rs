//! `POST /api/topics/{id}/records`: a person sends one test record to an active topic (the
//! dashboard's composer, the CLI's `produce`). For the topic's owners and admins; every record
//! sent is audited with where it landed.

use super::{
    error::ApiError,
    extract::ApiPath,
    json::ApiJson,
    owner_action::OwnerAction,
    state::AppState,
    topics::{find, parse_id},
};
use crate::{
    kafka::OutgoingRecord,
    store::{AuditOutcome, NewAuditEntry},
};
use app::{
    domain::FieldError,
    wire::{ErrorBody, ProduceRequest, Produced, TopicStatus},
};
use axum::{extract::State, http::StatusCode, Json};

/// The longest key, in characters.
pub(super) const MAX_KEY_CHARS: usize = 1_024;
/// The longest Protobuf message name a record may be written as, in characters.
pub(super) const MAX_MESSAGE_NAME_CHARS: usize = 512;
/// The most headers on one record.
pub(super) const MAX_HEADERS: usize = 32;
/// The longest header name and value, in characters.
pub(super) const MAX_HEADER_NAME_CHARS: usize = 256;
pub(super) const MAX_HEADER_VALUE_CHARS: usize = 4_096;
/// What a header name may be, as the OpenAPI document says it: no control characters.
pub(super) const HEADER_NAME_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$";

#[utoipa::path(post, path = "/api/topics/{id}/records", tag = "topics",
    description = "Sends one record to an active topic (its owners and admins): `value` as its JSON text, with an optional key and headers; to a topic with a schema (its registry subject `<topic>-value`, or a schema file), `value` encoded with the latest schema (for Protobuf, as `message`: a 400 when the topic's schema is not Protobuf or lacks it), and a 400 naming the field the schema refuses; a JSON Schema checks the value before it is sent as JSON. Answers where it landed once every in-sync replica has it; audited as `produce`.",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])), request_body = ProduceRequest,
    responses((status = 201, body = Produced), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not one of the topic's owners", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The topic is not active", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `POST /api/topics/{id}/records` (the topic's owners and admins)
pub async fn produce(
    State(state): State<AppState>,
    admin: OwnerAction,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ProduceRequest>,
) -> Result<(StatusCode, Json<Produced>), ApiError> {
    let topic = find(&state, parse_id(&id)?).await?;
    admin.check(&state, &topic).await?;
    check(&request)?;
    if topic.status != TopicStatus::Active {
        return Err(ApiError::Conflict {
            error: "topic_not_active",
            message: format!(
                "topic {} is {}: records go only to active topics",
                topic.topic_name, topic.status
            ),
            current_status: Some(topic.status),
        });
    }
    // A topic with a schema takes JSON and gets records encoded with it.
    let schema = state
        .relay
        .schemas()
        .for_writing(&topic.topic_name)
        .await
        .map_err(|message| ApiError::SchemaRegistry {
            // The registry did not answer (or not yet); else what it holds is no schema to
            // write with.
            unreachable: message.contains("unreachable") || message.contains("not looked up"),
            message,
        })?;
    if let Some(message) = &request.message {
        match &schema {
            Some(schema) => schema.writes_message(message),
            None => Err("the topic has no schema: only a Protobuf schema has messages".to_owned()),
        }
        .map_err(|why| FieldError::new("message", why))?;
    }
    let payload = match &schema {
        Some(schema) => schema
            .encode(&request.value, request.message.as_deref())
            .map_err(|why| {
                FieldError::new("value", format!("the topic's schema refuses it: {why}"))
            })?,
        None => request.value.to_string().into_bytes(),
    };
    let sent = state
        .records
        .send(OutgoingRecord {
            topic: &topic.topic_name,
            key: request.key.as_deref(),
            headers: &request.headers,
            payload: &payload,
        })
        .await;
    let (outcome, detail) = match &sent {
        Ok((partition, offset)) => (
            AuditOutcome::Ok,
            format!(
                "partition {partition}, offset {offset}, {} bytes",
                payload.len()
            ),
        ),
        Err(e) => (AuditOutcome::Failed, e.to_string()),
    };
    state
        .store
        .record(
            &admin.actor,
            NewAuditEntry {
                action: "produce",
                topic_name: Some(&topic.topic_name),
                outcome,
                detail: Some(&detail),
            },
        )
        .await?;
    let (partition, offset) = sent?;
    tracing::info!(topic = %topic.topic_name, partition, offset, actor = %admin.actor.name, "test record produced");
    Ok((
        StatusCode::CREATED,
        Json(Produced {
            topic: topic.topic_name,
            partition,
            offset,
        }),
    ))
}

/// The bounds on what a composed record may carry.
fn check(request: &ProduceRequest) -> Result<(), FieldError> {
    if request
        .message
        .as_ref()
        .is_some_and(|m| m.chars().count() > MAX_MESSAGE_NAME_CHARS)
    {
        return Err(FieldError::new(
            "message",
            format!("must have at most {MAX_MESSAGE_NAME_CHARS} characters"),
        ));
    }
    if request
        .key
        .as_ref()
        .is_some_and(|k| k.chars().count() > MAX_KEY_CHARS)
    {
        return Err(FieldError::new(
            "key",
            format!("must have at most {MAX_KEY_CHARS} characters"),
        ));
    }
    if request.headers.len() > MAX_HEADERS {
        return Err(FieldError::new(
            "headers",
            format!("at most {MAX_HEADERS} headers"),
        ));
    }
    for (name, value) in &request.headers {
        let name_chars = name.chars().count();
        if name_chars == 0
            || name_chars > MAX_HEADER_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(FieldError::new(
                "headers",
                format!("header names must have 1 to {MAX_HEADER_NAME_CHARS} characters, none of them control characters"),
            ));
        }
        if value.chars().count() > MAX_HEADER_VALUE_CHARS {
            return Err(FieldError::new(
                "headers",
                format!(
                    "header {name}: values must have at most {MAX_HEADER_VALUE_CHARS} characters"
                ),
            ));
        }
    }
    Ok(())
}

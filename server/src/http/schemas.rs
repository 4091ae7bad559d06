//! `GET /api/schemas/{id}?topic=…`: a schema the server decoded records of `topic` with, as the
//! viewer shows it from a record's badge. Served from what the server knows already (never a
//! registry lookup, so asking costs nothing), and only for a topic the caller may see that the
//! schema was seen on: a private topic's schema is as hidden as the topic.

use super::{
    auth::Viewer,
    error::ApiError,
    extract::{ApiPath, ApiQuery},
    state::AppState,
};
use crate::store::TopicKey;
use app::{
    domain::FieldError,
    stream::{SchemaReferenceView, SchemaView},
    wire::ErrorBody,
};
use axum::{extract::State, Json};
use serde::Deserialize;

/// Which topic the schema is asked about.
#[derive(Debug, Deserialize)]
pub struct SchemaQuery {
    topic: String,
}

#[utoipa::path(get, path = "/api/schemas/{id}", tag = "schemas",
    description = "The schema with this registry id, as the server's schema registry holds it (text, format, where it is registered, its references), for a topic whose records the server decoded with it and the caller may see.",
    params(("id" = u32, Path, description = "The registry's schema id"),
        ("topic" = String, Query, description = "A topic whose records carry it")),
    responses((status = 200, body = SchemaView), (status = 400, body = ErrorBody),
        (status = 401, description = "A bearer token that is not valid", body = ErrorBody),
        (status = 404, description = "No such schema seen on that topic, no such topic, or no schema registry", body = ErrorBody)))]
/// `GET /api/schemas/{id}?topic=…`
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<SchemaQuery>,
) -> Result<Json<SchemaView>, ApiError> {
    let id: u32 = id
        .parse()
        .map_err(|_| FieldError::new("id", "must be a schema id (a whole number)"))?;
    let unknown = || ApiError::not_found(format!("no schema {id} seen on topic {}", query.topic));
    let topic = state
        .store
        .topic_uncounted(TopicKey::Name(&query.topic))
        .await?
        .filter(|t| viewer.who.sees_topic(t))
        .ok_or_else(unknown)?;
    let known = state
        .relay
        .schemas()
        .cached(id)
        .filter(|known| known.seen_on.includes(&topic.topic_name))
        .ok_or_else(unknown)?;
    Ok(Json(SchemaView {
        id,
        format: known.format.as_str().to_owned(),
        subject: known.label.subject.clone(),
        version: known.label.version,
        schema: known.text.clone(),
        references: known
            .references
            .iter()
            .map(|r| SchemaReferenceView {
                name: r.name.clone(),
                subject: r.subject.clone(),
                version: r.version,
            })
            .collect(),
    }))
}

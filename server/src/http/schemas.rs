//! `GET /api/schemas/{id}`: a schema the registry holds, as the viewer shows it from a record's
//! badge. Read through the server's bounded cache of schemas (see [`crate::schema`]), so asking
//! costs the registry at most one lookup per id.

use super::{error::ApiError, extract::ApiPath, state::AppState};
use app::{
    domain::FieldError,
    stream::{SchemaReferenceView, SchemaView},
    wire::ErrorBody,
};
use axum::{extract::State, Json};

#[utoipa::path(get, path = "/api/schemas/{id}", tag = "schemas",
    description = "The schema with this registry id, as the server's schema registry holds it (text, format, where it is registered, its references).",
    params(("id" = u32, Path, description = "The registry's schema id")),
    responses((status = 200, body = SchemaView), (status = 400, body = ErrorBody),
        (status = 401, description = "A bearer token that is not valid", body = ErrorBody),
        (status = 404, description = "No such schema, or no schema registry configured", body = ErrorBody),
        (status = 502, description = "The registry refused", body = ErrorBody),
        (status = 503, description = "The registry did not answer", body = ErrorBody)))]
/// `GET /api/schemas/{id}`
pub async fn show(
    State(state): State<AppState>,
    _viewer: super::auth::Viewer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SchemaView>, ApiError> {
    let id: u32 = id
        .parse()
        .map_err(|_| FieldError::new("id", "must be a schema id (a whole number)"))?;
    let schemas = state.relay.schemas();
    if schemas.registry().is_none() {
        return Err(ApiError::not_found("no schema registry is configured"));
    }
    let known = schemas.by_id(id).await.map_err(|reason| {
        if reason.ends_with("not found") {
            ApiError::not_found(reason)
        } else {
            ApiError::SchemaRegistry {
                unreachable: reason.contains("unreachable") || reason.contains("not looked up"),
                message: reason,
            }
        }
    })?;
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

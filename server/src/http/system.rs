//! Health, statistics and the audit log: the read-only views of the system as a whole.

use super::state::AppState;
use super::{
    auth::{Admin, Viewer},
    error::ApiError,
    extract::ApiQuery,
};
use crate::store::AuditFilter;
use app::wire::{AuditEntry, ErrorBody, Health, Stats, TopicStatus};
use axum::{extract::State, Json};
use serde::Deserialize;

#[utoipa::path(get, path = "/api/health", tag = "system", responses((status = 200, body = Health)))]
/// `GET /api/health`: always 200 while the server runs; `status` says `healthy` or `degraded`
/// and the `broker` and `database` parts say which.
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(state.health.report())
}

#[utoipa::path(get, path = "/api/stats", tag = "system", responses((status = 200, body = Stats),
    (status = 401, description = "A bearer token that is not valid", body = ErrorBody)))]
/// `GET /api/stats`: private topics (and their subscriptions) count only for their owners and
/// admins.
pub async fn stats(State(state): State<AppState>, viewer: Viewer) -> Result<Json<Stats>, ApiError> {
    let position = state.store.position();
    let mut stats = state
        .read_cache
        .stats
        .get_or_compute(position, state.store.stats())
        .await?;
    for hidden in super::topics::hidden_from(&state, &viewer.who).await? {
        stats.total_topics -= 1;
        stats.total_subscriptions -= hidden.subscriber_count;
        let count = match hidden.status {
            TopicStatus::Pending => &mut stats.pending_topics,
            TopicStatus::Approved => &mut stats.approved_topics,
            TopicStatus::Active => &mut stats.active_topics,
            TopicStatus::Rejected => &mut stats.rejected_topics,
            TopicStatus::Inactive => &mut stats.inactive_topics,
        };
        *count -= 1;
    }
    stats.timestamp = crate::now_rfc3339();
    Ok(Json(stats))
}

/// Filters of `GET /api/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    limit: Option<i64>,
    topic: Option<String>,
    actor: Option<String>,
    action: Option<String>,
}

#[utoipa::path(get, path = "/api/audit", tag = "system", security(("admin" = [])),
    params(("limit" = Option<i64>, Query), ("topic" = Option<String>, Query), ("actor" = Option<String>, Query), ("action" = Option<String>, Query)),
    responses((status = 200, body = Vec<AuditEntry>), (status = 401, body = ErrorBody)))]
/// `GET /api/audit?limit=&topic=&actor=&action=` (admin): newest first, 100 by default, at most
/// 1000.
pub async fn audit(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    // No row holds a NUL (PostgreSQL takes none): such a filter matches nothing, on both.
    if [&query.topic, &query.actor, &query.action]
        .into_iter()
        .flatten()
        .any(|v| v.contains('\0'))
    {
        return Ok(Json(Vec::new()));
    }
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let filter = AuditFilter {
        topic: non_empty(query.topic),
        actor: non_empty(query.actor),
        action: non_empty(query.action),
        limit: query.limit.unwrap_or(100).clamp(1, 1000),
    };
    Ok(Json(state.store.audit(&filter).await?))
}

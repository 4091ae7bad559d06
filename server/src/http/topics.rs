//! `/api/topics…`: requesting topics, the admin's lifecycle actions, and activation by the
//! producer daemon (which creates the topic in Kafka before the row says `active`).

use super::state::AppState;
use super::{
    auth::{Admin, Caller, Producer, Viewer},
    error::ApiError,
    extract::{ApiPath, ApiQuery},
    json::ApiJson,
    owner_action::OwnerAction,
    pages::{page_size, with_next_link},
};
use crate::access::{Ownership, Viewer as AccessViewer};
use crate::store::Actor;
use crate::store::{
    read_cache::{CachedJson, TopicListing},
    AuditFilter, AuditOutcome, NewTopic, StoreError, TopicKey, TopicPage,
};
use crate::webhooks::Event;
use app::{
    access::AccessLevel,
    domain::{self, EventType, TopicName},
    wire::{
        ActivateRequest, ActiveTopic, AuditEntry, ErrorBody, MessageBody, NewTopicRequest,
        RejectRequest, Topic, TopicCreated, TopicDetail, TopicRate, TopicStatus,
    },
};
use axum::{
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde::Deserialize;
use std::net::SocketAddr;

/// `GET /api/topics` query: the `?status=` filter, and a page (`limit`, `before`, `q`) for
/// callers that ask for one.
#[derive(Debug, Deserialize)]
pub struct TopicQuery {
    status: Option<String>,
    limit: Option<i64>,
    before: Option<i64>,
    q: Option<String>,
}

/// The longest search text `q` may be (a topic name's longest, 249, and some).
pub(super) const MAX_SEARCH_LEN: usize = 256;

#[utoipa::path(get, path = "/api/topics", tag = "topics", operation_id = "list_topics",
    description = "All topics, newest first. With `limit`, `before` or `q`, one page of them: at most `limit` (100 by default, 1,000 at most) with ids below `before`, and a `Link: <…>; rel=\"next\"` header while more follow. Without any of them, the whole list, as the REST contract has it.",
    params(("status" = Option<String>, Query, description = "Only topics with this status"),
        ("q" = Option<String>, Query, description = "Only topics whose name or requester contains this text (ASCII case ignored; at most 256 characters)"),
        ("limit" = Option<i64>, Query, description = "Page size (1 to 1,000; clamped)"),
        ("before" = Option<i64>, Query, description = "Only topics with smaller ids: the last id of the previous page")),
    responses((status = 200, body = Vec<Topic>), (status = 400, body = ErrorBody),
        (status = 401, description = "A bearer token that is not valid", body = ErrorBody)))]
/// `GET /api/topics`: private topics are left out for everyone but their owners and admins.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiQuery(query): ApiQuery<TopicQuery>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Response, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(word) => Some(TopicStatus::parse(word).ok_or_else(|| {
            ApiError::InvalidField(domain::FieldError::new(
                "status",
                "must be a topic status word",
            ))
        })?),
    };
    let search = match query.q.as_deref().map(str::trim) {
        Some(q) if q.chars().count() > MAX_SEARCH_LEN => {
            return Err(ApiError::InvalidField(domain::FieldError::new(
                "q",
                format!("must have at most {MAX_SEARCH_LEN} characters"),
            )))
        }
        // No stored text holds one (and PostgreSQL takes none): the same answer on both.
        Some(q) if q.contains('\0') => {
            return Err(ApiError::InvalidField(domain::FieldError::new(
                "q",
                "must not contain NUL",
            )))
        }
        Some("") => None,
        q => q,
    };
    // A search reads every topic (no index helps `instr`): it counts against the address's
    // allowance of costly anonymous requests, as writes do.
    if search.is_some() {
        super::extract::take_costly(&state, peer, "searches and anonymous writes").await?;
    }
    if query.limit.is_some() || query.before.is_some() || search.is_some() {
        let page = TopicPage {
            status,
            search,
            before: query.before,
            limit: page_size(query.limit),
        };
        return page_of_topics(&state, page, &viewer.who).await;
    }
    if status.is_some() {
        let topics = state.store.list_topics(status).await?;
        return Ok(Json(visible(topics, &viewer.who)).into_response());
    }
    let listing = listing(&state).await?;
    if viewer.who.is_admin() {
        return Ok(super::cached::respond(&listing.all, &headers));
    }
    if !listing.private.iter().any(|t| viewer.who.sees_topic(t)) {
        return Ok(super::cached::respond(&listing.public, &headers));
    }
    // One who owns a private topic: their own list (rare enough not to keep).
    let topics = state.store.list_topics(None).await?;
    Ok(Json(visible(topics, &viewer.who)).into_response())
}

/// The whole topic list, from the cache until the next change anywhere (it is the hot read).
async fn listing(state: &AppState) -> Result<TopicListing, ApiError> {
    let position = state.store.position();
    state
        .read_cache
        .topics
        .get_or_compute(position, async {
            let topics = state.store.list_topics(None).await?;
            listing_of(&topics).map_err(|e| ApiError::Store(StoreError::Other(e.to_string())))
        })
        .await
}

/// The cached forms of the whole topic list.
fn listing_of(topics: &[Topic]) -> Result<TopicListing, serde_json::Error> {
    let private = |t: &&Topic| t.access == AccessLevel::Private;
    let public: Vec<&Topic> = topics.iter().filter(|t| !private(t)).collect();
    Ok(TopicListing {
        all: CachedJson::new(&topics)?,
        public: CachedJson::new(&public)?,
        private: std::sync::Arc::new(topics.iter().filter(private).cloned().collect()),
    })
}

/// The topics `who` may not see (private ones of others), for answers that count or list
/// topics without naming them one by one (stats, rates).
pub(super) async fn hidden_from(
    state: &AppState,
    who: &AccessViewer,
) -> Result<Vec<Topic>, ApiError> {
    if who.is_admin() {
        return Ok(Vec::new());
    }
    let listing = listing(state).await?;
    Ok(listing
        .private
        .iter()
        .filter(|t| !who.sees_topic(t))
        .cloned()
        .collect())
}

/// The topics of `topics` that `who` sees.
fn visible(topics: Vec<Topic>, who: &AccessViewer) -> Vec<Topic> {
    topics.into_iter().filter(|t| who.sees_topic(t)).collect()
}

#[utoipa::path(post, path = "/api/topics", tag = "topics", request_body = NewTopicRequest,
    responses((status = 201, body = TopicCreated), (status = 400, body = ErrorBody),
        (status = 409, description = "Duplicate name", body = ErrorBody),
        (status = 502, description = "The schema registry answered what it should not", body = ErrorBody),
        (status = 429, description = "Too many writes from this address", body = ErrorBody)))]
/// `POST /api/topics`: a new request, `pending` until an admin decides.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewTopicRequest>,
) -> Result<(StatusCode, Json<TopicCreated>), ApiError> {
    let topic_id = submit_request(&state, &req, &caller).await?;
    Ok((
        StatusCode::CREATED,
        Json(TopicCreated {
            message: "Topic creation request submitted".into(),
            topic_id,
        }),
    ))
}

/// Validates a topic request and records it as `pending`: the one path for the REST API and
/// the dashboard's form.
pub async fn submit_request(
    state: &AppState,
    req: &NewTopicRequest,
    caller: &Caller,
) -> Result<i64, ApiError> {
    let name = TopicName::parse(&req.name)?;
    let (created_by, actor) = caller.acting_for(&req.created_by, "created_by")?;
    let partitions = domain::parse_partitions(req.partitions, state.limits.max_partitions)?;
    // The broker count bounds the replication factor when we know it; while the broker is
    // unreachable, activation will refuse an impossible one instead.
    let max_rf = state
        .health
        .broker_count()
        .map(|n| n.max(1) as i64)
        .unwrap_or(i64::from(i16::MAX));
    let replication_factor = domain::parse_replication_factor(req.replication_factor, max_rf)?;
    let description = domain::parse_description(&req.description)?;
    let event_type = EventType::parse(req.event_type.as_deref().unwrap_or(""))?;
    let owner = crate::access::requested_ownership(
        &caller.viewer(),
        req.owner_team.as_deref(),
        req.access,
    )?;
    app::access::parse_masks(&req.masks)?;
    // A name taken is refused as such before the registry is asked about its subject.
    let taken = match &req.value_schema {
        Some(_) => state
            .store
            .topic_uncounted(TopicKey::Name(name.as_str()))
            .await?
            .is_some(),
        None => false,
    };
    if let Some(value_schema) = req.value_schema.as_ref().filter(|_| !taken) {
        let registry = state.relay.schemas().registry();
        crate::schema::check_requested(registry, name.as_str(), value_schema)
            .await
            .map_err(|e| match e {
                crate::schema::RequestedSchemaError::Refused(why) => {
                    ApiError::InvalidField(domain::FieldError::new("value_schema", why))
                }
                crate::schema::RequestedSchemaError::Registry {
                    message,
                    unreachable,
                } => ApiError::SchemaRegistry {
                    unreachable,
                    message,
                },
            })?;
    }
    let new = NewTopic {
        name,
        created_by,
        partitions,
        replication_factor,
        description,
        event_type,
        owner,
        access: req.access,
        masks: req.masks.clone(),
        value_schema: req.value_schema.clone(),
    };
    let id = state.store.create_topic(&new, &actor).await?;
    let event = Event::new("topic_requested", new.name.as_str(), &actor.name)
        .team(new.owner.team.as_deref());
    state.webhooks.notify(event);
    Ok(id)
}

/// Tells the webhook of a decision on a topic request.
fn notify_decision(state: &AppState, kind: &'static str, topic: &Topic, actor: &Actor) {
    let event = Event::new(kind, &topic.topic_name, &actor.name).team(topic.owner_team.as_deref());
    state.webhooks.notify(event);
}

/// One page of the topic list, with a `Link` to the next while there is one.
async fn page_of_topics(
    state: &AppState,
    page: TopicPage<'_>,
    who: &AccessViewer,
) -> Result<Response, ApiError> {
    let limit = page.limit;
    let mut topics = state
        .store
        .list_topics_page(&TopicPage {
            limit: limit + 1,
            ..page
        })
        .await?;
    let more = topics.len() as i64 > limit;
    topics.truncate(limit as usize);
    // Hidden ones are left out after the page is cut, so that the next page starts where the
    // database stopped (a page may hold fewer than `limit`).
    let last_id = topics.last().map(|t| t.topic_id);
    let topics = visible(topics, who);
    let next = last_id.filter(|_| more).map(|last_id| {
        let status = page
            .status
            .map_or(String::new(), |s| format!("&status={s}"));
        let search = page
            .search
            .map_or(String::new(), |q| format!("&q={}", app::api::encode(q)));
        format!("/api/topics?limit={limit}&before={last_id}{status}{search}")
    });
    Ok(with_next_link(Json(topics).into_response(), next))
}

#[utoipa::path(get, path = "/api/topics/active", tag = "topics",
    responses((status = 200, body = Vec<ActiveTopic>),
        (status = 401, description = "A bearer token that is not valid", body = ErrorBody)))]
/// `GET /api/topics/active`
pub async fn active(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Vec<ActiveTopic>>, ApiError> {
    let mut active = state.store.active_topics().await?;
    active.retain(|t| viewer.who.sees(t.access, &Ownership::of_active(t)));
    Ok(Json(active))
}

#[utoipa::path(get, path = "/api/topics/rates", tag = "topics",
    responses((status = 200, body = Vec<TopicRate>),
        (status = 401, description = "A bearer token that is not valid", body = ErrorBody)))]
/// `GET /api/topics/rates`: each active topic's records per second over the last minutes
/// (private topics only for their owners and admins).
pub async fn rates(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Vec<TopicRate>>, ApiError> {
    let mut rates = state.rates.snapshot();
    let hidden = hidden_from(&state, &viewer.who).await?;
    rates.retain(|r| !hidden.iter().any(|t| t.topic_name == r.topic_name));
    Ok(Json(rates))
}

#[utoipa::path(get, path = "/api/topics/{id}", tag = "topics",
    params(("id" = i64, Path, description = "Topic id")),
    description = "One topic with its history. Admins see every audit row with addresses; its owners every row without addresses; anyone else the lifecycle steps and access changes that succeeded, without addresses.",
    responses((status = 200, body = TopicDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// `GET /api/topics/{id}`: one topic with its audit history.
pub async fn detail(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TopicDetail>, ApiError> {
    let topic = find_seen(&state, parse_id(&id)?, &viewer.who).await?;
    let mut history = state
        .store
        .audit(&AuditFilter {
            topic: Some(topic.topic_name.clone()),
            limit: 200,
            ..AuditFilter::default()
        })
        .await?;
    if !viewer.admin {
        let owners = viewer.who.acts_for_owners(&Ownership::of(&topic));
        history = public_history(history, owners);
    }
    let value_schema = match topic.value_schema_format {
        Some(_) => state
            .store
            .value_schema(topic.topic_id)
            .await?
            .map(|s| s.schema),
        None => None,
    };
    Ok(Json(TopicDetail {
        topic,
        history,
        value_schema,
    }))
}

/// The part of a topic's history anyone may read: its lifecycle steps and changes of who may
/// read it that took effect, without addresses. Denied and failed attempts, and subscriptions
/// (which name users), are for admins and the topic's owners (`owners`, without addresses).
fn public_history(history: Vec<AuditEntry>, owners: bool) -> Vec<AuditEntry> {
    const PUBLIC: [&str; 11] = [
        "request",
        "adopt",
        "approve",
        "reject",
        "activate",
        "deactivate",
        "reactivate",
        "recreate",
        "change_access",
        "move_owner",
        "approve_claim",
    ];
    history
        .into_iter()
        .filter(|e| {
            owners
                || (e.outcome == AuditOutcome::Ok.as_str() && PUBLIC.contains(&e.action.as_str()))
        })
        .map(|e| AuditEntry {
            remote_addr: None,
            ..e
        })
        .collect()
}

/// Topic ids in paths are positive integers; anything else is a 404 like an unknown id (the
/// resource named does not exist), with the JSON body.
pub(super) fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(format!("no topic with id {raw:?}")))
}

pub(super) async fn find(state: &AppState, id: i64) -> Result<Topic, ApiError> {
    state
        .store
        .topic(TopicKey::Id(id))
        .await?
        .ok_or_else(|| ApiError::Store(StoreError::TopicNotFound(format!("#{id}"))))
}

/// [`find`] for `who`: a topic hidden from them answers exactly as one that does not exist.
pub(super) async fn find_seen(
    state: &AppState,
    id: i64,
    who: &AccessViewer,
) -> Result<Topic, ApiError> {
    match find(state, id).await? {
        topic if who.sees_topic(&topic) => Ok(topic),
        _ => Err(ApiError::Store(StoreError::TopicNotFound(format!("#{id}")))),
    }
}

#[utoipa::path(post, path = "/api/topics/{id}/approve", tag = "topics", description = "pending → approved (admin). A request that carried a value schema is approved once the schema registry took it as `<topic>-value` (502 when the registry refuses it, 503 when it does not answer).",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])),
    responses((status = 200, body = MessageBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 502, description = "The schema registry refused the value schema", body = ErrorBody)))]
/// `POST /api/topics/{id}/approve` (admin)
pub async fn approve(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MessageBody>, ApiError> {
    let topic = state
        .lifecycle
        .approve(&admin.actor, parse_id(&id)?)
        .await?;
    notify_decision(&state, "topic_approved", &topic, &admin.actor);
    Ok(Json(MessageBody::new("Topic approved successfully")))
}

#[utoipa::path(post, path = "/api/topics/{id}/reject", tag = "topics", description = "pending → rejected (admin)",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])), request_body = RejectRequest,
    responses((status = 200, body = MessageBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// `POST /api/topics/{id}/reject` (admin) with `{"reason": "..."}`
pub async fn reject(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RejectRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    let id = parse_id(&id)?;
    let reason = domain::parse_reason(&req.reason)?;
    let topic = state.lifecycle.reject(&admin.actor, id, reason).await?;
    notify_decision(&state, "topic_rejected", &topic, &admin.actor);
    Ok(Json(MessageBody::new("Topic rejected")))
}

#[utoipa::path(post, path = "/api/topics/{id}/deactivate", tag = "topics", description = "active → inactive (its owners and admins)",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])),
    responses((status = 200, body = MessageBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not one of the topic's owners", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// `POST /api/topics/{id}/deactivate` (its owners and admins): producer and relay stop; Kafka
/// data stays.
pub async fn deactivate(
    State(state): State<AppState>,
    owner: OwnerAction,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MessageBody>, ApiError> {
    let id = parse_id(&id)?;
    owner.check(&state, &find(&state, id).await?).await?;
    state.lifecycle.deactivate(&owner.actor, id).await?;
    Ok(Json(MessageBody::new("Topic deactivated")))
}

#[utoipa::path(post, path = "/api/topics/{id}/reactivate", tag = "topics", description = "inactive → active (its owners and admins)",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])),
    responses((status = 200, body = MessageBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not one of the topic's owners", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
/// `POST /api/topics/{id}/reactivate` (its owners and admins): makes sure the Kafka topic is
/// there, then `inactive → active`.
pub async fn reactivate(
    State(state): State<AppState>,
    owner: OwnerAction,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MessageBody>, ApiError> {
    let id = parse_id(&id)?;
    owner.check(&state, &find(&state, id).await?).await?;
    state.lifecycle.reactivate(&owner.actor, id).await?;
    Ok(Json(MessageBody::new("Topic reactivated")))
}

#[utoipa::path(post, path = "/api/topics/activate_by_name", tag = "topics",
    security(("producer" = [])), request_body = ActivateRequest,
    responses((status = 200, body = MessageBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 502, description = "The broker refused", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody)))]
/// `POST /api/topics/activate_by_name` (producer): creates the topic in Kafka with its
/// partitions and replication factor, then marks it `active`. Harmless on an active topic.
pub async fn activate_by_name(
    State(state): State<AppState>,
    producer: Producer,
    ApiJson(req): ApiJson<ActivateRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    let name = TopicName::parse_field(&req.topic_name, "topic_name")?;
    state.lifecycle.activate(&producer.actor, &name).await?;
    Ok(Json(MessageBody::new("Topic activated")))
}

#[utoipa::path(post, path = "/api/topics/{id}/adopt", tag = "topics",
    description = "Lets activation use the Kafka topic of this name that existed before StreamHub tried to create it (admin). Only for an approved topic whose activation found the name taken.",
    params(("id" = i64, Path, description = "Topic id")), security(("admin" = [])),
    responses((status = 200, body = MessageBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// `POST /api/topics/{id}/adopt` (admin): the producer's next activation adopts the existing
/// Kafka topic.
pub async fn adopt(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MessageBody>, ApiError> {
    state.lifecycle.adopt(&admin.actor, parse_id(&id)?).await?;
    Ok(Json(MessageBody::new(
        "Adoption allowed: the producer activates the topic with the existing Kafka topic",
    )))
}

//! `GET /api/openapi.json`: the OpenAPI 3 document of the REST API, generated from the handlers'
//! `#[utoipa::path]` annotations and the wire types' schemas, so it cannot drift from the code.
//! On top of the generated part it states the input rules exactly (the patterns and bounds of
//! `app::domain`, this server's own limits), the error answers every operation can give, and
//! links from a created topic to the operations on it, so that a schema-driven client or fuzzer
//! (schemathesis, in `.ci/fuzz-api`) knows precisely what is valid.

use super::state::AppState;
use super::{
    access, identities, positions, records, schemas, session, subscriptions, system, topics,
};
use app::access::{
    AccessLevel, FIELD_PATH_MAX_LEN, FIELD_PATH_PATTERN, MASKS_MAX, OWNER_MAX_LEN, OWNER_PATTERN,
    TEAM_MAX_LEN,
};
use app::domain::{
    EventType, NOT_BLANK_PATTERN, NO_NUL_PATTERN, TEXT_MAX_CHARS, TOPIC_NAME_MAX_LEN,
    TOPIC_NAME_PATTERN, USER_ID_MAX_LEN, USER_ID_PATTERN,
};
use app::wire::{ErrorBody, TopicStatus};
use axum::{extract::State, Json};
use serde_json::Value;
use utoipa::{
    openapi::{
        self,
        extensions::Extensions,
        link::LinkBuilder,
        schema::{AdditionalProperties, KnownFormat, Object, SchemaFormat, Type},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Ref, RefOr, ResponseBuilder, Schema,
    },
    Modify, OpenApi, ToSchema,
};

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "StreamHub REST API",
        description = "Approval-gated Kafka topics: request, approve, activate, subscribe."
    ),
    paths(
        system::health, system::stats, system::audit,
        topics::list, topics::create, topics::active, topics::rates, topics::detail, topics::approve,
        topics::reject, topics::deactivate, topics::reactivate, topics::adopt, topics::activate_by_name,
        records::produce, schemas::show, access::update_access, access::set_owner,
        access::claim, access::decide_claim,
        subscriptions::list, subscriptions::subscribe, subscriptions::unsubscribe, subscriptions::decide, subscriptions::inbox, subscriptions::subscribers,
        positions::lag, positions::save,
        session::current, session::sign_in, session::sign_out, identities::unbind,
    ),
    modifiers(&SecuritySchemes, &InputRules, &CommonErrors, &TopicLinks)
)]
pub struct ApiDoc;

/// Declares the admin bearer token and the producer key header.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "producer",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Producer-Key"))),
        );
    }
}

/// The rules of `app::domain` on the request bodies and query parameters that carry them.
struct InputRules;

impl Modify for InputRules {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        for (schema, field) in [
            ("NewTopicRequest", "name"),
            ("ActivateRequest", "topic_name"),
            ("SubscriptionRequest", "topic_name"),
            ("SubscriptionDecisionRequest", "topic_name"),
        ] {
            if let Some(rule) = property(openapi, schema, field) {
                rule.pattern = Some(TOPIC_NAME_PATTERN.to_owned());
                rule.min_length = Some(1);
                rule.max_length = Some(TOPIC_NAME_MAX_LEN);
            }
        }
        for (schema, field) in [
            ("NewTopicRequest", "created_by"),
            ("SubscriptionRequest", "user_id"),
            ("SubscriptionDecisionRequest", "user_id"),
        ] {
            if let Some(rule) = property(openapi, schema, field) {
                user_id_rule(rule);
            }
        }
        if let Some(rule) = query_parameter(openapi, "/api/subscriptions", "user_id") {
            // Empty means "everyone's", as the REST contract has it.
            let whole = USER_ID_PATTERN
                .trim_start_matches('^')
                .trim_end_matches('$');
            rule.pattern = Some(format!("^({whole})?$"));
            rule.max_length = Some(USER_ID_MAX_LEN);
        }
        if let Some(rule) = query_parameter(openapi, "/api/subscriptions/lag", "user_id") {
            user_id_rule(rule);
            rule.min_length = Some(1);
        }
        if let Some(rule) = property(openapi, "SavePosition", "user_id") {
            user_id_rule(rule);
        }
        if let Some(rule) = property(openapi, "SavePosition", "topic_name") {
            rule.pattern = Some(TOPIC_NAME_PATTERN.to_owned());
            rule.min_length = Some(1);
            rule.max_length = Some(TOPIC_NAME_MAX_LEN);
        }
        if let Some(rule) = property(openapi, "SavePosition", "offsets") {
            let mut partition = Object::with_type(Type::String);
            partition.pattern = Some("^[0-9]{1,9}$".to_owned());
            rule.property_names = Some(Box::new(Schema::Object(partition)));
            rule.min_properties = Some(1);
            let mut offset = Object::with_type(Type::Integer);
            offset.format = Some(SchemaFormat::KnownFormat(KnownFormat::Int64));
            offset.minimum = Some(0.0.into());
            offset.maximum = Some((positions::MAX_EXACT_OFFSET as f64).into());
            rule.additional_properties = Some(Box::new(AdditionalProperties::RefOr(RefOr::T(
                Schema::Object(offset),
            ))));
        }
        if let Some(rule) = query_parameter(openapi, "/api/subscriptions", "after") {
            // A position: a user id (anything), `/`, a topic name (which has no `/`).
            rule.pattern = Some("^(.*/.*)?$".to_owned());
        }
        if let Some(rule) = query_parameter(openapi, "/api/topics", "q") {
            rule.max_length = Some(super::topics::MAX_SEARCH_LEN);
            rule.pattern = Some(NO_NUL_PATTERN.to_owned());
        }
        if let Some(rule) = property(openapi, "ProduceRequest", "key") {
            rule.max_length = Some(records::MAX_KEY_CHARS);
        }
        if let Some(rule) = property(openapi, "ProduceRequest", "message") {
            rule.max_length = Some(records::MAX_MESSAGE_NAME_CHARS);
        }
        if let Some(rule) = property(openapi, "ProduceRequest", "headers") {
            rule.max_properties = Some(records::MAX_HEADERS);
            let mut name = Object::with_type(Type::String);
            name.min_length = Some(1);
            name.max_length = Some(records::MAX_HEADER_NAME_CHARS);
            name.pattern = Some(records::HEADER_NAME_PATTERN.to_owned());
            rule.property_names = Some(Box::new(Schema::Object(name)));
            let mut value = Object::with_type(Type::String);
            value.max_length = Some(records::MAX_HEADER_VALUE_CHARS);
            rule.additional_properties = Some(Box::new(AdditionalProperties::RefOr(RefOr::T(
                Schema::Object(value),
            ))));
        }
        if let Some(rule) = property(openapi, "NewTopicRequest", "description") {
            rule.max_length = Some(TEXT_MAX_CHARS);
            rule.pattern = Some(NO_NUL_PATTERN.to_owned());
        }
        if let Some(rule) = property(openapi, "RejectRequest", "reason") {
            rule.pattern = Some(NOT_BLANK_PATTERN.to_owned());
            rule.min_length = Some(1);
            rule.max_length = Some(TEXT_MAX_CHARS);
        }
        if let Some(rule) = property(openapi, "NewTopicRequest", "event_type") {
            // An empty string or null both mean "guess from the name".
            let words = EventType::ALL.iter().map(|t| Value::from(t.as_str()));
            rule.enum_values = Some(words.chain([Value::from(""), Value::Null]).collect());
        }
        if let Some(rule) = property(openapi, "NewTopicRequest", "owner_team") {
            rule.pattern = Some(USER_ID_PATTERN.to_owned());
            rule.max_length = Some(TEAM_MAX_LEN);
        }
        if let Some(rule) = array_property(openapi, "NewTopicRequest", "masks") {
            rule.max_items = Some(MASKS_MAX);
        }
        for (schema, field) in [("ClaimRequest", "team"), ("ClaimDecision", "team")] {
            if let Some(rule) = property(openapi, schema, field) {
                rule.pattern = Some(USER_ID_PATTERN.to_owned());
                rule.max_length = Some(TEAM_MAX_LEN);
            }
        }
        if let Some(rule) = property(openapi, "OwnerUpdate", "owner") {
            rule.pattern = Some(OWNER_PATTERN.to_owned());
            rule.max_length = Some(OWNER_MAX_LEN);
        }
        if let Some(rule) = array_property(openapi, "AccessUpdate", "masks") {
            rule.max_items = Some(MASKS_MAX);
        }
        if let Some(rule) = property(openapi, "ValueSchema", "format") {
            let words = ["avro", "protobuf", "json_schema"].map(Value::from);
            rule.enum_values = Some(words.to_vec());
        }
        if let Some(rule) = property(openapi, "ValueSchema", "schema") {
            rule.min_length = Some(1);
            rule.max_length = Some(crate::schema::MAX_SCHEMA_BYTES);
        }
        if let Some(rule) = property(openapi, "MaskRule", "path") {
            rule.pattern = Some(FIELD_PATH_PATTERN.to_owned());
            rule.min_length = Some(1);
            rule.max_length = Some(FIELD_PATH_MAX_LEN);
        }
        if let Some(rule) = query_parameter(openapi, "/api/topics", "status") {
            let words = TopicStatus::ALL.iter().map(|s| Value::from(s.as_str()));
            rule.enum_values = Some(words.chain([Value::from("")]).collect());
        }
    }
}

fn user_id_rule(rule: &mut Object) {
    rule.pattern = Some(USER_ID_PATTERN.to_owned());
    rule.max_length = Some(USER_ID_MAX_LEN);
}

/// Documents the answers that come from the extractors rather than the handlers: a body that is
/// not JSON (400), too large (413), not declared as JSON (415) or of the wrong shape (422); a
/// path or query that does not parse (400); and the database being unavailable (503).
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let reads_only_memory = matches!(path.as_str(), "/api/health" | "/api/session");
            // Everything else reads a credential (wrong ones are limited per address), writes
            // (anonymous writes are limited per address) or may cost much (a search, a lag).
            let never_limited = |method: &str| {
                matches!(
                    (path.as_str(), method),
                    ("/api/health" | "/api/stats" | "/api/topics/rates", _)
                        | ("/api/session", "get")
                )
            };
            for (method, operation) in [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("delete", &mut item.delete),
            ]
            .into_iter()
            .filter_map(|(method, operation)| Some((method, operation.as_mut()?)))
            {
                let mut answers = Vec::new();
                if operation.request_body.is_some() {
                    answers.extend([
                        ("400", "The body is not JSON"),
                        ("413", "The body is too large"),
                        ("415", "The body is not declared as JSON"),
                        ("422", "The body is JSON of the wrong shape"),
                    ]);
                }
                if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    answers.push(("400", "A path or query parameter does not parse"));
                }
                if !reads_only_memory {
                    answers.push(("503", "The database is unavailable"));
                }
                for (status, why) in answers {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(why));
                }
                if !never_limited(method) {
                    operation
                        .responses
                        .responses
                        .entry("429".to_owned())
                        .or_insert_with(rate_limited_response);
                }
            }
        }
    }
}

fn error_response(description: &str) -> RefOr<openapi::Response> {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
        .build()
        .into()
}

/// 429: this address did this too often; `Retry-After` says how many seconds to wait.
fn rate_limited_response() -> RefOr<openapi::Response> {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build();
    let mut seconds = Object::with_type(Type::Integer);
    seconds.minimum = Some(1.0.into());
    let retry_after = openapi::header::HeaderBuilder::new()
        .schema(Schema::Object(seconds))
        .description(Some("Seconds to wait before asking again"))
        .build();
    ResponseBuilder::new()
        .description("Too many requests of this kind from this address (`rate_limited`)")
        .content("application/json", body)
        .header("Retry-After", retry_after)
        .build()
        .into()
}

/// Links from `POST /api/topics` to the operations on the topic it created, so that stateful
/// clients (and fuzzers) reach real ids instead of guessing.
struct TopicLinks;

impl Modify for TopicLinks {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let created = openapi
            .paths
            .paths
            .get_mut("/api/topics")
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.responses.responses.get_mut("201"));
        let Some(RefOr::T(created)) = created else {
            return;
        };
        for operation in ["detail", "approve", "reject", "deactivate", "reactivate"] {
            // utoipa 5.5 writes `Link::operation_id` as `operation_id`, which readers ignore; the
            // field goes in through the flattened extensions map under its OpenAPI spelling.
            let mut fields = Extensions::default();
            fields.insert("operationId".to_owned(), operation.into());
            let link = LinkBuilder::new()
                .parameter("id", "$response.body#/topic_id")
                .extensions(Some(fields))
                .build();
            created.links.insert(operation.to_owned(), link.into());
        }
    }
}

/// The schema of one property of a component schema, to refine it.
fn property<'a>(
    openapi: &'a mut openapi::OpenApi,
    schema: &str,
    field: &str,
) -> Option<&'a mut Object> {
    let components = openapi.components.as_mut()?;
    let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
        return None;
    };
    match object.properties.get_mut(field)? {
        RefOr::T(Schema::Object(property)) => Some(property),
        _ => None,
    }
}

/// The list property `field` of component `schema`, to refine it.
fn array_property<'a>(
    openapi: &'a mut openapi::OpenApi,
    schema: &str,
    field: &str,
) -> Option<&'a mut utoipa::openapi::schema::Array> {
    let components = openapi.components.as_mut()?;
    let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
        return None;
    };
    match object.properties.get_mut(field)? {
        RefOr::T(Schema::Array(list)) => Some(list),
        _ => None,
    }
}

/// The schema of the query parameter `name` of `GET path`, to refine it.
fn query_parameter<'a>(
    openapi: &'a mut openapi::OpenApi,
    path: &str,
    name: &str,
) -> Option<&'a mut Object> {
    let operation = openapi.paths.paths.get_mut(path)?.get.as_mut()?;
    let parameter = operation
        .parameters
        .as_mut()?
        .iter_mut()
        .find(|p| p.name == name)?;
    match parameter.schema.as_mut()? {
        RefOr::T(Schema::Object(object)) => Some(object),
        _ => None,
    }
}

/// `GET /api/openapi.json`: the document, with this server's own bounds on partitions and (while
/// the broker count is known) the replication factor.
pub async fn document(State(state): State<AppState>) -> Json<openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    if let Some(rule) = property(&mut doc, "NewTopicRequest", "partitions") {
        rule.minimum = Some(1.into());
        rule.maximum = Some((state.limits.max_partitions as isize).into());
    }
    if let Some(rule) = property(&mut doc, "NewTopicRequest", "replication_factor") {
        rule.minimum = Some(1.into());
        rule.maximum = state.health.broker_count().map(|n| n.max(1).into());
    }
    if state.auth == crate::oidc::AuthMode::Open {
        only_open_topics(&mut doc);
    }
    if state.relay.schemas().registry().is_none() {
        only_null(&mut doc, "NewTopicRequest", "value_schema");
    }
    if !state.relay.schemas().is_active() {
        only_null(&mut doc, "ProduceRequest", "message");
    }
    Json(doc)
}

/// A property this server takes only as `null`: without a schema registry a topic request
/// carries no value schema (there is nowhere to register it); without a registry or schema files
/// no topic has a Protobuf schema, so a test record names no message to write as.
fn only_null(doc: &mut openapi::OpenApi, component: &str, property: &str) {
    if let Some(RefOr::T(Schema::Object(object))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut(component))
    {
        object.properties.insert(
            property.into(),
            RefOr::T(Schema::Object(Object::with_type(Type::Null))),
        );
    }
}

/// Without an identity provider there are no teams: a request is `open` and names no owner.
fn only_open_topics(doc: &mut openapi::OpenApi) {
    let Some(RefOr::T(Schema::Object(request))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("NewTopicRequest"))
    else {
        return;
    };
    let mut open = Object::with_type(Type::String);
    open.enum_values = Some(vec![Value::from(AccessLevel::Open.as_str())]);
    request
        .properties
        .insert("access".into(), RefOr::T(Schema::Object(open)));
    request.properties.insert(
        "owner_team".into(),
        RefOr::T(Schema::Object(Object::with_type(Type::Null))),
    );
    if let Some(RefOr::T(Schema::Object(update))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("AccessUpdate"))
    {
        let mut open = Object::with_type(utoipa::openapi::schema::SchemaType::Array(vec![
            Type::String,
            Type::Null,
        ]));
        open.enum_values = Some(vec![Value::from(AccessLevel::Open.as_str()), Value::Null]);
        update
            .properties
            .insert("access".into(), RefOr::T(Schema::Object(open)));
    }
}

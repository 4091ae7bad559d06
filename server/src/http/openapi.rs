//! `GET /api/openapi.json`: the OpenAPI 3 document of the REST API, generated from the handlers'
//! `#[utoipa::path]` annotations and the wire types' schemas, so it cannot drift from the code.

use super::{session, subscriptions, system, topics};
use axum::Json;
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
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
        topics::reject, topics::deactivate, topics::reactivate, topics::activate_by_name,
        subscriptions::list, subscriptions::subscribe, subscriptions::unsubscribe,
        session::current, session::sign_in, session::sign_out,
    ),
    modifiers(&SecuritySchemes)
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

/// `GET /api/openapi.json`
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

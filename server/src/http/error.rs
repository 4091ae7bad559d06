//! The one error type of the HTTP layer and its mapping to status codes and the JSON error body
//! of `API.md` (`{"error": word, "message": sentence, "field"?: ..., "current_status"?: ...}`).
//! Handlers return `Result<_, ApiError>` and use `?`; nothing else builds error responses.

use crate::{
    kafka::KafkaError, lifecycle::LifecycleError, schema::RegisterError, store::StoreError,
};
use app::{domain::FieldError, wire::ErrorBody, wire::TopicStatus};
use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// One input field is invalid (400, names the field).
    #[error(transparent)]
    InvalidField(#[from] FieldError),
    /// The body or the query string could not be read as we expect (400/413/415/422, from the
    /// extractors `ApiJson` and `ApiQuery`).
    #[error("{message}")]
    BadRequest {
        status: StatusCode,
        error: &'static str,
        message: String,
    },
    /// A connection limit is reached: 429 when the caller's own address is at fault, 503 when
    /// the whole server is.
    #[error("{message}")]
    Limit {
        status: StatusCode,
        error: &'static str,
        message: &'static str,
    },
    /// This address did this too often: 429 with `Retry-After` (`what` says what it did).
    #[error("too many {what} from this address; wait {}s", retry_after.as_secs().max(1))]
    TooManyRequests {
        what: &'static str,
        retry_after: std::time::Duration,
    },
    /// No or wrong credentials (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// `oidc` mode: the request carries no identity (no session, no token), and needs one.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Credentials present but the request may not go ahead (403), e.g. a missing CSRF token.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Something on our side failed that the caller cannot fix (500; details only in the log).
    #[error("{0}")]
    Internal(String),
    /// The thing named does not exist (404).
    #[error("{message}")]
    NotFound {
        error: &'static str,
        message: String,
    },
    /// Refused because of current state (409).
    #[error("{message}")]
    Conflict {
        error: &'static str,
        message: String,
        current_status: Option<TopicStatus>,
    },
    /// The route exists but not with this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Kafka could not do it (503 when unreachable, 502 when it refused, 409 on a shape clash).
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The store could not do it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The schema registry did not answer (503), or refused what was asked of it (502).
    #[error("{message}")]
    SchemaRegistry { unreachable: bool, message: String },
}

impl ApiError {
    /// A 404 for an unknown route or resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound {
            error: "not_found",
            message: message.into(),
        }
    }

    fn parts(
        &self,
    ) -> (
        StatusCode,
        &'static str,
        Option<String>,
        Option<TopicStatus>,
    ) {
        match self {
            ApiError::InvalidField(e) => (
                StatusCode::BAD_REQUEST,
                "invalid_field",
                Some(e.field.to_owned()),
                None,
            ),
            ApiError::BadRequest { status, error, .. } => (*status, error, None, None),
            ApiError::Limit { status, error, .. } => (*status, error, None, None),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", None, None)
            }
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None, None),
            ApiError::Unauthenticated(_) => {
                (StatusCode::UNAUTHORIZED, "unauthenticated", None, None)
            }
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None, None),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None, None),
            ApiError::NotFound { error, .. } => (StatusCode::NOT_FOUND, error, None, None),
            ApiError::Conflict {
                error,
                current_status,
                ..
            } => (StatusCode::CONFLICT, error, None, *current_status),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                None,
                None,
            ),
            ApiError::Kafka(KafkaError::Unavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                None,
                None,
            ),
            ApiError::Kafka(KafkaError::GroupActive(_)) => {
                (StatusCode::CONFLICT, "group_active", None, None)
            }
            ApiError::Kafka(KafkaError::ShapeMismatch { .. }) => {
                (StatusCode::CONFLICT, "kafka_topic_mismatch", None, None)
            }
            ApiError::Kafka(KafkaError::Refused(_) | KafkaError::Config(_)) => {
                (StatusCode::BAD_GATEWAY, "broker_refused", None, None)
            }
            ApiError::SchemaRegistry {
                unreachable: true, ..
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "schema_registry_unavailable",
                None,
                None,
            ),
            ApiError::SchemaRegistry {
                unreachable: false, ..
            } => (
                StatusCode::BAD_GATEWAY,
                "schema_registry_refused",
                None,
                None,
            ),
            ApiError::Store(e) => match e {
                StoreError::DuplicateTopic(_) => (
                    StatusCode::CONFLICT,
                    "duplicate_topic",
                    Some("name".into()),
                    None,
                ),
                StoreError::CollidingTopic { .. } => (
                    StatusCode::CONFLICT,
                    "colliding_topic",
                    Some("name".into()),
                    None,
                ),
                StoreError::NothingToAdopt(_) => {
                    (StatusCode::CONFLICT, "nothing_to_adopt", None, None)
                }
                StoreError::TopicNotFound(_) => {
                    (StatusCode::NOT_FOUND, "topic_not_found", None, None)
                }
                StoreError::IllegalTransition { current, .. } => (
                    StatusCode::CONFLICT,
                    "illegal_transition",
                    None,
                    Some(*current),
                ),
                StoreError::TopicChangedMeanwhile(_) => {
                    (StatusCode::CONFLICT, "topic_changed", None, None)
                }
                StoreError::Unstorable(_) => {
                    (StatusCode::BAD_REQUEST, "unstorable_text", None, None)
                }
                StoreError::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    None,
                    None,
                ),
                StoreError::Other(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None, None),
            },
        }
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// The JSON error body it answers with (also what the dashboard's form shows).
    pub fn body(&self) -> ErrorBody {
        let (_, error, field, current_status) = self.parts();
        let message = match self {
            ApiError::InvalidField(e) => e.message.clone(),
            // Internal details go to the log, not to the caller.
            ApiError::Store(StoreError::Other(_)) | ApiError::Internal(_) => {
                "an internal error occurred".to_owned()
            }
            other => other.to_string(),
        };
        ErrorBody {
            error: error.to_owned(),
            message,
            field,
            current_status,
        }
    }
}

impl From<LifecycleError> for ApiError {
    fn from(error: LifecycleError) -> Self {
        match error {
            LifecycleError::Illegal { ref topic, .. } => ApiError::Conflict {
                error: "illegal_transition",
                message: error.to_string(),
                current_status: Some(topic.status),
            },
            LifecycleError::ExistsInKafka { ref topic } => ApiError::Conflict {
                error: "topic_exists_in_kafka",
                message: error.to_string(),
                current_status: Some(topic.status),
            },
            LifecycleError::FourEyes => ApiError::Forbidden(
                "four-eyes approval: you requested this topic, so another admin must approve or reject it",
            ),
            LifecycleError::Store(e) => ApiError::Store(e),
            LifecycleError::Kafka(e) => ApiError::Kafka(e),
            LifecycleError::SchemaNotRegistered(RegisterError::Refused(reason)) => {
                ApiError::Conflict {
                    error: "schema_refused",
                    message: format!("the value schema was not registered: {reason}"),
                    current_status: None,
                }
            }
            LifecycleError::SchemaNotRegistered(error) => ApiError::SchemaRegistry {
                unreachable: matches!(error, RegisterError::Unreachable(_)),
                message: format!("the value schema was not registered: {error}"),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.body();
        // A full relay is counted in /metrics; one line per refused socket would flood the log.
        if status.is_server_error() && !matches!(self, ApiError::Limit { .. }) {
            tracing::error!(%status, error = %body.error, detail = %self, "request failed");
        }
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

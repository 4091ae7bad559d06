//! `ApiJson<T>`: axum's `Json` extractor with our error body. A malformed body, a wrong type, a
//! missing field, a wrong content type or an oversized body each become an [`ApiError`] with a
//! 4xx status — never axum's plain-text rejection. Every body of this API is a JSON object: one
//! that is not (a list, say, which serde would otherwise read field by field into a struct) is
//! refused as a wrong type.

use super::error::ApiError;
use axum::{
    extract::{rejection::JsonRejection, FromRequest, Request},
    http::StatusCode,
};
use serde::de::{value::MapAccessDeserializer, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::marker::PhantomData;

/// A JSON request body of type `T`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<Object<T>>::from_request(req, state).await {
            Ok(axum::Json(Object(value))) => Ok(ApiJson(value)),
            Err(rejection) => Err(rejection_to_error(rejection)),
        }
    }
}

/// A `T` read from a JSON object only.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Fields(PhantomData))
            .map(Object)
    }
}

fn rejection_to_error(rejection: JsonRejection) -> ApiError {
    let (error, message) = match &rejection {
        JsonRejection::JsonSyntaxError(_) => {
            ("invalid_json", "the body is not valid JSON".to_owned())
        }
        JsonRejection::JsonDataError(e) => ("invalid_body", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => (
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`".to_owned(),
        ),
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ("body_too_large", "the request body is too large".to_owned())
        }
        _ => ("invalid_body", rejection.body_text()),
    };
    ApiError::BadRequest {
        status: rejection.status(),
        error,
        message,
    }
}

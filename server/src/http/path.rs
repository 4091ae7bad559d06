//! `ApiPath<T>`: axum's `Path` extractor with our error body, so that a path segment that does
//! not decode (`/api/topics/%FF` is not UTF-8) answers 400 with JSON like every other bad
//! request, never axum's plain-text rejection.

use super::error::ApiError;
use axum::{
    extract::{FromRequestParts, Path},
    http::{request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;

/// The path parameters of a request, read as `T`.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::BadRequest {
                status: StatusCode::BAD_REQUEST,
                error: "invalid_path",
                message: rejection.body_text(),
            }),
        }
    }
}

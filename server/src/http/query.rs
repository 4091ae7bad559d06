//! `ApiQuery<T>`: axum's `Query` extractor with our error body, so that a query string that does
//! not parse (a repeated or mistyped parameter) answers 400 with JSON like every other bad request,
//! never axum's plain-text rejection.

use super::error::ApiError;
use axum::{
    extract::{FromRequestParts, Query},
    http::{request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;

/// The query string of a request, read as `T`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::BadRequest {
                status: StatusCode::BAD_REQUEST,
                error: "invalid_query",
                message: rejection.body_text(),
            }),
        }
    }
}

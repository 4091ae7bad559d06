//! `ApiPath<T>` and `ApiQuery<T>`: axum's `Path` and `Query` extractors with our error body, so
//! that a path segment that does not decode (`/api/topics/%FF` is not UTF-8) or a query string
//! that does not parse (a repeated or mistyped parameter) answers 400 with JSON like every other
//! bad request, never axum's plain-text rejection. (`ApiJson`, which reads the body, is in
//! [`super::json`].)

use super::error::ApiError;
use axum::{
    extract::{FromRequestParts, Path, Query},
    http::{request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;

/// Defines `$name<T>`: axum's `$inner<T>` whose rejection is a 400 with the error word `$word`.
macro_rules! json_rejecting {
    ($(#[$doc:meta])* $name:ident wraps $inner:ident, $word:literal) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<S, T> FromRequestParts<S> for $name<T>
        where
            T: DeserializeOwned + Send,
            S: Send + Sync,
        {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                $inner::<T>::from_request_parts(parts, state)
                    .await
                    .map(|$inner(value)| $name(value))
                    .map_err(|rejection| ApiError::BadRequest {
                        status: StatusCode::BAD_REQUEST,
                        error: $word,
                        message: rejection.body_text(),
                    })
            }
        }
    };
}

json_rejecting!(
    /// The path parameters of a request, read as `T`.
    ApiPath wraps Path, "invalid_path"
);
json_rejecting!(
    /// The query string of a request, read as `T`.
    ApiQuery wraps Query, "invalid_query"
);

/// Takes one of `ip`'s tokens of `allowance`, or refuses with 429 after the pause (`what` names
/// what the allowance covers, for the refusal). An unknown address is not limited.
async fn take(
    allowance: &crate::rate_limit::RateLimit,
    ip: Option<std::net::IpAddr>,
    what: &'static str,
) -> Result<(), ApiError> {
    let Some(ip) = ip else {
        return Ok(());
    };
    allowance
        .take_or_pause(ip)
        .await
        .map_err(|retry_after| ApiError::TooManyRequests { what, retry_after })
}

/// Takes one of the peer's tokens of sign-in steps and token changes (an allowance of their own,
/// so that neither starves the other costly requests), or refuses with 429 after the pause.
pub async fn take_sign_in(
    state: &super::state::AppState,
    peer: Option<std::net::IpAddr>,
    what: &'static str,
) -> Result<(), ApiError> {
    take(&state.limits.sign_ins, peer, what).await
}

/// Takes one of the peer's tokens of costly requests (the allowance anonymous writes draw on),
/// or refuses with 429 after the pause: for reads that cost the server much (a topic search, a
/// lag read that asks the broker). `what` names what the allowance covers, for the refusal.
pub async fn take_costly(
    state: &super::state::AppState,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    what: &'static str,
) -> Result<(), ApiError> {
    let ip = peer.map(|axum::Extension(axum::extract::ConnectInfo(peer))| peer.ip());
    take(&state.limits.writes, ip, what).await
}

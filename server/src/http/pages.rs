//! Pages of long lists (`/api/topics`, `/api/subscriptions`): callers that ask for a page get
//! at most so many rows and a `Link: <…>; rel="next"` header while more follow; callers that do
//! not ask get the whole list, as the REST contract has it.

use axum::{
    http::{header, HeaderValue},
    response::Response,
};

/// Rows per page when a page is asked for without a `limit`.
const DEFAULT_PAGE: i64 = 100;
/// The most rows a page holds.
const MAX_PAGE: i64 = 1000;

/// The page size for a requested `limit` (clamped to 1 ..= 1,000).
pub(super) fn page_size(limit: Option<i64>) -> i64 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// `response` with a `Link: <next>; rel="next"` header when there is a next page.
pub(super) fn with_next_link(mut response: Response, next: Option<String>) -> Response {
    let link = next.and_then(|next| HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")).ok());
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

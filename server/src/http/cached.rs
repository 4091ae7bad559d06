//! Sending an answer the store's read cache holds ([`CachedJson`]): gzipped to clients that
//! accept it, plain to the others, without serialising or compressing anything per request.

use crate::store::read_cache::CachedJson;
use axum::{
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};

/// The response for `cached`: gzipped when the request accepts it.
pub fn respond(cached: &CachedJson, request_headers: &HeaderMap) -> Response {
    let accepts_gzip = request_headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|enc| enc.trim().starts_with("gzip")));
    let json = HeaderValue::from_static("application/json");
    let vary = HeaderValue::from_static("accept-encoding");
    if accepts_gzip && !cached.gzip().is_empty() {
        (
            [
                (header::CONTENT_TYPE, json),
                (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                (header::VARY, vary),
            ],
            cached.gzip().clone(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, json), (header::VARY, vary)],
            cached.plain().clone(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_only_for_clients_that_accept_it() {
        let entry = CachedJson::new(&vec!["x"; 100]).unwrap();
        let mut headers = HeaderMap::new();
        assert!(respond(&entry, &headers)
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_none());
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        let response = respond(&entry, &headers);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    }
}

//! Answers of the hottest reads (`GET /api/topics`, `GET /api/stats`) kept between writes.
//!
//! The store's generation number changes with every committed write; an entry is valid while the
//! generation it was computed at is current. The topic list is kept serialised and gzipped, so a
//! read costs a pointer copy, not a query, a serialisation and a compression. The generation is
//! read *before* the query, so an entry can only ever be older than its label, never newer: a
//! write that lands during the query makes the next read recompute.

use app::wire::Stats;
use axum::{
    body::Bytes,
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use std::{io::Write, sync::RwLock};

/// A JSON body in plain and gzipped form.
#[derive(Clone)]
pub struct CachedJson {
    generation: u64,
    plain: Bytes,
    gzip: Bytes,
}

impl CachedJson {
    /// Serialises and compresses `value` once.
    pub fn new<T: serde::Serialize>(generation: u64, value: &T) -> Result<Self, serde_json::Error> {
        let plain = serde_json::to_vec(value)?;
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(plain.len() / 4),
            flate2::Compression::fast(),
        );
        // Writing into a Vec cannot fail.
        let gzip = encoder
            .write_all(&plain)
            .and_then(|_| encoder.finish())
            .unwrap_or_default();
        Ok(Self {
            generation,
            plain: plain.into(),
            gzip: gzip.into(),
        })
    }

    /// The response: gzipped when the client accepts it.
    pub fn respond(&self, request_headers: &HeaderMap) -> Response {
        let accepts_gzip = request_headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|enc| enc.trim().starts_with("gzip")));
        let json = HeaderValue::from_static("application/json");
        let vary = HeaderValue::from_static("accept-encoding");
        if accepts_gzip && !self.gzip.is_empty() {
            (
                [
                    (header::CONTENT_TYPE, json),
                    (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                    (header::VARY, vary),
                ],
                self.gzip.clone(),
            )
                .into_response()
        } else {
            (
                [(header::CONTENT_TYPE, json), (header::VARY, vary)],
                self.plain.clone(),
            )
                .into_response()
        }
    }
}

/// The cached answers; shared by all requests.
#[derive(Default)]
pub struct ReadCache {
    topics: RwLock<Option<CachedJson>>,
    stats: RwLock<Option<(u64, Stats)>>,
}

impl ReadCache {
    /// The topic list computed at `generation`, if that is what is cached.
    pub fn topics(&self, generation: u64) -> Option<CachedJson> {
        let entry = self.topics.read().unwrap_or_else(|p| p.into_inner());
        entry
            .as_ref()
            .filter(|e| e.generation == generation)
            .cloned()
    }

    /// Keeps a freshly computed topic list.
    pub fn put_topics(&self, entry: CachedJson) {
        *self.topics.write().unwrap_or_else(|p| p.into_inner()) = Some(entry);
    }

    /// The counters computed at `generation`, if cached.
    pub fn stats(&self, generation: u64) -> Option<Stats> {
        let entry = self.stats.read().unwrap_or_else(|p| p.into_inner());
        entry
            .as_ref()
            .filter(|(g, _)| *g == generation)
            .map(|(_, s)| s.clone())
    }

    /// Keeps freshly computed counters.
    pub fn put_stats(&self, generation: u64, stats: Stats) {
        *self.stats.write().unwrap_or_else(|p| p.into_inner()) = Some((generation, stats));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_valid_for_their_generation_only() {
        let cache = ReadCache::default();
        assert!(cache.topics(0).is_none());
        cache.put_topics(CachedJson::new(3, &vec!["a"]).unwrap());
        assert!(cache.topics(3).is_some());
        assert!(cache.topics(4).is_none());
    }

    #[test]
    fn gzip_only_for_clients_that_accept_it() {
        let entry = CachedJson::new(0, &vec!["x"; 100]).unwrap();
        let mut headers = HeaderMap::new();
        assert!(entry
            .respond(&headers)
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_none());
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        let response = entry.respond(&headers);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    }
}

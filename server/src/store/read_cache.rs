//! Answers of the hottest reads (`GET /api/topics`, `GET /api/stats`) kept between changes. It
//! sits with the store because the store's position in the change log is what keeps it true;
//! `http` only sends what it holds.
//!
//! The position ([`super::Store::position`]) moves with every change committed by any instance
//! of the deployment; an entry is valid while the position it was computed at is current. (Here
//! "generation" is that position.) The topic list is kept serialised and gzipped, so a read
//! costs a pointer copy, not a query, a serialisation and a compression. The position is read
//! *before* the query, so an entry can only ever be older than its label, never newer: a change
//! that lands during the query makes the next read recompute.
//!
//! One reader recomputes an entry at a time: after a write, the others wait for its answer
//! instead of each querying and compressing the whole list at once (with 64 clients on a cold
//! cache that stampede made the API bench's p99 476 ms; BENCHMARKS.md).

use app::wire::Stats;
use bytes::Bytes;
use std::{future::Future, io::Write, sync::RwLock, time::Duration};

/// A JSON body in plain and gzipped form.
#[derive(Clone)]
pub struct CachedJson {
    plain: Bytes,
    gzip: Bytes,
}

impl CachedJson {
    /// Serialises and compresses `value` once.
    pub fn new<T: serde::Serialize>(value: &T) -> Result<Self, serde_json::Error> {
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
            plain: plain.into(),
            gzip: gzip.into(),
        })
    }

    /// The JSON text.
    pub fn plain(&self) -> &Bytes {
        &self.plain
    }

    /// The JSON text gzipped (empty if compression failed: send [`Self::plain`] then).
    pub fn gzip(&self) -> &Bytes {
        &self.gzip
    }
}

/// One cached answer with the generation it was computed at.
pub struct Slot<T> {
    value: RwLock<Option<(u64, T)>>,
    /// Held by the reader that recomputes; the others wait for it, then find its answer.
    refresh: tokio::sync::Mutex<()>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            value: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }
}

/// How long a reader waits for another's recompute before it computes on its own (a stalled
/// database must not line readers up one timeout after another).
const WAIT_FOR_RECOMPUTE: Duration = Duration::from_secs(1);

impl<T: Clone> Slot<T> {
    /// The cached value if it was computed at `generation` or later: a value newer than the
    /// reader's own start is as good an answer.
    fn get(&self, generation: u64) -> Option<T> {
        let entry = self.value.read().unwrap_or_else(|p| p.into_inner());
        entry
            .as_ref()
            .filter(|(g, _)| *g >= generation)
            .map(|(_, v)| v.clone())
    }

    /// Keeps `value` unless a newer one is there already.
    fn put(&self, generation: u64, value: T) {
        let mut entry = self.value.write().unwrap_or_else(|p| p.into_inner());
        if entry.as_ref().is_none_or(|(g, _)| *g < generation) {
            *entry = Some((generation, value));
        }
    }

    /// The answer as of `generation`: cached, or computed by `compute` (by one reader at a
    /// time; the others wait for its answer).
    pub async fn get_or_compute<E, F>(&self, generation: u64, compute: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        if let Some(hit) = self.get(generation) {
            return Ok(hit);
        }
        let _turn = tokio::time::timeout(WAIT_FOR_RECOMPUTE, self.refresh.lock())
            .await
            .ok();
        if let Some(hit) = self.get(generation) {
            return Ok(hit);
        }
        let value = compute.await?;
        self.put(generation, value.clone());
        Ok(value)
    }
}

/// The whole topic list in the two forms most readers get.
#[derive(Clone)]
pub struct TopicListing {
    /// Every topic: what admins get.
    pub all: CachedJson,
    /// Without private topics: what everyone else gets, unless they own one of those.
    pub public: CachedJson,
    /// The private topics (few): to tell whether a reader owns one, and what to leave out of
    /// the counts and rates a reader outside their owners gets.
    pub private: std::sync::Arc<Vec<app::wire::Topic>>,
}

/// The cached answers; shared by all requests.
#[derive(Default)]
pub struct ReadCache {
    /// `GET /api/topics`, unfiltered.
    pub topics: Slot<TopicListing>,
    /// `GET /api/stats` (without its timestamp).
    pub stats: Slot<Stats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_are_valid_for_their_generation_only() {
        let slot = Slot::<u64>::default();
        let computed = |v| async move { Ok::<_, ()>(v) };
        assert_eq!(slot.get(3), None);
        assert_eq!(slot.get_or_compute(3, computed(30)).await, Ok(30));
        assert_eq!(slot.get_or_compute(3, computed(31)).await, Ok(30), "cached");
        assert_eq!(
            slot.get_or_compute(4, computed(40)).await,
            Ok(40),
            "a write came"
        );
        assert_eq!(slot.get(5), None);
        // A reader that started before the last write takes the newer answer, and an older
        // computation never replaces a newer one.
        assert_eq!(slot.get_or_compute(3, computed(31)).await, Ok(40));
        slot.put(2, 20);
        assert_eq!(slot.get(4), Some(40));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_compute_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let slot = std::sync::Arc::new(Slot::<u64>::default());
        let computations = std::sync::Arc::new(AtomicUsize::new(0));
        let readers = (0..32).map(|_| {
            let (slot, computations) = (slot.clone(), computations.clone());
            tokio::spawn(async move {
                slot.get_or_compute(7, async {
                    computations.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    Ok::<_, ()>(70)
                })
                .await
            })
        });
        for reader in futures::future::join_all(readers).await {
            assert_eq!(reader.unwrap(), Ok(70));
        }
        assert_eq!(computations.load(Ordering::SeqCst), 1);
    }
}

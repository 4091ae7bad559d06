//! Message rates of active topics over the last minutes, for the overview's sparklines.
//!
//! A sampler reads each active topic's message count (the sum of its high watermarks) every
//! interval and keeps the last [`SAMPLES`] counts; rates are the differences. One metadata and
//! one watermark request per partition per interval, whether or not anyone watches: cheap next
//! to the producer's traffic, and the numbers are there when somebody opens the page.
//!
//! One instance of a deployment samples (the one [`Store::lead`] elects) and shares its counts
//! through the database; the others read them. An instance that takes the job over goes on from
//! the shared counts when they are recent, so the sparklines do not restart with it.

use crate::{
    kafka::KafkaAdmin,
    store::{instances::Singleton, Store},
};
use app::wire::TopicRate;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, RwLock},
    time::Duration,
};

/// Counts kept per topic (one more than the rates shown).
pub const SAMPLES: usize = 31;

/// The name of the counts in the store's shared state.
const SHARED_STATE: &str = "rates";

/// The latest counts per topic, shared by the sampler and the handler.
#[derive(Clone, Default)]
pub struct Rates {
    inner: Arc<RwLock<RatesInner>>,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct RatesInner {
    interval_secs: u64,
    /// Topic → its last counts, oldest first (`None` where a read failed).
    counts: HashMap<String, VecDeque<Option<i64>>>,
}

impl Rates {
    /// Samples every `interval` while this instance is elected to, else reads the elected
    /// one's counts, until the task is dropped.
    pub async fn run(self, kafka: KafkaAdmin, store: Store, interval: Duration) {
        self.write().interval_secs = interval.as_secs().max(1);
        let mut leading = false;
        loop {
            let lead = store.lead(Singleton::RatesSampler).await;
            if lead {
                if !leading {
                    self.load(&store, Some(interval * 2)).await;
                }
                self.sample_once(&kafka, &store).await;
                self.share(&store).await;
            } else {
                self.load(&store, None).await;
            }
            leading = lead;
            tokio::time::sleep(interval).await;
        }
    }

    /// Publishes the counts for the other instances (and a successor).
    async fn share(&self, store: &Store) {
        // Plain numbers and names: serialising cannot fail.
        let Ok(shared) = serde_json::to_string(&*self.read()) else {
            return;
        };
        if let Err(e) = store.share_state(SHARED_STATE, &shared).await {
            tracing::debug!(error = %e, "could not share the message rates");
        }
    }

    /// Takes the shared counts, unless older than `fresh_within` (then they no longer go on
    /// from where this instance is).
    async fn load(&self, store: &Store, fresh_within: Option<Duration>) {
        let Ok(Some((value, updated_at))) = store.shared_state(SHARED_STATE).await else {
            return;
        };
        let age = chrono::DateTime::parse_from_rfc3339(&updated_at)
            .ok()
            .and_then(|at| (chrono::Utc::now() - at.to_utc()).to_std().ok());
        if fresh_within.is_some_and(|fresh| age.is_none_or(|age| age > fresh)) {
            return;
        }
        if let Ok(shared) = serde_json::from_str::<RatesInner>(&value) {
            *self.write() = shared;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, RatesInner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RatesInner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// One round: every active topic's count (topics no longer active are forgotten).
    pub async fn sample_once(&self, kafka: &KafkaAdmin, store: &Store) {
        let Ok(active) = store.active_topics().await else {
            return;
        };
        let mut fresh = HashMap::with_capacity(active.len());
        for topic in active {
            let count = kafka.message_count(&topic.topic_name).await.ok();
            fresh.insert(topic.topic_name, count);
        }
        let mut inner = self.write();
        inner.counts.retain(|name, _| fresh.contains_key(name));
        for (name, count) in fresh {
            let counts = inner.counts.entry(name).or_default();
            counts.push_back(count);
            while counts.len() > SAMPLES {
                counts.pop_front();
            }
        }
    }

    /// Rates (records per second, oldest first) of every sampled topic, by name.
    pub fn snapshot(&self) -> Vec<TopicRate> {
        let inner = self.read();
        let secs = inner.interval_secs.max(1) as f64;
        let mut rates: Vec<TopicRate> = inner
            .counts
            .iter()
            .map(|(name, counts)| TopicRate {
                topic_name: name.clone(),
                total_messages: counts.iter().rev().flatten().next().copied(),
                interval_secs: inner.interval_secs,
                rates: counts
                    .iter()
                    .zip(counts.iter().skip(1))
                    .map(|pair| match pair {
                        (Some(a), Some(b)) => Some((b - a).max(0) as f64 / secs),
                        _ => None,
                    })
                    .collect(),
            })
            .collect();
        rates.sort_by(|a, b| a.topic_name.cmp(&b.topic_name));
        rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_differences_per_second_and_gaps_stay_gaps() {
        let rates = Rates::default();
        {
            let mut inner = rates.write();
            inner.interval_secs = 10;
            inner.counts.insert(
                "t".into(),
                VecDeque::from([Some(0), Some(100), None, Some(400), Some(400)]),
            );
        }
        let snapshot = rates.snapshot();
        assert_eq!(snapshot.len(), 1);
        assert_eq!(snapshot[0].rates, vec![Some(10.0), None, None, Some(0.0)]);
        assert_eq!(snapshot[0].total_messages, Some(400));
    }
}

//! Topics as subscribe requests last read them, so that a crowd of subscribe requests does not
//! cost the database one read each (on PostgreSQL that read was most of a subscription's round
//! trips).
//!
//! An entry may be stale: another instance may have changed the topic a moment ago. That is
//! safe because nothing is *decided* on an entry alone. A subscription decided on a cached topic
//! names the level and owners it was decided by, and the subscription writer checks them in its
//! transaction: if the topic has changed, nothing is written and the caller decides again on a
//! fresh read ([`super::Subscribed::TopicChanged`]). A refusal (a topic not found, or hidden
//! from the caller) is never taken from the cache. Entries go when this instance reads a topic
//! change from the change log, so they are rarely stale for longer than the log takes to arrive.

use crate::access::Ownership;
use app::{access::AccessLevel, wire::Topic};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

/// Topics kept at most (a name, a level and owners each: a few MB at most); past it the cache
/// starts again empty (a deployment with more topics than this still reads each at most once per
/// refill).
const MAX_TOPICS: usize = 10_000;

/// What a subscribe request is decided by: a topic's level and owners (all the cache keeps of
/// a topic, so that it stays small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicAccess {
    pub topic_name: String,
    pub access: AccessLevel,
    pub owner: Ownership,
}

impl TopicAccess {
    /// `topic`'s level and owners.
    pub fn of(topic: &Topic) -> Self {
        Self {
            topic_name: topic.topic_name.clone(),
            access: topic.access,
            owner: Ownership::of(topic),
        }
    }
}

/// Topics by name, each with the topic generation it was read at.
#[derive(Default)]
pub(super) struct TopicCache {
    entries: Mutex<HashMap<String, (u64, TopicAccess)>>,
    /// Moves whenever this instance learns that some topic changed: older entries are void.
    generation: AtomicU64,
}

impl TopicCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, TopicAccess)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The generation to label a read with: read it *before* the read, so that a change
    /// learned of meanwhile voids the entry.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The topic named `name` if it was read since the last topic change this instance knows of.
    pub(super) fn get(&self, name: &str) -> Option<TopicAccess> {
        let generation = self.generation();
        match self.entries().get(name) {
            Some((read_at, topic)) if *read_at == generation => Some(topic.clone()),
            _ => None,
        }
    }

    /// Keeps `topic`, read at `generation`.
    pub(super) fn put(&self, generation: u64, topic: &TopicAccess) {
        let mut entries = self.entries();
        if entries.len() >= MAX_TOPICS && !entries.contains_key(&topic.topic_name) {
            entries.clear();
        }
        entries.insert(topic.topic_name.clone(), (generation, topic.clone()));
    }

    /// Forgets `name` (a decision on it turned out stale).
    pub(super) fn forget(&self, name: &str) {
        self.entries().remove(name);
    }

    /// Some topic changed: every entry is void.
    pub(super) fn topics_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> TopicAccess {
        TopicAccess {
            topic_name: name.into(),
            access: AccessLevel::Open,
            owner: Ownership::default(),
        }
    }

    #[test]
    fn an_entry_holds_until_a_topic_changes_or_it_is_forgotten() {
        let cache = TopicCache::default();
        let read_at = cache.generation();
        cache.put(read_at, &topic("a"));
        assert_eq!(cache.get("a").unwrap().topic_name, "a");
        assert!(cache.get("b").is_none());
        cache.forget("a");
        assert!(cache.get("a").is_none());

        cache.put(cache.generation(), &topic("a"));
        cache.topics_changed();
        assert!(cache.get("a").is_none(), "void after a topic change");
        // A read that started before the change is labelled with the old generation: void too.
        cache.put(read_at, &topic("a"));
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TopicCache::default();
        for i in 0..=MAX_TOPICS {
            cache.put(0, &topic(&format!("t{i}")));
        }
        assert!(cache.entries().len() <= MAX_TOPICS);
        assert!(
            cache.get(&format!("t{MAX_TOPICS}")).is_some(),
            "the newest stays"
        );
    }
}

//! Per-topic delivery counters, updated from librdkafka's delivery callbacks: what was handed to
//! the client (`sent`), what the broker acknowledged (`acked`, with `acks=all`), what failed for
//! good (`failed`), and what is still in flight. Read by status lines, the shutdown summary and
//! the optional metrics listener.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

/// Counters of one topic.
#[derive(Debug, Default)]
pub struct TopicStats {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    /// Times the client's buffer was full and production paused.
    pub backpressure: AtomicU64,
}

/// A point-in-time copy of [`TopicStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicCounts {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub backpressure: u64,
}

impl TopicCounts {
    /// Handed to the client but neither acknowledged nor failed yet.
    pub fn in_flight(&self) -> u64 {
        self.sent.saturating_sub(self.acked + self.failed)
    }
}

impl TopicStats {
    /// The counters now.
    pub fn counts(&self) -> TopicCounts {
        TopicCounts {
            sent: self.sent.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            backpressure: self.backpressure.load(Ordering::Relaxed),
        }
    }
}

/// All topics' counters, kept after a topic stops so that the summary covers the whole run.
#[derive(Debug, Default, Clone)]
pub struct StatsRegistry {
    topics: Arc<Mutex<BTreeMap<String, Arc<TopicStats>>>>,
}

impl StatsRegistry {
    /// The counters of `topic`, created on first use.
    pub fn topic(&self, topic: &str) -> Arc<TopicStats> {
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        topics.entry(topic.to_owned()).or_default().clone()
    }

    /// Every topic's counters now, by name.
    pub fn snapshot(&self) -> BTreeMap<String, TopicCounts> {
        let topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        topics
            .iter()
            .map(|(k, v)| (k.clone(), v.counts()))
            .collect()
    }

    /// The counters in Prometheus text format.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, help) in [
            ("sent", "Records handed to the Kafka client."),
            ("acked", "Records acknowledged by the broker (acks=all)."),
            ("failed", "Records that failed permanently."),
        ] {
            let _ = writeln!(out, "# HELP streamhub_producer_{name}_total {help}");
            let _ = writeln!(out, "# TYPE streamhub_producer_{name}_total counter");
            for (topic, counts) in self.snapshot() {
                let value = match name {
                    "sent" => counts.sent,
                    "acked" => counts.acked,
                    _ => counts.failed,
                };
                let _ = writeln!(
                    out,
                    "streamhub_producer_{name}_total{{topic=\"{topic}\"}} {value}"
                );
            }
        }
        out
    }
}

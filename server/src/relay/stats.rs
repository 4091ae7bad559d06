//! The relay's counters, shared by every part of it, and their Prometheus rendering for
//! `GET /metrics`. Counting only: nothing here decides anything.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub connections: AtomicUsize,
    /// Live feeds running (one Kafka read each).
    pub feeds: AtomicUsize,
    /// Replays running (one broker reader on a blocking thread each).
    pub replays: AtomicUsize,
    /// Searches running (one broker reader on a blocking thread each).
    pub searches: AtomicUsize,
    pub connections_total: AtomicU64,
    pub refused_connections: AtomicU64,
    pub records_sent: AtomicU64,
    pub frames_sent: AtomicU64,
    pub lagged_events: AtomicU64,
    pub skipped_records: AtomicU64,
    /// Filter evaluations: at most one per record per distinct expression, however many
    /// streams share it.
    pub filter_evaluations: AtomicU64,
    /// Records a filter kept from a stream.
    pub filtered_records: AtomicU64,
}

impl RelayStats {
    /// The counters in Prometheus text format, each named `streamhub_relay_<name>`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let gauge = |g: &AtomicUsize| g.load(Ordering::Relaxed) as u64;
        for (name, kind, value) in [
            ("connections", "gauge", gauge(&self.connections)),
            ("feeds", "gauge", gauge(&self.feeds)),
            ("replays", "gauge", gauge(&self.replays)),
            ("searches", "gauge", gauge(&self.searches)),
            (
                "connections_total",
                "counter",
                count(&self.connections_total),
            ),
            (
                "refused_connections_total",
                "counter",
                count(&self.refused_connections),
            ),
            ("records_sent_total", "counter", count(&self.records_sent)),
            ("frames_sent_total", "counter", count(&self.frames_sent)),
            ("lagged_events_total", "counter", count(&self.lagged_events)),
            (
                "skipped_records_total",
                "counter",
                count(&self.skipped_records),
            ),
            (
                "filter_evaluations_total",
                "counter",
                count(&self.filter_evaluations),
            ),
            (
                "filtered_records_total",
                "counter",
                count(&self.filtered_records),
            ),
        ] {
            let name = format!("streamhub_relay_{name}");
            let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

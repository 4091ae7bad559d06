//! The server's one routine log line: once a minute, what it served since the last one
//! (requests, refusals, failures, open stream sockets, records relayed), so that the default
//! log level carries lifecycle changes and problems rather than a line per poll. Silent while
//! nothing happens.

use crate::{metrics::Metrics, relay::Relay};
use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

/// How often the summary line is written.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// What one summary line reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Activity {
    requests: u64,
    refused: u64,
    failed: u64,
    records_relayed: u64,
}

impl Activity {
    fn now(metrics: &Metrics, relay: &Relay) -> Self {
        let totals = metrics.totals();
        Self {
            requests: totals.requests,
            refused: totals.refused,
            failed: totals.failed,
            records_relayed: relay.stats().records_sent.load(Ordering::Relaxed),
        }
    }

    fn since(self, earlier: Self) -> Self {
        Self {
            requests: self.requests - earlier.requests,
            refused: self.refused - earlier.refused,
            failed: self.failed - earlier.failed,
            records_relayed: self.records_relayed - earlier.records_relayed,
        }
    }
}

/// Writes the summary every `every` until the task is dropped.
pub async fn run(metrics: Arc<Metrics>, relay: Relay, every: Duration) {
    let mut last = Activity::now(&metrics, &relay);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        let now = Activity::now(&metrics, &relay);
        let delta = now.since(last);
        last = now;
        let sockets = relay.stats().connections.load(Ordering::Relaxed);
        if delta == Activity::default() && sockets == 0 {
            continue;
        }
        tracing::info!(
            period_s = every.as_secs(),
            requests = delta.requests,
            refused = delta.refused,
            failed = delta.failed,
            sockets,
            records_relayed = delta.records_relayed,
            "activity"
        );
    }
}

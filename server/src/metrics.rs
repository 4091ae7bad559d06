//! Prometheus metrics, kept in-process and rendered as text on `GET /metrics`: request counts
//! per route and status, request latency histograms per route, and (added at scrape time by the
//! caller) topic counts by status and broker reachability.
//!
//! Routes are the matched patterns (`/api/topics/{id}/approve`), so label sets stay bounded.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// The server's request metrics. Cheap to update from every request.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(&'static str, String), RouteStats>>,
    totals: [AtomicU64; 3],
}

/// Requests served since start, for the log's summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestTotals {
    pub requests: u64,
    /// Answered 4xx (refused: bad input, no credential, not found, limits).
    pub refused: u64,
    /// Answered 5xx.
    pub failed: u64,
}

/// The method label: one of the methods the API serves, else `OTHER`. Any token is a method
/// to HTTP, and a label per made-up one would grow the metrics without bound.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("OTHER")
}

impl Metrics {
    /// Counts one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let [requests, refused, failed] = &self.totals;
        requests.fetch_add(1, Ordering::Relaxed);
        match status {
            400..=499 => refused.fetch_add(1, Ordering::Relaxed),
            500.. => failed.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = routes
            .entry((method_label(method), route.to_owned()))
            .or_default();
        *stats.by_status.entry(status).or_default() += 1;
        stats.count += 1;
        stats.sum_seconds += seconds;
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            stats.buckets[i] += 1;
        }
    }

    /// Requests counted so far.
    pub fn totals(&self) -> RequestTotals {
        let [requests, refused, failed] = &self.totals;
        RequestTotals {
            requests: requests.load(Ordering::Relaxed),
            refused: refused.load(Ordering::Relaxed),
            failed: failed.load(Ordering::Relaxed),
        }
    }

    /// The metrics in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP streamhub_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE streamhub_http_requests_total counter\n");
        for ((method, route), stats) in routes.iter() {
            for (status, count) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "streamhub_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP streamhub_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE streamhub_http_request_duration_seconds histogram\n");
        for ((method, route), stats) in routes.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(stats.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "streamhub_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "streamhub_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "streamhub_http_request_duration_seconds_sum{{{labels}}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "streamhub_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count
            );
        }
        out
    }
}

/// Escapes a label value (`\`, `"` and newlines) as the exposition format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.observe("GET", "/api/topics", 200, 0.0004);
        metrics.observe("GET", "/api/topics", 200, 0.003);
        metrics.observe("GET", "/api/topics", 400, 2.0);
        let text = metrics.render();
        assert!(text.contains(
            "streamhub_http_requests_total{method=\"GET\",route=\"/api/topics\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "streamhub_http_requests_total{method=\"GET\",route=\"/api/topics\",status=\"400\"} 1"
        ));
        assert!(text.contains("le=\"0.0005\"} 1\n"));
        assert!(text.contains("le=\"0.005\"} 2\n"));
        assert!(text.contains("le=\"+Inf\"} 3\n"));
        assert!(text.contains("_count{method=\"GET\",route=\"/api/topics\"} 3"));
    }

    #[test]
    fn made_up_methods_share_one_label_and_totals_split_by_class() {
        let metrics = Metrics::default();
        for (i, status) in [200, 404, 503].into_iter().enumerate() {
            metrics.observe(&format!("M{i}"), "unmatched", status, 0.001);
        }
        let text = metrics.render();
        assert!(text.contains("method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1"));
        assert!(!text.contains("M1"), "{text}");
        assert_eq!(
            metrics.totals(),
            RequestTotals {
                requests: 3,
                refused: 1,
                failed: 1
            }
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

//! Service logs: a handful of services on a few hosts each, mostly INFO lines for successful
//! requests with log-normal latencies, some DEBUG and WARN (slow requests, rate limits, client
//! errors), rare ERRORs — and now and then an error burst in one service (a bad deploy, a lost
//! database) that a viewer sees as a wall of 5xx.

use super::{normal, round, weighted, Events, Now};
use app::domain::EventType;
use rand::{rngs::SmallRng, Rng};
use serde::Serialize;
use std::fmt::Write;

/// `(service, paths, median latency ms)`
const SERVICES: [(&str, &[&str], f64); 6] = [
    (
        "api-gateway",
        &["/v1/orders", "/v1/users/me", "/v1/search", "/v1/cart"],
        35.0,
    ),
    ("auth", &["/login", "/token/refresh", "/logout"], 20.0),
    (
        "orders",
        &["/orders", "/orders/{id}", "/orders/{id}/cancel"],
        60.0,
    ),
    ("payments", &["/charge", "/refund", "/webhooks/psp"], 120.0),
    ("search", &["/query", "/suggest"], 45.0),
    ("inventory", &["/stock/{sku}", "/reserve"], 25.0),
];

const BURST_START_RATE: f64 = 0.002;

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

struct Service {
    burst_left: u32,
    burst_cause: &'static str,
}

/// The service landscape.
pub struct Services {
    services: Vec<Service>,
    message: String,
    trace_id: String,
    host: String,
}

impl Services {
    pub fn new(_rng: &mut SmallRng) -> Self {
        Self {
            services: SERVICES
                .iter()
                .map(|_| Service {
                    burst_left: 0,
                    burst_cause: "",
                })
                .collect(),
            message: String::new(),
            trace_id: String::new(),
            host: String::new(),
        }
    }
}

#[derive(Serialize)]
pub struct LogLine<'a> {
    service: &'static str,
    host: &'a str,
    level: &'static str,
    message: &'a str,
    method: &'static str,
    path: &'static str,
    status_code: u16,
    latency_ms: f64,
    trace_id: &'a str,
}

impl Events for Services {
    const TYPE: EventType = EventType::Logs;

    fn next_event(&mut self, rng: &mut SmallRng, _now: &Now, key: &mut String) -> impl Serialize {
        let index = rng.random_range(0..SERVICES.len());
        let (name, paths, median) = SERVICES[index];
        let service = &mut self.services[index];
        if service.burst_left == 0 && rng.random_bool(BURST_START_RATE) {
            service.burst_left = rng.random_range(20..60);
            service.burst_cause = weighted(
                rng,
                &[
                    ("connection refused to postgres:5432", 3),
                    ("upstream timed out after 30000 ms", 2),
                    ("panic in handler: index out of bounds", 1),
                ],
            );
        }
        let in_burst = service.burst_left > 0;
        if in_burst {
            service.burst_left -= 1;
        }
        let level = if in_burst && rng.random_bool(0.65) {
            Level::Error
        } else {
            weighted(
                rng,
                &[
                    (Level::Info, 80),
                    (Level::Debug, 10),
                    (Level::Warn, 8),
                    (Level::Error, 2),
                ],
            )
        };
        let mut latency = median * (0.5 * normal(rng)).exp();
        let path = paths[rng.random_range(0..paths.len())];
        let method = if path.contains("cancel")
            || path.contains("charge")
            || path.contains("login")
            || path.contains("reserve")
        {
            "POST"
        } else {
            weighted(rng, &[("GET", 7), ("POST", 2), ("PUT", 1)])
        };
        self.message.clear();
        let status_code = match level {
            Level::Debug => {
                let _ = write!(
                    self.message,
                    "cache {} for {path}",
                    if rng.random_bool(0.7) { "hit" } else { "miss" }
                );
                200
            }
            Level::Info => {
                let status = weighted(rng, &[(200, 85), (201, 10), (204, 5)]);
                let _ = write!(self.message, "{method} {path} completed");
                status
            }
            Level::Warn => {
                let (status, text) = weighted(
                    rng,
                    &[
                        ((200, "slow request"), 4),
                        ((429, "rate limit exceeded"), 2),
                        ((404, "resource not found"), 2),
                        ((409, "version conflict, retrying"), 1),
                    ],
                );
                if text == "slow request" {
                    latency = rng.random_range(1000.0..4000.0);
                }
                let _ = write!(self.message, "{text}: {method} {path}");
                status
            }
            Level::Error => {
                let cause = if in_burst {
                    service.burst_cause
                } else {
                    weighted(
                        rng,
                        &[
                            ("unexpected EOF reading response body", 1),
                            ("deadline exceeded calling downstream", 1),
                        ],
                    )
                };
                latency = latency.max(rng.random_range(50.0..30_000.0));
                let _ = write!(self.message, "{method} {path} failed: {cause}");
                weighted(rng, &[(500, 4), (502, 2), (503, 3), (504, 1)])
            }
        };
        self.host.clear();
        let _ = write!(self.host, "{name}-{}", rng.random_range(1..=3));
        self.trace_id.clear();
        let _ = write!(
            self.trace_id,
            "{:016x}{:016x}",
            rng.random::<u64>(),
            rng.random::<u64>()
        );
        key.push_str(name);
        LogLine {
            service: name,
            host: &self.host,
            level: match level {
                Level::Debug => "DEBUG",
                Level::Info => "INFO",
                Level::Warn => "WARN",
                Level::Error => "ERROR",
            },
            message: &self.message,
            method,
            path,
            status_code,
            latency_ms: round(latency, 1),
            trace_id: &self.trace_id,
        }
    }
}

//! How often one client address may do something that costs the server a write — an anonymous
//! topic request or subscription change, a failed attempt at a secret — before it is told to
//! wait (`429` with `Retry-After`). One anonymous client then cannot fill the store's single
//! writer (and its audit log) ahead of everyone else, nor guess the admin token at speed.
//!
//! Token buckets per address (an IPv6 address counts by its /64, what one host is usually
//! given). No axum here: `http` decides what each bucket guards.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Buckets beyond this many are pruned of those that are full again (idle addresses), at most
/// once every [`PRUNE_EVERY`]: a scan per request would make every request pay for a crowd of
/// addresses.
const PRUNE_ABOVE: usize = 50_000;
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// How long a refusal takes to arrive. A flood retries the moment it is refused: answered at
/// once, each connection would cost the server a full request cycle thousands of times a second
/// (the admin's approve then waited behind them for CPU); answered after a pause, it costs a
/// timer. `Retry-After` counts from the answer, so a client that honours it waits no longer.
pub const REFUSAL_PAUSE: Duration = Duration::from_secs(1);

/// Refusals held back at once, across all limits and addresses. Each is a parked task; past
/// this many (a flood over many HTTP/2 streams), refusals are answered at once.
const MAX_PAUSED: usize = 10_000;

/// Turns for paused refusals, shared by every limit.
static PAUSES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_PAUSED);

/// One limit: `burst` at once, refilled at `per_second`.
pub struct RateLimit {
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

struct Buckets {
    by_client: HashMap<IpAddr, Bucket>,
    pruned: Instant,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    /// A limit of `per_second` on average (a positive, finite number: see [`parse_rate`]),
    /// `burst` at once (at least one).
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            per_second: if per_second.is_finite() && per_second > 0.0 {
                per_second
            } else {
                1.0
            },
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(Buckets {
                by_client: HashMap::new(),
                pruned: Instant::now(),
            }),
        }
    }

    /// [`RateLimit::take`], with a refusal held back for [`REFUSAL_PAUSE`] first.
    pub async fn take_or_pause(&self, addr: IpAddr) -> Result<(), Duration> {
        let Err(wait) = self.take(addr) else {
            return Ok(());
        };
        if let Ok(_turn) = PAUSES.try_acquire() {
            tokio::time::sleep(REFUSAL_PAUSE).await;
            // The wait was counted from before the pause.
            return Err(wait
                .saturating_sub(REFUSAL_PAUSE)
                .max(Duration::from_millis(1)));
        }
        Err(wait)
    }

    /// Takes one token for `addr`: `Err(wait)` when it has none, with how long until it will.
    pub fn take(&self, addr: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.by_client.len() > PRUNE_ABOVE && now - buckets.pruned >= PRUNE_EVERY {
            buckets
                .by_client
                .retain(|_, b| self.refilled(*b, now) < self.burst);
            buckets.pruned = now;
        }
        let bucket = buckets.by_client.entry(client_of(addr)).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        *bucket = Bucket {
            tokens: self.refilled(*bucket, now),
            at: now,
        };
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.burst)
    }
}

/// Reads a rate setting: a positive, finite number (zero would never refill; clap calls this).
pub fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("a rate is a positive number, not {raw:?}")),
    }
}

/// The client an address stands for, as every per-address limit counts it (rate limits,
/// connections, sockets, replays, searches, filter evaluation): an IPv4 address (also one a
/// dual-stack socket reports as `::ffff:a.b.c.d`) by itself, an IPv6 address by its /64, what one
/// host is usually given (counting per /128 would let one host rotate through 2^64 addresses).
pub fn client_of(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refusal_arrives_after_the_pause_and_a_grant_at_once() {
        let limit = RateLimit::new(0.001, 1);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let started = Instant::now();
        assert!(limit.take_or_pause(a).await.is_ok());
        assert!(started.elapsed() < REFUSAL_PAUSE / 10);
        let started = Instant::now();
        assert!(limit.take_or_pause(a).await.is_err());
        assert!(started.elapsed() >= REFUSAL_PAUSE);
    }

    #[test]
    fn a_burst_then_the_rate_per_address() {
        let limit = RateLimit::new(10.0, 3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limit.take(a).is_ok());
        }
        let wait = limit.take(a).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(limit.take(b).is_ok(), "another address has its own bucket");
        std::thread::sleep(Duration::from_millis(120));
        assert!(limit.take(a).is_ok(), "refilled at the rate");
    }

    #[test]
    fn ipv4_clients_of_a_dual_stack_socket_are_told_apart() {
        let limit = RateLimit::new(0.001, 1);
        assert!(limit.take("::ffff:192.0.2.1".parse().unwrap()).is_ok());
        assert!(limit.take("::ffff:192.0.2.2".parse().unwrap()).is_ok());
        assert!(
            limit.take("192.0.2.1".parse().unwrap()).is_err(),
            "the same client"
        );
        assert!(
            parse_rate("0").is_err() && parse_rate("NaN").is_err() && parse_rate("-1").is_err()
        );
        assert_eq!(parse_rate("2.5"), Ok(2.5));
    }

    #[test]
    fn an_ipv6_host_counts_by_its_prefix() {
        let limit = RateLimit::new(0.001, 1);
        assert!(limit.take("2001:db8::1".parse().unwrap()).is_ok());
        assert!(limit.take("2001:db8::ffff".parse().unwrap()).is_err());
        assert!(limit.take("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }
}

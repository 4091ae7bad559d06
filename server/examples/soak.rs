//! The soak's clients (run by `.ci/soak`, which starts the broker, the server and the
//! producer daemon first). `SOAK_CLIENTS` WebSocket clients stream one active topic from
//! `latest` and keep coming and going: each stays 5–30 s, leaves with a close frame and comes
//! back. Half follow a user's subscriptions (`?user_id=`), half are admins that subscribe with a
//! control frame. Every `SOAK_WINDOW` seconds one line reports the records delivered, the
//! produce-to-client latency (p50, p99, max, from each record's Kafka timestamp), the sockets
//! opened, and the server's resident memory and open descriptors. Beside them, a bare rdkafka
//! consumer reads the same topic straight from the broker with the relay's fetch wait: its
//! latency is the broker's share, so that the relay's own share can be told apart (tansu's
//! grows as its storage does).
//!
//! A record is lost when a client's first record of a partition is not the `next_offsets` its
//! `subscribed` frame announced, or when offsets skip within a connection. The run fails on any
//! loss or `lagged` frame, on memory or descriptors that grow (last window against the first
//! after warm-up), or on a relay share of the p99 (relay p99 − broker p99) that drifts: a
//! window's above 3× the median window's + 25 ms.
//!
//! Environment: `SOAK_ADDR` (host:port), `SOAK_BOOTSTRAP`, `SOAK_ADMIN_TOKEN`, `SOAK_USER`
//! (already subscribed to the topic), `SOAK_TOPIC`, `SOAK_SERVER_PID`, `SOAK_SECONDS` (60),
//! `SOAK_CLIENTS` (200), `SOAK_WINDOW` (10), `STREAMHUB_RELAY_FETCH_WAIT_MS` (as the server's).

use anyhow::{bail, Context, Result};
use app::stream::ServerFrame;
use app::stream::StartPosition;
use futures::{SinkExt, StreamExt};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use rdkafka::Message as _;
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use streamhub_testkit::{
    measure::{env_or, now_us, open_fds, percentile, rss_kb},
    relay_load::{open_socket, subscribe},
};
use tokio_tungstenite::tungstenite::Message;

/// Descriptors the server may hold beyond its count before the clients (log files rotated, a
/// pooled database connection opened meanwhile).
const FDS_SLACK: usize = 10;

/// What every client adds to; the reporter drains the latencies once per window.
#[derive(Default)]
struct Tally {
    latencies_ms: Mutex<Vec<u64>>,
    /// The bare consumer's, for the broker's share.
    broker_latencies_ms: Mutex<Vec<u64>>,
    records: AtomicU64,
    connects: AtomicU64,
    connect_errors: AtomicU64,
    lost: AtomicU64,
    lagged: AtomicU64,
    duplicated: AtomicU64,
}

struct Settings {
    addr: String,
    admin_token: String,
    user: String,
    topic: String,
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

/// Milliseconds since the Unix epoch, as Kafka stamps records.
fn now_ms() -> i64 {
    (now_us() / 1000) as i64
}

/// `VmRSS` in KiB and the number of open descriptors of `pid`.
fn rss_and_fds(pid: u32) -> (u64, usize) {
    (rss_kb(pid), open_fds(pid))
}

/// The latency (ms) at `p` of `sorted`; 0 when there are none.
fn percentile_or_zero(sorted: &[u64], p: f64) -> u64 {
    percentile(sorted, p).unwrap_or(0)
}

/// One connection: streams until `stay` is over, checking offsets as they come.
async fn session(
    settings: &Settings,
    tally: &Tally,
    follow_user: bool,
    stay: Duration,
) -> Result<()> {
    let mut socket = if follow_user {
        let query = format!("?user_id={}", settings.user);
        open_socket(&settings.addr, &query, None).await?
    } else {
        open_socket(&settings.addr, "", Some(&settings.admin_token)).await?
    };
    tally.connects.fetch_add(1, Ordering::Relaxed);
    if !follow_user {
        socket
            .send(subscribe(&settings.topic, StartPosition::Latest))
            .await?;
    }
    // Partition → the offset the next record must have.
    let mut expected: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + stay;
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let Some(message) = message else {
            bail!("the server closed the socket");
        };
        let Message::Text(text) = message? else {
            continue;
        };
        match serde_json::from_str::<ServerFrame>(&text)? {
            ServerFrame::Subscribed { next_offsets, .. } => {
                expected = next_offsets.iter().collect()
            }
            ServerFrame::Records { records } => {
                let now = now_ms();
                let mut latencies = Vec::with_capacity(records.len());
                for record in records {
                    let next = expected.entry(record.partition).or_insert(record.offset);
                    if record.offset > *next {
                        tally
                            .lost
                            .fetch_add((record.offset - *next) as u64, Ordering::Relaxed);
                    } else if record.offset < *next {
                        tally.duplicated.fetch_add(1, Ordering::Relaxed);
                    }
                    *next = record.offset + 1;
                    if let Some(at) = record.timestamp {
                        latencies.push((now - at).max(0) as u64);
                    }
                }
                tally
                    .records
                    .fetch_add(latencies.len() as u64, Ordering::Relaxed);
                lock(&tally.latencies_ms).extend(latencies);
            }
            ServerFrame::Lagged { skipped, .. } => {
                tally.lagged.fetch_add(skipped, Ordering::Relaxed);
            }
            ServerFrame::Error { error, message } => bail!("error frame: {error}: {message}"),
            _ => {}
        }
    }
    socket.close(None).await.ok();
    Ok(())
}

/// Reads the topic straight from the broker until `until`, as the relay's feed does, noting
/// each record's latency.
fn bare_consumer(bootstrap: &str, topic: &str, tally: &Tally, until: Instant) -> Result<()> {
    let fetch_wait = streamhub_testkit::baseline::relay_fetch_wait_ms();
    streamhub_testkit::baseline::tail(bootstrap, topic, fetch_wait, until, |message| {
        if let Some(at) = message.timestamp().to_millis() {
            let latency = (now_ms() - at).max(0) as u64;
            lock(&tally.broker_latencies_ms).push(latency);
        }
    })?;
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One client slot: connects, stays a while, leaves, comes back, until the run ends.
async fn client(settings: Arc<Settings>, tally: Arc<Tally>, index: usize, until: Instant) {
    let mut rng = SmallRng::seed_from_u64(index as u64);
    // Spread the first connections over the first seconds.
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..2_000))).await;
    while Instant::now() < until {
        let stay = Duration::from_millis(rng.random_range(5_000..30_000))
            .min(until.saturating_duration_since(Instant::now()));
        if let Err(e) = session(&settings, &tally, index.is_multiple_of(2), stay).await {
            tally.connect_errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("client {index}: {e:#}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1_000))).await;
    }
}

/// One report line.
struct Window {
    records: u64,
    p50: u64,
    p99: u64,
    max: u64,
    broker_p50: u64,
    broker_p99: u64,
    rss_kb: u64,
    fds: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let bootstrap = env("SOAK_BOOTSTRAP")?;
    let settings = Arc::new(Settings {
        addr: env("SOAK_ADDR")?,
        admin_token: env("SOAK_ADMIN_TOKEN")?,
        user: env("SOAK_USER")?,
        topic: env("SOAK_TOPIC")?,
    });
    let pid: u32 = env("SOAK_SERVER_PID")?.parse()?;
    let seconds = env_or("SOAK_SECONDS", 60);
    let clients = env_or("SOAK_CLIENTS", 200) as usize;
    let window = Duration::from_secs(env_or("SOAK_WINDOW", 10).max(1));
    let tally = Arc::new(Tally::default());
    // One short session first, so that what the relay keeps for good (its offsets client) is
    // in the count of descriptors the server must come back to.
    session(&settings, &Tally::default(), false, Duration::from_secs(1)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, fds_before) = rss_and_fds(pid);
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let baseline = {
        let (tally, topic) = (tally.clone(), settings.topic.clone());
        std::thread::spawn(move || bare_consumer(&bootstrap, &topic, &tally, until))
    };
    let tasks: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(client(settings.clone(), tally.clone(), i, until)))
        .collect();

    println!(
        "soak: {clients} clients coming and going for {seconds} s on {}",
        settings.topic
    );
    println!(
        "{:>6} {:>9} {:>8} {:>8} {:>8} {:>11} {:>11} {:>9} {:>9} {:>6}",
        "t (s)",
        "records",
        "p50 ms",
        "p99 ms",
        "max ms",
        "broker p50",
        "broker p99",
        "connects",
        "RSS MiB",
        "fds"
    );
    let mut windows = Vec::new();
    let (mut records_before, mut connects_before) = (0, 0);
    while Instant::now() + window / 2 < until {
        tokio::time::sleep(window.min(until.saturating_duration_since(Instant::now()))).await;
        let mut latencies = std::mem::take(&mut *lock(&tally.latencies_ms));
        latencies.sort_unstable();
        let mut broker = std::mem::take(&mut *lock(&tally.broker_latencies_ms));
        broker.sort_unstable();
        let (rss_kb, fds) = rss_and_fds(pid);
        let records = tally.records.load(Ordering::Relaxed);
        let connects = tally.connects.load(Ordering::Relaxed);
        let w = Window {
            records: records - records_before,
            p50: percentile_or_zero(&latencies, 0.50),
            p99: percentile_or_zero(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or(0),
            broker_p50: percentile_or_zero(&broker, 0.50),
            broker_p99: percentile_or_zero(&broker, 0.99),
            rss_kb,
            fds,
        };
        println!(
            "{:>6} {:>9} {:>8} {:>8} {:>8} {:>11} {:>11} {:>9} {:>9.1} {:>6}",
            started.elapsed().as_secs(),
            w.records,
            w.p50,
            w.p99,
            w.max,
            w.broker_p50,
            w.broker_p99,
            connects - connects_before,
            w.rss_kb as f64 / 1024.0,
            w.fds
        );
        (records_before, connects_before) = (records, connects);
        windows.push(w);
    }
    for task in tasks {
        task.await.ok();
    }
    if let Ok(Err(e)) = baseline.join() {
        eprintln!("the bare consumer failed: {e:#}");
    }
    // The relay stops a topic's Kafka reader within seconds of its last socket leaving, and
    // closing sockets take a moment: wait up to 30 s for the descriptors to come back.
    let mut end = rss_and_fds(pid);
    for _ in 0..30 {
        if end.1 <= fds_before + FDS_SLACK {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        end = rss_and_fds(pid);
    }
    let (rss_end, fds_end) = end;
    verdict(&tally, &windows, rss_end, (fds_before, fds_end))
}

/// Prints the totals and fails on loss, growth or drift.
fn verdict(
    tally: &Tally,
    windows: &[Window],
    rss_end: u64,
    (fds_before, fds_end): (usize, usize),
) -> Result<()> {
    let lost = tally.lost.load(Ordering::Relaxed);
    let lagged = tally.lagged.load(Ordering::Relaxed);
    let duplicated = tally.duplicated.load(Ordering::Relaxed);
    let errors = tally.connect_errors.load(Ordering::Relaxed);
    println!(
        "totals: {} records delivered over {} connections; lost {lost}, duplicated {duplicated}, \
         skipped by lag {lagged}, failed sessions {errors}; after the clients left: RSS {:.1} MiB, {fds_end} fds",
        tally.records.load(Ordering::Relaxed),
        tally.connects.load(Ordering::Relaxed),
        rss_end as f64 / 1024.0,
    );
    let mut problems = Vec::new();
    if lost + lagged + duplicated + errors > 0 {
        problems.push("records lost, skipped or repeated, or sessions failed".to_owned());
    }
    // The first window is warm-up (the sockets are still arriving).
    if let (Some(first), Some(last)) = (windows.get(1), windows.last()) {
        if last.rss_kb > first.rss_kb + first.rss_kb / 5 + 5 * 1024 {
            problems.push(format!(
                "memory grew: {} → {} KiB",
                first.rss_kb, last.rss_kb
            ));
        }
        if last.fds > first.fds + 30 {
            problems.push(format!("descriptors grew: {} → {}", first.fds, last.fds));
        }
    }
    let mut p99s: Vec<u64> = windows.iter().skip(1).map(|w| w.p99).collect();
    p99s.sort_unstable();
    let median = percentile_or_zero(&p99s, 0.5);
    if let Some(worst) = p99s.last().filter(|worst| **worst > 3 * median + 25) {
        problems.push(format!(
            "p99 drifted: a window at {worst} ms, median {median} ms"
        ));
    }
    // Every socket closed: the server is back to the descriptors it had before the clients.
    if fds_end > fds_before + FDS_SLACK {
        problems.push(format!(
            "descriptors not released: {fds_before} before, {fds_end} after"
        ));
    }
    if windows.iter().skip(1).any(|w| w.records == 0) {
        problems.push("a window delivered nothing".to_owned());
    }
    if problems.is_empty() {
        println!("soak: passed");
        Ok(())
    } else {
        bail!("soak failed: {}", problems.join("; "))
    }
}

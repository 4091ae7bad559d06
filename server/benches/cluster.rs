//! Benchmark of several instances, side by side in one run, all processes as `make
//! cluster` starts them (the release `streamhub`, HAProxy with `deploy/haproxy.cfg`, PostgreSQL
//! through `local-postgres`'s settings: crash-safe, commits not waited for, like SQLite's WAL
//! with `synchronous=NORMAL`):
//!
//! 1. REST on the API bench's database size (1,000 topics, 100,000 subscriptions) with `wrk`:
//!    the SQLite store direct (the baseline), the PostgreSQL store direct, and two PostgreSQL
//!    instances through HAProxy; reads (cached) and writes with their p99.
//! 2. Fan-out: `BENCH_CLIENTS` sockets streaming one topic at `BENCH_RATE` records/s, all on one
//!    instance, then split over two instances: deliveries/s, p99 produce→socket, server RSS per
//!    socket.
//! 3. Cross-instance change latency: a socket on instance B follows a user; 200 subscription
//!    changes (subscribe, unsubscribe, …) through instance A; the time from each request until
//!    B's socket says the stream started or stopped, p50 and p99.
//!
//! Run: `make bench-cluster` (or `cargo bench -p streamhub --bench cluster`). Settings:
//! `BENCH_SECONDS` (10), `BENCH_CONNECTIONS` (64), `BENCH_CLIENTS` (1000), `BENCH_RATE` (200).

use app::stream::StartPosition;
use futures::StreamExt;
use std::{
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};
use streamhub::store::{Database, Store};
use streamhub_testkit::{
    measure::{env_or, now_us, percentile_ms, rss_kb},
    relay_load::{active_topic, open_socket, subscribe, topic_action, FanOut, Watch},
    seed::{self, SUBSCRIPTIONS_PER_USER, TOPICS, USERS},
    server_process::{free_addr, ApiProcess, ServerProcess},
    wrk, LocalBroker, LocalPostgres,
};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

const CHANGES: usize = 200;

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

/// The secrets every instance shares.
const ADMIN_TOKEN: &str = "bench-cluster-admin-token-0123456789abcdef";
const PRODUCER_SECRET: &str = "bench-cluster-producer-secret-0123456789";

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let postgres = LocalPostgres::start_durable(
        &dir.path().join("postgres"),
        streamhub_testkit::broker::free_port().unwrap(),
    )
    .unwrap();
    let database_url = postgres.create_database("bench").unwrap();

    eprintln!(
        "seeding {TOPICS} topics and {} subscriptions into each store…",
        USERS * SUBSCRIPTIONS_PER_USER
    );
    let sqlite_dir = dir.path().join("sqlite");
    seed(&Database::Sqlite(sqlite_dir.join("streamhub.db"))).await;
    seed(&Database::Postgres(database_url.clone())).await;

    let bootstrap = broker.bootstrap();
    let data = |name: &str| dir.path().join(name);
    let sqlite = instance(&data("sqlite"), &bootstrap, None, "sqlite").await;
    let single = instance(
        &data("pg-single"),
        &bootstrap,
        Some(&database_url),
        "single",
    )
    .await;
    let a = instance(&data("pg-a"), &bootstrap, Some(&database_url), "a").await;
    let b = instance(&data("pg-b"), &bootstrap, Some(&database_url), "b").await;
    let balancer = haproxy(&[&a, &b]).await;

    // 1. REST.
    let gzip = ["-H", "Accept-Encoding: gzip"];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/subscribe.lua");
    let targets = [
        (
            "SQLite, one instance (baseline)",
            format!("http://{}", sqlite.addr),
        ),
        (
            "PostgreSQL, one instance",
            format!("http://{}", single.addr),
        ),
        (
            "PostgreSQL, two via HAProxy",
            format!("http://{}", balancer.addr),
        ),
    ];
    let endpoints: [(&str, &str, &[&str]); 4] = [
        ("GET /api/topics (gzip)", "/api/topics", &gzip),
        ("GET /api/stats", "/api/stats", &[]),
        // Not cached: a keyset page of one user's subscriptions, asked of the database each time.
        (
            "GET /api/subscriptions?user_id",
            "/api/subscriptions?user_id=user_7",
            &[],
        ),
        (
            "POST /api/subscriptions",
            "/api/subscriptions",
            &["-s", script],
        ),
    ];
    let connections = std::env::var("BENCH_CONNECTIONS").unwrap_or_else(|_| "64".into());
    let mut rest = Vec::new();
    for (endpoint, path, extra) in endpoints {
        let mut baseline = None;
        for (index, (target, base)) in targets.iter().enumerate() {
            // Each deployment's writes subscribe users of their own: new rows, every one.
            let prefix = format!("load{index}");
            let url = format!("{base}{path}");
            let result = wrk::run_script(&url, &connections, extra, &[&prefix]);
            let reference = *baseline.get_or_insert(result.requests_per_sec);
            rest.push((endpoint, *target, result, reference));
        }
    }

    // 3. Cross-instance change latency (before the fan-out loads the broker).
    let topic = "bench_cluster";
    let topic_id = active_topic(&a, topic, 3).await;
    let latencies = change_latencies(&a, &b, topic).await;

    // 2. Fan-out: one instance, then two.
    let clients = env_or("BENCH_CLIENTS", 1000) as usize;
    let rate = env_or("BENCH_RATE", 200);
    let seconds = env_or("BENCH_SECONDS", 10);
    let on_one = FanOut {
        reader: None,
        servers: &[&single],
        bootstrap: &bootstrap,
        topic,
        topic_id,
        clients,
        rate,
        seconds,
    };
    let one = fanout(on_one).await;
    let two = fanout(FanOut {
        reader: None,
        servers: &[&a, &b],
        ..on_one
    })
    .await;

    println!();
    println!(
        "1. REST, {TOPICS} topics and {} subscriptions; wrk -t2 -c{connections} -d{seconds}s; ratio against SQLite, one instance",
        USERS * SUBSCRIPTIONS_PER_USER,
    );
    println!(
        "{:<32} {:<32} {:>9} {:>8} {:>8} {:>7} {:>8} {:>6}",
        "endpoint", "deployment", "req/s", "p50 ms", "p99 ms", "non-2xx", "timeouts", "ratio"
    );
    for (endpoint, target, result, reference) in &rest {
        println!(
            "{:<32} {:<32} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>8} {:>6.2}",
            endpoint,
            target,
            result.requests_per_sec,
            result.p50_ms,
            result.p99_ms,
            result.non_2xx,
            result.timeouts,
            result.requests_per_sec / reference
        );
    }
    println!();
    println!(
        "2. fan-out: {clients} sockets, {rate} records/s for {seconds} s, release build, same run"
    );
    println!(
        "{:<28} {:>14} {:>10} {:>10} {:>9} {:>19} {:>10}",
        "deployment",
        "deliveries/s",
        "delivered",
        "p99 ms",
        "skipped",
        "peak RSS KB/socket",
        "p99 ratio"
    );
    for (label, result) in [("one instance (baseline)", &one), ("two instances", &two)] {
        println!(
            "{:<28} {:>14.0} {:>9.1}% {:>10.2} {:>9} {:>19.1} {:>10.2}",
            label,
            result.deliveries_per_sec,
            result.delivered_share * 100.0,
            result.p99_ms,
            result.skipped,
            result.rss_kb_per_socket,
            result.p99_ms / one.p99_ms
        );
    }
    println!();
    let mut sorted = latencies.clone();
    sorted.sort_unstable();
    println!(
        "3. cross-instance change latency, {CHANGES} changes through A until B's socket acts: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile_ms(&sorted, 0.5),
        percentile_ms(&sorted, 0.99),
        percentile_ms(&sorted, 1.0),
    );
    drop(balancer);
}

/// The release server on `data`, with the shared secrets, write and socket limits raised for
/// load, HAProxy trusted, and its metadata in `database_url` (SQLite in `data` for `None`).
async fn instance(
    data: &Path,
    bootstrap: &str,
    database_url: Option<&str>,
    name: &str,
) -> ServerProcess {
    let mut env = vec![
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("PRODUCER_SECRET", PRODUCER_SECRET),
        ("STREAMHUB_WRITE_RATE", "1000000000"),
        ("STREAMHUB_WRITE_BURST", "4000000000"),
        ("STREAMHUB_WS_MAX_CONNECTIONS", "50000"),
        ("STREAMHUB_WS_MAX_PER_ADDR", "50000"),
        ("STREAMHUB_TRUSTED_PROXIES", "127.0.0.1"),
        ("STREAMHUB_INSTANCE_NAME", name),
    ];
    if let Some(url) = database_url {
        env.push(("STREAMHUB_DATABASE_URL", url));
    }
    let binary = Path::new(env!("CARGO_BIN_EXE_streamhub"));
    ServerProcess::start(binary, data, bootstrap, &env).await
}

/// The API bench's database in `database`.
async fn seed(database: &Database) {
    let store = Store::open(database).await.unwrap();
    seed::seed(&store).await;
    store.close().await;
}

/// Milliseconds·1000 (µs) from each change through `a` until `b`'s socket acts on it.
async fn change_latencies(a: &ServerProcess, b: &ServerProcess, topic: &str) -> Vec<u64> {
    let mut follower = open_socket(b.addr, "?user_id=latency", None)
        .await
        .expect("connect");
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/subscriptions", a.addr);
    let body = serde_json::json!({"user_id": "latency", "topic_name": topic});
    let mut latencies = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let subscribing = i % 2 == 0;
        let expected = if subscribing {
            "\"subscribed\""
        } else {
            "\"unsubscribed\""
        };
        let started = now_us();
        let request = if subscribing {
            client.post(&url)
        } else {
            client.delete(&url)
        };
        let status = request.json(&body).send().await.unwrap().status();
        assert!(status.is_success(), "change {i}: {status}");
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), follower.next())
                .await
                .expect("b acts within 10 s")
                .expect("socket open")
                .expect("a frame");
            if let Message::Text(text) = message {
                if text.contains(expected) && text.contains(topic) {
                    break;
                }
            }
        }
        latencies.push(now_us() - started);
    }
    let _ = follower.close(None).await;
    latencies
}

/// What a fan-out run delivered, how fast, and what it cost the servers.
struct Figures {
    /// Records delivered against records produced × sockets.
    delivered_share: f64,
    deliveries_per_sec: f64,
    p99_ms: f64,
    skipped: u64,
    rss_kb_per_socket: f64,
}

/// The fan-out `run` on its servers, with their memory at its peak while they deliver; the
/// topic is reactivated for the next run.
async fn fanout(run: FanOut<'_>) -> Figures {
    let before: Vec<u64> = run.servers.iter().map(|s| rss_kb(s.pid())).collect();
    let mut peak = PeakRss {
        pids: run.servers.iter().map(|s| s.pid()).collect(),
        peaks: Arc::new(Mutex::new(before.clone())),
        sampler: None,
    };
    let fanned = run
        .run(|_| subscribe(run.topic, StartPosition::Latest), &mut peak)
        .await;
    topic_action(run.servers[0], run.topic_id, "reactivate").await;
    let during = peak.peaks.lock().unwrap().clone();
    let grown: u64 = during
        .iter()
        .zip(&before)
        .map(|(d, b)| d.saturating_sub(*b))
        .sum();
    let (delivered, clients) = (fanned.latencies.len() as f64, run.clients as f64);
    Figures {
        delivered_share: delivered / (fanned.produced as f64 * clients),
        deliveries_per_sec: delivered / run.seconds as f64,
        p99_ms: percentile_ms(&fanned.latencies, 0.99),
        skipped: fanned.skipped,
        rss_kb_per_socket: grown as f64 / clients,
    }
}

/// The servers' resident memory at its highest while they deliver: sampled every 200 ms from
/// when the clients are ready until the last record is produced.
struct PeakRss {
    pids: Vec<u32>,
    peaks: Arc<Mutex<Vec<u64>>>,
    sampler: Option<JoinHandle<()>>,
}

impl Watch for PeakRss {
    async fn ready(&mut self) {
        let (peaks, pids) = (self.peaks.clone(), self.pids.clone());
        self.sampler = Some(tokio::spawn(async move {
            loop {
                for (peak, pid) in peaks.lock().unwrap().iter_mut().zip(&pids) {
                    *peak = (*peak).max(rss_kb(*pid));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }

    fn produced(&mut self) {
        if let Some(sampler) = self.sampler.take() {
            sampler.abort();
        }
    }
}

/// HAProxy with the shipped configuration in front of `instances`; stopped when dropped.
async fn haproxy(instances: &[&ServerProcess]) -> ApiProcess {
    let addr = free_addr();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/haproxy.cfg");
    let child = Command::new("haproxy")
        .args(["-W", "-db", "-f", config])
        .env("STREAMHUB_LB_BIND", addr.to_string())
        .env("STREAMHUB_INSTANCE_1", instances[0].addr.to_string())
        .env("STREAMHUB_INSTANCE_2", instances[1].addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run haproxy (make deps installs it)");
    ApiProcess::answering("HAProxy", child, addr).await
}

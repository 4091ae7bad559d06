//! Flood benchmark: how long a real admin's approve takes while 2,000 connections from 40
//! client addresses flood anonymous writes (topic requests, subscriptions) and denied approves
//! (a wrong admin token), and while one client keeps eight stream sockets re-subscribing from
//! `earliest` with filter expressions as costly as the server lets through; beside the same
//! approves on a quiet server in the same run (the baseline). The server is the `streamhub`
//! binary as `make run` starts it, in a process of its own, on a real broker.
//!
//! `BENCH_BEFORE_BINARY=path` runs the same against another build too (the figures in
//! BENCHMARKS.md compare an earlier build with this one).
//!
//! Run: `make bench-flood` (or `cargo bench -p streamhub --bench flood`).
//! Settings: `BENCH_FLOOD_CONNECTIONS` (2,000), `BENCH_APPROVES` (200).

use app::stream::StartPosition;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use streamhub_testkit::{
    measure::env_or, relay_load::subscribe_frame, server_process::ServerProcess, LocalBroker,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpSocket,
};

/// Client addresses the flood comes from (127.0.1.1 and up; all loopback on Linux).
const FLOOD_ADDRESSES: u32 = 40;
/// How long any one admin approve may take before it counts as failed.
const APPROVE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the flooded approves may take in all; the rest count as not done.
const FLOODED_PHASE: Duration = Duration::from_secs(120);
/// Sockets of the filter attack, all from one client.
const FILTER_ATTACK_SOCKETS: usize = 8;
/// Records of the attacked topic, each with a list of this many numbers for filters to walk.
const WIDE_RECORDS: usize = 300;
const WIDE_ITEMS: usize = 2_000;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let connections = env_or("BENCH_FLOOD_CONNECTIONS", 2_000) as usize;
    let approves = env_or("BENCH_APPROVES", 200) as usize;
    let dir = tempfile::tempdir().expect("a temp dir");
    let broker = LocalBroker::start(&dir.path().join("kafka"))
        .await
        .expect("the broker starts");
    let mut binaries = vec![("this build", PathBuf::from(env!("CARGO_BIN_EXE_streamhub")))];
    if let Ok(before) = std::env::var("BENCH_BEFORE_BINARY") {
        binaries.insert(0, ("before", PathBuf::from(before)));
    }
    let mut rows = Vec::new();
    for (n, (label, binary)) in binaries.iter().enumerate() {
        eprintln!("{label}: {}", binary.display());
        let data = dir.path().join(format!("data-{n}"));
        let row = measure(binary, &data, &broker.bootstrap(), connections, approves).await;
        rows.push((*label, row));
    }
    println!();
    println!(
        "Admin approve latency, {approves} approves each, quiet and under a flood of {connections} \
         connections from {FLOOD_ADDRESSES} addresses (anonymous writes and denied approves):"
    );
    println!(
        "{:<11} {:>15} {:>22} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9} {:>7} {:>7} {:>22} {:>7} {:>7}",
        "binary",
        "quiet p50/p99",
        "flooded p50/p99/max",
        "ratio",
        "failed",
        "flood r/s",
        "2xx",
        "4xx",
        "429",
        "5xx",
        "broken",
        "filtered p50/p99/max",
        "ratio",
        "failed"
    );
    for (label, row) in &rows {
        println!(
            "{label:<11} {:>15} {:>22} {:>7.1} {:>7} {:>10.0} {:>9} {:>9} {:>9} {:>7} {:>7} {:>22} {:>7.1} {:>7}",
            format!("{:.1}/{:.1}", row.quiet.p(0.50), row.quiet.p(0.99)),
            format!(
                "{:.1}/{:.1}/{:.1}",
                row.flooded.p(0.50),
                row.flooded.p(0.99),
                row.flooded.p(1.0)
            ),
            row.flooded.p(0.99) / row.quiet.p(0.99),
            row.failed,
            row.flood.total() as f64 / row.flood_seconds,
            row.flood.ok.load(Ordering::Relaxed),
            row.flood.refused.load(Ordering::Relaxed),
            row.flood.limited.load(Ordering::Relaxed),
            row.flood.failed.load(Ordering::Relaxed),
            row.flood.broken.load(Ordering::Relaxed),
            format!(
                "{:.1}/{:.1}/{:.1}",
                row.filtered.p(0.50),
                row.filtered.p(0.99),
                row.filtered.p(1.0)
            ),
            row.filtered.p(0.99) / row.quiet.p(0.99),
            row.filtered_failed,
        );
    }
    println!(
        "(ratio: attacked p99 / quiet p99 of the same binary; times in ms; filtered: while \
         {FILTER_ATTACK_SOCKETS} sockets of one client re-subscribe with costly filters)"
    );
}

/// Approve latencies in milliseconds.
#[derive(Default)]
struct Latencies(Vec<f64>);

impl Latencies {
    fn p(&self, q: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let Some(last) = sorted.len().checked_sub(1) else {
            return f64::NAN;
        };
        sorted[((last as f64) * q).round() as usize]
    }
}

/// The flood's answers, by class.
#[derive(Default)]
struct FloodCounts {
    ok: AtomicU64,
    refused: AtomicU64,
    limited: AtomicU64,
    /// 5xx answers.
    failed: AtomicU64,
    /// Connections refused, reset or closed without an answer.
    broken: AtomicU64,
}

impl FloodCounts {
    fn total(&self) -> u64 {
        [
            &self.ok,
            &self.refused,
            &self.limited,
            &self.failed,
            &self.broken,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }

    fn count(&self, status: u16) {
        let class = match status {
            200..=299 => &self.ok,
            429 => &self.limited,
            400..=499 => &self.refused,
            _ => &self.failed,
        };
        class.fetch_add(1, Ordering::Relaxed);
    }
}

struct Row {
    quiet: Latencies,
    flooded: Latencies,
    /// Flooded approves that failed or did not finish in time.
    failed: usize,
    flood: Arc<FloodCounts>,
    flood_seconds: f64,
    /// Approves while the filter attack runs.
    filtered: Latencies,
    filtered_failed: usize,
}

async fn measure(
    binary: &Path,
    data: &Path,
    bootstrap: &str,
    connections: usize,
    approves: usize,
) -> Row {
    let server = ServerProcess::start(binary, data, bootstrap, &[("RUST_LOG", "error")]).await;
    let token = server.admin_token();
    let ids = request_topics(server.addr, 3 * approves).await;
    let admin = reqwest::Client::builder()
        .timeout(APPROVE_TIMEOUT)
        .build()
        .expect("an HTTP client");
    let (quiet_ids, rest) = ids.split_at(approves);
    let (flooded_ids, filtered_ids) = rest.split_at(approves);
    let (quiet, _) = approve_each(&admin, server.addr, &token, quiet_ids, None).await;

    let stop = Arc::new(AtomicBool::new(false));
    let flood = Arc::new(FloodCounts::default());
    let started = Instant::now();
    let floods: Vec<_> = (0..connections)
        .map(|n| {
            let from = Ipv4Addr::new(127, 0, 1, 1 + (n as u32 % FLOOD_ADDRESSES) as u8);
            tokio::spawn(flood_one(server.addr, from, n, stop.clone(), flood.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deadline = Instant::now() + FLOODED_PHASE;
    let (flooded, failed) =
        approve_each(&admin, server.addr, &token, flooded_ids, Some(deadline)).await;
    stop.store(true, Ordering::Relaxed);
    let flood_seconds = started.elapsed().as_secs_f64();
    for task in floods {
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    }

    // One client, eight sockets, costly filters: evaluation must not hold up anyone else.
    // A topic of this run's own: the broker outlives the run of the binary before.
    let wide = format!("wide_{}", std::process::id() ^ server.addr.port() as u32);
    wide_topic(&server, bootstrap, &wide).await;
    let stop = Arc::new(AtomicBool::new(false));
    let attackers: Vec<_> = (0..FILTER_ATTACK_SOCKETS)
        .map(|socket| {
            tokio::spawn(filter_attack(
                server.addr,
                wide.clone(),
                socket,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deadline = Instant::now() + FLOODED_PHASE;
    let (filtered, filtered_failed) =
        approve_each(&admin, server.addr, &token, filtered_ids, Some(deadline)).await;
    stop.store(true, Ordering::Relaxed);
    let mut streams = 0;
    for attacker in attackers {
        streams += tokio::time::timeout(Duration::from_secs(15), attacker)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
    }
    eprintln!("filter attack: {streams} streams started");
    Row {
        quiet,
        flooded,
        failed,
        flood,
        flood_seconds,
        filtered,
        filtered_failed,
    }
}

/// The attacked topic `wide`, active, with [`WIDE_RECORDS`] records of a long list each, and
/// `mallory` subscribed to it.
async fn wide_topic(server: &ServerProcess, bootstrap: &str, wide: &str) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    streamhub_testkit::relay_load::active_topic(server, wide, 1).await;
    let producer: FutureProducer =
        streamhub::kafka::client_config(&streamhub::kafka::KafkaArgs::for_bootstrap(bootstrap))
            .set("linger.ms", "5")
            .create()
            .expect("a producer");
    let items: Vec<usize> = (0..WIDE_ITEMS).collect();
    for n in 0..WIDE_RECORDS {
        let payload = serde_json::json!({"n": n, "items": items}).to_string();
        producer
            .send(
                FutureRecord::<(), _>::to(wide).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let status = reqwest::Client::new()
        .post(format!("http://{}/api/subscriptions", server.addr))
        .json(&serde_json::json!({"user_id": "mallory", "topic_name": wide}))
        .send()
        .await
        .expect("subscribed")
        .status();
    assert!(status.is_success(), "subscribing mallory: {status}");
}

/// One socket of the filter attack: subscribes to `wide` from `earliest` with a costly filter,
/// and again (with a new expression, the last being barred for a while) as soon as the stream
/// ends, until `stop`; how many streams it started.
async fn filter_attack(
    addr: SocketAddr,
    wide: String,
    socket: usize,
    stop: Arc<AtomicBool>,
) -> u64 {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let Ok(mut ws) =
        streamhub_testkit::relay_load::open_socket(addr, "?user_id=mallory&follow=false", None)
            .await
    else {
        return 0;
    };
    let mut started = 0;
    // The costliest expression first, as an attacker would (about 20 ms a record where
    // patterns are compiled per call); once the server refuses it, the costliest it lets
    // through. Each is new (the last one may be cooling down).
    let mut strongest = true;
    while !stop.load(Ordering::Relaxed) {
        let unique = 1_000_000 + socket * 100_000 + started as usize;
        let filter = match strongest {
            true => format!(
                r#"[{}].all(x, !string(x).matches("\\w{{40}}") && x != {unique})"#,
                (0..100)
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            false => format!(
                r#"value.items.all(x, string(x).matches("^[0-9]+$") && string(x) + "-{socket}-{started}" != "q")"#
            ),
        };
        let frame = subscribe_frame(&wide, StartPosition::Earliest, Some(filter));
        if ws.send(frame).await.is_err() {
            break;
        }
        started += 1;
        // Until the stream ends (or a refusal), then straight again.
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_secs(1), ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    if text.contains(r#""type":"unsubscribed""#) {
                        break;
                    }
                    // Refused (the expression cooling down, too many, too many frames): a
                    // moment, then again with a new expression.
                    if text.contains(r#""type":"error""#) {
                        if text.contains(r#""error":"invalid_filter""#) {
                            strongest = false;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
                Ok(Some(Ok(_))) | Err(_) => {}
                Ok(_) => return started,
            }
        }
    }
    started
}

/// Requests `count` topics, from a few setup addresses so that no per-address limit on
/// anonymous writes applies; their ids.
async fn request_topics(addr: SocketAddr, count: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(100) {
        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1 + chunk as u8));
        let client = reqwest::Client::builder()
            .local_address(from)
            .build()
            .expect("an HTTP client");
        for n in chunk * 100..(chunk * 100 + 100).min(count) {
            let body = serde_json::json!({
                "name": format!("flood_bench_{n}"),
                "created_by": "bench",
                "partitions": 1,
                "replication_factor": 1,
            });
            let response = client
                .post(format!("http://{addr}/api/topics"))
                .json(&body)
                .send()
                .await
                .expect("a topic request");
            assert!(response.status().is_success(), "{}", response.status());
            let created: serde_json::Value = response.json().await.expect("JSON");
            ids.push(created["topic_id"].as_i64().expect("an id"));
        }
    }
    ids
}

/// Approves each topic in turn as the admin; the latencies of those that succeeded, and how
/// many failed or were not reached by `deadline`.
async fn approve_each(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    ids: &[i64],
    deadline: Option<Instant>,
) -> (Latencies, usize) {
    let mut latencies = Latencies::default();
    let mut failed = 0;
    for id in ids {
        if deadline.is_some_and(|d| Instant::now() > d) {
            failed += 1;
            continue;
        }
        let started = Instant::now();
        let response = client
            .post(format!("http://{addr}/api/topics/{id}/approve"))
            .bearer_auth(token)
            .json(&serde_json::json!({}))
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                latencies.0.push(started.elapsed().as_secs_f64() * 1000.0)
            }
            _ => failed += 1,
        }
    }
    (latencies, failed)
}

/// One flooding connection from `from`: topic requests, subscriptions and approves with a
/// wrong token, back to back over keep-alive, reconnecting whenever the server closes.
async fn flood_one(
    server: SocketAddr,
    from: Ipv4Addr,
    n: usize,
    stop: Arc<AtomicBool>,
    counts: Arc<FloodCounts>,
) {
    let mut sent = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok(socket) = TcpSocket::new_v4() else {
            return;
        };
        let connected = match socket.bind(SocketAddr::new(IpAddr::V4(from), 0)) {
            Ok(()) => socket.connect(server).await,
            Err(e) => Err(e),
        };
        let Ok(stream) = connected else {
            counts.broken.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut stream = BufReader::new(stream);
        while !stop.load(Ordering::Relaxed) {
            sent += 1;
            let request = flood_request(n, sent);
            if stream
                .get_mut()
                .write_all(request.as_bytes())
                .await
                .is_err()
            {
                counts.broken.fetch_add(1, Ordering::Relaxed);
                break;
            }
            match read_response(&mut stream).await {
                Some((status, keep_alive)) => {
                    counts.count(status);
                    if !keep_alive {
                        break;
                    }
                }
                None => {
                    counts.broken.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

/// The `sent`th request of flooding connection `n`.
fn flood_request(n: usize, sent: u64) -> String {
    let (path, auth, body) = match sent % 3 {
        0 => (
            "/api/topics".to_owned(),
            "",
            format!(
                r#"{{"name":"flood_{n}_{sent}","created_by":"flood","partitions":1,"replication_factor":1}}"#
            ),
        ),
        1 => (
            "/api/subscriptions".to_owned(),
            "",
            format!(r#"{{"user_id":"flood_{n}","topic_name":"flood_bench_0"}}"#),
        ),
        _ => (
            "/api/topics/1/approve".to_owned(),
            "Authorization: Bearer not-the-admin-token-at-all\r\n",
            "{}".to_owned(),
        ),
    };
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one response: its status, and whether the connection stays open. `None` when the
/// connection failed or closed first.
async fn read_response(stream: &mut BufReader<tokio::net::TcpStream>) -> Option<(u16, bool)> {
    let read = async {
        let mut line = String::new();
        stream.read_line(&mut line).await.ok()?;
        let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        let (mut length, mut keep_alive) = (0_usize, true);
        loop {
            line.clear();
            if stream.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("content-length:") {
                length = value.trim().parse().ok()?;
            } else if header == "connection: close" {
                keep_alive = false;
            }
        }
        let mut body = vec![0_u8; length];
        stream.read_exact(&mut body).await.ok()?;
        Some((status, keep_alive))
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .ok()
        .flatten()
}

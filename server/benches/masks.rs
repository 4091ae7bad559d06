//! Masked fields benchmark, one run against one local broker and the real `streamhub` binary
//! (open mode, where masks apply to everyone but admins): 1,000 sockets on one topic fed 100
//! records/s, half of them the admin (clear records) and half an ordinary reader (masked
//! records), on a topic with three masked fields (a hash, a last-four and a redaction), beside
//! the same run on a topic without masks. Targets: deliveries/s ≥ 0.85× and p99 within 1.2× of
//! the run without masks; server CPU is shown for both.
//!
//! Run: `make bench-masks`. `BENCH_CLIENTS` (1,000), `BENCH_SECONDS` (10), `BENCH_RATE` (100)
//! change the sizes.

use app::stream::StartPosition;
use std::path::Path;
use streamhub_testkit::{
    measure::{env_or, percentile_ms},
    relay_load::{active_topic, start_server, subscribe, CpuShare, FanOut},
    server_process::ServerProcess,
    LocalBroker,
};

/// The ordinary reader half the sockets stream as.
const READER: &str = "reader";

/// What one run delivered, how fast, and what it cost the server.
struct Figures {
    delivered: usize,
    expected: u64,
    p50: f64,
    p99: f64,
    cpu: f64,
}

#[tokio::main]
async fn main() {
    let clients = env_or("BENCH_CLIENTS", 1000) as usize;
    let seconds = env_or("BENCH_SECONDS", 10);
    let rate = env_or("BENCH_RATE", 100);
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let bootstrap = broker.bootstrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_streamhub"));
    let server = start_server(binary, dir.path(), &bootstrap).await;

    // The records carry `n`, `sent_us` (the latency's start: left clear) and `pad`.
    let masks = serde_json::json!([
        {"path": "n", "method": "hash"},
        {"path": "pad", "method": "last4"},
        {"path": "card.number", "method": "redact"},
    ]);
    let plain = run(
        &server,
        &bootstrap,
        "bench_unmasked",
        None,
        clients,
        seconds,
        rate,
    )
    .await;
    let masked = run(
        &server,
        &bootstrap,
        "bench_masked",
        Some(masks),
        clients,
        seconds,
        rate,
    )
    .await;

    let per_second = |f: &Figures| f.delivered as f64 / seconds as f64;
    println!();
    println!(
        "Masked fields benchmark (tansu local broker, server as a separate process, release build)"
    );
    println!(
        "{clients} sockets (half the admin, half a reader), {rate} records/s for {seconds} s:"
    );
    for (name, f) in [
        ("without masks (baseline)", &plain),
        ("three masked fields", &masked),
    ] {
        println!(
            "   {name:<26} delivered {:>9}/{:<9} {:>9.0}/s  p50 {:>6.1} ms  p99 {:>6.1} ms  server CPU {:>5.1}%",
            f.delivered,
            f.expected,
            per_second(f),
            f.p50,
            f.p99,
            f.cpu * 100.0
        );
    }
    println!(
        "   ratio deliveries/s masked / baseline: {:.2} (target ≥ 0.85)",
        per_second(&masked) / per_second(&plain)
    );
    println!(
        "   ratio p99 masked / baseline: {:.2} (target ≤ 1.20)",
        masked.p99 / plain.p99.max(0.001)
    );
}

/// One fan-out on a topic of its own, with `masks` (if any) set on it.
async fn run(
    server: &ServerProcess,
    bootstrap: &str,
    topic: &str,
    masks: Option<serde_json::Value>,
    clients: usize,
    seconds: u64,
    rate: u64,
) -> Figures {
    let topic_id = active_topic(server, topic, 1).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    if let Some(masks) = masks {
        let status = http
            .put(format!("{base}/api/topics/{topic_id}/access"))
            .bearer_auth(server.admin_token())
            .json(&serde_json::json!({ "masks": masks }))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "masks: {status}");
    }
    let status = http
        .post(format!("{base}/api/subscriptions"))
        .json(&serde_json::json!({"user_id": READER, "topic_name": topic}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "subscribe the reader: {status}");
    let load = FanOut {
        reader: Some(READER),
        servers: &[server],
        bootstrap,
        topic,
        topic_id,
        clients,
        rate,
        seconds,
        sockets_at: None,
    };
    let mut cpu = CpuShare::of(server.pid());
    let fanned = load
        .run(|_| subscribe(topic, StartPosition::Latest), &mut cpu)
        .await;
    Figures {
        delivered: fanned.latencies.len(),
        expected: fanned.produced * clients as u64,
        p50: percentile_ms(&fanned.latencies, 0.5),
        p99: percentile_ms(&fanned.latencies, 0.99),
        cpu: cpu.share,
    }
}

//! Relay benchmark, one run against one local broker and the real `streamhub` binary
//! (a separate process, so that its memory can be measured):
//!
//! 1. single client: a WebSocket client replaying a topic from `earliest` through the relay,
//!    beside a bare rdkafka consumer loop reading the same topic directly (the ceiling on this
//!    broker); target ratio ≥ 0.9;
//! 2. fan-out: 1,000 clients on one topic fed 100 records/s (100,000 deliveries/s), latency from
//!    the produce timestamp in each payload to arrival; target p99 < 50 ms, no loss. A bare
//!    consumer tails the topic beside them (the broker's share of that latency);
//! 3. idle: 10,000 open sockets, the server's resident memory per connection; target ≤ 20 KB.
//!
//! Run: `make bench-relay`. `BENCH_RECORDS` (default 200,000), `BENCH_CLIENTS` (1,000),
//! `BENCH_IDLE` (10,000), `BENCH_SECONDS` (10) change the sizes.

use app::stream::StartPosition;
use futures::{SinkExt, StreamExt};
use rdkafka::Message as _;
use std::{
    path::Path,
    time::{Duration, Instant},
};
use streamhub_testkit::{
    measure::{env_or, now_us, percentile_ms, rss_kb},
    relay_frames::FrameCount,
    relay_load::{
        active_topic, connect, filled_topic, open_socket, sent_us, start_server, subscribe, FanOut,
        Watch,
    },
    LocalBroker,
};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let records = env_or("BENCH_RECORDS", 200_000);
    let clients = env_or("BENCH_CLIENTS", 1000) as usize;
    let idle = env_or("BENCH_IDLE", 10_000) as usize;
    let seconds = env_or("BENCH_SECONDS", 10);
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let bootstrap = broker.bootstrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_streamhub"));
    let server = start_server(binary, dir.path(), &bootstrap).await;

    // 1. Single client vs bare consumer.
    let bare = filled_topic(&server, &bootstrap, "bench_replay", 3, records).await;
    let mut socket = connect(&server).await;
    socket
        .send(subscribe("bench_replay", StartPosition::Earliest))
        .await
        .unwrap();
    let started = Instant::now();
    let mut got = 0_u64;
    while got < records {
        if let Some(Ok(Message::Text(text))) = socket.next().await {
            let frame = FrameCount::read(&text).expect("a frame");
            got += frame.records() as u64;
        }
    }
    let relay_rate = records as f64 / started.elapsed().as_secs_f64();
    drop(socket);

    // 2. Fan-out.
    let fanout_id = active_topic(&server, "bench_fanout", 1).await;
    let rate = 100_u64;
    let fan_out = FanOut {
        reader: None,
        servers: &[&server],
        bootstrap: &bootstrap,
        topic: "bench_fanout",
        topic_id: fanout_id,
        clients,
        rate,
        seconds,
        sockets_at: None,
    };
    let mut baseline = Baseline {
        bootstrap: bootstrap.clone(),
        topic: fan_out.topic.to_owned(),
        seconds,
        tail: None,
    };
    let fanned = fan_out
        .run(
            |_| subscribe(fan_out.topic, StartPosition::Latest),
            &mut baseline,
        )
        .await;
    let all = &fanned.latencies;
    let broker = baseline.tail.expect("the baseline ran").await.unwrap();

    // 3. Idle sockets.
    let pid = server.pid();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kb(pid);
    let mut sockets = Vec::with_capacity(idle);
    for _ in 0..idle {
        match open_socket(server.addr, "", None).await {
            Ok(socket) => sockets.push(socket),
            Err(e) => {
                eprintln!("stopped opening sockets at {}: {e}", sockets.len());
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kb(pid);
    let opened = sockets.len();

    println!();
    println!(
        "Relay benchmark (tansu 0.6 local broker, server as a separate process, release build)"
    );
    println!("1. single client, {records} records of ~300 B from earliest, 3 partitions:");
    println!("   bare rdkafka consumer loop (baseline) {bare:>10.0} records/s");
    println!("   relay WebSocket client                {relay_rate:>10.0} records/s");
    println!(
        "   ratio relay / baseline: {:.2} (target ≥ 0.90)",
        relay_rate / bare
    );
    println!(
        "2. fan-out: {clients} clients, {rate} records/s in for {seconds} s ({} deliveries/s):",
        clients as u64 * rate
    );
    println!(
        "   delivered {} of {}; skipped {}; clients short: {}",
        all.len(),
        fanned.produced * clients as u64,
        fanned.skipped,
        fanned.short
    );
    println!(
        "   produce→client latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 50 ms)",
        percentile_ms(all, 0.5),
        percentile_ms(all, 0.99),
        percentile_ms(all, 1.0)
    );
    println!(
        "   bare consumer (baseline, {} records) p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; relay's share of the p99: {:.1} ms",
        broker.len(),
        percentile_ms(&broker, 0.5),
        percentile_ms(&broker, 0.99),
        percentile_ms(&broker, 1.0),
        percentile_ms(all, 0.99) - percentile_ms(&broker, 0.99)
    );
    println!("3. idle: {opened} sockets open; server RSS {before} KB → {after} KB");
    println!(
        "   {:.1} KB per connection (target ≤ 20 KB)",
        after.saturating_sub(before) as f64 / opened.max(1) as f64
    );
}

/// The broker's share of the fan-out's latency: a bare consumer tailing the topic as the relay's
/// feed does, from when the clients are ready until 2 s after production ends.
struct Baseline {
    bootstrap: String,
    topic: String,
    seconds: u64,
    /// Its latencies (µs), sorted, once it has run.
    tail: Option<JoinHandle<Vec<u64>>>,
}

impl Watch for Baseline {
    async fn ready(&mut self) {
        let (bootstrap, topic) = (self.bootstrap.clone(), self.topic.clone());
        let until = Instant::now() + Duration::from_secs(self.seconds + 2);
        let fetch_wait = streamhub_testkit::baseline::relay_fetch_wait_ms();
        self.tail = Some(tokio::task::spawn_blocking(move || {
            let mut latencies = Vec::new();
            streamhub_testkit::baseline::tail(&bootstrap, &topic, fetch_wait, until, |message| {
                let now = now_us();
                let payload = message.payload_view::<str>().and_then(Result::ok);
                latencies
                    .extend(sent_us(payload.unwrap_or("")).map(|sent| now.saturating_sub(sent)));
            })
            .unwrap();
            latencies.sort_unstable();
            latencies
        }));
        // Let the baseline reach the end of the topic before production starts.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

//! Relay benchmark (issue 5), one run against one local broker and the real `streamhub` binary
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

#[path = "support/relay_load.rs"]
mod relay_load;
#[path = "support/server_process.rs"]
mod server_process;

use futures::{SinkExt, StreamExt};
use rdkafka::Message as _;
use relay_load::*;
use std::time::{Duration, Instant};
use streamhub::relay::client::connect as connect_async;
use streamhub_testkit::{relay_frames::FrameCount, LocalBroker};
use tokio_tungstenite::tungstenite::Message;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let records = env_or("BENCH_RECORDS", 200_000);
    let clients = env_or("BENCH_CLIENTS", 1000) as usize;
    let idle = env_or("BENCH_IDLE", 10_000) as usize;
    let seconds = env_or("BENCH_SECONDS", 10);
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let bootstrap = broker.bootstrap();
    let server = start_server(dir.path(), &bootstrap).await;

    // 1. Single client vs bare consumer.
    active_topic(&server, "bench_replay", 3).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || fill(&b, "bench_replay", records))
        .await
        .unwrap();
    let b = bootstrap.clone();
    let bare = tokio::task::spawn_blocking(move || bare_consumer(&b, "bench_replay", 3, records))
        .await
        .unwrap();
    let mut socket = connect(&server).await;
    socket
        .send(subscribe("bench_replay", "earliest"))
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
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(clients);
    for _ in 0..clients {
        let socket = connect(&server).await;
        let subscribe = subscribe("bench_fanout", "latest");
        tasks.push(tokio::spawn(fanout_client(
            socket,
            subscribe,
            ready_tx.clone(),
        )));
    }
    for _ in 0..clients {
        ready_rx.recv().await;
    }
    let rate = 100_u64;
    // The broker's share: a bare consumer tails the topic as the relay's feed does.
    let b = bootstrap.clone();
    let until = Instant::now() + Duration::from_secs(seconds + 2);
    let fetch_wait = streamhub_testkit::baseline::relay_fetch_wait_ms();
    let baseline = tokio::task::spawn_blocking(move || {
        let mut latencies = Vec::new();
        streamhub_testkit::baseline::tail(&b, "bench_fanout", fetch_wait, until, |message| {
            let now = now_us();
            let payload = message.payload_view::<str>().and_then(Result::ok);
            latencies.extend(sent_us(payload.unwrap_or("")).map(|sent| now.saturating_sub(sent)));
        })
        .unwrap();
        latencies.sort_unstable();
        latencies
    });
    // Let the baseline reach the end of the topic before production starts.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let b = bootstrap.clone();
    let produced =
        tokio::task::spawn_blocking(move || produce_paced(&b, "bench_fanout", rate, seconds))
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Deactivating ends every stream, which ends each client task.
    let client = reqwest::Client::new();
    client
        .post(format!(
            "http://{}/api/topics/{fanout_id}/deactivate",
            server.addr
        ))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap();
    let mut all = Vec::new();
    let (mut skipped, mut short) = (0, 0);
    for task in tasks {
        let (latencies, s) = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
        skipped += s;
        if (latencies.len() as u64) < produced {
            short += 1;
        }
        all.extend(latencies);
    }
    all.sort_unstable();
    let delivered = all.len();
    let broker = baseline.await.unwrap();

    // 3. Idle sockets.
    let pid = server.pid();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kb(pid);
    let mut sockets = Vec::with_capacity(idle);
    for _ in 0..idle {
        let url = format!("ws://{}/api/stream", server.addr);
        match connect_async(url).await {
            Ok((socket, _)) => sockets.push(socket),
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
        "   delivered {delivered} of {}; skipped {skipped}; clients short: {short}",
        produced * clients as u64
    );
    println!(
        "   produce→client latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 50 ms)",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 1.0)
    );
    println!(
        "   bare consumer (baseline, {} records) p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; relay's share of the p99: {:.1} ms",
        broker.len(),
        percentile(&broker, 0.5),
        percentile(&broker, 0.99),
        percentile(&broker, 1.0),
        percentile(&all, 0.99) - percentile(&broker, 0.99)
    );
    println!("3. idle: {opened} sockets open; server RSS {before} KB → {after} KB");
    println!(
        "   {:.1} KB per connection (target ≤ 20 KB)",
        after.saturating_sub(before) as f64 / opened.max(1) as f64
    );
}

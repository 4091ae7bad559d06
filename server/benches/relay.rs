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

#[path = "support/server_process.rs"]
mod server_process;

use futures::{SinkExt, StreamExt};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer},
    Message as _, Offset, TopicPartitionList,
};
use server_process::ServerProcess;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use streamhub::relay::client::{connect as connect_async, RelaySocket};
use streamhub::{kafka::client_config, kafka::KafkaArgs};
use streamhub_testkit::{relay_frames::FrameCount, LocalBroker};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

async fn start_server(dir: &std::path::Path, bootstrap: &str) -> ServerProcess {
    ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_streamhub")),
        &dir.join("data"),
        bootstrap,
        &[
            ("STREAMHUB_WS_MAX_CONNECTIONS", "50000"),
            ("STREAMHUB_WS_MAX_PER_ADDR", "50000"),
            ("STREAMHUB_MAX_REPLAY", "10000000"),
        ],
    )
    .await
}

async fn active_topic(server: &ServerProcess, name: &str, partitions: i32) {
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let created: serde_json::Value = client
        .post(format!("{base}/api/topics"))
        .json(&serde_json::json!({"name": name, "created_by": "bench", "partitions": partitions}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["topic_id"].as_i64().unwrap();
    client
        .post(format!("{base}/api/topics/{id}/approve"))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap();
    let secret = std::fs::read_to_string(server.data_dir.join("producer_secret")).unwrap();
    let status = client
        .post(format!("{base}/api/topics/activate_by_name"))
        .header("x-producer-key", secret.trim())
        .json(&serde_json::json!({"topic_name": name}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "activate {name}: {status}");
}

fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    client_config(&KafkaArgs::for_bootstrap(bootstrap))
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .create()
        .unwrap()
}

fn fill(bootstrap: &str, topic: &str, n: u64) {
    let producer = producer(bootstrap);
    let pad = "p".repeat(220);
    for i in 0..n {
        let payload = format!(r#"{{"n":{i},"sent_us":{},"pad":"{pad}"}}"#, now_us());
        let key = format!("k{}", i % 16);
        let mut record = BaseRecord::to(topic).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// The ceiling: a bare consumer reading the whole topic.
fn bare_consumer(bootstrap: &str, topic: &str, partitions: i32, n: u64) -> f64 {
    let consumer: BaseConsumer = client_config(&KafkaArgs::for_bootstrap(bootstrap))
        .set("group.id", "bench-bare")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let started = Instant::now();
    let mut count = 0;
    while count < n {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message.unwrap();
            count += 1;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn connect(server: &ServerProcess) -> RelaySocket {
    let mut request = format!("ws://{}/api/stream", server.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", server.admin_token()).parse().unwrap(),
    );
    connect_async(request).await.expect("connect").0
}

fn subscribe(topic: &str, position: &str) -> Message {
    Message::Text(
        format!(
            r#"{{"type":"subscribe","topics":["{topic}"],"from":{{"position":"{position}"}}}}"#
        )
        .into(),
    )
}

/// The produce times (`sent_us`) in a payload or frame, found by scanning rather than parsing:
/// the load generator must stay light so that it does not starve the server it measures.
fn sent_us(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split(r#""sent_us":"#).skip(1).filter_map(|part| {
        let end = part
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(part.len());
        part[..end].parse().ok()
    })
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize] as f64 / 1000.0
}

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
    active_topic(&server, "bench_fanout", 1).await;
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(clients);
    for _ in 0..clients {
        let mut socket = connect(&server).await;
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(async move {
            socket
                .send(subscribe("bench_fanout", "latest"))
                .await
                .unwrap();
            let mut latencies = Vec::new();
            let mut skipped = 0;
            let mut signalled = false;
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                if text.starts_with(r#"{"type":"records""#) {
                    let now = now_us();
                    latencies.extend(sent_us(&text).map(|sent| now.saturating_sub(sent)));
                    continue;
                }
                let frame = FrameCount::read(&text).expect("a frame");
                match frame.kind.as_str() {
                    "subscribed" if !signalled => {
                        signalled = true;
                        let _ = ready.send(()).await;
                    }
                    "lagged" => skipped += frame.skipped,
                    "unsubscribed" | "topic_state" => break,
                    _ => {}
                }
            }
            (latencies, skipped)
        }));
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
    let produced = tokio::task::spawn_blocking(move || {
        let producer = producer(&b);
        let pad = "p".repeat(220);
        let start = Instant::now();
        let total = rate * seconds;
        for i in 0..total {
            let due = start + Duration::from_micros(i * 1_000_000 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let payload = format!(r#"{{"n":{i},"sent_us":{},"pad":"{pad}"}}"#, now_us());
            let _ = producer.send(BaseRecord::<(), _>::to("bench_fanout").payload(&payload));
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(30)).unwrap();
        total
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Deactivating ends every stream, which ends each client task.
    let client = reqwest::Client::new();
    client
        .post(format!("http://{}/api/topics/2/deactivate", server.addr))
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

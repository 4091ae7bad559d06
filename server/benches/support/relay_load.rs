//! What the relay benchmarks share: the server as `make run` starts it (with the relay's caps
//! raised for load), topics made active through the REST API, a producer and a bare consumer
//! (the baselines), and WebSocket clients that stay light enough not to starve the server they
//! measure. Included with `#[path = "support/relay_load.rs"] mod relay_load;`.
#![allow(dead_code, reason = "each bench that includes this uses a part of it")]

use super::server_process::ServerProcess;
use futures::{SinkExt, StreamExt};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer},
    Offset, TopicPartitionList,
};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use streamhub::relay::client::{connect as connect_async, RelaySocket};
use streamhub::{kafka::client_config, kafka::KafkaArgs};
use streamhub_testkit::relay_frames::FrameCount;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

pub async fn start_server(dir: &std::path::Path, bootstrap: &str) -> ServerProcess {
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

/// Requests, approves and activates `name`; its id.
pub async fn active_topic(server: &ServerProcess, name: &str, partitions: i32) -> i64 {
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
    let status = client
        .post(format!("{base}/api/topics/activate_by_name"))
        .header("x-producer-key", server.producer_secret())
        .json(&serde_json::json!({"topic_name": name}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "activate {name}: {status}");
    id
}

/// The CPU time (user + system) the process `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), from the closing parenthesis.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

pub fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    client_config(&KafkaArgs::for_bootstrap(bootstrap))
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .create()
        .unwrap()
}

pub fn fill(bootstrap: &str, topic: &str, n: u64) {
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
pub fn bare_consumer(bootstrap: &str, topic: &str, partitions: i32, n: u64) -> f64 {
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

pub async fn connect(server: &ServerProcess) -> RelaySocket {
    let mut request = format!("ws://{}/api/stream", server.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", server.admin_token()).parse().unwrap(),
    );
    connect_async(request).await.expect("connect").0
}

pub fn subscribe(topic: &str, position: &str) -> Message {
    Message::Text(
        format!(
            r#"{{"type":"subscribe","topics":["{topic}"],"from":{{"position":"{position}"}}}}"#
        )
        .into(),
    )
}

/// The produce times (`sent_us`) in a payload or frame, found by scanning rather than parsing:
/// the load generator must stay light so that it does not starve the server it measures.
pub fn sent_us(text: &str) -> impl Iterator<Item = u64> + '_ {
    text.split(r#""sent_us":"#).skip(1).filter_map(|part| {
        let end = part
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(part.len());
        part[..end].parse().ok()
    })
}

pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize] as f64 / 1000.0
}

/// One fan-out client: sends `subscribe`, says `ready` once subscribed, and records each
/// record's produce→arrival latency (µs) until its stream ends; with the records it was told
/// it missed (`lagged`).
pub async fn fanout_client(
    mut socket: RelaySocket,
    subscribe: Message,
    ready: tokio::sync::mpsc::Sender<()>,
) -> (Vec<u64>, u64) {
    socket.send(subscribe).await.unwrap();
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
}

/// Produces `rate` records a second into `topic` for `seconds`, each stamped with its send
/// time (`sent_us`); blocking. How many it produced.
pub fn produce_paced(bootstrap: &str, topic: &str, rate: u64, seconds: u64) -> u64 {
    let producer = producer(bootstrap);
    let pad = "p".repeat(220);
    let start = Instant::now();
    let total = rate * seconds;
    for i in 0..total {
        let due = start + Duration::from_micros(i * 1_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let payload = format!(r#"{{"n":{i},"sent_us":{},"pad":"{pad}"}}"#, now_us());
        let _ = producer.send(BaseRecord::<(), _>::to(topic).payload(&payload));
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    total
}

//! Load on the relay, for the benchmarks and the soak: the server as `make run` starts it (with
//! the relay's caps raised for load), topics made active through the REST API, a producer and a
//! bare consumer (the baselines), WebSocket clients that stay light enough not to starve the
//! server they measure, and [`FanOut`]: many of them on one topic fed at a steady rate.

use crate::{measure::now_us, relay_frames::FrameCount, server_process::ServerProcess};
use app::stream::{ClientFrame, StartPosition};
use futures::{SinkExt, StreamExt};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer},
    Offset, TopicPartitionList,
};
use std::{
    fmt::Display,
    future::Future,
    path::Path,
    time::{Duration, Instant},
};
use streamhub::{
    kafka::{client_config, KafkaArgs},
    relay::client::{self, RelaySocket},
};
use tokio_tungstenite::tungstenite::{self, Message};

/// Turns the JSON of a load record into the bytes produced (say, Avro in the registry's wire
/// format); `None` produces the JSON itself.
pub type Encode = std::sync::Arc<dyn Fn(&str) -> Vec<u8> + Send + Sync>;

/// Starts the `streamhub` `binary` on `dir/data` with the relay's caps raised for load.
pub async fn start_server(binary: &Path, dir: &Path, bootstrap: &str) -> ServerProcess {
    ServerProcess::start(
        binary,
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

/// `POST /api/topics/{id}/{action}` as the admin (`deactivate` ends every stream of the topic).
pub async fn topic_action(server: &ServerProcess, id: i64, action: &str) {
    let status = reqwest::Client::new()
        .post(format!("http://{}/api/topics/{id}/{action}", server.addr))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{action} #{id}: {status}");
}

fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    client_config(&KafkaArgs::for_bootstrap(bootstrap))
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .create()
        .unwrap()
}

/// A topic to read back: `topic` made active with `partitions` and `n` records of ~300 bytes;
/// how fast a bare consumer reads them all (records a second), the ceiling on this broker for
/// reading them through the relay.
pub async fn filled_topic(
    server: &ServerProcess,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    n: u64,
) -> f64 {
    active_topic(server, topic, partitions).await;
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        fill(&bootstrap, &topic, n, None);
        bare_consumer(&bootstrap, &topic, partitions, n)
    })
    .await
    .unwrap()
}

/// Produces `n` records of ~300 bytes (as JSON, or as `encode` makes them) into `topic` as fast
/// as the broker takes them; blocking.
pub fn fill(bootstrap: &str, topic: &str, n: u64, encode: Option<&Encode>) {
    let producer = producer(bootstrap);
    let pad = "p".repeat(220);
    for i in 0..n {
        let json = format!(r#"{{"n":{i},"sent_us":{},"pad":"{pad}"}}"#, now_us());
        let payload = encode.map_or_else(|| json.clone().into_bytes(), |encode| encode(&json));
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

/// Produces `rate` records a second into `topic` for `seconds`, each stamped with its send
/// time (`sent_us`); blocking. How many it produced.
fn produce_paced(
    bootstrap: &str,
    topic: &str,
    rate: u64,
    seconds: u64,
    encode: Option<&Encode>,
) -> u64 {
    let producer = producer(bootstrap);
    let pad = "p".repeat(220);
    let start = Instant::now();
    let total = rate * seconds;
    for i in 0..total {
        let due = start + Duration::from_micros(i * 1_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let json = format!(r#"{{"n":{i},"sent_us":{},"pad":"{pad}"}}"#, now_us());
        let payload = encode.map_or_else(|| json.clone().into_bytes(), |encode| encode(&json));
        let _ = producer.send(BaseRecord::<(), _>::to(topic).payload(&payload));
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    total
}

/// The ceiling: a bare consumer reading the first `n` records of `topic`; its records a second.
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

/// What a search through the relay did: records looked at, matches, records looked at a second.
pub struct Searched {
    pub scanned: u64,
    pub matches: u64,
    pub rate: f64,
}

/// Searches the whole of `topic` with `filter` (up to 10,000 matches) through a socket of its
/// own, until the relay says it is done.
pub async fn search(server: &ServerProcess, topic: &str, filter: &str) -> Searched {
    let mut socket = connect(server).await;
    let request = serde_json::json!({"type": "search", "id": "bench", "topic": topic,
        "filter": filter, "max_matches": 10000});
    let started = Instant::now();
    socket
        .send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        if text.starts_with(r#"{"type":"search_done""#) {
            let done: serde_json::Value = serde_json::from_str(&text).unwrap();
            let scanned = done["scanned"].as_u64().unwrap_or(0);
            return Searched {
                scanned,
                matches: done["matches"].as_u64().unwrap_or(0),
                rate: scanned as f64 / started.elapsed().as_secs_f64(),
            };
        }
    }
    panic!("the search of {topic} ended without search_done");
}

/// A socket on the relay at `addr`: `query` follows `/api/stream` (`?user_id=…`, or nothing),
/// and `bearer`, when given, is the token it proves itself with.
pub async fn open_socket(
    addr: impl Display,
    query: &str,
    bearer: Option<&str>,
) -> Result<RelaySocket, tungstenite::Error> {
    let request = client::request(&format!("ws://{addr}/api/stream{query}"), bearer)?;
    Ok(client::connect(request).await?.0)
}

/// An admin's socket on `server`'s relay.
pub async fn connect(server: &ServerProcess) -> RelaySocket {
    open_socket(server.addr, "", Some(&server.admin_token()))
        .await
        .expect("connect")
}

/// The `subscribe` frame for `topic` from `from`, through `filter` if given.
pub fn subscribe_frame(topic: &str, from: StartPosition, filter: Option<String>) -> Message {
    let frame = ClientFrame::Subscribe {
        topics: vec![topic.to_owned()],
        from,
        filter,
    };
    // A frame of plain strings and numbers always serialises.
    Message::Text(serde_json::to_string(&frame).unwrap_or_default().into())
}

/// The `subscribe` frame for `topic` from `from`, unfiltered.
pub fn subscribe(topic: &str, from: StartPosition) -> Message {
    subscribe_frame(topic, from, None)
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

/// A fan-out: `clients` sockets, spread over `servers`, stream `topic` while `rate` records a
/// second are produced into it for `seconds`; then the first server deactivates the topic
/// (`topic_id`), which ends every stream. Every client is the admin, unless `reader` names a
/// user (subscribed to the topic beforehand): then every other client streams as that user,
/// without the admin's rights (in open mode, the audience masked fields are masked for).
#[derive(Clone, Copy)]
pub struct FanOut<'a> {
    pub reader: Option<&'a str>,
    pub servers: &'a [&'a ServerProcess],
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub topic_id: i64,
    pub clients: usize,
    pub rate: u64,
    pub seconds: u64,
    /// Where the clients' sockets go instead of the servers: a stand-in speaking the relay's
    /// protocol (the delivery benchmark's floor), which every client then uses as it is
    /// (`reader` is not asked for). The servers still own the topic.
    pub sockets_at: Option<std::net::SocketAddr>,
}

/// What a [`FanOut`] delivered.
pub struct Delivered {
    /// The records produced; each should reach every client.
    pub produced: u64,
    /// Every delivery's produce→arrival latency in µs, sorted.
    pub latencies: Vec<u64>,
    /// The records the relay told clients they missed (`lagged`).
    pub skipped: u64,
    /// How many clients received fewer records than were produced.
    pub short: usize,
}

/// What a benchmark measures beside a [`FanOut`], at its moments (each does nothing unless
/// implemented).
pub trait Watch {
    /// Every client is subscribed; production starts once this is done.
    fn ready(&mut self) -> impl Future<Output = ()> {
        std::future::ready(())
    }

    /// The last record is produced.
    fn produced(&mut self) {}

    /// The clients have had 2 s for the last records; their streams end next.
    fn drained(&mut self) {}
}

/// The server's CPU time as a share of the wall clock, from the start of production until the
/// clients have drained: a [`Watch`] for benchmarks that state what a fan-out cost.
pub struct CpuShare {
    pid: u32,
    /// The server's CPU seconds and the time when production started.
    since: Option<(f64, std::time::Instant)>,
    /// The share once drained (1.0 = one core busy).
    pub share: f64,
}

impl CpuShare {
    /// Watches the process `pid`.
    pub fn of(pid: u32) -> CpuShare {
        CpuShare {
            pid,
            since: None,
            share: 0.0,
        }
    }
}

impl Watch for CpuShare {
    async fn ready(&mut self) {
        self.since = Some((
            crate::measure::cpu_seconds(self.pid),
            std::time::Instant::now(),
        ));
    }

    fn drained(&mut self) {
        let (before, started) = self.since.expect("production started");
        self.share =
            (crate::measure::cpu_seconds(self.pid) - before) / started.elapsed().as_secs_f64();
    }
}

impl FanOut<'_> {
    /// Runs the fan-out, client `i` subscribing with the frame `subscribe(i)`, and `watch` told
    /// of each moment.
    pub async fn run(
        &self,
        subscribe: impl Fn(usize) -> Message,
        watch: &mut impl Watch,
    ) -> Delivered {
        self.run_encoded(subscribe, watch, None).await
    }

    /// [`FanOut::run`] producing records as `encode` makes them.
    pub async fn run_encoded(
        &self,
        subscribe: impl Fn(usize) -> Message,
        watch: &mut impl Watch,
        encode: Option<Encode>,
    ) -> Delivered {
        let (ready, mut readies) = tokio::sync::mpsc::channel(self.clients);
        let mut tasks = Vec::with_capacity(self.clients);
        for i in 0..self.clients {
            let server = self.servers[i % self.servers.len()];
            let reader = self.reader.filter(|_| i % 2 == 1);
            let socket = match (self.sockets_at, reader) {
                (Some(at), _) => open_socket(at, "", None).await.expect("connect"),
                (None, Some(user)) => {
                    open_socket(server.addr, &format!("?user_id={user}&follow=false"), None)
                        .await
                        .expect("connect")
                }
                (None, None) => connect(server).await,
            };
            tasks.push(tokio::spawn(fanout_client(
                socket,
                subscribe(i),
                ready.clone(),
            )));
        }
        for _ in 0..self.clients {
            readies.recv().await;
        }
        watch.ready().await;
        let (bootstrap, topic) = (self.bootstrap.to_owned(), self.topic.to_owned());
        let (rate, seconds) = (self.rate, self.seconds);
        let produced = tokio::task::spawn_blocking(move || {
            produce_paced(&bootstrap, &topic, rate, seconds, encode.as_ref())
        })
        .await
        .unwrap();
        watch.produced();
        tokio::time::sleep(Duration::from_secs(2)).await;
        watch.drained();
        topic_action(self.servers[0], self.topic_id, "deactivate").await;
        let mut delivered = Delivered {
            produced,
            latencies: Vec::new(),
            skipped: 0,
            short: 0,
        };
        for task in tasks {
            let (latencies, skipped) = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("a client ends within 30 s of its stream")
                .expect("a client runs to its end");
            delivered.skipped += skipped;
            if (latencies.len() as u64) < produced {
                delivered.short += 1;
            }
            delivered.latencies.extend(latencies);
        }
        delivered.latencies.sort_unstable();
        delivered
    }
}

/// One fan-out client: sends `subscribe`, says `ready` once subscribed, and records each
/// record's produce→arrival latency (µs) until its stream ends; with the records it was told
/// it missed (`lagged`).
async fn fanout_client(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_times_are_found_in_payloads_and_frames() {
        let frame = r#"{"type":"records","records":[{"value":{"n":1,"sent_us":17,"pad":"p"}},{"value":{"sent_us":42}}]}"#;
        assert_eq!(sent_us(frame).collect::<Vec<_>>(), [17, 42]);
        assert_eq!(sent_us(r#"{"n":1}"#).count(), 0);
    }
}

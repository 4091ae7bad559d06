//! The floor the relay's cost per delivery is measured against: a WebSocket fan-out doing only
//! what no delivery can do without. One consumer tails the topic; the records it reads within a
//! batch window are framed once; one task writes those same bytes to every socket in turn. No
//! task or wake-up per socket, no positions, replay, filters, masks or access checks; the same
//! HTTP and WebSocket stack as the server (axum on hyper), and frames the load generator reads
//! as it reads the relay's.
//!
//! It answers `GET /api/health` and `/api/stream`, where a socket's first frame (whatever it
//! says) is answered with `subscribed` and the socket joins the audience. Streams end when the
//! process is stopped: the delivery benchmark runs it in a process of its own, so that its CPU
//! time is measured as the server's is.

use axum::{
    extract::{
        ws::{Message, Utf8Bytes, WebSocket},
        State, WebSocketUpgrade,
    },
    response::Response,
    routing::get,
    Router,
};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    message::Message as _,
    Offset, TopicPartitionList,
};
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};
use streamhub::kafka::{client_config, KafkaArgs};
use tokio::sync::mpsc;

/// Sockets waiting to join the audience, at most.
const JOINING: usize = 1_024;
/// Batches read but not yet written to the audience, at most.
const BATCHES: usize = 64;

/// Serves the fan-out of `topic` (at the broker `bootstrap`) on `addr` until the process ends:
/// records read within `window` of a batch's first are sent as one frame.
pub async fn serve(
    addr: SocketAddr,
    bootstrap: String,
    topic: String,
    window: Duration,
) -> anyhow::Result<()> {
    let (joining, joined) = mpsc::channel(JOINING);
    let (batches, frames) = mpsc::channel(BATCHES);
    let consumer = tail(&bootstrap, &topic)?;
    std::thread::spawn(move || read_batches(&consumer, window, &batches));
    tokio::spawn(write_to_audience(joined, frames));
    let app = Router::new()
        .route("/api/health", get(|| async { "ok" }))
        .route("/api/stream", get(stream))
        .with_state(joining);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// A consumer assigned at the end of every partition of `topic`, fetching as the relay's feed
/// does.
fn tail(bootstrap: &str, topic: &str) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = client_config(&KafkaArgs::for_bootstrap(bootstrap))
        .set("group.id", "streamhub-bare-fanout")
        .set("enable.auto.commit", "false")
        .set(
            "fetch.wait.max.ms",
            crate::baseline::relay_fetch_wait_ms().to_string(),
        )
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len());
    anyhow::ensure!(partitions > 0, "topic {topic} has no partitions");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment.add_partition_offset(topic, partition, Offset::End)?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// Reads records for ever; those read within `window` of a batch's first go out as one
/// `records` frame.
fn read_batches(consumer: &BaseConsumer, window: Duration, batches: &mpsc::Sender<Utf8Bytes>) {
    let mut frame = String::new();
    let mut due: Option<Instant> = None;
    loop {
        let wait = due.map_or(Duration::from_millis(100), |due| {
            due.saturating_duration_since(Instant::now())
        });
        if let Some(Ok(message)) = consumer.poll(wait) {
            frame.push_str(if due.is_none() {
                r#"{"type":"records","records":["#
            } else {
                ","
            });
            due.get_or_insert_with(|| Instant::now() + window);
            push_record(&mut frame, &message);
        }
        if due.is_some_and(|due| Instant::now() >= due) {
            frame.push_str("]}");
            due = None;
            if batches
                .blocking_send(std::mem::take(&mut frame).into())
                .is_err()
            {
                return;
            }
        }
    }
}

/// Appends `message` as the protocol's record (its JSON value as it is).
fn push_record(frame: &mut String, message: &rdkafka::message::BorrowedMessage<'_>) {
    let value = message
        .payload()
        .and_then(|p| std::str::from_utf8(p).ok())
        .unwrap_or("null");
    frame.push_str(&format!(
        r#"{{"topic":{},"partition":{},"offset":{},"timestamp":{},"key":null,"value":{value},"encoding":"json"}}"#,
        serde_json::Value::from(message.topic()),
        message.partition(),
        message.offset(),
        message.timestamp().to_millis().unwrap_or(0),
    ));
}

/// `/api/stream`: the socket joins the audience once it has sent its first frame.
async fn stream(
    upgrade: WebSocketUpgrade,
    State(joining): State<mpsc::Sender<WebSocket>>,
) -> Response {
    upgrade.on_upgrade(move |mut socket| async move {
        if !matches!(socket.recv().await, Some(Ok(_))) {
            return;
        }
        let subscribed = r#"{"type":"subscribed","topic":"","next_offsets":{}}"#;
        if socket.send(Message::Text(subscribed.into())).await.is_ok() {
            let _ = joining.send(socket).await;
        }
    })
}

/// Writes every batch to every socket of the audience in turn; a socket whose write fails
/// leaves it.
async fn write_to_audience(
    mut joined: mpsc::Receiver<WebSocket>,
    mut frames: mpsc::Receiver<Utf8Bytes>,
) {
    let mut audience: Vec<WebSocket> = Vec::new();
    loop {
        tokio::select! {
            Some(socket) = joined.recv() => audience.push(socket),
            Some(frame) = frames.recv() => {
                let mut kept = Vec::with_capacity(audience.len());
                for mut socket in audience {
                    if socket.send(Message::Text(frame.clone())).await.is_ok() {
                        kept.push(socket);
                    }
                }
                audience = kept;
            }
            else => return,
        }
    }
}

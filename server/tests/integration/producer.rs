//! The producer daemon against a real server and broker: it activates approved topics, writes
//! typed records with headers, stops when a topic is deactivated, survives a broker restart
//! without losing or duplicating an acknowledged record, and flushes on shutdown.

use crate::helpers::{spawn_app, TestApp};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    ClientConfig, Offset, TopicPartitionList,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::{collections::HashSet, time::Duration};
use streamhub::{
    kafka::client_config,
    kafka::KafkaArgs,
    producer::{self, Summary},
};
use tokio::{sync::oneshot, task::JoinHandle};

struct RunningProducer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Summary>,
}

fn start_producer(app: &TestApp, rate: f64) -> RunningProducer {
    let mut config = streamhub_testkit::config::producer_config(
        &app.url(""),
        &app.broker.bootstrap(),
        &app.producer_secret,
    );
    config.rate = rate;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        producer::run(config, async {
            let _ = stopped.await;
        })
        .await
        .expect("producer runs")
    });
    RunningProducer { stop, task }
}

impl RunningProducer {
    async fn stop(self) -> Summary {
        let _ = self.stop.send(());
        self.task.await.unwrap()
    }
}

/// Every record of `topic` from the beginning, read with a plain consumer.
fn read_all(bootstrap: &str, topic: &str, partitions: i32) -> Vec<(Value, Vec<(String, String)>)> {
    let consumer: BaseConsumer = {
        let mut config: ClientConfig = client_config(&KafkaArgs::for_bootstrap(bootstrap));
        config
            .set("group.id", "producer-test-reader")
            .set("enable.auto.commit", "false");
        config.create().unwrap()
    };
    let mut assignment = TopicPartitionList::new();
    let mut end = 0;
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
        let (_, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(5))
            .unwrap();
        end += high;
    }
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (out.len() as i64) < end {
        assert!(
            std::time::Instant::now() < deadline,
            "read {} of {end}",
            out.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.unwrap();
            let record = streamhub::relay::record::to_stream_record(
                &message,
                &streamhub::schema::Schemas::none(),
            );
            out.push((record.value.unwrap(), record.headers.into_iter().collect()));
        }
    }
    out
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn request_and_approve(app: &TestApp, name: &str, event_type: Option<&str>) -> i64 {
    let (status, body) = app
        .post(
            "/api/topics",
            json!({"name": name, "created_by": "t", "partitions": 2, "event_type": event_type}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["topic_id"].as_i64().unwrap();
    app.as_admin(Method::POST, &format!("/api/topics/{id}/approve"), None)
        .await;
    id
}

#[tokio::test]
async fn activates_feeds_typed_records_stops_and_flushes() {
    let app = spawn_app().await;
    let explicit = request_and_approve(&app, "plant_floor", Some("sensor")).await;
    request_and_approve(&app, "payments", None).await;
    let running = start_producer(&app, 50.0);

    wait_until("both topics active", async || {
        let (_, active) = app.get("/api/topics/active").await;
        active.as_array().unwrap().len() == 2
    })
    .await;
    let history = app.topic(explicit).await["history"].to_string();
    assert!(history.contains("\"actor\":\"producer\""), "{history}");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Deactivated: production stops within a poll or two.
    app.as_admin(
        Method::POST,
        &format!("/api/topics/{explicit}/deactivate"),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stopped_at = read_all(&app.broker.bootstrap(), "plant_floor", 2).len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        read_all(&app.broker.bootstrap(), "plant_floor", 2).len(),
        stopped_at
    );

    let summary = running.stop().await;
    let sensor = read_all(&app.broker.bootstrap(), "plant_floor", 2);
    let payments = read_all(&app.broker.bootstrap(), "payments", 2);
    assert!(sensor.len() > 20, "sensor records: {}", sensor.len());
    assert!(payments.len() > 20, "payment records: {}", payments.len());

    // Shutdown flushed: everything handed over was acknowledged and is in the topic.
    assert_eq!(summary.unflushed, 0);
    let counts = &summary.topics["payments"];
    assert_eq!(counts.failed, 0);
    assert_eq!(counts.acked, counts.sent);
    assert_eq!(counts.acked as usize, payments.len());

    for (records, event_type) in [(&sensor, "sensor"), (&payments, "payment")] {
        for (value, headers) in records.iter() {
            assert_eq!(value["event_type"], event_type);
            assert!(
                headers.contains(&("event_type".into(), event_type.into())),
                "{headers:?}"
            );
            assert!(headers.contains(&("content-type".into(), "application/json".into())));
            assert!(headers.contains(&("schema_version".into(), "1".into())));
        }
    }
}

#[tokio::test]
async fn a_broker_restart_loses_and_duplicates_nothing_acknowledged() {
    let mut app = spawn_app().await;
    request_and_approve(&app, "app_logs", None).await;
    let running = start_producer(&app, 200.0);
    wait_until("topic active", async || {
        let (_, active) = app.get("/api/topics/active").await;
        active.as_array().unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    app.broker.kill().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.broker.restart().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let summary = running.stop().await;
    let counts = summary.topics["app_logs"];
    assert_eq!(summary.unflushed, 0);
    assert_eq!(counts.failed, 0, "{counts:?}");
    assert_eq!(counts.acked, counts.sent, "{counts:?}");

    let records = read_all(&app.broker.bootstrap(), "app_logs", 2);
    let ids: HashSet<_> = records
        .iter()
        .map(|(v, _)| v["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), records.len(), "no duplicates");
    assert_eq!(
        records.len() as u64,
        counts.acked,
        "every acknowledged record is there"
    );
    assert!(records.iter().all(|(v, _)| v["event_type"] == "logs"));
}

#[tokio::test]
async fn a_wrong_secret_leaves_topics_approved_and_the_daemon_running() {
    let app = spawn_app().await;
    let id = request_and_approve(&app, "waiting", None).await;
    let mut config = streamhub_testkit::config::producer_config(
        &app.url(""),
        &app.broker.bootstrap(),
        "wrong-secret",
    );
    config.rate = 10.0;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(producer::run(config, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.topic(id).await["status"], "approved");
    assert!(!task.is_finished(), "the daemon keeps running");
    let _ = stop.send(());
    let summary = task.await.unwrap().unwrap();
    assert!(summary.topics.is_empty());
}

//! The broker itself, through rdkafka: what everything else relies on. Records go in and come
//! back in order per partition, and a broker restart loses neither topics, records nor committed
//! offsets.

use rdkafka::{
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::Message,
    producer::{FutureProducer, FutureRecord},
    ClientConfig,
};
use std::{collections::BTreeMap, time::Duration};
use streamhub::{
    kafka::KafkaArgs,
    kafka::{client_config, KafkaAdmin, TopicEnsured},
};
use streamhub_testkit::LocalBroker;

const RECORDS: usize = 1000;

fn producer(bootstrap: &str) -> FutureProducer {
    client_config(&KafkaArgs::for_bootstrap(bootstrap))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "none")
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

fn consumer(bootstrap: &str, group: &str) -> StreamConsumer {
    let mut config: ClientConfig = client_config(&KafkaArgs::for_bootstrap(bootstrap));
    config
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    config.create().unwrap()
}

/// Produces `RECORDS` records keyed over 10 keys; returns each partition's values in offset order.
async fn produce_all(bootstrap: &str, topic: &str) -> BTreeMap<i32, Vec<usize>> {
    let producer = producer(bootstrap);
    let sends = (0..RECORDS).map(|i| {
        let producer = producer.clone();
        let topic = topic.to_owned();
        async move {
            let key = format!("key-{}", i % 10);
            let payload = i.to_string();
            let (partition, offset) = producer
                .send(
                    FutureRecord::to(&topic).key(&key).payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .map(|delivery| (delivery.partition, delivery.offset))
                .map_err(|(e, _)| e)
                .expect("delivery");
            (partition, offset, i)
        }
    });
    let mut delivered = futures::future::join_all(sends).await;
    delivered.sort();
    let mut by_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (partition, _, value) in delivered {
        by_partition.entry(partition).or_default().push(value);
    }
    by_partition
}

/// Reads `count` records; returns each partition's values in the order they arrived.
async fn consume(consumer: &StreamConsumer, count: usize) -> BTreeMap<i32, Vec<usize>> {
    let mut by_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for _ in 0..count {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .expect("records arrive in time")
            .expect("consume");
        let value: usize = std::str::from_utf8(message.payload().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        by_partition
            .entry(message.partition())
            .or_default()
            .push(value);
    }
    by_partition
}

async fn create_topic(bootstrap: &str, topic: &str) {
    let admin = KafkaAdmin::new(&KafkaArgs::for_bootstrap(bootstrap)).unwrap();
    assert_eq!(
        admin.ensure_topic(topic, 3, 1).await.unwrap(),
        TopicEnsured::Created
    );
    assert_eq!(admin.topic_partitions(topic).await.unwrap(), Some(3));
    // Creating it again adopts it rather than failing.
    assert_eq!(
        admin.ensure_topic(topic, 3, 1).await.unwrap(),
        TopicEnsured::Adopted
    );
}

#[tokio::test]
async fn a_thousand_records_come_back_in_order_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(dir.path()).await.unwrap();
    create_topic(&broker.bootstrap(), "roundtrip").await;

    let produced = produce_all(&broker.bootstrap(), "roundtrip").await;
    assert!(
        produced.len() > 1,
        "keys spread over partitions: {produced:?}"
    );

    let consumer = consumer(&broker.bootstrap(), "roundtrip-group");
    consumer.subscribe(&["roundtrip"]).unwrap();
    let consumed = consume(&consumer, RECORDS).await;
    assert_eq!(consumed, produced);
}

#[tokio::test]
async fn topics_records_and_committed_offsets_survive_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = LocalBroker::start(dir.path()).await.unwrap();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "durable").await;
    let produced = produce_all(&bootstrap, "durable").await;

    // A first consumer reads part of the records and commits where it got to.
    let first_part = {
        let consumer = consumer(&bootstrap, "durable-group");
        consumer.subscribe(&["durable"]).unwrap();
        let part = consume(&consumer, 400).await;
        consumer.commit_consumer_state(CommitMode::Sync).unwrap();
        part
    };

    broker.kill().await.unwrap();
    broker.restart().await.unwrap();

    // The topic is still there, with its partitions.
    let admin = KafkaAdmin::new(&KafkaArgs::for_bootstrap(&bootstrap)).unwrap();
    assert_eq!(admin.topic_partitions("durable").await.unwrap(), Some(3));

    // The same group resumes from its committed offsets: the rest, exactly once.
    let consumer = consumer(&bootstrap, "durable-group");
    consumer.subscribe(&["durable"]).unwrap();
    let rest = consume(&consumer, RECORDS - 400).await;
    let mut combined = first_part;
    for (partition, values) in rest {
        combined.entry(partition).or_default().extend(values);
    }
    assert_eq!(combined, produced);

    // And nothing more arrives.
    let extra = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await;
    assert!(extra.is_err(), "no record is delivered twice");
}

/// tansu 0.6 looks up each fetched record's headers in a table it does not index; without the
/// index a long-running broker slows down in step with its log (RELIABILITY.md, soak).
#[tokio::test]
async fn the_store_has_the_header_index_tansu_lacks_and_headers_still_come_back() {
    use rdkafka::message::{Header, Headers, OwnedHeaders};
    use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions};

    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(dir.path()).await.unwrap();
    let mut db = SqliteConnectOptions::new()
        .filename(dir.path().join("tansu.db"))
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "explain query plan select k, v from header where topition = 1 and offset_id = 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(
        plan.iter()
            .any(|row| row.3.contains("streamhub_header_record")),
        "the header lookup uses the index: {plan:?}"
    );

    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "headed").await;
    let headers = OwnedHeaders::new().insert(Header {
        key: "event_type",
        value: Some("sensor"),
    });
    producer(&bootstrap)
        .send(
            FutureRecord::<(), _>::to("headed")
                .payload("{}")
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let consumer = consumer(&bootstrap, "headed-group");
    consumer.subscribe(&["headed"]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
        .await
        .unwrap()
        .unwrap();
    let header = message.headers().unwrap().get(0);
    assert_eq!(
        (header.key, header.value),
        ("event_type", Some(&b"sensor"[..]))
    );
}

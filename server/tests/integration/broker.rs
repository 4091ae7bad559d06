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
    config::KafkaArgs,
    kafka::{client_config, local_broker::LocalBroker, KafkaAdmin, TopicEnsured},
};

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

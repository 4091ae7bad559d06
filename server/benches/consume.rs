//! CLI consumer benchmark: `streamhub-consumer consume --format value` reading a topic
//! of 500,000 records (~300 B) from the start to the end into /dev/null, beside a bare rdkafka
//! consumer loop on the same topic in the same run (the ceiling on this broker). Target ratio
//! ≥ 0.9. The consumer's time includes its process start and its API checks.
//!
//! Run: `make bench-consume`; `BENCH_RECORDS` changes the size.

use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer},
    Offset, TopicPartitionList,
};
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use streamhub::{kafka::client_config, kafka::KafkaArgs, server};
use streamhub_testkit::LocalBroker;

const PARTITIONS: i32 = 3;

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let n: u64 = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let bootstrap = broker.bootstrap();
    let config = streamhub_testkit::config::server_config(
        dir.path().join("data"),
        dir.path().join("site"),
        &bootstrap,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::run(listener, config, std::future::pending()));
    let api = format!("http://{addr}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{api}/api/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join("data").join(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let created: serde_json::Value = client
        .post(format!("{api}/api/topics"))
        .json(&serde_json::json!({"name": "bench_consume", "created_by": "bench", "partitions": PARTITIONS}))
        .send().await.unwrap().json().await.unwrap();
    let id = created["topic_id"].as_i64().unwrap();
    client
        .post(format!("{api}/api/topics/{id}/approve"))
        .bearer_auth(read("admin_token"))
        .send()
        .await
        .unwrap();
    let activated = client
        .post(format!("{api}/api/topics/activate_by_name"))
        .header("x-producer-key", read("producer_secret"))
        .json(&serde_json::json!({"topic_name": "bench_consume"}))
        .send()
        .await
        .unwrap();
    assert!(activated.status().is_success());

    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<DefaultProducerContext> =
            client_config(&KafkaArgs::for_bootstrap(&b))
                .set("linger.ms", "20")
                .create()
                .unwrap();
        let pad = "p".repeat(250);
        for i in 0..n {
            let payload = format!(r#"{{"n":{i},"pad":"{pad}"}}"#);
            let key = format!("k{}", i % 32);
            let mut record = BaseRecord::to("bench_consume").key(&key).payload(&payload);
            while let Err((_, back)) = producer.send(record) {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        producer.flush(Duration::from_secs(120)).unwrap();
    })
    .await
    .unwrap();

    let b = bootstrap.clone();
    let bare = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client_config(&KafkaArgs::for_bootstrap(&b))
            .set("group.id", "bench-bare")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset("bench_consume", p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let started = Instant::now();
        let mut count = 0;
        while count < n {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                m.unwrap();
                count += 1;
            }
        }
        n as f64 / started.elapsed().as_secs_f64()
    })
    .await
    .unwrap();

    let run_cli = |from: &str| {
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"))
            .args([
                "consume",
                "-t",
                "bench_consume",
                "-o",
                from,
                "-e",
                "-f",
                "value",
            ])
            .env("STREAMHUB_API_URL", &api)
            .env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        n as f64 / started.elapsed().as_secs_f64()
    };
    let assigned = tokio::task::block_in_place(|| run_cli("0"));
    let grouped = tokio::task::block_in_place(|| run_cli("beginning"));

    println!();
    println!("Consume {n} records (~300 B, {PARTITIONS} partitions) from tansu 0.6 to the end:");
    println!("{:<62} {:>12}", "run", "records/s");
    println!(
        "{:<62} {:>12.0}",
        "bare rdkafka BaseConsumer loop (baseline)", bare
    );
    println!(
        "{:<62} {:>12.0}",
        "streamhub-consumer consume -o 0 -e -f value > /dev/null", assigned
    );
    println!(
        "{:<62} {:>12.0}",
        "… -o beginning (consumer group: join + commits)", grouped
    );
    println!(
        "ratio consumer / baseline: {:.2} (target ≥ 0.90)",
        assigned / bare
    );
}

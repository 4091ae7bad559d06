//! Producer benchmark, side by side in one run on the same local broker:
//!
//! 1. the generators alone: records/s on one core, per event type (target ≥ 1,000,000);
//! 2. the producer daemon at `--max-rate` (activation through the real server, generation,
//!    idempotent `acks=all` delivery) into one topic, against
//! 3. a bare rdkafka loop sending pre-built records of the same size, same settings, into
//!    another topic of the same shape — the ceiling on this broker. Target ratio ≥ 0.9.
//!
//! Run: `make bench-produce` (or `cargo bench -p streamhub --bench produce`).
//! `BENCH_RECORDS` sets the records per producer run (default 200,000).

use app::domain::EventType;
use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer},
};
use std::time::{Duration, Instant};
use streamhub::{
    generate::{generator, Record},
    kafka::KafkaArgs,
    kafka::{client_config, KafkaAdmin},
    producer::{self},
    server,
};
use streamhub_testkit::LocalBroker;

const PARTITIONS: i32 = 3;

fn records_per_run() -> u64 {
    std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn generator_rate(event_type: EventType) -> (f64, f64) {
    let mut generator = generator(event_type, 1, "bench");
    let mut record = Record::default();
    let n = 1_000_000;
    let mut bytes = 0;
    let started = Instant::now();
    for _ in 0..n {
        generator.next_into(&mut record);
        bytes += record.payload.len();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    (rate, bytes as f64 / n as f64)
}

/// The baseline: pre-built records in a tight loop, the daemon's producer settings.
fn bare_rdkafka(
    bootstrap: &str,
    topic: &str,
    payloads: &[Record],
    n: u64,
    with_headers: bool,
) -> f64 {
    let producer: ThreadedProducer<DefaultProducerContext> =
        client_config(&KafkaArgs::for_bootstrap(bootstrap))
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            .set("compression.type", "none")
            .set("queue.buffering.max.messages", "100000")
            .set("message.timeout.ms", "0")
            .create()
            .unwrap();
    // The same headers the daemon sends, so that records are the same on the wire.
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "event_type",
            value: Some("payment"),
        })
        .insert(Header {
            key: "content-type",
            value: Some("application/json"),
        })
        .insert(Header {
            key: "schema_version",
            value: Some("1"),
        });
    let started = Instant::now();
    for i in 0..n as usize {
        let record = &payloads[i % payloads.len()];
        let mut base = BaseRecord::to(topic)
            .key(record.key.as_str())
            .payload(record.payload.as_slice());
        if with_headers {
            base = base.headers(headers.clone());
        }
        loop {
            match producer.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    base = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("baseline send failed: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let n = records_per_run();
    println!("Generators alone (one core, 1,000,000 records each):");
    println!(
        "{:<16} {:>14} {:>10} {:>8}",
        "event type", "records/s", "avg bytes", "target"
    );
    for event_type in EventType::ALL {
        let (rate, size) = generator_rate(event_type);
        println!(
            "{:<16} {:>14.0} {:>10.0} {:>8}",
            event_type.as_str(),
            rate,
            size,
            "1000000"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let bootstrap = broker.bootstrap();
    let admin = KafkaAdmin::new(&KafkaArgs::for_bootstrap(&bootstrap)).unwrap();
    admin
        .ensure_topic("bench_baseline", PARTITIONS, 1)
        .await
        .unwrap();
    admin
        .ensure_topic("bench_no_headers", PARTITIONS, 1)
        .await
        .unwrap();

    // The server, with one approved topic for the daemon to activate and feed.
    let config = streamhub_testkit::config::server_config(
        dir.path().join("data"),
        dir.path().join("site"),
        &bootstrap,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let producer_secret = {
        let built = server::build(&config, addr).await.unwrap();
        built.state.secrets.producer_secret.expose().to_owned()
    };
    tokio::spawn(server::run(listener, config, std::future::pending()));
    let api = format!("http://{addr}");
    let client = reqwest::Client::new();
    let admin_token = std::fs::read_to_string(dir.path().join("data/admin_token")).unwrap();
    let created: serde_json::Value = client
        .post(format!("{api}/api/topics"))
        .json(&serde_json::json!({"name": "bench_daemon", "created_by": "bench", "partitions": PARTITIONS, "event_type": "payment"}))
        .send().await.unwrap().json().await.unwrap();
    let id = created["topic_id"].as_i64().unwrap();
    client
        .post(format!("{api}/api/topics/{id}/approve"))
        .bearer_auth(admin_token.trim())
        .send()
        .await
        .unwrap();

    // Same-size records for the baseline: what the payment generator makes.
    let mut payment = generator(EventType::Payment, 2, "baseline");
    let payloads: Vec<Record> = (0..10_000)
        .map(|_| {
            let mut r = Record::default();
            payment.next_into(&mut r);
            r
        })
        .collect();
    let avg = payloads.iter().map(|r| r.payload.len()).sum::<usize>() / payloads.len();

    let payloads = std::sync::Arc::new(payloads);
    let (b, p) = (bootstrap.clone(), payloads.clone());
    let no_headers =
        tokio::task::spawn_blocking(move || bare_rdkafka(&b, "bench_no_headers", &p, n, false))
            .await
            .unwrap();
    let (b, p) = (bootstrap.clone(), payloads.clone());
    let baseline =
        tokio::task::spawn_blocking(move || bare_rdkafka(&b, "bench_baseline", &p, n, true))
            .await
            .unwrap();

    let mut producer_config =
        streamhub_testkit::config::producer_config(&api, &bootstrap, &producer_secret);
    producer_config.max_rate = true;
    producer_config.count = Some(n);
    producer_config.poll_interval_ms = 50;
    let started = Instant::now();
    let summary = producer::run(producer_config, std::future::pending())
        .await
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let counts = summary.topics["bench_daemon"];
    assert_eq!(counts.acked, n, "every record acknowledged: {counts:?}");
    let daemon = counts.acked as f64 / elapsed;

    println!();
    println!(
        "Produce to tansu 0.6 (sqlite storage), {n} records of ~{avg} B, {PARTITIONS} partitions, acks=all, idempotent, compression none:"
    );
    println!("{:<48} {:>12}", "run", "records/s");
    println!(
        "{:<48} {:>12.0}",
        "bare rdkafka loop, no headers (for reference)", no_headers
    );
    println!(
        "{:<48} {:>12.0}",
        "bare rdkafka loop, same records+headers (baseline)", baseline
    );
    println!(
        "{:<48} {:>12.0}",
        "streamhub-producer --max-rate (with generation)", daemon
    );
    println!(
        "ratio daemon / baseline: {:.2} (target ≥ 0.90)",
        daemon / baseline
    );
}

//! Records with schemas benchmark, one run against one local broker, the stand-in schema
//! registry and the real `streamhub` binary (release build):
//!
//! a. fan-out: 1,000 sockets on one topic fed 100 records/s of Avro in the registry's wire
//!    format, beside the same records as JSON on another topic. Target: deliveries/s ≥ 0.8× the
//!    JSON run's; `streamhub_records_decoded_total` shows each record decoded once, not once
//!    per socket.
//! b. search: a filter over 500,000 Avro records scanned by the relay, beside a bare rdkafka
//!    consumer that decodes every record with the same library (apache-avro, through
//!    `streamhub::schema::avro`). Target: ≥ 0.8× the bare consumer's records/s.
//!
//! Run: `make bench-schemas`. `BENCH_CLIENTS` (1,000), `BENCH_SECONDS` (10), `BENCH_RATE`
//! (100), `BENCH_SEARCH` (500,000) change the sizes.

use app::stream::StartPosition;
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    message::Message as _,
    Offset, TopicPartitionList,
};
use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};
use streamhub::{
    kafka::{client_config, KafkaArgs},
    schema::{avro::AvroSchema, registry::RegistrySchema, wire},
};
use streamhub_testkit::{
    measure::{env_or, percentile_ms},
    relay_load::{active_topic, fill, search, subscribe, CpuShare, Encode, FanOut},
    schema_registry::StandIn,
    server_process::ServerProcess,
    LocalBroker,
};

/// The load records (`{"n", "sent_us", "pad"}`) as Avro.
const LOAD_AVSC: &str = r#"{"type":"record","name":"Load","fields":[
  {"name":"n","type":"long"},{"name":"sent_us","type":"long"},{"name":"pad","type":"string"}]}"#;

struct Figures {
    delivered: usize,
    expected: u64,
    produced: u64,
    p50: f64,
    p99: f64,
    cpu: f64,
}

#[tokio::main]
async fn main() {
    let clients = env_or("BENCH_CLIENTS", 1000) as usize;
    let seconds = env_or("BENCH_SECONDS", 10);
    let rate = env_or("BENCH_RATE", 100);
    let search_records = env_or("BENCH_SEARCH", 500_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let bootstrap = broker.bootstrap();
    let registry = StandIn::start(None).await.unwrap();
    let registry_url = registry.url();
    let binary = Path::new(env!("CARGO_BIN_EXE_streamhub"));
    let server = ServerProcess::start(
        binary,
        &dir.path().join("data"),
        &bootstrap,
        &[
            ("STREAMHUB_WS_MAX_CONNECTIONS", "50000"),
            ("STREAMHUB_WS_MAX_PER_ADDR", "50000"),
            ("STREAMHUB_MAX_REPLAY", "10000000"),
            ("STREAMHUB_SCHEMA_REGISTRY_URL", &registry_url),
        ],
    )
    .await;
    let schema = Arc::new(AvroSchema::compile(LOAD_AVSC, &[]).unwrap());
    let encoder = |id: u32| -> Encode {
        let schema = schema.clone();
        Arc::new(move |json: &str| {
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            let mut framed = wire::header(id, None);
            framed.extend_from_slice(&schema.encode(&value).unwrap());
            framed
        })
    };
    let avro = |text: &str| RegistrySchema {
        schema: text.to_owned(),
        schema_type: None,
        references: Vec::new(),
    };

    // a. Fan-out, JSON then Avro.
    let json = fan_out(
        &server,
        &bootstrap,
        "bench_json",
        clients,
        seconds,
        rate,
        None,
    )
    .await;
    let id = registry
        .register("bench_avro-value", avro(LOAD_AVSC))
        .unwrap();
    let decoded_before = decoded(&server).await;
    let avro_run = fan_out(
        &server,
        &bootstrap,
        "bench_avro",
        clients,
        seconds,
        rate,
        Some(encoder(id)),
    )
    .await;
    let decoded_fan_out = decoded(&server).await - decoded_before;

    // b. Search over Avro records, and the bare consumer decoding them.
    active_topic(&server, "bench_avro_search", 1).await;
    let search_id = registry
        .register("bench_avro_search-value", avro(LOAD_AVSC))
        .unwrap();
    let bare = {
        let (bootstrap, encode, schema) = (bootstrap.clone(), encoder(search_id), schema.clone());
        tokio::task::spawn_blocking(move || {
            fill(
                &bootstrap,
                "bench_avro_search",
                search_records,
                Some(&encode),
            );
            bare_decoding_consumer(&bootstrap, "bench_avro_search", search_records, &schema)
        })
        .await
        .unwrap()
    };
    let searched = search(&server, "bench_avro_search", "value.n % 100 == 0").await;
    let (scanned, matches, search_rate) = (searched.scanned, searched.matches, searched.rate);

    let per_second = |f: &Figures| f.delivered as f64 / seconds as f64;
    println!();
    println!("Records with schemas benchmark (tansu 0.6 local broker, stand-in registry, server as a separate process, release build)");
    println!("a. fan-out: {clients} sockets, {rate} records/s for {seconds} s:");
    for (name, f) in [
        ("JSON records (baseline)", &json),
        ("Avro records", &avro_run),
    ] {
        println!(
            "   {name:<24} delivered {:>9}/{:<9} {:>9.0}/s  p50 {:>6.1} ms  p99 {:>6.1} ms  server CPU {:>5.1}%",
            f.delivered,
            f.expected,
            per_second(f),
            f.p50,
            f.p99,
            f.cpu * 100.0
        );
    }
    println!(
        "   Avro records decoded by the server: {decoded_fan_out} for {} produced and {} delivered",
        avro_run.produced, avro_run.delivered
    );
    println!(
        "   ratio deliveries/s Avro / JSON: {:.2} (target ≥ 0.80)",
        per_second(&avro_run) / per_second(&json)
    );
    println!(
        "b. search: {scanned} Avro records scanned with `value.n % 100 == 0` ({matches} matches):"
    );
    println!(
        "   bare rdkafka consumer decoding with apache-avro (baseline) {bare:>10.0} records/s"
    );
    println!(
        "   relay search                                             {search_rate:>10.0} records/s"
    );
    println!(
        "   ratio search / baseline: {:.2} (target ≥ 0.80)",
        search_rate / bare
    );
}

/// One fan-out on a topic of its own, its records made by `encode` (JSON when `None`).
async fn fan_out(
    server: &ServerProcess,
    bootstrap: &str,
    topic: &str,
    clients: usize,
    seconds: u64,
    rate: u64,
    encode: Option<Encode>,
) -> Figures {
    let load = FanOut {
        reader: None,
        servers: &[server],
        bootstrap,
        topic,
        topic_id: active_topic(server, topic, 1).await,
        clients,
        rate,
        seconds,
        sockets_at: None,
    };
    let mut cpu = CpuShare::of(server.pid());
    let fanned = load
        .run_encoded(
            |_| subscribe(topic, StartPosition::Latest),
            &mut cpu,
            encode,
        )
        .await;
    Figures {
        delivered: fanned.latencies.len(),
        expected: fanned.produced * clients as u64,
        produced: fanned.produced,
        p50: percentile_ms(&fanned.latencies, 0.5),
        p99: percentile_ms(&fanned.latencies, 0.99),
        cpu: cpu.share,
    }
}

/// The server's count of Avro records decoded.
async fn decoded(server: &ServerProcess) -> u64 {
    let text = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("streamhub_records_decoded_total{format=\"avro\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A bare consumer reading the first `n` records of `topic` and decoding each (its schema id
/// skipped) with `schema`; its records a second.
fn bare_decoding_consumer(bootstrap: &str, topic: &str, n: u64, schema: &AvroSchema) -> f64 {
    let consumer: BaseConsumer = client_config(&KafkaArgs::for_bootstrap(bootstrap))
        .set("group.id", "bench-bare-avro")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let started = Instant::now();
    let mut count = 0;
    while count < n {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let framed = wire::split(message.payload().unwrap()).unwrap();
            std::hint::black_box(schema.decode(framed.body).unwrap());
            count += 1;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

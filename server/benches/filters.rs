//! Filter and search benchmark, one run against one local broker and the real
//! `streamhub` binary (a separate process, so that its CPU time can be measured):
//!
//! a. fan-out: 1,000 sockets on one topic fed 100 records/s, three ways: no filter; every socket
//!    with one of 50 distinct filters; every socket with a filter of its own. The filters match
//!    every record (`value.n >= -k`), so that each way delivers the same records and the
//!    difference is the filtering: deliveries/s, produce→socket p99, server CPU;
//! b. search: a filter over 500,000 records scanned by the relay, beside a bare rdkafka consumer
//!    reading the same records (the ceiling on this broker); target ratio ≥ 0.8.
//!
//! Run: `make bench-filters`. `BENCH_CLIENTS` (1,000), `BENCH_SECONDS` (10), `BENCH_SEARCH`
//! (500,000) change the sizes.

use app::stream::StartPosition;
use std::path::Path;
use streamhub_testkit::{
    measure::{env_or, percentile_ms},
    relay_load::{
        active_topic, filled_topic, search, start_server, subscribe_frame, CpuShare, FanOut,
    },
    server_process::ServerProcess,
    LocalBroker,
};

/// One way of fanning out: its name and how many distinct filters (none: no filter).
struct Way {
    name: &'static str,
    distinct: Option<usize>,
}

/// What one way delivered, how fast, and what it cost the server.
struct Figures {
    delivered: usize,
    expected: u64,
    p50: f64,
    p99: f64,
    cpu: f64,
    seconds: f64,
}

#[tokio::main]
async fn main() {
    let clients = env_or("BENCH_CLIENTS", 1000) as usize;
    let seconds = env_or("BENCH_SECONDS", 10);
    let search_records = env_or("BENCH_SEARCH", 500_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let bootstrap = broker.bootstrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_streamhub"));
    let server = start_server(binary, dir.path(), &bootstrap).await;

    let ways = [
        Way {
            name: "no filter",
            distinct: None,
        },
        Way {
            name: "50 distinct filters",
            distinct: Some(50),
        },
        Way {
            name: "a filter per socket",
            distinct: Some(clients),
        },
    ];
    let mut fanouts = Vec::new();
    for (n, way) in ways.iter().enumerate() {
        let topic = format!("bench_filter_{n}");
        fanouts.push(fan_out(&server, &bootstrap, &topic, clients, seconds, way).await);
    }

    // b. Search.
    let bare = filled_topic(&server, &bootstrap, "bench_search", 1, search_records).await;
    let searched = search(&server, "bench_search", "value.n % 100 == 0").await;
    let (scanned, matches, search_rate) = (searched.scanned, searched.matches, searched.rate);

    println!();
    println!(
        "Filter benchmark (tansu 0.6 local broker, server as a separate process, release build)"
    );
    println!("a. fan-out: {clients} sockets, 100 records/s in for {seconds} s; every filter matches every record:");
    println!(
        "   {:<22} {:>12} {:>14} {:>10} {:>10} {:>12}",
        "way", "delivered", "deliveries/s", "p50 ms", "p99 ms", "server CPU"
    );
    for (way, f) in ways.iter().zip(&fanouts) {
        println!(
            "   {:<22} {:>12} {:>14.0} {:>10.1} {:>10.1} {:>11.0}%",
            way.name,
            format!("{}/{}", f.delivered, f.expected),
            f.delivered as f64 / f.seconds,
            f.p50,
            f.p99,
            f.cpu * 100.0
        );
    }
    println!("b. search: {scanned} records scanned with `value.n % 100 == 0` ({matches} matches):");
    println!("   bare rdkafka consumer loop (baseline) {bare:>10.0} records/s");
    println!("   relay search                          {search_rate:>10.0} records/s");
    println!(
        "   ratio search / baseline: {:.2} (target ≥ 0.80)",
        search_rate / bare
    );
}

/// Runs one way of fanning out on its own topic.
async fn fan_out(
    server: &ServerProcess,
    bootstrap: &str,
    topic: &str,
    clients: usize,
    seconds: u64,
    way: &Way,
) -> Figures {
    let load = FanOut {
        reader: None,
        servers: &[server],
        bootstrap,
        topic,
        topic_id: active_topic(server, topic, 1).await,
        clients,
        rate: 100,
        seconds,
        sockets_at: None,
    };
    let subscribe = |n: usize| {
        let filter = way
            .distinct
            .map(|distinct| format!("value.n >= -{}", n % distinct));
        subscribe_frame(topic, StartPosition::Latest, filter)
    };
    let mut cpu = CpuShare::of(server.pid());
    let fanned = load.run(subscribe, &mut cpu).await;
    Figures {
        delivered: fanned.latencies.len(),
        expected: fanned.produced * clients as u64,
        p50: percentile_ms(&fanned.latencies, 0.5),
        p99: percentile_ms(&fanned.latencies, 0.99),
        cpu: cpu.share,
        seconds: seconds as f64,
    }
}

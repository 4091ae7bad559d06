//! Load benchmark of the REST API: `GET /api/topics`, `GET /api/stats` and
//! `POST /api/subscriptions` on a database of 1,000 topics and 100,000 subscriptions, driven by
//! `wrk` (Debian package) from a separate process, beside a baseline in the same run: a bare axum
//! handler returning a prebuilt body of the same size (the ceiling of this machine's HTTP stack,
//! with no database, auth or JSON work).
//!
//! Then the same reads against the `streamhub` binary as `make run` starts it (the release build,
//! a process of its own configured by env vars alone, on the same database and broker), and the
//! debug build when one is there, each beside the in-process figure.
//!
//! Run: `make bench-api` (or `cargo bench -p streamhub --bench api_load`).
//! Settings: `BENCH_SECONDS` (default 10), `BENCH_CONNECTIONS` (default 64).

use axum::{body::Bytes, routing::get, Router};
use std::{path::PathBuf, time::Duration};
use streamhub::server;
use streamhub_testkit::{
    seed::{self, SUBSCRIPTIONS_PER_USER, TOPICS, USERS},
    server_process::ServerProcess,
    wrk, LocalBroker,
};

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let mut config = streamhub_testkit::config::server_config(
        dir.path().join("data"),
        dir.path().join("site"),
        &broker.bootstrap(),
    );
    // The write rows measure the store's throughput from one address, which the per-address
    // limit on anonymous writes (50/s by default) would otherwise measure instead.
    config.write_rate = 1e9;
    config.write_burst = u32::MAX;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let built = server::build(&config, addr).await.unwrap();
    let store = built.state.store.clone();

    eprintln!(
        "seeding {TOPICS} topics and {} subscriptions…",
        USERS * SUBSCRIPTIONS_PER_USER
    );
    seed::seed(&store).await;

    tokio::spawn(async move {
        axum::serve(
            listener,
            built
                .router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let topics_body = client
        .get(format!("{base}/api/topics"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // The same document as the server sends it to gzip clients (reqwest here does not decode).
    let topics_gzip = client
        .get(format!("{base}/api/topics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // Baseline: the same number of bytes from a handler that does nothing else.
    let baseline_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let baseline_addr = baseline_listener.local_addr().unwrap();
    let small = Bytes::from_static(br#"{"total_topics":1000,"pending_topics":1000}"#);
    let large = topics_body.clone();
    let large_gzip = topics_gzip.clone();
    let baseline = Router::new()
        .route("/large", get(move || std::future::ready(large.clone())))
        .route(
            "/large-gzip",
            get(move || std::future::ready(([("content-encoding", "gzip")], large_gzip.clone()))),
        )
        .route("/small", get(move || std::future::ready(small.clone())));
    tokio::spawn(async move { axum::serve(baseline_listener, baseline).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let gzip = ["-H", "Accept-Encoding: gzip"];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/writes.lua");
    let paced = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/subscribe_paced.lua");
    let topics_gzip_row = wrk::run(&format!("{base}/api/topics"), &gzip);
    let stats_row = wrk::run(&format!("{base}/api/stats"), &[]);
    let (in_process_topics_gzip, in_process_stats) =
        (topics_gzip_row.requests_per_sec, stats_row.requests_per_sec);
    let rows = [
        (
            "GET /api/topics (gzip)",
            topics_gzip_row,
            Some(wrk::run(
                &format!("http://{baseline_addr}/large-gzip"),
                &gzip,
            )),
            20_000.0,
        ),
        (
            "GET /api/topics (identity)",
            wrk::run(&format!("{base}/api/topics"), &[]),
            Some(wrk::run(&format!("http://{baseline_addr}/large"), &[])),
            20_000.0,
        ),
        (
            "GET /api/stats",
            stats_row,
            Some(wrk::run(&format!("http://{baseline_addr}/small"), &[])),
            20_000.0,
        ),
        (
            "POST /api/subscriptions",
            wrk::run(&format!("{base}/api/subscriptions"), &["-s", script]),
            None,
            2_000.0,
        ),
        (
            "POST /api/subscriptions paced",
            wrk::run_with(&format!("{base}/api/subscriptions"), "20", &["-s", paced]),
            None,
            2_000.0,
        ),
    ];

    println!();
    println!(
        "API load: {TOPICS} topics, {} subscriptions, /api/topics body {} KB ({} KB gzipped); wrk -t2 -c{} -d{}s",
        USERS * SUBSCRIPTIONS_PER_USER,
        topics_body.len() / 1024,
        topics_gzip.len() / 1024,
        std::env::var("BENCH_CONNECTIONS").unwrap_or_else(|_| "64".into()),
        std::env::var("BENCH_SECONDS").unwrap_or_else(|_| "10".into()),
    );
    println!(
        "{:<28} {:>10} {:>8} {:>8} {:>7} {:>8} {:>13} {:>7}",
        "endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx", "target", "baseline r/s", "ratio"
    );
    for (name, result, baseline, target) in rows {
        let (base_rps, ratio) = match baseline {
            Some(b) => (
                format!("{:.0}", b.requests_per_sec),
                format!("{:.2}", result.requests_per_sec / b.requests_per_sec),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<28} {:>10.0} {:>8.2} {:>8.2} {:>7} {:>8.0} {:>13} {:>7}",
            name,
            result.requests_per_sec,
            result.p50_ms,
            result.p99_ms,
            result.non_2xx,
            target,
            base_rps,
            ratio
        );
    }
    println!("baseline: a bare axum handler returning a prebuilt body of the same size, same process, same run");
    println!("paced: 20 connections, 8 ms pause between requests (about the target write rate), not saturating");

    let in_process = [
        (
            "GET /api/topics (gzip)",
            in_process_topics_gzip,
            "/api/topics",
            &gzip[..],
        ),
        ("GET /api/stats", in_process_stats, "/api/stats", &[][..]),
    ];
    let release = PathBuf::from(env!("CARGO_BIN_EXE_streamhub"));
    let debug = release.parent().unwrap().join("../debug/streamhub");
    println!();
    println!("The server binary as `make run` starts it, same database and broker, same run:");
    println!(
        "{:<28} {:<22} {:>10} {:>8} {:>8} {:>16} {:>7}",
        "endpoint", "binary", "req/s", "p50 ms", "p99 ms", "in-process r/s", "ratio"
    );
    for (label, binary) in [
        ("release (make run)", Some(release)),
        ("debug (the tests)", debug.exists().then_some(debug)),
    ] {
        let Some(binary) = binary else {
            println!("{label}: not built, skipped");
            continue;
        };
        let site = dir.path().join("site");
        let server = ServerProcess::start(
            &binary,
            &dir.path().join("data"),
            &broker.bootstrap(),
            &[("STREAMHUB_SITE_DIR", site.to_str().unwrap_or_default())],
        )
        .await;
        for (name, reference, path, extra) in &in_process {
            let result = wrk::run(&format!("http://{}{path}", server.addr), extra);
            println!(
                "{:<28} {:<22} {:>10.0} {:>8.2} {:>8.2} {:>16.0} {:>7.2}",
                name,
                label,
                result.requests_per_sec,
                result.p50_ms,
                result.p99_ms,
                reference,
                result.requests_per_sec / reference
            );
        }
    }
}

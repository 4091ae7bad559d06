//! Benchmark of several instances, side by side in one run, all processes as `make
//! cluster` starts them (the release `streamhub`, HAProxy with `deploy/haproxy.cfg`, PostgreSQL
//! through `local-postgres`'s settings: crash-safe, commits not waited for, like SQLite's WAL
//! with `synchronous=NORMAL`):
//!
//! 1. REST on the API bench's database size (1,000 topics, 100,000 subscriptions) with `wrk`:
//!    the SQLite store direct (the baseline), the PostgreSQL store direct, and two PostgreSQL
//!    instances through HAProxy; reads (cached) and writes with their p99.
//! 2. Fan-out: `BENCH_CLIENTS` sockets streaming one topic at `BENCH_RATE` records/s, all on one
//!    instance, then split over two instances: deliveries/s, p99 produce→socket, server RSS per
//!    socket.
//! 3. Cross-instance change latency: a socket on instance B follows a user; 200 subscription
//!    changes (subscribe, unsubscribe, …) through instance A; the time from each request until
//!    B's socket says the stream started or stopped, p50 and p99.
//!
//! Run: `make bench-cluster` (or `cargo bench -p streamhub --bench cluster`). Settings:
//! `BENCH_SECONDS` (10), `BENCH_CONNECTIONS` (64), `BENCH_CLIENTS` (1000), `BENCH_RATE` (200);
//! `BENCH_PARTS` (`rest,changes,fanout`) and `BENCH_ENDPOINTS` (REST endpoints whose label
//! holds one of these comma-separated words, e.g. `POST`) run a part of it.
//! `BENCH_BEFORE_BINARY=path` adds another build's PostgreSQL deployments (one instance, two
//! behind HAProxy) to the REST part, on a database of their own seeded through their API.

use app::stream::StartPosition;
use futures::StreamExt;
use std::{
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};
use streamhub::store::{Database, Store};
use streamhub_testkit::{
    measure::{
        cpu_seconds, env_or, machine_cpu_seconds, now_us, percentile_ms, rss_kb, tree_cpu_seconds,
    },
    relay_load::{active_topic, open_socket, subscribe, topic_action, FanOut, Watch},
    seed::{self, SUBSCRIPTIONS_PER_USER, TOPICS, USERS},
    server_process::{free_addr, ApiProcess, ServerProcess},
    wrk, LocalBroker, LocalPostgres,
};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

const CHANGES: usize = 200;

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

/// The secrets every instance shares.
const ADMIN_TOKEN: &str = "bench-cluster-admin-token-0123456789abcdef";
const PRODUCER_SECRET: &str = "bench-cluster-producer-secret-0123456789";

async fn run() {
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "rest,changes,fanout".into());
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let postgres = LocalPostgres::start_durable(
        &dir.path().join("postgres"),
        streamhub_testkit::broker::free_port().unwrap(),
    )
    .unwrap();
    let database_url = postgres.create_database("bench").unwrap();

    eprintln!(
        "seeding {TOPICS} topics and {} subscriptions into each store…",
        USERS * SUBSCRIPTIONS_PER_USER
    );
    let sqlite_dir = dir.path().join("sqlite");
    seed(&Database::Sqlite(sqlite_dir.join("streamhub.db"))).await;
    seed(&Database::Postgres(database_url.clone())).await;

    let bootstrap = broker.bootstrap();
    let data = |name: &str| dir.path().join(name);
    let this_build = Path::new(env!("CARGO_BIN_EXE_streamhub"));
    let sqlite = instance(this_build, &data("sqlite"), &bootstrap, None, "sqlite").await;
    let (single, a, b, balancer) = postgres_deployment(
        this_build,
        &dir.path().join("pg"),
        &bootstrap,
        &database_url,
    )
    .await;
    // Another build's PostgreSQL deployments, on a database of their own (its schema is the one
    // that build knows), seeded through its API.
    let before = match std::env::var("BENCH_BEFORE_BINARY") {
        Ok(binary) => {
            let url = postgres.create_database("bench_before").unwrap();
            let deployment = postgres_deployment(
                Path::new(&binary),
                &dir.path().join("before"),
                &bootstrap,
                &url,
            )
            .await;
            seed_through_api(&deployment.0).await;
            Some(deployment)
        }
        Err(_) => None,
    };

    // 1. REST.
    let gzip = ["-H", "Accept-Encoding: gzip"];
    let writes = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/writes.lua");
    let mut targets = vec![
        (
            "SQLite, one instance (baseline)",
            &sqlite.addr,
            vec![sqlite.pid()],
        ),
        ("PostgreSQL, one instance", &single.addr, vec![single.pid()]),
        (
            "PostgreSQL, two via HAProxy",
            &balancer.addr,
            vec![a.pid(), b.pid(), balancer.pid()],
        ),
    ];
    if let Some((single, a, b, balancer)) = &before {
        targets.push(("before: PostgreSQL, one", &single.addr, vec![single.pid()]));
        targets.push((
            "before: PostgreSQL, two",
            &balancer.addr,
            vec![a.pid(), b.pid(), balancer.pid()],
        ));
    }
    // Label, path, wrk's options, and the script's arguments after each deployment's prefix.
    let endpoints: [(&str, &str, &[&str], &[&str]); 5] = [
        ("GET /api/topics (gzip)", "/api/topics", &gzip, &[]),
        ("GET /api/stats", "/api/stats", &[], &[]),
        // Not cached: a keyset page of one user's subscriptions, asked of the database each time.
        (
            "GET /api/subscriptions?user_id",
            "/api/subscriptions?user_id=user_7",
            &[],
            &[],
        ),
        (
            "POST /api/subscriptions",
            "/api/subscriptions",
            &["-s", writes],
            &[],
        ),
        (
            "POST /api/topics",
            "/api/topics",
            &["-s", writes],
            &["topics"],
        ),
    ];
    let connections = std::env::var("BENCH_CONNECTIONS").unwrap_or_else(|_| "64".into());
    let only = std::env::var("BENCH_ENDPOINTS").unwrap_or_default();
    let mut rest = Vec::new();
    for (endpoint, path, extra, script_args) in endpoints {
        let chosen = only.is_empty() || only.split(',').any(|o| endpoint.contains(o.trim()));
        if !parts.contains("rest") || !chosen {
            continue;
        }
        let mut baseline = None;
        for (index, (target, addr, pids)) in targets.iter().enumerate() {
            // Each deployment's writes subscribe users (and ask for topics) of their own: new
            // rows, every one.
            let prefix = format!("load{index}");
            let url = format!("http://{addr}{path}");
            let cpu = CpuReading::now(pids, &postgres);
            let started = chrono::Utc::now();
            // Beside a read's load, a probe of the same read tells when its slow answers came.
            let probe = endpoint
                .starts_with("GET")
                .then(|| tokio::spawn(slow_answers(url.clone())));
            let result = tokio::task::block_in_place(|| {
                let args: Vec<&str> = [prefix.as_str()]
                    .into_iter()
                    .chain(script_args.iter().copied())
                    .collect();
                wrk::run_script(&url, &connections, extra, &args)
            });
            if let Some(probe) = probe {
                probe.abort();
            }
            let cpu = cpu.since();
            eprintln!(
                "{endpoint} on {target}: {} to {}",
                started.format("%H:%M:%S%.3f"),
                chrono::Utc::now().format("%H:%M:%S%.3f")
            );
            let reference = *baseline.get_or_insert(result.requests_per_sec);
            rest.push((endpoint, *target, result, reference, cpu));
        }
    }
    autovacuum_report(&database_url).await;
    if !parts.contains("changes") && !parts.contains("fanout") {
        print_rest(&rest, &connections);
        return;
    }

    // 3. Cross-instance change latency (before the fan-out loads the broker).
    let topic = "bench_cluster";
    let topic_id = active_topic(&a, topic, 3).await;
    let latencies = change_latencies(&a, &b, topic).await;

    // 2. Fan-out: one instance, then two.
    let clients = env_or("BENCH_CLIENTS", 1000) as usize;
    let rate = env_or("BENCH_RATE", 200);
    let seconds = env_or("BENCH_SECONDS", 10);
    let on_one = FanOut {
        reader: None,
        servers: &[&single],
        bootstrap: &bootstrap,
        topic,
        topic_id,
        clients,
        rate,
        seconds,
        sockets_at: None,
    };
    let one = fanout(on_one).await;
    let two = fanout(FanOut {
        reader: None,
        servers: &[&a, &b],
        ..on_one
    })
    .await;

    print_rest(&rest, &connections);
    println!();
    println!(
        "2. fan-out: {clients} sockets, {rate} records/s for {seconds} s, release build, same run"
    );
    println!(
        "{:<28} {:>14} {:>10} {:>10} {:>9} {:>19} {:>10}",
        "deployment",
        "deliveries/s",
        "delivered",
        "p99 ms",
        "skipped",
        "peak RSS KB/socket",
        "p99 ratio"
    );
    for (label, result) in [("one instance (baseline)", &one), ("two instances", &two)] {
        println!(
            "{:<28} {:>14.0} {:>9.1}% {:>10.2} {:>9} {:>19.1} {:>10.2}",
            label,
            result.deliveries_per_sec,
            result.delivered_share * 100.0,
            result.p99_ms,
            result.skipped,
            result.rss_kb_per_socket,
            result.p99_ms / one.p99_ms
        );
    }
    println!();
    let mut sorted = latencies.clone();
    sorted.sort_unstable();
    println!(
        "3. cross-instance change latency, {CHANGES} changes through A until B's socket acts: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile_ms(&sorted, 0.5),
        percentile_ms(&sorted, 0.99),
        percentile_ms(&sorted, 1.0),
    );
    drop(balancer);
}

/// CPU time used by a run's servers, by PostgreSQL and by the whole machine, from a reading
/// taken before it.
struct CpuReading {
    at: std::time::Instant,
    pids: Vec<u32>,
    postgres: Option<u32>,
    servers: f64,
    database: f64,
    machine: (f64, f64),
}

/// What a run cost, in cores busy on average (1.0 = one core all the time).
struct CpuUse {
    servers: f64,
    database: f64,
    /// The whole machine, busy share of all its cores.
    machine_share: f64,
}

impl CpuReading {
    fn now(pids: &[u32], postgres: &LocalPostgres) -> Self {
        let postgres = postgres.pid();
        Self {
            at: std::time::Instant::now(),
            pids: pids.to_vec(),
            postgres,
            servers: pids.iter().map(|p| cpu_seconds(*p)).sum(),
            database: postgres.map_or(0.0, tree_cpu_seconds),
            machine: machine_cpu_seconds(),
        }
    }

    fn since(self) -> CpuUse {
        let seconds = self.at.elapsed().as_secs_f64();
        let servers: f64 = self.pids.iter().map(|p| cpu_seconds(*p)).sum();
        let database = self.postgres.map_or(0.0, tree_cpu_seconds);
        let (busy, all) = machine_cpu_seconds();
        CpuUse {
            servers: (servers - self.servers) / seconds,
            database: (database - self.database) / seconds,
            machine_share: (busy - self.machine.0) / (all - self.machine.1).max(f64::EPSILON),
        }
    }
}

/// Asks `url` every 5 ms, printing each answer slower than 20 ms with its time (to match a
/// tail with what happened then: PostgreSQL's autovacuum, say).
async fn slow_answers(url: String) {
    let client = reqwest::Client::new();
    loop {
        let sent = chrono::Utc::now();
        let at = std::time::Instant::now();
        let _ = client.get(&url).send().await.map(|r| r.bytes());
        let took = at.elapsed();
        if took > Duration::from_millis(20) {
            eprintln!(
                "slow: {} took {} ms",
                sent.format("%H:%M:%S%.3f"),
                took.as_millis()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Prints when PostgreSQL's autovacuum last vacuumed or analysed each table of `url`.
async fn autovacuum_report(url: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as(
            "SELECT relname::text, to_char(last_autovacuum AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'), \
             to_char(last_autoanalyze AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') FROM pg_stat_user_tables \
             WHERE last_autovacuum IS NOT NULL OR last_autoanalyze IS NOT NULL ORDER BY relname",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for (table, vacuumed, analysed) in rows {
        let at = |t: Option<String>| t.unwrap_or_else(|| "-".into());
        eprintln!(
            "autovacuum {table}: vacuumed {}, analysed {}",
            at(vacuumed),
            at(analysed)
        );
    }
}

/// Prints the REST table: each endpoint on each deployment, with its ratio against the first
/// deployment and what it kept busy.
fn print_rest(rest: &[(&str, &str, wrk::WrkResult, f64, CpuUse)], connections: &str) {
    let seconds = env_or("BENCH_SECONDS", 10);
    println!();
    println!(
        "1. REST, {TOPICS} topics and {} subscriptions; wrk -t2 -c{connections} -d{seconds}s; ratio against SQLite, one instance; CPU in cores busy (servers incl. HAProxy, PostgreSQL) and the machine's busy share",
        USERS * SUBSCRIPTIONS_PER_USER,
    );
    println!(
        "{:<32} {:<32} {:>9} {:>8} {:>8} {:>7} {:>8} {:>6} {:>8} {:>8} {:>8}",
        "endpoint",
        "deployment",
        "req/s",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "timeouts",
        "ratio",
        "servers",
        "postgres",
        "machine"
    );
    for (endpoint, target, result, reference, cpu) in rest {
        println!(
            "{:<32} {:<32} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>8} {:>6.2} {:>8.2} {:>8.2} {:>7.0}%",
            endpoint,
            target,
            result.requests_per_sec,
            result.p50_ms,
            result.p99_ms,
            result.non_2xx,
            result.timeouts,
            result.requests_per_sec / reference,
            cpu.servers,
            cpu.database,
            cpu.machine_share * 100.0,
        );
    }
}

/// `binary` on PostgreSQL at `url`: one instance alone, and two behind HAProxy.
async fn postgres_deployment(
    binary: &Path,
    data: &Path,
    bootstrap: &str,
    url: &str,
) -> (ServerProcess, ServerProcess, ServerProcess, ApiProcess) {
    let single = instance(binary, &data.join("single"), bootstrap, Some(url), "single").await;
    let a = instance(binary, &data.join("a"), bootstrap, Some(url), "a").await;
    let b = instance(binary, &data.join("b"), bootstrap, Some(url), "b").await;
    let balancer = haproxy(&[&a, &b]).await;
    (single, a, b, balancer)
}

/// The API bench's database made through `server`'s API (for a build whose schema the store
/// here may not match): the same topics and subscriptions as [`seed`].
async fn seed_through_api(server: &ServerProcess) {
    use futures::stream::{self, StreamExt as _};
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let post = |path: &'static str, body: serde_json::Value| {
        let (client, url) = (client.clone(), format!("{base}{path}"));
        async move {
            let status = client.post(url).json(&body).send().await.unwrap().status();
            assert!(status.is_success(), "{path}: {status}");
        }
    };
    stream::iter((0..TOPICS).map(|i| {
        post(
            "/api/topics",
            serde_json::json!({"name": format!("topic_{i:04}"), "created_by": format!("user_{}", i % 50),
                "partitions": 3, "description": "Seeded by the API load benchmark: a description of typical length."}),
        )
    }))
    .buffer_unordered(16)
    .collect::<()>()
    .await;
    stream::iter((0..USERS).flat_map(|user| {
        (0..SUBSCRIPTIONS_PER_USER).map(move |k| (user, (user * 7 + k) % TOPICS))
    }))
    .map(|(user, topic)| {
        post(
            "/api/subscriptions",
            serde_json::json!({"user_id": format!("user_{user}"), "topic_name": format!("topic_{topic:04}")}),
        )
    })
    .buffer_unordered(64)
    .collect::<()>()
    .await;
}

/// `binary` (a release server) on `data`, with the shared secrets, write and socket limits
/// raised for load, HAProxy trusted, and its metadata in `database_url` (SQLite in `data` for
/// `None`).
async fn instance(
    binary: &Path,
    data: &Path,
    bootstrap: &str,
    database_url: Option<&str>,
    name: &str,
) -> ServerProcess {
    let mut env = vec![
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("PRODUCER_SECRET", PRODUCER_SECRET),
        ("STREAMHUB_WRITE_RATE", "1000000000"),
        ("STREAMHUB_WRITE_BURST", "4000000000"),
        ("STREAMHUB_WS_MAX_CONNECTIONS", "50000"),
        ("STREAMHUB_WS_MAX_PER_ADDR", "50000"),
        ("STREAMHUB_TRUSTED_PROXIES", "127.0.0.1"),
        ("STREAMHUB_INSTANCE_NAME", name),
    ];
    if let Some(url) = database_url {
        env.push(("STREAMHUB_DATABASE_URL", url));
    }
    ServerProcess::start(binary, data, bootstrap, &env).await
}

/// The API bench's database in `database`.
async fn seed(database: &Database) {
    let store = Store::open(database).await.unwrap();
    seed::seed(&store).await;
    store.close().await;
}

/// Milliseconds·1000 (µs) from each change through `a` until `b`'s socket acts on it.
async fn change_latencies(a: &ServerProcess, b: &ServerProcess, topic: &str) -> Vec<u64> {
    let mut follower = open_socket(b.addr, "?user_id=latency", None)
        .await
        .expect("connect");
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/subscriptions", a.addr);
    let body = serde_json::json!({"user_id": "latency", "topic_name": topic});
    let mut latencies = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let subscribing = i % 2 == 0;
        let expected = if subscribing {
            "\"subscribed\""
        } else {
            "\"unsubscribed\""
        };
        let started = now_us();
        let request = if subscribing {
            client.post(&url)
        } else {
            client.delete(&url)
        };
        let status = request.json(&body).send().await.unwrap().status();
        assert!(status.is_success(), "change {i}: {status}");
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), follower.next())
                .await
                .expect("b acts within 10 s")
                .expect("socket open")
                .expect("a frame");
            if let Message::Text(text) = message {
                if text.contains(expected) && text.contains(topic) {
                    break;
                }
            }
        }
        latencies.push(now_us() - started);
    }
    let _ = follower.close(None).await;
    latencies
}

/// What a fan-out run delivered, how fast, and what it cost the servers.
struct Figures {
    /// Records delivered against records produced × sockets.
    delivered_share: f64,
    deliveries_per_sec: f64,
    p99_ms: f64,
    skipped: u64,
    rss_kb_per_socket: f64,
}

/// The fan-out `run` on its servers, with their memory at its peak while they deliver; the
/// topic is reactivated for the next run.
async fn fanout(run: FanOut<'_>) -> Figures {
    let before: Vec<u64> = run.servers.iter().map(|s| rss_kb(s.pid())).collect();
    let mut peak = PeakRss {
        pids: run.servers.iter().map(|s| s.pid()).collect(),
        peaks: Arc::new(Mutex::new(before.clone())),
        sampler: None,
    };
    let fanned = run
        .run(|_| subscribe(run.topic, StartPosition::Latest), &mut peak)
        .await;
    topic_action(run.servers[0], run.topic_id, "reactivate").await;
    let during = peak.peaks.lock().unwrap().clone();
    let grown: u64 = during
        .iter()
        .zip(&before)
        .map(|(d, b)| d.saturating_sub(*b))
        .sum();
    let (delivered, clients) = (fanned.latencies.len() as f64, run.clients as f64);
    Figures {
        delivered_share: delivered / (fanned.produced as f64 * clients),
        deliveries_per_sec: delivered / run.seconds as f64,
        p99_ms: percentile_ms(&fanned.latencies, 0.99),
        skipped: fanned.skipped,
        rss_kb_per_socket: grown as f64 / clients,
    }
}

/// The servers' resident memory at its highest while they deliver: sampled every 200 ms from
/// when the clients are ready until the last record is produced.
struct PeakRss {
    pids: Vec<u32>,
    peaks: Arc<Mutex<Vec<u64>>>,
    sampler: Option<JoinHandle<()>>,
}

impl Watch for PeakRss {
    async fn ready(&mut self) {
        let (peaks, pids) = (self.peaks.clone(), self.pids.clone());
        self.sampler = Some(tokio::spawn(async move {
            loop {
                for (peak, pid) in peaks.lock().unwrap().iter_mut().zip(&pids) {
                    *peak = (*peak).max(rss_kb(*pid));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }

    fn produced(&mut self) {
        if let Some(sampler) = self.sampler.take() {
            sampler.abort();
        }
    }
}

/// HAProxy with the shipped configuration (its per-source limits raised) in front of
/// `instances`; stopped when dropped.
async fn haproxy(instances: &[&ServerProcess]) -> ApiProcess {
    let addr = free_addr();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/haproxy.cfg");
    let child = Command::new("haproxy")
        .args(["-W", "-db", "-f", config])
        .env("STREAMHUB_LB_BIND", addr.to_string())
        .env("STREAMHUB_INSTANCE_1", instances[0].addr.to_string())
        .env("STREAMHUB_INSTANCE_2", instances[1].addr.to_string())
        // The load comes from one address: the per-source limits would answer it 429.
        .env("STREAMHUB_LB_CONN_PER_SOURCE", "1000000")
        .env("STREAMHUB_LB_REQUESTS_PER_SOURCE", "1000000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run haproxy (make deps installs it)");
    ApiProcess::answering("HAProxy", child, addr).await
}

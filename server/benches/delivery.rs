//! The cost of one delivery: the server's CPU time (user + system, from `/proc`) per record
//! it hands to a socket, side by side in one run, for
//!
//! - 1,000 sockets × 100 records/s and 10,000 sockets × 10 records/s (100,000 deliveries/s
//!   each), one 3-partition topic streamed from `latest` by every socket;
//! - without a filter, and with one that every record passes (`value.n >= 0`: the evaluation
//!   is shared by all sockets with the same expression, the verdict read by each);
//!
//! and for each: deliveries per second, the produce→socket p99, the server's resident memory per
//! subscribed socket before production (idle), and the CPU of those idle sockets over the same
//! time, which the per-delivery figure leaves out.
//!
//! The floor, measured the same way in the same run for each unfiltered case: a bare fan-out
//! ([`streamhub_testkit::bare_fanout`]: one consumer, each batch framed once, one task writing
//! it to every socket, nothing else) in a process of its own — this benchmark re-executed.
//! What the relay costs above it is what its design and bookkeeping cost; the floor itself is
//! the stack's, the system calls' and loopback TCP's (whose receiving side's work is charged to
//! the sender).
//!
//! Run: `make bench-delivery` (or `cargo bench -p streamhub --bench delivery`). `BENCH_SECONDS`
//! (10) sets each production's length, `BENCH_FILTERED` (`no` or `yes`) runs only those cases;
//! `BENCH_BEFORE_BINARY=path` runs every case against that build too; `BENCH_FLOOR=no` leaves
//! the floor out; `BENCH_PROFILE=1` records the first case with `perf` and prints where the
//! server's time went (`BENCH_PROFILE=floor`: the floor's first case).

use app::stream::StartPosition;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use streamhub_testkit::{
    measure::{cpu_seconds, env_or, percentile_ms, rss_kb},
    relay_load::{active_topic, start_server, subscribe_frame, FanOut, Watch},
    server_process::{free_addr, ApiProcess, ServerProcess},
    LocalBroker,
};

/// (sockets, records per second) of each case.
const CASES: [(usize, u64); 2] = [(1_000, 100), (10_000, 10)];
/// How long the subscribed sockets sit idle before production, for their idle cost.
const IDLE_FOR: Duration = Duration::from_secs(3);

/// Set when this benchmark runs as the floor: `address broker topic`, space-separated.
const FLOOR_ENV: &str = "STREAMHUB_BENCH_FLOOR";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    match std::env::var(FLOOR_ENV) {
        Ok(floor) => runtime.block_on(serve_floor(&floor)),
        Err(_) => runtime.block_on(bench()),
    }
}

/// This process as the floor, until it is stopped.
async fn serve_floor(args: &str) {
    let [addr, bootstrap, topic] = args.split(' ').collect::<Vec<_>>()[..] else {
        panic!("{FLOOR_ENV}: address, broker and topic");
    };
    // The server's window: the environment they both start with, else the default.
    let window = Duration::from_millis(streamhub_testkit::baseline::relay_batch_window_ms());
    let addr = addr.parse().expect("an address");
    let served =
        streamhub_testkit::bare_fanout::serve(addr, bootstrap.into(), topic.into(), window);
    served.await.expect("the floor serves");
}

/// Which build serves the sockets in a row of the table.
#[derive(Clone, Copy, PartialEq)]
enum Serving {
    Server,
    Floor,
}

async fn bench() {
    let seconds = env_or("BENCH_SECONDS", 10);
    let profile = std::env::var("BENCH_PROFILE").ok();
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalBroker::start(&dir.path().join("kafka")).await.unwrap();
    let bootstrap = broker.bootstrap();
    let this_build = PathBuf::from(env!("CARGO_BIN_EXE_streamhub"));
    let mut builds = vec![("this build", this_build.clone(), Serving::Server)];
    if let Ok(before) = std::env::var("BENCH_BEFORE_BINARY") {
        builds.push(("before", PathBuf::from(before), Serving::Server));
    }
    let floor_wanted = std::env::var("BENCH_FLOOR").as_deref() != Ok("no");
    if profile.as_deref() == Some("floor") && !floor_wanted {
        eprintln!("BENCH_PROFILE=floor with BENCH_FLOOR=no: no profile");
    }
    // The floor has no filters: only the unfiltered cases have one.
    if floor_wanted && filters().contains(&false) {
        // This build's server only owns the topics; the floor serves the sockets.
        builds.push(("floor", this_build, Serving::Floor));
    }
    let mut rows = Vec::new();
    let mut profiled = false;
    for (index, (build, binary, serving)) in builds.iter().enumerate() {
        let server = start_server(
            binary,
            &dir.path().join(format!("server{index}")),
            &bootstrap,
        )
        .await;
        for (clients, rate) in CASES {
            for filtered in filters() {
                if filtered && *serving == Serving::Floor {
                    continue;
                }
                let topic = format!("delivery_{index}_{clients}_{rate}_{}", u8::from(filtered));
                let wanted = match serving {
                    Serving::Server => profile.as_deref().is_some_and(|p| p != "floor"),
                    Serving::Floor => profile.as_deref() == Some("floor"),
                };
                let perf = (wanted && !profiled).then(|| dir.path().join("perf.data"));
                profiled |= perf.is_some();
                let figures = case(
                    &server,
                    *serving,
                    &bootstrap,
                    &topic,
                    clients,
                    rate,
                    filtered,
                    seconds,
                    perf.as_deref(),
                )
                .await;
                if let Some(perf) = perf {
                    print_profile(&perf);
                }
                eprintln!(
                    "{build}: {clients} sockets × {rate}/s, filter {filtered}: {:.2} µs per delivery, {:.1} % delivered",
                    figures.us_per_delivery,
                    figures.delivered_share * 100.0
                );
                rows.push((*build, clients, rate, filtered, figures));
            }
        }
    }

    println!();
    println!(
        "The cost of one delivery: server CPU (user + system) per record handed to a socket; {seconds} s of production per case, release build, same run"
    );
    println!(
        "{:<11} {:>7} {:>6} {:>8} {:>13} {:>10} {:>9} {:>9} {:>12} {:>14}",
        "build",
        "sockets",
        "rec/s",
        "filter",
        "deliveries/s",
        "delivered",
        "p99 ms",
        "µs/deliv",
        "idle KB/sock",
        "idle CPU cores"
    );
    for (build, clients, rate, filtered, f) in &rows {
        println!(
            "{:<11} {:>7} {:>6} {:>8} {:>13.0} {:>9.1}% {:>9.1} {:>9.2} {:>12.1} {:>14.3}",
            build,
            clients,
            rate,
            if *filtered { "yes" } else { "no" },
            f.deliveries_per_sec,
            f.delivered_share * 100.0,
            f.p99_ms,
            f.us_per_delivery,
            f.idle_kb_per_socket,
            f.idle_cores,
        );
    }
}

/// Without a filter and with one, or only what `BENCH_FILTERED` (`no`, `yes`) asks for.
fn filters() -> Vec<bool> {
    match std::env::var("BENCH_FILTERED").as_deref() {
        Ok("no") => vec![false],
        Ok("yes") => vec![true],
        _ => vec![false, true],
    }
}

/// What one case measured.
struct Figures {
    deliveries_per_sec: f64,
    /// Records delivered against records produced × sockets.
    delivered_share: f64,
    p99_ms: f64,
    /// Server CPU µs per delivery, from the start of production until the sockets drained,
    /// less what the sockets cost idle over the same time.
    us_per_delivery: f64,
    idle_kb_per_socket: f64,
    /// The server's CPU with every socket subscribed and no records (cores busy).
    idle_cores: f64,
}

#[allow(clippy::too_many_arguments)]
async fn case(
    server: &ServerProcess,
    serving: Serving,
    bootstrap: &str,
    topic: &str,
    clients: usize,
    rate: u64,
    filtered: bool,
    seconds: u64,
    perf: Option<&Path>,
) -> Figures {
    let topic_id = active_topic(server, topic, 3).await;
    let floor = match serving {
        Serving::Server => None,
        Serving::Floor => Some(start_floor(bootstrap, topic).await),
    };
    let load = FanOut {
        reader: None,
        servers: &[server],
        bootstrap,
        topic,
        topic_id,
        clients,
        rate,
        seconds,
        sockets_at: floor.as_ref().map(|f| f.addr),
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = floor.as_ref().map_or(server.pid(), ApiProcess::pid);
    let mut watch = Costs {
        pid,
        rss_before: rss_kb(pid),
        floor,
        perf: perf.map(|path| (path.to_owned(), seconds)),
        ..Costs::default()
    };
    let filter = filtered.then(|| "value.n >= 0".to_owned());
    let fanned = load
        .run(
            |_| subscribe_frame(topic, StartPosition::Latest, filter.clone()),
            &mut watch,
        )
        .await;
    let delivered = fanned.latencies.len() as f64;
    let busy = watch.busy_seconds - watch.idle_cores * watch.busy_for;
    Figures {
        deliveries_per_sec: delivered / seconds as f64,
        delivered_share: delivered / (fanned.produced as f64 * clients as f64),
        p99_ms: percentile_ms(&fanned.latencies, 0.99),
        us_per_delivery: busy * 1e6 / delivered.max(1.0),
        idle_kb_per_socket: watch.rss_idle.saturating_sub(watch.rss_before) as f64 / clients as f64,
        idle_cores: watch.idle_cores,
    }
}

/// This benchmark re-executed as the floor for `topic`, answering.
async fn start_floor(bootstrap: &str, topic: &str) -> ApiProcess {
    let addr = free_addr();
    let child = std::process::Command::new(std::env::current_exe().expect("this benchmark"))
        .env(FLOOR_ENV, format!("{addr} {bootstrap} {topic}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the floor starts");
    ApiProcess::answering("the floor", child, addr).await
}

/// The server's memory and CPU at a fan-out's moments.
#[derive(Default)]
struct Costs {
    pid: u32,
    /// The floor serving the sockets, stopped once drained: that ends their streams.
    floor: Option<ApiProcess>,
    rss_before: u64,
    rss_idle: u64,
    idle_cores: f64,
    /// CPU seconds from the start of production until drained, and over how long.
    busy_seconds: f64,
    busy_for: f64,
    started: Option<(f64, Instant)>,
    /// Where to record a profile of production, and for how long.
    perf: Option<(PathBuf, u64)>,
    recording: Option<std::process::Child>,
}

impl Watch for Costs {
    async fn ready(&mut self) {
        self.rss_idle = rss_kb(self.pid);
        let (before, at) = (cpu_seconds(self.pid), Instant::now());
        tokio::time::sleep(IDLE_FOR).await;
        self.idle_cores = (cpu_seconds(self.pid) - before) / at.elapsed().as_secs_f64();
        if let Some((path, seconds)) = &self.perf {
            self.recording = std::process::Command::new("perf")
                .args(["record", "-F", "999", "-o"])
                .arg(path)
                .args([
                    "-p",
                    &self.pid.to_string(),
                    "--",
                    "sleep",
                    &seconds.to_string(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| eprintln!("no profile: perf did not start: {e}"))
                .ok();
        }
        self.started = Some((cpu_seconds(self.pid), Instant::now()));
    }

    fn drained(&mut self) {
        let (before, at) = self.started.expect("production started");
        self.busy_seconds = cpu_seconds(self.pid) - before;
        self.busy_for = at.elapsed().as_secs_f64();
        if let Some(mut recording) = self.recording.take() {
            let _ = recording.wait();
        }
        self.floor = None;
    }
}

/// Prints where the server's time went in the profile at `path`: by object (the kernel, the
/// server, the C library), then the 25 functions that took the most of it (self time).
fn print_profile(path: &Path) {
    for (sort, lines, title) in [("dso", 5, "by object"), ("symbol", 25, "by function")] {
        let report = std::process::Command::new("perf")
            .args(["report", "--sort", sort, "--stdio", "-i"])
            .arg(path)
            .output();
        match report {
            Ok(out) => {
                println!("Profile of the first case (perf, self time), {title}:");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                    .take(lines)
                    .for_each(|l| println!("  {}", l.trim_end()));
            }
            Err(e) => eprintln!("no profile: perf report failed: {e}"),
        }
    }
}

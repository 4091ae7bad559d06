//! The failover test's viewers (run by `.ci/hosts-cluster` on the viewer host, behind
//! the load balancer). `FAILOVER_SOCKETS` readers stream one active topic through the relay from
//! `latest`, each with [`RelayReader`] — the CLI's `--via-relay` reader: when its socket drops it
//! reconnects with backoff (through the load balancer, to a live instance) and resumes every
//! partition after the last record it returned.
//!
//! Every second one line reports how many sockets got a record within the last second
//! (`streaming`), the records so far, gaps and duplicates (a record whose offset is not the one
//! after the previous of its partition, per socket), and the longest time any socket went
//! without a record (`longest_silence`: how long the failover took it). On SIGTERM it prints a
//! last line, `final …`, and exits 0 when there was no gap and no duplicate, 1 otherwise.
//!
//! Environment: `FAILOVER_URL` (the load balancer), `FAILOVER_TOPIC` and its
//! `FAILOVER_PARTITIONS` (2), `FAILOVER_USER` (already subscribed to the topic),
//! `FAILOVER_SOCKETS` (500).

use anyhow::{Context, Result};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use streamhub::consumer::reader::{Event, Reader, RelayReader};

/// What every reader adds to.
#[derive(Default)]
struct Tally {
    records: AtomicU64,
    gaps: AtomicU64,
    duplicates: AtomicU64,
    /// Per reader: milliseconds since the start at its last record.
    last_record_ms: Vec<AtomicU64>,
    /// The longest any reader went without a record, in milliseconds (after its first).
    longest_silence_ms: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let url = std::env::var("FAILOVER_URL").context("FAILOVER_URL")?;
    let topic = std::env::var("FAILOVER_TOPIC").context("FAILOVER_TOPIC")?;
    let user = std::env::var("FAILOVER_USER").context("FAILOVER_USER")?;
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let (sockets, partitions) = (
        number("FAILOVER_SOCKETS", 500),
        number("FAILOVER_PARTITIONS", 2),
    );
    let started = Instant::now();
    let tally = Arc::new(Tally {
        last_record_ms: (0..sockets).map(|_| AtomicU64::new(0)).collect(),
        ..Tally::default()
    });
    let mut readers = Vec::with_capacity(sockets);
    for index in 0..sockets {
        let reader = RelayReader::open(
            &url,
            Some(&user),
            &[(topic.clone(), partitions as i32)],
            "latest",
            false,
            None,
            None,
        )
        .await
        .with_context(|| format!("socket {index}"))?;
        let reader = Reader::Relay(Box::new(reader));
        readers.push(tokio::spawn(read(reader, index, tally.clone(), started)));
    }
    eprintln!("{sockets} sockets open");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => println!("{}", report(&tally, started, "")),
            _ = terminate.recv() => break,
        }
    }
    println!("{}", report(&tally, started, "final "));
    let clean =
        tally.gaps.load(Ordering::Relaxed) == 0 && tally.duplicates.load(Ordering::Relaxed) == 0;
    std::process::exit(if clean { 0 } else { 1 });
}

/// One status line.
fn report(tally: &Tally, started: Instant, prefix: &str) -> String {
    let now = started.elapsed().as_millis() as u64;
    let streaming = tally
        .last_record_ms
        .iter()
        .filter(|at| {
            let at = at.load(Ordering::Relaxed);
            at > 0 && now.saturating_sub(at) <= 1000
        })
        .count();
    // A reader still silent now counts as long as it has been.
    let silent_now = tally
        .last_record_ms
        .iter()
        .map(|at| at.load(Ordering::Relaxed))
        .filter(|at| *at > 0)
        .map(|at| now.saturating_sub(at))
        .max()
        .unwrap_or(0);
    let longest = tally
        .longest_silence_ms
        .load(Ordering::Relaxed)
        .max(silent_now);
    format!(
        "{prefix}t={:.1} streaming={streaming}/{} records={} gaps={} duplicates={} longest_silence={:.1}",
        now as f64 / 1000.0,
        tally.last_record_ms.len(),
        tally.records.load(Ordering::Relaxed),
        tally.gaps.load(Ordering::Relaxed),
        tally.duplicates.load(Ordering::Relaxed),
        longest as f64 / 1000.0,
    )
}

/// Reads until the process ends, checking that each partition's offsets follow on.
async fn read(mut reader: Reader, index: usize, tally: Arc<Tally>, started: Instant) {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    loop {
        match reader.next().await {
            Ok(Some(Event::Record(record))) => {
                match next.get(&record.partition) {
                    Some(expected) if record.offset > *expected => {
                        tally.gaps.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(expected) if record.offset < *expected => {
                        tally.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
                next.insert(record.partition, record.offset + 1);
                tally.records.fetch_add(1, Ordering::Relaxed);
                let now = started.elapsed().as_millis().max(1) as u64;
                let before = tally.last_record_ms[index].swap(now, Ordering::Relaxed);
                if before > 0 {
                    tally
                        .longest_silence_ms
                        .fetch_max(now - before, Ordering::Relaxed);
                }
            }
            // The relay skipped records for this reader: the offsets jump, which counts as a
            // gap above.
            Ok(Some(Event::Lagged { .. })) => {}
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                // The reader reconnects by itself; an error here is one it gave up on.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

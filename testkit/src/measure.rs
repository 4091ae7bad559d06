//! What the benchmarks and the soak read their figures with: the wall clock in microseconds, a
//! process's memory, CPU time and open descriptors from `/proc`, and percentiles of sorted
//! samples; and their sizes, from the environment.

use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable `name` as a number, else `default` (unset or not a number).
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Microseconds since the Unix epoch: the stamp a benchmark's producer puts in each record and
/// its clients subtract on arrival.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

/// The resident memory (`VmRSS`) of the process `pid`, in KiB; 0 when it cannot be read.
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// How many descriptors the process `pid` holds open; 0 when they cannot be listed.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The CPU time (user + system) the process `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), from the closing parenthesis.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// The CPU time (user + system) of the process `pid` and of every process below it, living or
/// ended and waited for, in seconds: a PostgreSQL server's with its backends, say.
pub fn tree_cpu_seconds(pid: u32) -> f64 {
    let mut total = 0.0;
    let mut below = vec![pid];
    while let Some(pid) = below.pop() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // utime, stime, cutime, cstime: fields 14 to 17 of the whole line.
        total += (11..=14)
            .filter_map(|i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
            .sum::<f64>()
            / 100.0;
        below.extend(children(pid));
    }
    total
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = stat.rsplit_once(')')?.1.to_owned();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// The machine's CPU time so far, busy and in all, in seconds summed over its cores (from
/// `/proc/stat`): two readings give how busy it was in between.
pub fn machine_cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let all: f64 = ticks.iter().take(8).sum();
    // idle and iowait
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    ((all - idle) / 100.0, all / 100.0)
}

/// The sample at `p` (0.0–1.0) of `sorted` (nearest rank, rounding down); `None` when empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    sorted
        .get((sorted.len().saturating_sub(1) as f64 * p) as usize)
        .copied()
}

/// [`percentile`] of latencies in microseconds, in milliseconds; NaN when there are none.
pub fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    percentile(sorted_us, p).map_or(f64::NAN, |us| us as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank_below() {
        let sorted: Vec<u64> = (1..=10).map(|n| n * 1000).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(5000));
        assert_eq!(percentile(&sorted, 0.99), Some(9000));
        assert_eq!(percentile(&sorted, 1.0), Some(10_000));
        assert_eq!(percentile_ms(&sorted, 0.0), 1.0);
        assert_eq!(percentile::<u64>(&[], 0.5), None);
        assert!(percentile_ms(&[], 0.5).is_nan());
    }

    #[test]
    fn this_process_has_memory_cpu_and_descriptors() {
        let pid = std::process::id();
        assert!(rss_kb(pid) > 0);
        assert!(open_fds(pid) > 0);
        assert!(cpu_seconds(pid) >= 0.0);
    }
}

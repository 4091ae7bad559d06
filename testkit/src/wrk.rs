//! Driving `wrk` (Debian package) from a benchmark and reading its figures.

use std::process::Command;

/// What one `wrk` run measured.
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    /// Requests that got no answer within wrk's timeout (2 s): left out of its latencies, so
    /// reported beside them.
    pub timeouts: u64,
}

/// `wrk` on `url` with `BENCH_CONNECTIONS` (64) connections for `BENCH_SECONDS` (10).
pub fn run(url: &str, extra: &[&str]) -> WrkResult {
    let connections = std::env::var("BENCH_CONNECTIONS").unwrap_or_else(|_| "64".into());
    run_with(url, &connections, extra)
}

/// `wrk` on `url` with `connections` connections for `BENCH_SECONDS` (10), its latency
/// percentiles read from `--latency`.
pub fn run_with(url: &str, connections: &str, extra: &[&str]) -> WrkResult {
    run_script(url, connections, extra, &[])
}

/// [`run_with`], passing `script_args` to the Lua script (`-s`) after the URL.
pub fn run_script(url: &str, connections: &str, extra: &[&str], script_args: &[&str]) -> WrkResult {
    let seconds = std::env::var("BENCH_SECONDS").unwrap_or_else(|_| "10".into());
    let output = Command::new("wrk")
        .args([
            "-t2",
            "-c",
            connections,
            "-d",
            &format!("{seconds}s"),
            "--latency",
        ])
        .args(extra)
        .arg(url)
        .arg("--")
        .args(script_args)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    let ms = |v: Option<String>| -> f64 {
        let v = v.unwrap_or_default();
        if let Some(us) = v.strip_suffix("us") {
            us.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
        } else if let Some(ms) = v.strip_suffix("ms") {
            ms.parse().unwrap_or(f64::NAN)
        } else if let Some(s) = v.strip_suffix('s') {
            s.parse::<f64>().unwrap_or(f64::NAN) * 1000.0
        } else {
            f64::NAN
        }
    };
    let non_2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let timeouts = text
        .lines()
        .find(|l| l.contains("Socket errors"))
        .and_then(|l| l.split("timeout").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    WrkResult {
        timeouts,
        requests_per_sec: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_ms: ms(field("50%")),
        p99_ms: ms(field("99%")),
        non_2xx,
    }
}

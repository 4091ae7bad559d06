//! Log set-up shared by every binary: `tracing` events as text or JSON lines on stderr, filtered
//! by `RUST_LOG` (default: our crates at `info`, chatty dependencies at `warn`). librdkafka's own
//! log lines arrive through the `log` bridge and are filtered the same way.

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The logging flags every binary flattens into its command line.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, env = "STREAMHUB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str =
    "info,sqlx=warn,hyper=warn,tower_http=warn,librdkafka=warn,rdkafka=warn";

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(use_color())
        .with_target(true);
    // `try_init` so that a second call (tests) is harmless.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Colors only on a terminal, and never when `NO_COLOR` is set (<https://no-color.org>).
fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

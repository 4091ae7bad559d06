//! The relay's own settings: the flags and env vars that bound its sockets, replays and feeds.
//! The server flattens them into its command line; nothing else declares them.

use super::{RelayLimits, DEFAULT_BATCH_WINDOW_MS, DEFAULT_FETCH_WAIT_MS, DEFAULT_MAX_SOCKETS};
use clap::Args;

/// The relay's flags (`STREAMHUB_WS_*`, `STREAMHUB_MAX_REPLAY`, `STREAMHUB_RELAY_*`,
/// `STREAMHUB_ALLOWED_ORIGINS`).
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// Most open stream sockets in total. Unset: 20,000, or what the open files limit allows
    /// (nine tenths of the connections served at once) if that is less. Set: this many, and a
    /// warning at start if the open files limit lowers it.
    #[arg(long, env = "STREAMHUB_WS_MAX_CONNECTIONS")]
    pub ws_max_connections: Option<usize>,

    /// Most open stream sockets per client address.
    #[arg(long, env = "STREAMHUB_WS_MAX_PER_ADDR", default_value_t = 500)]
    pub ws_max_per_addr: usize,

    /// Most records replayed per partition for `earliest`, `last` and `offsets` starts.
    #[arg(long, env = "STREAMHUB_MAX_REPLAY", default_value_t = 10_000)]
    pub max_replay: i64,

    /// Replays (`earliest`, `last`, `offsets`, `timestamp` starts) running at once across all
    /// sockets; more wait their turn (each is a broker reader on a blocking thread).
    #[arg(long, env = "STREAMHUB_MAX_CONCURRENT_REPLAYS", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_concurrent_replays: u16,

    /// Replays one client (a signed-in person, else an address) runs at once; more wait their
    /// turn. Unset: a quarter of `STREAMHUB_MAX_CONCURRENT_REPLAYS` (at least one), so that one
    /// address cannot hold every turn. Raise it where many readers share one address (a NAT, a
    /// load test).
    #[arg(long, env = "STREAMHUB_MAX_REPLAYS_PER_CLIENT",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_replays_per_client: Option<u16>,

    /// Searches of topic histories running at once across all sockets (each a broker reader on
    /// a thread of its own); more are refused.
    #[arg(long, env = "STREAMHUB_MAX_CONCURRENT_SEARCHES", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_concurrent_searches: u16,

    /// Searches one client (its address; its user where the address is unknown) may run at
    /// once. Keyed by address because in `open` mode a client names any user it likes.
    #[arg(long, env = "STREAMHUB_MAX_SEARCHES_PER_USER", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_searches_per_user: u16,

    /// How long the broker may hold a relay fetch that found no data, in milliseconds: lower is
    /// lower latency on tansu (which holds empty fetches for the whole wait) but more broker
    /// load per streamed topic; real Kafka answers as soon as data arrives, so 500 suits it.
    #[arg(long, env = "STREAMHUB_RELAY_FETCH_WAIT_MS", default_value_t = DEFAULT_FETCH_WAIT_MS,
          value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub relay_fetch_wait_ms: u32,

    /// How long a topic's feed gathers the records it reads after one before sending them to
    /// the sockets together, in milliseconds: each socket then takes them in one write, which
    /// is most of what a delivery costs. 0 sends what has arrived at once, one record per write
    /// at modest rates.
    #[arg(long, env = "STREAMHUB_RELAY_BATCH_WINDOW_MS", default_value_t = DEFAULT_BATCH_WINDOW_MS,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub relay_batch_window_ms: u32,

    /// Origins (`https://host:port`) besides the server's own whose pages may open streams.
    #[arg(long, env = "STREAMHUB_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
}

impl RelayArgs {
    /// The relay's bounds from these settings (the rest at their defaults).
    pub fn limits(&self) -> RelayLimits {
        RelayLimits {
            max_connections: self.ws_max_connections.unwrap_or(DEFAULT_MAX_SOCKETS),
            max_per_addr: self.ws_max_per_addr,
            max_replay: self.max_replay,
            allowed_origins: self.allowed_origins.clone(),
            fetch_wait_ms: self.relay_fetch_wait_ms,
            batch_window: std::time::Duration::from_millis(self.relay_batch_window_ms.into()),
            max_concurrent_replays: self.max_concurrent_replays.into(),
            max_replays_per_client: self.max_replays_per_client.map_or_else(
                || super::turns::replays_per_client(self.max_concurrent_replays.into()),
                usize::from,
            ),
            max_concurrent_searches: self.max_concurrent_searches.into(),
            max_searches_per_user: self.max_searches_per_user.into(),
            ..RelayLimits::default()
        }
    }
}

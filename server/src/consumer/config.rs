//! Command line of `streamhub-consumer`: the interactive menu when no subcommand is given, and
//! script subcommands that stand in for `kcat -C` in pipelines.

use crate::{api_client::ApiArgs, kafka::KafkaArgs};
use app::stream::StartPosition;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// The whole command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "streamhub-consumer",
    version,
    about = "StreamHub consumer: browse topics, manage your subscriptions, and read records live",
    after_help = "Examples:\n  streamhub-consumer --user user_1                    # the interactive menu\n  streamhub-consumer topics\n  streamhub-consumer --user user_1 subscribe sensor_data\n  streamhub-consumer consume -t sensor_data -o beginning -c 100 -e > records.ndjson\n  streamhub-consumer --user user_1 --via-relay consume -t payments -f pretty\n\nExit codes: 0 done, 1 usage, 2 server or broker unreachable, 3 topic not active or not\nsubscribed, 4 no such topic."
)]
pub struct ConsumerCli {
    #[command(flatten)]
    pub api: ApiArgs,

    /// The Kafka cluster (direct reads; not needed with --via-relay).
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Records with schemas (direct reads; through the relay, the server decodes them).
    #[command(flatten)]
    pub schemas: crate::schema::SchemaArgs,

    /// Who you are (the contract's `user_id`); asked once by the menu when unset.
    #[arg(long, short = 'u', env = "STREAMHUB_USER", global = true)]
    pub user: Option<String>,

    /// Read through the server's WebSocket relay instead of from Kafka (for hosts that can
    /// reach the dashboard but not the broker).
    #[arg(long, env = "STREAMHUB_VIA_RELAY", global = true)]
    pub via_relay: bool,

    /// A personal access token (`oidc` mode), sent as `Authorization: Bearer`; overrides the
    /// one `login` saved.
    #[arg(long, env = "STREAMHUB_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl ConsumerCli {
    /// Parses the process's arguments. The flattened settings (API, Kafka) are made
    /// global, so they may follow the subcommand as the CLI's own flags do
    /// (`consume -t a --kafka-bootstrap-servers …`); derive cannot mark a flattened group so.
    pub fn parse_args() -> Self {
        Self::parse_with_globals(std::env::args_os())
    }

    /// [`Self::parse_args`] over given arguments (tests).
    pub fn parse_with_globals<I, T>(args: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command()
            .mut_args(|arg| {
                if arg.is_positional() {
                    arg
                } else {
                    arg.global(true)
                }
            })
            .get_matches_from(args);
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Script mode.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// List topics (all, or `--active`), marking yours.
    Topics {
        #[arg(long)]
        active: bool,
    },
    /// Subscribe `--user` to a topic.
    Subscribe { topic: String },
    /// Unsubscribe `--user` from a topic.
    Unsubscribe { topic: String },
    /// List `--user`'s subscriptions (everyone's without `--user`).
    Subscriptions,
    /// Print the server's statistics.
    Stats,
    /// Keep a personal access token for the next commands, checked with the server and saved
    /// in your config directory (mode 0600): `--with-token` (made on the dashboard's Tokens
    /// page), else, from a terminal or with `--device`, through the identity provider's device
    /// flow when the server offers it (confirm a code in any browser), else read from stdin.
    Login {
        #[arg(long = "with-token")]
        with_token: Option<String>,
        /// Use the device flow even when stdin is not a terminal (by default it is used only
        /// from a terminal, so that `login < token-file` keeps reading the token).
        #[arg(long, conflicts_with = "with_token")]
        device: bool,
    },
    /// How far `--user`'s consumer group is behind in each subscribed topic, per partition
    /// (`--watch`: again every 2 s until Ctrl-C).
    Lag {
        #[arg(long)]
        watch: bool,
    },
    /// Print records as they arrive (NDJSON on stdout, diagnostics on stderr).
    Consume(ConsumeArgs),
    /// Search a topic's history on the server (through the relay): matches as NDJSON on stdout,
    /// progress on stderr; Ctrl-C cancels it.
    Search(SearchArgs),
    /// Send test records, one per line of stdin (a JSON value, after `KEY<delimiter>` with
    /// -K), through the server (audited); needs the admin token. Prints where each landed.
    Produce(ProduceArgs),
}

/// `search`: which part of the topic, which records.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// The topic to search.
    #[arg(long, short = 't')]
    pub topic: String,

    /// Only records this filter expression matches (the language of `consume --filter`).
    #[arg(long, short = 'F')]
    pub filter: Option<String>,

    /// Only this partition.
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,

    /// Only offsets at or after this one.
    #[arg(long)]
    pub from_offset: Option<i64>,

    /// Only offsets before this one.
    #[arg(long)]
    pub to_offset: Option<i64>,

    /// Only records stamped at or after this time (RFC 3339, e.g. 2026-11-30T09:00:00Z, or ms
    /// since the epoch).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,

    /// Only records stamped before this time (same forms as --since).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,

    /// Stop after this many matches (at most 10,000).
    #[arg(long, short = 'c', default_value_t = 1_000)]
    pub max: u64,

    /// Output: `json` (one record object per line), `pretty`, or `value` (the payload only).
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// A time as `--since`/`--until` take it: RFC 3339, or milliseconds since the epoch.
pub fn parse_time(raw: &str) -> Result<i64, String> {
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{raw}: not RFC 3339 (2026-11-30T09:00:00Z) nor milliseconds: {e}"))
}

/// `produce`: kcat's `-P` spellings (`-t`, `-K`, `-H`).
#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    /// The topic to send to (an active one).
    #[arg(long, short = 't')]
    pub topic: String,

    /// Each line is `KEY<this>VALUE` (as kcat's -K); without it, lines are values only.
    #[arg(long, short = 'K')]
    pub key_delimiter: Option<String>,

    /// A header on every record, `name=value` (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,

    /// To a topic whose schema is Protobuf: the message each value is written as (full name,
    /// or the name alone); without it, the one its schema file names, else the schema's first.
    #[arg(long)]
    pub message: Option<String>,

    /// The server's admin token, from `ADMIN_TOKEN` only: a flag would show it to everyone on
    /// the machine (`ps`).
    #[arg(skip = crate::secrets::from_env("ADMIN_TOKEN"))]
    pub admin_token: Option<String>,
}

/// `consume`: kcat's `-C` spellings work too (`-o beginning|end|-N`, `-c`, `-e`).
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// Topic(s) to read (repeatable).
    #[arg(long, short = 't', required = true)]
    pub topic: Vec<String>,

    /// Stop after this many records.
    #[arg(long, short = 'c')]
    pub count: Option<u64>,

    /// Where to start: `earliest`/`beginning`, `latest`/`end` (for a consumer group without
    /// committed offsets; a group resumes where it stopped), `stored` (where your group stands,
    /// as the viewer saved it or a direct read left it; latest where it has none), an offset `N`
    /// on every partition, or `-N` for the last N records of each partition.
    #[arg(
        long,
        short = 'o',
        visible_alias = "offset",
        default_value = "latest",
        allow_hyphen_values = true
    )]
    pub from: String,

    /// Exit once every partition has been read to its end.
    #[arg(long, short = 'e')]
    pub exit_at_end: bool,

    /// Output: `json` (one record object per line), `pretty`, or `value` (the payload only).
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Consumer group for direct reads (default `streamhub-<user>`, or `streamhub-cli`).
    #[arg(long, short = 'G')]
    pub group: Option<String>,

    /// Only records this CEL expression matches, over `key`, `value`, `headers`, `partition`,
    /// `offset` and `timestamp` (e.g. `value.amount > 500.0 && headers.event_type == "payment"`):
    /// evaluated here for direct reads, by the relay with --via-relay, with the same results.
    #[arg(long, short = 'F')]
    pub filter: Option<String>,
}

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Pretty,
    Value,
}

/// Where reading `partitions` partitions starts, as `--from` / `-o` spells it (kcat's words):
/// the protocol's own [`StartPosition`], so direct and relay reads start alike. An offset `N`
/// applies to every partition, hence the count.
pub fn start_position(raw: &str, partitions: i32) -> Result<StartPosition, String> {
    match raw {
        "earliest" | "beginning" => Ok(StartPosition::Earliest),
        "latest" | "end" => Ok(StartPosition::Latest),
        "stored" => Ok(StartPosition::Stored),
        _ => match raw.parse::<i64>() {
            Ok(n) if n < 0 => Ok(StartPosition::Last {
                n: n.unsigned_abs(),
            }),
            Ok(n) => Ok(StartPosition::Offsets {
                offsets: (0..partitions).map(|p| (p, n)).collect(),
            }),
            Err(_) => Err(format!(
                "--from takes earliest, latest, stored, an offset or -N, not {raw:?}"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_settings_may_follow_the_subcommand() {
        let cli = ConsumerCli::parse_with_globals([
            "streamhub-consumer",
            "consume",
            "-t",
            "a",
            "--kafka-bootstrap-servers",
            "broker:19092",
            "--api-url",
            "http://dashboard:3000",
        ]);
        assert_eq!(cli.kafka.bootstrap_servers, "broker:19092");
        assert_eq!(cli.api.api_url, "http://dashboard:3000");
    }

    #[test]
    fn kcat_spellings_parse() {
        assert_eq!(start_position("beginning", 2), Ok(StartPosition::Earliest));
        assert_eq!(start_position("end", 2), Ok(StartPosition::Latest));
        assert_eq!(start_position("-10", 2), Ok(StartPosition::Last { n: 10 }));
        assert_eq!(
            start_position("42", 2),
            Ok(StartPosition::Offsets {
                offsets: [(0, 42), (1, 42)].into()
            })
        );
        assert!(start_position("yesterday", 2).is_err());
        let cli = ConsumerCli::parse_with_globals([
            "streamhub-consumer",
            "consume",
            "-t",
            "a",
            "-o",
            "-5",
            "-c",
            "3",
            "-e",
            "-f",
            "value",
        ]);
        let Some(Command::Consume(args)) = cli.command else {
            panic!()
        };
        assert_eq!(
            (
                args.from.as_str(),
                args.count,
                args.exit_at_end,
                args.format
            ),
            ("-5", Some(3), true, Format::Value)
        );
    }
}

//! Command line of `streamhub-consumer`: the interactive menu when no subcommand is given, and
//! script subcommands that stand in for `kcat -C` in pipelines.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The whole command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "streamhub-consumer",
    version,
    about = "StreamHub consumer: browse topics, manage your subscriptions, and read records live",
    after_help = "Examples:\n  streamhub-consumer --user user_1                    # the interactive menu\n  streamhub-consumer topics\n  streamhub-consumer --user user_1 subscribe sensor_data\n  streamhub-consumer consume -t sensor_data -o beginning -c 100 -e > records.ndjson\n  streamhub-consumer --user user_1 --via-relay consume -t payments -f pretty\n\nExit codes: 0 done, 1 usage, 2 server or broker unreachable, 3 topic not active or not\nsubscribed, 4 no such topic."
)]
pub struct ConsumerCli {
    /// The StreamHub server.
    #[arg(
        long,
        env = "STREAMHUB_API_URL",
        default_value = "http://127.0.0.1:3000",
        global = true
    )]
    pub api_url: String,

    /// The Kafka cluster (direct reads; not needed with --via-relay).
    #[arg(
        long = "kafka-bootstrap-servers",
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub bootstrap_servers: String,

    /// Extra librdkafka settings, `key=value,...`.
    #[arg(
        long = "kafka-option",
        env = "KAFKA_OPTIONS",
        value_delimiter = ',',
        hide_env_values = true,
        global = true
    )]
    pub kafka_options: Vec<String>,

    /// Who you are (the original's user_id); asked once by the menu when unset.
    #[arg(long, short = 'u', env = "STREAMHUB_USER", global = true)]
    pub user: Option<String>,

    /// Read through the server's WebSocket relay instead of from Kafka (for hosts that can
    /// reach the dashboard but not the broker).
    #[arg(long, env = "STREAMHUB_VIA_RELAY", global = true)]
    pub via_relay: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
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
    /// Print records as they arrive (NDJSON on stdout, diagnostics on stderr).
    Consume(ConsumeArgs),
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
    /// committed offsets; a group resumes where it stopped), an offset `N` on every partition,
    /// or `-N` for the last N records of each partition.
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
}

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Pretty,
    Value,
}

/// A parsed `--from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Earliest,
    Latest,
    /// This offset on every partition.
    Offset(i64),
    /// The last N of each partition.
    Last(u64),
}

impl StartAt {
    /// Reads `--from` / `-o`.
    pub fn parse(raw: &str) -> Result<StartAt, String> {
        match raw {
            "earliest" | "beginning" => Ok(StartAt::Earliest),
            "latest" | "end" => Ok(StartAt::Latest),
            _ => match raw.parse::<i64>() {
                Ok(n) if n < 0 => Ok(StartAt::Last(n.unsigned_abs())),
                Ok(n) => Ok(StartAt::Offset(n)),
                Err(_) => Err(format!(
                    "--from takes earliest, latest, an offset or -N, not {raw:?}"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kcat_spellings_parse() {
        assert_eq!(StartAt::parse("beginning"), Ok(StartAt::Earliest));
        assert_eq!(StartAt::parse("end"), Ok(StartAt::Latest));
        assert_eq!(StartAt::parse("-10"), Ok(StartAt::Last(10)));
        assert_eq!(StartAt::parse("42"), Ok(StartAt::Offset(42)));
        assert!(StartAt::parse("yesterday").is_err());
        let cli = ConsumerCli::parse_from([
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

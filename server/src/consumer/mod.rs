//! The CLI consumer (`streamhub-consumer`): an interactive menu for people ([`menu`]) and
//! script subcommands for pipelines ([`script`]), reading from Kafka or through the relay
//! ([`reader`]) and printing records ([`output`]).
//!
//! Errors name the address that failed and the setting that changes it; each maps to an exit
//! code (`ConsumerError::exit_code`).

pub mod config;
mod login;
mod menu;
mod output;
pub mod reader;
mod script;
mod search;

use crate::api_client::{ApiClient, ApiClientError};
use config::ConsumerCli;

/// Why a consumer command failed, in terms a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("{0}")]
    Api(#[from] ApiClientError),
    #[error("cannot read from Kafka at {bootstrap}: {message} (set KAFKA_BOOTSTRAP_SERVERS, or use --via-relay)")]
    Kafka { bootstrap: String, message: String },
    #[error("cannot connect to the relay at {url}: {message} (set STREAMHUB_API_URL)")]
    Unreachable { url: String, message: String },
    #[error("the relay stream failed: {0}")]
    Relay(String),
    #[error("{0}")]
    NotStreamable(String),
    #[error("{0}")]
    NoSuchTopic(String),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl ConsumerError {
    /// 1 usage, 2 unreachable, 3 not active / not subscribed, 4 no such topic.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConsumerError::Usage(_) => 1,
            ConsumerError::NotStreamable(_) => 3,
            ConsumerError::NoSuchTopic(_) => 4,
            ConsumerError::Api(e) => match e.status().map(|s| s.as_u16()) {
                Some(404) => 4,
                Some(409) => 3,
                Some(400..=499) => 1,
                _ => 2,
            },
            ConsumerError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            _ => 2,
        }
    }
}

/// The personal access token the CLI proves itself with: `--token` / `STREAMHUB_TOKEN`, else
/// the one `login` kept.
fn bearer(cli: &ConsumerCli) -> Option<String> {
    cli.token.clone().or_else(login::saved_token)
}

/// Runs the command line: a subcommand, or the menu.
pub async fn run(cli: ConsumerCli) -> Result<(), ConsumerError> {
    let api = ApiClient::new(&cli.api.api_url).with_bearer(bearer(&cli));
    match cli.command.clone() {
        Some(command) => script::run(&cli, &api, command).await,
        None => menu::run(&cli, &api).await,
    }
}

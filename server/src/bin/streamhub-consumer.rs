//! `streamhub-consumer`: the CLI consumer. Parses its command line and hands over to
//! [`streamhub::consumer::run`]; errors become one line on stderr and an exit code.

use clap::Parser;
use streamhub::consumer::{self, config::ConsumerCli};

#[tokio::main]
async fn main() {
    let cli = ConsumerCli::parse();
    if let Err(e) = consumer::run(cli).await {
        let code = e.exit_code();
        if code != 0 {
            eprintln!("error: {e}");
        }
        std::process::exit(code);
    }
}

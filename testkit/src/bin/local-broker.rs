//! `local-broker`: the scripts' one way to run the single-machine `tansu` broker (`make run`, the
//! end-to-end, fault, hostile-input and soak suites). It prepares the storage as the tests' own
//! brokers are prepared ([`streamhub_testkit::broker::prepare_storage`]), then becomes tansu
//! (`exec`), so signals and the process id are tansu's own.
//!
//! ```text
//! local-broker prepare DIR
//! local-broker run DIR --listen 127.0.0.1:9092 [--advertise HOST:PORT] [--cluster-id streamhub]
//! ```

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use streamhub_testkit::broker::{prepare_storage, tansu_command};

/// Prepares and starts a tansu broker with durable SQLite storage.
#[derive(Parser)]
#[command(name = "local-broker", about = "Prepare and run a local tansu broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create DIR's tansu store if needed and add the header index tansu 0.6 lacks.
    Prepare { dir: PathBuf },
    /// Prepare DIR, then run tansu on it in this process.
    Run {
        dir: PathBuf,
        /// `host:port` to listen on.
        #[arg(long, default_value = "127.0.0.1:9092")]
        listen: String,
        /// `host:port` clients are told to connect to (default: `--listen`).
        #[arg(long)]
        advertise: Option<String>,
        /// The cluster id tansu reports.
        #[arg(long, default_value = "streamhub")]
        cluster_id: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Prepare { dir } => prepare(&dir).await,
        Command::Run {
            dir,
            listen,
            advertise,
            cluster_id,
        } => {
            prepare(&dir).await?;
            let advertised = advertise.unwrap_or_else(|| listen.clone());
            let mut tansu = tansu_command(&dir, &listen, &advertised, &cluster_id);
            use std::os::unix::process::CommandExt;
            let error = tansu.exec();
            Err(error).context("cannot run tansu (install it with `make deps`)")
        }
    }
}

async fn prepare(dir: &std::path::Path) -> anyhow::Result<()> {
    prepare_storage(dir)
        .await
        .with_context(|| format!("preparing the broker's storage in {}", dir.display()))
}

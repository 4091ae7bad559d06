//! `local-postgres`: the scripts' one way to run a PostgreSQL server for StreamHub (`make
//! cluster`, the multi-host test): Debian's binaries on a cluster in DIR, made with an empty
//! database on first use, then the server in place of this process (`exec`), so signals and
//! the process id are PostgreSQL's own. As root it runs as the `postgres` user.
//!
//! ```text
//! local-postgres run DIR [--listen 127.0.0.1] [--port 5432] [--database streamhub] [--allow NET,…]
//! ```
//!
//! Its clients connect as `postgres` without a password, from loopback and the `--allow`
//! networks (a development and test set-up; production databases are the operator's own).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Makes (if needed) and runs a local PostgreSQL cluster.
#[derive(Parser)]
#[command(
    name = "local-postgres",
    about = "Make and run a local PostgreSQL cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make DIR's cluster and database if needed, then run the server on it in this process.
    Run {
        dir: PathBuf,
        /// Addresses to listen on (comma-separated).
        #[arg(long, default_value = "127.0.0.1")]
        listen: String,
        #[arg(long, default_value_t = 5432)]
        port: u16,
        /// The database made with a new cluster.
        #[arg(long, default_value = "streamhub")]
        database: String,
        /// Networks (CIDR) whose clients are trusted beside loopback (comma-separated).
        #[arg(long, value_delimiter = ',')]
        allow: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run {
            dir,
            listen,
            port,
            database,
            allow,
        } => {
            // Cluster files are addressed relative to nothing: give PostgreSQL a whole path.
            let dir = std::path::absolute(&dir)?;
            let error =
                streamhub_testkit::postgres::exec_server(&dir, &listen, port, &database, &allow);
            Err(anyhow::anyhow!(
                "cannot run PostgreSQL on {} (install it with `make deps`): {error}",
                dir.display()
            ))
        }
    }
}

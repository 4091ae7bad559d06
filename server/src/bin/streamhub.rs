//! `streamhub`: the server. Parses its settings and hands over to [`streamhub::server::run`].

use anyhow::Context;
use clap::Parser;
use streamhub::{config::ServerConfig, server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ServerConfig::parse();
    // Everything the server writes (secrets, the database and its journal) is its own alone.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    telemetry::init(config.log.log_format);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another StreamHub running? set STREAMHUB_ADDR)",
                config.addr
            )
        })?;
    server::run(listener, config, streamhub::shutdown_signal()).await?;
    Ok(())
}

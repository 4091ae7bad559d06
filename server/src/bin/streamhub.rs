//! `streamhub`: the server. Parses its settings and hands over to [`streamhub::server::run`].

use anyhow::Context;
use clap::Parser;
use streamhub::{config::ServerConfig, server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ServerConfig::parse();
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

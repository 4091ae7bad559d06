//! `streamhub-producer`: the producer daemon. Parses its settings and hands over to
//! [`streamhub::producer::run`].

use clap::Parser;
use streamhub::{producer, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = producer::ProducerConfig::parse();
    telemetry::init(config.log.log_format);
    let summary = producer::run(config, streamhub::shutdown_signal()).await?;
    if summary.unflushed > 0 {
        std::process::exit(2);
    }
    Ok(())
}

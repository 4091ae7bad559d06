//! `local-schema-registry`: the stand-in schema registry of [`streamhub_testkit::schema_registry`]
//! as a process, for scripts (the wire-format proof with the registry's own Python client, the
//! end-to-end suite). Prints its URL on the first line of standard output, then serves until
//! it is stopped.
//!
//! ```text
//! local-schema-registry [--port 0] [--user U --password P]
//! ```

use clap::Parser;
use std::io::Write;

#[derive(Parser)]
#[command(
    name = "local-schema-registry",
    about = "Serve a stand-in schema registry on loopback"
)]
struct Cli {
    /// The port (0: any free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Ask clients for basic authentication as this user.
    #[arg(long, requires = "password")]
    user: Option<String>,
    #[arg(long, requires = "user")]
    password: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let basic = cli.user.as_deref().zip(cli.password.as_deref());
    let registry = streamhub_testkit::schema_registry::StandIn::start_on(
        format!("127.0.0.1:{}", cli.port).parse()?,
        basic,
    )
    .await?;
    println!("{}", registry.url());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    Ok(())
}

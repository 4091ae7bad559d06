//! The configuration reference, `docs/configuration.md`, names every environment variable that
//! a binary's command line reads: a `clap` argument given an `env` without a line there fails
//! here, with the names it lacks.

use clap::{Command, CommandFactory};
use std::collections::BTreeSet;
use streamhub::{
    config::ServerConfig, consumer::config::ConsumerCli, producer::config::ProducerConfig,
};

/// The page, read at build time so that an edit to it rebuilds this test.
const CONFIGURATION: &str = include_str!("../../../docs/configuration.md");

/// Every environment variable `command` reads: its own arguments' and, recursively, its
/// subcommands'.
fn env_vars(command: &Command) -> BTreeSet<String> {
    let own = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned());
    let nested = command.get_subcommands().flat_map(env_vars);
    own.chain(nested).collect()
}

#[test]
fn the_configuration_page_names_every_env_var_of_every_binary() {
    let binaries = [
        ("streamhub", ServerConfig::command()),
        ("streamhub-producer", ProducerConfig::command()),
        ("streamhub-consumer", ConsumerCli::command()),
    ];
    let mut missing = Vec::new();
    for (binary, command) in &binaries {
        let vars = env_vars(command);
        // A walk that finds nothing would pass vacuously: each binary reads the Kafka settings.
        assert!(
            vars.contains("KAFKA_BOOTSTRAP_SERVERS"),
            "{binary}: found no Kafka settings among its env vars {vars:?}"
        );
        // Quoted as code, so that `PRODUCER_RATES` does not stand in for `PRODUCER_RATE`.
        missing.extend(
            vars.iter()
                .filter(|name| !CONFIGURATION.contains(&format!("`{name}`")))
                .map(|name| format!("{binary}: {name}")),
        );
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not name these env vars (add a row for each):\n  {}",
        missing.join("\n  ")
    );
}

//! Scaffolding for StreamHub's tests, benchmarks, examples and scripts — never shipped, never a
//! dependency of the `streamhub` library or its binaries:
//!
//! | module | owns |
//! | --- | --- |
//! | [`broker`] | a local `tansu` broker with prepared storage (tests start throw-away ones; the `local-broker` binary starts the scripts' and `make run`'s) |
//! | [`baseline`] | the bare rdkafka consumer the relay's latency is measured against |
//! | [`relay_frames`] | counting the relay's records and skips without decoding them (tests, benchmarks) |
//! | [`postgres`] | a local PostgreSQL server (the integration suite's second store, `make cluster`'s database) |
//! | [`config`] | server and producer settings for tests: everything at its default but directories, cluster and quick intervals |

pub mod baseline;
pub mod broker;
pub mod config;
pub mod postgres;
pub mod relay_frames;

pub use broker::LocalBroker;
pub use postgres::LocalPostgres;

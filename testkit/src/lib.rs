//! Scaffolding for StreamHub's tests, benchmarks, examples and scripts — never shipped, never a
//! dependency of the `streamhub` library or its binaries:
//!
//! | module | owns |
//! | --- | --- |
//! | [`broker`] | a local `tansu` broker with prepared storage (tests start throw-away ones; the `local-broker` binary starts the scripts' and `make run`'s) |
//! | [`baseline`] | the bare rdkafka consumer the relay's latency is measured against |
//! | [`bare_fanout`] | the floor a delivery's cost is measured against: one consumer, each batch framed once, one task writing it to every socket (the delivery benchmark runs it in a process of its own) |
//! | [`relay_frames`] | counting the relay's records and skips without decoding them (tests, benchmarks) |
//! | [`postgres`] | a local PostgreSQL server (the integration suite's second store, `make cluster`'s database) |
//! | [`config`] | server and producer settings for tests: everything at its default but directories, cluster and quick intervals |
//! | [`server_process`] | the `streamhub` binary (or HAProxy before it) as a process of its own, for benchmarks |
//! | [`relay_load`] | load on the relay: active topics, producers, light WebSocket clients, a paced fan-out (benchmarks, the soak) |
//! | [`schema_registry`] | a stand-in schema registry (Confluent's API subset; stopped and started again at will), in-process or as the `local-schema-registry` binary |
//! | [`seed`] | the API benchmarks' database: 1,000 topics, 100,000 subscriptions |
//! | [`wrk`] | driving `wrk` and reading its figures |
//! | [`measure`] | the clock, a process's memory, CPU and descriptors, percentiles; sizes from the environment |

pub mod bare_fanout;
pub mod baseline;
pub mod broker;
pub mod config;
pub mod measure;
pub mod postgres;
pub mod relay_frames;
pub mod relay_load;
pub mod schema_registry;
pub mod seed;
pub mod server_process;
pub mod wrk;

pub use broker::LocalBroker;
pub use postgres::LocalPostgres;

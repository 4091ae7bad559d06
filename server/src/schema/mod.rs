//! Records with schemas: payloads in the schema registry's wire format (Avro, Protobuf, JSON
//! Schema) or, without a registry, unframed payloads of topics that have a schema file, read
//! into JSON once so that everything downstream (streams, replays, searches, filter
//! expressions, masks, exports, the CLI) sees JSON. Writing goes the other way: JSON encoded
//! with a topic's latest schema.
//!
//! | module | owns |
//! | --- | --- |
//! | this file | [`Schemas`]: settings, which schema a payload names or its topic has, decoding it, the latest schema to write with, counters |
//! | [`lookup`] | the registry's schemas known by id, and looking up the others within bounds |
//! | [`known`] | a compiled schema: decoding and encoding with it |
//! | [`register`] | registering schemas (a topic request's, the producer's) |
//! | [`wire`] | the wire format's framing |
//! | [`registry`] | the registry's REST API |
//! | [`avro`], [`protobuf`] | compiling schemas, decoding and encoding records |
//! | [`files`] | the schema directory (schema files mapped to topics) |
//!
//! A record that does not decode is never lost: it keeps its text or base64, with the reason.
//! A producer writing made-up ids costs the registry little and the relay nothing but
//! undecoded records (see [`lookup`]).

pub mod avro;
pub mod files;
pub mod json_schema;
mod known;
mod lookup;
pub mod protobuf;
mod register;
pub mod registry;
pub mod wire;

pub use known::{Compiled, KnownSchema, SeenOn};
pub use register::{check, check_requested, register, RegisterError, RequestedSchemaError};

use app::stream::RecordSchema;
use registry::{Registry, RegistryAuth, RegistryError};
use serde_json::Value as Json;
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// Bytes one schema's text may have.
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// How long a subject's latest version is taken as latest, for writing.
const LATEST_FOR: Duration = Duration::from_secs(5);

/// The schema settings (`STREAMHUB_SCHEMA_*`), shared by the server and the CLI.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SchemaArgs {
    /// The schema registry (Confluent's API: Confluent, Redpanda, Karapace, Apicurio), e.g.
    /// `http://registry:8081`. Records in its wire format are then decoded into JSON. Unset:
    /// only the schema directory's files decode.
    #[arg(long = "schema-registry", env = "STREAMHUB_SCHEMA_REGISTRY_URL")]
    pub registry_url: Option<String>,

    /// User name for the registry's basic authentication.
    #[arg(long = "schema-registry-user", env = "STREAMHUB_SCHEMA_REGISTRY_USER")]
    pub registry_user: Option<String>,

    /// Password for the registry's basic authentication, from the environment only (a flag
    /// would show it in `ps`).
    #[arg(skip = crate::secrets::from_env("STREAMHUB_SCHEMA_REGISTRY_PASSWORD"))]
    pub registry_password: Option<String>,

    /// Bearer token for the registry, from the environment only.
    #[arg(skip = crate::secrets::from_env("STREAMHUB_SCHEMA_REGISTRY_TOKEN"))]
    pub registry_token: Option<String>,

    /// PEM file of certificate authorities to trust for an `https://` registry, besides the
    /// system's.
    #[arg(long = "schema-registry-ca", env = "STREAMHUB_SCHEMA_REGISTRY_CA")]
    pub registry_ca: Option<PathBuf>,

    /// How long one registry call may take, in milliseconds.
    #[arg(long = "schema-registry-timeout-ms", env = "STREAMHUB_SCHEMA_REGISTRY_TIMEOUT_MS",
          default_value_t = 2000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub registry_timeout_ms: u64,

    /// Compiled schemas kept by id.
    #[arg(long = "schema-cache-size", env = "STREAMHUB_SCHEMA_CACHE_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub cache_size: u64,

    /// A directory of schema files for topics whose records are not in the registry's wire
    /// format: `<topic>.avsc` (Avro), `<topic>.proto` (Protobuf: the first message, or the one
    /// a `// streamhub:message <name>` line names), `<topic>.schema.json` (JSON Schema). Read at
    /// start.
    #[arg(long = "schema-dir", env = "STREAMHUB_SCHEMA_DIR")]
    pub dir: Option<PathBuf>,
}

/// A schema setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaSetupError {
    #[error("schema registry: {0}")]
    Registry(#[from] RegistryError),
    #[error("schema registry CA file {path}: {source}")]
    Ca {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("schema directory: {0}")]
    Files(String),
}

/// A schema's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Avro,
    Protobuf,
    JsonSchema,
}

impl Format {
    /// The word records and counters use.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Avro => "avro",
            Format::Protobuf => "protobuf",
            Format::JsonSchema => "json_schema",
        }
    }

    /// A format by the word records use (`avro`, `protobuf`, `json_schema`).
    pub fn parse(word: &str) -> Option<Self> {
        [Format::Avro, Format::Protobuf, Format::JsonSchema]
            .into_iter()
            .find(|f| f.as_str() == word)
    }

    /// The registry's `schemaType` (absent means Avro).
    pub fn from_registry(schema_type: Option<&str>) -> Option<Self> {
        match schema_type.unwrap_or("AVRO") {
            "AVRO" => Some(Format::Avro),
            "PROTOBUF" => Some(Format::Protobuf),
            "JSON" => Some(Format::JsonSchema),
            _ => None,
        }
    }

    /// The registry's `schemaType` for this format.
    pub fn registry_type(self) -> &'static str {
        match self {
            Format::Avro => "AVRO",
            Format::Protobuf => "PROTOBUF",
            Format::JsonSchema => "JSON",
        }
    }
}

/// Which part of a record a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Key,
    Value,
}

/// What became of a payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// No schema applies: it is read as JSON, text or bytes as before.
    Plain,
    /// Decoded with a schema.
    Value { json: Json, schema: RecordSchema },
    /// It names or has a schema but did not decode, for this reason.
    Failed { reason: String },
}

/// Why a payload did not decode, as counted in `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    NotFound,
    Unreachable,
    Unusable,
    NoMatch,
    NotLookedUp,
    NoRegistry,
}

const MISSES: [Miss; 6] = [
    Miss::NotFound,
    Miss::Unreachable,
    Miss::Unusable,
    Miss::NoMatch,
    Miss::NotLookedUp,
    Miss::NoRegistry,
];

impl Miss {
    fn label(self) -> &'static str {
        match self {
            Miss::NotFound => "schema_not_found",
            Miss::Unreachable => "registry_unreachable",
            Miss::Unusable => "schema_unusable",
            Miss::NoMatch => "does_not_match",
            Miss::NotLookedUp => "not_looked_up",
            Miss::NoRegistry => "no_registry",
        }
    }
}

/// The records' schemas: those the registry holds (if there is one) as far as they are known,
/// and the schema directory's.
pub struct Schemas {
    lookups: Option<Arc<lookup::Lookups>>,
    files: files::SchemaFiles,
    /// Each subject's latest schema id (none: no such subject) and when it was asked.
    latest: Mutex<HashMap<String, (Option<u32>, Instant)>>,
    capacity: usize,
    decoded: [AtomicU64; 3],
    missed: [AtomicU64; MISSES.len()],
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("registry", &self.registry().map(Registry::url))
            .field("files", &self.files.len())
            .finish()
    }
}

/// How long a feed, a replay or a search waits for a schema being looked up before it goes on
/// (the record undecoded, with the reason).
pub const READER_WAIT: Duration = Duration::from_millis(500);

impl Schemas {
    /// No registry, no files: every payload is plain.
    pub fn none() -> Arc<Self> {
        Arc::new(Self::with(None, files::SchemaFiles::default(), 1))
    }

    /// From the settings: the registry client and the schema directory's files.
    pub fn from_args(args: &SchemaArgs) -> Result<Arc<Self>, SchemaSetupError> {
        let capacity = usize::try_from(args.cache_size).unwrap_or(usize::MAX);
        let timeout = Duration::from_millis(args.registry_timeout_ms);
        let lookups = match &args.registry_url {
            None => None,
            Some(url) => {
                let auth = match (&args.registry_token, &args.registry_user) {
                    (Some(token), _) => Some(RegistryAuth::Bearer(crate::secrets::Secret::new(
                        token.clone(),
                    ))),
                    (None, Some(user)) => Some(RegistryAuth::Basic {
                        user: user.clone(),
                        password: crate::secrets::Secret::new(
                            args.registry_password.clone().unwrap_or_default(),
                        ),
                    }),
                    (None, None) => None,
                };
                let ca = match &args.registry_ca {
                    Some(path) => {
                        Some(std::fs::read(path).map_err(|source| SchemaSetupError::Ca {
                            path: path.clone(),
                            source,
                        })?)
                    }
                    None => None,
                };
                let registry = Registry::new(url, auth, timeout, ca.as_deref())?;
                tracing::info!(registry = %registry.url(), "records in the schema registry's wire format are decoded");
                Some(Arc::new(lookup::Lookups::new(registry, capacity, timeout)))
            }
        };
        let files = match &args.dir {
            Some(dir) => files::SchemaFiles::load(dir).map_err(SchemaSetupError::Files)?,
            None => files::SchemaFiles::default(),
        };
        Ok(Arc::new(Self::with(lookups, files, capacity)))
    }

    fn with(
        lookups: Option<Arc<lookup::Lookups>>,
        files: files::SchemaFiles,
        capacity: usize,
    ) -> Self {
        Self {
            lookups,
            files,
            latest: Mutex::default(),
            capacity: capacity.max(1),
            decoded: Default::default(),
            missed: Default::default(),
        }
    }

    /// The registry, when one is configured.
    pub fn registry(&self) -> Option<&Registry> {
        self.lookups.as_deref().map(lookup::Lookups::registry)
    }

    /// Whether anything can be decoded at all (else records are read as before, at no cost).
    pub fn is_active(&self) -> bool {
        self.lookups.is_some() || !self.files.is_empty()
    }

    /// Makes the schemas `payloads` of `topic` name known, or known to be missing, as far as
    /// the lookups' bounds allow and within [`READER_WAIT`] each. Call before
    /// [`Schemas::decode`].
    pub async fn prepare(&self, topic: &str, payloads: [Option<&[u8]>; 2]) {
        let Some(lookups) = &self.lookups else {
            return;
        };
        for id in payloads
            .into_iter()
            .flatten()
            .filter_map(wire::split)
            .map(|f| f.schema_id)
        {
            lookups.settle(id, topic, READER_WAIT).await;
        }
    }

    /// [`Schemas::prepare`] from a thread outside the runtime (replays, searches).
    pub fn prepare_blocking(
        &self,
        handle: &tokio::runtime::Handle,
        topic: &str,
        payloads: [Option<&[u8]>; 2],
    ) {
        if self.lookups.is_some() && payloads.iter().flatten().any(|p| wire::split(p).is_some()) {
            handle.block_on(self.prepare(topic, payloads));
        }
    }

    /// The schema with registry id `id`, looked up for `asker` if it is not known (within the
    /// bounds, waiting for the whole lookup).
    pub async fn by_id(&self, id: u32, asker: &str) -> Result<Arc<KnownSchema>, String> {
        let lookups = self
            .lookups
            .as_ref()
            .ok_or("no schema registry is configured")?;
        lookups.settle(id, asker, Duration::MAX).await;
        match lookups.get(id) {
            lookup::Known::Schema(known) => Ok(known),
            lookup::Known::Missing(_, reason) => Err(reason),
            lookup::Known::Unknown => Err(format!("schema {id} not looked up")),
        }
    }

    /// The schema with registry id `id` if it is known already (no lookup).
    pub fn cached(&self, id: u32) -> Option<Arc<KnownSchema>> {
        match self.lookups.as_ref()?.get(id) {
            lookup::Known::Schema(known) => Some(known),
            _ => None,
        }
    }

    /// Decodes `payload` of `topic`'s records with the schema it names (or the topic's schema
    /// file), from what is known: see [`Schemas::prepare`].
    pub fn decode(&self, topic: &str, part: Part, payload: &[u8]) -> Decoded {
        let outcome = self.decode_uncounted(topic, part, payload);
        match &outcome {
            Decoded::Plain => {}
            Decoded::Value { schema, .. } => {
                let i = match schema.format.as_str() {
                    "avro" => 0,
                    "protobuf" => 1,
                    _ => 2,
                };
                self.decoded[i].fetch_add(1, Ordering::Relaxed);
            }
            Decoded::Failed { .. } => {}
        }
        outcome
    }

    fn decode_uncounted(&self, topic: &str, part: Part, payload: &[u8]) -> Decoded {
        let file = match part {
            Part::Value => self.files.for_topic(topic),
            Part::Key => None,
        };
        // Without a registry, a topic's schema file reads its values whatever their first
        // bytes (an unframed record may well start with a zero).
        let framed = wire::split(payload).filter(|_| self.lookups.is_some() || file.is_none());
        if let Some(framed) = framed {
            let id = framed.schema_id;
            let Some(lookups) = &self.lookups else {
                if !self.is_active() {
                    return Decoded::Plain;
                }
                return self.miss(
                    Miss::NoRegistry,
                    format!("schema {id}: no schema registry is configured"),
                );
            };
            let (miss, reason) = match lookups.get(id) {
                lookup::Known::Schema(known) => match known.decode(framed.body, true) {
                    Ok((json, schema)) => {
                        known.seen_on.saw(topic);
                        return Decoded::Value { json, schema };
                    }
                    Err(why) => (Miss::NoMatch, format!("does not match schema {id}: {why}")),
                },
                lookup::Known::Missing(miss, reason) => (miss, reason),
                lookup::Known::Unknown => (Miss::NotLookedUp, format!("schema {id} not looked up")),
            };
            // A topic with a schema file whose unframed record happened to look framed.
            if let Some(Ok((json, schema))) = file.as_ref().map(|f| f.decode(payload, false)) {
                return Decoded::Value { json, schema };
            }
            return self.miss(miss, reason);
        }
        match file {
            Some(file) => match file.decode(payload, false) {
                Ok((json, schema)) => Decoded::Value { json, schema },
                Err(why) => self.miss(
                    Miss::NoMatch,
                    format!(
                        "does not match {}: {why}",
                        file.label.file.as_deref().unwrap_or("the schema file")
                    ),
                ),
            },
            None => Decoded::Plain,
        }
    }

    fn miss(&self, miss: Miss, reason: String) -> Decoded {
        if let Some(i) = MISSES.iter().position(|m| *m == miss) {
            self.missed[i].fetch_add(1, Ordering::Relaxed);
        }
        Decoded::Failed { reason }
    }

    /// The schema records written to `topic` are encoded with: the latest version of its
    /// registry subject (`<topic>-value`), else its schema file; `None` when it has neither.
    /// Which id is latest is remembered for a few seconds, so writes in a row ask the registry
    /// once. The error says why the registry could not tell.
    pub async fn for_writing(&self, topic: &str) -> Result<Option<Arc<KnownSchema>>, String> {
        if let Some(registry) = self.registry() {
            let subject = format!("{topic}-value");
            let remembered = lock(&self.latest)
                .get(&subject)
                .filter(|(_, at)| at.elapsed() < LATEST_FOR)
                .map(|(id, _)| *id);
            let id = match remembered {
                Some(id) => id,
                None => {
                    let id = match registry.subject_version(&subject, "latest").await {
                        Ok(latest) => Some(latest.id),
                        Err(RegistryError::NotFound) => None,
                        Err(other) => return Err(other.to_string()),
                    };
                    let mut latest = lock(&self.latest);
                    if latest.len() >= self.capacity {
                        latest.clear();
                    }
                    latest.insert(subject, (id, Instant::now()));
                    id
                }
            };
            if let Some(id) = id {
                return self.by_id(id, topic).await.map(Some);
            }
        }
        Ok(self.files.for_topic(topic))
    }

    /// The schema file of `topic`, if the schema directory has one.
    pub fn file_for(&self, topic: &str) -> Option<Arc<KnownSchema>> {
        self.files.for_topic(topic)
    }

    /// The counters, as Prometheus text for `/metrics`.
    pub fn metrics_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        if !self.is_active() {
            return out;
        }
        out.push_str("# HELP streamhub_records_decoded_total Record payloads decoded with a schema, by format.\n");
        out.push_str("# TYPE streamhub_records_decoded_total counter\n");
        for (i, format) in ["avro", "protobuf", "json_schema"].iter().enumerate() {
            let _ = writeln!(
                out,
                "streamhub_records_decoded_total{{format=\"{format}\"}} {}",
                self.decoded[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP streamhub_records_undecoded_total Record payloads that name or have a schema but were not decoded, by reason.\n");
        out.push_str("# TYPE streamhub_records_undecoded_total counter\n");
        for (i, miss) in MISSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "streamhub_records_undecoded_total{{reason=\"{}\"}} {}",
                miss.label(),
                self.missed[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP streamhub_schema_lookups_total Schemas looked up in the registry.\n");
        out.push_str("# TYPE streamhub_schema_lookups_total counter\n");
        let _ = writeln!(
            out,
            "streamhub_schema_lookups_total {}",
            self.lookups
                .as_ref()
                .map_or(0, |l| l.made.load(Ordering::Relaxed))
        );
        out.push_str("# HELP streamhub_schemas_cached Compiled schemas kept by id.\n");
        out.push_str("# TYPE streamhub_schemas_cached gauge\n");
        let _ = writeln!(
            out,
            "streamhub_schemas_cached {}",
            self.lookups.as_ref().map_or(0, |l| l.cached())
        );
        out
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Bytes from standard base64 text, if it is that.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests;

//! Records with schemas: payloads in the schema registry's wire format (Avro, Protobuf, JSON
//! Schema) or, without a registry, unframed payloads of topics that have a schema file, read
//! into JSON once so that everything downstream (streams, replays, searches, filter
//! expressions, masks, exports, the CLI) sees JSON. Writing goes the other way: JSON encoded
//! with a topic's latest schema.
//!
//! | module | owns |
//! | --- | --- |
//! | this file | [`Schemas`]: settings, the cache of compiled schemas by id, lookups and their bounds, decoding a payload, counters |
//! | [`wire`] | the wire format's framing |
//! | [`registry`] | the registry's REST API |
//! | [`avro`], [`protobuf`] | compiling schemas, decoding and encoding records |
//! | [`files`] | the schema directory (schema files mapped to topics) |
//!
//! A record that does not decode is never lost: it keeps its text or base64, with the reason.
//! Schemas by id never change, so a compiled schema is kept (up to a bound) and keeps decoding
//! while the registry is away. Lookups are bounded: one at a time, a few a second, each within
//! a timeout, failures remembered for a while; so a producer writing made-up ids costs the
//! registry little and the relay nothing but undecoded records.

pub mod avro;
pub mod files;
pub mod protobuf;
pub mod registry;
pub mod wire;

use app::stream::RecordSchema;
use registry::{Registry, RegistryAuth, RegistryError, RegistrySchema, SchemaReference};
use serde_json::Value as Json;
use std::{
    collections::{HashMap, HashSet, VecDeque},
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// Bytes one schema's text may have.
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// Schemas one schema may refer to, directly or not.
const MAX_REFERENCES: usize = 64;
/// How long a schema id the registry does not know is remembered as unknown.
const NOT_FOUND_FOR: Duration = Duration::from_secs(30);
/// How long a schema that does not compile is remembered as such.
const UNUSABLE_FOR: Duration = Duration::from_secs(300);
/// How long lookups pause after the registry did not answer.
const AWAY_FOR: Duration = Duration::from_secs(1);
/// How long a subject's latest version is taken as latest, for writing.
const LATEST_FOR: Duration = Duration::from_secs(5);
/// Lookups a second, and at once.
const LOOKUPS_PER_SECOND: f64 = 20.0;
const LOOKUP_BURST: f64 = 50.0;

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

/// A schema compiled for decoding.
#[derive(Debug)]
pub enum Compiled {
    /// Boxed: its named types make it the largest by far.
    Avro(Box<avro::AvroSchema>),
    Protobuf(protobuf::ProtoSchema),
    /// JSON Schema: the payload is JSON already.
    JsonSchema,
}

/// A schema ready to decode records with: what records say of it, its text, and its compiled
/// form.
#[derive(Debug)]
pub struct KnownSchema {
    pub label: RecordSchema,
    pub format: Format,
    pub text: String,
    pub references: Vec<SchemaReference>,
    pub compiled: Compiled,
    /// Protobuf from a schema file: the message its records hold (framed records say it).
    pub file_message: Option<Vec<i32>>,
}

impl KnownSchema {
    /// Compiles `text` in `format` with the texts of the schemas it refers to.
    pub fn compile(
        format: Format,
        text: &str,
        references: &[(String, String)],
    ) -> Result<Compiled, String> {
        if text.len() > MAX_SCHEMA_BYTES {
            return Err(format!("larger than {MAX_SCHEMA_BYTES} bytes"));
        }
        Ok(match format {
            Format::Avro => {
                let texts: Vec<String> = references.iter().map(|(_, t)| t.clone()).collect();
                Compiled::Avro(Box::new(avro::AvroSchema::compile(text, &texts)?))
            }
            Format::Protobuf => {
                Compiled::Protobuf(protobuf::ProtoSchema::compile(text, references)?)
            }
            Format::JsonSchema => {
                serde_json::from_str::<Json>(text)
                    .map_err(|e| format!("not a JSON Schema: {e}"))?;
                Compiled::JsonSchema
            }
        })
    }

    /// Decodes a payload (after the wire format's header, for framed ones) into JSON, with the
    /// label records carry (for Protobuf, naming the message).
    fn decode(&self, body: &[u8], framed: bool) -> Result<(Json, RecordSchema), String> {
        match &self.compiled {
            Compiled::Avro(schema) => Ok((schema.decode(body)?, self.label.clone())),
            Compiled::JsonSchema => serde_json::from_slice(body)
                .map(|v| (v, self.label.clone()))
                .map_err(|e| format!("not JSON: {e}")),
            Compiled::Protobuf(schema) => {
                let (path, body) = if framed {
                    wire::message_indexes(body)
                        .ok_or_else(|| "the message indexes do not parse".to_owned())?
                } else {
                    (self.file_message.clone().unwrap_or(vec![0]), body)
                };
                let message = schema.message(&path)?;
                let value = protobuf::ProtoSchema::decode(&message, body)?;
                let label = RecordSchema {
                    message: Some(message.full_name().to_owned()),
                    ..self.label.clone()
                };
                Ok((value, label))
            }
        }
    }

    /// `value` written with this schema (for Protobuf, as `message` or the first one),
    /// framed when the schema has a registry id. The error says which field and why.
    pub fn encode(&self, value: &Json, message: Option<&str>) -> Result<Vec<u8>, String> {
        let (body, path) = match &self.compiled {
            Compiled::Avro(schema) => (schema.encode(value)?, None),
            Compiled::JsonSchema => (serde_json::to_vec(value).map_err(|e| e.to_string())?, None),
            Compiled::Protobuf(schema) => {
                let (descriptor, path) = schema.message_named(message)?;
                (
                    protobuf::ProtoSchema::encode(&descriptor, value)?,
                    Some(path),
                )
            }
        };
        Ok(match self.label.id {
            Some(id) => {
                let mut framed = wire::header(id, path.as_deref());
                framed.extend_from_slice(&body);
                framed
            }
            None => body,
        })
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

/// A schema id looked up without success, remembered until `until`.
struct Failure {
    miss: Miss,
    reason: String,
    until: Instant,
}

#[derive(Default)]
struct Cache {
    known: HashMap<u32, Arc<KnownSchema>>,
    /// Ids in the order they were added: the oldest goes first when the cache is full.
    order: VecDeque<u32>,
    failed: HashMap<u32, Failure>,
}

/// A token bucket for lookups.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The records' schemas: the registry (if any), the schema directory, and what is known.
pub struct Schemas {
    registry: Option<Registry>,
    files: files::SchemaFiles,
    capacity: usize,
    cache: Mutex<Cache>,
    /// One lookup at a time: concurrent misses for one id cost one lookup.
    lookup: tokio::sync::Mutex<()>,
    bucket: Mutex<Bucket>,
    away_until: Mutex<Option<Instant>>,
    /// Each subject's latest schema id (none: no such subject) and when it was asked.
    latest: Mutex<HashMap<String, (Option<u32>, Instant)>>,
    decoded: [AtomicU64; 3],
    missed: [AtomicU64; MISSES.len()],
    lookups: AtomicU64,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("registry", &self.registry.as_ref().map(Registry::url))
            .field("files", &self.files.len())
            .finish()
    }
}

impl Schemas {
    /// No registry, no files: every payload is plain.
    pub fn none() -> Arc<Self> {
        Arc::new(Self::with(None, files::SchemaFiles::default(), 1))
    }

    /// From the settings: the registry client and the schema directory's files.
    pub fn from_args(args: &SchemaArgs) -> Result<Arc<Self>, SchemaSetupError> {
        let registry = match &args.registry_url {
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
                let registry = Registry::new(
                    url,
                    auth,
                    Duration::from_millis(args.registry_timeout_ms),
                    ca.as_deref(),
                )?;
                tracing::info!(registry = %registry.url(), "records in the schema registry's wire format are decoded");
                Some(registry)
            }
        };
        let files = match &args.dir {
            Some(dir) => files::SchemaFiles::load(dir).map_err(SchemaSetupError::Files)?,
            None => files::SchemaFiles::default(),
        };
        Ok(Arc::new(Self::with(
            registry,
            files,
            usize::try_from(args.cache_size).unwrap_or(usize::MAX),
        )))
    }

    fn with(registry: Option<Registry>, files: files::SchemaFiles, capacity: usize) -> Self {
        Self {
            registry,
            files,
            capacity: capacity.max(1),
            cache: Mutex::default(),
            lookup: tokio::sync::Mutex::new(()),
            bucket: Mutex::new(Bucket {
                tokens: LOOKUP_BURST,
                at: Instant::now(),
            }),
            away_until: Mutex::new(None),
            latest: Mutex::default(),
            decoded: Default::default(),
            missed: Default::default(),
            lookups: AtomicU64::new(0),
        }
    }

    /// The registry, when one is configured.
    pub fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref()
    }

    /// Whether anything can be decoded at all (else records are read as before, at no cost).
    pub fn is_active(&self) -> bool {
        self.registry.is_some() || !self.files.is_empty()
    }

    /// Makes sure the schemas `payloads` name are known or known to be missing, looking them
    /// up if need be (within the lookups' bounds). Call before [`Schemas::decode`].
    pub async fn prepare(&self, payloads: [Option<&[u8]>; 2]) {
        if self.registry.is_none() {
            return;
        }
        for id in payloads
            .into_iter()
            .flatten()
            .filter_map(wire::split)
            .map(|f| f.schema_id)
        {
            self.known(id).await;
        }
    }

    /// [`Schemas::prepare`] from a thread outside the runtime (replays, searches).
    pub fn prepare_blocking(&self, handle: &tokio::runtime::Handle, payloads: [Option<&[u8]>; 2]) {
        if self.registry.is_some() && payloads.iter().flatten().any(|p| wire::split(p).is_some()) {
            handle.block_on(self.prepare(payloads));
        }
    }

    /// The schema with registry id `id`, looked up if it is not known (within the bounds).
    pub async fn by_id(&self, id: u32) -> Result<Arc<KnownSchema>, String> {
        self.known(id).await;
        let cache = lock(&self.cache);
        match (cache.known.get(&id), cache.failed.get(&id)) {
            (Some(known), _) => Ok(known.clone()),
            (None, Some(failure)) => Err(failure.reason.clone()),
            (None, None) => Err(format!("schema {id} not looked up")),
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
        let framed = wire::split(payload).filter(|_| self.registry.is_some() || file.is_none());
        if let Some(framed) = framed {
            let id = framed.schema_id;
            if self.registry.is_none() {
                if !self.is_active() {
                    return Decoded::Plain;
                }
                return self.miss(
                    Miss::NoRegistry,
                    format!("schema {id}: no schema registry is configured"),
                );
            }
            let (known, failure) = {
                let cache = lock(&self.cache);
                (
                    cache.known.get(&id).cloned(),
                    cache.failed.get(&id).map(|f| (f.miss, f.reason.clone())),
                )
            };
            return match (known, failure) {
                (Some(known), _) => match known.decode(framed.body, true) {
                    Ok((json, schema)) => Decoded::Value { json, schema },
                    Err(why) => {
                        self.miss(Miss::NoMatch, format!("does not match schema {id}: {why}"))
                    }
                },
                (None, Some((miss, reason))) => self.miss(miss, reason),
                (None, None) => self.miss(Miss::NotLookedUp, format!("schema {id} not looked up")),
            };
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
        if let Some(registry) = &self.registry {
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
                return self.by_id(id).await.map(Some);
            }
        }
        Ok(self.files.for_topic(topic))
    }

    /// The schema file of `topic`, if the schema directory has one.
    pub fn file_for(&self, topic: &str) -> Option<Arc<KnownSchema>> {
        self.files.for_topic(topic)
    }

    /// Looks `id` up unless it is known, known to be missing, or the bounds say not now.
    async fn known(&self, id: u32) {
        if self.is_settled(id) {
            return;
        }
        let _turn = self.lookup.lock().await;
        if self.is_settled(id) {
            return;
        }
        if lock(&self.away_until).is_some_and(|until| Instant::now() < until) {
            self.remember_failure(
                id,
                Miss::Unreachable,
                format!("schema {id}: registry unreachable"),
                AWAY_FOR,
            );
            return;
        }
        if !self.take_lookup() {
            self.remember_failure(
                id,
                Miss::NotLookedUp,
                format!("schema {id} not looked up: too many new schemas at once"),
                Duration::from_secs(1),
            );
            return;
        }
        let Some(registry) = &self.registry else {
            return;
        };
        self.lookups.fetch_add(1, Ordering::Relaxed);
        match fetch(registry, id).await {
            Ok(known) => {
                let mut cache = lock(&self.cache);
                cache.failed.remove(&id);
                cache.known.insert(id, Arc::new(known));
                cache.order.push_back(id);
                while cache.known.len() > self.capacity {
                    match cache.order.pop_front() {
                        Some(oldest) => {
                            cache.known.remove(&oldest);
                        }
                        None => break,
                    }
                }
            }
            Err(Lookup::Registry(RegistryError::NotFound)) => {
                self.remember_failure(
                    id,
                    Miss::NotFound,
                    format!("schema {id} not found"),
                    NOT_FOUND_FOR,
                );
            }
            Err(Lookup::Registry(RegistryError::Unreachable(why))) => {
                tracing::warn!(schema_id = id, reason = %why, "schema registry unreachable");
                *lock(&self.away_until) = Some(Instant::now() + AWAY_FOR);
                self.remember_failure(
                    id,
                    Miss::Unreachable,
                    format!("schema {id}: registry unreachable"),
                    AWAY_FOR,
                );
            }
            Err(Lookup::Registry(other)) => {
                self.remember_failure(
                    id,
                    Miss::Unreachable,
                    format!("schema {id}: {other}"),
                    AWAY_FOR,
                );
            }
            Err(Lookup::Unusable(why)) => {
                tracing::warn!(schema_id = id, reason = %why, "schema cannot decode records");
                self.remember_failure(
                    id,
                    Miss::Unusable,
                    format!("schema {id} is unusable: {why}"),
                    UNUSABLE_FOR,
                );
            }
        }
    }

    fn is_settled(&self, id: u32) -> bool {
        let cache = lock(&self.cache);
        cache.known.contains_key(&id)
            || cache
                .failed
                .get(&id)
                .is_some_and(|f| Instant::now() < f.until)
    }

    fn remember_failure(&self, id: u32, miss: Miss, reason: String, for_how_long: Duration) {
        let mut cache = lock(&self.cache);
        if cache.failed.len() >= self.capacity {
            let now = Instant::now();
            cache.failed.retain(|_, f| f.until > now);
            if cache.failed.len() >= self.capacity {
                cache.failed.clear();
            }
        }
        cache.failed.insert(
            id,
            Failure {
                miss,
                reason,
                until: Instant::now() + for_how_long,
            },
        );
    }

    fn take_lookup(&self) -> bool {
        let mut bucket = lock(&self.bucket);
        let now = Instant::now();
        let refill = now.duration_since(bucket.at).as_secs_f64() * LOOKUPS_PER_SECOND;
        bucket.tokens = (bucket.tokens + refill).min(LOOKUP_BURST);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
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
            self.lookups.load(Ordering::Relaxed)
        );
        out.push_str("# HELP streamhub_schemas_cached Compiled schemas kept by id.\n");
        out.push_str("# TYPE streamhub_schemas_cached gauge\n");
        let _ = writeln!(
            out,
            "streamhub_schemas_cached {}",
            lock(&self.cache).known.len()
        );
        out
    }
}

/// Why a lookup did not give a schema.
enum Lookup {
    Registry(RegistryError),
    Unusable(String),
}

impl From<RegistryError> for Lookup {
    fn from(e: RegistryError) -> Self {
        Lookup::Registry(e)
    }
}

/// Fetches schema `id` with everything it refers to, and compiles it.
async fn fetch(registry: &Registry, id: u32) -> Result<KnownSchema, Lookup> {
    let schema = registry.schema_by_id(id).await?;
    let format = Format::from_registry(schema.schema_type.as_deref()).ok_or_else(|| {
        Lookup::Unusable(format!(
            "unknown schema type {}",
            schema.schema_type.as_deref().unwrap_or_default()
        ))
    })?;
    if schema.schema.len() > MAX_SCHEMA_BYTES {
        return Err(Lookup::Unusable(format!(
            "larger than {MAX_SCHEMA_BYTES} bytes"
        )));
    }
    let mut references = Vec::new();
    let mut on_path = HashSet::new();
    let mut bytes = schema.schema.len();
    resolve_references(
        registry,
        &schema.references,
        &mut on_path,
        &mut references,
        &mut bytes,
        0,
    )
    .await?;
    let compiled =
        KnownSchema::compile(format, &schema.schema, &references).map_err(Lookup::Unusable)?;
    // Where it is registered is for people only: a registry that cannot say still decodes.
    let registered = registry.versions_of(id).await.unwrap_or_default();
    let place = registered.first();
    Ok(KnownSchema {
        label: RecordSchema {
            format: format.as_str().to_owned(),
            id: Some(id),
            subject: place.map(|p| p.subject.clone()),
            version: place.map(|p| p.version),
            file: None,
            message: None,
        },
        format,
        text: schema.schema,
        references: schema.references,
        compiled,
        file_message: None,
    })
}

/// The texts of the schemas `references` names, each after those it refers to, as (name,
/// text); refusing cycles, and more than [`MAX_REFERENCES`] or 4 × [`MAX_SCHEMA_BYTES`] in all.
fn resolve_references<'a>(
    registry: &'a Registry,
    references: &'a [SchemaReference],
    on_path: &'a mut HashSet<(String, i32)>,
    out: &'a mut Vec<(String, String)>,
    bytes: &'a mut usize,
    depth: usize,
) -> futures::future::BoxFuture<'a, Result<(), Lookup>> {
    Box::pin(async move {
        for reference in references {
            let key = (reference.subject.clone(), reference.version);
            if on_path.contains(&key) {
                return Err(Lookup::Unusable(format!(
                    "{} version {} refers to itself",
                    reference.subject, reference.version
                )));
            }
            if out.iter().any(|(name, _)| name == &reference.name) {
                continue;
            }
            if out.len() >= MAX_REFERENCES || depth >= 16 {
                return Err(Lookup::Unusable(format!(
                    "more than {MAX_REFERENCES} references"
                )));
            }
            let version = registry
                .subject_version(&reference.subject, &reference.version.to_string())
                .await
                .map_err(|e| match e {
                    RegistryError::NotFound => Lookup::Unusable(format!(
                        "reference {} version {} not found",
                        reference.subject, reference.version
                    )),
                    other => Lookup::Registry(other),
                })?;
            *bytes += version.schema.len();
            if *bytes > 4 * MAX_SCHEMA_BYTES {
                return Err(Lookup::Unusable(format!(
                    "its references are larger than {} bytes",
                    4 * MAX_SCHEMA_BYTES
                )));
            }
            on_path.insert(key.clone());
            resolve_references(
                registry,
                &version.references,
                on_path,
                out,
                bytes,
                depth + 1,
            )
            .await?;
            on_path.remove(&key);
            out.push((reference.name.clone(), version.schema));
        }
        Ok(())
    })
}

/// Registers `text` under `subject` after checking it compiles here (so a schema that could
/// not decode its own records is refused before the registry sees it) and, when the subject
/// has versions, that the registry finds it compatible. The error is the reason, for people.
pub async fn register(
    registry: &Registry,
    subject: &str,
    format: Format,
    text: &str,
) -> Result<u32, String> {
    check(format, text)?;
    let schema = RegistrySchema {
        schema: text.to_owned(),
        schema_type: (format != Format::Avro).then(|| format.registry_type().to_owned()),
        references: Vec::new(),
    };
    if let Err(reasons) = registry
        .check_compatibility(subject, &schema)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "incompatible with {subject}'s latest version: {}",
            reasons.join("; ")
        ));
    }
    registry
        .register(subject, &schema)
        .await
        .map_err(|e| e.to_string())
}

/// Why a topic request's value schema was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestedSchemaError {
    /// The schema itself, or the registry's verdict on it (for the requester to fix).
    #[error("{0}")]
    Refused(String),
    /// The registry did not answer, or answered what it should not (`unreachable` when it did
    /// not answer).
    #[error("{message}")]
    Registry { message: String, unreachable: bool },
}

/// Checks the value schema a topic request carries before the request is recorded: a format
/// StreamHub reads, text that compiles, and, when the topic's subject `<topic>-value` has
/// versions already, one the registry finds compatible with the latest.
pub async fn check_requested(
    registry: Option<&Registry>,
    topic: &str,
    requested: &app::wire::ValueSchema,
) -> Result<Format, RequestedSchemaError> {
    let format = Format::parse(&requested.format).ok_or_else(|| {
        RequestedSchemaError::Refused("format must be avro, protobuf or json_schema".into())
    })?;
    let registry = registry.ok_or_else(|| {
        RequestedSchemaError::Refused(
            "this server has no schema registry (STREAMHUB_SCHEMA_REGISTRY_URL) to register it in"
                .into(),
        )
    })?;
    check(format, &requested.schema).map_err(RequestedSchemaError::Refused)?;
    let schema = RegistrySchema {
        schema: requested.schema.clone(),
        schema_type: (format != Format::Avro).then(|| format.registry_type().to_owned()),
        references: Vec::new(),
    };
    let subject = format!("{topic}-value");
    match registry.check_compatibility(&subject, &schema).await {
        Ok(Ok(())) => Ok(format),
        Ok(Err(reasons)) => Err(RequestedSchemaError::Refused(format!(
            "the registry finds it incompatible with {subject}'s latest version: {}",
            reasons.join("; ")
        ))),
        Err(RegistryError::Refused { message, .. }) => Err(RequestedSchemaError::Refused(format!(
            "the registry refuses it: {message}"
        ))),
        Err(e @ RegistryError::Unreachable(_)) => Err(RequestedSchemaError::Registry {
            message: e.to_string(),
            unreachable: true,
        }),
        Err(e) => Err(RequestedSchemaError::Registry {
            message: e.to_string(),
            unreachable: false,
        }),
    }
}

/// Whether `text` is a schema of `format` that compiles without references.
pub fn check(format: Format, text: &str) -> Result<(), String> {
    KnownSchema::compile(format, text, &[]).map(|_| ())
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

//! The schemas known by registry id, and looking up those that are not. A schema by id never
//! changes: once compiled it is kept (up to a count and a byte bound, the one read longest ago
//! out first) and keeps decoding while the registry is away.
//!
//! A lookup is bounded every way a producer writing made-up ids, or a slow registry, could
//! stretch it: each id is looked up once however many ask (the others wait for that one), a
//! few at a time, within a deadline for the schema and all it refers to, at a rate bounded in
//! all and per asker (a topic's feed, a person's request), never while the registry was just
//! found away; and failures are remembered for a while. Whoever asks waits for the answer only
//! so long: a feed goes on, its records undecoded with the reason, and decodes once it is known.

use super::{
    registry::{Registry, RegistryError, SchemaReference},
    Format, KnownSchema, Miss, MAX_SCHEMA_BYTES,
};
use app::stream::RecordSchema;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::{watch, Semaphore};

/// Schemas one schema may refer to, directly or not.
const MAX_REFERENCES: usize = 64;
/// Bytes of schema text the cache keeps at most (with what they refer to).
const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;
/// How long a schema id the registry does not know is remembered as unknown.
const NOT_FOUND_FOR: Duration = Duration::from_secs(30);
/// How long a schema that does not compile is remembered as such.
const UNUSABLE_FOR: Duration = Duration::from_secs(300);
/// How long lookups pause after the registry did not answer.
pub(super) const AWAY_FOR: Duration = Duration::from_secs(1);
/// How long an id a lookup was refused for (past the rates) is left alone.
const REFUSED_FOR: Duration = Duration::from_secs(1);
/// Lookups at once.
const RUNNING_AT_ONCE: usize = 4;
/// Lookups a second in all, and at once.
const LOOKUPS_PER_SECOND: f64 = 20.0;
const LOOKUP_BURST: f64 = 50.0;
/// Lookups a second one asker (a topic, a person) may start, and at once.
const ASKER_LOOKUPS_PER_SECOND: f64 = 5.0;
const ASKER_BURST: f64 = 10.0;
/// Askers whose rates are kept (past it, every asker starts afresh).
const MAX_ASKERS: usize = 10_000;

/// What is known of an id.
pub(super) enum Known {
    Schema(Arc<KnownSchema>),
    /// Looked up without success, and why.
    Missing(Miss, String),
    /// Not looked up (yet).
    Unknown,
}

/// A schema id looked up without success, remembered until `until`.
struct Failure {
    miss: Miss,
    reason: String,
    until: Instant,
}

#[derive(Default)]
struct Cache {
    known: HashMap<u32, Cached>,
    /// Counts reads and additions: each entry's `used` is the count at its last one.
    clock: u64,
    bytes: usize,
    failed: HashMap<u32, Failure>,
}

/// A compiled schema kept, its size, and when it was last read (see [`Cache::clock`]): the one
/// read longest ago goes first when the cache is full, so that schemas in use stay however many
/// others pass through.
struct Cached {
    schema: Arc<KnownSchema>,
    bytes: usize,
    used: u64,
}

impl Cache {
    /// The next tick of the clock.
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

/// A token bucket.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64) -> Self {
        Self {
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self, per_second: f64, burst: f64) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * per_second;
        self.tokens = (self.tokens + refill).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The registry's schemas as this process knows them.
pub(super) struct Lookups {
    registry: Registry,
    capacity: usize,
    /// A lookup's deadline, for the schema and everything it refers to.
    deadline: Duration,
    cache: Mutex<Cache>,
    /// Ids being looked up, each with what tells its waiters it is over.
    in_flight: Mutex<HashMap<u32, watch::Receiver<bool>>>,
    running: Semaphore,
    bucket: Mutex<Bucket>,
    askers: Mutex<HashMap<String, Bucket>>,
    away_until: Mutex<Option<Instant>>,
    /// Lookups made, for `/metrics`.
    pub(super) made: AtomicU64,
}

impl Lookups {
    /// Lookups in `registry`, keeping `capacity` schemas, each call within `call_timeout`.
    pub(super) fn new(registry: Registry, capacity: usize, call_timeout: Duration) -> Self {
        Self {
            registry,
            capacity: capacity.max(1),
            deadline: call_timeout * 2,
            cache: Mutex::default(),
            in_flight: Mutex::default(),
            running: Semaphore::new(RUNNING_AT_ONCE),
            bucket: Mutex::new(Bucket::full(LOOKUP_BURST)),
            askers: Mutex::default(),
            away_until: Mutex::new(None),
            made: AtomicU64::new(0),
        }
    }

    pub(super) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// What is known of `id` now.
    pub(super) fn get(&self, id: u32) -> Known {
        let mut cache = lock(&self.cache);
        let now = cache.tick();
        if let Some(cached) = cache.known.get_mut(&id) {
            cached.used = now;
            return Known::Schema(cached.schema.clone());
        }
        match cache.failed.get(&id) {
            Some(failure) => Known::Missing(failure.miss, failure.reason.clone()),
            None => Known::Unknown,
        }
    }

    /// Compiled schemas kept.
    pub(super) fn cached(&self) -> usize {
        lock(&self.cache).known.len()
    }

    /// Makes `id` known (or known to be missing) unless it is, or the bounds say not now: its
    /// lookup is started for `asker` if none runs, and waited for at most `wait`.
    pub(super) async fn settle(self: &Arc<Self>, id: u32, asker: &str, wait: Duration) {
        if self.is_settled(id) {
            return;
        }
        let mut done = {
            let mut in_flight = lock(&self.in_flight);
            match in_flight.get(&id) {
                Some(running) => running.clone(),
                None => {
                    if lock(&self.away_until).is_some_and(|until| Instant::now() < until) {
                        let reason = format!("schema {id}: registry unreachable");
                        self.remember_failure(id, Miss::Unreachable, reason, AWAY_FOR);
                        return;
                    }
                    if !self.take_lookup(asker) {
                        let reason =
                            format!("schema {id} not looked up: too many new schemas at once");
                        self.remember_failure(id, Miss::NotLookedUp, reason, REFUSED_FOR);
                        return;
                    }
                    let (finished, done) = watch::channel(false);
                    in_flight.insert(id, done.clone());
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.look_up(id).await;
                        lock(&this.in_flight).remove(&id);
                        let _ = finished.send(true);
                    });
                    done
                }
            }
        };
        let _ = tokio::time::timeout(wait, done.wait_for(|over| *over)).await;
    }

    fn is_settled(&self, id: u32) -> bool {
        let cache = lock(&self.cache);
        cache.known.contains_key(&id)
            || cache
                .failed
                .get(&id)
                .is_some_and(|f| Instant::now() < f.until)
    }

    fn take_lookup(&self, asker: &str) -> bool {
        {
            let mut askers = lock(&self.askers);
            if askers.len() >= MAX_ASKERS && !askers.contains_key(asker) {
                askers.clear();
            }
            let bucket = askers
                .entry(asker.to_owned())
                .or_insert_with(|| Bucket::full(ASKER_BURST));
            if !bucket.take(ASKER_LOOKUPS_PER_SECOND, ASKER_BURST) {
                return false;
            }
        }
        lock(&self.bucket).take(LOOKUPS_PER_SECOND, LOOKUP_BURST)
    }

    async fn look_up(&self, id: u32) {
        let Ok(_running) = self.running.acquire().await else {
            return;
        };
        self.made.fetch_add(1, Ordering::Relaxed);
        let fetched = tokio::time::timeout(self.deadline, fetch(&self.registry, id))
            .await
            .unwrap_or_else(|_| {
                Err(Lookup::Registry(RegistryError::Unreachable(
                    "the lookup took too long".into(),
                )))
            });
        match fetched {
            Ok((known, bytes)) => self.keep(id, known, bytes),
            Err(Lookup::Registry(RegistryError::NotFound)) => {
                let reason = format!("schema {id} not found");
                self.remember_failure(id, Miss::NotFound, reason, NOT_FOUND_FOR);
            }
            Err(Lookup::Registry(RegistryError::Unreachable(why))) => {
                tracing::warn!(schema_id = id, reason = %why, "schema registry unreachable");
                *lock(&self.away_until) = Some(Instant::now() + AWAY_FOR);
                let reason = format!("schema {id}: registry unreachable");
                self.remember_failure(id, Miss::Unreachable, reason, AWAY_FOR);
            }
            Err(Lookup::Registry(other)) => {
                let reason = format!("schema {id}: {other}");
                self.remember_failure(id, Miss::Unreachable, reason, AWAY_FOR);
            }
            Err(Lookup::Unusable(why)) => {
                tracing::warn!(schema_id = id, reason = %why, "schema cannot decode records");
                let reason = format!("schema {id} is unusable: {why}");
                self.remember_failure(id, Miss::Unusable, reason, UNUSABLE_FOR);
            }
        }
    }

    /// Keeps a compiled schema, letting the ones read longest ago go while the cache is over its
    /// bounds (a scan of the cache each: only when a new schema arrives, which is rare).
    pub(super) fn keep(&self, id: u32, known: KnownSchema, bytes: usize) {
        let mut cache = lock(&self.cache);
        cache.failed.remove(&id);
        let used = cache.tick();
        let schema = Arc::new(known);
        if let Some(old) = cache.known.insert(
            id,
            Cached {
                schema,
                bytes,
                used,
            },
        ) {
            cache.bytes -= old.bytes;
        }
        cache.bytes += bytes;
        while cache.known.len() > self.capacity || cache.bytes > MAX_CACHED_BYTES {
            let Some(least_used) = cache
                .known
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some(gone) = cache.known.remove(&least_used) {
                cache.bytes -= gone.bytes;
            }
        }
    }

    /// Remembers a failed lookup. When too many are remembered, the expired go first, then all
    /// but the unusable schemas (which cost a compile each to find out again), then all.
    fn remember_failure(&self, id: u32, miss: Miss, reason: String, for_how_long: Duration) {
        let mut cache = lock(&self.cache);
        if cache.failed.len() >= self.capacity {
            let now = Instant::now();
            cache.failed.retain(|_, f| f.until > now);
            if cache.failed.len() >= self.capacity {
                cache.failed.retain(|_, f| f.miss == Miss::Unusable);
            }
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

    /// Test set-up: `schema` known as `id`.
    #[cfg(test)]
    pub(super) fn insert(&self, id: u32, schema: Arc<KnownSchema>) {
        let mut cache = lock(&self.cache);
        let used = cache.tick();
        let bytes = 0;
        cache.known.insert(
            id,
            Cached {
                schema,
                bytes,
                used,
            },
        );
    }

    /// Test set-up: lookups not paused by an earlier failure.
    #[cfg(test)]
    pub(super) fn forget_away(&self) {
        *lock(&self.away_until) = None;
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

/// Fetches schema `id` with everything it refers to, and compiles it; with the bytes of text
/// it came with.
async fn fetch(registry: &Registry, id: u32) -> Result<(KnownSchema, usize), Lookup> {
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
    let compiled = tokio::task::spawn_blocking({
        let (text, references) = (schema.schema.clone(), references);
        move || KnownSchema::compile(format, &text, &references)
    })
    .await
    .map_err(|_| Lookup::Unusable("compiling it failed".into()))?
    .map_err(Lookup::Unusable)?;
    // Where it is registered is for people only: a registry that cannot say still decodes.
    let registered = registry.versions_of(id).await.unwrap_or_default();
    let place = registered.first();
    let known = KnownSchema {
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
        seen_on: Default::default(),
    };
    Ok((known, bytes))
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
                        "reference {} version {} is missing",
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

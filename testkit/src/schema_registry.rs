//! A stand-in for a schema registry, for tests and the wire-format proof: no registry server is
//! installable here (none in crates.io, PyPI, npm or Debian). It serves the subset of
//! Confluent's REST API that StreamHub and the registry's own client libraries use: register,
//! look up under a subject, schema by id (as text, or for Protobuf as a serialized descriptor
//! with `format=serialized`), where an id is registered, subject versions and latest, and
//! compatibility (backward, for Avro records: every field the new version reads without a
//! default must be in the latest one, of the same type). Optional basic authentication.
//!
//! [`StandIn::stop`] closes the listener and every open connection, as a registry that went
//! away; [`StandIn::start_again`] serves the same schemas on the same port.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
};
use streamhub::schema::{
    protobuf::ProtoSchema,
    registry::{RegistrySchema, SchemaReference},
    Format, KnownSchema,
};

#[derive(Default)]
struct Stored {
    /// Schemas by id (id = index + 1).
    schemas: Vec<RegistrySchema>,
    /// Each subject's versions: version n is `versions[n - 1]`, a schema id.
    subjects: BTreeMap<String, Vec<u32>>,
}

#[derive(Clone)]
struct Shared {
    stored: Arc<Mutex<Stored>>,
    basic: Option<(String, String)>,
}

/// A running stand-in registry.
pub struct StandIn {
    addr: SocketAddr,
    shared: Shared,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl StandIn {
    /// Serves on a free loopback port, with basic authentication when `basic` is given.
    pub async fn start(basic: Option<(&str, &str)>) -> anyhow::Result<Self> {
        Self::start_on("127.0.0.1:0".parse()?, basic).await
    }

    /// Serves on `addr`.
    pub async fn start_on(addr: SocketAddr, basic: Option<(&str, &str)>) -> anyhow::Result<Self> {
        let shared = Shared {
            stored: Arc::default(),
            basic: basic.map(|(u, p)| (u.to_owned(), p.to_owned())),
        };
        let mut stand_in = Self {
            addr,
            shared,
            server: None,
        };
        stand_in.serve().await?;
        Ok(stand_in)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and every connection.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Serves again, on the same port, what it held.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        self.stop();
        // The aborted task lets go of the port once it has stopped.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        self.serve().await
    }

    async fn serve(&mut self) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        self.addr = listener.local_addr()?;
        let router = router(self.shared.clone());
        self.server = Some(tokio::spawn(async move {
            // Connections live in this set: aborting the task drops it, and so closes them.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                connections.spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
                while connections.try_join_next().is_some() {}
            }
        }));
        Ok(())
    }

    /// Stores `schema` as `subject`'s next version without any check: a registry holding what
    /// it should not (a schema too large, one that refers to itself).
    pub fn register_unchecked(&self, subject: &str, schema: RegistrySchema) -> u32 {
        let mut stored = stored(&self.shared);
        stored.schemas.push(normalise(schema));
        let id = stored.schemas.len() as u32;
        stored
            .subjects
            .entry(subject.to_owned())
            .or_default()
            .push(id);
        id
    }

    /// Registers `schema` under `subject` directly (tests that set the registry up).
    pub fn register(&self, subject: &str, schema: RegistrySchema) -> Result<u32, String> {
        register(&self.shared, subject, schema).map(|(id, _)| id)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop();
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup))
        .route(
            "/subjects/{subject}/versions",
            get(versions).post(register_route),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(subject_version),
        )
        .route("/schemas/ids/{id}", get(by_id))
        .route("/schemas/ids/{id}/versions", get(id_versions))
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatibility),
        )
        .route(
            "/config",
            get(|| async { Json(json!({"compatibilityLevel": "BACKWARD"})) }),
        )
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            authenticate,
        ))
        .with_state(shared)
}

async fn authenticate(
    State(shared): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some((user, password)) = &shared.basic {
        use base64::Engine;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let given = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return error(StatusCode::UNAUTHORIZED, 40101, "Unauthorized");
        }
    }
    next.run(request).await
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message})),
    )
        .into_response()
}

fn stored(shared: &Shared) -> std::sync::MutexGuard<'_, Stored> {
    shared
        .stored
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn subjects(State(shared): State<Shared>) -> Response {
    Json(stored(&shared).subjects.keys().cloned().collect::<Vec<_>>()).into_response()
}

async fn versions(State(shared): State<Shared>, Path(subject): Path<String>) -> Response {
    match stored(&shared).subjects.get(&subject) {
        Some(ids) => Json((1..=ids.len()).collect::<Vec<_>>()).into_response(),
        None => error(StatusCode::NOT_FOUND, 40401, "Subject not found"),
    }
}

fn version_body(stored: &Stored, subject: &str, version: usize) -> Option<Value> {
    let id = *stored.subjects.get(subject)?.get(version.checked_sub(1)?)?;
    let schema = &stored.schemas[id as usize - 1];
    Some(json!({
        "subject": subject,
        "version": version,
        "id": id,
        "schema": schema.schema,
        "schemaType": schema.schema_type.clone().unwrap_or_else(|| "AVRO".into()),
        "references": schema.references,
    }))
}

async fn subject_version(
    State(shared): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    let stored = stored(&shared);
    let Some(ids) = stored.subjects.get(&subject) else {
        return error(StatusCode::NOT_FOUND, 40401, "Subject not found");
    };
    let number = match version.as_str() {
        "latest" | "-1" => ids.len(),
        n => match n.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return error(StatusCode::UNPROCESSABLE_ENTITY, 42202, "Invalid version"),
        },
    };
    match version_body(&stored, &subject, number) {
        Some(body) => Json(body).into_response(),
        None => error(StatusCode::NOT_FOUND, 40402, "Version not found"),
    }
}

#[derive(Deserialize)]
struct ByIdQuery {
    format: Option<String>,
}

async fn by_id(
    State(shared): State<Shared>,
    Path(id): Path<u32>,
    Query(query): Query<ByIdQuery>,
) -> Response {
    let stored = stored(&shared);
    let Some(schema) = id
        .checked_sub(1)
        .and_then(|i| stored.schemas.get(i as usize))
    else {
        return error(StatusCode::NOT_FOUND, 40403, "Schema not found");
    };
    let mut text = schema.schema.clone();
    if query.format.as_deref() == Some("serialized")
        && schema.schema_type.as_deref() == Some("PROTOBUF")
    {
        let references = reference_texts(&stored, &schema.references);
        if let Ok(compiled) = ProtoSchema::compile(&text, &references) {
            text = compiled.file_descriptor_base64();
        }
    }
    let mut body = json!({"schema": text, "id": id});
    if let Some(t) = &schema.schema_type {
        body["schemaType"] = json!(t);
    }
    if !schema.references.is_empty() {
        body["references"] = json!(schema.references);
    }
    Json(body).into_response()
}

async fn id_versions(State(shared): State<Shared>, Path(id): Path<u32>) -> Response {
    let stored = stored(&shared);
    let found: Vec<Value> = stored
        .subjects
        .iter()
        .flat_map(|(subject, ids)| {
            ids.iter()
                .enumerate()
                .filter(|(_, i)| **i == id)
                .map(move |(n, _)| json!({"subject": subject, "version": n + 1}))
        })
        .collect();
    if found.is_empty() {
        return error(StatusCode::NOT_FOUND, 40403, "Schema not found");
    }
    Json(found).into_response()
}

/// The texts of `references` and of what they refer to, by import name.
fn reference_texts(stored: &Stored, references: &[SchemaReference]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo: Vec<SchemaReference> = references.to_vec();
    while let Some(reference) = todo.pop() {
        if out.len() > 64
            || out
                .iter()
                .any(|(name, _): &(String, String)| name == &reference.name)
        {
            continue;
        }
        let Some(id) = stored
            .subjects
            .get(&reference.subject)
            .and_then(|ids| ids.get((reference.version as usize).wrapping_sub(1)))
        else {
            continue;
        };
        let schema = &stored.schemas[*id as usize - 1];
        todo.extend(schema.references.iter().cloned());
        out.insert(0, (reference.name.clone(), schema.schema.clone()));
    }
    out
}

fn normalise(mut schema: RegistrySchema) -> RegistrySchema {
    if schema.schema_type.as_deref() == Some("AVRO") {
        schema.schema_type = None;
    }
    schema
}

/// Registers `schema` under `subject`: its id (the same for the same schema anywhere) and
/// version, or why it was refused (as the registry's status, code and message).
fn register(
    shared: &Shared,
    subject: &str,
    schema: RegistrySchema,
) -> Result<(u32, usize), String> {
    let schema = normalise(schema);
    let mut stored = stored(shared);
    let format = Format::from_registry(schema.schema_type.as_deref())
        .ok_or_else(|| "Invalid schema type".to_owned())?;
    let references = reference_texts(&stored, &schema.references);
    KnownSchema::compile(format, &schema.schema, &references)
        .map_err(|e| format!("Invalid schema: {e}"))?;
    let id = match stored.schemas.iter().position(|s| *s == schema) {
        Some(i) => i as u32 + 1,
        None => {
            stored.schemas.push(schema.clone());
            stored.schemas.len() as u32
        }
    };
    let versions = stored.subjects.entry(subject.to_owned()).or_default();
    if let Some(n) = versions.iter().position(|v| *v == id) {
        return Ok((id, n + 1));
    }
    if let Some(latest) = versions.last().copied() {
        let latest = stored.schemas[latest as usize - 1].clone();
        if let Err(why) = backward_compatible(&schema, &latest) {
            return Err(format!(
                "Schema being registered is incompatible with an earlier schema: {why}"
            ));
        }
    }
    let versions = stored.subjects.entry(subject.to_owned()).or_default();
    versions.push(id);
    Ok((id, versions.len()))
}

/// Backward compatibility as the stand-in knows it: Avro records only.
fn backward_compatible(new: &RegistrySchema, latest: &RegistrySchema) -> Result<(), String> {
    if new.schema_type.is_some() || latest.schema_type.is_some() {
        return Ok(());
    }
    let (Ok(new), Ok(old)) = (
        serde_json::from_str::<Value>(&new.schema),
        serde_json::from_str::<Value>(&latest.schema),
    ) else {
        return Ok(());
    };
    let fields = |v: &Value| -> HashMap<String, Value> {
        v["fields"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| Some((f["name"].as_str()?.to_owned(), f.clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let old_fields = fields(&old);
    for (name, field) in fields(&new) {
        match old_fields.get(&name) {
            None if field.get("default").is_none() => {
                return Err(format!("READER_FIELD_MISSING_DEFAULT_VALUE: {name}"));
            }
            Some(old) if old["type"] != field["type"] => {
                return Err(format!("TYPE_MISMATCH: {name}"));
            }
            _ => {}
        }
    }
    Ok(())
}

async fn register_route(
    State(shared): State<Shared>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let _ = headers;
    let Ok(schema) = serde_json::from_slice::<RegistrySchema>(&body) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, 42201, "Invalid schema");
    };
    match register(&shared, &subject, schema) {
        Ok((id, version)) => {
            Json(json!({"id": id, "subject": subject, "version": version})).into_response()
        }
        Err(why) if why.starts_with("Schema being registered is incompatible") => {
            error(StatusCode::CONFLICT, 409, &why)
        }
        Err(why) => error(StatusCode::UNPROCESSABLE_ENTITY, 42201, &why),
    }
}

async fn lookup(
    State(shared): State<Shared>,
    Path(subject): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(schema) = serde_json::from_slice::<RegistrySchema>(&body) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, 42201, "Invalid schema");
    };
    let schema = normalise(schema);
    let stored = stored(&shared);
    let Some(ids) = stored.subjects.get(&subject) else {
        return error(StatusCode::NOT_FOUND, 40401, "Subject not found");
    };
    for (n, id) in ids.iter().enumerate() {
        if stored.schemas[*id as usize - 1] == schema {
            if let Some(body) = version_body(&stored, &subject, n + 1) {
                return Json(body).into_response();
            }
        }
    }
    error(StatusCode::NOT_FOUND, 40403, "Schema not found")
}

async fn compatibility(
    State(shared): State<Shared>,
    Path((subject, _version)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(schema) = serde_json::from_slice::<RegistrySchema>(&body) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, 42201, "Invalid schema");
    };
    let schema = normalise(schema);
    let stored = stored(&shared);
    let Some(latest) = stored.subjects.get(&subject).and_then(|ids| ids.last()) else {
        return error(StatusCode::NOT_FOUND, 40401, "Subject not found");
    };
    let latest = &stored.schemas[*latest as usize - 1];
    match backward_compatible(&schema, latest) {
        Ok(()) => Json(json!({"is_compatible": true})).into_response(),
        Err(why) => Json(json!({"is_compatible": false, "messages": [why]})).into_response(),
    }
}

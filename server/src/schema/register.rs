//! Registering schemas: a topic request's value schema checked before the request is recorded
//! (it compiles here; the registry finds it compatible with the subject's latest version) and
//! registered when the topic is approved; the producer's event schemas registered as it starts
//! feeding a topic.

use super::{
    registry::{Registry, RegistryError, RegistrySchema},
    Format, KnownSchema,
};

/// Why a schema was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// It does not compile here, or the registry refuses it (incompatible, invalid): the
    /// schema is at fault.
    #[error("{0}")]
    Refused(String),
    /// The registry did not answer.
    #[error("{0}")]
    Unreachable(String),
    /// The registry answered what it should not.
    #[error("{0}")]
    Malformed(String),
}

impl From<RegistryError> for RegisterError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Refused { .. } => RegisterError::Refused(e.to_string()),
            RegistryError::Unreachable(_) => RegisterError::Unreachable(e.to_string()),
            RegistryError::NotFound | RegistryError::Malformed(_) => {
                RegisterError::Malformed(e.to_string())
            }
        }
    }
}

/// Registers `text` under `subject` after checking it compiles here (so a schema that could
/// not decode its own records is refused before the registry sees it) and, when the subject
/// has versions, that the registry finds it compatible.
pub async fn register(
    registry: &Registry,
    subject: &str,
    format: Format,
    text: &str,
) -> Result<u32, RegisterError> {
    check(format, text).map_err(RegisterError::Refused)?;
    let schema = RegistrySchema {
        schema: text.to_owned(),
        schema_type: (format != Format::Avro).then(|| format.registry_type().to_owned()),
        references: Vec::new(),
    };
    if let Err(reasons) = registry.check_compatibility(subject, &schema).await? {
        return Err(RegisterError::Refused(format!(
            "incompatible with {subject}'s latest version: {}",
            reasons.join("; ")
        )));
    }
    Ok(registry.register(subject, &schema).await?)
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
    // Compiling is CPU work (a schema may be large): off the request threads.
    let text = requested.schema.clone();
    tokio::task::spawn_blocking(move || check(format, &text))
        .await
        .unwrap_or_else(|_| Err("the schema could not be compiled".to_owned()))
        .map_err(RequestedSchemaError::Refused)?;
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
    match KnownSchema::compile(format, text, &[])? {
        // Records are written with it, so it must be able to check them.
        super::known::Compiled::JsonSchema(schema) => schema.writable(),
        _ => Ok(()),
    }
}

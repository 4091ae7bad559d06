//! A schema compiled for decoding and encoding records: what records say of it, its text, its
//! compiled form, and the topics it was seen on.

use super::{
    avro, json_schema::JsonSchema, protobuf, registry::SchemaReference, wire, Format,
    MAX_SCHEMA_BYTES,
};
use app::stream::RecordSchema;
use serde_json::Value as Json;
use std::sync::{PoisonError, RwLock};

/// A schema compiled for decoding.
#[derive(Debug)]
pub enum Compiled {
    /// Boxed: its named types make it the largest by far.
    Avro(Box<avro::AvroSchema>),
    Protobuf(protobuf::ProtoSchema),
    /// JSON Schema: the payload is JSON already; the schema checks values written.
    JsonSchema(JsonSchema),
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
    /// The topics whose records it decoded (up to [`MAX_SEEN_ON`]): who may read it through
    /// `GET /api/schemas/{id}` is who may see one of them.
    pub seen_on: SeenOn,
}

/// Topics a schema is remembered as seen on, at most.
pub const MAX_SEEN_ON: usize = 64;

/// The topics a schema decoded records of.
#[derive(Debug, Default)]
pub struct SeenOn(RwLock<Vec<String>>);

impl SeenOn {
    /// Remembers `topic` (a read lock when it is remembered already, as nearly always).
    pub fn saw(&self, topic: &str) {
        let known = |seen: &Vec<String>| seen.iter().any(|t| t == topic);
        if known(&self.0.read().unwrap_or_else(PoisonError::into_inner)) {
            return;
        }
        let mut seen = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if !known(&seen) && seen.len() < MAX_SEEN_ON {
            seen.push(topic.to_owned());
        }
    }

    /// Whether it decoded records of `topic`.
    pub fn includes(&self, topic: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|t| t == topic)
    }
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
            Format::JsonSchema => Compiled::JsonSchema(JsonSchema::compile(text, references)?),
        })
    }

    /// Decodes a payload (after the wire format's header, for framed ones) into JSON, with the
    /// label records carry (for Protobuf, naming the message).
    pub(super) fn decode(&self, body: &[u8], framed: bool) -> Result<(Json, RecordSchema), String> {
        match &self.compiled {
            Compiled::Avro(schema) => Ok((schema.decode(body)?, self.label.clone())),
            Compiled::JsonSchema(_) => serde_json::from_slice(body)
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

    /// Whether `message` names something to write values as: a message of a Protobuf schema.
    pub fn writes_message(&self, message: &str) -> Result<(), String> {
        match &self.compiled {
            Compiled::Protobuf(schema) => schema.message_named(Some(message)).map(|_| ()),
            _ => Err(format!(
                "the topic's schema is {}: only a Protobuf schema has messages to choose from",
                self.format.as_str()
            )),
        }
    }

    /// `value` written with this schema (for Protobuf, as `message`, else as the message its
    /// schema file names, else as the first one), framed when the schema has a registry id. The
    /// error says which field and why.
    pub fn encode(&self, value: &Json, message: Option<&str>) -> Result<Vec<u8>, String> {
        let (body, path) = match &self.compiled {
            Compiled::Avro(schema) => (schema.encode(value)?, None),
            Compiled::JsonSchema(schema) => {
                schema.check(value)?;
                (serde_json::to_vec(value).map_err(|e| e.to_string())?, None)
            }
            Compiled::Protobuf(schema) => {
                let (descriptor, path) = match (message, &self.file_message) {
                    (None, Some(path)) => (schema.message(path)?, path.clone()),
                    _ => schema.message_named(message)?,
                };
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

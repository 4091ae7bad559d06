//! Writing events with a schema (`--format avro|protobuf`): each event type's schema, kept in
//! the repository (`server/schemas/`), is registered under `<topic>-value` when the topic starts
//! being fed, and every event, made as JSON by its generator, is written in the registry's wire
//! format with it. Consumers that know the registry then read the events as any other
//! schema-carrying topic's.

use crate::schema::{registry::Registry, Format, KnownSchema, SchemaArgs, Schemas};
use app::domain::EventType;
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;

/// How the producer writes its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// JSON text (no registry needed).
    #[default]
    Json,
    /// Avro in the registry's wire format.
    Avro,
    /// Protobuf in the registry's wire format.
    Protobuf,
}

/// The schema of `event_type`'s events in `format`.
pub fn schema_text(event_type: EventType, format: Format) -> &'static str {
    match (format, event_type) {
        (Format::Protobuf, EventType::Sensor) => include_str!("../../schemas/sensor.proto"),
        (Format::Protobuf, EventType::Weather) => include_str!("../../schemas/weather.proto"),
        (Format::Protobuf, EventType::Payment) => include_str!("../../schemas/payment.proto"),
        (Format::Protobuf, EventType::Logs) => include_str!("../../schemas/logs.proto"),
        (Format::Protobuf, EventType::UserActivity) => {
            include_str!("../../schemas/user_activity.proto")
        }
        (_, EventType::Sensor) => include_str!("../../schemas/sensor.avsc"),
        (_, EventType::Weather) => include_str!("../../schemas/weather.avsc"),
        (_, EventType::Payment) => include_str!("../../schemas/payment.avsc"),
        (_, EventType::Logs) => include_str!("../../schemas/logs.avsc"),
        (_, EventType::UserActivity) => include_str!("../../schemas/user_activity.avsc"),
    }
}

/// Registering schemas and encoding with them, for a producer that writes with schemas.
#[derive(Clone)]
pub struct Encoding {
    registry: Registry,
    format: Format,
}

impl Encoding {
    /// `None` for JSON; for Avro or Protobuf, the registry the settings name (an error when
    /// they name none).
    pub fn new(format: OutputFormat, schemas: &SchemaArgs) -> Result<Option<Self>, String> {
        let format = match format {
            OutputFormat::Json => return Ok(None),
            OutputFormat::Avro => Format::Avro,
            OutputFormat::Protobuf => Format::Protobuf,
        };
        let registry = Schemas::from_args(schemas)
            .map_err(|e| e.to_string())?
            .registry()
            .cloned()
            .ok_or(
                "--format avro or protobuf needs a schema registry (STREAMHUB_SCHEMA_REGISTRY_URL)",
            )?;
        Ok(Some(Self { registry, format }))
    }

    /// The schema `topic`'s `event_type` events are written with, registered under
    /// `<topic>-value`; tried again every few seconds until the registry takes it or `stopped`.
    pub async fn register(
        &self,
        topic: &str,
        event_type: EventType,
        stopped: &mut watch::Receiver<bool>,
    ) -> Option<Arc<KnownSchema>> {
        let subject = format!("{topic}-value");
        let text = schema_text(event_type, self.format);
        let mut said = false;
        loop {
            match crate::schema::register(&self.registry, &subject, self.format, text).await {
                Ok(id) => {
                    tracing::info!(
                        topic,
                        subject,
                        schema_id = id,
                        format = self.format.as_str(),
                        "schema registered"
                    );
                    let compiled = KnownSchema::compile(self.format, text, &[]).ok()?;
                    return Some(Arc::new(KnownSchema {
                        label: app::stream::RecordSchema {
                            format: self.format.as_str().to_owned(),
                            id: Some(id),
                            subject: Some(subject),
                            ..Default::default()
                        },
                        format: self.format,
                        text: text.to_owned(),
                        references: Vec::new(),
                        compiled,
                        file_message: None,
                        seen_on: Default::default(),
                    }));
                }
                Err(reason) => {
                    if !std::mem::replace(&mut said, true) {
                        tracing::warn!(topic, subject, %reason, "schema not registered; trying again");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stopped.changed() => return None,
            }
        }
    }

    /// The header records written with this encoding carry as their `content-type`.
    pub fn content_type(&self) -> &'static str {
        match self.format {
            Format::Protobuf => "application/x-protobuf",
            _ => "application/avro",
        }
    }
}

/// The JSON event in `payload` re-written with `schema` (framed).
pub fn encode(schema: &KnownSchema, payload: &[u8]) -> Result<Vec<u8>, String> {
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    schema.encode(&value, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event type's events fit its schema in both formats, and read back as they were
    /// made (numbers, optional fields).
    #[test]
    fn every_generator_writes_what_its_schemas_read() {
        for event_type in EventType::ALL {
            let mut generator = crate::generate::generator(event_type, 7, "t");
            for format in [Format::Avro, Format::Protobuf] {
                let text = schema_text(event_type, format);
                let schema = KnownSchema {
                    label: app::stream::RecordSchema {
                        format: format.as_str().into(),
                        id: Some(3),
                        ..Default::default()
                    },
                    format,
                    text: text.into(),
                    references: Vec::new(),
                    compiled: KnownSchema::compile(format, text, &[]).unwrap(),
                    file_message: None,
                    seen_on: Default::default(),
                };
                for _ in 0..200 {
                    let mut record = crate::generate::Record::default();
                    generator.next_into(&mut record);
                    let json: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
                    let bytes = encode(&schema, &record.payload)
                        .unwrap_or_else(|e| panic!("{event_type} {format:?}: {e}: {json}"));
                    let decoded = match format {
                        Format::Avro => match &schema.compiled {
                            crate::schema::Compiled::Avro(a) => a.decode(&bytes[5..]).unwrap(),
                            _ => unreachable!(),
                        },
                        _ => {
                            let message = match &schema.compiled {
                                crate::schema::Compiled::Protobuf(p) => p.message(&[0]).unwrap(),
                                _ => unreachable!(),
                            };
                            crate::schema::protobuf::ProtoSchema::decode(&message, &bytes[6..])
                                .unwrap()
                        }
                    };
                    for (field, value) in json.as_object().unwrap() {
                        if field == "timestamp" && format == Format::Avro {
                            continue;
                        }
                        let got = &decoded[field];
                        // Protobuf leaves fields at their default out.
                        let default = value.is_null()
                            || value.as_f64() == Some(0.0)
                            || value == &serde_json::json!(false)
                            || value == &serde_json::json!("");
                        let same = match (value.as_f64(), got.as_f64()) {
                            (Some(a), Some(b)) => (a - b).abs() < 1e-6 * a.abs().max(1.0),
                            _ => value == got || (got.is_null() && default),
                        };
                        assert!(
                            same,
                            "{event_type} {format:?} {field}: {value} became {got}"
                        );
                    }
                }
            }
        }
    }
}

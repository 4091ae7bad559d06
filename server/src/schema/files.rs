//! The schema directory: schema files mapped to topics by name, for topics whose records are
//! written without the registry's framing (`<topic>.avsc`, `<topic>.proto`,
//! `<topic>.schema.json`). Read once at start; a file that does not compile stops the start
//! with its reason rather than leaving its topic's records unreadable later.

use super::{Compiled, Format, KnownSchema};
use app::stream::RecordSchema;
use std::{collections::HashMap, path::Path, sync::Arc};

/// Files read at most from the directory.
const MAX_FILES: usize = 1000;

/// Schema files by topic.
#[derive(Debug, Default)]
pub struct SchemaFiles {
    by_topic: HashMap<String, Arc<KnownSchema>>,
}

impl SchemaFiles {
    /// Reads every schema file of `dir`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut by_topic = HashMap::new();
        for entry in entries.take(MAX_FILES) {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some((topic, format)) = topic_and_format(&file_name) else {
                continue;
            };
            let path = entry.path();
            if std::fs::metadata(&path)
                .map(|m| m.len())
                .unwrap_or(u64::MAX)
                > super::MAX_SCHEMA_BYTES as u64
            {
                return Err(format!(
                    "{file_name}: larger than {} bytes",
                    super::MAX_SCHEMA_BYTES
                ));
            }
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{file_name}: {e}"))?;
            let known = compile_file(&file_name, format, &text)?;
            tracing::info!(topic, file = %file_name, format = format.as_str(), "schema file for a topic");
            by_topic.insert(topic.to_owned(), Arc::new(known));
        }
        Ok(Self { by_topic })
    }

    /// The schema file of `topic`.
    pub fn for_topic(&self, topic: &str) -> Option<Arc<KnownSchema>> {
        self.by_topic.get(topic).cloned()
    }

    pub fn len(&self) -> usize {
        self.by_topic.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }
}

/// The topic and format a file name maps to.
fn topic_and_format(file_name: &str) -> Option<(&str, Format)> {
    [
        (".schema.json", Format::JsonSchema),
        (".avsc", Format::Avro),
        (".proto", Format::Protobuf),
    ]
    .into_iter()
    .find_map(|(suffix, format)| {
        file_name
            .strip_suffix(suffix)
            .filter(|topic| !topic.is_empty())
            .map(|topic| (topic, format))
    })
}

/// A schema file compiled, with the message a Protobuf file's records hold: the one a
/// `// streamhub:message <name>` line names, else the file's first.
pub fn compile_file(file_name: &str, format: Format, text: &str) -> Result<KnownSchema, String> {
    let compiled =
        KnownSchema::compile(format, text, &[]).map_err(|e| format!("{file_name}: {e}"))?;
    let file_message = match &compiled {
        Compiled::Protobuf(schema) => {
            let named = text.lines().find_map(|line| {
                line.trim()
                    .strip_prefix("// streamhub:message")
                    .map(|name| name.trim().to_owned())
            });
            let (_, path) = schema
                .message_named(named.as_deref())
                .map_err(|e| format!("{file_name}: {e}"))?;
            Some(path)
        }
        _ => None,
    };
    Ok(KnownSchema {
        label: RecordSchema {
            format: format.as_str().to_owned(),
            file: Some(file_name.to_owned()),
            ..RecordSchema::default()
        },
        format,
        text: text.to_owned(),
        references: Vec::new(),
        compiled,
        file_message,
        seen_on: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_map_to_topics() {
        assert_eq!(
            topic_and_format("payments.avsc"),
            Some(("payments", Format::Avro))
        );
        assert_eq!(
            topic_and_format("a.b.proto"),
            Some(("a.b", Format::Protobuf))
        );
        assert_eq!(
            topic_and_format("x.schema.json"),
            Some(("x", Format::JsonSchema))
        );
        assert_eq!(topic_and_format(".avsc"), None);
        assert_eq!(topic_and_format("notes.txt"), None);
    }

    #[test]
    fn a_directory_loads_and_a_broken_file_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("readings.avsc"),
            r#"{"type":"record","name":"R","fields":[{"name":"t","type":"double"}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("orders.proto"),
            "syntax = \"proto3\";\nmessage A { string a = 1; }\n// streamhub:message B\nmessage B { int32 n = 1; }\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("README"), "not a schema").unwrap();
        let files = SchemaFiles::load(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            files.for_topic("orders").unwrap().file_message,
            Some(vec![1])
        );
        std::fs::write(dir.path().join("broken.avsc"), "{").unwrap();
        let error = SchemaFiles::load(dir.path()).unwrap_err();
        assert!(error.starts_with("broken.avsc: "), "{error}");
    }
}

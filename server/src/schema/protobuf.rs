//! Protobuf: a schema file (`.proto` text, compiled in-process, or a serialized
//! `FileDescriptorProto` in base64, as the registry's own clients register them) with the
//! files it imports, and its messages decoded into JSON (proto field names, 64-bit integers as
//! numbers, fields at their default left out as the JSON mapping does: so the JSON is never
//! much larger than the bytes) and encoded from it.

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FileDescriptor, MessageDescriptor,
    SerializeOptions,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::Value as Json;
use std::collections::HashMap;

/// What the registry calls a schema with no file name of its own.
const MAIN_FILE: &str = "schema.proto";

/// A compiled Protobuf schema file and the pool of files it imports.
#[derive(Debug)]
pub struct ProtoSchema {
    file: FileDescriptor,
}

/// Why a Protobuf schema, record or value was refused.
pub type ProtoError = String;

impl ProtoSchema {
    /// Compiles `text` whose imports are among `references` (import name → schema text, either
    /// form); the well-known `google/protobuf/*` files are known without them.
    pub fn compile(text: &str, references: &[(String, String)]) -> Result<Self, ProtoError> {
        let main = source(MAIN_FILE, text)?;
        let main_name = main.name().to_owned();
        let mut files = HashMap::new();
        for (name, text) in references {
            files.insert(name.clone(), text.clone());
        }
        let mut resolver = ChainFileResolver::new();
        resolver.add(Sources { main, files });
        resolver.add(GoogleFileResolver::new());
        let pool: DescriptorPool = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut compiler = protox::Compiler::with_file_resolver(resolver);
            compiler.include_imports(true);
            compiler
                .open_file(&main_name)
                .map_err(|e| format!("not a Protobuf schema: {e}"))?;
            Ok::<_, ProtoError>(compiler.descriptor_pool())
        }))
        .map_err(|_| "not a Protobuf schema: the compiler gave up on it".to_owned())??;
        let file = pool
            .get_file_by_name(&main_name)
            .ok_or_else(|| "the schema's file is missing after compiling".to_owned())?;
        if file.messages().len() == 0 {
            return Err("the schema has no message".to_owned());
        }
        Ok(Self { file })
    }

    /// The schema's file as a serialized `FileDescriptorProto` in base64: the form the
    /// registry's clients ask for (`format=serialized`).
    pub fn file_descriptor_base64(&self) -> String {
        super::base64(&self.file.file_descriptor_proto().encode_to_vec())
    }

    /// The message at `path` (indexes from the file's top level down through nested
    /// messages, as the wire format gives them).
    pub fn message(&self, path: &[i32]) -> Result<MessageDescriptor, ProtoError> {
        let missing = || format!("the schema has no message at index {path:?}");
        let (first, rest) = path.split_first().ok_or_else(missing)?;
        let mut message = self
            .file
            .messages()
            .nth(usize::try_from(*first).map_err(|_| missing())?)
            .ok_or_else(missing)?;
        for index in rest {
            let child = message
                .child_messages()
                .nth(usize::try_from(*index).map_err(|_| missing())?)
                .ok_or_else(missing)?;
            message = child;
        }
        Ok(message)
    }

    /// The message named `name` (full name, or the name alone), else the file's first one.
    pub fn message_named(
        &self,
        name: Option<&str>,
    ) -> Result<(MessageDescriptor, Vec<i32>), ProtoError> {
        let Some(name) = name else {
            return Ok((self.message(&[0])?, vec![0]));
        };
        fn find(
            messages: impl Iterator<Item = MessageDescriptor>,
            name: &str,
            path: &mut Vec<i32>,
        ) -> Option<MessageDescriptor> {
            for (i, message) in messages.enumerate() {
                path.push(i as i32);
                if message.full_name() == name || message.name() == name {
                    return Some(message);
                }
                if let Some(found) = find(message.child_messages(), name, path) {
                    return Some(found);
                }
                path.pop();
            }
            None
        }
        let mut path = Vec::new();
        find(self.file.messages(), name, &mut path)
            .map(|m| (m, path))
            .ok_or_else(|| format!("the schema has no message {name}"))
    }

    /// The message `bytes` holds, as JSON. Fields the message does not have mean the record
    /// was written with another schema than the one it names.
    pub fn decode(message: &MessageDescriptor, bytes: &[u8]) -> Result<Json, ProtoError> {
        let decoded = std::panic::catch_unwind(|| DynamicMessage::decode(message.clone(), bytes))
            .map_err(|_| "the decoder gave up on it".to_owned())?
            .map_err(|e| e.to_string())?;
        if decoded.unknown_fields().next().is_some() {
            return Err(format!(
                "fields {} does not have: written with another schema?",
                message.full_name()
            ));
        }
        decoded
            .serialize_with_options(serde_json::value::Serializer, &json_options())
            .map_err(|e| e.to_string())
    }

    /// `value` as a `message`, or which field it refuses and why.
    pub fn encode(message: &MessageDescriptor, value: &Json) -> Result<Vec<u8>, ProtoError> {
        let decoded = DynamicMessage::deserialize_with_options(
            message.clone(),
            value,
            &DeserializeOptions::new().deny_unknown_fields(true),
        )
        .map_err(|e| format!("value: {e}"))?;
        Ok(decoded.encode_to_vec())
    }
}

/// How decoded messages read: the field names of the schema, numbers as numbers, fields at
/// their default left out (every field shown would let a few bytes of empty messages expand
/// into every field of each).
fn json_options() -> SerializeOptions {
    SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(true)
}

/// A schema text as a file: `.proto` source, or a serialized descriptor in base64.
fn source(name: &str, text: &str) -> Result<File, ProtoError> {
    let trimmed = text.trim();
    let looks_like_base64 = !trimmed.is_empty()
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if looks_like_base64 {
        if let Some(bytes) = super::unbase64(trimmed) {
            if let Ok(proto) = prost_types::FileDescriptorProto::decode(bytes.as_slice()) {
                return Ok(File::from_file_descriptor_proto(proto));
            }
        }
    }
    File::from_source(name, text).map_err(|e| format!("not a Protobuf schema: {e}"))
}

/// The schema's own file and its references, by import name.
struct Sources {
    main: File,
    files: HashMap<String, String>,
}

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == self.main.name() {
            return Ok(self.main.clone());
        }
        match self.files.get(name) {
            Some(text) => source(name, text).map_err(|_| protox::Error::file_not_found(name)),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHOP: &str = r#"
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        import "common/money.proto";
        message Header { string source = 1; }
        message Payment {
          string id = 1;
          common.Money amount = 2;
          enum Status { OK = 0; FAILED = 1; }
          Status status = 3;
          oneof method { string card = 4; string iban = 5; }
          google.protobuf.Timestamp at = 6;
          int64 sequence = 7;
          message Line { string sku = 1; }
          repeated Line lines = 8;
        }
    "#;
    const MONEY: &str = r#"
        syntax = "proto3";
        package common;
        message Money { string currency = 1; double units = 2; }
    "#;

    fn shop() -> ProtoSchema {
        ProtoSchema::compile(SHOP, &[("common/money.proto".into(), MONEY.into())]).unwrap()
    }

    #[test]
    fn a_message_with_imports_oneof_enum_and_nesting_round_trips() {
        let schema = shop();
        let (payment, path) = schema.message_named(Some("shop.Payment")).unwrap();
        assert_eq!(path, vec![1]);
        let value = json!({
            "id": "p-1", "amount": {"currency": "EUR", "units": 512.5}, "status": "FAILED",
            "card": "4111", "at": "2026-12-06T09:30:00Z", "sequence": 9_007_199_254_740_000_i64,
            "lines": [{"sku": "a"}]
        });
        let bytes = ProtoSchema::encode(&payment, &value).unwrap();
        let decoded = ProtoSchema::decode(&schema.message(&[1]).unwrap(), &bytes).unwrap();
        assert_eq!(decoded, value);
    }

    #[test]
    fn nested_messages_are_found_by_their_path() {
        let schema = shop();
        assert_eq!(
            schema.message(&[1, 0]).unwrap().full_name(),
            "shop.Payment.Line"
        );
        assert_eq!(schema.message(&[0]).unwrap().full_name(), "shop.Header");
        assert!(schema.message(&[5]).is_err());
        assert!(schema.message(&[1, 3]).is_err());
    }

    #[test]
    fn defaults_are_left_out_and_a_bad_value_names_its_field() {
        let schema = shop();
        let header = schema.message(&[0]).unwrap();
        assert_eq!(ProtoSchema::decode(&header, &[]).unwrap(), json!({}));
        // A thousand empty lines (two bytes each) stay a thousand empty objects.
        let payment = schema.message(&[1]).unwrap();
        let lines: Vec<u8> = std::iter::repeat_n([0x42_u8, 0x00], 1000)
            .flatten()
            .collect();
        let decoded = ProtoSchema::decode(&payment, &lines).unwrap();
        assert_eq!(decoded["lines"].as_array().map(Vec::len), Some(1000));
        assert!(decoded.to_string().len() < 4 * lines.len());
        let error = ProtoSchema::encode(&payment, &json!({"id": 5})).unwrap_err();
        assert!(error.contains("id") || error.contains("string"), "{error}");
        let error = ProtoSchema::encode(&payment, &json!({"nope": 5})).unwrap_err();
        assert!(error.contains("nope"), "{error}");
    }

    #[test]
    fn a_record_of_another_schema_is_refused() {
        let schema = shop();
        let header = schema.message(&[0]).unwrap();
        // Field 9, a varint: the header has no field 9.
        assert!(ProtoSchema::decode(&header, &[0x48, 0x01]).is_err());
        assert!(
            ProtoSchema::decode(&header, &[0xff]).is_err(),
            "not protobuf at all"
        );
    }

    #[test]
    fn a_serialized_descriptor_compiles_like_its_source() {
        let money = ProtoSchema::compile(MONEY, &[]).unwrap();
        let proto = money.file.file_descriptor_proto().encode_to_vec();
        let from_descriptor = ProtoSchema::compile(&super::super::base64(&proto), &[]).unwrap();
        let message = from_descriptor.message(&[0]).unwrap();
        assert_eq!(message.full_name(), "common.Money");
        assert!(ProtoSchema::compile("message {", &[]).is_err());
        assert!(
            ProtoSchema::compile(SHOP, &[]).is_err(),
            "an import that is not there"
        );
    }
}

//! JSON Schema. Its records are JSON already, so reading them needs nothing of the schema;
//! writing checks a value against it first, so that a test record the topic's readers would
//! refuse is refused at the door, naming the field and why.
//!
//! The validator is built offline (a `$ref` reaches only the schema itself and its registry
//! references, never the network or the disk) and with the linear-time `regex` engine for
//! `pattern` (no backtracking for a hostile pattern to explode). A schema whose validator does
//! not build still reads: only writing needs it.

use serde_json::Value as Json;

/// Where references without a scheme of their own (`"$ref": "address.json"`, as the
/// registry's clients name them) resolve.
const REFERENCE_BASE: &str = "json-schema:///";

/// A value's text longer than this is left out of refusals (the field path says which it is).
const MAX_SHOWN_VALUE_CHARS: usize = 80;

/// A refusal's text is cut at this many characters (an `enum` may list thousands of values).
const MAX_REFUSAL_CHARS: usize = 300;

/// The most `pattern`s and `patternProperties` one schema may have, counting a reference's once
/// per address it is found at: each is a regular expression compiled with the validator.
const MAX_PATTERNS: usize = 256;

/// What one compiled pattern may take (the `regex` crate's default is 10 MiB), and its lazy
/// DFA's cache: a few hundred patterns cannot take much memory or time to compile.
const MAX_PATTERN_BYTES: usize = 256 << 10;

/// A JSON Schema compiled for checking values before they are written.
#[derive(Debug)]
pub struct JsonSchema {
    /// The validator, or why it did not build.
    validator: Result<Box<jsonschema::Validator>, String>,
}

impl JsonSchema {
    /// `text` with the schemas it refers to (each by the name it is referred to by). `Err` only
    /// when `text` is not JSON at all; a schema whose validator does not build reads records
    /// all the same (see [`JsonSchema::writable`]).
    pub fn compile(text: &str, references: &[(String, String)]) -> Result<Self, String> {
        let schema: Json =
            serde_json::from_str(text).map_err(|e| format!("not a JSON Schema: {e}"))?;
        Ok(Self {
            validator: build(&schema, references).map(Box::new),
        })
    }

    /// Whether values can be checked against it; else why not.
    pub fn writable(&self) -> Result<(), String> {
        self.validator.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// `Ok` when the schema accepts `value`; else the first refusal, as `value.field: why`.
    pub fn check(&self, value: &Json) -> Result<(), String> {
        let validator = self
            .validator
            .as_ref()
            .map_err(|why| format!("the schema cannot check values: {why}"))?;
        let Err(error) = validator.validate(value) else {
            return Ok(());
        };
        let mut path = String::from("value");
        for segment in error.instance_path().iter() {
            match segment {
                jsonschema::paths::LocationSegment::Property(name) => {
                    path.push('.');
                    path.push_str(&name);
                }
                jsonschema::paths::LocationSegment::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        let shown = error.instance().to_string().chars().count() <= MAX_SHOWN_VALUE_CHARS;
        let why = if shown {
            error.to_string()
        } else {
            error.masked_with("the value").to_string()
        };
        Err(cut(&format!("{path}: {why}")))
    }
}

fn build(schema: &Json, references: &[(String, String)]) -> Result<jsonschema::Validator, String> {
    let mut patterns = patterns_in(schema);
    // A root that names itself by an absolute id (`$id`, or `id` in draft 4, as its draft reads
    // it) resolves relative references against it.
    let root = jsonschema::Draft::default()
        .detect(schema)
        .create_resource_ref(schema);
    let root_id = root.id().and_then(|id| jsonschema::Uri::parse(id).ok());
    // Addresses that references named by an absolute address hold: a relative name resolved
    // onto one of them does not take it over.
    let taken: Vec<&str> = references
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| name.contains(':'))
        .chain(root_id.as_ref().map(|id| id.as_str()))
        .collect();
    let mut resources = Vec::with_capacity(references.len());
    for (name, text) in references {
        let contents: Json = serde_json::from_str(text)
            .map_err(|e| format!("the reference {name} is not JSON: {e}"))?;
        let addresses = reference_addresses(name, root_id.as_ref(), &taken);
        // Each address a schema uses is compiled on its own, patterns and all.
        patterns += patterns_in(&contents) * addresses.len();
        for uri in addresses {
            resources.push((uri, jsonschema::Resource::from_contents(contents.clone())));
        }
    }
    if patterns > MAX_PATTERNS {
        return Err(format!(
            "{patterns} patterns; at most {MAX_PATTERNS} are compiled"
        ));
    }
    let registry = jsonschema::Registry::new()
        .extend(resources)
        .and_then(|builder| builder.prepare())
        .map_err(|e| format!("its references do not resolve: {e}"))?;
    jsonschema::options()
        .offline()
        .with_registry(&registry)
        .with_base_uri(REFERENCE_BASE)
        .with_pattern_options(
            jsonschema::PatternOptions::regex()
                .size_limit(MAX_PATTERN_BYTES)
                .dfa_size_limit(MAX_PATTERN_BYTES),
        )
        .build(schema)
        .map_err(|e| cut(&e.to_string()))
}

/// The addresses a reference named `name` is found at: the name itself when it is absolute;
/// else the name under [`REFERENCE_BASE`] and, when the root has an absolute id, the name
/// resolved against that (where the registry's clients look for it) unless that address is
/// `taken` (by the root, or by a reference named by it).
fn reference_addresses(
    name: &str,
    root_id: Option<&jsonschema::Uri<&str>>,
    taken: &[&str],
) -> Vec<String> {
    if name.contains(':') {
        return vec![name.to_owned()];
    }
    let mut addresses = vec![format!("{REFERENCE_BASE}{name}")];
    if let Some(resolved) = root_id.and_then(|id| jsonschema::uri::resolve_against(id, name).ok()) {
        let resolved = resolved.as_str().to_owned();
        if !addresses.contains(&resolved) && !taken.contains(&resolved.as_str()) {
            addresses.push(resolved);
        }
    }
    addresses
}

/// How many `pattern` and `patternProperties` entries `schema` has, anywhere (counting
/// generously: a property named `pattern` counts too).
fn patterns_in(schema: &Json) -> usize {
    match schema {
        Json::Object(map) => map
            .iter()
            .map(|(key, value)| {
                let own = match (key.as_str(), value) {
                    ("pattern", Json::String(_)) => 1,
                    ("patternProperties", Json::Object(each)) => each.len(),
                    _ => 0,
                };
                own + patterns_in(value)
            })
            .sum(),
        Json::Array(items) => items.iter().map(patterns_in).sum(),
        _ => 0,
    }
}

/// `text`, at most [`MAX_REFUSAL_CHARS`] characters of it.
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_REFUSAL_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PAYMENT: &str = r#"{
        "type": "object",
        "properties": {
            "amount": {"type": "number", "minimum": 0},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "lines": {"type": "array", "items": {"$ref": "line.json"}}
        },
        "required": ["amount", "currency"]
    }"#;
    const LINE: &str = r#"{"type": "object", "properties": {"sku": {"type": "string"}}}"#;

    fn payment() -> JsonSchema {
        JsonSchema::compile(PAYMENT, &[("line.json".into(), LINE.into())]).unwrap()
    }

    #[test]
    fn a_value_the_schema_accepts_passes() {
        let value = json!({"amount": 12.5, "currency": "EUR", "lines": [{"sku": "a-1"}]});
        assert_eq!(payment().check(&value), Ok(()));
    }

    #[test]
    fn a_refusal_names_the_field_and_why() {
        let refused = |value| payment().check(&value).unwrap_err();
        assert_eq!(
            refused(json!({"amount": "12", "currency": "EUR"})),
            r#"value.amount: "12" is not of type "number""#
        );
        assert_eq!(
            refused(json!({"amount": 1, "currency": "euro"})),
            r#"value.currency: "euro" does not match "^[A-Z]{3}$""#
        );
        assert_eq!(
            refused(json!({"amount": 1})),
            r#"value: "currency" is a required property"#
        );
        // Through a reference, into an array.
        assert_eq!(
            refused(json!({"amount": 1, "currency": "EUR", "lines": [{"sku": "a"}, {"sku": 7}]})),
            r#"value.lines[1].sku: 7 is not of type "string""#
        );
    }

    #[test]
    fn a_long_value_is_left_out_of_the_refusal() {
        let long = "x".repeat(10_000);
        let refused = payment()
            .check(&json!({"amount": 1, "currency": long}))
            .unwrap_err();
        assert!(
            refused.starts_with("value.currency: the value does not match"),
            "{refused}"
        );
        assert!(
            refused.chars().count() <= MAX_REFUSAL_CHARS + 1,
            "{refused}"
        );
    }

    #[test]
    fn nothing_is_fetched_and_an_unresolved_reference_still_reads() {
        let remote = r#"{"$ref": "https://example.com/elsewhere.json"}"#;
        let schema = JsonSchema::compile(remote, &[]).unwrap();
        assert!(schema.writable().is_err());
        assert!(schema
            .check(&json!(1))
            .unwrap_err()
            .contains("cannot check"));
        assert!(JsonSchema::compile("not json", &[]).is_err());
    }

    #[test]
    fn references_resolve_against_an_absolute_root_id() {
        // As the registry's clients publish them: the root names itself, its references by a
        // name relative to that.
        let root = json!({
            "$id": "https://example.com/schemas/order.json",
            "type": "object",
            "properties": {
                "lines": {"type": "array", "items": {"$ref": "line.json"}},
                "note": {"$ref": "#/$defs/note"}
            },
            "$defs": {"note": {"type": "string", "maxLength": 5}}
        })
        .to_string();
        let schema = JsonSchema::compile(&root, &[("line.json".into(), LINE.into())]).unwrap();
        assert_eq!(schema.writable(), Ok(()));
        assert_eq!(
            schema.check(&json!({"lines": [{"sku": "a"}], "note": "ok"})),
            Ok(())
        );
        assert_eq!(
            schema.check(&json!({"lines": [{"sku": 1}]})).unwrap_err(),
            r#"value.lines[0].sku: 1 is not of type "string""#
        );
        assert!(schema
            .check(&json!({"note": "too long"}))
            .unwrap_err()
            .starts_with("value.note:"));
        // A reference named by an absolute address is taken as it is.
        let absolute = json!({"$id": "https://example.com/a.json",
            "$ref": "https://other.example/line.json"})
        .to_string();
        let schema = JsonSchema::compile(
            &absolute,
            &[("https://other.example/line.json".into(), LINE.into())],
        )
        .unwrap();
        assert!(schema.check(&json!({"sku": 2})).is_err());
        assert_eq!(schema.check(&json!({"sku": "b"})), Ok(()));
        // Draft 4 names itself with `id`.
        let draft4 = json!({"$schema": "http://json-schema.org/draft-04/schema#",
            "id": "https://example.com/schemas/order.json", "items": {"$ref": "line.json"}})
        .to_string();
        let schema = JsonSchema::compile(&draft4, &[("line.json".into(), LINE.into())]).unwrap();
        assert_eq!(schema.writable(), Ok(()));
        assert!(schema.check(&json!([{"sku": 3}])).is_err());
        // A reference named by an absolute address keeps it against a relative name that
        // resolves onto it.
        let numbers = r#"{"type": "object", "properties": {"sku": {"type": "number"}}}"#;
        let both = json!({"$id": "https://example.com/schemas/order.json",
            "$ref": "https://example.com/schemas/line.json"})
        .to_string();
        let schema = JsonSchema::compile(
            &both,
            &[
                (
                    "https://example.com/schemas/line.json".into(),
                    numbers.into(),
                ),
                ("line.json".into(), LINE.into()),
            ],
        )
        .unwrap();
        assert_eq!(schema.check(&json!({"sku": 4})), Ok(()));
        // A root id that is not a hierarchical address resolves nothing, and breaks nothing.
        let urn = json!({"$id": "urn:example:order", "$ref": "line.json"}).to_string();
        let schema = JsonSchema::compile(&urn, &[("line.json".into(), LINE.into())]).unwrap();
        assert!(schema.check(&json!({"sku": 5})).is_err());
    }

    #[test]
    fn patterns_are_bounded_in_number() {
        let many: serde_json::Map<String, Json> = (0..=MAX_PATTERNS)
            .map(|i| (format!("p{i}"), json!({"pattern": format!("^a{{{i}}}$")})))
            .collect();
        let schema = json!({"properties": many}).to_string();
        let refused = JsonSchema::compile(&schema, &[])
            .unwrap()
            .writable()
            .unwrap_err();
        assert!(refused.contains("at most 256"), "{refused}");
    }

    #[test]
    fn a_pattern_is_matched_in_linear_time() {
        // Catastrophic for a backtracking engine; the regex engine refuses what it cannot do
        // in linear time (a back-reference) when the schema is compiled.
        let schema = JsonSchema::compile(r#"{"pattern": "^(a+)+$"}"#, &[]).unwrap();
        let started = std::time::Instant::now();
        assert!(schema
            .check(&json!(format!("{}b", "a".repeat(50_000))))
            .is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let backreference = JsonSchema::compile(r#"{"pattern": "(a)\\1"}"#, &[]).unwrap();
        assert!(backreference.writable().is_err());
    }
}

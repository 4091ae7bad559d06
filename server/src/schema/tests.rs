use super::*;
use serde_json::json;

const READING: &str =
    r#"{"type":"record","name":"Reading","fields":[{"name":"celsius","type":"double"}]}"#;

fn registry_schemas() -> Schemas {
    let registry =
        Registry::new("http://127.0.0.1:9", None, Duration::from_millis(200), None).unwrap();
    let lookups = lookup::Lookups::new(registry, 4, Duration::from_millis(200));
    Schemas::with(Some(Arc::new(lookups)), files::SchemaFiles::default(), 4)
}

fn lookups(schemas: &Schemas) -> &Arc<lookup::Lookups> {
    schemas.lookups.as_ref().unwrap()
}

fn known(id: u32, format: Format, text: &str) -> Arc<KnownSchema> {
    Arc::new(KnownSchema {
        label: RecordSchema {
            format: format.as_str().to_owned(),
            id: Some(id),
            subject: Some("t-value".into()),
            version: Some(1),
            ..RecordSchema::default()
        },
        format,
        text: text.to_owned(),
        references: Vec::new(),
        compiled: KnownSchema::compile(format, text, &[]).unwrap(),
        file_message: None,
        seen_on: Default::default(),
    })
}

fn add(schemas: &Schemas, schema: Arc<KnownSchema>) {
    lookups(schemas).insert(schema.label.id.unwrap(), schema);
}

#[test]
fn a_framed_record_decodes_with_the_schema_it_names() {
    let schemas = registry_schemas();
    let schema = known(7, Format::Avro, READING);
    add(&schemas, schema.clone());
    let payload = schema.encode(&json!({"celsius": 21.5}), None).unwrap();
    assert_eq!(&payload[..5], &[0, 0, 0, 0, 7]);
    match schemas.decode("t", Part::Value, &payload) {
        Decoded::Value { json, schema } => {
            assert_eq!(json, json!({"celsius": 21.5}));
            assert_eq!(schema.label(), "avro · t-value v1 · id 7");
        }
        other => panic!("{other:?}"),
    }
    assert!(schemas
        .metrics_text()
        .contains("streamhub_records_decoded_total{format=\"avro\"} 1"));
}

#[test]
fn protobuf_records_name_their_message() {
    let schemas = registry_schemas();
    let text =
        "syntax = \"proto3\"; package p; message A { string a = 1; } message B { int32 n = 1; }";
    let schema = known(8, Format::Protobuf, text);
    add(&schemas, schema.clone());
    let payload = schema.encode(&json!({"n": 3}), Some("p.B")).unwrap();
    assert_eq!(&payload[..7], &[0, 0, 0, 0, 8, 2, 2], "one index, 1");
    match schemas.decode("t", Part::Value, &payload) {
        Decoded::Value { json, schema } => {
            assert_eq!(json, json!({"n": 3}));
            assert_eq!(schema.message.as_deref(), Some("p.B"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_record_that_lies_about_its_schema_keeps_its_bytes_and_says_why() {
    let schemas = registry_schemas();
    add(&schemas, known(7, Format::Avro, READING));
    // A double is eight bytes: three are not one.
    match schemas.decode("t", Part::Value, &[0, 0, 0, 0, 7, 1, 2, 3]) {
        Decoded::Failed { reason } => {
            assert!(reason.starts_with("does not match schema 7: "), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Nine bytes: one left over.
    let mut long = vec![0, 0, 0, 0, 7];
    long.extend_from_slice(&[0; 9]);
    match schemas.decode("t", Part::Value, &long) {
        Decoded::Failed { reason } => assert!(reason.contains("left over"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(schemas
        .metrics_text()
        .contains("streamhub_records_undecoded_total{reason=\"does_not_match\"} 2"));
}

#[test]
fn an_unknown_id_is_not_looked_up_by_decode_itself() {
    let schemas = registry_schemas();
    match schemas.decode("t", Part::Value, &[0, 0, 0, 0, 9, 1]) {
        Decoded::Failed { reason } => assert_eq!(reason, "schema 9 not looked up"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        schemas.decode("t", Part::Value, br#"{"a":1}"#),
        Decoded::Plain
    );
}

#[tokio::test]
async fn an_unreachable_registry_is_remembered_briefly_and_known_schemas_keep_decoding() {
    let schemas = registry_schemas();
    let schema = known(7, Format::Avro, READING);
    add(&schemas, schema.clone());
    schemas
        .prepare("t", [Some(&[0, 0, 0, 0, 9, 1][..]), None])
        .await;
    match schemas.decode("t", Part::Value, &[0, 0, 0, 0, 9, 1]) {
        Decoded::Failed { reason } => assert_eq!(reason, "schema 9: registry unreachable"),
        other => panic!("{other:?}"),
    }
    let made = || lookups(&schemas).made.load(Ordering::Relaxed);
    assert_eq!(made(), 1);
    // While it is away, other new ids are not looked up at all.
    schemas
        .prepare("t", [Some(&[0, 0, 0, 0, 10, 1][..]), None])
        .await;
    assert_eq!(made(), 1);
    let payload = schema.encode(&json!({"celsius": 1.0}), None).unwrap();
    assert!(matches!(
        schemas.decode("t", Part::Value, &payload),
        Decoded::Value { .. }
    ));
}

#[tokio::test]
async fn lookups_are_bounded_per_topic_however_many_ids_its_producer_makes_up() {
    let schemas = registry_schemas();
    let made = || lookups(&schemas).made.load(Ordering::Relaxed);
    let frame = |id: u32| {
        let mut payload = vec![0];
        payload.extend_from_slice(&id.to_be_bytes());
        payload
    };
    for id in 100..400_u32 {
        // Each unreachable answer pauses lookups; forget it to count the rates alone.
        lookups(&schemas).forget_away();
        schemas.prepare("hostile", [Some(&frame(id)), None]).await;
    }
    assert!(made() <= 15, "{} lookups", made());
    // Another topic's new schema is still looked up.
    let before = made();
    lookups(&schemas).forget_away();
    schemas.prepare("other", [Some(&frame(1)), None]).await;
    assert_eq!(made(), before + 1);
}

#[tokio::test]
async fn one_lookup_serves_everyone_who_asks_for_the_id_at_once() {
    let schemas = Arc::new(registry_schemas());
    let asks = (0..20).map(|_| {
        let schemas = schemas.clone();
        tokio::spawn(async move {
            schemas
                .prepare("t", [Some(&[0, 0, 0, 0, 42, 1][..]), None])
                .await
        })
    });
    for ask in asks.collect::<Vec<_>>() {
        ask.await.unwrap();
    }
    assert_eq!(lookups(&schemas).made.load(Ordering::Relaxed), 1);
}

#[test]
fn the_cache_keeps_its_bound() {
    let schemas = registry_schemas();
    for id in 1..=10 {
        let schema = Arc::try_unwrap(known(id, Format::JsonSchema, "{}")).unwrap();
        lookups(&schemas).keep(id, schema, 2);
    }
    assert_eq!(lookups(&schemas).cached(), 4);
    assert!(
        schemas.cached(10).is_some() && schemas.cached(6).is_none(),
        "the oldest went"
    );
    // A schema in use stays however many others pass through; the one read longest ago goes.
    for id in 11..=20 {
        assert!(schemas.cached(7).is_some(), "read before each new one");
        let schema = Arc::try_unwrap(known(id, Format::JsonSchema, "{}")).unwrap();
        lookups(&schemas).keep(id, schema, 2);
    }
    assert!(schemas.cached(7).is_some(), "the schema in use stayed");
    assert!(schemas.cached(17).is_none() && schemas.cached(18).is_some());
}

#[test]
fn without_a_registry_a_framed_record_says_so_and_plain_records_stay_plain() {
    let none = Schemas::none();
    assert_eq!(
        none.decode("t", Part::Value, &[0, 0, 0, 0, 1, 2]),
        Decoded::Plain
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("readings.avsc"), READING).unwrap();
    let schemas = with_schema_dir(dir.path());
    match schemas.decode("t", Part::Value, &[0, 0, 0, 0, 1, 2]) {
        Decoded::Failed { reason } => {
            assert_eq!(reason, "schema 1: no schema registry is configured")
        }
        other => panic!("{other:?}"),
    }
    let file = schemas.file_for("readings").unwrap();
    let payload = file.encode(&json!({"celsius": 3.5}), None).unwrap();
    assert_eq!(payload.len(), 8, "unframed");
    match schemas.decode("readings", Part::Value, &payload) {
        Decoded::Value { json, schema } => {
            assert_eq!(json, json!({"celsius": 3.5}));
            assert_eq!(schema.file.as_deref(), Some("readings.avsc"));
        }
        other => panic!("{other:?}"),
    }
    match schemas.decode("readings", Part::Value, b"hello") {
        Decoded::Failed { reason } => assert!(
            reason.starts_with("does not match readings.avsc: "),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        schemas.decode("readings", Part::Key, b"hello"),
        Decoded::Plain
    );
}

/// Schemas from the files in `dir`, without a registry.
fn with_schema_dir(dir: &std::path::Path) -> Arc<Schemas> {
    Schemas::from_args(&SchemaArgs {
        dir: Some(dir.to_owned()),
        cache_size: 10,
        registry_timeout_ms: 100,
        ..SchemaArgs::default()
    })
    .unwrap()
}

#[test]
fn a_protobuf_file_writes_the_message_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let proto = "// streamhub:message shop.Refund\nsyntax = \"proto3\";\npackage shop;\n\
                 message Payment { string id = 1; }\nmessage Refund { int64 cents = 1; }\n";
    std::fs::write(dir.path().join("refunds.proto"), proto).unwrap();
    let schemas = with_schema_dir(dir.path());
    let file = schemas.file_for("refunds").unwrap();
    // Not the file's first message: the one records of the topic are read as.
    let payload = file.encode(&json!({"cents": "250"}), None).unwrap();
    match schemas.decode("refunds", Part::Value, &payload) {
        Decoded::Value { json, schema } => {
            assert_eq!(json, json!({"cents": 250}));
            assert_eq!(schema.message.as_deref(), Some("shop.Refund"));
        }
        other => panic!("{other:?}"),
    }
    assert!(file
        .encode(&json!({"cents": "250"}), Some("shop.Payment"))
        .unwrap_err()
        .contains("cents"));
}

#[test]
fn a_huge_schema_is_refused() {
    let huge = format!(
        r#"{{"type":"record","name":"H","doc":"{}","fields":[]}}"#,
        "x".repeat(MAX_SCHEMA_BYTES)
    );
    assert!(KnownSchema::compile(Format::Avro, &huge, &[])
        .unwrap_err()
        .contains("larger than"));
}

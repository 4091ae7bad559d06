//! Records with schemas, against the real broker and the stand-in registry: Avro, Protobuf
//! (with references) and JSON Schema records decoded once and streamed, replayed, filtered
//! and searched as JSON; what happens when the registry goes away and comes back; records that
//! lie about their schema; schemas that must not harm the server; the CLI's direct reads.

use crate::{
    filters::admin_client,
    helpers::{spawn_app_with, Client, TestApp},
};
use app::stream::{ClientFrame, SearchRequest, ServerFrame, StartPosition, StreamRecord};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use std::time::Duration;
use streamhub::{
    kafka::{client_config, KafkaArgs},
    schema::{
        registry::{RegistrySchema, SchemaReference},
        Format, KnownSchema,
    },
};
use streamhub_testkit::schema_registry::StandIn;

pub(crate) const PAYMENT_AVSC: &str = r#"{
  "type": "record", "name": "Payment", "namespace": "shop",
  "fields": [
    {"name": "id", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "currency", "type": {"type": "enum", "name": "Currency", "symbols": ["EUR", "USD"]}},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "note", "type": ["null", "string"], "default": null}
  ]}"#;

async fn app_with_registry(registry: &StandIn) -> TestApp {
    let url = registry.url();
    spawn_app_with(move |config| config.schemas.registry_url = Some(url.clone())).await
}

fn avro(text: &str) -> RegistrySchema {
    RegistrySchema {
        schema: text.to_owned(),
        schema_type: None,
        references: Vec::new(),
    }
}

/// `value` written with the registry's schema `id` (compiled from `text` in `format`).
pub(crate) fn framed(
    id: u32,
    format: Format,
    text: &str,
    refs: &[(String, String)],
    value: &Value,
    message: Option<&str>,
) -> Vec<u8> {
    let compiled = KnownSchema::compile(format, text, refs).unwrap();
    let known = KnownSchema {
        label: app::stream::RecordSchema {
            id: Some(id),
            ..Default::default()
        },
        format,
        text: text.to_owned(),
        references: Vec::new(),
        compiled,
        file_message: None,
        seen_on: Default::default(),
    };
    known.encode(value, message).unwrap()
}

pub(crate) async fn produce_bytes(app: &TestApp, topic: &str, payloads: &[Vec<u8>]) {
    let producer: FutureProducer = client_config(&KafkaArgs::for_bootstrap(app.broker.bootstrap()))
        .set("linger.ms", "1")
        .create()
        .unwrap();
    for payload in payloads {
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(0)
                    .payload(payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
}

fn payment(n: i64) -> Value {
    json!({
        "id": format!("p-{n}"),
        "amount": n as f64 * 100.0 + 0.5,
        "currency": if n % 2 == 0 { "EUR" } else { "USD" },
        "at": format!("2026-12-06T10:00:{:02}Z", n % 60),
        "note": if n % 3 == 0 { Value::Null } else { json!(format!("n{n}")) },
    })
}

/// Streams `topics` from their end, once the relay says each is subscribed.
async fn live(client: &mut Client, topics: &[&str]) {
    client.subscribe(topics, StartPosition::Latest).await;
    let mut subscribed = 0;
    while subscribed < topics.len() {
        match client.next().await {
            ServerFrame::Subscribed { .. } => subscribed += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// What the CLI's direct read of `topic` from its beginning prints (one JSON record a line),
/// decoding with `registry`.
async fn cli_reads(app: &TestApp, registry: &StandIn, topic: &str) -> Vec<Value> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"))
        .args(["consume", "-t", topic, "-o", "beginning", "-e"])
        .args(["--schema-registry", &registry.url()])
        .env("STREAMHUB_API_URL", app.url(""))
        .env("KAFKA_BOOTSTRAP_SERVERS", app.broker.bootstrap())
        .env_remove("STREAMHUB_USER")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the consumer finishes")
        .expect("the consumer runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Records until `n` have come, skipping other frames.
async fn records(client: &mut Client, n: usize) -> Vec<StreamRecord> {
    let mut out = Vec::new();
    while out.len() < n {
        match client.next().await {
            ServerFrame::Records { records } => out.extend(records),
            ServerFrame::Subscribed { .. } | ServerFrame::CaughtUp { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

/// Asserts a 400 that names `field` and whose message says `says`.
#[track_caller]
fn assert_refused(status: reqwest::StatusCode, body: &Value, field: &str, says: &str) {
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], field, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{body}");
}

#[tokio::test]
async fn avro_records_stream_filter_replay_and_search_as_json() {
    let registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    app.active_topic("payments", 1).await;
    let id = registry
        .register("payments-value", avro(PAYMENT_AVSC))
        .unwrap();
    let payloads: Vec<Vec<u8>> = (0..10)
        .map(|n| framed(id, Format::Avro, PAYMENT_AVSC, &[], &payment(n), None))
        .collect();
    produce_bytes(&app, "payments", &payloads).await;

    let mut client = admin_client(&app).await;
    client
        .send(&ClientFrame::Subscribe {
            topics: vec!["payments".into()],
            from: StartPosition::Earliest,
            filter: Some("value.amount > 500.0 && value.currency == \"USD\"".into()),
        })
        .await;
    let matched = records(&mut client, 3).await;
    let values: Vec<Value> = matched.iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(values, vec![payment(5), payment(7), payment(9)]);
    let first = &matched[0];
    assert_eq!(first.encoding, "avro");
    let schema = first.schema.as_ref().unwrap();
    assert_eq!(
        (schema.id, schema.subject.as_deref(), schema.version),
        (Some(id), Some("payments-value"), Some(1))
    );
    assert_eq!(first.undecoded, None);
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(first.raw.as_ref().unwrap())
        .unwrap();
    assert_eq!(raw, payloads[5], "the raw view is the record's bytes");

    // Live, after the replay.
    produce_bytes(
        &app,
        "payments",
        &[framed(
            id,
            Format::Avro,
            PAYMENT_AVSC,
            &[],
            &payment(11),
            None,
        )],
    )
    .await;
    let live = records(&mut client, 1).await;
    assert_eq!(live[0].value, Some(payment(11)));

    // A search sees the decoded value too.
    client
        .send(&ClientFrame::Search(SearchRequest {
            filter: Some(r#"value.id == "p-3""#.into()),
            ..SearchRequest::whole_topic("s", "payments")
        }))
        .await;
    let found = loop {
        match client.next().await {
            ServerFrame::SearchResults { records, .. } => break records,
            ServerFrame::SearchProgress { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(found[0].value, Some(payment(3)));
    assert!(
        app.metric("streamhub_records_decoded_total{format=\"avro\"}")
            .await
            >= 11
    );
    assert_eq!(
        app.metric("streamhub_schema_lookups_total").await,
        1,
        "looked up once"
    );

    // The schema, for a topic it was seen on (and only such a one).
    let (status, schema) = app.get(&format!("/api/schemas/{id}?topic=payments")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{schema}");
    assert_eq!(
        (schema["format"].as_str(), schema["subject"].as_str()),
        (Some("avro"), Some("payments-value"))
    );
    assert_eq!(schema["schema"], PAYMENT_AVSC);
    app.active_topic("elsewhere", 1).await;
    for query in [
        format!("/api/schemas/{id}?topic=elsewhere"),
        format!("/api/schemas/{id}?topic=nothing_here"),
        format!("/api/schemas/{}?topic=payments", id + 100),
    ] {
        let (status, body) = app.get(&query).await;
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{query}: {body}");
    }
}

#[tokio::test]
async fn cached_schemas_keep_decoding_while_the_registry_is_away_and_new_ones_decode_once_it_is_back(
) {
    let mut registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    app.active_topic("readings", 1).await;
    let first = registry
        .register("readings-value", avro(PAYMENT_AVSC))
        .unwrap();
    let second_text = PAYMENT_AVSC.replace("\"Payment\"", "\"Refund\"");
    let second = registry
        .register("refunds-value", avro(&second_text))
        .unwrap();
    let mut client = admin_client(&app).await;
    live(&mut client, &["readings"]).await;
    produce_bytes(
        &app,
        "readings",
        &[framed(
            first,
            Format::Avro,
            PAYMENT_AVSC,
            &[],
            &payment(1),
            None,
        )],
    )
    .await;
    assert_eq!(records(&mut client, 1).await[0].encoding, "avro");

    registry.stop();
    produce_bytes(
        &app,
        "readings",
        &[
            framed(first, Format::Avro, PAYMENT_AVSC, &[], &payment(2), None),
            framed(second, Format::Avro, &second_text, &[], &payment(3), None),
        ],
    )
    .await;
    let got = records(&mut client, 2).await;
    assert_eq!(
        got[0].value,
        Some(payment(2)),
        "a known schema decodes without the registry"
    );
    assert_eq!(
        got[1].encoding, "base64",
        "an unknown one arrives as it came"
    );
    assert_eq!(
        got[1].undecoded.as_deref(),
        Some(format!("schema {second}: registry unreachable").as_str())
    );
    assert!(
        app.metric("streamhub_records_undecoded_total{reason=\"registry_unreachable\"}")
            .await
            >= 1
    );

    registry.start_again().await.unwrap();
    // Lookups pause for a second after the registry did not answer.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    produce_bytes(
        &app,
        "readings",
        &[framed(
            second,
            Format::Avro,
            &second_text,
            &[],
            &payment(4),
            None,
        )],
    )
    .await;
    let back = records(&mut client, 1).await;
    assert_eq!(back[0].value, Some(payment(4)));
    assert_eq!(
        back[0].schema.as_ref().unwrap().subject.as_deref(),
        Some("refunds-value")
    );
}

#[tokio::test]
async fn records_that_lie_about_their_schema_or_name_none_keep_their_bytes_with_the_reason() {
    let registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    app.active_topic("liars", 1).await;
    let id = registry
        .register("liars-value", avro(r#""double""#))
        .unwrap();
    let mut client = admin_client(&app).await;
    live(&mut client, &["liars"]).await;
    produce_bytes(
        &app,
        "liars",
        &[
            // Three bytes are not a double.
            vec![0, 0, 0, 0, id as u8, 0xff, 0xfe, 0xfd],
            vec![0, 0, 0, 3, 0xe7, 0xff],
            br#"{"plain": true}"#.to_vec(),
        ],
    )
    .await;
    let got = records(&mut client, 3).await;
    assert_eq!(got[0].encoding, "base64");
    assert!(got[0]
        .undecoded
        .as_deref()
        .unwrap()
        .starts_with(&format!("does not match schema {id}: ")));
    assert_eq!(got[0].value, Some(json!("AAAAAAH//v0=")));
    assert_eq!(got[1].undecoded.as_deref(), Some("schema 999 not found"));
    assert_eq!(
        (got[2].encoding.as_str(), got[2].undecoded.as_deref()),
        ("json", None)
    );
}

const MONEY_PROTO: &str = "syntax = \"proto3\";\npackage common;\nmessage Money { string currency = 1; double units = 2; }\n";
const SHOP_PROTO: &str = r#"syntax = "proto3";
package shop;
import "common/money.proto";
message Header { string source = 1; }
message Payment {
  string id = 1;
  common.Money amount = 2;
  enum Status { OK = 0; FAILED = 1; }
  Status status = 3;
  oneof method { string card = 4; string iban = 5; }
  message Line { string sku = 1; int64 count = 2; }
  repeated Line lines = 6;
}
"#;

/// `common/money.proto` registered (as the registry's first schema) and the shop's schema,
/// which imports it, under `subject`; the shop schema's id.
fn register_shop(registry: &StandIn, subject: &str) -> u32 {
    let money = registry
        .register(
            "common/money.proto",
            RegistrySchema {
                schema: MONEY_PROTO.into(),
                schema_type: Some("PROTOBUF".into()),
                references: vec![],
            },
        )
        .unwrap();
    assert_eq!(money, 1);
    registry
        .register(
            subject,
            RegistrySchema {
                schema: SHOP_PROTO.into(),
                schema_type: Some("PROTOBUF".into()),
                references: vec![SchemaReference {
                    name: "common/money.proto".into(),
                    subject: "common/money.proto".into(),
                    version: 1,
                }],
            },
        )
        .unwrap()
}

#[tokio::test]
async fn protobuf_with_references_and_json_schema_records_decode() {
    let registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    app.active_topic("orders", 1).await;
    let shop = register_shop(&registry, "orders-value");
    let json_schema = r#"{"type":"object","properties":{"sku":{"type":"string"}}}"#;
    let json_id = registry
        .register(
            "orders-json",
            RegistrySchema {
                schema: json_schema.into(),
                schema_type: Some("JSON".into()),
                references: vec![],
            },
        )
        .unwrap();
    let refs = [("common/money.proto".to_owned(), MONEY_PROTO.to_owned())];
    let order = json!({
        "id": "o-1", "amount": {"currency": "EUR", "units": 12.5}, "status": "FAILED",
        "iban": "DE00", "lines": [{"sku": "a", "count": 3}]
    });
    let mut client = admin_client(&app).await;
    live(&mut client, &["orders"]).await;
    produce_bytes(
        &app,
        "orders",
        &[
            framed(
                shop,
                Format::Protobuf,
                SHOP_PROTO,
                &refs,
                &order,
                Some("shop.Payment"),
            ),
            framed(
                shop,
                Format::Protobuf,
                SHOP_PROTO,
                &refs,
                &json!({"sku": "z", "count": 2}),
                Some("shop.Payment.Line"),
            ),
            framed(
                json_id,
                Format::JsonSchema,
                json_schema,
                &[],
                &json!({"sku": "j"}),
                None,
            ),
        ],
    )
    .await;
    let got = records(&mut client, 3).await;
    assert_eq!(got[0].value, Some(order));
    assert_eq!(got[0].encoding, "protobuf");
    assert_eq!(
        got[0].schema.as_ref().unwrap().message.as_deref(),
        Some("shop.Payment")
    );
    assert_eq!(got[1].value, Some(json!({"sku": "z", "count": 2})));
    assert_eq!(
        got[1].schema.as_ref().unwrap().message.as_deref(),
        Some("shop.Payment.Line")
    );
    assert_eq!(
        (got[2].encoding.as_str(), got[2].value.clone()),
        ("json_schema", Some(json!({"sku": "j"})))
    );
}

#[tokio::test]
async fn schemas_that_could_harm_the_server_are_refused_and_it_goes_on() {
    let registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    app.active_topic("harm", 1).await;
    let itself = registry.register_unchecked(
        "loop-value",
        RegistrySchema {
            schema: r#""string""#.into(),
            schema_type: None,
            references: vec![SchemaReference {
                name: "x".into(),
                subject: "loop-value".into(),
                version: 1,
            }],
        },
    );
    let recursive = registry.register_unchecked(
        "list-value",
        avro(
            r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#,
        ),
    );
    let huge = registry.register_unchecked(
        "huge-value",
        avro(&format!(
            r#"{{"type":"record","name":"H","doc":"{}","fields":[]}}"#,
            "x".repeat(300 * 1024)
        )),
    );
    let fine = registry.register("fine-value", avro(r#""long""#)).unwrap();
    let mut client = admin_client(&app).await;
    live(&mut client, &["harm"]).await;
    let frame = |id: u32, body: &[u8]| {
        let mut p = vec![0];
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(body);
        p
    };
    // A long list a recursive type would follow down the stack: 1 is the union's `Node` branch.
    let deep: Vec<u8> = std::iter::repeat_n(2_u8, 200_000).collect();
    produce_bytes(
        &app,
        "harm",
        &[
            frame(itself, b"\x02a"),
            frame(recursive, &deep),
            frame(huge, b""),
            frame(fine, &[4]),
        ],
    )
    .await;
    let got = records(&mut client, 4).await;
    let reasons: Vec<String> = got
        .iter()
        .map(|r| r.undecoded.clone().unwrap_or_default())
        .collect();
    assert!(reasons[0].contains("refers to itself"), "{reasons:?}");
    assert!(reasons[1].contains("contains itself"), "{reasons:?}");
    assert!(reasons[2].contains("larger than"), "{reasons:?}");
    assert_eq!(got[3].value, Some(json!(2)));
    let (status, health) = app.get("/api/health").await;
    assert!(status.is_success(), "{health}");
}

#[tokio::test]
async fn the_cli_decodes_direct_reads_with_the_same_code() {
    let registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    app.active_topic("cli_payments", 1).await;
    let id = registry
        .register("cli_payments-value", avro(PAYMENT_AVSC))
        .unwrap();
    produce_bytes(
        &app,
        "cli_payments",
        &[framed(
            id,
            Format::Avro,
            PAYMENT_AVSC,
            &[],
            &payment(1),
            None,
        )],
    )
    .await;
    let lines = cli_reads(&app, &registry, "cli_payments").await;
    let line = &lines[0];
    assert_eq!(line["value"], payment(1));
    assert_eq!(line["encoding"], "avro");
    assert_eq!(line["schema"]["subject"], "cli_payments-value");
}

/// The wire format as the ecosystem writes it: records written by PyPI `confluent-kafka`'s
/// own Avro, Protobuf and JSON Schema serializers (pointed at the stand-in), read by the relay's
/// streams, its search and the CLI's direct reads exactly as that library's deserializers read
/// them (tests/fixtures/confluent_wire.py).
#[tokio::test]
async fn records_written_by_the_registrys_own_client_read_as_it_reads_them() {
    let registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    let topics = ["wire_avro", "wire_protobuf", "wire_json"];
    for topic in topics {
        app.active_topic(topic, 1).await;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/confluent_wire.py"
    );
    let output = tokio::process::Command::new("python3")
        .args([script, &app.broker.bootstrap(), &registry.url(), "wire"])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("the Python client finishes")
        .expect("python3 runs (make deps installs confluent-kafka)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: std::collections::BTreeMap<(String, i64), Value> =
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                let line: Value = serde_json::from_str(line).unwrap();
                (
                    (
                        line["topic"].as_str().unwrap().to_owned(),
                        line["offset"].as_i64().unwrap(),
                    ),
                    line["value"].clone(),
                )
            })
            .collect();
    assert_eq!(expected.len(), 60);
    let check = |how: &str, topic: &str, offset: i64, value: &Value| {
        let want = &expected[&(topic.to_owned(), offset)];
        assert_eq!(value, want, "{how}: {topic} @{offset}");
    };

    // The relay's streams.
    let mut client = admin_client(&app).await;
    client.subscribe(&topics, StartPosition::Earliest).await;
    let streamed = records(&mut client, 60).await;
    for record in &streamed {
        assert!(
            record.schema.is_some() && record.undecoded.is_none(),
            "{record:?}"
        );
        check(
            "stream",
            &record.topic,
            record.offset,
            record.value.as_ref().unwrap(),
        );
    }
    let protobuf = streamed
        .iter()
        .find(|r| r.topic == "wire_protobuf")
        .unwrap();
    assert_eq!(
        protobuf.schema.as_ref().unwrap().message.as_deref(),
        Some("wire.test.Order")
    );

    // Its search.
    for topic in topics {
        client
            .send(&ClientFrame::Search(SearchRequest::whole_topic(
                topic, topic,
            )))
            .await;
        let mut found = 0;
        loop {
            match client.next().await {
                ServerFrame::SearchResults { records, .. } => {
                    for record in records {
                        check(
                            "search",
                            topic,
                            record.offset,
                            record.value.as_ref().unwrap(),
                        );
                        found += 1;
                    }
                }
                ServerFrame::SearchDone { .. } => break,
                _ => {}
            }
        }
        assert_eq!(found, 20, "{topic}");
    }

    // The CLI's direct reads.
    for topic in topics {
        let lines = cli_reads(&app, &registry, topic).await;
        assert_eq!(lines.len(), 20, "{topic}");
        for line in lines {
            check(
                "cli",
                topic,
                line["offset"].as_i64().unwrap(),
                &line["value"],
            );
        }
    }
}

#[tokio::test]
async fn a_topic_request_carries_its_value_schema_and_approval_registers_it() {
    let registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    let request = |schema: &str| {
        json!({"name": "ledger", "created_by": "ana", "partitions": 1,
               "value_schema": {"format": "avro", "schema": schema}})
    };

    let (status, body) = app.post("/api/topics", request("{")).await;
    assert_refused(status, &body, "value_schema", "not an Avro schema");
    let (status, body) = app
        .post(
            "/api/topics",
            json!({"name": "ledger", "created_by": "ana", "value_schema": {"format": "xml", "schema": "<a/>"}}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("value_schema"))
    );

    // The subject has a version already: a schema that cannot read its records is refused
    // with the registry's reason.
    registry
        .register("ledger-value", avro(PAYMENT_AVSC))
        .unwrap();
    let incompatible = PAYMENT_AVSC.replace(
        r#"{"name": "id", "type": "string"},"#,
        r#"{"name": "id", "type": "string"}, {"name": "branch", "type": "string"},"#,
    );
    let (status, body) = app.post("/api/topics", request(&incompatible)).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("READER_FIELD_MISSING_DEFAULT_VALUE: branch"),
        "{body}"
    );

    let compatible = PAYMENT_AVSC.replace(
        r#"{"name": "id", "type": "string"},"#,
        r#"{"name": "id", "type": "string"}, {"name": "branch", "type": "string", "default": "main"},"#,
    );
    let (status, body) = app.post("/api/topics", request(&compatible)).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let id = body["topic_id"].as_i64().unwrap();
    let detail = app.topic(id).await;
    assert_eq!(detail["value_schema_format"], "avro");
    assert_eq!(detail["value_schema"], compatible.as_str());
    assert!(detail.get("value_schema_id").is_none(), "{detail}");

    let (status, body) = app
        .as_admin(
            reqwest::Method::POST,
            &format!("/api/topics/{id}/approve"),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    let detail = app.topic(id).await;
    let schema_id = detail["value_schema_id"]
        .as_i64()
        .expect("registered on approval");
    let latest = streamhub::schema::registry::Registry::new(
        &registry.url(),
        None,
        Duration::from_secs(2),
        None,
    )
    .unwrap()
    .subject_version("ledger-value", "latest")
    .await
    .unwrap();
    assert_eq!((i64::from(latest.id), latest.version), (schema_id, 2));
    assert!(
        detail["history"]
            .to_string()
            .contains(&format!("id {schema_id}")),
        "{detail}"
    );
}

#[tokio::test]
async fn a_test_record_to_a_topic_with_a_schema_is_encoded_with_it_or_refused_by_field() {
    let registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    let id = app.active_topic("composed", 1).await;
    registry
        .register("composed-value", avro(PAYMENT_AVSC))
        .unwrap();
    let path = format!("/api/topics/{id}/records");
    let (status, body) = app
        .as_admin(
            reqwest::Method::POST,
            &path,
            Some(json!({"value": payment(1)})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let mut wrong = payment(2);
    wrong["amount"] = json!("lots");
    let (status, body) = app
        .as_admin(reqwest::Method::POST, &path, Some(json!({"value": wrong})))
        .await;
    assert_refused(
        status,
        &body,
        "value",
        "value.amount: expected a number, got a string",
    );

    let mut client = admin_client(&app).await;
    client
        .subscribe(&["composed"], StartPosition::Earliest)
        .await;
    let got = records(&mut client, 1).await;
    assert_eq!(
        (got[0].encoding.as_str(), got[0].value.clone()),
        ("avro", Some(payment(1)))
    );
}

#[tokio::test]
async fn test_records_pick_their_protobuf_message_and_are_checked_by_a_json_schema() {
    let registry = StandIn::start(None).await.unwrap();
    let app = app_with_registry(&registry).await;
    let orders = app.active_topic("composed-orders", 1).await;
    let carts = app.active_topic("composed-carts", 1).await;
    register_shop(&registry, "composed-orders-value");
    let cart_schema = r#"{"type": "object", "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"type": "object",
            "properties": {"qty": {"type": "integer", "minimum": 1}}}}}}"#;
    registry
        .register(
            "composed-carts-value",
            RegistrySchema {
                schema: cart_schema.into(),
                schema_type: Some("JSON".into()),
                references: vec![],
            },
        )
        .unwrap();
    let send = |id: i64, body: Value| {
        let app = &app;
        async move {
            app.as_admin(
                reqwest::Method::POST,
                &format!("/api/topics/{id}/records"),
                Some(body),
            )
            .await
        }
    };

    // Protobuf: a nested message chosen by name; a message the schema lacks is a 400.
    let line = json!({"sku": "z", "count": 2});
    let (status, body) = send(
        orders,
        json!({"value": line, "message": "shop.Payment.Line"}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let (status, body) = send(orders, json!({"value": line, "message": "shop.Nope"})).await;
    assert_refused(status, &body, "message", "shop.Nope");
    // Only a Protobuf schema has messages.
    let cart = json!({"items": []});
    let (status, body) = send(carts, json!({"value": cart, "message": "shop.Payment"})).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "message");

    // JSON Schema: checked before it is sent, the refusal naming the field.
    let (status, body) = send(carts, json!({"value": {"items": [{"qty": 2}]}})).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let (status, body) = send(carts, json!({"value": {"items": [{"qty": 2}, {"qty": 0}]}})).await;
    assert_refused(
        status,
        &body,
        "value",
        "value.items[1].qty: 0 is less than the minimum of 1",
    );

    // Only what was accepted reached the topics, decoded as written.
    let mut client = admin_client(&app).await;
    client
        .subscribe(
            &["composed-orders", "composed-carts"],
            StartPosition::Earliest,
        )
        .await;
    let mut got = records(&mut client, 2).await;
    got.sort_by(|a, b| a.topic.cmp(&b.topic));
    assert_eq!(got[0].value, Some(json!({"items": [{"qty": 2}]})));
    assert_eq!(got[0].encoding, "json_schema");
    assert_eq!(got[1].value, Some(line));
    assert_eq!(
        got[1].schema.as_ref().unwrap().message.as_deref(),
        Some("shop.Payment.Line")
    );
}

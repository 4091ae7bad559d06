use super::writing::{epoch, parse_decimal, signed_bytes};
use super::*;

const PAYMENT: &str = r#"{
    "type": "record", "name": "Payment", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OK", "FAILED"]}},
        {"name": "note", "type": ["null", "string"], "default": null},
        {"name": "tags", "type": {"type": "array", "items": "string"}}
    ]}"#;

#[test]
fn a_payment_decodes_readably_and_round_trips() {
    let schema = AvroSchema::compile(PAYMENT, &[]).unwrap();
    let value = json!({
        "id": "p-1", "amount": 512.5, "price": "-12.05", "at": "2026-12-06T09:30:00.250Z",
        "status": "FAILED", "note": "gift", "tags": ["a", "b"]
    });
    let bytes = schema.encode(&value).unwrap();
    assert_eq!(schema.decode(&bytes).unwrap(), value);
}

#[test]
fn a_missing_optional_field_is_null_and_a_bad_field_is_named() {
    let schema = AvroSchema::compile(PAYMENT, &[]).unwrap();
    let mut value = json!({
        "id": "p-1", "amount": 1.0, "price": "1", "at": 0, "status": "OK", "tags": []
    });
    let decoded = schema.decode(&schema.encode(&value).unwrap()).unwrap();
    assert_eq!(decoded["note"], Json::Null);
    assert_eq!(decoded["price"], "1.00");
    assert_eq!(decoded["at"], "1970-01-01T00:00:00Z");
    value["amount"] = json!("lots");
    assert_eq!(
        schema.encode(&value).unwrap_err(),
        "value.amount: expected a number, got a string"
    );
    value["amount"] = json!(1.0);
    value["status"] = json!("LOST");
    assert!(schema
        .encode(&value)
        .unwrap_err()
        .starts_with("value.status: \"LOST\" is not one of"));
    value["status"] = json!("OK");
    value["extra"] = json!(1);
    assert_eq!(
        schema.encode(&value).unwrap_err(),
        "value.extra: the schema has no such field"
    );
}

#[test]
fn left_over_bytes_mean_the_record_is_not_of_this_schema() {
    let schema = AvroSchema::compile(r#""long""#, &[]).unwrap();
    assert_eq!(schema.decode(&[2]).unwrap(), json!(1));
    assert_eq!(
        schema.decode(&[2, 2]).unwrap_err(),
        "1 bytes left over after the record"
    );
    assert!(schema.decode(&[0x80]).is_err(), "a varint cut short");
}

#[test]
fn references_bring_named_types() {
    let address = r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}"#;
    let customer = r#"{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"home","type":"shop.Address"}]}"#;
    let schema = AvroSchema::compile(customer, &[address.to_owned()]).unwrap();
    let value = json!({"home": {"city": "Lyon"}});
    assert_eq!(
        schema.decode(&schema.encode(&value).unwrap()).unwrap(),
        value
    );
    assert!(
        AvroSchema::compile(customer, &[]).is_err(),
        "unknown type without the reference"
    );
}

#[test]
fn a_type_that_contains_itself_is_refused() {
    let list =
        r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#;
    assert_eq!(
        AvroSchema::compile(list, &[]).unwrap_err(),
        "the type Node contains itself"
    );
}

#[test]
fn decimals_keep_their_digits() {
    assert_eq!(decimal_text(&[0x04, 0xd2], 2), "12.34");
    assert_eq!(decimal_text(&[0xff], 3), "-0.001");
    assert_eq!(decimal_text(&[0x00], 0), "0");
    for (text, scale) in [
        ("12.34", 2),
        ("-0.001", 3),
        ("7", 0),
        ("-128", 0),
        ("128", 0),
    ] {
        let unscaled = parse_decimal(text, scale).unwrap();
        assert_eq!(decimal_text(&signed_bytes(unscaled), scale), text);
    }
    assert_eq!(
        parse_decimal("1.234", 2),
        None,
        "more places than the scale"
    );
    assert_eq!(parse_decimal("1e3", 2), None);
}

#[test]
fn times_read_as_times() {
    assert_eq!(instant(1_000, MILLIS, true), "1970-01-01T00:00:01Z");
    assert_eq!(instant(1_500, MICROS, false), "1970-01-01T00:00:00.001500");
    assert_eq!(instant(-1, MILLIS, true), "1969-12-31T23:59:59.999Z");
    assert_eq!(
        instant(i64::MAX, MICROS, true),
        json!(i64::MAX),
        "past the calendar"
    );
    assert_eq!(time_of_day(3_723_004, MILLIS), "01:02:03.004");
    assert_eq!(time_of_day(-1, MILLIS), json!(-1));
    assert_eq!(
        epoch(&json!("1970-01-01T00:00:01.5Z"), MICROS),
        Some(1_500_000)
    );
    assert_eq!(
        epoch(&json!(7), MICROS),
        Some(7),
        "a number is in the type's unit"
    );
}

#[test]
fn a_type_used_twice_decodes_and_deep_or_wide_schemas_are_refused() {
    let twice = r#"{"type":"record","name":"Trip","fields":[
        {"name":"from","type":{"type":"record","name":"Place","fields":[{"name":"city","type":"string"}]}},
        {"name":"to","type":"Place"}]}"#;
    let schema = AvroSchema::compile(twice, &[]).unwrap();
    let value = json!({"from": {"city": "Lyon"}, "to": {"city": "Porto"}});
    assert_eq!(
        schema.decode(&schema.encode(&value).unwrap()).unwrap(),
        value
    );

    // Forty types, each of two fields of the one before: walked once each, not 2⁴⁰ times.
    let mut types =
        vec![r#"{"type":"record","name":"T0","fields":[{"name":"x","type":"long"}]}"#.to_owned()];
    for i in 1..40 {
        types.push(format!(
            r#"{{"type":"record","name":"T{i}","fields":[{{"name":"a","type":"T{p}"}},{{"name":"b","type":"T{p}"}}]}}"#,
            p = i - 1
        ));
    }
    let started = std::time::Instant::now();
    let wide = AvroSchema::compile(types.last().unwrap(), &types[..39]);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(wide.is_ok(), "forty levels pass: {wide:?}");
}

#[test]
fn what_could_harm_the_decoder_is_refused() {
    let mut deep = r#""long""#.to_owned();
    for _ in 0..100 {
        deep = format!(r#"{{"type":"array","items":{deep}}}"#);
    }
    assert!(AvroSchema::compile(&deep, &[])
        .unwrap_err()
        .contains("deeper than"));
    let wide_decimal =
        r#"{"type":"bytes","logicalType":"decimal","precision":2000000000,"scale":1000000000}"#;
    assert!(AvroSchema::compile(wide_decimal, &[])
        .unwrap_err()
        .contains("digits"));
    assert!(AvroSchema::compile(r#"{"type":"record","name":"1","fields":[]}"#, &[]).is_err());
    // An array that claims a billion items in a record of a few bytes.
    let array = AvroSchema::compile(r#"{"type":"array","items":"long"}"#, &[]).unwrap();
    assert!(array.decode(&[0x80, 0xa8, 0xd6, 0xb9, 0x07]).is_err());
}

//! Turning a Kafka message into the protocol's record, serialised once: the live feed encodes
//! each record a single time, as a `records` frame of its own. A socket that sends one record
//! sends that very frame (a reference count, no copy); one that sends several copies their JSON
//! out of their frames into one.

use super::filters::Verdicts;
use crate::schema::{base64, Decoded, Part, Schemas};
use app::stream::StreamRecord;
use axum::extract::ws::Utf8Bytes;
use rdkafka::message::{Headers, Message};
use std::collections::BTreeMap;

/// A record ready to be sent: where it sits in its partition, and a `records` frame holding it
/// alone.
#[derive(Debug)]
pub struct EncodedRecord {
    pub partition: i32,
    pub offset: i64,
    pub frame: Utf8Bytes,
    /// What filter expressions said of it, for the streams that share it.
    pub verdicts: Verdicts,
    /// The record as readers outside its topic's owners see it, made once by the first of
    /// them (see `masked`), with the id of the masks it was made with.
    pub masked: std::sync::OnceLock<(u64, std::sync::Arc<EncodedRecord>)>,
}

impl EncodedRecord {
    /// The record's own JSON, inside its frame.
    pub fn json(&self) -> &str {
        let frame = self.frame.as_str();
        &frame[FRAME_START.len()..frame.len() - FRAME_END.len()]
    }
}

/// The protocol record of a Kafka message: a value that carries a schema decoded with it (see
/// [`crate::schema`]), else the value as JSON when the payload parses as JSON, as text when it
/// is UTF-8, as base64 otherwise. `schemas` must have been prepared for the message
/// ([`Schemas::prepare`]).
pub fn to_stream_record<M: Message>(message: &M, schemas: &Schemas) -> StreamRecord {
    let topic = message.topic();
    let mut record = StreamRecord {
        topic: topic.to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis(),
        headers: headers(message),
        ..StreamRecord::default()
    };
    match message.payload() {
        None => record.encoding = "json".to_owned(),
        Some(bytes) => match schemas.decode(topic, Part::Value, bytes) {
            Decoded::Value { json, schema } => {
                record.encoding = schema.format.clone();
                record.value = Some(json);
                record.schema = Some(schema);
                record.raw = Some(base64(bytes));
            }
            Decoded::Failed { reason } => {
                let (value, encoding) = plain(bytes, false);
                (record.value, record.encoding) = (Some(value), encoding.to_owned());
                record.undecoded = Some(reason);
            }
            Decoded::Plain => {
                let (value, encoding) = plain(bytes, true);
                (record.value, record.encoding) = (Some(value), encoding.to_owned());
            }
        },
    }
    record.key = message
        .key()
        .map(|k| match schemas.decode(topic, Part::Key, k) {
            Decoded::Value { json, schema } => {
                record.key_schema = Some(schema);
                json.to_string()
            }
            Decoded::Failed { .. } | Decoded::Plain => String::from_utf8_lossy(k).into_owned(),
        });
    record
}

/// A payload as it came: JSON (when `json` and it parses), text when UTF-8, else base64.
fn plain(bytes: &[u8], json: bool) -> (serde_json::Value, &'static str) {
    if json {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
            return (value, "json");
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (serde_json::Value::String(text.to_owned()), "text"),
        Err(_) => (serde_json::Value::String(base64(bytes)), "base64"),
    }
}

fn headers<M: Message>(message: &M) -> BTreeMap<String, String> {
    message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Encodes a message once for all sockets.
pub fn encode<M: Message>(message: &M, schemas: &Schemas) -> EncodedRecord {
    encode_record(&to_stream_record(message, schemas))
}

/// Encodes a protocol record (one already read for a filter, say).
pub fn encode_record(record: &StreamRecord) -> EncodedRecord {
    EncodedRecord {
        partition: record.partition,
        offset: record.offset,
        // A struct of strings, numbers and JSON values always serialises.
        frame: records_frame([serde_json::to_string(record).unwrap_or_default().as_str()]).into(),
        verdicts: Verdicts::default(),
        masked: std::sync::OnceLock::new(),
    }
}

const FRAME_START: &str = r#"{"type":"records","records":["#;
const FRAME_END: &str = "]}";

/// Builds a `records` frame from encoded records without re-serialising them.
pub fn records_frame<'a>(records: impl IntoIterator<Item = &'a str>) -> String {
    let mut frame = String::from(FRAME_START);
    for (i, json) in records.into_iter().enumerate() {
        if i > 0 {
            frame.push(',');
        }
        frame.push_str(json);
    }
    frame.push_str(FRAME_END);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::stream::ServerFrame;

    fn unbase64(text: &str) -> Vec<u8> {
        crate::schema::unbase64(text).unwrap()
    }

    use proptest::prelude::*;

    proptest::proptest! {
        /// Whatever bytes a producer wrote, the relay's record parses as a protocol frame and
        /// gives the payload back: the same JSON value, the same text, or the same bytes.
        #[test]
        fn any_payload_survives_the_trip_through_a_frame(
            payload in proptest::prop_oneof![
                proptest::collection::vec(proptest::num::u8::ANY, 0..200),
                "\\PC{0,80}".prop_map(String::into_bytes),
                proptest::collection::vec(0_i64..1000, 0..5)
                    .prop_map(|v| serde_json::to_vec(&serde_json::json!({"n": v})).unwrap()),
            ],
            key in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..20)),
        ) {
            let message = rdkafka::message::OwnedMessage::new(
                Some(payload.clone()),
                key,
                "t".into(),
                rdkafka::Timestamp::CreateTime(5),
                2,
                9,
                None,
            );
            let encoded = encode(&message, &Schemas::none());
            let frame = encoded.frame.as_str();
            let ServerFrame::Records { records } = serde_json::from_str::<ServerFrame>(frame).unwrap() else {
                panic!("not a records frame");
            };
            let record = &records[0];
            prop_assert_eq!((record.partition, record.offset, record.timestamp), (2, 9, Some(5)));
            let value = record.value.clone().unwrap();
            match record.encoding.as_str() {
                "json" => prop_assert_eq!(value, serde_json::from_slice::<serde_json::Value>(&payload).unwrap()),
                "text" => prop_assert_eq!(value.as_str().unwrap().as_bytes(), &payload[..]),
                "base64" => prop_assert_eq!(unbase64(value.as_str().unwrap()), payload),
                other => prop_assert!(false, "unknown encoding {}", other),
            }
        }
    }

    #[test]
    fn a_record_is_its_own_frame_and_its_json_is_found_in_it() {
        let message = rdkafka::message::OwnedMessage::new(
            Some(br#"{"n":1}"#.to_vec()),
            None,
            "t".into(),
            rdkafka::Timestamp::CreateTime(5),
            0,
            3,
            None,
        );
        let record = encode(&message, &Schemas::none());
        assert_eq!(record.frame.as_str(), records_frame([record.json()]));
        let parsed: StreamRecord = serde_json::from_str(record.json()).unwrap();
        assert_eq!(
            (parsed.offset, parsed.value),
            (3, Some(serde_json::json!({"n": 1})))
        );
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0x00, 0x10, 0x80]), "/wAQgA==");
    }

    #[test]
    fn a_records_frame_parses_as_the_protocol_says() {
        let record = StreamRecord {
            topic: "t".into(),
            partition: 1,
            offset: 7,
            timestamp: Some(1),
            key: None,
            headers: BTreeMap::new(),
            value: Some(serde_json::json!({"a": 1})),
            encoding: "json".into(),
            ..Default::default()
        };
        let json = serde_json::to_string(&record).unwrap();
        let frame = records_frame([json.as_str(), json.as_str()]);
        match serde_json::from_str::<ServerFrame>(&frame).unwrap() {
            ServerFrame::Records { records } => assert_eq!(records, vec![record.clone(), record]),
            other => panic!("{other:?}"),
        }
    }
}

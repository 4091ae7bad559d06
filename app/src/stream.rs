//! The live stream's frame protocol (`GET /api/stream`, WebSocket, JSON text frames), shared by
//! the server's relay, the browser's viewer and the CLI's `--via-relay` mode. The README's
//! "Live stream protocol" section describes it for other clients; keep the two in step.
//!
//! This module must not depend on any runtime (it compiles to WASM as well).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a subscription starts reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "position", rename_all = "snake_case")]
pub enum StartPosition {
    /// Only records produced from now on (the default).
    #[default]
    Latest,
    /// Everything the topic still holds (bounded by the server's replay limit).
    Earliest,
    /// The last `n` records of each partition, then live.
    Last { n: u64 },
    /// From these offsets (partition → offset); partitions not named start at latest.
    Offsets {
        #[serde(with = "partition_map")]
        offsets: BTreeMap<i32, i64>,
    },
    /// From the first record stamped at or after `at` (milliseconds since the Unix epoch),
    /// within the replay limit.
    Timestamp { at: i64 },
}

/// A frame from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Start streaming these topics from `from`.
    Subscribe {
        topics: Vec<String>,
        #[serde(default)]
        from: StartPosition,
    },
    /// Stop streaming these topics.
    Unsubscribe { topics: Vec<String> },
    /// Asks for a `pong` (application-level liveness check).
    Ping,
}

/// One Kafka record as the relay sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the Unix epoch (the record's create or log-append time).
    pub timestamp: Option<i64>,
    pub key: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `null` for a tombstone.
    pub value: Option<serde_json::Value>,
    /// `json`, `text` or `base64`: how `value` encodes the payload.
    pub encoding: String,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Sent once after the upgrade.
    Hello {
        /// The user the socket follows (`?user_id=`), if any.
        user_id: Option<String>,
        /// Most records per `records` frame.
        max_batch: usize,
    },
    /// One or more records, in offset order per partition.
    Records { records: Vec<StreamRecord> },
    /// A topic now streams; `next_offsets` are where the live stream joins (replayed records,
    /// if any, come first).
    Subscribed {
        topic: String,
        from: StartPosition,
        #[serde(with = "partition_map")]
        next_offsets: BTreeMap<i32, i64>,
    },
    /// A topic no longer streams (`reason`: `requested`, `unsubscribed`, `inactive`).
    Unsubscribed { topic: String, reason: String },
    /// This socket fell behind and `skipped` records of `topic` were not sent to it.
    Lagged { topic: String, skipped: u64 },
    /// A topic changed state (`inactive`: its stream ended).
    TopicState { topic: String, state: String },
    /// A control frame was refused; the socket stays open.
    Error { error: String, message: String },
    /// The answer to a `ping` frame.
    Pong,
}

/// Partition → offset maps as JSON objects (`{"0": 5}`). JSON keys are strings; serde cannot
/// turn them back into integers inside internally tagged enums, so this does it by hand.
mod partition_map {
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(map: &BTreeMap<i32, i64>, s: S) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<String, i64> = map.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<i32, i64>, D::Error> {
        BTreeMap::<String, i64>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| {
                k.parse::<i32>()
                    .map(|k| (k, v))
                    .map_err(|_| D::Error::custom(format!("partition {k:?} is not a number")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_from_their_documented_json() {
        let frame: ClientFrame = serde_json::from_str(
            r#"{"type": "subscribe", "topics": ["a"], "from": {"position": "last", "n": 10}}"#,
        )
        .unwrap();
        assert_eq!(
            frame,
            ClientFrame::Subscribe {
                topics: vec!["a".into()],
                from: StartPosition::Last { n: 10 }
            }
        );
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type": "subscribe", "topics": ["a"]}"#).unwrap();
        assert!(matches!(
            frame,
            ClientFrame::Subscribe {
                from: StartPosition::Latest,
                ..
            }
        ));
        let frame: ClientFrame = serde_json::from_str(
            r#"{"type": "subscribe", "topics": ["a"], "from": {"position": "offsets", "offsets": {"0": 5}}}"#,
        )
        .unwrap();
        assert_eq!(
            frame,
            ClientFrame::Subscribe {
                topics: vec!["a".into()],
                from: StartPosition::Offsets {
                    offsets: BTreeMap::from([(0, 5)])
                }
            }
        );
        let subscribed = ServerFrame::Subscribed {
            topic: "t".into(),
            from: StartPosition::Latest,
            next_offsets: BTreeMap::from([(0, 1), (2, 3)]),
        };
        let json = serde_json::to_string(&subscribed).unwrap();
        assert_eq!(
            serde_json::from_str::<ServerFrame>(&json).unwrap(),
            subscribed
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type": "dance"}"#).is_err());
    }

    fn start_position() -> impl proptest::strategy::Strategy<Value = StartPosition> {
        use proptest::prelude::*;
        prop_oneof![
            Just(StartPosition::Latest),
            Just(StartPosition::Earliest),
            any::<u64>().prop_map(|n| StartPosition::Last { n }),
            proptest::collection::btree_map(any::<i32>(), any::<i64>(), 0..4)
                .prop_map(|offsets| StartPosition::Offsets { offsets }),
            any::<i64>().prop_map(|at| StartPosition::Timestamp { at }),
        ]
    }

    proptest::proptest! {
        /// Whatever a client sends, parsing a control frame answers (a frame or an error the
        /// relay turns into an `error` frame) and never panics.
        #[test]
        fn arbitrary_text_never_panics_the_control_frame_parser(text in "\\PC{0,200}") {
            let _ = serde_json::from_str::<ClientFrame>(&text);
        }

        /// Near-misses of real frames (valid JSON, wrong shapes) are refused, not misread.
        #[test]
        fn json_of_the_wrong_shape_is_refused(
            kind in "(subscribe|unsubscribe|ping|dance)",
            topics in proptest::prop_oneof![
                proptest::strategy::Just(serde_json::json!(null)),
                proptest::strategy::Just(serde_json::json!(5)),
                proptest::strategy::Just(serde_json::json!([1, 2])),
                proptest::strategy::Just(serde_json::json!("t")),
            ],
        ) {
            let frame = serde_json::json!({"type": kind, "topics": topics});
            let parsed = serde_json::from_value::<ClientFrame>(frame);
            proptest::prop_assert!(parsed.is_err() || kind == "ping");
        }

        /// Every frame a client can build reads back as itself.
        #[test]
        fn every_subscribe_frame_round_trips(
            topics in proptest::collection::vec("[a-z0-9._-]{1,20}", 0..4),
            from in start_position(),
        ) {
            let frame = ClientFrame::Subscribe { topics, from };
            let json = serde_json::to_string(&frame).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<ClientFrame>(&json).unwrap(), frame);
        }
    }

    #[test]
    fn server_frames_are_tagged() {
        let json = serde_json::to_value(ServerFrame::Lagged {
            topic: "t".into(),
            skipped: 3,
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "lagged", "topic": "t", "skipped": 3})
        );
    }
}

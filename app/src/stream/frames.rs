//! The frames of the live stream's protocol: what a client sends ([`ClientFrame`]), what the
//! relay answers ([`ServerFrame`]), and the values they carry (where a stream starts, a search,
//! a record). serde reads and writes them as the JSON docs/protocol.md documents.

use super::PartitionOffsets;
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
    Offsets { offsets: PartitionOffsets },
    /// From the first record stamped at or after `at` (milliseconds since the Unix epoch),
    /// within the replay limit.
    Timestamp { at: i64 },
    /// From where the socket's user last stood: their consumer group's (`streamhub-<user>`)
    /// committed offsets, within the replay limit; partitions without one start at latest.
    Stored,
}

/// A frame from the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Start streaming these topics from `from`, only the records that match `filter` (a CEL
    /// expression over `key`, `value`, `headers`, `partition`, `offset` and `timestamp`) when
    /// one is given.
    Subscribe {
        topics: Vec<String>,
        #[serde(default)]
        from: StartPosition,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<String>,
    },
    /// Stop streaming these topics.
    Unsubscribe { topics: Vec<String> },
    /// Search a topic's history (replaces this socket's running search).
    Search(SearchRequest),
    /// Stop the search `id`.
    CancelSearch { id: String },
    /// Store where each of this socket's streams stands as its user's position (their consumer
    /// group's committed offsets), where `{"position": "stored"}` starts.
    SavePosition,
    /// Asks for a `pong` (application-level liveness check).
    Ping,
}

/// A search of a topic's history: which records to scan (all of the topic by default), which
/// to return (those `filter` matches, at most `max_matches`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Names the search in the frames about it.
    pub id: String,
    pub topic: String,
    /// A filter expression (every record in scope without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Only this partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// Only offsets at or after this one, in every partition scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_offset: Option<i64>,
    /// Only offsets before this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_offset: Option<i64>,
    /// Only records stamped at or after this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Only records stamped before this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// Stop after this many matches (1,000 by default, 10,000 at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_matches: Option<u64>,
}

impl SearchRequest {
    /// A search of all of `topic`, unfiltered, with the default cap on matches; set the other
    /// fields to narrow it.
    pub fn whole_topic(id: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            topic: topic.into(),
            filter: None,
            partition: None,
            from_offset: None,
            to_offset: None,
            since: None,
            until: None,
            max_matches: None,
        }
    }
}

/// One Kafka record as the relay sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
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
    /// How `value` encodes the payload: `json`, `text` or `base64` as it came, or `avro`,
    /// `protobuf` or `json_schema` when it was decoded with a schema (then `value` is JSON).
    pub encoding: String,
    /// The schema the value was decoded with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<RecordSchema>,
    /// The schema the key was decoded with (`key` is then the decoded key as JSON text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_schema: Option<RecordSchema>,
    /// Why a payload that names a schema was not decoded (`value` is then its text or base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undecoded: Option<String>,
    /// The payload's bytes in base64 when `value` was decoded from them, for a raw view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// A schema as `GET /api/schemas/{id}` shows it: what the viewer opens from a record's badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SchemaView {
    pub id: u32,
    /// `avro`, `protobuf` or `json_schema`.
    pub format: String,
    /// Where it is registered (the first place the registry names).
    pub subject: Option<String>,
    pub version: Option<i32>,
    /// The schema's text as the registry holds it.
    pub schema: String,
    /// The schemas it refers to: `name` (import or type name), `subject`, `version`.
    pub references: Vec<SchemaReferenceView>,
}

/// A schema another refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SchemaReferenceView {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// The schema a record's value (or key) was decoded with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RecordSchema {
    /// `avro`, `protobuf` or `json_schema`.
    pub format: String,
    /// The id the registry gave the schema (none for a schema file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// The subject the schema is registered under, and its version there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The schema file, for a schema from the server's schema directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Protobuf: the message's full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl RecordSchema {
    /// The badge text: `avro · payments-value v3 · id 42`, or the schema file's name.
    pub fn label(&self) -> String {
        let mut label = self.format.replace('_', " ");
        match (&self.subject, self.version, &self.file) {
            (Some(subject), Some(version), _) => label += &format!(" · {subject} v{version}"),
            (Some(subject), None, _) => label += &format!(" · {subject}"),
            (None, _, Some(file)) => label += &format!(" · {file}"),
            _ => {}
        }
        if let Some(id) = self.id {
            label += &format!(" · id {id}");
        }
        if let Some(message) = &self.message {
            label += &format!(" · {message}");
        }
        label
    }
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
        next_offsets: PartitionOffsets,
        /// The filter expression the stream applies, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<String>,
    },
    /// Sent to a filtered stream when its replay is over: every record before `next_offsets`
    /// has been looked at, and those not sent did not match. A reader that waits for the end of
    /// the replay (or resumes later) counts from here, since the records it got cannot tell it.
    CaughtUp {
        topic: String,
        next_offsets: PartitionOffsets,
    },
    /// `topic`'s position was saved (after a `save_position`).
    PositionSaved { topic: String },
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
    /// How the search `id` goes: records looked at of those in scope, matches so far, and
    /// records looked at per second.
    SearchProgress {
        id: String,
        scanned: u64,
        total: u64,
        matches: u64,
        rate: f64,
    },
    /// Matches of the search `id`, in offset order per partition.
    SearchResults {
        id: String,
        records: Vec<StreamRecord>,
    },
    /// The search `id` ended: `complete`, `limit` (the cap on matches), `cancelled`,
    /// `filter_too_costly` or `failed` (with a `message`).
    SearchDone {
        id: String,
        scanned: u64,
        matches: u64,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
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
                from: StartPosition::Last { n: 10 },
                filter: None,
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
                    offsets: PartitionOffsets::from([(0, 5)])
                },
                filter: None,
            }
        );
        let subscribed = ServerFrame::Subscribed {
            topic: "t".into(),
            from: StartPosition::Latest,
            next_offsets: PartitionOffsets::from([(0, 1), (2, 3)]),
            filter: Some("offset > 1".into()),
        };
        let json = serde_json::to_string(&subscribed).unwrap();
        assert_eq!(
            serde_json::from_str::<ServerFrame>(&json).unwrap(),
            subscribed
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type": "dance"}"#).is_err());
    }

    /// What the browser sends is written by serde, as documented: a new field or a renamed one
    /// shows up here first.
    #[test]
    fn client_frames_write_their_documented_json() {
        let write = |frame: ClientFrame| serde_json::to_string(&frame).unwrap();
        assert_eq!(
            write(ClientFrame::Subscribe {
                topics: vec!["t\"1".into()],
                from: StartPosition::Offsets {
                    offsets: PartitionOffsets::from([(1, 9), (0, 5)])
                },
                filter: Some("key == \"a\"".into()),
            }),
            r#"{"type":"subscribe","topics":["t\"1"],"from":{"position":"offsets","offsets":{"0":5,"1":9}},"filter":"key == \"a\""}"#
        );
        assert_eq!(
            write(ClientFrame::Subscribe {
                topics: vec!["t".into()],
                from: StartPosition::Last { n: 10 },
                filter: None,
            }),
            r#"{"type":"subscribe","topics":["t"],"from":{"position":"last","n":10}}"#
        );
        assert_eq!(
            write(ClientFrame::Search(SearchRequest {
                id: "s1".into(),
                topic: "t".into(),
                filter: None,
                partition: Some(2),
                from_offset: None,
                to_offset: Some(100),
                since: None,
                until: None,
                max_matches: Some(5),
            })),
            r#"{"type":"search","id":"s1","topic":"t","partition":2,"to_offset":100,"max_matches":5}"#
        );
        assert_eq!(
            write(ClientFrame::CancelSearch { id: "s1".into() }),
            r#"{"type":"cancel_search","id":"s1"}"#
        );
        assert_eq!(
            write(ClientFrame::SavePosition),
            r#"{"type":"save_position"}"#
        );
    }

    /// Any start position, for property tests of what is written for the protocol.
    fn start_position() -> impl proptest::strategy::Strategy<Value = StartPosition> {
        use proptest::prelude::*;
        prop_oneof![
            Just(StartPosition::Latest),
            Just(StartPosition::Earliest),
            Just(StartPosition::Stored),
            any::<u64>().prop_map(|n| StartPosition::Last { n }),
            proptest::collection::vec((any::<i32>(), any::<i64>()), 0..4).prop_map(|pairs| {
                StartPosition::Offsets {
                    offsets: pairs.into_iter().collect(),
                }
            }),
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
            filter in proptest::option::of("[ -~]{0,40}"),
        ) {
            let frame = ClientFrame::Subscribe { topics, from, filter };
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

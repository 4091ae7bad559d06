//! The live stream's frame protocol (`GET /api/stream`, WebSocket, JSON text frames), shared by
//! the server's relay, the browser's viewer and the CLI's `--via-relay` mode. The README's
//! "Live stream protocol" section describes it for other clients; keep the two in step.
//!
//! This module must not depend on any runtime (it compiles to WASM as well).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

/// What a filter expression reads; [`looks_like_filter_expression`] and the server's filter
/// language agree on these names.
pub const FILTER_VARIABLES: [&str; 6] = [
    "key",
    "value",
    "headers",
    "partition",
    "offset",
    "timestamp",
];

/// Whether what someone typed into a filter box is meant as an expression (sent to the relay)
/// rather than text to find: it starts with a name a filter reads (`value.level == "ERROR"`,
/// `offset > 5`) or with `has(`/`size(`/`!`, and has an operator or a call in it. `payment` or
/// `order-7` stay text.
pub fn looks_like_filter_expression(typed: &str) -> bool {
    let typed = typed.trim();
    let starts = FILTER_VARIABLES.iter().any(|name| {
        typed.strip_prefix(name).is_some_and(|rest| {
            rest.starts_with(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        })
    }) || ["has(", "size(", "!"].iter().any(|p| typed.starts_with(p));
    let operator = ["==", "!=", "<", ">", "&&", "||", " in ", "("]
        .iter()
        .any(|op| typed.contains(op));
    starts && operator
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

/// A [`ServerFrame`] read into one flat struct: the frame's `type` and every field any frame
/// carries, each defaulted when the frame has none. The light way to read the relay's frames,
/// for the browser's viewer (and for load generators and tests that must keep up with a fast
/// stream).
///
/// Why not [`ServerFrame`]: serde reads an internally tagged enum by buffering it into a generic
/// tree first, and that code, with the [`StartPosition`]s it would also parse, is a sizeable part
/// of the browser bundle. A plain struct reads in one pass. What it leaves out: `hello`'s
/// `user_id` and `max_batch`, `subscribed`'s `from`, and `error`'s `error` code (no reader uses
/// them). A test keeps the fields in step with [`ServerFrame`]'s.
#[derive(Debug, Deserialize)]
pub struct ServerFrameFields {
    /// The frame's `type`: `hello`, `records`, `subscribed`, `unsubscribed`, `lagged`,
    /// `topic_state`, `error` or `pong`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `records`: the records, their values unparsed.
    #[serde(default)]
    pub records: Vec<RawStreamRecord>,
    /// `subscribed`, `unsubscribed`, `lagged`, `topic_state`: the topic the frame is about.
    #[serde(default)]
    pub topic: String,
    /// `subscribed`: where the live stream joins (partition → offset).
    #[serde(default)]
    pub next_offsets: PartitionOffsets,
    /// `unsubscribed`: why the topic stopped.
    #[serde(default)]
    pub reason: String,
    /// `lagged`: how many records were not sent.
    #[serde(default)]
    pub skipped: u64,
    /// `topic_state`: the topic's new state.
    #[serde(default)]
    pub state: String,
    /// `error`: what was refused, for people.
    #[serde(default)]
    pub message: String,
    /// `error`: what was refused, as a code (`invalid_filter`, `not_subscribed`, …).
    #[serde(default)]
    pub error: String,
}

/// The search frames (`search_progress`, `search_results`, `search_done`, and `error` for a
/// refused search) read into one flat struct, as [`ServerFrameFields`] reads the streaming
/// ones: the viewer's search page reads these, the live page the others, and neither carries
/// the other's reader. `search_progress`'s `rate` is left out (the page times the scan itself,
/// so no float parsing comes into its bundle). A test keeps the fields in step with
/// [`ServerFrame`]'s.
#[derive(Debug, Deserialize)]
pub struct SearchFrameFields {
    /// The frame's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The search the frame is about (none on `error`).
    #[serde(default)]
    pub id: String,
    /// `search_results`: matches, their values unparsed.
    #[serde(default)]
    pub records: Vec<RawStreamRecord>,
    /// `search_progress`, `search_done`: records looked at so far.
    #[serde(default)]
    pub scanned: u64,
    /// `search_progress`: records in scope.
    #[serde(default)]
    pub total: u64,
    /// `search_progress`, `search_done`: matches so far.
    #[serde(default)]
    pub matches: u64,
    /// `search_done`: how it ended (`complete`, `limit`, `cancelled`, …).
    #[serde(default)]
    pub reason: String,
    /// `search_done` (some reasons), `error`: what to tell people.
    #[serde(default)]
    pub message: Option<String>,
    /// `error`: what was refused, as a code (`invalid_filter`, `too_many_searches`, …).
    #[serde(default)]
    pub error: String,
}

/// A [`StreamRecord`] with its value (and headers) left as the JSON text the relay sent: what
/// [`ServerFrameFields`] reads. Building a JSON tree for every record would cost more than the
/// browser spends showing it; whoever needs the tree parses [`RawStreamRecord::value`] then.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawStreamRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the Unix epoch (the record's create or log-append time).
    pub timestamp: Option<i64>,
    pub key: Option<String>,
    /// The headers object as sent, unparsed (readers copy it whole, never look inside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Box<RawValue>>,
    /// `null` for a tombstone.
    pub value: Option<Box<RawValue>>,
    /// `json`, `text` or `base64`: how `value` encodes the payload.
    pub encoding: String,
}

/// Partition → offset, as a JSON object (`{"0": 5, "1": 9}`): where a subscription starts, or
/// where the live stream joins.
///
/// A sorted vector rather than a `BTreeMap`: a topic has a handful of partitions, and the map's
/// code (with the stable sort its `collect` brings) was a twelfth of the stream viewer's WASM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionOffsets(Vec<(i32, i64)>);

impl PartitionOffsets {
    /// The offset for `partition`, if one is set.
    pub fn get(&self, partition: i32) -> Option<i64> {
        self.position(partition).ok().map(|i| self.0[i].1)
    }

    /// Sets the offset for `partition`.
    pub fn set(&mut self, partition: i32, offset: i64) {
        match self.position(partition) {
            Ok(i) => self.0[i].1 = offset,
            Err(i) => self.0.insert(i, (partition, offset)),
        }
    }

    /// Sets the offset for `partition` unless it has one already.
    pub fn set_if_absent(&mut self, partition: i32, offset: i64) {
        if let Err(i) = self.position(partition) {
            self.0.insert(i, (partition, offset));
        }
    }

    /// (partition, offset) pairs by partition.
    pub fn iter(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.0.iter().copied()
    }

    /// Whether no partition has an offset (a resume then starts where first asked).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, partition: i32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&partition, |(p, _)| *p)
    }
}

/// Pairs in any order; when a partition repeats, the last pair given wins (as in a JSON object).
impl FromIterator<(i32, i64)> for PartitionOffsets {
    fn from_iter<I: IntoIterator<Item = (i32, i64)>>(pairs: I) -> Self {
        // Inserted one by one: a topic has a handful of partitions (a few thousand at most), and
        // a sort would bring its code into the viewer's WASM.
        let mut offsets = Self::default();
        for (partition, offset) in pairs {
            offsets.set(partition, offset);
        }
        offsets
    }
}

impl<const N: usize> From<[(i32, i64); N]> for PartitionOffsets {
    fn from(pairs: [(i32, i64); N]) -> Self {
        pairs.into_iter().collect()
    }
}

/// JSON object keys are strings: partitions are written as `"0"`.
impl Serialize for PartitionOffsets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(p, o)| (p.to_string(), o)))
    }
}

/// Read by hand: serde cannot turn string keys back into integers inside internally tagged
/// enums ([`StartPosition`] is one).
impl<'de> Deserialize<'de> for PartitionOffsets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = PartitionOffsets;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of partition → offset")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some((partition, offset)) = map.next_entry::<String, i64>()? {
                    let partition = partition.parse::<i32>().map_err(|_| {
                        serde::de::Error::custom(format!("partition {partition:?} is not a number"))
                    })?;
                    pairs.push((partition, offset));
                }
                Ok(pairs.into_iter().collect())
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// Any start position, for property tests of what is written for the protocol.
    pub(crate) fn start_position() -> impl proptest::strategy::Strategy<Value = StartPosition> {
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
    fn partition_offsets_keep_one_offset_per_partition_in_order() {
        let mut offsets: PartitionOffsets = [(2, 20), (0, 1), (2, 21), (1, 10)].into();
        // The last of a repeated partition wins, as in a JSON object.
        assert_eq!(
            offsets.iter().collect::<Vec<_>>(),
            [(0, 1), (1, 10), (2, 21)]
        );
        assert_eq!(offsets.get(2), Some(21));
        assert_eq!(offsets.get(3), None);
        offsets.set(3, 30);
        offsets.set(0, 2);
        offsets.set_if_absent(1, 99);
        offsets.set_if_absent(-1, 5);
        assert_eq!(
            offsets.iter().collect::<Vec<_>>(),
            [(-1, 5), (0, 2), (1, 10), (2, 21), (3, 30)]
        );
        assert_eq!(
            serde_json::to_string(&offsets).unwrap(),
            r#"{"-1":5,"0":2,"1":10,"2":21,"3":30}"#
        );
        let read: PartitionOffsets = serde_json::from_str(r#"{"1": 4, "0": 3, "1": 5}"#).unwrap();
        assert_eq!(read, PartitionOffsets::from([(0, 3), (1, 5)]));
        assert!(serde_json::from_str::<PartitionOffsets>(r#"{"x": 1}"#).is_err());
        assert!(serde_json::from_str::<PartitionOffsets>(r#"{"0": "1"}"#).is_err());
        assert!(serde_json::from_str::<PartitionOffsets>("[[0, 1]]").is_err());
    }

    proptest::proptest! {
        /// Whatever pairs it is built from, it answers like a map built from the same pairs.
        #[test]
        fn partition_offsets_answer_like_a_map(
            pairs in proptest::collection::vec((-3i32..6, proptest::num::i64::ANY), 0..12),
        ) {
            let map: BTreeMap<i32, i64> = pairs.iter().copied().collect();
            let offsets: PartitionOffsets = pairs.into_iter().collect();
            proptest::prop_assert_eq!(offsets.iter().collect::<Vec<_>>(), map.into_iter().collect::<Vec<_>>());
        }
    }

    /// The search frames read into [`SearchFrameFields`] with their fields where they belong
    /// (the test below names every frame, so a new one is checked there first).
    #[test]
    fn the_search_pages_reader_keeps_step_with_the_search_frames() {
        let record = StreamRecord {
            topic: "t".into(),
            partition: 1,
            offset: 41,
            timestamp: Some(7),
            key: Some("k".into()),
            headers: BTreeMap::new(),
            value: Some(serde_json::json!({"amount": 12})),
            encoding: "json".into(),
        };
        let read = |frame: ServerFrame| -> SearchFrameFields {
            serde_json::from_str(&serde_json::to_string(&frame).unwrap()).unwrap()
        };
        let progress = read(ServerFrame::SearchProgress {
            id: "s1".into(),
            scanned: 5,
            total: 9,
            matches: 2,
            rate: 2.5,
        });
        assert_eq!(
            (progress.kind.as_str(), progress.id.as_str()),
            ("search_progress", "s1")
        );
        assert_eq!(
            (progress.scanned, progress.total, progress.matches),
            (5, 9, 2)
        );
        let results = read(ServerFrame::SearchResults {
            id: "s1".into(),
            records: vec![record],
        });
        assert_eq!(results.records.len(), 1);
        assert_eq!(
            (results.records[0].partition, results.records[0].offset),
            (1, 41)
        );
        let done = read(ServerFrame::SearchDone {
            id: "s1".into(),
            scanned: 9,
            matches: 2,
            reason: "failed".into(),
            message: Some("broker gone".into()),
        });
        assert_eq!((done.scanned, done.matches), (9, 2));
        assert_eq!(
            (done.reason.as_str(), done.message.as_deref()),
            ("failed", Some("broker gone"))
        );
        let refused = read(ServerFrame::Error {
            error: "invalid_filter".into(),
            message: "syntax".into(),
        });
        assert_eq!(
            (refused.error.as_str(), refused.message.as_deref()),
            ("invalid_filter", Some("syntax"))
        );
    }

    /// Every [`ServerFrame`], as the relay writes it, reads into [`ServerFrameFields`] with its
    /// fields where they belong. The `match` names every variant: a new frame fails to compile
    /// here until the flat reader knows about it.
    #[test]
    fn every_server_frame_reads_into_the_flat_fields() {
        let record = StreamRecord {
            topic: "t".into(),
            partition: 2,
            offset: 8,
            timestamp: Some(5),
            key: Some("k".into()),
            headers: BTreeMap::from([("h".to_owned(), "v".to_owned())]),
            value: Some(serde_json::json!({"n": [1, "two"]})),
            encoding: "json".into(),
        };
        let t = || "t".to_owned();
        let frames = [
            ServerFrame::Hello {
                user_id: Some("u".into()),
                max_batch: 5,
            },
            ServerFrame::Records {
                records: vec![record],
            },
            ServerFrame::Subscribed {
                topic: t(),
                from: StartPosition::Offsets {
                    offsets: PartitionOffsets::from([(1, 4)]),
                },
                next_offsets: PartitionOffsets::from([(0, 2), (3, 7)]),
                filter: Some("value.n > 1".into()),
            },
            ServerFrame::CaughtUp {
                topic: t(),
                next_offsets: PartitionOffsets::from([(0, 4)]),
            },
            ServerFrame::Unsubscribed {
                topic: t(),
                reason: "inactive".into(),
            },
            ServerFrame::Lagged {
                topic: t(),
                skipped: 9,
            },
            ServerFrame::TopicState {
                topic: t(),
                state: "inactive".into(),
            },
            ServerFrame::Error {
                error: "not_subscribed".into(),
                message: "subscribe first".into(),
            },
            ServerFrame::Pong,
            ServerFrame::SearchProgress {
                id: "s".into(),
                scanned: 5,
                total: 9,
                matches: 1,
                rate: 2.5,
            },
            ServerFrame::SearchDone {
                id: "s".into(),
                scanned: 9,
                matches: 1,
                reason: "complete".into(),
                message: None,
            },
        ];
        for frame in frames {
            let json = serde_json::to_string(&frame).unwrap();
            let flat: ServerFrameFields = serde_json::from_str(&json).unwrap();
            let tag = serde_json::from_str::<serde_json::Value>(&json).unwrap()["type"].clone();
            assert_eq!(flat.kind, tag.as_str().unwrap());
            match frame {
                ServerFrame::Hello { .. } | ServerFrame::Pong => {}
                // The search page reads these (see the next test).
                ServerFrame::SearchProgress { .. }
                | ServerFrame::SearchResults { .. }
                | ServerFrame::SearchDone { .. } => {}
                ServerFrame::Records { records } => {
                    assert_eq!(flat.records.len(), records.len());
                    for (raw, record) in flat.records.iter().zip(&records) {
                        assert_eq!(raw.topic, record.topic);
                        assert_eq!(
                            (raw.partition, raw.offset),
                            (record.partition, record.offset)
                        );
                        assert_eq!((raw.timestamp, &raw.key), (record.timestamp, &record.key));
                        assert_eq!(raw.encoding, record.encoding);
                        let value = raw.value.as_ref().map(|v| serde_json::from_str(v.get()));
                        assert_eq!(value.transpose().unwrap(), record.value);
                        let headers = raw.headers.as_ref().map(|h| serde_json::from_str(h.get()));
                        assert_eq!(headers.transpose().unwrap(), Some(record.headers.clone()));
                    }
                }
                ServerFrame::Subscribed {
                    topic,
                    from: _,
                    next_offsets,
                    filter: _,
                }
                | ServerFrame::CaughtUp {
                    topic,
                    next_offsets,
                } => assert_eq!((flat.topic, flat.next_offsets), (topic, next_offsets)),
                ServerFrame::Unsubscribed { topic, reason } => {
                    assert_eq!((flat.topic, flat.reason), (topic, reason));
                }
                ServerFrame::PositionSaved { topic } => assert_eq!(flat.topic, topic),
                ServerFrame::Lagged { topic, skipped } => {
                    assert_eq!((flat.topic, flat.skipped), (topic, skipped));
                }
                ServerFrame::TopicState { topic, state } => {
                    assert_eq!((flat.topic, flat.state), (topic, state));
                }
                ServerFrame::Error { error, message } => {
                    assert_eq!((flat.error, flat.message), (error, message))
                }
            }
        }
        // Not a frame: no `type`.
        assert!(serde_json::from_str::<ServerFrameFields>(r#"{"records": []}"#).is_err());
    }

    #[test]
    fn expressions_are_told_from_text() {
        for expression in [
            r#"value.level == "ERROR""#,
            "offset>5",
            "partition == 1 && key.startsWith(\"a\")",
            r#"headers.event_type in ["payment"]"#,
            "has(value.refund)",
            "timestamp > timestamp(\"2026-01-01T00:00:00Z\")",
        ] {
            assert!(looks_like_filter_expression(expression), "{expression}");
        }
        for text in [
            "payment",
            "order-7",
            "value",
            "keyboard == 1",
            "",
            "error (timeout)",
        ] {
            assert!(!looks_like_filter_expression(text), "{text}");
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

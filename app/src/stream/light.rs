//! The browser's readers of the relay's frames: each reads a frame in one pass into a flat
//! struct whose [`FrameKind`] says which frame it was, and leaves record values as the JSON text
//! they came in ([`RawStreamRecord`]).
//!
//! Why not [`ServerFrame`]: serde reads an internally tagged enum by first buffering the whole
//! frame into a generic tree and then reading the tree, which doubles the work on every frame of
//! a stream of thousands of records a second, and the [`StartPosition`]s, `f64`s and JSON trees
//! it would also build are of no use to a page. A flat struct reads in one pass. The live
//! viewer reads [`ServerFrameFields`], the search page [`SearchFrameFields`]; each keeps only
//! the fields its page acts on, and tests keep both in step with [`ServerFrame`].
//!
//! [`ServerFrame`]: super::ServerFrame
//! [`StartPosition`]: super::StartPosition

use super::PartitionOffsets;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Which frame the relay sent: its `type`, read as the readers' first field so that a page
/// matches on a kind, not on a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    Hello,
    Records,
    Subscribed,
    CaughtUp,
    PositionSaved,
    Unsubscribed,
    Lagged,
    TopicState,
    Error,
    Pong,
    SearchProgress,
    SearchResults,
    SearchDone,
    /// A frame this build does not know (from a newer server): pages pass over it.
    #[serde(other)]
    Unknown,
}

/// The frames of a live stream read into one flat struct: the frame's kind and every field
/// those frames carry, each defaulted when the frame has none. What it leaves out: `hello`'s
/// `user_id` and `max_batch`, `subscribed`'s `from` and `filter` (no page acts on them).
#[derive(Debug, Deserialize)]
pub struct ServerFrameFields {
    /// Which frame it is (its `type`).
    #[serde(rename = "type")]
    pub kind: FrameKind,
    /// `records`: the records, their values unparsed.
    #[serde(default)]
    pub records: Vec<RawStreamRecord>,
    /// `subscribed`, `caught_up`, `position_saved`, `unsubscribed`, `lagged`, `topic_state`:
    /// the topic the frame is about.
    #[serde(default)]
    pub topic: String,
    /// `subscribed`: where the live stream joins; `caught_up`: where a filtered replay ended
    /// (partition → offset).
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
/// refused search) read into one flat struct, as [`ServerFrameFields`] reads a stream's: the
/// search page reads these, the live viewer the others.
#[derive(Debug, Deserialize)]
pub struct SearchFrameFields {
    /// Which frame it is (its `type`).
    #[serde(rename = "type")]
    pub kind: FrameKind,
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
    /// `search_progress`: records looked at per second since the search started.
    #[serde(default)]
    pub rate: f64,
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

/// A [`StreamRecord`](super::StreamRecord) with its value (and headers) left as the JSON text
/// the relay sent: what the readers above read. Building a JSON tree for every record would cost
/// more than the browser spends showing it; whoever needs the tree parses
/// [`RawStreamRecord::value`] then.
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
    /// How `value` encodes the payload (see [`StreamRecord`](super::StreamRecord)).
    pub encoding: String,
    /// The schema the value was decoded with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<super::RecordSchema>,
    /// The schema the key was decoded with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_schema: Option<super::RecordSchema>,
    /// Why a payload that names a schema was not decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undecoded: Option<String>,
    /// The payload's bytes in base64 when `value` was decoded from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{ServerFrame, StartPosition, StreamRecord};
    use std::collections::BTreeMap;

    /// The kind each frame reads as. The `match` names every variant: a new frame fails to
    /// compile here until [`FrameKind`] (and so the readers) know about it.
    fn kind_of(frame: &ServerFrame) -> FrameKind {
        match frame {
            ServerFrame::Hello { .. } => FrameKind::Hello,
            ServerFrame::Records { .. } => FrameKind::Records,
            ServerFrame::Subscribed { .. } => FrameKind::Subscribed,
            ServerFrame::CaughtUp { .. } => FrameKind::CaughtUp,
            ServerFrame::PositionSaved { .. } => FrameKind::PositionSaved,
            ServerFrame::Unsubscribed { .. } => FrameKind::Unsubscribed,
            ServerFrame::Lagged { .. } => FrameKind::Lagged,
            ServerFrame::TopicState { .. } => FrameKind::TopicState,
            ServerFrame::Error { .. } => FrameKind::Error,
            ServerFrame::Pong => FrameKind::Pong,
            ServerFrame::SearchProgress { .. } => FrameKind::SearchProgress,
            ServerFrame::SearchResults { .. } => FrameKind::SearchResults,
            ServerFrame::SearchDone { .. } => FrameKind::SearchDone,
        }
    }

    fn record() -> StreamRecord {
        StreamRecord {
            topic: "t".into(),
            partition: 2,
            offset: 8,
            timestamp: Some(5),
            key: Some("k".into()),
            headers: BTreeMap::from([("h".to_owned(), "v".to_owned())]),
            value: Some(serde_json::json!({"n": [1, "two"]})),
            encoding: "avro".into(),
            schema: Some(crate::stream::RecordSchema {
                format: "avro".into(),
                id: Some(42),
                subject: Some("t-value".into()),
                version: Some(3),
                file: None,
                message: None,
            }),
            key_schema: None,
            undecoded: Some("why".into()),
            raw: Some("AAE=".into()),
        }
    }

    /// One frame of each kind, its fields filled in.
    fn one_of_each() -> Vec<ServerFrame> {
        let t = || "t".to_owned();
        vec![
            ServerFrame::Hello {
                user_id: Some("u".into()),
                max_batch: 5,
            },
            ServerFrame::Records {
                records: vec![record()],
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
            ServerFrame::PositionSaved { topic: t() },
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
            ServerFrame::SearchResults {
                id: "s".into(),
                records: vec![record()],
            },
            ServerFrame::SearchDone {
                id: "s".into(),
                scanned: 9,
                matches: 1,
                reason: "failed".into(),
                message: Some("broker gone".into()),
            },
        ]
    }

    /// Every frame, as the relay writes it, reads with its kind into both readers (a page
    /// passes over the other page's frames; it never fails on them).
    #[test]
    fn every_frame_reads_as_its_kind() {
        let frames = one_of_each();
        let kinds: Vec<FrameKind> = frames.iter().map(kind_of).collect();
        for (i, kind) in kinds.iter().enumerate() {
            assert!(!kinds[..i].contains(kind), "{kind:?} twice");
        }
        assert_eq!(kinds.len(), 13, "one frame of each kind");
        for frame in &frames {
            let json = serde_json::to_string(frame).unwrap();
            let stream: ServerFrameFields = serde_json::from_str(&json).unwrap();
            let search: SearchFrameFields = serde_json::from_str(&json).unwrap();
            assert_eq!((stream.kind, search.kind), (kind_of(frame), kind_of(frame)));
        }
        // A newer server's frame is of a kind this build does not know; no `type`, no frame.
        let newer: ServerFrameFields =
            serde_json::from_str(r#"{"type": "fireworks", "topic": "t"}"#).unwrap();
        assert_eq!(newer.kind, FrameKind::Unknown);
        assert!(serde_json::from_str::<ServerFrameFields>(r#"{"records": []}"#).is_err());
    }

    /// The stream frames read into [`ServerFrameFields`] with their fields where they belong.
    #[test]
    fn the_live_viewers_reader_keeps_step_with_the_stream_frames() {
        for frame in one_of_each() {
            let json = serde_json::to_string(&frame).unwrap();
            let flat: ServerFrameFields = serde_json::from_str(&json).unwrap();
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
                    next_offsets,
                    ..
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
                    assert_eq!((flat.error, flat.message), (error, message));
                }
            }
        }
    }

    /// The search frames read into [`SearchFrameFields`] with their fields where they belong.
    #[test]
    fn the_search_pages_reader_keeps_step_with_the_search_frames() {
        for frame in one_of_each() {
            let json = serde_json::to_string(&frame).unwrap();
            let flat: SearchFrameFields = serde_json::from_str(&json).unwrap();
            match frame {
                ServerFrame::SearchProgress {
                    id,
                    scanned,
                    total,
                    matches,
                    rate,
                } => {
                    assert_eq!(flat.id, id);
                    assert_eq!(
                        (flat.scanned, flat.total, flat.matches),
                        (scanned, total, matches)
                    );
                    assert_eq!(flat.rate, rate);
                }
                ServerFrame::SearchResults { id, records } => {
                    assert_eq!(flat.id, id);
                    let read: Vec<_> = flat
                        .records
                        .iter()
                        .map(|r| (r.partition, r.offset))
                        .collect();
                    let sent: Vec<_> = records.iter().map(|r| (r.partition, r.offset)).collect();
                    assert_eq!(read, sent);
                }
                ServerFrame::SearchDone {
                    id,
                    scanned,
                    matches,
                    reason,
                    message,
                } => {
                    assert_eq!(flat.id, id);
                    assert_eq!((flat.scanned, flat.matches), (scanned, matches));
                    assert_eq!((flat.reason, flat.message), (reason, message));
                }
                ServerFrame::Error { error, message } => {
                    assert_eq!((flat.error, flat.message), (error, Some(message)));
                }
                // The live viewer reads these.
                ServerFrame::Hello { .. }
                | ServerFrame::Pong
                | ServerFrame::Records { .. }
                | ServerFrame::Subscribed { .. }
                | ServerFrame::CaughtUp { .. }
                | ServerFrame::PositionSaved { .. }
                | ServerFrame::Unsubscribed { .. }
                | ServerFrame::Lagged { .. }
                | ServerFrame::TopicState { .. } => {}
            }
        }
    }
}

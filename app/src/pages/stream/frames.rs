//! Reading the relay's frames and what each one does to the viewer: a text frame becomes an
//! [`Incoming`] (through the protocol's light reader, [`ServerFrameFields`]), and [`absorb`] turns
//! it into rows, notices and counters, remembering per topic where a reconnection resumes
//! ([`Resume`]).
//!
//! It owns the meaning of incoming frames, nothing else: it must not open, close or schedule
//! anything on the socket (that is [`super::connection`]), and it writes the page's state only
//! through [`super::model`].

// The server build renders the page but never connects: what only the socket uses looks unused.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use super::model::{Row, ViewerSignals};
use crate::stream::{FrameKind, PartitionOffsets, RawStreamRecord, ServerFrameFields};
use leptos::prelude::{Set, Update};

/// A relay frame as the viewer reads it: only what the viewer acts on, so that [`absorb`] has
/// one case per thing to do.
#[derive(Debug)]
pub(super) enum Incoming {
    Records(Vec<RawStreamRecord>),
    /// A topic streams; the live stream joins at `next_offsets` (partition → offset).
    Subscribed {
        topic: String,
        next_offsets: PartitionOffsets,
    },
    /// A filtered stream's replay is over: records up to `next_offsets` that did not come did
    /// not match (a reconnection resumes from there).
    CaughtUp {
        topic: String,
        next_offsets: PartitionOffsets,
    },
    /// The relay refused the filter expression, saying why.
    FilterRefused(String),
    /// Something to tell the user (a topic stopped or changed state, a refusal).
    Notice(String),
    /// The relay skipped `skipped` records of `topic` for this socket.
    Lagged {
        topic: String,
        skipped: u64,
    },
    /// Frames the viewer has no use for (`hello`, `pong`, the search page's).
    Other,
}

/// Reads one text frame from the relay (`None` for something that is not a frame), through the
/// protocol's light reader (see [`crate::stream::ServerFrameFields`] for why not `ServerFrame`).
pub(super) fn parse_frame(text: &str) -> Option<Incoming> {
    let frame: ServerFrameFields = serde_json::from_str(text).ok()?;
    let topic = frame.topic;
    Some(match frame.kind {
        FrameKind::Records => Incoming::Records(frame.records),
        FrameKind::Subscribed => Incoming::Subscribed {
            topic,
            next_offsets: frame.next_offsets,
        },
        FrameKind::Unsubscribed => Incoming::Notice(format!("stopped {topic} ({})", frame.reason)),
        FrameKind::PositionSaved => Incoming::Notice(format!("position saved for {topic}")),
        FrameKind::Lagged => Incoming::Lagged {
            topic,
            skipped: frame.skipped,
        },
        FrameKind::TopicState => Incoming::Notice(format!("{topic} is now {}", frame.state)),
        FrameKind::CaughtUp => Incoming::CaughtUp {
            topic,
            next_offsets: frame.next_offsets,
        },
        FrameKind::Error if frame.error == "invalid_filter" => {
            Incoming::FilterRefused(frame.message)
        }
        FrameKind::Error => Incoming::Notice(format!("refused: {}", frame.message)),
        FrameKind::Hello
        | FrameKind::Pong
        | FrameKind::SearchProgress
        | FrameKind::SearchResults
        | FrameKind::SearchDone
        | FrameKind::Unknown => Incoming::Other,
    })
}

/// Where each topic's stream resumes after a reconnection: the offset after the last record seen,
/// per partition, so that a lost connection neither repeats nor skips records. A list: a viewer
/// follows a few topics.
#[derive(Debug, Default)]
pub(super) struct Resume(Vec<(String, PartitionOffsets)>);

impl Resume {
    /// The offsets of `topic`, if any record or join point of it was seen: where its next
    /// subscription starts.
    pub(super) fn get(&self, topic: &str) -> Option<&PartitionOffsets> {
        self.0.iter().find(|(t, _)| t == topic).map(|(_, o)| o)
    }

    fn topic(&mut self, topic: &str) -> &mut PartitionOffsets {
        let i = match self.0.iter().position(|(t, _)| t == topic) {
            Some(i) => i,
            None => {
                self.0.push((topic.to_owned(), PartitionOffsets::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    /// Forgets every topic: a new start begins where the user asks, not where the last one was.
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

/// Turns a relay frame into rows (and signal updates for control frames); `next` tracks the
/// offset after the last record seen per topic and partition, for resuming.
pub(super) fn absorb(
    frame: Incoming,
    signals: &ViewerSignals,
    next: &mut Resume,
    seq: &mut u64,
    out: &mut Vec<Row>,
) {
    match frame {
        Incoming::Records(records) => {
            for record in records {
                next.topic(&record.topic)
                    .set(record.partition, record.offset + 1);
                *seq += 1;
                out.push(Row::from_record(*seq, record));
            }
        }
        Incoming::Subscribed {
            topic,
            next_offsets,
        } => {
            // Offsets already seen stay (a resume); partitions not seen join where the relay does.
            let known = next.topic(&topic);
            for (p, o) in next_offsets.iter() {
                known.set_if_absent(p, o);
            }
            signals.notice(format!("streaming {topic}"));
        }
        Incoming::CaughtUp {
            topic,
            next_offsets,
        } => {
            let known = next.topic(&topic);
            for (p, o) in next_offsets.iter() {
                if known.get(p).is_none_or(|seen| seen < o) {
                    known.set(p, o);
                }
            }
        }
        Incoming::FilterRefused(why) => {
            signals.filter_error.set(Some(why));
            signals.server_filter.set(None);
        }
        Incoming::Lagged { topic, skipped } => {
            signals.skipped.update(|n| *n += skipped);
            signals.notice(format!("{topic}: {skipped} record(s) skipped (too slow)"));
        }
        Incoming::Notice(text) => signals.notice(text),
        Incoming::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{push_bounded, MAX_ROWS};
    use super::*;
    use crate::stream::{ServerFrame, StartPosition};
    use leptos::prelude::*;
    use std::collections::VecDeque;

    /// A server frame as the viewer reads it off the wire.
    fn wire(frame: ServerFrame) -> Incoming {
        parse_frame(&serde_json::to_string(&frame).unwrap()).unwrap()
    }

    fn record(partition: i32, offset: i64) -> crate::stream::StreamRecord {
        crate::stream::StreamRecord {
            topic: "t".into(),
            partition,
            offset,
            timestamp: None,
            key: None,
            headers: Default::default(),
            value: Some(serde_json::json!({"n": offset})),
            encoding: "json".into(),
            ..Default::default()
        }
    }

    fn owner() -> Owner {
        let owner = Owner::new();
        owner.set();
        owner
    }

    #[test]
    fn records_become_rows_and_remember_the_next_offsets() {
        let _owner = owner();
        let signals = ViewerSignals::new();
        let (mut next, mut seq, mut out) = (Resume::default(), 0, Vec::new());
        absorb(
            wire(ServerFrame::Subscribed {
                topic: "t".into(),
                from: StartPosition::Last { n: 3 },
                next_offsets: PartitionOffsets::from([(0, 5), (1, 9)]),
                filter: None,
            }),
            &signals,
            &mut next,
            &mut seq,
            &mut out,
        );
        let frame = serde_json::to_string(&ServerFrame::Records {
            records: vec![record(0, 5), record(0, 6)],
        })
        .unwrap();
        absorb(
            parse_frame(&frame).unwrap(),
            &signals,
            &mut next,
            &mut seq,
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].seq, 2);
        assert_eq!(&*out[1].text, r#"{"n":6}"#);
        // The filter finds text in the value (its lower-cased copy is made on the first search).
        assert!(out[1].matches(r#""n":6"#) && out[1].matches(""));
        assert!(!out[1].matches(r#""n":5"#));
        assert_eq!(
            next.get("t").unwrap(),
            &PartitionOffsets::from([(0, 7), (1, 9)])
        );
        // A second `subscribed` (after a reconnect) does not move offsets already seen back.
        absorb(
            wire(ServerFrame::Subscribed {
                topic: "t".into(),
                from: StartPosition::Latest,
                next_offsets: PartitionOffsets::from([(0, 100), (1, 100)]),
                filter: None,
            }),
            &signals,
            &mut next,
            &mut seq,
            &mut out,
        );
        assert_eq!(
            next.get("t").unwrap(),
            &PartitionOffsets::from([(0, 7), (1, 9)])
        );
    }

    #[test]
    fn lag_is_counted_and_the_window_stays_bounded() {
        let _owner = owner();
        let signals = ViewerSignals::new();
        let (mut next, mut seq, mut out) = (Resume::default(), 0, Vec::new());
        absorb(
            parse_frame(r#"{"type": "lagged", "topic": "t", "skipped": 7}"#).unwrap(),
            &signals,
            &mut next,
            &mut seq,
            &mut out,
        );
        assert_eq!(signals.skipped.get_untracked(), 7);
        let mut rows = VecDeque::new();
        let batch = (0..(MAX_ROWS as i64 + 10)).map(|o| {
            let view = serde_json::from_value(serde_json::to_value(record(0, o)).unwrap()).unwrap();
            Row::new(o as u64, view, String::new())
        });
        push_bounded(&mut rows, batch);
        assert_eq!(rows.len(), MAX_ROWS);
        assert_eq!(rows.front().map(|r| r.seq), Some(10));
    }

    #[test]
    fn every_server_frame_is_read_as_what_it_says() {
        let t = || "t".to_owned();
        let subscribed = wire(ServerFrame::Subscribed {
            topic: t(),
            from: StartPosition::Offsets {
                offsets: PartitionOffsets::from([(1, 4)]),
            },
            next_offsets: PartitionOffsets::from([(0, 2), (3, 7)]),
            filter: None,
        });
        assert!(
            matches!(subscribed, Incoming::Subscribed { topic, next_offsets }
            if topic == "t" && next_offsets == PartitionOffsets::from([(0, 2), (3, 7)]))
        );
        let lagged = wire(ServerFrame::Lagged {
            topic: t(),
            skipped: 9,
        });
        assert!(matches!(lagged, Incoming::Lagged { topic, skipped: 9 } if topic == "t"));
        let notices = [
            (
                ServerFrame::Unsubscribed {
                    topic: t(),
                    reason: "inactive".into(),
                },
                "stopped t (inactive)",
            ),
            (
                ServerFrame::TopicState {
                    topic: t(),
                    state: "inactive".into(),
                },
                "t is now inactive",
            ),
            (
                ServerFrame::Error {
                    error: "not_subscribed".into(),
                    message: "subscribe first".into(),
                },
                "refused: subscribe first",
            ),
        ];
        for (frame, text) in notices {
            assert!(matches!(wire(frame), Incoming::Notice(n) if n == text));
        }
        let hello = ServerFrame::Hello {
            user_id: Some("u".into()),
            max_batch: 5,
        };
        assert!(matches!(wire(hello), Incoming::Other));
        assert!(matches!(wire(ServerFrame::Pong), Incoming::Other));
        let records = wire(ServerFrame::Records {
            records: vec![record(2, 8)],
        });
        assert!(matches!(records, Incoming::Records(r) if r[0].partition == 2 && r[0].offset == 8));
        assert!(parse_frame("not json").is_none());
        assert!(parse_frame(r#"{"records": []}"#).is_none());
    }
}

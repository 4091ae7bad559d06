//! The viewer's connection to the relay (`/api/stream`): one WebSocket, reconnecting with
//! backoff and resuming from the next offsets it had, and records handed to the page in batches
//! on an animation frame (at most ten a second, however many arrive in between), into a bounded
//! window.
//!
//! The reactive side ([`FeedSignals`]) is plain signals the page renders; the socket side only
//! exists in the browser. On the server a [`Feed`] is inert, so the page renders its controls.

// The server build renders the page but never connects: what only the socket uses looks unused.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::stream::{PartitionOffsets, StartPosition};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::{
    collections::VecDeque,
    sync::{Arc, OnceLock},
};

/// Rows kept on screen; older ones are dropped as new ones arrive.
pub const MAX_ROWS: usize = 1_000;

/// One record as the viewer shows it.
#[derive(Debug, Clone)]
pub struct Row {
    /// Arrival number, unique within the page (the list's key).
    pub seq: u64,
    /// Shared, so that the filtered view of a thousand rows is rebuilt each frame by copying
    /// pointers, not records.
    pub record: Arc<ViewRecord>,
    /// The value as compact JSON (or the text), for the one-line view.
    pub text: Arc<str>,
    /// Key and text in lower case, for the text filter: made on the row's first search, since
    /// most rows are never searched and lower-casing every arrival cost more than parsing it.
    search: Arc<OnceLock<Box<str>>>,
}

impl Row {
    /// The `seq`-th arrival, showing `text`.
    pub fn new(seq: u64, record: ViewRecord, text: String) -> Self {
        Self {
            seq,
            record: Arc::new(record),
            text: text.into(),
            search: Arc::default(),
        }
    }

    /// Whether the key or the value contains `needle`, which is in lower case.
    pub fn matches(&self, needle: &str) -> bool {
        needle.is_empty()
            || self
                .search
                .get_or_init(|| {
                    let key = self.record.key.as_deref().unwrap_or("");
                    crate::text::lowercase(&format!("{key}\n{}", self.text)).into()
                })
                .contains(needle)
    }
}

/// Rows are the same row when they are the same arrival.
impl PartialEq for Row {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

/// The connection's state as the page tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Idle,
    Connecting,
    Live,
    /// Lost; the next attempt is in `in_secs` seconds.
    Reconnecting {
        in_secs: u32,
        attempt: u32,
    },
}

/// What the page shows; every field is a signal.
#[derive(Clone, Copy)]
pub struct FeedSignals {
    pub rows: RwSignal<VecDeque<Row>>,
    pub status: RwSignal<Status>,
    pub received: RwSignal<u64>,
    pub skipped: RwSignal<u64>,
    /// Records per second over the last second.
    pub rate: RwSignal<f64>,
    pub paused: RwSignal<bool>,
    /// Records that arrived while paused and are waiting to be shown.
    pub held: RwSignal<usize>,
    /// The relay's control messages (subscribed, unsubscribed, errors), newest last.
    pub notices: RwSignal<VecDeque<String>>,
}

impl FeedSignals {
    fn new() -> Self {
        Self {
            rows: RwSignal::new(VecDeque::new()),
            status: RwSignal::new(Status::Idle),
            received: RwSignal::new(0),
            skipped: RwSignal::new(0),
            rate: RwSignal::new(0.0),
            paused: RwSignal::new(false),
            held: RwSignal::new(0),
            notices: RwSignal::new(VecDeque::new()),
        }
    }

    fn notice(&self, text: String) {
        self.notices.update(|n| {
            n.push_back(text);
            while n.len() > 5 {
                n.pop_front();
            }
        });
    }
}

/// What to stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    pub user_id: String,
    pub topics: Vec<String>,
    pub from: StartPosition,
}

/// A record as the viewer keeps it: the protocol's record, with the value left as the JSON text
/// the relay sent. Building a JSON tree for every record would cost more than rendering it; the
/// tree is built only when somebody opens the record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<String>,
    /// Kept as sent (only copied and downloaded, never read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Box<RawValue>>,
    pub value: Option<Box<RawValue>>,
    pub encoding: String,
}

/// A relay frame as the viewer reads it.
#[derive(Debug)]
pub enum Incoming {
    Records(Vec<ViewRecord>),
    /// A topic streams; the live stream joins at `next_offsets` (partition → offset).
    Subscribed {
        topic: String,
        next_offsets: PartitionOffsets,
    },
    /// Something to tell the user (a topic stopped or changed state, a refusal).
    Notice(String),
    /// The relay skipped `skipped` records of `topic` for this socket.
    Lagged {
        topic: String,
        skipped: u64,
    },
    /// Frames the viewer has no use for (`hello`, `pong`).
    Other,
}

/// Reads one text frame from the relay (`None` for something that is not a frame).
///
/// The frame is read into one flat struct rather than [`crate::stream::ServerFrame`]: serde
/// reads an internally tagged enum by buffering it into a generic tree first, and that code, with
/// the start positions it would also parse, is a sizeable part of the browser bundle. The fields
/// are those of [`crate::stream::ServerFrame`]; a test keeps the two in step.
pub fn parse_frame(text: &str) -> Option<Incoming> {
    #[derive(Deserialize)]
    struct Frame {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        records: Vec<ViewRecord>,
        #[serde(default)]
        topic: String,
        #[serde(default)]
        next_offsets: PartitionOffsets,
        #[serde(default)]
        reason: String,
        #[serde(default)]
        skipped: u64,
        #[serde(default)]
        state: String,
        #[serde(default)]
        message: String,
    }
    let frame: Frame = serde_json::from_str(text).ok()?;
    let topic = frame.topic;
    Some(match frame.kind.as_str() {
        "records" => Incoming::Records(frame.records),
        "subscribed" => Incoming::Subscribed {
            topic,
            next_offsets: frame.next_offsets,
        },
        "unsubscribed" => Incoming::Notice(format!("stopped {topic} ({})", frame.reason)),
        "lagged" => Incoming::Lagged {
            topic,
            skipped: frame.skipped,
        },
        "topic_state" => Incoming::Notice(format!("{topic} is now {}", frame.state)),
        "error" => Incoming::Notice(format!("refused: {}", frame.message)),
        _ => Incoming::Other,
    })
}

/// Where each topic's stream resumes after a reconnection: the offset after the last record seen,
/// per partition. A list: a viewer follows a few topics.
#[derive(Debug, Default)]
pub struct Resume(Vec<(String, PartitionOffsets)>);

impl Resume {
    /// The offsets of `topic`, if any record or join point of it was seen.
    pub fn get(&self, topic: &str) -> Option<&PartitionOffsets> {
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

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Appends a batch to the window, dropping the oldest rows past [`MAX_ROWS`].
pub fn push_bounded(rows: &mut VecDeque<Row>, batch: impl IntoIterator<Item = Row>) {
    rows.extend(batch);
    let excess = rows.len().saturating_sub(MAX_ROWS);
    rows.drain(..excess);
}

/// Turns a relay frame into rows (and signal updates for control frames); `next` tracks the
/// offset after the last record seen per topic and partition, for resuming.
pub fn absorb(
    frame: Incoming,
    signals: &FeedSignals,
    next: &mut Resume,
    seq: &mut u64,
    out: &mut Vec<Row>,
) {
    match frame {
        Incoming::Records(records) => {
            for record in records {
                next.topic(&record.topic)
                    .set(record.partition, record.offset + 1);
                let text = match &record.value {
                    // Text and base64 payloads travel as JSON strings: show them unquoted.
                    Some(raw) if record.encoding != "json" => {
                        serde_json::from_str::<String>(raw.get())
                            .unwrap_or_else(|_| raw.get().to_owned())
                    }
                    Some(raw) => raw.get().to_owned(),
                    None => "null".to_owned(),
                };
                *seq += 1;
                out.push(Row::new(*seq, record, text));
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
        Incoming::Lagged { topic, skipped } => {
            signals.skipped.update(|n| *n += skipped);
            signals.notice(format!("{topic}: {skipped} record(s) skipped (too slow)"));
        }
        Incoming::Notice(text) => signals.notice(text),
        Incoming::Other => {}
    }
}

/// The viewer's connection.
#[derive(Clone, Copy)]
pub struct Feed {
    pub signals: FeedSignals,
    #[cfg(feature = "hydrate")]
    socket: StoredValue<browser_socket::Socket, LocalStorage>,
}

impl Feed {
    /// A feed that is not connected yet.
    pub fn new() -> Self {
        let signals = FeedSignals::new();
        Self {
            signals,
            #[cfg(feature = "hydrate")]
            socket: StoredValue::new_local(browser_socket::Socket::new(signals)),
        }
    }

    /// (Re)connects and streams `want` (replacing what streamed before).
    pub fn start(&self, want: Want) {
        #[cfg(feature = "hydrate")]
        self.socket.with_value(|s| s.start(want));
        #[cfg(not(feature = "hydrate"))]
        let _ = want;
    }

    /// Disconnects for good.
    pub fn stop(&self) {
        #[cfg(feature = "hydrate")]
        self.socket.with_value(|s| s.stop());
        self.signals.status.set(Status::Idle);
    }

    /// Shows what was held while paused.
    pub fn resume(&self) {
        self.signals.paused.set(false);
        #[cfg(feature = "hydrate")]
        self.socket.with_value(|s| s.flush());
    }

    /// Empties the window.
    pub fn clear(&self) {
        self.signals.rows.update(VecDeque::clear);
        #[cfg(feature = "hydrate")]
        self.socket.with_value(|s| s.drop_held());
    }
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

/// A row for tests: the `seq`-th arrival, a record of topic `t<1>` (partition 2, offset 7, a
/// fixed time) with `key` and the JSON `value`.
#[cfg(test)]
pub fn test_row(seq: u64, key: Option<&str>, value: &str) -> Row {
    let record: ViewRecord = serde_json::from_value(serde_json::json!({
        "topic": "t<1>", "partition": 2, "offset": 7, "timestamp": 951_868_801_002_i64,
        "key": key, "value": serde_json::from_str::<serde_json::Value>(value).unwrap(),
        "encoding": "json",
    }))
    .unwrap();
    Row::new(seq, record, value.to_owned())
}

#[cfg(feature = "hydrate")]
mod browser_socket {
    use super::*;
    use std::{cell::RefCell, rc::Rc};
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    /// Longest wait between reconnection attempts.
    const MAX_BACKOFF_SECS: u32 = 10;

    /// Least time between two updates of the list. Each update costs style, layout and paint
    /// whatever its size, and nobody reads more than ten screens a second: at high rates records
    /// are shown in batches at most this often (still on an animation frame).
    const MIN_FLUSH_INTERVAL_MS: f64 = 100.0;

    /// The socket and everything that outlives one connection.
    pub struct Socket {
        inner: Rc<RefCell<Inner>>,
    }

    struct Inner {
        signals: FeedSignals,
        want: Option<Want>,
        ws: Option<WebSocket>,
        /// Event handlers of the current socket (dropped with it).
        handlers: Vec<Closure<dyn FnMut(web_sys::Event)>>,
        next: Resume,
        pending: Vec<Row>,
        /// Records received since the last animation frame (some may have been dropped from
        /// `pending` unseen).
        arrived: u64,
        held: VecDeque<Row>,
        frame_scheduled: bool,
        seq: u64,
        attempt: u32,
        /// Bumped by every start/stop so that stale timers and sockets do nothing.
        epoch: u64,
        rate_window: (f64, u64),
        last_flush: f64,
    }

    impl Socket {
        pub fn new(signals: FeedSignals) -> Self {
            Self {
                inner: Rc::new(RefCell::new(Inner {
                    signals,
                    want: None,
                    ws: None,
                    handlers: Vec::new(),
                    next: Resume::default(),
                    pending: Vec::new(),
                    arrived: 0,
                    held: VecDeque::new(),
                    frame_scheduled: false,
                    seq: 0,
                    attempt: 0,
                    epoch: 0,
                    rate_window: (crate::browser::now_ms(), 0),
                    last_flush: 0.0,
                })),
            }
        }

        pub fn start(&self, want: Want) {
            {
                let mut inner = self.inner.borrow_mut();
                inner.close();
                inner.next.clear();
                inner.want = Some(want);
                inner.attempt = 0;
            }
            connect(&self.inner);
        }

        pub fn stop(&self) {
            let mut inner = self.inner.borrow_mut();
            inner.close();
            inner.want = None;
        }

        pub fn flush(&self) {
            let mut inner = self.inner.borrow_mut();
            let held: Vec<Row> = inner.held.drain(..).collect();
            inner.signals.held.set(0);
            inner.signals.rows.update(|rows| push_bounded(rows, held));
        }

        pub fn drop_held(&self) {
            let mut inner = self.inner.borrow_mut();
            inner.held.clear();
            inner.signals.held.set(0);
        }
    }

    impl Inner {
        fn close(&mut self) {
            self.epoch += 1;
            if let Some(ws) = self.ws.take() {
                ws.set_onopen(None);
                ws.set_onmessage(None);
                ws.set_onclose(None);
                let _ = ws.close();
            }
            self.handlers.clear();
        }
    }

    fn url(want: &Want) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!(
            "{scheme}://{}/api/stream?follow=false&user_id={}",
            location.host().ok()?,
            crate::api::encode(&want.user_id)
        ))
    }

    fn connect(cell: &Rc<RefCell<Inner>>) {
        let mut inner = cell.borrow_mut();
        let Some(want) = inner.want.clone() else {
            return;
        };
        let Some(url) = url(&want) else { return };
        let Ok(ws) = WebSocket::new(&url) else {
            drop(inner);
            return retry(cell);
        };
        inner.signals.status.set(Status::Connecting);
        let epoch = inner.epoch;

        let on_open = {
            let cell = Rc::clone(cell);
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                let mut inner = cell.borrow_mut();
                if inner.epoch != epoch {
                    return;
                }
                inner.attempt = 0;
                inner.signals.status.set(Status::Live);
                let Some(want) = inner.want.clone() else {
                    return;
                };
                let frames = subscribe_frames(&want, &inner.next);
                if let Some(ws) = &inner.ws {
                    for frame in frames {
                        let _ = ws.send_with_str(&frame);
                    }
                }
            })
        };
        let on_message = {
            let cell = Rc::clone(cell);
            Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                let Some(text) = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|m| m.data().as_string())
                else {
                    return;
                };
                let Some(frame) = parse_frame(&text) else {
                    return;
                };
                let schedule = {
                    let mut guard = cell.borrow_mut();
                    let inner = &mut *guard;
                    if inner.epoch != epoch {
                        return;
                    }
                    let mut out = std::mem::take(&mut inner.pending);
                    let before = out.len();
                    absorb(
                        frame,
                        &inner.signals,
                        &mut inner.next,
                        &mut inner.seq,
                        &mut out,
                    );
                    inner.arrived += (out.len() - before) as u64;
                    // A hidden tab gets no animation frames: keep only what could be shown.
                    let excess = out.len().saturating_sub(MAX_ROWS);
                    out.drain(..excess);
                    inner.pending = out;
                    let schedule = !inner.frame_scheduled && inner.arrived > 0;
                    inner.frame_scheduled |= schedule;
                    schedule
                };
                if schedule {
                    let cell = Rc::clone(&cell);
                    request_animation_frame(move || render_batch(&cell));
                }
            })
        };
        let on_close = {
            let cell = Rc::clone(cell);
            Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                if cell.borrow().epoch != epoch {
                    return;
                }
                let code = event.dyn_ref::<CloseEvent>().map_or(0, CloseEvent::code);
                cell.borrow()
                    .signals
                    .notice(format!("connection closed (code {code})"));
                cell.borrow_mut().ws = None;
                retry(&cell);
            })
        };
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        inner.handlers = vec![on_open, on_message, on_close];
        inner.ws = Some(ws);
    }

    /// Subscribe frames for a (re)connection: resume each topic after the last offsets seen,
    /// or start where asked the first time.
    fn subscribe_frames(want: &Want, next: &Resume) -> Vec<String> {
        want.topics
            .iter()
            .map(|topic| {
                let from = match next.get(topic) {
                    Some(offsets) if !offsets.is_empty() => StartPosition::Offsets {
                        offsets: offsets.clone(),
                    },
                    _ => want.from.clone(),
                };
                let frame = crate::stream::ClientFrame::Subscribe {
                    topics: vec![topic.clone()],
                    from,
                };
                serde_json::to_string(&frame).unwrap_or_default()
            })
            .collect()
    }

    /// Schedules the next attempt with exponential backoff (1 s, 2 s, 4 s, … up to 10 s).
    fn retry(cell: &Rc<RefCell<Inner>>) {
        let (delay, epoch) = {
            let mut inner = cell.borrow_mut();
            if inner.want.is_none() {
                return;
            }
            inner.attempt += 1;
            let delay = (1_u32 << (inner.attempt - 1).min(4)).min(MAX_BACKOFF_SECS);
            inner.signals.status.set(Status::Reconnecting {
                in_secs: delay,
                attempt: inner.attempt,
            });
            (delay, inner.epoch)
        };
        let cell = Rc::clone(cell);
        set_timeout(
            move || {
                if cell.borrow().epoch == epoch {
                    connect(&cell);
                }
            },
            std::time::Duration::from_secs(u64::from(delay)),
        );
    }

    /// Once per animation frame: everything that arrived since the last frame goes on screen
    /// in one signal update (or into the held buffer while paused).
    fn render_batch(cell: &Rc<RefCell<Inner>>) {
        let mut guard = cell.borrow_mut();
        let inner = &mut *guard;
        let now = crate::browser::now_ms();
        if now - inner.last_flush < MIN_FLUSH_INTERVAL_MS {
            // Too soon after the last update: wait for a later frame (still scheduled).
            let cell = Rc::clone(cell);
            request_animation_frame(move || render_batch(&cell));
            return;
        }
        inner.last_flush = now;
        inner.frame_scheduled = false;
        let batch = std::mem::take(&mut inner.pending);
        let count = std::mem::take(&mut inner.arrived);
        let signals = inner.signals;
        signals.received.update(|n| *n += count);
        inner.rate_window.1 += count;
        let elapsed = now - inner.rate_window.0;
        if elapsed >= 1_000.0 {
            signals
                .rate
                .set(inner.rate_window.1 as f64 * 1_000.0 / elapsed);
            inner.rate_window = (now, 0);
        }
        if signals.paused.get_untracked() {
            inner.held.extend(batch);
            let excess = inner.held.len().saturating_sub(MAX_ROWS);
            inner.held.drain(..excess);
            signals.held.set(inner.held.len());
        } else {
            signals.rows.update(|rows| push_bounded(rows, batch));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::ServerFrame;

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
        let signals = FeedSignals::new();
        let (mut next, mut seq, mut out) = (Resume::default(), 0, Vec::new());
        absorb(
            wire(ServerFrame::Subscribed {
                topic: "t".into(),
                from: StartPosition::Last { n: 3 },
                next_offsets: PartitionOffsets::from([(0, 5), (1, 9)]),
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
        let signals = FeedSignals::new();
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

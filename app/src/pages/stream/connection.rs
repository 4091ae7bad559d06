//! The viewer's connection to the relay (`/api/stream`): one WebSocket, reconnecting with
//! backoff and resuming from the next offsets it had, and records handed to the page in batches
//! on an animation frame (at most ten a second, however many arrive in between), into a bounded
//! window.
//!
//! It owns the socket and its timing (connect, reconnect, batching); what a frame means is
//! [`super::frames`]'s, and the page sees only [`super::model`]'s signals: it must not render
//! anything itself. The socket only exists in the browser; on the server a [`Connection`] is
//! inert, so the page renders its controls.

// The server build renders the page but never connects: what only the socket uses looks unused.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use super::model::{Status, ViewerSignals};
use crate::stream::StartPosition;
use leptos::prelude::*;
use std::collections::VecDeque;

/// What to stream: what the controls hand the connection when the user presses Start.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Want {
    pub(super) user_id: String,
    pub(super) topics: Vec<String>,
    pub(super) from: StartPosition,
    /// A filter expression for the relay to apply.
    pub(super) filter: Option<String>,
}

/// A `subscribe` frame for `topic`, as the protocol's `ClientFrame::Subscribe` writes it,
/// written by hand: serde's code for that enum brings every other frame's (searches among
/// them), and its code for the internally tagged [`StartPosition`] some 2 KB more, into the
/// viewer's bundle, which is at the edge of its budget. A property test checks that both write
/// the same JSON.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(super) fn subscribe_frame(topic: &str, from: &StartPosition, filter: Option<&str>) -> String {
    use std::fmt::Write;
    // `serde_json` escapes the strings (its string writer is in the bundle anyway).
    let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let mut frame = format!(
        r#"{{"type":"subscribe","topics":[{}],"from":{{"position":"#,
        quoted(topic)
    );
    // `write!` to a String cannot fail.
    let _ = match from {
        StartPosition::Latest => write!(frame, r#""latest""#),
        StartPosition::Earliest => write!(frame, r#""earliest""#),
        StartPosition::Stored => write!(frame, r#""stored""#),
        StartPosition::Last { n } => write!(frame, r#""last","n":{n}"#),
        StartPosition::Timestamp { at } => write!(frame, r#""timestamp","at":{at}"#),
        StartPosition::Offsets { offsets } => {
            frame.push_str(r#""offsets","offsets":{"#);
            for (i, (partition, offset)) in offsets.iter().enumerate() {
                let comma = if i == 0 { "" } else { "," };
                let _ = write!(frame, r#"{comma}"{partition}":{offset}"#);
            }
            write!(frame, "}}")
        }
    };
    frame.push('}');
    if let Some(filter) = filter {
        let _ = write!(frame, r#","filter":{}"#, quoted(filter));
    }
    frame.push('}');
    frame
}

/// The viewer's connection: what the page's buttons call, and the signals it updates.
#[derive(Clone, Copy)]
pub(super) struct Connection {
    pub(super) signals: ViewerSignals,
    #[cfg(feature = "hydrate")]
    socket: StoredValue<browser_socket::Socket, LocalStorage>,
}

impl Connection {
    /// A connection that is not connected yet.
    pub(super) fn new() -> Self {
        let signals = ViewerSignals::new();
        Self {
            signals,
            #[cfg(feature = "hydrate")]
            socket: StoredValue::new_local(browser_socket::Socket::new(signals)),
        }
    }

    /// (Re)connects and streams `want` (replacing what streamed before).
    pub(super) fn start(&self, want: Want) {
        #[cfg(feature = "hydrate")]
        self.socket.with_value(|s| s.start(want));
        #[cfg(not(feature = "hydrate"))]
        let _ = want;
    }

    /// Streams the same topics again from where they were first asked for, now only the
    /// records `filter` matches (all with `None`); the window starts empty.
    pub(super) fn set_filter(&self, filter: Option<String>) {
        self.signals.filter_error.set(None);
        self.signals.server_filter.set(filter.clone());
        self.clear();
        #[cfg(feature = "hydrate")]
        self.socket.with_value(|s| s.refilter(filter));
    }

    /// Asks the relay to store where each stream stands as the user's position (it answers
    /// `position_saved` per topic, shown as a notice).
    pub(super) fn save_position(&self) {
        #[cfg(feature = "hydrate")]
        self.socket
            .with_value(|s| s.send(r#"{"type":"save_position"}"#));
    }

    /// Disconnects for good.
    pub(super) fn stop(&self) {
        #[cfg(feature = "hydrate")]
        self.socket.with_value(|s| s.stop());
        self.signals.status.set(Status::Idle);
    }

    /// Shows what was held while paused.
    pub(super) fn resume(&self) {
        self.signals.paused.set(false);
        #[cfg(feature = "hydrate")]
        self.socket.with_value(|s| s.flush());
    }

    /// Empties the window.
    pub(super) fn clear(&self) {
        self.signals.rows.update(VecDeque::clear);
        #[cfg(feature = "hydrate")]
        self.socket.with_value(|s| s.drop_held());
    }
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "hydrate")]
mod browser_socket {
    use super::super::{
        frames::{absorb, parse_frame, Resume},
        model::{push_bounded, Row, MAX_ROWS},
    };
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
        signals: ViewerSignals,
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
        pub fn new(signals: ViewerSignals) -> Self {
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

        /// Sends a control frame on the open socket (nothing when none is open).
        pub fn send(&self, frame: &str) {
            if let Some(ws) = &self.inner.borrow().ws {
                let _ = ws.send_with_str(frame);
            }
        }

        /// Restarts what streams with another filter (nothing when nothing streams).
        pub fn refilter(&self, filter: Option<String>) {
            let want = self.inner.borrow().want.clone();
            if let Some(want) = want {
                self.start(Want { filter, ..want });
            }
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
                subscribe_frame(topic, &from, want.filter.as_deref())
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
    use crate::stream::ClientFrame;

    proptest::proptest! {
        #[test]
        fn the_viewers_subscribe_frame_is_the_protocols(
            from in crate::stream::tests::start_position(),
            topic in "[a-z._-]{1,10}",
            filter in proptest::option::of("[ -~\"\\\\é]{0,20}"),
        ) {
            let ours = subscribe_frame(&topic, &from, filter.as_deref());
            let protocol = ClientFrame::Subscribe {
                topics: vec![topic.clone()],
                from: from.clone(),
                filter: filter.clone(),
            };
            proptest::prop_assert_eq!(ours, serde_json::to_string(&protocol).unwrap());
        }
    }
}

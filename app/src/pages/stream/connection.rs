//! The viewer's connection to the relay (`/api/stream`): one WebSocket, reconnecting with
//! backoff and resuming from the next offsets it had, and records handed to the page in batches
//! on an animation frame (at most ten a second, however many arrive in between, with a timer
//! rather than idle frames between two), into a bounded window.
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
            .with_value(|s| s.send(&crate::stream::ClientFrame::SavePosition));
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
    use crate::{
        browser::{RelaySender, RelaySocket, SocketEvent},
        stream::ClientFrame,
    };
    use std::{cell::RefCell, rc::Rc};

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
        socket: Option<RelaySocket>,
        next: Resume,
        pending: Vec<Row>,
        /// Records received since the last list update (some may have been dropped from
        /// `pending` unseen).
        arrived: u64,
        held: VecDeque<Row>,
        /// A list update is on its way (a timer, or an animation frame asked for).
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
                    socket: None,
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
        pub fn send(&self, frame: &ClientFrame) {
            if let Some(socket) = &self.inner.borrow().socket {
                socket.send(frame);
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
        /// Closes the socket, if one is open; what it still had in flight is ignored.
        fn close(&mut self) {
            self.epoch += 1;
            self.socket = None;
        }
    }

    /// Opens a socket for what is wanted (nothing when nothing is); the rest happens in its
    /// events.
    fn connect(cell: &Rc<RefCell<Inner>>) {
        let mut inner = cell.borrow_mut();
        let Some(user_id) = inner.want.as_ref().map(|w| w.user_id.clone()) else {
            return;
        };
        let epoch = inner.epoch;
        let on_event = {
            let cell = Rc::clone(cell);
            move |sender: &RelaySender, event: SocketEvent| {
                // A socket closed by a start or a stop since: nothing it says matters.
                if cell.borrow().epoch != epoch {
                    return;
                }
                match event {
                    SocketEvent::Opened => opened(&cell, sender),
                    SocketEvent::Text(text) => received(&cell, &text),
                    SocketEvent::Closed(code) => closed(&cell, code),
                }
            }
        };
        let Some(socket) = RelaySocket::open(&user_id, on_event) else {
            drop(inner);
            return retry(cell);
        };
        inner.signals.status.set(Status::Connecting);
        inner.socket = Some(socket);
    }

    /// The socket opened: subscribe to what is wanted.
    fn opened(cell: &Rc<RefCell<Inner>>, sender: &RelaySender) {
        let mut inner = cell.borrow_mut();
        inner.attempt = 0;
        inner.signals.status.set(Status::Live);
        if let Some(want) = &inner.want {
            for frame in subscribe_frames(want, &inner.next) {
                sender.send(&frame);
            }
        }
    }

    /// A frame arrived: what it says goes into the pending batch, which the next list update
    /// shows.
    fn received(cell: &Rc<RefCell<Inner>>, text: &str) {
        let Some(frame) = parse_frame(text) else {
            return;
        };
        let schedule = {
            let mut guard = cell.borrow_mut();
            let inner = &mut *guard;
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
            schedule.then_some(inner.last_flush)
        };
        if let Some(last_flush) = schedule {
            schedule_render(cell, last_flush);
        }
    }

    /// Asks for [`render_batch`] on the first animation frame once the list is due an update
    /// ([`MIN_FLUSH_INTERVAL_MS`] after the last one, at `last_flush`), with a timer until then:
    /// asking for every animation frame meanwhile would have the browser run frames at the
    /// display's rate with nothing to show.
    fn schedule_render(cell: &Rc<RefCell<Inner>>, last_flush: f64) {
        let wait = MIN_FLUSH_INTERVAL_MS - (crate::browser::now_ms() - last_flush);
        let cell = Rc::clone(cell);
        let on_next_frame = move || request_animation_frame(move || render_batch(&cell));
        if wait <= 0.0 {
            on_next_frame();
        } else {
            set_timeout(
                on_next_frame,
                std::time::Duration::from_millis(wait.ceil() as u64),
            );
        }
    }

    /// The socket closed: say so, and try again.
    fn closed(cell: &Rc<RefCell<Inner>>, code: u16) {
        cell.borrow()
            .signals
            .notice(format!("connection closed (code {code})"));
        retry(cell);
    }

    /// Subscribe frames for a (re)connection: resume each topic after the last offsets seen,
    /// or start where asked the first time.
    fn subscribe_frames(want: &Want, next: &Resume) -> Vec<ClientFrame> {
        want.topics
            .iter()
            .map(|topic| {
                let from = match next.get(topic) {
                    Some(offsets) if !offsets.is_empty() => StartPosition::Offsets {
                        offsets: offsets.clone(),
                    },
                    _ => want.from.clone(),
                };
                ClientFrame::Subscribe {
                    topics: vec![topic.clone()],
                    from,
                    filter: want.filter.clone(),
                }
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

    /// A list update, on an animation frame, at most ten a second: everything that arrived since
    /// the last one goes on screen in one signal update (or into the held buffer while paused).
    fn render_batch(cell: &Rc<RefCell<Inner>>) {
        let mut guard = cell.borrow_mut();
        let inner = &mut *guard;
        let now = crate::browser::now_ms();
        if now - inner.last_flush < MIN_FLUSH_INTERVAL_MS {
            // Too soon after the last update (a timer fired early): come back when due (still
            // scheduled).
            let last_flush = inner.last_flush;
            drop(guard);
            schedule_render(cell, last_flush);
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

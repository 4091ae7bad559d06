//! One search of a topic's history, as the search page runs it: the relay's answers turned into
//! the page's state ([`absorb`]), and (in the browser) the socket that carries them.
//!
//! A search has its own socket, opened when it starts and closed when it ends: the relay stops a
//! search whose socket closes (a closed tab stops its scan), and the live viewer's socket and its
//! reconnections stay out of it. It owns no markup: the page ([`super`]) renders the signals.

// The server build renders the page but never searches: what only the socket uses looks unused.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::{
    pages::stream::Row,
    stream::{FrameKind, SearchFrameFields, SearchRequest},
};
use leptos::prelude::*;

/// Matches drawn in the list; the rest (up to the relay's cap of 10,000) are kept for the
/// download. A list of thousands of rows is not read, and drawing it would stall the page.
pub(super) const SHOWN_MATCHES: usize = 1_000;

/// Where a search is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Phase {
    Idle,
    Running,
    /// Over, with what to tell the user (how it ended, or why it was refused).
    Ended(String),
}

/// What the page shows about the search; the socket's handler sets them.
#[derive(Clone, Copy)]
pub(super) struct SearchSignals {
    /// Matches in offset order per partition, as found.
    pub(super) rows: RwSignal<Vec<Row>>,
    /// Records looked at, records in scope, matches.
    pub(super) progress: RwSignal<(u64, u64, u64)>,
    /// Records looked at per second, since the search started.
    pub(super) rate: RwSignal<u64>,
    pub(super) phase: RwSignal<Phase>,
    /// Why the relay refused the filter expression (shown at the field).
    pub(super) filter_error: RwSignal<Option<String>>,
}

impl SearchSignals {
    fn new() -> Self {
        Self {
            rows: RwSignal::new(Vec::new()),
            progress: RwSignal::new((0, 0, 0)),
            rate: RwSignal::new(0),
            phase: RwSignal::new(Phase::Idle),
            filter_error: RwSignal::new(None),
        }
    }

    /// Forgets the last search: a new one starts from nothing.
    fn reset(&self) {
        self.rows.set(Vec::new());
        self.progress.set((0, 0, 0));
        self.rate.set(0);
        self.filter_error.set(None);
        self.phase.set(Phase::Running);
    }
}

/// What one frame from the relay does to the search `id`; `seq` numbers the rows. Returns
/// whether the search is over (its socket can close).
pub(super) fn absorb(
    frame: SearchFrameFields,
    id: &str,
    signals: &SearchSignals,
    seq: &mut u64,
) -> bool {
    // An `error` frame carries no id: on a socket that only searches, it is this search's.
    if frame.kind != FrameKind::Error && frame.id != id {
        return false;
    }
    match frame.kind {
        FrameKind::SearchProgress => {
            signals
                .progress
                .set((frame.scanned, frame.total, frame.matches));
            signals.rate.set(frame.rate as u64);
            false
        }
        FrameKind::SearchResults => {
            signals.rows.update(|rows| {
                rows.extend(frame.records.into_iter().map(|record| {
                    *seq += 1;
                    Row::from_record(*seq, record)
                }));
            });
            false
        }
        FrameKind::SearchDone => {
            signals.progress.update(|(scanned, _, matches)| {
                (*scanned, *matches) = (frame.scanned, frame.matches)
            });
            signals.phase.set(Phase::Ended(ending(&frame)));
            true
        }
        FrameKind::Error => {
            let why = frame.message.unwrap_or(frame.error.clone());
            if frame.error == "invalid_filter" {
                signals.filter_error.set(Some(why.clone()));
            }
            signals.phase.set(Phase::Ended(format!("refused: {why}")));
            true
        }
        // The live stream's frames (and `hello`) are not about a search.
        FrameKind::Hello
        | FrameKind::Records
        | FrameKind::Subscribed
        | FrameKind::CaughtUp
        | FrameKind::PositionSaved
        | FrameKind::Unsubscribed
        | FrameKind::Lagged
        | FrameKind::TopicState
        | FrameKind::Pong
        | FrameKind::Unknown => false,
    }
}

/// How a search ended, for people.
fn ending(done: &SearchFrameFields) -> String {
    let (scanned, matches) = (done.scanned, done.matches);
    match done.reason.as_str() {
        "complete" => format!("done: {matches} match(es) in {scanned} record(s)"),
        "limit" => format!(
            "stopped at the cap of {matches} match(es), after {scanned} record(s): narrow the search or raise the cap"
        ),
        "cancelled" => format!("cancelled after {scanned} record(s), {matches} match(es)"),
        other => format!(
            "stopped ({other}) after {scanned} record(s): {}",
            done.message.as_deref().unwrap_or("no reason given")
        ),
    }
}

/// The page's search: its signals, and in the browser the socket of the running one.
#[derive(Clone, Copy)]
pub(super) struct SearchRun {
    pub(super) signals: SearchSignals,
    #[cfg(feature = "hydrate")]
    socket: StoredValue<Option<browser_socket::SearchSocket>, LocalStorage>,
    /// Searches started on this page.
    #[cfg(feature = "hydrate")]
    searches: StoredValue<u64>,
}

impl SearchRun {
    pub(super) fn new() -> Self {
        Self {
            signals: SearchSignals::new(),
            #[cfg(feature = "hydrate")]
            socket: StoredValue::new_local(None),
            #[cfg(feature = "hydrate")]
            searches: StoredValue::new(0),
        }
    }

    /// Starts `request` as `user`, replacing the search that runs.
    pub(super) fn start(&self, user: &str, request: SearchRequest) {
        self.signals.reset();
        #[cfg(feature = "hydrate")]
        {
            // Rows of different searches never share an arrival number (at most 10,000 matches
            // each).
            self.searches.update_value(|n| *n += 1);
            let first_seq = self.searches.get_value() * 1_000_000;
            // A running search is replaced on its own socket (see `SearchSocket::replace`).
            let replaced = self
                .socket
                .with_value(|s| s.as_ref().is_some_and(|s| s.replace(&request, first_seq)));
            if replaced {
                return;
            }
            self.stop();
            let socket = browser_socket::SearchSocket::open(user, request, self.signals, first_seq);
            if socket.is_none() {
                let why = "could not open a connection to the relay".to_owned();
                self.signals.phase.set(Phase::Ended(why));
            }
            self.socket.set_value(socket);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (user, request);
    }

    /// Asks the relay to stop the running search; it answers `cancelled` with what it found.
    pub(super) fn cancel(&self) {
        #[cfg(feature = "hydrate")]
        {
            let sent = self
                .socket
                .with_value(|s| s.as_ref().is_some_and(|s| s.cancel()));
            // Not connected yet: the search has not started, closing the socket is the cancel.
            if !sent && self.signals.phase.get_untracked() == Phase::Running {
                self.stop();
                let why = "cancelled before it started".to_owned();
                self.signals.phase.set(Phase::Ended(why));
            }
        }
    }

    /// Closes the socket (which stops the search on the relay too).
    pub(super) fn stop(&self) {
        #[cfg(feature = "hydrate")]
        self.socket.set_value(None);
    }
}

#[cfg(feature = "hydrate")]
mod browser_socket {
    use super::*;
    use crate::{
        browser::{RelaySender, RelaySocket, SocketEvent},
        stream::ClientFrame,
    };
    use std::{
        cell::{Cell, RefCell},
        rc::Rc,
    };

    /// A search's socket; closed when dropped.
    pub struct SearchSocket {
        socket: RelaySocket,
        current: Rc<Current>,
    }

    /// The search the socket runs now (a new one may replace it on the same socket).
    struct Current {
        id: RefCell<String>,
        /// The last row number given.
        seq: Cell<u64>,
        /// It ended (the socket is closing, and its close is no news).
        over: Cell<bool>,
    }

    impl SearchSocket {
        /// Opens a socket as `user` and sends `request` once it is open; rows are numbered
        /// after `first_seq`.
        pub fn open(
            user: &str,
            request: SearchRequest,
            signals: SearchSignals,
            first_seq: u64,
        ) -> Option<Self> {
            let current = Rc::new(Current {
                id: RefCell::new(request.id.clone()),
                seq: Cell::new(first_seq),
                over: Cell::new(false),
            });
            let mut request = Some(ClientFrame::Search(request));
            let socket = RelaySocket::open(user, {
                let current = Rc::clone(&current);
                move |sender: &RelaySender, event: SocketEvent| match event {
                    SocketEvent::Opened => {
                        if let Some(request) = request.take() {
                            sender.send(&request);
                        }
                    }
                    SocketEvent::Text(text) => {
                        let Ok(frame) = serde_json::from_str::<SearchFrameFields>(&text) else {
                            return;
                        };
                        let mut seq = current.seq.get();
                        let id = current.id.borrow().clone();
                        let ended = absorb(frame, &id, &signals, &mut seq);
                        current.seq.set(seq);
                        if ended {
                            current.over.set(true);
                            sender.close();
                        }
                    }
                    SocketEvent::Closed(_) => {
                        if !current.over.get() {
                            let (scanned, _, _) = signals.progress.get_untracked();
                            let why = format!(
                                "the connection was lost after {scanned} record(s): search again"
                            );
                            signals.phase.set(Phase::Ended(why));
                        }
                    }
                }
            })?;
            Some(Self { socket, current })
        }

        /// Sends `request` on this socket while its search runs: the relay ends that search
        /// (and gives its turn back) before it starts this one, so the user's limit of searches
        /// cannot refuse it. `false` when the socket is not open or its search is over (open a
        /// new one then).
        pub fn replace(&self, request: &SearchRequest, first_seq: u64) -> bool {
            if !self.socket.is_open() || self.current.over.get() {
                return false;
            }
            *self.current.id.borrow_mut() = request.id.clone();
            self.current.seq.set(first_seq);
            self.socket.send(&ClientFrame::Search(request.clone()))
        }

        /// Asks the relay to stop this search; `false` when the socket is not open (yet).
        pub fn cancel(&self) -> bool {
            let id = self.current.id.borrow().clone();
            self.socket.send(&ClientFrame::CancelSearch { id })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: serde_json::Value) -> SearchFrameFields {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn frames_move_the_search_along_and_end_it() {
        let owner = Owner::new();
        owner.set();
        let signals = SearchSignals::new();
        signals.reset();
        let mut seq = 0;
        let progress = frame(serde_json::json!({
            "type": "search_progress", "id": "s1", "scanned": 500, "total": 2000, "matches": 3, "rate": 2000.0,
        }));
        assert!(!absorb(progress, "s1", &signals, &mut seq));
        assert_eq!(signals.progress.get_untracked(), (500, 2000, 3));
        assert_eq!(signals.rate.get_untracked(), 2000);
        let record = serde_json::json!({
            "topic": "t", "partition": 0, "offset": 4, "timestamp": null, "key": null,
            "value": {"n": 4}, "encoding": "json",
        });
        let results = frame(serde_json::json!({
            "type": "search_results", "id": "s1", "records": [record, record],
        }));
        assert!(!absorb(results, "s1", &signals, &mut seq));
        assert_eq!(signals.rows.with_untracked(Vec::len), 2);
        assert_eq!(signals.rows.with_untracked(|r| r[1].seq), 2);
        // Another search's frames (one replaced a moment ago) change nothing.
        let stale =
            frame(serde_json::json!({"type": "search_done", "id": "s0", "reason": "cancelled"}));
        assert!(!absorb(stale, "s1", &signals, &mut seq));
        assert_eq!(signals.phase.get_untracked(), Phase::Running);
        let done = frame(serde_json::json!({
            "type": "search_done", "id": "s1", "scanned": 2000, "matches": 2, "reason": "complete",
        }));
        assert!(absorb(done, "s1", &signals, &mut seq));
        assert_eq!(signals.progress.get_untracked(), (2000, 2000, 2));
        assert_eq!(
            signals.phase.get_untracked(),
            Phase::Ended("done: 2 match(es) in 2000 record(s)".into())
        );
    }

    #[test]
    fn a_refused_filter_is_shown_at_its_field() {
        let owner = Owner::new();
        owner.set();
        let signals = SearchSignals::new();
        let refused = frame(serde_json::json!({
            "type": "error", "error": "invalid_filter", "message": "Syntax error at 1:7",
        }));
        assert!(absorb(refused, "s1", &signals, &mut 0));
        assert_eq!(
            signals.filter_error.get_untracked().as_deref(),
            Some("Syntax error at 1:7")
        );
        assert_eq!(
            signals.phase.get_untracked(),
            Phase::Ended("refused: Syntax error at 1:7".into())
        );
        let busy = frame(serde_json::json!({
            "type": "error", "error": "too_many_searches", "message": "wait for one to end",
        }));
        assert!(absorb(busy, "s2", &signals, &mut 0));
        assert_eq!(
            signals.phase.get_untracked(),
            Phase::Ended("refused: wait for one to end".into())
        );
    }
}

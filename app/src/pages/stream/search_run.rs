//! One search of a topic's history, as the search page runs it: the form's fields turned into
//! a `search` frame ([`search_request`]), the relay's answers turned into the page's state
//! ([`absorb`]), and (in the browser) the socket that carries them.
//!
//! A search has its own socket, opened when it starts and closed when it ends: the relay stops a
//! search whose socket closes (a closed tab stops its scan), and the live viewer's socket and its
//! reconnections stay out of it. It owns no markup: [`super::search`] renders the signals.

// The server build renders the page but never searches: what only the socket uses looks unused.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use super::{model::Row, start::parse_local_time};
use crate::stream::{SearchFrameFields, SearchRequest};
use leptos::prelude::*;

/// Matches drawn in the list; the rest (up to the relay's cap of 10,000) are kept for the
/// download. A list of thousands of rows is not read, and drawing it would stall the page.
pub(super) const SHOWN_MATCHES: usize = 1_000;

/// The relay's bounds on `max_matches` (it clamps; the form says so before it does).
const MAX_MATCHES: u64 = 10_000;

/// Where a search is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Phase {
    Idle,
    Running,
    /// Over, with what to tell the user (how it ended, or why it was refused).
    Ended(String),
}

/// What the page shows about the search; the socket's handlers set them.
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

/// The form's fields, as typed.
#[derive(Debug, Default, Clone)]
pub(super) struct SearchForm {
    pub(super) topic: String,
    pub(super) filter: String,
    pub(super) partition: String,
    pub(super) from_offset: String,
    pub(super) to_offset: String,
    pub(super) since: String,
    pub(super) until: String,
    pub(super) max_matches: String,
}

/// The `search` request the form describes, named `id`, or what is wrong with the form (shown
/// as is). Empty fields leave their bound out: the whole topic, every record, 1,000 matches.
pub(super) fn search_request(id: String, form: &SearchForm) -> Result<SearchRequest, String> {
    fn number<T: std::str::FromStr>(typed: &str, what: &str) -> Result<Option<T>, String> {
        match typed.trim() {
            "" => Ok(None),
            t => t
                .parse()
                .map(Some)
                .map_err(|_| format!("{what} must be a whole number of 0 or more")),
        }
    }
    fn time(typed: &str, what: &str) -> Result<Option<i64>, String> {
        match typed.trim() {
            "" => Ok(None),
            t => parse_local_time(t)
                .map(Some)
                .ok_or_else(|| format!("{what}: pick a date and time")),
        }
    }
    if form.topic.is_empty() {
        return Err("choose a topic".into());
    }
    let partition = number::<u16>(&form.partition, "the partition")?;
    let offset = |typed: &str, what: &str| -> Result<Option<i64>, String> {
        let offset = number::<u64>(typed, what)?;
        offset
            .map(|o| i64::try_from(o).map_err(|_| format!("{what} is past any offset")))
            .transpose()
    };
    let from_offset = offset(&form.from_offset, "the first offset")?;
    let to_offset = offset(&form.to_offset, "the end offset")?;
    if let (Some(from), Some(to)) = (from_offset, to_offset) {
        if to <= from {
            return Err("the end offset (not included) must be after the first offset".into());
        }
    }
    let (since, until) = (time(&form.since, "from")?, time(&form.until, "until")?);
    if let (Some(since), Some(until)) = (since, until) {
        if until <= since {
            return Err("“until” must be after “from”".into());
        }
    }
    let max_matches = number::<u64>(&form.max_matches, "the cap on matches")?;
    if max_matches.is_some_and(|n| !(1..=MAX_MATCHES).contains(&n)) {
        return Err(format!("the cap on matches is 1 to {MAX_MATCHES}"));
    }
    let filter = Some(form.filter.trim())
        .filter(|f| !f.is_empty())
        .map(str::to_owned);
    Ok(SearchRequest {
        id,
        topic: form.topic.clone(),
        filter,
        partition: partition.map(i32::from),
        from_offset,
        to_offset,
        since,
        until,
        max_matches,
    })
}

/// What one frame from the relay does to the search `id`, `elapsed_ms` after it started;
/// `seq` numbers the rows. Returns whether the search is over (its socket can close).
pub(super) fn absorb(
    frame: SearchFrameFields,
    id: &str,
    signals: &SearchSignals,
    elapsed_ms: f64,
    seq: &mut u64,
) -> bool {
    // An `error` frame carries no id: on a socket that only searches, it is this search's.
    if frame.kind != "error" && frame.id != id {
        return false;
    }
    match frame.kind.as_str() {
        "search_progress" => {
            signals
                .progress
                .set((frame.scanned, frame.total, frame.matches));
            signals
                .rate
                .set((frame.scanned as f64 * 1_000.0 / elapsed_ms.max(1.0)) as u64);
            false
        }
        "search_results" => {
            signals.rows.update(|rows| {
                rows.extend(frame.records.into_iter().map(|record| {
                    *seq += 1;
                    Row::from_record(*seq, record)
                }));
            });
            false
        }
        "search_done" => {
            signals.progress.update(|(scanned, _, matches)| {
                (*scanned, *matches) = (frame.scanned, frame.matches)
            });
            signals.phase.set(Phase::Ended(ending(&frame)));
            true
        }
        "error" => {
            let why = frame.message.unwrap_or(frame.error.clone());
            if frame.error == "invalid_filter" {
                signals.filter_error.set(Some(why.clone()));
            }
            signals.phase.set(Phase::Ended(format!("refused: {why}")));
            true
        }
        _ => false,
    }
}

/// The `search` frame asking for `request`, as the protocol's `ClientFrame::Search` writes
/// it (written here without that enum, whose other frames would come into the bundle with it;
/// a test checks both agree).
fn search_frame(request: &SearchRequest) -> String {
    let fields = serde_json::to_string(request).unwrap_or_default();
    format!(r#"{{"type":"search",{}"#, fields.get(1..).unwrap_or("}"))
}

/// The `cancel_search` frame for the search `id` (like [`search_frame`], without the enum).
fn cancel_frame(id: &str) -> String {
    let id = serde_json::to_string(id).unwrap_or_default();
    format!(r#"{{"type":"cancel_search","id":{id}}}"#)
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
    use std::{
        cell::{Cell, RefCell},
        rc::Rc,
    };
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{MessageEvent, WebSocket};

    type Handler = Closure<dyn FnMut(web_sys::Event)>;

    /// A search's socket; closed (its handlers detached first) when dropped.
    pub struct SearchSocket {
        ws: WebSocket,
        current: Rc<Current>,
        _handlers: [Handler; 3],
    }

    /// The search the socket runs now (a new one may replace it on the same socket).
    struct Current {
        id: RefCell<String>,
        /// The last row number given.
        seq: Cell<u64>,
        started: Cell<f64>,
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
            let location = web_sys::window()?.location();
            let scheme = match location.protocol().ok()?.as_str() {
                "https:" => "wss",
                _ => "ws",
            };
            let url = format!(
                "{scheme}://{}/api/stream?follow=false&user_id={}",
                location.host().ok()?,
                crate::api::encode(user)
            );
            let ws = WebSocket::new(&url).ok()?;
            let current = Rc::new(Current {
                id: RefCell::new(request.id.clone()),
                seq: Cell::new(first_seq),
                started: Cell::new(crate::browser::now_ms()),
                over: Cell::new(false),
            });
            let frame = search_frame(&request);
            let on_open = {
                let ws = ws.clone();
                Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                    let _ = ws.send_with_str(&frame);
                })
            };
            let on_message = {
                let (ws, current) = (ws.clone(), Rc::clone(&current));
                Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                    let Some(text) = event
                        .dyn_ref::<MessageEvent>()
                        .and_then(|m| m.data().as_string())
                    else {
                        return;
                    };
                    let Ok(frame) = serde_json::from_str::<SearchFrameFields>(&text) else {
                        return;
                    };
                    let elapsed = crate::browser::now_ms() - current.started.get();
                    let mut seq = current.seq.get();
                    let id = current.id.borrow().clone();
                    let ended = absorb(frame, &id, &signals, elapsed, &mut seq);
                    current.seq.set(seq);
                    if ended {
                        current.over.set(true);
                        let _ = ws.close();
                    }
                })
            };
            let on_close = {
                let current = Rc::clone(&current);
                Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                    if !current.over.get() {
                        let (scanned, _, _) = signals.progress.get_untracked();
                        let why = format!(
                            "the connection was lost after {scanned} record(s): search again"
                        );
                        signals.phase.set(Phase::Ended(why));
                    }
                })
            };
            ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
            Some(Self {
                ws,
                current,
                _handlers: [on_open, on_message, on_close],
            })
        }

        /// Sends `request` on this socket while its search runs: the relay ends that search
        /// (and gives its turn back) before it starts this one, so the user's limit of searches
        /// cannot refuse it. `false` when the socket is not open or its search is over (open a
        /// new one then).
        pub fn replace(&self, request: &SearchRequest, first_seq: u64) -> bool {
            if self.ws.ready_state() != WebSocket::OPEN || self.current.over.get() {
                return false;
            }
            *self.current.id.borrow_mut() = request.id.clone();
            self.current.seq.set(first_seq);
            self.current.started.set(crate::browser::now_ms());
            self.ws.send_with_str(&search_frame(request)).is_ok()
        }

        /// Asks the relay to stop this search; `false` when the socket is not open (yet).
        pub fn cancel(&self) -> bool {
            self.ws.ready_state() == WebSocket::OPEN
                && self
                    .ws
                    .send_with_str(&cancel_frame(&self.current.id.borrow()))
                    .is_ok()
        }
    }

    impl Drop for SearchSocket {
        fn drop(&mut self) {
            self.ws.set_onopen(None);
            self.ws.set_onmessage(None);
            self.ws.set_onclose(None);
            let _ = self.ws.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(topic: &str) -> SearchForm {
        SearchForm {
            topic: topic.into(),
            ..SearchForm::default()
        }
    }

    #[test]
    fn an_empty_form_searches_the_whole_topic() {
        let request = search_request("s1".into(), &form("payments")).unwrap();
        assert_eq!(
            request,
            SearchRequest {
                id: "s1".into(),
                topic: "payments".into(),
                filter: None,
                partition: None,
                from_offset: None,
                to_offset: None,
                since: None,
                until: None,
                max_matches: None,
            }
        );
    }

    #[test]
    fn every_bound_the_form_takes_reaches_the_request() {
        let request = search_request(
            "s2".into(),
            &SearchForm {
                filter: " value.amount > 5.0 ".into(),
                partition: "1".into(),
                from_offset: "10".into(),
                to_offset: "20".into(),
                since: "2026-11-30T10:00".into(),
                until: "2026-11-30T11:00".into(),
                max_matches: "50".into(),
                ..form("payments")
            },
        )
        .unwrap();
        assert_eq!(request.filter.as_deref(), Some("value.amount > 5.0"));
        assert_eq!(request.partition, Some(1));
        assert_eq!(
            (request.from_offset, request.to_offset),
            (Some(10), Some(20))
        );
        assert_eq!(
            (request.since, request.until),
            (Some(1_796_032_800_000), Some(1_796_036_400_000))
        );
        assert_eq!(request.max_matches, Some(50));
    }

    #[test]
    fn a_wrong_form_says_what_is_wrong() {
        let wrong = |f: SearchForm| search_request("s".into(), &f).unwrap_err();
        assert_eq!(wrong(form("")), "choose a topic");
        assert!(wrong(SearchForm {
            partition: "-1".into(),
            ..form("t")
        })
        .contains("partition"));
        assert!(wrong(SearchForm {
            from_offset: "x".into(),
            ..form("t")
        })
        .contains("first offset"));
        let backwards = SearchForm {
            from_offset: "9".into(),
            to_offset: "9".into(),
            ..form("t")
        };
        assert!(wrong(backwards).contains("after the first"));
        let huge = SearchForm {
            to_offset: "18446744073709551615".into(),
            ..form("t")
        };
        assert!(wrong(huge).contains("past any offset"));
        assert!(wrong(SearchForm {
            since: "yesterday".into(),
            ..form("t")
        })
        .contains("from"));
        assert!(wrong(SearchForm {
            max_matches: "0".into(),
            ..form("t")
        })
        .contains("1 to 10000"));
        assert!(wrong(SearchForm {
            max_matches: "10001".into(),
            ..form("t")
        })
        .contains("cap"));
    }

    #[test]
    fn the_pages_frames_are_the_protocols() {
        use crate::stream::ClientFrame;
        let request = search_request(
            "s\"1".into(),
            &SearchForm {
                filter: "key == \"a\"".into(),
                max_matches: "5".into(),
                ..form("t")
            },
        )
        .unwrap();
        let read = |json: &str| serde_json::from_str::<ClientFrame>(json).unwrap();
        assert_eq!(
            read(&search_frame(&request)),
            ClientFrame::Search(request.clone())
        );
        assert_eq!(
            read(&cancel_frame(&request.id)),
            ClientFrame::CancelSearch { id: request.id }
        );
    }

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
            "type": "search_progress", "id": "s1", "scanned": 500, "total": 2000, "matches": 3, "rate": 1.0,
        }));
        assert!(!absorb(progress, "s1", &signals, 250.0, &mut seq));
        assert_eq!(signals.progress.get_untracked(), (500, 2000, 3));
        assert_eq!(signals.rate.get_untracked(), 2000);
        let record = serde_json::json!({
            "topic": "t", "partition": 0, "offset": 4, "timestamp": null, "key": null,
            "value": {"n": 4}, "encoding": "json",
        });
        let results = frame(serde_json::json!({
            "type": "search_results", "id": "s1", "records": [record, record],
        }));
        assert!(!absorb(results, "s1", &signals, 300.0, &mut seq));
        assert_eq!(signals.rows.with_untracked(Vec::len), 2);
        assert_eq!(signals.rows.with_untracked(|r| r[1].seq), 2);
        // Another search's frames (one replaced a moment ago) change nothing.
        let stale =
            frame(serde_json::json!({"type": "search_done", "id": "s0", "reason": "cancelled"}));
        assert!(!absorb(stale, "s1", &signals, 300.0, &mut seq));
        assert_eq!(signals.phase.get_untracked(), Phase::Running);
        let done = frame(serde_json::json!({
            "type": "search_done", "id": "s1", "scanned": 2000, "matches": 2, "reason": "complete",
        }));
        assert!(absorb(done, "s1", &signals, 900.0, &mut seq));
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
        assert!(absorb(refused, "s1", &signals, 10.0, &mut 0));
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
        assert!(absorb(busy, "s2", &signals, 10.0, &mut 0));
        assert_eq!(
            signals.phase.get_untracked(),
            Phase::Ended("refused: wait for one to end".into())
        );
    }
}

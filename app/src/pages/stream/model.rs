//! The viewer's state: the rows on screen (a bounded window of the newest records), the
//! connection's status and the counters, all as plain signals the page renders.
//!
//! It owns what the page shows, not how it gets there: it must not read relay frames (that is
//! [`super::frames`]) nor touch the socket or the DOM (that is [`super::connection`] and
//! [`super::record_list`]).

// The server build renders the page but never connects: what only the socket uses looks unused.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::stream::RawStreamRecord;
use leptos::prelude::*;
use std::{
    collections::VecDeque,
    sync::{Arc, OnceLock},
};

/// Rows kept on screen; older ones are dropped as new ones arrive. Bounded so that a fast topic
/// cannot grow the page's memory (and each filter pass) without end.
pub(super) const MAX_ROWS: usize = 1_000;

/// One record as the viewer (and the search page) shows it: what the list, the filters and the
/// copy and download buttons read.
#[derive(Debug, Clone)]
pub(in crate::pages) struct Row {
    /// Arrival number, unique within the page (the list's key).
    pub(in crate::pages) seq: u64,
    /// Shared, so that the filtered view of a thousand rows is rebuilt each frame by copying
    /// pointers, not records.
    pub(in crate::pages) record: Arc<RawStreamRecord>,
    /// The value as compact JSON (or the text), for the one-line view.
    pub(super) text: Arc<str>,
    /// Key and text in lower case, for the text filter: made on the row's first search, since
    /// most rows are never searched and lower-casing every arrival cost more than parsing it.
    search: Arc<OnceLock<Box<str>>>,
}

impl Row {
    /// The `seq`-th arrival, showing `text`: how a record from the relay becomes a row.
    pub(super) fn new(seq: u64, record: RawStreamRecord, text: String) -> Self {
        Self {
            seq,
            record: Arc::new(record),
            text: text.into(),
            search: Arc::default(),
        }
    }

    /// The `seq`-th arrival, showing its value: JSON as sent, text and base64 payloads (which
    /// travel as JSON strings) unquoted.
    pub(in crate::pages) fn from_record(seq: u64, record: RawStreamRecord) -> Self {
        let text = match &record.value {
            Some(raw) if record.encoding != "json" => {
                serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().to_owned())
            }
            Some(raw) => raw.get().to_owned(),
            None => "null".to_owned(),
        };
        Self::new(seq, record, text)
    }

    /// Whether the key or the value contains `needle`, which is in lower case: the text filter.
    pub(super) fn matches(&self, needle: &str) -> bool {
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

/// The connection's state as the page tells it (the status line's badge and text).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Status {
    Idle,
    Connecting,
    Live,
    /// Lost; the next attempt is in `in_secs` seconds.
    Reconnecting {
        in_secs: u32,
        attempt: u32,
    },
}

/// What the page shows; every field is a signal, so that the connection updates the page by
/// setting them and the page never asks the connection anything.
#[derive(Clone, Copy)]
pub(super) struct ViewerSignals {
    pub(super) rows: RwSignal<VecDeque<Row>>,
    pub(super) status: RwSignal<Status>,
    pub(super) received: RwSignal<u64>,
    pub(super) skipped: RwSignal<u64>,
    /// Records per second over the last second.
    pub(super) rate: RwSignal<f64>,
    pub(super) paused: RwSignal<bool>,
    /// Records that arrived while paused and are waiting to be shown.
    pub(super) held: RwSignal<usize>,
    /// The relay's control messages (subscribed, unsubscribed, errors), newest last.
    pub(super) notices: RwSignal<VecDeque<String>>,
    /// The filter expression the relay applies to this viewer's streams, if any.
    pub(super) server_filter: RwSignal<Option<String>>,
    /// Why the relay refused the last filter expression.
    pub(super) filter_error: RwSignal<Option<String>>,
}

impl ViewerSignals {
    /// Nothing received yet, not connected.
    pub(super) fn new() -> Self {
        Self {
            rows: RwSignal::new(VecDeque::new()),
            status: RwSignal::new(Status::Idle),
            received: RwSignal::new(0),
            skipped: RwSignal::new(0),
            rate: RwSignal::new(0.0),
            paused: RwSignal::new(false),
            held: RwSignal::new(0),
            notices: RwSignal::new(VecDeque::new()),
            server_filter: RwSignal::new(None),
            filter_error: RwSignal::new(None),
        }
    }

    /// Adds a notice for the user, keeping the last five.
    pub(super) fn notice(&self, text: String) {
        self.notices.update(|n| {
            n.push_back(text);
            while n.len() > 5 {
                n.pop_front();
            }
        });
    }
}

/// Appends a batch to the window, dropping the oldest rows past [`MAX_ROWS`]: the one way rows
/// go on screen, so the window stays bounded.
pub(super) fn push_bounded(rows: &mut VecDeque<Row>, batch: impl IntoIterator<Item = Row>) {
    rows.extend(batch);
    let excess = rows.len().saturating_sub(MAX_ROWS);
    rows.drain(..excess);
}

/// A row for tests: the `seq`-th arrival, a record of topic `t<1>` (partition 2, offset 7, a
/// fixed time) with `key` and the JSON `value`.
#[cfg(test)]
pub(super) fn test_row(seq: u64, key: Option<&str>, value: &str) -> Row {
    let record: RawStreamRecord = serde_json::from_value(serde_json::json!({
        "topic": "t<1>", "partition": 2, "offset": 7, "timestamp": 951_868_801_002_i64,
        "key": key, "value": serde_json::from_str::<serde_json::Value>(value).unwrap(),
        "encoding": "json",
    }))
    .unwrap();
    Row::new(seq, record, value.to_owned())
}

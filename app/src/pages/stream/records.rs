//! The record list and its toolbar: which rows are drawn (filtered by text and partition, the
//! newest [`LIVE_ROWS`] while live, the whole window while paused), and what a click in the list
//! does (copy a record, write an opened record's body).
//!
//! It reads the rows from the signals and edits the list's DOM only through
//! [`super::record_list`]; it must not read frames or touch the socket (the buttons call the
//! [`Connection`]).

use super::{
    connection::Connection,
    markup::partition_options,
    model::{Row, Status, MAX_ROWS},
    record_list::record_list,
};
use crate::stream::looks_like_filter_expression;
use leptos::prelude::*;
use std::collections::VecDeque;

/// Rows drawn while live (the window keeps [`MAX_ROWS`]; pausing shows them all).
const LIVE_ROWS: usize = 50;

/// The list of records and its toolbar: pause and resume, clear, download, the text and
/// partition filters, and how many rows are shown of those kept.
#[component]
pub(super) fn Records(connection: Connection) -> impl IntoView {
    let s = connection.signals;
    let text = RwSignal::new(String::new());
    let partition = RwSignal::new(None::<i32>);
    // An expression is the relay's to apply (on Enter); only text is matched here.
    let expression = Memo::new(move |_| looks_like_filter_expression(&text.get()));
    let visible = Memo::new(move |_| {
        let needle = match expression.get() {
            true => String::new(),
            false => crate::text::lowercase(&text.get()),
        };
        let part = partition.get();
        // Live, only the newest rows are drawn: at thousands of records a second the rest would
        // be created and replaced before anyone could read them. Paused, the whole window is.
        let limit = if s.paused.get() { MAX_ROWS } else { LIVE_ROWS };
        // Oldest first, as they arrive: each update appends at the end and drops from the start,
        // the cheapest change for the keyed list. The list shows newest first by CSS
        // (`column-reverse`).
        s.rows.with(|rows| {
            let mut shown: Vec<Row> = rows
                .iter()
                .filter(|r| part.is_none_or(|p| r.record.partition == p))
                .filter(|r| r.matches(&needle))
                .cloned()
                .collect();
            let older = shown.len().saturating_sub(limit);
            shown.drain(..older);
            shown
        })
    });
    let partitions = Memo::new(move |_| {
        // A handful of partitions: kept in order as found (a sort would bring its code here).
        let mut seen: Vec<i32> = Vec::new();
        s.rows.with(|rows| {
            for row in rows {
                if let Err(at) = seen.binary_search(&row.record.partition) {
                    seen.insert(at, row.record.partition);
                }
            }
        });
        seen
    });
    let download = move |_| {
        let lines: String = visible.with_untracked(|rows| {
            rows.iter()
                .filter_map(|r| serde_json::to_string(&*r.record).ok())
                .map(|l| l + "\n")
                .collect()
        });
        #[cfg(feature = "hydrate")]
        crate::browser::download("stream.ndjson", "application/x-ndjson", &lines);
        #[cfg(not(feature = "hydrate"))]
        let _ = lines;
    };
    view! {
        <div class="toolbar stream-toolbar">
            <button type="button" data-testid="pause"
                on:click=move |_| if s.paused.get_untracked() { connection.resume() } else { s.paused.set(true) }>
                {move || if s.paused.get() { "Resume" } else { "Pause" }}
            </button>
            <button type="button" class="secondary" data-testid="clear" on:click=move |_| connection.clear()>"Clear"</button>
            <button type="button" class="secondary" data-testid="download" on:click=download>"Download NDJSON"</button>
            <label>"Filter " <input type="search" data-testid="filter"
                placeholder=r#"text, or an expression: value.amount > 500"#
                aria-describedby="filter-says"
                aria-invalid=move || s.filter_error.with(Option::is_some).to_string()
                prop:value=text on:input=move |ev| text.set(event_target_value(&ev))
                on:change=move |_| {
                    // Enter (or leaving the box): an expression goes to the relay; text takes a
                    // filter in force away.
                    let typed = text.get_untracked();
                    let wanted = expression.get_untracked().then(|| typed.trim().to_owned());
                    if wanted != s.server_filter.get_untracked() {
                        connection.set_filter(wanted);
                    }
                }/></label>
            <span id="filter-says" data-testid="filter-says"
                class=move || if s.filter_error.with(Option::is_some) { "error" } else { "muted" }>
                {move || match (s.filter_error.get(), expression.get(), s.server_filter.get()) {
                    (Some(why), _, _) => format!("not a valid expression: {why}"),
                    (None, true, Some(f)) if f == text.get().trim() => "expression, filtered on the server".to_owned(),
                    (None, true, _) => "expression: press Enter to filter on the server".to_owned(),
                    (None, false, Some(_)) => "text, matched here; press Enter to drop the server filter".to_owned(),
                    (None, false, None) => String::new(),
                }}
            </span>
            <label>"Partition "
                <select data-testid="partition-filter"
                    on:change=move |ev| partition.set(event_target_value(&ev).parse().ok())
                    inner_html=move || partitions.with(|all| partition_options(all, partition.get()))></select>
            </label>
            <span class="muted" data-testid="shown">
                {move || {
                    let kept = s.rows.with(VecDeque::len);
                    format!("{} shown of {kept} kept", visible.with(Vec::len))
                }}
            </span>
        </div>
        {move || (s.rows.with(|r| r.is_empty()) && s.status.get() == Status::Live)
            .then(|| view! { <p class="empty-state">"Waiting for records…"</p> })}
        {record_list(visible, "records", "records")}
    }
}

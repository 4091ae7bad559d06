//! The stream viewer: a live tail of one or several topics through the relay. Pause, clear,
//! where to start, filters by text and partition, a live rate and the count of records the relay
//! skipped for us, records as collapsible highlighted JSON, copy one, download what is shown.
//!
//! This module is the page and its head; the parts live beside it, one job each:
//!
//! | module | job |
//! | --- | --- |
//! | [`model`] | the viewer's state: rows (a bounded window), status, counters, as signals |
//! | [`frames`] | what the relay's frames say and what each does to that state |
//! | [`connection`] | the viewer's connection: reconnect with backoff and resume, batch on animation frames (over [`crate::browser::RelaySocket`] in the browser) |
//! | [`start`] | where to start, read from the form |
//! | [`controls`] | the form: topics, start, Start/Stop, notices |
//! | [`records`] | the record list's toolbar, filters and clicks |
//! | [`record_list`] | the list's DOM, kept in step by hand |
//! | [`markup`], [`json_html`] | HTML written as strings (rows, options, counters, JSON, a record's schema badge) |
//! | [`raw`] | a record's payload bytes and their hex dump (the raw view) |
//!
//! The search page ([`super::search`]) shows its matches with this page's rows and list
//! ([`Row`], [`record_list`]), and borrows its topic options and its reading of times.

mod connection;
mod controls;
mod frames;
mod json_html;
mod markup;
mod model;
mod raw;
mod record_list;
mod records;
mod start;

// The search page shows its matches as this page shows records, and reads times as its form does.
pub(super) use markup::topic_options;
pub(super) use model::Row;
pub(super) use record_list::record_list;
pub(super) use start::parse_local_time;

use crate::components::streamable_topics;
use connection::Connection;
use controls::Controls;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use markup::counters_html;
use model::Status;
use records::Records;

/// `/stream[?topic=a&topic=b]`.
#[component]
pub fn Stream() -> impl IntoView {
    let query = use_query_map();
    let chosen = RwSignal::new(query.get_untracked().get_all("topic").unwrap_or_default());
    let connection = Connection::new();
    on_cleanup(move || connection.stop());

    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Stream"</h1>
                <StatusLine connection/>
            </div>
            {streamable_topics(move |user, choices| view! { <Controls user choices chosen connection/> })}
            <Records connection/>
        </section>
    }
}

/// The page head's status line: the connection's state (announced to screen readers) and the
/// counters (received, rate, skipped, held).
#[component]
fn StatusLine(connection: Connection) -> impl IntoView {
    let s = connection.signals;
    view! {
        <p class="stream-status" data-testid="stream-status">
            // The connection's state is announced; the counters, which change ten times a second,
            // are not. One element whose class and text follow the status (one view type, not
            // four), and the counters as one string (one reactive text, not five).
            <span role="status" class=move || s.status.with(|st| match st {
                Status::Idle => "badge",
                Status::Connecting => "badge badge-pending",
                Status::Live => "badge badge-up",
                Status::Reconnecting { .. } => "badge badge-down",
            })>
                {move || match s.status.get() {
                    Status::Idle => "not connected".to_owned(),
                    Status::Connecting => "connecting…".to_owned(),
                    Status::Live => "live".to_owned(),
                    Status::Reconnecting { in_secs, attempt } => {
                        format!("connection lost — retrying in {in_secs} s (attempt {attempt})")
                    }
                }}
            </span>
            " "
            <span inner_html=move || counters_html(
                s.received.get(),
                s.rate.get().round() as u64,
                s.skipped.get(),
                s.held.get(),
            )></span>
        </p>
    }
}

//! The search page: scan a topic's history on the server with a filter expression, within a
//! partition, an offset range or a time window, watch its progress, cancel it, and open or
//! download what it found. Matches show as the live viewer shows records (the same rows, opened
//! and copied the same way).
//!
//! It is its own page (and so its own WASM chunk): the live viewer's first visit does not carry
//! it. This module is the page: the form and the results; the parts live beside it:
//!
//! | module | job |
//! | --- | --- |
//! | [`form`] | the form's fields read into the protocol's `search` request, or what is wrong with them |
//! | [`run`] | one search: the relay's answers turned into signals, and its socket in the browser |
//!
//! The matches are shown with the live viewer's rows and list ([`super::stream`]).

mod form;
mod run;

use super::stream::{record_list, topic_options, Row};
use crate::{components::streamable_topics, wire::ActiveTopic};
use form::{search_request, SearchForm};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use run::{Phase, SearchRun, SHOWN_MATCHES};

/// `/search[?topic=t]`.
#[component]
pub fn Search() -> impl IntoView {
    let preset = use_query_map()
        .get_untracked()
        .get("topic")
        .unwrap_or_default();
    let run = SearchRun::new();
    on_cleanup(move || run.stop());
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Search a topic’s history"</h1>
                <a href="/stream">"Live stream"</a>
            </div>
            {streamable_topics(move |user, choices| {
                view! { <SearchControls user choices preset=preset.clone() run/> }
            })}
            <SearchResults run/>
        </section>
    }
}

/// The form: which topic, which records (filter, partition, offsets, time), how many matches,
/// and Search / Cancel.
#[component]
fn SearchControls(
    user: String,
    choices: Vec<ActiveTopic>,
    preset: String,
    run: SearchRun,
) -> impl IntoView {
    if choices.is_empty() {
        return view! {
            <p class="empty-state" data-testid="search-nothing">
                "No topic you may search is active: you search the active topics you subscribe to (on the " <a href="/subscriptions">"Subscriptions"</a> " page)."
            </p>
        }
        .into_any();
    }
    let names: Vec<String> = choices.into_iter().map(|c| c.topic_name).collect();
    let first = if names.contains(&preset) {
        preset
    } else {
        names[0].clone()
    };
    let form = RwSignal::new(SearchForm {
        topic: first.clone(),
        ..SearchForm::default()
    });
    let problem = RwSignal::new(None::<String>);
    let searches = StoredValue::new(0_u32);
    let s = run.signals;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        searches.update_value(|n| *n += 1);
        let id = format!("search-{}", searches.get_value());
        match form.with_untracked(|f| search_request(id, f)) {
            Ok(request) => {
                problem.set(None);
                run.start(&user, request);
            }
            Err(why) => problem.set(Some(why)),
        }
    };
    // One input handler per field, writing that field of the form.
    let field = move |set: fn(&mut SearchForm, String)| {
        move |ev: leptos::ev::Event| form.update(|f| set(f, event_target_value(&ev)))
    };
    let running = move || s.phase.with(|p| *p == Phase::Running);
    view! {
        <form class="card stream-controls" data-testid="search-controls" on:submit=submit>
            <div class="row">
                <label>"Topic "
                    <select data-testid="search-topic" inner_html=topic_options(&names, &first)
                        on:change=field(|f, v| f.topic = v)></select>
                </label>
                <label class="grow">"Filter "
                    <input type="search" size="48" data-testid="search-filter"
                        placeholder=r#"value.amount > 500.0 && headers.event_type == "payment""#
                        aria-invalid=move || s.filter_error.with(Option::is_some).to_string()
                        on:input=field(|f, v| f.filter = v)/>
                </label>
            </div>
            {move || s.filter_error.get().map(|why| view! {
                <p class="error" data-testid="search-filter-error">"not a valid expression: " {why}</p>
            })}
            <div class="row">
                <label>"Partition " <input size="4" inputmode="numeric" placeholder="all" data-testid="search-partition"
                    on:input=field(|f, v| f.partition = v)/></label>
                <label>"Offsets from " <input size="10" inputmode="numeric" placeholder="first" data-testid="search-from-offset"
                    on:input=field(|f, v| f.from_offset = v)/></label>
                <label>"before " <input size="10" inputmode="numeric" placeholder="the end" data-testid="search-to-offset"
                    on:input=field(|f, v| f.to_offset = v)/></label>
                <label>"From (UTC) " <input type="datetime-local" step="1" data-testid="search-since"
                    on:input=field(|f, v| f.since = v)/></label>
                <label>"until " <input type="datetime-local" step="1" data-testid="search-until"
                    on:input=field(|f, v| f.until = v)/></label>
                <label>"At most " <input size="6" inputmode="numeric" placeholder="1000" data-testid="search-max"
                    on:input=field(|f, v| f.max_matches = v)/> " matches"</label>
            </div>
            <div class="row">
                <button type="submit" data-testid="search-start">"Search"</button>
                <button type="button" class="secondary" data-testid="search-cancel"
                    disabled=move || !running() on:click=move |_| run.cancel()>"Cancel"</button>
            </div>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
        </form>
    }
    .into_any()
}

/// Progress (a bar, records looked at of those in scope, matches, rate), how the search ended,
/// and the matches: the first [`SHOWN_MATCHES`] drawn, all of them downloadable.
#[component]
fn SearchResults(run: SearchRun) -> impl IntoView {
    let s = run.signals;
    let shown = Memo::new(move |_| {
        s.rows
            .with(|rows| rows[..rows.len().min(SHOWN_MATCHES)].to_vec())
    });
    let download = move |_| {
        let lines: String = s.rows.with_untracked(|rows| {
            rows.iter()
                .filter_map(|r: &Row| serde_json::to_string(&*r.record).ok())
                .map(|l| l + "\n")
                .collect()
        });
        #[cfg(feature = "hydrate")]
        crate::browser::download("search.ndjson", "application/x-ndjson", &lines);
        #[cfg(not(feature = "hydrate"))]
        let _ = lines;
    };
    view! {
        <div class="toolbar stream-toolbar" data-testid="search-progress">
            <progress max=move || s.progress.get().1.max(1) value=move || s.progress.get().0></progress>
            <span data-testid="search-counts">
                {move || {
                    let (scanned, total, matches) = s.progress.get();
                    format!("{scanned} of {total} records · {matches} match(es) · {} records/s", s.rate.get())
                }}
            </span>
            <span role="status" data-testid="search-phase" class="muted">
                {move || match s.phase.get() {
                    Phase::Idle => String::new(),
                    Phase::Running => "searching…".to_owned(),
                    Phase::Ended(how) => how,
                }}
            </span>
            <button type="button" class="secondary" data-testid="search-download"
                disabled=move || s.rows.with(Vec::is_empty) on:click=download>"Download NDJSON"</button>
            <span class="muted" data-testid="search-shown">
                {move || {
                    let found = s.rows.with(Vec::len);
                    if found > SHOWN_MATCHES {
                        format!("the first {SHOWN_MATCHES} of {found} shown; the download has them all")
                    } else {
                        String::new()
                    }
                }}
            </span>
        </div>
        {record_list(shown, "records in-order", "search-results")}
    }
}

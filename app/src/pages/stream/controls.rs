//! The viewer's form: the topics to stream, where to start, Start and Stop, and the list of the
//! relay's notices under it.
//!
//! It turns what the user typed into a [`Want`] for the connection (through [`super::start`]);
//! it must not touch the socket or the record list, and shows only what the signals say.

use super::{
    connection::{Connection, Want},
    markup::{items_html, topic_checks_html},
    start::{start_position, StartKind},
};
use crate::wire::ActiveTopic;
use leptos::prelude::*;

/// The form above the list: which topics (of `choices`, the active topics `user` may stream),
/// where to start, Start and Stop, and the relay's notices. With `chosen` topics preselected (from
/// the page's query), streaming starts once hydrated.
#[component]
pub(super) fn Controls(
    user: String,
    choices: Vec<ActiveTopic>,
    chosen: RwSignal<Vec<String>>,
    connection: Connection,
) -> impl IntoView {
    if choices.is_empty() {
        return view! {
            <p class="empty-state" data-testid="stream-nothing">
                "None of your subscribed topics is active. Subscribe on the " <a href="/subscriptions">"Subscriptions"</a> " page."
            </p>
        }
        .into_any();
    }
    let kind = RwSignal::new(StartKind::Latest);
    // One value per kind, indexed by the kind (each kind that takes one has its own field,
    // shown by CSS while that kind is chosen).
    let values = StartKind::ALL.map(|_| RwSignal::new(String::new()));
    let problem = RwSignal::new(None::<String>);
    let max_partitions = choices.iter().map(|c| c.partitions).max().unwrap_or(1);
    let names: Vec<String> = choices.iter().map(|c| c.topic_name.clone()).collect();
    // Preselected topics the user may not stream are dropped; with one choice, take it.
    chosen.update(|c| {
        c.retain(|t| names.contains(t));
        if c.is_empty() && names.len() == 1 {
            c.push(names[0].clone());
        }
    });
    let start = move || {
        let topics = chosen.get_untracked();
        if topics.is_empty() {
            problem.set(Some("choose at least one topic".into()));
            return;
        }
        let kind = kind.get_untracked();
        match start_position(kind, &values[kind as usize].get_untracked(), max_partitions) {
            Ok(from) => {
                problem.set(None);
                connection.start(Want {
                    user_id: user.clone(),
                    topics,
                    from,
                    // A filter in force goes on applying.
                    filter: connection.signals.server_filter.get_untracked(),
                });
            }
            Err(e) => problem.set(Some(e)),
        }
    };
    let start_now = start.clone();
    // Once hydrated, a page opened with topics chosen starts streaming by itself.
    Effect::new(move |started: Option<bool>| {
        if started.is_none() && !chosen.get_untracked().is_empty() {
            start_now();
        }
        true
    });
    let s = connection.signals;
    view! {
        <form class="card stream-controls" data-testid="stream-controls" on:submit=move |ev| { ev.prevent_default(); start(); }>
            <fieldset>
                <legend>"Topics"</legend>
                // The boxes as HTML (see `markup` for why), one change handler for them all.
                <div class="checks" inner_html=topic_checks_html(&names, &chosen.get_untracked())
                    on:change=move |ev| {
                        let (name, on) = (event_target_value(&ev), event_target_checked(&ev));
                        chosen.update(|c| {
                            c.retain(|t| *t != name);
                            if on { c.push(name); }
                        });
                    }></div>
            </fieldset>
            <div class="row">
                <label>"Start "
                    <select data-testid="start-kind" inner_html=StartKind::options_html()
                        on:change=move |ev| {
                            // A refusal was about the previous choice.
                            problem.set(None);
                            kind.set(StartKind::parse(&event_target_value(&ev)));
                        }></select>
                </label>
                // The field of each kind that takes a value, all rendered; the stylesheet shows
                // the one whose kind is selected (no view is swapped when the choice changes).
                <label class="start-value" data-kind="last">"N "
                    <input size="10" inputmode="numeric" on:input=move |ev| values[StartKind::Last as usize].set(event_target_value(&ev))/></label>
                <label class="start-value" data-kind="offset">"Offset "
                    <input size="10" on:input=move |ev| values[StartKind::Offset as usize].set(event_target_value(&ev))/></label>
                <label class="start-value" data-kind="time">"At (UTC) "
                    <input type="datetime-local" step="1" on:input=move |ev| values[StartKind::Time as usize].set(event_target_value(&ev))/></label>
                <button type="submit" data-testid="start">"Start"</button>
                <button type="button" class="secondary" data-testid="stop" on:click=move |_| connection.stop()>"Stop"</button>
                <button type="button" class="secondary" data-testid="save-position" on:click=move |_| connection.save_position()>"Save position"</button>
            </div>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <ul class="notices muted" data-testid="notices"
                inner_html=move || s.notices.with(|notices| items_html(notices))></ul>
        </form>
    }
    .into_any()
}

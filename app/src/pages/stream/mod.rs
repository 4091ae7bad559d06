//! The stream viewer: a live tail of one or several topics through the relay. Pause, clear,
//! where to start, filters by text and partition, a live rate and the count of records the relay
//! skipped for us, records as collapsible highlighted JSON, copy one, download what is shown.

mod feed;
mod json_html;
mod markup;
mod record_list;

use crate::{
    api,
    components::loaded,
    identity::Identity,
    stream::{PartitionOffsets, StartPosition},
    wire::{ActiveTopic, TopicStatus},
};
use feed::{Feed, Row, Status, Want};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use markup::{counters_html, items_html, partition_options, topic_checks_html};
use std::collections::VecDeque;

/// Rows drawn while live (the window keeps [`feed::MAX_ROWS`]; pausing shows them all).
const LIVE_ROWS: usize = 50;

/// `/stream[?topic=a&topic=b]`.
#[component]
pub fn Stream() -> impl IntoView {
    let identity = Identity::get();
    let user = identity.user;
    let query = use_query_map();
    let mine = identity.subscriptions();
    let active = Resource::new(
        || (),
        |_| api::get::<Vec<ActiveTopic>>("/api/topics/active"),
    );
    let chosen = RwSignal::new(query.get_untracked().get_all("topic").unwrap_or_default());
    let feed = Feed::new();
    on_cleanup(move || feed.stop());

    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Stream"</h1>
                <StatusLine feed/>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let user = user.get();
                    let admin = identity.is_admin();
                    if user.is_empty() && !admin {
                        return Some(view! {
                            <p class="empty-state" data-testid="stream-pick-user">
                                "Type who you are in the “You are” field at the top: the viewer streams your subscribed topics."
                            </p>
                        }.into_any());
                    }
                    let mine = mine.get()?;
                    let active = active.get()?;
                    Some(loaded(Some(active), "Could not load the active topics", move |active: Vec<ActiveTopic>| {
                        let subscribed: Vec<String> = mine
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|s| s.topic_status == TopicStatus::Active)
                            .map(|s| s.topic_name)
                            .collect();
                        let choices: Vec<ActiveTopic> = active
                            .into_iter()
                            .filter(|a| admin || subscribed.contains(&a.topic_name))
                            .collect();
                        view! { <Controls user choices chosen feed/> }
                    }).into_any())
                }}
            </Transition>
            <Records feed/>
        </section>
    }
}

/// Where to start, as the form holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartKind {
    Latest,
    Earliest,
    Last,
    Offset,
    Time,
}

impl StartKind {
    const ALL: [(StartKind, &'static str, &'static str); 5] = [
        (StartKind::Latest, "latest", "new records only"),
        (StartKind::Earliest, "earliest", "from the beginning"),
        (StartKind::Last, "last", "the last N per partition"),
        (StartKind::Offset, "offset", "from an offset"),
        (StartKind::Time, "time", "from a time"),
    ];

    /// The choices as `<option>`s (the first one selected).
    fn options_html() -> String {
        Self::ALL
            .iter()
            .map(|(_, word, label)| format!("<option value=\"{word}\">{label}</option>"))
            .collect()
    }

    fn parse(word: &str) -> StartKind {
        Self::ALL
            .iter()
            .find(|(_, w, _)| *w == word)
            .map_or(StartKind::Latest, |(k, _, _)| *k)
    }
}

/// The start position from the form, or why it is not one. `partitions` is the most partitions
/// of the chosen topics (an offset applies to each).
fn start_position(kind: StartKind, value: &str, partitions: i32) -> Result<StartPosition, String> {
    let value = value.trim();
    match kind {
        StartKind::Latest => Ok(StartPosition::Latest),
        StartKind::Earliest => Ok(StartPosition::Earliest),
        StartKind::Last => value
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| StartPosition::Last { n })
            .ok_or_else(|| "N must be a whole number above 0".to_owned()),
        StartKind::Offset => {
            // `120` (every partition) or `0:120,1:80`.
            let offsets: Option<PartitionOffsets> = if value.contains(':') {
                value
                    .split(',')
                    .map(|pair| {
                        let (p, o) = pair.split_once(':')?;
                        Some((p.trim().parse().ok()?, o.trim().parse().ok()?))
                    })
                    .collect()
            } else {
                value
                    .parse::<i64>()
                    .ok()
                    .map(|o| (0..partitions.max(1)).map(|p| (p, o)).collect())
            };
            offsets
                .filter(|m| !m.is_empty() && m.iter().all(|(_, o)| o >= 0))
                .map(|offsets| StartPosition::Offsets { offsets })
                .ok_or_else(|| {
                    "give an offset (120) or partition:offset pairs (0:120,1:80)".to_owned()
                })
        }
        StartKind::Time => parse_local_time(value)
            .map(|at| StartPosition::Timestamp { at })
            .ok_or_else(|| "pick a date and time".to_owned()),
    }
}

/// `YYYY-MM-DDTHH:MM` from a `datetime-local` input, read as UTC, in milliseconds.
fn parse_local_time(value: &str) -> Option<i64> {
    let (date, time) = value.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    // `HH:MM`, `HH:MM:SS` or `HH:MM:SS.mmm`, read as integers (no float parsing in the bundle).
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min) = (t.next()??, t.next()??);
    let sec = t.next().flatten().unwrap_or(0);
    let millis = match fraction {
        "" => 0,
        f if f.len() <= 3 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<3}").parse::<i64>().ok()?
        }
        _ => return None,
    };
    if !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&min)
        || !(0..60).contains(&sec)
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400_000 + (h * 3600 + min * 60 + sec) * 1000 + millis)
}

#[component]
fn StatusLine(feed: Feed) -> impl IntoView {
    let s = feed.signals;
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

#[component]
fn Controls(
    user: String,
    choices: Vec<ActiveTopic>,
    chosen: RwSignal<Vec<String>>,
    feed: Feed,
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
                feed.start(Want {
                    user_id: user.clone(),
                    topics,
                    from,
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
    let s = feed.signals;
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
                <button type="button" class="secondary" data-testid="stop" on:click=move |_| feed.stop()>"Stop"</button>
            </div>
            {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            <ul class="notices muted" data-testid="notices"
                inner_html=move || s.notices.with(|notices| items_html(notices))></ul>
        </form>
    }
    .into_any()
}

#[component]
fn Records(feed: Feed) -> impl IntoView {
    let s = feed.signals;
    let text = RwSignal::new(String::new());
    let partition = RwSignal::new(None::<i32>);
    let visible = Memo::new(move |_| {
        let needle = crate::text::lowercase(&text.get());
        let part = partition.get();
        // Live, only the newest rows are drawn: at thousands of records a second the rest would
        // be created and replaced before anyone could read them. Paused, the whole window is.
        let limit = if s.paused.get() {
            feed::MAX_ROWS
        } else {
            LIVE_ROWS
        };
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
        let mut seen: Vec<i32> = s
            .rows
            .with(|rows| rows.iter().map(|r| r.record.partition).collect());
        seen.sort_unstable();
        seen.dedup();
        seen
    });
    // The list's rows are kept in step with `visible` by hand (see `record_list`); the effect
    // remembers which rows the list shows.
    let list = NodeRef::<leptos::html::Ol>::new();
    Effect::new(move |shown: Option<Vec<u64>>| {
        let shown = shown.unwrap_or_default();
        #[cfg(feature = "hydrate")]
        if let Some(list) = list.get() {
            return visible.with(|rows| record_list::sync(&list, &shown, rows));
        }
        shown
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
                on:click=move |_| if s.paused.get_untracked() { feed.resume() } else { s.paused.set(true) }>
                {move || if s.paused.get() { "Resume" } else { "Pause" }}
            </button>
            <button type="button" class="secondary" data-testid="clear" on:click=move |_| feed.clear()>"Clear"</button>
            <button type="button" class="secondary" data-testid="download" on:click=download>"Download NDJSON"</button>
            <label>"Filter " <input type="search" data-testid="filter" placeholder="text in key or value"
                prop:value=text on:input=move |ev| text.set(event_target_value(&ev))/></label>
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
        <ol class="records" data-testid="records" node_ref=list on:click=move |ev| record_click(ev, visible)></ol>
    }
}

/// A click in the record list: "copy" copies its record as JSON; the first opening of a record
/// writes its JSON body. One handler for the whole list, not one per row.
fn record_click(ev: leptos::ev::MouseEvent, rows: Memo<Vec<Row>>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let within = |selector: &str| target.closest(selector).ok().flatten();
        let Some(item) = within("li.record") else {
            return;
        };
        let seq = item
            .get_attribute("data-seq")
            .and_then(|s| s.parse::<u64>().ok());
        let Some(record) = rows.with_untracked(|rows| {
            let i = rows.binary_search_by_key(&seq?, |r| r.seq).ok()?;
            Some(std::sync::Arc::clone(&rows[i].record))
        }) else {
            return;
        };
        if within("[data-copy]").is_some() {
            // Copying does not open or close the record.
            ev.prevent_default();
            crate::browser::copy(&serde_json::to_string(&*record).unwrap_or_default());
        } else if within(".record-head").is_some() {
            let body = item.query_selector(".json").ok().flatten();
            if let Some(body) = body.filter(|b| b.child_nodes().length() == 0) {
                body.set_inner_html(&markup::record_body(&record));
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_come_from_the_form() {
        assert_eq!(
            start_position(StartKind::Latest, "", 3),
            Ok(StartPosition::Latest)
        );
        assert_eq!(
            start_position(StartKind::Last, " 25 ", 3),
            Ok(StartPosition::Last { n: 25 })
        );
        assert!(start_position(StartKind::Last, "0", 3).is_err());
        assert_eq!(
            start_position(StartKind::Offset, "7", 2),
            Ok(StartPosition::Offsets {
                offsets: PartitionOffsets::from([(0, 7), (1, 7)])
            })
        );
        assert_eq!(
            start_position(StartKind::Offset, "0:5, 2:9", 3),
            Ok(StartPosition::Offsets {
                offsets: PartitionOffsets::from([(0, 5), (2, 9)])
            })
        );
        assert!(start_position(StartKind::Offset, "0:-1", 3).is_err());
        assert!(start_position(StartKind::Offset, "x", 3).is_err());
        assert_eq!(
            start_position(StartKind::Time, "2026-11-25T15:30", 1),
            Ok(StartPosition::Timestamp {
                at: 1_795_620_600_000
            })
        );
        assert!(start_position(StartKind::Time, "", 1).is_err());
    }

    #[test]
    fn start_kinds_are_listed_in_declaration_order_so_they_index_their_values() {
        for (i, (kind, word, _)) in StartKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
            assert_eq!(StartKind::parse(word), *kind);
        }
    }

    #[test]
    fn times_convert_to_epoch_milliseconds() {
        assert_eq!(parse_local_time("1970-01-01T00:00"), Some(0));
        assert_eq!(
            parse_local_time("2000-03-01T00:00:01"),
            Some(951_868_801_000)
        );
        assert_eq!(parse_local_time("2000-13-01T00:00"), None);
        assert_eq!(parse_local_time("1970-01-01T00:00:02.5"), Some(2_500));
        assert_eq!(parse_local_time("1970-01-01T00:00:02.123"), Some(2_123));
        assert_eq!(parse_local_time("1970-01-01T00:00:61"), None);
        assert_eq!(parse_local_time("1970-01-01T00:00:01.1234"), None);
        assert_eq!(parse_local_time("1970-01-01T-1:00"), None);
    }
}

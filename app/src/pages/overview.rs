//! The overview: the counters of `/api/stats`, the health of broker and database, and each
//! active topic's message rate and subscriber count, refreshed every few seconds.

use crate::{
    api,
    components::{loaded, Sparkline},
    wire::{ComponentHealth, Health, Stats, Topic, TopicRate, TopicStatus},
};
use leptos::prelude::*;

/// How often the page refreshes itself once hydrated.
const REFRESH_MS: u64 = 5_000;

/// Counters, health and rates.
#[component]
pub fn Overview() -> impl IntoView {
    let ticks = RwSignal::new(0_u32);
    let stats = Resource::new(move || ticks.get(), |_| api::get::<Stats>("/api/stats"));
    let health = Resource::new(move || ticks.get(), |_| api::get::<Health>("/api/health"));
    let rates = Resource::new(
        move || ticks.get(),
        |_| api::get::<Vec<TopicRate>>("/api/topics/rates"),
    );
    let topics = Resource::new(
        move || ticks.get(),
        |_| api::get::<Vec<Topic>>("/api/topics?status=active"),
    );
    // Effects only run in the browser: the server renders one snapshot.
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || ticks.update(|n| *n += 1),
            std::time::Duration::from_millis(REFRESH_MS),
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    });

    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Overview"</h1>
                <span class="muted" data-testid="refresh-count">
                    {move || format!("live · refreshed {} time(s)", ticks.get())}
                </span>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || loaded(stats.get(), "Could not load the statistics", |s| view! { <Counters stats=s/> })}
                <h2>"Health"</h2>
                {move || loaded(health.get(), "Could not load the health report", |h| view! { <HealthList health=h/> })}
                <h2>"Active topics"</h2>
                {move || {
                    let topics = topics.get()?;
                    let rates = rates.get()?;
                    loaded(Some(topics), "Could not load topics", move |topics| {
                        view! { <ActiveTopics topics rates=rates.unwrap_or_default()/> }
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn Counters(stats: Stats) -> impl IntoView {
    view! {
        <div class="cards" data-testid="stats">
            <Counter label="Topics" value=stats.total_topics/>
            <Counter label="Pending" value=stats.pending_topics/>
            <Counter label="Active" value=stats.active_topics/>
            <Counter label="Subscriptions" value=stats.total_subscriptions/>
        </div>
    }
}

#[component]
fn Counter(label: &'static str, value: i64) -> impl IntoView {
    view! {
        <div class="card">
            <span class="card-value">{value}</span>
            <span class="card-label">{label}</span>
        </div>
    }
}

#[component]
fn HealthList(health: Health) -> impl IntoView {
    view! {
        <ul class="health" data-testid="health">
            <HealthRow label="Broker" detail=health.broker.bootstrap_servers.clone() health=health.broker.component/>
            <HealthRow label="Database" detail=String::new() health=health.database/>
            <HealthRow label="Instances" detail=health.instances.running.join(", ") health=health.instances.component/>
        </ul>
    }
}

#[component]
fn HealthRow(label: &'static str, detail: String, health: ComponentHealth) -> impl IntoView {
    let class = format!("badge badge-{}", health.status);
    view! {
        <li>
            <span class=class>{health.status.clone()}</span>
            " " <strong>{label}</strong>
            " " <span class="muted">{detail}</span>
            {health.error.map(|e| view! { <span class="error">" — " {e}</span> })}
        </li>
    }
}

#[component]
fn ActiveTopics(topics: Vec<Topic>, rates: Vec<TopicRate>) -> impl IntoView {
    let active: Vec<Topic> = topics
        .into_iter()
        .filter(|t| t.status == TopicStatus::Active)
        .collect();
    if active.is_empty() {
        return view! {
            <p class="empty-state">"No active topics yet. Request one on the " <a href="/topics">"Topics"</a> " page."</p>
        }
        .into_any();
    }
    let rows = active
        .into_iter()
        .map(|t| {
            let rate = rates.iter().find(|r| r.topic_name == t.topic_name);
            let series = rate.map(|r| r.rates.clone()).unwrap_or_default();
            let latest = series.iter().rev().flatten().next().copied();
            let total = rate.and_then(|r| r.total_messages);
            view! {
                <tr data-topic=t.topic_name.clone()>
                    <td class="mono"><a href=format!("/topics/{}", t.topic_id)>{t.topic_name.clone()}</a></td>
                    <td class="num">{latest.map_or("–".to_owned(), |r| format!("{r:.1}/s"))}</td>
                    <td><Sparkline rates=series/></td>
                    <td class="num">{total.map_or("–".to_owned(), |n| n.to_string())}</td>
                    <td class="num">{t.subscriber_count}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table data-testid="active-topics">
                <thead>
                    <tr>
                        <th scope="col">"Topic"</th>
                        <th scope="col">"Rate"</th>
                        <th scope="col">"Last minutes"</th>
                        <th scope="col">"Records"</th>
                        <th scope="col">"Subscribers"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

//! The overview: the counters of `/api/stats` and the health of the broker and the database.

use crate::server_fns::get_overview;
use crate::wire::{ComponentHealth, Overview as OverviewData};
use leptos::prelude::*;

/// Counters and health, refreshed by the button (which only works once the page is hydrated).
#[component]
pub fn Overview() -> impl IntoView {
    let refreshes = RwSignal::new(1_u32);
    let overview = Resource::new(move || refreshes.get(), |_| get_overview());

    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Overview"</h1>
                <button
                    type="button"
                    data-testid="refresh"
                    on:click=move |_| refreshes.update(|n| *n += 1)
                >
                    "Refresh"
                </button>
            </div>
            <p class="muted" data-testid="refresh-count">
                "Loaded " {move || refreshes.get()} " time(s)"
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    overview
                        .get()
                        .map(|result| match result {
                            Ok(data) => view! { <OverviewCards data/> }.into_any(),
                            Err(err) => {
                                view! {
                                    <p class="error" role="alert">
                                        "Could not load the overview: " {err.to_string()}
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn OverviewCards(data: OverviewData) -> impl IntoView {
    let stats = data.stats;
    let health = data.health;
    view! {
        <div class="cards" data-testid="stats">
            <Counter label="Topics" value=stats.total_topics/>
            <Counter label="Pending" value=stats.pending_topics/>
            <Counter label="Active" value=stats.active_topics/>
            <Counter label="Subscriptions" value=stats.total_subscriptions/>
        </div>
        <h2>"Health"</h2>
        <ul class="health" data-testid="health">
            <HealthRow label="Broker" detail=health.broker.bootstrap_servers.clone() health=health.broker.component/>
            <HealthRow label="Database" detail=String::new() health=health.database/>
        </ul>
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

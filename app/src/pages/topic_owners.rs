//! The topic page's part for its owners and admins: who may read the topic (its level and
//! masked fields), who reads it (its subscribers, how far behind each is, the decisions on
//! them), and who owns it (admins move it; a team asks to own a topic nobody owns).

use crate::{
    access::{
        mask_lines, parse_mask_lines, AccessLevel, AccessUpdate, ClaimRequest, OwnerUpdate,
        SubscriptionDecision, SubscriptionDecisionRequest, TopicSubscribers,
    },
    api::{self, ApiFuture, Method},
    components::{short_time, ErrorNote},
    wire::{MessageBody, Topic},
};
use leptos::prelude::*;

/// The owners' part of a topic page; `on_change` runs when the topic itself changed.
#[component]
pub fn OwnersPanel(topic: Topic, on_change: Callback<()>) -> impl IntoView {
    view! {
        <section class="card" data-testid="owners-panel">
            <h2>"Who may read it"</h2>
            <AccessForm topic=topic.clone() on_change/>
            <h2>"Who reads it"</h2>
            <Subscribers topic/>
        </section>
    }
}

/// The level and the masked fields, as the owners change them.
#[component]
fn AccessForm(topic: Topic, on_change: Callback<()>) -> impl IntoView {
    let level = RwSignal::new(topic.access);
    let masks = RwSignal::new(mask_lines(&topic.masks));
    let problem = RwSignal::new(None::<String>);
    let topic_id = topic.topic_id;
    let save = Action::new(move |update: &AccessUpdate| {
        api::send::<_, Topic>(
            Method::Put,
            format!("/api/topics/{topic_id}/access"),
            update,
        )
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            on_change.run(());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match parse_mask_lines(&masks.get_untracked()) {
            Ok(rules) => {
                problem.set(None);
                save.dispatch(AccessUpdate {
                    access: Some(level.get_untracked()),
                    masks: Some(rules),
                });
            }
            Err(message) => problem.set(Some(message)),
        }
    };
    view! {
        <form class="form" on:submit=submit data-testid="access-form">
            <div class="form-grid">
                <div class="field">
                    <label for="owner-access">"Access"</label>
                    <select id="owner-access" data-testid="owner-access" on:change=move |ev| {
                        level.set(AccessLevel::parse(&event_target_value(&ev)).unwrap_or_default())
                    }>
                        {AccessLevel::ALL
                            .iter()
                            .map(|l| view! { <option value=l.as_str() selected=*l == topic.access>{l.as_str()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="owner-masks">"Masked fields"</label>
                    <textarea id="owner-masks" data-testid="owner-masks" rows="3" placeholder="customer_id hash"
                        prop:value=masks on:input=move |ev| masks.set(event_target_value(&ev))></textarea>
                    <small class="muted">"one per line: a field path and remove, redact, hash or last4"</small>
                </div>
            </div>
            <p class="field-error" role="alert">{move || problem.get().unwrap_or_default()}</p>
            {move || save.value().get().and_then(Result::err).map(|e| view! { <ErrorNote what="Not saved" error=e/> })}
            <p class="ok" data-testid="access-saved">
                {move || matches!(save.value().get(), Some(Ok(_))).then_some("Saved: open streams start again under these rules.")}
            </p>
            <button type="submit" disabled=move || save.pending().get()>"Save"</button>
        </form>
    }
}

/// The topic's subscribers with their lag, and the owners' decisions on each. Read in the
/// browser only (a lag is stale on arrival): a signal an effect fills, never a resource the
/// server would wait for.
#[component]
fn Subscribers(topic: Topic) -> impl IntoView {
    let (topic_id, topic_name) = (topic.topic_id, topic.topic_name);
    let reads = RwSignal::new(0_u32);
    let rows = RwSignal::new(None::<api::ApiResult<TopicSubscribers>>);
    Effect::new(move |_| {
        reads.track();
        let read: ApiFuture<TopicSubscribers> =
            api::get(format!("/api/topics/{topic_id}/subscribers"));
        leptos::task::spawn_local(async move {
            rows.try_set(Some(read.await));
        });
    });
    let decide = Action::new(move |request: &SubscriptionDecisionRequest| {
        api::send::<_, MessageBody>(Method::Post, "/api/subscriptions/decision", request)
    });
    Effect::new(move |_| {
        if decide.value().get().is_some() {
            reads.update(|n| *n += 1);
        }
    });
    let busy = move || decide.pending().get();
    let table = move || {
        let answer = rows.get()?;
        let list = match answer {
            Ok(list) => list,
            Err(e) => {
                return Some(
                    view! { <ErrorNote what="Could not load the subscribers" error=e/> }.into_any(),
                )
            }
        };
        if list.subscribers.is_empty() {
            return Some(view! { <p class="empty-state" data-testid="no-subscribers">"Nobody subscribes yet."</p> }.into_any());
        }
        let more = list
            .more
            .then(|| view! { <p class="muted">"More subscribe than are listed here."</p> });
        let rows = list.subscribers.into_iter().map(|s| {
            let ask = |decision| SubscriptionDecisionRequest {
                user_id: s.user_id.clone(),
                topic_name: topic_name.clone(),
                decision,
            };
            let buttons = if s.status == "pending" {
                let (approve, reject) = (ask(SubscriptionDecision::Approve), ask(SubscriptionDecision::Reject));
                view! {
                    <button type="button" data-testid="approve" disabled=busy
                        on:click=move |_| { decide.dispatch(approve.clone()); }>"Approve"</button>
                    " "
                    <button type="button" class="secondary" data-testid="reject" disabled=busy
                        on:click=move |_| { decide.dispatch(reject.clone()); }>"Reject"</button>
                }.into_any()
            } else {
                let revoke = ask(SubscriptionDecision::Revoke);
                view! {
                    <button type="button" class="secondary" data-testid="revoke" disabled=busy
                        on:click=move |_| { decide.dispatch(revoke.clone()); }>"Revoke"</button>
                }.into_any()
            };
            let lag = match (s.status.as_str(), s.lag) {
                ("pending", _) => "waits for you".to_owned(),
                (_, Some(lag)) => format!("{lag} behind"),
                (_, None) => "—".to_owned(),
            };
            view! {
                <tr data-subscriber=s.user_id.clone()>
                    <td>{s.user_id.clone()}</td>
                    <td><span class=format!("badge badge-{}", s.status)>{s.status.clone()}</span></td>
                    <td>{short_time(&s.subscribed_at)}</td>
                    <td data-testid="subscriber-lag">{lag}</td>
                    <td>{buttons}</td>
                </tr>
            }
        }).collect_view();
        Some(view! {
            <div class="table-wrap">
                <table data-testid="subscribers">
                    <thead><tr><th scope="col">"Who"</th><th scope="col">"Status"</th><th scope="col">"Since"</th><th scope="col">"Lag"</th><th scope="col"></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            {more}
        }.into_any())
    };
    view! {
        {move || decide.value().get().and_then(Result::err).map(|e| view! { <ErrorNote what="Not decided" error=e/> })}
        {move || table().unwrap_or_else(|| view! { <p class="muted">"Loading subscribers…"</p> }.into_any())}
    }
}

/// Who owns the topic, for those who may change it: an admin moves it to a team, a person or
/// nobody; a member of a team asks for a topic nobody owns (an admin decides).
#[component]
pub fn OwnershipForm(topic: Topic, admin: bool, teams: Vec<String>) -> impl IntoView {
    let topic_id = topic.topic_id;
    let current = match (&topic.owner_team, &topic.owner_user) {
        (Some(team), _) => format!("team:{team}"),
        (None, Some(user)) => format!("user:{user}"),
        (None, None) => String::new(),
    };
    let owner = RwSignal::new(current);
    let team = RwSignal::new(teams.first().cloned().unwrap_or_default());
    let send = Action::new(move |(admin, owner, team): &(bool, String, String)| {
        let path = format!(
            "/api/topics/{topic_id}/{}",
            if *admin { "owner" } else { "claim" }
        );
        let answer: ApiFuture<serde_json::Value> = match admin {
            true => api::send(
                Method::Put,
                path,
                &OwnerUpdate {
                    owner: (!owner.trim().is_empty()).then(|| owner.trim().to_owned()),
                },
            ),
            false => api::send(Method::Post, path, &ClaimRequest { team: team.clone() }),
        };
        answer
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send.dispatch((admin, owner.get_untracked(), team.get_untracked()));
    };
    let done = move || match (send.value().get(), admin) {
        (Some(Ok(_)), true) => "Moved: reload to see the new owners.",
        (Some(Ok(_)), false) => "Asked: an admin decides.",
        _ => "",
    };
    let field = match admin {
        true => view! {
            <div class="field">
                <label for="owner">"Owner"</label>
                <input id="owner" data-testid="owner" placeholder="team:payments, user:ana, or empty for nobody"
                    prop:value=owner on:input=move |ev| owner.set(event_target_value(&ev))/>
            </div>
        }
        .into_any(),
        false => view! {
            <div class="field">
                <label for="claim-team">"Your team"</label>
                <select id="claim-team" data-testid="claim-team" on:change=move |ev| team.set(event_target_value(&ev))>
                    {teams.iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
                </select>
            </div>
        }
        .into_any(),
    };
    view! {
        <form class="card form" on:submit=submit data-testid="ownership-form">
            <h2>{if admin { "Owners" } else { "Nobody owns it" }}</h2>
            {field}
            {move || send.value().get().and_then(Result::err).map(|e| view! { <ErrorNote what="Not done" error=e/> })}
            <p class="ok" data-testid="ownership-done">{done}</p>
            <button type="submit" disabled=move || send.pending().get()>
                {if admin { "Move" } else { "Ask to own it" }}
            </button>
        </form>
    }
}

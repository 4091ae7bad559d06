//! One topic: its settings, lifecycle dates, admin actions and its history from the audit log;
//! for its owners and admins, a test record and who reads it ([`super::topic_owners`]).

use crate::{
    api,
    components::{loaded, short_time, AccessBadge, StatusBadge, TopicActions},
    identity::{owned_by, Identity},
    wire::{AuditEntry, SessionInfo, Topic, TopicDetail, TopicStatus},
};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// `/topics/:id`.
#[component]
pub fn TopicPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let detail = Resource::new(id, |id| {
        api::get::<TopicDetail>(format!("/api/topics/{}", api::encode(&id)))
    });
    // What the viewer may do for the topic: the topic and the session as an effect last read
    // them. Controls made from these are made again only when they change (not at every
    // reload of the detail: each record sent reloads the history, and a composer or a form
    // made again would lose what is typed in it). An effect, not a memo over the resources: it
    // reads them in the browser once the page is hydrated, where a memo would read them
    // outside the page's <Transition/> (the controls are the browser's alone; the server
    // renders the topic).
    let identity = Identity::get();
    let seen = RwSignal::new(None::<(Topic, Option<SessionInfo>)>);
    Effect::new(move |_| {
        let topic = detail.get().and_then(Result::ok).map(|d| d.topic);
        let session = identity.session.get().and_then(Result::ok);
        let now = topic.map(|t| (t, session));
        if seen.with_untracked(|s| *s != now) {
            seen.set(now);
        }
    });
    // Its admins and owners send test records to an active topic, and govern who reads it.
    // Keyed by what the owners' forms show, so that a reload that changes something else (the
    // subscriber count, say) leaves them, and what is typed in them, alone.
    let governed = Memo::new(move |_| {
        seen.with(|s| {
            let (topic, session) = s.as_ref()?;
            let session = session.as_ref()?;
            (session.admin || owned_by(session, topic)).then(|| {
                let t = topic;
                (t.topic_id, t.status, t.access, t.masks.clone())
            })
        })
    });
    let composable = Memo::new(move |_| {
        governed
            .get()
            .filter(|(_, status, _, _)| *status == TopicStatus::Active)
            .map(|(id, ..)| id)
    });
    // Admins move its owners; a member of a team asks for a topic nobody owns.
    let ownership = Memo::new(move |_| {
        seen.with(|s| {
            let (t, session) = s.as_ref()?;
            let session = session.as_ref()?;
            let unowned = t.owner_team.is_none() && t.owner_user.is_none();
            let claims = session.auth == "oidc" && unowned && !session.teams.is_empty();
            (session.admin || claims).then(|| (t.clone(), session.admin, session.teams.clone()))
        })
    });
    view! {
        <section class="page">
            <p><a href="/topics">"← All topics"</a></p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    loaded(detail.get(), "Could not load the topic", move |d| {
                        view! { <Detail detail=d on_change=Callback::new(move |_| detail.refetch())/> }
                    })
                }}
            </Transition>
            {move || {
                    let topic_id = composable.get()?;
                    let on_sent = Callback::new(move |_| detail.refetch());
                    Some(view! { <super::compose::Composer topic_id on_sent/> })
                }}
                {move || {
                    governed.get()?;
                    let topic = seen.with_untracked(|s| s.as_ref().map(|(t, _)| t.clone()))?;
                    let on_change = Callback::new(move |_| detail.refetch());
                    Some(view! { <super::topic_owners::OwnersPanel topic on_change/> })
                }}
                {move || {
                    let (topic, admin, teams) = ownership.get()?;
                    Some(view! { <super::topic_owners::OwnershipForm topic admin teams/> })
                }}
        </section>
    }
}

#[component]
fn Detail(detail: TopicDetail, on_change: Callback<()>) -> impl IntoView {
    let t = detail.topic;
    let value_schema = detail.value_schema.unwrap_or_default();
    let dates = [
        ("Requested", Some(t.created_at.clone())),
        ("Approved", t.approved_at.clone()),
        ("Activated", t.activated_at.clone()),
        ("Rejected", t.rejected_at.clone()),
        ("Deactivated", t.deactivated_at.clone()),
    ];
    view! {
        <div class="page-head">
            <h1 class="mono" data-testid="topic-name">{t.topic_name.clone()}</h1>
            <StatusBadge status=t.status/>
            <AccessBadge topic=t.clone()/>
        </div>
        {t.kafka_conflict.then(|| view! {
            <p class="error" data-testid="kafka-conflict">
                "A topic of this name already exists in Kafka, and StreamHub did not create it: "
                "activation waits. An admin may adopt it (its records are then streamed, and the "
                "producer writes into it); otherwise ask for another name."
            </p>
        })}
        <TopicActions topic=t.clone() on_done=on_change/>
        <dl class="facts">
            <dt>"Partitions"</dt><dd>{t.partitions}</dd>
            <dt>"Replication factor"</dt><dd>{t.replication_factor}</dd>
            <dt>"Event type"</dt><dd>{t.event_type.clone().unwrap_or_else(|| "guessed from the name".into())}</dd>
            <dt>"Requested by"</dt><dd>{t.created_by.clone()}</dd>
            <dt>"Description"</dt><dd>{if t.description.is_empty() { "—".to_owned() } else { t.description.clone() }}</dd>
            <dt>"Subscribers"</dt><dd>{t.subscriber_count}</dd>
            <dt>"Access"</dt><dd data-testid="access">{t.access.as_str()}</dd>
            {(!t.masks.is_empty()).then(|| {
                let masks: Vec<String> = t.masks.iter().map(|m| format!("{} ({})", m.path, m.method.as_str())).collect();
                view! { <dt>"Masked fields"</dt><dd data-testid="masks">{masks.join(", ")}</dd> }
            })}
            {t.value_schema_format.clone().map(|format| {
                let registered = t.value_schema_id.map_or_else(
                    || format!("{format}, registered as {}-value on approval", t.topic_name),
                    |id| format!("{format}, registered as {}-value (id {id})", t.topic_name),
                );
                view! {
                    <dt>"Value schema"</dt>
                    <dd data-testid="value-schema">
                        <details><summary>{registered}</summary><pre class="schema-view">{value_schema}</pre></details>
                    </dd>
                }
            })}
            {t.rejected_reason.clone().map(|r| view! { <dt>"Rejection reason"</dt><dd>{r}</dd> })}
            {dates
                .into_iter()
                .filter_map(|(label, at)| at.map(|at| view! { <dt>{label}</dt><dd><time datetime=at.clone()>{short_time(&at)}</time></dd> }))
                .collect_view()}
        </dl>
        <h2>"History"</h2>
        <AuditTable entries=detail.history show_topic=false/>
    }
}

/// Audit rows as a table (the topic page and the audit page).
#[component]
pub fn AuditTable(entries: Vec<AuditEntry>, show_topic: bool) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="empty-state" data-testid="no-audit">"Nothing recorded."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table data-testid="audit-table">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Action"</th>
                        {show_topic.then(|| view! { <th scope="col">"Topic"</th> })}
                        <th scope="col">"Outcome"</th>
                        <th scope="col">"Detail"</th>
                        <th scope="col">"From"</th>
                    </tr>
                </thead>
                <tbody>
                    {entries
                        .into_iter()
                        .map(|e| {
                            view! {
                                <tr>
                                    <td><time datetime=e.at.clone()>{short_time(&e.at)}</time></td>
                                    <td>{e.actor}</td>
                                    <td class="mono">{e.action}</td>
                                    {show_topic.then(|| view! { <td class="mono">{e.topic_name.unwrap_or_default()}</td> })}
                                    <td><span class=format!("badge badge-{}", e.outcome)>{e.outcome.clone()}</span></td>
                                    <td>{e.detail.unwrap_or_default()}</td>
                                    <td class="muted">{e.remote_addr.unwrap_or_default()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

//! The owners' inbox: what waits for the signed-in person as one of topics' owners (subscription
//! requests to approve or reject) and, for admins, teams' claims on topics nobody owns. The
//! header shows how many wait ([`InboxCount`]).

use crate::{
    access::{ClaimDecision, SubscriptionDecision, SubscriptionDecisionRequest},
    api::{self, Method},
    components::{loaded, short_time, ErrorNote},
    wire::{Inbox, MessageBody},
};
use leptos::prelude::*;

/// One decision, by the route that takes it and its body (JSON).
#[derive(Clone)]
struct Decision {
    path: String,
    body: serde_json::Value,
}

/// `/inbox`.
#[component]
pub fn InboxPage() -> impl IntoView {
    let inbox = Resource::new(|| (), |_| api::get::<Inbox>("/api/inbox"));
    let decide = Action::new(|decision: &Decision| {
        api::send::<_, MessageBody>(Method::Post, decision.path.clone(), &decision.body)
    });
    Effect::new(move |_| {
        if decide.value().get().is_some() {
            inbox.refetch();
        }
    });
    let busy = move || decide.pending().get();
    view! {
        <section class="page">
            <div class="page-head"><h1>"Inbox"</h1></div>
            {move || decide.value().get().and_then(Result::err).map(|e| view! { <ErrorNote what="Not decided" error=e/> })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || loaded(inbox.get(), "Could not load the inbox", move |inbox| {
                    if inbox.subscription_requests.is_empty() && inbox.claims.is_empty() {
                        return view! { <p class="empty-state" data-testid="inbox-empty">"Nothing waits for you."</p> }.into_any();
                    }
                    let requests = inbox.subscription_requests.into_iter().map(|s| {
                        let ask = |decision| Decision {
                            path: "/api/subscriptions/decision".into(),
                            body: serde_json::to_value(SubscriptionDecisionRequest {
                                user_id: s.user_id.clone(),
                                topic_name: s.topic_name.clone(),
                                decision,
                            })
                            .unwrap_or_default(),
                        };
                        let (approve, reject) = (ask(SubscriptionDecision::Approve), ask(SubscriptionDecision::Reject));
                        view! {
                            <tr data-request=format!("{}@{}", s.user_id, s.topic_name)>
                                <td>{s.user_id.clone()}</td>
                                <td class="mono">{s.topic_name.clone()}</td>
                                <td>{short_time(&s.subscribed_at)}</td>
                                <td>
                                    <button type="button" data-testid="approve" disabled=busy
                                        on:click=move |_| { decide.dispatch(approve.clone()); }>"Approve"</button>
                                    " "
                                    <button type="button" class="secondary" data-testid="reject" disabled=busy
                                        on:click=move |_| { decide.dispatch(reject.clone()); }>"Reject"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view();
                    let claims = inbox.claims.into_iter().map(|c| {
                        let answer = |approve| Decision {
                            path: format!("/api/topics/{}/claim/decision", c.topic_id),
                            body: serde_json::to_value(ClaimDecision { team: c.team.clone(), approve }).unwrap_or_default(),
                        };
                        let (give, refuse) = (answer(true), answer(false));
                        view! {
                            <tr data-claim=format!("{}@{}", c.team, c.topic_name)>
                                <td class="mono"><a href=format!("/topics/{}", c.topic_id)>{c.topic_name.clone()}</a></td>
                                <td>{c.team.clone()}</td>
                                <td>{c.requested_by.clone()}</td>
                                <td>{short_time(&c.requested_at)}</td>
                                <td>
                                    <button type="button" data-testid="give" disabled=busy
                                        on:click=move |_| { decide.dispatch(give.clone()); }>"Give it to them"</button>
                                    " "
                                    <button type="button" class="secondary" data-testid="turn-down" disabled=busy
                                        on:click=move |_| { decide.dispatch(refuse.clone()); }>"Turn down"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view();
                    view! {
                        <h2>"Subscription requests"</h2>
                        <div class="table-wrap">
                            <table data-testid="subscription-requests">
                                <thead><tr><th scope="col">"Who"</th><th scope="col">"Topic"</th><th scope="col">"Asked"</th><th scope="col"></th></tr></thead>
                                <tbody>{requests}</tbody>
                            </table>
                        </div>
                        <h2>"Claims on topics nobody owns"</h2>
                        <div class="table-wrap">
                            <table data-testid="claims">
                                <thead><tr><th scope="col">"Topic"</th><th scope="col">"Team"</th><th scope="col">"Asked by"</th><th scope="col">"Asked"</th><th scope="col"></th></tr></thead>
                                <tbody>{claims}</tbody>
                            </table>
                        </div>
                    }.into_any()
                })}
            </Transition>
        </section>
    }
}

/// The header's link to the inbox, with how many things wait (for someone signed in).
#[component]
pub fn InboxCount() -> impl IntoView {
    let identity = crate::identity::Identity::get();
    // Read by everyone (it is empty for someone who owns nothing): a resource that waited for
    // the session would render differently on the server and in the browser.
    let inbox = Resource::new(|| (), |_| api::get::<Inbox>("/api/inbox"));
    view! {
        <Transition fallback=|| ()>
            {move || {
                let session = identity.session.get().and_then(Result::ok)?;
                if !session.admin && session.user.is_none() {
                    return None;
                }
                let inbox = inbox.get()?.ok()?;
                let waiting = inbox.subscription_requests.len() + inbox.claims.len();
                Some(view! {
                    <a href="/inbox">"Inbox"
                        {(waiting > 0).then(|| view! { " " <span class="badge" data-testid="inbox-count">{waiting}</span> })}
                    </a>
                })
            }}
        </Transition>
    }
}

//! Pieces several pages share: status badges, error notes, the user picker, the admin session
//! badge, the admin actions on a topic, and the topics a user may stream or search.

use crate::{
    api::{self, ApiResult, Method},
    identity::Identity,
    wire::{ActiveTopic, ErrorBody, MessageBody, RejectRequest, Topic, TopicStatus},
};
use leptos::prelude::*;

/// A topic's status as a coloured word.
#[component]
pub fn StatusBadge(status: TopicStatus) -> impl IntoView {
    view! { <span class=format!("badge badge-{}", status.as_str())>{status.as_str()}</span> }
}

/// An API error for people: the sentence, and a hint when the server is unreachable.
#[component]
pub fn ErrorNote(#[prop(into)] what: String, error: ErrorBody) -> impl IntoView {
    let hint = match error.error.as_str() {
        "unreachable" => {
            Some("Check that the server is running; this page retries when you reload.")
        }
        "database_unavailable" => Some("The database is unavailable; reads may still work."),
        "broker_unavailable" => Some("The Kafka broker is unreachable; the server keeps retrying."),
        "unauthenticated" => {
            Some("Your session has ended, or you have not signed in: sign in again and retry.")
        }
        _ => None,
    };
    view! {
        <p class="error" role="alert" data-testid="error-note">
            {what} ": " {error.message}
            {hint.map(|h| view! { <br/><span class="muted">{h}</span> })}
        </p>
    }
}

/// `2026-11-25T15:00:01.123Z` → `2026-11-25 15:00:01` (times in the API are UTC).
pub fn short_time(at: &str) -> String {
    at.get(..19).unwrap_or(at).replace('T', " ")
}

/// Renders a loaded resource: `ok` with the value, or the error note.
pub fn loaded<T, V>(
    value: Option<ApiResult<T>>,
    what: &'static str,
    ok: impl FnOnce(T) -> V,
) -> Option<AnyView>
where
    V: IntoView + 'static,
{
    value.map(|result| match result {
        Ok(data) => ok(data).into_any(),
        Err(error) => view! { <ErrorNote what error/> }.into_any(),
    })
}

/// The active topics the current user may stream or search (those they subscribe to; every
/// one for an admin), handed with the user to `choose` once loaded; or what to do when nobody
/// is picked yet.
pub fn streamable_topics<V: IntoView + 'static>(
    choose: impl Fn(String, Vec<ActiveTopic>) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let identity = Identity::get();
    let mine = identity.subscriptions();
    let active = Resource::new(
        || (),
        |_| api::get::<Vec<ActiveTopic>>("/api/topics/active"),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let user = identity.user.get();
                let admin = identity.is_admin();
                if user.is_empty() && !admin {
                    return Some(view! {
                        <p class="empty-state" data-testid="stream-pick-user">
                            "Say who you are (the “You are” field at the top, or Sign in): you stream and search the topics you subscribe to."
                        </p>
                    }.into_any());
                }
                let mine = mine.get()?;
                let active = active.get()?;
                let choose = choose.clone();
                Some(loaded(Some(active), "Could not load the active topics", move |active: Vec<ActiveTopic>| {
                    let subscribed: Vec<String> = mine
                        .unwrap_or_default()
                        .into_iter()
                        // A request waiting for the topic's owners streams nothing yet.
                        .filter(|s| s.topic_status == TopicStatus::Active && s.is_active())
                        .map(|s| s.topic_name)
                        .collect();
                    let choices: Vec<ActiveTopic> = active
                        .into_iter()
                        .filter(|a| admin || subscribed.contains(&a.topic_name))
                        .collect();
                    choose(user, choices)
                }).into_any())
            }}
        </Transition>
    }
}

/// Rows a long list shows at first, and how many more each "Show more" adds.
pub const LIST_STEP: i64 = 100;
/// The most rows a list shows (the API's largest page); past it, a search narrows the list.
pub const LIST_MAX: i64 = 1000;

/// Under a list read `shown` rows at a time (asked for one more, to know whether more
/// follow): a button that asks for more while `more`, and a note once the list shows as many as
/// it may.
#[component]
pub fn ShowMore(shown: RwSignal<i64>, more: bool, what: &'static str) -> impl IntoView {
    if !more {
        return None;
    }
    Some(if shown.get_untracked() < LIST_MAX {
        view! {
            <button type="button" class="secondary" data-testid="show-more"
                on:click=move |_| shown.update(|n| *n = (*n + LIST_STEP).min(LIST_MAX))>
                {format!("Show more {what}")}
            </button>
        }
        .into_any()
    } else {
        view! {
            <p class="muted" data-testid="list-capped">
                {format!("Showing the first {LIST_MAX} {what}; search to find others.")}
            </p>
        }
        .into_any()
    })
}

/// The first `shown` of `rows`, and whether there were more (the list asks for one more row
/// than it shows).
pub fn first_shown<T>(mut rows: Vec<T>, shown: i64) -> (Vec<T>, bool) {
    let shown = usize::try_from(shown).unwrap_or(usize::MAX);
    let more = rows.len() > shown;
    rows.truncate(shown);
    (rows, more)
}

/// The "you are" field: the user id the dashboard acts for, remembered in this browser.
#[component]
pub fn UserPicker() -> impl IntoView {
    let identity = Identity::get();
    let draft = RwSignal::new(identity.user.get_untracked());
    let problem = Memo::new(move |_| {
        let v = draft.get();
        (!v.trim().is_empty())
            .then(|| crate::domain::UserId::parse(&v, "user_id").err())
            .flatten()
            .map(|e| e.message)
    });
    view! {
        <form
            class="user-picker"
            data-testid="user-picker"
            on:submit=move |ev| {
                ev.prevent_default();
                if problem.get_untracked().is_none() {
                    identity.set_user(&draft.get_untracked());
                }
            }
        >
            <label for="you-are">"You are"</label>
            <input
                id="you-are"
                name="user_id"
                placeholder="user id"
                autocomplete="username"
                prop:value=draft
                on:input=move |ev| draft.set(event_target_value(&ev))
                on:change=move |_| {
                    if problem.get_untracked().is_none() {
                        identity.set_user(&draft.get_untracked());
                    }
                }
                aria-invalid=move || problem.get().is_some().to_string()
                title=move || problem.get().unwrap_or_default()
            />
        </form>
    }
}

/// "Admin · Sign out", or the way to sign in.
#[component]
pub fn SessionBadge() -> impl IntoView {
    let identity = Identity::get();
    let sign_out = Action::new(|_: &()| {
        api::send::<_, MessageBody>(Method::Delete, "/api/session", &api::Empty {})
    });
    Effect::new(move |_| {
        if sign_out.value().get().is_some() {
            identity.session.refetch();
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || {
                let session = identity.session.get().and_then(Result::ok);
                if let Some(session) = session.filter(|s| s.admin || s.user.is_some()) {
                    // One badge: who (a person signed in through the identity provider) and
                    // whether an admin; the admin token's session is just "admin".
                    let (testid, label) = match (session.user, session.admin) {
                        (Some(user), true) => ("admin-badge", format!("{user} · admin")),
                        (Some(user), false) => ("signed-in-user", user),
                        (None, _) => ("admin-badge", "admin".to_owned()),
                    };
                    // The badge leads to the Tokens page (which tells the admin token's session
                    // that tokens are for people).
                    let teams = (!session.teams.is_empty()).then(|| {
                        view! { <span class="muted" data-testid="teams" title="Your teams">{session.teams.join(", ")}</span> }
                    });
                    view! {
                        <a class="badge badge-admin" data-testid=testid href="/tokens">{label}</a>
                        {teams}
                        <button
                            type="button"
                            class="link"
                            data-testid="sign-out"
                            on:click=move |_| {
                                sign_out.dispatch(());
                            }
                        >
                            "Sign out"
                        </button>
                    }
                        .into_any()
                } else {
                    view! { <a href="/signin" data-testid="sign-in-link">"Sign in"</a> }.into_any()
                }
            }}
        </Transition>
    }
}

/// An admin action on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopicAction {
    Approve,
    Reject,
    Deactivate,
    Reactivate,
    Adopt,
}

impl TopicAction {
    fn path(self) -> &'static str {
        match self {
            TopicAction::Approve => "approve",
            TopicAction::Reject => "reject",
            TopicAction::Deactivate => "deactivate",
            TopicAction::Reactivate => "reactivate",
            TopicAction::Adopt => "adopt",
        }
    }

    fn label(self) -> &'static str {
        match self {
            TopicAction::Approve => "Approve",
            TopicAction::Reject => "Reject",
            TopicAction::Deactivate => "Deactivate",
            TopicAction::Reactivate => "Reactivate",
            TopicAction::Adopt => "Adopt the existing Kafka topic",
        }
    }

    /// Destructive actions (and taking over another application's topic) ask first.
    fn needs_confirmation(self) -> bool {
        matches!(
            self,
            TopicAction::Reject | TopicAction::Deactivate | TopicAction::Adopt
        )
    }

    /// What an admin may do to `topic`.
    fn available(topic: &Topic) -> &'static [TopicAction] {
        match topic.status {
            TopicStatus::Pending => &[TopicAction::Approve, TopicAction::Reject],
            TopicStatus::Approved if topic.kafka_conflict => &[TopicAction::Adopt],
            TopicStatus::Active => &[TopicAction::Deactivate],
            TopicStatus::Inactive => &[TopicAction::Reactivate],
            _ => &[],
        }
    }
}

/// The admin's buttons for one topic (nothing for anyone else). Reject and deactivate ask for
/// confirmation (reject also for a reason); `on_done` runs after a change went through.
#[component]
pub fn TopicActions(topic: Topic, on_done: Callback<()>) -> impl IntoView {
    let identity = Identity::get();
    let confirming = RwSignal::new(None::<TopicAction>);
    let reason = RwSignal::new(String::new());
    let topic_id = topic.topic_id;
    let name = topic.topic_name.clone();
    let run = Action::new(move |action: &TopicAction| {
        let path = format!("/api/topics/{topic_id}/{}", action.path());
        let body = RejectRequest {
            reason: reason.get_untracked(),
        };
        let call: api::ApiFuture<MessageBody> = match action {
            TopicAction::Reject => api::send(Method::Post, path, &body),
            _ => api::send(Method::Post, path, &api::Empty {}),
        };
        call
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = run.value().get() {
            confirming.set(None);
            on_done.run(());
        }
    });
    let start = move |action: TopicAction| {
        if action.needs_confirmation() {
            confirming.set(Some(action));
        } else {
            run.dispatch(action);
        }
    };
    let actions = TopicAction::available(&topic);
    move || {
        if !identity.is_admin() || actions.is_empty() {
            return ().into_any();
        }
        let name = name.clone();
        view! {
            <div class="actions" data-testid="topic-actions">
                {move || match confirming.get() {
                    None => actions
                        .iter()
                        .map(|&action| {
                            view! {
                                <button
                                    type="button"
                                    class=if action.needs_confirmation() { "danger" } else { "" }
                                    data-testid=format!("action-{}", action.path())
                                    disabled=move || run.pending().get()
                                    on:click=move |_| start(action)
                                >
                                    {action.label()}
                                </button>
                            }
                        })
                        .collect_view()
                        .into_any(),
                    Some(action) => {
                        view! {
                            <div class="confirm" role="group" aria-label="Confirm">
                                <span>{format!("{} {}?", action.label(), name)}</span>
                                {(action == TopicAction::Reject)
                                    .then(|| {
                                        view! {
                                            <input
                                                aria-label="Reason"
                                                placeholder="reason"
                                                data-testid="reject-reason"
                                                prop:value=reason
                                                on:input=move |ev| reason.set(event_target_value(&ev))
                                            />
                                        }
                                    })}
                                <button
                                    type="button"
                                    class="danger"
                                    data-testid="confirm"
                                    disabled=move || run.pending().get()
                                    on:click=move |_| {
                                        run.dispatch(action);
                                    }
                                >
                                    // The path word is the verb in lower case ("Yes, reject").
                                    {format!("Yes, {}", action.path())}
                                </button>
                                <button type="button" class="secondary" on:click=move |_| confirming.set(None)>
                                    "Cancel"
                                </button>
                            </div>
                        }
                            .into_any()
                    }
                }}
                {move || match run.value().get() {
                    Some(Err(e)) => Some(view! { <ErrorNote what="Refused" error=e/> }),
                    _ => None,
                }}
            </div>
        }
        .into_any()
    }
}

/// A small line chart of recent rates (gaps where the broker did not answer).
#[component]
pub fn Sparkline(rates: Vec<Option<f64>>) -> impl IntoView {
    const W: f64 = 120.0;
    const H: f64 = 28.0;
    let max = rates
        .iter()
        .flatten()
        .fold(0.0_f64, |m, r| m.max(*r))
        .max(1.0);
    let step = if rates.len() > 1 {
        W / (rates.len() - 1) as f64
    } else {
        W
    };
    let points: String = rates
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.map(|r| {
                format!(
                    "{:.1},{:.1} ",
                    i as f64 * step,
                    H - r / max * (H - 2.0) - 1.0
                )
            })
        })
        .collect();
    view! {
        <svg class="sparkline" viewBox=format!("0 0 {W} {H}") width=W height=H role="img" aria-label="message rate over the last minutes">
            <polyline points=points fill="none" stroke="currentColor" stroke-width="1.5"/>
        </svg>
    }
}

/// Who may read a topic, as a badge beside its status: its level when it is not `open`, and
/// its owners when it has any.
#[component]
pub fn AccessBadge(topic: crate::wire::Topic) -> impl IntoView {
    use crate::access::AccessLevel;
    let level = (topic.access != AccessLevel::Open).then(|| {
        let word = topic.access.as_str();
        view! { <span class=format!("badge badge-{word}") data-testid="access-badge">{word}</span> }
    });
    let owner = match (topic.owner_team, topic.owner_user) {
        (Some(team), _) => Some(format!("team {team}")),
        (None, Some(user)) => Some(user),
        (None, None) => None,
    }
    .map(|owner| view! { <span class="muted" data-testid="owner">{owner}</span> });
    view! { {level} " " {owner} }
}

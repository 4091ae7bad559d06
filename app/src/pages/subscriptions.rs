//! Subscriptions: the current user's topics with one-click subscribe and unsubscribe, and for
//! the admin everyone's.

use crate::{
    api::{self, ApiFuture, Method},
    components::{first_shown, loaded, ErrorNote, ShowMore, StatusBadge, LIST_STEP},
    identity::Identity,
    wire::{ActiveTopic, MessageBody, Subscription, SubscriptionRequest, TopicLag},
};
use leptos::prelude::*;

/// Subscribe (`true`) or unsubscribe a user from a topic.
fn change(subscribe: bool, user_id: String, topic_name: String) -> ApiFuture<MessageBody> {
    let method = if subscribe {
        Method::Post
    } else {
        Method::Delete
    };
    api::send(
        method,
        "/api/subscriptions",
        &SubscriptionRequest {
            user_id,
            topic_name,
        },
    )
}

/// `/subscriptions`.
#[component]
pub fn Subscriptions() -> impl IntoView {
    let identity = Identity::get();
    let user = identity.user;
    let mine = identity.subscriptions();
    let shown = RwSignal::new(LIST_STEP);
    let everyone = Resource::new(
        move || shown.get(),
        |shown| {
            let limit = shown + 1;
            api::get::<Vec<Subscription>>(format!("/api/subscriptions?limit={limit}"))
        },
    );
    let active = Resource::new(
        || (),
        |_| api::get::<Vec<ActiveTopic>>("/api/topics/active"),
    );
    // Each subscription's lag, read in the browser only (it changes by the second: a rendered
    // figure would be stale on arrival) and again every few seconds. A signal filled by an
    // effect rather than a resource: a resource read under the page's <Transition/> would keep
    // the server waiting for a read that only the browser makes, and the page would arrive as
    // "Loading…".
    let ticks = RwSignal::new(0_u32);
    let lags = RwSignal::new(None::<api::ApiResult<Vec<TopicLag>>>);
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || ticks.update(|n| *n += 1),
            std::time::Duration::from_millis(LAG_REFRESH_MS),
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    });
    Effect::new(move |_| {
        let (asked_for, _) = (user.get(), ticks.get());
        if asked_for.is_empty() {
            lags.set(None);
            return;
        }
        let read: ApiFuture<Vec<TopicLag>> = api::get(format!(
            "/api/subscriptions/lag?user_id={}",
            api::encode(&asked_for)
        ));
        leptos::task::spawn_local(async move {
            let answer = read.await;
            // A slow answer for someone the page no longer shows is dropped.
            if user.try_get_untracked().as_ref() == Some(&asked_for) {
                lags.try_set(Some(answer));
            }
        });
    });
    let toggle = Action::new(|(subscribe, user, topic): &(bool, String, String)| {
        change(*subscribe, user.clone(), topic.clone())
    });
    Effect::new(move |_| {
        if toggle.value().get().is_some() {
            mine.refetch();
            everyone.refetch();
        }
    });
    let busy = toggle.pending();

    view! {
        <section class="page">
            <div class="page-head"><h1>"Subscriptions"</h1></div>
            {move || toggle.value().get().and_then(Result::err).map(|e| view! { <ErrorNote what="Not changed" error=e/> })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let user = user.get();
                    if user.is_empty() {
                        let known = everyone.get().and_then(Result::ok).unwrap_or_default();
                        return Some(view! { <PickUser known/> }.into_any());
                    }
                    let mine = mine.get()?;
                    let active = active.get()?;
                    Some(
                        loaded(Some(mine), "Could not load your subscriptions", move |mine| {
                            let active = active.unwrap_or_default();
                            view! { <Mine user mine active toggle busy lags/> }
                        })
                            .into_any(),
                    )
                }}
                {move || {
                    identity
                        .is_admin()
                        .then(|| {
                            view! {
                                <h2>"Everyone's subscriptions"</h2>
                                {loaded(everyone.get(), "Could not load subscriptions", move |all| {
                                    let (all, more) = first_shown(all, shown.get_untracked());
                                    view! {
                                        <Everyone all toggle busy/>
                                        <ShowMore shown more what="subscriptions"/>
                                    }
                                })}
                            }
                        })
                }}
            </Transition>
        </section>
    }
}

type Toggle = Action<(bool, String, String), api::ApiResult<MessageBody>>;

#[component]
fn PickUser(known: Vec<Subscription>) -> impl IntoView {
    let identity = Identity::get();
    let mut users: Vec<String> = known.into_iter().map(|s| s.user_id).collect();
    users.sort();
    users.dedup();
    view! {
        <p class="empty-state" data-testid="pick-user">
            "Say who you are (the “You are” field at the top, or Sign in) to see and change your subscriptions."
        </p>
        {(!users.is_empty()).then(|| view! {
            <p>"Known users: "
                {users.into_iter().map(|u| {
                    let pick = u.clone();
                    view! { <button type="button" class="chip" on:click=move |_| identity.set_user(&pick)>{u}</button> " " }
                }).collect_view()}
            </p>
        })}
    }
}

/// How often the lag of one's subscriptions is read again.
const LAG_REFRESH_MS: u64 = 5_000;

/// A subscription's lag as the list shows it: records behind, or that no position is stored.
fn lag_text(lags: Option<&Vec<TopicLag>>, topic: &str) -> String {
    match lags.and_then(|all| all.iter().find(|l| l.topic == topic)) {
        Some(TopicLag { total: Some(n), .. }) => format!("{n} behind"),
        Some(_) => "no position saved".to_owned(),
        None => String::new(),
    }
}

#[component]
fn Mine(
    user: String,
    mine: Vec<Subscription>,
    active: Vec<ActiveTopic>,
    toggle: Toggle,
    busy: Memo<bool>,
    lags: RwSignal<Option<api::ApiResult<Vec<TopicLag>>>>,
) -> impl IntoView {
    let others: Vec<ActiveTopic> = active
        .into_iter()
        .filter(|a| !mine.iter().any(|s| s.topic_name == a.topic_name))
        .collect();
    let user_for_available = user.clone();
    view! {
        <h2>{format!("{user}'s topics")}</h2>
        {if mine.is_empty() {
            view! { <p class="empty-state" data-testid="no-subscriptions">"Not subscribed to anything yet — pick a topic below."</p> }.into_any()
        } else {
            view! {
                <ul class="sub-list" data-testid="my-subscriptions">
                    {mine.into_iter().map(|s| {
                        let (u, topic) = (user.clone(), s.topic_name.clone());
                        let watch = format!("/stream?topic={}", api::encode(&s.topic_name));
                        let streaming = s.topic_status == crate::wire::TopicStatus::Active && s.is_active();
                        let waiting = (!s.is_active()).then(|| view! {
                            " " <span class="badge badge-pending" data-testid="subscription-pending">"waiting for the owners"</span>
                        });
                        view! {
                            <li data-topic=s.topic_name.clone()>
                                <span class="mono">{s.topic_name.clone()}</span>
                                " " <StatusBadge status=s.topic_status/>
                                {waiting}
                                {
                                    let topic = s.topic_name.clone();
                                    view! {
                                        <span class="muted" data-testid="lag">
                                            {move || lags.with(|l| lag_text(l.as_ref().and_then(|r| r.as_ref().ok()), &topic))}
                                        </span>
                                    }
                                }
                                {streaming.then(|| view! { <a class="button-link" href=watch>"Watch"</a> })}
                                <button type="button" class="secondary" data-testid="unsubscribe"
                                    disabled=move || busy.get()
                                    on:click=move |_| { toggle.dispatch((false, u.clone(), topic.clone())); }>
                                    "Unsubscribe"
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
        <h2>"Active topics you can follow"</h2>
        {if others.is_empty() {
            view! { <p class="empty-state">"Nothing else is active right now."</p> }.into_any()
        } else {
            view! {
                <ul class="sub-list" data-testid="available-topics">
                    {others.into_iter().map(|a| {
                        let (u, topic) = (user_for_available.clone(), a.topic_name.clone());
                        view! {
                            <li data-topic=a.topic_name.clone()>
                                <span class="mono">{a.topic_name.clone()}</span>
                                <span class="muted">{format!(" {} partition(s)", a.partitions)}</span>
                                <button type="button" data-testid="subscribe"
                                    disabled=move || busy.get()
                                    on:click=move |_| { toggle.dispatch((true, u.clone(), topic.clone())); }>
                                    "Subscribe"
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
    }
}

#[component]
fn Everyone(all: Vec<Subscription>, toggle: Toggle, busy: Memo<bool>) -> impl IntoView {
    if all.is_empty() {
        return view! { <p class="empty-state">"Nobody subscribes to anything yet."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table data-testid="all-subscriptions">
                <thead><tr><th scope="col">"User"</th><th scope="col">"Topic"</th><th scope="col">"Since"</th><th scope="col"></th></tr></thead>
                <tbody>
                    {all.into_iter().map(|s| {
                        let (u, topic) = (s.user_id.clone(), s.topic_name.clone());
                        view! {
                            <tr>
                                <td>{s.user_id.clone()}</td>
                                <td class="mono">{s.topic_name.clone()}</td>
                                <td>{crate::components::short_time(&s.subscribed_at)}</td>
                                <td><button type="button" class="secondary" disabled=move || busy.get()
                                    on:click=move |_| { toggle.dispatch((false, u.clone(), topic.clone())); }>"Remove"</button></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}

//! Personal access tokens (`oidc` mode): make one for the CLI or a script (shown once, with a
//! name, a scope capped at your role and an expiry), see when each was last used, revoke it.
//! An admin may list and revoke everyone's.

use crate::{
    api::{self, Method},
    components::{loaded, short_time, ErrorNote},
    identity::Identity,
    wire::{
        AccessToken, MessageBody, NewAccessToken, TokenScope, ADMIN_TOKEN_MAX_DAYS, TOKEN_MAX_DAYS,
    },
};
use leptos::prelude::*;
use serde::Deserialize;

/// The part of `POST /api/tokens`'s answer the page keeps: the token, to show this once.
#[derive(Debug, Clone, Deserialize)]
struct Made {
    token: String,
}

/// Expiry choices (days), the first the default (offered for every scope). Every token expires.
const EXPIRY_CHOICES: [(Option<i64>, &str); 4] = [
    (Some(30), "30 days"),
    (Some(7), "7 days"),
    (Some(90), "90 days"),
    (Some(TOKEN_MAX_DAYS), "a year"),
];

/// Whether `scope` may have the expiry `days`.
fn offered(scope: TokenScope, days: Option<i64>) -> bool {
    scope != TokenScope::Admin || days.is_some_and(|d| (1..=ADMIN_TOKEN_MAX_DAYS).contains(&d))
}

/// The expiry picked as `index` (the default when out of range).
fn expiry_days(index: usize) -> Option<i64> {
    EXPIRY_CHOICES.get(index).unwrap_or(&EXPIRY_CHOICES[0]).0
}

/// `/tokens`.
#[component]
pub fn Tokens() -> impl IntoView {
    let identity = Identity::get();
    let everyone = RwSignal::new(false);
    let tokens = Resource::new(
        move || everyone.get(),
        |all| {
            api::get::<Vec<AccessToken>>(if all {
                "/api/tokens?all=true"
            } else {
                "/api/tokens"
            })
        },
    );
    view! {
        <section class="page">
            <div class="page-head"><h1>"Personal access tokens"</h1></div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let session = identity.session.get().and_then(Result::ok)?;
                    let Some(user) = session.user.clone() else {
                        let oidc = session.auth == "oidc";
                        let why = if oidc {
                            "Tokens belong to people: sign in through your identity provider to make one."
                        } else {
                            "Tokens are for teams that sign in through an identity provider (STREAMHUB_AUTH=oidc); here everyone names themself."
                        };
                        return Some(view! {
                            <p class="empty-state" data-testid="tokens-sign-in">
                                {why} " " {oidc.then(|| view! { <a href="/signin?next=/tokens">"Sign in"</a> })}
                            </p>
                        }.into_any());
                    };
                    let admin = session.admin;
                    Some(view! {
                        <p class="muted">
                            "A token lets the CLI (" <code>"streamhub-consumer login"</code>
                            ") or a script act as " <strong>{user}</strong>
                            ", sent as " <code>"Authorization: Bearer <token>"</code>
                            ". It may do at most what you may: read, write, or (admins) approve."
                        </p>
                        <MakeToken admin tokens/>
                        {admin.then(|| view! {
                            <label class="toolbar">
                                <input type="checkbox" data-testid="all-tokens"
                                    prop:checked=everyone
                                    on:change=move |ev| everyone.set(event_target_checked(&ev))/>
                                " Everyone's tokens"
                            </label>
                        })}
                        {move || loaded(tokens.get(), "Could not load the tokens", |list| view! {
                            <TokenTable list tokens/>
                        })}
                    }.into_any())
                }}
            </Transition>
        </section>
    }
}

/// The form that makes a token, and the token it made, shown once.
#[component]
fn MakeToken(admin: bool, tokens: Resource<api::ApiResult<Vec<AccessToken>>>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let scope = RwSignal::new(TokenScope::Read);
    let expiry = RwSignal::new(0_usize);
    let make = Action::new(|body: &NewAccessToken| {
        api::send::<_, Made>(Method::Post, "/api/tokens", body)
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = make.value().get() {
            name.set(String::new());
            tokens.refetch();
        }
    });
    let scopes = if admin {
        &[TokenScope::Read, TokenScope::Write, TokenScope::Admin][..]
    } else {
        &[TokenScope::Read, TokenScope::Write][..]
    };
    let expiries = move || {
        EXPIRY_CHOICES
            .iter()
            .enumerate()
            .filter(|(_, (days, _))| offered(scope.get(), *days))
            .map(|(i, (_, label))| view! { <option value=i.to_string() selected=move || expiry.get() == i>{*label}</option> })
            .collect_view()
    };
    view! {
        // `autocomplete="off"`: a restored form would show choices the signals do not hold.
        <form
            class="card form"
            autocomplete="off"
            data-testid="make-token"
            on:submit=move |ev| {
                ev.prevent_default();
                let chosen = scope.get_untracked();
                make.dispatch(NewAccessToken {
                    name: name.get_untracked(),
                    scope: chosen,
                    expires_in_days: expiry_days(expiry.get_untracked()),
                });
            }
        >
            <div class="field">
                <label for="token-name">"Name"</label>
                <input id="token-name" required maxlength="100" placeholder="laptop CLI"
                    prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
            </div>
            <div class="field">
                <label for="token-scope">"Scope"</label>
                <select id="token-scope" on:change=move |ev| {
                    let picked = TokenScope::parse(&event_target_value(&ev)).unwrap_or(TokenScope::Read);
                    scope.set(picked);
                    if !offered(picked, expiry_days(expiry.get_untracked())) {
                        expiry.set(0);
                    }
                }>
                    {scopes.iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="token-expiry">"Expires after"</label>
                <select id="token-expiry" on:change=move |ev| {
                    expiry.set(event_target_value(&ev).parse().unwrap_or(0));
                }>
                    {expiries}
                </select>
            </div>
            <button type="submit" disabled=move || make.pending().get()>"Make token"</button>
            {move || make.value().get().map(|made| match made {
                Ok(Made { token }) => view! {
                    <div class="new-token" role="status">
                        <p>"Your new token. Copy it now: it is not shown again."</p>
                        <code class="mono" data-testid="new-token">{token.clone()}</code>
                        " "
                        <button type="button" class="secondary" on:click=move |_| copy(&token)>"Copy"</button>
                    </div>
                }.into_any(),
                Err(e) => view! { <ErrorNote what="No token made" error=e/> }.into_any(),
            })}
        </form>
    }
}

/// The tokens, each with when it was made, expires and was last used, and a way to revoke it.
#[component]
fn TokenTable(
    list: Vec<AccessToken>,
    tokens: Resource<api::ApiResult<Vec<AccessToken>>>,
) -> impl IntoView {
    let revoke = Action::new(|id: &i64| {
        api::send::<_, MessageBody>(Method::Delete, format!("/api/tokens/{id}"), &api::Empty {})
    });
    // Refetched on success only: the list's refetch rebuilds this table, and with it the error.
    Effect::new(move |_| {
        if let Some(Ok(_)) = revoke.value().get() {
            tokens.refetch();
        }
    });
    if list.is_empty() {
        return view! { <p class="empty-state" data-testid="no-tokens">"No tokens yet."</p> }
            .into_any();
    }
    view! {
        {move || match revoke.value().get() {
            Some(Err(e)) => Some(view! { <ErrorNote what="Not revoked" error=e/> }),
            _ => None,
        }}
        <table data-testid="tokens">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Owner"</th>
                    <th scope="col">"Scope"</th>
                    <th scope="col">"Made"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col"></th>
                </tr>
            </thead>
            <tbody>
                {list.into_iter().map(|t| {
                    let (id, name) = (t.token_id, t.name.clone());
                    view! {
                        <tr data-token=name>
                            <td>{t.name}</td>
                            <td class="mono">{t.user_id}</td>
                            <td>{t.scope.as_str()}</td>
                            <td>{short_time(&t.created_at)}</td>
                            <td>{t.expires_at.as_deref().map_or("never".to_owned(), short_time)}</td>
                            <td>{t.last_used_at.as_deref().map_or("never".to_owned(), short_time)}</td>
                            <td>
                                {if t.revoked {
                                    view! { <span class="badge badge-rejected">"revoked"</span> }.into_any()
                                } else {
                                    view! {
                                        <button type="button" class="secondary" data-testid="revoke-token"
                                            disabled=move || revoke.pending().get()
                                            on:click=move |_| { revoke.dispatch(id); }>
                                            "Revoke"
                                        </button>
                                    }.into_any()
                                }}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

fn copy(text: &str) {
    #[cfg(feature = "hydrate")]
    crate::browser::copy(text);
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_tokens_are_offered_only_expiries_the_server_takes() {
        let for_admin: Vec<_> = EXPIRY_CHOICES
            .iter()
            .filter(|(days, _)| offered(TokenScope::Admin, *days))
            .map(|(days, _)| days.unwrap())
            .collect();
        assert_eq!(for_admin, [30, 7, 90]);
        assert!(EXPIRY_CHOICES
            .iter()
            .all(|(days, _)| offered(TokenScope::Write, *days)));
        // The default fits every scope, and an index out of range falls back to it.
        assert!(offered(TokenScope::Admin, expiry_days(0)));
        assert_eq!(expiry_days(99), expiry_days(0));
        // Every token expires.
        assert!(EXPIRY_CHOICES.iter().all(|(days, _)| days.is_some()));
    }
}

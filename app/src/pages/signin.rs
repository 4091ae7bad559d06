//! Admin sign-in: the admin token, typed once, becomes an HttpOnly session cookie.

use crate::{
    api::{self, Method},
    components::ErrorNote,
    identity::Identity,
    wire::{SessionInfo, SignIn as SignInBody},
};
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};

/// The pages about who you are, `/signin` and `/tokens`: one route in one WASM chunk. They share
/// most of their code, and a chunk of its own would cost the first visit to every other page
/// some 3 KB (wasm-opt cannot inline across chunks, so code they share stops being inlined).
#[component]
pub fn Account() -> impl IntoView {
    if use_location().pathname.get_untracked() == "/tokens" {
        view! { <super::Tokens/> }.into_any()
    } else {
        view! { <SignIn/> }.into_any()
    }
}

/// `/signin[?next=/path]`.
#[component]
pub fn SignIn() -> impl IntoView {
    let identity = Identity::get();
    let token = RwSignal::new(String::new());
    let query = use_query_map();
    let sign_in = Action::new(|body: &SignInBody| {
        api::send::<_, SessionInfo>(Method::Post, "/api/session", body)
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = sign_in.value().get() {
            identity.session.refetch();
            token.set(String::new());
            let next =
                local_path(query.get_untracked().get("next")).unwrap_or("/topics".to_owned());
            navigate(&next, Default::default());
        }
    });
    // `oidc` mode: people sign in through their identity provider (a full page navigation:
    // `rel="external"` keeps the router out of it); the admin token stays as the way in when the
    // provider is away.
    let provider = move || {
        identity
            .session
            .get()
            .and_then(Result::ok)
            .filter(|s| s.auth == "oidc")
            .map(|s| {
                s.provider
                    .unwrap_or_else(|| "your identity provider".into())
            })
    };
    let next = move || local_path(query.get().get("next")).unwrap_or("/".to_owned());
    let refused = move || {
        query.get().get("error").map(|code| match code.as_str() {
            "login_expired" => {
                "The sign-in took too long or was started in another browser: try again."
            }
            "provider_refused" => "Your identity provider did not sign you in.",
            "provider_unavailable" => {
                "Your identity provider cannot be reached right now: try again in a moment."
            }
            "not_verified" => {
                "Your identity provider's answer could not be verified, so you are not signed in."
            }
            "state_mismatch" => "That answer was not for this browser's sign-in: start again here.",
            "name_taken" => {
                "Your name at the identity provider belongs to another account here: ask an admin."
            }
            _ => "You are not signed in: try again.",
        })
    };
    view! {
        <section class="page narrow">
            <h1>"Sign in"</h1>
            {move || refused().map(|why| view! { <p class="error" role="alert" data-testid="sign-in-refused">{why}</p> })}
            <Transition fallback=|| ()>
                {move || provider().map(|name| view! {
                    <p>
                        <a class="button" rel="external" data-testid="sign-in-provider"
                            href=format!("/auth/login?next={}", api::encode(&next()))>
                            {format!("Sign in with {name}")}
                        </a>
                    </p>
                    <p class="muted">"Or, as the admin, with the admin token:"</p>
                })}
            </Transition>
            <p class="muted">
                "Approving, rejecting and deactivating topics needs the admin token (the server prints where it keeps it at start). "
                "It is exchanged for a session cookie; this page does not store it."
            </p>
            <form
                class="card form"
                data-testid="sign-in-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    sign_in.dispatch(SignInBody { token: token.get_untracked() });
                }
            >
                <div class="field">
                    <label for="admin-token">"Admin token"</label>
                    <input
                        id="admin-token"
                        type="password"
                        autocomplete="current-password"
                        required
                        prop:value=token
                        on:input=move |ev| token.set(event_target_value(&ev))
                    />
                </div>
                {move || match sign_in.value().get() {
                    Some(Err(e)) => Some(view! { <ErrorNote what="Not signed in" error=e/> }),
                    _ => None,
                }}
                <button type="submit" disabled=move || sign_in.pending().get()>"Sign in"</button>
            </form>
        </section>
    }
}

/// `next` if it is a path on this site, so that a crafted link cannot send you elsewhere after
/// signing in (the server checks `/auth/login`'s the same way).
fn local_path(next: Option<String>) -> Option<String> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .filter(|n| !n.chars().any(|c| c.is_control() || c.is_whitespace()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_paths_on_this_site_are_returned_to() {
        let next = |n: &str| super::local_path(Some(n.to_owned()));
        assert_eq!(next("/topics?x=1").as_deref(), Some("/topics?x=1"));
        for elsewhere in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "https://evil.example",
            "/ /x",
        ] {
            assert_eq!(next(elsewhere), None, "{elsewhere:?}");
        }
    }
}

//! Admin sign-in: the admin token, typed once, becomes an HttpOnly session cookie.

use crate::{
    api::{self, Method},
    components::ErrorNote,
    identity::Identity,
    wire::{SessionInfo, SignIn as SignInBody},
};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

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
            // Only local paths, so that a crafted link cannot send you elsewhere.
            let next = query
                .get_untracked()
                .get("next")
                .filter(|n| n.starts_with('/') && !n.starts_with("//"))
                .unwrap_or_else(|| "/topics".to_owned());
            navigate(&next, Default::default());
        }
    });
    view! {
        <section class="page narrow">
            <h1>"Admin sign-in"</h1>
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

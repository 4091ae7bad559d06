//! The audit log (admin): every operation, who did it, from where and how it ended, filtered by
//! actor, topic and action. The filters are a plain GET form, so the page works without WASM.

use super::topic_detail::AuditTable;
use crate::{api, components::loaded, identity::Identity, wire::AuditEntry};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

const FILTERS: [(&str, &str); 3] = [("actor", "Actor"), ("topic", "Topic"), ("action", "Action")];

/// `/audit?actor=&topic=&action=`.
#[component]
pub fn Audit() -> impl IntoView {
    let identity = Identity::get();
    let query = use_query_map();
    let path = move || {
        let q = query.read();
        let mut path = "/api/audit?limit=500".to_owned();
        for (key, _) in FILTERS {
            if let Some(v) = q.get(key).filter(|v| !v.is_empty()) {
                path.push_str(&format!("&{key}={}", api::encode(&v)));
            }
        }
        path
    };
    let entries = Resource::new(path, api::get::<Vec<AuditEntry>>);
    view! {
        <section class="page">
            <div class="page-head"><h1>"Audit log"</h1></div>
            <form method="get" action="/audit" class="toolbar" data-testid="audit-filters">
                {FILTERS
                    .into_iter()
                    .map(|(key, label)| {
                        view! {
                            <label>
                                {label} " "
                                <input name=key prop:value=move || query.read().get(key).unwrap_or_default()/>
                            </label>
                        }
                    })
                    .collect_view()}
                <button type="submit">"Filter"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let signed_in = identity.is_admin();
                    entries.get().map(|result| match result {
                        Err(e) if e.error == "unauthorized" && !signed_in => view! {
                            <p class="empty-state" data-testid="audit-sign-in">
                                "The audit log is for admins. " <a href="/signin?next=/audit">"Sign in"</a> " to see it."
                            </p>
                        }
                            .into_any(),
                        other => loaded(Some(other), "Could not load the audit log", |list| view! { <AuditTable entries=list show_topic=true/> })
                            .into_any(),
                    })
                }}
            </Transition>
        </section>
    }
}

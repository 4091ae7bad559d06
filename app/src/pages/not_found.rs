//! What an unknown path shows.

use leptos::prelude::*;

/// Says the page does not exist and offers the way back.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="empty-state">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to the overview"</a></p>
        </section>
    }
}

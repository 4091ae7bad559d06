//! StreamHub's shared crate: everything the server and the browser both compile.
//!
//! | module | job |
//! | --- | --- |
//! | [`wire`] | JSON bodies of the REST API, the contract every client speaks |
//! | [`domain`] | validated values (topic names, user ids, bounds) shared by form, API and CLI |
//! | [`backend`] | the one trait the server implements so that server functions can reach its store (`ssr` only) |
//! | [`stream`] | the live stream's WebSocket frame protocol (relay, viewer, CLI) |
//! | [`server_fns`] | Leptos server functions: the dashboard's data, rendered on the server, fetched by the browser |
//! | [`pages`] | the dashboard's pages |
//!
//! Features: `ssr` (the server's build) and `hydrate` (the browser's). Neither is on by default;
//! each crate that depends on this one picks its own, so nobody juggles flags.

pub mod domain;
pub mod pages;
pub mod server_fns;
pub mod stream;
pub mod wire;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    SsrMode, StaticSegment,
};

/// The name of the WASM/JS/CSS bundle under `/pkg` (set by `.ci/build-site` and the server).
pub const BUNDLE_NAME: &str = "streamhub";

/// The HTML document around the app, rendered on the server for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The dashboard: a header with navigation and the routed page below it.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href=format!("/pkg/{BUNDLE_NAME}.css")/>
        <Title text="StreamHub"/>
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">"StreamHub"</A>
                <nav aria-label="Main">
                    <A href="/">"Overview"</A>
                    <A href="/topics">"Topics"</A>
                </nav>
            </header>
            <main>
                <Routes fallback=pages::NotFound>
                    // `Async`: the server waits for the data, so the HTML is useful without WASM.
                    <Route path=StaticSegment("") view=pages::Overview ssr=SsrMode::Async/>
                    <Route path=StaticSegment("topics") view=pages::Topics ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

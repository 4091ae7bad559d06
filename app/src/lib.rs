//! StreamHub's shared crate: everything the server and the browser both compile.
//!
//! | module | job |
//! | --- | --- |
//! | [`wire`] | JSON bodies of the REST API, the contract every client speaks |
//! | [`access`] | who may read what, as values: access levels, team names, masked fields |
//! | [`domain`] | validated values (topic names, user ids, bounds) shared by form, API and CLI |
//! | [`api`] | the dashboard's REST calls: `fetch` in the browser, in-process during SSR |
//! | [`http_method`] | the HTTP methods of those calls (named by `api` and `backend` alike) |
//! | [`backend`] | the one trait the server implements so that SSR can call its REST API in-process (`ssr` only) |
//! | [`browser`] | cookies, clipboard, downloads, timing, the relay's WebSocket (`hydrate` only) |
//! | [`identity`] | who is using the dashboard: the picked user id and the admin session |
//! | [`stream`] | the live stream's WebSocket frame protocol (relay, viewer, search page, CLI): frames, offsets, the browser's light readers |
//! | [`text`] | case folding for filters, by the browser where there is one |
//! | [`components`] | pieces several pages share (status badges, error notes, admin actions, the topics one may stream) |
//! | [`pages`] | the dashboard's pages |
//!
//! Features: `ssr` (the server's build) and `hydrate` (the browser's). Neither is on by default;
//! each crate that depends on this one picks its own, so nobody juggles flags.

pub mod access;
pub mod api;
pub mod components;
pub mod domain;
pub mod http_method;
pub mod identity;
pub mod pages;
pub mod stream;
pub mod text;
pub mod wire;

#[cfg(feature = "ssr")]
pub mod backend;
#[cfg(feature = "hydrate")]
pub mod browser;

use leptos::prelude::*;
use leptos_meta::MetaTags;
use leptos_router::{
    components::{Route, Router, Routes, A},
    lazy_route, path, Lazy, LazyRoute, SsrMode,
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
                <title>"StreamHub"</title>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Before the scripts: the first paint waits for the stylesheet, not for the WASM.
                <link rel="stylesheet" href=format!("/pkg/{BUNDLE_NAME}.css")/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The dashboard: a header with navigation, who you are, and the routed page below it.
#[component]
pub fn App() -> impl IntoView {
    // Only the server's head needs Leptos's meta context (the page's preload hints go through it);
    // the title is fixed in the shell, so the browser bundle carries no leptos_meta code.
    #[cfg(feature = "ssr")]
    leptos_meta::provide_meta_context();
    let identity = identity::Identity::provide();

    view! {
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">"StreamHub"</A>
                <nav aria-label="Main">
                    <A href="/">"Overview"</A>
                    <A href="/topics">"Topics"</A>
                    <A href="/subscriptions">"Subscriptions"</A>
                    <A href="/stream">"Stream"</A>
                    <A href="/search">"Search"</A>
                    <Transition fallback=|| ()>
                        {move || identity.is_admin().then(|| view! { <A href="/audit">"Audit"</A> })}
                    </Transition>
                    <pages::InboxCount/>
                </nav>
                <div class="who">
                    // With an identity provider you are who you signed in as: nothing to pick.
                    <Transition fallback=|| ()>
                        {move || identity.session.get().and_then(Result::ok).is_none_or(|s| s.auth != "oidc").then(components::UserPicker)}
                    </Transition>
                    <components::SessionBadge/>
                </div>
            </header>
            <main>
                // `Async`: the server waits for the data, so the HTML is useful without WASM.
                <Routes fallback=pages::NotFound>
                    <Route path=path!("") view={Lazy::<OverviewRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("topics") view={Lazy::<TopicsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("topics/:id") view={Lazy::<TopicRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("subscriptions") view={Lazy::<SubscriptionsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("stream") view={Lazy::<StreamRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("search") view={Lazy::<SearchRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("inbox") view={Lazy::<InboxRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("signin") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tokens") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// Declares a page's route as loaded on demand. In the browser each page's code goes into its own
/// WASM chunk (`.ci/build-site` splits the bundle with wasm-split), fetched the first time the
/// page is shown, so a visitor downloads the shell and the pages they open, not the whole
/// dashboard. On the server nothing changes.
///
/// Once a page has hydrated, the browser marks the document with it (`<html
/// data-hydrated="StreamRoute">`): the moment the page answers clicks, which the first-visit
/// benchmark (`end2end/bench/first-visit.js`) waits for.
macro_rules! lazy_page {
    ($($route:ident => $page:path,)*) => {$(
        #[doc = concat!("The route of [`", stringify!($page), "`], loaded on demand.")]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            // The chunks' names hash the line and column of `#[lazy_route]` above: the server
            // (whose HTML names a page's pack to preload) and the site must come from one build.
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                // Effects run after the view they are made in has hydrated.
                #[cfg(feature = "hydrate")]
                Effect::new(|| browser::mark_hydrated(stringify!($route)));
                $page().into_any()
            }
        }
    )*};
}

lazy_page! {
    OverviewRoute => pages::Overview,
    TopicsRoute => pages::Topics,
    TopicRoute => pages::TopicPage,
    SubscriptionsRoute => pages::Subscriptions,
    StreamRoute => pages::Stream,
    SearchRoute => pages::Search,
    AuditRoute => pages::Audit,
    InboxRoute => pages::InboxPage,
    AccountRoute => pages::Account,
}

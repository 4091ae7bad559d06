//! Who is using the dashboard: the "you are" user id (remembered in a cookie, so that pages
//! render for that user on the server too) and whether this browser is signed in as admin.
//! [`Identity`] travels in Leptos context; every page that cares reads it.

use crate::{
    api::{self, ApiResult},
    wire::{SessionInfo, Subscription},
};
use leptos::prelude::*;

/// The current user and admin session.
#[derive(Clone, Copy)]
pub struct Identity {
    /// The user id pages act for (empty: nobody picked yet).
    pub user: RwSignal<String>,
    /// `GET /api/session`, refetched after signing in or out.
    pub session: Resource<ApiResult<SessionInfo>>,
}

impl Identity {
    /// Creates it for the app and puts it in context.
    pub fn provide() -> Self {
        let identity = Identity {
            user: RwSignal::new(remembered_user()),
            session: Resource::new(|| (), |_| api::get::<SessionInfo>("/api/session")),
        };
        provide_context(identity);
        identity
    }

    /// The app's identity (panics outside [`crate::App`], which provides it).
    pub fn get() -> Self {
        expect_context()
    }

    /// Whether the session is an admin's (reactive; `false` until known).
    pub fn is_admin(&self) -> bool {
        self.session
            .get()
            .and_then(Result::ok)
            .is_some_and(|s| s.admin)
    }

    /// Whether the signed-in person is one of `topic`'s owners (reactive; `false` until known).
    pub fn owns(&self, topic: &crate::wire::Topic) -> bool {
        self.session
            .get()
            .and_then(Result::ok)
            .is_some_and(|s| owned_by(&s, topic))
    }

    /// The current user's subscriptions, refetched when the user changes (the subscriptions
    /// page and the stream viewer both start from them).
    pub fn subscriptions(&self) -> Resource<ApiResult<Vec<Subscription>>> {
        let user = self.user;
        Resource::new(
            move || user.get(),
            |user| {
                api::get::<Vec<Subscription>>(format!(
                    "/api/subscriptions?user_id={}",
                    api::encode(&user)
                ))
            },
        )
    }

    /// Acts as `user` from now on, in this browser.
    pub fn set_user(&self, user: &str) {
        let user = user.trim().to_owned();
        #[cfg(feature = "hydrate")]
        crate::browser::set_cookie(crate::wire::USER_COOKIE, &api::encode(&user));
        self.user.set(user);
    }
}

/// The user id from the cookie, read the same way on the server and in the browser so that
/// hydration sees what the server rendered.
fn remembered_user() -> String {
    #[cfg(feature = "ssr")]
    let raw = use_context::<crate::backend::SharedBackend>()
        .and_then(|b| b.cookie(crate::wire::USER_COOKIE));
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    let raw = crate::browser::cookie(crate::wire::USER_COOKIE);
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    let raw: Option<String> = None;
    raw.map(|v| api::decode_component(&v)).unwrap_or_default()
}

/// Whether the person of `session` is one of `topic`'s owners: its owning person, or in its
/// owning team (the server decides; this only chooses what the dashboard offers).
pub fn owned_by(session: &SessionInfo, topic: &crate::wire::Topic) -> bool {
    let by_person = session.user.is_some() && session.user == topic.owner_user;
    let by_team = topic
        .owner_team
        .as_ref()
        .is_some_and(|team| session.teams.contains(team));
    by_person || by_team
}

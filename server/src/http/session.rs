//! The sign-in endpoints (`/api/session`). The sessions themselves (signing, CSRF tokens,
//! revocation) are [`crate::sessions`]; reading one from a request is [`super::auth`]'s.

use super::state::AppState;
use super::{
    auth::{session_from_cookie, session_of, Check},
    error::ApiError,
    json::ApiJson,
};
use crate::{
    sessions::{unix_now, Session, Sessions},
    store::{Actor, AuditOutcome, NewAuditEntry},
};
use app::wire::{ErrorBody, MessageBody, SessionInfo, SignIn};
use axum::{
    extract::State,
    http::{header, request::Parts, HeaderMap, HeaderValue},
    response::{AppendHeaders, IntoResponse},
    Json,
};

/// Both `Set-Cookie` headers for a session's start (`Some`) or end (`None`).
fn set_cookie_headers(
    sessions: &Sessions,
    session: Option<(&str, &Session)>,
) -> [(header::HeaderName, String); 2] {
    sessions
        .set_cookies(session)
        .map(|value| (header::SET_COOKIE, value))
}

#[utoipa::path(get, path = "/api/session", tag = "session",
    responses((status = 200, body = SessionInfo)))]
/// `GET /api/session`: whether this browser is signed in as admin (and its CSRF token), and a
/// signed-in person's teams.
pub async fn current(State(state): State<AppState>, headers: HeaderMap) -> Json<SessionInfo> {
    let session = session_of(&state.sessions, &headers);
    let mut info = info(&state, session.as_ref());
    if let Some(user) = session.as_ref().and_then(Session::user) {
        // Shown on the badge: while the database is away the badge goes without them.
        match state.store.teams_of(user).await {
            Ok(teams) => info.teams = teams.into_iter().map(String::from).collect(),
            Err(e) => tracing::debug!(error = %e, "a session's teams could not be read"),
        }
    }
    Json(info)
}

/// What `/api/session` says of `session`, with how people sign in here.
fn info(state: &AppState, session: Option<&Session>) -> SessionInfo {
    SessionInfo {
        auth: state.auth.as_str().to_owned(),
        provider: state.oidc.as_ref().map(|o| o.provider_name.clone()),
        ..state.sessions.info(session)
    }
}

#[utoipa::path(post, path = "/api/session", tag = "session", request_body = SignIn,
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
/// `POST /api/session` with `{"token": ADMIN_TOKEN}`: signs in; sets the session cookies.
pub async fn sign_in(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(request): ApiJson<SignIn>,
) -> Result<impl IntoResponse, ApiError> {
    let actor = Check::admin(&state, "that is not the admin token")
        .run(&state, &parts, Some(request.token.trim()))
        .await?;
    let (value, session) = state
        .sessions
        .issue(unix_now())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    audit(&state, &actor, "sign_in").await;
    let cookies = set_cookie_headers(&state.sessions, Some((&value, &session)));
    Ok((AppendHeaders(cookies), Json(info(&state, Some(&session)))))
}

#[utoipa::path(delete, path = "/api/session", tag = "session",
    responses((status = 200, body = MessageBody)))]
/// `DELETE /api/session`: signs out (revokes the session, clears the cookies). Harmless without
/// a session; needs the CSRF token with one, so that another site cannot sign you out.
pub async fn sign_out(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<impl IntoResponse, ApiError> {
    if let Some((session, actor)) = session_from_cookie(&state, &parts).await? {
        let now = unix_now();
        // Stored first: a sign-out that could not be kept across a restart fails (503) and may
        // be retried, rather than seeming to work.
        state
            .store
            .revoke_session(session.id(), session.expires(), now)
            .await?;
        // Refused here from the next request on; the relay and other instances hear of it
        // through the change log.
        state.sessions.revoke(&session, now);
        audit(&state, &actor, "sign_out").await;
    }
    Ok((
        AppendHeaders(set_cookie_headers(&state.sessions, None)),
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(MessageBody::new("Signed out")),
    ))
}

async fn audit(state: &AppState, actor: &Actor, action: &str) {
    let entry = NewAuditEntry {
        action,
        topic_name: None,
        outcome: AuditOutcome::Ok,
        detail: None,
    };
    if let Err(e) = state.store.record(actor, entry).await {
        tracing::warn!(error = %e, action, "could not audit a session change");
    }
    tracing::info!(
        action,
        remote_addr = actor.remote_addr.as_deref().unwrap_or("-"),
        "admin session"
    );
}

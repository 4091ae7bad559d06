//! `GET /api/stream`: the WebSocket upgrade. Checks the origin (browsers on other sites may not
//! open sockets here) and who the client is (extractors), takes a connection slot, then hands
//! the socket to [`crate::relay::serve`].

use super::state::AppState;
use super::{
    auth::{bearer_token, remote_addr},
    error::ApiError,
    extract::ApiQuery,
};
use crate::listener::{ConnectionActivity, ConnectionSlot};
use crate::relay::{serve, AdmissionRefusal, Peer};
use app::domain::UserId;
use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        FromRequestParts, Request, State,
    },
    http::{header, request::Parts, StatusCode},
    response::Response,
};
use serde::Deserialize;

/// Largest control frame a client may send.
const MAX_FRAME_BYTES: usize = 16 * 1024;

/// `?user_id=` — who the client is; with `follow` (the default) the socket also streams that
/// user's subscribed topics by itself, with `follow=false` only what it asks for.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    user_id: Option<String>,
    follow: Option<bool>,
}

/// The upgrade handler: the origin check and who the client is ([`Peer`]) are its extractors;
/// it takes a connection slot and upgrades.
pub async fn stream(
    State(state): State<AppState>,
    _origin: SameOrigin,
    peer: Peer,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let upgrade =
        <WebSocketUpgrade as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &state,
        )
        .await
        .map_err(upgrade_error)?;
    let addr = remote_addr(&parts)
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .map(|a| a.ip());
    let slot = state.relay.admit(addr).map_err(|refusal| match refusal {
        AdmissionRefusal::Full => ApiError::Limit {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "too_many_connections",
            message: "the relay is at its connection limit; try again later",
        },
        AdmissionRefusal::TooManyFromAddress => ApiError::Limit {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: "too_many_connections_from_address",
            message: "this address has the most sockets it may open; close one first",
        },
    })?;
    let (relay, store) = (state.relay.clone(), state.store.clone());
    // The socket keeps its connection's place among those served at once (absent when the
    // router is served by something other than the listener, as in some tests).
    let connection = parts.extensions.get::<ConnectionSlot>().cloned();
    // Over HTTP/2 the connection carries the socket on after the upgrade: it is not idle.
    let activity = parts.extensions.get::<ConnectionActivity>().cloned();
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        // Clients send small control frames; tungstenite's 128 KB default read buffer per
        // socket would dominate the memory of idle connections.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            let _connection = (connection, activity.map(|a| a.hold()));
            serve(socket, relay, store, peer, slot).await
        }))
}

/// Who a stream socket belongs to, from its query (`?user_id=`, `follow`), its credentials
/// (the admin token, a personal access token) and its dashboard session. Browsers cannot set
/// headers on a WebSocket: a signed-in dashboard proves itself with its session cookie (the
/// origin check, [`SameOrigin`], stands in for CSRF protection on this GET). A wrong token is
/// refused (and counted against the address) like on any admin route, so the upgrade is no way
/// around the limit on guesses. In `oidc` mode a person streams as themself and the socket
/// ends with their sign-in.
impl FromRequestParts<AppState> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Listen for sign-outs and revocations before checking any sign-in: one that lands in
        // between is heard.
        let revocations = state.relay.revoked_sessions();
        let ApiQuery(query) = ApiQuery::<StreamQuery>::from_request_parts(parts, state).await?;
        let named = match query.user_id.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(UserId::parse(raw, "user_id")?.to_string()),
        };
        let oidc = state.auth == crate::oidc::AuthMode::Oidc;
        let mut by_personal_token = None;
        let by_admin_token = match bearer_token(&parts.headers) {
            None => false,
            // `oidc` mode: a personal access token (the CLI's) proves its owner, as a session
            // does.
            Some(token) if oidc && token.starts_with(crate::secrets::TOKEN_PREFIX) => {
                by_personal_token = Some(super::auth::personal_token(state, parts, token).await?);
                false
            }
            Some(token) => {
                let help =
                    "that is not the admin token; connect without it to stream your own topics";
                super::auth::Check::admin(state, help)
                    .run(state, parts, Some(token))
                    .await?;
                true
            }
        };
        let session = match by_admin_token || by_personal_token.is_some() {
            true => None,
            false => super::auth::session_of(&state.sessions, &parts.headers),
        };
        // Only an admin's session makes the socket an admin's (a person's is theirs alone).
        let admin_session = session
            .as_ref()
            .filter(|session| session.admin())
            .map(|session| session.id().to_owned());
        let admin = by_admin_token
            || admin_session.is_some()
            || by_personal_token.as_ref().is_some_and(|v| v.admin);
        // What the socket rides on: a session's id, or a personal access token's key. In
        // `oidc` mode its sign-out or revocation ends the socket (an admin's too, instead of
        // carrying on without the admin right; the admin token's is nobody's).
        let sign_in = match (&session, &by_personal_token) {
            (Some(session), _) => Some(session.id().to_owned()),
            (None, Some(token)) => token.token_id.map(crate::relay::revoked_token_key),
            (None, None) => None,
        };
        // The person signed in (`oidc` mode), through a session or a personal token.
        let own = match (&session, &by_personal_token) {
            (Some(session), _) => session.user(),
            (None, Some(token)) => token.user.as_deref(),
            (None, None) => None,
        }
        .filter(|_| oidc)
        .map(str::to_owned);
        let user_id = match oidc && !admin {
            // A person streams as themself (naming nobody, or themself).
            true => {
                let Some(own) = own else {
                    return Err(ApiError::Unauthenticated(
                        "sign in first: streams are for people signed in through the identity provider",
                    ));
                };
                if named.as_deref().is_some_and(|named| *named != own) {
                    return Err(ApiError::Forbidden(
                        "you stream as yourself: only admins stream as someone else",
                    ));
                }
                Some(own)
            }
            // An admin streams as whoever they name, and as themself when they name nobody
            // (the admin token is nobody: it streams as no user unless it names one).
            false => named.or(own),
        };
        // When what the socket rides on expires: a session, or a personal access token.
        let ends_at = match (&session, &by_personal_token) {
            (Some(session), _) => Some(session.expires()),
            (None, Some(token)) => token.token_expires_at,
            (None, None) => None,
        };
        // Who the socket's reader is, for the rules of who may read what.
        let viewer = match (&session, &by_personal_token) {
            (_, Some(token)) => token.viewer(),
            (Some(session), None) => match session.user() {
                Some(user) if oidc => crate::access::Viewer::Person {
                    user: user.to_owned(),
                    teams: state.store.teams_of(user).await?,
                    admin: session.admin(),
                },
                _ if session.admin() => crate::access::Viewer::AdminToken,
                _ => crate::access::Viewer::Anyone,
            },
            (None, None) if by_admin_token => crate::access::Viewer::AdminToken,
            (None, None) => crate::access::Viewer::Anyone,
        };
        Ok(Peer {
            viewer,
            user_id,
            follow: query.follow.unwrap_or(true),
            admin,
            admin_session,
            person_session: sign_in.filter(|_| oidc),
            ends_at,
            read_only: by_personal_token.as_ref().is_some_and(|v| v.read_only),
            revocations,
        })
    }
}

/// A browser's socket comes from this server's own pages or an allowed origin (see
/// [`check_origin`]).
pub struct SameOrigin;

impl FromRequestParts<AppState> for SameOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        check_origin(parts, &state.relay.limits().allowed_origins)?;
        Ok(SameOrigin)
    }
}

fn upgrade_error(rejection: WebSocketUpgradeRejection) -> ApiError {
    ApiError::BadRequest {
        status: rejection.status(),
        error: "websocket_upgrade_required",
        message: format!("{}: connect with a WebSocket client", rejection.body_text()),
    }
}

/// A browser sends `Origin`; it must be this server (same host) or one of the allowed origins.
/// Clients that are not browsers send none and are let through.
fn check_origin(parts: &Parts, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let same_host = origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host);
    if same_host || allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            status: StatusCode::FORBIDDEN,
            error: "origin_not_allowed",
            message: format!(
                "origin {origin} may not open streams here (see STREAMHUB_ALLOWED_ORIGINS)"
            ),
        })
    }
}

//! Who is calling: the admin (bearer token, or the dashboard's session cookie of
//! [`crate::sessions`], with its CSRF token), the producer daemon (`X-Producer-Key`), or anyone.
//! The extractors check secrets in constant time and write every denied attempt to the audit log
//! (without the presented value, which may be a mistyped real secret).

use super::error::ApiError;
use super::state::AppState;
use crate::oidc::AuthMode;
use crate::secrets::Secret;
use crate::sessions::{Session, Sessions};
use crate::store::{Actor, AuditOutcome, NewAuditEntry};
use app::{access::TeamName, domain::UserId};
use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts, HeaderMap},
};
use std::net::SocketAddr;

/// The header the producer daemon sends its secret in.
pub const PRODUCER_KEY_HEADER: &str = "x-producer-key";

/// The header a cookie-authorised mutating request repeats the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    crate::sessions::cookie(cookie_values(headers), name)
}

/// The session the request's cookie proves, if any.
pub fn session_of(sessions: &Sessions, headers: &HeaderMap) -> Option<Session> {
    sessions.from_cookie_headers(cookie_values(headers))
}

fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// The session a cookie-authorised request carries, with its audit actor: `Ok(None)` without
/// one, `Err` when it has one but a mutating request lacks the CSRF token.
pub async fn session_from_cookie(
    state: &AppState,
    parts: &Parts,
) -> Result<Option<(Session, Actor)>, ApiError> {
    let Some(session) = session_of(&state.sessions, &parts.headers) else {
        return Ok(None);
    };
    let actor = Actor::new(session.actor_name(), remote_addr(parts));
    if !parts.method.is_safe() {
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !state.sessions.csrf_matches(&session, presented) {
            deny(state, parts, actor, "missing or wrong CSRF token").await;
            return Err(ApiError::Forbidden(
                "a signed-in request that changes something must repeat the session's CSRF token in `X-CSRF-Token`",
            ));
        }
    }
    Ok(Some((session, actor)))
}

/// How a cookie-authorised request stands for an admin action: `Ok(None)` without a session,
/// `Err` when the session is not an admin's or a mutating request lacks the CSRF token.
pub async fn admin_from_cookie(state: &AppState, parts: &Parts) -> Result<Option<Actor>, ApiError> {
    let Some((session, actor)) = session_from_cookie(state, parts).await? else {
        return Ok(None);
    };
    if !session.admin() {
        deny(state, parts, actor, "signed in, not an admin").await;
        return Err(ApiError::Forbidden(
            "this action is an admin's: your identity provider does not make you one",
        ));
    }
    Ok(Some(actor))
}

/// The peer's IP address (what rate limits count by), when the server knows it.
pub(super) fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The peer address of a request (absent when the server runs without connect info, as in
/// router-level tests).
pub fn remote_addr(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.to_string())
}

/// A writer of topic requests, subscription changes and positions. In `open` mode anyone,
/// named by what they claim (a user id in the body) and their address; in `oidc` mode a
/// verified person (their session) or the admin token. Extracting it takes one of the address's
/// write tokens: past `STREAMHUB_WRITE_RATE` the request is refused with 429 before it is read.
pub struct Caller {
    /// Where the request came from, for the audit row.
    pub remote_addr: Option<String>,
    /// Who they proved to be (`oidc` mode only; `open` mode takes the claim).
    pub verified: Option<Verified>,
}

/// A caller the server verified (`oidc` mode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Their user id (none for the admin token, which is nobody in particular).
    pub user: Option<String>,
    pub admin: bool,
    /// Proven by a `read` personal access token: may change nothing.
    pub read_only: bool,
    /// The personal access token that proved it, if one did (its revocation ends its sockets).
    pub token_id: Option<i64>,
    /// When that token expires (seconds since the epoch), if it does: its sockets end then.
    pub token_expires_at: Option<i64>,
    /// The person's teams as of their latest sign-in (none for the admin token).
    pub teams: Vec<TeamName>,
}

/// A reader of people's data (subscriptions, lag): in `oidc` mode a verified person or the
/// admin token (else 401); in `open` mode anyone. Takes no write token.
pub struct Reader(pub Option<Verified>);

impl Reader {
    /// Whose data may be read, for a request that names `named` (or nobody): `open` mode and
    /// admins read whom they name (everyone's for nobody); others read their own, and naming
    /// someone else is refused with 403.
    pub fn whose(&self, named: Option<UserId>) -> Result<Option<UserId>, ApiError> {
        let Some(verified) = self.0.as_ref().filter(|v| !v.admin) else {
            return Ok(named);
        };
        let own = verified.user.as_deref().unwrap_or_default();
        match named {
            Some(user) if user.as_str() != own => Err(ApiError::Forbidden(
                "only admins read other people's subscriptions and positions",
            )),
            _ => Ok(Some(UserId::parse(own, "user_id")?)),
        }
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Reader(verified(state, parts).await?))
    }
}

/// What marks an audit actor's name as claimed by an unauthenticated caller: `user:ana`. Names
/// without it (`admin`, `producer`, `anonymous`, `reconciler`) are only ever written by the
/// server for callers it verified, so `{"user_id": "admin"}` cannot pass for the admin.
pub const CLAIMED_ACTOR_PREFIX: &str = "user:";

impl Verified {
    /// Who this is, for the rules of who may read what.
    pub fn viewer(&self) -> crate::access::Viewer {
        match &self.user {
            None => crate::access::Viewer::AdminToken,
            Some(user) => crate::access::Viewer::Person {
                user: user.clone(),
                teams: self.teams.clone(),
                admin: self.admin,
            },
        }
    }

    /// The name the audit log gives its actions: the person's user id, or `admin` for the admin
    /// token (as [`Session::actor_name`] names a session's).
    pub fn actor_name(&self) -> &str {
        self.user.as_deref().unwrap_or("admin")
    }
}

impl Caller {
    /// The audit actor for a caller who says they are `name` (unverified: recorded as a claim).
    pub fn as_actor(&self, name: &str) -> Actor {
        Actor::new(
            &format!("{CLAIMED_ACTOR_PREFIX}{name}"),
            self.remote_addr.clone(),
        )
    }

    /// The user a write is for, from the body's `field` (`named`), and the audit actor.
    ///
    /// - `open` mode: whoever `named` names, recorded as a claim.
    /// - `oidc` mode: the caller's own user (`named` may be empty, or their own id); an admin may
    ///   name anyone, recorded as acting on their behalf. Anyone else naming another is refused
    ///   with 403.
    pub fn acting_for(
        &self,
        named: &str,
        field: &'static str,
    ) -> Result<(UserId, Actor), ApiError> {
        let Some(verified) = &self.verified else {
            let user = UserId::parse(named, field)?;
            let actor = self.as_actor(user.as_str());
            return Ok((user, actor));
        };
        let own = verified.user.as_deref();
        let user = match (named.trim(), own) {
            ("", Some(own)) => UserId::parse(own, field)?,
            (named, _) => UserId::parse(named, field)?,
        };
        let mut actor = Actor::new(verified.actor_name(), self.remote_addr.clone());
        if own != Some(user.as_str()) {
            if !verified.admin {
                return Err(ApiError::Forbidden(
                    "you act for yourself: leave the user out or name yourself (only admins act for others)",
                ));
            }
            actor.on_behalf_of = Some(user.to_string());
        }
        Ok((user, actor))
    }

    /// The audit actor for what the caller does as themself: the person (or `admin`) the
    /// server verified, else an unverified caller recorded as `user:anyone`.
    pub fn actor(&self) -> Actor {
        match &self.verified {
            Some(verified) => Actor::new(verified.actor_name(), self.remote_addr.clone()),
            None => self.as_actor("anyone"),
        }
    }

    /// Who the caller is, for the rules of who may read what.
    pub fn viewer(&self) -> crate::access::Viewer {
        self.verified
            .as_ref()
            .map_or(crate::access::Viewer::Anyone, Verified::viewer)
    }

    /// Whether the caller may see everyone's data (`open` mode: everyone may, as the REST
    /// contract has it; `oidc` mode: admins).
    pub fn sees_everyone(&self) -> bool {
        self.verified.as_ref().is_none_or(|v| v.admin)
    }
}

/// The person a personal access token proves, for this request: 401 when it is unknown,
/// revoked or expired (counted against the address like a wrong secret), 403 when a `read`
/// token is used to change something.
pub(super) async fn personal_token(
    state: &AppState,
    parts: &Parts,
    token: &str,
) -> Result<Verified, ApiError> {
    let hash = crate::secrets::token_hash(token);
    let holder = state
        .store
        .token_holder(&hash, crate::sessions::unix_now())
        .await?;
    let Some(holder) = holder else {
        if let Some(ip) = client_ip(parts) {
            if let Err(retry_after) = state.limits.failed_secrets.take_or_pause(ip).await {
                return Err(ApiError::TooManyRequests {
                    what: "failed attempts at a secret",
                    retry_after,
                });
            }
        }
        let anonymous = Actor::new("anonymous", remote_addr(parts));
        deny(
            state,
            parts,
            anonymous,
            "unknown, revoked or expired personal access token",
        )
        .await;
        return Err(ApiError::Unauthenticated(
            "that token is unknown, revoked or expired: make a new one on the dashboard's Tokens page",
        ));
    };
    if holder.scope == app::wire::TokenScope::Read && !parts.method.is_safe() {
        return Err(ApiError::Forbidden("that token may only read"));
    }
    // The owner's teams as of now (their latest sign-in), not as of the token's making.
    let teams = state.store.teams_of(&holder.user_id).await?;
    Ok(Verified {
        teams,
        user: Some(holder.user_id),
        admin: holder.scope == app::wire::TokenScope::Admin,
        read_only: holder.scope == app::wire::TokenScope::Read,
        token_id: Some(holder.token_id),
        token_expires_at: holder.expires_at,
    })
}

/// Who a request proves to be in `oidc` mode: the admin token (bearer), a person's session (with
/// the CSRF token when it changes something), or 401 `unauthenticated`. `None` in `open` mode,
/// where nobody has to.
pub async fn verified(state: &AppState, parts: &Parts) -> Result<Option<Verified>, ApiError> {
    if state.auth == AuthMode::Open {
        return Ok(None);
    }
    if let Some(token) = bearer_token(&parts.headers) {
        if token.starts_with(crate::secrets::TOKEN_PREFIX) {
            return personal_token(state, parts, token).await.map(Some);
        }
        let help = "that is not the admin token (sign in on the dashboard instead)";
        Check::admin(state, help)
            .run(state, parts, Some(token))
            .await?;
        return Ok(Some(Verified {
            user: None,
            admin: true,
            read_only: false,
            token_id: None,
            token_expires_at: None,
            teams: Vec::new(),
        }));
    }
    match session_from_cookie(state, parts).await? {
        Some((session, _)) => Ok(Some(session_holder(state, &session).await?)),
        None => Err(ApiError::Unauthenticated(
            "sign in first: this server knows people through their identity provider",
        )),
    }
}

/// Who a session is, with the person's teams as of their latest sign-in.
pub(super) async fn session_holder(
    state: &AppState,
    session: &Session,
) -> Result<Verified, ApiError> {
    let user = session.user().map(str::to_owned);
    let teams = match &user {
        Some(user) => state.store.teams_of(user).await?,
        None => Vec::new(),
    };
    Ok(Verified {
        user,
        admin: session.admin(),
        read_only: false,
        token_id: None,
        token_expires_at: None,
        teams,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(ip) = client_ip(parts) {
            state
                .limits
                .writes
                .take_or_pause(ip)
                .await
                .map_err(|retry_after| ApiError::TooManyRequests {
                    what: "anonymous writes",
                    retry_after,
                })?;
        }
        Ok(Caller {
            remote_addr: remote_addr(parts),
            verified: verified(state, parts).await?,
        })
    }
}

/// Who is reading: the admin (a valid bearer token, or a signed-in dashboard) or anyone. Reads
/// that anyone may make but that show admins more (audit addresses, denied attempts) take it.
/// A bearer token that is not the admin's is refused and audited like [`Admin`]'s, so the
/// difference between the two answers cannot be used to guess the token.
pub struct Viewer {
    /// Whether the reader proved to be the admin.
    pub admin: bool,
    /// Who they are, for the rules of who may read what (private topics are hidden from
    /// everyone but their owners and admins).
    pub who: crate::access::Viewer,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let of = |verified: Verified| Viewer {
            admin: verified.admin,
            who: verified.viewer(),
        };
        if let Some(token) = bearer_token(&parts.headers) {
            if state.auth == AuthMode::Oidc && token.starts_with(crate::secrets::TOKEN_PREFIX) {
                return Ok(of(personal_token(state, parts, token).await?));
            }
            let help = "that is not the admin token; send none to read as anyone";
            Check::admin(state, help)
                .run(state, parts, Some(token))
                .await?;
            return Ok(Viewer {
                admin: true,
                who: crate::access::Viewer::AdminToken,
            });
        }
        match session_of(&state.sessions, &parts.headers) {
            Some(session) => Ok(of(session_holder(state, &session).await?)),
            None => Ok(Viewer {
                admin: false,
                who: crate::access::Viewer::Anyone,
            }),
        }
    }
}

/// Proof that the request carries the admin token, or comes from a signed-in dashboard (with the
/// CSRF token when it changes something).
pub struct Admin {
    /// The admin as the audit log names them, with their address.
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = bearer_token(&parts.headers);
        if presented.is_none() {
            if let Some(actor) = admin_from_cookie(state, parts).await? {
                return Ok(Admin { actor });
            }
        }
        let personal =
            |t: &&str| state.auth == AuthMode::Oidc && t.starts_with(crate::secrets::TOKEN_PREFIX);
        if let Some(token) = presented.filter(personal) {
            let verified = personal_token(state, parts, token).await?;
            let actor = Actor::new(verified.actor_name(), remote_addr(parts));
            if !verified.admin {
                deny(
                    state,
                    parts,
                    actor,
                    "a personal access token without the admin scope",
                )
                .await;
                return Err(ApiError::Forbidden(
                    "this action needs a token with the admin scope",
                ));
            }
            return Ok(Admin { actor });
        }
        let help = "this action needs the admin token: send `Authorization: Bearer <ADMIN_TOKEN>` or sign in on the dashboard";
        let actor = Check::admin(state, help)
            .run(state, parts, presented)
            .await?;
        Ok(Admin { actor })
    }
}

/// Proof that the request carries the producer secret.
pub struct Producer {
    /// The producer daemon as the audit log names it, with its address.
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Producer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(PRODUCER_KEY_HEADER)
            .and_then(|v| v.to_str().ok());
        let check = Check {
            role: "producer",
            secret: &state.secrets.producer_secret,
            what: "producer key",
            help: "this action needs the producer secret in the `X-Producer-Key` header",
        };
        Ok(Producer {
            actor: check.run(state, parts, presented).await?,
        })
    }
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// One secret check: the role it grants, the secret, and what to tell a caller without it.
pub(crate) struct Check<'a> {
    pub(super) role: &'static str,
    pub(super) secret: &'a Secret,
    pub(super) what: &'static str,
    pub(super) help: &'static str,
}

impl<'a> Check<'a> {
    /// The check of the admin token, refusing with `help`.
    pub(crate) fn admin(state: &'a AppState, help: &'static str) -> Self {
        Check {
            role: "admin",
            secret: &state.secrets.admin_token,
            what: "admin token",
            help,
        }
    }

    /// The caller as `role` if `presented` is the secret; else the attempt is audited and
    /// refused with 401.
    pub(crate) async fn run(
        &self,
        state: &AppState,
        parts: &Parts,
        presented: Option<&str>,
    ) -> Result<Actor, ApiError> {
        let remote_addr = remote_addr(parts);
        if presented.is_some_and(|p| self.secret.matches(p)) {
            return Ok(Actor::new(self.role, remote_addr));
        }
        // Failures are counted per address. Past the limit a wrong secret gets 429 and a missing
        // one a plain 401, neither with an audit row of its own, so a loop of bad (or no)
        // credentials cannot fill the store's writer. A right secret always passes (above): the
        // secrets are long enough that guessing is hopeless, and a limit on right ones would let
        // anyone behind the same address lock the admin out.
        let over_limit = match client_ip(parts) {
            Some(ip) => state.limits.failed_secrets.take_or_pause(ip).await.err(),
            None => None,
        };
        match (over_limit, presented) {
            (Some(retry_after), Some(_)) => {
                return Err(ApiError::TooManyRequests {
                    what: "failed attempts at a secret",
                    retry_after,
                })
            }
            (Some(_), None) => return Err(ApiError::Unauthorized(self.help)),
            (None, _) => {}
        }
        let why = match presented {
            Some(_) => format!("wrong {}", self.what),
            None => format!("missing {}", self.what),
        };
        let anonymous = Actor::new("anonymous", remote_addr);
        deny(state, parts, anonymous, &why).await;
        Err(ApiError::Unauthorized(self.help))
    }
}

/// Logs and audits a denied attempt. Failing to audit must not turn a 401 into a 5xx.
pub(super) async fn deny(state: &AppState, parts: &Parts, actor: Actor, why: &str) {
    let action = format!("{} {}", parts.method, parts.uri.path());
    tracing::warn!(%action, remote_addr = actor.remote_addr.as_deref().unwrap_or("-"), why, "request denied");
    if let Err(e) = state
        .store
        .record(
            &actor,
            NewAuditEntry {
                action: &action,
                topic_name: None,
                outcome: AuditOutcome::Denied,
                detail: Some(why),
            },
        )
        .await
    {
        tracing::warn!(error = %e, "could not audit a denied request");
    }
}

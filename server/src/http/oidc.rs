//! The browser's way through the identity provider (`STREAMHUB_AUTH=oidc`): `GET /auth/login`
//! sends it there with a fresh state, nonce and PKCE challenge (kept sealed in a short-lived
//! cookie), and `GET /auth/callback` checks what comes back, lets [`crate::oidc`] verify the
//! person, and starts their session. Failures land on the sign-in page with a reason.

use super::{auth::remote_addr, state::AppState};
use crate::{
    oidc::{OidcError, PendingLogin},
    sessions::{cookie, unix_now, Holder},
    store::{Actor, AuditOutcome, NewAuditEntry},
};
use axum::{
    extract::{Query, State},
    http::{header, request::Parts, HeaderValue, StatusCode},
    response::{AppendHeaders, Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The cookie a sign-in in progress travels in (sealed; `SameSite=Lax`, since the provider's
/// redirect back is a navigation from another site).
const LOGIN_COOKIE: &str = "streamhub_login";
/// Its name over HTTPS (see [`login_cookie_name`]).
const SECURE_LOGIN_COOKIE: &str = "__Host-streamhub_login";
/// What the sealed cookie is for (a sealed value for another purpose does not open).
const LOGIN_PURPOSE: &str = "oidc login v1";
/// How long someone may take at the provider.
const LOGIN_SECONDS: i64 = 600;

/// `?next=` of `/auth/login`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /auth/login[?next=/path]`: off to the provider.
pub async fn login(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    Query(query): Query<LoginQuery>,
) -> Response {
    let Some(oidc) = state.oidc.as_ref() else {
        return not_in_oidc_mode();
    };
    // Each start asks the provider (discovery, when stale): an allowance per address.
    let ip = super::auth::client_ip(&parts);
    if let Err(refused) = super::extract::take_sign_in(&state, ip, "sign-ins").await {
        return refused.into_response();
    }
    let next = local_path(query.next.as_deref());
    match oidc.begin(next).await {
        Ok((url, pending)) => {
            let sealed = state.sessions.seal(
                LOGIN_PURPOSE,
                &[
                    &pending.state,
                    &pending.nonce,
                    &pending.verifier,
                    &pending.next,
                ],
                unix_now() + LOGIN_SECONDS,
            );
            let cookie = login_cookie(&state, &sealed, LOGIN_SECONDS);
            ([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in could not start");
            back_to_sign_in("provider_unavailable")
        }
    }
}

/// The provider's answer: `code` and `state`, or `error`.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback?code=…&state=…`: the person's session, or the sign-in page with why not.
pub async fn callback(
    State(state): State<AppState>,
    parts: Parts,
    Query(answer): Query<CallbackQuery>,
) -> Response {
    let Some(oidc) = state.oidc.as_ref() else {
        return not_in_oidc_mode();
    };
    // Each callback exchanges a code at the provider: the sign-in allowance applies.
    let ip = super::auth::client_ip(&parts);
    if let Err(refused) = super::extract::take_sign_in(&state, ip, "sign-ins").await {
        return refused.into_response();
    }
    let pending = cookie(
        parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        login_cookie_name(&state),
    )
    .and_then(|sealed| state.sessions.unseal(LOGIN_PURPOSE, sealed, unix_now()))
    .and_then(|fields| match <[String; 4]>::try_from(fields) {
        Ok([state, nonce, verifier, next]) => Some(PendingLogin {
            state,
            nonce,
            verifier,
            next,
        }),
        Err(_) => None,
    });
    let failure = |reason: &'static str, detail: String| {
        let actor = Actor::new("anonymous", remote_addr(&parts));
        (actor, reason, detail)
    };
    let outcome = match (pending, answer) {
        (None, _) => Err(failure(
            "login_expired",
            "no sign-in in progress in this browser (expired, or started elsewhere)".into(),
        )),
        (Some(_), CallbackQuery { error: Some(e), .. }) => Err(failure(
            "provider_refused",
            format!("the provider said {e}"),
        )),
        (
            Some(pending),
            CallbackQuery {
                code: Some(code),
                state: Some(returned),
                ..
            },
        ) if bool::from(returned.as_bytes().ct_eq(pending.state.as_bytes())) => {
            match oidc.finish(code, &pending).await {
                Ok(person) => match person.bind(&state.store).await {
                    Ok(()) => Ok((person, pending.next)),
                    Err(e @ OidcError::NameTaken { .. }) => {
                        Err(failure("name_taken", e.to_string()))
                    }
                    Err(e) => Err(failure("server_error", e.to_string())),
                },
                Err(e) => Err(failure("not_verified", e.to_string())),
            }
        }
        (Some(_), _) => Err(failure(
            "state_mismatch",
            "the answer does not belong to this browser's sign-in".into(),
        )),
    };
    let (person, next) = match outcome {
        Ok(signed_in) => signed_in,
        Err((actor, reason, detail)) => {
            tracing::warn!(reason, %detail, "sign-in refused");
            // Not audited for a callback with no sign-in behind it (anyone can send one).
            let audited = (reason != "login_expired").then_some(detail.as_str());
            refused_sign_in(&state, &parts, &actor, audited).await;
            return back_to_sign_in(reason);
        }
    };
    let holder = Holder::Person {
        user: person.user.clone(),
        admin: person.admin,
    };
    let (value, session) = match state.sessions.issue_as(holder, unix_now()) {
        Ok(issued) => issued,
        Err(e) => {
            tracing::error!(error = %e, "no session could be issued");
            return back_to_sign_in("server_error");
        }
    };
    let actor = Actor::new(&person.user, remote_addr(&parts));
    let role = if person.admin { "admin" } else { "user" };
    audit(&state, &actor, "sign_in", AuditOutcome::Ok, Some(role)).await;
    tracing::info!(user = %person.user, admin = person.admin, "signed in through the identity provider");
    let [session_cookie, csrf_cookie] = state.sessions.set_cookies(Some((&value, &session)));
    // The dashboard acts for the user its "you are" cookie names: the person, from now on.
    let user_cookie = format!(
        "{}={}; Path=/; Max-Age=31536000; SameSite=Lax{}",
        app::wire::USER_COOKIE,
        app::api::encode(&person.user),
        state.sessions.secure_attribute()
    );
    // A page, not a redirect: the session cookie is `SameSite=Strict`, and a redirect chain that
    // began at the provider counts as cross-site, so the next page would arrive without it. The
    // page's own navigation is same-site.
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed in</title>\
         <meta http-equiv=\"refresh\" content=\"0;url={href}\"></head><body>\
         <p>Signed in as {user}. <a href=\"{href}\">Continue</a></p></body></html>",
        href = html_escape(&next),
        user = html_escape(&person.user),
    );
    (
        StatusCode::OK,
        // Appended: an array of headers would keep only the last `Set-Cookie`.
        AppendHeaders([
            (header::SET_COOKIE, session_cookie),
            (header::SET_COOKIE, csrf_cookie),
            (header::SET_COOKIE, user_cookie),
            (header::SET_COOKIE, login_cookie(&state, "", 0)),
        ]),
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(page),
    )
        .into_response()
}

/// The login cookie's name: over HTTPS prefixed `__Host-` (so a neighbouring subdomain cannot
/// plant a pending sign-in of its own: login CSRF), which needs it to be for the whole site.
fn login_cookie_name(state: &AppState) -> &'static str {
    match state.sessions.secure_attribute().is_empty() {
        true => LOGIN_COOKIE,
        false => SECURE_LOGIN_COOKIE,
    }
}

/// The login cookie with `value`, kept `max_age` seconds (0 clears it).
fn login_cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = state.sessions.secure_attribute();
    let (name, path) = match secure.is_empty() {
        true => (LOGIN_COOKIE, "/auth"),
        false => (SECURE_LOGIN_COOKIE, "/"),
    };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// `next` if it is a path of this site, else `/`, so that a crafted link cannot send people
/// elsewhere: no `//` or `\` (another host), and no whitespace or control character anywhere
/// (browsers drop tabs and newlines from URLs, which would turn `/<tab>/evil` into `//evil`).
fn local_path(next: Option<&str>) -> String {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(|c| c.is_control() || c.is_whitespace())
    })
    .map_or_else(|| "/".to_owned(), str::to_owned)
}

/// The sign-in page, saying why the sign-in did not happen.
fn back_to_sign_in(reason: &str) -> Response {
    Redirect::to(&format!("/signin?error={reason}")).into_response()
}

/// What `/auth/*` answers when people name themselves (`STREAMHUB_AUTH=open`).
fn not_in_oidc_mode() -> Response {
    oidc_mode_off().into_response()
}

/// The refusal of `/auth/*` when people name themselves (`STREAMHUB_AUTH=open`).
pub(super) fn oidc_mode_off() -> super::error::ApiError {
    super::error::ApiError::not_found(
        "sign-in through an identity provider is off here (STREAMHUB_AUTH=open)",
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Counts a refused sign-in against the address's allowance of failed attempts (as wrong
/// secrets are) and, within it, audits it with `detail` cut short (`None`: counted only), so
/// that a loop of refusals cannot fill the store's writer.
pub(super) async fn refused_sign_in(
    state: &AppState,
    parts: &Parts,
    actor: &Actor,
    detail: Option<&str>,
) {
    let counted =
        super::auth::client_ip(parts).is_none_or(|ip| state.limits.failed_secrets.take(ip).is_ok());
    if let (true, Some(detail)) = (counted, detail) {
        let detail: String = detail.chars().take(300).collect();
        audit(state, actor, "sign_in", AuditOutcome::Denied, Some(&detail)).await;
    }
}

/// Records a sign-in's `outcome` (a failure to record is logged, never the caller's problem).
pub(super) async fn audit(
    state: &AppState,
    actor: &Actor,
    action: &str,
    outcome: AuditOutcome,
    detail: Option<&str>,
) {
    let entry = NewAuditEntry {
        action,
        topic_name: None,
        outcome,
        detail,
    };
    if let Err(e) = state.store.record(actor, entry).await {
        tracing::warn!(error = %e, action, "could not audit a sign-in");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path(Some("/topics?x=1")), "/topics?x=1");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(Some("/\t/evil.example")), "/");
        assert_eq!(local_path(Some("/\n/evil.example")), "/");
        assert_eq!(local_path(Some("/ /evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}

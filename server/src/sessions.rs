//! Admin sessions for the dashboard: the admin token, typed once, becomes a signed session
//! cookie so that the browser never keeps the token itself. This module issues, verifies and
//! revokes them and writes their cookies; it knows nothing of axum (the sign-in handlers and the
//! request extractor are in `http::session`).
//!
//! - The session cookie (`streamhub_session`) is `HttpOnly; SameSite=Strict`, holds a random id
//!   and an expiry, and is signed with HMAC-SHA256 under a key derived from the admin token:
//!   rotating the token signs everyone out, and a server restart does not.
//! - Mutating requests authorised by the cookie must also carry `X-CSRF-Token`, whose value is a
//!   second MAC of the session id. The page reads it from the `streamhub_csrf` cookie (readable
//!   by scripts of this origin only) or from the sign-in answer; another site can neither read
//!   it nor make the browser send the session cookie (`SameSite=Strict`).
//! - Signing out revokes the id on the server until it would have expired anyway.

use crate::secrets::{hex, Secret, SecretError};
use app::wire::SessionInfo;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The HttpOnly cookie that proves a signed-in admin.
pub const SESSION_COOKIE: &str = "streamhub_session";
pub use app::wire::CSRF_COOKIE;

type HmacSha256 = Hmac<Sha256>;

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    id: String,
    /// Seconds since the Unix epoch.
    expires: i64,
}

impl Session {
    /// Its random id (what a revocation names; not a secret on its own: the cookie's MAC is).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When it expires, in seconds since the Unix epoch.
    pub fn expires(&self) -> i64 {
        self.expires
    }
}

/// Issues, verifies and revokes admin sessions.
pub struct Sessions {
    key: [u8; 32],
    ttl: Duration,
    secure_cookies: bool,
    /// Signed-out ids → their expiry, forgotten once expired.
    revoked: Mutex<HashMap<String, i64>>,
}

impl Sessions {
    /// Sessions keyed on the admin token, lasting `ttl`; `secure_cookies` adds `Secure` (serve
    /// over HTTPS, directly or behind a proxy, to use it).
    pub fn new(admin_token: &Secret, ttl: Duration, secure_cookies: bool) -> Self {
        let mut mac = new_mac(admin_token.expose().as_bytes());
        mac.update(b"streamhub session key v1");
        Self {
            key: mac.finalize().into_bytes().into(),
            ttl,
            secure_cookies,
            revoked: Mutex::default(),
        }
    }

    fn sign(&self, parts: &[&str]) -> HmacSha256 {
        let mut mac = new_mac(&self.key);
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"\0");
        }
        mac
    }

    /// A fresh session starting at `now` (seconds since the epoch): the cookie value and the
    /// session. Fails only when the OS has no randomness to give.
    pub fn issue(&self, now: i64) -> Result<(String, Session), SecretError> {
        let id = Secret::generate()?
            .expose()
            .get(..32)
            .unwrap_or_default()
            .to_owned();
        let expires = now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let expires_text = expires.to_string();
        let mac = hex(&self
            .sign(&["session", &id, &expires_text])
            .finalize()
            .into_bytes());
        Ok((format!("{id}.{expires}.{mac}"), Session { id, expires }))
    }

    /// The session a cookie value proves at `now`, if it is well signed, unexpired and not
    /// revoked.
    pub fn verify(&self, cookie: &str, now: i64) -> Option<Session> {
        let mut fields = cookie.split('.');
        let (id, expires_text, mac) = (fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() {
            return None;
        }
        let expires: i64 = expires_text.parse().ok()?;
        let mac = unhex(mac)?;
        // `verify_slice` compares in constant time.
        self.sign(&["session", id, expires_text])
            .verify_slice(&mac)
            .ok()?;
        if expires <= now || self.is_revoked(id) {
            return None;
        }
        Some(Session {
            id: id.to_owned(),
            expires,
        })
    }

    /// The CSRF token of a session.
    pub fn csrf_token(&self, session: &Session) -> String {
        hex(&self.sign(&["csrf", &session.id]).finalize().into_bytes())
    }

    /// Whether `presented` is the session's CSRF token (constant time).
    pub fn csrf_matches(&self, session: &Session, presented: &str) -> bool {
        unhex(presented)
            .is_some_and(|mac| self.sign(&["csrf", &session.id]).verify_slice(&mac).is_ok())
    }

    /// Ends a session before its expiry (the caller also stores it: see [`Self::restore`]).
    pub fn revoke(&self, session: &Session, now: i64) {
        self.restore([(session.id.clone(), session.expires)], now);
    }

    /// Takes back revocations kept in the store (at start-up, so that a signed-out cookie stays
    /// refused after a restart), forgetting those expired before `now`.
    pub fn restore(&self, revocations: impl IntoIterator<Item = (String, i64)>, now: i64) {
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.retain(|_, expires| *expires > now);
        revoked.extend(revocations);
    }

    fn is_revoked(&self, id: &str) -> bool {
        self.revoked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }

    /// The session proved by a request's `Cookie` header values, if any.
    pub fn from_cookie_headers<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a str>,
    ) -> Option<Session> {
        self.verify(cookie(cookie_headers, SESSION_COOKIE)?, unix_now())
    }

    /// The two `Set-Cookie` values that start (`Some`) or end (`None`) a session.
    pub fn set_cookies(&self, session: Option<(&str, &Session)>) -> [String; 2] {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let (value, csrf, max_age) = match session {
            Some((value, s)) => (
                value.to_owned(),
                self.csrf_token(s),
                self.ttl.as_secs().to_string(),
            ),
            None => (String::new(), String::new(), "0".to_owned()),
        };
        [
            format!("{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"),
            format!("{CSRF_COOKIE}={csrf}; Path=/; Max-Age={max_age}; SameSite=Strict{secure}"),
        ]
    }

    /// What `GET /api/session` tells the page about a (missing) session.
    pub fn info(&self, session: Option<&Session>) -> SessionInfo {
        SessionInfo {
            admin: session.is_some(),
            expires_at: session.and_then(|s| {
                chrono::DateTime::from_timestamp(s.expires, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }),
            csrf_token: session.map(|s| self.csrf_token(s)),
        }
    }
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The value of cookie `name` among a request's `Cookie` header values.
pub fn cookie<'a>(
    cookie_headers: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<&'a str> {
    cookie_headers
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(&Secret::new("admin-token"), Duration::from_secs(60), false)
    }

    #[test]
    fn issued_sessions_verify_until_they_expire() {
        let s = sessions();
        let (cookie, session) = s.issue(1_000).unwrap();
        assert_eq!(s.verify(&cookie, 1_000), Some(session.clone()));
        assert_eq!(s.verify(&cookie, 1_059), Some(session));
        assert_eq!(s.verify(&cookie, 1_060), None, "expired");
    }

    #[test]
    fn tampered_or_foreign_cookies_do_not_verify() {
        let s = sessions();
        let (cookie, _) = s.issue(1_000).unwrap();
        let (id, rest) = cookie.split_once('.').unwrap();
        let (_, mac) = rest.split_once('.').unwrap();
        // A later expiry with the old signature.
        assert_eq!(s.verify(&format!("{id}.999999.{mac}"), 1_000), None);
        assert_eq!(s.verify("garbage", 1_000), None);
        assert_eq!(s.verify(&format!("{cookie}.x"), 1_000), None);
        // Signed under another admin token.
        let other = Sessions::new(&Secret::new("other"), Duration::from_secs(60), false);
        assert_eq!(other.verify(&cookie, 1_000), None);
    }

    #[test]
    fn revoked_sessions_stop_verifying_and_csrf_tokens_are_per_session() {
        let s = sessions();
        let (a_cookie, a) = s.issue(1_000).unwrap();
        let (_, b) = s.issue(1_000).unwrap();
        assert!(s.csrf_matches(&a, &s.csrf_token(&a)));
        assert!(!s.csrf_matches(&a, &s.csrf_token(&b)));
        assert!(!s.csrf_matches(&a, ""));
        assert!(!s.csrf_matches(&a, "zz"));
        s.revoke(&a, 1_000);
        assert_eq!(s.verify(&a_cookie, 1_001), None);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let headers = ["a=1; streamhub_session=x.y.z", "b=2"];
        assert_eq!(cookie(headers, SESSION_COOKIE), Some("x.y.z"));
        assert_eq!(cookie(headers, "b"), Some("2"));
        assert_eq!(cookie(headers, "c"), None);
    }
}

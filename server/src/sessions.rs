//! Admin sessions for the dashboard: the admin token, typed once, becomes a signed session
//! cookie so that the browser never keeps the token itself. This module issues, verifies and
//! revokes them and writes their cookies; it knows nothing of axum (the sign-in handlers and the
//! request extractor are in `http::session`).
//!
//! - The session cookie (`streamhub_session`) is `HttpOnly; SameSite=Strict`, holds a random id
//!   and an expiry, and is signed with HMAC-SHA256 under a session key of its own (generated
//!   once and shared by the deployment's instances through the database, or configured): the
//!   admin token cannot mint anyone's session. A session opened with the admin token is also
//!   bound to that token, so rotating it signs those sessions out; a restart does not. An
//!   expiry further out than a session lasts is refused, however it is signed.
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

/// How far instances' clocks may disagree when one checks a session another issued.
const CLOCK_SLACK_SECS: i64 = 300;

/// The HttpOnly cookie that proves a signed-in admin (over plain HTTP).
pub const SESSION_COOKIE: &str = "streamhub_session";
/// Its name over HTTPS: the `__Host-` prefix makes browsers refuse it unless it is `Secure`, set
/// by this host itself (no `Domain`) for the whole site, so a neighbouring subdomain cannot plant
/// a session of its choosing.
pub const SECURE_SESSION_COOKIE: &str = "__Host-streamhub_session";
pub use app::wire::CSRF_COOKIE;

type HmacSha256 = Hmac<Sha256>;

/// Who a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Whoever typed the admin token: the admin of `open` mode, the break-glass admin of `oidc`.
    AdminToken,
    /// A person the identity provider vouched for (`oidc` mode).
    Person { user: String, admin: bool },
}

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    id: String,
    /// Seconds since the Unix epoch.
    expires: i64,
    holder: Holder,
}

impl Session {
    /// Who it is.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Whether it may act as an admin.
    pub fn admin(&self) -> bool {
        match &self.holder {
            Holder::AdminToken => true,
            Holder::Person { admin, .. } => *admin,
        }
    }

    /// The person's user id (none for the admin token's session).
    pub fn user(&self) -> Option<&str> {
        match &self.holder {
            Holder::AdminToken => None,
            Holder::Person { user, .. } => Some(user),
        }
    }

    /// The name the audit log gives its actions: the person's user id, or `admin`.
    pub fn actor_name(&self) -> &str {
        self.user().unwrap_or("admin")
    }

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
    /// What binds an admin-token session to the token it was opened with.
    admin_token_mark: String,
    ttl: Duration,
    secure_cookies: bool,
    /// Signed-out ids → their expiry, forgotten once expired.
    revoked: Mutex<HashMap<String, i64>>,
}

impl Sessions {
    /// Sessions signed with `session_key`, lasting `ttl`; those opened with the admin token are
    /// bound to `admin_token`. `secure_cookies` adds `Secure` (serve over HTTPS, directly or
    /// behind a proxy, to use it).
    pub fn new(
        session_key: &Secret,
        admin_token: &Secret,
        ttl: Duration,
        secure_cookies: bool,
    ) -> Self {
        let mut mac = new_mac(session_key.expose().as_bytes());
        mac.update(b"streamhub session key v2");
        let mut mark = new_mac(admin_token.expose().as_bytes());
        mark.update(b"streamhub admin token sessions");
        Self {
            key: mac.finalize().into_bytes().into(),
            admin_token_mark: hex(&mark.finalize().into_bytes()),
            ttl,
            secure_cookies,
            revoked: Mutex::default(),
        }
    }

    /// The session cookie's name: prefixed `__Host-` when served over HTTPS.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// What ends every cookie the server sets: `; Secure` when served over HTTPS, else nothing.
    pub fn secure_attribute(&self) -> &'static str {
        if self.secure_cookies {
            "; Secure"
        } else {
            ""
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
        self.issue_as(Holder::AdminToken, now)
    }

    /// A new session for `holder`, starting `now`: the cookie value and the session.
    pub fn issue_as(&self, holder: Holder, now: i64) -> Result<(String, Session), SecretError> {
        let id = Secret::generate()?
            .expose()
            .get(..32)
            .unwrap_or_default()
            .to_owned();
        let expires = now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let expires_text = expires.to_string();
        let mut fields = vec![id.clone(), expires_text];
        if let Holder::Person { user, admin } = &holder {
            fields.push(hex(user.as_bytes()));
            fields.push(if *admin { "a" } else { "u" }.to_owned());
        }
        let mac = self.session_mac(&fields);
        fields.push(mac);
        let session = Session {
            id,
            expires,
            holder,
        };
        Ok((fields.join("."), session))
    }

    /// The MAC over a session cookie's fields (and, for the admin token's, the token's mark).
    fn session_mac(&self, fields: &[String]) -> String {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        hex(&self.session_signature(&fields).finalize().into_bytes())
    }

    fn session_signature(&self, fields: &[&str]) -> HmacSha256 {
        let mut parts = vec!["session"];
        parts.extend(fields.iter().copied());
        if fields.len() == 2 {
            parts.push(&self.admin_token_mark);
        }
        self.sign(&parts)
    }

    /// The session `cookie` proves at `now`: signed by this server, not expired, not revoked.
    pub fn verify(&self, cookie: &str, now: i64) -> Option<Session> {
        let mut fields: Vec<&str> = cookie.split('.').collect();
        let mac = unhex(fields.pop()?)?;
        let holder = match fields[..] {
            [_, _] => Holder::AdminToken,
            [_, _, user, role] => Holder::Person {
                user: String::from_utf8(unhex(user)?).ok()?,
                admin: match role {
                    "a" => true,
                    "u" => false,
                    _ => return None,
                },
            },
            _ => return None,
        };
        self.session_signature(&fields).verify_slice(&mac).ok()?;
        let (id, expires) = (fields[0], fields[1].parse::<i64>().ok()?);
        // Issued at the latest now (give or take instances' clocks): an expiry further out
        // than a session lasts was not ours.
        let longest = now
            .saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX))
            .saturating_add(CLOCK_SLACK_SECS);
        if expires <= now || expires > longest || self.is_revoked(id) {
            return None;
        }
        Some(Session {
            id: id.to_owned(),
            expires,
            holder,
        })
    }

    /// `fields` sealed for `purpose` until `expires`: readable and checkable only by this server
    /// (what a sign-in carries through the identity provider in a cookie).
    pub fn seal(&self, purpose: &str, fields: &[&str], expires: i64) -> String {
        let mut sealed: Vec<String> = fields.iter().map(|f| hex(f.as_bytes())).collect();
        sealed.push(expires.to_string());
        let mut parts = vec![purpose];
        parts.extend(sealed.iter().map(String::as_str));
        sealed.push(hex(&self.sign(&parts).finalize().into_bytes()));
        sealed.join(".")
    }

    /// The fields [`Sessions::seal`] sealed for `purpose`, if `sealed` is intact and not expired.
    pub fn unseal(&self, purpose: &str, sealed: &str, now: i64) -> Option<Vec<String>> {
        let mut fields: Vec<&str> = sealed.split('.').collect();
        let mac = unhex(fields.pop()?)?;
        let mut parts = vec![purpose];
        parts.extend(fields.iter().copied());
        self.sign(&parts).verify_slice(&mac).ok()?;
        let expires: i64 = fields.pop()?.parse().ok()?;
        if expires <= now {
            return None;
        }
        fields
            .into_iter()
            .map(|f| String::from_utf8(unhex(f)?).ok())
            .collect()
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
        self.verify(cookie(cookie_headers, self.session_cookie())?, unix_now())
    }

    /// The two `Set-Cookie` values that start (`Some`) or end (`None`) a session.
    pub fn set_cookies(&self, session: Option<(&str, &Session)>) -> [String; 2] {
        let secure = self.secure_attribute();
        let (value, csrf, max_age) = match session {
            Some((value, s)) => (
                value.to_owned(),
                self.csrf_token(s),
                self.ttl.as_secs().to_string(),
            ),
            None => (String::new(), String::new(), "0".to_owned()),
        };
        [
            format!(
                "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
                self.session_cookie()
            ),
            format!("{CSRF_COOKIE}={csrf}; Path=/; Max-Age={max_age}; SameSite=Strict{secure}"),
        ]
    }

    /// What `GET /api/session` tells the page about a (missing) session.
    pub fn info(&self, session: Option<&Session>) -> SessionInfo {
        SessionInfo {
            admin: session.is_some_and(Session::admin),
            user: session.and_then(|s| s.user().map(str::to_owned)),
            auth: "open".to_owned(),
            provider: None,
            expires_at: session.and_then(|s| {
                chrono::DateTime::from_timestamp(s.expires, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }),
            csrf_token: session.map(|s| self.csrf_token(s)),
            teams: Vec::new(),
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
        Sessions::new(
            &Secret::new("session-key"),
            &Secret::new("admin-token"),
            Duration::from_secs(60),
            false,
        )
    }

    #[test]
    fn the_admin_token_cannot_mint_sessions_and_its_own_end_when_it_changes() {
        let s = sessions();
        // What a holder of the admin token could sign if the key were derived from it.
        let forger = Sessions::new(
            &Secret::new("admin-token"),
            &Secret::new("admin-token"),
            Duration::from_secs(60),
            false,
        );
        let ana = Holder::Person {
            user: "ana".into(),
            admin: true,
        };
        let (forged, _) = forger.issue_as(ana, 1_000).unwrap();
        assert_eq!(s.verify(&forged, 1_001), None);
        // The admin token's session verifies under the same token only.
        let (cookie, _) = s.issue(1_000).unwrap();
        assert!(s.verify(&cookie, 1_001).is_some());
        let rotated = Sessions::new(
            &Secret::new("session-key"),
            &Secret::new("a-new-admin-token"),
            Duration::from_secs(60),
            false,
        );
        assert_eq!(rotated.verify(&cookie, 1_001), None);
        // A person's session does not depend on the admin token.
        let ben = Holder::Person {
            user: "ben".into(),
            admin: false,
        };
        let (cookie, _) = s.issue_as(ben, 1_000).unwrap();
        assert!(rotated.verify(&cookie, 1_001).is_some());
    }

    #[test]
    fn over_https_the_session_cookie_is_secure_and_host_only() {
        let s = Sessions::new(
            &Secret::new("session-key"),
            &Secret::new("admin-token"),
            Duration::from_secs(60),
            true,
        );
        let (value, session) = s.issue(unix_now()).unwrap();
        let [set, csrf] = s.set_cookies(Some((&value, &session)));
        assert!(set.starts_with("__Host-streamhub_session="), "{set}");
        assert!(set.contains("; Path=/;") && set.ends_with("; Secure") && !set.contains("Domain"));
        assert!(csrf.ends_with("; Secure"), "{csrf}");
        let header = format!("streamhub_session={value}; __Host-streamhub_session={value}");
        assert!(s.from_cookie_headers([header.as_str()]).is_some());
        // The plain name is not read over HTTPS: a cookie a subdomain planted proves nothing.
        let planted = format!("streamhub_session={value}");
        assert!(s.from_cookie_headers([planted.as_str()]).is_none());
    }

    #[test]
    fn an_expiry_further_out_than_a_session_lasts_is_refused() {
        let s = sessions();
        let (cookie, _) = s.issue(1_000).unwrap();
        // Verified long "before" it was issued, the expiry is further out than a session can
        // last (a few minutes' clock difference between instances is allowed).
        assert_eq!(s.verify(&cookie, 600), None);
        assert!(s.verify(&cookie, 900).is_some());
        assert!(s.verify(&cookie, 1_000).is_some());
    }

    #[test]
    fn a_persons_session_carries_who_and_whether_an_admin_and_cannot_be_edited() {
        let s = sessions();
        let ben = Holder::Person {
            user: "ben.o'neil".into(),
            admin: false,
        };
        let (cookie, session) = s.issue_as(ben.clone(), 1_000).unwrap();
        let verified = s.verify(&cookie, 1_001).unwrap();
        assert_eq!(verified, session);
        assert_eq!(verified.holder(), &ben);
        assert_eq!(
            (verified.user(), verified.admin()),
            (Some("ben.o'neil"), false)
        );
        // Promoting oneself (`u` → `a`) or renaming breaks the MAC.
        let mut fields: Vec<&str> = cookie.split('.').collect();
        fields[3] = "a";
        assert_eq!(s.verify(&fields.join("."), 1_001), None);
        let mut fields: Vec<&str> = cookie.split('.').collect();
        let ana = hex(b"ana");
        fields[2] = &ana;
        assert_eq!(s.verify(&fields.join("."), 1_001), None);
        // The admin token's session is an admin with no user.
        let (cookie, _) = s.issue(1_000).unwrap();
        let admin = s.verify(&cookie, 1_001).unwrap();
        assert_eq!(
            (admin.user(), admin.admin(), admin.actor_name()),
            (None, true, "admin")
        );
    }

    #[test]
    fn sealed_values_open_only_intact_unexpired_and_for_their_purpose() {
        let s = sessions();
        let sealed = s.seal("login", &["state.with.dots", "", "/next?a=b"], 2_000);
        assert_eq!(
            s.unseal("login", &sealed, 1_999),
            Some(vec![
                "state.with.dots".to_owned(),
                String::new(),
                "/next?a=b".to_owned()
            ])
        );
        assert_eq!(s.unseal("login", &sealed, 2_000), None, "expired");
        assert_eq!(s.unseal("other", &sealed, 1_000), None, "another purpose");
        let tampered = sealed.replacen('7', "8", 1);
        assert_ne!(tampered, sealed);
        assert_eq!(s.unseal("login", &tampered, 1_000), None);
        assert_eq!(s.unseal("login", "garbage", 1_000), None);
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
        // Signed under another session key.
        let other = Sessions::new(
            &Secret::new("other"),
            &Secret::new("admin-token"),
            Duration::from_secs(60),
            false,
        );
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

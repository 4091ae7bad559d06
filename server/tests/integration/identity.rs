//! `STREAMHUB_AUTH=oidc`: every write is a verified person's. The sessions here are
//! the server's own (issued by its `Sessions`, as its `/auth/callback` issues them after the
//! provider vouched for someone); the sign-in through a real provider is the browser suite's
//! (`end2end/tests/oidc.test.js`).

use crate::helpers::{spawn_app_with, Client, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use streamhub::{config::ServerConfig, oidc::AuthMode};

fn oidc_mode(config: &mut ServerConfig) {
    config.auth.mode = AuthMode::Oidc;
    // Discovered on the first sign-in only: nothing needs to answer here for these tests.
    config.auth.oidc_issuer = Some("http://127.0.0.1:9/".into());
    config.auth.oidc_client_id = Some("streamhub".into());
    config.auth.oidc_redirect_url = Some("http://127.0.0.1:9/auth/callback".into());
}

/// A browser where `user` signed in through the identity provider (an admin or not): its
/// requests carry that session's cookie and CSRF token.
struct Browser<'a> {
    app: &'a TestApp,
    headers: [(String, String); 2],
}

impl<'a> Browser<'a> {
    fn of(app: &'a TestApp, user: &str, admin: bool) -> Self {
        Self {
            app,
            headers: app.person(user, admin),
        }
    }

    /// `method path body` from this browser.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.app.call(method, path, body, &headers).await
    }
}

fn topic(name: &str, created_by: &str) -> Value {
    json!({"name": name, "created_by": created_by, "partitions": 1, "replication_factor": 1})
}

#[tokio::test]
async fn without_an_identity_nothing_is_written_and_people_act_only_for_themselves() {
    let app = spawn_app_with(oidc_mode).await;
    let ben = Browser::of(&app, "ben", false);
    let ana = Browser::of(&app, "ana", true);

    // Nobody signed in: 401 `unauthenticated`, nothing written.
    let (status, body) = app.post("/api/topics", topic("anon_topic", "ana")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let sub = json!({"user_id": "ana", "topic_name": "anon_topic"});
    assert_eq!(
        app.post("/api/subscriptions", sub).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/subscriptions").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, topics) = app.as_admin(Method::GET, "/api/topics", None).await;
    assert_eq!(topics, json!([]));

    // Ben requests a topic: as himself when he names nobody or himself, never as Ana.
    let (status, created) = ben
        .call(Method::POST, "/api/topics", Some(topic("bens_topic", "")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["topic_id"].as_i64().unwrap();
    let (_, detail) = app.get(&format!("/api/topics/{id}")).await;
    assert_eq!(detail["created_by"], "ben");
    let (status, body) = ben
        .call(Method::POST, "/api/topics", Some(topic("as_ana", "ana")))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{body}"
    );
    // A write without the session's CSRF token is refused too.
    let [cookie, _] = app.person("ben", false);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/topics",
            Some(topic("no_csrf", "")),
            &[(&cookie.0, &cookie.1)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Not an admin: approving is refused with a reason.
    let (status, body) = ben
        .call(Method::POST, &format!("/api/topics/{id}/approve"), None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    // Ana (an admin) approves and subscribes Ben: recorded as Ana acting for Ben.
    let (status, _) = ana
        .call(Method::POST, &format!("/api/topics/{id}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let for_ben = json!({"user_id": "ben", "topic_name": "bens_topic"});
    let (status, body) = ana
        .call(Method::POST, "/api/subscriptions", Some(for_ben))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?action=subscribe", None)
        .await;
    assert_eq!(audit[0]["actor"], "ana");
    assert_eq!(audit[0]["on_behalf_of"], "ben");
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?action=request", None)
        .await;
    let requested = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["topic_name"] == "bens_topic")
        .unwrap();
    assert_eq!(requested["actor"], "ben", "verified, so not `user:ben`");
    assert!(requested.get("on_behalf_of").is_none());

    // Ben reads his own subscriptions (naming nobody, or himself), not Ana's.
    let (status, mine) = ben.call(Method::GET, "/api/subscriptions", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["user_id"], "ben");
    let (status, _) = ben
        .call(Method::GET, "/api/subscriptions?user_id=ana", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = ana
        .call(Method::GET, "/api/subscriptions?user_id=ben", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Ben cannot unsubscribe Ana from anything, nor save her position.
    let as_ana = json!({"user_id": "ana", "topic_name": "bens_topic"});
    let (status, _) = ben
        .call(Method::DELETE, "/api/subscriptions", Some(as_ana))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The HTTP status of a stream upgrade with `query`, a browser's session cookie or a bearer
/// token (101: it streams).
async fn upgrade(
    app: &TestApp,
    query: &str,
    browser: Option<&Browser<'_>>,
    bearer: Option<&str>,
) -> u16 {
    let bearer = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = Vec::new();
    if let Some(browser) = browser {
        headers.push(("cookie", browser.headers[0].1.as_str()));
    }
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer.as_str()));
    }
    crate::helpers::upgrade_status(app, query, &headers).await
}

#[tokio::test]
async fn a_socket_is_bound_to_who_signed_in() {
    let app = spawn_app_with(oidc_mode).await;
    let ben = Browser::of(&app, "ben", false);
    // Nobody: 401. Ben as Ana: 403. Ben as himself (named or not): streams.
    assert_eq!(upgrade(&app, "?user_id=ana", None, None).await, 401);
    assert_eq!(upgrade(&app, "?user_id=ana", Some(&ben), None).await, 403);
    assert_eq!(upgrade(&app, "?user_id=ben", Some(&ben), None).await, 101);
    assert_eq!(upgrade(&app, "", Some(&ben), None).await, 101);
    // Ben's personal access token (the CLI's way) binds the socket to him as his session does.
    let body = json!({"name": "cli", "scope": "read"});
    let (_, created) = ben.call(Method::POST, "/api/tokens", Some(body)).await;
    let token = created["token"].as_str().unwrap();
    assert_eq!(upgrade(&app, "", None, Some(token)).await, 101);
    assert_eq!(upgrade(&app, "?user_id=ana", None, Some(token)).await, 403);
    // A read token's socket changes nothing: no saved position.
    let bearer = format!("Bearer {token}");
    let mut socket =
        Client::connect_with(&app, "?follow=false", &[("authorization", &bearer)]).await;
    socket.send(&app::stream::ClientFrame::SavePosition).await;
    socket
        .expect_error("forbidden", "save_position with a read token")
        .await;
    // Revoked on the dashboard: its open socket is told and closed, not left streaming.
    let id = created["token_id"].as_i64().unwrap();
    let (status, _) = ben
        .call(Method::DELETE, &format!("/api/tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    socket
        .expect_error("signed_out", "the token's revocation")
        .await;
    // After missed announcements every sign-in known to be revoked is announced at once, and
    // a socket riding on one of them ends as if it had heard of it in time.
    let body = json!({"name": "second cli", "scope": "read"});
    let (_, second) = ben.call(Method::POST, "/api/tokens", Some(body)).await;
    let bearer = format!("Bearer {}", second["token"].as_str().unwrap());
    let mut socket =
        Client::connect_with(&app, "?follow=false", &[("authorization", &bearer)]).await;
    let key = streamhub::relay::revoked_token_key(second["token_id"].as_i64().unwrap());
    app.relay()
        .sign_ins_revoked(["some-session".to_owned(), key].into_iter().collect());
    socket
        .expect_error("signed_out", "the token among those re-announced")
        .await;
    // An admin streams as anyone.
    let ana = Browser::of(&app, "ana", true);
    assert_eq!(upgrade(&app, "?user_id=ben", Some(&ana), None).await, 101);
}

fn oidc_four_eyes(config: &mut ServerConfig) {
    oidc_mode(config);
    config.auth.four_eyes = true;
}

#[tokio::test]
async fn four_eyes_an_admin_cannot_decide_on_their_own_request() {
    let app = spawn_app_with(oidc_four_eyes).await;
    let ana = Browser::of(&app, "ana", true);
    let cy = Browser::of(&app, "cy", true);
    let (status, created) = ana
        .call(Method::POST, "/api/topics", Some(topic("anas_topic", "")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["topic_id"].as_i64().unwrap();
    for action in ["approve", "reject"] {
        let body = (action == "reject").then(|| json!({"reason": "not needed"}));
        let (status, refused) = ana
            .call(Method::POST, &format!("/api/topics/{id}/{action}"), body)
            .await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );
        assert!(
            refused["message"].as_str().unwrap().contains("four-eyes"),
            "{refused}"
        );
    }
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?action=approve", None)
        .await;
    assert_eq!(
        (audit[0]["actor"].as_str(), audit[0]["outcome"].as_str()),
        (Some("ana"), Some("rejected"))
    );
    // Filing a request for someone else does not get around it: Ana files one as Bob.
    let (_, for_bob) = ana
        .call(
            Method::POST,
            "/api/topics",
            Some(topic("bobs_topic", "bob")),
        )
        .await;
    let bobs = for_bob["topic_id"].as_i64().unwrap();
    let (status, _) = ana
        .call(Method::POST, &format!("/api/topics/{bobs}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another admin decides.
    let (status, _) = cy
        .call(Method::POST, &format!("/api/topics/{id}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn personal_access_tokens_act_as_their_owner_within_their_scope_until_revoked() {
    let app = spawn_app_with(oidc_mode).await;
    let ana = Browser::of(&app, "ana", true);
    let ben = Browser::of(&app, "ben", false);
    let make = |user: &'static str, admin: bool, scope: &'static str| {
        let app = &app;
        async move {
            let body =
                json!({"name": format!("{user}'s CLI"), "scope": scope, "expires_in_days": 30});
            Browser::of(app, user, admin)
                .call(Method::POST, "/api/tokens", Some(body))
                .await
        }
    };
    let (status, created) = make("ben", false, "write").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("shp_"));
    assert_eq!(
        (created["user_id"].as_str(), created["scope"].as_str()),
        (Some("ben"), Some("write"))
    );
    // A token may do at most what its owner may.
    let (status, _) = make("ben", false, "admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let bearer = |token: &str| format!("Bearer {token}");
    let with = |token: &str, method: Method, path: &str, body: Option<Value>| {
        let (app, auth) = (&app, bearer(token));
        let path = path.to_owned();
        async move {
            app.call(method, &path, body, &[("authorization", &auth)])
                .await
        }
    };

    // Ben's write token requests a topic as Ben (CSRF is for cookies; a token needs none).
    let (status, body) = with(
        &token,
        Method::POST,
        "/api/topics",
        Some(topic("via_token", "")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["topic_id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/topics/{id}")).await.1["created_by"],
        "ben"
    );
    // It cannot approve, nor make tokens.
    let (status, _) = with(
        &token,
        Method::POST,
        &format!("/api/topics/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let again = json!({"name": "x", "scope": "read"});
    let (status, _) = with(&token, Method::POST, "/api/tokens", Some(again)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A read token reads, and writes nothing.
    let (_, read) = make("ben", false, "read").await;
    let read = read["token"].as_str().unwrap().to_owned();
    assert_eq!(
        with(&read, Method::GET, "/api/subscriptions", None).await.0,
        StatusCode::OK
    );
    let (status, body) = with(
        &read,
        Method::POST,
        "/api/topics",
        Some(topic("read_only", "")),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    // An admin token must expire (it would outlive its owner's role), within 90 days.
    for days in [json!(null), json!(91)] {
        let body = json!({"name": "forever", "scope": "admin", "expires_in_days": days});
        let (status, body) = ana.call(Method::POST, "/api/tokens", Some(body)).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("expires_in_days")),
            "{body}"
        );
    }
    // An admin's admin token approves.
    let (_, anas) = make("ana", true, "admin").await;
    assert!(
        anas["expires_at"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z')),
        "{anas}"
    );
    let admin = anas["token"].as_str().unwrap().to_owned();
    let (status, _) = with(
        &admin,
        Method::POST,
        &format!("/api/topics/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Ben lists his tokens (last use noted), revokes the write one: it stops working.
    let (_, mine) = ben.call(Method::GET, "/api/tokens", None).await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine
        .iter()
        .all(|t| t["user_id"] == "ben" && t.get("token").is_none()));
    let write_id = created["token_id"].as_i64().unwrap();
    let used = mine.iter().find(|t| t["token_id"] == write_id).unwrap();
    assert!(used["last_used_at"].is_string(), "{used}");
    // Not Ana's to revoke as Ben.
    let admin_id = anas["token_id"].as_i64().unwrap();
    let (status, _) = ben
        .call(Method::DELETE, &format!("/api/tokens/{admin_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ben
        .call(Method::DELETE, &format!("/api/tokens/{write_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = with(&token, Method::GET, "/api/subscriptions", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
}

#[tokio::test]
async fn the_cli_logs_in_with_a_token_keeps_it_to_itself_and_is_refused_once_it_is_revoked() {
    let app = spawn_app_with(oidc_mode).await;
    let ben = Browser::of(&app, "ben", false);
    let body = json!({"name": "laptop", "scope": "write"});
    let (_, created) = ben.call(Method::POST, "/api/tokens", Some(body)).await;
    let token = created["token"].as_str().unwrap().to_owned();
    let config = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"));
        command
            .args(args)
            .env("STREAMHUB_API_URL", app.url(""))
            .env("XDG_CONFIG_HOME", config.path())
            .env_remove("STREAMHUB_TOKEN")
            .kill_on_drop(true);
        command.output()
    };
    // Before logging in: refused, and says so.
    let output = cli(&["subscriptions"]).await.unwrap();
    assert!(!output.status.success());
    let output = cli(&["login", "--with-token", &token]).await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("Logged in as ben"));
    let saved = config.path().join("streamhub").join("token");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let output = cli(&["subscriptions"]).await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Revoked on the dashboard: the CLI is refused again.
    let id = created["token_id"].as_i64().unwrap();
    let (status, _) = ben
        .call(Method::DELETE, &format!("/api/tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let output = cli(&["subscriptions"]).await.unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("revoked"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_persons_socket_is_told_and_closed_when_their_sign_in_expires() {
    let app = spawn_app_with(oidc_mode).await;
    // An admin's socket too: it does not carry on without the right.
    for admin in [false, true] {
        // A session that expires two seconds from now (issued as if hours ago).
        let sessions = app.sessions.as_ref().unwrap();
        let holder = streamhub::sessions::Holder::Person {
            user: "ben".to_owned(),
            admin,
        };
        let issued_at = streamhub::sessions::unix_now() + 2 - 8 * 3600;
        let (cookie, session) = sessions.issue_as(holder, issued_at).unwrap();
        assert!(session.expires() - streamhub::sessions::unix_now() <= 2);
        let cookie = format!("{}={cookie}", streamhub::sessions::SESSION_COOKIE);
        let mut socket = Client::connect_with(&app, "", &[("cookie", &cookie)]).await;
        let started = std::time::Instant::now();
        let what = format!("the session's expiry (admin: {admin})");
        socket.expect_error("session_expired", &what).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

#[tokio::test]
async fn an_admin_releases_a_name_from_the_account_it_was_bound_to() {
    let app = spawn_app_with(oidc_mode).await;
    let store = app.store.as_ref().unwrap();
    assert_eq!(
        store.bind_identity("ana", "old-sub", &[]).await.unwrap(),
        "old-sub"
    );
    // Ana's new account at the provider is refused the name.
    assert_eq!(
        store.bind_identity("ana", "new-sub", &[]).await.unwrap(),
        "old-sub"
    );

    let root = Browser::of(&app, "root", true);
    let ben = Browser::of(&app, "ben", false);
    // A token of the old account's, which goes with the name.
    let (status, made) = Browser::of(&app, "ana", false)
        .call(
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "old", "scope": "read"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let bearer = format!("Bearer {}", made["token"].as_str().unwrap());
    let token_headers = [("authorization", bearer.as_str())];
    let with_token = || {
        app.call(
            Method::GET,
            "/api/subscriptions?user_id=ana",
            None,
            &token_headers,
        )
    };
    assert_eq!(with_token().await.0, StatusCode::OK);
    let path = "/api/identities/ana";
    assert_eq!(
        ben.call(Method::DELETE, path, None).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = root.call(Method::DELETE, path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        store.bind_identity("ana", "new-sub", &[]).await.unwrap(),
        "new-sub"
    );
    assert_eq!(
        with_token().await.0,
        StatusCode::UNAUTHORIZED,
        "revoked with the name"
    );
    assert_eq!(
        root.call(Method::DELETE, "/api/identities/nobody", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?action=unbind_identity", None)
        .await;
    assert_eq!(audit[0]["actor"], "root");
    assert_eq!(
        audit[0]["detail"],
        "user=ana subject=old-sub tokens_revoked=1"
    );
}

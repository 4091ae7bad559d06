//! Who may read what (`oidc` mode): topics owned by teams, levels `open`, `approval` and
//! `private`, subscriptions the owners approve. People's teams are recorded as a sign-in through
//! the identity provider records them (`TestApp::person_in`).

use crate::helpers::{spawn_app, spawn_app_with, Client, TestApp};
use app::stream::{ServerFrame, StartPosition};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use streamhub::{config::ServerConfig, oidc::AuthMode};

pub fn oidc_mode(config: &mut ServerConfig) {
    config.auth.mode = AuthMode::Oidc;
    config.auth.oidc_issuer = Some("http://127.0.0.1:9/".into());
    config.auth.oidc_client_id = Some("streamhub".into());
    config.auth.oidc_redirect_url = Some("http://127.0.0.1:9/auth/callback".into());
}

/// Someone signed in, with their requests' headers.
pub struct Person<'a> {
    app: &'a TestApp,
    headers: [(String, String); 2],
}

impl<'a> Person<'a> {
    pub async fn new(app: &'a TestApp, user: &str, admin: bool, teams: &[&str]) -> Person<'a> {
        Person {
            app,
            headers: app.person_in(user, admin, teams).await,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.app.call(method, path, body, &headers).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// A relay socket as this person, following nothing by itself.
    pub async fn socket(&self) -> Client {
        let cookie = self.headers[0].1.clone();
        Client::connect_with(self.app, "?follow=false", &[("cookie", &cookie)]).await
    }
}

/// A topic as an admin sees it.
pub async fn topic_as_admin(app: &TestApp, id: i64) -> Value {
    let (status, detail) = app
        .as_admin(Method::GET, &format!("/api/topics/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    detail
}

fn names(topics: &Value) -> Vec<&str> {
    topics
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic_name"].as_str().unwrap())
        .collect()
}

/// Requested by `person`, approved and activated.
pub async fn active(app: &TestApp, person: &Person<'_>, request: Value) -> i64 {
    let (status, created) = person.post("/api/topics", request).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["topic_id"].as_i64().unwrap();
    let approve = format!("/api/topics/{id}/approve");
    assert_eq!(
        app.as_admin(Method::POST, &approve, None).await.0,
        StatusCode::OK
    );
    let name = topic_as_admin(app, id).await["topic_name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.activate(&name).await.0, StatusCode::OK);
    id
}

#[tokio::test]
async fn a_request_is_owned_by_one_of_the_requesters_teams_or_by_them() {
    let app = spawn_app_with(oidc_mode).await;
    let ana = Person::new(&app, "ana", false, &["eu", "payments"]).await;
    let cai = Person::new(&app, "cai", false, &[]).await;
    let request = |name: &str, extra: Value| {
        let mut body = json!({"name": name, "created_by": ""});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    // In two teams, Ana names one of them; another team, or none, is refused.
    let (status, body) = ana.post("/api/topics", request("a1", json!({}))).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("owner_team")),
        "{body}"
    );
    let (status, body) = ana
        .post("/api/topics", request("a1", json!({"owner_team": "web"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let masks =
        json!([{"path": "customer_id", "method": "hash"}, {"path": "card.*", "method": "last4"}]);
    let (status, body) = ana
        .post(
            "/api/topics",
            request(
                "payments_eu",
                json!({"owner_team": "payments", "access": "approval", "masks": masks}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let topic = topic_as_admin(&app, body["topic_id"].as_i64().unwrap()).await;
    assert_eq!(topic["owner_team"], "payments");
    assert_eq!(topic["owner_user"], Value::Null);
    assert_eq!(topic["access"], "approval");
    assert_eq!(topic["masks"], masks);

    // Without a team, Cai owns his request himself.
    let (status, body) = cai
        .post("/api/topics", request("cais", json!({"access": "private"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let topic = topic_as_admin(&app, body["topic_id"].as_i64().unwrap()).await;
    assert_eq!(
        (topic["owner_user"].as_str(), topic["access"].as_str()),
        (Some("cai"), Some("private"))
    );

    // Masks are checked.
    for bad in [
        json!([{"path": "a..b", "method": "hash"}]),
        json!([{"path": "a", "method": "scramble"}]),
    ] {
        let (status, body) = ana
            .post(
                "/api/topics",
                request("bad_masks", json!({"owner_team": "eu", "masks": bad})),
            )
            .await;
        assert!(status.is_client_error(), "{status} {body}");
        assert!(body["error"].is_string());
    }

    // A personal token acts with its owner's teams as of its use: Cai joins a team later.
    let (_, token) = cai
        .post("/api/tokens", json!({"name": "cli", "scope": "write"}))
        .await;
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let with_token = |name: &str| {
        let body = json!({"name": name, "created_by": "", "owner_team": "data"});
        let bearer = bearer.clone();
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/api/topics",
                Some(body),
                &[("authorization", &bearer)],
            )
            .await
        }
    };
    assert_eq!(
        with_token("cai_data").await.0,
        StatusCode::BAD_REQUEST,
        "not in `data` yet"
    );
    app.person_in("cai", false, &["data"]).await;
    assert_eq!(
        with_token("cai_data").await.0,
        StatusCode::CREATED,
        "in `data` now"
    );
}

#[tokio::test]
async fn a_private_topic_does_not_exist_for_anyone_outside_its_owners() {
    let app = spawn_app_with(oidc_mode).await;
    let ana = Person::new(&app, "ana", false, &["payments"]).await;
    let ben = Person::new(&app, "ben", false, &["web"]).await;
    let root = Person::new(&app, "root", true, &[]).await;
    let hidden = active(
        &app,
        &ana,
        json!({"name": "ledger", "created_by": "", "access": "private"}),
    )
    .await;
    active(&app, &ana, json!({"name": "prices", "created_by": ""})).await;

    // Ana (an owner) and admins see it everywhere; Ben nowhere, and its routes answer him
    // exactly as a topic that does not exist.
    for (who, sees) in [(&ana, true), (&root, true), (&ben, false)] {
        for path in [
            "/api/topics",
            "/api/topics?limit=10",
            "/api/topics?status=active",
            "/api/topics/active",
        ] {
            let (_, topics) = who.get(path).await;
            assert_eq!(names(&topics).contains(&"ledger"), sees, "{path}: {topics}");
            assert!(names(&topics).contains(&"prices"), "{path}");
        }
        let (status, body) = who.get(&format!("/api/topics/{hidden}")).await;
        assert_eq!(status == StatusCode::OK, sees, "{body}");
    }
    // Counted only for those who see it.
    let (_, everyone) = app.as_admin(Method::GET, "/api/stats", None).await;
    let (_, bens) = ben.get("/api/stats").await;
    let (_, anas) = ana.get("/api/stats").await;
    assert_eq!(everyone["active_topics"], 2);
    assert_eq!(
        (
            bens["total_topics"].as_i64(),
            bens["active_topics"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(anas["active_topics"], 2);
    let (_, anonymous) = app.get("/api/topics").await;
    assert_eq!(
        names(&anonymous),
        ["prices"],
        "nobody signed in sees no private topic"
    );
    let (missing_status, missing) = ben.get("/api/topics/999").await;
    let (status, body) = ben.get(&format!("/api/topics/{hidden}")).await;
    assert_eq!(
        (status, &body["error"]),
        (missing_status, &missing["error"])
    );

    // Subscribing and streaming: as for a missing topic.
    let sub = json!({"user_id": "", "topic_name": "ledger"});
    let (status, body) = ben.post("/api/subscriptions", sub).await;
    let missing_sub = json!({"user_id": "", "topic_name": "no_such_topic"});
    let (missing_status, missing) = ben.post("/api/subscriptions", missing_sub).await;
    assert_eq!(
        (status, &body["error"]),
        (missing_status, &missing["error"])
    );
    let mut socket = ben.socket().await;
    socket.subscribe(&["ledger"], StartPosition::Earliest).await;
    socket
        .expect_error("topic_not_found", "a private topic")
        .await;
    let own = json!({"user_id": "", "topic_name": "ledger"});
    assert_eq!(
        ana.post("/api/subscriptions", own).await.0,
        StatusCode::CREATED
    );
    let mut owners = ana.socket().await;
    owners.subscribe(&["ledger"], StartPosition::Earliest).await;
    assert!(matches!(
        owners.next().await,
        ServerFrame::Subscribed { .. }
    ));
}

#[tokio::test]
async fn an_approval_topic_is_read_once_its_owners_approve_and_no_longer_once_they_revoke() {
    let app = spawn_app_with(oidc_mode).await;
    let ana = Person::new(&app, "ana", false, &["payments"]).await;
    let dan = Person::new(&app, "dan", false, &["payments"]).await;
    let ben = Person::new(&app, "ben", false, &["web"]).await;
    active(
        &app,
        &ana,
        json!({"name": "payments_eu", "created_by": "", "access": "approval"}),
    )
    .await;
    app.produce_numbered("payments_eu", 0..3).await;

    // Ben asks: 202, pending; nothing streams, searches or shows lag until the owners decide.
    let sub = json!({"user_id": "", "topic_name": "payments_eu"});
    let (status, body) = ben.post("/api/subscriptions", sub.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, mine) = ben.get("/api/subscriptions?user_id=ben").await;
    assert_eq!(mine[0]["status"], "pending");
    assert_eq!(
        ben.post("/api/subscriptions", sub.clone()).await.0,
        StatusCode::OK,
        "asked already"
    );
    let mut socket = ben.socket().await;
    socket
        .subscribe(&["payments_eu"], StartPosition::Earliest)
        .await;
    socket
        .expect_error("not_subscribed", "a pending request")
        .await;
    let (_, lag) = ben.get("/api/subscriptions/lag?user_id=ben").await;
    assert_eq!(lag, json!([]), "no lag shown for a request");

    // It waits in the owners' inbox (and the admins'), not in Ben's.
    let inbox_of = |inbox: &Value| -> Vec<String> {
        inbox["subscription_requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}@{}",
                    s["user_id"].as_str().unwrap(),
                    s["topic_name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        inbox_of(&ana.get("/api/inbox").await.1),
        ["ben@payments_eu"]
    );
    assert_eq!(
        inbox_of(&app.as_admin(Method::GET, "/api/inbox", None).await.1),
        ["ben@payments_eu"]
    );
    assert!(inbox_of(&ben.get("/api/inbox").await.1).is_empty());

    // Ben cannot decide for the owners; Ana can. (The owners subscribe without asking.)
    let decision = |decision: &str| json!({"user_id": "ben", "topic_name": "payments_eu", "decision": decision});
    let (status, body) = ben
        .post("/api/subscriptions/decision", decision("approve"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        dan.post(
            "/api/subscriptions",
            json!({"user_id": "", "topic_name": "payments_eu"})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (status, body) = ana
        .post("/api/subscriptions/decision", decision("approve"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        ana.post("/api/subscriptions/decision", decision("approve"))
            .await
            .0,
        StatusCode::NOT_FOUND,
        "decided already"
    );
    let (_, mine) = ben.get("/api/subscriptions?user_id=ben").await;
    assert_eq!(mine[0]["status"], "active");
    assert!(
        inbox_of(&ana.get("/api/inbox").await.1).is_empty(),
        "decided"
    );
    socket
        .subscribe(&["payments_eu"], StartPosition::Earliest)
        .await;
    let (records, _) = socket.records(3).await;
    assert_eq!(records.len(), 3);

    // Revoked: Ben's open stream ends.
    let (status, body) = dan
        .post("/api/subscriptions/decision", decision("revoke"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    loop {
        match socket.next().await {
            ServerFrame::Unsubscribed { topic, .. } => {
                assert_eq!(topic, "payments_eu");
                break;
            }
            ServerFrame::Records { .. } | ServerFrame::CaughtUp { .. } => {}
            other => panic!("expected the stream to end, got {other:?}"),
        }
    }
    let (_, mine) = ben.get("/api/subscriptions?user_id=ben").await;
    assert_eq!(mine, json!([]));

    // A rejected request is forgotten; Ben may ask again.
    assert_eq!(
        ben.post("/api/subscriptions", sub.clone()).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        ana.post("/api/subscriptions/decision", decision("reject"))
            .await
            .0,
        StatusCode::OK
    );
    let (_, mine) = ben.get("/api/subscriptions?user_id=ben").await;
    assert_eq!(mine, json!([]));
    // Every decision is audited.
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?topic=payments_eu", None)
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "request_subscription",
        "approve_subscription",
        "revoke_subscription",
        "reject_subscription",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn open_mode_has_no_teams_and_only_open_topics() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/api/topics",
            json!({"name": "t", "created_by": "ana", "access": "private"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("access")),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/api/topics",
            json!({"name": "t", "created_by": "ana", "owner_team": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("owner_team")),
        "{body}"
    );
    let (status, _) = app
        .post("/api/topics", json!({"name": "t", "created_by": "ana"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, topics) = app.get("/api/topics").await;
    assert_eq!(
        (topics[0]["access"].as_str(), &topics[0]["owner_team"]),
        (Some("open"), &Value::Null)
    );
}

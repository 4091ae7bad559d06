//! Who may do what to a topic, as one table: six callers × every operation on a topic (REST
//! routes, the relay's stream, follow, search and saved positions, the CLI through the relay,
//! whose NDJSON is also what the dashboard's export writes) × four states of a topic (`open`,
//! `approval` with the caller's request pending, `approval` approved, `private`). Every cell is
//! asserted; a private topic's cells for outsiders are also compared, answer for answer, with
//! the same operation on a topic that does not exist.
//!
//! The topics are Ana's team's (`payments`), with `customer_id` hashed. Ben (team `web`) has a
//! subscription to each (the pending one waits for the owners); Cai (no team) only to the open
//! one. The tokens are Ana's, so they show what a token's scope takes away from its owner.

use crate::access::{active, oidc_mode, topic_as_admin, Person};
use crate::helpers::{spawn_app_with, Client, TestApp};
use app::stream::{ClientFrame, SearchRequest, ServerFrame, StartPosition, StreamRecord};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// The table: per operation and state, what each caller gets. Numbers are HTTP statuses; `yes`
/// / `no`: the topic is (not) in the answer; `clear` / `masked`: records arrived with
/// `customer_id` as produced / hashed; other words are the relay's refusals.
const EXPECTED: &str = "
# operation    state     admin           owner           other           no_team         read            write
list           open      yes             yes             yes             yes             yes             yes
list           pending   yes             yes             yes             yes             yes             yes
list           approved  yes             yes             yes             yes             yes             yes
list           private   yes             yes             no              no              yes             yes
list_paged     open      yes             yes             yes             yes             yes             yes
list_paged     pending   yes             yes             yes             yes             yes             yes
list_paged     approved  yes             yes             yes             yes             yes             yes
list_paged     private   yes             yes             no              no              yes             yes
active         open      yes             yes             yes             yes             yes             yes
active         pending   yes             yes             yes             yes             yes             yes
active         approved  yes             yes             yes             yes             yes             yes
active         private   yes             yes             no              no              yes             yes
rates          open      yes             yes             yes             yes             yes             yes
rates          pending   yes             yes             yes             yes             yes             yes
rates          approved  yes             yes             yes             yes             yes             yes
rates          private   yes             yes             no              no              yes             yes
stats          open      4               4               3               3               4               4
stats          pending   4               4               3               3               4               4
stats          approved  4               4               3               3               4               4
stats          private   4               4               3               3               4               4
detail         open      200             200             200             200             200             200
detail         pending   200             200             200             200             200             200
detail         approved  200             200             200             200             200             200
detail         private   200             200             404             404             200             200
audit          open      200             403             403             403             403             403
audit          pending   200             403             403             403             403             403
audit          approved  200             403             403             403             403             403
audit          private   200             403             403             403             403             403
subscriptions  open      active          active          active          active          active          active
subscriptions  pending   active          active          pending         -               active          active
subscriptions  approved  active          active          active          -               active          active
subscriptions  private   active          active          -               -               active          active
lag            open      yes             yes             yes             yes             yes             yes
lag            pending   yes             yes             no              no              yes             yes
lag            approved  yes             yes             yes             no              yes             yes
lag            private   yes             yes             no              no              yes             yes
inbox          open      no              no              no              no              no              no
inbox          pending   yes             yes             no              no              yes             yes
inbox          approved  no              no              no              no              no              no
inbox          private   no              no              no              no              no              no
subscribers    open      200             200             403             403             200             200
subscribers    pending   200             200             403             403             200             200
subscribers    approved  200             200             403             403             200             200
subscribers    private   200             200             404             404             200             200
stream         open      clear           clear           masked          masked          clear           clear
stream         pending   clear           clear           not_subscribed  not_subscribed  clear           clear
stream         approved  clear           clear           masked          not_subscribed  clear           clear
stream         private   clear           clear           topic_not_found topic_not_found clear           clear
follow         open      yes             yes             yes             yes             yes             yes
follow         pending   yes             yes             no              no              yes             yes
follow         approved  yes             yes             yes             no              yes             yes
follow         private   yes             yes             no              no              yes             yes
search         open      clear           clear           masked          masked          clear           clear
search         pending   clear           clear           not_subscribed  not_subscribed  clear           clear
search         approved  clear           clear           masked          not_subscribed  clear           clear
search         private   clear           clear           topic_not_found topic_not_found clear           clear
save_position  open      yes             yes             yes             yes             forbidden       yes
save_position  pending   yes             yes             not_subscribed  not_subscribed  forbidden       yes
save_position  approved  yes             yes             yes             not_subscribed  forbidden       yes
save_position  private   yes             yes             topic_not_found topic_not_found forbidden       yes
cli            open      clear           clear           masked          masked          clear           clear
cli            pending   clear           clear           fails           fails           clear           clear
cli            approved  clear           clear           masked          fails           clear           clear
cli            private   clear           clear           fails           fails           clear           clear
subscribe      open      200             200             200             200             403             200
subscribe      pending   200             200             200             202             403             200
subscribe      approved  200             200             200             202             403             200
subscribe      private   200             200             404             404             403             200
unsubscribe    open      200             200             200             200             403             200
unsubscribe    pending   200             200             200             404             403             200
unsubscribe    approved  200             200             200             404             403             200
unsubscribe    private   200             200             404             404             403             200
decide         open      404             404             403             403             403             404
decide         pending   404             404             403             403             403             404
decide         approved  404             404             403             403             403             404
decide         private   404             404             404             404             403             404
positions      open      200             200             200             200             403             200
positions      pending   200             200             404             404             403             200
positions      approved  200             200             200             404             403             200
positions      private   200             200             404             404             403             200
produce        open      201             201             403             403             403             201
produce        pending   201             201             403             403             403             201
produce        approved  201             201             403             403             403             201
produce        private   201             201             404             404             403             201
access         open      200             200             403             403             403             200
access         pending   200             200             403             403             403             200
access         approved  200             200             403             403             403             200
access         private   200             200             404             404             403             200
owner          open      200             403             403             403             403             403
owner          pending   200             403             403             403             403             403
owner          approved  200             403             403             403             403             403
owner          private   200             403             403             403             403             403
claim          open      409             403             409             403             403             403
claim          pending   409             403             409             403             403             403
claim          approved  409             403             409             403             403             403
claim          private   409             403             404             404             403             403
claim_decision open      404             403             403             403             403             403
claim_decision pending   404             403             403             403             403             403
claim_decision approved  404             403             403             403             403             403
claim_decision private   404             403             403             403             403             403
approve        open      409             403             403             403             403             403
approve        pending   409             403             403             403             403             403
approve        approved  409             403             403             403             403             403
approve        private   409             403             403             403             403             403
reject         open      409             403             403             403             403             403
reject         pending   409             403             403             403             403             403
reject         approved  409             403             403             403             403             403
reject         private   409             403             403             403             403             403
adopt          open      409             403             403             403             403             403
adopt          pending   409             403             403             403             403             403
adopt          approved  409             403             403             403             403             403
adopt          private   409             403             403             403             403             403
deactivate     open      200             200             403             403             403             200
deactivate     pending   200             200             403             403             403             200
deactivate     approved  200             200             403             403             403             200
deactivate     private   200             200             404             404             403             200
reactivate     open      409             409             403             403             403             409
reactivate     pending   409             409             403             403             403             409
reactivate     approved  409             409             403             403             403             409
reactivate     private   409             409             404             404             403             409
";

const CALLERS: [&str; 6] = ["admin", "owner", "other", "no_team", "read", "write"];
const STATES: [&str; 4] = ["open", "pending", "approved", "private"];
const OPERATIONS: [&str; 30] = [
    "list",
    "list_paged",
    "active",
    "rates",
    "stats",
    "detail",
    "audit",
    "subscriptions",
    "lag",
    "inbox",
    "subscribers",
    "stream",
    "follow",
    "search",
    "save_position",
    "cli",
    "subscribe",
    "unsubscribe",
    "decide",
    "positions",
    "produce",
    "access",
    "owner",
    "claim",
    "claim_decision",
    "approve",
    "reject",
    "adopt",
    "deactivate",
    "reactivate",
];

/// The clear value every record carries.
const CUSTOMER: &str = "cust-00017";

/// Who calls: the headers of their requests and sockets, and the user they act as.
struct Caller {
    user: &'static str,
    headers: Vec<(String, String)>,
    /// A token for the CLI: the caller's own, or a token of theirs that reads as they do.
    cli_token: String,
}

impl Caller {
    fn header_refs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        app.call(method, path, body, &self.header_refs()).await
    }

    async fn socket(&self, app: &TestApp, query: &str) -> Client {
        let headers: Vec<(&'static str, &str)> = self
            .headers
            .iter()
            .filter(|(k, _)| k != "x-csrf-token")
            .map(|(k, v)| {
                let name: &'static str = if k == "cookie" {
                    "cookie"
                } else {
                    "authorization"
                };
                (name, v.as_str())
            })
            .collect();
        Client::connect_with(app, query, &headers).await
    }
}

/// A topic an operation is tried on: a real one, or one that does not exist.
#[derive(Clone)]
struct Target {
    id: i64,
    name: String,
}

/// What an operation answered: its cell, and the body a private topic's answer is compared by.
struct Answer {
    cell: String,
    body: Value,
}

impl Answer {
    fn status(status: StatusCode, body: Value) -> Answer {
        Answer {
            cell: status.as_u16().to_string(),
            body,
        }
    }

    /// The relay's refusal: its word, and its message to compare.
    fn refused(error: String, message: String) -> Answer {
        Answer {
            cell: error,
            body: json!(message),
        }
    }

    fn contains(found: bool) -> Answer {
        Answer {
            cell: if found { "yes" } else { "no" }.into(),
            body: Value::Null,
        }
    }
}

/// `clear`, `masked` or `none`, by the first record's `customer_id`.
fn readable(records: &[StreamRecord]) -> String {
    match records.first() {
        None => "none".into(),
        Some(r) if r.value.as_ref().unwrap()["customer_id"] == CUSTOMER => "clear".into(),
        Some(r) => {
            assert!(
                r.value.as_ref().unwrap()["customer_id"].is_string(),
                "hashed, not removed: {r:?}"
            );
            "masked".into()
        }
    }
}

fn names_in(list: &Value, name: &str) -> bool {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .any(|t| t["topic_name"] == name)
}

/// One operation by `caller` on `topic`.
async fn run(app: &TestApp, caller: &Caller, operation: &str, topic: &Target) -> Answer {
    let (id, name, user) = (topic.id, topic.name.as_str(), caller.user);
    let rest = |method: Method, path: String, body: Option<Value>| async move {
        let (status, body) = caller.call(app, method, &path, body).await;
        Answer::status(status, body)
    };
    match operation {
        "list" => {
            let (_, list) = caller.call(app, Method::GET, "/api/topics", None).await;
            Answer::contains(names_in(&list, name))
        }
        "list_paged" => {
            let (_, page) = caller
                .call(app, Method::GET, "/api/topics?limit=50", None)
                .await;
            Answer::contains(names_in(&page, name))
        }
        "active" => {
            let (_, list) = caller
                .call(app, Method::GET, "/api/topics/active", None)
                .await;
            Answer::contains(names_in(&list, name))
        }
        "rates" => {
            let (_, list) = caller
                .call(app, Method::GET, "/api/topics/rates", None)
                .await;
            Answer::contains(names_in(&list, name))
        }
        "stats" => {
            let (_, stats) = caller.call(app, Method::GET, "/api/stats", None).await;
            Answer {
                cell: stats["active_topics"].to_string(),
                body: Value::Null,
            }
        }
        "detail" => rest(Method::GET, format!("/api/topics/{id}"), None).await,
        "subscribers" => rest(Method::GET, format!("/api/topics/{id}/subscribers"), None).await,
        "audit" => rest(Method::GET, format!("/api/audit?topic={name}"), None).await,
        "subscriptions" => {
            let (_, list) = caller
                .call(
                    app,
                    Method::GET,
                    &format!("/api/subscriptions?user_id={user}"),
                    None,
                )
                .await;
            let status = list
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["topic_name"] == name)
                .map_or("-".to_owned(), |s| s["status"].as_str().unwrap().to_owned());
            Answer {
                cell: status,
                body: Value::Null,
            }
        }
        "subscribe" => {
            let body = json!({"user_id": user, "topic_name": name});
            let answer = rest(
                Method::POST,
                "/api/subscriptions".into(),
                Some(body.clone()),
            )
            .await;
            if matches!(answer.cell.as_str(), "201" | "202") {
                let (status, _) = caller
                    .call(app, Method::DELETE, "/api/subscriptions", Some(body))
                    .await;
                assert_eq!(status, StatusCode::OK, "undone");
            }
            answer
        }
        "unsubscribe" => {
            let body = json!({"user_id": user, "topic_name": name});
            rest(Method::DELETE, "/api/subscriptions".into(), Some(body)).await
        }
        "decide" => {
            let body = json!({"user_id": "zed", "topic_name": name, "decision": "approve"});
            rest(
                Method::POST,
                "/api/subscriptions/decision".into(),
                Some(body),
            )
            .await
        }
        "inbox" => {
            let (status, inbox) = caller.call(app, Method::GET, "/api/inbox", None).await;
            assert_eq!(status, StatusCode::OK, "{inbox}");
            Answer::contains(names_in(&inbox["subscription_requests"], name))
        }
        "lag" => {
            let (status, lag) = caller
                .call(
                    app,
                    Method::GET,
                    &format!("/api/subscriptions/lag?user_id={user}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{lag}");
            let listed = lag.as_array().unwrap().iter().any(|t| t["topic"] == name);
            Answer::contains(listed)
        }
        "positions" => {
            let body = json!({"user_id": user, "topic_name": name, "offsets": {"0": 1}});
            rest(Method::PUT, "/api/positions".into(), Some(body)).await
        }
        "produce" => {
            let body = json!({"value": {"customer_id": CUSTOMER}});
            rest(
                Method::POST,
                format!("/api/topics/{id}/records"),
                Some(body),
            )
            .await
        }
        "deactivate" => rest(Method::POST, format!("/api/topics/{id}/deactivate"), None).await,
        "reactivate" => rest(Method::POST, format!("/api/topics/{id}/reactivate"), None).await,
        "approve" => rest(Method::POST, format!("/api/topics/{id}/approve"), None).await,
        "reject" => {
            let body = json!({"reason": "not needed"});
            rest(Method::POST, format!("/api/topics/{id}/reject"), Some(body)).await
        }
        "adopt" => rest(Method::POST, format!("/api/topics/{id}/adopt"), None).await,
        "access" => {
            // The topic's own settings again: who may change them, with nothing changed.
            let body = json!({"masks": [{"path": "customer_id", "method": "hash"}]});
            rest(Method::PUT, format!("/api/topics/{id}/access"), Some(body)).await
        }
        "owner" => {
            let body = json!({"owner": "team:payments"});
            rest(Method::PUT, format!("/api/topics/{id}/owner"), Some(body)).await
        }
        "claim" => {
            let body = json!({"team": "web"});
            rest(Method::POST, format!("/api/topics/{id}/claim"), Some(body)).await
        }
        "claim_decision" => {
            let body = json!({"team": "web", "approve": true});
            rest(
                Method::POST,
                format!("/api/topics/{id}/claim/decision"),
                Some(body),
            )
            .await
        }
        "stream" => {
            let mut socket = caller.socket(app, "?follow=false").await;
            socket.subscribe(&[name], StartPosition::Earliest).await;
            stream_answer(&mut socket).await
        }
        "follow" => {
            // The socket streams the caller's subscriptions by itself.
            let mut socket = caller.socket(app, &format!("?user_id={user}")).await;
            let mut followed = false;
            while let Ok(frame) =
                tokio::time::timeout(Duration::from_millis(400), socket.next()).await
            {
                if matches!(&frame, ServerFrame::Subscribed { topic, .. } if topic == name) {
                    followed = true;
                }
            }
            Answer::contains(followed)
        }
        "save_position" => {
            let mut socket = caller.socket(app, "?follow=false").await;
            socket.subscribe(&[name], StartPosition::Earliest).await;
            let subscribed = stream_answer(&mut socket).await;
            if subscribed.cell != "clear" && subscribed.cell != "masked" {
                return subscribed;
            }
            socket.send(&ClientFrame::SavePosition).await;
            loop {
                match socket.next().await {
                    ServerFrame::PositionSaved { topic } if topic == name => {
                        break Answer::contains(true)
                    }
                    ServerFrame::Error { error, message } => break Answer::refused(error, message),
                    _ => {}
                }
            }
        }
        "search" => {
            let mut socket = caller.socket(app, "?follow=false").await;
            socket
                .send(&ClientFrame::Search(SearchRequest::whole_topic("s", name)))
                .await;
            let mut found = Vec::new();
            loop {
                match socket.next().await {
                    ServerFrame::SearchResults { records, .. } => found.extend(records),
                    ServerFrame::SearchDone { .. } => {
                        break Answer {
                            cell: readable(&found),
                            body: Value::Null,
                        }
                    }
                    ServerFrame::Error { error, message } => break Answer::refused(error, message),
                    _ => {}
                }
            }
        }
        "cli" => {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"))
                .args([
                    "--via-relay",
                    "consume",
                    "-t",
                    name,
                    "-o",
                    "beginning",
                    "-e",
                ])
                .env("STREAMHUB_API_URL", app.url(""))
                .env("STREAMHUB_TOKEN", &caller.cli_token)
                .env("KAFKA_BOOTSTRAP_SERVERS", app.broker.bootstrap())
                .env_remove("STREAMHUB_USER")
                .env("NO_COLOR", "1")
                .kill_on_drop(true)
                .output();
            let output = tokio::time::timeout(Duration::from_secs(60), output)
                .await
                .expect("the CLI finishes")
                .expect("the CLI runs");
            if !output.status.success() {
                return Answer {
                    cell: "fails".into(),
                    body: json!(String::from_utf8_lossy(&output.stderr)),
                };
            }
            let records: Vec<StreamRecord> = String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect();
            Answer {
                cell: readable(&records),
                body: Value::Null,
            }
        }
        other => panic!("no operation {other}"),
    }
}

/// After a `subscribe` frame: the first records (clear or masked) or the refusal.
async fn stream_answer(socket: &mut Client) -> Answer {
    loop {
        match socket.next().await {
            ServerFrame::Records { records } => {
                return Answer {
                    cell: readable(&records),
                    body: Value::Null,
                }
            }
            ServerFrame::Error { error, message } => return Answer::refused(error, message),
            _ => {}
        }
    }
}

/// Puts everything back as the table starts from after an operation that changed it.
async fn restore(app: &TestApp, operation: &str, answer: &Answer, caller: &Caller, topic: &Target) {
    match (operation, answer.cell.as_str()) {
        ("deactivate", "200") => {
            let path = format!("/api/topics/{}/reactivate", topic.id);
            assert_eq!(
                app.as_admin(Method::POST, &path, None).await.0,
                StatusCode::OK
            );
        }
        ("unsubscribe", "200") => {
            let body = json!({"user_id": caller.user, "topic_name": topic.name});
            let (status, _) = caller
                .call(app, Method::POST, "/api/subscriptions", Some(body))
                .await;
            assert!(status.is_success(), "subscribed again");
            if topic.name == "t_approved" && caller.user == "ben" {
                decide(app, "ben", &topic.name, "approve").await;
            }
        }
        _ => {}
    }
}

async fn decide(app: &TestApp, user: &str, topic: &str, decision: &str) {
    let body = json!({"user_id": user, "topic_name": topic, "decision": decision});
    let (status, answer) = app
        .as_admin(Method::POST, "/api/subscriptions/decision", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn token(app: &TestApp, person: &[(String, String)], scope: &str) -> String {
    let headers: Vec<(&str, &str)> = person
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut body = json!({"name": format!("{scope} token"), "scope": scope});
    if scope == "admin" {
        body["expires_in_days"] = json!(1);
    }
    let (status, made) = app
        .call(Method::POST, "/api/tokens", Some(body), &headers)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["token"].as_str().unwrap().to_owned()
}

async fn callers(app: &TestApp) -> Vec<Caller> {
    let mut callers = Vec::new();
    for (user, admin, teams) in [
        ("root", true, &[][..]),
        ("ana", false, &["payments"][..]),
        ("ben", false, &["web"][..]),
        ("cai", false, &[][..]),
    ] {
        let headers = app.person_in(user, admin, teams).await.to_vec();
        let cli_token = token(app, &headers, if admin { "admin" } else { "read" }).await;
        callers.push(Caller {
            user,
            headers,
            cli_token,
        });
    }
    let ana = callers[1].headers.clone();
    for scope in ["read", "write"] {
        let token = token(app, &ana, scope).await;
        callers.push(Caller {
            user: "ana",
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            cli_token: token,
        });
    }
    callers
}

/// Ana's four topics, with a record each, and everyone's subscriptions as the table starts.
async fn topics(app: &TestApp, callers: &[Caller]) -> Vec<Target> {
    let (ana, ben, cai) = (&callers[1], &callers[2], &callers[3]);
    // Ana as she requests topics (in her team, as a sign-in records her).
    let requester = Person::new(app, "ana", false, &["payments"]).await;
    let mut targets = Vec::new();
    for (name, access) in [
        ("t_open", "open"),
        ("t_pending", "approval"),
        ("t_approved", "approval"),
        ("t_private", "private"),
    ] {
        let request = json!({"name": name, "created_by": "", "owner_team": "payments",
            "access": access, "masks": [{"path": "customer_id", "method": "hash"}]});
        let id = active(app, &requester, request).await;
        let record = json!({"value": {"customer_id": CUSTOMER}});
        let (status, body) = app
            .as_admin(
                Method::POST,
                &format!("/api/topics/{id}/records"),
                Some(record),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        for subscriber in [&callers[0], ana] {
            let body = json!({"user_id": subscriber.user, "topic_name": name});
            let (status, body) = subscriber
                .call(app, Method::POST, "/api/subscriptions", Some(body))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        if access != "private" {
            let body = json!({"user_id": "ben", "topic_name": name});
            let (status, _) = ben
                .call(app, Method::POST, "/api/subscriptions", Some(body))
                .await;
            assert!(status.is_success());
        }
        targets.push(Target {
            id,
            name: name.into(),
        });
    }
    decide(app, "ben", "t_approved", "approve").await;
    let body = json!({"user_id": "cai", "topic_name": "t_open"});
    let (status, _) = cai
        .call(app, Method::POST, "/api/subscriptions", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        topic_as_admin(app, targets[3].id).await["access"],
        "private"
    );
    // Rates list the topics the sampler has seen once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, rates) = app.as_admin(Method::GET, "/api/topics/rates", None).await;
        if targets.iter().all(|t| names_in(&rates, &t.name)) {
            break targets;
        }
        assert!(tokio::time::Instant::now() < deadline, "sampled: {rates}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Lines of the table, aligned, in [`EXPECTED`]'s form.
fn line(operation: &str, state: &str, cells: &[String]) -> String {
    let mut line = format!("{operation:<15}{state:<10}");
    for cell in cells {
        line.push_str(&format!("{cell:<16}"));
    }
    line.trim_end().to_owned()
}

#[tokio::test]
async fn every_caller_on_every_topic_route_at_every_level() {
    let app = spawn_app_with(oidc_mode).await;
    let callers = callers(&app).await;
    let targets = topics(&app, &callers).await;
    let missing = Target {
        id: 999_999,
        name: "t_missing".into(),
    };
    let expected: Vec<&str> = EXPECTED
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();

    let mut actual = Vec::new();
    let mut hidden_differs = Vec::new();
    for operation in OPERATIONS {
        for (state, target) in STATES.iter().zip(&targets) {
            let mut cells = Vec::new();
            for (caller, role) in callers.iter().zip(CALLERS) {
                let answer = run(&app, caller, operation, target).await;
                restore(&app, operation, &answer, caller, target).await;
                // Outside its owners, a private topic is a topic that does not exist.
                if *state == "private" && matches!(role, "other" | "no_team") {
                    let absent = run(&app, caller, operation, &missing).await;
                    // The same answer, but for the id or name asked about.
                    let as_asked = |body: &Value, topic: &Target| {
                        body.to_string()
                            .replace(&format!("#{}", topic.id), "#ID")
                            .replace(&topic.name, "NAME")
                    };
                    if (absent.cell.as_str(), as_asked(&absent.body, &missing))
                        != (answer.cell.as_str(), as_asked(&answer.body, target))
                    {
                        hidden_differs.push(format!(
                            "{operation} as {role}: {} {} vs missing {} {}",
                            answer.cell, answer.body, absent.cell, absent.body
                        ));
                    }
                }
                cells.push(answer.cell);
            }
            actual.push(line(operation, state, &cells));
        }
    }
    let differ: Vec<String> = actual
        .iter()
        .zip(expected.iter().chain(std::iter::repeat(&"")))
        .filter(|(a, e)| a != e)
        .map(|(a, e)| format!("expected {e}\n     got {a}"))
        .collect();
    assert!(
        differ.is_empty() && actual.len() == expected.len(),
        "{} of {} lines differ:\n{}\n\nthe whole table as it is:\n{}",
        differ.len(),
        actual.len(),
        differ.join("\n"),
        actual.join("\n")
    );
    assert!(hidden_differs.is_empty(), "{}", hidden_differs.join("\n"));
}

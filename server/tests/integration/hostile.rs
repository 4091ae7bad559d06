//! Issue 18's attacks, one test each, against the real server and broker. `make test` runs them
//! in its hostile-input phase (`.ci/fuzz-api`); RELIABILITY.md has a row per attack.

use crate::{
    helpers::{spawn_app, TestApp},
    session::sign_in,
};
use app::stream::{ClientFrame, ServerFrame, StartPosition};
use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use streamhub::kafka::{KafkaAdmin, KafkaArgs};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{client::IntoClientRequest, Message},
};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A stream socket with these extra request headers; the `hello` frame is read.
async fn socket(app: &TestApp, headers: &[(&'static str, &str)]) -> Socket {
    let mut request = format!("ws://{}/api/stream", app.addr)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let (mut socket, _) = connect_async(request).await.expect("websocket connects");
    assert!(matches!(next(&mut socket).await, ServerFrame::Hello { .. }));
    socket
}

async fn next(socket: &mut Socket) -> ServerFrame {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("protocol frame");
        }
    }
}

async fn subscribe(socket: &mut Socket, topics: &[&str]) {
    let frame = ClientFrame::Subscribe {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        from: StartPosition::Latest,
    };
    let text = serde_json::to_string(&frame).unwrap();
    socket.send(Message::Text(text.into())).await.unwrap();
}

fn history(detail: &Value) -> &Vec<Value> {
    detail["history"].as_array().expect("history")
}

/// Item 8: the public detail page showed remote addresses, denied attempts and subscribers.
#[tokio::test]
async fn anyone_sees_a_topics_lifecycle_only_admins_see_who_tried_what_from_where() {
    let app = spawn_app().await;
    let id = app.request_topic("guarded_detail", 1).await;
    let approve = format!("/api/topics/{id}/approve");
    // A refused activation: a failure row of the topic, for admins only.
    assert_eq!(app.activate("guarded_detail").await.0, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            "/api/subscriptions",
            json!({"user_id": "watcher", "topic_name": "guarded_detail"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        app.as_admin(Method::POST, &approve, None).await.0,
        StatusCode::OK
    );

    let path = format!("/api/topics/{id}");
    let (status, public) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = history(&public)
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["approve", "request"], "{public}");
    assert!(history(&public)
        .iter()
        .all(|e| e["remote_addr"].is_null() && e["outcome"] == "ok"));

    let (status, full) = app.as_admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let rows = history(&full);
    assert!(rows.iter().any(|e| e["outcome"] == "rejected"), "{full}");
    assert!(rows.iter().any(|e| e["action"] == "subscribe"), "{full}");
    assert!(rows.iter().all(|e| e["remote_addr"].is_string()), "{full}");

    // A wrong token on a read is refused and audited, not answered as anyone.
    let (status, _) = app
        .call(
            Method::GET,
            &path,
            None,
            &[("authorization", "Bearer nope")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Item 8: `{"user_id": "admin"}` wrote audit rows under the admin's name.
#[tokio::test]
async fn a_claimed_name_cannot_pass_for_the_admin_in_the_audit_log() {
    let app = spawn_app().await;
    app.request_topic("claimed", 1).await;
    let (status, _) = app
        .post(
            "/api/subscriptions",
            json!({"user_id": "admin", "topic_name": "claimed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, as_admin) = app
        .as_admin(Method::GET, "/api/audit?actor=admin", None)
        .await;
    assert_eq!(as_admin.as_array().unwrap().len(), 0, "{as_admin}");
    let (_, claimed) = app
        .as_admin(Method::GET, "/api/audit?actor=user:admin", None)
        .await;
    let actions: Vec<&str> = claimed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["subscribe"], "{claimed}");
}

/// Item 9: revocations were kept in memory only: a signed-out cookie worked again after a
/// restart.
#[tokio::test]
async fn a_signed_out_cookie_stays_refused_after_a_restart() {
    let mut app = spawn_app().await;
    let (cookie, csrf) = sign_in(&app).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/session",
            None,
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.stop_server().await;
    app.start_server().await;
    let (_, session) = app
        .call(Method::GET, "/api/session", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(session["admin"], false, "{session}");
    let (status, _) = app
        .call(Method::GET, "/api/audit", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Item 9: a page on another site, its name pointed at 127.0.0.1 (DNS rebinding), passed the
/// stream's origin check because it compared `Origin` with `Host`.
#[tokio::test]
async fn requests_naming_another_host_are_refused() {
    let app = spawn_app().await;
    let evil = format!("rebound.example:{}", app.addr.port());
    let (status, body) = app
        .call(Method::GET, "/api/health", None, &[("host", &evil)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "host_not_allowed");
    let mut request = format!("ws://{}/api/stream", app.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert("host", evil.parse().unwrap());
    let origin = format!("http://{evil}");
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    match connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("a rebound page opened a stream: {other:?}"),
    }
    let localhost = format!("localhost:{}", app.addr.port());
    let (status, _) = app
        .call(Method::GET, "/api/health", None, &[("host", &localhost)])
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Item 9: a failed activation was audited again on every poll of the producer.
#[tokio::test]
async fn a_failure_that_repeats_on_every_poll_is_audited_once() {
    let app = spawn_app().await;
    app.request_topic("still_pending", 1).await;
    for _ in 0..5 {
        assert_eq!(app.activate("still_pending").await.0, StatusCode::CONFLICT);
    }
    let (_, rows) = app
        .as_admin(
            Method::GET,
            "/api/audit?topic=still_pending&action=activate",
            None,
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
}

/// Item 2: one frame naming a topic a hundred times started a hundred replays.
#[tokio::test]
async fn a_frame_naming_a_topic_twice_is_refused() {
    let app = spawn_app().await;
    app.active_topic("twice", 1).await;
    let auth = app.admin_header();
    let mut socket = socket(&app, &[("authorization", &auth)]).await;
    subscribe(&mut socket, &["twice", "twice"]).await;
    match next(&mut socket).await {
        ServerFrame::Error { error, .. } => assert_eq!(error, "duplicate_topics"),
        other => panic!("{other:?}"),
    }
}

/// Item 7: admin rights were decided once at upgrade: a signed-out dashboard kept streaming
/// topics it could stream only as admin.
#[tokio::test]
async fn signing_out_ends_the_streams_the_session_allowed() {
    let app = spawn_app().await;
    app.active_topic("admin_only", 1).await;
    let (cookie, csrf) = sign_in(&app).await;
    let mut socket = socket(&app, &[("cookie", &cookie)]).await;
    subscribe(&mut socket, &["admin_only"]).await;
    assert!(matches!(
        next(&mut socket).await,
        ServerFrame::Subscribed { .. }
    ));
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/session",
            None,
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        next(&mut socket).await,
        ServerFrame::Unsubscribed {
            topic: "admin_only".into(),
            reason: "signed_out".into()
        }
    );
    subscribe(&mut socket, &["admin_only"]).await;
    assert!(
        matches!(next(&mut socket).await, ServerFrame::Error { error, .. } if error == "not_subscribed")
    );
}

/// Item 6: a request for a name another application uses in Kafka was activated by adopting
/// it: the producer wrote into it and viewers replayed its data.
#[tokio::test]
async fn an_existing_kafka_topic_is_adopted_only_when_an_admin_says_so() {
    let app = spawn_app().await;
    let kafka = KafkaAdmin::new(&KafkaArgs::for_bootstrap(app.broker.bootstrap())).unwrap();
    kafka.ensure_topic("payments-core", 1, 1).await.unwrap();
    let id = app.request_topic("payments-core", 1).await;
    let approve = format!("/api/topics/{id}/approve");
    assert_eq!(
        app.as_admin(Method::POST, &approve, None).await.0,
        StatusCode::OK
    );

    for _ in 0..3 {
        let (status, body) = app.activate("payments-core").await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"], "topic_exists_in_kafka");
    }
    let topic = app.topic(id).await;
    assert_eq!(
        (topic["status"].as_str(), topic["kafka_conflict"].as_bool()),
        (Some("approved"), Some(true))
    );
    let (_, rows) = app
        .as_admin(
            Method::GET,
            "/api/audit?topic=payments-core&action=activate",
            None,
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1, "told once: {rows}");

    // Anyone may not adopt; the admin may, once.
    let adopt = format!("/api/topics/{id}/adopt");
    assert_eq!(
        app.post(&adopt, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.as_admin(Method::POST, &adopt, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.as_admin(Method::POST, &adopt, None).await.0,
        StatusCode::CONFLICT
    );
    let (status, body) = app.activate("payments-core").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let topic = app.topic(id).await;
    assert_eq!(
        (topic["status"].as_str(), topic["kafka_conflict"].as_bool()),
        (Some("active"), Some(false))
    );

    // Kafka's own topics and names its metrics would confuse are refused at request time.
    app.request_topic("ledger.eu", 1).await;
    for (name, error) in [
        ("__consumer_offsets", "invalid_field"),
        ("ledger_eu", "colliding_topic"),
    ] {
        let (status, body) = app
            .post(
                "/api/topics",
                json!({"name": name, "created_by": "mallory", "partitions": 1}),
            )
            .await;
        assert_eq!(status.as_u16() / 100, 4, "{name}: {body}");
        assert_eq!(body["error"], error, "{name}: {body}");
    }
}

/// Item 5: the relay held its feed map's lock while a new feed asked a slow or absent broker for
/// metadata, so every subscribe and every deactivation queued behind it.
#[tokio::test]
async fn a_feed_starting_against_a_dead_broker_holds_up_nobody_else() {
    let mut app = spawn_app().await;
    app.active_topic("slow_start", 1).await;
    app.active_topic("other", 1).await;
    app.broker.kill().await.unwrap();
    let relay = app.relay().clone();
    let starting = tokio::spawn(async move { relay.join("slow_start").await.is_ok() });
    // Let the start get to the broker (and wait there: KAFKA_TIMEOUT_MS is 5 s).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let began = std::time::Instant::now();
    app.relay().topic_ended("other").await;
    assert!(
        began.elapsed() < Duration::from_millis(500),
        "a deactivation waited {:?} behind a feed start",
        began.elapsed()
    );
    let (status, _) = app.get("/api/health").await;
    assert_eq!(status, StatusCode::OK);
    starting.abort();
    app.broker.restart().await.unwrap();
}

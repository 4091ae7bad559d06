//! Bad input and bad credentials: always a 4xx with the JSON error body, never a 5xx, never a
//! partial write, and every denied attempt audited.

use crate::helpers::{spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn assert_error_body(body: &Value) {
    assert!(body["error"].is_string(), "error word in {body}");
    assert!(body["message"].is_string(), "message in {body}");
}

async fn topic_count(app: &TestApp) -> usize {
    app.get("/api/topics").await.1.as_array().unwrap().len()
}

#[tokio::test]
async fn invalid_topic_requests_name_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let long_name = "x".repeat(250);
    let long_description = "d".repeat(1025);
    let long_user = "u".repeat(129);
    let cases = [
        (json!({"name": "", "created_by": "a"}), "name"),
        (json!({"name": "has space", "created_by": "a"}), "name"),
        (json!({"name": ".", "created_by": "a"}), "name"),
        (json!({"name": "..", "created_by": "a"}), "name"),
        (json!({"name": long_name, "created_by": "a"}), "name"),
        (json!({"name": "ok", "created_by": ""}), "created_by"),
        (json!({"name": "ok", "created_by": long_user}), "created_by"),
        (
            json!({"name": "ok", "created_by": "a", "partitions": 0}),
            "partitions",
        ),
        (
            json!({"name": "ok", "created_by": "a", "partitions": 1001}),
            "partitions",
        ),
        (
            json!({"name": "ok", "created_by": "a", "replication_factor": 0}),
            "replication_factor",
        ),
        // One tansu broker: a replication factor of 3 cannot be satisfied.
        (
            json!({"name": "ok", "created_by": "a", "replication_factor": 3}),
            "replication_factor",
        ),
        (
            json!({"name": "ok", "created_by": "a", "description": long_description}),
            "description",
        ),
        (
            json!({"name": "ok", "created_by": "a", "event_type": "video"}),
            "event_type",
        ),
        // PostgreSQL stores no NUL: refused on both databases alike.
        (
            json!({"name": "ok", "created_by": "a", "description": "a\0b"}),
            "description",
        ),
        (json!({"name": "ok", "created_by": "a\0b"}), "created_by"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post("/api/topics", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert_eq!(answer["field"], field, "{body} → {answer}");
        assert_error_body(&answer);
    }
    assert_eq!(topic_count(&app).await, 0);
    let (status, answer) = app.get("/api/topics?q=a%00b").await;
    assert_eq!(
        (status, &answer["field"]),
        (StatusCode::BAD_REQUEST, &json!("q")),
        "{answer}"
    );
    let (status, answer) = app
        .as_admin(reqwest::Method::GET, "/api/audit?actor=a%00b", None)
        .await;
    assert_eq!((status, answer), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn malformed_bodies_are_4xx_json() {
    let app = spawn_app().await;
    let url = app.url("/api/topics");
    let send = |body: String, content_type: &'static str| {
        app.client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            send("{not json".into(), "application/json").await.unwrap(),
            400,
        ),
        (
            send(
                r#"{"name": 5, "created_by": "a"}"#.into(),
                "application/json",
            )
            .await
            .unwrap(),
            422,
        ),
        (
            send(r#"{"created_by": "a"}"#.into(), "application/json")
                .await
                .unwrap(),
            422,
        ),
        (
            send(
                r#"{"name": "t", "created_by": "a", "partitions": "three"}"#.into(),
                "application/json",
            )
            .await
            .unwrap(),
            422,
        ),
        (
            send(r#"[1, 2]"#.into(), "application/json").await.unwrap(),
            422,
        ),
        // A list is no object, even where its items could fill the fields in order.
        (
            send(r#"["t", "a"]"#.into(), "application/json")
                .await
                .unwrap(),
            422,
        ),
        (
            send(r#"{"name": "t", "created_by": "a"}"#.into(), "text/plain")
                .await
                .unwrap(),
            415,
        ),
        (
            send(
                format!(
                    r#"{{"name": "t", "created_by": "a", "description": "{}"}}"#,
                    "x".repeat(70_000)
                ),
                "application/json",
            )
            .await
            .unwrap(),
            413,
        ),
    ];
    for (resp, expected) in cases {
        assert_eq!(resp.status().as_u16(), expected);
        let body: Value = resp.json().await.expect("JSON error body");
        assert_error_body(&body);
    }
    assert_eq!(topic_count(&app).await, 0);
}

#[tokio::test]
async fn duplicates_unknown_ids_unknown_routes_and_wrong_methods() {
    let app = spawn_app().await;
    app.request_topic("once", 1).await;
    let (status, body) = app
        .post("/api/topics", json!({"name": "once", "created_by": "b"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "duplicate_topic");
    assert_eq!(topic_count(&app).await, 1);

    for path in [
        "/api/topics/999/approve",
        "/api/topics/abc/approve",
        "/api/topics/-1/approve",
    ] {
        let (status, body) = app.as_admin(Method::POST, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_error_body(&body);
    }
    let (status, body) = app.get("/api/topics/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&body);
    // A segment that is not UTF-8 once decoded: our JSON, not axum's plain text.
    let (status, body) = app.get("/api/topics/%FF").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_path");

    let (status, body) = app.get("/api/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&body);

    let (status, body) = app.call(Method::PUT, "/api/topics", None, &[]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_body(&body);

    let (status, body) = app.activate("never_requested").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&body);
}

#[tokio::test]
async fn admin_and_producer_actions_need_their_secrets_and_denials_are_audited() {
    let app = spawn_app().await;
    let id = app.request_topic("guarded", 1).await;
    let approve = format!("/api/topics/{id}/approve");

    let (status, body) = app.call(Method::POST, &approve, None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_body(&body);
    let (status, _) = app
        .call(
            Method::POST,
            &approve,
            None,
            &[("authorization", "Bearer wrong")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The producer secret is not the admin token.
    let producer_as_admin = format!("Bearer {}", app.producer_secret);
    let (status, _) = app
        .call(
            Method::POST,
            &approve,
            None,
            &[("authorization", &producer_as_admin)],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.topic(id).await["status"], "pending");

    app.as_admin(Method::POST, &approve, None).await;
    for key in [None, Some("wrong"), Some(app.admin_token.as_str())] {
        let headers: Vec<(&str, &str)> = key.map(|k| ("x-producer-key", k)).into_iter().collect();
        let (status, body) = app
            .call(
                Method::POST,
                "/api/topics/activate_by_name",
                Some(json!({"topic_name": "guarded"})),
                &headers,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}: {body}");
    }
    assert_eq!(app.topic(id).await["status"], "approved");

    // The audit log (admin only) shows the denials, without the presented values.
    let (status, _) = app.get("/api/audit").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, audit) = app
        .as_admin(Method::GET, "/api/audit?actor=anonymous", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let denied = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .count();
    // 3 admin attempts, 3 producer attempts, 1 audit read.
    assert_eq!(denied, 7, "{audit}");
    let text = audit.to_string();
    assert!(!text.contains(&app.admin_token) && !text.contains(&app.producer_secret));
    assert!(audit[0]["remote_addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    // Slowloris: a request line and one header, then nothing (tests use a 1 s header timeout).
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0_u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("the server closes a connection that never finishes its headers");
    // Closed (0 bytes) or answered with 408 and closed: either way not held open.
    if let Ok(n) = read {
        assert!(
            n == 0 || buf[..n].starts_with(b"HTTP/1.1 408"),
            "{:?}",
            &buf[..n]
        );
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    // Everyone else is served meanwhile.
    assert_eq!(app.get("/api/health").await.0, StatusCode::OK);
}

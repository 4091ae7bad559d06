//! Subscriptions: add, list (all or one user's), remove; unknown topics refused.

use crate::helpers::{spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn subscribe_list_and_unsubscribe() {
    let app = spawn_app().await;
    app.active_topic("user_events", 1).await;
    app.request_topic("later", 1).await;

    let sub = |user: &str, topic: &str| json!({"user_id": user, "topic_name": topic});
    let (status, body) = app
        .post("/api/subscriptions", sub("user_1", "user_events"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["message"], "Subscription added successfully");
    // Again: harmless.
    let (status, _) = app
        .post("/api/subscriptions", sub("user_1", "user_events"))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.post("/api/subscriptions", sub("user_1", "later")).await;
    app.post("/api/subscriptions", sub("user_2", "user_events"))
        .await;

    let (status, body) = app
        .post("/api/subscriptions", sub("user_1", "no_such_topic"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "topic_not_found");

    let (_, all) = app.get("/api/subscriptions").await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (_, mine) = app.get("/api/subscriptions?user_id=user_1").await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0]["topic_name"], "later");
    assert_eq!(mine[0]["topic_status"], "pending");
    assert_eq!(mine[1]["topic_name"], "user_events");
    assert_eq!(mine[1]["status"], "active");
    assert!(mine[1]["subscribed_at"].is_string());

    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/subscriptions",
            Some(sub("user_1", "user_events")),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"], "Subscription removed successfully");
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/subscriptions",
            Some(sub("user_1", "user_events")),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, mine) = app.get("/api/subscriptions?user_id=user_1").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);

    let (status, body) = app
        .post(
            "/api/subscriptions",
            json!({"user_id": "", "topic_name": "later"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "user_id");
}

#[tokio::test]
async fn a_crowd_of_concurrent_changes_each_gets_its_own_answer() {
    // A crowd of users, here all at one address: past the per-address write limit.
    let app = spawn_app_with(|config| config.write_burst = 1_000).await;
    app.request_topic("popular", 1).await;
    let sub = |user: String, topic: &str| json!({"user_id": user, "topic_name": topic});
    // 200 new users, each twice, plus requests for a topic that does not exist, all at once.
    let requests = (0..200)
        .flat_map(|i| {
            [
                sub(format!("u{i}"), "popular"),
                sub(format!("u{i}"), "popular"),
            ]
        })
        .chain((0..20).map(|i| sub(format!("x{i}"), "missing")));
    let answers =
        futures::future::join_all(requests.map(|body| app.post("/api/subscriptions", body))).await;
    let count = |status: StatusCode| answers.iter().filter(|(s, _)| *s == status).count();
    assert_eq!(count(StatusCode::CREATED), 200);
    assert_eq!(count(StatusCode::OK), 200);
    assert_eq!(count(StatusCode::NOT_FOUND), 20);
    let (_, stats) = app.get("/api/stats").await;
    assert_eq!(stats["total_subscriptions"], 200);
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?action=subscribe&limit=1000", None)
        .await;
    assert_eq!(
        audit.as_array().unwrap().len(),
        200,
        "one audit row per added subscription"
    );
}

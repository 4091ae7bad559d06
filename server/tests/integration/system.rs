//! Health, statistics and the server-rendered dashboard.

use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn health_reports_broker_and_database() {
    let mut app = spawn_app().await;
    let (status, health) = app.get("/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["broker"]["status"], "up");
    assert_eq!(health["broker"]["brokers"], 1);
    assert_eq!(health["database"]["status"], "up");
    assert!(chrono::DateTime::parse_from_rfc3339(health["timestamp"].as_str().unwrap()).is_ok());

    app.broker.kill().await.unwrap();
    let degraded = app.wait_for(|h| h["broker"]["status"] == "down").await;
    assert_eq!(degraded["status"], "degraded");
    assert!(degraded["broker"]["error"].is_string());
    // Still answering everything that needs no broker.
    assert_eq!(app.get("/api/stats").await.0, StatusCode::OK);

    app.broker.restart().await.unwrap();
    assert_eq!(app.wait_for_broker_up().await["status"], "healthy");
}

#[tokio::test]
async fn stats_count_topics_by_status_and_subscriptions() {
    let app = spawn_app().await;
    app.active_topic("a1", 1).await;
    app.active_topic("a2", 1).await;
    app.request_topic("p1", 1).await;
    let approved = app.request_topic("ap1", 1).await;
    app.as_admin(
        Method::POST,
        &format!("/api/topics/{approved}/approve"),
        None,
    )
    .await;
    for user in ["u1", "u2"] {
        app.post(
            "/api/subscriptions",
            json!({"user_id": user, "topic_name": "a1"}),
        )
        .await;
    }
    let (status, stats) = app.get("/api/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["total_topics"], 4);
    assert_eq!(stats["pending_topics"], 1);
    assert_eq!(stats["approved_topics"], 1);
    assert_eq!(stats["active_topics"], 2);
    assert_eq!(stats["total_subscriptions"], 2);
    assert!(stats["timestamp"].is_string());

    let (_, pending) = app.get("/api/topics?status=pending").await;
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/topics?status=bogus").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn the_overview_page_is_server_rendered_with_live_counters() {
    let app = spawn_app().await;
    app.request_topic("shown", 1).await;
    let resp = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("<title>StreamHub</title>"), "{html}");
    assert!(
        html.contains("/pkg/streamhub.js"),
        "hydration script is linked"
    );
    assert!(
        html.contains("data-testid=\"stats\""),
        "counters rendered on the server: {html}"
    );
}

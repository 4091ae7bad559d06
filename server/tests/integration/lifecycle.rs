//! The topic lifecycle through HTTP, checked against Kafka's own metadata.

use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::json;
use streamhub::kafka::{KafkaAdmin, KafkaArgs};

#[tokio::test]
async fn request_approve_activate_creates_the_kafka_topic() {
    let app = spawn_app().await;
    let id = app.request_topic("user_events", 3).await;
    let topic = app.topic(id).await;
    assert_eq!(topic["status"], "pending");
    assert_eq!(topic["partitions"], 3);
    assert!(topic["approved_at"].is_null() && topic["activated_at"].is_null());

    // Not approved yet: activation refuses and Kafka has no topic.
    let (status, body) = app.activate("user_events").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["current_status"], "pending");

    let (status, body) = app
        .as_admin(Method::POST, &format!("/api/topics/{id}/approve"), None)
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::OK, Some("Topic approved successfully"))
    );
    let topic = app.topic(id).await;
    assert_eq!(topic["status"], "approved");
    assert!(topic["approved_at"].is_string());

    let (status, body) = app.activate("user_events").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::OK, Some("Topic activated"))
    );
    let topic = app.topic(id).await;
    assert_eq!(topic["status"], "active");
    let activated_at = topic["activated_at"].clone();
    assert!(activated_at.is_string());

    let admin = KafkaAdmin::new(&KafkaArgs::for_bootstrap(app.broker.bootstrap())).unwrap();
    assert_eq!(
        admin.topic_partitions("user_events").await.unwrap(),
        Some(3)
    );

    // Activating again is harmless: 200, nothing changes.
    let (status, _) = app.activate("user_events").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.topic(id).await["activated_at"], activated_at);

    let (_, active) = app.get("/api/topics/active").await;
    assert_eq!(active[0]["topic_name"], "user_events");
    assert_eq!(active[0]["activated_at"], activated_at);

    // Approving an active topic is a conflict naming the current status.
    let (status, body) = app
        .as_admin(Method::POST, &format!("/api/topics/{id}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["current_status"], "active");

    // The history tells the whole story to the admin, oldest last.
    let (_, detail) = app
        .as_admin(Method::GET, &format!("/api/topics/{id}"), None)
        .await;
    let actions: Vec<_> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert!(actions.contains(&"request:ok".to_owned()), "{actions:?}");
    assert!(actions.contains(&"approve:ok".to_owned()), "{actions:?}");
    assert!(actions.contains(&"activate:ok".to_owned()), "{actions:?}");
    assert!(
        actions.contains(&"activate:rejected".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn reject_deactivate_and_reactivate() {
    let app = spawn_app().await;
    let rejected = app.request_topic("not_wanted", 1).await;
    let (status, body) = app
        .as_admin(
            Method::POST,
            &format!("/api/topics/{rejected}/reject"),
            Some(json!({"reason": "duplicate of user_events"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let topic = app.topic(rejected).await;
    assert_eq!(topic["status"], "rejected");
    assert_eq!(topic["rejected_reason"], "duplicate of user_events");
    let (status, _) = app
        .as_admin(
            Method::POST,
            &format!("/api/topics/{rejected}/approve"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let id = app.active_topic("metrics", 2).await;
    let (status, _) = app
        .as_admin(Method::POST, &format!("/api/topics/{id}/deactivate"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.topic(id).await["status"], "inactive");
    let (_, active) = app.get("/api/topics/active").await;
    assert_eq!(active, json!([]));
    // The producer cannot bring back what an admin stopped.
    let (status, body) = app.activate("metrics").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["current_status"], "inactive");

    let (status, body) = app
        .as_admin(Method::POST, &format!("/api/topics/{id}/reactivate"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.topic(id).await["status"], "active");
}

#[tokio::test]
async fn parallel_approvals_and_activations_have_one_winner() {
    let app = spawn_app().await;
    let id = app.request_topic("raced", 2).await;
    let path = format!("/api/topics/{id}/approve");
    let approvals = (0..8).map(|_| app.as_admin(Method::POST, &path, None));
    let statuses: Vec<_> = futures::future::join_all(approvals)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        7,
        "{statuses:?}"
    );

    let activations = (0..8).map(|_| app.activate("raced"));
    for (status, body) in futures::future::join_all(activations).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let history = app.topic(id).await["history"].clone();
    let count = |action: &str| {
        history
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == "ok")
            .count()
    };
    assert_eq!(count("approve"), 1);
    assert_eq!(count("activate"), 1, "one activation recorded: {history}");
}

#[tokio::test]
async fn activation_waits_for_a_broker_that_is_down_then_works() {
    let mut app = spawn_app().await;
    let id = app.request_topic("patient", 1).await;
    app.as_admin(Method::POST, &format!("/api/topics/{id}/approve"), None)
        .await;

    app.broker.kill().await.unwrap();
    let (status, body) = app.activate("patient").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "broker_unavailable");
    assert_eq!(
        app.topic(id).await["status"],
        "approved",
        "the row did not move"
    );
    app.wait_for(|h| h["broker"]["status"] == "down" && h["status"] == "degraded")
        .await;

    app.broker.restart().await.unwrap();
    app.wait_for_broker_up().await;
    let (status, body) = app.activate("patient").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.topic(id).await["status"], "active");
}

#[tokio::test]
async fn metadata_survives_a_server_restart() {
    let mut app = spawn_app().await;
    let id = app.active_topic("kept", 1).await;
    app.post(
        "/api/subscriptions",
        json!({"user_id": "u1", "topic_name": "kept"}),
    )
    .await;
    let admin_token = app.admin_token.clone();
    let before = app.get("/api/topics").await.1;

    app.stop_server().await;
    app.start_server().await;

    assert_eq!(app.admin_token, admin_token, "the generated token is kept");
    let after = app.get("/api/topics").await.1;
    assert_eq!(before, after);
    assert_eq!(app.topic(id).await["subscriber_count"], 1);
}

#[tokio::test]
async fn an_active_topic_missing_in_kafka_is_recreated() {
    let mut app = spawn_app().await;
    app.active_topic("phoenix", 2).await;

    app.wipe_broker().await;

    let health = app
        .wait_for(|h| {
            h["broker"]["recreated_topics"]
                .as_array()
                .is_some_and(|t| t.iter().any(|n| n == "phoenix"))
        })
        .await;
    assert_eq!(health["broker"]["missing_topics"], json!([]));
    let admin = KafkaAdmin::new(&KafkaArgs::for_bootstrap(app.broker.bootstrap())).unwrap();
    assert_eq!(admin.topic_partitions("phoenix").await.unwrap(), Some(2));
}

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

#[tokio::test]
async fn cached_reads_follow_every_write() {
    let app = spawn_app().await;
    let (_, before) = app.get("/api/stats").await;
    let (_, list_before) = app.get("/api/topics").await;
    assert_eq!(
        (
            before["total_topics"].as_i64(),
            list_before.as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
    app.request_topic("fresh", 1).await;
    let (_, after) = app.get("/api/stats").await;
    assert_eq!(after["total_topics"], 1);
    let (_, list) = app.get("/api/topics").await;
    assert_eq!(list[0]["topic_name"], "fresh");
    app.post(
        "/api/subscriptions",
        json!({"user_id": "u", "topic_name": "fresh"}),
    )
    .await;
    let (_, list) = app.get("/api/topics").await;
    assert_eq!(list[0]["subscriber_count"], 1);

    // A client that accepts gzip gets the same document, compressed.
    let resp = app
        .client
        .get(app.url("/api/topics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = resp.bytes().await.unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut plain)
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&plain).unwrap(),
        list
    );
}

#[tokio::test]
async fn openapi_document_covers_the_contract() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/api/health", "get"),
        ("/api/stats", "get"),
        ("/api/topics", "get"),
        ("/api/topics", "post"),
        ("/api/topics/{id}/approve", "post"),
        ("/api/topics/activate_by_name", "post"),
        ("/api/topics/active", "get"),
        ("/api/subscriptions", "get"),
        ("/api/subscriptions", "post"),
        ("/api/subscriptions", "delete"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} documented"
        );
    }
    let topic = &doc["components"]["schemas"]["Topic"]["properties"];
    for field in [
        "topic_id",
        "topic_name",
        "status",
        "partitions",
        "replication_factor",
        "created_at",
        "approved_at",
        "activated_at",
    ] {
        assert!(topic[field].is_object(), "Topic.{field} in the schema");
    }
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_topics_per_status() {
    let app = spawn_app().await;
    app.request_topic("m1", 1).await;
    app.get("/api/topics/77").await;
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"streamhub_http_requests_total{method="POST",route="/api/topics",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/topics/{id}",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"streamhub_topics{status="pending"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"streamhub_up{part="broker"} 1"#), "{text}");
}

/// Every page arrives with its data: nothing under a `<Transition/>` is left for the browser
/// to fill in (a read the server cannot make would keep the page at "Loading…").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_rendered_whole_on_the_server() {
    let app = spawn_app().await;
    app.active_topic("watched", 1).await;
    crate::helpers::subscribe_user(&app, "bob", "watched").await;
    let signed_in = app
        .client
        .post(app.url("/api/session"))
        .json(&json!({"token": app.admin_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK);
    let session = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok()?.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    for admin in [false, true] {
        let mut cookie = "streamhub_user=bob".to_owned();
        if admin {
            cookie = format!("{cookie}; {session}");
        }
        for (path, shows) in [
            ("/", "data-testid=\"stats\""),
            ("/topics", "watched"),
            ("/topics/1", "data-testid=\"topic-name\""),
            ("/subscriptions", "data-testid=\"my-subscriptions\""),
            ("/search", "<h1"),
            ("/stream", "<h1"),
            ("/signin", "<h1"),
            ("/inbox", "<h1"),
        ] {
            // Under the whole suite's load a page has been seen, rarely, to stall or arrive cut
            // off, cause unknown; a second failure in a row fails the test, and the first is
            // said on stderr so that it is not lost.
            let mut attempt = 0;
            let html = loop {
                attempt += 1;
                let fetched = async {
                    let resp = app
                        .client
                        .get(app.url(path))
                        .header("cookie", &cookie)
                        .timeout(std::time::Duration::from_secs(20))
                        .send()
                        .await?;
                    assert_eq!(resp.status(), StatusCode::OK, "{path}");
                    resp.text().await
                }
                .await;
                match fetched {
                    Ok(html) => break html,
                    Err(e) if attempt == 1 => {
                        eprintln!(
                            "{path} (admin: {admin}): the page was cut off or stalled, once: {e}"
                        );
                    }
                    Err(e) => panic!("{path} (admin: {admin}): the page was cut off twice: {e}"),
                }
            };
            assert!(
                html.contains(shows),
                "{path} (admin: {admin}) shows {shows}: {html}"
            );
            assert!(
                html.contains("__INCOMPLETE_CHUNKS=[]") || !html.contains("__INCOMPLETE_CHUNKS"),
                "{path} (admin: {admin}) left parts for the browser: {html}"
            );
            assert!(
                !html.contains("Loading…"),
                "{path} (admin: {admin}): {html}"
            );
        }
    }
}

//! Notifications to a webhook: each request and decision, signed, retried, counted.

use crate::access::{active, oidc_mode, Person};
use crate::helpers::spawn_app_with;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A webhook receiver: the bodies and signatures it got, answering 503 to the first `refuse`.
struct Receiver {
    url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<(Value, String)>>>,
}

async fn receiver(refuse: usize) -> Receiver {
    use axum::{http::HeaderMap, routing::post, Router};
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = {
        let got = got.clone();
        Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (got, refused) = (got.clone(), refused.clone());
                async move {
                    if refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < refuse {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let signature = headers
                        .get("x-streamhub-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    assert_eq!(
                        signature,
                        streamhub::webhooks::signature("hook secret", &body),
                        "signed"
                    );
                    let body: Value = serde_json::from_slice(&body).unwrap();
                    got.lock().unwrap().push((body, signature));
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, got }
}

#[tokio::test]
async fn the_webhook_hears_of_requests_and_decisions_signed_and_retried() {
    let hook = receiver(1).await;
    let url = hook.url.clone();
    let app = spawn_app_with(move |config| {
        oidc_mode(config);
        config.webhooks.webhook_url = Some(url.clone());
        config.webhooks.webhook_secret = Some("hook secret".into());
    })
    .await;
    let ana = Person::new(&app, "ana", false, &["payments"]).await;
    let ben = Person::new(&app, "ben", false, &["web"]).await;
    active(
        &app,
        &ana,
        json!({"name": "payments_eu", "created_by": "", "access": "approval"}),
    )
    .await;
    let sub = json!({"user_id": "", "topic_name": "payments_eu"});
    assert_eq!(
        ben.post("/api/subscriptions", sub).await.0,
        StatusCode::ACCEPTED
    );
    let decision = json!({"user_id": "ben", "topic_name": "payments_eu", "decision": "approve"});
    assert_eq!(
        ana.post("/api/subscriptions/decision", decision).await.0,
        StatusCode::OK
    );

    // The first delivery was refused (503) and retried: every event arrives, in order.
    let expected = [
        "topic_requested",
        "topic_approved",
        "subscription_requested",
        "subscription_approved",
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let events: Vec<String> = hook
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| b["event"].as_str().unwrap().to_owned())
            .collect();
        if events.len() >= expected.len() {
            assert_eq!(events, expected);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "got only {events:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got[0].0["team"], "payments");
    assert_eq!(got[2].0["user_id"], "ben");
    assert!(
        got[2].0["text"].as_str().unwrap().contains("payments_eu"),
        "Slack's `text`"
    );
    assert!(app
        .metrics()
        .await
        .contains("streamhub_webhook_events_total{outcome=\"delivered\"} 4"));
}

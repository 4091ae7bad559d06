//! The dashboard's admin session: the admin token becomes an HttpOnly, SameSite=Strict signed
//! cookie; changes made with it need the CSRF token; signing out ends it; SSR pages render as
//! the signed-in admin.

use crate::helpers::{spawn_app, TestApp};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

/// Signs in and returns the `Cookie` header value and the CSRF token.
pub async fn sign_in(app: &TestApp) -> (String, String) {
    let response = app
        .client
        .post(app.url("/api/session"))
        .json(&json!({"token": app.admin_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookies: Vec<String> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set_cookies
        .iter()
        .find(|c| c.starts_with("streamhub_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    let csrf_cookie = set_cookies
        .iter()
        .find(|c| c.starts_with("streamhub_csrf="))
        .expect("csrf cookie");
    assert!(
        !csrf_cookie.contains("HttpOnly"),
        "the page must read it: {csrf_cookie}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["admin"], true);
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    assert!(csrf_cookie.starts_with(&format!("streamhub_csrf={csrf};")));
    let cookie = session.split(';').next().unwrap().to_owned();
    (cookie, csrf)
}

/// Signs out the session of `cookie` (with its CSRF token), asserting that it worked.
pub async fn sign_out(app: &TestApp, cookie: &str, csrf: &str) {
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/session",
            None,
            &[("cookie", cookie), ("x-csrf-token", csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_session_cookie_acts_as_admin_only_with_the_csrf_token_until_sign_out() {
    let app = spawn_app().await;
    let id = app.request_topic("session_topic", 1).await;
    let approve = format!("/api/topics/{id}/approve");

    // A wrong token signs nobody in, and is audited.
    let (status, body) = app.post("/api/session", json!({"token": "wrong"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(!body.to_string().contains(&app.admin_token));

    let (cookie, csrf) = sign_in(&app).await;
    let (status, body) = app
        .call(Method::GET, "/api/session", None, &[("cookie", &cookie)])
        .await;
    assert_eq!((status, &body["admin"]), (StatusCode::OK, &json!(true)));

    // Reads that need the admin work with the cookie alone.
    let (status, _) = app
        .call(Method::GET, "/api/audit", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(status, StatusCode::OK);

    // A change without the CSRF token (what a forged cross-site form would send) is refused.
    let (status, body) = app
        .call(Method::POST, &approve, None, &[("cookie", &cookie)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .call(
            Method::POST,
            &approve,
            None,
            &[("cookie", &cookie), ("x-csrf-token", "00ff")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.topic(id).await["status"], "pending");

    // With it, the change goes through and is audited as the admin.
    let (status, body) = app
        .call(
            Method::POST,
            &approve,
            None,
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let history = app.topic(id).await["history"].clone();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "approve" && e["actor"] == "admin" && e["outcome"] == "ok"),
        "{history}"
    );

    // Server-side rendering sees the session: the audit link shows for the admin only.
    let page = |cookie: Option<String>| {
        let request = app.client.get(app.url("/topics"));
        let request = match cookie {
            Some(c) => request.header("cookie", c),
            None => request,
        };
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    assert!(page(Some(cookie.clone()))
        .await
        .contains(r#"href="/audit""#));
    assert!(!page(None).await.contains(r#"href="/audit""#));

    // Sign out (which needs the CSRF token too): the cookie no longer works.
    let (status, _) = app
        .call(Method::DELETE, "/api/session", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    sign_out(&app, &cookie, &csrf).await;
    let (status, body) = app
        .call(Method::GET, "/api/session", None, &[("cookie", &cookie)])
        .await;
    assert_eq!((status, &body["admin"]), (StatusCode::OK, &json!(false)));
    let (status, _) = app
        .call(Method::GET, "/api/audit", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rates_of_active_topics_are_sampled_for_the_overview() {
    let app = spawn_app().await;
    app.active_topic("rated_topic", 2).await;
    app.produce_numbered("rated_topic", 0..50).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, rates) = app.get("/api/topics/rates").await;
        assert_eq!(status, StatusCode::OK);
        let total = rates
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["topic_name"] == "rated_topic")
            .and_then(|r| r["total_messages"].as_i64());
        if total == Some(50) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "rates: {rates}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

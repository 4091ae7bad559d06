//! What a topic's owners do (produce, deactivate, change who reads it) and how a team comes
//! to own a topic nobody owns (claims).

use crate::access::{active, oidc_mode, topic_as_admin, Person};
use crate::helpers::spawn_app_with;
use app::stream::{ServerFrame, StartPosition};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn owners_produce_to_deactivate_and_reactivate_their_topics_and_others_do_not() {
    let app = spawn_app_with(oidc_mode).await;
    let ana = Person::new(&app, "ana", false, &["payments"]).await;
    let ben = Person::new(&app, "ben", false, &["web"]).await;
    let open = active(&app, &ana, json!({"name": "orders", "created_by": ""})).await;
    let hidden = active(
        &app,
        &ana,
        json!({"name": "ledger", "created_by": "", "access": "private"}),
    )
    .await;
    let record = json!({"value": {"n": 1}});
    for (id, bens_answer) in [
        (open, StatusCode::FORBIDDEN),
        (hidden, StatusCode::NOT_FOUND),
    ] {
        let records = format!("/api/topics/{id}/records");
        assert_eq!(
            ana.post(&records, record.clone()).await.0,
            StatusCode::CREATED
        );
        assert_eq!(ben.post(&records, record.clone()).await.0, bens_answer);
        let deactivate = format!("/api/topics/{id}/deactivate");
        assert_eq!(ben.post(&deactivate, json!({})).await.0, bens_answer);
        assert_eq!(ana.post(&deactivate, json!({})).await.0, StatusCode::OK);
        let reactivate = format!("/api/topics/{id}/reactivate");
        assert_eq!(ben.post(&reactivate, json!({})).await.0, bens_answer);
        assert_eq!(ana.post(&reactivate, json!({})).await.0, StatusCode::OK);
    }
    // Denied attempts are audited.
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?action=owner_action", None)
        .await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "ben" && e["outcome"] == "denied"),
        "{audit}"
    );
    // The topic's page shows its owners every step (without addresses), others what took
    // effect.
    let change = json!({"access": "approval"});
    let (status, body) = ana
        .call(
            Method::PUT,
            &format!("/api/topics/{open}/access"),
            Some(change),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let history = |detail: &serde_json::Value| -> Vec<String> {
        detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert!(e["remote_addr"].is_null(), "{e}");
                format!(
                    "{} {}",
                    e["action"].as_str().unwrap(),
                    e["outcome"].as_str().unwrap()
                )
            })
            .collect()
    };
    let owners = history(&ana.get(&format!("/api/topics/{open}")).await.1);
    let others = history(&ben.get(&format!("/api/topics/{open}")).await.1);
    for seen in [&owners, &others] {
        assert!(seen.contains(&"change_access ok".to_owned()), "{seen:?}");
    }
    // A change of nothing changes nothing: no audit row, no stream restarted.
    let (status, body) = ana
        .call(
            Method::PUT,
            &format!("/api/topics/{open}/access"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, &body["access"]),
        (StatusCode::OK, &json!("approval"))
    );
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?action=change_access", None)
        .await;
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert!(
        owners.contains(&"owner_action denied".to_owned()),
        "{owners:?}"
    );
    assert!(!others.iter().any(|e| e.ends_with("denied")), "{others:?}");
}

#[tokio::test]
async fn owners_change_who_reads_and_open_streams_start_again_under_the_new_rules() {
    let app = spawn_app_with(oidc_mode).await;
    let ana = Person::new(&app, "ana", false, &["payments"]).await;
    let ben = Person::new(&app, "ben", false, &["web"]).await;
    let id = active(&app, &ana, json!({"name": "orders", "created_by": ""})).await;
    let produce = json!({"value": {"customer_id": "c-1"}});
    let records = format!("/api/topics/{id}/records");
    assert_eq!(
        ana.post(&records, produce.clone()).await.0,
        StatusCode::CREATED
    );
    let sub = json!({"user_id": "", "topic_name": "orders"});
    assert_eq!(
        ben.post("/api/subscriptions", sub).await.0,
        StatusCode::CREATED
    );
    let mut socket = ben.socket().await;
    socket.subscribe(&["orders"], StartPosition::Earliest).await;
    let (clear, _) = socket.records(1).await;
    assert_eq!(clear[0].value.as_ref().unwrap()["customer_id"], "c-1");

    // Only the owners change it.
    let access = format!("/api/topics/{id}/access");
    let masks = json!({"masks": [{"path": "customer_id", "method": "redact"}]});
    assert_eq!(
        ben.call(Method::PUT, &access, Some(masks.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, topic) = ana.call(Method::PUT, &access, Some(masks.clone())).await;
    assert_eq!(status, StatusCode::OK, "{topic}");
    assert_eq!(topic["masks"], masks["masks"]);
    // Ben's open stream ends; started again, it is masked.
    loop {
        match socket.next().await {
            ServerFrame::Unsubscribed { reason, .. } => {
                assert_eq!(reason, "access_changed");
                break;
            }
            ServerFrame::Records { .. } | ServerFrame::Subscribed { .. } => {}
            other => panic!("expected the stream to end, got {other:?}"),
        }
    }
    socket.subscribe(&["orders"], StartPosition::Earliest).await;
    let (masked, _) = socket.records(1).await;
    assert_eq!(masked[0].value.as_ref().unwrap()["customer_id"], "***");

    // Made private: gone for Ben. Moved to his team by an admin: his, clear.
    assert_eq!(
        ana.call(Method::PUT, &access, Some(json!({"access": "private"})))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        ben.get(&format!("/api/topics/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let owner = format!("/api/topics/{id}/owner");
    let to_web = Some(json!({"owner": "team:web"}));
    assert_eq!(
        ana.call(Method::PUT, &owner, to_web.clone()).await.0,
        StatusCode::FORBIDDEN,
        "admins move owners"
    );
    let (status, topic) = app.as_admin(Method::PUT, &owner, to_web).await;
    assert_eq!(
        (status, topic["owner_team"].as_str()),
        (StatusCode::OK, Some("web")),
        "{topic}"
    );
    let mut socket = ben.socket().await;
    socket.subscribe(&["orders"], StartPosition::Earliest).await;
    let (clear, _) = socket.records(1).await;
    assert_eq!(clear[0].value.as_ref().unwrap()["customer_id"], "c-1");
    let bad = Some(json!({"owner": "web"}));
    assert_eq!(
        app.as_admin(Method::PUT, &owner, bad).await.0,
        StatusCode::BAD_REQUEST
    );

    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?topic=orders", None)
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"change_access") && actions.contains(&"move_owner"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_team_claims_a_topic_nobody_owns_and_an_admin_decides() {
    let app = spawn_app_with(oidc_mode).await;
    let ana = Person::new(&app, "ana", false, &["payments"]).await;
    let ben = Person::new(&app, "ben", false, &["web"]).await;
    // From before ownership: requested with the admin token, owned by nobody.
    let legacy = json!({"name": "legacy", "created_by": "ops"});
    let (status, created) = app
        .as_admin(Method::POST, "/api/topics", Some(legacy))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["topic_id"].as_i64().unwrap();
    let claim = format!("/api/topics/{id}/claim");

    assert_eq!(
        ana.post(&claim, json!({"team": "payments"})).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        ana.post(&claim, json!({"team": "payments"})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        ben.post(&claim, json!({"team": "payments"})).await.0,
        StatusCode::FORBIDDEN,
        "not his team"
    );
    assert_eq!(
        ben.post(&claim, json!({"team": "web"})).await.0,
        StatusCode::ACCEPTED
    );
    let (_, inbox) = app.as_admin(Method::GET, "/api/inbox", None).await;
    let teams: Vec<&str> = inbox["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["team"].as_str().unwrap())
        .collect();
    assert_eq!(teams, ["payments", "web"]);
    assert_eq!(
        ana.get("/api/inbox").await.1["claims"],
        json!([]),
        "claims are for admins"
    );

    let decide = format!("/api/topics/{id}/claim/decision");
    assert_eq!(
        ana.post(&decide, json!({"team": "payments", "approve": true}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = app
        .as_admin(
            Method::POST,
            &decide,
            Some(json!({"team": "payments", "approve": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(topic_as_admin(&app, id).await["owner_team"], "payments");
    let (_, inbox) = app.as_admin(Method::GET, "/api/inbox", None).await;
    assert_eq!(inbox["claims"], json!([]), "the other claims go with it");
    let (status, _) = app
        .as_admin(
            Method::POST,
            &decide,
            Some(json!({"team": "web", "approve": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = ben.post(&claim, json!({"team": "web"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("topic_owned"))
    );
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?topic=legacy", None)
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"request_claim") && actions.contains(&"approve_claim"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn owners_see_who_reads_their_topic_and_how_far_behind_each_is() {
    let app = spawn_app_with(oidc_mode).await;
    let ana = Person::new(&app, "ana", false, &["payments"]).await;
    let dan = Person::new(&app, "dan", false, &["payments"]).await;
    let ben = Person::new(&app, "ben", false, &["web"]).await;
    let id = active(
        &app,
        &ana,
        json!({"name": "payments_eu", "created_by": "", "access": "approval"}),
    )
    .await;
    app.produce_numbered("payments_eu", 0..5).await;
    let subscribe = json!({"user_id": "", "topic_name": "payments_eu"});
    assert_eq!(
        dan.post("/api/subscriptions", subscribe.clone()).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        ben.post("/api/subscriptions", subscribe).await.0,
        StatusCode::ACCEPTED
    );
    // Dan stands after the second record: three behind.
    let position = json!({"user_id": "dan", "topic_name": "payments_eu", "offsets": {"0": 2}});
    let (status, body) = dan
        .call(Method::PUT, "/api/positions", Some(position))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let path = format!("/api/topics/{id}/subscribers");
    let (status, body) = ana.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows: Vec<(String, String, Option<i64>)> = body["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["user_id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
                s["lag"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("ben".into(), "pending".into(), None),
            ("dan".into(), "active".into(), Some(3)),
        ]
    );
    assert_eq!(body["more"], false);
    assert_eq!(
        app.as_admin(Method::GET, &path, None).await.0,
        StatusCode::OK
    );
    // Not for a subscriber who is not an owner.
    assert_eq!(ben.get(&path).await.0, StatusCode::FORBIDDEN);
}

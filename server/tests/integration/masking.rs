//! Masked fields: what readers outside a topic's owners get, live, replayed and searched, and
//! that their filters and searches see only that.

use crate::access::{active, oidc_mode, Person};
use crate::helpers::{spawn_app_with, Client, TestApp};
use app::stream::{ClientFrame, SearchRequest, ServerFrame, StartPosition, StreamRecord};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Sends `value` to topic `id` as the admin.
async fn produce(app: &TestApp, id: i64, value: Value) {
    let (status, body) = app
        .as_admin(
            Method::POST,
            &format!("/api/topics/{id}/records"),
            Some(json!({ "value": value })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Streams `topic` from the start (through `filter`, if any) until caught up: the records.
async fn read_all(
    socket: &mut Client,
    topic: &str,
    n: usize,
    filter: Option<&str>,
) -> Vec<StreamRecord> {
    socket
        .send(&ClientFrame::Subscribe {
            topics: vec![topic.into()],
            from: StartPosition::Earliest,
            filter: filter.map(str::to_owned),
        })
        .await;
    let mut records = Vec::new();
    loop {
        match socket.next().await {
            ServerFrame::Subscribed { .. } => {}
            ServerFrame::Records { records: batch } => records.extend(batch),
            ServerFrame::CaughtUp { .. } => return records,
            other => panic!("unexpected {other:?}"),
        }
        if filter.is_none() && records.len() == n {
            return records;
        }
    }
}

/// Searches `topic` (through `filter`): the records found.
async fn search(socket: &mut Client, topic: &str, filter: Option<&str>) -> Vec<StreamRecord> {
    socket
        .send(&ClientFrame::Search(SearchRequest {
            filter: filter.map(str::to_owned),
            ..SearchRequest::whole_topic("s", topic)
        }))
        .await;
    let mut found = Vec::new();
    loop {
        match socket.next().await {
            ServerFrame::SearchResults { records, .. } => found.extend(records),
            ServerFrame::SearchProgress { .. } => {}
            ServerFrame::SearchDone { .. } => return found,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn values(records: &[StreamRecord]) -> Vec<Value> {
    records
        .iter()
        .map(|r| r.value.clone().unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn readers_outside_the_owners_get_masked_records_everywhere_and_cannot_probe_them() {
    let app = spawn_app_with(oidc_mode).await;
    let ana = Person::new(&app, "ana", false, &["payments"]).await;
    let ben = Person::new(&app, "ben", false, &["web"]).await;
    let masks = json!([
        {"path": "customer_id", "method": "hash"},
        {"path": "card.number", "method": "last4"},
        {"path": "contact.*.email", "method": "redact"},
        {"path": "secret", "method": "remove"},
    ]);
    let id = active(
        &app,
        &ana,
        json!({"name": "payments_eu", "created_by": "", "access": "approval", "masks": masks}),
    )
    .await;
    let first = json!({"customer_id": "cust-00017", "card": {"number": "4111111111111111", "brand": "visa"},
                       "contact": {"home": {"email": "a@example.com", "phone": "1"}}, "secret": 42, "amount": 10});
    produce(&app, id, first.clone()).await;
    produce(&app, id, json!({"customer_id": "cust-00018", "amount": 20})).await;
    produce(&app, id, json!("a text value the masks cannot reach")).await;
    for person in [&ana, &ben] {
        let sub = json!({"user_id": "", "topic_name": "payments_eu"});
        assert!(person.post("/api/subscriptions", sub).await.0.is_success());
    }
    let decision = json!({"user_id": "ben", "topic_name": "payments_eu", "decision": "approve"});
    assert_eq!(
        ana.post("/api/subscriptions/decision", decision).await.0,
        StatusCode::OK
    );

    // Ben: every masked field masked, the rest as written; the text value withheld.
    let mut bens = ben.socket().await;
    let replayed = read_all(&mut bens, "payments_eu", 3, None).await;
    let masked = values(&replayed);
    let hash = masked[0]["customer_id"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 32, "{hash}");
    assert_eq!(
        masked[0],
        json!({"customer_id": hash, "card": {"number": "************1111", "brand": "visa"},
               "contact": {"home": {"email": "***", "phone": "1"}}, "amount": 10})
    );
    assert_ne!(masked[1]["customer_id"], masked[0]["customer_id"]);
    assert_eq!(masked[1]["amount"], 20, "absent fields are no matter");
    assert_eq!(
        (&replayed[2].value, replayed[2].encoding.as_str()),
        (&None, "withheld")
    );

    // Live: masked the same (the same value hashes the same, so records still join).
    produce(&app, id, first.clone()).await;
    let (live, _) = bens.records(1).await;
    assert_eq!(
        live[0].value.as_ref().unwrap()["customer_id"],
        hash.as_str()
    );

    // A filter cannot probe a hidden value; it still reads what is not hidden.
    let mut probe = ben.socket().await;
    let found = read_all(
        &mut probe,
        "payments_eu",
        0,
        Some(r#"value.customer_id == "cust-00017""#),
    )
    .await;
    assert!(found.is_empty(), "{found:?}");
    let mut probe = ben.socket().await;
    let found = read_all(&mut probe, "payments_eu", 0, Some("value.amount > 15")).await;
    assert_eq!(
        values(&found),
        [json!({"customer_id": masked[1]["customer_id"], "amount": 20})]
    );
    // Nor can a search.
    let mut searching = ben.socket().await;
    assert!(search(
        &mut searching,
        "payments_eu",
        Some(r#"value.customer_id == "cust-00017""#)
    )
    .await
    .is_empty());
    let all = search(&mut searching, "payments_eu", None).await;
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|r| !r
        .value
        .as_ref()
        .is_some_and(|v| v.to_string().contains("cust-00017"))));

    // Ana (an owner) and the admin read it clear.
    let mut anas = ana.socket().await;
    let clear = read_all(&mut anas, "payments_eu", 4, None).await;
    assert_eq!(clear[0].value.as_ref().unwrap(), &first);
    let mut found = search(
        &mut anas,
        "payments_eu",
        Some(r#"value.customer_id == "cust-00017""#),
    )
    .await;
    assert_eq!(found.len(), 2);
    let bearer = app.admin_header();
    let mut admins =
        Client::connect_with(&app, "?follow=false", &[("authorization", &bearer)]).await;
    let clear = read_all(&mut admins, "payments_eu", 4, None).await;
    assert_eq!(clear[0].value.as_ref().unwrap(), &first);
    found.clear();
}

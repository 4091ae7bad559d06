//! Producing a test record through the REST route and the CLI, against the
//! real broker: where it lands, that open viewers get it, that it is audited, and the refusals.

use crate::helpers::{spawn_app, Client};
use app::stream::{ClientFrame, ServerFrame, StartPosition};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::{process::Stdio, time::Duration};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn an_admin_sends_a_record_that_viewers_see_and_the_audit_log_keeps() {
    let app = spawn_app().await;
    let id = app.active_topic("composed", 2).await;
    let auth = app.admin_header();
    let mut viewer = Client::connect_with(&app, "?follow=false", &[("authorization", &auth)]).await;
    viewer
        .send(&ClientFrame::Subscribe {
            topics: vec!["composed".into()],
            from: StartPosition::Latest,
            filter: None,
        })
        .await;
    assert!(matches!(
        viewer.next().await,
        ServerFrame::Subscribed { .. }
    ));

    let record = json!({"key": "order-7", "headers": {"event_type": "payment"},
                        "value": {"amount": 612.5, "currency": "EUR"}});
    let path = format!("/api/topics/{id}/records");
    let (status, produced) = app.as_admin(Method::POST, &path, Some(record)).await;
    assert_eq!(status, StatusCode::CREATED, "{produced}");
    assert_eq!(produced["topic"], "composed");
    let (partition, offset) = (
        produced["partition"].as_i64().unwrap(),
        produced["offset"].as_i64().unwrap(),
    );
    match viewer.next().await {
        ServerFrame::Records { records } => {
            let r = &records[0];
            assert_eq!((i64::from(r.partition), r.offset), (partition, offset));
            assert_eq!(r.key.as_deref(), Some("order-7"));
            assert_eq!(r.headers["event_type"], "payment");
            assert_eq!(r.value, Some(json!({"amount": 612.5, "currency": "EUR"})));
        }
        other => panic!("expected the record, got {other:?}"),
    }
    let (_, audit) = app
        .as_admin(Method::GET, "/api/audit?action=produce", None)
        .await;
    let row = &audit.as_array().unwrap()[0];
    assert_eq!(
        (row["actor"].as_str(), row["outcome"].as_str()),
        (Some("admin"), Some("ok"))
    );
    assert!(row["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("partition {partition}, offset {offset}")));

    // Refusals: anonymous, an inactive topic, too many headers, no value.
    let anonymous = app.post(&path, json!({"value": 1})).await;
    assert_eq!(anonymous.0, StatusCode::UNAUTHORIZED);
    let pending = app.request_topic("not_yet", 1).await;
    let (status, body) = app
        .as_admin(
            Method::POST,
            &format!("/api/topics/{pending}/records"),
            Some(json!({"value": 1})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("topic_not_active"))
    );
    let headers: serde_json::Map<String, Value> =
        (0..33).map(|n| (format!("h{n}"), json!("v"))).collect();
    let (status, body) = app
        .as_admin(
            Method::POST,
            &path,
            Some(json!({"value": 1, "headers": headers})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("headers"))
    );
    let (status, _) = app
        .as_admin(Method::POST, &path, Some(json!({"key": "k"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_cli_produces_one_record_per_line_kcat_style() {
    let app = spawn_app().await;
    app.active_topic("piped", 1).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"))
        .args(["produce", "-t", "piped", "-K", ":", "-H", "source=cli"])
        .env("STREAMHUB_API_URL", app.url(""))
        .env("ADMIN_TOKEN", &app.admin_token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"k1:{\"n\": 1}\n\nk2:{\"n\": 2}\n")
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "0\t0\n0\t1\n");

    // What a direct read finds.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"))
        .args(["consume", "-t", "piped", "-o", "beginning", "-e"])
        .env("STREAMHUB_API_URL", app.url(""))
        .env("KAFKA_BOOTSTRAP_SERVERS", app.broker.bootstrap())
        .env_remove("STREAMHUB_USER")
        .output()
        .await
        .unwrap();
    let records: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (
            records[1]["key"].as_str(),
            &records[1]["value"],
            records[1]["headers"]["source"].as_str()
        ),
        (Some("k2"), &json!({"n": 2}), Some("cli"))
    );

    // A line that is not JSON: a usage error naming it.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"))
        .args(["produce", "-t", "piped"])
        .env("STREAMHUB_API_URL", app.url(""))
        .env("ADMIN_TOKEN", &app.admin_token)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"n\": 3}\nnot json\n").await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 2"));
}

//! Filter expressions against the real broker: each form people write, the
//! refusals, evaluation shared between sockets, exact positions after a filtered replay, and
//! the CLI giving the same results reading Kafka directly and through the relay.

use crate::helpers::{spawn_app, Client, TestApp};
use app::stream::{ClientFrame, PartitionOffsets, ServerFrame, StartPosition, StreamRecord};
use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use serde_json::json;
use std::{collections::BTreeSet, time::Duration};
use streamhub::kafka::{client_config, KafkaArgs};

/// The first record's timestamp: 2026-01-01T00:00:00Z; record `n` is stamped `n` seconds later.
pub(crate) const BASE_MS: i64 = 1_767_225_600_000;

/// Produces record `n` for each `n` in `range` into `topic`, partition `n % 2`: key `k{n % 7}`,
/// header `event_type` `payment` (even `n`) or `sensor` (odd), and a value whose fields each
/// form of filter can pick on.
pub(crate) async fn produce(app: &TestApp, topic: &str, range: std::ops::Range<i64>) {
    let producer: FutureProducer = client_config(&KafkaArgs::for_bootstrap(app.broker.bootstrap()))
        .set("linger.ms", "1")
        .create()
        .unwrap();
    for n in range {
        let value = json!({
            "n": n,
            "amount": n as f64 * 10.5,
            "level": match n % 5 { 0 => "ERROR", 1 => "WARN", _ => "INFO" },
            "tags": if n > 40 { ["big"] } else { ["small"] },
        })
        .to_string();
        let key = format!("k{}", n % 7);
        let kind = if n % 2 == 0 { "payment" } else { "sensor" };
        let headers = OwnedHeaders::new().insert(Header {
            key: "event_type",
            value: Some(kind),
        });
        let record = FutureRecord::to(topic)
            .partition((n % 2) as i32)
            .key(&key)
            .payload(&value)
            .headers(headers)
            .timestamp(BASE_MS + n * 1000);
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
}

/// An admin's socket (which may stream any active topic).
pub(crate) async fn admin_client(app: &TestApp) -> Client {
    let auth = app.admin_header();
    Client::connect_with(app, "?follow=false", &[("authorization", &auth)]).await
}

async fn subscribe(client: &mut Client, topic: &str, from: StartPosition, filter: &str) {
    client
        .send(&ClientFrame::Subscribe {
            topics: vec![topic.into()],
            from,
            filter: Some(filter.into()),
        })
        .await;
}

/// The records of a filtered stream until its `caught_up` frame: their `n`s, and where the
/// frame says the replay ended.
async fn replayed(client: &mut Client) -> (BTreeSet<i64>, PartitionOffsets) {
    let mut seen = BTreeSet::new();
    loop {
        match client.next().await {
            ServerFrame::Subscribed { filter, .. } => assert!(filter.is_some()),
            ServerFrame::Records { records } => seen.extend(records.iter().map(n_of)),
            ServerFrame::CaughtUp { next_offsets, .. } => return (seen, next_offsets),
            other => panic!("unexpected {other:?}"),
        }
    }
}

pub(crate) fn n_of(record: &StreamRecord) -> i64 {
    record.value.as_ref().unwrap()["n"].as_i64().unwrap()
}

/// Which `n`s a filter should let through.
type Expected = fn(i64) -> bool;

#[tokio::test]
async fn each_form_of_filter_streams_what_it_matches_from_the_real_broker() {
    let app = spawn_app().await;
    app.active_topic("filtered", 2).await;
    produce(&app, "filtered", 0..60).await;
    let forms: [(&str, Expected); 9] = [
        (r#"key == "k3""#, |n| n % 7 == 3),
        ("value.amount > 300.0", |n| n as f64 * 10.5 > 300.0),
        ("value.n >= 55", |n| n >= 55),
        (r#"headers.event_type == "sensor""#, |n| n % 2 == 1),
        (r#"value.level in ["ERROR", "WARN"]"#, |n| n % 5 <= 1),
        (r#"value.tags.exists(t, t == "big")"#, |n| n > 40),
        (r#"timestamp >= timestamp("2026-01-01T00:00:50Z")"#, |n| {
            n >= 50
        }),
        ("partition == 1 && offset < 3", |n| n % 2 == 1 && n / 2 < 3),
        (
            r#"value.level == "ERROR" && headers.event_type == "payment""#,
            |n| n % 10 == 0,
        ),
    ];
    let mut client = admin_client(&app).await;
    for (filter, expected) in forms {
        subscribe(&mut client, "filtered", StartPosition::Earliest, filter).await;
        let (seen, caught_up) = replayed(&mut client).await;
        let want: BTreeSet<i64> = (0..60).filter(|n| expected(*n)).collect();
        assert_eq!(seen, want, "{filter}");
        // Every record was looked at: the replay ended where the topic ends.
        assert_eq!(
            caught_up,
            PartitionOffsets::from([(0, 30), (1, 30)]),
            "{filter}"
        );
    }
}

#[tokio::test]
async fn bad_filters_are_refused_with_where_and_why_and_the_socket_stays() {
    let app = spawn_app().await;
    app.active_topic("refusals", 1).await;
    let mut client = admin_client(&app).await;
    let long = format!("value.n == 1{}", " || value.n == 1".repeat(100));
    for (filter, says) in [
        ("value.n >", "line 1, column"),
        (
            r#"readFile("/etc/passwd") == """#,
            "unknown function `readFile`",
        ),
        ("process.pid > 0", "unknown name `process`"),
        (long.as_str(), "at most 1000 are allowed"),
        (
            "value.tags.all(a, value.tags.exists(b, a == b))",
            "too costly",
        ),
    ] {
        subscribe(&mut client, "refusals", StartPosition::Latest, filter).await;
        match client.next().await {
            ServerFrame::Error { error, message } => {
                assert_eq!(error, "invalid_filter", "{filter}");
                assert!(message.contains(says), "{filter}: {message}");
            }
            other => panic!("{filter}: expected an error, got {other:?}"),
        }
    }
    // Nothing was subscribed, and the socket still works.
    client.send(&ClientFrame::Ping).await;
    assert_eq!(client.next().await, ServerFrame::Pong);
}

#[tokio::test]
async fn sockets_sharing_a_filter_share_its_evaluation_of_each_live_record() {
    let app = spawn_app().await;
    app.active_topic("shared_filter", 2).await;
    let filter = r#"value.level == "ERROR""#;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = admin_client(&app).await;
        subscribe(&mut client, "shared_filter", StartPosition::Latest, filter).await;
        assert!(matches!(
            client.next().await,
            ServerFrame::Subscribed { .. }
        ));
        assert!(matches!(client.next().await, ServerFrame::CaughtUp { .. }));
        clients.push(client);
    }
    let before = evaluations(&app).await;
    produce(&app, "shared_filter", 0..40).await;
    for client in &mut clients {
        let mut seen = BTreeSet::new();
        while seen.len() < 8 {
            match client.next().await {
                ServerFrame::Records { records } => seen.extend(records.iter().map(n_of)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, (0..40).filter(|n| n % 5 == 0).collect());
    }
    // The records after the last match may still be in evaluation when the clients have their
    // eight: wait for the count to settle, then check that it settled at one per record.
    let started = std::time::Instant::now();
    while evaluations(&app).await - before < 40 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        evaluations(&app).await - before,
        40,
        "one evaluation per record for the three sockets"
    );
}

/// Filter evaluations the relay has made.
pub(crate) async fn evaluations(app: &TestApp) -> u64 {
    app.metric("streamhub_relay_filter_evaluations_total").await
}

/// The CLI, reading Kafka itself and through the relay, prints the same records for a filter.
#[tokio::test]
async fn the_cli_filters_alike_directly_and_through_the_relay() {
    let app = spawn_app().await;
    app.active_topic("cli_filtered", 2).await;
    produce(&app, "cli_filtered", 0..30).await;
    let (status, _) = app
        .post(
            "/api/subscriptions",
            json!({"user_id": "ana", "topic_name": "cli_filtered"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let filter = r#"value.amount >= 100.0 && headers.event_type == "payment""#;
    let mut outputs = Vec::new();
    for via_relay in [false, true] {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"));
        command
            .args([
                "--user",
                "ana",
                "consume",
                "-t",
                "cli_filtered",
                "-o",
                "beginning",
            ])
            .args(["-e", "--filter", filter])
            .env("STREAMHUB_API_URL", app.url(""))
            .env("KAFKA_BOOTSTRAP_SERVERS", app.broker.bootstrap())
            .kill_on_drop(true);
        if via_relay {
            command.arg("--via-relay");
        }
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("the consumer finishes")
            .unwrap();
        assert!(
            output.status.success(),
            "via relay {via_relay}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let ns: BTreeSet<i64> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str::<StreamRecord>(l).unwrap())
            .map(|r| n_of(&r))
            .collect();
        outputs.push(ns);
    }
    let want: BTreeSet<i64> = (10..30).filter(|n| n % 2 == 0).collect();
    assert_eq!(outputs[0], want, "direct");
    assert_eq!(outputs[1], want, "through the relay");
    // A bad filter is a usage error (exit 1) before anything is read.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"))
        .args(["consume", "-t", "cli_filtered", "--filter", "value.n >"])
        .env("STREAMHUB_API_URL", app.url(""))
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--filter: line 1"));
}

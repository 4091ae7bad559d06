//! Stored positions and lag against the real broker: a position saved
//! through the API is the consumer group's committed offsets (read back directly from Kafka),
//! the relay and the CLI start from it, and lag follows what is read.

use crate::{
    filters::{n_of, produce},
    helpers::{spawn_app, Client},
};
use app::stream::{ClientFrame, ServerFrame, StartPosition};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    Offset, TopicPartitionList,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use streamhub::kafka::{client_config, KafkaArgs};

/// The group's committed offsets as Kafka itself answers them.
fn committed_in_kafka(bootstrap: &str, group: &str, topic: &str) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = client_config(&KafkaArgs::for_bootstrap(bootstrap))
        .set("group.id", group)
        .create()
        .unwrap();
    let mut asked = TopicPartitionList::new();
    asked.add_partition(topic, 0);
    asked.add_partition(topic, 1);
    let found = consumer
        .committed_offsets(asked, Duration::from_secs(10))
        .unwrap();
    found
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_saved_position_is_where_the_relay_and_the_cli_start_and_lag_follows_it() {
    let app = spawn_app().await;
    app.active_topic("positions", 2).await;
    produce(&app, "positions", 0..40).await; // 20 records in each partition
    let subscribe = json!({"user_id": "ana", "topic_name": "positions"});
    assert_eq!(
        app.post("/api/subscriptions", subscribe).await.0,
        StatusCode::CREATED
    );

    let (status, lag) = app.get("/api/subscriptions/lag?user_id=ana").await;
    assert_eq!(status, StatusCode::OK, "{lag}");
    assert_eq!(
        lag,
        json!([{"topic": "positions", "total": null, "partitions": [
            {"partition": 0, "committed": null, "end": 20, "lag": null},
            {"partition": 1, "committed": null, "end": 20, "lag": null}]}])
    );

    let save = json!({"user_id": "ana", "topic_name": "positions", "offsets": {"0": 5, "1": 15}});
    let (status, body) = app
        .call(Method::PUT, "/api/positions", Some(save), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bootstrap = app.broker.bootstrap();
    let direct = tokio::task::spawn_blocking(move || {
        committed_in_kafka(&bootstrap, "streamhub-ana", "positions")
    })
    .await
    .unwrap();
    assert_eq!(direct, [Some(5), Some(15)]);
    let (_, lag) = app.get("/api/subscriptions/lag?user_id=ana").await;
    assert_eq!(lag[0]["total"], 20);
    assert_eq!(lag[0]["partitions"][0]["lag"], 15);
    assert_eq!(lag[0]["partitions"][1]["lag"], 5);

    // The relay starts a stored position there.
    let mut client = Client::connect(&app, "?user_id=ana&follow=false").await;
    client
        .send(&ClientFrame::Subscribe {
            topics: vec!["positions".into()],
            from: StartPosition::Stored,
            filter: None,
        })
        .await;
    let mut got = Vec::new();
    while got.len() < 20 {
        match client.next().await {
            ServerFrame::Subscribed { from, .. } => assert_eq!(from, StartPosition::Stored),
            ServerFrame::Records { records } => got.extend(records),
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut ns: Vec<i64> = got.iter().map(n_of).collect();
    ns.sort_unstable();
    let want: Vec<i64> = (10..40)
        .step_by(2)
        .chain((31..40).step_by(2))
        .collect::<Vec<_>>();
    let mut want = want;
    want.sort_unstable();
    assert_eq!(ns, want);

    // The CLI reads from there too, and moves the position as it reads: no lag after.
    let cli = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"));
        command
            .args(["--user", "ana"])
            .args(args)
            .env("STREAMHUB_API_URL", app.url(""))
            .env("KAFKA_BOOTSTRAP_SERVERS", app.broker.bootstrap())
            .kill_on_drop(true);
        command.output()
    };
    let output = cli(&["consume", "-t", "positions", "-o", "stored", "-e"])
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 20);
    let output = cli(&["lag"]).await.unwrap();
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(table.contains("positions\t0\t20\t20\t0"), "{table}");
    assert!(table.contains("positions\t1\t20\t20\t0"), "{table}");

    // The viewer's "save position": the socket's own streams, where they stand.
    produce(&app, "positions", 40..50).await;
    let mut live = 0;
    while live < 10 {
        if let ServerFrame::Records { records } = client.next().await {
            live += records.len();
        }
    }
    client.send(&ClientFrame::SavePosition).await;
    assert_eq!(
        client.next().await,
        ServerFrame::PositionSaved {
            topic: "positions".into()
        }
    );
    let bootstrap = app.broker.bootstrap();
    let direct = tokio::task::spawn_blocking(move || {
        committed_in_kafka(&bootstrap, "streamhub-ana", "positions")
    })
    .await
    .unwrap();
    assert_eq!(direct, [Some(25), Some(25)]);

    // Refusals.
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/positions",
            Some(json!({"user_id": "bob", "topic_name": "positions", "offsets": {"0": 1}})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body): (StatusCode, Value) = app
        .call(
            Method::PUT,
            "/api/positions",
            Some(json!({"user_id": "ana", "topic_name": "positions", "offsets": {"0": -1}})),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("offsets"))
    );
    let (status, body): (StatusCode, Value) = app
        .call(
            Method::PUT,
            "/api/positions",
            Some(json!({"user_id": "ana", "topic_name": "positions", "offsets": {}})),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("offsets"))
    );
    let mut anonymous = Client::connect(&app, "").await;
    anonymous
        .send(&ClientFrame::Subscribe {
            topics: vec!["positions".into()],
            from: StartPosition::Stored,
            filter: None,
        })
        .await;
    // Without a user the topic is not streamable anyway: refused before the position is read.
    anonymous
        .expect_error("not_subscribed", "a stored start without a user")
        .await;
    anonymous.send(&ClientFrame::SavePosition).await;
    anonymous
        .expect_error("no_user", "saving a position without a user")
        .await;
}

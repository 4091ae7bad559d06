//! The live relay with real WebSocket clients (tokio-tungstenite), a real broker and server.

use crate::helpers::{spawn_app, subscribe_user, upgrade_status, Client, TestApp};
use app::stream::{ClientFrame, ServerFrame, StartPosition, StreamRecord};
use futures::{SinkExt, StreamExt};
use rdkafka::producer::{FutureProducer, FutureRecord};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::{collections::BTreeMap, time::Duration};
use streamhub::{
    kafka::client_config,
    kafka::KafkaArgs,
    relay::{Relay, RelayLimits},
};
use tokio_tungstenite::tungstenite::Message;

fn producer(app: &TestApp) -> FutureProducer {
    client_config(&KafkaArgs::for_bootstrap(app.broker.bootstrap()))
        .set("linger.ms", "1")
        .create()
        .unwrap()
}

/// Offsets per partition must be contiguous from where each started: no gap, no duplicate.
fn assert_contiguous(records: &[StreamRecord]) -> BTreeMap<i32, Vec<i64>> {
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in records {
        by_partition.entry(r.partition).or_default().push(r.offset);
    }
    for (p, offsets) in &by_partition {
        for pair in offsets.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "partition {p}: {offsets:?}");
        }
    }
    by_partition
}

/// A socket of `user`, who subscribes to `topic` through REST first: it streams the topic by
/// following the user's subscriptions.
async fn following_client(app: &TestApp, user: &str, topic: &str) -> Client {
    subscribe_user(app, user, topic).await;
    let mut client = Client::connect(app, &format!("?user_id={user}")).await;
    assert!(matches!(
        client.next().await,
        ServerFrame::Subscribed { .. }
    ));
    client
}

/// The records are exactly those `produce_numbered` made for `expected`: each once, in order
/// per partition.
fn assert_exactly(records: &[StreamRecord], expected: std::ops::Range<i64>) {
    assert_contiguous(records);
    let mut values: Vec<i64> = records
        .iter()
        .map(|r| r.value.as_ref().unwrap()["n"].as_i64().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, expected.collect::<Vec<_>>());
}

/// Unsubscribes `user` from `topic` through REST, expects the socket to say the stream stopped,
/// and checks that records produced afterwards (`more`) do not arrive.
async fn unsubscribe_and_expect_the_stream_to_stop(
    app: &TestApp,
    client: &mut Client,
    user: &str,
    topic: &str,
    more: std::ops::Range<usize>,
) {
    app.call(
        Method::DELETE,
        "/api/subscriptions",
        Some(json!({"user_id": user, "topic_name": topic})),
        &[],
    )
    .await;
    assert_eq!(
        client.next().await,
        ServerFrame::Unsubscribed {
            topic: topic.into(),
            reason: "unsubscribed".into()
        }
    );
    app.produce_numbered(topic, more).await;
    client.quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn live_records_arrive_in_order_per_partition() {
    let app = spawn_app().await;
    app.active_topic("live", 3).await;
    subscribe_user(&app, "u1", "live").await;
    let mut client = Client::connect(&app, "?user_id=u1").await;
    match client.next().await {
        ServerFrame::Subscribed {
            topic,
            next_offsets,
            ..
        } => {
            assert_eq!(topic, "live");
            assert_eq!(next_offsets.iter().count(), 3);
        }
        other => panic!("{other:?}"),
    }
    app.produce_numbered("live", 0..300).await;
    let (records, others) = client.records(300).await;
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(records.len(), 300);
    let by_partition = assert_contiguous(&records);
    assert!(by_partition.len() > 1);
    // Values are the JSON that was produced, keys and partitions as Kafka has them.
    let mut values: Vec<i64> = records
        .iter()
        .map(|r| r.value.as_ref().unwrap()["n"].as_i64().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, (0..300).collect::<Vec<_>>());
    assert!(records
        .iter()
        .all(|r| r.encoding == "json" && r.key.is_some() && r.timestamp.is_some()));
}

#[tokio::test]
async fn rest_subscription_changes_start_and_stop_the_stream_live() {
    let app = spawn_app().await;
    app.active_topic("dynamic", 1).await;
    let mut client = Client::connect(&app, "?user_id=late").await;
    client.quiet(Duration::from_millis(300)).await;

    subscribe_user(&app, "late", "dynamic").await;
    let started = std::time::Instant::now();
    assert!(
        matches!(client.next().await, ServerFrame::Subscribed { topic, .. } if topic == "dynamic")
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    app.produce_numbered("dynamic", 0..5).await;
    assert_eq!(client.records(5).await.0.len(), 5);

    unsubscribe_and_expect_the_stream_to_stop(&app, &mut client, "late", "dynamic", 5..10).await;
}

#[tokio::test]
async fn an_unsubscribe_stops_a_topic_the_socket_asked_for_itself() {
    let app = spawn_app().await;
    app.active_topic("asked", 1).await;
    subscribe_user(&app, "viewer", "asked").await;
    let mut client = Client::connect(&app, "?user_id=viewer&follow=false").await;
    client.quiet(Duration::from_millis(300)).await;
    client
        .send(&ClientFrame::Subscribe {
            topics: vec!["asked".into()],
            from: StartPosition::Latest,
            filter: None,
        })
        .await;
    assert!(matches!(
        client.next().await,
        ServerFrame::Subscribed { .. }
    ));
    unsubscribe_and_expect_the_stream_to_stop(&app, &mut client, "viewer", "asked", 0..5).await;
}

#[tokio::test]
async fn a_timestamp_start_replays_only_records_from_that_time_on() {
    let app = spawn_app().await;
    app.active_topic("timed", 2).await;
    subscribe_user(&app, "t", "timed").await;
    app.produce_numbered("timed", 0..20).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    tokio::time::sleep(Duration::from_millis(50)).await;
    app.produce_numbered("timed", 20..30).await;

    let mut client = Client::connect(&app, "?user_id=t&follow=false").await;
    client
        .send(&ClientFrame::Subscribe {
            topics: vec!["timed".into()],
            from: StartPosition::Timestamp { at },
            filter: None,
        })
        .await;
    assert!(matches!(
        client.next().await,
        ServerFrame::Subscribed { .. }
    ));
    let (records, _) = client.records(10).await;
    let mut values: Vec<i64> = records
        .iter()
        .map(|r| r.value.as_ref().unwrap()["n"].as_i64().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, (20..30).collect::<Vec<_>>());
    assert!(records.iter().all(|r| r.timestamp.unwrap() >= at));
    client.quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn every_start_position_hands_over_to_live_without_gap_or_duplicate() {
    let app = spawn_app().await;
    app.active_topic("history", 2).await;
    subscribe_user(&app, "h", "history").await;
    app.produce_numbered("history", 0..40).await;

    for (from, expected_replay) in [
        (StartPosition::Earliest, 40),
        (StartPosition::Last { n: 5 }, 10),
        (StartPosition::Latest, 0),
    ] {
        let mut client = Client::connect(&app, "").await;
        client
            .send(&ClientFrame::Subscribe {
                topics: vec!["history".into()],
                from: from.clone(),
                filter: None,
            })
            .await;
        // Without ?user_id the client may not stream it.
        client
            .expect_error("not_subscribed", "an anonymous subscribe")
            .await;

        let mut client = Client::connect(&app, "?user_id=h").await;
        // The user's subscription starts at latest; restart it at `from`.
        assert!(matches!(
            client.next().await,
            ServerFrame::Subscribed { .. }
        ));
        client
            .send(&ClientFrame::Subscribe {
                topics: vec!["history".into()],
                from: from.clone(),
                filter: None,
            })
            .await;
        let next_offsets = match client.next().await {
            ServerFrame::Subscribed { next_offsets, .. } => {
                next_offsets.iter().collect::<BTreeMap<_, _>>()
            }
            other => panic!("{other:?}"),
        };
        let replayed = if expected_replay > 0 {
            client.records(expected_replay).await.0
        } else {
            vec![]
        };
        assert_eq!(replayed.len(), expected_replay, "{from:?}");
        for r in &replayed {
            assert!(
                r.offset < next_offsets[&r.partition],
                "replay stays before the join point"
            );
        }
        let total: i64 = next_offsets.values().sum();
        app.produce_numbered("history", total as usize..total as usize + 10)
            .await;
        let (live, _) = client.records(10).await;
        let mut all = replayed;
        all.extend(live);
        let by_partition = assert_contiguous(&all);
        for (p, offsets) in by_partition {
            assert_eq!(
                *offsets.last().unwrap() + 1,
                next_offsets[&p]
                    + all
                        .iter()
                        .filter(|r| r.partition == p && r.offset >= next_offsets[&p])
                        .count() as i64
            );
        }
    }

    // An explicit offset on one partition.
    let mut client = Client::connect(&app, "?user_id=h").await;
    client.next().await;
    client
        .send(&ClientFrame::Subscribe {
            topics: vec!["history".into()],
            from: StartPosition::Offsets {
                offsets: [(0, 3)].into(),
            },
            filter: None,
        })
        .await;
    let next_offsets = match client.next().await {
        ServerFrame::Subscribed { next_offsets, .. } => {
            next_offsets.iter().collect::<BTreeMap<_, _>>()
        }
        other => panic!("{other:?}"),
    };
    let expected = (next_offsets[&0] - 3) as usize;
    let (records, _) = client.records(expected).await;
    assert!(records.iter().all(|r| r.partition == 0));
    assert_eq!(records[0].offset, 3);
    assert_contiguous(&records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_delay_a_fast_one_and_is_told_what_it_missed() {
    let app = spawn_app().await;
    app.active_topic("firehose", 1).await;
    subscribe_user(&app, "fast", "firehose").await;
    subscribe_user(&app, "slow", "firehose").await;
    let mut fast = Client::connect(&app, "?user_id=fast").await;
    let mut slow = Client::connect(&app, "?user_id=slow").await;
    assert!(matches!(fast.next().await, ServerFrame::Subscribed { .. }));
    assert!(matches!(slow.next().await, ServerFrame::Subscribed { .. }));

    // 20 MB of records: more than a stalled socket may hold (TCP buffers, its frame queue and
    // the shared broadcast buffer), produced at a pace a (debug-built) client can follow.
    // `slow` reads nothing meanwhile.
    let producer = producer(&app);
    let filler = "x".repeat(1000);
    let n = 20_000;
    let started = std::time::Instant::now();
    let produce_all = async {
        for chunk in 0..n / 500 {
            let sends = (chunk * 500..(chunk + 1) * 500).map(|i| {
                let payload = json!({"n": i, "pad": filler}).to_string();
                let producer = producer.clone();
                async move {
                    producer
                        .send(
                            FutureRecord::<(), _>::to("firehose").payload(&payload),
                            Duration::from_secs(30),
                        )
                        .await
                        .map_err(|(e, _)| e)
                        .unwrap();
                }
            });
            futures::future::join_all(sends).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::time::Instant::now()
    };
    let (last_sent, (received, lagged)) = tokio::join!(produce_all, fast.count(n));
    let fast_elapsed = started.elapsed();
    let behind = last_sent.elapsed();
    assert_eq!(lagged, 0, "the fast client never lagged");
    assert_eq!(received, n);
    assert!(
        behind < Duration::from_secs(2),
        "the fast client finished {behind:?} after the last send"
    );

    // The stalled client, reading at last, learns how many it skipped.
    let (mut received, mut skipped) = (0_u64, 0_u64);
    while received + skipped < n as u64 {
        match slow.next().await {
            ServerFrame::Records { records } => received += records.len() as u64,
            ServerFrame::Lagged { skipped: s, .. } => skipped += s,
            other => panic!("{other:?}"),
        }
    }
    assert!(
        skipped > 0,
        "the stalled client was told it lagged (received {received})"
    );
    assert_eq!(
        received + skipped,
        n as u64,
        "every record is delivered or counted as skipped"
    );
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains("streamhub_relay_lagged_events_total 0\n"),
        "{metrics}"
    );
    eprintln!("fast client: {n} records of 1 KB in {fast_elapsed:?}, done {behind:?} after the last send; stalled client skipped {skipped}");
}

#[tokio::test]
async fn the_stream_resumes_after_a_broker_restart() {
    let mut app = spawn_app().await;
    app.active_topic("sturdy", 2).await;
    let mut client = following_client(&app, "s", "sturdy").await;
    app.produce_numbered("sturdy", 0..50).await;
    let (mut records, _) = client.records(50).await;

    app.broker.kill().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.broker.restart().await.unwrap();
    app.produce_numbered("sturdy", 50..100).await;
    let (more, _) = client.records(50).await;
    records.extend(more);
    assert_exactly(&records, 0..100);
}

/// A feed started for a socket is not idle before the socket's first listen, however long
/// that takes: were it counted idle at its first check, the feed would stop and the socket be
/// told later that its stream had `ended`. Here the socket's first read waits through many
/// idle sweeps (a loaded machine's scheduling, made long), and the feed must still be there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_feed_keeps_streaming_however_long_its_socket_takes_to_read() {
    let app = spawn_app().await;
    app.active_topic("patient", 2).await;
    let sweep = Duration::from_millis(50);
    let relay = Relay::new(
        KafkaArgs::for_bootstrap(app.broker.bootstrap()),
        RelayLimits {
            idle_sweep: sweep,
            ..RelayLimits::default()
        },
        streamhub::access::masking::MaskKey::new(b"test"),
        streamhub::schema::Schemas::none(),
    );
    let feeds = || {
        relay
            .stats()
            .feeds
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let mut first = relay
        .join("patient", relay.topic_epoch("patient"))
        .await
        .unwrap();
    tokio::time::sleep(sweep * 6).await;
    let second = relay
        .join("patient", relay.topic_epoch("patient"))
        .await
        .unwrap();
    assert_eq!(feeds(), 1, "both joined the one running feed");
    assert_eq!(first.positions, second.positions);

    app.produce_numbered("patient", 0..10).await;
    let mut received = Vec::new();
    while received.len() < 10 {
        let taken = tokio::time::timeout(
            Duration::from_secs(10),
            first.receiver.take(&mut received, 100, usize::MAX),
        )
        .await
        .expect("records in time");
        assert!(!taken.closed, "the feed still runs");
    }

    // Once nobody listens it retires within a few sweeps, and the next join starts another
    // where the log ends now.
    drop((first, second));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while feeds() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the idle feed retired"
        );
        tokio::time::sleep(sweep).await;
    }
    let third = relay
        .join("patient", relay.topic_epoch("patient"))
        .await
        .unwrap();
    assert_eq!(feeds(), 1);
    assert_eq!(third.positions.values().sum::<i64>(), 10);
}

#[tokio::test]
async fn a_stream_whose_feed_stops_under_it_moves_to_a_new_feed_without_gap_or_duplicate() {
    let app = spawn_app().await;
    app.active_topic("steady", 2).await;
    let mut client = following_client(&app, "ada", "steady").await;
    app.produce_numbered("steady", 0..50).await;
    let (mut records, others) = client.records(50).await;
    assert_eq!(others, []);

    // The feed stops while the topic stays active (as after a quick deactivate and
    // reactivate); records keep coming meanwhile.
    let (_, ()) = tokio::join!(
        app.produce_numbered("steady", 50..100),
        app.relay().topic_ended("steady")
    );
    app.produce_numbered("steady", 100..150).await;
    let (more, others) = client.records(100).await;
    assert_eq!(others, [], "the stream went on without a word");
    records.extend(more);
    assert_exactly(&records, 0..150);
    client.quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_deactivated_topic_ends_its_stream() {
    let app = spawn_app().await;
    let id = app.active_topic("ending", 1).await;
    subscribe_user(&app, "e", "ending").await;
    let mut client = Client::connect(&app, "?user_id=e").await;
    assert!(matches!(
        client.next().await,
        ServerFrame::Subscribed { .. }
    ));
    app.as_admin(Method::POST, &format!("/api/topics/{id}/deactivate"), None)
        .await;
    assert_eq!(
        client.next().await,
        ServerFrame::TopicState {
            topic: "ending".into(),
            state: "inactive".into()
        }
    );
    client
        .send(&ClientFrame::Subscribe {
            topics: vec!["ending".into()],
            from: StartPosition::Latest,
            filter: None,
        })
        .await;
    client
        .expect_error("topic_not_active", "a subscribe to the inactive topic")
        .await;
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_socket_stays_up() {
    let app = spawn_app().await;
    app.active_topic("guarded_stream", 1).await;
    let mut client = Client::connect(&app, "?user_id=nobody").await;
    let subscribe = |topic: &str| {
        serde_json::to_string(&ClientFrame::Subscribe {
            topics: vec![topic.into()],
            from: StartPosition::Latest,
            filter: None,
        })
        .unwrap()
    };
    // What is sent, and the error word it must get back.
    let refusals = [
        ("not json".to_owned(), "invalid_frame"),
        (r#"{"type": "dance"}"#.to_owned(), "invalid_frame"),
        (r#"{"type": "subscribe"}"#.to_owned(), "invalid_frame"),
        (subscribe("bad name!"), "invalid_topic"),
        (subscribe("guarded_stream"), "not_subscribed"),
        (subscribe("missing"), "topic_not_found"),
    ];
    for (frame, expected) in refusals {
        client
            .socket
            .send(Message::Text(frame.clone().into()))
            .await
            .unwrap();
        client.expect_error(expected, &frame).await;
    }
    client.send(&ClientFrame::Ping).await;
    assert_eq!(client.next().await, ServerFrame::Pong);

    // A frame over the size limit closes the socket (a protocol violation), not the server.
    let huge = format!(r#"{{"type": "ping", "pad": "{}"}}"#, "x".repeat(20_000));
    let _ = client.socket.send(Message::Text(huge.into())).await;
    assert_eq!(app.get("/api/health").await.0, StatusCode::OK);

    // An admin may stream any active topic.
    let auth = app.admin_header();
    let mut admin = Client::connect_with(&app, "", &[("authorization", &auth)]).await;
    admin
        .send(&ClientFrame::Subscribe {
            topics: vec!["guarded_stream".into()],
            from: StartPosition::Latest,
            filter: None,
        })
        .await;
    assert!(matches!(admin.next().await, ServerFrame::Subscribed { .. }));
}

#[tokio::test]
async fn foreign_origins_and_plain_requests_are_refused_with_json() {
    let app = spawn_app().await;
    let evil = [("origin", "http://evil.example")];
    assert_eq!(upgrade_status(&app, "", &evil).await, 403);
    // The page's own origin is fine.
    let own = format!("http://{}", app.addr);
    assert_eq!(upgrade_status(&app, "", &[("origin", &own)]).await, 101);

    let (status, body) = app.get("/api/stream").await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(body["error"], "websocket_upgrade_required");
}

#[tokio::test]
async fn control_frames_are_rate_limited_and_shutdown_closes_with_going_away() {
    let mut app = spawn_app().await;
    let mut client = Client::connect(&app, "").await;
    for _ in 0..40 {
        client.send(&ClientFrame::Ping).await;
    }
    let mut limited = 0;
    for _ in 0..40 {
        match client.next().await {
            ServerFrame::Pong => {}
            ServerFrame::Error { error, .. } if error == "rate_limited" => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(
        limited >= 15,
        "a burst of 40 exceeds the allowance of 20: {limited} limited"
    );

    app.stop_server().await;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), client.socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(
        u16::from(close.expect("a close frame with a code").code),
        1001
    );
}

#[tokio::test]
async fn a_relay_reader_resumes_a_partition_it_had_nothing_from_where_its_stream_began() {
    use streamhub::consumer::reader::{Event, Reader, RelayReader};
    let mut app = spawn_app().await;
    app.active_topic("resume_where", 2).await;
    subscribe_user(&app, "rita", "resume_where").await;
    let producer = producer(&app);
    let send = async |partition: i32, n: i64| {
        let payload = json!({"n": n}).to_string();
        producer
            .send(
                FutureRecord::<(), _>::to("resume_where")
                    .partition(partition)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    };
    // History on both partitions, before the reader starts from `latest`.
    for n in 0..5 {
        send(0, n).await;
        send(1, n).await;
    }
    let reader = RelayReader::open(
        &app.url(""),
        Some("rita"),
        &[("resume_where".to_owned(), 2)],
        "latest",
        false,
        None,
        None,
    )
    .await
    .unwrap();
    let mut reader = Reader::Relay(Box::new(reader));
    let next_record = async |reader: &mut Reader| loop {
        let event = tokio::time::timeout(Duration::from_secs(20), reader.next())
            .await
            .expect("a record in time")
            .unwrap();
        if let Some(Event::Record(record)) = event {
            return record;
        }
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    send(0, 100).await;
    let first = next_record(&mut reader).await;
    assert_eq!((first.partition, first.offset), (0, 5));

    // The server goes away and comes back; partition 1 had sent this reader nothing. The reader
    // resumes it where its stream began (offset 5), not from its history.
    app.stop_server().await;
    app.start_server().await;
    send(1, 101).await;
    let after = next_record(&mut reader).await;
    assert_eq!((after.partition, after.offset), (1, 5), "{after:?}");
}

#[tokio::test]
async fn a_socket_that_missed_notices_of_changed_rules_ends_every_stream_to_be_safe() {
    let app = spawn_app().await;
    app.active_topic("kept", 1).await;
    subscribe_user(&app, "viewer", "kept").await;
    let mut client = Client::connect(&app, "?user_id=viewer&follow=false").await;
    client.subscribe(&["kept"], StartPosition::Latest).await;
    assert!(matches!(
        client.next().await,
        ServerFrame::Subscribed { .. }
    ));
    // Far more notices than a socket keeps, all of other topics, before it can read one: it
    // cannot know whether one was about `kept`.
    for n in 0..10_000 {
        app.relay().access_changed(&format!("other_{n}"));
    }
    match client.next().await {
        ServerFrame::Unsubscribed { topic, reason } => {
            assert_eq!(
                (topic.as_str(), reason.as_str()),
                ("kept", "access_changed")
            )
        }
        other => panic!("expected the stream to end, got {other:?}"),
    }
}

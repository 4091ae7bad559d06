//! Searching a topic's history through the relay, against the real broker: what a search
//! covers, its progress and end, its cap, cancellation by the client, by the socket going away
//! and by the socket losing the right to read the topic, and the limit per client.

use crate::{
    filters::{admin_client, evaluations, n_of, produce, BASE_MS},
    helpers::{spawn_app, Client, TestApp},
};
use app::stream::{ClientFrame, SearchRequest, ServerFrame};
use rdkafka::producer::{FutureProducer, FutureRecord};
use reqwest::Method;
use serde_json::json;
use std::{collections::BTreeSet, time::Duration};
use streamhub::kafka::{client_config, KafkaArgs};

fn search(id: &str, topic: &str) -> SearchRequest {
    SearchRequest::whole_topic(id, topic)
}

/// What a search sent until its end: the matches' `n`s, the last progress (scanned, total,
/// matches), and the end's (reason, scanned, matches).
struct Outcome {
    found: BTreeSet<i64>,
    last_progress: (u64, u64, u64),
    end: (String, u64, u64),
}

async fn run(client: &mut Client, request: SearchRequest) -> Outcome {
    let id = request.id.clone();
    client.send(&ClientFrame::Search(request)).await;
    let (mut found, mut last_progress) = (BTreeSet::new(), (0, 0, 0));
    loop {
        match client.next().await {
            ServerFrame::SearchResults { id: of, records } if of == id => {
                found.extend(records.iter().map(n_of))
            }
            ServerFrame::SearchProgress {
                id: of,
                scanned,
                total,
                matches,
                ..
            } if of == id => {
                assert!(scanned >= last_progress.0, "progress goes forward");
                last_progress = (scanned, total, matches);
            }
            ServerFrame::SearchDone {
                id: of,
                scanned,
                matches,
                reason,
                ..
            } if of == id => {
                return Outcome {
                    found,
                    last_progress,
                    end: (reason, scanned, matches),
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_search_finds_what_it_is_asked_for_and_says_how_far_it_got() {
    let app = spawn_app().await;
    app.active_topic("history", 2).await;
    produce(&app, "history", 0..200).await;
    let mut client = admin_client(&app).await;

    let errors = run(
        &mut client,
        SearchRequest {
            filter: Some(r#"value.level == "ERROR""#.into()),
            ..search("errors", "history")
        },
    )
    .await;
    assert_eq!(errors.found, (0..200).filter(|n| n % 5 == 0).collect());
    assert_eq!(errors.end, ("complete".to_owned(), 200, 40));
    assert_eq!(errors.last_progress, (200, 200, 40));

    // One partition, an offset range: partition 1 holds the odd n at offset (n - 1) / 2.
    let range = run(
        &mut client,
        SearchRequest {
            partition: Some(1),
            from_offset: Some(10),
            to_offset: Some(20),
            ..search("range", "history")
        },
    )
    .await;
    assert_eq!(range.found, (21..40).step_by(2).collect());
    assert_eq!(range.last_progress.1, 10, "the total is the range's");

    // A time window (record n is stamped n seconds after BASE_MS).
    let window = run(
        &mut client,
        SearchRequest {
            since: Some(BASE_MS + 50_000),
            until: Some(BASE_MS + 60_000),
            ..search("window", "history")
        },
    )
    .await;
    assert_eq!(window.found, (50..60).collect());

    // A cap on matches ends it early.
    let capped = run(
        &mut client,
        SearchRequest {
            max_matches: Some(3),
            ..search("capped", "history")
        },
    )
    .await;
    assert_eq!((capped.found.len(), capped.end.0.as_str()), (3, "limit"));

    // Refusals.
    let bad_filter = SearchRequest {
        filter: Some("value.n >".into()),
        ..search("bad", "history")
    };
    client.send(&ClientFrame::Search(bad_filter)).await;
    client.expect_error("invalid_filter", "a bad filter").await;
    let bad_partition = SearchRequest {
        partition: Some(5),
        ..search("bad", "history")
    };
    client.send(&ClientFrame::Search(bad_partition)).await;
    client
        .expect_error("invalid_partition", "partition 5")
        .await;
}

/// Produces `{"n": i}` for `i` in `0..count` into partition 0 of `topic`, many at a time.
async fn produce_many(app: &TestApp, topic: &str, count: usize) {
    let producer: FutureProducer = client_config(&KafkaArgs::for_bootstrap(app.broker.bootstrap()))
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for chunk in (0..count).collect::<Vec<_>>().chunks(2_000) {
        let sends = chunk.iter().map(|n| {
            let payload = json!({"n": n}).to_string();
            let producer = producer.clone();
            async move {
                producer
                    .send(
                        FutureRecord::<(), _>::to(topic)
                            .partition(0)
                            .payload(&payload),
                        Duration::from_secs(30),
                    )
                    .await
                    .map_err(|(e, _)| e)
                    .unwrap();
            }
        });
        futures::future::join_all(sends).await;
    }
}

async fn searches_running(app: &TestApp) -> u64 {
    app.metric("streamhub_relay_searches").await
}

#[tokio::test]
async fn a_search_stops_when_cancelled_or_its_socket_closes_and_one_user_runs_one() {
    let app = spawn_app().await;
    app.active_topic("big_history", 1).await;
    produce_many(&app, "big_history", 20_000).await;
    let (status, _) = app
        .post(
            "/api/subscriptions",
            json!({"user_id": "ana", "topic_name": "big_history"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let mut first = Client::connect(&app, "?user_id=ana&follow=false").await;
    let mut second = Client::connect(&app, "?user_id=ana&follow=false").await;
    let nothing = || SearchRequest {
        filter: Some("value.n < 0".into()),
        ..search("slow", "big_history")
    };

    // A search (its first progress says it runs), and its cancel: it ends `cancelled`, short
    // of the end. Meanwhile the same user cannot start another.
    first.send(&ClientFrame::Search(nothing())).await;
    assert!(matches!(
        first.next().await,
        ServerFrame::SearchProgress { .. }
    ));
    second.send(&ClientFrame::Search(nothing())).await;
    second
        .expect_error("too_many_searches", "a second search by ana")
        .await;
    first
        .send(&ClientFrame::CancelSearch { id: "slow".into() })
        .await;
    let cancelled = loop {
        if let ServerFrame::SearchDone {
            reason, scanned, ..
        } = first.next().await
        {
            break (reason, scanned);
        }
    };
    assert_eq!(cancelled.0, "cancelled");
    assert!(cancelled.1 < 20_000, "{cancelled:?}");

    // Her turn is free again; a socket that closes mid-search stops its reader within a second,
    // short of the end (the filter was evaluated for fewer records than the topic holds).
    let evaluated_before = evaluations(&app).await;
    second.send(&ClientFrame::Search(nothing())).await;
    loop {
        if let ServerFrame::SearchProgress { .. } = second.next().await {
            break;
        }
    }
    assert_eq!(searches_running(&app).await, 1);
    drop(second);
    let closed = std::time::Instant::now();
    while searches_running(&app).await > 0 {
        assert!(
            closed.elapsed() < Duration::from_millis(1500),
            "the search still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let evaluated = evaluations(&app).await - evaluated_before;
    assert!(evaluated < 20_000, "{evaluated} records looked at");

    // A new search on a socket replaces its running one, even at the limit of one per user: the
    // old one ends `cancelled` first, and the new one runs (not refused for the old one's turn).
    first
        .send(&ClientFrame::Search(SearchRequest {
            id: "one".into(),
            ..nothing()
        }))
        .await;
    loop {
        if let ServerFrame::SearchProgress { .. } = first.next().await {
            break;
        }
    }
    first
        .send(&ClientFrame::Search(SearchRequest {
            id: "two".into(),
            ..nothing()
        }))
        .await;
    let mut one_ended = false;
    loop {
        match first.next().await {
            ServerFrame::SearchDone { id, reason, .. } if id == "one" => {
                assert_eq!(reason, "cancelled");
                one_ended = true;
            }
            ServerFrame::SearchProgress { id, .. } if id == "two" => break,
            ServerFrame::Error { error, message } => panic!("{error}: {message}"),
            _ => {}
        }
    }
    assert!(one_ended, "the replaced search never said it ended");
}

#[tokio::test]
async fn the_cli_searches_on_the_server_and_prints_the_matches() {
    let app = spawn_app().await;
    app.active_topic("cli_history", 2).await;
    produce(&app, "cli_history", 0..60).await;
    let (status, _) = app
        .post(
            "/api/subscriptions",
            json!({"user_id": "ana", "topic_name": "cli_history"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let cli = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"));
        command
            .args(["--user", "ana", "search", "-t", "cli_history"])
            .args(args)
            .env("STREAMHUB_API_URL", app.url(""))
            .kill_on_drop(true);
        command.output()
    };
    let output = cli(&[
        "--filter",
        "value.n >= 50",
        "--until",
        "2026-01-01T00:00:58Z",
    ])
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let found: BTreeSet<i64> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| n_of(&serde_json::from_str(l).unwrap()))
        .collect();
    assert_eq!(found, (50..58).collect());
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("8 match(es) in 60 records scanned (complete)"));
    let output = cli(&["--filter", "value.n >"]).await.unwrap();
    assert_eq!(output.status.code(), Some(1));
}

/// A running search reads only what its socket may still read: it ends `cancelled` when its user
/// unsubscribes from the topic, and when the topic is deactivated.
#[tokio::test]
async fn a_search_ends_when_its_reader_may_no_longer_read_the_topic() {
    let app = spawn_app().await;
    let id = app.active_topic("guarded_history", 1).await;
    produce_many(&app, "guarded_history", 20_000).await;
    let subscription = json!({"user_id": "ana", "topic_name": "guarded_history"});
    let (status, _) = app.post("/api/subscriptions", subscription.clone()).await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let mut socket = Client::connect(&app, "?user_id=ana&follow=false").await;
    let slow = |id: &str| SearchRequest {
        filter: Some("value.n < 0".into()),
        ..search(id, "guarded_history")
    };
    socket
        .send(&ClientFrame::Search(slow("unsubscribed")))
        .await;
    search_runs(&mut socket, "unsubscribed").await;
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/subscriptions",
            Some(subscription.clone()),
            &[],
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let (reason, scanned) = search_end(&mut socket, "unsubscribed").await;
    assert_eq!((reason.as_str(), scanned < 20_000), ("cancelled", true));

    let (status, _) = app.post("/api/subscriptions", subscription).await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    // The cancelled search gives its turn back once its reader has stopped.
    while searches_running(&app).await > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    socket.send(&ClientFrame::Search(slow("deactivated"))).await;
    search_runs(&mut socket, "deactivated").await;
    let (status, _) = app
        .as_admin(Method::POST, &format!("/api/topics/{id}/deactivate"), None)
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let (reason, scanned) = search_end(&mut socket, "deactivated").await;
    assert_eq!((reason.as_str(), scanned < 20_000), ("cancelled", true));
}

/// Waits until the search `id` on `socket` says it runs (its first progress).
async fn search_runs(socket: &mut Client, id: &str) {
    loop {
        match socket.next().await {
            ServerFrame::SearchProgress { id: running, .. } if running == id => return,
            ServerFrame::Error { error, message } => panic!("search {id}: {error}: {message}"),
            _ => {}
        }
    }
}

/// How the search `id` on `socket` ended, and how far it got.
async fn search_end(socket: &mut Client, id: &str) -> (String, u64) {
    loop {
        match socket.next().await {
            ServerFrame::SearchDone {
                id: done,
                reason,
                scanned,
                ..
            } if done == id => return (reason, scanned),
            ServerFrame::Error { error, message } => panic!("search {id}: {error}: {message}"),
            _ => {}
        }
    }
}

//! Attacks, one test each, against the real server and broker. `make test` runs them
//! in its hostile-input phase (`.ci/fuzz-api`); RELIABILITY.md has a row per attack.

use crate::{
    helpers::{spawn_app, spawn_app_with, subscribe_user, Client, TestApp},
    session::{sign_in, sign_out},
};
use app::stream::{ClientFrame, ServerFrame, StartPosition};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use streamhub::kafka::{KafkaAdmin, KafkaArgs};

/// The status a stream upgrade with these headers is refused with (fails if it is accepted).
async fn refused_upgrade(app: &TestApp, headers: &[(&'static str, &str)]) -> u16 {
    let status = crate::helpers::upgrade_status(app, "", headers).await;
    assert_ne!(status, 101, "the upgrade with {headers:?} was not refused");
    status
}

fn history(detail: &Value) -> &Vec<Value> {
    detail["history"].as_array().expect("history")
}

/// Item 8: the public detail page showed remote addresses, denied attempts and subscribers.
#[tokio::test]
async fn anyone_sees_a_topics_lifecycle_only_admins_see_who_tried_what_from_where() {
    let app = spawn_app().await;
    let id = app.request_topic("guarded_detail", 1).await;
    let approve = format!("/api/topics/{id}/approve");
    // A refused activation: a failure row of the topic, for admins only.
    assert_eq!(app.activate("guarded_detail").await.0, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            "/api/subscriptions",
            json!({"user_id": "watcher", "topic_name": "guarded_detail"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        app.as_admin(Method::POST, &approve, None).await.0,
        StatusCode::OK
    );

    let path = format!("/api/topics/{id}");
    let (status, public) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = history(&public)
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["approve", "request"], "{public}");
    assert!(history(&public)
        .iter()
        .all(|e| e["remote_addr"].is_null() && e["outcome"] == "ok"));

    let (status, full) = app.as_admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let rows = history(&full);
    assert!(rows.iter().any(|e| e["outcome"] == "rejected"), "{full}");
    assert!(rows.iter().any(|e| e["action"] == "subscribe"), "{full}");
    assert!(rows.iter().all(|e| e["remote_addr"].is_string()), "{full}");

    // A wrong token on a read is refused and audited, not answered as anyone.
    let (status, _) = app
        .call(
            Method::GET,
            &path,
            None,
            &[("authorization", "Bearer nope")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Item 8: `{"user_id": "admin"}` wrote audit rows under the admin's name.
#[tokio::test]
async fn a_claimed_name_cannot_pass_for_the_admin_in_the_audit_log() {
    let app = spawn_app().await;
    app.request_topic("claimed", 1).await;
    let (status, _) = app
        .post(
            "/api/subscriptions",
            json!({"user_id": "admin", "topic_name": "claimed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, rows) = app
        .as_admin(Method::GET, "/api/audit?topic=claimed", None)
        .await;
    let actors: Vec<(&str, &str)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actors,
        [("subscribe", "user:admin"), ("request", "user:tester")],
        "{rows}"
    );
    // Filtering by the name a person gave still finds their rows.
    let (_, mine) = app
        .as_admin(Method::GET, "/api/audit?actor=tester", None)
        .await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
}

/// Item 9: revocations were kept in memory only: a signed-out cookie worked again after a
/// restart.
#[tokio::test]
async fn a_signed_out_cookie_stays_refused_after_a_restart() {
    let mut app = spawn_app().await;
    let (cookie, csrf) = sign_in(&app).await;
    sign_out(&app, &cookie, &csrf).await;
    app.stop_server().await;
    app.start_server().await;
    let (_, session) = app
        .call(Method::GET, "/api/session", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(session["admin"], false, "{session}");
    let (status, _) = app
        .call(Method::GET, "/api/audit", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Item 9: a page on another site, its name pointed at 127.0.0.1 (DNS rebinding), passed the
/// stream's origin check because it compared `Origin` with `Host`.
#[tokio::test]
async fn requests_naming_another_host_are_refused() {
    let app = spawn_app().await;
    let evil = format!("rebound.example:{}", app.addr.port());
    let (status, body) = app
        .call(Method::GET, "/api/health", None, &[("host", &evil)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "host_not_allowed");
    let origin = format!("http://{evil}");
    let refused = refused_upgrade(&app, &[("host", &evil), ("origin", &origin)]).await;
    assert_eq!(refused, 403, "a rebound page opened a stream");
    let localhost = format!("localhost:{}", app.addr.port());
    let (status, _) = app
        .call(Method::GET, "/api/health", None, &[("host", &localhost)])
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Item 9: a failed activation was audited again on every poll of the producer.
#[tokio::test]
async fn a_failure_that_repeats_on_every_poll_is_audited_once() {
    let app = spawn_app().await;
    app.request_topic("still_pending", 1).await;
    for _ in 0..5 {
        assert_eq!(app.activate("still_pending").await.0, StatusCode::CONFLICT);
    }
    let (_, rows) = app
        .as_admin(
            Method::GET,
            "/api/audit?topic=still_pending&action=activate",
            None,
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
}

/// Item 2: one frame naming a topic a hundred times started a hundred replays.
#[tokio::test]
async fn a_frame_naming_a_topic_twice_is_refused() {
    let app = spawn_app().await;
    app.active_topic("twice", 1).await;
    let auth = app.admin_header();
    let mut socket = Client::connect_with(&app, "", &[("authorization", &auth)]).await;
    socket
        .subscribe(&["twice", "twice"], StartPosition::Latest)
        .await;
    socket
        .expect_error("duplicate_topics", "a topic named twice")
        .await;
}

/// Item 7: admin rights were decided once at upgrade: a signed-out dashboard kept streaming
/// topics it could stream only as admin.
#[tokio::test]
async fn signing_out_ends_the_streams_the_session_allowed() {
    let app = spawn_app().await;
    app.active_topic("admin_only", 1).await;
    let (cookie, csrf) = sign_in(&app).await;
    let mut socket = Client::connect_with(&app, "", &[("cookie", &cookie)]).await;
    socket
        .subscribe(&["admin_only"], StartPosition::Latest)
        .await;
    assert!(matches!(
        socket.next().await,
        ServerFrame::Subscribed { .. }
    ));
    sign_out(&app, &cookie, &csrf).await;
    assert_eq!(
        socket.next().await,
        ServerFrame::Unsubscribed {
            topic: "admin_only".into(),
            reason: "signed_out".into()
        }
    );
    socket
        .subscribe(&["admin_only"], StartPosition::Latest)
        .await;
    socket
        .expect_error("not_subscribed", "a subscribe after signing out")
        .await;
}

/// Item 6: a request for a name another application uses in Kafka was activated by adopting
/// it: the producer wrote into it and viewers replayed its data.
#[tokio::test]
async fn an_existing_kafka_topic_is_adopted_only_when_an_admin_says_so() {
    let app = spawn_app().await;
    let kafka = KafkaAdmin::new(&KafkaArgs::for_bootstrap(app.broker.bootstrap())).unwrap();
    kafka.ensure_topic("payments-core", 1, 1).await.unwrap();
    let id = app.request_topic("payments-core", 1).await;
    let approve = format!("/api/topics/{id}/approve");
    assert_eq!(
        app.as_admin(Method::POST, &approve, None).await.0,
        StatusCode::OK
    );

    for _ in 0..3 {
        let (status, body) = app.activate("payments-core").await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"], "topic_exists_in_kafka");
    }
    let topic = app.topic(id).await;
    assert_eq!(
        (topic["status"].as_str(), topic["kafka_conflict"].as_bool()),
        (Some("approved"), Some(true))
    );
    let (_, rows) = app
        .as_admin(
            Method::GET,
            "/api/audit?topic=payments-core&action=activate",
            None,
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1, "told once: {rows}");

    // Anyone may not adopt; the admin may, once.
    let adopt = format!("/api/topics/{id}/adopt");
    assert_eq!(
        app.post(&adopt, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.as_admin(Method::POST, &adopt, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.as_admin(Method::POST, &adopt, None).await.0,
        StatusCode::CONFLICT
    );
    let (status, body) = app.activate("payments-core").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let topic = app.topic(id).await;
    assert_eq!(
        (topic["status"].as_str(), topic["kafka_conflict"].as_bool()),
        (Some("active"), Some(false))
    );

    // Kafka's own topics and names its metrics would confuse are refused at request time.
    app.request_topic("ledger.eu", 1).await;
    for (name, error) in [
        ("__consumer_offsets", "invalid_field"),
        ("ledger_eu", "colliding_topic"),
    ] {
        let (status, body) = app
            .post(
                "/api/topics",
                json!({"name": name, "created_by": "mallory", "partitions": 1}),
            )
            .await;
        assert_eq!(status.as_u16() / 100, 4, "{name}: {body}");
        assert_eq!(body["error"], error, "{name}: {body}");
    }
}

/// Item 5: the relay held its feed map's lock while a new feed asked a slow or absent broker for
/// metadata, so every subscribe and every deactivation queued behind it.
#[tokio::test]
async fn a_feed_starting_against_a_dead_broker_holds_up_nobody_else() {
    let mut app = spawn_app().await;
    app.active_topic("slow_start", 1).await;
    app.active_topic("other", 1).await;
    app.broker.kill().await.unwrap();
    let relay = app.relay().clone();
    let epoch = relay.topic_epoch("slow_start");
    let starting = tokio::spawn(async move { relay.join("slow_start", epoch).await.is_ok() });
    // Let the start get to the broker (and wait there: KAFKA_TIMEOUT_MS is 5 s).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let began = std::time::Instant::now();
    app.relay().topic_ended("other").await;
    assert!(
        began.elapsed() < Duration::from_millis(500),
        "a deactivation waited {:?} behind a feed start",
        began.elapsed()
    );
    let (status, _) = app.get("/api/health").await;
    assert_eq!(status, StatusCode::OK);
    starting.abort();
    app.broker.restart().await.unwrap();
}

/// Items 3 and 9: anonymous writes and wrong secrets had no limit: one client could queue the
/// store's single writer (and the audit log) ahead of a real admin, or guess at speed.
#[tokio::test]
async fn one_address_is_slowed_down_past_its_writes_and_its_wrong_secrets() {
    let app = spawn_app_with(|config| {
        config.write_rate = 0.1;
        config.write_burst = 5;
        config.failed_secrets_per_minute = 1.0;
        config.failed_secrets_burst = 3;
    })
    .await;
    let id = app.request_topic("limited", 1).await;
    let subscribe = |n: usize| json!({"user_id": format!("flood_{n}"), "topic_name": "limited"});
    let mut refused = None;
    for n in 0..10 {
        let response = app
            .client
            .post(app.url("/api/subscriptions"))
            .json(&subscribe(n))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = response.json().await.unwrap();
            refused = Some((n, retry_after, body));
            break;
        }
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let (n, retry_after, body) = refused.expect("the flood is refused");
    // The topic request took the first token; four subscriptions the rest of the burst.
    assert_eq!(n, 4, "{body}");
    assert!(retry_after.parse::<u64>().unwrap() >= 1, "{retry_after}");
    assert_eq!(body["error"], "rate_limited");
    // The admin's own writes do not wait behind the anonymous ones.
    let approve = format!("/api/topics/{id}/approve");
    assert_eq!(
        app.as_admin(Method::POST, &approve, None).await.0,
        StatusCode::OK
    );

    // Three wrong tokens, then wrong ones wait (429); the right one still passes.
    let guess = || {
        app.call(
            Method::GET,
            "/api/audit",
            None,
            &[("authorization", "Bearer guess")],
        )
    };
    for _ in 0..3 {
        assert_eq!(guess().await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = guess().await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, rows) = app
        .as_admin(Method::GET, "/api/audit?actor=anonymous", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rows.as_array().unwrap().len(),
        3,
        "one row per failure within the limit: {rows}"
    );
    // Missing credentials past the limit: still 401, and no more rows.
    let (status, _) = app.get("/api/audit").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The stream's upgrade is no way around it.
    let refused = refused_upgrade(&app, &[("authorization", "Bearer guess")]).await;
    assert_eq!(refused, 429, "the upgrade let a guess through");
}

/// Item 5's other half: a topic deactivated while its feed was starting (or while a socket was
/// checking that it is active) must not get a feed that nobody would stop.
#[tokio::test]
async fn a_topic_deactivated_while_its_feed_starts_gets_no_feed() {
    let app = spawn_app().await;
    app.active_topic("short_lived", 1).await;
    let relay = app.relay().clone();
    // A socket read the epoch, then checked that the topic is active; it is deactivated before
    // the socket joins.
    let epoch = relay.topic_epoch("short_lived");
    relay.topic_ended("short_lived").await;
    match relay.join("short_lived", epoch).await {
        Err(streamhub::relay::feed::FeedError::TopicEnded(_)) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a feed started for a topic that had ended"),
    }
    assert!(!app.metrics().await.contains("streamhub_relay_feeds 1"));
    // A join with a fresh epoch (the topic active again) works.
    let epoch = relay.topic_epoch("short_lived");
    assert!(relay.join("short_lived", epoch).await.is_ok());
}

/// Item 3: the topic list had no pagination: past about 150,000 topics the pages and the
/// producer, which read it whole, failed. Pages for those who ask; the whole list (the
/// original's answer) for those who do not; the producer asks only for what it acts on.
#[tokio::test]
async fn the_topic_list_comes_in_pages_to_those_who_ask() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.request_topic(&format!("paged_{n}"), 1).await);
    }
    ids.reverse(); // newest first, as the list is
    let (_, whole) = app.get("/api/topics").await;
    assert_eq!(whole.as_array().unwrap().len(), 5);

    let pages = follow_pages(&app, "/api/topics?limit=2").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let seen: Vec<i64> = pages
        .iter()
        .flatten()
        .map(|t| t["topic_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seen, ids,
        "every topic once, newest first, over three pages"
    );
    // A search is paged too, and its next pages keep searching.
    app.request_topic("other_name", 1).await;
    let found = follow_pages(&app, "/api/topics?q=AGED_&limit=3").await;
    assert_eq!(found.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
    assert!(found
        .iter()
        .flatten()
        .all(|t| t["topic_name"].as_str().unwrap().starts_with("paged_")));
    let long = format!("/api/topics?q={}", "x".repeat(257));
    assert_eq!(app.get(&long).await.0, StatusCode::BAD_REQUEST);

    let (_, approved) = app.get("/api/topics?status=approved&limit=10").await;
    assert_eq!(approved.as_array().unwrap().len(), 0);
}

/// Every page of a paged list from `first` on, following `Link: <…>; rel="next"`.
async fn follow_pages(app: &TestApp, first: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next.take() {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        next = response.headers().get("link").map(|link| {
            let link = link.to_str().unwrap();
            assert!(link.ends_with(r#">; rel="next""#), "{link}");
            link.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
        let page: Value = response.json().await.unwrap();
        pages.push(page.as_array().unwrap().clone());
        assert!(pages.len() < 100, "the pages end");
    }
    pages
}

/// Item 3: the subscription list had no pages either.
#[tokio::test]
async fn the_subscription_list_comes_in_pages_to_those_who_ask() {
    let app = spawn_app().await;
    for name in ["sub_a", "sub_b"] {
        let id = app.request_topic(name, 1).await;
        assert_eq!(
            app.as_admin(Method::POST, &format!("/api/topics/{id}/approve"), None)
                .await
                .0,
            StatusCode::OK
        );
    }
    // User ids may hold `/`, `%`, `&` and spaces; topic names cannot hold `/`.
    for user in ["ana", "a/b c", "p%q&r=s", "zoe"] {
        for topic in ["sub_a", "sub_b"] {
            let body = json!({"user_id": user, "topic_name": topic});
            assert_eq!(
                app.post("/api/subscriptions", body).await.0,
                StatusCode::CREATED
            );
        }
    }
    let (_, whole) = app.get("/api/subscriptions").await;
    let whole = whole.as_array().unwrap().clone();
    assert_eq!(whole.len(), 8);
    let pages = follow_pages(&app, "/api/subscriptions?limit=3").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 2]);
    assert_eq!(pages.concat(), whole, "the same rows in the same order");
    let mine = follow_pages(&app, "/api/subscriptions?user_id=a%2Fb%20c&limit=1").await;
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().flatten().all(|s| s["user_id"] == "a/b c"));
    let theirs = follow_pages(&app, "/api/subscriptions?user_id=p%25q%26r%3Ds&limit=1").await;
    assert_eq!(theirs.len(), 2);
    assert!(theirs.iter().flatten().all(|s| s["user_id"] == "p%q&r=s"));
    let (status, body) = app.get("/api/subscriptions?after=no-slash").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("after"))
    );
}

/// Item 2: a replay that matched nothing (a far-future `timestamp`) scanned to its end on a
/// blocking thread even after its stream was replaced; a socket could stack them up.
#[tokio::test]
async fn replays_are_few_at_a_time_and_stop_with_their_stream() {
    let app = spawn_app().await;
    app.active_topic("deep", 1).await;
    app.produce_numbered("deep", 0..3000).await;
    let auth = app.admin_header();
    let mut socket = Client::connect_with(&app, "", &[("authorization", &auth)]).await;
    let far_future = StartPosition::Timestamp { at: i64::MAX / 2 };
    for _ in 0..10 {
        socket.subscribe(&["deep"], far_future.clone()).await;
    }
    let replays = |metrics: String| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("streamhub_relay_replays "))
            .and_then(|v| v.trim().parse().ok())
            .expect("the replays gauge")
    };
    let mut most = 0;
    for _ in 0..10 {
        most = most.max(replays(app.metrics().await));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(most <= 2, "{most} replays ran at once for one socket");
    socket.socket.close(None).await.unwrap();
    let closed = std::time::Instant::now();
    while replays(app.metrics().await) > 0 {
        assert!(
            closed.elapsed() < Duration::from_secs(2),
            "replays went on after their socket closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Item 1: silent and half-sent connections held their slots: a partial HTTP/2 preface, or
/// headers announcing a body that never comes; and one address could open them all.
#[tokio::test]
async fn half_sent_requests_and_crowds_from_one_address_do_not_hold_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|config| config.max_connections_per_addr = 20).await;
    let id = app.request_topic("held_up", 1).await;
    // A body announced and never sent: answered (4xx, JSON) within the body timeout (1 s here).
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /api/topics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0_u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer within the body timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");

    // 100 silent connections and partial HTTP/2 prefaces from each of 5 loopback addresses.
    let mut held = Vec::new();
    for host in 2..7 {
        for n in 0..100 {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket
                .bind(format!("127.0.0.{host}:0").parse().unwrap())
                .unwrap();
            if let Ok(mut stream) = socket.connect(app.addr).await {
                if n % 2 == 0 {
                    let _ = stream.write_all(b"PRI * HTTP/2.0\r\n").await;
                }
                held.push(stream);
            }
        }
    }
    let started = std::time::Instant::now();
    assert_eq!(app.get("/api/health").await.0, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    let approve = format!("/api/topics/{id}/approve");
    assert_eq!(
        app.as_admin(Method::POST, &approve, None).await.0,
        StatusCode::OK
    );
    // Each address got no more than its share: the rest were closed at once (well before the
    // 1 s header timeout closes the ones held).
    let reads = held.iter_mut().map(|stream| async move {
        let mut byte = [0_u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    });
    let closed = futures::future::join_all(reads)
        .await
        .into_iter()
        .filter(|closed| *closed)
        .count();
    assert_eq!(closed, 5 * 80, "refused at once: 80 of each address's 100");
}

/// Item 1: an HTTP/2 connection that answers the server's pings but opens no stream held its
/// slot for ever; enough of them and nobody else was served.
#[tokio::test]
async fn http2_connections_that_only_answer_pings_do_not_hold_the_server() {
    let app = spawn_app_with(|config| config.max_connections = Some(8)).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        // The h2 client answers pings by itself, and is never asked for a request.
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        idle.push((client, tokio::spawn(connection)));
    }
    // Every slot is held; the next request is served once the idle ones are closed (the header
    // timeout, 1 s in tests).
    let started = std::time::Instant::now();
    let health = tokio::time::timeout(Duration::from_secs(5), app.get("/api/health")).await;
    assert_eq!(
        health.expect("served once idle slots free").0,
        StatusCode::OK
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    for (_client, connection) in idle {
        tokio::time::timeout(Duration::from_secs(5), connection)
            .await
            .expect("each idle connection is closed")
            .unwrap()
            .unwrap();
    }
}

/// Item 1: upgraded stream sockets left the connection count, so sockets came on top of the
/// connection limit (and of the open files the limit was fitted to). They keep their
/// connection's slot now, and a tenth of the slots stay for plain requests.
#[tokio::test]
async fn stream_sockets_count_among_the_connections_served_at_once() {
    use tokio::io::AsyncReadExt;
    let app = spawn_app_with(|config| config.max_connections = Some(10)).await;
    // Nine of the ten slots may be sockets; the tenth socket is refused, plain requests served.
    let mut sockets = Vec::new();
    for _ in 0..9 {
        sockets.push(Client::connect(&app, "").await);
    }
    assert_eq!(refused_upgrade(&app, &[]).await, 503);
    // A client that keeps no connection open between requests.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let health = || client.get(app.url("/api/health")).send();
    assert_eq!(health().await.unwrap().status(), StatusCode::OK);
    // A silent connection takes the last slot: the next request takes it over at once (the
    // nine sockets keep theirs), and the silent one is closed.
    let mut silent = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    assert_eq!(health().await.unwrap().status(), StatusCode::OK);
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(500), "{waited:?}");
    let mut byte = [0_u8; 1];
    let closed = tokio::time::timeout(Duration::from_millis(200), silent.read(&mut byte)).await;
    assert_eq!(
        closed.expect("closed before its header timeout").unwrap(),
        0,
        "the silent one was closed"
    );
    drop(sockets);
}

/// The addresses two subscribe requests were audited from, the second naming a client in
/// `X-Forwarded-For`.
async fn audited_addresses(app: &TestApp, topic: &str) -> Vec<String> {
    let subscribe = json!({"user_id": "xff_user", "topic_name": topic});
    app.call(
        Method::POST,
        "/api/subscriptions",
        Some(subscribe.clone()),
        &[],
    )
    .await;
    app.call(
        Method::DELETE,
        "/api/subscriptions",
        Some(subscribe),
        &[("x-forwarded-for", "198.51.100.1, 203.0.113.7")],
    )
    .await;
    let (_, rows) = app
        .as_admin(Method::GET, &format!("/api/audit?topic={topic}"), None)
        .await;
    let mut addresses: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "subscribe" || r["action"] == "unsubscribe")
        .map(|r| r["remote_addr"].as_str().unwrap_or_default().to_owned())
        .collect();
    addresses.reverse();
    addresses
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_from_a_trusted_proxy() {
    // Behind a trusted proxy (here: this host), the request is the named client's: the
    // nearest address that is not a proxy, not what the client wrote further left.
    let app = spawn_app_with(|config| {
        config.trusted_proxies = vec![streamhub::forwarded::parse_net("127.0.0.1").unwrap()];
    })
    .await;
    app.active_topic("xff_topic", 1).await;
    let addresses = audited_addresses(&app, "xff_topic").await;
    assert_eq!(addresses.len(), 2, "{addresses:?}");
    assert!(addresses[0].starts_with("127.0.0.1:"), "{addresses:?}");
    assert_eq!(addresses[1], "203.0.113.7:0");

    // From anyone else the header is ignored: a client cannot pass for another address.
    let app = spawn_app().await;
    app.active_topic("xff_topic", 1).await;
    let addresses = audited_addresses(&app, "xff_topic").await;
    assert!(
        addresses.iter().all(|a| a.starts_with("127.0.0.1:")),
        "{addresses:?}"
    );
}

/// Costly filter expressions: a client keeping eight sockets re-subscribing from `earliest`
/// with filters as costly as the rules let through slows nobody else. Evaluations run off the
/// runtime's workers, each stream and the client have a share of evaluation time, a stream
/// ended as too costly cannot come straight back with its expression, and the expression the
/// attack was first tried with (a walk of a 100-element literal list compiling a pattern per
/// element) is refused outright.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costly_filters_from_one_client_do_not_slow_anyone_else() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let app = spawn_app().await;
    app.active_topic("wide", 1).await;
    let producer: FutureProducer =
        streamhub::kafka::client_config(&KafkaArgs::for_bootstrap(app.broker.bootstrap()))
            .set("linger.ms", "5")
            .create()
            .unwrap();
    let items: Vec<u32> = (0..2_000).collect();
    for n in 0..300 {
        let payload = json!({"n": n, "items": items}).to_string();
        producer
            .send(
                FutureRecord::<(), _>::to("wide").payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    subscribe_user(&app, "mallory", "wide").await;

    let hundred: Vec<String> = (0..100).map(|n| n.to_string()).collect();
    let first_try = format!(
        r#"[{}].all(x, !string(x).matches("[a-z]{{40}}"))"#,
        hundred.join(",")
    );
    let mut probe = Client::connect(&app, "?user_id=mallory&follow=false").await;
    probe
        .send(&ClientFrame::Subscribe {
            topics: vec!["wide".into()],
            from: StartPosition::Earliest,
            filter: Some(first_try),
        })
        .await;
    probe
        .expect_error("invalid_filter", "a walk of a 100-element list")
        .await;

    // Eight sockets, each subscribing again as soon as its stream ends, with a fresh
    // expression whenever the last one is cooling down or the client holds too many.
    let attack = Duration::from_secs(10);
    let started = std::time::Instant::now();
    let attacker = |socket: usize| {
        let app = &app;
        async move {
            let mut client = Client::connect(app, "?user_id=mallory&follow=false").await;
            let (mut round, mut ended_costly) = (0_u32, 0_u32);
            while started.elapsed() < attack {
                let filter = format!(
                    r#"value.items.all(x, string(x).matches("^[0-9]+$") && string(x) + "-{socket}-{round}" != "q")"#
                );
                client
                    .send(&ClientFrame::Subscribe {
                        topics: vec!["wide".into()],
                        from: StartPosition::Earliest,
                        filter: Some(filter),
                    })
                    .await;
                round += 1;
                while started.elapsed() < attack {
                    match tokio::time::timeout(Duration::from_secs(1), client.next()).await {
                        Ok(ServerFrame::Unsubscribed { reason, .. }) => {
                            ended_costly += u32::from(reason == "filter_too_costly");
                            break;
                        }
                        Ok(ServerFrame::Error { error, .. })
                            if error == "filter_cooling_down" || error == "too_many_filters" =>
                        {
                            break;
                        }
                        Ok(_) | Err(_) => {}
                    }
                }
            }
            ended_costly
        }
    };
    let attackers = futures::future::join_all((0..8).map(attacker));
    // Meanwhile, someone else asks for health and the topic list, one request at a time.
    let others = async {
        let mut latencies = Vec::new();
        while started.elapsed() < attack {
            for path in ["/api/health", "/api/topics"] {
                let asked = std::time::Instant::now();
                let (status, _) = app.get(path).await;
                assert_eq!(status, StatusCode::OK);
                latencies.push(asked.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        latencies
    };
    let (ended, mut latencies) = tokio::join!(attackers, others);
    let ended_costly: u32 = ended.into_iter().sum();
    latencies.sort();
    let p90 = latencies[latencies.len() * 9 / 10];
    let max = latencies[latencies.len() - 1];
    eprintln!(
        "filter attack: {ended_costly} streams ended as too costly; others' requests: {} answered, p90 {p90:?}, max {max:?}",
        latencies.len()
    );
    assert!(
        ended_costly > 0,
        "the attack never cost enough to be stopped: the test proves nothing"
    );
    assert!(
        p90 < Duration::from_millis(200) && max < Duration::from_secs(1),
        "under the filter attack: p90 {p90:?}, max {max:?} over {} requests",
        latencies.len()
    );
}

/// Open mode believes whoever a caller says they are: on an address other machines reach, the
/// server refuses to start unless told to accept that, and says how to avoid it. Secrets are
/// never flags (`ps` shows every process's arguments to everyone on the machine).
#[tokio::test]
async fn open_mode_stays_on_loopback_unless_accepted_and_secrets_are_no_flags() {
    use clap::Parser;
    use streamhub::config::ServerConfig;
    let dir = tempfile::tempdir().unwrap();
    let mut config = streamhub_testkit::config::server_config(
        dir.path().join("data"),
        dir.path().join("site"),
        "127.0.0.1:9",
    );
    let everywhere: std::net::SocketAddr = "0.0.0.0:3000".parse().unwrap();
    let refused = streamhub::server::build(&config, everywhere).await.err();
    assert!(
        matches!(
            refused,
            Some(streamhub::server::ServerError::OpenOnNetwork(_))
        ),
        "{:?}",
        refused.map(|e| e.to_string())
    );
    config.auth.open_on_network = true;
    assert!(streamhub::server::build(&config, everywhere).await.is_ok());

    for flag in [
        "--admin-token=0123456789abcdef0123",
        "--producer-secret=0123456789abcdef0123",
    ] {
        assert!(
            ServerConfig::try_parse_from(["streamhub", flag]).is_err(),
            "{flag} is accepted on the command line"
        );
    }
}

/// Sign-in steps and token changes have an allowance of their own per address: each asks the
/// identity provider or writes, so one client cannot make the server hammer the provider.
#[tokio::test]
async fn sign_in_steps_from_one_address_are_limited() {
    let app = spawn_app_with(|config| {
        config.auth.mode = streamhub::oidc::AuthMode::Oidc;
        config.auth.oidc_issuer = Some("http://127.0.0.1:9".into());
        config.auth.oidc_client_id = Some("streamhub".into());
        config.auth.oidc_client_secret = Some("secret".into());
        config.auth.oidc_redirect_url = Some("http://127.0.0.1:9/auth/callback".into());
        config.sign_ins_per_minute = 1.0;
        config.sign_in_burst = 3;
    })
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = client.get(app.url("/auth/login")).send().await.unwrap();
        statuses.push((
            response.status(),
            response.headers().get("retry-after").is_some(),
        ));
    }
    // The provider is away: the first three fail on it (not on the allowance); then 429.
    assert!(
        statuses[..3]
            .iter()
            .all(|(s, _)| *s != StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(
        statuses[4],
        (StatusCode::TOO_MANY_REQUESTS, true),
        "{statuses:?}"
    );
}

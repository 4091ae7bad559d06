//! Several instances of one deployment: two servers on the same PostgreSQL database
//! and broker, as behind a load balancer. What is done through one, the other acts on within a
//! second: it streams or stops streaming, answers reads, refuses a signed-out session.

use crate::{
    helpers::{spawn_first_instance, subscribe_user, Client, TestApp},
    session::{sign_in, sign_out},
};
use app::stream::ServerFrame;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use streamhub::{
    kafka::{KafkaAdmin, KafkaArgs},
    store::{Database, Store},
};

/// Polls `read` on `app` until `done` holds; how long that took (at most 5 s).
async fn until(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let (_, body) = app.get(path).await;
        if done(&body) {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{path}: {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_subscription_change_through_one_instance_starts_and_stops_the_stream_on_the_other() {
    let a = spawn_first_instance().await;
    let b = a.another_instance().await;
    a.active_topic("shared", 1).await;
    let mut client = Client::connect(&b, "?user_id=kim").await;
    client.quiet(Duration::from_millis(300)).await;

    let started = Instant::now();
    subscribe_user(&a, "kim", "shared").await;
    assert!(matches!(
        client.next().await,
        ServerFrame::Subscribed { topic, .. } if topic == "shared"
    ));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "started after {took:?}");
    a.produce_numbered("shared", 0..5).await;
    assert_eq!(client.records(5).await.0.len(), 5);

    let started = Instant::now();
    let (status, _) = a
        .call(
            Method::DELETE,
            "/api/subscriptions",
            Some(json!({"user_id": "kim", "topic_name": "shared"})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        client.next().await,
        ServerFrame::Unsubscribed {
            topic: "shared".into(),
            reason: "unsubscribed".into()
        }
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
}

#[tokio::test]
async fn what_one_instance_writes_the_other_reads_within_a_second() {
    let a = spawn_first_instance().await;
    let b = a.another_instance().await;
    // Both cached answers are warm on b before the write.
    assert_eq!(b.get("/api/topics").await.1, json!([]));
    assert_eq!(b.get("/api/stats").await.1["total_topics"], 0);

    a.request_topic("fresh", 1).await;
    let took = until(&b, "/api/topics", |topics| {
        topics[0]["topic_name"] == "fresh"
    })
    .await;
    assert!(
        took < Duration::from_secs(1),
        "the list moved after {took:?}"
    );
    let took = until(&b, "/api/stats", |stats| stats["total_topics"] == 1).await;
    assert!(
        took < Duration::from_secs(1),
        "the counters moved after {took:?}"
    );
}

#[tokio::test]
async fn a_session_from_one_instance_works_on_the_other_until_signed_out_anywhere() {
    let a = spawn_first_instance().await;
    let mut b = a.another_instance().await;
    let (cookie, csrf) = sign_in(&a).await;
    let session_on = async |app: &TestApp| {
        let (status, body) = app
            .call(Method::GET, "/api/session", None, &[("cookie", &cookie)])
            .await;
        assert_eq!(status, StatusCode::OK);
        body["admin"] == true
    };
    assert!(session_on(&b).await, "signed in on b too");

    sign_out(&a, &cookie, &csrf).await;
    let started = Instant::now();
    while session_on(&b).await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "b still accepts it"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Stored, not only announced: b refuses it after a restart as well.
    b.stop_server().await;
    b.start_server().await;
    assert!(!session_on(&b).await, "refused after b's restart");
}

#[tokio::test]
async fn every_instance_names_the_running_ones_and_the_lost() {
    let a = spawn_first_instance().await;
    let b = a.another_instance().await;
    let running = |h: &Value| h["instances"]["running"].as_array().map_or(0, Vec::len);
    let health = a.wait_for(|h| running(h) == 2).await;
    assert_eq!(health["instances"]["status"], "up", "{health}");
    assert_eq!(health["status"], "healthy", "{health}");
    b.wait_for(|h| running(h) == 2).await;

    // An instance that stops checking in without a clean stop is lost; it does not make this
    // one degraded (it still serves).
    let url = a.database_url.clone().expect("on PostgreSQL");
    let store = Store::open(&Database::Postgres(url)).await.unwrap();
    // Three runs of it, each killed: the newest replaces the others, listed once.
    for (run, started_at) in [
        ("ghost-1", "2026-11-28T00:00:00.000Z"),
        ("ghost-2", "2026-11-29T00:00:00.000Z"),
        ("ghost", "2026-11-30T00:00:00.000Z"),
    ] {
        store
            .heartbeat(run, "ghost:3000", started_at, "2000-01-01T00:00:00.000Z")
            .await
            .unwrap();
    }
    let runs: Vec<_> = store
        .instances()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.name == "ghost:3000")
        .map(|r| r.instance_id)
        .collect();
    assert_eq!(runs, ["ghost"]);
    let health = a
        .wait_for(|h| {
            h["instances"]["lost"]
                .as_array()
                .is_some_and(|l| l.len() == 1)
        })
        .await;
    assert!(
        health["instances"]["lost"][0]
            .as_str()
            .unwrap()
            .starts_with("ghost:3000 (last seen "),
        "{health}"
    );
    assert_eq!(health["instances"]["status"], "down", "{health}");
    assert_eq!(health["status"], "healthy", "{health}");
    // A clean stop is not a loss.
    store.instance_stopped("ghost").await.unwrap();
    a.wait_for(|h| h["instances"]["status"] == "up").await;
}

#[tokio::test]
async fn one_instance_recreates_a_missing_topic_and_audits_it_once() {
    let mut a = spawn_first_instance().await;
    let b = a.another_instance().await;
    a.active_topic("phoenix", 2).await;

    // Both instances see the topic missing at their next health check.
    a.wipe_broker().await;
    let admin = KafkaAdmin::new(&KafkaArgs::for_bootstrap(a.broker.bootstrap())).unwrap();
    let started = Instant::now();
    while admin
        .topic_partitions("phoenix")
        .await
        .ok()
        .flatten()
        .is_none()
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never recreated"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Several more checks of both instances.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, audit) = a
        .as_admin(Method::GET, "/api/audit?action=recreate", None)
        .await;
    let rows = audit.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{audit}");
    assert_eq!(rows[0]["actor"], "reconciler");
    assert_eq!(rows[0]["outcome"], "ok");
    drop(b);
}

#[tokio::test]
async fn a_subscription_decided_on_a_topic_changed_meanwhile_is_decided_again() {
    let a = spawn_first_instance().await;
    a.request_topic("moving", 1).await;
    let subscribe = |user: &str| {
        a.post(
            "/api/subscriptions",
            json!({"user_id": user, "topic_name": "moving"}),
        )
    };
    // The instance now holds the topic as it read it: open.
    assert_eq!(subscribe("u1").await.0, StatusCode::CREATED);

    // Another instance's change that this one has not heard of yet: the row alone, with no
    // change-log entry, so whatever this instance holds of the topic is stale until it reads it.
    let db = sqlx::PgPool::connect(a.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let change = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query(sql).execute(&db).await.unwrap();
        }
    };
    change("UPDATE topics SET access = 'approval', owner_user = 'ana' WHERE topic_name = 'moving'")
        .await;
    let (status, body) = subscribe("u2").await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "asked of the owners, not subscribed: {body}"
    );
    change("UPDATE topics SET access = 'private' WHERE topic_name = 'moving'").await;
    let (status, body) = subscribe("u3").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "hidden: {body}");

    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT user_id, status FROM user_subscriptions ORDER BY user_id")
            .fetch_all(&db)
            .await
            .unwrap();
    let rows: Vec<(&str, &str)> = rows.iter().map(|(u, s)| (u.as_str(), s.as_str())).collect();
    assert_eq!(rows, [("u1", "active"), ("u2", "pending")]);
}

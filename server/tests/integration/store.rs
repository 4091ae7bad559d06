//! The store on both databases, side by side: each test runs the same calls on an SQLite file
//! and on a PostgreSQL database (the process's shared server; the database's default collation
//! is ICU's English one) and asserts the same answers. These are the places where the two
//! databases could differ under the same SQL: text order and case folding, NULL comparisons,
//! counters, ids against names, conflicts, expiry.

use app::{
    domain::{TopicName, UserId},
    wire::TopicStatus,
};
use streamhub::store::{
    tokens::NewToken, Actor, AuditFilter, AuditOutcome, Database, KafkaClaim, NewAuditEntry,
    NewTopic, Store, StoreError, TopicKey, TopicPage, Transition,
};
use tempfile::TempDir;

/// An empty store on each database, named for assertion messages (the directory holds the
/// SQLite file).
async fn stores() -> Vec<(&'static str, Store, TempDir)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Store::open(&Database::Sqlite(dir.path().join("store.db")))
        .await
        .expect("open SQLite");
    let url = super::helpers::postgres_database();
    let postgres = Store::open(&Database::Postgres(url))
        .await
        .expect("open PostgreSQL");
    vec![
        ("sqlite", sqlite, dir),
        ("postgres", postgres, tempfile::tempdir().expect("temp dir")),
    ]
}

fn request(name: &str, by: &str) -> NewTopic {
    NewTopic {
        name: TopicName::parse(name).unwrap(),
        created_by: UserId::parse(by, "created_by").unwrap(),
        partitions: 2,
        replication_factor: 1,
        description: String::new(),
        event_type: None,
        owner: Default::default(),
        access: Default::default(),
        masks: Vec::new(),
        value_schema: None,
    }
}

#[tokio::test]
async fn subscription_pages_follow_byte_order_with_mixed_case_and_non_ascii_ids() {
    let users = ["Zoe", "alice", "Émile", "bob", "_x", "Ωmega", "Bob"];
    let mut answers = Vec::new();
    for (db, store, _dir) in stores().await {
        let admin = Actor::system("admin");
        for name in ["Zeta", "alpha", "beta.x"] {
            store
                .create_topic(&request(name, "ana"), &admin)
                .await
                .unwrap();
        }
        for user in users {
            let user_id = UserId::parse(user, "user_id").unwrap();
            for topic in ["Zeta", "alpha", "beta.x"] {
                let topic = TopicName::parse(topic).unwrap();
                store.subscribe(&user_id, &topic, &admin).await.unwrap();
            }
        }
        let whole: Vec<(String, String)> = store
            .subscriptions(None)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.user_id, s.topic_name))
            .collect();
        let mut byte_wise = whole.clone();
        byte_wise.sort_by(|a, b| {
            (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes()))
        });
        assert_eq!(whole, byte_wise, "{db}: the whole list is in byte order");
        assert_eq!(whole.len(), users.len() * 3, "{db}");

        // Pages of 4, each starting after the last of the one before, make the same list.
        let mut paged: Vec<(String, String)> = Vec::new();
        loop {
            let after = paged.last().map(|(u, t)| (u.as_str(), t.as_str()));
            let page = store.subscriptions_page(None, after, 4).await.unwrap();
            if page.is_empty() {
                break;
            }
            paged.extend(page.into_iter().map(|s| (s.user_id, s.topic_name)));
        }
        assert_eq!(paged, whole, "{db}: pages");
        answers.push(whole);
    }
    assert_eq!(answers[0], answers[1], "both databases list the same");
}

#[tokio::test]
async fn search_ignores_ascii_case_only() {
    for (db, store, _dir) in stores().await {
        let admin = Actor::system("admin");
        store
            .create_topic(&request("Sensor.Data", "Émile"), &admin)
            .await
            .unwrap();
        store
            .create_topic(&request("payments", "bob"), &admin)
            .await
            .unwrap();
        let found = async |text: &str| -> Vec<String> {
            let page = TopicPage {
                status: None,
                search: Some(text),
                before: None,
                limit: 10,
            };
            let topics = store.list_topics_page(&page).await.unwrap();
            topics.into_iter().map(|t| t.topic_name).collect()
        };
        assert_eq!(found("sensor.DATA").await, ["Sensor.Data"], "{db}");
        assert_eq!(found("ÉMILE").await, ["Sensor.Data"], "{db}: ASCII folded");
        assert!(found("émile").await.is_empty(), "{db}: É is not é");
        assert_eq!(found("BO").await, ["payments"], "{db}: by requester");
        assert!(found("%").await.is_empty(), "{db}: no pattern characters");
    }
}

#[tokio::test]
async fn lifecycle_by_id_and_by_name_with_counters_and_conflicts() {
    for (db, store, _dir) in stores().await {
        let admin = Actor::system("admin");
        let id = store
            .create_topic(&request("orders.eu", "ana"), &admin)
            .await
            .unwrap();
        assert!(
            matches!(
                store
                    .create_topic(&request("orders.eu", "ben"), &admin)
                    .await,
                Err(StoreError::DuplicateTopic(_))
            ),
            "{db}"
        );
        assert!(
            matches!(
                store.create_topic(&request("orders_eu", "ben"), &admin).await,
                Err(StoreError::CollidingTopic { existing, .. }) if existing == "orders.eu"
            ),
            "{db}"
        );
        let approved = store
            .transition(
                TopicKey::Id(id),
                &Transition::Approve {
                    value_schema_id: None,
                },
                &admin,
            )
            .await
            .unwrap();
        assert_eq!(approved.status, TopicStatus::Approved, "{db}");
        assert!(
            matches!(
                store
                    .transition(
                        TopicKey::Name("orders.eu"),
                        &Transition::Approve {
                            value_schema_id: None
                        },
                        &admin
                    )
                    .await,
                Err(StoreError::IllegalTransition {
                    current: TopicStatus::Approved,
                    ..
                })
            ),
            "{db}"
        );
        assert!(
            matches!(
                store
                    .transition(
                        TopicKey::Id(id + 100),
                        &Transition::Approve {
                            value_schema_id: None
                        },
                        &admin
                    )
                    .await,
                Err(StoreError::TopicNotFound(_))
            ),
            "{db}"
        );

        assert_eq!(
            store.claim_for_activation(id).await.unwrap(),
            KafkaClaim::Unclaimed,
            "{db}"
        );
        assert_eq!(
            store.claim_for_activation(id).await.unwrap(),
            KafkaClaim::Pending,
            "{db}"
        );
        store.mark_foreign_in_kafka(id).await.unwrap();
        assert!(
            store
                .topic(TopicKey::Id(id))
                .await
                .unwrap()
                .unwrap()
                .kafka_conflict,
            "{db}"
        );
        store.allow_adoption(id, &admin).await.unwrap();
        assert!(
            matches!(
                store.allow_adoption(id, &admin).await,
                Err(StoreError::NothingToAdopt(_))
            ),
            "{db}"
        );
        store
            .transition(TopicKey::Name("orders.eu"), &Transition::Activate, &admin)
            .await
            .unwrap();
        let other = store
            .create_topic(&request("refunds", "ben"), &admin)
            .await
            .unwrap();
        let reason = Transition::Reject {
            reason: "not needed".into(),
        };
        let rejected = store
            .transition(TopicKey::Id(other), &reason, &admin)
            .await
            .unwrap();
        assert_eq!(
            rejected.rejected_reason.as_deref(),
            Some("not needed"),
            "{db}"
        );

        let stats = store.stats().await.unwrap();
        let counts = (
            stats.total_topics,
            stats.active_topics,
            stats.rejected_topics,
            stats.pending_topics,
        );
        assert_eq!(counts, (2, 1, 1, 0), "{db}");
        let active: Vec<String> = store
            .active_topics()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.topic_name)
            .collect();
        assert_eq!(active, ["orders.eu"], "{db}");
        let actions: Vec<String> = store
            .audit(&AuditFilter {
                topic: Some("orders.eu".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["activate", "adopt", "approve", "request"], "{db}");
    }
}

#[tokio::test]
async fn a_repeated_failure_without_a_topic_is_recorded_once() {
    for (db, store, _dir) in stores().await {
        let producer = Actor::system("producer");
        let failure = |detail| NewAuditEntry {
            action: "poll",
            topic_name: None,
            outcome: AuditOutcome::Failed,
            detail: Some(detail),
        };
        for detail in [
            "broker down",
            "broker down",
            "database locked",
            "database locked",
        ] {
            store
                .record_unless_repeated(&producer, failure(detail))
                .await
                .unwrap();
        }
        let rows = store
            .audit(&AuditFilter {
                action: Some("poll".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let details: Vec<_> = rows.iter().map(|r| r.detail.as_deref()).collect();
        assert_eq!(
            details,
            [Some("database locked"), Some("broker down")],
            "{db}"
        );
    }
}

#[tokio::test]
async fn tokens_stop_at_expiry_and_revocation_and_sessions_stay_revoked() {
    for (db, store, _dir) in stores().await {
        let now = 1_900_000_000;
        let token = |hash, expires_at| NewToken {
            user_id: "ana",
            name: "ci",
            scope: app::wire::TokenScope::Write,
            token_hash: hash,
            expires_at,
        };
        let made = store
            .create_token(&token("h1", Some(now + 60)))
            .await
            .unwrap();
        store.create_token(&token("h2", None)).await.unwrap();
        let holder = store.token_holder("h1", now).await.unwrap().expect("valid");
        assert_eq!(
            (holder.user_id.as_str(), holder.expires_at),
            ("ana", Some(now + 60)),
            "{db}"
        );
        assert!(
            store.token_holder("h1", now + 60).await.unwrap().is_none(),
            "{db}: expired"
        );
        assert!(
            store
                .token_holder("h2", now + 1_000_000)
                .await
                .unwrap()
                .is_some(),
            "{db}"
        );
        assert_eq!(
            store
                .revoke_token(made.token_id, Some("ben"))
                .await
                .unwrap(),
            None,
            "{db}"
        );
        assert_eq!(
            store
                .revoke_token(made.token_id, Some("ana"))
                .await
                .unwrap(),
            Some(("ana".into(), "ci".into())),
            "{db}"
        );
        assert!(
            store.token_holder("h1", now).await.unwrap().is_none(),
            "{db}: revoked"
        );
        assert_eq!(store.tokens(Some("ana")).await.unwrap().len(), 2, "{db}");

        store.revoke_session("s1", now + 10, now).await.unwrap();
        store
            .revoke_session("s2", now + 100, now + 20)
            .await
            .unwrap();
        let kept = store.revoked_sessions(now + 20).await.unwrap();
        assert_eq!(
            kept,
            [("s2".to_owned(), now + 100)],
            "{db}: expired ones forgotten"
        );
    }
}

#[tokio::test]
async fn an_elected_job_has_one_holder_and_passes_on_when_it_goes() {
    use streamhub::store::instances::Singleton::{RatesSampler, Reconciler};
    // SQLite: one instance, always elected.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&Database::Sqlite(dir.path().join("one.db")))
        .await
        .unwrap();
    assert!(sqlite.lead(Reconciler).await && sqlite.lead(Reconciler).await);

    let url = super::helpers::postgres_database();
    let first = Store::open(&Database::Postgres(url.clone())).await.unwrap();
    let second = Store::open(&Database::Postgres(url.clone())).await.unwrap();
    assert!(first.lead(Reconciler).await);
    assert!(first.lead(Reconciler).await, "kept by its holder");
    assert!(!second.lead(Reconciler).await, "one holder at a time");
    assert!(
        second.lead(RatesSampler).await,
        "each job is elected on its own"
    );

    // The holder's connection dies (its host did): the lock goes with it, and the other
    // instance takes the job at its next turn.
    {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_locks \
             WHERE locktype = 'advisory' AND classid = 21320 AND objid = 102 \
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert_eq!(ended, [true], "the holder's connection");
    }
    // pg_terminate_backend only signals the backend: its locks go when it has exited,
    // a moment later. The other instance asks again at each of its turns.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !second.lead(Reconciler).await {
        assert!(std::time::Instant::now() < deadline, "taken over");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!first.lead(Reconciler).await, "not held twice");

    // A clean stop lets go at once.
    second.close().await;
    assert!(first.lead(Reconciler).await);
}

#[tokio::test]
async fn a_database_known_down_is_refused_at_once_and_used_again_within_a_second_of_its_return() {
    use std::time::{Duration, Instant};
    use streamhub_testkit::LocalPostgres;
    let dir = tempfile::tempdir().unwrap();
    let port = streamhub_testkit::broker::free_port().unwrap();
    let postgres = LocalPostgres::start_durable(dir.path(), port).unwrap();
    let store = Store::open(&Database::Postgres(postgres.url("postgres")))
        .await
        .unwrap();
    let admin = Actor::system("admin");
    store
        .create_topic(&request("before", "ana"), &admin)
        .await
        .unwrap();
    let mut down = store.database_down();
    assert!(!*down.borrow_and_update());

    // This cluster does not wait for commits to reach the disk (`synchronous_commit=off`), so
    // the crash below could take the last of them (the newest migration among them) along:
    // make what is committed durable first.
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&postgres.url("postgres"))
            .await
            .unwrap();
        sqlx::query("CHECKPOINT").execute(&mut conn).await.unwrap();
    }
    drop(postgres);
    // The first call finds it gone the slow way (the pool's connection attempts)…
    let first = store.create_topic(&request("during", "ana"), &admin).await;
    assert!(
        matches!(first, Err(StoreError::Unavailable(_))),
        "{first:?}"
    );
    tokio::time::timeout(Duration::from_secs(2), down.changed())
        .await
        .expect("known down")
        .unwrap();
    assert!(*down.borrow_and_update());
    // …the next ones hear it at once, reads and writes alike (the queued subscription writes
    // too), and health's ping too.
    let (user, topic) = (
        UserId::parse("kim", "user_id").unwrap(),
        TopicName::parse("before").unwrap(),
    );
    for _ in 0..20 {
        let started = Instant::now();
        let read = store.list_topics(None).await;
        let write = store.create_topic(&request("during", "ana"), &admin).await;
        let subscribe = store.subscribe(&user, &topic, &admin).await;
        let ping = store.ping().await;
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        for result in [read.map(drop), write.map(drop), subscribe.map(drop), ping] {
            let error = result.unwrap_err().to_string();
            assert!(error.contains("known down"), "{error}");
        }
    }

    // Back: calls go through within a second of the server accepting connections.
    let postgres = LocalPostgres::start_durable(dir.path(), port).unwrap();
    let back = Instant::now();
    let topics = loop {
        match store.list_topics(None).await {
            Ok(topics) => break topics,
            Err(e) => {
                assert!(
                    back.elapsed() < Duration::from_secs(1),
                    "still refused: {e}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert!(
        back.elapsed() < Duration::from_secs(1),
        "{:?}",
        back.elapsed()
    );
    assert!(
        topics.iter().all(|t| t.topic_name != "during"),
        "a refused write was stored"
    );
    store
        .create_topic(&request("after", "ana"), &admin)
        .await
        .unwrap();
    assert!(!*down.borrow_and_update());
    store.close().await;
    drop(postgres);
}

#[tokio::test]
async fn appends_to_the_change_log_on_postgresql_commit_in_id_order_and_announce_themselves() {
    use sqlx::{postgres::PgListener, Connection, PgConnection};
    use std::time::Duration;
    let url = super::helpers::postgres_database();
    // Migrated by the store.
    Store::open(&Database::Postgres(url.clone()))
        .await
        .unwrap()
        .close()
        .await;
    let mut listener = PgListener::connect(&url).await.unwrap();
    listener.listen("streamhub_changes").await.unwrap();
    const APPEND: &str = "INSERT INTO change_log (at, kind) VALUES ('2026-12-06T00:00:00Z', 'x') \
                          RETURNING change_id";

    let mut first = PgConnection::connect(&url).await.unwrap();
    let mut first_tx = first.begin().await.unwrap();
    let first_id: i64 = sqlx::query_scalar(APPEND)
        .fetch_one(&mut *first_tx)
        .await
        .unwrap();
    // A second append waits for the first's commit: it cannot take an id before it.
    let second = tokio::spawn({
        let url = url.clone();
        async move {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, i64>(APPEND)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second append did not wait");
    assert!(
        tokio::time::timeout(Duration::from_millis(100), listener.recv())
            .await
            .is_err(),
        "announced before the commit"
    );
    first_tx.commit().await.unwrap();
    let second_id = second.await.unwrap();
    assert!(first_id < second_id, "{first_id} then {second_id}");
    let announced = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("announced at the commit")
        .unwrap();
    assert_eq!(announced.channel(), "streamhub_changes");
}

#[tokio::test]
async fn colliding_names_asked_for_at_once_on_two_instances_give_one_topic() {
    let url = super::helpers::postgres_database();
    let a = Store::open(&Database::Postgres(url.clone())).await.unwrap();
    let b = Store::open(&Database::Postgres(url)).await.unwrap();
    let actor = Actor::system("ana");
    for round in 0..20 {
        let dotted = request(&format!("race{round}.eu"), "ana");
        let underscored = request(&format!("race{round}_eu"), "ana");
        let (on_a, on_b) = tokio::join!(
            a.create_topic(&dotted, &actor),
            b.create_topic(&underscored, &actor),
        );
        let created = [&on_a, &on_b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(created, 1, "round {round}: {on_a:?} {on_b:?}");
        let refused = if on_a.is_err() { on_a } else { on_b };
        assert!(
            matches!(refused, Err(StoreError::CollidingTopic { .. })),
            "round {round}: {refused:?}"
        );
    }
    // Unrelated names do not wait for each other: both asked at once, both made.
    let (apart_x, apart_y) = (request("apart_x", "ana"), request("apart_y", "ana"));
    let (x, y) = tokio::join!(
        a.create_topic(&apart_x, &actor),
        b.create_topic(&apart_y, &actor),
    );
    assert!(x.is_ok() && y.is_ok(), "{x:?} {y:?}");
}

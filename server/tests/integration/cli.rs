//! `streamhub-consumer` in script mode, as a pipeline would run it, against a real server and
//! broker.

use crate::helpers::{spawn_app, TestApp};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use std::{process::Output, time::Duration};
use streamhub::kafka::{client_config, KafkaArgs};

async fn cli(app: &TestApp, args: &[&str]) -> Output {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"))
        .args(args)
        .env("STREAMHUB_API_URL", app.url(""))
        .env("KAFKA_BOOTSTRAP_SERVERS", app.broker.bootstrap())
        .env_remove("STREAMHUB_USER")
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the consumer finishes")
        .expect("the consumer runs")
}

/// Runs the CLI with `args` (split on spaces), asserts that it succeeded, and returns its NDJSON
/// lines.
async fn cli_lines(app: &TestApp, args: &str) -> Vec<Value> {
    let args: Vec<&str> = args.split_whitespace().collect();
    let output = cli(app, &args).await;
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    lines(&output)
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn values(records: &[Value]) -> Vec<i64> {
    let mut v: Vec<i64> = records
        .iter()
        .map(|r| r["value"]["n"].as_i64().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn subscribe_consume_resume_and_read_via_the_relay() {
    let app = spawn_app().await;
    app.active_topic("cli_topic", 2).await;
    let out = cli(&app, &["--user", "ana", "subscribe", "cli_topic"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "subscribed ana to cli_topic"
    );
    app.produce_numbered("cli_topic", 0..30).await;

    // A first run reads 10 and commits them for the group streamhub-ana …
    let first = cli_lines(&app, "--user ana consume -t cli_topic -o beginning -c 10").await;
    assert_eq!(first.len(), 10);
    assert!(first
        .iter()
        .all(|r| r["topic"] == "cli_topic" && r["encoding"] == "json"));
    // … a second resumes after them and reads to the end.
    let rest = cli_lines(&app, "--user ana consume -t cli_topic -o beginning -e").await;
    let mut all = first.clone();
    all.extend(rest.clone());
    assert_eq!(
        values(&all),
        (0..30).collect::<Vec<_>>(),
        "every record exactly once over both runs"
    );

    // Through the relay, from the beginning to the end: the same 30 records.
    let relayed = cli_lines(
        &app,
        "--user ana --via-relay consume -t cli_topic -o beginning -e",
    )
    .await;
    assert_eq!(values(&relayed), (0..30).collect::<Vec<_>>());
    let key = |r: &Value| {
        (
            r["partition"].as_i64(),
            r["offset"].as_i64(),
            r["key"].to_string(),
        )
    };
    let mut direct_keys: Vec<_> = all.iter().map(key).collect();
    let mut relay_keys: Vec<_> = relayed.iter().map(key).collect();
    direct_keys.sort();
    relay_keys.sort();
    assert_eq!(
        direct_keys, relay_keys,
        "same partitions, offsets and keys either way"
    );

    // `-f value` prints payloads only; `-o -2` the last two of each partition.
    let tail = cli_lines(&app, "consume -t cli_topic -o -2 -e -f value").await;
    let partitions: std::collections::HashSet<_> =
        all.iter().map(|r| r["partition"].as_i64()).collect();
    assert_eq!(
        tail.len(),
        2 * partitions.len(),
        "two per partition that has records"
    );
    assert!(tail.iter().all(|v| v["n"].is_i64()));
}

#[tokio::test]
async fn failures_say_what_to_do_and_exit_non_zero() {
    let app = spawn_app().await;
    app.request_topic("not_yet", 1).await;
    app.active_topic("open_topic", 1).await;
    // Arguments, the exit code, and what stderr must mention.
    let cases = [
        ("consume -t nowhere -e", 4, "no topic nowhere"),
        ("consume -t not_yet -e", 3, "not active"),
        (
            "--user bob consume -t open_topic -e",
            3,
            "subscribe open_topic",
        ),
        ("subscribe open_topic", 1, "--user"),
        ("consume -t open_topic -o yesterday", 1, "--from"),
    ];
    for (args, code, hint) in cases {
        let out = cli(&app, &args.split_whitespace().collect::<Vec<_>>()).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"))
        .args(["--api-url", "http://127.0.0.1:9", "topics"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("127.0.0.1:9") && stderr.contains("STREAMHUB_API_URL"),
        "{stderr}"
    );

    let topics = cli(&app, &["--user", "bob", "topics"]).await;
    let text = String::from_utf8_lossy(&topics.stdout);
    assert!(
        text.contains("open_topic") && text.contains("not_yet"),
        "{text}"
    );
}

/// Waits for `text` on the terminal; on a time-out, prints what the screen shows instead.
fn see(p: &mut expectrl::session::OsSession, text: &str) -> Result<(), expectrl::Error> {
    use expectrl::Expect;
    p.expect(text).map(|_| ()).inspect_err(|_| {
        let mut screen = vec![0_u8; 8192];
        let n = p.try_read(&mut screen).unwrap_or(0);
        eprintln!(
            "waited for {text:?}; the screen shows {:?}",
            String::from_utf8_lossy(&screen[..n])
        );
    })
}

/// The interactive menu in a real pseudo-terminal: choose a user, subscribe, watch records
/// arrive, Ctrl-C back to the menu, unsubscribe, quit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interactive_menu_in_a_terminal() {
    use expectrl::{ControlCode, Eof, Expect, Session};
    let app = spawn_app().await;
    app.active_topic("menu_topic", 1).await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_streamhub-consumer"));
    command
        .env("STREAMHUB_API_URL", app.url(""))
        .env("KAFKA_BOOTSTRAP_SERVERS", app.broker.bootstrap())
        .env_remove("STREAMHUB_USER")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let session = tokio::task::spawn_blocking(move || -> Result<(), expectrl::Error> {
        const DOWN: &str = "\x1b[B";
        let mut p = Session::spawn(command)?;
        p.set_expect_timeout(Some(Duration::from_secs(20)));
        see(&mut p, "Who are you")?;
        p.send_line("tess")?;
        see(&mut p, "signed in as tess")?;
        see(&mut p, "Quit")?;
        // Subscribe: second item, then type to filter.
        p.send(DOWN)?;
        p.send("\r")?;
        see(&mut p, "type to filter")?;
        p.send("menu_t")?;
        p.send("\r")?;
        see(&mut p, "subscribed to menu_topic")?;
        see(&mut p, "Quit")?;
        // Consume: fifth item.
        for _ in 0..4 {
            p.send(DOWN)?;
        }
        p.send("\r")?;
        see(&mut p, "Ctrl-C returns to the menu")?;
        let _ = started_tx.send(());
        see(&mut p, "menu_topic [0] @")?;
        see(&mut p, "\"n\"")?;
        p.send(ControlCode::EndOfText)?;
        see(&mut p, "back to the menu")?;
        stop_tx.send(()).ok();
        see(&mut p, "Quit")?;
        // Unsubscribe: third item, the only subscription.
        p.send(DOWN)?;
        p.send(DOWN)?;
        p.send("\r")?;
        see(&mut p, "type to filter")?;
        p.send("\r")?;
        see(&mut p, "unsubscribed from menu_topic")?;
        see(&mut p, "Quit")?;
        // Quit: last item.
        for _ in 0..6 {
            p.send(DOWN)?;
        }
        p.send("\r")?;
        p.expect(Eof)?;
        Ok(())
    });
    // Records flow while the menu is consuming.
    started_rx.await.expect("the menu reached the live view");
    let producer: FutureProducer = client_config(&KafkaArgs::for_bootstrap(app.broker.bootstrap()))
        .create()
        .unwrap();
    for i in 0..100 {
        if stop_rx.try_recv().is_ok() {
            break;
        }
        let payload = json!({"n": i}).to_string();
        producer
            .send(
                FutureRecord::<(), _>::to("menu_topic").payload(&payload),
                Duration::from_secs(5),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    session
        .await
        .unwrap()
        .expect("the menu session went as a person would drive it");
    let (_, subs) = app.get("/api/subscriptions?user_id=tess").await;
    assert_eq!(subs, json!([]));
}

//! `spawn_app()`: a broker and a server of our own for one test, and a client that speaks JSON;
//! [`Client`]: a socket on the server's relay that speaks its frames.

use app::stream::{ClientFrame, ServerFrame, StartPosition, StreamRecord};
use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::{net::SocketAddr, path::PathBuf, time::Duration};
use streamhub::{
    config::ServerConfig,
    relay::{self, client::RelaySocket, Relay},
    server,
};
use streamhub_testkit::{relay_frames::FrameCount, LocalBroker};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

/// A running server with its broker; both stop when it is dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub producer_secret: String,
    pub broker: LocalBroker,
    pub dir: TempDir,
    /// The running server's relay, for tests that act on it directly.
    pub relay: Option<Relay>,
    /// The running server's sessions, for tests that need a signed-in person.
    pub sessions: Option<std::sync::Arc<streamhub::sessions::Sessions>>,
    /// The running server's store, for tests that set up what a sign-in would have stored.
    pub store: Option<streamhub::store::Store>,
    /// The PostgreSQL database of this test (`STREAMHUB_TEST_DATABASE=postgres`); SQLite in
    /// the data directory otherwise.
    pub database_url: Option<String>,
    /// Changes to the test configuration, applied at every (re)start.
    configure: Box<dyn Fn(&mut ServerConfig) + Send + Sync>,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// The workspace's built site, if `.ci/build-site` has run (SSR works without it).
fn site_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/site")
}

/// The database a test's server keeps its metadata in: one of its own on the process's shared
/// PostgreSQL server when the suite runs on PostgreSQL (`STREAMHUB_TEST_DATABASE=postgres`, as
/// `make test`'s second pass does); `None` for the default SQLite file in the data directory.
pub fn test_database() -> Option<String> {
    match std::env::var("STREAMHUB_TEST_DATABASE").as_deref() {
        Ok("postgres") => Some(postgres_database()),
        Ok("sqlite") | Err(_) => None,
        Ok(other) => panic!("STREAMHUB_TEST_DATABASE={other}: sqlite or postgres"),
    }
}

/// A new empty database on the process's shared PostgreSQL server; its URL.
pub fn postgres_database() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let postgres = streamhub_testkit::LocalPostgres::shared()
        .expect("start PostgreSQL (run `make deps` to install it)");
    let name = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    postgres
        .create_database(&name)
        .expect("create a test database")
}

/// Starts a broker, then the server, and waits until the server sees the broker.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with settings changed by `configure` (limits a test needs low, say).
pub async fn spawn_app_with(
    configure: impl Fn(&mut ServerConfig) + Send + Sync + 'static,
) -> TestApp {
    spawn_on(test_database(), configure).await
}

/// The first instance of a deployment of several (see [`TestApp::another_instance`]): its
/// metadata on PostgreSQL whichever database the suite runs on.
pub async fn spawn_first_instance() -> TestApp {
    spawn_on(Some(postgres_database()), |_| {}).await
}

async fn spawn_on(
    database_url: Option<String>,
    configure: impl Fn(&mut ServerConfig) + Send + Sync + 'static,
) -> TestApp {
    // `RUST_LOG=streamhub=debug cargo test …` shows the server's logs for a failing test.
    if std::env::var_os("RUST_LOG").is_some() {
        streamhub::telemetry::init(streamhub::telemetry::LogFormat::Text);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = LocalBroker::start(&dir.path().join("kafka"))
        .await
        .expect("start tansu (run `make deps` to install it)");
    launch(broker, dir, database_url, Box::new(configure)).await
}

/// Starts a server on `broker` with its data in `dir`, and waits until it sees the broker.
async fn launch(
    broker: LocalBroker,
    dir: TempDir,
    database_url: Option<String>,
    configure: Box<dyn Fn(&mut ServerConfig) + Send + Sync>,
) -> TestApp {
    let mut app = TestApp {
        addr: "127.0.0.1:0".parse().unwrap(),
        // A request the server never answers fails its test rather than hanging the suite.
        // Idle connections are let go well before the server's idle close (the 1 s header
        // timeout of the test configuration): reusing one the server is closing at that moment
        // fails the request (`IncompleteMessage`), which a loaded machine makes likely.
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_millis(300))
            .build()
            .expect("HTTP client"),
        admin_token: String::new(),
        producer_secret: String::new(),
        broker,
        dir,
        relay: None,
        sessions: None,
        store: None,
        server: None,
        database_url,
        configure,
    };
    app.start_server().await;
    app.wait_for_broker_up().await;
    app
}

impl TestApp {
    /// (Re)starts the server on the same data directory and broker.
    pub async fn start_server(&mut self) {
        let mut config = streamhub_testkit::config::server_config(
            self.dir.path().join("data"),
            site_dir(),
            &self.broker.bootstrap(),
        );
        config.database_url = self.database_url.clone();
        (self.configure)(&mut config);
        // A restart takes the same port again, so that clients find the server where it was.
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        let built = server::build(&config, self.addr)
            .await
            .expect("server builds");
        self.relay = Some(built.state.relay.clone());
        self.sessions = Some(built.state.sessions.clone());
        self.store = Some(built.state.store.clone());
        let given = (config.admin_token.clone(), config.producer_secret.clone());
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(async move {
            server::serve(listener, &config, built, async {
                let _ = rx.await;
            })
            .await
            .expect("server run");
        });
        self.server = Some((tx, handle));
        // The secrets exist once the server has built its state; health answering proves that.
        self.wait_for(|h| h["status"].is_string()).await;
        let read = |given: &Option<String>, name: &str| {
            given.clone().unwrap_or_else(|| {
                std::fs::read_to_string(self.dir.path().join("data").join(name))
                    .unwrap()
                    .trim()
                    .to_owned()
            })
        };
        self.admin_token = read(&given.0, "admin_token");
        self.producer_secret = read(&given.1, "producer_secret");
    }

    /// A second server instance of this one's deployment, as on another host: the same broker,
    /// database and secrets, a data directory of its own.
    pub async fn another_instance(&self) -> TestApp {
        let (admin_token, producer_secret) =
            (self.admin_token.clone(), self.producer_secret.clone());
        launch(
            self.broker.shared_handle(),
            tempfile::tempdir().expect("temp dir"),
            self.database_url.clone(),
            Box::new(move |config| {
                config.admin_token = Some(admin_token.clone());
                config.producer_secret = Some(producer_secret.clone());
            }),
        )
        .await
    }

    /// The headers of a browser where `user` signed in through the identity provider (`oidc`
    /// mode): the session cookie and the CSRF token its writes repeat.
    pub fn person(&self, user: &str, admin: bool) -> [(String, String); 2] {
        let sessions = self.sessions.as_ref().expect("the server runs");
        let holder = streamhub::sessions::Holder::Person {
            user: user.to_owned(),
            admin,
        };
        let (cookie, session) = sessions
            .issue_as(holder, streamhub::sessions::unix_now())
            .unwrap();
        [
            (
                "cookie".to_owned(),
                format!("{}={cookie}", streamhub::sessions::SESSION_COOKIE),
            ),
            ("x-csrf-token".to_owned(), sessions.csrf_token(&session)),
        ]
    }

    /// [`TestApp::person`] in `teams`, as a sign-in through the identity provider records
    /// them (the team claim's values).
    pub async fn person_in(
        &self,
        user: &str,
        admin: bool,
        teams: &[&str],
    ) -> [(String, String); 2] {
        let teams: Vec<app::access::TeamName> = teams
            .iter()
            .map(|t| app::access::TeamName::parse(t, "team").unwrap())
            .collect();
        let store = self.store.as_ref().expect("the server runs");
        let subject = format!("sub-{user}");
        assert_eq!(
            store.bind_identity(user, &subject, &teams).await.unwrap(),
            subject
        );
        self.person(user, admin)
    }

    /// The running server's relay.
    pub fn relay(&self) -> &Relay {
        self.relay.as_ref().expect("the server runs")
    }

    /// The broker loses everything (new empty storage), then comes back on the same port.
    pub async fn wipe_broker(&mut self) {
        let port = self.broker.port();
        self.broker.kill().await.unwrap();
        let fresh = self.dir.path().join("kafka-fresh");
        self.broker = LocalBroker::start_on(&fresh, port).await.unwrap();
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop_server(&mut self) {
        if let Some((tx, handle)) = self.server.take() {
            let _ = tx.send(());
            handle.await.unwrap();
        }
    }

    /// Polls `/api/health` until `pred` holds (15 s at most).
    pub async fn wait_for(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut last = Value::Null;
        loop {
            if let Ok(resp) = self.client.get(self.url("/api/health")).send().await {
                if let Ok(body) = resp.json::<Value>().await {
                    if pred(&body) {
                        return body;
                    }
                    last = body;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "health never reached the expected state; it last said {last}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_for_broker_up(&self) -> Value {
        self.wait_for(|h| h["broker"]["status"] == "up").await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request and returns status and JSON body (Null when the body is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    pub fn admin_header(&self) -> String {
        format!("Bearer {}", self.admin_token)
    }

    pub async fn as_admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let auth = self.admin_header();
        self.call(method, path, body, &[("authorization", &auth)])
            .await
    }

    pub async fn activate(&self, topic: &str) -> (StatusCode, Value) {
        let key = self.producer_secret.clone();
        self.call(
            Method::POST,
            "/api/topics/activate_by_name",
            Some(json!({"topic_name": topic})),
            &[("x-producer-key", &key)],
        )
        .await
    }

    /// Requests a topic and returns its id.
    pub async fn request_topic(&self, name: &str, partitions: i64) -> i64 {
        let (status, body) = self
            .post(
                "/api/topics",
                json!({"name": name, "created_by": "tester", "partitions": partitions,
                       "replication_factor": 1, "description": "test topic"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["topic_id"].as_i64().unwrap()
    }

    /// Requests, approves and activates a topic; returns its id.
    pub async fn active_topic(&self, name: &str, partitions: i64) -> i64 {
        let id = self.request_topic(name, partitions).await;
        let (status, body) = self
            .as_admin(Method::POST, &format!("/api/topics/{id}/approve"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = self.activate(name).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// One counter or gauge of `GET /metrics` (a series without labels).
    pub async fn metric(&self, name: &str) -> u64 {
        let prefix = format!("{name} ");
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.parse().ok()))
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// Produces `{"n": i}` for each `i` in `range` into `topic` (keys `k0`…`k6`) and waits for
    /// every delivery.
    pub async fn produce_numbered(&self, topic: &str, range: std::ops::Range<usize>) {
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let producer: FutureProducer = streamhub::kafka::client_config(
            &streamhub::kafka::KafkaArgs::for_bootstrap(self.broker.bootstrap()),
        )
        .set("linger.ms", "1")
        .create()
        .unwrap();
        for i in range {
            let payload = json!({"n": i}).to_string();
            let key = format!("k{}", i % 7);
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }

    /// One topic as `GET /api/topics/{id}` shows it.
    pub async fn topic(&self, id: i64) -> Value {
        let (status, body) = self.get(&format!("/api/topics/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((tx, _)) = self.server.take() {
            let _ = tx.send(());
        }
    }
}

/// Subscribes `user` to `topic` through REST.
pub async fn subscribe_user(app: &TestApp, user: &str, topic: &str) {
    let (status, _) = app
        .post(
            "/api/subscriptions",
            json!({"user_id": user, "topic_name": topic}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// The status a stream upgrade (`/api/stream<query>` with these headers) is answered with:
/// `101` when it is accepted.
pub async fn upgrade_status(app: &TestApp, query: &str, headers: &[(&'static str, &str)]) -> u16 {
    let mut request = format!("ws://{}/api/stream{query}", app.addr)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("the upgrade with {headers:?} failed: {e}"),
    }
}

/// A socket on the relay for tests: connected, `hello` read.
pub struct Client {
    pub socket: RelaySocket,
}

impl Client {
    pub async fn connect(app: &TestApp, query: &str) -> Client {
        Self::connect_with(app, query, &[]).await
    }

    /// Connects with these extra headers on the upgrade (a token, a cookie).
    pub async fn connect_with(
        app: &TestApp,
        query: &str,
        headers: &[(&'static str, &str)],
    ) -> Client {
        let mut request = format!("ws://{}/api/stream{query}", app.addr)
            .into_client_request()
            .unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(*name, value.parse().unwrap());
        }
        let (socket, _) = relay::client::connect(request)
            .await
            .expect("websocket connects");
        let mut client = Client { socket };
        assert!(matches!(client.next().await, ServerFrame::Hello { .. }));
        client
    }

    /// Asks for `topics` from `from`.
    pub async fn subscribe(&mut self, topics: &[&str], from: StartPosition) {
        let topics = topics.iter().map(|t| t.to_string()).collect();
        self.send(&ClientFrame::Subscribe {
            topics,
            from,
            filter: None,
        })
        .await;
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        let text = serde_json::to_string(frame).unwrap();
        self.socket.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next protocol frame (pings are skipped), within 10 s.
    pub async fn next(&mut self) -> ServerFrame {
        loop {
            if let Message::Text(text) = self.message().await {
                return serde_json::from_str(&text).expect("protocol frame");
            }
        }
    }

    /// Asserts that the next frame is an `error` frame with the word `expected` (after `what`).
    pub async fn expect_error(&mut self, expected: &str, what: &str) {
        match self.next().await {
            ServerFrame::Error { error, .. } if error == expected => {}
            other => panic!("after {what}: expected a {expected} error, got {other:?}"),
        }
    }

    /// Records until `n` have arrived; other frames are returned beside them.
    pub async fn records(&mut self, n: usize) -> (Vec<StreamRecord>, Vec<ServerFrame>) {
        let (mut records, mut others) = (Vec::new(), Vec::new());
        while records.len() < n {
            match self.next().await {
                ServerFrame::Records { records: batch } => records.extend(batch),
                other => others.push(other),
            }
        }
        (records, others)
    }

    /// Counts records (and records reported skipped) until `n` arrived, without decoding the
    /// values: a debug-built client that parses every value cannot keep up with a fast feed.
    pub async fn count(&mut self, n: usize) -> (usize, u64) {
        let (mut received, mut skipped) = (0, 0);
        while received < n {
            if let Message::Text(text) = self.message().await {
                let frame = FrameCount::read(&text).expect("a frame");
                match frame.kind.as_str() {
                    "records" => received += frame.records(),
                    "lagged" => skipped += frame.skipped,
                    other => panic!("unexpected {other} frame"),
                }
            }
        }
        (received, skipped)
    }

    /// The next message on the socket, within 10 s.
    async fn message(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(10), self.socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame")
    }

    /// Asserts that nothing but pings arrives for a while.
    pub async fn quiet(&mut self, wait: Duration) {
        if let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(wait, self.socket.next()).await
        {
            panic!("unexpected frame {text}");
        }
    }
}

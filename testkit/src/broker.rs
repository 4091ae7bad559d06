//! A `tansu` broker with its own SQLite storage: throw-away ones on a free loopback port for
//! integration tests and benchmarks ("never mock Kafka"), and, through the `local-broker`
//! binary, the long-lived one `make run` and the `.ci/` scripts start. Both are built by
//! [`tansu_command`] on storage made ready by [`prepare_storage`]: one place.
//!
//! The binary is `$TANSU_BIN` if set, else `tansu` on `PATH` (installed by `make deps`).
//!
//! tansu 0.6's SQLite schema has no index on its `header` table, and it looks up the headers of
//! every record it fetches: each fetched record scanned every header ever stored, so the broker
//! slowed down in step with its log and stopped answering after about 20 minutes of the soak.
//! Every broker we start gets the index before tansu runs on the store ([`prepare_storage`]): a
//! running tansu fails once its schema changes under it.

use std::{
    io,
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::process::{Child, Command};

/// The index tansu 0.6 lacks: its per-record header lookup joins on these columns.
pub const HEADER_INDEX_SQL: &str =
    "create index if not exists streamhub_header_record on header (topition, offset_id)";
const HEADER_INDEX: &str = "streamhub_header_record";

/// A running local broker; killed when dropped.
pub struct LocalBroker {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl LocalBroker {
    /// The tansu executable to run.
    pub fn binary() -> PathBuf {
        std::env::var_os("TANSU_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("tansu"))
    }

    /// Starts a broker storing into `dir` on a free port and waits until it accepts connections.
    pub async fn start(dir: &Path) -> io::Result<Self> {
        // The port is free when asked; another process could take it before tansu binds, in
        // which case start-up fails and we try another.
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            match Self::start_on(dir, port).await {
                Ok(broker) => return Ok(broker),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("could not start tansu")))
    }

    /// Starts a broker on a given port (a restart reuses its port, so clients find it again).
    pub async fn start_on(dir: &Path, port: u16) -> io::Result<Self> {
        prepare_storage(dir).await?;
        let mut broker = Self {
            child: None,
            port,
            dir: dir.to_owned(),
        };
        broker.spawn().await?;
        Ok(broker)
    }

    async fn spawn(&mut self) -> io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tansu.log"))?;
        let child = run_tansu(&self.dir, self.port, log.try_clone()?.into(), log.into())?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> io::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        for _ in 0..200 {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!(
                        "tansu exited during start-up ({status}); see {}",
                        self.dir.join("tansu.log").display()
                    )));
                }
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "tansu did not accept connections within 5 s",
        ))
    }

    /// Another handle on this broker for a second user of it (a second server instance in a
    /// test): it neither stops the broker when dropped nor may restart it.
    pub fn shared_handle(&self) -> LocalBroker {
        LocalBroker {
            child: None,
            port: self.port,
            dir: self.dir.clone(),
        }
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the broker at once (SIGKILL, no clean shutdown) — the harshest failure.
    pub async fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Starts it again on the same port with the same storage.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.kill().await?;
        self.spawn().await
    }
}

/// The command line of `tansu broker` storing in `dir`, listening on `listen` (`host:port`) and
/// telling clients to come to `advertised`.
pub fn tansu_command(
    dir: &Path,
    listen: &str,
    advertised: &str,
    cluster_id: &str,
) -> std::process::Command {
    let mut command = std::process::Command::new(LocalBroker::binary());
    command
        .arg("broker")
        // tansu resolves a `sqlite://` path against its working directory (an absolute path
        // loses its leading slash), so it runs inside its storage directory.
        .current_dir(dir)
        .arg("--storage-engine=sqlite://tansu.db")
        .arg(format!("--listener-url=tcp://{listen}"))
        .arg(format!("--advertised-listener-url=tcp://{advertised}"))
        .arg(format!("--cluster-id={cluster_id}"));
    command
}

/// `tansu broker` on `127.0.0.1:port`, storing in `dir`, killed with its handle.
fn run_tansu(dir: &Path, port: u16, stdout: Stdio, stderr: Stdio) -> io::Result<Child> {
    let addr = format!("127.0.0.1:{port}");
    Command::from(tansu_command(dir, &addr, &addr, "streamhub-test"))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot run {:?} (install it with `make deps`): {e}",
                    LocalBroker::binary()
                ),
            )
        })
}

/// Makes sure the tansu store in `dir` has [`HEADER_INDEX_SQL`]. A new store is first created
/// by a short run of tansu on a spare port (its tables are its own to define).
pub async fn prepare_storage(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut store = StoreFile::open(dir).await?;
    if store.exists("index", HEADER_INDEX).await? {
        return store.close().await;
    }
    // Nothing of ours touches the file while tansu creates its schema: our polling reads made
    // tansu's first write fail now and then on a loaded machine, and then the
    // tables never came. We look only once tansu has stopped, and try again if they are not
    // there.
    let mut attempts = 0;
    while !store.exists("table", "header").await? {
        attempts += 1;
        if attempts > 3 {
            return Err(io::Error::other(format!(
                "tansu did not create its tables in {} (see tansu-prepare.log there)",
                dir.display()
            )));
        }
        store.close().await?;
        create_schema(dir).await?;
        store = StoreFile::open(dir).await?;
    }
    store.execute(HEADER_INDEX_SQL).await?;
    store.close().await
}

/// Runs tansu on `dir` until it listens (it sets up its storage first), then stops it. Tries
/// another spare port if tansu exits first (the port was taken meanwhile).
async fn create_schema(dir: &Path) -> io::Result<()> {
    let mut last_error = None;
    for _ in 0..3 {
        let port = free_port()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("tansu-prepare.log"))?;
        let mut tansu = run_tansu(dir, port, log.try_clone()?.into(), log.into())?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let outcome = loop {
            if let Some(status) = tansu.try_wait()? {
                break Err(io::Error::other(format!(
                    "tansu exited while creating its storage ({status}); see {}",
                    dir.join("tansu-prepare.log").display()
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                break Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                break Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "tansu did not start to create its storage within 20 s",
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        tansu.kill().await?;
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("could not create tansu's storage")))
}

/// tansu's SQLite file, opened by us while tansu is stopped.
struct StoreFile {
    db: sqlx::SqliteConnection,
    dir: PathBuf,
}

impl StoreFile {
    async fn open(dir: &Path) -> io::Result<Self> {
        use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions};
        let db = SqliteConnectOptions::new()
            .filename(dir.join("tansu.db"))
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
            .connect()
            .await
            .map_err(|e| Self::error(dir, e))?;
        Ok(Self {
            db,
            dir: dir.to_owned(),
        })
    }

    fn error(dir: &Path, e: sqlx::Error) -> io::Error {
        io::Error::other(format!("tansu store in {}: {e}", dir.display()))
    }

    async fn exists(&mut self, kind: &str, name: &str) -> io::Result<bool> {
        let query = "select count(*) from sqlite_master where type = ? and name = ?";
        let count: i64 = sqlx::query_scalar(query)
            .bind(kind)
            .bind(name)
            .fetch_one(&mut self.db)
            .await
            .map_err(|e| Self::error(&self.dir, e))?;
        Ok(count > 0)
    }

    async fn execute(&mut self, sql: &str) -> io::Result<()> {
        sqlx::query(sql)
            .execute(&mut self.db)
            .await
            .map(|_| ())
            .map_err(|e| Self::error(&self.dir, e))
    }

    async fn close(self) -> io::Result<()> {
        use sqlx::Connection;
        let dir = self.dir;
        self.db.close().await.map_err(|e| Self::error(&dir, e))
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

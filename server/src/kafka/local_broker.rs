//! A throw-away `tansu` broker on a free loopback port with its own SQLite storage, for
//! integration tests and benchmarks ("never mock Kafka"). `make run` starts its long-lived broker
//! from `.ci/` scripts instead; both use the same flags.
//!
//! The binary is `$TANSU_BIN` if set, else `tansu` on `PATH` (installed by `make deps`).

use std::{
    io,
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::process::{Child, Command};

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
        std::fs::create_dir_all(dir)?;
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
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(Self::binary())
            .arg("broker")
            // tansu resolves a `sqlite://` path against its working directory (an absolute path
            // loses its leading slash), so it runs inside its storage directory.
            .current_dir(&self.dir)
            .arg("--storage-engine=sqlite://tansu.db")
            .arg(format!("--listener-url={url}"))
            .arg(format!("--advertised-listener-url={url}"))
            .arg("--cluster-id=streamhub-test")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run {:?} (install it with `make deps`): {e}",
                        Self::binary()
                    ),
                )
            })?;
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

/// A loopback port that was free a moment ago.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

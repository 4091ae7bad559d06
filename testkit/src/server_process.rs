//! The `streamhub` binary in a process of its own, started as `.ci/run-stack` starts it (env
//! vars only): what benchmarks use to measure the server users run. Under it, [`ApiProcess`]:
//! a child process that answers `/api/health` (the server, or HAProxy in front of servers),
//! waited for until it does and stopped when dropped.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// How often a starting process is asked for its health, and how many times at most.
const HEALTH_POLL: Duration = Duration::from_millis(100);
const HEALTH_POLLS: u32 = 300;

/// A free loopback address for a process to listen on.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A child process answering StreamHub's API on `addr`; killed (and waited for) when dropped.
pub struct ApiProcess {
    pub addr: SocketAddr,
    child: Child,
}

impl ApiProcess {
    /// Takes over `child`, which serves on `addr`, and waits until `GET /api/health` answers
    /// with a success (30 s at most). Panics, naming it `name`, when it exits first or never
    /// answers (and stops it then too).
    pub async fn answering(name: &str, child: Child, addr: SocketAddr) -> Self {
        let mut process = Self { addr, child };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        for _ in 0..HEALTH_POLLS {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("{name} exited at start ({status})");
            }
            let health = client.get(format!("http://{addr}/api/health")).send();
            if health.await.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
        panic!("{name} did not answer on {addr}");
    }

    /// The process id (for its memory, CPU time and descriptors).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running server process; stopped when dropped.
pub struct ServerProcess {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The environment it was started with beyond the defaults (secrets it was given, say).
    given: Vec<(String, String)>,
    process: ApiProcess,
}

impl ServerProcess {
    /// Starts `binary` on a free loopback port with its data in `data_dir` and the broker at
    /// `bootstrap`, plus `env`, and waits until it answers `/api/health`.
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        bootstrap: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let addr = free_addr();
        let child = Command::new(binary)
            .env("STREAMHUB_ADDR", addr.to_string())
            .env("STREAMHUB_DATA_DIR", data_dir)
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("RUST_LOG", "warn")
            // Its secrets are generated into its data dir, where `admin_token` reads them.
            .env_remove("ADMIN_TOKEN")
            .env_remove("PRODUCER_SECRET")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let name = binary.display().to_string();
        Self {
            addr,
            data_dir: data_dir.to_owned(),
            given: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            process: ApiProcess::answering(&name, child, addr).await,
        }
    }

    /// The admin token: the one given in `env`, else the one the server generated into its
    /// data directory.
    pub fn admin_token(&self) -> String {
        self.secret("ADMIN_TOKEN", "admin_token")
    }

    /// The producer secret, found as [`Self::admin_token`] is.
    pub fn producer_secret(&self) -> String {
        self.secret("PRODUCER_SECRET", "producer_secret")
    }

    fn secret(&self, variable: &str, file: &str) -> String {
        let given = self.given.iter().find(|(name, _)| name == variable);
        given.map(|(_, value)| value.clone()).unwrap_or_else(|| {
            std::fs::read_to_string(self.data_dir.join(file))
                .unwrap_or_else(|e| panic!("the server wrote its {file}: {e}"))
                .trim()
                .to_owned()
        })
    }

    /// The server's process id (for its memory, CPU time and descriptors).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

//! The `streamhub` binary in a process of its own, started as `.ci/run-stack` starts it (env
//! vars only): what benchmarks use to measure the server users run. Shared by the benches with
//! `#[path = "support/server_process.rs"] mod server_process;`.
#![allow(dead_code, reason = "each bench that includes this uses a part of it")]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A running server process; killed (and waited for) when dropped.
pub struct ServerProcess {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The environment it was started with beyond the defaults (secrets it was given, say).
    given: Vec<(String, String)>,
    child: Child,
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
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
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
        // Owned from here on, so that it is stopped however this ends.
        let mut server = Self {
            addr,
            data_dir: data_dir.to_owned(),
            given: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        for _ in 0..300 {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{} exited at start ({status})", binary.display());
            }
            let health = client.get(format!("http://{addr}/api/health")).send();
            if health.await.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} did not answer on {addr}", binary.display());
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

    /// The server's process id (for its memory and descriptors).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

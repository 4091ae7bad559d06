//! A PostgreSQL server of our own for tests, benchmarks and `make cluster` ("no mock database"):
//! Debian's PostgreSQL binaries on a cluster in a directory we choose, on a loopback port we
//! choose, trusting local connections. As root it runs as the `postgres` user (PostgreSQL
//! refuses to run as root).
//!
//! The binaries are `$STREAMHUB_PG_BIN` if set, else the newest `/usr/lib/postgresql/*/bin`
//! (installed by `make deps`).
//!
//! The server is started through a small shell that holds a pipe from this process: when this
//! process ends, however it ends, the pipe closes and the shell stops the server (and, for a
//! throw-away cluster, removes its directory). A test process's shared cluster
//! ([`LocalPostgres::shared`]) is therefore never left running.

use std::{
    io,
    net::{SocketAddr, TcpStream},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

/// A running PostgreSQL server; stopped when dropped.
pub struct LocalPostgres {
    dir: PathBuf,
    port: u16,
    /// The shell that runs the server; closing its stdin stops the server.
    keeper: Option<(Child, ChildStdin)>,
    /// Remove `dir` when the server stops.
    throw_away: bool,
    /// Crash-safe (fsync) rather than fast.
    durable: bool,
}

impl LocalPostgres {
    /// The directory holding `initdb`, `postgres` and friends.
    pub fn bin_dir() -> io::Result<PathBuf> {
        if let Some(dir) = std::env::var_os("STREAMHUB_PG_BIN") {
            return Ok(PathBuf::from(dir));
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| io::Error::new(e.kind(), "no /usr/lib/postgresql: run `make deps`"))?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("postgres").exists().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, bin)| bin)
            .ok_or_else(|| io::Error::other("no PostgreSQL under /usr/lib/postgresql"))
    }

    /// The cluster every test of this process shares (each test makes its own database in it:
    /// [`LocalPostgres::create_database`]). Started on first use in a temporary directory.
    pub fn shared() -> io::Result<&'static LocalPostgres> {
        static SHARED: OnceLock<Result<LocalPostgres, String>> = OnceLock::new();
        let start = || {
            // A new directory of its own (0700, unguessable): never a cluster someone else made.
            let dir = tempfile::Builder::new()
                .prefix("streamhub-postgres-")
                .tempdir()?
                .keep();
            Self::start_with(&dir, crate::broker::free_port()?, true, false)
        };
        SHARED
            .get_or_init(|| start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| io::Error::other(e.clone()))
    }

    /// Starts a server on `port` over the cluster in `dir`, crash-safe as a deployment's would
    /// be (benchmarks), making the cluster first if `dir` holds none; waits until it accepts
    /// connections.
    pub fn start_durable(dir: &Path, port: u16) -> io::Result<Self> {
        Self::start_with(dir, port, false, true)
    }

    fn start_with(dir: &Path, port: u16, throw_away: bool, durable: bool) -> io::Result<Self> {
        let mut postgres = Self {
            dir: dir.to_owned(),
            port,
            keeper: None,
            throw_away,
            durable,
        };
        if !dir.join("PG_VERSION").exists() {
            postgres.init()?;
        }
        postgres.spawn()?;
        Ok(postgres)
    }

    /// `initdb`: byte-wise collation and UTF-8, local connections trusted, nothing synced (a
    /// test cluster need not survive the machine crashing).
    fn init(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        as_postgres_owner(&self.dir)?;
        let output = self
            .command("initdb")?
            .args(["--locale=C", "--encoding=UTF8", "--auth=trust"])
            .args([
                "--username=postgres",
                "--no-sync",
                "--no-instructions",
                "-D",
            ])
            .arg(&self.dir)
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "initdb {} failed: {}",
                self.dir.display(),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(())
    }

    /// Makes database `name` while no server runs (single-user mode).
    fn create_database_offline(&self, name: &str) -> io::Result<()> {
        use std::io::Write;
        let mut single = self
            .command("postgres")?
            .args(["--single", "-D"])
            .arg(&self.dir)
            .arg("postgres")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        if let Some(mut stdin) = single.stdin.take() {
            writeln!(stdin, "CREATE DATABASE \"{}\";", name.replace('"', "\"\""))?;
        }
        let status = single.wait()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "creating database {name} failed ({status})"
            )));
        }
        Ok(())
    }

    /// As root, makes `command` run as the owner of the cluster's directory (PostgreSQL will
    /// not run as root).
    fn as_owner(&self, command: &mut Command) -> io::Result<()> {
        if is_root() {
            use std::os::unix::process::CommandExt;
            let owner = std::fs::metadata(&self.dir)?;
            command.uid(owner.uid()).gid(owner.gid());
        }
        Ok(())
    }

    /// A command running one of PostgreSQL's binaries as the cluster's owner.
    fn command(&self, binary: &str) -> io::Result<Command> {
        let mut command = Command::new(Self::bin_dir()?.join(binary));
        command.current_dir(&self.dir);
        self.as_owner(&mut command)?;
        Ok(command)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("postgres.log"))?;
        // `$0` is the server's command line's first word, the rest its arguments. The shell
        // ends with the server (so that a failed start shows at once); beside it, a reader of
        // the shell's stdin asks for an immediate shutdown when that pipe closes (this handle
        // dropped, or this process gone). A throw-away cluster's directory goes with it.
        let keeper = r#"
            exec 3<&0
            "$0" "$@" </dev/null &
            server=$!
            { cat >/dev/null; kill -QUIT "$server" 2>/dev/null; } <&3 &
            wait "$server"
            [ -z "$STREAMHUB_PG_REMOVE" ] || rm -rf "$STREAMHUB_PG_REMOVE"
        "#;
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(keeper)
            .arg(Self::bin_dir()?.join("postgres"))
            .args(server_args(&self.dir, "127.0.0.1", self.port, self.durable))
            .current_dir(&self.dir)
            .env(
                "STREAMHUB_PG_REMOVE",
                if self.throw_away {
                    self.dir.as_os_str()
                } else {
                    "".as_ref()
                },
            )
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.as_owner(&mut shell)?;
        let mut child = shell.spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("no pipe to the server's shell"))?;
        self.keeper = Some((child, stdin));
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        for _ in 0..600 {
            if let Some((child, _)) = self.keeper.as_mut() {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!(
                        "PostgreSQL exited during start-up ({status}); see {}",
                        self.dir.join("postgres.log").display()
                    )));
                }
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
                && self.dir.join("postmaster.pid").exists()
            {
                // Accepting connections is not yet accepting queries (recovery after a kill):
                // `pg_isready` says when it is.
                let ready = self
                    .command("pg_isready")?
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                    .status()?;
                if ready.success() {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "PostgreSQL did not accept connections within 30 s",
        ))
    }

    /// The process that runs the server: the server and its backends are below it (for
    /// [`crate::measure::tree_cpu_seconds`]).
    pub fn pid(&self) -> Option<u32> {
        self.keeper.as_ref().map(|(child, _)| child.id())
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Makes an empty database `name` (owned by `postgres`); its URL. Its default collation is
    /// ICU's English one, not the cluster's byte-wise `C`: what most installations have, and what
    /// proves that StreamHub's schema does not rely on the database's default order.
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        let output = self
            .command("createdb")?
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args([
                "--template=template0",
                "--locale-provider=icu",
                "--icu-locale=en-US",
            ])
            .arg(name)
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "createdb {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(self.url(name))
    }
}

impl Drop for LocalPostgres {
    /// Stops the server (immediate shutdown: its keeper's stdin closes) and waits for it.
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.keeper.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// The server's arguments: the cluster in `dir`, listening on `listen` (addresses) and `port`,
/// its socket in `dir`. `durable`: crash-safe, but a commit is not waited for on disk (what
/// SQLite's WAL with `synchronous=NORMAL`, StreamHub's default, promises too). Not `durable`:
/// nothing synced (a test cluster need not survive the machine crashing, and runs faster).
fn server_args(dir: &Path, listen: &str, port: u16, durable: bool) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["-D".into(), dir.into(), "-k".into(), dir.into()];
    let mut set = |setting: String| args.extend(["-c".into(), setting.into()]);
    set(format!("listen_addresses={listen}"));
    set(format!("port={port}"));
    set("max_connections=400".into());
    set("synchronous_commit=off".into());
    if !durable {
        for setting in ["fsync=off", "full_page_writes=off"] {
            set(setting.into());
        }
    }
    args
}

/// Runs the server over the cluster in `dir` in place of this process (`make cluster`'s
/// database: durable, on `listen`:`port`), making the cluster and its empty database `name`
/// first if `dir` holds none. Clients from the networks in `allow` (CIDR) are trusted too,
/// beside loopback. As root it becomes the `postgres` user.
pub fn exec_server(dir: &Path, listen: &str, port: u16, name: &str, allow: &[String]) -> io::Error {
    use std::os::unix::process::CommandExt;
    let postgres = LocalPostgres {
        dir: dir.to_owned(),
        port,
        keeper: None,
        throw_away: false,
        durable: true,
    };
    let prepared = (|| {
        if !dir.join("PG_VERSION").exists() {
            postgres.init()?;
            postgres.create_database_offline(name)?;
        }
        trust_networks(dir, allow)?;
        postgres.command("postgres")
    })();
    match prepared {
        Ok(mut server) => server.args(server_args(dir, listen, port, true)).exec(),
        Err(e) => e,
    }
}

/// Adds a `trust` line to the cluster's `pg_hba.conf` for each network of `allow` it lacks.
fn trust_networks(dir: &Path, allow: &[String]) -> io::Result<()> {
    use std::io::Write;
    let hba = dir.join("pg_hba.conf");
    let present = std::fs::read_to_string(&hba)?;
    let mut file = std::fs::OpenOptions::new().append(true).open(&hba)?;
    for network in allow {
        let line = format!("host all all {network} trust");
        if !present.lines().any(|l| l.trim() == line) {
            writeln!(file, "{line}")?;
        }
    }
    Ok(())
}

/// Whether this process runs as root (`/proc/self` belongs to the process's user).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// As root, hands `dir` to the `postgres` user (PostgreSQL will not run as root).
fn as_postgres_owner(dir: &Path) -> io::Result<()> {
    if !is_root() {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "chown postgres {} failed (is Debian's postgresql installed?)",
            dir.display()
        )));
    }
    Ok(())
}

//! A nats-server and a PostgreSQL of a test's own, on free ports with their
//! own data directories, for the tests that stop and restart them: the
//! shared servers on 4222 and 5432 serve every other test running at the
//! same time and are never touched.
//!
//! Dropping one (also when a test panics) kills it and removes its directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// How long a server may take to answer after it was started.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A free port for a server a test starts a moment later. It is drawn below
/// Linux's ephemeral range (32768 and up), where the sockets other tests
/// bind to port 0 meanwhile cannot take it first.
pub fn free_port() -> u16 {
    loop {
        let port = 20_000 + u16::try_from(Uuid::new_v4().as_u128() % 12_000).expect("below 12,000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

fn find_program(name: &str, extra_dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(extra_dirs.iter().cloned()).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// The nats-server the tests start: `ZHAOSHANG_NATS_SERVER` when set (CI
/// points it at a current release), else the one on the `PATH`.
pub fn nats_server_program() -> PathBuf {
    if let Some(program) = std::env::var_os("ZHAOSHANG_NATS_SERVER") {
        return PathBuf::from(program);
    }
    find_program("nats-server", &[PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
        .expect("a nats-server program (set ZHAOSHANG_NATS_SERVER or put one on the PATH)")
}

/// The version of a nats-server program, as `(major, minor, patch)`.
pub fn nats_server_version(program: &Path) -> (u32, u32, u32) {
    let output = Command::new(program).arg("--version").output().expect("nats-server --version runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.trim().rsplit('v').next().unwrap_or("0.0.0");
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A private nats-server with JetStream.
pub struct PrivateNats {
    program: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Whether every write is fsynced before it is acknowledged.
    pub sync_always: bool,
}

impl PrivateNats {
    /// Starts one. `sync_always` asks for `sync_interval: always` (every
    /// acknowledged write fsynced first), which servers before 2.10 do not
    /// know: with those it is ignored, and `sync_always` says so.
    pub fn start(sync_always: bool) -> Self {
        let program = nats_server_program();
        let sync_always = sync_always && nats_server_version(&program) >= (2, 10, 0);
        let dir = std::env::temp_dir().join(format!("zhaoshang-nats-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("jetstream")).expect("a temporary directory");
        let port = free_port();
        let sync = if sync_always { ", sync_interval: always" } else { "" };
        let config = format!(
            "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: \"{}\"{sync} }}\n",
            dir.join("jetstream").display()
        );
        std::fs::write(dir.join("nats-server.conf"), config).expect("write the configuration");
        let mut server = Self { program, dir, port, child: None, sync_always };
        server.resume();
        server
    }

    /// The URL to connect to.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + START_DEADLINE;
        while answers(self.port) {
            assert!(Instant::now() < deadline, "nats-server still answers after it was killed");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the server again on the same port and data, and waits until
    /// it answers (it opens its client port once JetStream has recovered).
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the server runs already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("nats-server.log"))
            .expect("a log file");
        let child = Command::new(&self.program)
            .arg("-c")
            .arg(self.dir.join("nats-server.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        while !answers(self.port) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("nats-server exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "nats-server does not answer: {}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nats-server.log")).unwrap_or_default()
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether this process runs as root (PostgreSQL refuses to).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A private PostgreSQL cluster, made with `initdb`.
pub struct PrivatePostgres {
    pg_ctl: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Creates and starts one.
    pub fn start() -> Self {
        let mut bin_dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path().join("bin")).collect())
            .unwrap_or_default();
        bin_dirs.sort();
        bin_dirs.reverse();
        let initdb = find_program("initdb", &bin_dirs).expect("PostgreSQL's initdb");
        let pg_ctl = find_program("pg_ctl", &bin_dirs).expect("PostgreSQL's pg_ctl");
        let dir = std::env::temp_dir().join(format!("zhaoshang-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().expect("chown");
            assert!(status.success(), "could not give {} to the postgres user", dir.display());
        }
        let server = Self { pg_ctl, dir, port: free_port(), as_postgres };
        let status = server
            .command(&initdb)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "-D"])
            .arg(server.cluster())
            .stdout(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        server.resume();
        server
    }

    fn cluster(&self) -> PathBuf {
        self.dir.join("cluster")
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// The URL to connect to.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server in `immediate` mode: no checkpoint, connections cut,
    /// crash recovery on the next start, as after a power cut.
    pub fn crash(&self) {
        let status = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(self.cluster())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "pg_ctl stop failed");
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn resume(&self) {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -c fsync=off -k {}", self.port, self.dir.display());
        let status = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(self.cluster())
            .args(["-o", &options, "-l"])
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "30", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(status.success(), "pg_ctl start failed: {}", self.log());
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(self.cluster())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! Starting a local NATS and PostgreSQL when the configured ones do not
//! answer, so that `zhaoshang up` works on a fresh machine. Only for
//! loopback addresses: a remote server that is down is an incident, not
//! something to paper over.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::config::Config;

fn host_port(url: &str, default_port: u16) -> Option<(String, u16)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let authority = rest.split(['/', '?']).next()?;
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default_port)),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

async fn answers(host: &str, port: u16) -> bool {
    matches!(tokio::time::timeout(Duration::from_secs(1), TcpStream::connect((host, port))).await, Ok(Ok(_)))
}

async fn wait_until_answering(what: &str, host: &str, port: u16) -> anyhow::Result<()> {
    for _ in 0..100 {
        if answers(host, port).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{what} was started but does not answer on {host}:{port}")
}

fn find_program(name: &str, extra_dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(extra_dirs.iter().cloned()).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn postgres_bin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse();
    dirs
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

/// The servers [`ensure`] had to start, so they can be stopped again.
#[derive(Default)]
pub struct LocalServers {
    nats: Option<tokio::process::Child>,
    postgres: Option<PostgresCluster>,
}

struct PostgresCluster {
    pg_ctl: PathBuf,
    cluster: PathBuf,
    as_postgres: bool,
}

impl LocalServers {
    /// Whether anything was started.
    pub fn started_any(&self) -> bool {
        self.nats.is_some() || self.postgres.is_some()
    }

    /// Stops what was started.
    ///
    /// # Errors
    /// When a server cannot be stopped.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(mut nats) = self.nats.take() {
            nats.kill().await.context("failed to stop the local nats-server")?;
        }
        if let Some(pg) = self.postgres.take() {
            let status = postgres_command(&pg.pg_ctl, pg.as_postgres)
                .arg("-D")
                .arg(&pg.cluster)
                .args(["-m", "fast", "-w", "stop"])
                .status()
                .await?;
            anyhow::ensure!(status.success(), "pg_ctl stop failed");
        }
        Ok(())
    }
}

fn postgres_command(program: &Path, as_postgres: bool) -> Command {
    let mut command = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    command.kill_on_drop(false);
    command
}

/// Makes sure NATS and PostgreSQL answer, starting local ones under
/// `config.data_dir` when they are on loopback and silent.
///
/// # Errors
/// When a server is silent and cannot be started.
pub async fn ensure(config: &Config) -> anyhow::Result<LocalServers> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("failed to create {}", config.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&config.data_dir)?;
    let mut started = LocalServers::default();
    if let Some((host, port)) = host_port(&config.nats_url, 4222) {
        if !answers(&host, port).await {
            if !is_loopback(&host) {
                bail!("NATS at {host}:{port} does not answer");
            }
            started.nats = Some(start_nats(&data_dir, &host, port).await?);
        }
    }
    if let Some((host, port)) = host_port(&config.database_url, 5432) {
        if !answers(&host, port).await {
            if !is_loopback(&host) {
                bail!("PostgreSQL at {host}:{port} does not answer");
            }
            started.postgres = Some(start_postgres(&data_dir, &host, port).await?);
        }
    }
    Ok(started)
}

async fn start_nats(data_dir: &Path, host: &str, port: u16) -> anyhow::Result<tokio::process::Child> {
    let program = find_program("nats-server", &[PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
        .context("NATS does not answer and no nats-server program was found; install nats-server")?;
    let store = data_dir.join("nats");
    tracing::info!(program = %program.display(), store = %store.display(), "starting a local NATS with JetStream");
    let log = std::fs::File::create(data_dir.join("nats-server.log"))?;
    let child = Command::new(program)
        .args(["-a", host, "-p", &port.to_string(), "-js", "-sd"])
        .arg(&store)
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(false)
        .spawn()
        .context("failed to start nats-server")?;
    wait_until_answering("NATS", host, port).await?;
    Ok(child)
}

async fn start_postgres(data_dir: &Path, host: &str, port: u16) -> anyhow::Result<PostgresCluster> {
    let dirs = postgres_bin_dirs();
    let initdb = find_program("initdb", &dirs).context("PostgreSQL does not answer and initdb was not found")?;
    let pg_ctl = find_program("pg_ctl", &dirs).context("PostgreSQL does not answer and pg_ctl was not found")?;
    let cluster = data_dir.join("pg");
    // PostgreSQL refuses to run as root: run it as the postgres user then.
    let as_postgres = is_root();
    let run = |program: &Path| postgres_command(program, as_postgres);
    if !cluster.join("PG_VERSION").exists() {
        std::fs::create_dir_all(&cluster)?;
        if as_postgres {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&cluster).status().await?;
            anyhow::ensure!(status.success(), "failed to give {} to the postgres user", cluster.display());
        }
        tracing::info!(cluster = %cluster.display(), "creating a local PostgreSQL cluster");
        let status = run(&initdb)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-D"])
            .arg(&cluster)
            .status()
            .await?;
        anyhow::ensure!(status.success(), "initdb failed");
    }
    tracing::info!(cluster = %cluster.display(), "starting a local PostgreSQL");
    let options = format!("-p {port} -c listen_addresses={host} -k {}", cluster.display());
    let status = run(&pg_ctl)
        .args(["-D"])
        .arg(&cluster)
        .args(["-o", &options, "-l"])
        .arg(cluster.join("server.log"))
        .args(["-w", "start"])
        .status()
        .await?;
    anyhow::ensure!(status.success(), "pg_ctl start failed; see {}", cluster.join("server.log").display());
    wait_until_answering("PostgreSQL", host, port).await?;
    Ok(PostgresCluster { pg_ctl, cluster, as_postgres })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_urls() {
        assert_eq!(host_port("nats://127.0.0.1:4222", 4222), Some(("127.0.0.1".into(), 4222)));
        assert_eq!(host_port("postgres://postgres@127.0.0.1:5433/db", 5432), Some(("127.0.0.1".into(), 5433)));
        assert_eq!(host_port("postgres://localhost/db", 5432), Some(("localhost".into(), 5432)));
        assert!(is_loopback("127.0.0.1") && !is_loopback("10.0.0.1"));
    }
}

//! The `zhaoshang` command: sets up logging, reads the configuration and
//! hands over to the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use zhaoshang::config::Config;
use zhaoshang::system::{self, Role as ServiceRole};
use zhaoshang_http::auth::Role;

#[derive(Parser)]
#[command(name = "zhaoshang", version, about = "柳州科技系统科技招商 — the system of record")]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts the whole system on this machine with the 2022–2024 plan loaded,
    /// starting a local NATS and PostgreSQL first if they do not answer.
    Up,
    /// Runs one service, or all of them, against the configured NATS and PostgreSQL.
    Serve {
        /// Which services to run.
        #[arg(long, value_enum, default_value = "all")]
        role: ServiceRole,
    },
    /// Loads a plan period's data file (idempotent: loading twice adds nothing).
    LoadPlan {
        /// The TOML file; the built-in 2022–2024 plan when absent.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Prints a local access token (local mode only), signed with the local
    /// secret: `zhaoshang token --role office`.
    Token {
        /// office, task_force, leader, auditor, subscriber or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// For the task_force role: a task force id (repeat for several).
        #[arg(long = "task-force")]
        task_forces: Vec<String>,
        /// How long the token is valid: 30m, 8h, 7d.
        #[arg(long, default_value = "8h", value_parser = zhaoshang::security::parse_ttl)]
        ttl: std::time::Duration,
        /// Who the token is for: recorded as the actor of every event it causes.
        #[arg(long)]
        sub: Option<String>,
        /// Their display name.
        #[arg(long)]
        name: Option<String>,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::from_code(text).ok_or_else(|| {
        let all: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
        format!("unknown role {text:?}; one of: {}", all.join(", "))
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let shutdown = CancellationToken::new();
    tokio::spawn(zhaoshang_http::shutdown_signal(shutdown.clone()));
    match cli.command {
        Command::Up => {
            let local_servers = zhaoshang::infra::ensure(&cli.config).await?;
            let listener = tokio::net::TcpListener::bind(cli.config.listen)
                .await
                .with_context(|| format!("failed to listen on {}", cli.config.listen))?;
            let running = system::start(&cli.config, ServiceRole::All, Some(listener), shutdown.clone()).await?;
            let command = running.command.clone().context("the command service is part of `up`")?;
            let report =
                zhaoshang::plan_file::load(&command, zhaoshang::plan_file::PLAN_2022_2024, "system:plan-loader")
                    .await?;
            tracing::info!(written = report.written, already_loaded = report.already_loaded, "2022–2024 plan loaded");
            tracing::info!(address = ?running.address, "zhaoshang is up: try GET /api/v1/task-forces and /api/v1/progress?year=2022");
            if cli.config.auth_mode == zhaoshang::config::AuthMode::Local {
                tracing::info!(
                    secret = %zhaoshang::security::secret_file(&cli.config).display(),
                    "every request but /healthz, /readyz and /openapi.json needs a token; mint one with \
                     `cargo run -p zhaoshang -- token --role admin` (or --role office, \
                     --role task_force --task-force automotive, …) and send it as `Authorization: Bearer <token>`"
                );
            }
            let result = wait(running).await;
            if local_servers.started_any() {
                tracing::info!("stopping the local NATS and PostgreSQL this command started");
                local_servers.stop().await?;
            }
            result
        }
        Command::Serve { role } => {
            let listener = if role == ServiceRole::Projector {
                None
            } else {
                Some(tokio::net::TcpListener::bind(cli.config.listen).await?)
            };
            let running = system::start(&cli.config, role, listener, shutdown.clone()).await?;
            wait(running).await
        }
        Command::LoadPlan { file } => {
            let text = match file {
                Some(path) => {
                    std::fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?
                }
                None => zhaoshang::plan_file::PLAN_2022_2024.to_owned(),
            };
            let store = zhaoshang_event_store::EventStore::connect(cli.config.event_store()).await?;
            let service = zhaoshang_command::CommandService::new(store).await?;
            let report = zhaoshang::plan_file::load(&service, &text, "system:plan-loader").await?;
            println!("written: {}, already loaded: {}", report.written, report.already_loaded);
            Ok(())
        }
        Command::Token { role, task_forces, ttl, sub, name } => {
            let sub = sub.unwrap_or_else(|| format!("local-{}", role.code()));
            let token = zhaoshang::security::mint_local_token(&cli.config, role, task_forces, ttl, sub, name)?;
            println!("{token}");
            Ok(())
        }
    }
}

async fn wait(running: system::RunningSystem) -> anyhow::Result<()> {
    for task in running.tasks {
        task.await.context("a service task panicked")??;
    }
    Ok(())
}

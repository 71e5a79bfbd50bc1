//! The `zhaoshang` command: sets up logging, reads the configuration and
//! hands over to the library.

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use zhaoshang::config::Config;
use zhaoshang::system::{self, Role};

#[derive(Parser)]
#[command(name = "zhaoshang", version, about = "柳州科技系统科技招商 — the system of record")]
struct Cli {
    #[command(flatten)]
    config: Config,
    /// A TOML file of settings (keys are the settings' names, e.g.
    /// `nats_url`); the environment and the command line override it.
    #[arg(long = "config", env = "ZHAOSHANG_CONFIG", value_name = "FILE", global = true)]
    config_file: Option<std::path::PathBuf>,
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
        role: Role,
    },
    /// Loads a plan period's data file (idempotent: loading twice adds nothing).
    LoadPlan {
        /// The TOML file; the built-in 2022–2024 plan when absent.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = zhaoshang::config::with_file_defaults(Cli::command(), &args)?;
    let cli = Cli::from_arg_matches(&command.get_matches_from(args)).unwrap_or_else(|error| error.exit());
    // Outside the runtime: the optional OTLP exporter runs on a thread of its
    // own, and flushes when the guard is dropped, after the runtime is gone.
    let telemetry = zhaoshang::telemetry::init_logging(cli.config.log_format);
    if let Some(file) = &cli.config_file {
        tracing::info!(file = %file.display(), "settings read from the configuration file");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(run(cli));
    // The services have stopped; what is left (idle connections' tasks) is
    // not waited for long.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    drop(telemetry);
    result
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(zhaoshang_http::shutdown_signal(shutdown.clone()));
    match cli.command {
        Command::Up => {
            let local_servers = zhaoshang::infra::ensure(&cli.config).await?;
            let listener = tokio::net::TcpListener::bind(cli.config.listen)
                .await
                .with_context(|| format!("failed to listen on {}", cli.config.listen))?;
            let running = system::start(&cli.config, Role::All, Some(listener), shutdown.clone()).await?;
            let command = running.command.clone().context("the command service is part of `up`")?;
            let report =
                zhaoshang::plan_file::load(&command, zhaoshang::plan_file::PLAN_2022_2024, "system:plan-loader")
                    .await?;
            tracing::info!(written = report.written, already_loaded = report.already_loaded, "2022–2024 plan loaded");
            tracing::info!(address = ?running.address, "zhaoshang is up: try GET /api/v1/task-forces and /api/v1/progress?year=2022");
            let result = wait(running).await;
            if local_servers.started_any() {
                tracing::info!("stopping the local NATS and PostgreSQL this command started");
                local_servers.stop().await?;
            }
            result
        }
        Command::Serve { role } => {
            let listener = if role == Role::Projector {
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
    }
}

async fn wait(running: system::RunningSystem) -> anyhow::Result<()> {
    for task in running.tasks {
        task.await.context("a service task panicked")??;
    }
    Ok(())
}

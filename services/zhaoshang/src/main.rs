//! The `zhaoshang` command: sets up logging, reads the configuration and
//! hands over to the library.

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use zhaoshang::config::Config;
use zhaoshang::system::{self, Role as ServiceRole};
use zhaoshang_http::auth::Role;

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
    /// The audit trail: verify the whole history, print proofs, sign now.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// The read models as a whole.
    Projections {
        #[command(subcommand)]
        action: ProjectionsCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Replays the stream, checks every hash, link, tree head and signature,
    /// rebuilds the read models into a scratch schema and compares them row by
    /// row with the live ones. Exits 1 naming the first thing that differs.
    Verify {
        /// The public key tree heads must be signed with (hex or PEM); the
        /// configured signing key's when absent.
        #[arg(long)]
        public_key: Option<std::path::PathBuf>,
        /// A tree head you hold (JSON, as published): the stream must give its root.
        #[arg(long)]
        from_digest: Option<std::path::PathBuf>,
        /// Check the stream and the tree heads only, not the read models.
        #[arg(long)]
        events_only: bool,
    },
    /// Prints the inclusion proof of an event against the latest tree head
    /// covering it; checking it needs only the public key.
    Proof {
        /// The event's id.
        event_id: uuid::Uuid,
    },
    /// Signs and publishes a tree head over the whole stream now.
    Digest,
    /// Prints the public key of the configured signing key (hex, then PEM).
    PublicKey,
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Replays the stream into a shadow schema and swaps it in atomically
    /// while the query API keeps answering.
    Rebuild {
        /// The projection (only `read_model` exists).
        name: Option<String>,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::from_code(text).ok_or_else(|| {
        let all: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
        format!("unknown role {text:?}; one of: {}", all.join(", "))
    })
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

async fn run(mut cli: Cli) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(zhaoshang_http::shutdown_signal(shutdown.clone()));
    match cli.command {
        Command::Up => {
            zhaoshang::audit::ensure_local_signing_key(&mut cli.config)?;
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
        Command::Audit { action } => audit(&cli.config, action).await,
        Command::Projections { action: ProjectionsCommand::Rebuild { name } } => {
            if let Some(name) = name.filter(|n| !zhaoshang::audit::PROJECTIONS.contains(&n.as_str())) {
                anyhow::bail!("no projection {name}; there is: {}", zhaoshang::audit::PROJECTIONS.join(", "));
            }
            let report = zhaoshang::audit::rebuild(&cli.config, true).await?;
            let seconds = report.elapsed.as_secs_f64();
            println!(
                "重建完成: {} events in {seconds:.1} s ({:.0} events/s), read models now at sequence {}",
                report.events,
                report.events as f64 / seconds.max(f64::EPSILON),
                report.checkpoint
            );
            Ok(())
        }
    }
}

async fn audit(config: &Config, action: AuditCommand) -> anyhow::Result<()> {
    use zhaoshang_audit::tree_head;
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))
    };
    match action {
        AuditCommand::Verify { public_key, from_digest, events_only } => {
            let mut options = zhaoshang::audit::VerifyOptions { progress: true, events_only, ..Default::default() };
            if let Some(path) = public_key {
                options.public_key = Some(tree_head::parse_public_key(&read(&path)?)?);
            }
            if let Some(path) = from_digest {
                options.trusted_head = Some(serde_json::from_str(&read(&path)?).context("not a tree head")?);
            }
            let report = zhaoshang::audit::verify(config, &options).await?;
            let seconds = report.elapsed.as_secs_f64();
            println!(
                "events: {} ({} re-hashed), tree heads: {}, read models compared at sequence {}: {} tables, {} rows; {seconds:.1} s ({:.0} events/s)",
                report.events,
                report.rehashed,
                report.tree_heads,
                report.compared_at,
                report.comparison.tables,
                report.comparison.rows,
                report.events as f64 / seconds.max(f64::EPSILON)
            );
            if !report.stream_denies_deletes {
                println!("警告: the event stream allows deleting messages");
            }
            match report.finding {
                None => {
                    println!("审计通过: the history and the read models agree");
                    Ok(())
                }
                Some(finding) => {
                    eprintln!("审计未通过: {finding}");
                    std::process::exit(1);
                }
            }
        }
        AuditCommand::Proof { event_id } => {
            let proof = zhaoshang::audit::inclusion_proof(config, event_id).await?;
            println!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(())
        }
        AuditCommand::Digest => {
            let key = zhaoshang::audit::load_signing_key(config)?.context("no signing key configured")?;
            let store = zhaoshang_event_store::EventStore::connect(config.event_store()).await?;
            let read_model = zhaoshang_read_model::ReadModel::connect(&config.read_model()).await?;
            match zhaoshang::audit::sign_now(&store, &read_model, &key).await? {
                Some(head) => println!("{}", serde_json::to_string_pretty(&head)?),
                None => println!("the event stream is empty: nothing to sign"),
            }
            Ok(())
        }
        AuditCommand::PublicKey => {
            let key = zhaoshang::audit::load_signing_key(config)?.context("no signing key configured")?;
            let public = key.verifying_key();
            println!("{}", tree_head::public_key_hex(&public));
            print!("{}", tree_head::public_key_pem(&public));
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

//! Every setting, from the command line, the environment or a TOML file,
//! with defaults that work on a developer's machine.
//!
//! A setting is looked up in this order, the first found wins: the command
//! line (`--nats-url`), the environment (`ZHAOSHANG_NATS_URL`), the file
//! named by `--config` or `ZHAOSHANG_CONFIG` (`nats_url = "..."`, the
//! field's name), the built-in default. README.md has the table of them all;
//! a test keeps it complete.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use zhaoshang_event_store::EventStoreConfig;
use zhaoshang_read_model::ReadModelConfig;

pub use crate::telemetry::LogFormat;

/// The settings shared by every service.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// NATS server URL.
    #[arg(long, env = "ZHAOSHANG_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// PostgreSQL URL of the read models.
    #[arg(long, env = "ZHAOSHANG_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
    /// PostgreSQL schema of the read models.
    #[arg(long, env = "ZHAOSHANG_SCHEMA", default_value = "zhaoshang")]
    pub schema: String,
    /// JetStream stream holding the events.
    #[arg(long, env = "ZHAOSHANG_STREAM", default_value = "ZHAOSHANG")]
    pub stream: String,
    /// First tokens of every event subject.
    #[arg(long, env = "ZHAOSHANG_SUBJECT_PREFIX", default_value = "zs.ev")]
    pub subject_prefix: String,
    /// JetStream replicas of the stream (1 on one machine, 3 in production).
    #[arg(long, env = "ZHAOSHANG_REPLICAS", default_value_t = 1)]
    pub replicas: usize,
    /// How long a retried command is recognised by its Idempotency-Key, in hours.
    #[arg(long, env = "ZHAOSHANG_DUPLICATE_WINDOW_HOURS", default_value_t = 24)]
    pub duplicate_window_hours: u64,
    /// Most concurrent appends sent to JetStream as one atomic batch (group
    /// commit; nats-server 2.12 or later). 1 sends each append alone.
    #[arg(long, env = "ZHAOSHANG_APPEND_BATCH_MAX", default_value_t = 256)]
    pub append_batch_max: usize,
    /// Address the HTTP API listens on.
    #[arg(long, env = "ZHAOSHANG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Projection lag, in events, above which /readyz answers 503.
    #[arg(long, env = "ZHAOSHANG_READY_LAG", default_value_t = 10_000)]
    pub ready_lag: u64,
    /// Where `zhaoshang up` keeps a local NATS and PostgreSQL it had to start.
    #[arg(long, env = "ZHAOSHANG_DATA_DIR", default_value = ".zhaoshang")]
    pub data_dir: PathBuf,
    /// How callers prove who they are: `local` (an HS256 secret may sign
    /// tokens: one machine, tests) or `sso` (only the city's single sign-on
    /// keys, from a JWKS; an HS256 secret is refused).
    #[arg(long, env = "ZHAOSHANG_AUTH_MODE", value_enum, default_value = "local")]
    pub auth_mode: AuthMode,
    /// The HS256 secret of local tokens (local mode only). When absent, the
    /// secret in `<data_dir>/jwt-secret` is used, created on first need.
    #[arg(long, env = "ZHAOSHANG_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    /// A JWKS file with the SSO's public keys (EdDSA or RS256).
    #[arg(long, env = "ZHAOSHANG_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// The SSO's JWKS URL, read when the service starts.
    #[arg(long, env = "ZHAOSHANG_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// The issuer (`iss`) every token must name; not checked when absent.
    #[arg(long, env = "ZHAOSHANG_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The audience (`aud`) every token must name; not checked when absent.
    #[arg(long, env = "ZHAOSHANG_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Writes per second one caller may make on average (token bucket).
    #[arg(long, env = "ZHAOSHANG_WRITE_RATE", default_value_t = 5.0)]
    pub write_rate_per_second: f64,
    /// Writes one caller may make at once before the rate applies.
    #[arg(long, env = "ZHAOSHANG_WRITE_BURST", default_value_t = 60)]
    pub write_burst: u32,
    /// Longest a request may take, in milliseconds (above the query's 30 s
    /// consistency wait), before it is answered 503.
    #[arg(long, env = "ZHAOSHANG_REQUEST_TIMEOUT_MS", default_value_t = 40_000)]
    pub request_timeout_ms: u64,
    /// Ed25519 key that signs the tree heads: PKCS#8 PEM or a 64-hex-digit
    /// seed. Without it the projector signs no tree heads (`up` makes one
    /// under the data directory).
    #[arg(long, env = "ZHAOSHANG_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// A signed tree head after this many new events.
    #[arg(long, env = "ZHAOSHANG_DIGEST_EVERY_EVENTS", default_value_t = 1000)]
    pub digest_every_events: u64,
    /// A signed tree head at least this often (seconds) while events come.
    #[arg(long, env = "ZHAOSHANG_DIGEST_EVERY_SECONDS", default_value_t = 3600)]
    pub digest_every_seconds: u64,
    /// Log line format: `text` for a terminal, `json` for a log collector
    /// (each line carries its span fields, among them the correlation id).
    #[arg(long, env = "ZHAOSHANG_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Most events the projector applies in one PostgreSQL transaction.
    #[arg(long, env = "ZHAOSHANG_PROJECTOR_MAX_BATCH", default_value_t = 4000)]
    pub projector_max_batch: usize,
    /// The city single sign-on's login address for the web console: its
    /// login page links there, and the SSO posts the `id_token` back to
    /// `/console/login/callback` (OIDC `response_mode=form_post`).
    #[arg(long, env = "ZHAOSHANG_CONSOLE_SSO_LOGIN_URL")]
    pub console_sso_login_url: Option<String>,
    /// Mark the console's session cookie `Secure` on every answer, not only
    /// when the request came over HTTPS (`X-Forwarded-Proto: https`).
    #[arg(long, env = "ZHAOSHANG_CONSOLE_SECURE_COOKIE", default_value_t = false, action = clap::ArgAction::Set)]
    pub console_secure_cookie: bool,
}

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// One machine: tokens may be signed with a local HS256 secret (`zhaoshang token`).
    Local,
    /// Production: only tokens of the city's single sign-on, verified against its JWKS.
    Sso,
}

/// A secret that is never printed, not even in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() < 32 {
            return Err("the secret must be at least 32 bytes".to_owned());
        }
        Ok(Self(text.to_owned()))
    }
}

impl Config {
    /// The event store's settings.
    pub fn event_store(&self) -> EventStoreConfig {
        EventStoreConfig {
            nats_url: self.nats_url.clone(),
            stream_name: self.stream.clone(),
            subject_prefix: self.subject_prefix.clone(),
            replicas: self.replicas,
            duplicate_window: std::time::Duration::from_secs(self.duplicate_window_hours * 3600),
            append_batch_max: self.append_batch_max,
        }
    }

    /// The projector's settings.
    pub fn projector(&self) -> zhaoshang_projector::ProjectorConfig {
        zhaoshang_projector::ProjectorConfig {
            max_batch: self.projector_max_batch.max(1),
            ..zhaoshang_projector::ProjectorConfig::for_schema(&self.schema)
        }
    }

    /// The web console's settings.
    pub fn console(&self) -> zhaoshang_query::console::ConsoleSettings {
        zhaoshang_query::console::ConsoleSettings {
            sso_login_url: self.console_sso_login_url.clone(),
            secure_cookie: self.console_secure_cookie,
        }
    }

    /// The read models' settings.
    pub fn read_model(&self) -> ReadModelConfig {
        ReadModelConfig { database_url: self.database_url.clone(), schema: self.schema.clone(), max_connections: 16 }
    }
}

/// The configuration file named on the command line (`--config FILE` or
/// `--config=FILE`), else by `ZHAOSHANG_CONFIG`.
fn config_file_named(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("ZHAOSHANG_CONFIG").map(PathBuf::from)
}

/// Makes the settings of the configuration file (if one is named in `args`)
/// the defaults of `command`'s [`Config`] arguments, so that the environment
/// and the command line still override them.
///
/// # Errors
/// When the file cannot be read, is not TOML, or names a setting that does
/// not exist or gives it a value that is not a string, number or boolean.
pub fn with_file_defaults(command: clap::Command, args: &[OsString]) -> anyhow::Result<clap::Command> {
    let Some(path) = config_file_named(args) else { return Ok(command) };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read the configuration file {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not a valid TOML file", path.display()))?;
    let known: Vec<String> = <Config as clap::Args>::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect();
    let mut command = command;
    for (key, value) in table {
        anyhow::ensure!(
            known.contains(&key),
            "{}: unknown setting `{key}`; the settings are: {}",
            path.display(),
            known.join(", ")
        );
        let value = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Boolean(flag) => flag.to_string(),
            other => anyhow::bail!("{}: `{key}` must be a string, integer or boolean, not {other}", path.display()),
        };
        // clap keeps defaults as 'static strings; a configuration file is
        // read once per process, so leaking its few values is harmless.
        let value: &'static str = Box::leak(value.into_boxed_str());
        command = command.mut_arg(key, |arg| arg.default_value(value));
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use clap::{FromArgMatches as _, Parser};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
        #[arg(long = "config")]
        config_file: Option<PathBuf>,
    }

    fn parse(args: &[&str]) -> anyhow::Result<Config> {
        use clap::CommandFactory as _;
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let command = with_file_defaults(Cli::command(), &args)?;
        let matches = command.try_get_matches_from(&args)?;
        Ok(Cli::from_arg_matches(&matches)?.config)
    }

    fn file_with(text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("zhaoshang-config-{}.toml", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, text).expect("write a configuration file");
        path
    }

    #[test]
    fn the_file_overrides_the_defaults_and_the_command_line_overrides_the_file() {
        let path =
            file_with("schema = \"from_file\"\nready_lag = 7\nprojector_max_batch = 50\nlog_format = \"json\"\n");
        let path_text = path.to_str().expect("utf-8 path");
        let config = parse(&["zhaoshang", "--config", path_text]).expect("parses");
        assert_eq!(config.schema, "from_file");
        assert_eq!(config.ready_lag, 7);
        assert_eq!(config.projector_max_batch, 50);
        assert_eq!(config.log_format, LogFormat::Json);
        let config = parse(&["zhaoshang", &format!("--config={path_text}"), "--schema", "from_flag"]).expect("parses");
        assert_eq!(config.schema, "from_flag");
        assert_eq!(config.ready_lag, 7);
        std::fs::remove_file(path).expect("clean up");
    }

    #[test]
    fn an_unknown_setting_in_the_file_is_named() {
        let path = file_with("nats_ulr = \"nats://x:4222\"\n");
        let error = parse(&["zhaoshang", "--config", path.to_str().expect("utf-8")]).expect_err("refused");
        assert!(error.to_string().contains("unknown setting `nats_ulr`"), "{error}");
        std::fs::remove_file(path).expect("clean up");
    }

    #[test]
    fn the_example_file_in_deploy_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/zhaoshang.example.toml");
        let config = parse(&["zhaoshang", "--config", path]).expect("the example parses");
        assert_eq!(config.replicas, 3);
    }

    #[test]
    fn every_setting_has_an_environment_variable_and_a_row_in_the_readme() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README");
        let command = <Config as clap::Args>::augment_args(clap::Command::new("settings"));
        for arg in command.get_arguments() {
            let env = arg.get_env().unwrap_or_else(|| panic!("{} has no environment variable", arg.get_id()));
            let env = env.to_string_lossy();
            let row = format!("| `{}` | `{env}` |", arg.get_id());
            assert!(readme.contains(&row), "README.md's settings table lacks the row starting {row}");
        }
        assert!(readme.contains("`ZHAOSHANG_CONFIG`"), "README.md must explain ZHAOSHANG_CONFIG");
    }
}

//! Every setting, from the command line or the environment, with defaults
//! that work on a developer's machine.

use std::net::SocketAddr;
use std::path::PathBuf;

use zhaoshang_event_store::EventStoreConfig;
use zhaoshang_read_model::ReadModelConfig;

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
        }
    }

    /// The read models' settings.
    pub fn read_model(&self) -> ReadModelConfig {
        ReadModelConfig { database_url: self.database_url.clone(), schema: self.schema.clone(), max_connections: 16 }
    }
}

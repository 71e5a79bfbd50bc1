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

//! The read models: PostgreSQL tables built from the event stream, and the
//! queries the query service answers from them.
//!
//! Layout: `migrations/` holds the schema ([`MIGRATOR`]); [`projection`]
//! applies batches of events with their checkpoint; [`queries`] reads the
//! task forces, the ledger, activities, meetings and the progress table;
//! [`supervision`] projects monthly reports and escalation matters and
//! answers the reminders, the status board and the monthly-report statuses.
//!
//! Each deployment (and each test) lives in its own PostgreSQL schema, set as
//! the connections' `search_path`, so many can share one database.

pub mod audit;
mod copy;
mod facts;
pub mod ledger;
pub mod personal_data;
pub mod progress;
pub mod projection;
pub mod queries;
pub mod supervision;
pub mod temporal;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgPool};
use zhaoshang_domain::envelope::DecodeError;

/// The read models' migrations, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why the read models could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    /// PostgreSQL failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// An event could not be read.
    #[error("event {sequence} cannot be read: {source}")]
    Decode {
        /// Its stream sequence.
        sequence: u64,
        /// Why.
        #[source]
        source: DecodeError,
    },
    /// The schema name is not a plain identifier.
    #[error("schema name {0:?} must be lower-case letters, digits and '_', starting with a letter")]
    BadSchemaName(String),
}

/// Where the read models live.
#[derive(Debug, Clone)]
pub struct ReadModelConfig {
    /// PostgreSQL URL, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
    pub database_url: String,
    /// The schema holding this deployment's tables (`zhaoshang`).
    pub schema: String,
    /// Most connections in the pool.
    pub max_connections: u32,
}

impl Default for ReadModelConfig {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
            schema: "zhaoshang".to_owned(),
            max_connections: 16,
        }
    }
}

/// A handle on the read models.
#[derive(Clone)]
pub struct ReadModel {
    pool: PgPool,
    schema: String,
}

fn check_schema_name(schema: &str) -> Result<(), ReadModelError> {
    let ok = schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok { Ok(()) } else { Err(ReadModelError::BadSchemaName(schema.to_owned())) }
}

impl ReadModel {
    /// Connects, creates the schema if needed and applies the migrations.
    ///
    /// # Errors
    /// [`ReadModelError`] when PostgreSQL cannot be reached or migrated.
    pub async fn connect(config: &ReadModelConfig) -> Result<Self, ReadModelError> {
        check_schema_name(&config.schema)?;
        let options: PgConnectOptions = config.database_url.parse()?;
        // Named after the schema, so an operator (or a test's clean-up) can
        // tell this deployment's connections apart in pg_stat_activity.
        let options = options.application_name(&Self::application_name(&config.schema));
        {
            let mut connection = sqlx::PgConnection::connect_with(&options).await?;
            connection.execute(format!("CREATE SCHEMA IF NOT EXISTS {}", config.schema).as_str()).await?;
            connection.close().await?;
        }
        let schema = config.schema.clone();
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |connection, _| {
                let schema = schema.clone();
                Box::pin(async move {
                    connection.execute(format!("SET search_path TO {schema}").as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, schema: config.schema.clone() })
    }

    /// The PostgreSQL `application_name` of the connections for `schema`.
    pub fn application_name(schema: &str) -> String {
        format!("zhaoshang:{schema}")
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The PostgreSQL channel on which each committed checkpoint is announced.
    pub fn notify_channel(&self) -> String {
        format!("{}_checkpoint", self.schema)
    }

    /// How far the read models have applied the stream.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn checkpoint(&self) -> Result<u64, ReadModelError> {
        projection::read_checkpoint(&self.pool).await
    }

    /// Applies a batch of events (see [`projection::apply_batch`]).
    ///
    /// # Errors
    /// As [`projection::apply_batch`].
    pub async fn apply_batch(&self, events: &[projection::EventToApply<'_>]) -> Result<u64, ReadModelError> {
        projection::apply_batch(&self.pool, &self.notify_channel(), events).await
    }

    /// Writes a prepared batch (see [`projection::write_prepared`]).
    ///
    /// # Errors
    /// As [`projection::write_prepared`].
    pub async fn write_prepared(
        &self,
        prepared: &projection::PreparedBatch,
    ) -> Result<projection::Written, ReadModelError> {
        projection::write_prepared(&self.pool, &self.notify_channel(), prepared).await
    }

    /// Drops the schema and everything in it. For tests and scratch rebuilds.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn drop_schema(&self) -> Result<(), ReadModelError> {
        self.pool.execute(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema).as_str()).await?;
        Ok(())
    }
}

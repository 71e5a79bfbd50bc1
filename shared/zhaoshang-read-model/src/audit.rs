//! The audit's part of the read models: the copy of the signed tree heads
//! (`migrations/0004_audit.sql`), the event log read as an auditor reads it,
//! and the two schema-wide operations of `zhaoshang audit verify` and
//! `zhaoshang projections rebuild`: comparing two schemas row by row, and
//! swapping a rebuilt schema in.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Executor as _, PgConnection, PgPool};
use uuid::Uuid;

use crate::{ReadModel, ReadModelError};

/// Tables that are not projections of the event stream: a rebuild carries
/// their rows over, and the comparison leaves them to their own checks.
pub const NOT_PROJECTED: &[&str] = &["_sqlx_migrations", "audit_tree_heads"];

/// A signed tree head as the read models keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct TreeHeadRow {
    /// The tree covers stream sequences `1..=tree_size`.
    pub tree_size: i64,
    /// The event stream.
    pub stream: String,
    /// Lower-case hex.
    pub root_hash: String,
    /// As signed: RFC 3339 UTC with milliseconds.
    pub signed_at: String,
    /// SHA-256 (hex) of the public key.
    pub key_id: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The signature, hex.
    pub signature: String,
}

/// One event as the event log holds it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct AuditEventRow {
    /// Stream sequence.
    pub sequence: i64,
    /// Event id.
    pub event_id: Uuid,
    /// CloudEvents type.
    pub event_type: String,
    /// Aggregate type.
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Aggregate version.
    pub aggregate_version: i64,
    /// Who.
    pub actor: String,
    /// When it happened in the world.
    pub occurred_on: Option<chrono::NaiveDate>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The request or import it belongs to.
    pub correlation_id: Uuid,
    /// Hash of the aggregate's previous event.
    pub prev_hash: Option<String>,
    /// The event's hash.
    pub hash: String,
    /// The payload.
    pub data: Value,
}

/// Which events an audit query asks for; every field narrows the answer.
#[derive(Debug, Clone, Default)]
pub struct AuditEventFilter {
    /// Only this aggregate type.
    pub aggregate_type: Option<String>,
    /// Only this aggregate id.
    pub aggregate_id: Option<String>,
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only this CloudEvents type (full, or the short `project.signed.v1`).
    pub event_type: Option<String>,
    /// Only this correlation id.
    pub correlation_id: Option<Uuid>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub to: Option<DateTime<Utc>>,
    /// Only after this stream sequence (paging).
    pub after: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

impl ReadModel {
    /// Keeps a copy of a signed tree head (a second copy changes nothing).
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn insert_tree_head(&self, head: &TreeHeadRow) -> Result<(), ReadModelError> {
        sqlx::query(
            "INSERT INTO audit_tree_heads (tree_size, stream, root_hash, signed_at, key_id, public_key, signature)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tree_size) DO NOTHING",
        )
        .bind(head.tree_size)
        .bind(&head.stream)
        .bind(&head.root_hash)
        .bind(&head.signed_at)
        .bind(&head.key_id)
        .bind(&head.public_key)
        .bind(&head.signature)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every signed tree head, smallest first.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn tree_heads(&self) -> Result<Vec<TreeHeadRow>, ReadModelError> {
        Ok(sqlx::query_as("SELECT * FROM audit_tree_heads ORDER BY tree_size").fetch_all(self.pool()).await?)
    }

    /// The event hashes of stream sequences `1..=up_to`, in order: the
    /// leaves of the tree of that size.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn event_hashes(&self, up_to: i64) -> Result<Vec<String>, ReadModelError> {
        Ok(sqlx::query_scalar("SELECT hash FROM event_log WHERE sequence <= $1 ORDER BY sequence")
            .bind(up_to)
            .fetch_all(self.pool())
            .await?)
    }

    /// The events matching `filter`, in stream order.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn audit_events(&self, filter: &AuditEventFilter) -> Result<Vec<AuditEventRow>, ReadModelError> {
        let full_type = filter.event_type.as_ref().map(|t| {
            if t.starts_with(zhaoshang_domain::envelope::EVENT_TYPE_PREFIX) {
                t.clone()
            } else {
                format!("{}{t}", zhaoshang_domain::envelope::EVENT_TYPE_PREFIX)
            }
        });
        Ok(sqlx::query_as(
            "SELECT * FROM event_log
             WHERE ($1::text IS NULL OR aggregate_type = $1)
               AND ($2::text IS NULL OR aggregate_id = $2)
               AND ($3::text IS NULL OR actor = $3)
               AND ($4::text IS NULL OR event_type = $4)
               AND ($5::uuid IS NULL OR correlation_id = $5)
               AND ($6::timestamptz IS NULL OR recorded_at >= $6)
               AND ($7::timestamptz IS NULL OR recorded_at < $7)
               AND ($8::bigint IS NULL OR sequence > $8)
             ORDER BY sequence LIMIT $9",
        )
        .bind(&filter.aggregate_type)
        .bind(&filter.aggregate_id)
        .bind(&filter.actor)
        .bind(full_type)
        .bind(filter.correlation_id)
        .bind(filter.from)
        .bind(filter.to)
        .bind(filter.after)
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// One event by its id.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn audit_event(&self, event_id: Uuid) -> Result<Option<AuditEventRow>, ReadModelError> {
        Ok(sqlx::query_as("SELECT * FROM event_log WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(self.pool())
            .await?)
    }
}

/// The first row found in one schema and not in the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowDifference {
    /// The table.
    pub table: String,
    /// The schema the row is in.
    pub found_in: String,
    /// The schema it is missing from.
    pub missing_from: String,
    /// The row as JSON (compared columns only).
    pub row: String,
}

impl std::fmt::Display for RowDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "table {}: row in {} but not in {}: {}", self.table, self.found_in, self.missing_from, self.row)
    }
}

/// What a comparison covered.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Tables compared.
    pub tables: usize,
    /// Rows in the first schema's compared tables.
    pub rows: u64,
    /// The first difference, if any.
    pub difference: Option<RowDifference>,
}

/// Compares every projected table of `left` with the same table of `right`
/// row by row (`EXCEPT ALL` both ways, so duplicates count). Columns
/// defaulting to `now()` hold wall-clock times of the write, not facts from
/// the events, and are left out; `json` columns are compared as text.
///
/// # Errors
/// [`ReadModelError::Database`].
pub async fn compare_schemas(
    connection: &mut PgConnection,
    left: &str,
    right: &str,
) -> Result<Comparison, ReadModelError> {
    crate::check_schema_name(left)?;
    crate::check_schema_name(right)?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .bind(left)
    .fetch_all(&mut *connection)
    .await?;
    let mut comparison = Comparison::default();
    for table in tables.iter().filter(|t| !NOT_PROJECTED.contains(&t.as_str())) {
        let columns: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, column_default::text FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        )
        .bind(left)
        .bind(table)
        .fetch_all(&mut *connection)
        .await?;
        let list: Vec<String> =
            columns
                .iter()
                .filter(|(_, _, default)| !default.as_deref().is_some_and(|d| d.contains("now()")))
                .map(|(name, data_type, _)| {
                    if data_type == "json" { format!("\"{name}\"::text AS \"{name}\"") } else { format!("\"{name}\"") }
                })
                .collect();
        let list = list.join(", ");
        comparison.tables += 1;
        let count: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {left}.{table}")).fetch_one(&mut *connection).await?;
        comparison.rows += count as u64;
        for (a, b) in [(left, right), (right, left)] {
            let sql = format!(
                "SELECT row_to_json(d)::text FROM (SELECT {list} FROM {a}.{table} EXCEPT ALL SELECT {list} FROM {b}.{table}) d
                 ORDER BY 1 LIMIT 1"
            );
            let row: Option<String> = sqlx::query_scalar(&sql).fetch_optional(&mut *connection).await?;
            if let Some(row) = row {
                comparison.difference = Some(RowDifference {
                    table: table.clone(),
                    found_in: a.to_owned(),
                    missing_from: b.to_owned(),
                    row,
                });
                return Ok(comparison);
            }
        }
    }
    Ok(comparison)
}

/// Inside a transaction on `connection`: stops the projector of `schema`
/// from committing until the transaction ends (it reads the checkpoint `FOR
/// UPDATE` first thing, which this lock blocks, while holding nothing else),
/// and returns the checkpoint.
///
/// `exclusive` also blocks readers of the checkpoint table (for a swap).
///
/// # Errors
/// [`ReadModelError::Database`].
pub async fn hold_checkpoint(
    connection: &mut PgConnection,
    schema: &str,
    exclusive: bool,
) -> Result<u64, ReadModelError> {
    crate::check_schema_name(schema)?;
    let mode = if exclusive { "ACCESS EXCLUSIVE" } else { "SHARE" };
    connection.execute(format!("LOCK TABLE {schema}.projection_checkpoints IN {mode} MODE").as_str()).await?;
    let value: Option<i64> =
        sqlx::query_scalar(&format!("SELECT last_sequence FROM {schema}.projection_checkpoints WHERE projection = $1"))
            .bind(crate::projection::READ_MODEL_PROJECTION)
            .fetch_optional(&mut *connection)
            .await?;
    Ok(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
}

/// Inside the transaction that holds `live`'s checkpoint exclusively: copies
/// the tables that are not projections into `shadow`, puts `shadow` in
/// `live`'s place and drops the old schema. Every connection finds the new
/// tables by name from its next statement on (`search_path` names the
/// schema, and dropping the old tables invalidates cached plans).
///
/// # Errors
/// [`ReadModelError::Database`].
pub async fn swap_in(connection: &mut PgConnection, live: &str, shadow: &str) -> Result<(), ReadModelError> {
    crate::check_schema_name(live)?;
    crate::check_schema_name(shadow)?;
    connection
        .execute(format!("INSERT INTO {shadow}.audit_tree_heads SELECT * FROM {live}.audit_tree_heads").as_str())
        .await?;
    let retired = retired_schema(live);
    connection.execute(format!("ALTER SCHEMA {live} RENAME TO {retired}").as_str()).await?;
    connection.execute(format!("ALTER SCHEMA {shadow} RENAME TO {live}").as_str()).await?;
    connection.execute(format!("DROP SCHEMA {retired} CASCADE").as_str()).await?;
    // The shadow's migrations made an (empty) key schema of its own; the live
    // keys stay where they are, in `<live>_keys`, untouched by a rebuild.
    connection.execute(format!("DROP SCHEMA IF EXISTS {} CASCADE", keys_schema(shadow)).as_str()).await?;
    Ok(())
}

/// The personal-data key schema migrations create beside `schema`.
fn keys_schema(schema: &str) -> String {
    format!("{schema}_keys")
}

fn retired_schema(live: &str) -> String {
    let mut name = format!("{live}_retired");
    name.truncate(63);
    name
}

/// Secondary indexes the projection reads through while it writes (the open
/// facts of a record, looked up for every batch that touches it): a bulk
/// load keeps them, or each batch would scan the whole table.
pub const PROJECTOR_INDEXES: [&str; 1] = ["progress_facts_open_source"];

/// Drops the secondary indexes of `schema`'s tables (those that back no
/// key and enforce no uniqueness) and returns their definitions, for
/// [`create_indexes`]. A bulk load into a fresh schema (a rebuild's shadow,
/// verify's scratch copy) builds each once at the end, from sorted data,
/// instead of updating it row by row; the keys and unique indexes stay, as
/// the projector's upserts and `ON CONFLICT` clauses stand on them, and so do
/// the indexes the projector itself reads through ([`PROJECTOR_INDEXES`]).
///
/// # Errors
/// [`ReadModelError::Database`].
pub async fn drop_secondary_indexes(pool: &PgPool, schema: &str) -> Result<Vec<String>, ReadModelError> {
    crate::check_schema_name(schema)?;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT index.relname::text, pg_get_indexdef(index.oid)
         FROM pg_index x
         JOIN pg_class index ON index.oid = x.indexrelid
         JOIN pg_namespace n ON n.oid = index.relnamespace
         WHERE n.nspname = $1 AND NOT x.indisunique AND NOT x.indisprimary
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
           AND index.relname <> ALL($2)
         ORDER BY index.relname",
    )
    .bind(schema)
    .bind(&PROJECTOR_INDEXES[..])
    .fetch_all(pool)
    .await?;
    let mut definitions = Vec::with_capacity(indexes.len());
    for (name, definition) in indexes {
        pool.execute(format!("DROP INDEX {schema}.\"{name}\"").as_str()).await?;
        definitions.push(definition);
    }
    Ok(definitions)
}

/// Builds indexes again from the definitions [`drop_secondary_indexes`] returned.
///
/// # Errors
/// [`ReadModelError::Database`].
pub async fn create_indexes(pool: &PgPool, definitions: &[String]) -> Result<(), ReadModelError> {
    for definition in definitions {
        pool.execute(definition.as_str()).await?;
    }
    Ok(())
}

/// Drops a scratch schema, if it exists.
///
/// # Errors
/// [`ReadModelError::Database`].
pub async fn drop_schema(pool: &PgPool, schema: &str) -> Result<(), ReadModelError> {
    crate::check_schema_name(schema)?;
    pool.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str()).await?;
    // A scratch schema's migrations made an empty key schema beside it.
    pool.execute(format!("DROP SCHEMA IF EXISTS {} CASCADE", keys_schema(schema)).as_str()).await?;
    Ok(())
}

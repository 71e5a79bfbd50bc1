//! What must hold after any fault: every acknowledged command is in the
//! stream exactly once, and the read models equal a fresh replay of the
//! stream (the projection code run into an empty schema).

use std::collections::{BTreeMap, HashSet};

use sqlx::Connection as _;
use uuid::Uuid;
use zhaoshang::config::Config;
use zhaoshang_event_store::{EventStore, StoredEvent};
use zhaoshang_read_model::ReadModel;
use zhaoshang_read_model::projection::EventToApply;

/// Every event in the stream of `config`, oldest first.
pub async fn all_events(config: &Config) -> Vec<StoredEvent> {
    let store = EventStore::connect(config.event_store()).await.expect("the event store answers");
    store.read_filter(&store.all_events_filter()).await.expect("the stream is readable")
}

/// Asserts that the stream holds exactly the acknowledged events, each once:
/// `acknowledged` are the event ids of the commands answered 2xx (a replayed
/// answer names the first event again).
pub async fn assert_stream_holds_exactly(config: &Config, acknowledged: &HashSet<Uuid>) {
    let events = all_events(config).await;
    let mut seen = HashSet::new();
    for event in &events {
        assert!(seen.insert(event.envelope.id), "event {} is in the stream twice", event.envelope.id);
    }
    let missing: Vec<_> = acknowledged.difference(&seen).collect();
    assert!(missing.is_empty(), "acknowledged but not in the stream: {missing:?}");
    let unacknowledged: Vec<_> = seen.difference(acknowledged).collect();
    assert!(unacknowledged.is_empty(), "in the stream but never acknowledged: {unacknowledged:?}");
    // The sequences are the stream's own: contiguous from 1.
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.sequence, index as u64 + 1, "the stream has a hole");
    }
}

/// One line per table: its row count and a digest of its rows, in a
/// canonical order. `updated_at` columns (the time of the write, not of the
/// event) are left out.
async fn table_digests(connection: &mut sqlx::PgConnection, schema: &str) -> BTreeMap<String, (i64, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
    )
    .bind(schema)
    .fetch_all(&mut *connection)
    .await
    .expect("list the tables");
    let mut digests = BTreeMap::new();
    for table in tables {
        let row = "(to_jsonb(t) - 'updated_at')::text";
        let sql = format!(
            "SELECT count(*)::bigint, coalesce(md5(string_agg({row}, E'\\n' ORDER BY {row})), '') FROM {schema}.{table} t"
        );
        let digest: (i64, String) = sqlx::query_as(&sql).fetch_one(&mut *connection).await.expect("digest a table");
        digests.insert(table, digest);
    }
    digests
}

/// Replays the whole stream of `config` with the projection code into a
/// fresh schema and asserts that every table of the read models equals it.
/// The caller first waits until the projector has reached the stream's end.
pub async fn assert_read_models_equal_a_fresh_replay(config: &Config) {
    let events = all_events(config).await;
    let mut fresh = config.clone();
    fresh.schema = format!("{}_replay", config.schema);
    let replay = ReadModel::connect(&fresh.read_model()).await.expect("a fresh schema");
    for chunk in events.chunks(1000) {
        let to_apply: Vec<EventToApply<'_>> =
            chunk.iter().map(|e| EventToApply { sequence: e.sequence, envelope: &e.envelope }).collect();
        replay.apply_batch(&to_apply).await.expect("the replay applies");
    }
    replay.pool().close().await;
    let mut connection = sqlx::PgConnection::connect(&config.database_url).await.expect("PostgreSQL answers");
    let projected = table_digests(&mut connection, &config.schema).await;
    let replayed = table_digests(&mut connection, &fresh.schema).await;
    // The replay's migrations made an empty key schema beside it: drop both.
    for schema in [fresh.schema.clone(), format!("{}_keys", fresh.schema)] {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut connection)
            .await
            .expect("drop the replay");
    }
    assert!(!projected.is_empty(), "the read models have no tables");
    for (table, digest) in &replayed {
        assert_eq!(projected.get(table), Some(digest), "table {table} differs from a fresh replay");
    }
    assert_eq!(projected.len(), replayed.len(), "the read models have tables a replay does not make");
    assert_eq!(
        projected.get("event_log").map(|d| d.0),
        Some(events.len() as i64),
        "the event log does not hold the whole stream"
    );
}

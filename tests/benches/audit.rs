//! The audit benchmark: at 10^6 events (`ZHAOSHANG_AUDIT_BENCH_EVENTS` to
//! shrink it), how fast `audit verify` and `projections rebuild` go, beside
//! the raw ordered-consumer read rate of the same stream in the same run.
//!
//! Phases: (1) write the history straight into a fresh stream (projects,
//! each a lead then a negotiation, sealed and chained as the command service
//! seals them); (2) raw: read the stream with an ordered consumer, doing
//! nothing with the messages; (3) rebuild: replay into a shadow schema and
//! swap it in; (4) sign a tree head over everything; (5) the raw read
//! again; (6) verify, events only (every hash, link and the tree head);
//! (7) the full verify (plus a scratch rebuild and the row-by-row
//! comparison). The verify share is taken against the faster raw read.
//!
//! Targets: verify (events) ≥ 50% of the raw read rate; rebuild ≥ 20,000
//! events/s. Run: `cargo bench -p zhaoshang-tests --bench audit`.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use zhaoshang::audit::VerifyOptions;
use zhaoshang_domain::EventEnvelope;
use zhaoshang_event_store::EventStore;

const VERIFY_SHARE_TARGET: f64 = 0.5;
const REBUILD_TARGET: f64 = 20_000.0;
/// Publishes awaiting their acknowledgement at once while writing the history.
const WINDOW: usize = 2_000;

fn template(text: &str) -> EventEnvelope {
    serde_json::from_str(text).expect("the contract examples are envelopes")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: u64 =
        std::env::var("ZHAOSHANG_AUDIT_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let mut config = zhaoshang_tests::unique_config();
    let key_path = std::env::temp_dir().join(format!("zhaoshang-bench-key-{}.hex", config.schema));
    std::fs::write(&key_path, "5a".repeat(32))?;
    config.signing_key_file = Some(key_path.clone());
    let result = run(&config, events).await;
    zhaoshang_tests::remove_test_data(&config).await;
    let _ = std::fs::remove_file(&key_path);
    result
}

fn rate(events: u64, took: Duration) -> f64 {
    events as f64 / took.as_secs_f64()
}

async fn run(config: &zhaoshang::config::Config, events: u64) -> anyhow::Result<()> {
    let store = EventStore::connect(config.event_store()).await?;
    eprintln!("audit bench: writing {events} events…");
    let started = Instant::now();
    write_history(&store, events).await?;
    eprintln!("audit bench: written in {:.1} s", started.elapsed().as_secs_f64());

    eprintln!("audit bench: raw read…");
    let raw_first = raw_read(&store, events).await?;
    eprintln!("audit bench: rebuild…");

    let rebuilt = zhaoshang::audit::rebuild(config, false).await.context("rebuild")?;
    anyhow::ensure!(rebuilt.checkpoint == events, "the rebuild reached {}", rebuilt.checkpoint);

    let key = zhaoshang::audit::load_signing_key(config)?.context("key")?;
    let read_model = zhaoshang_read_model::ReadModel::connect(&config.read_model()).await?;
    eprintln!("audit bench: sign…");
    let started = Instant::now();
    let head = zhaoshang::audit::sign_now(&store, &read_model, &key).await?.context("a tree head")?;
    let sign = started.elapsed();
    anyhow::ensure!(head.tree_size == events);

    // The raw read again, just before the verify it is the yardstick of:
    // the machine is shared, and the faster of the two reads is the one the
    // target is set against.
    eprintln!("audit bench: raw read…");
    let raw_second = raw_read(&store, events).await?;
    eprintln!("audit bench: verify (events only)…");
    let quick = zhaoshang::audit::verify(config, &VerifyOptions { events_only: true, ..Default::default() }).await?;
    anyhow::ensure!(quick.finding.is_none(), "verify found {:?}", quick.finding);
    anyhow::ensure!(quick.events == events && quick.tree_heads == 1);
    eprintln!("audit bench: verify (full)…");
    let full = zhaoshang::audit::verify(config, &VerifyOptions::default()).await?;
    eprintln!("audit bench: done");
    anyhow::ensure!(full.finding.is_none(), "verify found {:?}", full.finding);

    let raw_rate = rate(events, raw_first.min(raw_second));
    let verify_rate = rate(events, quick.elapsed);
    let rebuild_rate = rate(rebuilt.events, rebuilt.elapsed);
    println!("audit bench at {events} events");
    println!(
        "  raw ordered-consumer read     {raw_rate:>12.0} events/s  (the faster of {:.0} and {:.0})",
        rate(events, raw_first),
        rate(events, raw_second)
    );
    println!(
        "  audit verify (events only)    {verify_rate:>12.0} events/s  = {:.0}% of raw (target ≥ {:.0}%) {}",
        100.0 * verify_rate / raw_rate,
        100.0 * VERIFY_SHARE_TARGET,
        if verify_rate >= VERIFY_SHARE_TARGET * raw_rate { "MET" } else { "MISSED" }
    );
    println!(
        "  audit verify (full, + compare){:>12.0} events/s  ({} tables, {} rows compared)",
        rate(events, full.elapsed),
        full.comparison.tables,
        full.comparison.rows
    );
    println!(
        "  projections rebuild           {rebuild_rate:>12.0} events/s  (target ≥ {REBUILD_TARGET:.0}) {}",
        if rebuild_rate >= REBUILD_TARGET { "MET" } else { "MISSED" }
    );
    println!("  sign a tree head over all     {:>12.0} events/s", rate(events, sign));
    Ok(())
}

/// Reads the whole stream with an ordered consumer, doing nothing with the
/// messages: the rate every other figure is compared with.
async fn raw_read(store: &EventStore, events: u64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut messages = Box::pin(store.read_in_order(1).await?);
    let mut read = 0u64;
    while let Some(message) = messages.next().await {
        let message = message?;
        read += 1;
        if message.sequence >= events {
            break;
        }
    }
    let took = started.elapsed();
    anyhow::ensure!(read == events, "the raw read saw {read} of {events}");
    Ok(took)
}

/// Writes `events` events: projects of two events each (a lead, then a
/// negotiation), chained and hashed as the command service writes them.
async fn write_history(store: &EventStore, events: u64) -> anyhow::Result<()> {
    let lead = template(include_str!(
        "../../shared/zhaoshang-domain/contract/examples/cn.gov.liuzhou.kjj.zhaoshang.project.lead_recorded.v1.json"
    ));
    let negotiation = template(include_str!(
        "../../shared/zhaoshang-domain/contract/examples/cn.gov.liuzhou.kjj.zhaoshang.project.negotiation_started.v1.json"
    ));
    let mut pending = std::collections::VecDeque::new();
    let mut previous_hash = None;
    let mut project = String::new();
    for i in 0..events {
        let mut envelope = if i % 2 == 0 {
            project = uuid::Uuid::now_v7().to_string();
            previous_hash = None;
            lead.clone()
        } else {
            negotiation.clone()
        };
        envelope.id = uuid::Uuid::now_v7();
        envelope.aggregateid = project.clone();
        envelope.subject = format!("project/{project}");
        envelope.aggregateversion = i % 2 + 1;
        envelope.correlationid = uuid::Uuid::now_v7();
        envelope.prevhash = previous_hash.take();
        if i % 2 == 0 {
            envelope.data["name"] = serde_json::Value::String(format!("基准项目{i}"));
        }
        envelope.hash = envelope.compute_hash();
        previous_hash = Some(envelope.hash.clone());
        let subject = store.subject("project", &project);
        pending.push_back(store.jetstream().publish(subject, envelope.to_vec().into()).await?);
        if pending.len() >= WINDOW {
            pending.pop_front().expect("not empty").await?;
        }
    }
    for ack in pending {
        ack.await?;
    }
    Ok(())
}

//! The supervision benchmark (issue 5): at 10^6 events (a province's worth
//! of task forces over thirty years; `ZHAOSHANG_SUPERVISION_BENCH_EVENTS` to
//! shrink it), how long an as-of progress table and a comparison of two
//! inspection snapshots take, beside a bare indexed count over the same
//! year's facts measured in the same run (the floor PostgreSQL sets).
//!
//! The history is projected straight into a fresh schema with the
//! projector's own `apply_batch` (no NATS: the queries never read the
//! stream). Targets: as-of progress p95 < 50 ms; comparison p95 < 200 ms.
//! Run: `cargo bench -p zhaoshang-tests --bench supervision`.

use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use zhaoshang_domain::EventEnvelope;
use zhaoshang_read_model::ReadModel;
use zhaoshang_read_model::progress::{Knowledge, PeriodRequest};
use zhaoshang_read_model::projection::{EventToApply, apply_batch};
use zhaoshang_read_model::temporal::PointRequest;

const TASK_FORCES: usize = 96;
const FIRST_YEAR: i32 = 2000;
const LAST_YEAR: i32 = 2029;
const BATCH: usize = 4_000;
const AS_OF_TARGET_MS: f64 = 50.0;
const COMPARISON_TARGET_MS: f64 = 200.0;

fn template(text: &str) -> EventEnvelope {
    serde_json::from_str(text).expect("the contract examples are envelopes")
}

macro_rules! example {
    ($name:literal) => {
        template(include_str!(concat!(
            "../../shared/zhaoshang-domain/contract/examples/cn.gov.liuzhou.kjj.zhaoshang.",
            $name,
            ".v1.json"
        )))
    };
}

struct Templates {
    plan: EventEnvelope,
    task_force: EventEnvelope,
    activity: EventEnvelope,
    meeting: EventEnvelope,
    docking: EventEnvelope,
    report: EventEnvelope,
    lead: EventEnvelope,
    signed: EventEnvelope,
    reserve: EventEnvelope,
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: usize =
        std::env::var("ZHAOSHANG_SUPERVISION_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let config = zhaoshang_tests::unique_config();
    let result = run(&config, events).await;
    if std::env::var_os("ZHAOSHANG_BENCH_KEEP").is_some() {
        eprintln!("supervision bench: kept schema {} for inspection", config.schema);
    } else {
        zhaoshang_tests::remove_test_data(&config).await;
    }
    result
}

/// A small deterministic generator (no dependency, same history every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn history(events: usize) -> Vec<EventEnvelope> {
    let t = Templates {
        plan: example!("plan_period.adopted"),
        task_force: example!("task_force.established"),
        activity: example!("activity.held"),
        meeting: example!("meeting.convened"),
        docking: example!("task_force.enterprise_docked"),
        report: example!("monthly_report.submitted"),
        lead: example!("project.lead_recorded"),
        signed: example!("project.signed"),
        reserve: example!("project.reserve_entered"),
    };
    let mut out = Vec::with_capacity(events);
    let mut plan = t.plan.clone();
    plan.data["first_year"] = json!(FIRST_YEAR);
    plan.data["last_year"] = json!(LAST_YEAR);
    plan.aggregateid = format!("{FIRST_YEAR}-{LAST_YEAR}");
    out.push(plan);
    let tf = |i: usize| format!("tf{i:03}");
    for i in 0..TASK_FORCES {
        let mut e = t.task_force.clone();
        e.aggregateid = tf(i);
        e.data["number"] = json!(i + 1);
        e.data["name"] = json!(format!("第{}产业链招商专班", i + 1));
        out.push(e);
    }
    let first = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("a day");
    let days = (NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).expect("a day") - first).num_days() as usize + 1;
    let per_day = (events - out.len()).div_ceil(days);
    let mut rng = Lcg(42);
    let mut project = 0usize;
    let mut reported = std::collections::HashSet::new();
    while out.len() < events {
        let index = out.len();
        let day = first + chrono::Duration::days(((index - 1 - TASK_FORCES) / per_day).min(days - 1) as i64);
        let on = json!(day.to_string());
        let force = tf(rng.next(TASK_FORCES as u64) as usize);
        let mut pick = rng.next(10);
        if pick == 6 && !reported.insert((force.clone(), day.year(), day.month())) {
            pick = 3; // one report per task force and month: a docking instead
        }
        let mut e = match pick {
            0..=2 => {
                let mut e = t.activity.clone();
                e.aggregateid = uuid::Uuid::now_v7().to_string();
                let kind = ["going_out", "inviting_in", "online"][rng.next(3) as usize];
                e.data["kind"] = json!(kind);
                e.data["enterprises"] = json!([
                    {"name": format!("目标企业{}", rng.next(5_000)), "role": "target"},
                    {"name": format!("链主企业{}", rng.next(500)), "role": "chain_leader"}
                ]);
                e.data["task_force_id"] = json!(force);
                e.data["on"] = on;
                e
            }
            3 | 4 => {
                let mut e = t.docking.clone();
                e.aggregateid = force.clone();
                e.data["enterprise"] = json!(format!("目标企业{}", rng.next(5_000)));
                e.data["on"] = on;
                e
            }
            5 => {
                let mut e = t.meeting.clone();
                e.aggregateid = uuid::Uuid::now_v7().to_string();
                // One in five is a supervision inspection: the snapshots.
                e.data["kind"] = json!(if rng.next(5) == 0 { "supervision" } else { "joint" });
                e.data["task_force_id"] = json!(force);
                e.data["on"] = on;
                e
            }
            6 => {
                let mut e = t.report.clone();
                e.aggregateid = format!("{force}-{}-{:02}", day.year(), day.month());
                e.data["task_force_id"] = json!(force);
                e.data["year"] = json!(day.year());
                e.data["month"] = json!(day.month());
                e.data["on"] = on;
                e
            }
            _ => {
                // A project: its lead, then (as later events) its signing and reserve entry.
                project += 1;
                let id = format!("p{project}");
                let mut lead = t.lead.clone();
                lead.aggregateid = id.clone();
                lead.data["task_force_id"] = json!(force);
                lead.data["on"] = on.clone();
                let mut signed = t.signed.clone();
                signed.aggregateid = id.clone();
                signed.aggregateversion = 2;
                signed.data["on"] = on.clone();
                let mut reserve = t.reserve.clone();
                reserve.aggregateid = id;
                reserve.aggregateversion = 3;
                reserve.data["on"] = on;
                out.push(lead);
                out.push(signed);
                reserve
            }
        };
        e.id = uuid::Uuid::now_v7();
        out.push(e);
    }
    out.truncate(events);
    // Recorded two days after it happened, in stream order.
    let base = Utc.with_ymd_and_hms(FIRST_YEAR, 1, 3, 2, 0, 0).single().expect("a time");
    let span = (days as i64) * 86_400;
    let total = out.len() as i64;
    for (i, e) in out.iter_mut().enumerate() {
        e.id = uuid::Uuid::now_v7();
        e.time = base + chrono::Duration::seconds(span * i as i64 / total);
        e.subject = format!("{}/{}", e.aggregatetype, e.aggregateid);
        e.hash = e.compute_hash();
    }
    out
}

async fn run(config: &zhaoshang::config::Config, events: usize) -> anyhow::Result<()> {
    let read_model = ReadModel::connect(&config.read_model()).await?;
    eprintln!("supervision bench: generating {events} events…");
    let history = history(events);
    let started = Instant::now();
    for (chunk_index, chunk) in history.chunks(BATCH).enumerate() {
        let batch: Vec<EventToApply<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(i, envelope)| EventToApply { sequence: (chunk_index * BATCH + i + 1) as u64, envelope })
            .collect();
        apply_batch(read_model.pool(), &read_model.notify_channel(), &batch).await?;
    }
    let projected = started.elapsed();
    // What autovacuum does on a running system after a bulk load: the
    // visibility map lets the counts read the covering index alone.
    sqlx::query("VACUUM (ANALYZE)").execute(read_model.pool()).await?;
    let facts: i64 = sqlx::query_scalar("SELECT count(*) FROM progress_facts").fetch_one(read_model.pool()).await?;
    let inspections = read_model.inspections(None).await?;
    eprintln!(
        "supervision bench: projected in {:.1} s; {facts} facts, {} inspections",
        projected.as_secs_f64(),
        inspections.len()
    );

    let mut rng = Lcg(7);
    let rounds = 200;
    let mut raw = Vec::with_capacity(rounds);
    let mut as_of = Vec::with_capacity(rounds);
    let mut today = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let year = FIRST_YEAR + rng.next((LAST_YEAR - FIRST_YEAR + 1) as u64) as i32;
        let date = NaiveDate::from_ymd_opt(year, 1, 1).expect("a day") + chrono::Duration::days(rng.next(365) as i64);
        let known = 1 + rng.next(events as u64);
        let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("a day");
        let last = NaiveDate::from_ymd_opt(year, 12, 31).expect("a day");

        let started = Instant::now();
        // Through the same two partial covering indexes the counts read.
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM progress_facts WHERE NOT repeats AND counts_in BETWEEN $1 AND $2)
                  + (SELECT count(*) FROM progress_facts WHERE repeats AND counts_in BETWEEN $1 AND $2)",
        )
        .bind(first)
        .bind(last)
        .fetch_one(read_model.pool())
        .await?;
        raw.push(started.elapsed());
        anyhow::ensure!(n >= 0);

        let started = Instant::now();
        let table = read_model
            .progress_at(PeriodRequest::Year(year), Knowledge { known_sequence: Some(known), as_of: Some(date) })
            .await?;
        as_of.push(started.elapsed());
        anyhow::ensure!(table.rows.len() == TASK_FORCES, "every task force has a row");

        let started = Instant::now();
        read_model.progress(PeriodRequest::Year(year)).await?;
        today.push(started.elapsed());
    }

    let mut comparisons = Vec::new();
    let by_year = |y: i32| inspections.iter().filter(|i| i.held_on.year() == y).collect::<Vec<_>>();
    for _ in 0..100 {
        let year = FIRST_YEAR + rng.next((LAST_YEAR - FIRST_YEAR + 1) as u64) as i32;
        let candidates = by_year(year);
        if candidates.len() < 2 {
            continue;
        }
        let a = candidates[rng.next(candidates.len() as u64) as usize];
        let b = candidates[rng.next(candidates.len() as u64) as usize];
        let point = |id: &str| PointRequest { inspection: Some(id.to_owned()), ..PointRequest::default() };
        let started = Instant::now();
        let today_date = NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).expect("a day");
        let from = read_model.resolve_point(&point(&a.id), today_date).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let to = read_model.resolve_point(&point(&b.id), today_date).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        // As the API answers by default: the figures, and the first 1,000
        // of the events that made the difference (with their total).
        let compared = read_model.compare(year, from, to, 1_000).await?;
        comparisons.push(started.elapsed());
        let _: Value = serde_json::to_value(&compared)?;
    }
    anyhow::ensure!(!comparisons.is_empty(), "no year had two inspections");

    let raw_p95 = percentile(&mut raw, 0.95);
    let as_of_p95 = percentile(&mut as_of, 0.95);
    let comparison_p95 = percentile(&mut comparisons, 0.95);
    println!(
        "supervision bench at {events} events ({TASK_FORCES} task forces, {FIRST_YEAR}–{LAST_YEAR}, {facts} facts)"
    );
    println!("  projected into the read models   {:>10.0} events/s", events as f64 / projected.as_secs_f64());
    println!(
        "  bare count of a year's facts     p50 {:>7.1} ms  p95 {raw_p95:>7.1} ms  (PostgreSQL's floor)",
        percentile(&mut raw, 0.5)
    );
    println!(
        "  as-of/known-at progress table    p50 {:>7.1} ms  p95 {as_of_p95:>7.1} ms  = {:.1}× the floor (target p95 < {AS_OF_TARGET_MS} ms) {}",
        percentile(&mut as_of, 0.5),
        as_of_p95 / raw_p95,
        if as_of_p95 < AS_OF_TARGET_MS { "MET" } else { "MISSED" }
    );
    println!(
        "  today's progress table           p50 {:>7.1} ms  p95 {:>7.1} ms",
        percentile(&mut today, 0.5),
        percentile(&mut today, 0.95)
    );
    println!(
        "  comparison of two snapshots      p50 {:>7.1} ms  p95 {comparison_p95:>7.1} ms  ({} pairs; target p95 < {COMPARISON_TARGET_MS} ms) {}",
        percentile(&mut comparisons, 0.5),
        comparisons.len(),
        if comparison_p95 < COMPARISON_TARGET_MS { "MET" } else { "MISSED" }
    );
    Ok(())
}

//! The spine benchmark: how fast events go through zhaoshang's write path
//! into JetStream and out of it into the PostgreSQL read models, measured
//! against what the two servers can do raw in the same run.
//!
//! Run it with `cargo bench -p zhaoshang-tests --bench spine`; set
//! `BENCH_EVENTS` (default 100,000) to append more or fewer events, e.g.
//! `BENCH_EVENTS=20000 cargo bench -p zhaoshang-tests --bench spine`.
//! `ZHAOSHANG_NATS_URL` and `ZHAOSHANG_DATABASE_URL` point it elsewhere than
//! the local servers.
//!
//! Phases, in order:
//! 1. append: a realistic mix of project walks and held activities goes
//!    through `CommandService` (cache, decide, append with the expected
//!    subject sequence and an idempotency key), 64 aggregates in flight;
//! 2. raw JetStream: messages of the same size, with `Nats-Msg-Id` and
//!    `Nats-Expected-Last-Subject-Sequence`, 64 in flight (and 1, for reference);
//! 3. raw PostgreSQL: 1,000-row `INSERT … SELECT FROM UNNEST` of event-log
//!    rows into a scratch table;
//! 4. projection catch-up: the projector starts from zero on the filled stream;
//! 5. write-to-visible: 200 sequential commands, each timed from sending until
//!    the read models' checkpoint covers it.
//!
//! Everything lives in a stream, subject prefix and schema of its own, which
//! are deleted at the end, also when a phase fails or the run is interrupted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use async_nats::jetstream::{
    self, context::GetStreamErrorKind, message::PublishMessage, stream::Config as StreamConfig,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use zhaoshang_command::{CommandService, RepositoryOf, RequestContext, liuzhou_today};
use zhaoshang_domain::activity::{Activity, ActivityCommand, ActivityDetails};
use zhaoshang_domain::project::{
    AgreementKind, DatedAmount, DatedReason, DatedStep, Project, ProjectCommand, RecordProjectLead, RegisterCompany,
    SignProject, StartNegotiation,
};
use zhaoshang_domain::values::{
    ActivityKind, EnterpriseInvolved, EnterpriseRole, Name, ProjectCategory, Slug, Text, Yuan,
};
use zhaoshang_domain::{Aggregate, DecisionContext};
use zhaoshang_event_store::{EventStore, EventStoreConfig, StoredEvent};
use zhaoshang_projector::ProjectorConfig;
use zhaoshang_read_model::{ReadModel, ReadModelConfig};

/// Events appended when `BENCH_EVENTS` is not set.
const DEFAULT_EVENTS: usize = 100_000;
/// Commands (and raw publishes) in flight at once: the window both sides share.
const WINDOW: usize = 64;
/// Rows per raw PostgreSQL insert, the batch size the projector's batches are compared with.
const PG_BATCH_ROWS: usize = 1_000;
/// Sequential commands timed from send to visible.
const LIGHT_LOAD_COMMANDS: usize = 200;
/// How many stored envelopes are sampled for the raw phases' payloads and rows.
const SAMPLED_ENVELOPES: usize = 64;
/// How long the read models may show no progress before the run gives up.
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// Append must reach this share of the raw JetStream rate at the same window.
const APPEND_TARGET: f64 = 0.50;
/// Projection must reach this share of the raw batched-insert rate.
const PROJECTION_TARGET: f64 = 0.40;
/// Write-to-visible p99 at light load must stay under this.
const VISIBLE_P99_TARGET: Duration = Duration::from_millis(100);

/// The task forces the 2022–2024 plan establishes, with their chains, so
/// generated projects and activities belong to real task forces.
const TASK_FORCES: [(&str, &str); 8] = [
    ("automotive", "汽车"),
    ("machinery", "机械装备制造"),
    ("health_culture_tourism_sports", "大健康和文旅体育"),
    ("biomedicine", "生物医药"),
    ("green_environmental", "绿色环保"),
    ("digital_economy", "数字经济"),
    ("modern_agriculture", "现代农业"),
    ("electronic_information", "电子信息"),
];
const OWNERS: [&str; 6] = ["张建国", "李红梅", "王志强", "陈晓东", "刘海燕", "黄伟"];
const CITIES: [&str; 6] = ["上海", "深圳", "广州", "杭州", "苏州", "成都"];

/// The run's parameters and the names that isolate it from everything else.
struct Settings {
    events: usize,
    nats_url: String,
    database_url: String,
    /// A fresh UUID in simple form: every name below is derived from it.
    id: String,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let events = match std::env::var("BENCH_EVENTS") {
            Ok(text) => {
                let events: usize = text
                    .trim()
                    .replace('_', "")
                    .parse()
                    .with_context(|| format!("BENCH_EVENTS={text} is not a count"))?;
                if events == 0 {
                    bail!("BENCH_EVENTS must be at least 1");
                }
                events
            }
            Err(_) => DEFAULT_EVENTS,
        };
        Ok(Self {
            events,
            nats_url: std::env::var("ZHAOSHANG_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
            database_url: std::env::var("ZHAOSHANG_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            id: Uuid::new_v4().simple().to_string(),
        })
    }

    fn stream(&self) -> String {
        format!("BENCH_{}", self.id.to_uppercase())
    }

    fn raw_stream(&self) -> String {
        format!("BENCH_{}_RAW", self.id.to_uppercase())
    }

    fn subject_prefix(&self) -> String {
        format!("bench{}.ev", self.id)
    }

    /// Outside the event prefix, so the raw messages never reach the projector.
    fn raw_subject_prefix(&self) -> String {
        format!("bench{}.raw", self.id)
    }

    fn schema(&self) -> String {
        format!("bench_{}", self.id)
    }

    fn event_store(&self) -> EventStoreConfig {
        EventStoreConfig {
            nats_url: self.nats_url.clone(),
            stream_name: self.stream(),
            subject_prefix: self.subject_prefix(),
            replicas: 1,
            duplicate_window: Duration::from_secs(3600),
            ..EventStoreConfig::default()
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let store = EventStore::connect(settings.event_store()).await.context("cannot open the bench's event stream")?;
    let read_model_config =
        ReadModelConfig { database_url: settings.database_url.clone(), schema: settings.schema(), max_connections: 16 };
    let read_model = match ReadModel::connect(&read_model_config).await {
        Ok(read_model) => read_model,
        Err(error) => {
            clean_up(&store, &settings, None).await;
            return Err(error).context("cannot create the bench's read-model schema");
        }
    };
    let shutdown = CancellationToken::new();
    // The run is raced against Ctrl-C so that an interrupted bench still
    // deletes its stream and schema instead of leaving them on the servers.
    let result = tokio::select! {
        result = run(&settings, &store, &read_model, &shutdown) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    shutdown.cancel();
    clean_up(&store, &settings, Some(&read_model)).await;
    result
}

/// Deletes the bench's streams (with the projector's consumer) and schema
/// (with the scratch table). Failures are reported, not returned, so that one
/// failed step does not keep the others from running.
async fn clean_up(store: &EventStore, settings: &Settings, read_model: Option<&ReadModel>) {
    let jetstream = store.jetstream();
    for stream in [settings.stream(), settings.raw_stream()] {
        match tokio::time::timeout(Duration::from_secs(10), jetstream.delete_stream(&stream)).await {
            Ok(Ok(_)) => {}
            // The raw stream does not exist when the run stopped before its phase.
            Ok(Err(error))
                if matches!(error.kind(), GetStreamErrorKind::JetStream(ref inner)
                    if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) => {}
            Ok(Err(error)) => eprintln!("warning: could not delete stream {stream}: {error}"),
            Err(_) => eprintln!("warning: deleting stream {stream} timed out"),
        }
    }
    if let Some(read_model) = read_model {
        match tokio::time::timeout(Duration::from_secs(30), read_model.drop_schema()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: could not drop schema {}: {error}", read_model.schema()),
            Err(_) => eprintln!("warning: dropping schema {} timed out", read_model.schema()),
        }
    }
}

/// The figures of one run.
struct Report {
    events: usize,
    setup_events: u64,
    projects: usize,
    activities: usize,
    mix: BTreeMap<&'static str, usize>,
    payload_bytes: usize,
    append: Duration,
    append_latencies: Vec<Duration>,
    raw_window: Duration,
    raw_single_messages: usize,
    raw_single: Duration,
    raw_pg: Duration,
    stream_events: u64,
    catch_up: Duration,
    acked: Vec<Duration>,
    visible: Vec<Duration>,
}

async fn run(
    settings: &Settings,
    store: &EventStore,
    read_model: &ReadModel,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let service = CommandService::new(store.clone()).await.context("the command service cannot start")?;
    // The plan period, leading group and eight task forces come first, as in
    // a real deployment: the generated projects belong to these task forces
    // and their signings are judged by the plan's thresholds.
    zhaoshang::plan_file::load(&service, zhaoshang::plan_file::PLAN_2022_2024, "bench")
        .await
        .context("the 2022–2024 plan does not load")?;
    let setup_events = store.last_sequence().await?;

    let workload = build_workload(settings.events, &service)?;
    eprintln!(
        "spine: appending {} events ({} projects, {} held activities), {WINDOW} in flight…",
        settings.events, workload.projects, workload.activities
    );
    let (append, mut append_latencies) = append_phase(&service, workload.jobs).await?;
    let stream_events = store.last_sequence().await?;
    if stream_events != setup_events + settings.events as u64 {
        bail!("the stream holds {stream_events} events, expected {}", setup_events + settings.events as u64);
    }

    // The raw phases use real envelopes from the stream, so their payloads
    // and rows have exactly the widths the system writes.
    let samples = sample_envelopes(store, setup_events + 1, stream_events).await?;
    let payloads: Vec<Vec<u8>> = samples.iter().map(|s| s.envelope.to_vec()).collect();
    let payload_bytes = payloads.iter().map(Vec::len).sum::<usize>() / payloads.len();

    eprintln!("spine: raw JetStream publishes…");
    create_raw_stream(store, settings).await?;
    let prefix = settings.raw_subject_prefix();
    let raw_window = raw_jetstream(store.jetstream(), &prefix, WINDOW, settings.events, &payloads).await?;
    let raw_single_messages = (settings.events / 20).clamp(1, 5_000).min(settings.events);
    let raw_single = raw_jetstream(store.jetstream(), &prefix, 1, raw_single_messages, &payloads).await?;
    // The raw stream is no longer needed: deleting it now keeps it from
    // sharing the server's disk with the phases that follow.
    store.jetstream().delete_stream(settings.raw_stream()).await.context("cannot delete the raw stream")?;

    eprintln!("spine: raw PostgreSQL batched inserts…");
    let raw_pg = raw_postgres(read_model.pool(), read_model.schema(), settings.events, &samples).await?;

    eprintln!("spine: projecting {stream_events} events from zero…");
    let mut listener = PgListener::connect_with(read_model.pool()).await?;
    listener.listen(&read_model.notify_channel()).await?;
    let started = Instant::now();
    let mut projector = tokio::spawn(zhaoshang_projector::run(
        store.clone(),
        read_model.clone(),
        ProjectorConfig::for_schema(read_model.schema()),
        shutdown.clone(),
    ));
    let mut visible_sequence = 0;
    wait_visible(&mut listener, &mut visible_sequence, stream_events, &mut projector, read_model).await?;
    let catch_up = started.elapsed();

    eprintln!("spine: {LIGHT_LOAD_COMMANDS} sequential commands, each until visible…");
    let today = liuzhou_today();
    let correlation_id = Uuid::now_v7();
    let mut acked = Vec::with_capacity(LIGHT_LOAD_COMMANDS);
    let mut visible = Vec::with_capacity(LIGHT_LOAD_COMMANDS);
    for i in 0..LIGHT_LOAD_COMMANDS {
        let request = request(today, correlation_id);
        let sent = Instant::now();
        // Half are updates of existing projects (the cached path), half
        // create new activities (the path that first looks the subject up).
        let sequence = match workload.signed_projects.get(i / 2 % workload.signed_projects.len().max(1)) {
            Some(project) if i % 2 == 0 => {
                let funds = DatedAmount { on: day_in_2022(364), amount_yuan: yuan(1_000_000)? };
                execute::<Project>(&service, project, &ProjectCommand::RecordFundsArrived(funds), &request).await?
            }
            _ => {
                let mut rng = Rng(0xACE0_0000 + i as u64);
                let command = activity(&mut rng, 1_000_000 + i)?;
                execute::<Activity>(&service, &Uuid::now_v7().to_string(), &command, &request).await?
            }
        };
        acked.push(sent.elapsed());
        wait_visible(&mut listener, &mut visible_sequence, sequence, &mut projector, read_model).await?;
        visible.push(sent.elapsed());
    }
    shutdown.cancel();
    match tokio::time::timeout(Duration::from_secs(10), projector).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => return Err(error.context("the projector failed while stopping")),
        Ok(Err(error)) => bail!("the projector panicked: {error}"),
        Err(_) => bail!("the projector did not stop within 10 s"),
    }

    append_latencies.sort();
    acked.sort();
    visible.sort();
    print_report(&Report {
        events: settings.events,
        setup_events,
        projects: workload.projects,
        activities: workload.activities,
        mix: workload.mix,
        payload_bytes,
        append,
        append_latencies,
        raw_window,
        raw_single_messages,
        raw_single,
        raw_pg,
        stream_events,
        catch_up,
        acked,
        visible,
    });
    Ok(())
}

// ---------------------------------------------------------------------------
// The workload.

/// A small deterministic generator (SplitMix64): the same mix every run, and
/// no extra crate for it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn name(text: &str) -> anyhow::Result<Name> {
    Name::parse(text).with_context(|| format!("{text:?} is not a name"))
}

fn text(text: &str) -> anyhow::Result<Text> {
    Text::parse(text).with_context(|| format!("{text:?} is not a text"))
}

fn yuan(amount: u64) -> anyhow::Result<Yuan> {
    Ok(Yuan::new(i64::try_from(amount)?)?)
}

/// Day `day` (0-based) of 2022: every generated fact happened in 2022, well
/// before today, so no date rule refuses it.
fn day_in_2022(day: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 1, 1).expect("a valid date") + chrono::Days::new(day.min(364))
}

/// One aggregate's commands, run in order by one worker.
enum Job {
    Project { id: String, commands: Vec<ProjectCommand> },
    Activity { id: String, command: ActivityCommand },
}

struct Workload {
    jobs: Vec<Job>,
    projects: usize,
    activities: usize,
    /// Projects whose walk includes a signing: they accept funds arrivals.
    signed_projects: Vec<String>,
    mix: BTreeMap<&'static str, usize>,
}

fn kind_of(command: &ProjectCommand) -> &'static str {
    match command {
        ProjectCommand::RecordLead(_) => "lead",
        ProjectCommand::StartNegotiation(_) => "negotiation",
        ProjectCommand::Sign(s) if s.agreement == AgreementKind::Framework => "signing",
        ProjectCommand::Sign(_) => "contract",
        ProjectCommand::RegisterCompany(_) => "company",
        ProjectCommand::StartConstruction(_) => "construction",
        ProjectCommand::StartProduction(_) => "production",
        ProjectCommand::RecordFundsArrived(_) => "funds",
        ProjectCommand::IncreaseInvestment(_) => "increase",
        ProjectCommand::EnterReserve(_) => "reserve",
        ProjectCommand::Stall(_) => "stall",
        ProjectCommand::Resume(_) => "resume",
        ProjectCommand::Drop(_) => "drop",
        ProjectCommand::ChangeOwner(_) => "owner",
        ProjectCommand::NoteProgress(_) => "progress",
        ProjectCommand::RaiseProblem(_) | ProjectCommand::ResolveProblem(_) => "problem",
        ProjectCommand::ChangeInvestor(_) => "investor",
    }
}

/// Exactly `events` commands: project walks, each followed half the time by
/// a held activity, the last walk cut short where the count is reached (a
/// walk's prefix is itself a valid walk).
fn build_workload(events: usize, service: &CommandService) -> anyhow::Result<Workload> {
    let mut rng = Rng(0x5EED_2022);
    let mut workload =
        Workload { jobs: Vec::new(), projects: 0, activities: 0, signed_projects: Vec::new(), mix: BTreeMap::new() };
    let mut remaining = events;
    let mut n = 0;
    while remaining > 0 {
        n += 1;
        let mut commands = project_walk(&mut rng, n, service)?;
        commands.truncate(remaining);
        remaining -= commands.len();
        let id = Uuid::now_v7().to_string();
        if commands.iter().any(|c| matches!(c, ProjectCommand::Sign(_))) {
            workload.signed_projects.push(id.clone());
        }
        for command in &commands {
            *workload.mix.entry(kind_of(command)).or_default() += 1;
        }
        workload.jobs.push(Job::Project { id, commands });
        workload.projects += 1;
        if remaining > 0 && rng.chance(50) {
            workload.jobs.push(Job::Activity { id: Uuid::now_v7().to_string(), command: activity(&mut rng, n)? });
            *workload.mix.entry("activity").or_default() += 1;
            workload.activities += 1;
            remaining -= 1;
        }
    }
    Ok(workload)
}

/// A project's commands, with dates that never go backwards.
struct Walk<'a> {
    rng: &'a mut Rng,
    day: u64,
    commands: Vec<ProjectCommand>,
}

impl Walk<'_> {
    fn next_date(&mut self) -> NaiveDate {
        self.day = (self.day + self.rng.range(0, 8)).min(364);
        day_in_2022(self.day)
    }

    fn funds(&mut self, fewest: u64, most: u64) -> anyhow::Result<()> {
        for _ in 0..self.rng.range(fewest, most) {
            let on = self.next_date();
            let amount_yuan = yuan(self.rng.range(1, 50) * 1_000_000)?;
            self.commands.push(ProjectCommand::RecordFundsArrived(DatedAmount { on, amount_yuan }));
        }
        Ok(())
    }

    fn drop_project(&mut self, reason: &str) -> anyhow::Result<()> {
        let on = self.next_date();
        self.commands.push(ProjectCommand::Drop(DatedReason { on, reason: text(reason)? }));
        Ok(())
    }
}

/// lead → negotiation → signing → company → construction → production, with
/// funds arriving from the signing on, and the occasional stall, contract,
/// increase, reserve entry or drop; most projects stop somewhere on the way.
fn project_walk(rng: &mut Rng, n: usize, service: &CommandService) -> anyhow::Result<Vec<ProjectCommand>> {
    let (task_force, chain) = *rng.pick(&TASK_FORCES);
    let category = if rng.chance(70) { ProjectCategory::Industrial } else { ProjectCategory::Service };
    let planned_investment_yuan = if rng.chance(80) { Some(yuan(rng.range(20, 3_000) * 1_000_000)?) } else { None };
    let owner = name(*rng.pick(&OWNERS))?;
    let start = rng.below(120);
    let mut walk = Walk { rng, day: start, commands: Vec::new() };
    walk.commands.push(ProjectCommand::RecordLead(RecordProjectLead {
        task_force_id: Slug::parse(task_force)?,
        name: name(&format!("{chain}产业链项目{n:05}"))?,
        investor: name(&format!("投资企业{n:05}股份有限公司"))?,
        category,
        planned_investment_yuan,
        owner,
        on: day_in_2022(start),
    }));
    let mut in_reserve = false;
    if walk.rng.chance(8) {
        let on = walk.next_date();
        walk.commands.push(ProjectCommand::EnterReserve(DatedStep { on, evidence: None }));
        in_reserve = true;
    }
    if !walk.rng.chance(88) {
        if walk.rng.chance(40) {
            walk.drop_project("投资方调整投资战略，线索终止")?;
        }
        return Ok(walk.commands);
    }
    let on = walk.next_date();
    let note =
        if walk.rng.chance(50) { Some(text("双方就用地、厂房和配套条件进行洽谈")?) } else { None };
    walk.commands.push(ProjectCommand::StartNegotiation(StartNegotiation { on, note }));
    if walk.rng.chance(10) {
        let on = walk.next_date();
        walk.commands.push(ProjectCommand::Stall(DatedReason { on, reason: text("投资方融资进度延后")? }));
        let on = walk.next_date();
        walk.commands.push(ProjectCommand::Resume(DatedStep { on, evidence: None }));
    }
    if !walk.rng.chance(75) {
        if walk.rng.chance(30) {
            walk.drop_project("洽谈条件未达成一致，项目终止")?;
        }
        return Ok(walk.commands);
    }
    let signed_yuan = walk.rng.range(30, 2_000) * 1_000_000;
    let on = walk.next_date();
    walk.commands.push(ProjectCommand::Sign(SignProject {
        on,
        agreement: AgreementKind::Framework,
        investment_yuan: yuan(signed_yuan)?,
        evidence: Some(name(&format!("柳科招协〔2022〕{n}号"))?),
        thresholds: service.thresholds_on(on),
    }));
    walk.funds(1, 3)?;
    if walk.rng.chance(40) {
        let on = walk.next_date();
        let contract_yuan = signed_yuan + walk.rng.range(0, 500) * 1_000_000;
        walk.commands.push(ProjectCommand::Sign(SignProject {
            on,
            agreement: AgreementKind::Contract,
            investment_yuan: yuan(contract_yuan)?,
            evidence: Some(name(&format!("柳科招合〔2022〕{n}号"))?),
            thresholds: service.thresholds_on(on),
        }));
    }
    if !walk.rng.chance(85) {
        return Ok(walk.commands);
    }
    let on = walk.next_date();
    walk.commands.push(ProjectCommand::RegisterCompany(RegisterCompany {
        on,
        company_name: name(&format!("柳州投资企业{n:05}科技有限公司"))?,
        evidence: Some(name(&format!("91450200MA5K{n:06}"))?),
    }));
    walk.funds(0, 2)?;
    if !walk.rng.chance(85) {
        return Ok(walk.commands);
    }
    let on = walk.next_date();
    let evidence = Some(name(&format!("开工现场照片档案 KG-2022-{n}"))?);
    walk.commands.push(ProjectCommand::StartConstruction(DatedStep { on, evidence }));
    walk.funds(2, 7)?;
    if walk.rng.chance(15) {
        let on = walk.next_date();
        let amount_yuan = yuan(walk.rng.range(10, 300) * 1_000_000)?;
        walk.commands.push(ProjectCommand::IncreaseInvestment(DatedAmount { on, amount_yuan }));
    }
    if !in_reserve && walk.rng.chance(30) {
        let on = walk.next_date();
        walk.commands.push(ProjectCommand::EnterReserve(DatedStep { on, evidence: None }));
    }
    if walk.rng.chance(40) {
        let on = walk.next_date();
        let evidence = Some(name(&format!("竣工验收备案 YS-2022-{n}"))?);
        walk.commands.push(ProjectCommand::StartProduction(DatedStep { on, evidence }));
    }
    Ok(walk.commands)
}

/// A held activity of 2022, recorded after the fact as the bureau back-fills.
fn activity(rng: &mut Rng, n: usize) -> anyhow::Result<ActivityCommand> {
    let (task_force, chain) = *rng.pick(&TASK_FORCES);
    let kind = *rng.pick(&[ActivityKind::GoingOut, ActivityKind::InvitingIn, ActivityKind::Online]);
    let going_out = kind == ActivityKind::GoingOut;
    let destination_cities = if going_out { vec![name(*rng.pick(&CITIES))?] } else { Vec::new() };
    let enterprises = (0..rng.range(1, 4))
        .map(|i| {
            let role = if i == 0 { EnterpriseRole::ChainLeader } else { EnterpriseRole::Target };
            Ok(EnterpriseInvolved { name: name(&format!("目标企业{n:05}-{i}有限公司"))?, role })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let note = if rng.chance(30) {
        Some(text("会上介绍了柳州产业基础和招商政策，企业表示有意向来柳考察")?)
    } else {
        None
    };
    Ok(ActivityCommand::RecordHeld(ActivityDetails {
        task_force_id: Slug::parse(task_force)?,
        kind,
        title: name(&format!("{chain}产业链招商活动{n:05}"))?,
        on: day_in_2022(rng.below(365)),
        led_by_principal_leader: going_out && rng.chance(10),
        destination_cities,
        enterprises,
        note,
    }))
}

// ---------------------------------------------------------------------------
// The write path.

/// A request as the HTTP layer would build it, with a fresh idempotency key
/// so the append carries a `Nats-Msg-Id` derived from it.
fn request(today: NaiveDate, correlation_id: Uuid) -> RequestContext {
    RequestContext {
        actor: "bench".to_owned(),
        correlation_id,
        idempotency_key: Some(Uuid::new_v4().to_string()),
        expected_version: None,
        decision: DecisionContext { today },
        now: Utc::now(),
    }
}

/// Runs one command through its repository and returns its stream sequence.
async fn execute<A: Aggregate>(
    service: &CommandService,
    id: &str,
    command: &A::Command,
    request: &RequestContext,
) -> anyhow::Result<u64>
where
    CommandService: RepositoryOf<A>,
{
    let outcome = RepositoryOf::<A>::repository(service)
        .execute(id, command, request)
        .await
        .with_context(|| format!("{} {id} did not accept a command", A::TYPE))?;
    if outcome.replayed {
        bail!("{} {id}: a fresh idempotency key was answered as a replay", A::TYPE);
    }
    Ok(outcome.accepted.sequence)
}

/// Runs one aggregate's commands in order, timing each.
async fn run_job(
    service: &CommandService,
    job: Job,
    today: NaiveDate,
    latencies: &mut Vec<Duration>,
) -> anyhow::Result<()> {
    let correlation_id = Uuid::now_v7();
    match job {
        Job::Project { id, commands } => {
            for command in &commands {
                let request = request(today, correlation_id);
                let sent = Instant::now();
                execute::<Project>(service, &id, command, &request).await?;
                latencies.push(sent.elapsed());
            }
        }
        Job::Activity { id, command } => {
            let request = request(today, correlation_id);
            let sent = Instant::now();
            execute::<Activity>(service, &id, &command, &request).await?;
            latencies.push(sent.elapsed());
        }
    }
    Ok(())
}

/// Appends every job with `WINDOW` workers: each takes the next aggregate
/// and runs its commands one after another, so 64 aggregates progress at
/// once and none is ever written by two workers (no conflicts to retry).
async fn append_phase(service: &CommandService, jobs: Vec<Job>) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let today = liuzhou_today();
    let queue = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..WINDOW {
        let (queue, service) = (Arc::clone(&queue), service.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let job = queue.lock().expect("job queue lock poisoned").pop_front();
                let Some(job) = job else { break };
                run_job(&service, job, today, &mut latencies).await?;
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(joined) = workers.join_next().await {
        latencies.extend(joined.context("an append worker panicked")??);
    }
    Ok((started.elapsed(), latencies))
}

/// Up to [`SAMPLED_ENVELOPES`] events spread evenly over `first..=last`.
async fn sample_envelopes(store: &EventStore, first: u64, last: u64) -> anyhow::Result<Vec<StoredEvent>> {
    let span = last - first + 1;
    let count = span.min(SAMPLED_ENVELOPES as u64);
    let mut samples = Vec::with_capacity(count as usize);
    for i in 0..count {
        let sequence = first + i * span / count;
        samples.push(store.get(sequence).await.with_context(|| format!("cannot read event {sequence}"))?);
    }
    Ok(samples)
}

// ---------------------------------------------------------------------------
// The raw references.

/// A stream set up like the event stream (file storage, same replicas and
/// duplicate window), so the only difference left is zhaoshang's own work.
async fn create_raw_stream(store: &EventStore, settings: &Settings) -> anyhow::Result<()> {
    let config = store.config();
    store
        .jetstream()
        .create_stream(StreamConfig {
            name: settings.raw_stream(),
            subjects: vec![format!("{}.>", settings.raw_subject_prefix())],
            ..config.stream_config()
        })
        .await
        .context("cannot create the raw JetStream stream")?;
    Ok(())
}

/// Publishes `messages` messages with `window` in flight, each on a subject
/// of its own with a message id and expected last subject sequence 0: the
/// same headers, checks and acknowledgement wait as an append.
async fn raw_jetstream(
    jetstream: &jetstream::Context,
    prefix: &str,
    window: usize,
    messages: usize,
    payloads: &[Vec<u8>],
) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let payloads = Arc::new(payloads.to_vec());
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..window.min(messages) {
        let (jetstream, next, payloads, prefix) =
            (jetstream.clone(), Arc::clone(&next), Arc::clone(&payloads), prefix.to_owned());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages {
                    break;
                }
                let message = PublishMessage::build()
                    .payload(payloads[i % payloads.len()].clone().into())
                    .message_id(format!("{prefix}:w{window}:{i}"))
                    .expected_last_subject_sequence(0);
                let ack = jetstream
                    .send_publish(format!("{prefix}.w{window}.{i}"), message)
                    .await
                    .context("raw publish failed")?
                    .await
                    .context("raw publish was not acknowledged")?;
                if ack.duplicate {
                    bail!("raw message {i} was taken for a duplicate");
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.context("a raw publisher panicked")??;
    }
    Ok(started.elapsed())
}

/// Inserts `rows` event-log rows, [`PG_BATCH_ROWS`] per statement (one
/// transaction each, as a projector batch is), into a scratch table with the
/// event log's columns and a primary key on the sequence. The rows are copied
/// from real envelopes; only sequence and event id change.
async fn raw_postgres(pool: &PgPool, schema: &str, rows: usize, samples: &[StoredEvent]) -> anyhow::Result<Duration> {
    let table = format!("{schema}.raw_insert_bench");
    sqlx::query(&format!(
        "CREATE TABLE {table} (
             sequence          bigint PRIMARY KEY,
             event_id          uuid NOT NULL,
             event_type        text NOT NULL,
             aggregate_type    text NOT NULL,
             aggregate_id      text NOT NULL,
             aggregate_version bigint NOT NULL,
             actor             text NOT NULL,
             occurred_on       date,
             recorded_at       timestamptz NOT NULL,
             correlation_id    uuid NOT NULL,
             prev_hash         text,
             hash              text NOT NULL,
             data              jsonb NOT NULL
         )"
    ))
    .execute(pool)
    .await
    .context("cannot create the scratch table")?;
    let insert = format!(
        "INSERT INTO {table} (sequence, event_id, event_type, aggregate_type, aggregate_id, aggregate_version,
             actor, occurred_on, recorded_at, correlation_id, prev_hash, hash, data)
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bigint[],
             $7::text[], $8::date[], $9::timestamptz[], $10::uuid[], $11::text[], $12::text[], $13::jsonb[])"
    );
    // The columns that do not change are built once, before the clock starts.
    let template: Vec<&StoredEvent> = (0..PG_BATCH_ROWS).map(|i| &samples[i % samples.len()]).collect();
    let event_type: Vec<String> = template.iter().map(|s| s.envelope.event_type.clone()).collect();
    let aggregate_type: Vec<String> = template.iter().map(|s| s.envelope.aggregatetype.clone()).collect();
    let aggregate_id: Vec<String> = template.iter().map(|s| s.envelope.aggregateid.clone()).collect();
    let version: Vec<i64> = template.iter().map(|s| s.envelope.aggregateversion as i64).collect();
    let actor: Vec<String> = template.iter().map(|s| s.envelope.actor.clone()).collect();
    let occurred_on: Vec<Option<NaiveDate>> = template.iter().map(|s| s.envelope.occurredat).collect();
    let recorded_at: Vec<DateTime<Utc>> = template.iter().map(|s| s.envelope.time).collect();
    let correlation: Vec<Uuid> = template.iter().map(|s| s.envelope.correlationid).collect();
    let prev_hash: Vec<Option<String>> = template.iter().map(|s| s.envelope.prevhash.clone()).collect();
    let hash: Vec<String> = template.iter().map(|s| s.envelope.hash.clone()).collect();
    let data: Vec<Value> = template.iter().map(|s| s.envelope.data.clone()).collect();

    let started = Instant::now();
    let mut done = 0;
    while done < rows {
        let n = PG_BATCH_ROWS.min(rows - done);
        let sequence: Vec<i64> = (done..done + n).map(|s| s as i64 + 1).collect();
        let event_id: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        sqlx::query(&insert)
            .bind(&sequence[..])
            .bind(&event_id[..])
            .bind(&event_type[..n])
            .bind(&aggregate_type[..n])
            .bind(&aggregate_id[..n])
            .bind(&version[..n])
            .bind(&actor[..n])
            .bind(&occurred_on[..n])
            .bind(&recorded_at[..n])
            .bind(&correlation[..n])
            .bind(&prev_hash[..n])
            .bind(&hash[..n])
            .bind(&data[..n])
            .execute(pool)
            .await
            .context("raw batched insert failed")?;
        done += n;
    }
    let elapsed = started.elapsed();
    sqlx::query(&format!("DROP TABLE {table}")).execute(pool).await.context("cannot drop the scratch table")?;
    Ok(elapsed)
}

// ---------------------------------------------------------------------------
// Visibility.

/// Waits until the read models' checkpoint reaches `target`, woken by the
/// projector's notifications (each carries the checkpoint it committed).
/// Fails as soon as the projector stops, or when the read models make no
/// progress for [`STALL_LIMIT`].
async fn wait_visible(
    listener: &mut PgListener,
    visible: &mut u64,
    target: u64,
    projector: &mut JoinHandle<anyhow::Result<()>>,
    read_model: &ReadModel,
) -> anyhow::Result<()> {
    while *visible < target {
        tokio::select! {
            notification = listener.recv() => {
                let notification = notification.context("lost the checkpoint notifications")?;
                if let Ok(sequence) = notification.payload().parse::<u64>() {
                    *visible = (*visible).max(sequence);
                }
            }
            joined = &mut *projector => {
                return match joined {
                    Ok(Ok(())) => Err(anyhow!("the projector stopped before sequence {target} was visible")),
                    Ok(Err(error)) => Err(error.context("the projector failed")),
                    Err(error) => Err(anyhow!("the projector panicked: {error}")),
                };
            }
            () = tokio::time::sleep(STALL_LIMIT) => {
                // A notification can be lost when the listener reconnects:
                // the table is the truth.
                let checkpoint = read_model.checkpoint().await?;
                if checkpoint <= *visible {
                    bail!("the read models stayed at {checkpoint} of {target} for {STALL_LIMIT:?}");
                }
                *visible = checkpoint;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The report.

/// The nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// A rate with thousands separators, e.g. `12,345`.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT MET" }
}

fn print_report(r: &Report) {
    let append_rate = per_second(r.events as u64, r.append);
    let raw_window_rate = per_second(r.events as u64, r.raw_window);
    let raw_single_rate = per_second(r.raw_single_messages as u64, r.raw_single);
    let raw_pg_rate = per_second(r.events as u64, r.raw_pg);
    let projection_rate = per_second(r.stream_events, r.catch_up);
    let append_ratio = append_rate / raw_window_rate;
    let projection_ratio = projection_rate / raw_pg_rate;
    let visible_p99 = percentile(&r.visible, 0.99);
    let mix: Vec<String> = r.mix.iter().map(|(kind, count)| format!("{kind} {count}")).collect();

    println!();
    println!("zhaoshang spine benchmark");
    println!(
        "  {} events appended: {} projects, {} held activities, after {} set-up events (plan, leading group, task forces)",
        grouped(r.events as f64),
        grouped(r.projects as f64),
        grouped(r.activities as f64),
        r.setup_events
    );
    println!("  mix: {}", mix.join(", "));
    println!("  mean envelope {} bytes; window {WINDOW}; {} CPUs", r.payload_bytes, available_cpus());
    println!();
    println!("  {:<64} {:>14} {:>10} {:>10}", "phase", "rate", "p50", "p99");
    println!("  {}", "-".repeat(101));
    println!(
        "  {:<64} {:>14} {:>10} {:>10}",
        format!("append through CommandService, W={WINDOW}"),
        format!("{} ev/s", grouped(append_rate)),
        ms(percentile(&r.append_latencies, 0.50)),
        ms(percentile(&r.append_latencies, 0.99))
    );
    println!(
        "  {:<64} {:>14}",
        format!("raw JetStream publish, msg-id + expected-seq, W={WINDOW}"),
        format!("{} msg/s", grouped(raw_window_rate))
    );
    println!(
        "  {:<64} {:>14}",
        format!("raw JetStream publish, msg-id + expected-seq, W=1 ({} msgs)", grouped(r.raw_single_messages as f64)),
        format!("{} msg/s", grouped(raw_single_rate))
    );
    println!(
        "  {:<64} {:>14}",
        format!("projection catch-up from 0 ({} events)", grouped(r.stream_events as f64)),
        format!("{} ev/s", grouped(projection_rate))
    );
    println!(
        "  {:<64} {:>14}",
        format!("raw PostgreSQL UNNEST insert, {} rows/stmt", grouped(PG_BATCH_ROWS as f64)),
        format!("{} rows/s", grouped(raw_pg_rate))
    );
    println!(
        "  {:<64} {:>14} {:>10} {:>10}",
        format!("command acknowledged ({LIGHT_LOAD_COMMANDS} sequential)"),
        "",
        ms(percentile(&r.acked, 0.50)),
        ms(percentile(&r.acked, 0.99))
    );
    println!(
        "  {:<64} {:>14} {:>10} {:>10}",
        format!("write-to-visible ({LIGHT_LOAD_COMMANDS} sequential)"),
        "",
        ms(percentile(&r.visible, 0.50)),
        ms(visible_p99)
    );
    println!();
    println!("  {:<64} {:>14} {:>10} {:>10}", "check", "measured", "target", "result");
    println!("  {}", "-".repeat(101));
    println!(
        "  {:<64} {:>14} {:>10} {:>10}",
        format!("append / raw JetStream at W={WINDOW}"),
        format!("{:.1}%", append_ratio * 100.0),
        format!(">= {:.0}%", APPEND_TARGET * 100.0),
        verdict(append_ratio >= APPEND_TARGET)
    );
    println!(
        "  {:<64} {:>14} {:>10} {:>10}",
        "projection / raw PostgreSQL batched insert",
        format!("{:.1}%", projection_ratio * 100.0),
        format!(">= {:.0}%", PROJECTION_TARGET * 100.0),
        verdict(projection_ratio >= PROJECTION_TARGET)
    );
    println!(
        "  {:<64} {:>14} {:>10} {:>10}",
        "write-to-visible p99 at light load",
        ms(visible_p99),
        format!("< {}", ms(VISIBLE_P99_TARGET)),
        verdict(visible_p99 < VISIBLE_P99_TARGET)
    );
    println!();
    println!("  The raw insert writes one event-log-shaped row per event into a table with only a");
    println!("  primary key; the projection writes the event log, the projects and their steps.");
    println!();
    println!("  reproduce: BENCH_EVENTS={} cargo bench -p zhaoshang-tests --bench spine", r.events);
    println!("  (default {DEFAULT_EVENTS} events: cargo bench -p zhaoshang-tests --bench spine)");
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}

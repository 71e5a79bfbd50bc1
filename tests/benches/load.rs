//! The load run: N concurrent HTTP clients send commands to a running
//! zhaoshang for T seconds, with a share of them fighting over a few hot
//! records, and the run reports throughput, latency (p50/p99/p999),
//! conflicts, lost commands (events in the stream against acknowledged
//! commands: must be zero) and the projection's lag under that load, next
//! to the raw JetStream publish rate measured on the same server in the same
//! run.
//!
//! It runs in two NATS durability modes, one after the other:
//! - `default`: the NATS at `ZHAOSHANG_NATS_URL` (the machine's server, with
//!   NATS's default `sync_interval` of 2 minutes);
//! - `sync-always`: a private nats-server started by the run with
//!   `sync_interval: always` (every acknowledged write fsynced first). It
//!   needs nats-server 2.10 or later: `ZHAOSHANG_NATS_SERVER` names it
//!   (`.ci/run` installs one under `~/.cache`).
//!
//! ```text
//! ZHAOSHANG_NATS_SERVER=~/.cache/zhaoshang-nats-venv/bin/nats-server \
//!   cargo bench -p zhaoshang-tests --bench load
//! ```
//! Settings: `LOAD_CLIENTS` (default 64), `LOAD_SECONDS` (10),
//! `LOAD_CONFLICT_PERCENT` (10: share of commands on the hot records),
//! `LOAD_MODES` (`default,sync-always`), `LOAD_WITHOUT_PROJECTOR` (set: the
//! command service alone, no projector reading the stream),
//! `LOAD_APPEND_BATCH_MAX` (256: the group-commit setting
//! `append_batch_max`; 1 sends every append alone).
//!
//! The system runs in this process (`Role::All`, as `zhaoshang up` does), and
//! so do the clients: on a 2-core machine they share the cores, which the
//! figures include.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::Config as StreamConfig;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use zhaoshang::config::Config;
use zhaoshang::system::Role;
use zhaoshang_tests::private_servers::PrivateNats;
use zhaoshang_tests::{TestApp, spawn_with, unique_config};

/// Hot records the conflicting share of commands fight over.
const HOT_PROJECTS: usize = 4;
/// Throughput and p99 targets of issue 8, by mode.
const TARGETS: [(&str, f64, Duration); 2] =
    [("default", 6_000.0, Duration::from_millis(50)), ("sync-always", 3_500.0, Duration::from_millis(50))];

struct Settings {
    clients: usize,
    seconds: u64,
    conflict_percent: u64,
    modes: Vec<String>,
    append_batch_max: usize,
}

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().with_context(|| format!("{name}={text} is not a number")),
        Err(_) => Ok(default),
    }
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let modes = std::env::var("LOAD_MODES").unwrap_or_else(|_| "default,sync-always".to_owned());
        let modes: Vec<String> = modes.split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect();
        for mode in &modes {
            if !TARGETS.iter().any(|(name, _, _)| name == mode) {
                bail!("LOAD_MODES: unknown mode {mode}; the modes are default and sync-always");
            }
        }
        Ok(Self {
            clients: usize::try_from(env_number("LOAD_CLIENTS", 64)?.max(1))?,
            seconds: env_number("LOAD_SECONDS", 10)?.max(1),
            conflict_percent: env_number("LOAD_CONFLICT_PERCENT", 10)?.min(100),
            append_batch_max: usize::try_from(env_number("LOAD_APPEND_BATCH_MAX", 256)?.max(1))?,
            modes,
        })
    }
}

/// What one client saw.
#[derive(Default)]
struct ClientTally {
    latencies: Vec<Duration>,
    accepted: u64,
    conflicts: u64,
    other: HashMap<u16, u64>,
}

/// A small deterministic generator, so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn lead(name: &str) -> Value {
    json!({"task_force_id": "automotive", "name": name, "investor": "广西示例投资有限公司",
           "category": "industrial", "owner": "李荣军", "on": "2022-01-10"})
}

/// One client: its own projects walk lead → negotiation → signing → funds
/// arrivals (each command with its idempotency key), and a share of its
/// commands record funds on a hot project with `If-Match` set to the
/// version it last saw, which loses to any other client's write in between.
async fn client(app: Arc<TestApp>, index: usize, until: Instant, conflict_percent: u64) -> ClientTally {
    let mut tally = ClientTally::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1));
    let mut project = 0usize;
    let mut step = 0usize;
    let mut hot_versions: HashMap<usize, u64> = HashMap::new();
    let mut n = 0usize;
    while Instant::now() < until {
        n += 1;
        let key = format!("c{index}-{n}");
        let hot = rng.next() % 100 < conflict_percent;
        let (method, path, body, if_match, hot_index) = if hot {
            let hot_index = usize::try_from(rng.next() % HOT_PROJECTS as u64).expect("small");
            let path = format!("/api/v1/projects/hot-{hot_index}/funds-arrivals");
            let body = json!({"on": "2022-04-01", "amount_yuan": 10});
            ("post", path, body, hot_versions.remove(&hot_index), Some(hot_index))
        } else {
            let id = format!("load-{index}-{project}");
            let (method, path, body) = match step {
                0 => ("put", format!("/api/v1/projects/{id}"), lead(&format!("负载项目{index}-{project}"))),
                1 => ("post", format!("/api/v1/projects/{id}/negotiation"), json!({"on": "2022-02-01"})),
                2 => (
                    "post",
                    format!("/api/v1/projects/{id}/signings"),
                    json!({"on": "2022-03-01", "agreement": "contract", "investment_yuan": 150_000_000}),
                ),
                _ => (
                    "post",
                    format!("/api/v1/projects/{id}/funds-arrivals"),
                    json!({"on": "2022-04-01", "amount_yuan": 1000}),
                ),
            };
            step += 1;
            if step == 8 {
                step = 0;
                project += 1;
            }
            (method, path, body, None, None)
        };
        let started = Instant::now();
        let answer = app.command(method, &path, &body, Some(&key), if_match).await;
        tally.latencies.push(started.elapsed());
        match answer.status.as_u16() {
            201 => {
                tally.accepted += 1;
                if let (Some(hot_index), Some(version)) = (hot_index, answer.body["aggregate_version"].as_u64()) {
                    hot_versions.insert(hot_index, version);
                }
            }
            409 => tally.conflicts += 1,
            status => *tally.other.entry(status).or_insert(0) += 1,
        }
    }
    tally
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Creates a stream set up like the event stream, named with `suffix`, for a
/// raw reference rate; returns its name and subject prefix.
async fn raw_stream(app: &TestApp, suffix: &str, allow_atomic_publish: bool) -> anyhow::Result<(String, String)> {
    let store = &app.running.store;
    let name = format!("{}_{}", app.config.stream, suffix.to_uppercase());
    let prefix = format!("{}{suffix}", app.config.subject_prefix.replace(".ev", ""));
    store
        .jetstream()
        .create_stream(StreamConfig {
            name: name.clone(),
            subjects: vec![format!("{prefix}.>")],
            allow_atomic_publish,
            ..store.config().stream_config()
        })
        .await
        .with_context(|| format!("cannot create the {suffix} stream"))?;
    Ok((name, prefix))
}

/// Publishes `messages` raw messages like appends (own subject, message id,
/// expected last subject sequence 0) with `window` in flight, into a stream
/// set up like the event stream, and returns the rate.
async fn raw_publish_rate(app: &TestApp, window: usize, messages: usize, payload: Vec<u8>) -> anyhow::Result<f64> {
    let store = &app.running.store;
    let (name, prefix) = raw_stream(app, "raw", false).await?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let payload = Arc::new(payload);
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..window {
        let (jetstream, next, payload, prefix) =
            (store.jetstream().clone(), next.clone(), payload.clone(), prefix.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= messages {
                    return anyhow::Ok(());
                }
                let message = PublishMessage::build()
                    .payload(payload.to_vec().into())
                    .message_id(format!("{prefix}:{i}"))
                    .expected_last_subject_sequence(0);
                jetstream.send_publish(format!("{prefix}.{i}"), message).await?.await?;
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    store.jetstream().delete_stream(&name).await.context("cannot delete the raw stream")?;
    Ok(rate)
}

/// Publishes `messages` raw messages in atomic batches of `batch` (with the
/// appends' headers), one batch at a time as group commit sends them, into a
/// stream set up like the event stream, and returns the rate: what group
/// commit could reach on this server if every client's append waited in
/// one batch.
async fn raw_batch_rate(app: &TestApp, batch: usize, messages: usize, payload: Vec<u8>) -> anyhow::Result<f64> {
    let store = &app.running.store;
    let (name, prefix) = raw_stream(app, "rawb", true).await?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let payload = bytes::Bytes::from(payload);
    let started = Instant::now();
    let mut workers = JoinSet::new();
    {
        let (client, next, payload, prefix) = (store.client().clone(), next.clone(), payload.clone(), prefix.clone());
        workers.spawn(async move {
            loop {
                let first = next.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
                if first >= messages {
                    return anyhow::Ok(());
                }
                let batch_id = uuid::Uuid::new_v4().simple().to_string();
                for i in 0..batch {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Batch-Id", batch_id.as_str());
                    headers.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
                    headers.insert("Nats-Msg-Id", format!("{prefix}:{}", first + i).as_str());
                    headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
                    let subject = format!("{prefix}.{}", first + i);
                    if i + 1 < batch {
                        client.publish_with_headers(subject, headers, payload.clone()).await?;
                    } else {
                        headers.insert("Nats-Batch-Commit", "1");
                        let ack = client.request_with_headers(subject, headers, payload.clone()).await?;
                        let ack: serde_json::Value = serde_json::from_slice(&ack.payload)?;
                        anyhow::ensure!(ack["count"] == batch, "a raw batch was refused: {ack}");
                    }
                }
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    let published = messages.div_ceil(batch) * batch;
    let rate = published as f64 / started.elapsed().as_secs_f64();
    store.jetstream().delete_stream(&name).await.context("cannot delete the raw batch stream")?;
    Ok(rate)
}

async fn run_mode(mode: &str, settings: &Settings) -> anyhow::Result<bool> {
    let mut private_nats = None;
    let mut config =
        Config { duplicate_window_hours: 1, append_batch_max: settings.append_batch_max, ..unique_config() };
    let durability = if mode == "sync-always" {
        let nats = PrivateNats::start(true);
        if !nats.sync_always {
            eprintln!(
                "load: skipped sync-always: this nats-server does not know sync_interval; set ZHAOSHANG_NATS_SERVER to nats-server 2.10 or later"
            );
            return Ok(true);
        }
        config.nats_url = nats.url();
        private_nats = Some(nats);
        "sync_interval: always (private nats-server)".to_owned()
    } else {
        format!("NATS default sync_interval (2 min) at {}", config.nats_url)
    };
    // `LOAD_WITHOUT_PROJECTOR=1` runs the command service alone: what the
    // projector's reads and acknowledgements cost the writes.
    let with_projector = std::env::var_os("LOAD_WITHOUT_PROJECTOR").is_none();
    let role = if with_projector { Role::All } else { Role::Command };
    let app = Arc::new(spawn_with(config.clone(), role).await);
    // The hot records exist before the clients start.
    for hot in 0..HOT_PROJECTS {
        let answer = app.command("put", &format!("/api/v1/projects/hot-{hot}"), &lead("热点项目"), None, None).await;
        anyhow::ensure!(answer.status == 201, "hot project: {} {}", answer.status, answer.body);
        let negotiation = app
            .command(
                "post",
                &format!("/api/v1/projects/hot-{hot}/negotiation"),
                &json!({"on": "2022-02-01"}),
                None,
                None,
            )
            .await;
        anyhow::ensure!(negotiation.status == 201, "hot project negotiation: {}", negotiation.body);
        let signing = json!({"on": "2022-03-01", "agreement": "contract", "investment_yuan": 150_000_000});
        let signed = app.command("post", &format!("/api/v1/projects/hot-{hot}/signings"), &signing, None, None).await;
        anyhow::ensure!(signed.status == 201, "hot project signing: {}", signed.body);
    }
    let setup_events = app.events_in_stream().await;

    eprintln!("load [{mode}]: {} clients for {} s…", settings.clients, settings.seconds);
    let load_before = load_average();
    let together_before = app.running.store.appends_stored_together();
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let until = started + Duration::from_secs(settings.seconds);
    let mut clients = JoinSet::new();
    for index in 0..settings.clients {
        clients.spawn(client(app.clone(), index, until, settings.conflict_percent));
    }
    // The projection lag under load, sampled every 100 ms.
    let mut lags = Vec::new();
    let read_model = app.running.read_model.clone();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if with_projector {
            let (last, checkpoint) = (app.events_in_stream().await, read_model.checkpoint().await?);
            lags.push(last.saturating_sub(checkpoint));
        }
    }
    let mut tally = ClientTally::default();
    while let Some(joined) = clients.join_next().await {
        let client = joined.context("a client panicked")?;
        tally.latencies.extend(client.latencies);
        tally.accepted += client.accepted;
        tally.conflicts += client.conflicts;
        for (status, count) in client.other {
            *tally.other.entry(status).or_insert(0) += count;
        }
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu_seconds() - cpu_before;
    let together = app.running.store.appends_stored_together() - together_before;
    let load_after = load_average();
    let in_stream = app.events_in_stream().await - setup_events;
    let drain_started = Instant::now();
    let last = app.events_in_stream().await;
    while with_projector && read_model.checkpoint().await? < last {
        anyhow::ensure!(drain_started.elapsed() < Duration::from_secs(120), "the projection did not catch up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain = drain_started.elapsed();

    let payload = app.running.store.get(last).await?.envelope.to_vec();
    let raw_messages = 20_000;
    let raw = raw_publish_rate(&app, settings.clients, raw_messages, payload.clone()).await?;
    let raw_16 = raw_publish_rate(&app, 16, raw_messages / 2, payload.clone()).await?;
    let raw_batched = if app.running.store.groups_appends() {
        Some(raw_batch_rate(&app, settings.clients, raw_messages, payload).await?)
    } else {
        None
    };

    tally.latencies.sort();
    let requests = tally.latencies.len() as f64;
    let throughput = tally.accepted as f64 / elapsed.as_secs_f64();
    let p50 = percentile(&tally.latencies, 50.0);
    let p99 = percentile(&tally.latencies, 99.0);
    let p999 = percentile(&tally.latencies, 99.9);
    lags.sort_unstable();
    let lag_p50 = lags.get(lags.len() / 2).copied().unwrap_or(0);
    let lag_max = lags.last().copied().unwrap_or(0);
    let lost = i128::from(tally.accepted) - i128::from(in_stream);
    let (_, target_rate, target_p99) = TARGETS.iter().find(|(name, _, _)| *name == mode).expect("a known mode");

    println!();
    println!("load run [{mode}]: {durability}, nats-server at {}", config.nats_url);
    println!(
        "  clients {}, {:.1} s, hot-record share {} %",
        settings.clients,
        elapsed.as_secs_f64(),
        settings.conflict_percent
    );
    println!("  requests           {:>10.0}  ({:.0}/s)", requests, requests / elapsed.as_secs_f64());
    println!("  accepted (201)     {:>10}  ({throughput:.0} commands/s; target ≥ {target_rate:.0})", tally.accepted);
    println!("  conflicts (409)    {:>10}", tally.conflicts);
    println!("  other answers      {:>10?}", tally.other);
    println!("  latency p50        {:>10.2} ms", p50.as_secs_f64() * 1e3);
    println!("  latency p99        {:>10.2} ms  (target < {} ms)", p99.as_secs_f64() * 1e3, target_p99.as_millis());
    println!("  latency p999       {:>10.2} ms", p999.as_secs_f64() * 1e3);
    println!("  events in stream   {:>10}  (lost: {lost}; must be 0)", in_stream);
    println!(
        "  projection lag     p50 {lag_p50} events, max {lag_max} events; caught up {:.2} s after the run",
        drain.as_secs_f64()
    );
    println!(
        "  raw JetStream      {raw:>10.0} publishes/s with {} in flight, {raw_16:.0}/s with 16; zhaoshang/raw = {:.2}",
        settings.clients,
        throughput / raw
    );
    match raw_batched {
        Some(rate) => println!(
            "  group commit       {together} of {} appends stored in atomic batches; raw atomic batches of {}, \
             one at a time: {rate:.0} messages/s; zhaoshang/raw batched = {:.2}",
            tally.accepted,
            settings.clients,
            throughput / rate
        ),
        None => println!("  group commit       off (this nats-server or stream takes no atomic batches)"),
    }
    println!(
        "  machine            load average {load_before} before, {load_after} after; this process used {:.2} CPU-s \
         ({:.0} % of one core; {:.0} commands per CPU-second, clients included)",
        cpu,
        100.0 * cpu / elapsed.as_secs_f64(),
        tally.accepted as f64 / cpu.max(0.001)
    );
    let met = throughput >= *target_rate && p99 < *target_p99;
    println!("  target             {}", if met { "met" } else { "NOT met" });
    drop(app);
    drop(private_nats);
    Ok(lost == 0 && tally.other.is_empty())
}

/// The 1-minute load average: on a shared machine the figures depend on it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// CPU time (user + system) this process has used, in seconds.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let mut sound = true;
    for mode in &settings.modes {
        sound &= run_mode(mode, &settings).await?;
    }
    anyhow::ensure!(sound, "a command was lost or answered other than 201/409");
    Ok(())
}

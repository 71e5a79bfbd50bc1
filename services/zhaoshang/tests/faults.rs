//! Fault tests: the projection service killed with SIGKILL mid-batch, NATS
//! restarted while commands are written, PostgreSQL crashed while the
//! projections run, and redeliveries duplicated and out of order.
//!
//! After each: every acknowledged command is in the stream exactly once
//! (`assert_stream_holds_exactly`), and the read models equal a fresh replay
//! of the stream (`assert_read_models_equal_a_fresh_replay`).
//!
//! The servers that are stopped are private ones on free ports
//! (`zhaoshang_tests::private_servers`); the shared NATS and PostgreSQL are
//! only ever used, never stopped, since other tests run beside these. Every
//! wait polls a condition against a deadline.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;
use zhaoshang::config::Config;
use zhaoshang::system::Role;
use zhaoshang_read_model::ReadModel;
use zhaoshang_read_model::projection::EventToApply;
use zhaoshang_tests::private_servers::{PrivateNats, PrivatePostgres};
use zhaoshang_tests::replay::{all_events, assert_read_models_equal_a_fresh_replay, assert_stream_holds_exactly};
use zhaoshang_tests::wait_for_checkpoint;
use zhaoshang_tests::{TestApp, spawn, spawn_with, unique_config};

/// The longest any wait in these tests may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// The acknowledged event ids, shared by the writers.
type Acknowledged = Arc<Mutex<HashSet<Uuid>>>;

/// Polls `condition` every few milliseconds until it holds, failing the
/// test with `what` at the deadline.
async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The commands of one project's life: lead, negotiation, signing and two
/// arrivals of funds. Each has its own idempotency key, as a client that
/// retries would give it.
fn project_commands(id: &str, index: i64) -> Vec<(&'static str, String, Value, String)> {
    let lead = json!({"task_force_id": "automotive", "name": format!("故障项目{index}"), "investor": "投资方",
                      "category": "industrial", "owner": "李荣军", "on": "2022-01-10"});
    vec![
        ("put", format!("/api/v1/projects/{id}"), lead, format!("{id}-lead")),
        ("post", format!("/api/v1/projects/{id}/negotiation"), json!({"on": "2022-02-01"}), format!("{id}-neg")),
        (
            "post",
            format!("/api/v1/projects/{id}/signings"),
            json!({"on": "2022-03-01", "agreement": "contract", "investment_yuan": 100_000_000 + index}),
            format!("{id}-sign"),
        ),
        (
            "post",
            format!("/api/v1/projects/{id}/funds-arrivals"),
            json!({"on": "2022-04-01", "amount_yuan": 1000}),
            format!("{id}-funds-1"),
        ),
        (
            "post",
            format!("/api/v1/projects/{id}/funds-arrivals"),
            json!({"on": "2022-05-01", "amount_yuan": 500}),
            format!("{id}-funds-2"),
        ),
    ]
}

/// Runs a project's commands, retrying a 503 with the same idempotency key
/// until it is accepted, as the API asks clients to. Any other refusal, and
/// a 503 without `Retry-After`, fails the test. Returns how many 503s it met.
async fn run_project(app: &TestApp, id: &str, index: i64, acknowledged: &Acknowledged) -> usize {
    let mut unavailable = 0;
    for (method, path, body, key) in project_commands(id, index) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let answer = app.command(method, &path, &body, Some(&key), None).await;
            if answer.status.is_success() {
                let event_id = answer.body["event_id"].as_str().and_then(|t| Uuid::parse_str(t).ok());
                acknowledged
                    .lock()
                    .expect("not poisoned")
                    .insert(event_id.expect("an accepted command names its event"));
                break;
            }
            assert_eq!(answer.status, 503, "{method} {path}: {}", answer.body);
            assert!(answer.headers.contains_key("retry-after"), "a 503 says when to retry");
            unavailable += 1;
            assert!(Instant::now() < deadline, "{path} was never accepted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    unavailable
}

/// Starts `count` projects' writers in the background.
fn write_projects(
    app: &Arc<TestApp>,
    prefix: &str,
    count: i64,
    acknowledged: &Acknowledged,
) -> tokio::task::JoinHandle<usize> {
    let app = app.clone();
    let prefix = prefix.to_owned();
    let acknowledged = acknowledged.clone();
    tokio::spawn(async move {
        let writers = (0..count).map(|i| {
            let (app, acknowledged, prefix) = (app.clone(), acknowledged.clone(), prefix.clone());
            async move { run_project(&app, &format!("{prefix}-{i}"), i, &acknowledged).await }
        });
        futures::future::join_all(writers).await.into_iter().sum()
    })
}

/// Waits until the read models have applied the whole stream.
async fn wait_for_projection_to_catch_up(app: &TestApp) {
    let last = app.events_in_stream().await;
    wait_for_checkpoint(&app.running.read_model, last, "the projection reaches the end of the stream").await;
}

/// The environment that points a `zhaoshang` process at `config`'s
/// deployment.
fn zhaoshang_process(config: &Config, role: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zhaoshang"));
    command
        .args(["serve", "--role", role])
        .env("ZHAOSHANG_NATS_URL", &config.nats_url)
        .env("ZHAOSHANG_DATABASE_URL", &config.database_url)
        .env("ZHAOSHANG_SCHEMA", &config.schema)
        .env("ZHAOSHANG_STREAM", &config.stream)
        .env("ZHAOSHANG_SUBJECT_PREFIX", &config.subject_prefix)
        .env("ZHAOSHANG_DUPLICATE_WINDOW_HOURS", config.duplicate_window_hours.to_string())
        .env("ZHAOSHANG_APPEND_BATCH_MAX", config.append_batch_max.to_string())
        .env("ZHAOSHANG_PROJECTOR_MAX_BATCH", config.projector_max_batch.to_string())
        .env("ZHAOSHANG_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// Whether a projector's transaction is open in PostgreSQL right now:
/// a write of a batch has begun and not ended.
async fn projector_transaction_open(connection: &mut sqlx::PgConnection, schema: &str) -> bool {
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL \
         AND pid <> pg_backend_pid()",
    )
    .bind(ReadModel::application_name(schema))
    .fetch_one(connection)
    .await
    .expect("pg_stat_activity");
    open > 0
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success(), "SIGTERM could not be sent");
}

async fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("the process's status") {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not stop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_with_sigkill_mid_batch_converges_to_a_fresh_replay() {
    use sqlx::Connection as _;
    let config = Config { projector_max_batch: 20, ..unique_config() };
    // This process runs the command service; the projector is a process of
    // its own, so that it can be killed as an operator's machine would.
    let app = Arc::new(spawn_with(config.clone(), Role::Command).await);
    let acknowledged = Acknowledged::default();
    let writers = write_projects(&app, "kill", 120, &acknowledged);

    let mut projector = zhaoshang_process(&config, "projector").spawn().expect("the projector starts");
    let mut watcher = sqlx::PgConnection::connect(&config.database_url).await.expect("PostgreSQL answers");
    let read_model = app.running.read_model.clone();
    wait_for_checkpoint(&read_model, 60, "the projector has applied a few batches").await;
    // Kill it while one of its transactions is open: in the middle of a batch.
    let deadline = Instant::now() + DEADLINE;
    while !projector_transaction_open(&mut watcher, &config.schema).await {
        assert!(Instant::now() < deadline, "never saw the projector inside a batch");
    }
    projector.kill().expect("SIGKILL");
    projector.wait().expect("the killed projector is reaped");
    let at_kill = read_model.checkpoint().await.expect("checkpoint");
    assert!(at_kill < app.events_in_stream().await, "the projector was killed before the end of the stream");

    // Restarted, it goes on from its checkpoint while the writers go on.
    let mut projector = zhaoshang_process(&config, "projector").spawn().expect("the projector starts again");
    let unavailable = writers.await.expect("the writers finish");
    assert_eq!(unavailable, 0, "the command service never depended on the projector");
    wait_for_projection_to_catch_up(&app).await;

    // SIGTERM: the projector finishes what it holds and exits cleanly.
    sigterm(&projector);
    assert!(wait_for_exit(&mut projector).await.success(), "a projector stopped by SIGTERM exits with 0");

    let acknowledged = acknowledged.lock().expect("not poisoned").clone();
    assert_eq!(acknowledged.len(), 600);
    assert_stream_holds_exactly(&config, &acknowledged).await;
    assert_read_models_equal_a_fresh_replay(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_answer_503_while_nats_restarts_and_a_retry_with_the_same_key_writes_once() {
    let mut nats = PrivateNats::start(true);
    let config = Config { nats_url: nats.url(), projector_max_batch: 50, ..unique_config() };
    let app = Arc::new(spawn_with(config.clone(), Role::All).await);
    let acknowledged = Acknowledged::default();
    run_project(&app, "before", 0, &acknowledged).await;

    // Writers are busy when NATS goes down, and go on retrying through it.
    let writers = write_projects(&app, "during", 40, &acknowledged);
    let count = || acknowledged.lock().expect("not poisoned").len();
    wait_until("the writers are under way", || {
        let n = count();
        async move { n >= 30 }
    })
    .await;
    nats.kill();

    // While it is down, a command is refused with 503 and Retry-After:
    // never a false success.
    let lead = json!({"task_force_id": "automotive", "name": "停机期间项目", "investor": "投资方",
                      "category": "industrial", "owner": "李荣军", "on": "2022-01-10"});
    for _ in 0..3 {
        let answer = app.command("post", "/api/v1/projects", &lead, Some("while-down"), None).await;
        assert_eq!(answer.status, 503, "a command while NATS is down: {}", answer.body);
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        assert!(answer.headers.contains_key("retry-after"), "503 says when to retry");
    }

    nats.resume();
    // The client's retry with the same key is accepted once, and a further
    // retry replays the same event.
    let deadline = Instant::now() + DEADLINE;
    let first = loop {
        let answer = app.command("post", "/api/v1/projects", &lead, Some("while-down"), None).await;
        if answer.status.is_success() {
            break answer.body;
        }
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert!(Instant::now() < deadline, "the retried command was never accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let again = app.command("post", "/api/v1/projects", &lead, Some("while-down"), None).await;
    assert_eq!(again.status, 200, "a replay of an accepted command");
    assert_eq!(again.body, first);
    acknowledged
        .lock()
        .expect("not poisoned")
        .insert(Uuid::parse_str(first["event_id"].as_str().expect("event id")).expect("uuid"));

    let unavailable = writers.await.expect("the writers finish");
    assert!(unavailable > 0, "the writers met NATS down");
    let keyed = all_events(&config)
        .await
        .into_iter()
        .filter(|e| e.envelope.idempotencykey.as_deref() == Some("while-down"))
        .count();
    assert_eq!(keyed, 1, "the command retried through the outage is in the stream once");
    wait_for_projection_to_catch_up(&app).await;
    let acknowledged = acknowledged.lock().expect("not poisoned").clone();
    assert_eq!(acknowledged.len(), 5 + 200 + 1);
    assert_stream_holds_exactly(&config, &acknowledged).await;
    assert_read_models_equal_a_fresh_replay(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projection_survives_a_postgresql_crash_and_converges_to_a_fresh_replay() {
    let postgres = PrivatePostgres::start();
    let config = Config { database_url: postgres.url(), projector_max_batch: 20, ..unique_config() };
    let app = Arc::new(spawn_with(config.clone(), Role::All).await);
    let acknowledged = Acknowledged::default();
    let writers = write_projects(&app, "pg", 60, &acknowledged);
    let read_model = app.running.read_model.clone();
    wait_for_checkpoint(&read_model, 40, "the projection is under way").await;
    postgres.crash();
    // Commands go on while the read models are down: the write path needs
    // only NATS.
    let while_down = write_projects(&app, "pg-down", 10, &acknowledged).await.expect("the writers finish");
    assert_eq!(while_down, 0, "commands are accepted while PostgreSQL is down");
    assert!(read_model.checkpoint().await.is_err(), "PostgreSQL was down all along");
    postgres.resume();
    let unavailable = writers.await.expect("the writers finish");
    assert_eq!(unavailable, 0, "commands never depend on PostgreSQL");
    wait_for_projection_to_catch_up(&app).await;
    let acknowledged = acknowledged.lock().expect("not poisoned").clone();
    assert_eq!(acknowledged.len(), 350);
    assert_stream_holds_exactly(&config, &acknowledged).await;
    assert_read_models_equal_a_fresh_replay(&config).await;
    // The app (and its clean-up, which needs this PostgreSQL) goes first.
    drop(app);
    drop(postgres);
}

#[tokio::test]
async fn duplicated_and_out_of_order_redeliveries_change_nothing() {
    // No projector runs: the test delivers the events itself, as JetStream
    // redelivers them after a lost acknowledgement or a restart.
    let app = Arc::new(spawn(Role::Command).await);
    let acknowledged = Acknowledged::default();
    write_projects(&app, "redeliver", 30, &acknowledged).await.expect("the writers finish");
    let events = all_events(&app.config).await;
    assert_eq!(events.len(), 150);
    let read_model = &app.running.read_model;
    let deliver = |sequences: Vec<u64>| {
        let events = &events;
        async move {
            let batch: Vec<EventToApply<'_>> = sequences
                .iter()
                .map(|s| {
                    let e = &events[usize::try_from(*s).expect("fits") - 1];
                    EventToApply { sequence: e.sequence, envelope: &e.envelope }
                })
                .collect();
            read_model.apply_batch(&batch).await.expect("a delivery applies")
        }
    };
    assert_eq!(deliver((1..=40).collect()).await, 40);
    assert_eq!(deliver((20..=60).collect()).await, 60, "an overlapping redelivery adds only what is new");
    assert_eq!(deliver((80..=100).collect()).await, 60, "events after a gap wait for the gap");
    assert_eq!(deliver((61..=79).rev().collect()).await, 60, "events out of order are not applied out of order");
    let mut shuffled: Vec<u64> = (61..=120).collect();
    shuffled.swap(30, 50);
    assert_eq!(deliver(shuffled).await, 90, "a batch is applied up to its first hole");
    assert_eq!(deliver((1..=150).collect()).await, 150);
    assert_eq!(deliver((1..=150).rev().collect()).await, 150, "a full replay changes nothing");
    assert_eq!(deliver((100..=150).collect()).await, 150);

    let acknowledged = acknowledged.lock().expect("not poisoned").clone();
    assert_stream_holds_exactly(&app.config, &acknowledged).await;
    assert_read_models_equal_a_fresh_replay(&app.config).await;
}

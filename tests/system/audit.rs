//! The audit trail: `audit verify` passes on an honest history and names
//! the first forged event, altered payload, gap or tampered row; proofs
//! verify with the public key alone and fail when a byte changes; a rebuild
//! leaves the read models equal to the live ones; the audit package checks
//! out with an independent script.

use std::path::PathBuf;

use async_nats::jetstream;
use serde_json::json;
use zhaoshang::audit::{Finding, VerifyOptions, VerifyReport};
use zhaoshang::config::Config;
use zhaoshang::system::Role;
use zhaoshang_audit::SigningKey;
use zhaoshang_audit::chain::ChainError;
use zhaoshang_audit::tree_head;
use zhaoshang_domain::EventEnvelope;
use zhaoshang_domain::envelope::EventMetadata;
use zhaoshang_tests::{TestApp, spawn_with, unique_config};

/// A signing-key file that is removed with the test.
struct KeyFile(PathBuf);

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A configuration with a signing key of its own (a file under the temp dir).
fn config_with_key() -> (Config, SigningKey, KeyFile) {
    let mut config = unique_config();
    let seed: [u8; 32] = *uuid::Uuid::new_v4().as_bytes().repeat(2).first_chunk().expect("32 bytes");
    let path: PathBuf = std::env::temp_dir().join(format!("zhaoshang-test-key-{}.hex", config.schema));
    std::fs::write(&path, hex::encode(seed)).expect("write the key");
    config.signing_key_file = Some(path.clone());
    (config, SigningKey::from_bytes(&seed), KeyFile(path))
}

fn lead(name: &str) -> serde_json::Value {
    json!({"task_force_id": "automotive", "name": name, "investor": "广西示例投资有限公司", "category": "industrial",
           "owner": "李荣军", "on": "2022-03-01"})
}

/// The plan plus a few projects with steps, projected; returns the last sequence.
async fn spawn_with_history(config: Config) -> (TestApp, u64) {
    let app = spawn_with(config, Role::All).await;
    let command = app.running.command.clone().expect("command service runs");
    zhaoshang::plan_file::load(&command, zhaoshang::plan_file::PLAN_2022_2024, "test").await.expect("plan loads");
    let mut last = 0;
    for i in 0..3 {
        let created = app.post_ok("/api/v1/projects", &lead(&format!("审计测试项目{i}"))).await;
        let id = created.body["aggregate_id"].as_str().expect("id").to_owned();
        last =
            app.post_ok(&format!("/api/v1/projects/{id}/negotiation"), &json!({"on": "2022-04-01"})).await.sequence();
    }
    let answer = app.get("/api/v1/projects", Some(last)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    (app, last)
}

/// Changes one hex digit of a hash (so one byte of it).
fn flip_hex_digit(hash: &mut String, at: usize) {
    let replacement = if &hash[at..=at] == "0" { "1" } else { "0" };
    hash.replace_range(at..=at, replacement);
}

async fn sign_now(app: &TestApp, key: &SigningKey) -> tree_head::SignedTreeHead {
    zhaoshang::audit::sign_now(&app.running.store, &app.running.read_model, key)
        .await
        .expect("signs")
        .expect("the stream has events")
}

async fn verify(config: &Config) -> VerifyReport {
    zhaoshang::audit::verify(config, &VerifyOptions::default()).await.expect("verify runs")
}

/// Publishes an envelope straight into the stream, as a forger with access
/// to NATS would, bypassing the command service.
async fn forge(app: &TestApp, envelope: &EventEnvelope) -> u64 {
    let subject = app.running.store.subject(&envelope.aggregatetype, &envelope.aggregateid);
    let ack = app.running.store.jetstream().publish(subject, envelope.to_vec().into()).await.expect("publish");
    ack.await.expect("stored").sequence
}

/// The next event of the aggregate of the event at `sequence`, sealed correctly.
async fn next_event_after(app: &TestApp, sequence: u64) -> EventEnvelope {
    let last = app.running.store.get(sequence).await.expect("event").envelope;
    let metadata = EventMetadata {
        actor: "伪造者".to_owned(),
        correlation_id: uuid::Uuid::now_v7(),
        causation_id: None,
        idempotency_key: None,
        recorded_at: chrono::Utc::now(),
    };
    let event: zhaoshang_domain::project::ProjectEvent = last.decode().expect("a project event decodes");
    EventEnvelope::seal(
        &last.aggregatetype,
        &last.aggregateid,
        last.aggregateversion + 1,
        Some(last.hash.clone()),
        &event,
        &metadata,
    )
}

#[tokio::test]
async fn an_honest_history_verifies_and_a_tampered_read_model_row_is_named() {
    let (config, key, _key_file) = config_with_key();
    let (app, last) = spawn_with_history(config.clone()).await;
    let head = sign_now(&app, &key).await;
    assert_eq!(head.tree_size, last);
    head.verify(&key.verifying_key()).expect("the tree head is signed");

    let report = verify(&config).await;
    assert_eq!(report.finding, None, "{report:?}");
    assert_eq!((report.events, report.rehashed, report.tree_heads), (last, last, 1));
    assert_eq!(report.compared_at, last);
    assert!(report.comparison.tables >= 10 && report.comparison.rows > last, "{report:?}");

    // From a tree head the auditor holds: its prefix is checked through its root.
    let trusted = VerifyOptions { trusted_head: Some(head.clone()), ..Default::default() };
    let report = zhaoshang::audit::verify(&config, &trusted).await.expect("verify runs");
    assert_eq!((report.finding, report.events, report.rehashed), (None, last, 0));
    // A held copy that differs from the published head is named.
    let other = tree_head::SignedTreeHead::sign(&head.stream, head.tree_size, &[7u8; 32], chrono::Utc::now(), &key);
    let forged = VerifyOptions { trusted_head: Some(other), ..Default::default() };
    let report = zhaoshang::audit::verify(&config, &forged).await.expect("verify runs");
    assert!(matches!(report.finding, Some(Finding::TreeHead { tree_size, .. }) if tree_size == last), "{report:?}");

    sqlx::query(&format!("UPDATE {}.projects SET investor = '另一家公司' WHERE name = '审计测试项目1'", config.schema))
        .execute(app.running.read_model.pool())
        .await
        .expect("tamper");
    let report = verify(&config).await;
    match report.finding {
        Some(Finding::ReadModel(difference)) => {
            assert_eq!(difference.table, "projects");
            assert!(difference.row.contains("审计测试项目1"), "{difference}");
        }
        other => panic!("the tampered row is not named: {other:?}"),
    }
}

#[tokio::test]
async fn a_forged_event_with_a_wrong_previous_hash_is_named() {
    let (config, _key, _key_file) = config_with_key();
    let (app, last) = spawn_with_history(config.clone()).await;
    let mut forged = next_event_after(&app, last).await;
    forged.prevhash = Some("ab".repeat(32));
    forged.hash = forged.compute_hash();
    let sequence = forge(&app, &forged).await;

    match verify(&config).await.finding {
        Some(Finding::Chain(ChainError::BrokenLink { sequence: named, event_id, .. })) => {
            assert_eq!(named, sequence);
            assert_eq!(event_id, forged.id.to_string());
        }
        other => panic!("the forged event is not named: {other:?}"),
    }
}

#[tokio::test]
async fn an_altered_payload_is_named() {
    let (config, _key, _key_file) = config_with_key();
    let (app, last) = spawn_with_history(config.clone()).await;
    let mut altered = next_event_after(&app, last).await;
    altered.data["note"] = json!("事后改写的内容");
    let sequence = forge(&app, &altered).await;

    match verify(&config).await.finding {
        Some(Finding::Chain(ChainError::HashMismatch { sequence: named, stored, computed, .. })) => {
            assert_eq!(named, sequence);
            assert_eq!(stored, altered.hash);
            assert_eq!(computed, altered.compute_hash());
        }
        other => panic!("the altered event is not named: {other:?}"),
    }
}

#[tokio::test]
async fn a_removed_event_is_named_as_a_gap() {
    // A system of record's stream denies deletes (and cannot be switched
    // back), so the damaged stream is built by hand, as an operator with
    // full access to the server could.
    let config = unique_config();
    let client = async_nats::connect(&config.nats_url).await.expect("NATS");
    let js = jetstream::new(client);
    let stream = js
        .create_stream(jetstream::stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            ..Default::default()
        })
        .await
        .expect("stream");
    let metadata = EventMetadata {
        actor: "tester".to_owned(),
        correlation_id: uuid::Uuid::now_v7(),
        causation_id: None,
        idempotency_key: None,
        recorded_at: chrono::Utc::now(),
    };
    for i in 0..3 {
        let event =
            zhaoshang_domain::meeting::MeetingEvent::Convened(zhaoshang_domain::meeting::RecordMeetingConvened {
                kind: zhaoshang_domain::values::MeetingKind::Joint,
                task_force_id: None,
                on: chrono::NaiveDate::from_ymd_opt(2022, 3, 1).expect("date"),
                title: zhaoshang_domain::values::Name::parse(&format!("联席会议第{i}次")).expect("name"),
                attendees: vec![],
                minutes: None,
            });
        let envelope = EventEnvelope::seal("meeting", &format!("m-{i}"), 1, None, &event, &metadata);
        js.publish(format!("{}.meeting.m-{i}", config.subject_prefix), envelope.to_vec().into())
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
    assert!(stream.delete_message(2).await.expect("delete"));

    let report = verify(&config).await;
    zhaoshang_tests::remove_test_data(&config).await;
    assert!(!report.stream_denies_deletes);
    assert_eq!(report.finding, Some(Finding::Chain(ChainError::Gap { expected: 2, found: 3 })));
}

#[tokio::test]
async fn proofs_verify_with_the_public_key_alone_and_fail_when_a_byte_changes() {
    let (config, key, _key_file) = config_with_key();
    let (app, last) = spawn_with_history(config.clone()).await;
    let first = sign_now(&app, &key).await;
    let more = app.post_ok("/api/v1/projects", &lead("证明之后的项目")).await.sequence();
    app.get("/api/v1/projects", Some(more)).await;
    let second = sign_now(&app, &key).await;
    assert_eq!((first.tree_size, second.tree_size), (last, more));
    let public = key.verifying_key();

    let events = app.get(&format!("/api/v1/audit/events?limit=100"), Some(more)).await;
    let ids: Vec<uuid::Uuid> = events.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event_id"].as_str().expect("id").parse().expect("uuid"))
        .collect();
    assert_eq!(ids.len() as u64, more);
    for id in [ids[0], ids[4], ids[ids.len() - 1]] {
        let proof = zhaoshang::audit::inclusion_proof(&config, id).await.expect("proof");
        proof.verify(&public).expect("verifies with the public key");
        for (i, _) in proof.audit_path.iter().enumerate() {
            let mut bad = proof.clone();
            flip_hex_digit(&mut bad.audit_path[i], 0);
            assert!(bad.verify(&public).is_err(), "a changed path element must fail");
        }
        let mut bad = proof.clone();
        bad.event.actor.push('x');
        assert!(bad.verify(&public).is_err(), "a changed event must fail");
        let mut bad = proof.clone();
        flip_hex_digit(&mut bad.tree_head.root_hash, 63);
        assert!(bad.verify(&public).is_err(), "a changed root must fail");
    }
    let consistency = app
        .get(&format!("/api/v1/audit/consistency?first={}&second={}", first.tree_size, second.tree_size), None)
        .await;
    assert_eq!(consistency.status, 200, "{}", consistency.body);
    let proof: zhaoshang_audit::proof::ConsistencyProof =
        serde_json::from_value(consistency.body.clone()).expect("a consistency proof");
    proof.verify(&public).expect("consistent");
    let mut bad = proof.clone();
    flip_hex_digit(&mut bad.path[0], 0);
    assert!(bad.verify(&public).is_err(), "a changed consistency element must fail");
}

#[tokio::test]
async fn a_rebuild_swaps_in_equal_read_models_while_the_api_answers_and_the_projector_carries_on() {
    let (config, key, _key_file) = config_with_key();
    let (app, last) = spawn_with_history(config.clone()).await;
    sign_now(&app, &key).await;
    let before = app.get("/api/v1/projects", None).await.body;
    let indexes = || async {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname")
                .bind(&config.schema)
                .fetch_all(app.running.read_model.pool())
                .await
                .expect("the schema's indexes");
        rows
    };
    let indexes_before = indexes().await;
    assert!(indexes_before.iter().any(|(name, _)| name == "event_log_aggregate"), "{indexes_before:?}");

    let reader = {
        let client = app.client.clone();
        let url = format!("{}/api/v1/task-forces", app.base);
        tokio::spawn(async move {
            let mut answers = 0;
            let mut failures = Vec::new();
            for _ in 0..200 {
                let response = client.get(&url).send().await.expect("request");
                if response.status() != 200 {
                    failures.push(response.status());
                }
                answers += 1;
            }
            (answers, failures)
        })
    };
    let report = zhaoshang::audit::rebuild(&config, false).await.expect("rebuild");
    assert_eq!((report.events, report.checkpoint), (last, last));
    let (answers, failures) = reader.await.expect("reader");
    assert_eq!((answers, failures), (200, vec![]));

    assert_eq!(app.get("/api/v1/projects", None).await.body, before);
    // Loaded without its secondary indexes, the shadow got every one back
    // before it was swapped in.
    assert_eq!(indexes().await, indexes_before);
    let heads = app.get("/api/v1/audit/tree-heads", None).await;
    assert_eq!(heads.body.as_array().map(Vec::len), Some(1), "tree heads are carried over: {}", heads.body);
    // The projector writes into the new schema.
    let after = app.post_ok("/api/v1/projects", &lead("重建之后的项目")).await.sequence();
    let answer = app.get("/api/v1/projects", Some(after)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.to_string().contains("重建之后的项目"));
    let report = verify(&config).await;
    assert_eq!(report.finding, None, "{report:?}");
    assert_eq!(report.compared_at, after);
}

#[tokio::test]
async fn the_projector_signs_tree_heads_on_a_subject_of_their_own() {
    let (mut config, key, _key_file) = config_with_key();
    config.digest_every_events = 4;
    let client = async_nats::connect(&config.nats_url).await.expect("NATS");
    let mut heads = client
        .subscribe(zhaoshang_event_store::audit::digest_subject(&config.subject_prefix))
        .await
        .expect("subscribe");
    let app = spawn_with(config.clone(), Role::All).await;
    let command = app.running.command.clone().expect("command service");
    zhaoshang::plan_file::load(&command, zhaoshang::plan_file::PLAN_2022_2024, "test").await.expect("plan");
    use futures::StreamExt as _;
    let mut sizes = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(20), heads.next())
            .await
            .expect("a tree head within 20 s")
            .expect("subscription open");
        let head: tree_head::SignedTreeHead = serde_json::from_slice(&message.payload).expect("a tree head");
        head.verify(&key.verifying_key()).expect("signed with the configured key");
        sizes.push(head.tree_size);
    }
    assert_eq!(sizes, [4, 8]);
    // The event stream holds only events: the projector and `verify` see no tree head.
    let report = verify(&config).await;
    assert_eq!(report.finding, None, "{report:?}");
    assert_eq!(report.events, app.events_in_stream().await);
    assert!(report.tree_heads >= 2);
}

#[tokio::test]
async fn the_audit_package_verifies_with_an_independent_script_and_fails_when_a_byte_changes() {
    let (config, key, _key_file) = config_with_key();
    let (app, _) = spawn_with_history(config.clone()).await;
    sign_now(&app, &key).await;
    let more = app.post_ok("/api/v1/projects", &lead("审计包之后的项目")).await.sequence();
    app.get("/api/v1/projects", Some(more)).await;
    let head = sign_now(&app, &key).await;
    assert_eq!(head.tree_size, more);

    let response = app
        .client
        .get(format!("{}/api/v1/audit/export?from=2000-01-01&to=2100-01-01", app.base))
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let package = response.bytes().await.expect("the package").to_vec();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/audit/verify_package.py");
    let run = |bytes: &[u8], name: &str| {
        let path = std::env::temp_dir().join(format!("{}-{name}.tar", config.schema));
        std::fs::write(&path, bytes).expect("write the package");
        let output = std::process::Command::new("python3").arg(script).arg(&path).output().expect("python3 runs");
        let _ = std::fs::remove_file(&path);
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let (ok, out) = run(&package, "honest");
    assert!(ok, "{out}");
    assert!(out.contains(&format!("OK: {more} events, tree head {more}")), "{out}");
    assert!(out.contains("1 consistency proofs"), "{out}");

    // One byte of one event's payload changed: the script names it.
    let needle = "审计测试项目1".as_bytes();
    let at = package.windows(needle.len()).position(|w| w == needle).expect("the event is in the package");
    let mut altered = package.clone();
    altered[at + needle.len() - 1] = b'2';
    let (ok, out) = run(&altered, "altered");
    assert!(!ok, "an altered event must fail: {out}");
    assert!(out.contains("does not hash to its hash"), "{out}");
}

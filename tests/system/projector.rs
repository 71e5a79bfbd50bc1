//! The projector converges whatever happens to it.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use zhaoshang::system::Role;
use zhaoshang_event_store::EventStore;
use zhaoshang_projector::ProjectorConfig;
use zhaoshang_query::QueryService;
use zhaoshang_read_model::ReadModel;
use zhaoshang_read_model::projection::EventToApply;
use zhaoshang_tests::spawn;

async fn count(read_model: &ReadModel, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(read_model.pool()).await.expect("count")
}

#[tokio::test]
async fn a_projector_killed_mid_stream_and_restarted_leaves_every_count_exact() {
    // Only the command service runs: the test drives the projector itself.
    let app = spawn(Role::Command).await;
    let mut futures = Vec::new();
    for i in 0..60 {
        let app = &app;
        futures.push(async move {
            let id = format!("p-{i}");
            let lead = json!({"task_force_id": "automotive", "name": format!("项目{i}"), "investor": "投资方", "category": "industrial", "owner": "李荣军", "on": "2022-01-10"});
            let created = app.command("put", &format!("/api/v1/projects/{id}"), &lead, None, None).await;
            assert_eq!(created.status, 201, "{}", created.body);
            app.post_ok(&format!("/api/v1/projects/{id}/negotiation"), &json!({"on": "2022-02-01"})).await;
            app.post_ok(&format!("/api/v1/projects/{id}/signings"), &json!({"on": "2022-03-01", "agreement": "contract", "investment_yuan": 100_000_000 + i})).await;
            app.post_ok(&format!("/api/v1/projects/{id}/funds-arrivals"), &json!({"on": "2022-04-01", "amount_yuan": 1000})).await;
            app.post_ok(&format!("/api/v1/projects/{id}/funds-arrivals"), &json!({"on": "2022-05-01", "amount_yuan": 500})).await;
        });
    }
    futures::future::join_all(futures).await;
    // Commands were answered before the stream info is read: the count is exact.
    let last = app.events_in_stream().await;
    if last != 300 {
        let all = app.running.store.read_filter(&app.running.store.all_events_filter()).await.expect("read");
        let mut types = std::collections::BTreeMap::new();
        for e in &all {
            *types.entry(e.envelope.short_type().to_owned()).or_insert(0) += 1;
        }
        panic!("{} events by filter, types {types:?}", all.len());
    }

    let store = EventStore::connect(app.config.event_store()).await.expect("store");
    let read_model = app.running.read_model.clone();
    let shutdown = CancellationToken::new();
    let query = QueryService::start(read_model.clone(), shutdown.clone()).await.expect("listener");
    let config = ProjectorConfig { max_batch: 7, ..ProjectorConfig::for_schema(&app.config.schema) };

    // First run: killed (aborted, as a crash would) once it is part way. It
    // has connections of its own, which die with it as a killed process's
    // would: a connection abandoned in the middle of a COPY must not be
    // handed to anyone else.
    let doomed_model = ReadModel::connect(&app.config.read_model()).await.expect("a pool of its own");
    let first =
        tokio::spawn(zhaoshang_projector::run(store.clone(), doomed_model.clone(), config.clone(), shutdown.clone()));
    query.wait_for(50, Duration::from_secs(20)).await.expect("the projector makes progress");
    first.abort();
    let _ = first.await;
    drop(doomed_model);
    let checkpoint = read_model.checkpoint().await.expect("checkpoint");
    assert!(checkpoint >= 50 && checkpoint < last, "killed part way, at {checkpoint}");

    // A redelivery of events already applied changes nothing.
    let mut replayed = Vec::new();
    for sequence in 1..=checkpoint {
        replayed.push(store.get(sequence).await.expect("event"));
    }
    let to_apply: Vec<_> =
        replayed.iter().map(|e| EventToApply { sequence: e.sequence, envelope: &e.envelope }).collect();
    assert_eq!(read_model.apply_batch(&to_apply).await.expect("replay"), checkpoint);
    assert_eq!(count(&read_model, "SELECT count(*) FROM event_log").await, i64::try_from(checkpoint).expect("fits"));

    // Restarted, it converges to exactly the stream.
    let second = tokio::spawn(zhaoshang_projector::run(store.clone(), read_model.clone(), config, shutdown.clone()));
    query.wait_for(last, Duration::from_secs(30)).await.expect("the projector catches up");
    assert_eq!(count(&read_model, "SELECT count(*) FROM event_log").await, 300);
    assert_eq!(count(&read_model, "SELECT count(*) FROM projects").await, 60);
    assert_eq!(count(&read_model, "SELECT count(*) FROM project_steps").await, 300);
    assert_eq!(count(&read_model, "SELECT count(*) FROM projects WHERE stage = 'signed' AND qualifies").await, 60);
    assert_eq!(count(&read_model, "SELECT sum(funds_arrived_yuan)::bigint FROM projects").await, 60 * 1500);
    assert_eq!(
        count(&read_model, "SELECT sum(signed_investment_yuan)::bigint FROM projects").await,
        (0..60).map(|i| 100_000_000 + i).sum::<i64>()
    );
    shutdown.cancel();
    second.await.expect("joins").expect("stops cleanly");
}

#[tokio::test]
async fn a_projector_whose_consumer_vanishes_starts_again_from_its_checkpoint() {
    let app = zhaoshang_tests::spawn(Role::All).await;
    let meeting = |title: &str| json!({"kind": "monthly_report", "on": "2023-01-05", "title": title});
    let first = app.post_ok("/api/v1/meetings", &meeting("一月汇报会")).await.sequence();
    zhaoshang_tests::wait_for_checkpoint(&app.running.read_model, first, "the first event is applied").await;

    // The server forgets the projector's consumer, as a server restarted
    // without its state would; deliveries stop without an error.
    let durable = ProjectorConfig::for_schema(&app.config.schema).durable_name;
    app.running.store.stream().delete_consumer(&durable).await.expect("the consumer is deleted");
    let mut last = first;
    for title in ["二月汇报会", "三月汇报会"] {
        last = app.post_ok("/api/v1/meetings", &meeting(title)).await.sequence();
    }
    zhaoshang_tests::wait_for_checkpoint(&app.running.read_model, last, "the projector starts again and catches up")
        .await;
    assert_eq!(count(&app.running.read_model, "SELECT count(*) FROM meetings").await, 3);
}

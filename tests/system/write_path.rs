//! The write path: commands to events to read models to queries.

use serde_json::json;
use zhaoshang::system::Role;
use zhaoshang_tests::{spawn, spawn_with_plan};

fn lead(task_force: &str, name: &str) -> serde_json::Value {
    json!({"task_force_id": task_force, "name": name, "investor": "广西示例投资有限公司", "category": "industrial",
           "owner": "李荣军", "on": "2022-03-01"})
}

#[tokio::test]
async fn a_command_travels_to_the_read_model_and_out_of_the_query_api() {
    let app = spawn(Role::All).await;
    let created = app.command("post", "/api/v1/projects", &lead("automotive", "新能源汽车电驱项目"), None, None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["aggregate_id"].as_str().expect("id").to_owned();
    assert_eq!(created.headers["etag"], "\"1\"");
    let token = created.sequence();
    let answer = app.get(&format!("/api/v1/projects/{id}"), Some(token)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["name"], "新能源汽车电驱项目");
    assert_eq!(answer.body["stage"], "lead");
    assert_eq!(answer.body["steps"][0]["actor"], "tester");
}

#[tokio::test]
async fn a_retried_command_with_the_same_key_writes_one_event() {
    let app = spawn(Role::All).await;
    let body = lead("automotive", "重试项目");
    let first = app.command("post", "/api/v1/projects", &body, Some("retry-key-1"), None).await;
    let second = app.command("post", "/api/v1/projects", &body, Some("retry-key-1"), None).await;
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 200, "a replay answers 200 with the first result");
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(first.body, second.body);
    assert_eq!(app.events_in_stream().await, 1);
    // A step command retried after it succeeded also replays instead of being refused.
    let id = first.body["aggregate_id"].as_str().expect("id");
    let path = format!("/api/v1/projects/{id}/negotiation");
    let step = json!({"on": "2022-04-01"});
    let a = app.command("post", &path, &step, Some("neg-1"), None).await;
    let b = app.command("post", &path, &step, Some("neg-1"), None).await;
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (201, 200));
    assert_eq!(a.body["sequence"], b.body["sequence"]);
    assert_eq!(app.events_in_stream().await, 2);
}

#[tokio::test]
async fn parallel_conflicting_commands_write_one_event_per_expected_version() {
    let app = spawn(Role::All).await;
    let created = app.command("put", "/api/v1/projects/conflict-1", &lead("automotive", "并发项目"), None, None).await;
    assert_eq!(created.status, 201);
    let before = app.events_in_stream().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = &app;
        tasks.push(async move {
            let body = json!({"on": "2022-04-01", "note": format!("第 {i} 个并发请求")});
            app.command("post", "/api/v1/projects/conflict-1/negotiation", &body, None, Some(1)).await
        });
    }
    let answers = futures::future::join_all(tasks).await;
    let created: Vec<_> = answers.iter().filter(|a| a.status == 201).collect();
    let conflicts = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!(created.len(), 1, "exactly one writer wins version 1");
    assert_eq!(conflicts, 19);
    assert!(answers.iter().filter(|a| a.status == 409).all(|a| a.body["rule"] == "version_conflict"));
    assert_eq!(app.events_in_stream().await, before + 1);
    assert_eq!(created[0].body["aggregate_version"], 2);
}

#[tokio::test]
async fn invalid_input_is_refused_with_its_field_and_rule_and_writes_nothing() {
    let app = spawn_with_plan().await;
    let before = app.events_in_stream().await;
    let mut body = lead("automotive", "坏数据项目");
    body["on"] = json!("2999-01-01");
    let cases = [
        ("post", "/api/v1/projects", body, "on", "not_in_future"),
        (
            "post",
            "/api/v1/projects",
            json!({"task_force_id": "automotive", "name": "x", "investor": "y", "category": "mining", "owner": "z", "on": "2022-01-01"}),
            "category",
            "allowed_values",
        ),
        (
            "post",
            "/api/v1/projects",
            json!({"task_force_id": "automotive", "name": "  ", "investor": "y", "category": "service", "owner": "z", "on": "2022-01-01"}),
            "name",
            "required_text",
        ),
        (
            "post",
            "/api/v1/projects",
            json!({"task_force_id": "automotive", "name": "x", "investor": "y", "category": "service", "owner": "z", "on": "2022-01-01", "planned_investment_yuan": -5}),
            "planned_investment_yuan",
            "positive_amount",
        ),
        (
            "post",
            "/api/v1/projects",
            json!({"task_force_id": "automotive", "name": "x", "investor": "y", "category": "service", "owner": "z", "on": "2022-01-01", "surprise": 1}),
            "surprise",
            "unknown_field",
        ),
        (
            "post",
            "/api/v1/activities/held",
            json!({"task_force_id": "automotive", "kind": "online", "title": "线上对接", "on": "2022-05-01", "led_by_principal_leader": true}),
            "led_by_principal_leader",
            "leader_led_only_going_out",
        ),
        (
            "post",
            "/api/v1/meetings",
            json!({"kind": "joint", "on": "2022-05-01", "title": "联席会"}),
            "task_force_id",
            "task_force_required",
        ),
    ];
    for (method, path, body, field, rule) in cases {
        let answer = app.command(method, path, &body, None, None).await;
        assert_eq!(answer.status, 422, "{path} {body}: {}", answer.body);
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        assert_eq!(answer.body["errors"][0]["field"], field, "{}", answer.body);
        assert_eq!(answer.body["errors"][0]["rule"], rule, "{}", answer.body);
    }
    let not_json = app
        .client
        .post(format!("{}/api/v1/projects", app.base))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .expect("sent");
    assert_eq!(not_json.status(), 400);
    // Signing a project that was never negotiated is a rule of state, not of a field.
    let lead_answer = app.command("put", "/api/v1/projects/p-order", &lead("automotive", "顺序项目"), None, None).await;
    assert_eq!(lead_answer.status, 201);
    let sign = app
        .command(
            "post",
            "/api/v1/projects/p-order/signings",
            &json!({"on": "2022-05-01", "agreement": "contract", "investment_yuan": 200000000}),
            None,
            None,
        )
        .await;
    assert_eq!(sign.status, 422);
    assert_eq!(sign.body["rule"], "stage_order");
    assert_eq!(app.events_in_stream().await, before + 1, "only the valid lead was written");
}

#[tokio::test]
async fn the_projection_lag_is_visible_and_makes_the_service_not_ready() {
    // Commands are written with no projector running, so the lag is exact.
    let writer = spawn(Role::Command).await;
    for i in 0..3 {
        let answer =
            writer.command("post", "/api/v1/projects", &lead("automotive", &format!("滞后项目{i}")), None, None).await;
        assert_eq!(answer.status, 201);
    }
    let mut config = writer.config.clone();
    config.ready_lag = 2;
    let reader = zhaoshang_tests::spawn_with(config, Role::Query).await;
    let status = reader.get("/api/v1/projections", None).await;
    assert_eq!(status.body["checkpoint"], 0);
    assert_eq!(status.body["stream_last_sequence"], 3);
    assert_eq!(status.body["lag"], 3);
    let ready = reader.get("/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["reason"], "projection_lag");
    // A query that asks for a write the read models have not reached says so, instead of answering stale.
    let behind = reader
        .client
        .get(format!("{}/api/v1/projects?consistent_with=3&wait_ms=50", reader.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(behind.status(), 503);
    assert!(behind.headers().contains_key("retry-after"));

    let caught_up = spawn(Role::All).await;
    let answer = caught_up.command("post", "/api/v1/projects", &lead("automotive", "就绪项目"), None, None).await;
    caught_up.get("/api/v1/projects", Some(answer.sequence())).await;
    let status = caught_up.get("/api/v1/projections", None).await;
    assert_eq!(status.body["lag"], 0);
    assert_eq!(caught_up.get("/readyz", None).await.status, 200);
}

#[tokio::test]
async fn a_test_system_leaves_nothing_behind() {
    let app = spawn(Role::All).await;
    app.post_ok("/api/v1/projects", &lead("automotive", "清理项目")).await;
    let config = app.config.clone();
    drop(app);
    let client = async_nats::connect(&config.nats_url).await.expect("nats");
    let stream = async_nats::jetstream::new(client).get_stream(&config.stream).await;
    assert!(stream.is_err(), "the test's stream is gone");
    let pool = sqlx::PgPool::connect(&config.database_url).await.expect("postgres");
    let schemas: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = $1")
        .bind(&config.schema)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(schemas, 0, "the test's schema is gone");
}

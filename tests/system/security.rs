//! Who may do what: tokens, roles, task-force scopes, the actor on events,
//! the write rate limit and the request timeout, through the real HTTP API.

use reqwest::StatusCode;
use serde_json::{Value, json};
use zhaoshang::system::Role as ServiceRole;
use zhaoshang_http::auth::{Claims, Role, unix_now};
use zhaoshang_tests::{
    TestApp, client_without_token, spawn, spawn_with, spawn_with_plan, token_for, token_with, unique_config,
};

/// A request with `token` (or none), ignoring the harness's own token.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    // A client of its own, so that the harness's admin token is not sent.
    let client = client_without_token();
    let url = format!("{}{path}", app.base);
    let mut request = match method {
        "get" => client.get(url),
        "put" => client.put(url),
        _ => client.post(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.json().await.unwrap_or(Value::Null), headers)
}

fn claims(sub: &str, role: Role, exp: u64) -> Claims {
    Claims { sub: sub.to_owned(), name: None, role, task_forces: vec![], exp, iat: unix_now(), iss: None, aud: None }
}

/// Every operation of the OpenAPI document, with `{id}` filled in.
async fn operations(app: &TestApp) -> Vec<(String, String)> {
    let document = app.get("/openapi.json", None).await.body;
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("operations").keys() {
            operations.push((method.clone(), path.replace("{id}", "automotive")));
        }
    }
    operations
}

#[tokio::test]
async fn every_endpoint_but_health_refuses_missing_expired_and_forged_tokens_and_writes_refuse_reading_roles() {
    let app = spawn_with_plan().await;
    let before = app.events_in_stream().await;
    let expired = token_with(&app.config, &claims("late", Role::Admin, unix_now() - 3600));
    let mut other = app.config.clone();
    other.jwt_secret = Some(zhaoshang::config::Secret("a-different-secret-that-nobody-trusts-here".to_owned()));
    let forged = token_with(&other, &claims("mallory", Role::Admin, unix_now() + 3600));
    let body = json!({"on": "2022-05-01"});
    let operations = operations(&app).await;
    assert!(operations.len() > 30, "the document lists the API: {operations:?}");
    for (method, path) in &operations {
        if ["/healthz", "/readyz", "/openapi.json"].contains(&path.as_str()) {
            let (status, _, _) = send(&app, method, path, None, None).await;
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path} is open");
            continue;
        }
        let body = (method != "get").then_some(&body);
        let (status, problem, headers) = send(&app, method, path, None, body).await;
        assert_eq!(status, 401, "{method} {path} without a token: {problem}");
        assert_eq!(problem["rule"], "token_required");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(headers["www-authenticate"].to_str().expect("ascii").starts_with("Bearer"));
        let (status, problem, _) = send(&app, method, path, Some(&expired), body).await;
        assert_eq!((status.as_u16(), problem["rule"].as_str()), (401, Some("token_expired")), "{method} {path}");
        let (status, problem, _) = send(&app, method, path, Some(&forged), body).await;
        assert_eq!((status.as_u16(), problem["rule"].as_str()), (401, Some("token_signature")), "{method} {path}");
        let (status, _, _) = send(&app, method, path, Some("not-a-jwt"), body).await;
        assert_eq!(status, 401, "{method} {path} with garbage");
        if method != "get" {
            for role in [Role::Leader, Role::Auditor, Role::Subscriber] {
                let token = token_for(&app.config, role, &[]);
                let (status, problem, _) = send(&app, method, path, Some(&token), body).await;
                assert_eq!(status, 403, "{method} {path} as {role:?}: {problem}");
                assert_eq!(problem["rule"], "role_not_allowed");
            }
        } else if path.starts_with("/api/v1/audit") || path == "/metrics" {
            // The audit trail is the auditors' (and the administrator's); the metrics the administrator's.
            let token = token_for(&app.config, Role::TaskForce, &["automotive"]);
            let (status, problem, _) = send(&app, method, path, Some(&token), None).await;
            assert_eq!(status, 403, "{method} {path} as a task force member: {problem}");
            let auditor = token_for(&app.config, Role::Auditor, &[]);
            let (status, problem, _) = send(&app, method, path, Some(&auditor), None).await;
            if path != "/metrics" {
                assert!(status != 401 && status != 403, "{method} {path} is readable by auditors: {status} {problem}");
            }
        } else {
            let token = token_for(&app.config, Role::Subscriber, &[]);
            let (status, problem, _) = send(&app, method, path, Some(&token), None).await;
            assert!(status != 401 && status != 403, "{method} {path} is readable by every role: {status} {problem}");
        }
    }
    assert_eq!(app.events_in_stream().await, before, "no refused request wrote anything");
}

#[tokio::test]
async fn a_task_force_member_records_only_their_own_task_forces_facts() {
    let app = spawn_with_plan().await;
    let member = token_for(&app.config, Role::TaskForce, &["automotive"]);
    let office = token_for(&app.config, Role::Office, &[]);
    let lead = |task_force: &str| {
        json!({"task_force_id": task_force, "name": "电驱项目", "investor": "示例投资有限公司",
               "category": "industrial", "owner": "李荣军", "on": "2022-03-01"})
    };
    let before = app.events_in_stream().await;

    let (status, own, _) = send(&app, "post", "/api/v1/projects", Some(&member), Some(&lead("automotive"))).await;
    assert_eq!(status, 201, "{own}");
    let (status, problem, _) = send(&app, "post", "/api/v1/projects", Some(&member), Some(&lead("biomedicine"))).await;
    assert_eq!((status.as_u16(), problem["rule"].as_str()), (403, Some("own_task_force_only")), "{problem}");

    // An existing record is judged by its own task force, not by the body.
    app.command("put", "/api/v1/projects/bio-1", &lead("biomedicine"), None, None).await;
    let step = json!({"on": "2022-04-01"});
    let (status, problem, _) =
        send(&app, "post", "/api/v1/projects/bio-1/negotiation", Some(&member), Some(&step)).await;
    assert_eq!((status.as_u16(), problem["rule"].as_str()), (403, Some("own_task_force_only")));
    let own_id = own["aggregate_id"].as_str().expect("id");
    let (status, _, _) =
        send(&app, "post", &format!("/api/v1/projects/{own_id}/negotiation"), Some(&member), Some(&step)).await;
    assert_eq!(status, 201);

    let docking =
        json!({"enterprise": "某目标企业", "enterprise_role": "target", "method": "online", "on": "2022-04-02"});
    let (status, _, _) =
        send(&app, "post", "/api/v1/task-forces/automotive/dockings", Some(&member), Some(&docking)).await;
    assert_eq!(status, 201);
    let (status, problem, _) =
        send(&app, "post", "/api/v1/task-forces/biomedicine/dockings", Some(&member), Some(&docking)).await;
    assert_eq!((status.as_u16(), problem["rule"].as_str()), (403, Some("own_task_force_only")));

    // Its leaders are the administrator's to change, even for its own members.
    let convener = json!({"name": "新召集人", "on": "2024-06-01"});
    let (status, problem, _) =
        send(&app, "post", "/api/v1/task-forces/automotive/convener", Some(&member), Some(&convener)).await;
    assert_eq!((status.as_u16(), problem["rule"].as_str()), (403, Some("admin_only")));
    let (status, problem, _) =
        send(&app, "post", "/api/v1/task-forces/automotive/convener", Some(&office), Some(&convener)).await;
    assert_eq!((status.as_u16(), problem["rule"].as_str()), (403, Some("admin_only")));

    // The monthly report meeting and supervision are the office's.
    let report = json!({"kind": "monthly_report", "on": "2022-05-05", "title": "五月汇报会"});
    let (status, problem, _) = send(&app, "post", "/api/v1/meetings", Some(&member), Some(&report)).await;
    assert_eq!((status.as_u16(), problem["rule"].as_str()), (403, Some("office_only")));
    let (status, _, _) = send(&app, "post", "/api/v1/meetings", Some(&office), Some(&report)).await;
    assert_eq!(status, 201);
    // The office may record for any task force.
    let joint = json!({"kind": "joint", "task_force_id": "biomedicine", "on": "2022-05-06", "title": "联席会"});
    let (status, _, _) = send(&app, "post", "/api/v1/meetings", Some(&office), Some(&joint)).await;
    assert_eq!(status, 201);
    let (status, _, _) = send(&app, "post", "/api/v1/meetings", Some(&member), Some(&joint)).await;
    assert_eq!(status, 403);

    // Accepted: own lead, bio-1 by the admin, own negotiation, own docking, two office meetings.
    assert_eq!(app.events_in_stream().await, before + 6, "nothing refused was written");
}

#[tokio::test]
async fn the_actor_on_an_event_is_the_tokens_subject_whatever_the_request_claims() {
    let app = spawn(ServiceRole::All).await;
    let office = token_for(&app.config, Role::Office, &[]);
    let response = client_without_token()
        .post(format!("{}/api/v1/meetings", app.base))
        .bearer_auth(&office)
        .header("x-actor", "someone-else")
        .json(&json!({"kind": "monthly_report", "on": "2022-01-05", "title": "一月汇报会"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let sequence = response.json::<Value>().await.expect("json")["sequence"].as_u64().expect("sequence");
    let stored = app.running.store.get(sequence).await.expect("the event");
    assert_eq!(stored.envelope.actor, "office-user");
    // The harness's own client carries the admin token of the test actor.
    let answer =
        app.post_ok("/api/v1/meetings", &json!({"kind": "monthly_report", "on": "2022-02-07", "title": "二月"})).await;
    assert_eq!(app.running.store.get(answer.sequence()).await.expect("event").envelope.actor, "tester");
}

#[tokio::test]
async fn writes_beyond_a_callers_rate_answer_429_with_retry_after_and_write_nothing() {
    let mut config = unique_config();
    config.write_rate_per_second = 0.01;
    config.write_burst = 2;
    let app = spawn_with(config, ServiceRole::All).await;
    let report = |month: u32| json!({"kind": "monthly_report", "on": format!("2022-{month:02}-05"), "title": "汇报会"});
    for month in 1..=2 {
        app.post_ok("/api/v1/meetings", &report(month)).await;
    }
    let limited = app.command("post", "/api/v1/meetings", &report(3), None, None).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.body["rule"], "write_rate_limit");
    assert!(limited.headers["retry-after"].to_str().expect("ascii").parse::<u64>().expect("seconds") >= 1);
    assert_eq!(app.events_in_stream().await, 2);
    // Reads are not limited, and another caller has a bucket of their own.
    assert_eq!(app.get("/api/v1/meetings", None).await.status, 200);
    let office = token_for(&app.config, Role::Office, &[]);
    let (status, _, _) = send(&app, "post", "/api/v1/meetings", Some(&office), Some(&report(4))).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_request_that_outlives_the_timeout_answers_503_problem_json() {
    // Written with no projector running, the event is never projected.
    let writer = spawn(ServiceRole::Command).await;
    let report = json!({"kind": "monthly_report", "on": "2022-01-05", "title": "汇报会"});
    let sequence = writer.post_ok("/api/v1/meetings", &report).await.sequence();
    let mut config = writer.config.clone();
    config.request_timeout_ms = 200;
    let app = spawn_with(config, ServiceRole::Query).await;
    // Waiting for it takes longer than the limit.
    let answer = app.get(&format!("/api/v1/projects?consistent_with={sequence}&wait_ms=20000"), None).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["type"], "urn:zhaoshang:problem:timeout");
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    // A token beyond the stream's end is the caller's mistake, refused at once.
    let beyond = app.get("/api/v1/projects?consistent_with=1000000", None).await;
    assert_eq!((beyond.status.as_u16(), &beyond.body["errors"][0]["rule"]), (422, &json!("sequence_not_written")));
}

#[tokio::test]
async fn local_mode_creates_a_private_secret_once_and_mints_tokens_the_service_accepts() {
    let mut config = unique_config();
    config.jwt_secret = None;
    config.data_dir = std::env::temp_dir().join(format!("zhaoshang-secret-{}", uuid::Uuid::new_v4().simple()));
    let first = zhaoshang::security::local_secret(&config, true).expect("created").expect("a secret");
    let again = zhaoshang::security::local_secret(&config, true).expect("read").expect("a secret");
    assert_eq!(first, again, "the secret is created once");
    assert!(first.len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(zhaoshang::security::secret_file(&config)).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads the secret");
    }
    let token = zhaoshang::security::mint_local_token(
        &config,
        Role::TaskForce,
        vec!["automotive".to_owned()],
        std::time::Duration::from_secs(600),
        "liaison-wang".to_owned(),
        Some("王联络员".to_owned()),
    )
    .expect("minted");
    let app = spawn_with(config.clone(), ServiceRole::All).await;
    let (status, _, _) = send(&app, "get", "/api/v1/task-forces", Some(&token), None).await;
    assert_eq!(status, 200);
    // In SSO mode a local secret is refused outright.
    let mut sso = config.clone();
    sso.auth_mode = zhaoshang::config::AuthMode::Sso;
    sso.jwt_secret = Some(zhaoshang::config::Secret("x".repeat(40)));
    assert!(zhaoshang::security::local_secret(&sso, true).is_err());
    drop(app);
    let _ = std::fs::remove_dir_all(&config.data_dir);
}

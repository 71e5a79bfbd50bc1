//! What operators see: `/metrics`.

use serde_json::json;
use zhaoshang::system::Role;
use zhaoshang_tests::spawn;

#[tokio::test]
async fn metrics_count_commands_by_result_and_time_appends_projection_and_queries() {
    let app = spawn(Role::All).await;
    let lead = json!({"task_force_id": "automotive", "name": "指标项目", "investor": "投资方",
                      "category": "industrial", "owner": "李荣军", "on": "2022-01-10"});
    let created = app.command("put", "/api/v1/projects/metrics-1", &lead, Some("metrics-key"), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let replayed = app.command("put", "/api/v1/projects/metrics-1", &lead, Some("metrics-key"), None).await;
    assert_eq!(replayed.status, 200);
    let stale = app
        .command("post", "/api/v1/projects/metrics-1/negotiation", &json!({"on": "2022-02-01"}), None, Some(7))
        .await;
    assert_eq!(stale.status, 409);
    let read = app.get("/api/v1/projects/metrics-1", Some(created.sequence())).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let unknown = app.get("/no-such-path-for-metrics", None).await;
    assert_eq!(unknown.status, 404);

    let response = app.client.get(format!("{}/metrics", app.base)).send().await.expect("/metrics answers");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain"));
    let text = response.text().await.expect("text");
    for expected in [
        r#"zhaoshang_commands_total{aggregate="project",endpoint="/api/v1/projects/{id}",result="accepted"}"#,
        r#"zhaoshang_commands_total{aggregate="project",endpoint="/api/v1/projects/{id}",result="replayed"}"#,
        r#"zhaoshang_commands_total{aggregate="project",endpoint="/api/v1/projects/{id}/negotiation",result="conflict"}"#,
        r#"zhaoshang_append_seconds_bucket{aggregate="project""#,
        "zhaoshang_projection_batch_events_bucket",
        "zhaoshang_projection_lag_events",
        "zhaoshang_projection_checkpoint",
        r#"zhaoshang_http_request_seconds_bucket{method="GET",route="/api/v1/projects/{id}",status="200""#,
    ] {
        assert!(text.contains(expected), "/metrics lacks {expected}:\n{text}");
    }
    assert!(!text.contains("no-such-path"), "an unknown path must not become a series");
}

//! The progress table counts exactly as DOMAIN.md says.

use serde_json::{Value, json};
use zhaoshang_tests::{TestApp, spawn_with_plan};

async fn project(app: &TestApp, id: &str, task_force: &str, category: &str, steps: &[(&str, Value)]) -> u64 {
    let lead = json!({"task_force_id": task_force, "name": id, "investor": "投资方", "category": category, "owner": "召集人", "on": "2021-11-01"});
    let mut token = app.command("put", &format!("/api/v1/projects/{id}"), &lead, None, None).await.sequence();
    for (step, body) in steps {
        token = app.post_ok(&format!("/api/v1/projects/{id}/{step}"), body).await.sequence();
    }
    token
}

fn sign(on: &str, agreement: &str, yuan: i64) -> (&'static str, Value) {
    ("signings", json!({"on": on, "agreement": agreement, "investment_yuan": yuan}))
}

fn on(step: &'static str, date: &str) -> (&'static str, Value) {
    (step, json!({"on": date}))
}

fn cell<'a>(row: &'a Value, measure: &str) -> &'a Value {
    row["cells"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["measure"] == measure))
        .unwrap_or_else(|| panic!("no {measure} in {row}"))
}

fn actual(row: &Value, measure: &str) -> u64 {
    cell(row, measure)["actual"].as_u64().expect("actual")
}

fn row<'a>(table: &'a Value, task_force: &str) -> &'a Value {
    table["rows"].as_array().and_then(|r| r.iter().find(|r| r["task_force_id"] == task_force)).expect("row")
}

#[tokio::test]
async fn the_progress_table_counts_as_the_plan_says() {
    let app = spawn_with_plan().await;
    let neg = on("negotiation", "2021-12-01");
    // Automotive: p1 qualifies (industrial 120M) and starts in 2022.
    project(
        &app,
        "p1",
        "automotive",
        "industrial",
        &[
            neg.clone(),
            sign("2022-05-01", "contract", 120_000_000),
            ("company-registration", json!({"on": "2022-06-01", "company_name": "柳州示例有限公司"})),
            on("construction-start", "2022-09-01"),
            on("reserve-entry", "2022-05-02"),
        ],
    )
    .await;
    // p2: a service project below 50M does not qualify.
    project(
        &app,
        "p2",
        "automotive",
        "service",
        &[neg.clone(), sign("2022-06-01", "contract", 40_000_000), on("reserve-entry", "2022-06-02")],
    )
    .await;
    // p3: framework then contract: counted once, in the year of the first signing.
    project(
        &app,
        "p3",
        "automotive",
        "industrial",
        &[neg.clone(), sign("2022-07-01", "framework", 150_000_000), sign("2022-08-01", "contract", 160_000_000)],
    )
    .await;
    // p4: signed in 2021, started in 2022: a start of 2022, not a project led in in 2022.
    project(
        &app,
        "p4",
        "automotive",
        "industrial",
        &[
            neg.clone(),
            sign("2021-12-15", "contract", 200_000_000),
            ("company-registration", json!({"on": "2022-01-05", "company_name": "柳州四号有限公司"})),
            on("construction-start", "2022-03-01"),
        ],
    )
    .await;
    // Machinery: p5 qualifies (service 60M), is dropped later, still counts in its signing year.
    project(
        &app,
        "p5",
        "machinery",
        "service",
        &[
            neg.clone(),
            sign("2022-02-01", "contract", 60_000_000),
            on("reserve-entry", "2022-02-02"),
            ("drop", json!({"on": "2022-10-01", "reason": "投资方战略调整"})),
        ],
    )
    .await;

    let e = |name: &str, role: &str| json!({"name": name, "role": role});
    app.post_ok("/api/v1/activities/held", &json!({"task_force_id": "automotive", "kind": "going_out", "title": "赴上海招商", "on": "2022-04-01", "led_by_principal_leader": true, "destination_cities": ["上海"]})).await;
    app.post_ok("/api/v1/activities/held", &json!({"task_force_id": "automotive", "kind": "inviting_in", "title": "请进来一", "on": "2022-05-10", "enterprises": [e("E1", "target"), e("E2", "target"), e("E3", "target"), e("C1", "chain_leader")]})).await;
    app.post_ok("/api/v1/activities/held", &json!({"task_force_id": "automotive", "kind": "inviting_in", "title": "请进来二", "on": "2022-06-10", "enterprises": [e("E2", "target"), e("E4", "target")]})).await;
    app.post_ok("/api/v1/activities/held", &json!({"task_force_id": "automotive", "kind": "online", "title": "不见面", "on": "2022-07-10", "enterprises": [e("C1", "chain_leader"), e("C2", "chain_leader"), e("E5", "target")]})).await;
    let planned = app.post_ok("/api/v1/activities", &json!({"task_force_id": "automotive", "kind": "going_out", "title": "计划后取消", "on": "2022-08-01", "destination_cities": ["深圳"]})).await;
    let cancelled_id = planned.body["aggregate_id"].as_str().expect("id").to_owned();
    app.post_ok(
        &format!("/api/v1/activities/{cancelled_id}/cancellation"),
        &json!({"on": "2022-07-20", "reason": "日程冲突"}),
    )
    .await;
    app.post_ok(
        "/api/v1/activities",
        &json!({"task_force_id": "automotive", "kind": "online", "title": "只计划未举办", "on": "2022-11-01"}),
    )
    .await;
    app.post_ok("/api/v1/activities/held", &json!({"task_force_id": "machinery", "kind": "online", "title": "机械不见面", "on": "2022-08-10", "enterprises": [e("C1", "chain_leader"), e("C3", "chain_leader")]})).await;

    let dock = |enterprise: &str, role: &str, date: &str| json!({"enterprise": enterprise, "enterprise_role": role, "method": "going_out", "on": date});
    app.post_ok("/api/v1/task-forces/automotive/dockings", &dock("E1", "target", "2022-03-01")).await;
    app.post_ok("/api/v1/task-forces/automotive/dockings", &dock("E1", "target", "2022-04-01")).await;
    app.post_ok("/api/v1/task-forces/automotive/dockings", &dock("E6", "target", "2022-05-01")).await;
    app.post_ok("/api/v1/task-forces/automotive/dockings", &dock("C1", "chain_leader", "2022-05-01")).await;
    app.post_ok("/api/v1/task-forces/automotive/dockings", &dock("E7", "target", "2023-01-05")).await;
    app.post_ok("/api/v1/task-forces/machinery/dockings", &dock("E1", "target", "2022-06-01")).await;

    let meeting = |kind: &str, tf: Option<&str>, date: &str| json!({"kind": kind, "task_force_id": tf, "on": date, "title": "会议"});
    app.post_ok("/api/v1/meetings", &meeting("joint", Some("automotive"), "2022-01-10")).await;
    app.post_ok("/api/v1/meetings", &meeting("joint", Some("automotive"), "2022-02-20")).await;
    app.post_ok("/api/v1/meetings", &meeting("joint", Some("automotive"), "2022-07-01")).await;
    app.post_ok("/api/v1/meetings", &meeting("supervision", Some("automotive"), "2022-05-15")).await;
    app.post_ok("/api/v1/meetings", &meeting("monthly_report", None, "2022-01-05")).await;
    app.post_ok("/api/v1/meetings", &meeting("monthly_report", None, "2022-01-20")).await;
    app.post_ok("/api/v1/meetings", &meeting("monthly_report", None, "2022-02-03")).await;
    let last = app.post_ok("/api/v1/task-forces/automotive/annual-plans", &json!({"year": 2022, "title": "汽车产业链2022年度招商工作方案", "document_ref": "柳科招〔2022〕1号", "document_sha256": "a".repeat(64), "on": "2022-03-01"})).await.sequence();

    let answer = app.get("/api/v1/progress?year=2022", Some(last)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let table = &answer.body;
    let (auto, machinery, total) = (row(table, "automotive"), row(table, "machinery"), &table["total"]);
    let expected = [
        ("projects_led_in", 2, 1, 3),
        ("projects_started", 2, 0, 2),
        ("reserve_quality_projects", 2, 1, 3),
        ("activities", 4, 1, 5),
        ("going_out_activities", 1, 0, 1),
        ("inviting_in_activities", 2, 0, 2),
        ("online_activities", 1, 1, 2),
        ("leader_led_going_out", 1, 0, 1),
        ("target_enterprises_invited", 4, 0, 4),
        ("chain_leaders_met_online", 2, 2, 3),
        ("target_enterprises_docked", 2, 1, 2),
        ("joint_meeting_quarters", 2, 0, 2),
        ("supervision_quarters", 1, 0, 1),
        ("annual_plans", 1, 0, 1),
    ];
    for (measure, a, m, t) in expected {
        assert_eq!((actual(auto, measure), actual(machinery, measure), actual(total, measure)), (a, m, t), "{measure}");
    }
    assert_eq!(actual(total, "monthly_report_meeting_months"), 2);
    // Targets and gaps: per task force from the 1133 action, system-wide from the plan's 2022 figures.
    assert_eq!(cell(auto, "projects_led_in")["target"], 1);
    assert_eq!(cell(auto, "projects_led_in")["gap"], 0);
    assert_eq!(cell(machinery, "target_enterprises_docked")["gap"], 2);
    assert_eq!(cell(total, "projects_led_in")["target"], 5);
    assert_eq!(cell(total, "projects_led_in")["gap"], 2);
    assert_eq!(cell(total, "activities")["target_source"], "system_year");
    assert_eq!(cell(total, "going_out_activities")["target"], 8, "a duty set only per task force sums over the eight");
    assert_eq!(cell(total, "monthly_report_meeting_months")["target"], 12);

    let period = app.get("/api/v1/progress?period=2022-2024", None).await;
    assert_eq!(cell(&period.body["total"], "projects_led_in")["target"], 15);
    assert_eq!(cell(&period.body["total"], "projects_led_in")["target_source"], "system_cumulative");
    assert_eq!(cell(row(&period.body, "automotive"), "projects_led_in")["target"], 3);
    assert_eq!(
        actual(row(&period.body, "automotive"), "target_enterprises_docked"),
        3,
        "E7 docked in 2023 counts in the period"
    );
    assert_eq!(actual(&period.body["total"], "projects_started"), 2);

    let bad = app.get("/api/v1/progress?year=22", None).await;
    assert_eq!((bad.status.as_u16(), bad.body["errors"][0]["field"].as_str()), (422, Some("year")));
}

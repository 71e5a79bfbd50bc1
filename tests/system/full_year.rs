//! One full year (2023) for two task forces through the HTTP API, the way the
//! bureau would record it, checked against every figure of 附件1, the
//! reminders at two dates, and the three downloads read back from XLSX.

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use serde_json::{Value, json};
use zhaoshang_read_model::progress::PeriodRequest;
use zhaoshang_tests::TestApp;

const A: &str = "automotive";
const M: &str = "machinery";

async fn project(app: &TestApp, id: &str, task_force: &str, category: &str, steps: &[(&str, Value)]) {
    let lead = json!({"task_force_id": task_force, "name": format!("{id}项目"), "investor": format!("{id}投资方"),
        "category": category, "owner": "召集人", "on": "2023-01-05"});
    let answer = app.command("put", &format!("/api/v1/projects/{id}"), &lead, None, None).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    for (step, body) in steps {
        app.post_ok(&format!("/api/v1/projects/{id}/{step}"), body).await;
    }
}

fn on(step: &'static str, date: &str) -> (&'static str, Value) {
    (step, json!({"on": date}))
}

fn sign(date: &str, agreement: &str, yuan: i64) -> (&'static str, Value) {
    ("signings", json!({"on": date, "agreement": agreement, "investment_yuan": yuan}))
}

fn enterprises(prefix: &str, role: &str, n: usize) -> Value {
    (1..=n).map(|i| json!({"name": format!("{prefix}{i}有限公司"), "role": role})).collect()
}

async fn activity(app: &TestApp, task_force: &str, kind: &str, on: &str, extra: Value) {
    let mut body = json!({"task_force_id": task_force, "kind": kind, "title": format!("{kind} {on}"), "on": on});
    for (k, v) in extra.as_object().expect("an object") {
        body[k] = v.clone();
    }
    app.post_ok("/api/v1/activities/held", &body).await;
}

async fn meeting(app: &TestApp, kind: &str, task_force: Option<&str>, on: &str) {
    let mut body = json!({"kind": kind, "on": on, "title": format!("{kind} {on}")});
    if let Some(id) = task_force {
        body["task_force_id"] = json!(id);
    }
    app.post_ok("/api/v1/meetings", &body).await;
}

async fn monthly_report(app: &TestApp, task_force: &str, month: u32, on: &str) {
    let body = json!({"task_force_id": task_force, "year": 2023, "month": month, "on": on, "figures": {},
        "progress": "本月按计划推进招商工作。"});
    app.post_ok("/api/v1/monthly-reports", &body).await;
}

async fn dock(app: &TestApp, task_force: &str, enterprise: &str, role: &str, on: &str) {
    let body = json!({"enterprise": enterprise, "enterprise_role": role, "method": "going_out", "on": on});
    app.post_ok(&format!("/api/v1/task-forces/{task_force}/dockings"), &body).await;
}

/// Records the year; returns the last sequence written.
async fn play_2023(app: &TestApp) -> u64 {
    // Automotive: its annual plan and liaison.
    app.post_ok(
        "/api/v1/task-forces/automotive/annual-plans",
        &json!({"year": 2023, "title": "汽车产业链2023年度科技招商工作方案", "document_ref": "柳科重大〔2023〕1号",
            "document_sha256": "a".repeat(64), "on": "2023-01-20"}),
    )
    .await;
    app.post_ok(
        "/api/v1/task-forces/automotive/liaison",
        &json!({"name": "王联络", "department": "市科学技术局重大科", "on": "2023-01-03"}),
    )
    .await;

    // A1: industrial, through every stage; A2: service, qualifying at its framework signing.
    project(
        app,
        "a1",
        A,
        "industrial",
        &[
            on("reserve-entry", "2023-01-10"),
            on("negotiation", "2023-02-01"),
            sign("2023-03-15", "contract", 150_000_000),
            ("company-registration", json!({"on": "2023-04-01", "company_name": "柳州甲公司"})),
            ("funds-arrivals", json!({"on": "2023-05-01", "amount_yuan": 60_000_000})),
            on("construction-start", "2023-06-01"),
            on("production-start", "2023-11-20"),
        ],
    )
    .await;
    project(
        app,
        "a2",
        A,
        "service",
        &[
            on("reserve-entry", "2023-02-05"),
            on("negotiation", "2023-03-01"),
            sign("2023-05-10", "framework", 60_000_000),
        ],
    )
    .await;
    for (id, date) in [("a3", "2023-03-01"), ("a4", "2023-04-01"), ("a5", "2023-08-01")] {
        project(app, id, A, "industrial", &[on("reserve-entry", date)]).await;
    }
    // Machinery: one project signed below the threshold: not counted.
    project(app, "m1", M, "industrial", &[on("negotiation", "2023-02-01"), sign("2023-07-01", "contract", 80_000_000)])
        .await;

    // Activities: automotive holds one of each kind, machinery one going-out;
    // a planned online activity is cancelled and does not count.
    activity(
        app,
        A,
        "going_out",
        "2023-04-12",
        json!({"led_by_principal_leader": true, "destination_cities": ["上海"]}),
    )
    .await;
    let invited = json!({"enterprises": enterprises("目标企业", "target", 5)});
    activity(app, A, "inviting_in", "2023-06-08", invited).await;
    activity(app, A, "online", "2023-09-09", json!({"enterprises": enterprises("链主企业", "chain_leader", 5)})).await;
    activity(app, M, "going_out", "2023-05-05", json!({"destination_cities": ["长沙"]})).await;
    let planned = app
        .post_ok(
            "/api/v1/activities",
            &json!({"task_force_id": A, "kind": "online", "title": "线上对接会", "on": "2023-10-10"}),
        )
        .await;
    let planned_id = planned.body["aggregate_id"].as_str().expect("id").to_owned();
    app.post_ok(
        &format!("/api/v1/activities/{planned_id}/cancellation"),
        &json!({"on": "2023-10-08", "reason": "企业排产冲突，改期"}),
    )
    .await;

    // Dockings: three distinct target enterprises for automotive (one docked
    // twice), a chain leader (not a target), and one shared with machinery.
    for (enterprise, role, date) in [
        ("目标企业1有限公司", "target", "2023-03-03"),
        ("目标企业2有限公司", "target", "2023-04-04"),
        ("目标企业3有限公司", "target", "2023-05-05"),
        ("目标企业1有限公司", "target", "2023-06-06"),
        ("链主企业1有限公司", "chain_leader", "2023-07-07"),
    ] {
        dock(app, A, enterprise, role, date).await;
    }
    dock(app, M, "目标企业1有限公司", "target", "2023-08-08").await;

    // Meetings: automotive's joint meeting and inspection every quarter (two
    // joint meetings in Q1 still make one quarter); machinery's joint meetings
    // in Q1 and Q2 and one inspection; the office's report meeting every month.
    for date in ["2023-01-15", "2023-02-15", "2023-05-15", "2023-08-15", "2023-11-15"] {
        meeting(app, "joint", Some(A), date).await;
    }
    for date in ["2023-03-10", "2023-06-10", "2023-09-10", "2023-12-10"] {
        meeting(app, "supervision", Some(A), date).await;
    }
    for date in ["2023-02-20", "2023-05-20"] {
        meeting(app, "joint", Some(M), date).await;
    }
    meeting(app, "supervision", Some(M), "2023-03-20").await;
    for month in 1..=12 {
        meeting(app, "monthly_report", None, &format!("2023-{month:02}-03")).await;
    }

    // Monthly reports: automotive all twelve, February late (in on 2 March);
    // machinery misses June.
    for month in 1..=12u32 {
        let automotive_on = if month == 2 { "2023-03-02".to_owned() } else { format!("2023-{month:02}-25") };
        monthly_report(app, A, month, &automotive_on).await;
        if month != 6 {
            monthly_report(app, M, month, &format!("2023-{month:02}-26")).await;
        }
    }

    // The office: a service platform, two briefings, and the special fund.
    app.post_ok(
        "/api/v1/service-platforms",
        &json!({"name": "柳州技术转移中心", "relation": "partnered", "task_force_id": A, "on": "2023-05-08"}),
    )
    .await;
    for (quarter, on) in [(1, "2023-04-06"), (2, "2023-07-06")] {
        let id = format!("2023-q{quarter}");
        let body = json!({"year": 2023, "quarter": quarter, "title": format!("简报{id}"),
            "content_sha256": format!("{quarter}").repeat(64), "as_of_sequence": 1, "on": on});
        let answer = app.command("put", &format!("/api/v1/briefings/{id}"), &body, None, None).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    let spent = app
        .post_ok(
            "/api/v1/expenditures",
            &json!({"task_force_id": A, "category": "transport", "amount_yuan": 18_600, "on": "2023-04-13",
                "description": "赴上海招商交通"}),
        )
        .await;
    spent.sequence()
}

fn actuals(row: &Value) -> BTreeMap<String, u64> {
    row["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| (c["measure"].as_str().expect("code").to_owned(), c["actual"].as_u64().expect("actual")))
        .collect()
}

fn expected(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn workbook(bytes: &[u8]) -> Xlsx<Cursor<Vec<u8>>> {
    open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("a readable XLSX")
}

fn cells_text(range: &calamine::Range<Data>) -> Vec<String> {
    range.cells().map(|(_, _, d)| d.to_string()).collect()
}

async fn download(app: &TestApp, path: &str, token: u64) -> Vec<u8> {
    let url = format!("{}{path}&consistent_with={token}&wait_ms=10000", app.base);
    let response = app.client.get(url).send().await.expect("request is sent");
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().await.expect("body").to_vec()
}

#[tokio::test]
async fn a_full_year_for_two_task_forces_adds_up_in_every_report() {
    let app = zhaoshang_tests::spawn_with_plan().await;
    let token = play_2023(&app).await;

    let table = app.get("/api/v1/progress?year=2023", Some(token)).await.body;
    let row =
        |id: &str| table["rows"].as_array().and_then(|r| r.iter().find(|r| r["task_force_id"] == id)).expect("row");
    assert_eq!(
        actuals(row(A)),
        expected(&[
            ("annual_plans", 1),
            ("projects_led_in", 2),
            ("projects_started", 1),
            ("activities", 3),
            ("going_out_activities", 1),
            ("inviting_in_activities", 1),
            ("online_activities", 1),
            ("leader_led_going_out", 1),
            ("target_enterprises_invited", 5),
            ("chain_leaders_met_online", 5),
            ("reserve_quality_projects", 5),
            ("target_enterprises_docked", 3),
            ("joint_meeting_quarters", 4),
            ("supervision_quarters", 4),
            ("monthly_reports", 12),
            ("service_platforms", 1),
        ]),
        "automotive"
    );
    assert_eq!(
        actuals(row(M)),
        expected(&[
            ("annual_plans", 0),
            ("projects_led_in", 0),
            ("projects_started", 0),
            ("activities", 1),
            ("going_out_activities", 1),
            ("inviting_in_activities", 0),
            ("online_activities", 0),
            ("leader_led_going_out", 0),
            ("target_enterprises_invited", 0),
            ("chain_leaders_met_online", 0),
            ("reserve_quality_projects", 0),
            ("target_enterprises_docked", 1),
            ("joint_meeting_quarters", 2),
            ("supervision_quarters", 1),
            ("monthly_reports", 11),
            ("service_platforms", 0),
        ]),
        "machinery"
    );
    for other in
        table["rows"].as_array().expect("rows").iter().filter(|r| r["task_force_id"] != A && r["task_force_id"] != M)
    {
        assert!(actuals(other).values().all(|v| *v == 0), "{} recorded nothing: {other}", other["name"]);
    }
    assert_eq!(
        actuals(&table["total"]),
        expected(&[
            ("annual_plans", 1),
            ("projects_led_in", 2),
            ("projects_started", 1),
            ("activities", 4),
            ("going_out_activities", 2),
            ("inviting_in_activities", 1),
            ("online_activities", 1),
            ("leader_led_going_out", 1),
            ("target_enterprises_invited", 5),
            ("chain_leaders_met_online", 5),
            ("reserve_quality_projects", 5),
            ("target_enterprises_docked", 3),
            ("joint_meeting_quarters", 6),
            ("supervision_quarters", 5),
            ("monthly_reports", 23),
            ("service_platforms", 1),
            ("monthly_report_meeting_months", 12),
            ("briefing_quarters", 2),
        ]),
        "the whole system: docked enterprises are distinct across task forces"
    );
    for cell in row(A)["cells"].as_array().expect("cells") {
        if let (Some(target), Some(actual)) = (cell["target"].as_u64(), cell["actual"].as_u64()) {
            assert_eq!(cell["gap"].as_u64(), Some(target.saturating_sub(actual)), "gap of {cell}");
        }
    }

    // Reminders: on 5 July machinery's June report is overdue; on 5 October
    // its third-quarter joint meeting and inspection are missing.
    let colour = |body: &Value, task_force: &str, duty: &str| -> String {
        let item = body["items"]
            .as_array()
            .and_then(|i| i.iter().find(|i| i["task_force_id"] == task_force && i["duty"] == duty))
            .unwrap_or_else(|| panic!("no {task_force} {duty}"));
        item["colour"].as_str().expect("colour").to_owned()
    };
    let july = app.get("/api/v1/reminders?date=2023-07-05", Some(token)).await.body;
    assert_eq!(colour(&july, M, "monthly_report"), "red", "June's report is missing");
    assert_eq!(colour(&july, A, "monthly_report"), "blue", "June is in; July's is not due yet");
    let october = app.get("/api/v1/reminders?date=2023-10-05", Some(token)).await.body;
    assert_eq!(colour(&october, M, "joint_meeting"), "red", "no joint meeting in Q3");
    assert_eq!(colour(&october, M, "supervision_inspection"), "red", "no inspection in Q3");
    assert_ne!(colour(&october, A, "joint_meeting"), "red", "automotive met every quarter");
    assert_eq!(colour(&october, M, "monthly_report"), "red", "June is still missing in October");

    // Every fact carries its date and when it was recorded; recorded in 2026, 2023's are back-filled.
    let meetings = app.get("/api/v1/meetings?task_force=automotive&kind=joint", Some(token)).await.body;
    let first = &meetings[0];
    assert_eq!((first["held_on"].as_str(), first["backfilled"].as_bool()), (Some("2023-01-15"), Some(true)), "{first}");
    assert!(first["recorded_at"].as_str().is_some_and(|t| t > "2024"), "{first}");
    let activities = app.get("/api/v1/activities?task_force=automotive", Some(token)).await.body;
    assert!(activities.as_array().expect("a list").iter().all(|a| a["backfilled"] == true), "{activities}");

    // The three downloads, read back.
    let x1 = download(&app, "/api/v1/reports/attachment-1?year=2023", token).await;
    let range = workbook(&x1).worksheet_range("附件1 进度统计表").expect("the sheet");
    let measures = table["measures"].as_array().expect("measures");
    let automotive_actuals = actuals(row(A));
    for (j, measure) in measures.iter().enumerate() {
        let code = measure["code"].as_str().expect("code");
        let column = 2 + 3 * u32::try_from(j).expect("few measures") + 1;
        let value = match range.get_value((5, column)) {
            Some(Data::Float(f)) => Some(*f),
            Some(Data::Int(i)) => Some(*i as f64),
            _ => None,
        };
        if let Some(actual) = automotive_actuals.get(code) {
            assert_eq!(value, Some(*actual as f64), "附件1 automotive {code}");
        }
    }
    let x2 = download(&app, "/api/v1/reports/attachment-2?format=xlsx", token).await;
    let reserve = cells_text(&workbook(&x2).worksheet_range("附件2 项目储备库").expect("the sheet"));
    for name in ["a1项目", "a2项目", "a5项目", "m1项目"] {
        assert!(reserve.iter().any(|c| c == name), "附件2 lists {name}");
    }
    let x3 = download(&app, "/api/v1/reports/attachment-3?format=xlsx", token).await;
    let receipt = cells_text(&workbook(&x3).worksheet_range("附件3 联络员回执").expect("the sheet"));
    assert!(receipt.iter().any(|c| c == "王联络"), "附件3 names automotive's liaison");

    // The temporal facts that today's figures come from agree with the
    // current state tables, row by row, for the year and the whole plan.
    let read_model = &app.running.read_model;
    for request in [PeriodRequest::Year(2023), PeriodRequest::Years(2022, 2024)] {
        let facts = read_model.progress(request).await.expect("progress");
        let state = read_model.progress_from_state_tables(request).await.expect("progress");
        assert_eq!(serde_json::to_value(&facts.rows).ok(), serde_json::to_value(&state.rows).ok(), "{request:?}");
        assert_eq!(serde_json::to_value(&facts.total).ok(), serde_json::to_value(&state.total).ok(), "{request:?}");
    }
    // And folding every step of the ledger gives today's 附件2.
    let today = app.get("/api/v1/reports/attachment-2?format=json", Some(token)).await.body;
    let folded = app.get("/api/v1/reports/attachment-2?format=json&as_of=2100-01-01", Some(token)).await.body;
    assert_eq!(today["rows"], folded["rows"]);
}

//! Supervision across time (issue 5): "as of" a date, "as known at" a
//! recorded time, frozen inspection snapshots and comparisons, through HTTP.

use std::collections::BTreeSet;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use serde_json::{Value, json};
use zhaoshang_read_model::progress::PeriodRequest;
use zhaoshang_tests::{TestApp, spawn_with_plan};

fn actual(table: &Value, task_force: &str, measure: &str) -> u64 {
    let row = table["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["task_force_id"] == task_force))
        .unwrap_or_else(|| panic!("no row {task_force} in {table}"));
    let cell = row["cells"]
        .as_array()
        .and_then(|cells| cells.iter().find(|c| c["measure"] == measure))
        .unwrap_or_else(|| panic!("no {measure} in {row}"));
    cell["actual"].as_u64().expect("a count")
}

async fn held(app: &TestApp, kind: &str, on: &str) -> u64 {
    let mut body = json!({"task_force_id": "automotive", "kind": kind, "title": format!("{kind} {on}"), "on": on});
    if kind == "going_out" {
        body["destination_cities"] = json!(["深圳"]);
    }
    app.post_ok("/api/v1/activities/held", &body).await.sequence()
}

async fn ok(app: &TestApp, path: &str, token: u64) -> Value {
    let answer = app.get(path, Some(token)).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    answer.body
}

fn encode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// What the scenario recorded: the inspection, and the events after it.
struct Scenario {
    inspection: String,
    inspection_sequence: u64,
    backdated_q2_activity: u64,
    progress_note: u64,
    platform_reversal: u64,
    reserve_entry: u64,
    august_activity: u64,
    escalation_closure: u64,
}

/// Before the Q2 inspection of 28 June 2023: one going-out activity, a
/// service platform, a qualifying project started, an escalation issued.
/// After it: a Q2 activity recorded late, a progress note (counts nothing),
/// the platform reversed, a second project entered into the reserve in June
/// (recorded late), an August activity, the escalation closed.
async fn scenario(app: &TestApp) -> Scenario {
    held(app, "going_out", "2023-05-10").await;
    let platform = app
        .post_ok(
            "/api/v1/service-platforms",
            &json!({"name": "柳州技术转移中心", "relation": "partnered", "task_force_id": "automotive", "on": "2023-04-01"}),
        )
        .await;
    let platform_id = platform.body["aggregate_id"].as_str().expect("id").to_owned();
    let lead = json!({"task_force_id": "automotive", "name": "汽车轻量化铝合金压铸件项目", "investor": "广东鸿图科技股份有限公司",
        "category": "industrial", "planned_investment_yuan": 200_000_000, "owner": "靳磊", "on": "2023-01-06"});
    let answer = app.command("put", "/api/v1/projects/q1", &lead, None, None).await;
    assert!(answer.status.is_success(), "{}", answer.body);
    app.post_ok("/api/v1/projects/q1/negotiation", &json!({"on": "2023-01-16"})).await;
    app.post_ok(
        "/api/v1/projects/q1/signings",
        &json!({"on": "2023-03-02", "agreement": "contract", "investment_yuan": 200_000_000}),
    )
    .await;
    app.post_ok("/api/v1/projects/q1/company-registration", &json!({"on": "2023-05-01", "company_name": "柳州某公司"}))
        .await;
    app.post_ok("/api/v1/projects/q1/construction-start", &json!({"on": "2023-06-01"})).await;
    let lead2 = json!({"task_force_id": "automotive", "name": "新能源汽车电驱系统项目", "investor": "深圳市汇川技术股份有限公司",
        "category": "industrial", "planned_investment_yuan": 300_000_000, "owner": "靳磊", "on": "2023-02-06"});
    let answer = app.command("put", "/api/v1/projects/q2", &lead2, None, None).await;
    assert!(answer.status.is_success(), "{}", answer.body);
    let escalation = app
        .post_ok(
            "/api/v1/escalations",
            &json!({"task_force_id": "automotive", "duty": "monthly_report", "period": "2023-05", "step": "reminder",
                "on": "2023-06-05", "issued_by": "董秀鸾", "note": "5 月进展报告未报送。"}),
        )
        .await;
    let escalation_id = escalation.body["aggregate_id"].as_str().expect("id").to_owned();

    let inspection = app
        .post_ok(
            "/api/v1/meetings",
            &json!({"kind": "supervision", "task_force_id": "automotive", "on": "2023-06-28", "title": "二季度督导检查"}),
        )
        .await;
    let inspection_id = inspection.body["aggregate_id"].as_str().expect("id").to_owned();

    Scenario {
        inspection: inspection_id,
        inspection_sequence: inspection.sequence(),
        backdated_q2_activity: held(app, "inviting_in", "2023-06-15").await,
        progress_note: app
            .post_ok("/api/v1/projects/q1/progress-notes", &json!({"on": "2023-06-30", "note": "设备安装中。"}))
            .await
            .sequence(),
        platform_reversal: app
            .post_ok(
                &format!("/api/v1/service-platforms/{platform_id}/reversal"),
                &json!({"on": "2023-07-01", "reason": "合作协议未签，误录"}),
            )
            .await
            .sequence(),
        reserve_entry: app.post_ok("/api/v1/projects/q2/reserve-entry", &json!({"on": "2023-06-20"})).await.sequence(),
        august_activity: held(app, "online", "2023-08-01").await,
        escalation_closure: app
            .post_ok(
                &format!("/api/v1/escalations/{escalation_id}/closure"),
                &json!({"on": "2023-07-03", "resolution": "已补报。"}),
            )
            .await
            .sequence(),
    }
}

#[tokio::test]
async fn a_fact_backdated_into_q2_after_the_inspection_changes_as_of_but_not_as_known_at_the_inspection() {
    let app = spawn_with_plan().await;
    let s = scenario(&app).await;
    let last = s.escalation_closure;

    let as_of_q2 = ok(&app, "/api/v1/progress?year=2023&as_of=2023-06-30", last).await;
    assert_eq!(actual(&as_of_q2, "automotive", "activities"), 2, "the late Q2 activity counts as of Q2's end");
    assert_eq!(actual(&as_of_q2, "automotive", "service_platforms"), 0, "reversed since");
    assert_eq!(actual(&as_of_q2, "automotive", "reserve_quality_projects"), 1, "entered in June, recorded late");
    assert_eq!(actual(&as_of_q2, "automotive", "projects_started"), 1);
    assert_eq!(actual(&as_of_q2, "automotive", "projects_led_in"), 1);
    assert_eq!(as_of_q2["as_of"], "2023-06-30");

    let snapshot = ok(&app, &format!("/api/v1/inspections/{}", s.inspection), last).await;
    assert_eq!(snapshot["point"]["known_at_sequence"], s.inspection_sequence);
    assert_eq!(snapshot["point"]["as_of"], "2023-06-28");
    let then = &snapshot["progress"];
    assert_eq!(actual(then, "automotive", "activities"), 1, "the inspection did not know of the late activity");
    assert_eq!(actual(then, "automotive", "service_platforms"), 1, "nor of the reversal");
    assert_eq!(actual(then, "automotive", "reserve_quality_projects"), 0, "nor of the reserve entry");
    assert_eq!(actual(then, "automotive", "projects_started"), 1);

    // The same point asked for by its time rather than its inspection.
    let recorded_at = snapshot["inspection"]["recorded_at"].as_str().expect("recorded_at");
    let known =
        ok(&app, &format!("/api/v1/progress?year=2023&as_of=2023-06-30&known_at={}", encode(recorded_at)), last).await;
    assert_eq!(known["known_at_sequence"], s.inspection_sequence, "{known}");
    assert_eq!(actual(&known, "automotive", "activities"), 1);
    assert_eq!(actual(&known, "automotive", "service_platforms"), 1);

    // 附件1 as known then, as a download.
    let url = format!(
        "{}/api/v1/reports/attachment-1?year=2023&format=json&as_of=2023-06-30&known_at={}",
        app.base,
        encode(recorded_at)
    );
    let attachment: Value = app.client.get(url).send().await.expect("sent").json().await.expect("json");
    assert_eq!(actual(&attachment, "automotive", "activities"), 1);

    // 附件2 as it stood: the reserve entry of 20 June was not known at the
    // inspection; on 15 May the first project stood at its registration.
    let reserve = |body: &Value, id: &str| {
        body["rows"].as_array().and_then(|rows| rows.iter().find(|r| r["id"] == id)).cloned().unwrap_or(Value::Null)
    };
    let then = ok(
        &app,
        &format!("/api/v1/reports/attachment-2?format=json&as_of=2023-06-30&known_at={}", encode(recorded_at)),
        last,
    )
    .await;
    assert_eq!(reserve(&then, "q2")["reserve_entered_on"], Value::Null, "{then}");
    assert_eq!(then["total"]["in_reserve"], 0);
    let now = ok(&app, "/api/v1/reports/attachment-2?format=json&as_of=2023-06-30", last).await;
    assert_eq!(reserve(&now, "q2")["reserve_entered_on"], "2023-06-20");
    assert_eq!(now["total"]["in_reserve"], 1);
    let may = ok(&app, "/api/v1/reports/attachment-2?format=json&as_of=2023-05-15", last).await;
    assert_eq!(reserve(&may, "q1")["stage"], "company_registered", "{may}");
    assert_eq!(reserve(&may, "q1")["construction_started_on"], Value::Null);
    assert_eq!(reserve(&may, "q1")["qualifies"], true);
    let january = ok(&app, "/api/v1/reports/attachment-2?format=json&as_of=2023-01-31", last).await;
    assert_eq!(reserve(&january, "q1")["stage"], "negotiating");
    assert_eq!(reserve(&january, "q2"), Value::Null, "led in on 6 February");
    // With nothing asked, the as-of fold and today's rows agree.
    let today = ok(&app, "/api/v1/reports/attachment-2?format=json", last).await;
    let folded = ok(&app, "/api/v1/reports/attachment-2?format=json&as_of=2100-01-01", last).await;
    assert_eq!(today["rows"], folded["rows"], "folding every step gives today's ledger");

    // The board: the escalation was open when the inspection was recorded,
    // closed now.
    let board_then = ok(
        &app,
        &format!("/api/v1/reminders?date=2023-06-28&task_force=automotive&known_at={}", encode(recorded_at)),
        last,
    )
    .await;
    let report_duty = |board: &Value| {
        board["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["duty"] == "monthly_report"))
            .cloned()
            .unwrap_or_else(|| panic!("no monthly_report duty in {board}"))
    };
    assert_eq!(report_duty(&board_then)["open_escalations"][0]["step"], "reminder", "{board_then}");
    let board_now = ok(&app, "/api/v1/reminders?date=2023-06-28&task_force=automotive", last).await;
    assert_eq!(report_duty(&board_now)["open_escalations"], json!([]));
    let activities_duty = |board: &Value| {
        board["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["duty"] == "activities"))
            .map(|i| i["actual"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(activities_duty(&board_then), 1, "the board counts what was known then");
    assert_eq!(activities_duty(&board_now), 2);

    // Today's table, counted from the temporal facts, equals the same table
    // counted from the current state tables.
    let read_model = &app.running.read_model;
    let facts = read_model.progress(PeriodRequest::Year(2023)).await.expect("progress");
    let state = read_model.progress_from_state_tables(PeriodRequest::Year(2023)).await.expect("progress");
    assert_eq!(
        serde_json::to_value(&facts.rows).expect("json"),
        serde_json::to_value(&state.rows).expect("json"),
        "the facts and the state tables agree"
    );
    assert_eq!(serde_json::to_value(&facts.total).expect("json"), serde_json::to_value(&state.total).expect("json"));
}

#[tokio::test]
async fn a_frozen_snapshot_never_changes_and_a_comparison_lists_exactly_the_events_between_its_points() {
    let app = spawn_with_plan().await;
    held(&app, "going_out", "2023-05-10").await;
    let inspection = app
        .post_ok(
            "/api/v1/meetings",
            &json!({"kind": "supervision", "task_force_id": "automotive", "on": "2023-06-28", "title": "二季度督导检查"}),
        )
        .await;
    let id = inspection.body["aggregate_id"].as_str().expect("id").to_owned();
    let first = ok(&app, &format!("/api/v1/inspections/{id}"), inspection.sequence()).await;
    let s = scenario(&app).await;
    let again = ok(&app, &format!("/api/v1/inspections/{id}"), s.escalation_closure).await;
    assert_eq!(first["progress"]["rows"], again["progress"]["rows"], "a frozen snapshot reads the same forever");
    assert_eq!(first["progress"]["total"], again["progress"]["total"]);
    assert_eq!(first["point"], again["point"]);

    // The scenario's own inspection against now: exactly the counting
    // events recorded after it, and not the progress note.
    let compared = ok(
        &app,
        &format!("/api/v1/supervision/comparison?year=2023&from_inspection={}", s.inspection),
        s.escalation_closure,
    )
    .await;
    let listed: BTreeSet<u64> =
        compared["events"].as_array().expect("events").iter().map(|e| e["sequence"].as_u64().expect("seq")).collect();
    let expected: BTreeSet<u64> =
        [s.backdated_q2_activity, s.platform_reversal, s.reserve_entry, s.august_activity].into();
    assert_eq!(listed, expected, "{compared}");
    assert!(!listed.contains(&s.progress_note), "a progress note changes no figure");
    assert_eq!(compared["events_total"], 4);
    assert_eq!(compared["events_truncated"], false);
    let first_two = ok(
        &app,
        &format!("/api/v1/supervision/comparison?year=2023&from_inspection={}&events_limit=2", s.inspection),
        s.escalation_closure,
    )
    .await;
    assert_eq!(first_two["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(first_two["events_total"], 4);
    assert_eq!(first_two["events_truncated"], true);
    assert_eq!(first_two["events"][0]["sequence"], s.backdated_q2_activity, "oldest first");
    assert_eq!(compared["events_recorded_between"], s.escalation_closure - s.inspection_sequence);
    let automotive = compared["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["task_force_id"] == "automotive"))
        .expect("automotive");
    let cell = |measure: &str| {
        automotive["cells"]
            .as_array()
            .and_then(|cells| cells.iter().find(|c| c["measure"] == measure))
            .cloned()
            .unwrap_or_else(|| panic!("no {measure}"))
    };
    // One going-out activity before each inspection, then a Q2 and an August one.
    assert_eq!(cell("activities")["before"], 2);
    assert_eq!(cell("activities")["after"], 4);
    assert_eq!(cell("activities")["difference"], 2);
    assert_eq!(cell("service_platforms")["difference"], -1);
    assert_eq!(cell("reserve_quality_projects")["difference"], 1);
    assert_eq!(cell("projects_started")["difference"], 0);
    let reversal = compared["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["sequence"] == s.platform_reversal))
        .expect("the reversal");
    assert_eq!(reversal["effects"][0]["change"], "withdrawn");
    assert_eq!(reversal["effects"][0]["measure"], "service_platforms");
    assert!(reversal["actor"].as_str().is_some_and(|a| !a.is_empty()), "who: {reversal}");
    // Every lag flag agrees with its figures.
    for row in compared["rows"].as_array().expect("rows") {
        for c in row["cells"].as_array().expect("cells") {
            if let Some(expected) = c["expected_after"].as_u64() {
                assert_eq!(c["lagging_after"], c["after"].as_u64() < Some(expected), "{c}");
            }
        }
    }

    // Inspection against "as of the end of Q2", as known now: the August
    // activity happened after the second point and is not listed.
    let q2 = ok(
        &app,
        &format!("/api/v1/supervision/comparison?year=2023&from_inspection={}&to_as_of=2023-06-30", s.inspection),
        s.escalation_closure,
    )
    .await;
    let listed: BTreeSet<u64> =
        q2["events"].as_array().expect("events").iter().map(|e| e["sequence"].as_u64().expect("seq")).collect();
    assert_eq!(listed, [s.backdated_q2_activity, s.platform_reversal, s.reserve_entry].into(), "{q2}");

    // The two inspections compared with each other: the second knew of the
    // first's activity and of the scenario's facts before it.
    let between = ok(
        &app,
        &format!("/api/v1/supervision/comparison?year=2023&from_inspection={id}&to_inspection={}", s.inspection),
        s.escalation_closure,
    )
    .await;
    assert_eq!(between["to"]["known_at_sequence"], s.inspection_sequence);

    // As a workbook with Chinese headings: the figures and the events.
    let url =
        format!("{}/api/v1/supervision/comparison?year=2023&from_inspection={}&format=xlsx", app.base, s.inspection);
    let response = app.client.get(url).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str().expect("ascii").to_owned();
    assert!(disposition.contains("comparison-2023.xlsx"), "{disposition}");
    let bytes = response.bytes().await.expect("body").to_vec();
    let mut book: Xlsx<Cursor<Vec<u8>>> = open_workbook_from_rs(Cursor::new(bytes)).expect("a readable XLSX");
    assert_eq!(book.sheet_names(), vec!["对比".to_owned(), "变化事件".to_owned()]);
    let figures = book.worksheet_range("对比").expect("figures");
    let text: Vec<String> = figures.cells().map(|(_, _, d)| d.to_string()).collect();
    assert!(text.iter().any(|t| t == "落后情况"), "headings: {text:?}");
    assert!(text.iter().any(|t| t == "汽车产业链专班" || t.contains("汽车")), "task forces by name");
    let events = book.worksheet_range("变化事件").expect("events");
    let sequences: BTreeSet<u64> = events
        .rows()
        .filter_map(|row| match row.first() {
            Some(Data::Float(f)) => Some(*f as u64),
            Some(Data::Int(i)) => u64::try_from(*i).ok(),
            _ => None,
        })
        .collect();
    assert_eq!(sequences, expected, "the events sheet lists the same events");
}

#[tokio::test]
async fn bad_points_are_refused_with_the_field_and_the_rule() {
    let app = spawn_with_plan().await;
    let cases = [
        ("/api/v1/progress?year=2023&known_at=yesterday", "known_at", "rfc3339_time"),
        ("/api/v1/progress?year=2023&as_of=2023-13-01", "as_of", "date_format"),
        ("/api/v1/supervision/comparison?year=2023&from_inspection=none", "from_inspection", "inspection_exists"),
        ("/api/v1/supervision/comparison?year=2023", "from_inspection", "from_point_required"),
        (
            "/api/v1/supervision/comparison?from_inspection=x&from_as_of=2023-06-30",
            "from_inspection",
            "inspection_alone",
        ),
        ("/api/v1/supervision/comparison?from_as_of=2023-06-30&format=pdf", "format", "allowed_values"),
        ("/api/v1/reminders?known_at=2023-07-05", "known_at", "rfc3339_time"),
        ("/api/v1/supervision/comparison?from_as_of=2023-06-30&events_limit=0", "events_limit", "events_limit_range"),
    ];
    for (path, field, rule) in cases {
        let answer = app.get(path, None).await;
        assert_eq!(answer.status, 422, "{path}: {}", answer.body);
        assert_eq!(answer.body["errors"][0]["field"], field, "{path}: {}", answer.body);
        assert_eq!(answer.body["errors"][0]["rule"], rule, "{path}: {}", answer.body);
    }
    assert_eq!(app.get("/api/v1/inspections/none", None).await.status, 404);
    let listed = app.get("/api/v1/inspections?year=2023", None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body, json!([]));
}

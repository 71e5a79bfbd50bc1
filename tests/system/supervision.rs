//! Supervision through HTTP: monthly reports on time, late and missing;
//! reminders at two dates; an escalation climbing the ladder and answered.

use serde_json::{Value, json};
use zhaoshang_tests::{TestApp, spawn_with_plan};

fn report(task_force: &str, year: i32, month: u32, on: &str) -> Value {
    json!({
        "task_force_id": task_force,
        "year": year,
        "month": month,
        "on": on,
        "figures": {"projects_signed": 1, "qualifying_projects_signed": 1, "going_out_activities": 1},
        "progress": "本月赴外地开展招商推介一次，签约项目一个。",
        "problems": "项目用地指标待协调。"
    })
}

fn month_row<'a>(view: &'a Value, task_force: &str, month: u64) -> &'a Value {
    view["reports"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["task_force_id"] == task_force && r["month"] == month))
        .unwrap_or_else(|| panic!("no {task_force} month {month} in {view}"))
}

fn duty<'a>(status: &'a Value, task_force: &str, duty: &str) -> &'a Value {
    status["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["task_force_id"] == task_force && i["duty"] == duty))
        .unwrap_or_else(|| panic!("no {task_force} {duty} in {status}"))
}

fn colour(status: &Value, task_force: &str, duty_code: &str) -> String {
    let item = duty(status, task_force, duty_code);
    item["colour"].as_str().unwrap_or_else(|| panic!("no colour in {item}")).to_owned()
}

async fn refused(app: &TestApp, path: &str, body: &Value, status: u16) -> Value {
    let before = app.events_in_stream().await;
    let answer = app.command("post", path, body, None, None).await;
    assert_eq!(answer.status.as_u16(), status, "{path}: {}", answer.body);
    assert_eq!(
        answer.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "a refusal is a problem document"
    );
    assert_eq!(app.events_in_stream().await, before, "a refused command writes nothing");
    answer.body
}

#[tokio::test]
async fn monthly_reports_show_on_time_late_and_missing_and_an_amendment_keeps_the_first_date() {
    let app = spawn_with_plan().await;
    // January on time (the 20th), February late (due the 28th, in on 3 March),
    // March never, April not due yet on 10 April.
    let january = app.post_ok("/api/v1/monthly-reports", &report("automotive", 2023, 1, "2023-01-20")).await;
    assert_eq!(january.body["aggregate_id"], "automotive-2023-01", "one report per task force and month");
    app.post_ok("/api/v1/monthly-reports", &report("automotive", 2023, 2, "2023-03-03")).await;
    let amended = app
        .post_ok(
            "/api/v1/monthly-reports/automotive-2023-01/amendments",
            &json!({
                "on": "2023-02-05",
                "reason": "漏报一次“请进来”活动。",
                "figures": {"projects_signed": 1, "qualifying_projects_signed": 1, "going_out_activities": 1, "inviting_in_activities": 1},
                "progress": "本月赴外地开展招商推介一次，邀请企业来柳考察一次，签约项目一个。"
            }),
        )
        .await;
    let token = amended.sequence();

    let view = app.get("/api/v1/monthly-reports?task_force=automotive&year=2023&date=2023-04-10", Some(token)).await;
    assert_eq!(view.status, 200, "{}", view.body);
    let body = &view.body;
    let jan = month_row(body, "automotive", 1);
    assert_eq!(jan["status"], "on_time", "an amendment never changes the first submission: {jan}");
    assert_eq!(jan["submitted_on"], "2023-01-20");
    assert_eq!(jan["amendments"], 1);
    assert_eq!(jan["figures"]["inviting_in_activities"], 1, "the figures are the amended ones");
    assert_eq!(jan["backfilled"], true, "recorded years after 2023: back-filled");
    assert!(jan["recorded_at"].as_str().is_some_and(|t| t > "2024"), "recorded time beside the date: {jan}");
    let feb = month_row(body, "automotive", 2);
    assert_eq!(feb["due_on"], "2023-02-28", "February is due on its last day");
    assert_eq!(feb["status"], "late");
    assert_eq!(feb["days_late"], 3);
    let mar = month_row(body, "automotive", 3);
    assert_eq!(mar["due_on"], "2023-03-30");
    assert_eq!(mar["status"], "missing");
    assert_eq!(month_row(body, "automotive", 4)["status"], "pending");
    assert!(body["reports"].as_array().is_some_and(|r| r.len() == 4), "months not begun are not listed");
    assert_eq!(body["counts"], json!({"on_time": 1, "late": 1, "missing": 1, "pending": 1}));

    // On 1 March, February's report had not come in: it was missing then.
    let earlier = app.get("/api/v1/monthly-reports?task_force=automotive&year=2023&date=2023-03-01", None).await;
    assert_eq!(month_row(&earlier.body, "automotive", 2)["status"], "missing");
    // Every task force is listed; machinery reported nothing.
    let all = app.get("/api/v1/monthly-reports?year=2023&date=2023-04-10", None).await;
    assert_eq!(month_row(&all.body, "machinery", 1)["status"], "missing");

    // The progress table counts the months with a report, on time or late.
    let progress = app.get("/api/v1/progress?year=2023", None).await;
    let automotive = progress.body["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["task_force_id"] == "automotive"))
        .expect("automotive's row");
    let reports = automotive["cells"]
        .as_array()
        .and_then(|cells| cells.iter().find(|c| c["measure"] == "monthly_reports"))
        .expect("a monthly_reports cell");
    assert_eq!(reports["actual"], 2);
    assert_eq!(reports["target"], 12);
    assert_eq!(reports["gap"], 10);

    let history = app.get("/api/v1/monthly-reports/automotive-2023-01", None).await;
    let entries = history.body["history"].as_array().expect("history");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["event_type"], "monthly_report.amended.v1");
    assert_eq!(entries[1]["reason"], "漏报一次“请进来”活动。");

    // A second report for the same month is refused: amend it instead.
    let again = refused(&app, "/api/v1/monthly-reports", &report("automotive", 2023, 1, "2023-01-25"), 409).await;
    assert_eq!(again["rule"], "must_not_exist");
    let bad_month = refused(&app, "/api/v1/monthly-reports", &report("automotive", 2023, 13, "2023-01-25"), 422).await;
    assert_eq!(bad_month["errors"][0]["field"], "month");
    assert_eq!(bad_month["errors"][0]["rule"], "month_range");
    let early = refused(&app, "/api/v1/monthly-reports", &report("automotive", 2023, 5, "2023-04-28"), 422).await;
    assert_eq!(early["errors"][0]["rule"], "not_before_month");
    let bad_date = app.get("/api/v1/monthly-reports?date=2023-02-30", None).await;
    assert_eq!(bad_date.status, 422);
    assert_eq!(bad_date.body["errors"][0]["field"], "date");
}

#[tokio::test]
async fn reminders_at_two_dates_differ_as_expected() {
    let app = spawn_with_plan().await;
    for (month, on) in [(1, "2023-01-28"), (2, "2023-02-27"), (3, "2023-03-20")] {
        app.post_ok("/api/v1/monthly-reports", &report("automotive", 2023, month, on)).await;
    }
    let meeting = |kind: &str, on: &str| json!({"kind": kind, "task_force_id": "automotive", "on": on, "title": "汽车产业链招商专班会议"});
    app.post_ok("/api/v1/meetings", &meeting("joint", "2023-02-15")).await;
    app.post_ok("/api/v1/meetings", &meeting("supervision", "2023-03-10")).await;
    let last = app
        .post_ok(
            "/api/v1/activities/held",
            &json!({"task_force_id": "automotive", "kind": "going_out", "title": "赴柳东对接", "on": "2023-02-01", "destination_cities": ["上海"]}),
        )
        .await;
    let token = last.sequence();

    // 25 March 2023: the first quarter is nearly over.
    let march = app.get("/api/v1/reminders?date=2023-03-25", Some(token)).await;
    assert_eq!(march.status, 200, "{}", march.body);
    let m = &march.body;
    assert_eq!(colour(m, "automotive", "monthly_report"), "green", "March is in, nothing missing");
    assert_eq!(colour(m, "automotive", "joint_meeting"), "green");
    assert_eq!(colour(m, "automotive", "supervision_inspection"), "green");
    assert_eq!(colour(m, "automotive", "activities"), "blue", "one of three done, ahead of pace");
    assert_eq!(colour(m, "automotive", "projects_led_in"), "blue", "one a year: not due before December");
    assert_eq!(colour(m, "machinery", "monthly_report"), "red", "January and February missing");
    assert!(duty(m, "machinery", "monthly_report")["why"].as_str().is_some_and(|w| w.contains("1月、2月")));
    assert_eq!(colour(m, "machinery", "joint_meeting"), "yellow", "six days left in the quarter");
    assert_eq!(colour(m, "machinery", "activities"), "blue", "none due by pro rata yet");

    // 3 May 2023: April's report is overdue, the first activity is due pro rata.
    let may = app.get("/api/v1/reminders?date=2023-05-03", None).await;
    let y = &may.body;
    assert_eq!(colour(y, "automotive", "monthly_report"), "red", "April's report missing since 30 April");
    assert!(duty(y, "automotive", "monthly_report")["why"].as_str().is_some_and(|w| w.contains("4月")));
    assert_eq!(colour(y, "automotive", "joint_meeting"), "blue", "Q1 held; Q2 ends 30 June");
    assert_eq!(colour(y, "automotive", "activities"), "blue", "one done, one expected");
    let machinery_activities = duty(y, "machinery", "activities");
    assert_eq!(machinery_activities["colour"], "red", "{machinery_activities}");
    assert_eq!(machinery_activities["expected"], 1);
    assert_eq!(machinery_activities["actual"], 0);
    assert_eq!(machinery_activities["colour_label"], "红");
    assert_eq!(colour(y, "machinery", "joint_meeting"), "red", "no joint meeting in Q1");
    assert_ne!(march.body["counts"], may.body["counts"]);

    // Only the reds, when asked.
    let reds = app.get("/api/v1/reminders?date=2023-05-03&colour=red", None).await;
    let items = reds.body["items"].as_array().expect("items");
    assert!(!items.is_empty() && items.iter().all(|i| i["colour"] == "red"));
    assert_eq!(app.get("/api/v1/reminders?colour=purple", None).await.status, 422);

    // The status board is the same judgement as a grid.
    let board = app.get("/api/v1/status-board?date=2023-05-03", None).await;
    assert_eq!(board.status, 200, "{}", board.body);
    let rows = board.body["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 8, "the plan's eight task forces");
    let duties = board.body["duties"].as_array().expect("duties").len();
    let machinery = rows.iter().find(|r| r["task_force_id"] == "machinery").expect("machinery");
    assert_eq!(machinery["worst_colour"], "red");
    assert_eq!(machinery["cells"].as_array().map(Vec::len), Some(duties));
    assert_eq!(board.body["legend"].as_array().map(Vec::len), Some(4));
    assert_eq!(app.get("/api/v1/status-board?date=2019-05-03", None).await.status, 404, "no plan covers 2019");
}

#[tokio::test]
async fn an_escalation_climbs_the_ladder_and_the_response_is_recorded() {
    let app = spawn_with_plan().await;
    let step = |step: &str, on: &str| {
        json!({
            "task_force_id": "machinery", "duty": "monthly_report", "period": "2023-01", "step": step,
            "on": on, "issued_by": "董秀鸾", "note": "1 月进展报告未报送，请尽快报送。"
        })
    };
    let reminder = app.post_ok("/api/v1/escalations", &step("reminder", "2023-02-01")).await;
    let id = reminder.body["aggregate_id"].as_str().expect("id").to_owned();
    assert_eq!(id, "machinery-monthly_report-2023-01");
    app.post_ok(
        &format!("/api/v1/escalations/{id}/responses"),
        &json!({"on": "2023-02-02", "responder": "联络员", "response": "联络员出差，2 月 6 日前补报。"}),
    )
    .await;
    let skipped = refused(&app, "/api/v1/escalations", &step("circular", "2023-02-08"), 422).await;
    assert_eq!(skipped["rule"], "ladder_order");
    app.post_ok("/api/v1/escalations", &step("chase_notice", "2023-02-08")).await;
    let order = app.post_ok("/api/v1/escalations", &step("supervision_order", "2023-02-15")).await;

    let open = app.get("/api/v1/escalations?task_force=machinery&open=true", Some(order.sequence())).await;
    assert_eq!(open.status, 200, "{}", open.body);
    let matters = open.body.as_array().expect("a list");
    assert_eq!(matters.len(), 1);
    let matter = &matters[0];
    assert_eq!(matter["step"], "supervision_order");
    assert_eq!(matter["step_label"], "督办");
    assert_eq!(matter["answered"], false, "the new step is not answered yet");
    let history = matter["history"].as_array().expect("history");
    let kinds: Vec<&str> = history.iter().filter_map(|h| h["event_type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "escalation.step_issued.v1",
            "escalation.responded.v1",
            "escalation.step_issued.v1",
            "escalation.step_issued.v1"
        ]
    );
    assert_eq!(history[1]["content"], "联络员出差，2 月 6 日前补报。");
    assert_eq!(history[1]["person"], "联络员");
    assert_eq!(history[0]["step_label"], "提醒");

    // The office sees the open matter beside the lagging duty.
    let reminders = app.get("/api/v1/reminders?date=2023-02-20&task_force=machinery", None).await;
    let report_duty = duty(&reminders.body, "machinery", "monthly_report");
    assert_eq!(report_duty["colour"], "red");
    assert_eq!(report_duty["open_escalations"][0]["step"], "supervision_order");

    let closed = app
        .post_ok(
            &format!("/api/v1/escalations/{id}/closure"),
            &json!({"on": "2023-02-20", "resolution": "1 月进展报告已于 2 月 16 日补报。"}),
        )
        .await;
    let open_now = app.get("/api/v1/escalations?task_force=machinery&open=true", Some(closed.sequence())).await;
    assert_eq!(open_now.body, json!([]));
    let done = app.get("/api/v1/escalations?task_force=machinery&open=false", None).await;
    assert_eq!(done.body[0]["resolution"], "1 月进展报告已于 2 月 16 日补报。");
    let late_answer = refused(
        &app,
        &format!("/api/v1/escalations/{id}/responses"),
        &json!({"on": "2023-02-21", "responder": "联络员", "response": "已补报。"}),
        422,
    )
    .await;
    assert_eq!(late_answer["rule"], "matter_closed");
    let wrong_period = refused(
        &app,
        "/api/v1/escalations",
        &json!({"task_force_id": "machinery", "duty": "joint_meeting", "period": "2023-01", "step": "reminder",
                "on": "2023-02-01", "issued_by": "董秀鸾", "note": "一季度联席会未召开。"}),
        422,
    )
    .await;
    assert_eq!(wrong_period["errors"][0]["rule"], "period_format");
    let unknown_duty = refused(
        &app,
        "/api/v1/escalations",
        &json!({"task_force_id": "machinery", "duty": "karaoke", "period": "2023", "step": "reminder",
                "on": "2023-02-01", "issued_by": "董秀鸾", "note": "？"}),
        422,
    )
    .await;
    assert_eq!(unknown_duty["errors"][0]["field"], "duty", "{unknown_duty}");
    assert_eq!(unknown_duty["errors"][0]["rule"], "known_duty");

    // The endpoints are in the published API description.
    let openapi = app.get("/openapi.json", None).await;
    for (path, method) in [
        ("/api/v1/monthly-reports", "post"),
        ("/api/v1/monthly-reports", "get"),
        ("/api/v1/monthly-reports/{id}/amendments", "post"),
        ("/api/v1/escalations", "post"),
        ("/api/v1/escalations", "get"),
        ("/api/v1/escalations/{id}/responses", "post"),
        ("/api/v1/escalations/{id}/closure", "post"),
        ("/api/v1/reminders", "get"),
        ("/api/v1/status-board", "get"),
    ] {
        assert!(openapi.body["paths"][path][method].is_object(), "{method} {path} is documented");
    }
}

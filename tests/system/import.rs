//! Importing filled-in templates: every row checked before any is written,
//! bad rows named by row, column and rule, and a re-post writes nothing twice.

use serde_json::{Value, json};
use zhaoshang_tests::{TestApp, spawn_with_plan};

/// A CSV file as the bureau fills in the template: headings, the rule row, then rows.
async fn csv_file(app: &TestApp, kind: &str, rows: &[&[&str]]) -> Vec<u8> {
    let templates = app.get("/api/v1/import-templates", None).await.body;
    let template = templates.as_array().and_then(|t| t.iter().find(|t| t["kind"] == kind)).expect("template");
    let columns = template["columns"].as_array().expect("columns");
    let line = |cells: Vec<String>| {
        cells.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect::<Vec<_>>().join(",")
    };
    let mut text = String::from("\u{feff}");
    text.push_str(&line(columns.iter().map(|c| c["heading"].as_str().unwrap_or_default().to_owned()).collect()));
    text.push('\n');
    text.push_str(&line(columns.iter().map(|c| c["rule"].as_str().unwrap_or_default().to_owned()).collect()));
    text.push('\n');
    for row in rows {
        text.push_str(&line(row.iter().map(|c| (*c).to_owned()).collect()));
        text.push('\n');
    }
    text.into_bytes()
}

async fn post_file(app: &TestApp, kind: &str, file: Vec<u8>) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/imports/{kind}", app.base))
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .expect("request is sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Each error of a problem document as (row, column, rule).
fn named_errors(problem: &Value) -> Vec<(u64, &str, &str)> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (e["row"].as_u64().unwrap_or(0), e["column"].as_str().unwrap_or(""), e["rule"].as_str().unwrap_or("")))
        .collect()
}

#[tokio::test]
async fn an_import_checks_every_row_first_and_resumes_without_writing_twice() {
    let app = spawn_with_plan().await;
    let before = app.events_in_stream().await;

    // Row 3 is fine, row 4 has a bad category and a bad amount, row 5 is dated in the future.
    let bad = csv_file(
        &app,
        "project-leads",
        &[
            &["imp-1", "automotive", "动力电池项目", "甲投资方", "工业", "15000", "靳磊", "2023-01-05"],
            &["imp-2", "automotive", "电控项目", "乙投资方", "制造业", "1.234567", "靳磊", "2023-01-06"],
            &["imp-3", "machinery", "液压件项目", "丙投资方", "服务业", "", "伍国荣", "2099-01-01"],
        ],
    )
    .await;
    let (status, problem) = post_file(&app, "project-leads", bad).await;
    assert_eq!(status, 422, "{problem}");
    let named = named_errors(&problem);
    assert_eq!(named, [(4, "项目类别", "allowed_values"), (4, "计划投资（万元）", "amount_in_wan")], "cells first");
    assert_eq!(app.events_in_stream().await, before, "a file with a bad row writes nothing");

    let future = csv_file(
        &app,
        "project-leads",
        &[
            &["imp-1", "automotive", "动力电池项目", "甲投资方", "工业", "15000", "靳磊", "2023-01-05"],
            &["imp-3", "machinery", "液压件项目", "丙投资方", "服务业", "", "伍国荣", "2099-01-01"],
        ],
    )
    .await;
    let (status, problem) = post_file(&app, "project-leads", future).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["row"], 4, "rows are numbered as the sheet numbers them");
    assert_eq!(problem["errors"][0]["column"], "线索日期", "the rules of the command itself: {problem}");
    assert_eq!(problem["errors"][0]["rule"], "not_in_future");
    assert_eq!(app.events_in_stream().await, before, "nothing written");

    let leads = csv_file(
        &app,
        "project-leads",
        &[
            &["imp-1", "automotive", "动力电池项目", "甲投资方", "工业", "15000", "靳磊", "2023-01-05"],
            &["imp-2", "automotive", "电控项目", "乙投资方", "服务业", "6000.5", "靳磊", "2023-01-06"],
        ],
    )
    .await;
    let (status, report) = post_file(&app, "project-leads", leads.clone()).await;
    assert_eq!(status, 201, "{report}");
    assert_eq!((report["rows"].as_u64(), report["written"].as_u64()), (Some(2), Some(2)));
    let (status, again) = post_file(&app, "project-leads", leads).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!((again["written"].as_u64(), again["already_imported"].as_u64()), (Some(0), Some(2)), "resumable");
    assert_eq!(app.events_in_stream().await, before + 2);

    let project = app.get("/api/v1/projects/imp-2", Some(report["sequence"].as_u64().expect("sequence"))).await.body;
    assert_eq!(project["planned_investment_yuan"], 60_005_000, "万元 become exact yuan");
    assert_eq!(project["category"], "service");

    // A signing file: the first row signs before negotiation, so the whole file is refused;
    // rows are judged against the file's earlier rows too.
    let negotiation = app.post_ok("/api/v1/projects/imp-1/negotiation", &serde_json::json!({"on": "2023-02-01"})).await;
    let signings = csv_file(
        &app,
        "project-signings",
        &[&["imp-1", "2023-03-01", "框架协议", "12000", ""], &["imp-1", "2023-04-01", "框架协议", "13000", ""]],
    )
    .await;
    let (status, problem) = post_file(&app, "project-signings", signings).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["row"], 4, "the second framework signing breaks a rule: {problem}");
    assert_eq!(app.events_in_stream().await, negotiation.sequence());
    let signings =
        csv_file(&app, "project-signings", &[&["imp-1", "2023-03-01", "框架协议", "12000", "柳东协议"]]).await;
    let (status, report) = post_file(&app, "project-signings", signings).await;
    assert_eq!(status, 201, "{report}");
    let table = app.get("/api/v1/progress?year=2023", Some(report["sequence"].as_u64().expect("sequence"))).await.body;
    let led_in = table["total"]["cells"].as_array().and_then(|c| c.iter().find(|c| c["measure"] == "projects_led_in"));
    assert_eq!(led_in.expect("cell")["actual"], 1, "an imported signing counts like a live one");

    // The XLSX template, posted as downloaded, is read (and has no rows).
    let url = format!("{}/api/v1/import-templates/dockings.xlsx", app.base);
    let xlsx = app.client.get(url).send().await.expect("template").bytes().await.expect("bytes").to_vec();
    let (status, empty) = post_file(&app, "dockings", xlsx).await;
    assert_eq!(status, 201, "{empty}");
    assert_eq!(empty["rows"], 0);
    // A task force's member imports only its own task force's facts: the whole file is refused.
    let token = zhaoshang_tests::token_for(&app.config, zhaoshang_http::auth::Role::TaskForce, &["machinery"]);
    let theirs =
        csv_file(&app, "dockings", &[&["automotive", "某目标企业", "目标企业", "走出去", "2023-05-05", "", ""]]).await;
    let before = app.events_in_stream().await;
    let response = zhaoshang_tests::client_without_token()
        .post(format!("{}/api/v1/imports/dockings", app.base))
        .bearer_auth(token)
        .body(theirs)
        .send()
        .await
        .expect("request is sent");
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("a problem document");
    assert_eq!(problem["errors"][0]["rule"], "not_yours_to_record", "{problem}");
    assert_eq!(app.events_in_stream().await, before, "nothing written");

    let (status, unknown) = post_file(&app, "budgets", b"x".to_vec()).await;
    assert_eq!(status, 404, "{unknown}");
}

#[tokio::test]
async fn platforms_spending_and_talent_are_imported_counted_and_checked_like_live_records() {
    let app = spawn_with_plan().await;
    let before = app.events_in_stream().await;

    // A bad file: an unknown spending category, people in words, a talent
    // record over the domain's limit (a rule, not a cell format). Nothing is written.
    let bad =
        csv_file(&app, "expenditures", &[&["automotive", "差旅", "1.86", "2023-04-08", "赴深圳招商交通费", "JZ-01"]])
            .await;
    let (status, problem) = post_file(&app, "expenditures", bad).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        (problem["errors"][0]["column"].as_str(), problem["errors"][0]["rule"].as_str()),
        (Some("支出类别"), Some("allowed_values"))
    );
    let bad = csv_file(
        &app,
        "talent-introductions",
        &[
            &["automotive", "电控研发团队", "六", "", "", "2023-07-01"],
            &["automotive", "整建制引进的研究院", "1200", "", "", "2023-07-02"],
        ],
    )
    .await;
    let (status, problem) = post_file(&app, "talent-introductions", bad).await;
    assert_eq!(status, 422, "{problem}");
    let named = named_errors(&problem);
    assert_eq!(named, [(3, "人数", "whole_number")], "cells are checked first, for the whole file");
    let bad =
        csv_file(&app, "talent-introductions", &[&["automotive", "整建制引进的研究院", "1200", "", "", "2023-07-02"]])
            .await;
    let (status, problem) = post_file(&app, "talent-introductions", bad).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        (problem["errors"][0]["column"].as_str(), problem["errors"][0]["rule"].as_str()),
        (Some("人数"), Some("people_in_range"))
    );
    assert_eq!(app.events_in_stream().await, before, "refused files write nothing");

    // Good files, each posted twice: the second post writes nothing.
    let imports: [(&str, &[&[&str]]); 3] = [
        (
            "service-platforms",
            &[&["柳州汽车检测公共服务平台", "合作", "automotive", "检测中心", "2023-04-02", "合作协议 2023-07 号", ""]],
        ),
        (
            "expenditures",
            &[
                &["automotive", "交通保障", "1.86", "2023-04-08", "赴深圳招商交通费", "JZ-01"],
                &["", "委托招商", "12.5", "2023-05-06", "委托第三方机构招商服务费", "JZ-02"],
            ],
        ),
        ("talent-introductions", &[&["automotive", "电控研发团队", "6", "高层次人才", "某汽车企业", "2023-07-01"]]),
    ];
    let mut sequence = 0;
    for (kind, rows) in imports {
        let file = csv_file(&app, kind, rows).await;
        let (status, report) = post_file(&app, kind, file.clone()).await;
        assert_eq!(status, 201, "{kind}: {report}");
        assert_eq!(report["written"], rows.len(), "{kind}: {report}");
        let (status, again) = post_file(&app, kind, file).await;
        assert_eq!(status, 201, "{kind}: {again}");
        assert_eq!((again["written"].as_u64(), again["already_imported"].as_u64()), (Some(0), Some(rows.len() as u64)));
        sequence = sequence.max(report["sequence"].as_u64().expect("sequence"));
    }
    assert_eq!(app.events_in_stream().await, before + 4, "one event per row, once");

    // They count exactly as records made through the API.
    let table = app.get("/api/v1/progress?year=2023", Some(sequence)).await.body;
    let platforms =
        table["total"]["cells"].as_array().and_then(|c| c.iter().find(|c| c["measure"] == "service_platforms"));
    assert_eq!(platforms.expect("cell")["actual"], 1, "{table}");
    let spending = app.get("/api/v1/expenditures?year=2023", Some(sequence)).await.body;
    let totals = spending["totals"].as_array().expect("totals");
    let row = |task_force: Value, category: Value| {
        totals.iter().find(|t| {
            let all_task_forces = task_force == "*";
            let all_categories = category == "*";
            t["all_task_forces"] == all_task_forces
                && t["all_categories"] == all_categories
                && (all_task_forces || t["task_force_id"] == task_force)
                && (all_categories || t["category"] == category)
        })
    };
    let total = |task_force: Value, category: Value| row(task_force, category).map(|t| t["total_yuan"].clone());
    assert_eq!(total(json!("*"), json!("*")), Some(json!(18_600 + 125_000)), "{spending}");
    assert_eq!(total(json!("automotive"), json!("transport")), Some(json!(18_600)));
    // The office's own spending is its own row, not confused with the totals.
    assert_eq!(total(Value::Null, json!("*")), Some(json!(125_000)), "{spending}");
    assert_eq!(total(json!("*"), json!("commissioned_promotion")), Some(json!(125_000)));
    assert_eq!(totals.len(), 7, "task force × category, task force, category, overall: {spending}");
    let people = app.get("/api/v1/talent-introductions?year=2023", Some(sequence)).await.body;
    assert_eq!(people[0]["people"], 6, "{people}");
    assert_eq!(people[0]["level"], "高层次人才", "{people}");
}

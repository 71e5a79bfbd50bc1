//! Importing filled-in templates: every row checked before any is written,
//! bad rows named by row, column and rule, and a re-post writes nothing twice.

use serde_json::Value;
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
    let named: Vec<(u64, &str, &str)> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (e["row"].as_u64().unwrap_or(0), e["column"].as_str().unwrap_or(""), e["rule"].as_str().unwrap_or("")))
        .collect();
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

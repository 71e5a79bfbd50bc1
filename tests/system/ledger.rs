//! The project ledger, real-time alerts, enterprises, service platforms,
//! expenditure and talent, through the HTTP API.

use serde_json::{Value, json};
use zhaoshang_tests::{TestApp, spawn_with_plan};

fn actual(table: &Value, task_force: Option<&str>, measure: &str) -> u64 {
    let row = match task_force {
        Some(id) => table["rows"].as_array().and_then(|r| r.iter().find(|r| r["task_force_id"] == id)).expect("row"),
        None => &table["total"],
    };
    let cell = row["cells"].as_array().and_then(|c| c.iter().find(|c| c["measure"] == measure));
    cell.unwrap_or_else(|| panic!("no {measure} in {row}"))["actual"].as_u64().expect("actual")
}

async fn progress(app: &TestApp, year: i32, token: u64) -> Value {
    let answer = app.get(&format!("/api/v1/progress?year={year}"), Some(token)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn new_project(app: &TestApp, id: &str, investor: &str) -> u64 {
    let lead = json!({"task_force_id": "automotive", "name": "汽车轻量化铝合金压铸件项目", "investor": investor,
        "category": "industrial", "planned_investment_yuan": 150_000_000, "owner": "靳磊", "on": "2023-01-06"});
    app.command("put", &format!("/api/v1/projects/{id}"), &lead, None, None).await.sequence()
}

#[tokio::test]
async fn a_change_of_investor_counts_as_a_new_signing_and_every_step_is_reported_at_once() {
    let app = spawn_with_plan().await;
    new_project(&app, "c1", "广东鸿图科技股份有限公司").await;
    app.post_ok("/api/v1/projects/c1/negotiation", &json!({"on": "2023-01-16"})).await;
    app.post_ok(
        "/api/v1/projects/c1/signings",
        &json!({"on": "2023-03-02", "agreement": "framework", "investment_yuan": 120_000_000}),
    )
    .await;
    let token = app
        .post_ok(
            "/api/v1/projects/c1/investor-changes",
            &json!({"investor": "文灿集团股份有限公司", "on": "2023-04-20", "reason": "原投资方战略收缩"}),
        )
        .await
        .sequence();
    let project = app.get("/api/v1/projects/c1", Some(token)).await.body;
    assert_eq!(project["stage"], "negotiating", "back in negotiation: {project}");
    assert_eq!(project["investor"], "文灿集团股份有限公司");
    assert_eq!(project["first_signed_on"], Value::Null, "the old investor's signing no longer describes it");
    assert_eq!(project["investor_changed_on"], "2023-04-20");
    assert_eq!(actual(&progress(&app, 2023, token).await, Some("automotive"), "projects_led_in"), 1);

    let token = app
        .post_ok(
            "/api/v1/projects/c1/signings",
            &json!({"on": "2023-05-10", "agreement": "contract", "investment_yuan": 130_000_000}),
        )
        .await
        .sequence();
    let table = progress(&app, 2023, token).await;
    assert_eq!(actual(&table, Some("automotive"), "projects_led_in"), 2, "the new investor's signing counts again");
    assert_eq!(actual(&table, None, "projects_led_in"), 2);
    let project = app.get("/api/v1/projects/c1", Some(token)).await.body;
    assert_eq!(project["signed_investment_yuan"], 130_000_000);
    assert_eq!(project["contracted_investment_yuan"], 130_000_000, "the old signing's figure is gone: {project}");
    // 附件2 folded from every step (as of a far date) equals today's ledger,
    // across the change of investor; as of April it stood in negotiation.
    let today = app.get("/api/v1/reports/attachment-2?format=json", Some(token)).await.body;
    let folded = app.get("/api/v1/reports/attachment-2?format=json&as_of=2100-01-01", Some(token)).await.body;
    assert_eq!(today["rows"], folded["rows"]);
    let april = app.get("/api/v1/reports/attachment-2?format=json&as_of=2023-04-30", Some(token)).await.body;
    assert_eq!(april["rows"][0]["stage"], "negotiating", "{april}");
    assert_eq!(april["rows"][0]["first_signed_on"], Value::Null);
    let march = app.get("/api/v1/reports/attachment-2?format=json&as_of=2023-03-31", Some(token)).await.body;
    assert_eq!(march["rows"][0]["stage"], "signed");
    assert_eq!(march["rows"][0]["contracted_investment_yuan"], 120_000_000);

    let alerts = app.get("/api/v1/alerts", Some(token)).await.body;
    let kinds: Vec<&str> = alerts.as_array().expect("a list").iter().filter_map(|a| a["kind"].as_str()).collect();
    assert_eq!(kinds, ["negotiation_started", "signed", "investor_changed", "signed"]);
    let first = &alerts[0];
    assert_eq!(first["project_name"], "汽车轻量化铝合金压铸件项目");
    assert_eq!(first["task_force_id"], "automotive");
    assert_eq!(first["major"], true, "150m planned reaches the industrial 100m threshold");
    assert!(first["reported_days_later"].as_i64().expect("days") > 365, "back-filled in 2026: {first}");
    let after = alerts[1]["sequence"].as_i64().expect("sequence");
    let rest = app.get(&format!("/api/v1/alerts?after={after}"), None).await.body;
    assert_eq!(rest.as_array().map(Vec::len), Some(2), "paging by sequence: {rest}");
    let bad = app.get("/api/v1/alerts?after=-1", None).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["errors"][0]["field"], "after", "{}", bad.body);
}

#[tokio::test]
async fn the_ledger_keeps_owner_progress_and_problems_and_reads_the_rates() {
    let app = spawn_with_plan().await;
    new_project(&app, "l1", "某投资方").await;
    app.post_ok("/api/v1/projects/l1/negotiation", &json!({"on": "2023-01-16"})).await;
    app.post_ok(
        "/api/v1/projects/l1/signings",
        &json!({"on": "2023-03-02", "agreement": "contract", "investment_yuan": 200_000_000}),
    )
    .await;
    app.post_ok("/api/v1/projects/l1/funds-arrivals", &json!({"on": "2023-04-01", "amount_yuan": 50_000_000})).await;
    app.post_ok("/api/v1/projects/l1/owner", &json!({"owner": "伍国荣", "on": "2023-04-02"})).await;
    app.post_ok("/api/v1/projects/l1/progress-notes", &json!({"on": "2023-04-03", "note": "设备招标中。"})).await;
    let problem =
        json!({"problem_id": "power", "on": "2023-04-04", "description": "用电负荷不足", "help_from": "供电局"});
    app.post_ok("/api/v1/projects/l1/problems", &problem).await;
    let again = app.command("post", "/api/v1/projects/l1/problems", &problem, None, None).await;
    assert_eq!(again.status, 422);
    assert_eq!(again.body["errors"][0]["rule"], "problem_id_unique", "{}", again.body);
    let token = app.events_in_stream().await;
    let open = app.get("/api/v1/projects/l1", Some(token)).await.body;
    assert_eq!(open["owner"], "伍国荣");
    assert_eq!(open["latest_progress"], "设备招标中。");
    assert_eq!(open["open_problems"], 1);
    assert_eq!(open["problems"][0]["help_from"], "供电局");
    assert_eq!(open["steps"][0]["backfilled"], true, "recorded years after it happened");
    let reserve = app.get("/api/v1/reports/attachment-2?format=json", Some(token)).await.body;
    assert_eq!(reserve["rows"][0]["problems"], "用电负荷不足（需供电局协调）", "附件2 存在问题: {reserve}");

    let token = app
        .post_ok(
            "/api/v1/projects/l1/problem-resolutions",
            &json!({"problem_id": "power", "on": "2023-04-20", "resolution": "已增容"}),
        )
        .await
        .sequence();
    let resolved = app.get("/api/v1/projects/l1", Some(token)).await.body;
    assert_eq!(resolved["open_problems"], 0);
    assert_eq!(resolved["problems"][0]["resolved_on"], "2023-04-20");
    let reserve = app.get("/api/v1/reports/attachment-2?format=json", Some(token)).await.body;
    assert_eq!(reserve["rows"][0]["problems"], serde_json::Value::Null, "a resolved problem is no longer listed");

    // A second project signed in 2023 that has not started: 开工率 50%.
    new_project(&app, "l2", "另一投资方").await;
    app.post_ok("/api/v1/projects/l2/negotiation", &json!({"on": "2023-01-16"})).await;
    app.post_ok(
        "/api/v1/projects/l2/signings",
        &json!({"on": "2023-03-05", "agreement": "contract", "investment_yuan": 100_000_000}),
    )
    .await;
    app.post_ok("/api/v1/projects/l1/company-registration", &json!({"on": "2023-05-01", "company_name": "柳州某公司"}))
        .await;
    let token = app.post_ok("/api/v1/projects/l1/construction-start", &json!({"on": "2023-06-01"})).await.sequence();
    let rates = app.get("/api/v1/ledger/rates?year=2023", Some(token)).await.body;
    let total = rates.as_array().and_then(|r| r.iter().find(|r| r["task_force_id"].is_null())).expect("total");
    assert_eq!(total["signed"], 2);
    assert_eq!(total["started"], 1);
    assert_eq!(total["start_rate_percent"], 50.0);
    assert_eq!(total["contracted_yuan"], 300_000_000);
    assert_eq!(total["funds_arrival_rate_percent"], 16.67, "50m of 300m: {total}");
}

#[tokio::test]
async fn enterprises_platforms_expenditure_and_talent_are_recorded_counted_and_reversible() {
    let app = spawn_with_plan().await;
    let enterprise = json!({"name": "上海智驱电控科技有限公司", "role": "target", "task_force_id": "automotive",
        "uscc": "91440300708461136U", "city": "上海", "listed_on": "2023-03-01"});
    let refused = app.command("post", "/api/v1/enterprises", &enterprise, None, None).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["errors"][0]["field"], "uscc", "{}", refused.body);
    assert_eq!(refused.body["errors"][0]["rule"], "uscc_check_character");
    let before = app.events_in_stream().await;
    let mut good = enterprise.clone();
    good["uscc"] = json!("91440300708461136T");
    app.post_ok("/api/v1/enterprises", &good).await;
    assert_eq!(app.events_in_stream().await, before + 1, "the refused registration wrote nothing");
    app.post_ok(
        "/api/v1/task-forces/automotive/dockings",
        &json!({"enterprise": "上海智驱电控科技有限公司", "enterprise_role": "target", "method": "going_out",
            "on": "2023-03-10"}),
    )
    .await;

    let platform = app
        .post_ok(
            "/api/v1/service-platforms",
            &json!({"name": "柳州技术转移中心", "relation": "partnered", "task_force_id": "automotive", "on": "2023-05-08"}),
        )
        .await;
    let platform_id = platform.body["aggregate_id"].as_str().expect("id").to_owned();
    let pay = |category: &str, yuan: i64| {
        json!({"task_force_id": "automotive", "category": category, "amount_yuan": yuan, "on": "2023-06-01",
            "description": "赴上海招商推介会"})
    };
    app.post_ok("/api/v1/expenditures", &pay("transport", 18_600)).await;
    app.post_ok("/api/v1/expenditures", &pay("transport", 1_400)).await;
    let wrong = app.post_ok("/api/v1/expenditures", &pay("publicity", 99_999)).await;
    let wrong_id = wrong.body["aggregate_id"].as_str().expect("id").to_owned();
    app.post_ok(
        &format!("/api/v1/expenditures/{wrong_id}/reversal"),
        &json!({"on": "2023-06-02", "reason": "金额录错"}),
    )
    .await;
    let talent = json!({"task_force_id": "automotive", "title": "电控研发团队", "people": 0, "on": "2023-05-30"});
    let zero = app.command("post", "/api/v1/talent-introductions", &talent, None, None).await;
    assert_eq!(zero.body["errors"][0]["rule"], "people_in_range", "{}", zero.body);
    let mut six = talent.clone();
    six["people"] = json!(6);
    let token = app.post_ok("/api/v1/talent-introductions", &six).await.sequence();

    let enterprises = app.get("/api/v1/enterprises?task_force=automotive", Some(token)).await.body;
    assert_eq!(enterprises[0]["uscc"], "91440300708461136T");
    assert_eq!(enterprises[0]["dockings"], 1, "{enterprises}");
    assert_eq!(actual(&progress(&app, 2023, token).await, None, "service_platforms"), 1);

    let spending = app.get("/api/v1/expenditures?year=2023", Some(token)).await.body;
    assert_eq!(spending["payments"].as_array().map(Vec::len), Some(3), "reversed payments stay listed");
    let totals = spending["totals"].as_array().expect("totals");
    let transport = totals
        .iter()
        .find(|t| t["task_force_id"] == "automotive" && t["category"] == "transport")
        .expect("transport total");
    assert_eq!(transport["total_yuan"], 20_000);
    let overall = totals.iter().find(|t| t["all_task_forces"] == true && t["all_categories"] == true).expect("overall");
    assert_eq!(overall["total_yuan"], 20_000, "the reversed payment is not totalled: {spending}");
    let people = app.get("/api/v1/talent-introductions?year=2023", Some(token)).await.body;
    assert_eq!(people[0]["people"], 6);

    let token = app
        .post_ok(
            &format!("/api/v1/service-platforms/{platform_id}/reversal"),
            &json!({"on": "2023-05-12", "reason": "协议未签署，误登"}),
        )
        .await
        .sequence();
    assert_eq!(actual(&progress(&app, 2023, token).await, None, "service_platforms"), 0);
}

/// Found by the fuzz run: an empty ledger has totals of zero, not a 500.
#[tokio::test]
async fn an_empty_ledger_answers_with_zero_totals() {
    let app = spawn_with_plan().await;
    let rates = app.get("/api/v1/ledger/rates?year=2030", None).await;
    assert_eq!(rates.status, 200, "{}", rates.body);
    let total = &rates.body[0];
    assert_eq!((total["signed"].as_i64(), total["start_rate_percent"].is_null()), (Some(0), true), "{total}");
    let spending = app.get("/api/v1/expenditures", None).await;
    assert_eq!(spending.status, 200, "{}", spending.body);
    assert_eq!(spending.body["totals"][0]["total_yuan"], 0, "{}", spending.body);
}

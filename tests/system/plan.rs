//! The initial data: the plan's organisation, loaded through commands.

use zhaoshang_tests::spawn_with_plan;

#[tokio::test]
async fn the_plan_loads_every_task_force_exactly_and_loading_twice_adds_nothing() {
    let app = spawn_with_plan().await;
    let events = app.events_in_stream().await;
    assert_eq!(events, 10, "one plan period, one leading group, eight task forces");
    let command = app.running.command.clone().expect("command service");
    let again =
        zhaoshang::plan_file::load(&command, zhaoshang::plan_file::PLAN_2022_2024, "test").await.expect("reload");
    assert_eq!((again.written, again.already_loaded), (0, 10));
    assert_eq!(app.events_in_stream().await, events);

    let answer = app.get("/api/v1/task-forces", Some(events)).await;
    let task_forces = answer.body.as_array().expect("a list");
    assert_eq!(task_forces.len(), 8);
    let names: Vec<&str> = task_forces.iter().map(|t| t["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        names,
        [
            "汽车产业链招商专班",
            "机械装备制造产业链招商专班",
            "大健康和文旅体育产业链招商专班",
            "生物医药产业链招商专班",
            "绿色环保产业链科技招商专班",
            "数字经济产业链招商专班",
            "现代农业产业链招商专班",
            "电子信息产业链招商专班",
        ]
    );
    let auto = &task_forces[0];
    assert_eq!((auto["convener"].as_str(), auto["deputy_convener"].as_str()), (Some("李荣军"), Some("刘文烽")));
    assert_eq!(auto["lead_department"], "市科学技术局重大科");
    assert_eq!(auto["chain_leaders"][0], "上汽通用五菱汽车股份有限公司");
    assert_eq!(auto["chain_leaders"].as_array().map(Vec::len), Some(8));
    assert_eq!(auto["chain_leaders_open_ended"], true);
    let bio = &task_forces[3];
    assert_eq!(bio["chain_leaders"][1], "广西两面针亿康药业股份有限公司");
    let groups = app.get("/api/v1/leading-groups", None).await;
    let members = groups.body[0]["members"].as_array().expect("members");
    assert_eq!(members.len(), 18);
    assert_eq!(members[0]["name"], "管伟荣");
    assert_eq!(members[0]["role"], "leader");
    assert_eq!(groups.body[0]["office_director"], "董秀鸾");
}

#[tokio::test]
async fn a_new_command_service_reads_the_adopted_plans_from_the_stream() {
    let app = spawn_with_plan().await;
    // A service started afterwards (another instance, or after a restart)
    // knows the plan's thresholds without being told.
    let fresh = zhaoshang_command::CommandService::new(app.running.store.clone()).await.expect("starts");
    assert_eq!(fresh.known_plan_titles(), ["柳州科技系统科技招商三年行动实施方案(2022—2024年)"]);
    let on = chrono::NaiveDate::from_ymd_opt(2023, 6, 1).expect("date");
    let thresholds = fresh.thresholds_on(on);
    assert_eq!(thresholds.industrial.get(), 100_000_000);
    assert_eq!(thresholds.service.get(), 50_000_000);
}

/// A later plan period is a data file of the same shape: loading one needs no
/// code change, and both periods answer with their own targets.
#[tokio::test]
async fn a_later_plan_period_loads_as_data_and_both_periods_answer() {
    let app = spawn_with_plan().await;
    // A 2025–2027 plan written the way the bureau would: new id, title,
    // number, years, and its own targets; the task forces carry over.
    let later = zhaoshang::plan_file::PLAN_2022_2024
        .replace("id = \"2022-2024\"", "id = \"2025-2027\"")
        .replace("(2022—2024年)", "(2025—2027年)")
        .replace("柳科通〔2022〕60号", "柳科通〔2024〕88号")
        .replace("issued_on = \"2022-10-18\"", "issued_on = \"2024-12-20\"")
        .replace("first_year = 2022", "first_year = 2025")
        .replace("last_year = 2024", "last_year = 2027")
        .replace("[targets.system.years.2022]", "[targets.system.years.2025]")
        .replace("target_enterprises_docked = 24", "target_enterprises_docked = 30")
        .replace("target_enterprises_docked = 3\n", "target_enterprises_docked = 4\n");
    assert_ne!(later, zhaoshang::plan_file::PLAN_2022_2024, "the edits applied");
    let command = app.running.command.clone().expect("command service");
    let report = zhaoshang::plan_file::load(&command, &later, "test").await.expect("the later plan loads");
    assert_eq!(report.written, 2, "a plan period and its leading group; the task forces exist already");
    let token = app.events_in_stream().await;

    let periods = app.get("/api/v1/plan-periods", Some(token)).await.body;
    let ids: Vec<&str> = periods.as_array().expect("a list").iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, ["2022-2024", "2025-2027"]);

    let target = |table: &serde_json::Value, task_force: Option<&str>, measure: &str| {
        let row = match task_force {
            Some(id) => table["rows"].as_array().and_then(|r| r.iter().find(|r| r["task_force_id"] == id)).cloned(),
            None => Some(table["total"].clone()),
        }
        .expect("row");
        row["cells"].as_array().and_then(|c| c.iter().find(|c| c["measure"] == measure)).expect("cell")["target"]
            .clone()
    };
    let y2025 = app.get("/api/v1/progress?year=2025", Some(token)).await.body;
    assert_eq!(y2025["plan_period_id"], "2025-2027");
    assert_eq!(target(&y2025, None, "target_enterprises_docked"), 30);
    assert_eq!(target(&y2025, Some("automotive"), "target_enterprises_docked"), 4);
    let y2022 = app.get("/api/v1/progress?year=2022", Some(token)).await.body;
    assert_eq!(y2022["plan_period_id"], "2022-2024");
    assert_eq!(target(&y2022, None, "target_enterprises_docked"), 24);
    assert_eq!(target(&y2022, Some("automotive"), "target_enterprises_docked"), 3);
    let whole = app.get("/api/v1/progress?period=2025-2027", Some(token)).await.body;
    assert_eq!(target(&whole, None, "target_enterprises_docked"), 80, "the cumulative target of the new file");
    let none = app.get("/api/v1/progress?year=2028", Some(token)).await;
    assert_eq!(none.status, 404, "no plan covers 2028: {}", none.body);
}

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

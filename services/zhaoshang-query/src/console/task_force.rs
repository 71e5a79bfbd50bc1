//! `/console/task-forces/{id}`: one task force's page: its people, its
//! project ledger (each project with its stage history and problems), its
//! activities, meetings, dockings, monthly reports and reminders of a year,
//! and, for those who may record its facts, the forms that record them
//! through the command API.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use zhaoshang_http::ApiError;
use zhaoshang_http::auth::{Caller, Role};
use zhaoshang_read_model::queries::{ProjectFilter, ProjectView};

use super::dashboard::{colour_class, due, judged_on, plan_years, progress_error, reminders_table};
use super::{PageError, Section, frame, may_record_for, may_see_task_force, page_params, wan_yuan};
use crate::{QueryService, database};

fn list(value: &serde_json::Value) -> String {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| match item {
                    serde_json::Value::String(text) => text.clone(),
                    other => {
                        other.get("name").and_then(|n| n.as_str()).map_or_else(|| other.to_string(), str::to_owned)
                    }
                })
                .collect::<Vec<_>>()
                .join("、")
        })
        .unwrap_or_default()
}

pub(crate) fn stage_label(stage: &str) -> &str {
    match stage {
        "lead" => "线索",
        "negotiating" => "在谈",
        "signed" => "已签约",
        "company_registered" => "已注册",
        "construction_started" => "已开工",
        "producing" => "竣工投产",
        other => other,
    }
}

fn status_label(status: &str) -> &str {
    match status {
        "active" => "推进中",
        "stalled" => "停滞",
        "dropped" => "已终止",
        other => other,
    }
}

fn activity_kind(kind: &str) -> &str {
    match kind {
        "going_out" => "走出去",
        "inviting_in" => "请进来",
        "online" => "不见面",
        other => other,
    }
}

fn meeting_kind(kind: &str) -> &str {
    match kind {
        "joint" => "联席会",
        "monthly_report" => "月度汇报会",
        "supervision" => "督导检查",
        other => other,
    }
}

fn enterprise_role(role: &str) -> &str {
    match role {
        "target" => "目标企业",
        "chain_leader" => "链主企业",
        "other" => "其他",
        other => other,
    }
}

/// The short name of an event type in a project's history (`project.signed.v1` → 签约).
fn step_label(event_type: &str) -> &str {
    let short = event_type.rsplit('.').nth(1).unwrap_or(event_type);
    match short {
        "lead_recorded" => "登记线索",
        "negotiation_started" => "进入在谈",
        "signed" => "签约",
        "company_registered" => "公司注册",
        "construction_started" => "开工",
        "production_started" => "竣工投产",
        "funds_arrived" => "到资",
        "investment_increased" => "增资",
        "reserve_entered" => "入库",
        "stalled" => "停滞",
        "resumed" => "恢复推进",
        "dropped" => "终止",
        "owner_changed" => "更换负责人",
        "progress_noted" => "最新进展",
        "problem_raised" => "提出问题",
        "problem_resolved" => "问题解决",
        "investor_changed" => "变更投资方",
        other => other,
    }
}

fn amount(yuan: Option<i64>) -> String {
    yuan.map(wan_yuan).unwrap_or_default()
}

/// One labelled input of a command form; `field` is the JSON field the API
/// names in its errors, where the message appears.
fn field(label: &str, field: &str, input: Markup) -> Markup {
    html! {
        div.field data-field=(field) {
            label { span { (label) } (input) }
            span.field-error role="alert" {}
        }
    }
}

fn date_input(name: &str) -> Markup {
    html! { input type="date" name=(name) required; }
}

fn text_input(name: &str, required: bool) -> Markup {
    html! { input type="text" name=(name) required[required]; }
}

fn amount_input(name: &str, required: bool) -> Markup {
    html! { input type="text" inputmode="numeric" name=(name) data-type="integer" required[required] placeholder="整数，单位元"; }
}

fn list_input(name: &str) -> Markup {
    html! { input type="text" name=(name) data-type="list" placeholder="多个用、分隔"; }
}

fn project_select(projects: &[ProjectView]) -> Markup {
    html! {
        select name="project" data-path="project" required {
            option value="" { "请选择项目" }
            @for p in projects { option value=(p.id) { (p.name.as_deref().unwrap_or(&p.id)) } }
        }
    }
}

/// A form that posts its JSON to `api` (with `{placeholders}` filled from
/// `data-path` fields) and, once accepted, refreshes the `refresh` sections.
fn command_form(id: &str, title: &str, api: &str, refresh: &str, fields: Markup) -> Markup {
    html! {
        details.form-box {
            summary { (title) }
            form.command #(id) data-api=(api) data-refresh=(refresh) novalidate {
                (fields)
                p.form-error role="alert" {}
                p.form-ok role="status" {}
                button type="submit" { "提交" }
            }
        }
    }
}

fn forms(task_force_id: &str, projects: &[ProjectView], year: i32) -> Markup {
    let living: Vec<ProjectView> =
        projects.iter().filter(|p| p.status.as_deref() != Some("dropped")).cloned().collect();
    html! {
        section #forms {
            h2 { "登记" }
            p.muted { "每项登记都经由与接口相同的命令写入事件流；有误时在对应栏目旁说明原因，不会写入任何内容。" }
            div.form-grid {
                (command_form("form-activity", "登记已举办的招商活动", "/api/v1/activities/held", "activities progress reminders", html! {
                    input type="hidden" name="task_force_id" value=(task_force_id);
                    (field("活动类型", "kind", html! {
                        select name="kind" required {
                            option value="going_out" { "走出去" } option value="inviting_in" { "请进来" } option value="online" { "不见面（线上）" }
                        }
                    }))
                    (field("活动名称", "title", text_input("title", true)))
                    (field("举办日期", "on", date_input("on")))
                    (field("前往城市（走出去）", "destination_cities", list_input("destination_cities")))
                    (field("邀请或对接的目标企业", "enterprises", html! {
                        input type="text" name="target_enterprises" data-enterprise-role="target" placeholder="多个用、分隔";
                    }))
                    (field("对接的链主企业", "enterprises", html! {
                        input type="text" name="chain_leader_enterprises" data-enterprise-role="chain_leader" placeholder="多个用、分隔";
                    }))
                    (field("主要领导带队外出集中招商", "led_by_principal_leader", html! {
                        input type="checkbox" name="led_by_principal_leader" data-type="bool";
                    }))
                    (field("备注", "note", html! { textarea name="note" rows="2" {} }))
                }))
                (command_form("form-project-lead", "登记项目线索", "/api/v1/projects", "ledger", html! {
                    input type="hidden" name="task_force_id" value=(task_force_id);
                    (field("项目名称", "name", text_input("name", true)))
                    (field("投资方", "investor", text_input("investor", true)))
                    (field("项目类别", "category", html! {
                        select name="category" required { option value="industrial" { "工业项目" } option value="service" { "服务业项目" } }
                    }))
                    (field("计划投资（元）", "planned_investment_yuan", amount_input("planned_investment_yuan", false)))
                    (field("负责召集人", "owner", text_input("owner", true)))
                    (field("线索日期", "on", date_input("on")))
                }))
                (command_form("form-project-step", "登记项目进展阶段", "/api/v1/projects/{project}/{action}", "ledger progress", html! {
                    (field("项目", "project", project_select(&living)))
                    (field("事项", "action", html! {
                        select name="action" data-path="action" required {
                            option value="negotiation" { "进入在谈" }
                            option value="construction-start" { "开工" }
                            option value="production-start" { "竣工投产" }
                            option value="reserve-entry" { "滚动入库" }
                            option value="resume" { "恢复推进" }
                        }
                    }))
                    (field("日期", "on", date_input("on")))
                }))
                (command_form("form-project-signing", "登记签约", "/api/v1/projects/{project}/signings", "ledger progress", html! {
                    (field("项目", "project", project_select(&living)))
                    (field("协议类型", "agreement", html! {
                        select name="agreement" required { option value="framework" { "框架协议" } option value="contract" { "正式合同" } }
                    }))
                    (field("签约投资（元）", "investment_yuan", amount_input("investment_yuan", true)))
                    (field("签约日期", "on", date_input("on")))
                }))
                (command_form("form-project-funds", "登记到资", "/api/v1/projects/{project}/funds-arrivals", "ledger", html! {
                    (field("项目", "project", project_select(&living)))
                    (field("到资金额（元）", "amount_yuan", amount_input("amount_yuan", true)))
                    (field("到资日期", "on", date_input("on")))
                }))
                (command_form("form-project-problem", "提出项目存在的问题", "/api/v1/projects/{project}/problems", "ledger", html! {
                    (field("项目", "project", project_select(&living)))
                    (field("问题编号（英文短名，如 power-supply）", "problem_id", text_input("problem_id", true)))
                    (field("问题描述", "description", html! { textarea name="description" rows="2" required {} }))
                    (field("需协调的单位", "help_from", text_input("help_from", false)))
                    (field("提出日期", "on", date_input("on")))
                }))
                (command_form("form-meeting", "登记联席会", "/api/v1/meetings", "meetings progress reminders", html! {
                    input type="hidden" name="kind" value="joint";
                    input type="hidden" name="task_force_id" value=(task_force_id);
                    (field("会议名称", "title", text_input("title", true)))
                    (field("召开日期", "on", date_input("on")))
                    (field("参会人员", "attendees", list_input("attendees")))
                    (field("会议纪要", "minutes", html! { textarea name="minutes" rows="2" {} }))
                }))
                (command_form("form-docking", "登记精准对接", &format!("/api/v1/task-forces/{task_force_id}/dockings"), "dockings progress reminders", html! {
                    (field("企业名称", "enterprise", text_input("enterprise", true)))
                    (field("企业类型", "enterprise_role", html! {
                        select name="enterprise_role" required {
                            option value="target" { "目标企业" } option value="chain_leader" { "链主企业" } option value="other" { "其他" }
                        }
                    }))
                    (field("对接方式", "method", html! {
                        select name="method" required {
                            option value="going_out" { "走出去" } option value="inviting_in" { "请进来" }
                            option value="online" { "线上" } option value="other" { "其他" }
                        }
                    }))
                    (field("对接日期", "on", date_input("on")))
                    (field("参与人员", "participants", list_input("participants")))
                    (field("对接成果", "outcome", html! { textarea name="outcome" rows="2" {} }))
                }))
                (command_form("form-monthly-report", "报送月度进展报告", "/api/v1/monthly-reports", "monthly-reports reminders", html! {
                    input type="hidden" name="task_force_id" value=(task_force_id);
                    (field("年份", "year", html! { input type="number" name="year" data-type="integer" value=(year) required; }))
                    (field("月份", "month", html! { input type="number" name="month" data-type="integer" min="1" max="12" required; }))
                    (field("报送日期", "on", date_input("on")))
                    @for (name, label) in [
                        ("projects_signed", "签约项目（个）"), ("qualifying_projects_signed", "其中达标项目（个）"),
                        ("projects_started", "开工项目（个）"), ("major_negotiations", "重大项目洽谈（次）"),
                        ("going_out_activities", "走出去活动（次）"), ("inviting_in_activities", "请进来活动（次）"),
                        ("online_activities", "不见面活动（次）"), ("reserve_projects_added", "新入库项目（个）"),
                        ("target_enterprises_docked", "精准对接目标企业（家）"),
                    ] {
                        @let full = format!("figures.{name}");
                        (field(label, &full, html! { input type="number" name=(full) data-type="integer" min="0" value="0"; }))
                    }
                    (field("到资（元）", "figures.funds_arrived_yuan", html! {
                        input type="text" inputmode="numeric" name="figures.funds_arrived_yuan" data-type="integer" value="0";
                    }))
                    (field("本月工作进展", "progress", html! { textarea name="progress" rows="3" required {} }))
                    (field("存在问题及需协调事项", "problems", html! { textarea name="problems" rows="2" {} }))
                    (field("下月工作计划", "next_month_plan", html! { textarea name="next_month_plan" rows="2" {} }))
                }))
            }
        }
    }
}

pub(crate) async fn page(
    State(service): State<QueryService>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, PageError> {
    if !may_see_task_force(&caller, &id) {
        return Err(PageError(ApiError::Forbidden {
            rule: "own_task_force_only",
            message: "专班成员只能查看本专班的页面。".to_owned(),
        }));
    }
    let params = page_params(&service, q, &["year"]).await?;
    let read_model = service.read_model();
    let task_force = read_model
        .task_force(&id)
        .await
        .map_err(database)?
        .ok_or(ApiError::NotFound { what: format!("专班 {id}") })?;
    let (years, default_year) = plan_years(&service).await?;
    let year = params.year("year")?.unwrap_or(default_year);
    let date = judged_on(year);
    let filter = ProjectFilter { task_force_id: Some(id.clone()), ..ProjectFilter::default() };
    let projects = read_model.projects(&filter).await.map_err(database)?;
    let mut histories = Vec::with_capacity(projects.len());
    for project in &projects {
        let steps = read_model.project_steps(&project.id).await.map_err(database)?;
        let problems = read_model.project_problems(&project.id).await.map_err(database)?;
        histories.push((steps, problems));
    }
    let activities = read_model.activities(Some(&id), None, Some(year)).await.map_err(database)?;
    let meetings = read_model.meetings(Some(&id), None, Some(year)).await.map_err(database)?;
    let enterprises = read_model.enterprises(Some(&id), None).await.map_err(database)?;
    let reports = read_model.monthly_reports(Some(&id), year, date).await.map_err(database)?;
    let status = read_model.supervision_status(date, Some(&id)).await.map_err(progress_error)?;
    let table =
        read_model.progress(zhaoshang_read_model::progress::PeriodRequest::Year(year)).await.map_err(progress_error)?;
    let own_table = zhaoshang_read_model::progress::ProgressTable {
        rows: table.rows.iter().filter(|r| r.task_force_id.as_deref() == Some(&id)).cloned().collect(),
        ..table.clone()
    };
    let body = html! {
        div.heading {
            h1 { (task_force.number) ". " (task_force.name) }
            nav.years {
                @for y in &years {
                    a href=(format!("/console/task-forces/{id}?year={y}")) class=@if *y == year { "active" } { (y) " 年" }
                }
            }
        }
        p.muted { "产业链：" (task_force.chain) "；成立于 " (task_force.established_on) "。以下为 " (year) " 年的记录，颜色按 " (date) " 判断。" }
        nav.sections {
            @for (anchor, label) in [
                ("progress", "进度"), ("people", "人员"), ("ledger", "项目台账"), ("activities", "招商活动"),
                ("meetings", "会议"), ("dockings", "精准对接"), ("monthly-reports", "月度报告"), ("reminders", "提醒"),
            ] {
                a href=(format!("#{anchor}")) { (label) }
            }
            @if may_record_for(&caller, &id) { a href="#forms" { "登记" } }
        }
        section #progress {
            h2 { "本专班进度（附件1）" }
            (super::dashboard::legend())
            (super::dashboard::progress_table(&own_table, &status.items, &caller))
        }
        section #people {
            h2 { "专班人员与单位" }
            dl.people {
                dt { "召集人" } dd { (task_force.convener) }
                dt { "副召集人" } dd { (task_force.deputy_convener) }
                dt { "牵头科室" } dd { (task_force.lead_department) }
                dt { "配合科室" } dd { (list(&task_force.cooperating_departments)) @if task_force.cooperating_departments_open_ended { "等" } }
                dt { "协同县区科技局" } dd { (list(&task_force.district_bureaus)) @if task_force.district_bureaus_open_ended { "等" } }
                dt { "链主企业" } dd { (list(&task_force.chain_leaders)) @if task_force.chain_leaders_open_ended { "等" } }
                dt { "联络员" } dd {
                    (task_force.liaison_name.as_deref().unwrap_or("未明确"))
                    @if let Some(department) = &task_force.liaison_department { "（" (department) "）" }
                    span.muted { " 联系方式属个人信息，控制台不显示。" }
                }
            }
        }
        section #ledger {
            h2 { "项目台账（" (projects.len()) " 个）" }
            @if projects.is_empty() { p.muted { "尚无项目。" } } @else {
                div.scroll { table.list.ledger {
                    thead { tr {
                        th { "项目名称" } th { "投资方" } th { "类别" } th.num { "计划投资（万元）" } th.num { "签约投资（万元）" }
                        th.num { "已到资（万元）" } th { "阶段" } th { "状态" } th { "负责人" } th { "最新进展" } th { "未解决问题" }
                    } }
                    tbody {
                        @for (project, (steps, problems)) in projects.iter().zip(&histories) {
                            tr data-project=(project.id) {
                                td {
                                    details {
                                        summary { (project.name.as_deref().unwrap_or(&project.id)) }
                                        @if matches!(caller.role, Role::Auditor | Role::Admin) {
                                            p { a href=(format!("/console/audit?type=project&id={}", project.id)) { "审计追溯此项目" } }
                                        }
                                        h4 { "阶段记录" }
                                        ol.steps {
                                            @for step in steps {
                                                li {
                                                    span.nowrap { (step.occurred_on) } " " (step_label(&step.event_type))
                                                    @if let Some(a) = step.amount_yuan { " " (wan_yuan(a)) " 万元" }
                                                    @if let Some(note) = &step.note { "：" (note) }
                                                    span.muted { "（" (step.actor) " 记录" @if step.backfilled { "，补录" } "）" }
                                                }
                                            }
                                        }
                                        @if !problems.is_empty() {
                                            h4 { "存在问题" }
                                            ul.problems {
                                                @for p in problems {
                                                    li {
                                                        (p.raised_on) " " (p.description)
                                                        @if let Some(help) = &p.help_from { "（需 " (help) " 协调）" }
                                                        @if let Some(on) = p.resolved_on { span.tag { (on) " 已解决" } } @else { span.tag.open { "未解决" } }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                                td { (project.investor.as_deref().unwrap_or("")) }
                                td.nowrap { (match project.category.as_deref() { Some("industrial") => "工业", Some("service") => "服务业", _ => "" }) }
                                td.num { (amount(project.planned_investment_yuan)) }
                                td.num { (amount(project.signed_investment_yuan)) }
                                td.num { (amount(project.funds_arrived_yuan)) }
                                td.nowrap { (project.stage.as_deref().map(stage_label).unwrap_or("")) @if project.qualifies == Some(true) { " " span.tag { "达标" } } }
                                td.nowrap { (project.status.as_deref().map(status_label).unwrap_or("")) }
                                td { (project.owner.as_deref().unwrap_or("")) }
                                td { (project.latest_progress.as_deref().unwrap_or("")) }
                                td.num { (project.open_problems) }
                            }
                        }
                    }
                } }
            }
        }
        section #activities {
            h2 { (year) " 年招商活动（" (activities.len()) " 次）" }
            @if activities.is_empty() { p.muted { "本年尚无活动。" } } @else {
                div.scroll { table.list {
                    thead { tr { th { "日期" } th { "类型" } th { "活动名称" } th { "状态" } th { "前往城市" } th { "企业" } } }
                    tbody {
                        @for a in &activities {
                            tr {
                                td.nowrap { (a.activity_on.map(|d| d.to_string()).unwrap_or_default()) }
                                td.nowrap { (a.kind.as_deref().map(activity_kind).unwrap_or("")) @if a.led_by_principal_leader == Some(true) { " " span.tag { "主要领导带队" } } }
                                td { (a.title.as_deref().unwrap_or("")) }
                                td.nowrap { (match a.status.as_str() { "held" => "已举办", "planned" => "计划中", "cancelled" => "已取消", other => other }) @if a.backfilled { " " span.tag { "补录" } } }
                                td { (a.destination_cities.as_ref().map(list).unwrap_or_default()) }
                                td { (list(&a.enterprises)) }
                            }
                        }
                    }
                } }
            }
        }
        section #meetings {
            h2 { (year) " 年会议（" (meetings.len()) " 次）" }
            @if meetings.is_empty() { p.muted { "本年尚无会议记录。" } } @else {
                div.scroll { table.list {
                    thead { tr { th { "日期" } th { "类型" } th { "会议名称" } th { "参会人员" } } }
                    tbody {
                        @for m in &meetings {
                            tr { td.nowrap { (m.held_on) } td.nowrap { (meeting_kind(&m.kind)) } td { (m.title) } td { (list(&m.attendees)) } }
                        }
                    }
                } }
            }
        }
        section #dockings {
            h2 { "精准对接企业" }
            @if enterprises.is_empty() { p.muted { "尚无对接记录。" } } @else {
                div.scroll { table.list {
                    thead { tr { th { "企业" } th { "类型" } th.num { "对接次数" } th { "最近对接" } } }
                    tbody {
                        @for e in &enterprises {
                            tr { td { (e.name) } td.nowrap { (enterprise_role(&e.role)) } td.num { (e.dockings) } td.nowrap { (e.last_docked_on.map(|d| d.to_string()).unwrap_or_default()) } }
                        }
                    }
                } }
            }
        }
        section #monthly-reports {
            h2 { (year) " 年月度进展报告" }
            p {
                "按时 " (reports.counts.on_time) " 份；逾期 " (reports.counts.late) " 份；缺报 " (reports.counts.missing)
                " 份；未到截止日 " (reports.counts.pending) " 份（截至 " (reports.date) "）。"
            }
            div.scroll { table.list {
                thead { tr { th { "月份" } th { "截止日" } th { "状态" } th { "报送日期" } th { "更正" } } }
                tbody {
                    @for r in &reports.reports {
                        @let class = match r.status { "on_time" => "c-green", "late" => "c-yellow", "missing" => "c-red", _ => "" };
                        tr {
                            td.nowrap { (r.year) "-" (format!("{:02}", r.month)) }
                            td.nowrap { (r.due_on) }
                            td class=(class) { (r.status_label) }
                            td.nowrap { (r.submitted_on.map(|d| d.to_string()).unwrap_or_default()) }
                            td.num { (r.amendments) }
                        }
                    }
                }
            } }
        }
        section #reminders {
            h2 { "提醒（" (date) "）" }
            (reminders_table(&due(&status.items), false, &caller))
            details {
                summary { "全部职责（" (status.items.len()) " 项）" }
                div.scroll { table.list {
                    thead { tr { th { "职责" } th { "颜色" } th { "原因" } } }
                    tbody { @for d in &status.items { tr { td { (d.duty_label) } td class=(colour_class(d.colour)) { (d.colour_label) } td { (d.why) } } } }
                } }
            }
        }
        @if may_record_for(&caller, &id) {
            (forms(&id, &projects, year))
        }
    };
    Ok(frame(&task_force.name, &caller, Section::TaskForce, body))
}

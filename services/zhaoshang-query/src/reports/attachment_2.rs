//! 附件2 科技系统科技招商项目储备库: every project of the reserve and
//! ledger with its chain, task force, investor, investment, category, stage,
//! owner (召集人分包), dates, funds arrived, latest progress and problems.
//!
//! Rows are in the plan's order of task forces (their number), then by lead
//! date and id, so the same data always prints the same way. "Latest
//! progress" is the project's most recent step (by the date it happened,
//! then by the order it was recorded); "problems" are the open problems
//! raised on the project (with whom is asked to help) and, for a stalled or
//! dropped project, the reason.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgPool;

use zhaoshang_read_model::progress::Knowledge;

use super::sheet::{Column, ColumnKind, Sheet, Value};

/// The plan's heading of the attachment.
pub const TITLE: &str = "科技系统科技招商项目储备库";

/// One project of the reserve, as the attachment prints it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ReserveRow {
    /// The project's id.
    pub id: String,
    /// 项目名称.
    pub name: Option<String>,
    /// 所属产业链.
    pub chain: Option<String>,
    /// The task force's id.
    pub task_force_id: Option<String>,
    /// The task force's number in the plan (the order of the rows).
    pub task_force_number: Option<i32>,
    /// 牵头专班.
    pub task_force_name: Option<String>,
    /// 投资方.
    pub investor: Option<String>,
    /// `industrial` (工业) or `service` (服务业).
    pub category: Option<String>,
    /// 计划投资, yuan.
    pub planned_investment_yuan: Option<i64>,
    /// 签约投资 now (largest signing plus increases), yuan.
    pub contracted_investment_yuan: Option<i64>,
    /// Whether it meets the plan's threshold (decided at first signing).
    pub qualifies: Option<bool>,
    /// Stage code.
    pub stage: Option<String>,
    /// `active`, `stalled`, `dropped`.
    pub status: Option<String>,
    /// 负责人: the convener who owns it.
    pub owner: Option<String>,
    /// 线索日期.
    pub lead_on: Option<NaiveDate>,
    /// 洽谈日期.
    pub negotiating_on: Option<NaiveDate>,
    /// 首次签约日期.
    pub first_signed_on: Option<NaiveDate>,
    /// 合同签订日期.
    pub contract_signed_on: Option<NaiveDate>,
    /// 公司注册日期.
    pub company_registered_on: Option<NaiveDate>,
    /// 开工日期.
    pub construction_started_on: Option<NaiveDate>,
    /// 投产日期.
    pub producing_on: Option<NaiveDate>,
    /// 已到资, yuan.
    pub funds_arrived_yuan: Option<i64>,
    /// 入库日期.
    pub reserve_entered_on: Option<NaiveDate>,
    /// The latest step's event type (`project.signed.v1`).
    pub latest_step_type: Option<String>,
    /// The latest step's date.
    pub latest_step_on: Option<NaiveDate>,
    /// The latest step's note (agreement kind, company, reason).
    pub latest_step_note: Option<String>,
    /// 最新进展, in Chinese.
    #[sqlx(skip)]
    pub latest_progress: String,
    /// 存在问题: open problems, and the reason of a stall or drop.
    pub problems: Option<String>,
}

/// The reserve as JSON.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReserveTable {
    /// The plan's heading.
    pub title: &'static str,
    /// The stream sequence the read models stood on (at least).
    pub as_of_sequence: u64,
    /// When asked "as known at": the last event taken into account.
    pub known_at_sequence: Option<u64>,
    /// When asked "as of" a date: only steps taken by then.
    pub as_of: Option<NaiveDate>,
    /// The projects.
    pub rows: Vec<ReserveRow>,
    /// The totals row.
    pub total: ReserveTotal,
}

/// The totals of the reserve.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReserveTotal {
    /// Number of projects.
    pub projects: u32,
    /// Projects meeting the plan's threshold.
    pub qualifying: u32,
    /// Projects in the reserve (entered).
    pub in_reserve: u32,
    /// Sum of planned investment, yuan.
    pub planned_investment_yuan: i64,
    /// Sum of contracted investment, yuan.
    pub contracted_investment_yuan: i64,
    /// Sum of funds arrived, yuan.
    pub funds_arrived_yuan: i64,
    /// Funds arrived against contracted, percent, two decimals.
    pub funds_arrival_rate_percent: Option<f64>,
}

/// Which projects to list.
#[derive(Debug, Clone, Default)]
pub struct ReserveFilter {
    /// Only this task force.
    pub task_force_id: Option<String>,
    /// Only projects entered into the reserve in this year.
    pub year: Option<i32>,
}

const RESERVE_SQL: &str = "
SELECT p.id, p.name, t.chain, p.task_force_id, t.number AS task_force_number, t.name AS task_force_name,
       p.investor, p.category, p.planned_investment_yuan,
       GREATEST(p.signed_investment_yuan, p.contract_investment_yuan) + p.increased_investment_yuan
           AS contracted_investment_yuan,
       p.qualifies, p.stage, p.status, p.owner, p.lead_on, p.negotiating_on, p.first_signed_on,
       p.contract_signed_on, p.company_registered_on, p.construction_started_on, p.producing_on,
       p.funds_arrived_yuan, p.reserve_entered_on,
       s.event_type AS latest_step_type, s.occurred_on AS latest_step_on, s.note AS latest_step_note,
       NULLIF(concat_ws('；',
           CASE WHEN p.status IN ('stalled', 'dropped') THEN p.status_reason END,
           (SELECT string_agg(pp.description || COALESCE('（需' || pp.help_from || '协调）', ''), '；'
                ORDER BY pp.raised_sequence)
            FROM project_problems pp WHERE pp.project_id = p.id AND pp.resolved_on IS NULL)), '') AS problems
FROM projects p
LEFT JOIN task_forces t ON t.id = p.task_force_id
LEFT JOIN LATERAL (
    SELECT event_type, occurred_on, note FROM project_steps
    WHERE project_id = p.id ORDER BY occurred_on DESC, sequence DESC LIMIT 1
) s ON true
WHERE ($1::text IS NULL OR p.task_force_id = $1)
  AND ($2::int IS NULL OR extract(year FROM p.reserve_entered_on) = $2)
ORDER BY t.number NULLS LAST, p.lead_on, p.id";

/// Reads the reserve.
///
/// # Errors
/// When PostgreSQL fails.
pub async fn read(pool: &PgPool, filter: &ReserveFilter, as_of_sequence: u64) -> Result<ReserveTable, sqlx::Error> {
    read_at(pool, filter, as_of_sequence, Knowledge::default()).await
}

/// A project step as the as-of fold reads it.
#[derive(sqlx::FromRow)]
struct Step {
    project_id: String,
    event_type: String,
    stage: Option<String>,
    occurred_on: NaiveDate,
    amount_yuan: Option<i64>,
    note: Option<String>,
    sequence: i64,
}

/// Folds a project's steps (in the order they were recorded) into the
/// ledger's columns as they stood: the same rules as the projection (a
/// change of investor clears the signing and sends a signed project back to
/// negotiation; the next signing is a first signing again).
fn fold(row: &mut ReserveRow, steps: &[&Step], qualifies: Option<bool>) {
    let code = |t: &str| t.trim_end_matches(|c: char| c.is_ascii_digit()).trim_end_matches(".v").to_owned();
    row.negotiating_on = None;
    row.first_signed_on = None;
    row.contract_signed_on = None;
    row.company_registered_on = None;
    row.construction_started_on = None;
    row.producing_on = None;
    row.reserve_entered_on = None;
    row.funds_arrived_yuan = None;
    row.status = Some("active".to_owned());
    row.qualifies = None;
    let (mut signed, mut contract, mut increased) = (None::<i64>, None::<i64>, 0i64);
    for step in steps {
        if let Some(stage) = &step.stage {
            row.stage = Some(stage.clone());
        }
        match code(&step.event_type).as_str() {
            "project.lead_recorded" => row.lead_on = Some(step.occurred_on),
            "project.negotiation_started" => row.negotiating_on = Some(step.occurred_on),
            "project.signed" => {
                if step.stage.is_some() {
                    // The latest first signing by then decides (an earlier
                    // one was cleared by the change of investor after it).
                    row.qualifies = qualifies;
                    row.first_signed_on = Some(step.occurred_on);
                    signed = step.amount_yuan;
                } else if step.note.as_deref() == Some("contract") {
                    contract = step.amount_yuan;
                }
                if step.note.as_deref() == Some("contract") {
                    row.contract_signed_on = Some(step.occurred_on);
                }
            }
            "project.company_registered" => row.company_registered_on = Some(step.occurred_on),
            "project.construction_started" => row.construction_started_on = Some(step.occurred_on),
            "project.production_started" => row.producing_on = Some(step.occurred_on),
            "project.funds_arrived" => {
                row.funds_arrived_yuan = Some(row.funds_arrived_yuan.unwrap_or(0) + step.amount_yuan.unwrap_or(0));
            }
            "project.investment_increased" => increased += step.amount_yuan.unwrap_or(0),
            "project.reserve_entered" => row.reserve_entered_on = Some(step.occurred_on),
            "project.stalled" => row.status = Some("stalled".to_owned()),
            "project.resumed" => row.status = Some("active".to_owned()),
            "project.dropped" => row.status = Some("dropped".to_owned()),
            "project.investor_changed" => {
                if row.first_signed_on.is_some() {
                    row.stage = Some("negotiating".to_owned());
                }
                row.first_signed_on = None;
                row.contract_signed_on = None;
                row.qualifies = None;
                (signed, contract, increased) = (None, None, 0);
            }
            _ => {}
        }
    }
    row.contracted_investment_yuan = match (signed, contract) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0)) + increased),
    };
    if let Some(latest) = steps.iter().max_by_key(|s| (s.occurred_on, s.sequence)) {
        row.latest_step_type = Some(latest.event_type.clone());
        row.latest_step_on = Some(latest.occurred_on);
        row.latest_step_note = latest.note.clone();
    }
}

/// Reads the reserve as known at a sequence and/or as of a date: the
/// stages, dates, funds, status and open problems from the steps recorded
/// by then and taken by then; a project not yet recorded (or led in later)
/// is left out. Names, investors and owners are today's.
///
/// # Errors
/// When PostgreSQL fails.
pub async fn read_at(
    pool: &PgPool,
    filter: &ReserveFilter,
    as_of_sequence: u64,
    knowledge: Knowledge,
) -> Result<ReserveTable, sqlx::Error> {
    let everything = knowledge == Knowledge::default();
    let mut rows: Vec<ReserveRow> = sqlx::query_as(RESERVE_SQL)
        .bind(&filter.task_force_id)
        .bind(if everything { filter.year } else { None })
        .fetch_all(pool)
        .await?;
    if !everything {
        let known = knowledge.known_sequence.and_then(|s| i64::try_from(s).ok()).unwrap_or(i64::MAX);
        let steps: Vec<Step> = sqlx::query_as(
            "SELECT project_id, event_type, stage, occurred_on, amount_yuan, note, sequence FROM project_steps
             WHERE sequence <= $1 AND ($2::date IS NULL OR occurred_on <= $2) ORDER BY project_id, sequence",
        )
        .bind(known)
        .bind(knowledge.as_of)
        .fetch_all(pool)
        .await?;
        let qualifies: Vec<(String, bool)> = sqlx::query_as(
            "SELECT DISTINCT ON (project_id) project_id, qualifies FROM project_signings
             WHERE sequence <= $1 AND ($2::date IS NULL OR signed_on <= $2) ORDER BY project_id, sequence DESC",
        )
        .bind(known)
        .bind(knowledge.as_of)
        .fetch_all(pool)
        .await?;
        let problems: Vec<(String, String)> = sqlx::query_as(
            "SELECT project_id, string_agg(description || COALESCE('（需' || help_from || '协调）', ''), '；'
                 ORDER BY raised_sequence)
             FROM project_problems
             WHERE raised_sequence <= $1 AND ($2::date IS NULL OR raised_on <= $2)
               AND NOT (resolved_sequence IS NOT NULL AND resolved_sequence <= $1
                        AND ($2::date IS NULL OR resolved_on <= $2))
             GROUP BY project_id",
        )
        .bind(known)
        .bind(knowledge.as_of)
        .fetch_all(pool)
        .await?;
        let mut by_project: HashMap<&str, Vec<&Step>> = HashMap::new();
        for step in &steps {
            by_project.entry(step.project_id.as_str()).or_default().push(step);
        }
        let qualifies: HashMap<String, bool> = qualifies.into_iter().collect();
        let problems: HashMap<String, String> = problems.into_iter().collect();
        rows.retain_mut(|row| {
            let Some(steps) = by_project.get(row.id.as_str()) else { return false };
            if !steps.iter().any(|s| s.event_type.starts_with("project.lead_recorded")) {
                return false;
            }
            fold(row, steps, qualifies.get(&row.id).copied());
            row.problems = problems.get(&row.id).cloned();
            filter.year.is_none_or(|y| row.reserve_entered_on.is_some_and(|d| chrono::Datelike::year(&d) == y))
        });
    }
    for row in &mut rows {
        row.latest_progress = latest_progress(row);
    }
    let count = |f: &dyn Fn(&ReserveRow) -> bool| u32::try_from(rows.iter().filter(|r| f(r)).count()).unwrap_or(0);
    let sum = |f: &dyn Fn(&ReserveRow) -> Option<i64>| rows.iter().filter_map(f).sum::<i64>();
    let contracted = sum(&|r| r.contracted_investment_yuan);
    let funds = sum(&|r| r.funds_arrived_yuan);
    let total = ReserveTotal {
        projects: u32::try_from(rows.len()).unwrap_or(u32::MAX),
        qualifying: count(&|r| r.qualifies == Some(true)),
        in_reserve: count(&|r| r.reserve_entered_on.is_some()),
        planned_investment_yuan: sum(&|r| r.planned_investment_yuan),
        contracted_investment_yuan: contracted,
        funds_arrived_yuan: funds,
        funds_arrival_rate_percent: rate(funds, contracted),
    };
    Ok(ReserveTable {
        title: TITLE,
        as_of_sequence,
        known_at_sequence: knowledge.known_sequence,
        as_of: knowledge.as_of,
        rows,
        total,
    })
}

/// Funds arrived against contracted, percent rounded to two decimals.
#[allow(clippy::cast_precision_loss)]
fn rate(funds: i64, contracted: i64) -> Option<f64> {
    (contracted > 0).then(|| (funds as f64 * 10_000.0 / contracted as f64).round() / 100.0)
}

/// A project step's Chinese name.
fn step_label(event_type: &str) -> &'static str {
    match event_type.trim_end_matches(|c: char| c.is_ascii_digit()).trim_end_matches(".v") {
        "project.lead_recorded" => "登记线索",
        "project.negotiation_started" => "进入洽谈",
        "project.signed" => "签约",
        "project.company_registered" => "公司注册",
        "project.construction_started" => "开工",
        "project.production_started" => "竣工投产",
        "project.funds_arrived" => "资金到位",
        "project.investment_increased" => "增资",
        "project.reserve_entered" => "纳入储备库",
        "project.stalled" => "停滞",
        "project.resumed" => "恢复推进",
        "project.dropped" => "终止",
        "project.owner_changed" => "更换分包召集人",
        "project.progress_noted" => "进展",
        "project.problem_raised" => "提出问题",
        "project.problem_resolved" => "问题解决",
        "project.investor_changed" => "变更投资方",
        _ => "进展",
    }
}

fn agreement_label(code: &str) -> &str {
    match code {
        "framework" => "框架协议",
        "contract" => "正式合同",
        other => other,
    }
}

fn latest_progress(row: &ReserveRow) -> String {
    let (Some(kind), Some(on)) = (&row.latest_step_type, row.latest_step_on) else { return String::new() };
    let label = step_label(kind);
    match row.latest_step_note.as_deref().filter(|n| !n.is_empty()) {
        Some(note) if kind.starts_with("project.signed") => format!("{on} {label}（{}）", agreement_label(note)),
        Some(note) => format!("{on} {label}：{note}"),
        None => format!("{on} {label}"),
    }
}

/// The Chinese name of a stage code.
pub fn stage_label(code: &str) -> &str {
    match code {
        "lead" => "线索/推介",
        "negotiating" => "在谈",
        "signed" => "签约",
        "company_registered" => "注册",
        "construction_started" => "开工",
        "producing" => "竣工投产",
        other => other,
    }
}

fn status_label(code: &str) -> &str {
    match code {
        "active" => "推进中",
        "stalled" => "停滞",
        "dropped" => "终止",
        other => other,
    }
}

fn category_label(code: &str) -> &str {
    match code {
        "industrial" => "工业",
        "service" => "服务业",
        other => other,
    }
}

/// The reserve as a sheet.
pub fn sheet(table: &ReserveTable, scope: &str) -> Sheet {
    let investment = "投资（万元）";
    let dates = "进展节点日期";
    let columns = vec![
        Column::new("序号", ColumnKind::Count),
        Column::new("项目名称", ColumnKind::Text),
        Column::new("所属产业链", ColumnKind::Text),
        Column::new("牵头专班", ColumnKind::Text),
        Column::new("投资方", ColumnKind::Text),
        Column::new("项目类别", ColumnKind::Text),
        Column::grouped(investment, "计划投资", ColumnKind::WanYuan),
        Column::grouped(investment, "签约投资", ColumnKind::WanYuan),
        Column::grouped(investment, "已到资", ColumnKind::WanYuan),
        Column::grouped(investment, "资金到位率", ColumnKind::Percent),
        Column::new("是否达到引进标准", ColumnKind::Text),
        Column::new("当前阶段", ColumnKind::Text),
        Column::new("项目状态", ColumnKind::Text),
        Column::new("负责人（召集人）", ColumnKind::Text),
        Column::grouped(dates, "线索", ColumnKind::Date),
        Column::grouped(dates, "洽谈", ColumnKind::Date),
        Column::grouped(dates, "首次签约", ColumnKind::Date),
        Column::grouped(dates, "合同签订", ColumnKind::Date),
        Column::grouped(dates, "公司注册", ColumnKind::Date),
        Column::grouped(dates, "开工", ColumnKind::Date),
        Column::grouped(dates, "竣工投产", ColumnKind::Date),
        Column::new("入库日期", ColumnKind::Date),
        Column::new("最新进展", ColumnKind::Text),
        Column::new("存在问题", ColumnKind::Text),
    ];
    let rows = table
        .rows
        .iter()
        .enumerate()
        .map(|(index, r)| {
            vec![
                Value::Count(i64::try_from(index + 1).unwrap_or(i64::MAX)),
                Value::text(r.name.clone()),
                Value::text(r.chain.clone()),
                Value::text(r.task_force_name.clone()),
                Value::text(r.investor.clone()),
                Value::text(r.category.as_deref().map(category_label)),
                Value::yuan(r.planned_investment_yuan),
                Value::yuan(r.contracted_investment_yuan),
                Value::yuan(r.funds_arrived_yuan),
                r.funds_arrived_yuan
                    .zip(r.contracted_investment_yuan)
                    .and_then(|(f, c)| rate(f, c))
                    .map_or(Value::Empty, Value::Percent),
                Value::text(r.qualifies.map(|q| if q { "是" } else { "否" })),
                Value::text(r.stage.as_deref().map(stage_label)),
                Value::text(r.status.as_deref().map(status_label)),
                Value::text(r.owner.clone()),
                Value::date(r.lead_on),
                Value::date(r.negotiating_on),
                Value::date(r.first_signed_on),
                Value::date(r.contract_signed_on),
                Value::date(r.company_registered_on),
                Value::date(r.construction_started_on),
                Value::date(r.producing_on),
                Value::date(r.reserve_entered_on),
                Value::Text(r.latest_progress.clone()),
                Value::text(r.problems.clone()),
            ]
        })
        .collect();
    let t = &table.total;
    let mut total = vec![Value::Empty; columns.len()];
    total[1] = Value::Text(format!("合计：{} 个项目", t.projects));
    total[6] = Value::Yuan(t.planned_investment_yuan);
    total[7] = Value::Yuan(t.contracted_investment_yuan);
    total[8] = Value::Yuan(t.funds_arrived_yuan);
    total[9] = t.funds_arrival_rate_percent.map_or(Value::Empty, Value::Percent);
    total[10] = Value::Text(format!("达标 {} 个", t.qualifying));
    total[21] = Value::Text(format!("已入库 {} 个", t.in_reserve));
    Sheet {
        sheet_name: "附件2 项目储备库".to_owned(),
        label: Some("附件2".to_owned()),
        title: TITLE.to_owned(),
        subtitle: format!("范围：{scope}　金额单位：万元　数据截至事件序号：{}", table.as_of_sequence),
        columns,
        rows,
        total: Some(total),
        notes: vec![
            "说明：签约投资为最大一次签约金额加增资；是否达到引进标准以首次签约时的投资额判定（工业项目亿元以上、服务业项目5000万元以上）；最新进展为发生日期最晚的一条记录；存在问题为尚未解决的问题（及需协调的单位），停滞或终止的项目另列其原因。".to_owned(),
        ],
        frozen_columns: 2,
        rule_row: false,
    }
}

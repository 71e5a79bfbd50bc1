//! The supervision endpoints: monthly reports with their status on a date,
//! reminders (every duty of every task force, coloured, and why), the status
//! board (the same as a task force × duty grid), and escalation matters.

use crate::q;
use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use chrono::NaiveDate;
use serde::Serialize;
use zhaoshang_http::ApiError;
use zhaoshang_http::openapi::{OpenApiBuilder, QueryParam};
use zhaoshang_read_model::supervision::{
    ColourCounts, ColourLegend, DutyHeading, DutyStatus, EscalationView, MonthlyReportHistoryRow, MonthlyReportsView,
    SupervisionStatus,
};

use crate::{Params, QueryService, consistent, database, liuzhou_today, progress_error};

/// A date parameter, today in Liuzhou when absent.
fn date_param(p: &Params, name: &str) -> Result<NaiveDate, ApiError> {
    Ok(p.date(name)?.unwrap_or_else(liuzhou_today))
}

const COLOURS: [&str; 4] = ["green", "blue", "yellow", "red"];

async fn monthly_reports(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<MonthlyReportsView>, ApiError> {
    let p = Params::new(q.clone(), &["task_force", "year", "date"])?;
    let date = date_param(&p, "date")?;
    let year = p.year("year")?.unwrap_or_else(|| chrono::Datelike::year(&date));
    let task_force = p.text("task_force");
    consistent(&s, &q).await?;
    Ok(Json(s.read_model().monthly_reports(task_force.as_deref(), year, date).await.map_err(database)?))
}

/// A report's submissions and amendments.
#[derive(Serialize, schemars::JsonSchema)]
pub struct MonthlyReportHistory {
    /// The report's id.
    pub id: String,
    /// Oldest first.
    pub history: Vec<MonthlyReportHistoryRow>,
}

async fn monthly_report(
    State(s): State<QueryService>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<MonthlyReportHistory>, ApiError> {
    Params::new(q.clone(), &[])?;
    consistent(&s, &q).await?;
    let history = s.read_model().monthly_report_history(&id).await.map_err(database)?;
    if history.is_empty() {
        return Err(ApiError::NotFound { what: format!("月度进展报告 {id}") });
    }
    Ok(Json(MonthlyReportHistory { id, history }))
}

async fn reminders(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<SupervisionStatus>, ApiError> {
    let p = Params::new(q.clone(), &["date", "task_force", "colour", "known_at"])?;
    let date = date_param(&p, "date")?;
    let task_force = p.text("task_force");
    let colours: Option<Vec<String>> = match p.text("colour") {
        None => None,
        Some(list) => {
            let wanted: Vec<String> = list.split(',').map(|c| c.trim().to_owned()).collect();
            if wanted.iter().any(|c| !COLOURS.contains(&c.as_str())) {
                return Err(ApiError::invalid(
                    "colour",
                    "allowed_values",
                    "可选值为：green、blue、yellow、red（可用逗号分隔多个）",
                ));
            }
            Some(wanted)
        }
    };
    consistent(&s, &q).await?;
    let known = crate::temporal::knowledge(&s, &p).await?.known_sequence;
    let mut status =
        s.read_model().supervision_status_known_at(date, task_force.as_deref(), known).await.map_err(progress_error)?;
    if let Some(colours) = colours {
        status.items.retain(|item| colours.iter().any(|c| c == item.colour));
    }
    Ok(Json(status))
}

/// One task force's row of the status board.
#[derive(Serialize, schemars::JsonSchema)]
pub struct StatusBoardRow {
    /// The task force.
    pub task_force_id: String,
    /// Its number.
    pub number: i32,
    /// Its name.
    pub name: String,
    /// Its most urgent colour.
    pub worst_colour: &'static str,
    /// 绿 / 蓝 / 黄 / 红 of the most urgent colour.
    pub worst_colour_label: &'static str,
    /// Its colours by colour.
    pub counts: ColourCounts,
    /// One cell per duty, in the order of `duties`.
    pub cells: Vec<DutyStatus>,
}

/// The status board (督导看板): task forces × duties, each coloured against
/// the pro-rata target, and why.
#[derive(Serialize, schemars::JsonSchema)]
pub struct StatusBoard {
    /// The board's title.
    pub title: &'static str,
    /// The date judged.
    pub date: NaiveDate,
    /// The plan period whose targets apply.
    pub plan_period_id: String,
    /// The stream sequence the read models stood on.
    pub as_of_sequence: u64,
    /// What each colour means.
    pub legend: Vec<ColourLegend>,
    /// The columns.
    pub duties: Vec<DutyHeading>,
    /// Totals by colour.
    pub counts: ColourCounts,
    /// One row per task force, by number.
    pub rows: Vec<StatusBoardRow>,
}

fn colour_rank(code: &str) -> u8 {
    COLOURS.iter().position(|c| *c == code).map_or(0, |p| u8::try_from(p).unwrap_or(0))
}

async fn status_board(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<StatusBoard>, ApiError> {
    let p = Params::new(q.clone(), &["date", "task_force", "known_at"])?;
    let date = date_param(&p, "date")?;
    let task_force = p.text("task_force");
    consistent(&s, &q).await?;
    let known = crate::temporal::knowledge(&s, &p).await?.known_sequence;
    let status =
        s.read_model().supervision_status_known_at(date, task_force.as_deref(), known).await.map_err(progress_error)?;
    let mut rows: Vec<StatusBoardRow> = Vec::new();
    for item in status.items {
        if rows.last().is_none_or(|row| row.task_force_id != item.task_force_id) {
            rows.push(StatusBoardRow {
                task_force_id: item.task_force_id.clone(),
                number: item.task_force_number,
                name: item.task_force_name.clone(),
                worst_colour: "green",
                worst_colour_label: "绿",
                counts: ColourCounts::default(),
                cells: Vec::new(),
            });
        }
        let row = rows.last_mut().expect("a row was just pushed");
        if colour_rank(item.colour) > colour_rank(row.worst_colour) {
            row.worst_colour = item.colour;
            row.worst_colour_label = item.colour_label;
        }
        match item.colour {
            "green" => row.counts.green += 1,
            "blue" => row.counts.blue += 1,
            "yellow" => row.counts.yellow += 1,
            _ => row.counts.red += 1,
        }
        row.cells.push(item);
    }
    Ok(Json(StatusBoard {
        title: "科技招商专班督导看板",
        date: status.date,
        plan_period_id: status.plan_period_id,
        as_of_sequence: status.as_of_sequence,
        legend: status.legend,
        duties: status.duties,
        counts: status.counts,
        rows,
    }))
}

async fn escalations(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<EscalationView>>, ApiError> {
    let p = Params::new(q.clone(), &["task_force", "open"])?;
    let (task_force, open) = (p.text("task_force"), p.boolean("open")?);
    consistent(&s, &q).await?;
    Ok(Json(s.read_model().escalations(task_force.as_deref(), open).await.map_err(database)?))
}

/// The supervision endpoints, to be merged into the query router.
pub(crate) fn routes() -> Router<QueryService> {
    Router::new()
        .route("/api/v1/monthly-reports", get(monthly_reports))
        .route("/api/v1/monthly-reports/{id}", get(monthly_report))
        .route("/api/v1/reminders", get(reminders))
        .route("/api/v1/status-board", get(status_board))
        .route("/api/v1/escalations", get(escalations))
}

/// Documents a GET of the supervision tag, with the consistency parameters.
pub(crate) fn add(
    docs: &mut OpenApiBuilder,
    path: &'static str,
    summary: &'static str,
    response: serde_json::Value,
    query: Vec<QueryParam>,
) {
    crate::document_get(docs, path, "督导", summary, response, query);
}

/// Adds the supervision endpoints to the query documentation.
pub(crate) fn document(docs: &mut OpenApiBuilder) {
    let date = || q("date", "按哪一天判断（YYYY-MM-DD，默认柳州今天）", "string");
    let task_force = || q("task_force", "专班编号（如 automotive）", "string");
    let known_at =
        || q("known_at", "按此时（RFC 3339）已录入的情况判断（督办事项亦按当时的步骤）；默认按全部记录", "string");
    let r = docs.schema::<MonthlyReportsView>();
    add(
        docs,
        "/api/v1/monthly-reports",
        "月度进展报告：每专班每月的截止日期及按时、逾期（天数）、缺报、未到期状态",
        r,
        vec![task_force(), q("year", "年份（默认为 date 所在年）", "integer"), date()],
    );
    let r = docs.schema::<MonthlyReportHistory>();
    add(docs, "/api/v1/monthly-reports/{id}", "单份月度进展报告的报送与更正记录", r, vec![]);
    let r = docs.schema::<SupervisionStatus>();
    add(
        docs,
        "/api/v1/reminders",
        "提醒清单：各专班各项职责在某日的绿/蓝/黄/红状态及原因，附未办结的督办事项",
        r,
        vec![
            date(),
            task_force(),
            q("colour", "只看某些颜色：green、blue、yellow、red，可逗号分隔", "string"),
            known_at(),
        ],
    );
    let r = docs.schema::<StatusBoard>();
    add(
        docs,
        "/api/v1/status-board",
        "督导看板：专班 × 职责，按时间进度着色并说明原因",
        r,
        vec![date(), task_force(), known_at()],
    );
    let r = docs.schema::<Vec<EscalationView>>();
    add(
        docs,
        "/api/v1/escalations",
        "督办事项：提醒、催办、督办、通报及专班答复",
        r,
        vec![task_force(), q("open", "true 只看未办结，false 只看已办结", "boolean")],
    );
}

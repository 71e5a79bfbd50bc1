//! `/console/`: the office's and the leaders' overview of a year: 附件1 with
//! each target, actual and gap and its colour (the status board's judgement
//! and why), the progress over the year's months per task force and per
//! measure (ECharts), the real-time alerts of major negotiations and
//! signings, and the reminders due.

use std::collections::HashMap;

use axum::extract::{Query, State};
use chrono::{Datelike, NaiveDate};
use maud::{Markup, html};
use serde_json::json;
use zhaoshang_http::ApiError;
use zhaoshang_http::auth::Caller;
use zhaoshang_read_model::progress::{PeriodRequest, ProgressError, ProgressTable};
use zhaoshang_read_model::supervision::DutyStatus;

use super::{PageError, Section, frame, json_island, liuzhou_today, page_params, wan_yuan};
use crate::{QueryService, database};

/// How many of the latest major alerts the overview lists.
const ALERTS_SHOWN: usize = 20;

pub(crate) fn progress_error(error: ProgressError) -> PageError {
    match error {
        ProgressError::NoPlanPeriod(label) => {
            PageError(ApiError::NotFound { what: format!("覆盖 {label} 年的规划期") })
        }
        ProgressError::ReadModel(e) => PageError(database(e)),
    }
}

/// The years the loaded plan periods cover, and the one to show by default:
/// this year while a plan covers it, else the last planned year.
pub(crate) async fn plan_years(service: &QueryService) -> Result<(Vec<i32>, i32), PageError> {
    let plans = service.read_model().plan_periods().await.map_err(database)?;
    let mut years: Vec<i32> = plans.iter().flat_map(|p| p.first_year..=p.last_year).collect();
    years.sort_unstable();
    years.dedup();
    let this_year = liuzhou_today().year();
    let default = if years.contains(&this_year) { this_year } else { years.last().copied().unwrap_or(this_year) };
    Ok((years, default))
}

/// The day a year is judged on: today while the year runs, else its last day.
pub(crate) fn judged_on(year: i32) -> NaiveDate {
    let last = NaiveDate::from_ymd_opt(year, 12, 31).expect("31 December exists");
    liuzhou_today().min(last)
}

fn month_end(year: i32, month: u32) -> NaiveDate {
    let first_of_next =
        if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    first_of_next.and_then(|d| d.pred_opt()).expect("a month has a last day")
}

/// 附件1 at every month end of `year` up to `until`: the progress over time.
async fn monthly_series(
    service: &QueryService,
    year: i32,
    until: NaiveDate,
) -> Result<Vec<(u32, ProgressTable)>, PageError> {
    let months: Vec<u32> =
        (1..=12).filter(|m| NaiveDate::from_ymd_opt(year, *m, 1).is_some_and(|d| d <= until)).collect();
    let tables = futures::future::join_all(months.iter().map(|month| {
        let date = month_end(year, *month).min(until);
        service.read_model().progress(PeriodRequest::YearThrough(year, date))
    }))
    .await;
    months.into_iter().zip(tables).map(|(month, table)| table.map(|t| (month, t)).map_err(progress_error)).collect()
}

fn chart_data(table: &ProgressTable, series: &[(u32, ProgressTable)]) -> serde_json::Value {
    let months: Vec<String> = series.iter().map(|(m, _)| format!("{m}月")).collect();
    let mut by_measure = serde_json::Map::new();
    for measure in &table.measures {
        let mut lines = serde_json::Map::new();
        for row in &table.rows {
            let id = row.task_force_id.clone().unwrap_or_default();
            let values: Vec<u32> = series
                .iter()
                .map(|(_, t)| {
                    t.rows
                        .iter()
                        .find(|r| r.task_force_id == row.task_force_id)
                        .and_then(|r| r.cells.iter().find(|c| c.measure == measure.code))
                        .map_or(0, |c| c.actual)
                })
                .collect();
            lines.insert(id, json!(values));
        }
        let totals: Vec<u32> = series
            .iter()
            .map(|(_, t)| t.total.cells.iter().find(|c| c.measure == measure.code).map_or(0, |c| c.actual))
            .collect();
        lines.insert("_total".to_owned(), json!(totals));
        by_measure.insert(
            measure.code.to_owned(),
            json!({"label": measure.label, "lines": lines,
                   "target": table.total.cells.iter().find(|c| c.measure == measure.code).and_then(|c| c.target)}),
        );
    }
    let task_forces: Vec<serde_json::Value> =
        table.rows.iter().map(|r| json!({"id": r.task_force_id, "name": r.name})).collect();
    json!({"months": months, "task_forces": task_forces, "measures": by_measure,
           "order": table.measures.iter().map(|m| m.code).collect::<Vec<_>>()})
}

pub(crate) fn colour_class(colour: &str) -> &'static str {
    match colour {
        "green" => "c-green",
        "blue" => "c-blue",
        "yellow" => "c-yellow",
        "red" => "c-red",
        _ => "",
    }
}

/// 附件1 as a table: one column per measure, each cell `actual / target`
/// with its gap, coloured by the status board's judgement of that duty.
pub(crate) fn progress_table(table: &ProgressTable, status: &[DutyStatus], caller: &Caller) -> Markup {
    let duty = |task_force: &Option<String>, measure: &str| {
        // The rhythm duties are judged under their own names, the targets under the measure's.
        let duty = match measure {
            "joint_meeting_quarters" => "joint_meeting",
            "supervision_quarters" => "supervision_inspection",
            "monthly_reports" => "monthly_report",
            other => other,
        };
        task_force.as_ref().and_then(|id| status.iter().find(|d| &d.task_force_id == id && d.duty == duty))
    };
    html! {
        div.scroll {
            table.progress data-as-of=(table.as_of_sequence) {
                thead {
                    tr {
                        th.name { "专班" }
                        @for measure in &table.measures { th title=(measure.code) { (measure.label) } }
                    }
                }
                tbody {
                    @for row in table.rows.iter().chain(std::iter::once(&table.total)) {
                        @let id = row.task_force_id.clone().unwrap_or_else(|| "total".to_owned());
                        tr class=@if row.task_force_id.is_none() { "total" } {
                            th.name {
                                @if let Some(tf) = row.task_force_id.as_ref().filter(|tf| super::may_see_task_force(caller, tf)) {
                                    a href=(format!("/console/task-forces/{tf}")) { (row.name) }
                                } @else { (row.name) }
                            }
                            @for measure in &table.measures {
                                @let cell = row.cells.iter().find(|c| c.measure == measure.code);
                                @let judged = duty(&row.task_force_id, measure.code);
                                @let class = judged.map_or("", |d| colour_class(d.colour));
                                @let why = judged.map_or(String::new(), |d| format!("{}：{}", d.colour_label, d.why));
                                @if let Some(cell) = cell {
                                    td class=(class) title=(why) data-cell=(format!("{id}:{}", measure.code)) data-actual=(cell.actual) {
                                        span.nowrap { b { (cell.actual) } @if let Some(target) = cell.target { span.target { "/" (target) } } }
                                        @if let Some(gap) = cell.gap.filter(|g| *g > 0) { small.gap { "差" (gap) } }
                                        @if let Some(d) = judged { span.mark { (d.colour_label) } }
                                    }
                                } @else {
                                    td.none title="由领导小组办公室统计，不分专班" { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn legend() -> Markup {
    html! {
        p.legend {
            span.c-green { "绿 已完成" } " " span.c-blue { "蓝 正常推进" } " "
            span.c-yellow { "黄 即将到期" } " " span.c-red { "红 逾期或滞后" }
            span.muted { "（颜色按当日时间进度判断，鼠标停在格子上可看原因）" }
        }
    }
}

pub(crate) fn reminders_table(items: &[&DutyStatus], with_task_force: bool, caller: &Caller) -> Markup {
    html! {
        @if items.is_empty() {
            p.muted { "没有到期或滞后的事项。" }
        } @else {
            div.scroll {
                table.list {
                    thead { tr {
                        th { "颜色" }
                        @if with_task_force { th { "专班" } }
                        th { "职责" } th { "期间" } th { "原因" } th { "下一截止日" } th { "督办" }
                    } }
                    tbody {
                        @for item in items {
                            tr {
                                td class=(colour_class(item.colour)) { (item.colour_label) }
                                @if with_task_force {
                                    td {
                                        @if super::may_see_task_force(caller, &item.task_force_id) {
                                            a href=(format!("/console/task-forces/{}", item.task_force_id)) { (item.task_force_name) }
                                        } @else { (item.task_force_name) }
                                    }
                                }
                                td { (item.duty_label) }
                                td.nowrap { (item.period) }
                                td { (item.why) }
                                td.nowrap { (item.next_due_on.map(|d| d.to_string()).unwrap_or_default()) }
                                td {
                                    @for open in &item.open_escalations {
                                        span.tag { (open.step_label) " " (open.step_on) @if open.answered { "（已答复）" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Red first, then yellow: the reminders the office acts on.
pub(crate) fn due(items: &[DutyStatus]) -> Vec<&DutyStatus> {
    let mut due: Vec<&DutyStatus> = items.iter().filter(|d| matches!(d.colour, "red" | "yellow")).collect();
    due.sort_by_key(|d| (d.colour != "red", d.task_force_number));
    due
}

pub(crate) async fn page(
    State(service): State<QueryService>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, PageError> {
    let params = page_params(&service, q, &["year"]).await?;
    let (years, default_year) = plan_years(&service).await?;
    let year = params.year("year")?.unwrap_or(default_year);
    let date = judged_on(year);
    let table = service.read_model().progress(PeriodRequest::Year(year)).await.map_err(progress_error)?;
    let status = service.read_model().supervision_status(date, None).await.map_err(progress_error)?;
    let series = monthly_series(&service, year, date).await?;
    let alerts = service.read_model().alerts(0, None, false, 10_000).await.map_err(database)?;
    let names: HashMap<&str, &str> =
        table.rows.iter().filter_map(|r| Some((r.task_force_id.as_deref()?, r.name.as_str()))).collect();
    let body = html! {
        div.heading {
            h1 { "科技招商工作总览 · " (year) " 年" }
            nav.years {
                @for y in &years {
                    a href=(format!("/console/?year={y}")) class=@if *y == year { "active" } { (y) " 年" }
                }
            }
        }
        p.muted {
            "统计期间 " (table.period.from) " 至 " (table.period.to) "；颜色按 " (date) " 判断；数据截至事件序号 "
            (table.as_of_sequence) "。"
            a #download-attachment-1 href=(format!("/api/v1/reports/attachment-1?year={year}")) { "下载附件1（XLSX）" }
        }
        section #progress {
            h2 { "附件1 科技系统科技招商工作进度统计表" }
            (legend())
            (progress_table(&table, &status.items, &caller))
        }
        section #charts {
            h2 { "进度走势（逐月累计）" }
            div.chart-controls {
                label for="chart-measure" { "指标：" }
                select #chart-measure {
                    @for m in &table.measures { option value=(m.code) selected[m.code == "activities"] { (m.label) } }
                }
            }
            div.charts {
                div.chart #chart-task-forces role="img" aria-label="各专班逐月累计完成数" {}
                div.chart #chart-measures role="img" aria-label="全系统各指标逐月完成率" {}
            }
            (json_island("chart-data", &chart_data(&table, &series)))
        }
        div.columns {
            section #alerts {
                h2 { "重大项目洽谈及签约（实时报送）" }
                @if alerts.is_empty() {
                    p.muted { "尚无项目洽谈或签约。" }
                } @else {
                    div.scroll { table.list {
                        thead { tr { th { "日期" } th { "专班" } th { "项目" } th { "事项" } th.num { "金额（万元）" } th { "报送" } } }
                        tbody {
                            @for alert in alerts.iter().rev().take(ALERTS_SHOWN) {
                                tr {
                                    td.nowrap { (alert.occurred_on) }
                                    td { (alert.task_force_id.as_deref().and_then(|id| names.get(id).copied()).unwrap_or("")) }
                                    td { (alert.project_name.as_deref().unwrap_or(&alert.project_id)) }
                                    td { (alert_kind(&alert.kind)) @if alert.major { " " span.tag.major { "重大" } } }
                                    td.num { (alert.amount_yuan.map(wan_yuan).unwrap_or_default()) }
                                    td.nowrap {
                                        @if alert.reported_days_later > 0 { "迟报 " (alert.reported_days_later) " 天" } @else { "当日" }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
            section #reminders {
                h2 { "到期与滞后提醒（" (date) "）" }
                (reminders_table(&due(&status.items), true, &caller))
            }
        }
        script src="/console/assets/echarts.min.js" defer {}
    };
    Ok(frame("总览", &caller, Section::Dashboard, body))
}

pub(crate) fn alert_kind(kind: &str) -> &str {
    match kind {
        "negotiation_started" => "开始洽谈",
        "signed" => "签约",
        "investor_changed" => "变更投资方",
        other => other,
    }
}

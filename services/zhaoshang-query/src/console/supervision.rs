//! `/console/supervision`: pick two moments, each an inspection snapshot or
//! a date (what was true at its end) with an optional time of knowledge
//! (what the system knew then), and see how each task force's figures
//! changed between them, which lags closed or opened, and every event that
//! made a difference; download the same comparison as XLSX.
//!
//! The comparison is the one `GET /api/v1/supervision/comparison` answers:
//! the same parameters, parsed by the same functions, resolved and compared
//! by the same read-model calls; the download link is that endpoint.

use std::collections::HashMap;

use axum::extract::{Query, State};
use maud::{Markup, html};
use zhaoshang_http::auth::Caller;
use zhaoshang_read_model::temporal::{Comparison, InspectionView, PointRequest};

use super::dashboard::{plan_years, progress_error};
use super::task_force::stage_label;
use super::{PageError, Section, frame, liuzhou_today, page_params};
use crate::temporal::{point_error, point_request};
use crate::{Params, QueryService, database};

/// The parameters of one moment, as the comparison API names them.
const MOMENT_PARAMS: [&str; 3] = ["inspection", "as_of", "known_at"];

/// A `datetime-local` value (`2024-04-01T09:30`) has no zone: the bureau's
/// time is UTC+8. A value with a zone is passed on as it is.
fn with_zone(value: &str) -> String {
    let has_zone = value.ends_with('Z') || value.rfind(['+', '-']).is_some_and(|i| i > 10);
    if has_zone {
        return value.to_owned();
    }
    let seconds = if value.len() == 16 { ":00" } else { "" };
    format!("{value}{seconds}+08:00")
}

fn moment_picker(side: &str, label: &str, params: &Params, inspections: &[InspectionView]) -> Markup {
    let value = |name: &str| params.text(&format!("{side}_{name}")).unwrap_or_default();
    let chosen = value("inspection");
    html! {
        fieldset.moment data-side=(side) {
            legend { (label) }
            label { "督导检查快照 "
                select name=(format!("{side}_inspection")) {
                    option value="" { "（不用快照，按日期）" }
                    @for inspection in inspections {
                        option value=(inspection.id) selected[chosen == inspection.id] {
                            (inspection.held_on) " " (inspection.title)
                        }
                    }
                }
            }
            label { "截至日期（当日结束时的状况） " input type="date" name=(format!("{side}_as_of")) value=(value("as_of")); }
            label { "当时已知（记录时间，可不填） "
                input type="datetime-local" name=(format!("{side}_known_at")) value=(value("known_at").get(..19).unwrap_or(&value("known_at"))) step="1";
            }
        }
    }
}

fn lag_class(lag: Option<&str>) -> &'static str {
    match lag {
        Some("closed") => "c-green",
        Some("opened") => "c-red",
        _ => "",
    }
}

fn comparison_table(comparison: &Comparison) -> Markup {
    let measures: Vec<(&str, &str)> = comparison.total.cells.iter().map(|c| (c.measure, c.label)).collect();
    html! {
        div.scroll {
            table.progress.compared {
                thead { tr {
                    th.name { "专班" }
                    @for (code, label) in &measures { th title=(code) { (label) } }
                } }
                tbody {
                    @for row in comparison.rows.iter().chain(std::iter::once(&comparison.total)) {
                        @let id = row.task_force_id.clone().unwrap_or_else(|| "total".to_owned());
                        tr class=@if row.task_force_id.is_none() { "total" } {
                            th.name { (row.name) }
                            @for (code, _) in &measures {
                                @if let Some(cell) = row.cells.iter().find(|c| c.measure == *code) {
                                    @let why = match cell.lag {
                                        Some("closed") => "滞后已消除",
                                        Some("opened") => "新出现滞后",
                                        _ => "",
                                    };
                                    td class=(lag_class(cell.lag)) title=(why) data-cell=(format!("{id}:{code}")) {
                                        span.nowrap { (cell.before) " → " b { (cell.after) } }
                                        @if cell.difference != 0 {
                                            small class=(if cell.difference > 0 { "up" } else { "down" }) {
                                                " " (if cell.difference > 0 { "+" } else { "" }) (cell.difference)
                                            }
                                        }
                                        @if let Some(target) = cell.target { br; span.target { "目标 " (target) } }
                                    }
                                } @else {
                                    td.none { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn event_name(event_type: &str) -> String {
    let short = event_type.trim_start_matches("cn.gov.liuzhou.kjj.zhaoshang.");
    let what = short.split('.').nth(1).unwrap_or(short);
    let words = match what {
        "held" => "活动举办",
        "planned" => "活动计划",
        "cancelled" => "活动取消",
        "convened" => "会议召开",
        "docking_recorded" => "精准对接",
        "annual_plan_submitted" => "报送年度方案",
        "submitted" => "报送",
        "amended" => "更正",
        other => stage_label(other),
    };
    format!("{words}（{short}）")
}

pub(crate) async fn page(
    State(service): State<QueryService>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, PageError> {
    let names: Vec<String> =
        ["from", "to"].iter().flat_map(|side| MOMENT_PARAMS.iter().map(move |p| format!("{side}_{p}"))).collect();
    let mut allowed = vec!["year"];
    allowed.extend(names.iter().map(String::as_str));
    let params = page_params(&service, q.clone(), &allowed).await?;
    let (years, default_year) = plan_years(&service).await?;
    let year = params.year("year")?.unwrap_or(default_year);
    let inspections = service.read_model().inspections(Some(year)).await.map_err(database)?;
    // The API's parameters: the page's, without the empty ones, times with their zone.
    let mut api: Vec<(String, String)> = vec![("year".to_owned(), year.to_string())];
    for name in &names {
        if let Some(value) = params.text(name) {
            let value = if name.ends_with("known_at") { with_zone(&value) } else { value };
            api.push((name.clone(), value));
        }
    }
    let api_params = Params::new(api.iter().cloned().collect(), &allowed)?;
    let from = point_request(&api_params, "from")?;
    let to = point_request(&api_params, "to")?;
    let comparison = if from == PointRequest::default() {
        None
    } else {
        let today = liuzhou_today();
        let read_model = service.read_model();
        let from = read_model.resolve_point(&from, today).await.map_err(|e| point_error(e, "from"))?;
        let to = read_model.resolve_point(&to, today).await.map_err(|e| point_error(e, "to"))?;
        Some(read_model.compare(year, from, to, 1_000).await.map_err(progress_error)?)
    };
    let query: String = api
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&");
    let body = html! {
        h1 { "督导比对" }
        p.muted {
            "选择两个时点（督导检查的快照，或两个日期），比较各专班的进度变化。"
            "“截至日期”看当日结束时的实际状况；“当时已知”只看那一时刻以前已经记录的事实（此后补录的不算）。"
            "比较时点不填即为现在。"
        }
        form.picker.comparison method="get" action="/console/supervision" {
            label { "年度 "
                select name="year" {
                    @for y in &years { option value=(y) selected[*y == year] { (y) " 年" } }
                }
            }
            div.moments {
                (moment_picker("from", "基准时点", &params, &inspections))
                (moment_picker("to", "比较时点（不填为现在）", &params, &inspections))
            }
            button type="submit" { "比较" }
        }
        @match &comparison {
            None => p.muted { "请至少选择基准时点（一个快照，或一个日期和/或记录时间）。" },
            Some(c) => {
                section #comparison {
                    h2 { (c.year) " 年：" (c.from.label) " → " (c.to.label) }
                    p.muted {
                        "两个时点之间录入了 " (c.events_recorded_between) " 个事件；改变统计的事件共 " (c.events_total) " 个"
                        @if c.events_truncated { "（下方列出前 " (c.events.len()) " 个，全部见 XLSX）" }
                        "；"
                        "数据截至事件序号 " (c.as_of_sequence) "。"
                        a #download-comparison href=(format!("/api/v1/supervision/comparison?{query}&format=xlsx")) { "下载比对表（XLSX）" }
                    }
                    p.legend { span.c-green { "滞后已消除" } " " span.c-red { "新出现滞后" } span.muted { "（格中为 基准 → 比较，及其变化）" } }
                    (comparison_table(c))
                }
                div.columns {
                    section #lags {
                        h2 { "滞后变化" }
                        @if c.lags_closed.is_empty() && c.lags_opened.is_empty() {
                            p.muted { "两个时点之间没有滞后消除或新出现。" }
                        } @else {
                            ul {
                                @for lag in &c.lags_opened { li.c-red { (lag.task_force_name) "：" (lag.label) " 新出现滞后" } }
                                @for lag in &c.lags_closed { li.c-green { (lag.task_force_name) "：" (lag.label) " 滞后已消除" } }
                            }
                        }
                    }
                    section #difference-events {
                        h2 { "带来变化的事件" }
                        @if c.events.is_empty() { p.muted { "没有。" } } @else {
                            div.scroll { table.list {
                                thead { tr { th.num { "序号" } th { "记录时间（UTC）" } th { "记录人" } th { "事件" } th { "发生日期" } th { "计入" } } }
                                tbody {
                                    @for e in &c.events {
                                        tr {
                                            td.num { (e.sequence) }
                                            td.nowrap { (e.recorded_at.format("%Y-%m-%d %H:%M")) }
                                            td { (e.actor) }
                                            td { (event_name(&e.event_type)) }
                                            td.nowrap { (e.occurred_on.map(|d| d.to_string()).unwrap_or_default()) @if e.backfilled { " " span.tag { "补录" } } }
                                            td {
                                                @for effect in &e.effects {
                                                    span.tag { (c.total.cells.iter().find(|x| x.measure == effect.measure).map_or(effect.measure.as_str(), |x| x.label)) (if effect.change == "counted" { " +1" } else { " −1" }) }
                                                }
                                            }
                                        }
                                    }
                                }
                            } }
                        }
                    }
                }
            }
        }
    };
    Ok(frame("督导比对", &caller, Section::Supervision, body))
}

#[cfg(test)]
mod tests {
    use super::with_zone;

    #[test]
    fn a_local_time_is_liuzhou_time_and_a_zoned_one_is_kept() {
        assert_eq!(with_zone("2024-04-01T09:30"), "2024-04-01T09:30:00+08:00");
        assert_eq!(with_zone("2024-04-01T09:30:15"), "2024-04-01T09:30:15+08:00");
        assert_eq!(with_zone("2024-04-01T01:30:15Z"), "2024-04-01T01:30:15Z");
        assert_eq!(with_zone("2024-04-01T09:30:15+08:00"), "2024-04-01T09:30:15+08:00");
    }
}

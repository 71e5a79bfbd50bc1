//! `/console/supervision`: pick two moments, each an inspection snapshot or
//! a date (what was true at its end) with an optional time of knowledge
//! (what the system knew then), and see how each task force's figures
//! changed between them; download the comparison as XLSX.
//!
//! The comparison itself is the API's
//! (`GET /api/v1/supervision/comparison`, with `format=xlsx` for the file);
//! this page builds that request from the picker and `console.js` shows the
//! answer as a table, so the page and the API can never disagree.

use std::collections::HashMap;

use axum::extract::{Query, State};
use maud::{Markup, html};
use zhaoshang_http::auth::Caller;

use super::dashboard::plan_years;
use super::{PageError, Section, date_param, frame, page_params};
use crate::QueryService;

/// The parameters of one moment, as the comparison API names them.
const MOMENT_PARAMS: [&str; 3] = ["inspection", "as_of", "known_at"];

fn moment_picker(side: &str, label: &str, params: &crate::Params) -> Markup {
    let value = |name: &str| params.text(&format!("{side}_{name}")).unwrap_or_default();
    html! {
        fieldset.moment data-side=(side) {
            legend { (label) }
            label { "督导检查快照 "
                select name=(format!("{side}_inspection")) data-selected=(value("inspection")) data-inspections {
                    option value="" { "（不用快照，按日期）" }
                }
            }
            label { "截至日期（当日结束时的状况） " input type="date" name=(format!("{side}_as_of")) value=(value("as_of")); }
            label { "当时已知（记录时间，可不填） " input type="datetime-local" name=(format!("{side}_known_at")) value=(value("known_at")) step="1"; }
        }
    }
}

pub(crate) async fn page(
    State(service): State<QueryService>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, PageError> {
    let mut allowed = vec!["year"];
    let names: Vec<String> =
        ["from", "to"].iter().flat_map(|side| MOMENT_PARAMS.iter().map(move |p| format!("{side}_{p}"))).collect();
    allowed.extend(names.iter().map(String::as_str));
    let params = page_params(&service, q.clone(), &allowed).await?;
    for side in ["from", "to"] {
        date_param(&params, &format!("{side}_as_of"))?;
    }
    let (years, default_year) = plan_years(&service).await?;
    let year = params.year("year")?.unwrap_or(default_year);
    let chosen = params.text("from_inspection").is_some() || params.text("from_as_of").is_some();
    // The API's query: the page's own parameters, minus the empty ones.
    let mut query: Vec<(String, String)> = vec![("year".to_owned(), year.to_string())];
    for name in &names {
        if let Some(value) = params.text(name) {
            // A datetime-local input gives no zone: the bureau's time is UTC+8.
            let value = if name.ends_with("known_at") && !value.ends_with('Z') && !value.contains('+') {
                let seconds = if value.len() == 16 { ":00" } else { "" };
                format!("{value}{seconds}+08:00")
            } else {
                value
            };
            query.push((name.clone(), value));
        }
    }
    let encoded: String = query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&");
    let api = format!("/api/v1/supervision/comparison?{encoded}");
    let body = html! {
        h1 { "督导比对" }
        p.muted {
            "选择两个时点（两次督导检查的快照，或两个日期），比较各专班的进度变化。"
            "“截至日期”看当日结束时的实际状况；“当时已知”只看那一时刻以前已经记录的事实（补录的不算）。"
            "不选“比较时点”即与现在比较。"
        }
        form.picker.comparison method="get" action="/console/supervision" {
            label { "年度 "
                select name="year" {
                    @for y in &years { option value=(y) selected[*y == year] { (y) " 年" } }
                }
            }
            div.moments {
                (moment_picker("from", "基准时点", &params))
                (moment_picker("to", "比较时点（不填为现在）", &params))
            }
            button type="submit" { "比较" }
        }
        @if chosen {
            p { a #download-comparison href=(format!("{api}&format=xlsx")) { "下载比对表（XLSX）" } }
            div #comparison data-src=(api) { p.muted { "正在计算比对……" } }
        } @else {
            p.muted { "请至少选择基准时点（一个快照或一个日期）。" }
        }
    };
    Ok(frame("督导比对", &caller, Section::Supervision, body))
}

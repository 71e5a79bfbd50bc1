//! Supervision across time: `as_of` / `known_at` on the progress table,
//! inspection snapshots, and comparisons of two points (JSON and XLSX).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use zhaoshang_http::ApiError;
use zhaoshang_http::openapi::{OpenApiBuilder, QueryParam};
use zhaoshang_read_model::progress::Knowledge;
use zhaoshang_read_model::temporal::{Comparison, InspectionSnapshot, InspectionView, PointError, PointRequest};

use crate::q;
use crate::reports::comparison;
use crate::supervision::add;
use crate::{Params, QueryService, consistent, database, liuzhou_today, progress_error};

/// Events listed in a JSON comparison unless `events_limit` says otherwise.
const DEFAULT_EVENTS: usize = 1_000;
/// The most a comparison lists (a worksheet holds about a million rows; this
/// keeps a download to a few megabytes).
const MAX_EVENTS: usize = 100_000;

/// An RFC 3339 time parameter (`2023-07-05T10:00:00+08:00`), if given. A
/// `+` that arrived unencoded (read as a space) is taken as the `+` it was.
pub(crate) fn optional_time(p: &Params, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match p.text(name) {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(&text.replace(' ', "+"))
            .ok()
            .filter(|t| (2000..=2100).contains(&chrono::Datelike::year(t)))
            .map(|t| Some(t.with_timezone(&Utc)))
            .ok_or_else(|| {
                ApiError::invalid(
                    name,
                    "rfc3339_time",
                    "时间须按 RFC 3339 写作 2023-07-05T10:00:00+08:00（“+”在网址中写作 %2B）",
                )
            }),
    }
}

/// The knowledge a progress query asks for: `as_of` and `known_at`.
pub(crate) async fn knowledge(s: &QueryService, p: &Params) -> Result<Knowledge, ApiError> {
    let as_of = p.date("as_of")?;
    let known_sequence = match optional_time(p, "known_at")? {
        Some(at) => Some(s.read_model().sequence_known_at(at).await.map_err(database)?),
        None => None,
    };
    Ok(Knowledge { known_sequence, as_of })
}

pub(crate) fn point_request(p: &Params, prefix: &str) -> Result<PointRequest, ApiError> {
    let name = |suffix: &str| format!("{prefix}_{suffix}");
    Ok(PointRequest {
        inspection: p.text(&name("inspection")),
        as_of: p.date(&name("as_of"))?,
        known_at: optional_time(p, &name("known_at"))?,
    })
}

pub(crate) fn point_error(error: PointError, prefix: &str) -> ApiError {
    match error {
        PointError::NoInspection(id) => ApiError::invalid(
            &format!("{prefix}_inspection"),
            "inspection_exists",
            format!("没有编号为 {id} 的督导检查"),
        ),
        PointError::InspectionWithTimes => ApiError::invalid(
            &format!("{prefix}_inspection"),
            "inspection_alone",
            "督导检查快照已固定，不能再与 as_of 或 known_at 同用",
        ),
        PointError::ReadModel(e) => database(e),
    }
}

async fn inspections(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<InspectionView>>, ApiError> {
    let p = Params::new(q.clone(), &["year"])?;
    let year = p.year("year")?;
    consistent(&s, &q).await?;
    Ok(Json(s.read_model().inspections(year).await.map_err(database)?))
}

async fn inspection(
    State(s): State<QueryService>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<InspectionSnapshot>, ApiError> {
    Params::new(q.clone(), &[])?;
    consistent(&s, &q).await?;
    match s.read_model().inspection_snapshot(&id).await.map_err(progress_error)? {
        Some(snapshot) => Ok(Json(snapshot)),
        None => Err(ApiError::NotFound { what: format!("督导检查 {id}") }),
    }
}

async fn compare(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let p = Params::new(
        q.clone(),
        &[
            "year",
            "from_inspection",
            "from_as_of",
            "from_known_at",
            "to_inspection",
            "to_as_of",
            "to_known_at",
            "format",
            "events_limit",
        ],
    )?;
    let from = point_request(&p, "from")?;
    let to = point_request(&p, "to")?;
    if from == PointRequest::default() {
        return Err(ApiError::invalid(
            "from_inspection",
            "from_point_required",
            "须给出比较的起点：from_inspection，或 from_as_of 与/或 from_known_at",
        ));
    }
    let format = p.one_of("format", &["json", "xlsx"])?.unwrap_or_else(|| "json".to_owned());
    // A workbook lists every event (up to a sheet's worth); JSON the first
    // `events_limit`, with the total beside them.
    let default_limit = if format == "xlsx" { MAX_EVENTS } else { DEFAULT_EVENTS };
    let events_limit = match p.text("events_limit") {
        None => default_limit,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_EVENTS).contains(n)).ok_or_else(|| {
            ApiError::invalid("events_limit", "events_limit_range", format!("须为 1 至 {MAX_EVENTS} 之间的整数"))
        })?,
    };
    consistent(&s, &q).await?;
    let today = liuzhou_today();
    let read_model = s.read_model();
    let from = read_model.resolve_point(&from, today).await.map_err(|e| point_error(e, "from"))?;
    let to = read_model.resolve_point(&to, today).await.map_err(|e| point_error(e, "to"))?;
    let year = match p.year("year")? {
        Some(year) => year,
        None => chrono::Datelike::year(&to.as_of.or(from.as_of).unwrap_or(to.judged_on)),
    };
    let result: Comparison = read_model.compare(year, from, to, events_limit).await.map_err(progress_error)?;
    if format == "json" {
        return Ok(Json(result).into_response());
    }
    let bytes = comparison::workbook(&result).map_err(ApiError::internal)?;
    Ok(crate::reports::xlsx_download(bytes, &format!("督导对比_{year}"), &format!("comparison-{year}")))
}

/// The endpoints, merged into the query router.
pub(crate) fn routes() -> Router<QueryService> {
    Router::new()
        .route("/api/v1/inspections", get(inspections))
        .route("/api/v1/inspections/{id}", get(inspection))
        .route("/api/v1/supervision/comparison", get(compare))
}

/// Adds the endpoints to the query documentation.
pub(crate) fn document(docs: &mut OpenApiBuilder) {
    let r = docs.schema::<Vec<InspectionView>>();
    add(docs, "/api/v1/inspections", "督导检查及其冻结快照所依据的事件序号", r, vec![q("year", "年份", "integer")]);
    let r = docs.schema::<InspectionSnapshot>();
    add(
        docs,
        "/api/v1/inspections/{id}",
        "督导检查的冻结快照：当时所知、截至检查当日的进度统计表，永不改变",
        r,
        vec![],
    );
    let r = docs.schema::<Comparison>();
    let mut query = vec![q("year", "比较哪一年（默认为终点所在年）", "integer")];
    query.extend([
        q("from_inspection", "起点：督导检查编号（用其冻结快照）", "string"),
        q("from_as_of", "起点：只计此日（含）之前发生的（YYYY-MM-DD）", "string"),
        q("from_known_at", "起点：只计此时（含）之前已录入的（RFC 3339）", "string"),
        q("to_inspection", "终点：督导检查编号（to_* 都不给即“现在”）", "string"),
        q("to_as_of", "终点：只计此日（含）之前发生的（YYYY-MM-DD）", "string"),
        q("to_known_at", "终点：只计此时（含）之前已录入的（RFC 3339）", "string"),
    ]);
    query.push(q("format", "json（默认）或 xlsx", "string"));
    query.push(q(
        "events_limit",
        "最多列出多少个造成变化的事件（JSON 默认 1000，XLSX 默认 100000，最多 100000）",
        "integer",
    ));
    add(
        docs,
        "/api/v1/supervision/comparison",
        "督导对比：两个时点（快照、现在、as_of/known_at）按专班、指标的前后数、变化、造成变化的事件及新增/消除的落后项",
        r,
        query,
    );
}

/// The parameters `as_of` and `known_at` as the progress endpoints document them.
pub(crate) fn knowledge_params() -> Vec<QueryParam> {
    vec![
        q("as_of", "只计此日（含）之前发生的（YYYY-MM-DD）", "string"),
        q(
            "known_at",
            "只计此时（含）之前已录入、且当时未被撤销的（RFC 3339，如 2023-07-05T10:00:00%2B08:00）",
            "string",
        ),
    ]
}

//! The reports users print: the plan's three attachments as downloads
//! (XLSX, CSV and, for 附件1 and 附件2, JSON), and the quarterly briefing
//! (简报) as Markdown or HTML.
//!
//! Layout: [`sheet`] is the one table model and its XLSX/CSV printers;
//! [`attachment_1`], [`attachment_2`] and [`attachment_3`] turn the read
//! models into sheets; [`briefing`] gathers a quarter and renders it with a
//! content hash. This module holds the HTTP handlers, which accept
//! `consistent_with`/`wait_ms` like every query and refuse a bad parameter
//! with a problem naming it.
//!
//! Order: task forces always in the plan's order (their `number` 1–8);
//! projects by task force, then lead date, then id. Chinese text is never
//! sorted by its characters (that order means nothing to a reader).

pub mod attachment_1;
pub mod attachment_2;
pub mod attachment_3;
pub mod briefing;
pub mod comparison;
pub mod sheet;
pub mod templates;

use crate::q;
use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use zhaoshang_http::ApiError;
use zhaoshang_http::openapi::{Endpoint, OpenApiBuilder, QueryParam};
use zhaoshang_read_model::progress::{PeriodRequest, ProgressTable, parse_period};

use crate::{Params, QueryService, consistent, database};
use attachment_2::{ReserveFilter, ReserveTable};
use briefing::{BriefingFormat, Quarter, render_briefing};
use sheet::Sheet;

/// A download's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownloadFormat {
    Xlsx,
    Csv,
    Json,
}

impl DownloadFormat {
    fn code(self) -> &'static str {
        match self {
            Self::Xlsx => "xlsx",
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    /// The `format` parameter, `xlsx` when absent.
    fn from_params(params: &Params, allowed: &[DownloadFormat]) -> Result<Self, ApiError> {
        let codes: Vec<&str> = allowed.iter().map(|f| f.code()).collect();
        let chosen = params.one_of("format", &codes)?;
        Ok(chosen.and_then(|c| allowed.iter().copied().find(|f| f.code() == c)).unwrap_or(DownloadFormat::Xlsx))
    }
}

/// Characters RFC 5987 lets stand unencoded in `filename*` (attr-char).
const ATTR_CHAR_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with the Chinese file name in `filename*` (RFC 5987/6266)
/// and an ASCII fallback in `filename` for clients that do not read it.
pub fn content_disposition(chinese_name: &str, ascii_name: &str) -> String {
    let encoded = utf8_percent_encode(chinese_name, ATTR_CHAR_ESCAPES);
    format!("attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}")
}

/// A file download.
/// An XLSX download named `<chinese_stem>.xlsx`.
pub(crate) fn xlsx_download(bytes: Vec<u8>, chinese_stem: &str, ascii_stem: &str) -> Response {
    download(bytes, XLSX, &format!("{chinese_stem}.xlsx"), &format!("{ascii_stem}.xlsx"))
}

fn download(bytes: Vec<u8>, content_type: &'static str, chinese_name: &str, ascii_name: &str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&content_disposition(chinese_name, ascii_name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const CSV: &str = "text/csv; charset=utf-8";

/// A sheet in the requested format, named `附件N_标题_范围.ext`.
fn sheet_download(
    sheet: &Sheet,
    format: DownloadFormat,
    chinese_stem: &str,
    ascii_stem: &str,
) -> Result<Response, ApiError> {
    let ext = format.code();
    let (chinese, ascii) = (format!("{chinese_stem}.{ext}"), format!("{ascii_stem}.{ext}"));
    match format {
        DownloadFormat::Xlsx => Ok(download(sheet.to_xlsx().map_err(ApiError::internal)?, XLSX, &chinese, &ascii)),
        DownloadFormat::Csv => Ok(download(sheet.to_csv().map_err(ApiError::internal)?, CSV, &chinese, &ascii)),
        DownloadFormat::Json => Err(ApiError::internal("a sheet has no JSON form; the handler serialises its data")),
    }
}

fn period_request(params: &Params) -> Result<PeriodRequest, ApiError> {
    match (params.text("year"), params.text("period")) {
        (Some(year), None) => parse_period(&year)
            .filter(|r| matches!(r, PeriodRequest::Year(_)))
            .ok_or_else(|| ApiError::invalid("year", "year_range", "年份须为 2000 至 2100 之间的整数")),
        (None, Some(period)) => parse_period(&period)
            .ok_or_else(|| ApiError::invalid("period", "period_format", "期间须写作 2022-2024（起止年份）或单个年份")),
        _ => Err(ApiError::invalid("year", "year_or_period", "须且只能给出 year 或 period 之一")),
    }
}

async fn progress_table(service: &QueryService, request: PeriodRequest) -> Result<ProgressTable, ApiError> {
    progress_table_at(service, request, zhaoshang_read_model::progress::Knowledge::default()).await
}

async fn progress_table_at(
    service: &QueryService,
    request: PeriodRequest,
    knowledge: zhaoshang_read_model::progress::Knowledge,
) -> Result<ProgressTable, ApiError> {
    service.read_model().progress_at(request, knowledge).await.map_err(crate::progress_error)
}

async fn attachment_1(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    use DownloadFormat::{Csv, Json, Xlsx};
    let p = Params::new(q.clone(), &["year", "period", "format", "as_of", "known_at"])?;
    let request = period_request(&p)?;
    let format = DownloadFormat::from_params(&p, &[Xlsx, Csv, Json])?;
    consistent(&s, &q).await?;
    let knowledge = crate::temporal::knowledge(&s, &p).await?;
    let table = progress_table_at(&s, request, knowledge).await?;
    if format == Json {
        return Ok(axum::Json(table).into_response());
    }
    let label = &table.period.label;
    sheet_download(
        &attachment_1::sheet(&table),
        format,
        &format!("附件1_{}_{label}", attachment_1::TITLE),
        &format!("attachment-1-progress-{label}"),
    )
}

async fn attachment_2(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    use DownloadFormat::{Csv, Json, Xlsx};
    let p = Params::new(q.clone(), &["task_force", "year", "format", "as_of", "known_at"])?;
    let filter = ReserveFilter { task_force_id: p.text("task_force"), year: p.year("year")? };
    let format = DownloadFormat::from_params(&p, &[Xlsx, Csv, Json])?;
    consistent(&s, &q).await?;
    let mut scope = "全部项目".to_owned();
    let mut ascii_scope = "all".to_owned();
    if let Some(id) = &filter.task_force_id {
        let task_force = s.read_model().task_force(id).await.map_err(database)?;
        let task_force = task_force.ok_or_else(|| {
            ApiError::invalid("task_force", "known_task_force", "专班编号不存在，可用编号见 /api/v1/task-forces")
        })?;
        scope = task_force.name;
        ascii_scope = id.chars().filter(char::is_ascii_alphanumeric).collect();
    }
    if let Some(year) = filter.year {
        scope = format!("{scope}（{year}年入库）");
        ascii_scope = format!("{ascii_scope}-{year}");
    }
    let knowledge = crate::temporal::knowledge(&s, &p).await?;
    if let Some(day) = knowledge.as_of {
        scope = format!("{scope}（截至{day}）");
        ascii_scope = format!("{ascii_scope}-{day}");
    }
    let as_of = s.read_model().checkpoint().await.map_err(database)?;
    let table: ReserveTable = attachment_2::read_at(s.read_model().pool(), &filter, as_of, knowledge)
        .await
        .map_err(|e| database(e.into()))?;
    if format == Json {
        return Ok(axum::Json(table).into_response());
    }
    sheet_download(
        &attachment_2::sheet(&table, &scope),
        format,
        &format!("附件2_{}_{scope}", attachment_2::TITLE),
        &format!("attachment-2-reserve-{ascii_scope}"),
    )
}

async fn attachment_3(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    use DownloadFormat::{Csv, Xlsx};
    let p = Params::new(q.clone(), &["format"])?;
    let format = DownloadFormat::from_params(&p, &[Xlsx, Csv])?;
    consistent(&s, &q).await?;
    let as_of = s.read_model().checkpoint().await.map_err(database)?;
    let rows = attachment_3::read(s.read_model().pool()).await.map_err(|e| database(e.into()))?;
    sheet_download(
        &attachment_3::sheet(&rows, as_of),
        format,
        &format!("附件3_{}", attachment_3::TITLE),
        "attachment-3-liaisons",
    )
}

async fn briefing(
    State(s): State<QueryService>,
    Path(quarter): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let p = Params::new(q.clone(), &["format"])?;
    let quarter = Quarter::parse(&quarter).ok_or_else(|| {
        ApiError::invalid("quarter", "quarter_format", "季度须写作 2022-Q1（年份-Q季度，季度为 1 至 4）")
    })?;
    let format = match p.one_of("format", &["md", "html"])?.as_deref() {
        Some("html") => BriefingFormat::Html,
        _ => BriefingFormat::Markdown,
    };
    consistent(&s, &q).await?;
    let progress = progress_table(&s, PeriodRequest::YearThrough(quarter.year, quarter.last_day())).await?;
    let as_of = progress.as_of_sequence;
    let data = briefing::gather(s.read_model().pool(), quarter, progress).await.map_err(|e| database(e.into()))?;
    let rendered = render_briefing(&data, format);
    let (content_type, ext) = match format {
        BriefingFormat::Markdown => ("text/markdown; charset=utf-8", "md"),
        BriefingFormat::Html => ("text/html; charset=utf-8", "html"),
    };
    let code = format!("{}-Q{}", quarter.year, quarter.number);
    let mut response = rendered.content.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in [
        ("x-content-sha256", rendered.sha256.clone()),
        ("etag", format!("\"{}\"", rendered.sha256)),
        ("x-as-of-sequence", as_of.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    let disposition =
        content_disposition(&format!("科技招商工作简报_{}.{ext}", quarter.label()), &format!("briefing-{code}.{ext}"))
            .replacen("attachment", "inline", 1);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

async fn import_templates() -> axum::Json<Vec<templates::Template>> {
    axum::Json(templates::TEMPLATES.to_vec())
}

/// `project-leads.xlsx` or `project-leads.csv`.
async fn import_template(Path(file): Path<String>) -> Result<Response, ApiError> {
    let kinds: Vec<&str> = templates::TEMPLATES.iter().map(|t| t.kind).collect();
    let (kind, format) = match file.rsplit_once('.') {
        Some((kind, "xlsx")) => (kind, DownloadFormat::Xlsx),
        Some((kind, "csv")) => (kind, DownloadFormat::Csv),
        _ => {
            return Err(ApiError::invalid(
                "file",
                "template_format",
                "模板须以 .xlsx 或 .csv 结尾，如 project-leads.xlsx",
            ));
        }
    };
    let template = templates::find(kind)
        .ok_or_else(|| ApiError::invalid("kind", "allowed_values", format!("可下载的模板：{}", kinds.join("、"))))?;
    sheet_download(
        &templates::sheet(template),
        format,
        &format!("导入模板_{}", template.name),
        &format!("import-template-{}", template.kind),
    )
}

/// The report endpoints, merged into the query router.
pub fn routes() -> Router<QueryService> {
    Router::new()
        .route("/api/v1/reports/attachment-1", get(attachment_1))
        .route("/api/v1/reports/attachment-2", get(attachment_2))
        .route("/api/v1/reports/attachment-3", get(attachment_3))
        .route("/api/v1/briefings/{id}", get(briefing))
        .route("/api/v1/import-templates", get(import_templates))
        .route("/api/v1/import-templates/{file}", get(import_template))
}

/// Documents the report endpoints.
pub fn document(docs: &mut OpenApiBuilder) {
    let tag = "报表";
    let add = |docs: &mut OpenApiBuilder,
               path: &'static str,
               summary: &'static str,
               response: Option<serde_json::Value>,
               query: Vec<QueryParam>| crate::document_get(docs, path, tag, summary, response, query);
    let progress = docs.schema::<ProgressTable>();
    add(
        docs,
        "/api/v1/reports/attachment-1",
        "附件1 科技系统科技招商工作进度统计表下载：XLSX（默认）、CSV（UTF-8 带 BOM）或 JSON（与 /api/v1/progress 相同）",
        Some(progress),
        vec![
            q("year", "单个年份，如 2022", "integer"),
            q("period", "起止年份，如 2022-2024", "string"),
            q("format", "xlsx（默认）、csv、json", "string"),
        ]
        .into_iter()
        .chain(crate::temporal::knowledge_params())
        .collect(),
    );
    let reserve = docs.schema::<ReserveTable>();
    add(
        docs,
        "/api/v1/reports/attachment-2",
        "附件2 科技系统科技招商项目储备库下载：XLSX（默认）、CSV 或 JSON；按专班排序（方案顺序），再按线索日期",
        Some(reserve),
        vec![
            q("task_force", "只列该专班的项目（专班编号，如 automotive）", "string"),
            q("year", "只列该年入库的项目", "integer"),
            q("format", "xlsx（默认）、csv、json", "string"),
        ]
        .into_iter()
        .chain(crate::temporal::knowledge_params())
        .collect(),
    );
    add(
        docs,
        "/api/v1/reports/attachment-3",
        "附件3 牵头科室联络员回执下载：XLSX（默认）或 CSV；联系方式仅在读模型向查询者提供时填写",
        None,
        vec![q("format", "xlsx（默认）、csv", "string")],
    );
    add(
        docs,
        "/api/v1/briefings/{id}",
        "季度科技招商工作简报（编号如 2022-Q1 或 2022-q1）：Markdown（默认）或 HTML；响应头 X-Content-SHA256 为正文的 SHA-256",
        None,
        vec![q("format", "md（默认）、html", "string")],
    );
    let list = docs.schema::<Vec<templates::Template>>();
    docs.add(Endpoint {
        method: "get",
        path: "/api/v1/import-templates",
        tag,
        summary: "可下载的导入模板及其各列的列名、对应字段、是否必填和填写规则",
        request: None,
        response: Some(list),
        status: 200,
        query: vec![],
        headers: vec![],
    });
    docs.add(Endpoint {
        method: "get",
        path: "/api/v1/import-templates/{file}",
        tag,
        summary: "下载导入模板：file 为 project-leads、project-signings、activities、meetings、dockings 加 .xlsx 或 .csv；第一行列名，第二行填写说明",
        request: None,
        response: None,
        status: 200,
        query: vec![],
        headers: vec![],
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_file_names_follow_rfc_5987_with_an_ascii_fallback() {
        assert_eq!(
            content_disposition("附件3_回执.csv", "attachment-3.csv"),
            "attachment; filename=\"attachment-3.csv\"; filename*=UTF-8''%E9%99%84%E4%BB%B63_%E5%9B%9E%E6%89%A7.csv"
        );
    }
}

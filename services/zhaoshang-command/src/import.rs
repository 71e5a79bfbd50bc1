//! Importing a filled-in template (导入): `POST /api/v1/imports/{kind}` with
//! the XLSX or CSV file as the body.
//!
//! Every row is checked before any is written: first its cells (each bad cell
//! named by row, column and rule), then the command it becomes, decided
//! against the records as they are plus the file's earlier rows. A file with
//! any bad row writes nothing. The rows are then written in order, each with
//! the idempotency key `import:<file SHA-256>:<row>`, so posting the same file
//! again after an interruption writes only what is missing.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use calamine::{Data, Reader};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zhaoshang_domain::activity::{Activity, ActivityCommand, ActivityDetails};
use zhaoshang_domain::aggregate::Responsibility;
use zhaoshang_domain::import::{CellError, Template, find, row_to_body};
use zhaoshang_domain::meeting::{Meeting, MeetingCommand, RecordMeetingConvened};
use zhaoshang_domain::project::{Project, ProjectCommand, RecordProjectLead, SignProject};
use zhaoshang_domain::resources::{
    Expenditure, ExpenditureCommand, RecordExpenditure, RecordServicePlatform, RecordTalentIntroduction,
    ServicePlatform, ServicePlatformCommand, TalentIntroduction, TalentIntroductionCommand,
};
use zhaoshang_domain::task_force::{RecordDocking, TaskForce, TaskForceCommand};
use zhaoshang_domain::values::Slug;
use zhaoshang_domain::{Aggregate, DecisionContext};
use zhaoshang_http::ApiError;
use zhaoshang_http::auth::Caller;

use crate::repository::{CommandError, Permission, RequestContext};
use crate::{CommandService, RepositoryOf};

/// Namespace of the ids of records an import creates (activities, meetings).
const IMPORT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x2b8e_51c4_77a0_4c1d_9e35_0a6f_d2c8_1b47);

/// Most rows one file may carry.
pub const MAX_ROWS: usize = 5_000;

/// One row's command, with the aggregate it goes to.
enum RowCommand {
    Project(String, ProjectCommand),
    Activity(String, ActivityCommand),
    Meeting(String, MeetingCommand),
    TaskForce(String, TaskForceCommand),
    ServicePlatform(String, ServicePlatformCommand),
    Expenditure(String, ExpenditureCommand),
    TalentIntroduction(String, TalentIntroductionCommand),
}

/// A row that cannot be imported.
#[derive(Debug, Serialize)]
struct RowError {
    row: usize,
    column: Option<&'static str>,
    field: Option<String>,
    rule: String,
    message: String,
}

/// What an import did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    /// The kind imported.
    pub kind: &'static str,
    /// SHA-256 of the file: the root of every row's idempotency key.
    pub file_sha256: String,
    /// Rows read (the header and rule rows not counted).
    pub rows: usize,
    /// Rows written now.
    pub written: usize,
    /// Rows already written by an earlier post of the same file.
    pub already_imported: usize,
    /// The stream sequence of the last row: pass it as `consistent_with`.
    pub sequence: u64,
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
        Data::DateTime(d) => excel_date(d.as_f64()).map_or_else(|| d.to_string(), |date| date.to_string()),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// A spreadsheet date serial (days since 1899-12-30, the 1900 system) as a date.
fn excel_date(serial: f64) -> Option<chrono::NaiveDate> {
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?;
    #[allow(clippy::cast_possible_truncation)]
    let days = serial.floor() as i64;
    epoch.checked_add_signed(chrono::Duration::days(days))
}

/// Reads a file's rows as text, numbered as a spreadsheet numbers them.
fn read_rows(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, ApiError> {
    let unreadable = |why: String| {
        ApiError::invalid("file", "readable_file", format!("无法读取文件（须为导入模板的 XLSX 或 UTF-8 CSV）：{why}"))
    };
    if bytes.starts_with(b"PK") {
        let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec()))
            .map_err(|e: calamine::XlsxError| unreadable(e.to_string()))?;
        let range = book
            .worksheet_range_at(0)
            .ok_or_else(|| unreadable("没有工作表".to_owned()))?
            .map_err(|e| unreadable(e.to_string()))?;
        let first_row = range.start().map_or(0, |(r, _)| r as usize);
        Ok(range.rows().enumerate().map(|(i, row)| (first_row + i + 1, row.iter().map(cell_text).collect())).collect())
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| unreadable("不是 UTF-8 编码".to_owned()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| unreadable(e.to_string()))?;
            rows.push((i + 1, record.iter().map(|c| c.trim().to_owned()).collect()));
        }
        Ok(rows)
    }
}

/// The data rows: those after the heading row, without the rule row and empty rows.
fn data_rows(template: &Template, rows: Vec<(usize, Vec<String>)>) -> Result<Vec<(usize, Vec<String>)>, ApiError> {
    let headings: Vec<&str> = template.columns.iter().map(|c| c.heading).collect();
    let header = rows
        .iter()
        .position(|(_, cells)| cells.len() >= headings.len() && cells.iter().zip(&headings).all(|(c, h)| c == h))
        .ok_or_else(|| {
            ApiError::invalid(
                "file",
                "template_headings",
                format!("找不到模板的列名行，请使用下载的模板：{}", headings.join("、")),
            )
        })?;
    let rule = template.columns[0].rule;
    Ok(rows
        .into_iter()
        .skip(header + 1)
        .filter(|(_, cells)| cells.first().map(String::as_str) != Some(rule))
        .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()))
        .collect())
}

fn typed<T: serde::de::DeserializeOwned>(template: &Template, body: Value) -> Result<T, RowError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let field = e.path().iter().next().map(|s| s.to_string()).unwrap_or_default();
        let column = template.columns.iter().find(|c| c.field == field).map(|c| c.heading);
        let text = e.inner().to_string();
        let (rule, message) = zhaoshang_domain::values::ValueError::parse_display(&text)
            .map_or(("invalid_value".to_owned(), text.clone()), |(r, m)| (r.to_owned(), m.to_owned()));
        RowError { row: 0, column, field: Some(field), rule, message }
    })
}

fn slug(id: Option<String>) -> Result<String, RowError> {
    let id = id.unwrap_or_default();
    Slug::parse(&id).map(|s| s.as_str().to_owned()).map_err(|e| RowError {
        row: 0,
        column: None,
        field: Some("id".to_owned()),
        rule: e.rule.to_owned(),
        message: e.message,
    })
}

fn to_command(
    service: &CommandService,
    template: &Template,
    file_hash: &str,
    row: usize,
    id: Option<String>,
    body: Value,
) -> Result<RowCommand, RowError> {
    let new_id = || Uuid::new_v5(&IMPORT_ID_NAMESPACE, format!("{file_hash}:{row}").as_bytes()).to_string();
    Ok(match template.kind {
        "project-leads" => {
            RowCommand::Project(slug(id)?, ProjectCommand::RecordLead(typed::<RecordProjectLead>(template, body)?))
        }
        "project-signings" => {
            let mut sign: SignProject = typed(template, body)?;
            sign.thresholds = service.thresholds_on(sign.on);
            RowCommand::Project(slug(id)?, ProjectCommand::Sign(sign))
        }
        "activities" => {
            RowCommand::Activity(new_id(), ActivityCommand::RecordHeld(typed::<ActivityDetails>(template, body)?))
        }
        "meetings" => RowCommand::Meeting(
            new_id(),
            MeetingCommand::RecordConvened(typed::<RecordMeetingConvened>(template, body)?),
        ),
        "dockings" => {
            RowCommand::TaskForce(slug(id)?, TaskForceCommand::RecordDocking(typed::<RecordDocking>(template, body)?))
        }
        "service-platforms" => RowCommand::ServicePlatform(
            new_id(),
            ServicePlatformCommand::Record(typed::<RecordServicePlatform>(template, body)?),
        ),
        "expenditures" => {
            RowCommand::Expenditure(new_id(), ExpenditureCommand::Record(typed::<RecordExpenditure>(template, body)?))
        }
        "talent-introductions" => RowCommand::TalentIntroduction(
            new_id(),
            TalentIntroductionCommand::Record(typed::<RecordTalentIntroduction>(template, body)?),
        ),
        other => unreachable!("template {other} has no command"),
    })
}

/// The states an import's rows are decided against: as recorded, then as the
/// file's earlier rows leave them.
struct Simulation<A: Aggregate> {
    states: HashMap<String, (A, HashSet<String>)>,
}

impl<A: Aggregate> Simulation<A> {
    fn new() -> Self {
        Self { states: HashMap::new() }
    }

    async fn decide(
        &mut self,
        service: &CommandService,
        id: &str,
        command: &A::Command,
        key: &str,
        context: &DecisionContext,
        permission: Permission<'_>,
    ) -> Result<bool, RowError>
    where
        CommandService: RepositoryOf<A>,
    {
        if !self.states.contains_key(id) {
            let loaded = RepositoryOf::<A>::repository(service).load_with_keys(id).await.map_err(|e| RowError {
                row: 0,
                column: None,
                field: None,
                rule: "store_unavailable".to_owned(),
                message: e.to_string(),
            })?;
            self.states.insert(id.to_owned(), loaded);
        }
        let (state, keys) = self.states.get_mut(id).expect("inserted above");
        if keys.contains(key) {
            return Ok(false);
        }
        let event = state.decide(command, context).map_err(|refusal| {
            let field = match &refusal {
                zhaoshang_domain::DomainError::InvalidField { field, .. } => Some((*field).to_owned()),
                _ => None,
            };
            RowError { row: 0, column: None, field, rule: refusal.rule().to_owned(), message: refusal.to_string() }
        })?;
        let responsibility = state.responsibility(id, &event);
        if !permission(&responsibility) {
            let whose = match &responsibility {
                Responsibility::TaskForce(task_force) => format!("专班 {task_force}"),
                Responsibility::Office => "领导小组办公室".to_owned(),
                Responsibility::Administration => "系统管理员".to_owned(),
            };
            return Err(RowError {
                row: 0,
                column: None,
                field: None,
                rule: "not_yours_to_record".to_owned(),
                message: format!("该行属于{whose}，您无权登记"),
            });
        }
        *state = std::mem::take(state).evolve(&event);
        Ok(true)
    }
}

fn problem(errors: Vec<RowError>) -> Response {
    let first = errors.first().map(|e| format!("第 {} 行：{}", e.row, e.message)).unwrap_or_default();
    let body = serde_json::json!({
        "type": "urn:zhaoshang:problem:import-rows",
        "title": "导入文件中有不符合规则的行，未写入任何记录",
        "status": 422,
        "detail": format!("共 {} 处问题；{first}", errors.len()),
        "errors": errors,
    });
    (StatusCode::UNPROCESSABLE_ENTITY, [("content-type", "application/problem+json")], Json(body)).into_response()
}

async fn import(
    State(service): State<CommandService>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    file: Bytes,
) -> Result<Response, ApiError> {
    let template = find(&kind).ok_or_else(|| ApiError::NotFound { what: format!("导入类型 {kind}") })?;
    let request = crate::routes::request_context(&headers, &caller)?;
    let permission = |responsibility: &Responsibility| caller.may_record(responsibility);
    let file_hash = hex::encode(Sha256::digest(&file));
    let rows = data_rows(template, read_rows(&file)?)?;
    if rows.len() > MAX_ROWS {
        return Err(ApiError::invalid("file", "too_many_rows", format!("一个文件最多 {MAX_ROWS} 行，请分批导入")));
    }

    // 1. Every cell of every row.
    let mut errors = Vec::new();
    let mut commands = Vec::new();
    for (row, cells) in &rows {
        match row_to_body(template, cells) {
            Err(cell_errors) => {
                errors.extend(cell_errors.into_iter().map(|CellError { column, field, rule, message }| RowError {
                    row: *row,
                    column: Some(column),
                    field: Some(field.to_owned()),
                    rule: rule.to_owned(),
                    message,
                }))
            }
            Ok((id, body)) => match to_command(&service, template, &file_hash, *row, id, body) {
                Ok(command) => commands.push((*row, command)),
                Err(error) => errors.push(RowError { row: *row, ..error }),
            },
        }
    }
    if !errors.is_empty() {
        return Ok(problem(errors));
    }

    // 2. Every command, against the records and the file's earlier rows.
    let key = |row: usize| format!("import:{file_hash}:{row}");
    let context = request.decision;
    let (mut projects, mut activities, mut meetings, mut task_forces) = (
        Simulation::<Project>::new(),
        Simulation::<Activity>::new(),
        Simulation::<Meeting>::new(),
        Simulation::<TaskForce>::new(),
    );
    let (mut platforms, mut expenditures, mut talent) = (
        Simulation::<ServicePlatform>::new(),
        Simulation::<Expenditure>::new(),
        Simulation::<TalentIntroduction>::new(),
    );
    let mut pending = 0;
    for (row, command) in &commands {
        let k = key(*row);
        let decided = match command {
            RowCommand::Project(id, c) => projects.decide(&service, id, c, &k, &context, &permission).await,
            RowCommand::Activity(id, c) => activities.decide(&service, id, c, &k, &context, &permission).await,
            RowCommand::Meeting(id, c) => meetings.decide(&service, id, c, &k, &context, &permission).await,
            RowCommand::TaskForce(id, c) => task_forces.decide(&service, id, c, &k, &context, &permission).await,
            RowCommand::ServicePlatform(id, c) => platforms.decide(&service, id, c, &k, &context, &permission).await,
            RowCommand::Expenditure(id, c) => expenditures.decide(&service, id, c, &k, &context, &permission).await,
            RowCommand::TalentIntroduction(id, c) => talent.decide(&service, id, c, &k, &context, &permission).await,
        };
        match decided {
            Ok(true) => pending += 1,
            Ok(false) => {}
            Err(error) if error.rule == "store_unavailable" => {
                return Err(ApiError::Unavailable { cause: error.message, retry_after_seconds: 1 });
            }
            Err(error) => {
                let column = error
                    .field
                    .as_deref()
                    .and_then(|f| template.columns.iter().find(|c| c.field == f))
                    .map(|c| c.heading);
                errors.push(RowError { row: *row, column, ..error });
            }
        }
    }
    if !errors.is_empty() {
        return Ok(problem(errors));
    }

    // 3. Write, in order, each row under its own key.
    let mut report = ImportReport {
        kind: template.kind,
        file_sha256: file_hash.clone(),
        rows: rows.len(),
        written: 0,
        already_imported: rows.len() - pending,
        sequence: 0,
    };
    for (row, command) in &commands {
        let request = RequestContext { idempotency_key: Some(key(*row)), ..request.clone() };
        let outcome = match command {
            RowCommand::Project(id, c) => {
                RepositoryOf::<Project>::repository(&service).execute_as(id, c, &request, &permission).await
            }
            RowCommand::Activity(id, c) => {
                RepositoryOf::<Activity>::repository(&service).execute(id, c, &request).await
            }
            RowCommand::Meeting(id, c) => {
                RepositoryOf::<Meeting>::repository(&service).execute_as(id, c, &request, &permission).await
            }
            RowCommand::TaskForce(id, c) => {
                RepositoryOf::<TaskForce>::repository(&service).execute(id, c, &request).await
            }
            RowCommand::ServicePlatform(id, c) => {
                RepositoryOf::<ServicePlatform>::repository(&service).execute_as(id, c, &request, &permission).await
            }
            RowCommand::Expenditure(id, c) => {
                RepositoryOf::<Expenditure>::repository(&service).execute_as(id, c, &request, &permission).await
            }
            RowCommand::TalentIntroduction(id, c) => {
                RepositoryOf::<TalentIntroduction>::repository(&service).execute_as(id, c, &request, &permission).await
            }
        };
        match outcome {
            Ok(outcome) => {
                if !outcome.replayed {
                    report.written += 1;
                }
                report.sequence = report.sequence.max(outcome.accepted.sequence);
            }
            Err(error) => {
                tracing::warn!(row, file = %file_hash, %error, written = report.written, "import stopped");
                let message = format!(
                    "第 {row} 行写入失败（{error}）；此前 {} 行已写入。修正后重新提交同一文件，已写入的行不会重复写入",
                    report.written
                );
                return Err(match error {
                    CommandError::Store(zhaoshang_event_store::EventStoreError::Unavailable(cause)) => {
                        ApiError::Unavailable { cause: format!("{message}：{cause}"), retry_after_seconds: 1 }
                    }
                    _ => ApiError::Conflict { rule: "import_interrupted", message },
                });
            }
        }
    }
    tracing::info!(kind = template.kind, file = %file_hash, rows = report.rows, written = report.written, "import done");
    Ok((StatusCode::CREATED, Json(report)).into_response())
}

/// The import endpoint.
pub(crate) fn routes() -> Router<CommandService> {
    Router::new().route("/api/v1/imports/{kind}", axum::routing::post(import))
}

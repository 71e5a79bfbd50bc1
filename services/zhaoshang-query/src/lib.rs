//! The query service: answers from the PostgreSQL read models.
//!
//! Every list endpoint accepts `consistent_with=<sequence>` (the consistency
//! token a command returned): the answer then waits, for at most
//! `wait_ms` (default 5000), until the read models have applied that event,
//! so a client reads its own writes without the services being coupled.
//! The wait is woken by PostgreSQL `NOTIFY`s sent in the projector's commits,
//! not by polling.
//!
//! [`reports`] prints the plan's three attachments (XLSX, CSV, JSON) and the
//! quarterly briefing (Markdown, HTML) from the same read models.

pub mod reports;

mod supervision;

mod temporal;

pub mod personal_data;

pub mod audit;

pub mod console;

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use zhaoshang_event_store::EventStore;
use zhaoshang_http::ApiError;
use zhaoshang_http::openapi::{Endpoint, OpenApiBuilder, QueryParam};
use zhaoshang_read_model::ledger::ProblemView;
use zhaoshang_read_model::progress::{ProgressError, ProgressTable, parse_period};
use zhaoshang_read_model::queries::{
    ActivityView, LeadingGroupView, MeetingView, PlanPeriodView, ProjectFilter, ProjectStepView, ProjectView,
    TaskForceView,
};
use zhaoshang_read_model::{ReadModel, ReadModelError};

mod ledger;

/// Longest a query waits for a consistency token, whatever it asks.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// How long a query waits for a consistency token by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// The query service's state.
#[derive(Clone)]
pub struct QueryService {
    read_model: ReadModel,
    checkpoint: watch::Receiver<u64>,
    /// The event stream, to measure how far the read models lag behind it.
    store: Option<EventStore>,
    /// The largest lag at which the service still calls itself ready.
    ready_lag: u64,
    /// The web console's settings (single sign-on, cookie).
    console: std::sync::Arc<console::ConsoleSettings>,
}

/// The lag, in events, above which `/readyz` answers 503 by default.
pub const DEFAULT_READY_LAG: u64 = 10_000;

impl QueryService {
    /// Starts following the projector's checkpoint and returns the service.
    ///
    /// # Errors
    /// When PostgreSQL cannot be listened to.
    pub async fn start(read_model: ReadModel, shutdown: CancellationToken) -> Result<Self, ReadModelError> {
        let initial = read_model.checkpoint().await?;
        let (sender, receiver) = watch::channel(initial);
        let mut listener = sqlx::postgres::PgListener::connect_with(read_model.pool()).await?;
        listener.listen(&read_model.notify_channel()).await?;
        let follower = read_model.clone();
        tokio::spawn(async move {
            loop {
                let notification = tokio::select! {
                    () = shutdown.cancelled() => break,
                    n = listener.try_recv() => n,
                };
                match notification {
                    Ok(Some(n)) => {
                        if let Ok(sequence) = n.payload().parse::<u64>() {
                            sender.send_if_modified(|current| {
                                let newer = sequence > *current;
                                if newer {
                                    *current = sequence;
                                }
                                newer
                            });
                        }
                    }
                    // The connection dropped and was re-established: a
                    // notification may have been missed, so read the table.
                    Ok(None) => {
                        if let Ok(sequence) = follower.checkpoint().await {
                            sender.send_if_modified(|current| {
                                let newer = sequence > *current;
                                *current = (*current).max(sequence);
                                newer
                            });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "lost the checkpoint notifications; reconnecting");
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        });
        Ok(Self {
            read_model,
            checkpoint: receiver,
            store: None,
            ready_lag: DEFAULT_READY_LAG,
            console: std::sync::Arc::default(),
        })
    }

    /// Measures the projection lag against `store`, and declares the service
    /// not ready when the lag exceeds `ready_lag` events.
    #[must_use]
    pub fn with_event_store(mut self, store: EventStore, ready_lag: u64) -> Self {
        self.store = Some(store);
        self.ready_lag = ready_lag;
        self
    }

    /// Serves the web console with `settings`.
    #[must_use]
    pub fn with_console(mut self, settings: console::ConsoleSettings) -> Self {
        self.console = std::sync::Arc::new(settings);
        self
    }

    /// The read models.
    pub fn read_model(&self) -> &ReadModel {
        &self.read_model
    }

    /// Waits until the read models have applied `sequence`, for at most `wait`.
    ///
    /// # Errors
    /// [`ApiError::ProjectionBehind`] when they have not in time.
    pub async fn wait_for(&self, sequence: u64, wait: Duration) -> Result<(), ApiError> {
        let mut receiver = self.checkpoint.clone();
        let reached =
            matches!(tokio::time::timeout(wait, receiver.wait_for(|current| *current >= sequence)).await, Ok(Ok(_)));
        match reached {
            true => Ok(()),
            false => {
                // The notification may be late or lost: the table has the truth.
                let current = self.read_model.checkpoint().await.map_err(ApiError::internal)?;
                if current >= sequence {
                    Ok(())
                } else {
                    Err(ApiError::ProjectionBehind { wanted: sequence, reached: current })
                }
            }
        }
    }
}

/// Today's date in Liuzhou (UTC+8), the default date of every question.
pub(crate) fn liuzhou_today() -> chrono::NaiveDate {
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    chrono::Utc::now().with_timezone(&offset).date_naive()
}

/// A progress table or board that cannot be made: no plan covers it (404),
/// or the database failed.
pub(crate) fn progress_error(error: ProgressError) -> ApiError {
    match error {
        ProgressError::NoPlanPeriod(label) => ApiError::NotFound { what: format!("覆盖 {label} 的规划期") },
        ProgressError::ReadModel(e) => database(e),
    }
}

pub(crate) fn database(error: ReadModelError) -> ApiError {
    match error {
        ReadModelError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
            ApiError::Unavailable { cause: error.to_string(), retry_after_seconds: 2 }
        }
        other => ApiError::internal(other),
    }
}

/// The query parameters of a request, checked one by one so that a bad one
/// is named.
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn new(raw: HashMap<String, String>, allowed: &[&str]) -> Result<Self, ApiError> {
        if let Some(unknown) =
            raw.keys().find(|k| !allowed.contains(&k.as_str()) && !COMMON_PARAMS.contains(&k.as_str()))
        {
            return Err(ApiError::invalid(
                unknown,
                "unknown_parameter",
                format!("不支持的查询参数；可用参数：{}", allowed.join("、")),
            ));
        }
        Ok(Self(raw))
    }

    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub(crate) fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.text(name) {
            Some(v) if !allowed.contains(&v.as_str()) => {
                Err(ApiError::invalid(name, "allowed_values", format!("可选值为：{}", allowed.join("、"))))
            }
            other => Ok(other),
        }
    }

    /// A `YYYY-MM-DD` parameter of the years 2000–2100, if given.
    pub(crate) fn date(&self, name: &str) -> Result<Option<chrono::NaiveDate>, ApiError> {
        self.text(name)
            .map(|text| {
                chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                    .ok()
                    .filter(|d| (2000..=2100).contains(&chrono::Datelike::year(d)))
                    .ok_or_else(|| ApiError::invalid(name, "date_format", "日期须写作 YYYY-MM-DD（2000 至 2100 年）"))
            })
            .transpose()
    }

    pub(crate) fn year(&self, name: &str) -> Result<Option<i32>, ApiError> {
        self.text(name)
            .map(|v| {
                v.parse::<i32>()
                    .ok()
                    .filter(|y| (2000..=2100).contains(y))
                    .ok_or_else(|| ApiError::invalid(name, "year_range", "年份须为 2000 至 2100 之间的整数"))
            })
            .transpose()
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.text(name)
            .map(|v| match v.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(name, "boolean", "须为 true 或 false")),
            })
            .transpose()
    }
}

/// Parameters every list endpoint accepts.
const COMMON_PARAMS: [&str; 2] = ["consistent_with", "wait_ms"];

pub(crate) async fn consistent(service: &QueryService, raw: &HashMap<String, String>) -> Result<(), ApiError> {
    let Some(token) = raw.get("consistent_with") else { return Ok(()) };
    let sequence = token
        .parse::<u64>()
        .map_err(|_| ApiError::invalid("consistent_with", "sequence_number", "一致性令牌须为命令返回的事件序号"))?;
    let wait = match raw.get("wait_ms") {
        None => DEFAULT_WAIT,
        Some(ms) => Duration::from_millis(
            ms.parse::<u64>().map_err(|_| ApiError::invalid("wait_ms", "milliseconds", "须为毫秒数"))?,
        )
        .min(MAX_WAIT),
    };
    // A token no command has returned yet can only be a mistake: waiting for
    // it would end in a 503 that blames the service for the caller's input.
    if let Some(store) = &service.store {
        if let Ok(last) = store.last_sequence().await {
            if sequence > last {
                return Err(ApiError::invalid(
                    "consistent_with",
                    "sequence_not_written",
                    format!("事件流中最新的事件序号为 {last}，一致性令牌 {sequence} 尚未写入"),
                ));
            }
        }
    }
    service.wait_for(sequence, wait).await
}

async fn task_forces(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TaskForceView>>, ApiError> {
    Params::new(q.clone(), &[])?;
    consistent(&s, &q).await?;
    Ok(Json(s.read_model.task_forces().await.map_err(database)?))
}

async fn task_force(
    State(s): State<QueryService>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<TaskForceView>, ApiError> {
    Params::new(q.clone(), &[])?;
    consistent(&s, &q).await?;
    s.read_model
        .task_force(&id)
        .await
        .map_err(database)?
        .map(Json)
        .ok_or(ApiError::NotFound { what: format!("专班 {id}") })
}

async fn leading_groups(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<LeadingGroupView>>, ApiError> {
    Params::new(q.clone(), &[])?;
    consistent(&s, &q).await?;
    Ok(Json(s.read_model.leading_groups().await.map_err(database)?))
}

async fn plan_periods(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<PlanPeriodView>>, ApiError> {
    Params::new(q.clone(), &[])?;
    consistent(&s, &q).await?;
    Ok(Json(s.read_model.plan_periods().await.map_err(database)?))
}

const STAGES: [&str; 6] = ["lead", "negotiating", "signed", "company_registered", "construction_started", "producing"];

async fn projects(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ProjectView>>, ApiError> {
    let p = Params::new(q.clone(), &["task_force", "stage", "year", "qualifying", "in_reserve"])?;
    let filter = ProjectFilter {
        task_force_id: p.text("task_force"),
        stage: p.one_of("stage", &STAGES)?,
        signed_year: p.year("year")?,
        qualifying: p.boolean("qualifying")?,
        in_reserve: p.boolean("in_reserve")?,
    };
    consistent(&s, &q).await?;
    Ok(Json(s.read_model.projects(&filter).await.map_err(database)?))
}

/// A project with its history.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ProjectDetail {
    /// The project.
    #[serde(flatten)]
    pub project: ProjectView,
    /// Its steps, oldest first.
    pub steps: Vec<ProjectStepView>,
    /// Its problems (存在问题), open and resolved, oldest first.
    pub problems: Vec<ProblemView>,
}

async fn project(
    State(s): State<QueryService>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ProjectDetail>, ApiError> {
    Params::new(q.clone(), &[])?;
    consistent(&s, &q).await?;
    let project = s
        .read_model
        .project(&id)
        .await
        .map_err(database)?
        .ok_or(ApiError::NotFound { what: format!("项目 {id}") })?;
    let steps = s.read_model.project_steps(&id).await.map_err(database)?;
    let problems = s.read_model.project_problems(&id).await.map_err(database)?;
    Ok(Json(ProjectDetail { project, steps, problems }))
}

async fn activities(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ActivityView>>, ApiError> {
    let p = Params::new(q.clone(), &["task_force", "kind", "year"])?;
    let kind = p.one_of("kind", &["going_out", "inviting_in", "online"])?;
    let (task_force, year) = (p.text("task_force"), p.year("year")?);
    consistent(&s, &q).await?;
    Ok(Json(s.read_model.activities(task_force.as_deref(), kind.as_deref(), year).await.map_err(database)?))
}

async fn meetings(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<MeetingView>>, ApiError> {
    let p = Params::new(q.clone(), &["task_force", "kind", "year"])?;
    let kind = p.one_of("kind", &["joint", "monthly_report", "supervision"])?;
    let (task_force, year) = (p.text("task_force"), p.year("year")?);
    consistent(&s, &q).await?;
    Ok(Json(s.read_model.meetings(task_force.as_deref(), kind.as_deref(), year).await.map_err(database)?))
}

async fn progress(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ProgressTable>, ApiError> {
    let p = Params::new(q.clone(), &["year", "period", "as_of", "known_at"])?;
    let request = match (p.text("year"), p.text("period")) {
        (Some(year), None) => parse_period(&year)
            .filter(|r| matches!(r, zhaoshang_read_model::progress::PeriodRequest::Year(_)))
            .ok_or_else(|| ApiError::invalid("year", "year_range", "年份须为 2000 至 2100 之间的整数"))?,
        (None, Some(period)) => parse_period(&period).ok_or_else(|| {
            ApiError::invalid("period", "period_format", "期间须写作 2022-2024（起止年份）或单个年份")
        })?,
        _ => return Err(ApiError::invalid("year", "year_or_period", "须且只能给出 year 或 period 之一")),
    };
    consistent(&s, &q).await?;
    let knowledge = temporal::knowledge(&s, &p).await?;
    s.read_model.progress_at(request, knowledge).await.map(Json).map_err(progress_error)
}

/// Where the projections stand.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ProjectionStatus {
    /// The last stream sequence applied to the read models.
    pub checkpoint: u64,
    /// The stream's last sequence, when the event store is reachable.
    pub stream_last_sequence: Option<u64>,
    /// Events recorded but not yet visible to queries.
    pub lag: Option<u64>,
}

async fn projection_status(s: &QueryService) -> Result<ProjectionStatus, ApiError> {
    let checkpoint = s.read_model.checkpoint().await.map_err(database)?;
    let stream_last_sequence = match &s.store {
        Some(store) => match store.last_sequence().await {
            Ok(last) => Some(last),
            Err(error) => {
                tracing::warn!(%error, "cannot read the stream's last sequence");
                None
            }
        },
        None => None,
    };
    let lag = stream_last_sequence.map(|last| last.saturating_sub(checkpoint));
    Ok(ProjectionStatus { checkpoint, stream_last_sequence, lag })
}

async fn projections(State(s): State<QueryService>) -> Result<Json<ProjectionStatus>, ApiError> {
    projection_status(&s).await.map(Json)
}

/// Whether the service can answer queries well: PostgreSQL and NATS
/// answer, and the read models are not too far behind the stream.
async fn readyz(State(s): State<QueryService>) -> Response {
    let status = match projection_status(&s).await {
        Ok(status) => status,
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "not_ready", "reason": "postgresql"})),
            )
                .into_response();
        }
    };
    let reason = match (s.store.is_some(), status.lag) {
        (true, None) => Some("nats"),
        (_, Some(lag)) if lag > s.ready_lag => Some("projection_lag"),
        _ => None,
    };
    let code = if reason.is_some() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = serde_json::json!({
        "status": if reason.is_some() { "not_ready" } else { "ready" },
        "reason": reason,
        "checkpoint": status.checkpoint,
        "lag": status.lag,
        "ready_lag": s.ready_lag,
    });
    (code, Json(body)).into_response()
}

async fn healthz() -> Response {
    (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response()
}

/// The query endpoints.
pub fn router(service: QueryService) -> Router {
    Router::new()
        .route("/api/v1/task-forces", get(task_forces))
        .route("/api/v1/task-forces/{id}", get(task_force))
        .route("/api/v1/leading-groups", get(leading_groups))
        .route("/api/v1/plan-periods", get(plan_periods))
        .route("/api/v1/projects", get(projects))
        .route("/api/v1/projects/{id}", get(project))
        .route("/api/v1/activities", get(activities))
        .route("/api/v1/meetings", get(meetings))
        .route("/api/v1/progress", get(progress))
        .route("/api/v1/projections", get(projections))
        .route("/readyz", get(readyz))
        .merge(ledger::routes())
        .merge(reports::routes())
        .merge(supervision::routes())
        .merge(temporal::routes())
        .merge(personal_data::routes())
        .with_state(service.clone())
        .merge(audit::router(service))
}

/// The endpoints every service answers: `/healthz`.
pub fn health_router() -> Router {
    Router::new().route("/healthz", get(healthz))
}

/// A documented query parameter.
pub(crate) fn q(name: &'static str, description: &'static str, schema_type: &'static str) -> QueryParam {
    QueryParam { name, description, schema_type }
}

/// Documents a GET of the query service: its own parameters, then the
/// consistency parameters every read takes.
pub(crate) fn document_get(
    docs: &mut OpenApiBuilder,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    response: impl Into<Option<serde_json::Value>>,
    mut query: Vec<QueryParam>,
) {
    query.push(q("consistent_with", "一致性令牌（命令返回的 sequence）：等读模型追上该事件后再回答", "integer"));
    query.push(q("wait_ms", "最多等待的毫秒数（默认 5000，最多 30000）", "integer"));
    docs.add(Endpoint {
        method: "get",
        path,
        tag,
        summary,
        request: None,
        response: response.into(),
        status: 200,
        query,
        headers: vec![],
    });
}

/// The query endpoints' documentation.
pub fn openapi() -> OpenApiBuilder {
    let mut docs = OpenApiBuilder::default();
    let add = document_get;
    let r = docs.schema::<Vec<TaskForceView>>();
    add(&mut docs, "/api/v1/task-forces", "专班", "全部专班及其召集人、科室、县区科技局和链主企业", r, vec![]);
    let r = docs.schema::<TaskForceView>();
    add(&mut docs, "/api/v1/task-forces/{id}", "专班", "单个专班", r, vec![]);
    let r = docs.schema::<Vec<LeadingGroupView>>();
    add(&mut docs, "/api/v1/leading-groups", "领导小组", "领导小组及其成员", r, vec![]);
    let r = docs.schema::<Vec<PlanPeriodView>>();
    add(&mut docs, "/api/v1/plan-periods", "规划期", "规划期及其目标", r, vec![]);
    let r = docs.schema::<Vec<ProjectView>>();
    add(
        &mut docs,
        "/api/v1/projects",
        "项目",
        "项目储备库与台账（附件2），可按专班、阶段、签约年份、是否达标、是否入库筛选",
        r,
        vec![
            q("task_force", "专班编号（如 automotive）", "string"),
            q(
                "stage",
                "阶段：lead、negotiating、signed、company_registered、construction_started、producing",
                "string",
            ),
            q("year", "首次签约年份", "integer"),
            q("qualifying", "是否达到引进标准（true/false）", "boolean"),
            q("in_reserve", "是否已入库（true/false）", "boolean"),
        ],
    );
    let r = docs.schema::<ProjectDetail>();
    add(&mut docs, "/api/v1/projects/{id}", "项目", "单个项目及其全部进展记录", r, vec![]);
    let r = docs.schema::<Vec<ActivityView>>();
    add(
        &mut docs,
        "/api/v1/activities",
        "招商活动",
        "招商活动",
        r,
        vec![
            q("task_force", "专班编号", "string"),
            q("kind", "going_out、inviting_in、online", "string"),
            q("year", "年份", "integer"),
        ],
    );
    let r = docs.schema::<Vec<MeetingView>>();
    add(
        &mut docs,
        "/api/v1/meetings",
        "会议",
        "联席会、汇报会、督导检查",
        r,
        vec![
            q("task_force", "专班编号", "string"),
            q("kind", "joint、monthly_report、supervision", "string"),
            q("year", "年份", "integer"),
        ],
    );
    let r = docs.schema::<ProgressTable>();
    add(
        &mut docs,
        "/api/v1/progress",
        "进度统计",
        "科技系统科技招商工作进度统计表（附件1）：目标、实际与差距",
        r,
        [q("year", "单个年份，如 2022", "integer"), q("period", "起止年份，如 2022-2024", "string")]
            .into_iter()
            .chain(temporal::knowledge_params())
            .collect(),
    );
    ledger::document(&mut docs, &|docs, ledger::Doc(path, tag, summary, r, extra)| {
        add(docs, path, tag, summary, r, extra);
    });
    reports::document(&mut docs);
    personal_data::document(&mut docs);
    let r = docs.schema::<ProjectionStatus>();
    add(&mut docs, "/api/v1/projections", "运行", "读模型已应用到的事件序号、事件流最新序号与滞后量", r, vec![]);
    docs.add(Endpoint {
        method: "get",
        path: "/readyz",
        tag: "运行",
        summary: "就绪检查：数据库、事件流可用且读模型滞后不超过上限",
        request: None,
        response: None,
        status: 200,
        query: vec![],
        headers: vec![],
    });
    docs.add(Endpoint {
        method: "get",
        path: "/healthz",
        tag: "运行",
        summary: "存活检查",
        request: None,
        response: None,
        status: 200,
        query: vec![],
        headers: vec![],
    });
    supervision::document(&mut docs);
    temporal::document(&mut docs);
    docs.add(Endpoint {
        method: "get",
        path: "/openapi.json",
        tag: "运行",
        summary: "本文档",
        request: None,
        response: None,
        status: 200,
        query: vec![],
        headers: vec![],
    });
    audit::document(&mut docs);
    docs
}

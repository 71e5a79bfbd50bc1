//! The command endpoints: one per command, all through [`execute`].

use axum::Router;
use axum::extract::{RawPathParams, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use uuid::Uuid;
use zhaoshang_domain::activity::{Activity, ActivityCommand, ActivityDetails, CancelActivity};
use zhaoshang_domain::meeting::{Meeting, MeetingCommand, RecordMeetingConvened};
use zhaoshang_domain::plan::{
    AdoptPlanPeriod, FormLeadingGroup, LeadingGroup, LeadingGroupCommand, PlanPeriod, PlanPeriodCommand,
};
use zhaoshang_domain::project::{
    DatedAmount, DatedReason, DatedStep, Project, ProjectCommand, RecordProjectLead, RegisterCompany, SignProject,
    StartNegotiation,
};
use zhaoshang_domain::task_force::{
    AssignLiaison, ChangePerson, EstablishTaskForce, RecordDocking, SubmitAnnualPlan, TaskForce, TaskForceCommand,
};
use zhaoshang_domain::values::Slug;
use zhaoshang_domain::{Aggregate, DecisionContext};
use zhaoshang_event_store::EventStoreError;
use zhaoshang_http::openapi::{Endpoint, OpenApiBuilder};
use zhaoshang_http::{ApiError, ValidJson};

use crate::repository::{CommandAccepted, CommandError, RequestContext};
use crate::{CommandService, RepositoryOf, liuzhou_today};

/// Namespace of the aggregate ids derived from idempotency keys, so that a
/// retried create lands on the same aggregate.
const IDEMPOTENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1e_2c3a_9b7d_4e51_8a60_52c1_7d3e_9f08);

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// Where a command's aggregate id comes from.
#[derive(Clone, Copy)]
enum IdFrom {
    /// The path's `{id}`.
    Path,
    /// A new id: derived from the idempotency key when there is one (so a
    /// retry creates nothing new), else a fresh UUIDv7.
    New,
}

const COMMAND_HEADERS: [(&str, &str); 4] = [
    ("Idempotency-Key", "客户端生成的唯一键；重试时使用同一键只会写入一次，并返回第一次的结果"),
    ("If-Match", "期望的记录版本（上次响应的 ETag）；版本不符时返回 409"),
    ("X-Actor", "操作人（在接入统一身份认证之前由调用方提供）"),
    ("X-Correlation-Id", "关联编号（UUID），同一业务流程的多条命令使用同一编号"),
];

struct Routes {
    router: Router<CommandService>,
    docs: OpenApiBuilder,
}

impl Routes {
    fn add<A, B>(
        mut self,
        method: &'static str,
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        id_from: IdFrom,
        to_command: fn(&CommandService, B) -> A::Command,
    ) -> Self
    where
        A: Aggregate,
        B: DeserializeOwned + JsonSchema + Send + 'static,
        CommandService: RepositoryOf<A>,
    {
        let handler = move |State(service): State<CommandService>,
                            params: RawPathParams,
                            headers: HeaderMap,
                            ValidJson(body): ValidJson<B>| async move {
            let path_id = params.iter().find(|(name, _)| *name == "id").map(|(_, value)| value.to_owned());
            let command = to_command(&service, body);
            let result = execute::<A>(&service, id_from, path_id, &headers, command).await;
            count_command(A::TYPE, path, &result);
            result
        };
        let method_router = if method == "put" { put(handler) } else { post(handler) };
        self.router = self.router.route(path, method_router);
        let request = self.docs.schema::<B>();
        let response = self.docs.schema::<CommandAccepted>();
        self.docs.add(Endpoint {
            method,
            path,
            tag,
            summary,
            request: Some(request),
            response: Some(response),
            status: 201,
            query: vec![],
            headers: COMMAND_HEADERS.to_vec(),
        });
        self
    }
}

fn routes() -> Routes {
    let routes = Routes { router: Router::new(), docs: OpenApiBuilder::default() };
    let tf = "专班";
    let pj = "项目";
    let ac = "招商活动";
    routes
        .add::<PlanPeriod, AdoptPlanPeriod>(
            "put",
            "/api/v1/plan-periods/{id}",
            "规划期",
            "通过规划期及其目标（目标为数据，不是代码）",
            IdFrom::Path,
            |_, b| PlanPeriodCommand::Adopt(b),
        )
        .add::<LeadingGroup, FormLeadingGroup>(
            "put",
            "/api/v1/leading-groups/{id}",
            "领导小组",
            "成立领导小组",
            IdFrom::Path,
            |_, b| LeadingGroupCommand::Form(b),
        )
        .add::<TaskForce, EstablishTaskForce>(
            "put",
            "/api/v1/task-forces/{id}",
            tf,
            "成立专班",
            IdFrom::Path,
            |_, b| TaskForceCommand::Establish(b),
        )
        .add::<TaskForce, ChangePerson>(
            "post",
            "/api/v1/task-forces/{id}/convener",
            tf,
            "更换召集人",
            IdFrom::Path,
            |_, b| TaskForceCommand::ChangeConvener(b),
        )
        .add::<TaskForce, ChangePerson>(
            "post",
            "/api/v1/task-forces/{id}/deputy-convener",
            tf,
            "更换副召集人",
            IdFrom::Path,
            |_, b| TaskForceCommand::ChangeDeputyConvener(b),
        )
        .add::<TaskForce, AssignLiaison>(
            "post",
            "/api/v1/task-forces/{id}/liaison",
            tf,
            "明确联络员",
            IdFrom::Path,
            |_, b| TaskForceCommand::AssignLiaison(b),
        )
        .add::<TaskForce, RecordDocking>(
            "post",
            "/api/v1/task-forces/{id}/dockings",
            tf,
            "登记精准对接企业",
            IdFrom::Path,
            |_, b| TaskForceCommand::RecordDocking(b),
        )
        .add::<TaskForce, SubmitAnnualPlan>(
            "post",
            "/api/v1/task-forces/{id}/annual-plans",
            tf,
            "报送（修订）年度招商工作方案",
            IdFrom::Path,
            |_, b| TaskForceCommand::SubmitAnnualPlan(b),
        )
        .add::<Project, RecordProjectLead>(
            "post",
            "/api/v1/projects",
            pj,
            "登记项目线索（新建项目）",
            IdFrom::New,
            |_, b| ProjectCommand::RecordLead(b),
        )
        .add::<Project, RecordProjectLead>(
            "put",
            "/api/v1/projects/{id}",
            pj,
            "以指定编号登记项目线索",
            IdFrom::Path,
            |_, b| ProjectCommand::RecordLead(b),
        )
        .add::<Project, StartNegotiation>(
            "post",
            "/api/v1/projects/{id}/negotiation",
            pj,
            "项目进入在谈",
            IdFrom::Path,
            |_, b| ProjectCommand::StartNegotiation(b),
        )
        .add::<Project, SignProject>(
            "post",
            "/api/v1/projects/{id}/signings",
            pj,
            "登记签约（框架协议或正式合同）",
            IdFrom::Path,
            |service, mut b| {
                b.thresholds = service.thresholds_on(b.on);
                ProjectCommand::Sign(b)
            },
        )
        .add::<Project, RegisterCompany>(
            "post",
            "/api/v1/projects/{id}/company-registration",
            pj,
            "登记项目公司注册",
            IdFrom::Path,
            |_, b| ProjectCommand::RegisterCompany(b),
        )
        .add::<Project, DatedStep>(
            "post",
            "/api/v1/projects/{id}/construction-start",
            pj,
            "登记项目开工",
            IdFrom::Path,
            |_, b| ProjectCommand::StartConstruction(b),
        )
        .add::<Project, DatedStep>(
            "post",
            "/api/v1/projects/{id}/production-start",
            pj,
            "登记项目竣工投产",
            IdFrom::Path,
            |_, b| ProjectCommand::StartProduction(b),
        )
        .add::<Project, DatedAmount>(
            "post",
            "/api/v1/projects/{id}/funds-arrivals",
            pj,
            "登记到资",
            IdFrom::Path,
            |_, b| ProjectCommand::RecordFundsArrived(b),
        )
        .add::<Project, DatedAmount>(
            "post",
            "/api/v1/projects/{id}/investment-increases",
            pj,
            "登记增资（只计增加部分）",
            IdFrom::Path,
            |_, b| ProjectCommand::IncreaseInvestment(b),
        )
        .add::<Project, DatedStep>(
            "post",
            "/api/v1/projects/{id}/reserve-entry",
            pj,
            "项目滚动入库",
            IdFrom::Path,
            |_, b| ProjectCommand::EnterReserve(b),
        )
        .add::<Project, DatedReason>(
            "post",
            "/api/v1/projects/{id}/stall",
            pj,
            "登记项目停滞",
            IdFrom::Path,
            |_, b| ProjectCommand::Stall(b),
        )
        .add::<Project, DatedStep>(
            "post",
            "/api/v1/projects/{id}/resume",
            pj,
            "登记项目恢复推进",
            IdFrom::Path,
            |_, b| ProjectCommand::Resume(b),
        )
        .add::<Project, DatedReason>(
            "post",
            "/api/v1/projects/{id}/drop",
            pj,
            "登记项目终止",
            IdFrom::Path,
            |_, b| ProjectCommand::Drop(b),
        )
        .add::<Activity, ActivityDetails>(
            "post",
            "/api/v1/activities",
            ac,
            "计划招商活动",
            IdFrom::New,
            |_, b| ActivityCommand::Plan(b),
        )
        .add::<Activity, ActivityDetails>(
            "post",
            "/api/v1/activities/held",
            ac,
            "直接登记已举办的招商活动（补录）",
            IdFrom::New,
            |_, b| ActivityCommand::RecordHeld(b),
        )
        .add::<Activity, ActivityDetails>(
            "post",
            "/api/v1/activities/{id}/held",
            ac,
            "登记计划中的活动已举办",
            IdFrom::Path,
            |_, b| ActivityCommand::RecordHeld(b),
        )
        .add::<Activity, CancelActivity>(
            "post",
            "/api/v1/activities/{id}/cancellation",
            ac,
            "取消计划中的活动",
            IdFrom::Path,
            |_, b| ActivityCommand::Cancel(b),
        )
        .add::<Meeting, RecordMeetingConvened>(
            "post",
            "/api/v1/meetings",
            "会议",
            "登记已召开的会议（联席会、汇报会、督导检查）",
            IdFrom::New,
            |_, b| MeetingCommand::RecordConvened(b),
        )
}

/// The command endpoints.
pub fn router(service: CommandService) -> Router {
    routes().router.with_state(service)
}

/// The command endpoints' documentation.
pub fn openapi() -> OpenApiBuilder {
    routes().docs
}

fn header_text<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.trim()))
            .map_err(|_| ApiError::invalid(name, "visible_ascii", "请求头只能包含可见 ASCII 字符")),
    }
}

fn request_context(headers: &HeaderMap) -> Result<RequestContext, ApiError> {
    let idempotency_key = match header_text(headers, "idempotency-key")? {
        None => None,
        Some(key) if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS => {
            return Err(ApiError::invalid(
                "Idempotency-Key",
                "idempotency_key_length",
                format!("幂等键长度须为 1 至 {MAX_IDEMPOTENCY_KEY_CHARS} 个字符"),
            ));
        }
        Some(key) => Some(key.to_owned()),
    };
    let expected_version = match header_text(headers, "if-match")? {
        None => None,
        Some(text) => Some(text.trim_matches('"').parse::<u64>().map_err(|_| {
            ApiError::invalid("If-Match", "version_number", "If-Match 须为记录版本号（上次响应的 ETag）")
        })?),
    };
    let correlation_id = match header_text(headers, "x-correlation-id")? {
        None => Uuid::now_v7(),
        Some(text) => {
            Uuid::parse_str(text).map_err(|_| ApiError::invalid("X-Correlation-Id", "uuid", "关联编号须为 UUID"))?
        }
    };
    let actor = match header_text(headers, "x-actor")? {
        None | Some("") => "anonymous".to_owned(),
        Some(actor) if actor.len() > 200 => {
            return Err(ApiError::invalid("X-Actor", "text_too_long", "操作人标识最多 200 个字符"));
        }
        Some(actor) => actor.to_owned(),
    };
    Ok(RequestContext {
        actor,
        correlation_id,
        idempotency_key,
        expected_version,
        decision: DecisionContext { today: liuzhou_today() },
        now: chrono::Utc::now(),
    })
}

/// Runs one command and answers with its consistency token.
async fn execute<A>(
    service: &CommandService,
    id_from: IdFrom,
    path_id: Option<String>,
    headers: &HeaderMap,
    command: A::Command,
) -> Result<Response, ApiError>
where
    A: Aggregate,
    CommandService: RepositoryOf<A>,
{
    let request = request_context(headers)?;
    let id = match (id_from, path_id) {
        (IdFrom::Path, Some(id)) => {
            Slug::parse(&id).map_err(|e| ApiError::invalid("id", e.rule, e.message))?.as_str().to_owned()
        }
        (IdFrom::Path, None) => return Err(ApiError::internal("route declared a path id but has none")),
        (IdFrom::New, _) => match &request.idempotency_key {
            Some(key) => Uuid::new_v5(&IDEMPOTENT_ID_NAMESPACE, format!("{}:{key}", A::TYPE).as_bytes()).to_string(),
            None => Uuid::now_v7().to_string(),
        },
    };
    let span = tracing::info_span!("command", aggregate = A::TYPE, id = %id, correlation_id = %request.correlation_id);
    let outcome =
        RepositoryOf::<A>::repository(service).execute(&id, &command, &request).instrument(span).await.map_err(
            |error| match error {
                CommandError::Domain(refusal) => ApiError::from(refusal),
                CommandError::VersionConflict { expected, actual } => ApiError::Conflict {
                    rule: "version_conflict",
                    message: match expected {
                        Some(expected) => format!("记录已被修改：期望版本 {expected}，当前版本 {actual}；请刷新后重试"),
                        None => format!("记录正被频繁修改（当前版本 {actual}），请稍后重试"),
                    },
                },
                CommandError::Store(EventStoreError::Unavailable(cause)) => {
                    ApiError::Unavailable { cause, retry_after_seconds: 1 }
                }
                CommandError::Store(other) => ApiError::internal(other),
            },
        )?;
    if let (Some(plan), false) = (adopted_plan::<A>(&command), outcome.replayed) {
        service.remember_plan(plan);
    }
    let status = if outcome.replayed { StatusCode::OK } else { StatusCode::CREATED };
    let accepted = outcome.accepted;
    let mut response = (status, axum::Json(&accepted)).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(
        "etag",
        HeaderValue::from_str(&format!("\"{}\"", accepted.aggregate_version)).map_err(ApiError::internal)?,
    );
    response_headers.insert("x-consistency-token", HeaderValue::from(accepted.sequence));
    if outcome.replayed {
        response_headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    tracing::info!(event_type = %accepted.event_type, sequence = accepted.sequence, replayed = outcome.replayed, "command accepted");
    Ok(response)
}

/// Counts a command by its aggregate, endpoint and result, for `/metrics`.
fn count_command(aggregate: &'static str, endpoint: &'static str, result: &Result<Response, ApiError>) {
    let outcome = match result {
        Ok(response) if response.status() == StatusCode::CREATED => "accepted",
        Ok(_) => "replayed",
        Err(ApiError::Conflict { .. }) => "conflict",
        Err(ApiError::Unavailable { .. }) => "unavailable",
        Err(ApiError::Internal(_)) => "failed",
        Err(_) => "refused",
    };
    metrics::counter!("zhaoshang_commands_total", "aggregate" => aggregate, "endpoint" => endpoint, "result" => outcome)
        .increment(1);
}

/// The plan a command adopts, if it is a plan period's adoption.
fn adopted_plan<A: Aggregate>(command: &A::Command) -> Option<AdoptPlanPeriod> {
    let command: &dyn std::any::Any = command;
    match command.downcast_ref::<PlanPeriodCommand>() {
        Some(PlanPeriodCommand::Adopt(plan)) => Some(plan.clone()),
        None => None,
    }
}

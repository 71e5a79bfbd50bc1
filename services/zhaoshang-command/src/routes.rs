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
use zhaoshang_domain::briefing::{Briefing, BriefingCommand, PublishBriefing, briefing_id};
use zhaoshang_domain::enterprise::{CorrectEnterprise, Enterprise, EnterpriseCommand, EnterpriseDetails};
use zhaoshang_domain::meeting::{Meeting, MeetingCommand, RecordMeetingConvened};
use zhaoshang_domain::monthly_report::{
    AmendMonthlyReport, MonthlyReport, MonthlyReportCommand, SubmitMonthlyReport, report_id,
};
use zhaoshang_domain::plan::{
    AdoptPlanPeriod, FormLeadingGroup, LeadingGroup, LeadingGroupCommand, PlanPeriod, PlanPeriodCommand,
};
use zhaoshang_domain::project::{
    ChangeInvestor, ChangeOwner, DatedAmount, DatedReason, DatedStep, NoteProgress, Project, ProjectCommand,
    RaiseProblem, RecordProjectLead, RegisterCompany, ResolveProblem, SignProject, StartNegotiation,
};
use zhaoshang_domain::resources::{
    Expenditure, ExpenditureCommand, RecordExpenditure, RecordServicePlatform, RecordTalentIntroduction, ReverseRecord,
    ServicePlatform, ServicePlatformCommand, TalentIntroduction, TalentIntroductionCommand,
};
use zhaoshang_domain::supervision::{
    CloseEscalation, Escalation, EscalationCommand, IssueEscalationStep, RecordEscalationResponse, escalation_id,
};
use zhaoshang_domain::task_force::{
    AssignLiaison, ChangePerson, EstablishTaskForce, RecordDocking, SubmitAnnualPlan, TaskForce, TaskForceCommand,
};
use zhaoshang_domain::values::Slug;
use zhaoshang_domain::{Aggregate, DecisionContext, Responsibility};
use zhaoshang_event_store::EventStoreError;
use zhaoshang_http::auth::Caller;
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
pub(crate) enum IdFrom {
    /// The path's `{id}`.
    Path,
    /// A new id: derived from the idempotency key when there is one (so a
    /// retry creates nothing new), else a fresh UUIDv7.
    New,
}

/// The headers a command reads. The actor is not among them: it is the
/// bearer token's subject, never something the request says about itself.
const COMMAND_HEADERS: [(&str, &str); 3] = [
    ("Idempotency-Key", "客户端生成的唯一键；重试时使用同一键只会写入一次，并返回第一次的结果"),
    ("If-Match", "期望的记录版本（上次响应的 ETag）；版本不符时返回 409"),
    ("X-Correlation-Id", "关联编号（UUID），同一业务流程的多条命令使用同一编号"),
];

struct Routes {
    router: Router<CommandService>,
    docs: OpenApiBuilder,
}

impl Routes {
    fn add<A, B>(
        self,
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
        self.add_checked::<A, B>(method, path, tag, summary, id_from, |_, _| Ok(()), to_command)
    }

    /// Like [`Routes::add`], with a check of the body against the path's id
    /// (for aggregates whose id is derived from their facts).
    #[allow(clippy::too_many_arguments)]
    fn add_checked<A, B>(
        mut self,
        method: &'static str,
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        id_from: IdFrom,
        check: fn(Option<&str>, &B) -> Result<(), ApiError>,
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
                            caller: Caller,
                            ValidJson(body): ValidJson<B>| async move {
            let path_id = params.iter().find(|(name, _)| *name == "id").map(|(_, value)| value.to_owned());
            check(path_id.as_deref(), &body)?;
            let command = to_command(&service, body);
            let result = execute::<A>(&service, id_from, path_id, &headers, &caller, command).await;
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

impl Routes {
    /// Like [`Routes::add`], for a command whose aggregate id follows from
    /// its body (a task force's report for a month, a matter of a task force,
    /// duty and period), so that the id itself keeps one record per key.
    fn add_keyed<A, B>(
        mut self,
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        id_of: fn(&B) -> String,
        to_command: fn(&CommandService, B) -> A::Command,
    ) -> Self
    where
        A: Aggregate,
        B: DeserializeOwned + JsonSchema + Send + 'static,
        CommandService: RepositoryOf<A>,
    {
        let handler = move |State(service): State<CommandService>,
                            headers: HeaderMap,
                            caller: Caller,
                            ValidJson(body): ValidJson<B>| async move {
            let id = id_of(&body);
            let command = to_command(&service, body);
            execute::<A>(&service, IdFrom::Path, Some(id), &headers, &caller, command).await
        };
        self.router = self.router.route(path, post(handler));
        let request = self.docs.schema::<B>();
        let response = self.docs.schema::<CommandAccepted>();
        self.docs.add(Endpoint {
            method: "post",
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
        .add::<Project, ChangeOwner>(
            "post",
            "/api/v1/projects/{id}/owner",
            pj,
            "项目改由另一位召集人分包负责",
            IdFrom::Path,
            |_, b| ProjectCommand::ChangeOwner(b),
        )
        .add::<Project, NoteProgress>(
            "post",
            "/api/v1/projects/{id}/progress-notes",
            pj,
            "登记项目最新进展",
            IdFrom::Path,
            |_, b| ProjectCommand::NoteProgress(b),
        )
        .add::<Project, RaiseProblem>(
            "post",
            "/api/v1/projects/{id}/problems",
            pj,
            "提出项目存在的问题（需协调解决）",
            IdFrom::Path,
            |_, b| ProjectCommand::RaiseProblem(b),
        )
        .add::<Project, ResolveProblem>(
            "post",
            "/api/v1/projects/{id}/problem-resolutions",
            pj,
            "登记项目问题的解决情况",
            IdFrom::Path,
            |_, b| ProjectCommand::ResolveProblem(b),
        )
        .add::<Project, ChangeInvestor>(
            "post",
            "/api/v1/projects/{id}/investor-changes",
            pj,
            "变更投资方（已签约项目回到在谈，再次签约按新签约计）",
            IdFrom::Path,
            |_, b| ProjectCommand::ChangeInvestor(b),
        )
        .add::<Enterprise, EnterpriseDetails>(
            "post",
            "/api/v1/enterprises",
            "企业",
            "登记目标企业或链主企业",
            IdFrom::New,
            |_, b| EnterpriseCommand::Register(b),
        )
        .add::<Enterprise, CorrectEnterprise>(
            "post",
            "/api/v1/enterprises/{id}/corrections",
            "企业",
            "更正企业信息",
            IdFrom::Path,
            |_, b| EnterpriseCommand::Correct(b),
        )
        .add::<ServicePlatform, RecordServicePlatform>(
            "post",
            "/api/v1/service-platforms",
            "服务平台与经费",
            "登记引进或合作的科技招商服务平台",
            IdFrom::New,
            |_, b| ServicePlatformCommand::Record(b),
        )
        .add::<ServicePlatform, ReverseRecord>(
            "post",
            "/api/v1/service-platforms/{id}/reversal",
            "服务平台与经费",
            "冲销误登的服务平台记录",
            IdFrom::Path,
            |_, b| ServicePlatformCommand::Reverse(b),
        )
        .add::<Expenditure, RecordExpenditure>(
            "post",
            "/api/v1/expenditures",
            "服务平台与经费",
            "登记一笔专项经费支出",
            IdFrom::New,
            |_, b| ExpenditureCommand::Record(b),
        )
        .add::<Expenditure, ReverseRecord>(
            "post",
            "/api/v1/expenditures/{id}/reversal",
            "服务平台与经费",
            "冲销误登的经费支出（红冲）",
            IdFrom::Path,
            |_, b| ExpenditureCommand::Reverse(b),
        )
        .add::<TalentIntroduction, RecordTalentIntroduction>(
            "post",
            "/api/v1/talent-introductions",
            "服务平台与经费",
            "登记引进人才（只计人数）",
            IdFrom::New,
            |_, b| TalentIntroductionCommand::Record(b),
        )
        .add::<TalentIntroduction, ReverseRecord>(
            "post",
            "/api/v1/talent-introductions/{id}/reversal",
            "服务平台与经费",
            "冲销误登的人才引进记录",
            IdFrom::Path,
            |_, b| TalentIntroductionCommand::Reverse(b),
        )
        .add_checked::<Briefing, PublishBriefing>(
            "put",
            "/api/v1/briefings/{id}",
            "简报",
            "发布（或更正后重新发布）季度简报：记录内容的 SHA-256 及其所依据的事件序号；编号如 2023-q1",
            IdFrom::Path,
            |id, b| {
                if id == Some(briefing_id(b.year, b.quarter).as_str()) {
                    Ok(())
                } else {
                    Err(ApiError::invalid(
                        "quarter",
                        "briefing_id_matches_quarter",
                        format!("路径中的简报编号应为 {}", briefing_id(b.year, b.quarter)),
                    ))
                }
            },
            |_, b| BriefingCommand::Publish(b),
        )
        .add_keyed::<MonthlyReport, SubmitMonthlyReport>(
            "/api/v1/monthly-reports",
            "督导",
            "报送月度进展报告（每专班每月一份，每月30日前，2月为月末；编号为 专班-年-月）",
            |b| report_id(b.task_force_id.as_str(), b.year, b.month),
            |_, b| MonthlyReportCommand::Submit(b),
        )
        .add::<MonthlyReport, AmendMonthlyReport>(
            "post",
            "/api/v1/monthly-reports/{id}/amendments",
            "督导",
            "更正已报送的月度进展报告（说明更正原因；不改变是否按时）",
            IdFrom::Path,
            |_, b| MonthlyReportCommand::Amend(b),
        )
        .add_keyed::<Escalation, IssueEscalationStep>(
            "/api/v1/escalations",
            "督导",
            "领导小组办公室发出提醒、催办、督办或通报（须逐级，编号为 专班-事项-期间）",
            |b| escalation_id(b.task_force_id.as_str(), b.duty, b.period.as_str()),
            |_, b| EscalationCommand::IssueStep(b),
        )
        .add::<Escalation, RecordEscalationResponse>(
            "post",
            "/api/v1/escalations/{id}/responses",
            "督导",
            "专班答复督办事项",
            IdFrom::Path,
            |_, b| EscalationCommand::Respond(b),
        )
        .add::<Escalation, CloseEscalation>(
            "post",
            "/api/v1/escalations/{id}/closure",
            "督导",
            "督办事项办结（滞后已解决）",
            IdFrom::Path,
            |_, b| EscalationCommand::Close(b),
        )
}

/// The command endpoints.
pub fn router(service: CommandService) -> Router {
    routes().router.merge(crate::import::routes()).merge(crate::personal_data::routes()).with_state(service)
}

/// The command endpoints' documentation.
pub fn openapi() -> OpenApiBuilder {
    let mut docs = routes().docs;
    let report = docs.schema::<crate::import::ImportReport>();
    docs.add(Endpoint {
        method: "post",
        path: "/api/v1/imports/{kind}",
        tag: "导入",
        summary: "导入填好的模板（XLSX 或 UTF-8 CSV，请求体即文件）：先逐行校验，有任何一行不符合规则则不写入；\
            每行以“文件 SHA-256 + 行号”为幂等键，中断后重新提交同一文件只补写未写入的行",
        request: None,
        response: Some(report),
        status: 201,
        query: vec![],
        headers: vec![],
    });
    crate::personal_data::document(&mut docs);
    docs
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

pub(crate) fn request_context(headers: &HeaderMap, caller: &Caller) -> Result<RequestContext, ApiError> {
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
    Ok(RequestContext {
        actor: caller.sub.clone(),
        correlation_id,
        idempotency_key,
        expected_version,
        decision: DecisionContext { today: liuzhou_today() },
        now: chrono::Utc::now(),
    })
}

/// Runs one command and answers with its consistency token.
pub(crate) async fn execute<A>(
    service: &CommandService,
    id_from: IdFrom,
    path_id: Option<String>,
    headers: &HeaderMap,
    caller: &Caller,
    command: A::Command,
) -> Result<Response, ApiError>
where
    A: Aggregate,
    CommandService: RepositoryOf<A>,
{
    let request = request_context(headers, caller)?;
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
    let permission = |responsibility: &Responsibility| caller.may_record(responsibility);
    let outcome = RepositoryOf::<A>::repository(service)
        .execute_as(&id, &command, &request, &permission)
        .instrument(span)
        .await
        .map_err(|error| match error {
            CommandError::Domain(refusal) => ApiError::from(refusal),
            CommandError::Forbidden(responsibility) => forbidden(caller, &responsibility),
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
        })?;
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

fn forbidden(caller: &Caller, responsibility: &Responsibility) -> ApiError {
    let (rule, message) = match responsibility {
        Responsibility::TaskForce(task_force) => (
            "own_task_force_only",
            format!("只能登记本专班的事项：该事项属于专班 {task_force} (only your own task forces' facts)"),
        ),
        Responsibility::Office => {
            ("office_only", "该事项由领导小组办公室登记 (only the leading group's office records this)".to_owned())
        }
        Responsibility::Administration => {
            ("admin_only", "该事项只能由系统管理员登记 (only the administrator records this)".to_owned())
        }
    };
    tracing::info!(caller = %caller.sub, role = caller.role.code(), rule, "command refused to its caller");
    ApiError::Forbidden { rule, message }
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

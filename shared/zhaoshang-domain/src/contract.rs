//! The public event contract: every event type a subscriber can receive,
//! with a JSON Schema (draft 2020-12) of its `data` and of the envelope.
//!
//! The schemas are generated from the Rust types, so they cannot say less
//! than the code accepts; the generated files are committed under
//! `contract/schemas/`, next to golden examples under `contract/examples/`,
//! and `tests/contract.rs` fails when the two drift apart. This module does
//! no I/O: writing the files is the test's job.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Value, json};

use crate::Aggregate;
use crate::activity::{Activity, ActivityDetails, CancelActivity};
use crate::briefing::{Briefing, PublishBriefing};
use crate::enterprise::{CorrectEnterprise, Enterprise, EnterpriseDetails};
use crate::envelope::{EVENT_SOURCE, EVENT_TYPE_PREFIX};
use crate::meeting::{Meeting, RecordMeetingConvened};
use crate::monthly_report::{AmendMonthlyReport, MonthlyReport, SubmitMonthlyReport};
use crate::plan::{AdoptPlanPeriod, FormLeadingGroup, LeadingGroup, PlanPeriod};
use crate::project::{
    ChangeInvestor, ChangeOwner, DatedAmount, DatedReason, DatedStep, NoteProgress, Project, ProjectFundsArrived,
    ProjectSigned, RaiseProblem, RecordProjectLead, RegisterCompany, ResolveProblem, StartNegotiation,
};
use crate::resources::{
    Expenditure, RecordExpenditure, RecordServicePlatform, RecordTalentIntroduction, ReverseRecord, ServicePlatform,
    TalentIntroduction,
};
use crate::supervision::{CloseEscalation, Escalation, IssueEscalationStep, RecordEscalationResponse};
use crate::task_force::{
    AssignLiaison, ChangePerson, EraseLiaisonContact, EstablishTaskForce, RecordDocking, RecordLiaisonContact,
    SubmitAnnualPlan, TaskForce,
};

/// Where the contract's schemas are published; each schema's `$id` is under it.
pub const SCHEMA_BASE_URL: &str = "https://zhaoshang.kjj.liuzhou.gov.cn/schemas/";

/// One event type of the contract.
#[derive(Debug, Clone, Copy)]
pub struct EventType {
    /// The aggregate type whose events these are (`project`).
    pub aggregate_type: &'static str,
    /// The variant's tag, without [`EVENT_TYPE_PREFIX`] (`project.signed.v1`).
    pub tag: &'static str,
    /// The schema of the payload type as schemars generates it (draft
    /// 2020-12, with its own `$defs`); [`EventType::schema`] is the published form.
    pub data_schema: fn() -> Schema,
    /// One line in Chinese saying what happened.
    pub summary: &'static str,
}

impl EventType {
    /// The CloudEvents `type` (`cn.gov.liuzhou.kjj.zhaoshang.project.signed.v1`).
    pub fn full_type(&self) -> String {
        full_type(self.tag)
    }

    /// The file name of this type's schema and golden example.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.full_type())
    }

    /// The published schema of `data`: the payload's schema with its `$id`,
    /// its `title` set to the full type and the summary ahead of the payload
    /// type's own description, so one file says what the event means.
    pub fn schema(&self) -> Schema {
        let mut schema = (self.data_schema)();
        let full_type = self.full_type();
        let description = match schema.get("description").and_then(Value::as_str) {
            Some(own) => format!("{}\n\n{own}", self.summary),
            None => self.summary.to_owned(),
        };
        schema.insert("$id".to_owned(), Value::String(format!("{SCHEMA_BASE_URL}events/{full_type}.json")));
        schema.insert("title".to_owned(), Value::String(full_type));
        schema.insert("description".to_owned(), Value::String(description));
        schema
    }
}

/// The CloudEvents `type` of a tag: [`EVENT_TYPE_PREFIX`] followed by it.
pub fn full_type(tag: &str) -> String {
    format!("{EVENT_TYPE_PREFIX}{tag}")
}

/// The root schema of `T` under draft 2020-12 settings. Each call uses a new
/// generator, so every schema carries exactly the `$defs` it needs and can be
/// read without any other file.
fn payload_schema<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>()
}

/// Every event type, grouped by aggregate in the order of each event enum.
/// `tests/contract.rs` checks this list against the enums both ways, so a new
/// variant cannot be left out.
pub fn event_types() -> Vec<EventType> {
    fn entry(
        aggregate_type: &'static str,
        tag: &'static str,
        data_schema: fn() -> Schema,
        summary: &'static str,
    ) -> EventType {
        EventType { aggregate_type, tag, data_schema, summary }
    }
    let task_force = TaskForce::TYPE;
    let project = Project::TYPE;
    let activity = Activity::TYPE;
    let meeting = Meeting::TYPE;
    let plan_period = PlanPeriod::TYPE;
    let leading_group = LeadingGroup::TYPE;
    let enterprise = Enterprise::TYPE;
    let platform = ServicePlatform::TYPE;
    let expenditure = Expenditure::TYPE;
    let talent = TalentIntroduction::TYPE;
    let briefing = Briefing::TYPE;
    let monthly_report = MonthlyReport::TYPE;
    let escalation = Escalation::TYPE;
    vec![
        entry(task_force, "task_force.established.v1", payload_schema::<EstablishTaskForce>, "专班成立。"),
        entry(task_force, "task_force.convener_changed.v1", payload_schema::<ChangePerson>, "专班召集人变更。"),
        entry(
            task_force,
            "task_force.deputy_convener_changed.v1",
            payload_schema::<ChangePerson>,
            "专班副召集人变更。",
        ),
        entry(task_force, "task_force.liaison_assigned.v1", payload_schema::<AssignLiaison>, "专班指定联络员。"),
        entry(task_force, "task_force.enterprise_docked.v1", payload_schema::<RecordDocking>, "专班与企业精准对接。"),
        entry(
            task_force,
            "task_force.annual_plan_submitted.v1",
            payload_schema::<SubmitAnnualPlan>,
            "专班首次报送某年度招商工作方案。",
        ),
        entry(
            task_force,
            "task_force.annual_plan_revised.v1",
            payload_schema::<SubmitAnnualPlan>,
            "专班修订已报送的年度招商工作方案。",
        ),
        entry(
            task_force,
            "task_force.liaison_contact_recorded.v1",
            payload_schema::<RecordLiaisonContact>,
            "登记联络员联系方式（电话、邮箱以本人数据密钥 AES-256-GCM 加密，事件中只有密文）。",
        ),
        entry(
            task_force,
            "task_force.liaison_contact_erased.v1",
            payload_schema::<EraseLiaisonContact>,
            "删除某人的联系方式（个人信息保护法）：其数据密钥已销毁，历史密文再也无法解密。",
        ),
        entry(project, "project.lead_recorded.v1", payload_schema::<RecordProjectLead>, "登记项目线索，项目自此存在。"),
        entry(project, "project.negotiation_started.v1", payload_schema::<StartNegotiation>, "项目进入洽谈。"),
        entry(project, "project.signed.v1", payload_schema::<ProjectSigned>, "项目签约（框架协议或正式合同）。"),
        entry(project, "project.company_registered.v1", payload_schema::<RegisterCompany>, "项目公司完成注册。"),
        entry(project, "project.construction_started.v1", payload_schema::<DatedStep>, "项目开工。"),
        entry(project, "project.production_started.v1", payload_schema::<DatedStep>, "项目竣工投产。"),
        entry(project, "project.funds_arrived.v1", payload_schema::<ProjectFundsArrived>, "项目资金到位（到资）。"),
        entry(project, "project.investment_increased.v1", payload_schema::<DatedAmount>, "项目增资。"),
        entry(project, "project.reserve_entered.v1", payload_schema::<DatedStep>, "项目纳入高质量项目库（入库）。"),
        entry(project, "project.stalled.v1", payload_schema::<DatedReason>, "项目停滞。"),
        entry(project, "project.resumed.v1", payload_schema::<DatedStep>, "停滞项目恢复推进。"),
        entry(project, "project.dropped.v1", payload_schema::<DatedReason>, "项目终止。"),
        entry(activity, "activity.planned.v1", payload_schema::<ActivityDetails>, "计划一场招商活动。"),
        entry(activity, "activity.held.v1", payload_schema::<ActivityDetails>, "招商活动已举办，内容以此为准。"),
        entry(activity, "activity.cancelled.v1", payload_schema::<CancelActivity>, "计划中的招商活动取消。"),
        entry(
            meeting,
            "meeting.convened.v1",
            payload_schema::<RecordMeetingConvened>,
            "召开会议（联席会、汇报会或督导检查）。",
        ),
        entry(plan_period, "plan_period.adopted.v1", payload_schema::<AdoptPlanPeriod>, "印发规划期方案及其目标任务。"),
        entry(leading_group, "leading_group.formed.v1", payload_schema::<FormLeadingGroup>, "成立领导小组。"),
        entry(project, "project.owner_changed.v1", payload_schema::<ChangeOwner>, "项目改由另一位召集人分包负责。"),
        entry(project, "project.progress_noted.v1", payload_schema::<NoteProgress>, "登记项目最新进展。"),
        entry(project, "project.problem_raised.v1", payload_schema::<RaiseProblem>, "项目提出需协调解决的问题。"),
        entry(project, "project.problem_resolved.v1", payload_schema::<ResolveProblem>, "项目问题已解决。"),
        entry(
            project,
            "project.investor_changed.v1",
            payload_schema::<ChangeInvestor>,
            "项目变更投资方；已签约项目回到洽谈，再次签约按新签约计。",
        ),
        entry(enterprise, "enterprise.registered.v1", payload_schema::<EnterpriseDetails>, "登记目标企业或链主企业。"),
        entry(enterprise, "enterprise.corrected.v1", payload_schema::<CorrectEnterprise>, "更正企业信息。"),
        entry(
            platform,
            "service_platform.recorded.v1",
            payload_schema::<RecordServicePlatform>,
            "登记引进或合作的科技招商服务平台。",
        ),
        entry(platform, "service_platform.reversed.v1", payload_schema::<ReverseRecord>, "冲销误登的服务平台记录。"),
        entry(expenditure, "expenditure.recorded.v1", payload_schema::<RecordExpenditure>, "登记一笔专项经费支出。"),
        entry(expenditure, "expenditure.reversed.v1", payload_schema::<ReverseRecord>, "冲销误登的经费支出（红冲）。"),
        entry(
            talent,
            "talent_introduction.recorded.v1",
            payload_schema::<RecordTalentIntroduction>,
            "登记引进人才（只计人数，不记个人信息）。",
        ),
        entry(talent, "talent_introduction.reversed.v1", payload_schema::<ReverseRecord>, "冲销误登的人才引进记录。"),
        entry(briefing, "briefing.published.v1", payload_schema::<PublishBriefing>, "发布季度科技招商工作简报。"),
        entry(briefing, "briefing.republished.v1", payload_schema::<PublishBriefing>, "更正后重新发布季度简报。"),
        entry(
            monthly_report,
            "monthly_report.submitted.v1",
            payload_schema::<SubmitMonthlyReport>,
            "专班向领导小组办公室报送月度进展报告（每月30日前，2月为月末）。",
        ),
        entry(
            monthly_report,
            "monthly_report.amended.v1",
            payload_schema::<AmendMonthlyReport>,
            "专班更正已报送的月度进展报告（不改变是否按时）。",
        ),
        entry(
            escalation,
            "escalation.step_issued.v1",
            payload_schema::<IssueEscalationStep>,
            "领导小组办公室就滞后事项向专班发出提醒、催办、督办或通报。",
        ),
        entry(escalation, "escalation.responded.v1", payload_schema::<RecordEscalationResponse>, "专班答复督办事项。"),
        entry(escalation, "escalation.closed.v1", payload_schema::<CloseEscalation>, "督办事项办结（滞后已解决）。"),
    ]
}

/// The JSON Schema (draft 2020-12) of the CloudEvents envelope every event
/// travels in, written by hand from [`crate::EventEnvelope`]'s fields: the
/// derived schema could say neither that `type` starts with the prefix nor
/// that `hash` is hex, and those are what a subscriber checks first.
///
/// Members beyond the listed ones are allowed, because CloudEvents lets
/// intermediaries add extension attributes; `data` is only required to be an
/// object here, and is checked against its type's own schema.
pub fn envelope_schema() -> Value {
    let hex64 = "^[0-9a-f]{64}$";
    // Ids are slugs, UUIDs or derived from slugs (`leading-group-2022-2024`),
    // so they keep to the alphabet NATS subject tokens are safe in, with no
    // length limit of their own.
    let identifier = "^[a-z0-9_-]+$";
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{SCHEMA_BASE_URL}envelope.json"),
        "title": "zhaoshang event envelope",
        "description": "CloudEvents 1.0 结构化 JSON 信封，附招商系统的扩展属性。\
            hash 为去掉 hash 后信封的规范 JSON（RFC 8785）的 SHA-256；\
            prevhash 为同一聚合上一事件的 hash，二者构成每个聚合的哈希链。",
        "type": "object",
        "required": [
            "specversion", "id", "source", "type", "subject", "time", "datacontenttype",
            "aggregatetype", "aggregateid", "aggregateversion", "schemaversion", "actor",
            "correlationid", "hash", "data"
        ],
        "properties": {
            "specversion": { "description": "CloudEvents version.", "const": "1.0" },
            "id": { "description": "The event's id, a UUIDv7 (time-ordered).", "type": "string", "format": "uuid" },
            "source": { "description": "Who produced it.", "const": EVENT_SOURCE },
            "type": {
                "description": "cn.gov.liuzhou.kjj.zhaoshang.<aggregate>.<what>.v<N>; names the schema of data.",
                "type": "string",
                "pattern": "^cn\\.gov\\.liuzhou\\.kjj\\.zhaoshang\\."
            },
            "subject": {
                "description": "<aggregatetype>/<aggregateid>.",
                "type": "string",
                "pattern": "^[a-z0-9_-]+/[a-z0-9_-]+$"
            },
            "time": { "description": "When the system recorded it (UTC).", "type": "string", "format": "date-time" },
            "datacontenttype": { "description": "Media type of data.", "const": "application/json" },
            "aggregatetype": { "description": "The aggregate type (project).", "type": "string", "pattern": identifier },
            "aggregateid": { "description": "The aggregate's id.", "type": "string", "pattern": identifier },
            "aggregateversion": {
                "description": "1 for the aggregate's first event, then +1 for each.",
                "type": "integer",
                "minimum": 1
            },
            "schemaversion": { "description": "The vN of the type.", "type": "integer", "minimum": 1 },
            "actor": { "description": "Who did it.", "type": "string", "minLength": 1 },
            "occurredat": {
                "description": "When it happened in the world; absent for facts that happen when recorded.",
                "type": "string",
                "format": "date"
            },
            "correlationid": {
                "description": "Ties together every event caused by one request or one import.",
                "type": "string",
                "format": "uuid"
            },
            "causationid": {
                "description": "The event or request that caused this one.",
                "type": "string",
                "format": "uuid"
            },
            "idempotencykey": { "description": "The client's idempotency key.", "type": "string", "minLength": 1 },
            "prevhash": {
                "description": "hash of the previous event of the same aggregate; absent for its first.",
                "type": "string",
                "pattern": hex64
            },
            "hash": {
                "description": "SHA-256 (lower-case hex) of the envelope's canonical JSON without hash.",
                "type": "string",
                "pattern": hex64
            },
            "data": { "description": "The payload; its schema is the one named by type.", "type": "object" }
        }
    })
}

/// The AsyncAPI 3.0 document of the event stream: one channel per aggregate
/// type (`zs.ev.<aggregate_type>.{aggregateId}`), one message per event
/// type, each message the envelope schema with its `type` fixed and its
/// `data` the type's schema. Generated from [`event_types`], committed as
/// `contract/asyncapi.json`, and checked against the code by the tests.
pub fn asyncapi_document() -> Value {
    use serde_json::{Map, json};

    let types = event_types();
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    let mut aggregate_types: Vec<&str> = types.iter().map(|t| t.aggregate_type).collect();
    aggregate_types.dedup();
    for aggregate_type in aggregate_types {
        let channel_id = format!("{}Events", camel(aggregate_type));
        let mut channel_messages = Map::new();
        for event_type in types.iter().filter(|t| t.aggregate_type == aggregate_type) {
            let message_id = event_type.tag.replace('.', "_");
            channel_messages.insert(message_id.clone(), json!({"$ref": format!("#/components/messages/{message_id}")}));
            messages.insert(
                message_id.clone(),
                json!({
                    "name": event_type.full_type(),
                    "title": event_type.full_type(),
                    "summary": event_type.summary,
                    "contentType": "application/json",
                    "correlationId": {"location": "$message.payload#/correlationid"},
                    "headers": {
                        "type": "object",
                        "properties": {
                            "Nats-Msg-Id": {
                                "type": "string",
                                "description": "写入方的幂等键（或事件 id）；JetStream 据此在去重窗口内去重。订阅方请按信封的 id 去重。"
                            },
                            "Nats-Expected-Last-Subject-Sequence": {
                                "type": "string",
                                "description": "写入时该记录上一条事件的流序号（乐观并发控制）；订阅方无需理会。"
                            }
                        }
                    },
                    "payload": {
                        "allOf": [
                            {"$ref": "./schemas/envelope.json"},
                            {
                                "type": "object",
                                "properties": {
                                    "type": {"const": event_type.full_type()},
                                    "aggregatetype": {"const": aggregate_type},
                                    "data": {"$ref": format!("./schemas/{}", event_type.file_name())}
                                }
                            }
                        ]
                    },
                    "x-golden-example": format!("./examples/{}", event_type.file_name())
                }),
            );
        }
        channels.insert(
            channel_id.clone(),
            json!({
                "address": format!("zs.ev.{aggregate_type}.{{aggregateId}}"),
                "title": format!("{aggregate_type} events"),
                "description": format!(
                    "Every event of every {aggregate_type}, one subject per record, in the order written. \
                     Subscribe with the filter `zs.ev.{aggregate_type}.>` for all of them."
                ),
                "parameters": {"aggregateId": {"description": "The record's id (a slug or a UUID)."}},
                "messages": channel_messages,
            }),
        );
        operations.insert(
            format!("receive{}", camel(&channel_id)),
            json!({
                "action": "receive",
                "channel": {"$ref": format!("#/channels/{channel_id}")},
                "summary": format!("Follow the {aggregate_type} events with a durable pull consumer of your own."),
            }),
        );
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "zhaoshang 招商 events",
            "version": "1.0.0",
            "description": "The immutable events of zhaoshang, the system of record of the Liuzhou science and \
                technology system's investment-promotion plan, on NATS JetStream.\n\n\
                * Stream: `ZHAOSHANG` (configurable), subjects `zs.ev.>`, file storage, nothing ever deleted or \
                purged.\n\
                * One message is one event: a CloudEvents 1.0 JSON envelope (structured mode).\n\
                * Delivery is at least once: deduplicate on the envelope's `id`, or on the stream sequence.\n\
                * Order is guaranteed per subject (per record); one consumer receives everything in stream order.\n\
                * Start from the beginning (`deliver_policy: all`), from a stream sequence (`by_start_sequence`) or \
                from a time (`by_start_time`) when creating your durable consumer; it resumes where it stopped.\n\
                * Each event carries `hash` (SHA-256 over its RFC 8785 canonical form without `hash`) and \
                `prevhash` (the record's previous event): see contract/README.md.\n\
                * Versions and compatibility rules: contract/README.md.",
            "contact": {"name": "柳州市科学技术局 领导小组办公室（人才引智与对外合作科）"}
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "A developer's machine."
            },
            "production": {
                "host": "{host}:4222",
                "protocol": "nats",
                "description": "The bureau's JetStream cluster; read-only credentials per subscriber (deploy/nats/).",
                "variables": {"host": {"description": "Given to each subscriber with its credentials."}}
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    })
}

/// `task_force` → `TaskForce`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

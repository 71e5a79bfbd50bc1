//! `/console/audit` (auditors and the administrator): pick a record by its
//! aggregate type and id, and see its history event by event: who recorded
//! what and when, its hashes, and whether the chain holds. The events are
//! the same as `/api/v1/audit/aggregates/{type}/{id}/events`; each is also
//! read back from the stream, its hash recomputed over the stored envelope,
//! and linked to the one before (`prevhash`, version + 1).

use std::collections::HashMap;

use axum::extract::{Query, State};
use maud::{Markup, html};
use zhaoshang_http::ApiError;
use zhaoshang_http::auth::{Caller, Role};
use zhaoshang_read_model::audit::{AuditEventFilter, AuditEventRow};

use super::{PageError, Section, frame, page_params};
use crate::{QueryService, database};

/// The aggregate types an auditor can pick (as in the event subjects).
const AGGREGATE_TYPES: [(&str, &str); 14] = [
    ("project", "项目"),
    ("activity", "招商活动"),
    ("meeting", "会议"),
    ("task_force", "专班"),
    ("enterprise", "企业"),
    ("monthly_report", "月度进展报告"),
    ("escalation", "督办事项"),
    ("briefing", "季度简报"),
    ("service_platform", "服务平台"),
    ("expenditure", "专项经费支出"),
    ("talent_introduction", "人才引进"),
    ("plan_period", "规划期"),
    ("leading_group", "领导小组"),
    ("inspection", "督导检查快照"),
];

/// Most events one page of history shows.
const MAX_EVENTS: i64 = 1000;

/// What one event's check found.
struct ChainCheck {
    ok: bool,
    note: String,
}

async fn check_chain(service: &QueryService, events: &[AuditEventRow]) -> Vec<ChainCheck> {
    let mut previous: Option<&AuditEventRow> = None;
    let mut checks = Vec::with_capacity(events.len());
    for event in events {
        let mut problems = Vec::new();
        let expected_previous = previous.map(|p| p.hash.as_str());
        if event.prev_hash.as_deref() != expected_previous {
            problems.push("prevhash 与上一事件的哈希不一致".to_owned());
        }
        let expected_version = previous.map_or(1, |p| p.aggregate_version + 1);
        if event.aggregate_version != expected_version {
            problems.push(format!("版本号应为 {expected_version}"));
        }
        match &service.store {
            Some(store) => match store.get(u64::try_from(event.sequence).unwrap_or(0)).await {
                Ok(stored) => {
                    let computed = stored.envelope.compute_hash();
                    if computed != stored.envelope.hash {
                        problems.push(format!(
                            "事件流中的内容与其哈希不符（重算为 {}…）",
                            &computed[..12.min(computed.len())]
                        ));
                    }
                    if stored.envelope.hash != event.hash {
                        problems.push("读模型中的哈希与事件流不一致".to_owned());
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, sequence = event.sequence, "cannot read an event back for the audit page");
                    problems.push("暂时无法从事件流读回该事件".to_owned());
                }
            },
            None => problems.push("本服务未连接事件流，未重算哈希".to_owned()),
        }
        checks.push(match problems.is_empty() {
            true => ChainCheck { ok: true, note: "完整：哈希重算一致，链接与版本连续".to_owned() },
            false => ChainCheck { ok: false, note: problems.join("；") },
        });
        previous = Some(event);
    }
    checks
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

pub(crate) async fn page(
    State(service): State<QueryService>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, PageError> {
    // The security layer admits only these roles; the page says so again.
    if !matches!(caller.role, Role::Auditor | Role::Admin) {
        return Err(PageError(ApiError::Forbidden {
            rule: "role_not_allowed",
            message: "审计页面仅供审计人员使用。".to_owned(),
        }));
    }
    let params = page_params(&service, q, &["type", "id"]).await?;
    let aggregate_type = params.text("type");
    let aggregate_id = params.text("id");
    if let Some(t) = &aggregate_type {
        if !AGGREGATE_TYPES.iter().any(|(code, _)| code == t) {
            return Err(PageError(ApiError::invalid("type", "allowed_values", "请选择列表中的记录类型")));
        }
    }
    let history = match (&aggregate_type, &aggregate_id) {
        (Some(t), Some(id)) => {
            let filter = AuditEventFilter {
                aggregate_type: Some(t.clone()),
                aggregate_id: Some(id.clone()),
                limit: MAX_EVENTS,
                ..AuditEventFilter::default()
            };
            let events = service.read_model().audit_events(&filter).await.map_err(database)?;
            let checks = check_chain(&service, &events).await;
            Some((events, checks))
        }
        _ => None,
    };
    let body = html! {
        h1 { "审计追溯" }
        p.muted { "选择一条记录，逐条查看它的全部事件：谁在何时记录了什么，以及哈希链是否完整。" }
        form.picker method="get" action="/console/audit" {
            label { "记录类型 "
                select name="type" {
                    @for (code, label) in AGGREGATE_TYPES {
                        option value=(code) selected[aggregate_type.as_deref() == Some(code)] { (label) "（" (code) "）" }
                    }
                }
            }
            label { " 记录编号 " input type="text" name="id" value=(aggregate_id.as_deref().unwrap_or("")) required size="40"; }
            button type="submit" { "查看历史" }
        }
        @if let Some((events, checks)) = &history {
            @if events.is_empty() {
                p.error { "没有找到该记录的事件。" }
            } @else {
                @let broken = checks.iter().filter(|c| !c.ok).count();
                p class=(if broken == 0 { "chain-ok" } else { "error" }) {
                    "共 " (events.len()) " 个事件；"
                    @if broken == 0 { "哈希链完整。" } @else { (broken) " 个事件未通过检查。" }
                }
                div.scroll { table.list.audit {
                    thead { tr {
                        th.num { "序号" } th.num { "版本" } th { "事件" } th { "记录人" } th { "发生日期" } th { "记录时间（UTC）" }
                        th { "前一哈希" } th { "本事件哈希" } th { "链状态" } th { "内容" }
                    } }
                    tbody {
                        @for (event, check) in events.iter().zip(checks) {
                            tr {
                                td.num { (event.sequence) }
                                td.num { (event.aggregate_version) }
                                td { code { (event.event_type.trim_start_matches("cn.gov.liuzhou.kjj.zhaoshang.")) } }
                                td { (event.actor) }
                                td.nowrap { (event.occurred_on.map(|d| d.to_string()).unwrap_or_default()) }
                                td.nowrap { (event.recorded_at.format("%Y-%m-%d %H:%M:%S")) }
                                td { code title=(event.prev_hash.as_deref().unwrap_or("")) { (event.prev_hash.as_deref().map(short).unwrap_or("（首个事件）")) } }
                                td { code title=(event.hash) { (short(&event.hash)) } }
                                td class=(if check.ok { "c-green" } else { "c-red" }) { (check.note) }
                                td { details { summary { "查看" } pre { (serde_json::to_string_pretty(&event.data).unwrap_or_default()) } } }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(frame("审计追溯", &caller, Section::Audit, body))
}

//! Query endpoints of the ledger beyond the project list: the rates leaders
//! read, real-time alerts, enterprises, service platforms, expenditure and
//! talent introduced.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use zhaoshang_http::ApiError;
use zhaoshang_http::openapi::OpenApiBuilder;
use zhaoshang_read_model::ledger::{
    AlertView, EnterpriseView, ExpenditureTotal, ExpenditureView, LedgerRates, ServicePlatformView, TalentView,
};

use crate::{Params, QueryService, consistent, database, q};

/// Most alerts one answer carries; page with `after`.
const MAX_ALERTS: i64 = 500;

async fn rates(
    State(s): State<QueryService>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Vec<LedgerRates>>, ApiError> {
    let p = Params::new(raw.clone(), &["year"])?;
    let year = p.year("year")?;
    consistent(&s, &raw).await?;
    Ok(Json(s.read_model.ledger_rates(year).await.map_err(database)?))
}

async fn alerts(
    State(s): State<QueryService>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let p = Params::new(raw.clone(), &["after", "task_force", "major", "limit"])?;
    let after = p
        .text("after")
        .map(|v| v.parse::<i64>().ok().filter(|v| *v >= 0))
        .map(|v| v.ok_or_else(|| ApiError::invalid("after", "sequence_number", "须为非负整数（上次收到的最大序号）")))
        .transpose()?
        .unwrap_or(0);
    let limit = p
        .text("limit")
        .map(|v| v.parse::<i64>().ok().filter(|v| (1..=MAX_ALERTS).contains(v)))
        .map(|v| v.ok_or_else(|| ApiError::invalid("limit", "limit_range", format!("须为 1 至 {MAX_ALERTS} 的整数"))))
        .transpose()?
        .unwrap_or(100);
    let major = p.boolean("major")?.unwrap_or(false);
    let task_force = p.text("task_force");
    consistent(&s, &raw).await?;
    Ok(Json(s.read_model.alerts(after, task_force.as_deref(), major, limit).await.map_err(database)?))
}

async fn enterprises(
    State(s): State<QueryService>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Vec<EnterpriseView>>, ApiError> {
    let p = Params::new(raw.clone(), &["task_force", "role"])?;
    let role = p.one_of("role", &["target", "chain_leader", "other"])?;
    let task_force = p.text("task_force");
    consistent(&s, &raw).await?;
    Ok(Json(s.read_model.enterprises(task_force.as_deref(), role.as_deref()).await.map_err(database)?))
}

async fn service_platforms(
    State(s): State<QueryService>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ServicePlatformView>>, ApiError> {
    Params::new(raw.clone(), &[])?;
    consistent(&s, &raw).await?;
    Ok(Json(s.read_model.service_platforms().await.map_err(database)?))
}

/// Payments and their totals.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Expenditures {
    /// Every payment of the period, reversed ones included (marked).
    pub payments: Vec<ExpenditureView>,
    /// Totals per task force and category, per task force, per category and overall (reversed excluded).
    pub totals: Vec<ExpenditureTotal>,
}

async fn expenditures(
    State(s): State<QueryService>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Expenditures>, ApiError> {
    let p = Params::new(raw.clone(), &["year", "task_force"])?;
    let year = p.year("year")?;
    let task_force = p.text("task_force");
    consistent(&s, &raw).await?;
    let (payments, totals) = s.read_model.expenditures(year, task_force.as_deref()).await.map_err(database)?;
    Ok(Json(Expenditures { payments, totals }))
}

async fn talent(
    State(s): State<QueryService>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TalentView>>, ApiError> {
    let p = Params::new(raw.clone(), &["year", "task_force"])?;
    let year = p.year("year")?;
    let task_force = p.text("task_force");
    consistent(&s, &raw).await?;
    Ok(Json(s.read_model.talent_introductions(year, task_force.as_deref()).await.map_err(database)?))
}

/// The ledger endpoints, with the query service's state.
pub(crate) fn routes() -> Router<QueryService> {
    Router::new()
        .route("/api/v1/ledger/rates", get(rates))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/enterprises", get(enterprises))
        .route("/api/v1/service-platforms", get(service_platforms))
        .route("/api/v1/expenditures", get(expenditures))
        .route("/api/v1/talent-introductions", get(talent))
}

/// Adds the ledger endpoints to the query documentation.
pub(crate) fn document(docs: &mut OpenApiBuilder, add: &dyn Fn(&mut OpenApiBuilder, Doc)) {
    let year = || q("year", "年份（缺省为全部年份）", "integer");
    let tf = || q("task_force", "专班编号（如 automotive）", "string");
    let r = docs.schema::<Vec<LedgerRates>>();
    add(
        docs,
        Doc("/api/v1/ledger/rates", "项目", "开工率与资金到位率：按当年签约项目计，分专班并合计", r, vec![year()]),
    );
    let r = docs.schema::<Vec<AlertView>>();
    add(
        docs,
        Doc(
            "/api/v1/alerts",
            "实时报送",
            "重大项目洽谈及签约实时报送：按事件序号递增，after 为上次收到的最大序号",
            r,
            vec![
                q("after", "只返回序号大于此值的报送", "integer"),
                tf(),
                q("major", "只看重大项目（达到引进标准的金额）", "boolean"),
                q("limit", "最多条数（1–500，默认 100）", "integer"),
            ],
        ),
    );
    let r = docs.schema::<Vec<EnterpriseView>>();
    add(
        docs,
        Doc(
            "/api/v1/enterprises",
            "企业",
            "目标企业与链主企业，附对接次数",
            r,
            vec![tf(), q("role", "target、chain_leader、other", "string")],
        ),
    );
    let r = docs.schema::<Vec<ServicePlatformView>>();
    add(docs, Doc("/api/v1/service-platforms", "服务平台与经费", "引进（合作）的科技招商服务平台", r, vec![]));
    let r = docs.schema::<Expenditures>();
    add(
        docs,
        Doc("/api/v1/expenditures", "服务平台与经费", "专项经费支出明细及按专班、类别的合计", r, vec![year(), tf()]),
    );
    let r = docs.schema::<Vec<TalentView>>();
    add(docs, Doc("/api/v1/talent-introductions", "服务平台与经费", "人才引进记录", r, vec![year(), tf()]));
}

/// One documented GET endpoint: path, tag, summary, response schema, query parameters.
pub(crate) struct Doc(
    pub &'static str,
    pub &'static str,
    pub &'static str,
    pub serde_json::Value,
    pub Vec<zhaoshang_http::openapi::QueryParam>,
);

//! Queries of the ledger beyond the project list: problems, the rates leaders
//! read, real-time alerts, enterprises, service platforms, expenditure and
//! talent introduced.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::{ReadModel, ReadModelError};

/// A fact recorded more than this many days after it happened is shown as
/// back-filled (补录): the bureau back-fills 2022–2024, and inspectors must
/// tell a fact reported on time from one entered long after.
pub const BACKFILL_AFTER_DAYS: i32 = 7;

/// A problem a project needs help with.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ProblemView {
    /// The problem's id within its project.
    pub problem_id: String,
    /// When it was raised.
    pub raised_on: NaiveDate,
    /// The problem.
    pub description: String,
    /// Who was asked to help.
    pub help_from: Option<String>,
    /// When it was resolved; absent while open.
    pub resolved_on: Option<NaiveDate>,
    /// How it was resolved.
    pub resolution: Option<String>,
}

/// The rates leaders read, for one task force or the total.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct LedgerRates {
    /// The task force; absent for the total.
    pub task_force_id: Option<String>,
    /// Projects signed (current signing) in the period.
    pub signed: i64,
    /// Of those, projects whose construction has started (开工).
    pub started: i64,
    /// 开工率: started / signed, in percent, two decimals.
    pub start_rate_percent: Option<f64>,
    /// Investment contracted by those projects, in yuan.
    pub contracted_yuan: i64,
    /// Funds arrived on those projects, in yuan.
    pub funds_arrived_yuan: i64,
    /// 资金到位率: funds arrived / contracted, in percent, two decimals.
    pub funds_arrival_rate_percent: Option<f64>,
}

/// A real-time report to the office: a negotiation started, a signing, a
/// change of investor.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct AlertView {
    /// The stream sequence of the event: also the cursor for `after`.
    pub sequence: i64,
    /// `negotiation_started`, `signed` or `investor_changed`.
    pub kind: String,
    /// The project.
    pub project_id: String,
    /// Its name.
    pub project_name: Option<String>,
    /// Its task force.
    pub task_force_id: Option<String>,
    /// Its investor now.
    pub investor: Option<String>,
    /// `industrial` or `service`.
    pub category: Option<String>,
    /// The signed amount, or for a negotiation the planned investment, in yuan.
    pub amount_yuan: Option<i64>,
    /// 重大项目: the amount reaches the plan's threshold for its category.
    pub major: bool,
    /// When it happened.
    pub occurred_on: NaiveDate,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Days between happening and recording (Liuzhou time); the plan asks for real time.
    pub reported_days_later: i32,
    /// Who recorded it.
    pub actor: String,
}

/// An enterprise, with how often it has been docked.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct EnterpriseView {
    /// Its id.
    pub id: String,
    /// Its registered name.
    pub name: String,
    /// `target`, `chain_leader` or `other`.
    pub role: String,
    /// The chain's task force.
    pub task_force_id: String,
    /// Unified social credit code.
    pub uscc: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// When it was listed.
    pub listed_on: NaiveDate,
    /// Dockings recorded with it (by name), by any task force.
    pub dockings: i64,
    /// The latest docking date.
    pub last_docked_on: Option<NaiveDate>,
    /// Version (number of events).
    pub version: i64,
}

/// A service platform introduced or partnered.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ServicePlatformView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `introduced` or `partnered`.
    pub relation: String,
    /// The task force that brought it.
    pub task_force_id: Option<String>,
    /// Who runs it.
    pub operator: Option<String>,
    /// The agreement date.
    pub recorded_on: NaiveDate,
    /// Evidence.
    pub evidence: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// When reversed; reversed records do not count.
    pub reversed_on: Option<NaiveDate>,
    /// Why.
    pub reversal_reason: Option<String>,
}

/// One payment from the special fund.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ExpenditureView {
    /// Its id.
    pub id: String,
    /// The task force; absent for the office's own spending.
    pub task_force_id: Option<String>,
    /// The category code.
    pub category: String,
    /// Amount, in yuan.
    pub amount_yuan: i64,
    /// Payment date.
    pub paid_on: NaiveDate,
    /// What was bought.
    pub description: String,
    /// Voucher number.
    pub voucher: Option<String>,
    /// When reversed; reversed payments do not count in totals.
    pub reversed_on: Option<NaiveDate>,
    /// Why.
    pub reversal_reason: Option<String>,
}

/// A total of the special fund's spending.
///
/// `task_force_id` is absent both in the office's own spending and in the
/// rows over every task force: `all_task_forces` tells them apart.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ExpenditureTotal {
    /// The task force; absent for the office's own spending and in the rows
    /// over every task force.
    pub task_force_id: Option<String>,
    /// Whether this row totals over every task force and the office.
    pub all_task_forces: bool,
    /// The category; absent in the rows that total over categories.
    pub category: Option<String>,
    /// Whether this row totals over every category.
    pub all_categories: bool,
    /// Payments counted.
    pub payments: i64,
    /// Their sum, in yuan.
    pub total_yuan: i64,
}

/// Talent introduced.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct TalentView {
    /// Its id.
    pub id: String,
    /// The task force.
    pub task_force_id: String,
    /// Description.
    pub title: String,
    /// How many people.
    pub people: i32,
    /// Level or programme.
    pub level: Option<String>,
    /// The enterprise they joined.
    pub enterprise: Option<String>,
    /// When.
    pub introduced_on: NaiveDate,
    /// When reversed; reversed records do not count.
    pub reversed_on: Option<NaiveDate>,
    /// Why.
    pub reversal_reason: Option<String>,
}

/// A span of dates a query covers: a calendar year or everything.
fn span(year: Option<i32>) -> (NaiveDate, NaiveDate) {
    // PostgreSQL's dates do not reach chrono's extremes: bound by plain years.
    let (from, to) = year.map_or((1900, 9999), |y| (y, y));
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    (day(from, 1, 1), day(to, 12, 31))
}

impl ReadModel {
    /// A project's problems, oldest first.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn project_problems(&self, project_id: &str) -> Result<Vec<ProblemView>, ReadModelError> {
        Ok(sqlx::query_as(
            "SELECT problem_id, raised_on, description, help_from, resolved_on, resolution
             FROM project_problems WHERE project_id = $1 ORDER BY raised_sequence",
        )
        .bind(project_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// 开工率 and 资金到位率 per task force and in total, over the projects
    /// whose current signing falls in `year` (all years when absent).
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn ledger_rates(&self, year: Option<i32>) -> Result<Vec<LedgerRates>, ReadModelError> {
        let (first, last) = span(year);
        Ok(sqlx::query_as(
            "SELECT task_force_id, count(*) AS signed,
                 count(*) FILTER (WHERE construction_started_on IS NOT NULL) AS started,
                 round(100.0 * count(*) FILTER (WHERE construction_started_on IS NOT NULL)
                     / NULLIF(count(*), 0), 2)::float8 AS start_rate_percent,
                 COALESCE(sum(GREATEST(signed_investment_yuan, contract_investment_yuan)
                     + increased_investment_yuan), 0)::bigint AS contracted_yuan,
                 COALESCE(sum(funds_arrived_yuan), 0)::bigint AS funds_arrived_yuan,
                 round(100.0 * COALESCE(sum(funds_arrived_yuan), 0) / NULLIF(sum(GREATEST(signed_investment_yuan,
                     contract_investment_yuan) + increased_investment_yuan), 0), 2)::float8
                     AS funds_arrival_rate_percent
             FROM projects WHERE first_signed_on BETWEEN $1 AND $2
             GROUP BY GROUPING SETS ((task_force_id), ())
             ORDER BY task_force_id NULLS LAST",
        )
        .bind(first)
        .bind(last)
        .fetch_all(self.pool())
        .await?)
    }

    /// Real-time reports after `after` (a sequence), oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn alerts(
        &self,
        after: i64,
        task_force_id: Option<&str>,
        major_only: bool,
        limit: i64,
    ) -> Result<Vec<AlertView>, ReadModelError> {
        Ok(sqlx::query_as(
            "SELECT * FROM (
                 SELECT a.sequence, a.kind, a.project_id, p.name AS project_name, p.task_force_id, p.investor,
                     p.category, COALESCE(a.amount_yuan, p.planned_investment_yuan) AS amount_yuan,
                     COALESCE(COALESCE(a.amount_yuan, p.planned_investment_yuan) >= CASE p.category
                         WHEN 'service' THEN pp.service_threshold_yuan ELSE pp.industrial_threshold_yuan END,
                         false) AS major,
                     a.occurred_on, a.recorded_at,
                     ((a.recorded_at AT TIME ZONE 'Asia/Shanghai')::date - a.occurred_on) AS reported_days_later,
                     a.actor
                 FROM alerts a
                 LEFT JOIN projects p ON p.id = a.project_id
                 LEFT JOIN LATERAL (SELECT service_threshold_yuan, industrial_threshold_yuan FROM plan_periods
                     WHERE extract(year FROM a.occurred_on) BETWEEN first_year AND last_year
                     ORDER BY first_year DESC LIMIT 1) pp ON true
                 WHERE a.sequence > $1 AND ($2::text IS NULL OR p.task_force_id = $2)
             ) x WHERE NOT $3 OR major
             ORDER BY sequence LIMIT $4",
        )
        .bind(after)
        .bind(task_force_id)
        .bind(major_only)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Enterprises, by task force and name.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn enterprises(
        &self,
        task_force_id: Option<&str>,
        role: Option<&str>,
    ) -> Result<Vec<EnterpriseView>, ReadModelError> {
        Ok(sqlx::query_as(
            "SELECT e.id, e.name, e.role, e.task_force_id, e.uscc, e.city, e.note, e.listed_on,
                 count(d.sequence) AS dockings, max(d.docked_on) AS last_docked_on, e.version
             FROM enterprises e LEFT JOIN dockings d ON d.enterprise = e.name
             WHERE ($1::text IS NULL OR e.task_force_id = $1) AND ($2::text IS NULL OR e.role = $2)
             GROUP BY e.id ORDER BY e.task_force_id, e.name",
        )
        .bind(task_force_id)
        .bind(role)
        .fetch_all(self.pool())
        .await?)
    }

    /// Service platforms, by date.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn service_platforms(&self) -> Result<Vec<ServicePlatformView>, ReadModelError> {
        Ok(sqlx::query_as(
            "SELECT id, name, relation, task_force_id, operator, recorded_on, evidence, note, reversed_on,
                 reversal_reason FROM service_platforms ORDER BY recorded_on, id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Payments of `year` (all when absent), by date, and their totals per
    /// task force and category (reversed payments listed but not totalled).
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn expenditures(
        &self,
        year: Option<i32>,
        task_force_id: Option<&str>,
    ) -> Result<(Vec<ExpenditureView>, Vec<ExpenditureTotal>), ReadModelError> {
        let (first, last) = span(year);
        let payments = sqlx::query_as(
            "SELECT id, task_force_id, category, amount_yuan, paid_on, description, voucher, reversed_on,
                 reversal_reason FROM expenditures
             WHERE paid_on BETWEEN $1 AND $2 AND ($3::text IS NULL OR task_force_id = $3)
             ORDER BY paid_on, id",
        )
        .bind(first)
        .bind(last)
        .bind(task_force_id)
        .fetch_all(self.pool())
        .await?;
        let totals = sqlx::query_as(
            "SELECT task_force_id, GROUPING(task_force_id) = 1 AS all_task_forces,
                 category, GROUPING(category) = 1 AS all_categories,
                 count(*) AS payments, COALESCE(sum(amount_yuan), 0)::bigint AS total_yuan
             FROM expenditures
             WHERE reversed_on IS NULL AND paid_on BETWEEN $1 AND $2 AND ($3::text IS NULL OR task_force_id = $3)
             GROUP BY GROUPING SETS ((task_force_id, category), (task_force_id), (category), ())
             ORDER BY GROUPING(task_force_id), task_force_id NULLS LAST, GROUPING(category), category",
        )
        .bind(first)
        .bind(last)
        .bind(task_force_id)
        .fetch_all(self.pool())
        .await?;
        Ok((payments, totals))
    }

    /// Talent introduced in `year` (all when absent), by date.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn talent_introductions(
        &self,
        year: Option<i32>,
        task_force_id: Option<&str>,
    ) -> Result<Vec<TalentView>, ReadModelError> {
        let (first, last) = span(year);
        Ok(sqlx::query_as(
            "SELECT id, task_force_id, title, people, level, enterprise, introduced_on, reversed_on,
                 reversal_reason FROM talent_introductions
             WHERE introduced_on BETWEEN $1 AND $2 AND ($3::text IS NULL OR task_force_id = $3)
             ORDER BY introduced_on, id",
        )
        .bind(first)
        .bind(last)
        .bind(task_force_id)
        .fetch_all(self.pool())
        .await?)
    }
}

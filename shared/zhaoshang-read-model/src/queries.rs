//! Reading the read models: task forces, the project ledger, activities,
//! meetings. Every list is ordered so that the same data reads the same way.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{ReadModel, ReadModelError};

/// A task force with its people and units.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct TaskForceView {
    /// Stable id (`automotive`).
    pub id: String,
    /// Its number in the plan.
    pub number: i32,
    /// Its name as the plan writes it.
    pub name: String,
    /// The industry chain.
    pub chain: String,
    /// 召集人.
    pub convener: String,
    /// 副召集人.
    pub deputy_convener: String,
    /// 牵头科室.
    pub lead_department: String,
    /// 配合科室.
    pub cooperating_departments: Value,
    /// Whether the plan's list ends with 等.
    pub cooperating_departments_open_ended: bool,
    /// 协同县区科技局.
    pub district_bureaus: Value,
    /// Whether the plan's list ends with 等.
    pub district_bureaus_open_ended: bool,
    /// 链主企业.
    pub chain_leaders: Value,
    /// Whether the plan's list ends with 等.
    pub chain_leaders_open_ended: bool,
    /// 联络员, once designated.
    pub liaison_name: Option<String>,
    /// The liaison's department.
    pub liaison_department: Option<String>,
    /// When it was established.
    pub established_on: NaiveDate,
}

/// The leading group.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct LeadingGroupView {
    /// Its id.
    pub id: String,
    /// The plan period it leads.
    pub plan_period_id: String,
    /// Its name.
    pub name: String,
    /// 领导小组办公室.
    pub office_name: String,
    /// The department housing the office.
    pub office_department: String,
    /// The office's director.
    pub office_director: String,
    /// Members in the plan's order, each with name, role and title.
    pub members: Value,
    /// When it was formed.
    pub formed_on: NaiveDate,
}

/// A plan period with its targets.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct PlanPeriodView {
    /// Its id (`2022-2024`).
    pub id: String,
    /// The plan's title.
    pub title: String,
    /// The notice's number.
    pub document_number: String,
    /// Who issued it.
    pub issued_by: String,
    /// When.
    pub issued_on: NaiveDate,
    /// First year covered.
    pub first_year: i32,
    /// Last year covered.
    pub last_year: i32,
    /// Industrial projects qualify from this investment, in yuan.
    pub industrial_threshold_yuan: i64,
    /// Service projects qualify from this investment, in yuan.
    pub service_threshold_yuan: i64,
    /// The targets, as adopted.
    pub targets: Value,
}

/// A project in the reserve and ledger (附件2).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ProjectView {
    /// Its id.
    pub id: String,
    /// The task force leading it in.
    pub task_force_id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// The investor.
    pub investor: Option<String>,
    /// `industrial` or `service`.
    pub category: Option<String>,
    /// The convener who owns it.
    pub owner: Option<String>,
    /// Planned investment, in yuan.
    pub planned_investment_yuan: Option<i64>,
    /// `lead`, `negotiating`, `signed`, `company_registered`, `construction_started`, `producing`.
    pub stage: Option<String>,
    /// `active`, `stalled`, `dropped`.
    pub status: Option<String>,
    /// Lead date.
    pub lead_on: Option<NaiveDate>,
    /// Negotiation start.
    pub negotiating_on: Option<NaiveDate>,
    /// First signing: the date that counts it as led in.
    pub first_signed_on: Option<NaiveDate>,
    /// Investment at first signing, in yuan.
    pub signed_investment_yuan: Option<i64>,
    /// Formal contract date.
    pub contract_signed_on: Option<NaiveDate>,
    /// Contracted investment now: max(first signing, contract) plus increases, in yuan.
    pub contracted_investment_yuan: Option<i64>,
    /// Whether it qualifies under the plan's thresholds (decided at first signing).
    pub qualifies: Option<bool>,
    /// The local company.
    pub company_name: Option<String>,
    /// Company registration date.
    pub company_registered_on: Option<NaiveDate>,
    /// Construction start (开工).
    pub construction_started_on: Option<NaiveDate>,
    /// Production start (投产).
    pub producing_on: Option<NaiveDate>,
    /// Funds arrived so far, in yuan.
    pub funds_arrived_yuan: Option<i64>,
    /// Funds arrived against contracted, in percent, two decimals.
    pub funds_arrival_rate_percent: Option<f64>,
    /// When it entered the reserve.
    pub reserve_entered_on: Option<NaiveDate>,
    /// Date of the latest stall, resume or drop.
    pub status_on: Option<NaiveDate>,
    /// Reason of the latest stall or drop.
    pub status_reason: Option<String>,
    /// Version (number of events).
    pub version: i64,
    /// The latest progress noted (最新进展).
    pub latest_progress: Option<String>,
    /// The date of the latest progress noted.
    pub latest_progress_on: Option<NaiveDate>,
    /// When the investor last changed (the signing fields then describe the new investor's signing).
    pub investor_changed_on: Option<NaiveDate>,
    /// Problems raised and not yet resolved (存在问题).
    pub open_problems: i64,
}

/// One step of a project's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ProjectStepView {
    /// Stream sequence of the event.
    pub sequence: i64,
    /// The event's type (`project.signed.v1`).
    pub event_type: String,
    /// The stage reached, for stage changes.
    pub stage: Option<String>,
    /// When it happened.
    pub occurred_on: NaiveDate,
    /// Amount involved, in yuan.
    pub amount_yuan: Option<i64>,
    /// Evidence reference.
    pub evidence: Option<String>,
    /// Note, reason or agreement kind.
    pub note: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it.
    pub actor: String,
    /// Days between the date it happened and the day it was recorded (Liuzhou time).
    pub recorded_days_later: i32,
    /// Recorded more than [`crate::ledger::BACKFILL_AFTER_DAYS`] days after it happened (补录).
    pub backfilled: bool,
}

/// Filters of the project list.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Only this task force.
    pub task_force_id: Option<String>,
    /// Only this stage.
    pub stage: Option<String>,
    /// Only projects first signed in this year.
    pub signed_year: Option<i32>,
    /// Only qualifying (true) or non-qualifying (false) projects.
    pub qualifying: Option<bool>,
    /// Only projects in the reserve.
    pub in_reserve: Option<bool>,
}

/// An activity.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ActivityView {
    /// Its id.
    pub id: String,
    /// The task force.
    pub task_force_id: Option<String>,
    /// `going_out`, `inviting_in`, `online`.
    pub kind: Option<String>,
    /// Its title.
    pub title: Option<String>,
    /// `planned`, `held`, `cancelled`.
    pub status: String,
    /// Planned or held date.
    pub activity_on: Option<NaiveDate>,
    /// Led by a principal leader.
    pub led_by_principal_leader: Option<bool>,
    /// Cities visited.
    pub destination_cities: Option<Value>,
    /// Enterprises involved, each with name and role.
    pub enterprises: Value,
    /// Cancellation reason.
    pub cancel_reason: Option<String>,
    /// When its latest event (planned, held, cancelled) was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
    /// Recorded more than [`crate::ledger::BACKFILL_AFTER_DAYS`] days after its date (补录).
    pub backfilled: bool,
}

/// A meeting.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct MeetingView {
    /// Its id.
    pub id: String,
    /// `joint`, `monthly_report`, `supervision`.
    pub kind: String,
    /// The task force, for joint meetings and inspections.
    pub task_force_id: Option<String>,
    /// When it was held.
    pub held_on: NaiveDate,
    /// Its title.
    pub title: String,
    /// Who attended.
    pub attendees: Value,
    /// Minutes or findings.
    pub minutes: Option<String>,
    /// When it was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
    /// Recorded more than [`crate::ledger::BACKFILL_AFTER_DAYS`] days after it was held (补录).
    pub backfilled: bool,
}

const PROJECT_COLUMNS: &str = "id, task_force_id, name, investor, category, owner, planned_investment_yuan, stage,
    status, lead_on, negotiating_on, first_signed_on, signed_investment_yuan, contract_signed_on,
    GREATEST(signed_investment_yuan, contract_investment_yuan) + increased_investment_yuan AS contracted_investment_yuan,
    qualifies, company_name, company_registered_on, construction_started_on, producing_on, funds_arrived_yuan,
    round(100.0 * funds_arrived_yuan / NULLIF(GREATEST(signed_investment_yuan, contract_investment_yuan)
        + increased_investment_yuan, 0), 2)::float8 AS funds_arrival_rate_percent,
    reserve_entered_on, status_on, status_reason, version, latest_progress, latest_progress_on, investor_changed_on,
    (SELECT count(*) FROM project_problems pp WHERE pp.project_id = projects.id AND pp.resolved_on IS NULL)
        AS open_problems";

impl ReadModel {
    /// Every task force, by number.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn task_forces(&self) -> Result<Vec<TaskForceView>, ReadModelError> {
        Ok(sqlx::query_as("SELECT * FROM task_forces ORDER BY number, id").fetch_all(self.pool()).await?)
    }

    /// One task force.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn task_force(&self, id: &str) -> Result<Option<TaskForceView>, ReadModelError> {
        Ok(sqlx::query_as("SELECT * FROM task_forces WHERE id = $1").bind(id).fetch_optional(self.pool()).await?)
    }

    /// The leading groups.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn leading_groups(&self) -> Result<Vec<LeadingGroupView>, ReadModelError> {
        Ok(sqlx::query_as("SELECT * FROM leading_groups ORDER BY formed_on, id").fetch_all(self.pool()).await?)
    }

    /// The plan periods, oldest first.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn plan_periods(&self) -> Result<Vec<PlanPeriodView>, ReadModelError> {
        Ok(sqlx::query_as("SELECT * FROM plan_periods ORDER BY first_year, id").fetch_all(self.pool()).await?)
    }

    /// Projects matching `filter`, by task force then lead date.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn projects(&self, filter: &ProjectFilter) -> Result<Vec<ProjectView>, ReadModelError> {
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects
             WHERE ($1::text IS NULL OR task_force_id = $1)
               AND ($2::text IS NULL OR stage = $2)
               AND ($3::int IS NULL OR extract(year FROM first_signed_on) = $3)
               AND ($4::boolean IS NULL OR COALESCE(qualifies, false) = $4)
               AND ($5::boolean IS NULL OR (reserve_entered_on IS NOT NULL) = $5)
             ORDER BY task_force_id, lead_on, id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(&filter.task_force_id)
            .bind(&filter.stage)
            .bind(filter.signed_year)
            .bind(filter.qualifying)
            .bind(filter.in_reserve)
            .fetch_all(self.pool())
            .await?)
    }

    /// One project.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn project(&self, id: &str) -> Result<Option<ProjectView>, ReadModelError> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.pool()).await?)
    }

    /// A project's steps, oldest first.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn project_steps(&self, id: &str) -> Result<Vec<ProjectStepView>, ReadModelError> {
        Ok(sqlx::query_as(
            "SELECT sequence, event_type, stage, occurred_on, amount_yuan, evidence, note, recorded_at, actor,
                 ((recorded_at AT TIME ZONE 'Asia/Shanghai')::date - occurred_on) AS recorded_days_later,
                 ((recorded_at AT TIME ZONE 'Asia/Shanghai')::date - occurred_on) > $2 AS backfilled
             FROM project_steps WHERE project_id = $1 ORDER BY sequence",
        )
        .bind(id)
        .bind(crate::ledger::BACKFILL_AFTER_DAYS)
        .fetch_all(self.pool())
        .await?)
    }

    /// Activities of a task force and/or year, by date.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn activities(
        &self,
        task_force_id: Option<&str>,
        kind: Option<&str>,
        year: Option<i32>,
    ) -> Result<Vec<ActivityView>, ReadModelError> {
        Ok(sqlx::query_as(
            "SELECT a.id, a.task_force_id, a.kind, a.title, a.status, a.activity_on, a.led_by_principal_leader,
                    a.destination_cities, a.cancel_reason,
                    COALESCE((SELECT jsonb_agg(jsonb_build_object('name', e.enterprise, 'role', e.role) ORDER BY e.enterprise)
                              FROM activity_enterprises e WHERE e.activity_id = a.id), '[]'::jsonb) AS enterprises,
                    l.recorded_at,
                    COALESCE((l.recorded_at AT TIME ZONE 'Asia/Shanghai')::date - a.activity_on > $4, false)
                        AS backfilled
             FROM activities a
             LEFT JOIN event_log l ON l.sequence = a.last_sequence
             WHERE ($1::text IS NULL OR a.task_force_id = $1)
               AND ($2::text IS NULL OR a.kind = $2)
               AND ($3::int IS NULL OR extract(year FROM a.activity_on) = $3)
             ORDER BY a.activity_on, a.id",
        )
        .bind(task_force_id)
        .bind(kind)
        .bind(year)
        .bind(crate::ledger::BACKFILL_AFTER_DAYS)
        .fetch_all(self.pool())
        .await?)
    }

    /// Meetings of a task force, kind and/or year, by date.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn meetings(
        &self,
        task_force_id: Option<&str>,
        kind: Option<&str>,
        year: Option<i32>,
    ) -> Result<Vec<MeetingView>, ReadModelError> {
        Ok(sqlx::query_as(
            "SELECT m.id, m.kind, m.task_force_id, m.held_on, m.title, m.attendees, m.minutes, l.recorded_at,
                 COALESCE((l.recorded_at AT TIME ZONE 'Asia/Shanghai')::date - m.held_on > $4, false) AS backfilled
             FROM meetings m LEFT JOIN event_log l ON l.sequence = m.sequence
             WHERE ($1::text IS NULL OR m.task_force_id = $1)
               AND ($2::text IS NULL OR m.kind = $2)
               AND ($3::int IS NULL OR extract(year FROM m.held_on) = $3)
             ORDER BY m.held_on, m.id",
        )
        .bind(task_force_id)
        .bind(kind)
        .bind(year)
        .bind(crate::ledger::BACKFILL_AFTER_DAYS)
        .fetch_all(self.pool())
        .await?)
    }
}

//! Supervision read models: monthly reports with their on-time status on any
//! date, the duties' colours (reminders and the status board), and the
//! escalation matters with every step and response.
//!
//! The rules (due dates, colours, the ladder) are the domain's
//! (`zhaoshang_domain::monthly_report`, `zhaoshang_domain::supervision`);
//! this module only gathers the facts for a date with a few set-based
//! queries and applies them. The pro-rata targets use the progress table's
//! own counting (`progress::COUNT_SQL`) from 1 January to the date.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use zhaoshang_domain::EventEnvelope;
use zhaoshang_domain::monthly_report::{MonthlyReportEvent, ReportStatus, due_date, status_on};
use zhaoshang_domain::plan::{Measure, PlanTargets};
use zhaoshang_domain::supervision::{
    Assessment, Colour, Duty, EscalationEvent, EscalationStep, MONTHLY_REPORT_DUE_SOON_DAYS, MonthOnRecord,
    QUARTER_DUE_SOON_DAYS, TARGET_DUE_SOON_DAYS, assess_monthly_reports, assess_quarterly, assess_target,
    is_backfilled, quarter_of,
};

use crate::progress::{Knowledge, ProgressError, counted_measures, measure_from_sql};
use crate::{ReadModel, ReadModelError};

// ---------------------------------------------------------------------------
// Projection.
// ---------------------------------------------------------------------------

enum SupervisionEvent {
    Report(MonthlyReportEvent),
    Escalation(EscalationEvent),
}

struct Recorded {
    sequence: i64,
    aggregate_id: String,
    event_type: String,
    recorded_at: DateTime<Utc>,
    actor: String,
    event: SupervisionEvent,
}

/// The supervision events of one batch, applied in stream order. They are
/// rare (a few a month per task force), so one statement each is plenty.
#[derive(Default)]
pub(crate) struct SupervisionRows {
    events: Vec<Recorded>,
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("read-model values always serialise")
}

impl SupervisionRows {
    fn push(&mut self, sequence: i64, envelope: &EventEnvelope, event: SupervisionEvent) {
        self.events.push(Recorded {
            sequence,
            aggregate_id: envelope.aggregateid.clone(),
            event_type: envelope.short_type().to_owned(),
            recorded_at: envelope.time,
            actor: envelope.actor.clone(),
            event,
        });
    }

    /// Adds a monthly report's event.
    pub(crate) fn add_monthly_report(&mut self, sequence: i64, envelope: &EventEnvelope, event: MonthlyReportEvent) {
        self.push(sequence, envelope, SupervisionEvent::Report(event));
    }

    /// Adds an escalation matter's event.
    pub(crate) fn add_escalation(&mut self, sequence: i64, envelope: &EventEnvelope, event: EscalationEvent) {
        self.push(sequence, envelope, SupervisionEvent::Escalation(event));
    }

    /// Writes the batch's rows, in stream order, inside the projection's
    /// transaction (the checkpoint makes each event apply exactly once).
    pub(crate) async fn write(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        for r in &self.events {
            match &r.event {
                SupervisionEvent::Report(event) => write_report(tx, r, event).await?,
                SupervisionEvent::Escalation(event) => write_escalation(tx, r, event).await?,
            }
        }
        Ok(())
    }
}

async fn write_report(
    tx: &mut Transaction<'_, Postgres>,
    r: &Recorded,
    event: &MonthlyReportEvent,
) -> Result<(), sqlx::Error> {
    let (on, reason, figures) = match event {
        MonthlyReportEvent::Submitted(s) => {
            let due = due_date(s.year, s.month).expect("the domain checked the month");
            sqlx::query(
                "INSERT INTO monthly_reports (id, task_force_id, year, month, due_on, first_submitted_on,
                     first_recorded_at, submitted_by, last_changed_on, last_recorded_at, amendments, figures,
                     progress, problems, next_month_plan, last_sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $6, $7, 0, $9, $10, $11, $12, $13)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&r.aggregate_id)
            .bind(s.task_force_id.as_str())
            .bind(s.year)
            .bind(i32::try_from(s.month).unwrap_or(0))
            .bind(due)
            .bind(s.on)
            .bind(r.recorded_at)
            .bind(&r.actor)
            .bind(json(&s.figures))
            .bind(s.progress.as_str())
            .bind(s.problems.as_ref().map(|t| t.as_str()))
            .bind(s.next_month_plan.as_ref().map(|t| t.as_str()))
            .bind(r.sequence)
            .execute(&mut **tx)
            .await?;
            (s.on, None, json(&s.figures))
        }
        MonthlyReportEvent::Amended(a) => {
            sqlx::query(
                "UPDATE monthly_reports SET last_changed_on = $2, last_recorded_at = $3, amendments = amendments + 1,
                     figures = $4, progress = $5, problems = $6, next_month_plan = $7, last_sequence = $8
                 WHERE id = $1",
            )
            .bind(&r.aggregate_id)
            .bind(a.on)
            .bind(r.recorded_at)
            .bind(json(&a.figures))
            .bind(a.progress.as_str())
            .bind(a.problems.as_ref().map(|t| t.as_str()))
            .bind(a.next_month_plan.as_ref().map(|t| t.as_str()))
            .bind(r.sequence)
            .execute(&mut **tx)
            .await?;
            (a.on, Some(a.reason.to_string()), json(&a.figures))
        }
    };
    sqlx::query(
        "INSERT INTO monthly_report_history (sequence, report_id, event_type, happened_on, recorded_at, actor, reason,
             figures)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (sequence) DO NOTHING",
    )
    .bind(r.sequence)
    .bind(&r.aggregate_id)
    .bind(&r.event_type)
    .bind(on)
    .bind(r.recorded_at)
    .bind(&r.actor)
    .bind(reason)
    .bind(figures)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_escalation(
    tx: &mut Transaction<'_, Postgres>,
    r: &Recorded,
    event: &EscalationEvent,
) -> Result<(), sqlx::Error> {
    let (step, on, person, content) = match event {
        EscalationEvent::StepIssued(s) => {
            // A closed matter lagging again restarts with a reminder: it
            // opens anew from that day.
            sqlx::query(
                "INSERT INTO escalations AS e (id, task_force_id, duty, period, step, step_on, answered, open,
                     opened_on, last_sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, false, true, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET step = EXCLUDED.step, step_on = EXCLUDED.step_on, answered = false,
                     opened_on = CASE WHEN e.open THEN e.opened_on ELSE EXCLUDED.opened_on END,
                     open = true, closed_on = NULL, resolution = NULL, last_sequence = EXCLUDED.last_sequence",
            )
            .bind(&r.aggregate_id)
            .bind(s.task_force_id.as_str())
            .bind(s.duty.code())
            .bind(s.period.as_str())
            .bind(s.step.code())
            .bind(s.on)
            .bind(r.sequence)
            .execute(&mut **tx)
            .await?;
            (Some(s.step.code()), s.on, Some(s.issued_by.to_string()), s.note.to_string())
        }
        EscalationEvent::Responded(a) => {
            sqlx::query("UPDATE escalations SET answered = true, last_sequence = $2 WHERE id = $1")
                .bind(&r.aggregate_id)
                .bind(r.sequence)
                .execute(&mut **tx)
                .await?;
            (None, a.on, Some(a.responder.to_string()), a.response.to_string())
        }
        EscalationEvent::Closed(c) => {
            sqlx::query(
                "UPDATE escalations SET open = false, closed_on = $2, resolution = $3, last_sequence = $4
                 WHERE id = $1",
            )
            .bind(&r.aggregate_id)
            .bind(c.on)
            .bind(c.resolution.as_str())
            .bind(r.sequence)
            .execute(&mut **tx)
            .await?;
            (None, c.on, None, c.resolution.to_string())
        }
    };
    sqlx::query(
        "INSERT INTO escalation_history (sequence, escalation_id, event_type, step, happened_on, recorded_at, actor,
             person, content)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (sequence) DO NOTHING",
    )
    .bind(r.sequence)
    .bind(&r.aggregate_id)
    .bind(&r.event_type)
    .bind(step)
    .bind(on)
    .bind(r.recorded_at)
    .bind(&r.actor)
    .bind(person)
    .bind(content)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Views.
// ---------------------------------------------------------------------------

/// Liuzhou's date of an instant: back-filling is judged in Liuzhou days.
fn liuzhou_date(at: DateTime<Utc>) -> NaiveDate {
    let offset = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    at.with_timezone(&offset).date_naive()
}

/// One month of one task force: its report, or the lack of one, on a date.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MonthlyReportRow {
    /// The task force.
    pub task_force_id: String,
    /// Its name.
    pub task_force_name: String,
    /// The year.
    pub year: i32,
    /// The month, 1 to 12.
    pub month: u32,
    /// The due date: the 30th, or February's last day.
    pub due_on: NaiveDate,
    /// `on_time`, `late`, `missing` or `pending` (not due yet).
    pub status: &'static str,
    /// 按时报送 / 逾期 n 天报送 / 缺报 / 未到期.
    pub status_label: String,
    /// Days after the due date, for a late report.
    pub days_late: Option<i64>,
    /// The report's id, when one was submitted by the date.
    pub report_id: Option<String>,
    /// The day it was first submitted (when it happened).
    pub submitted_on: Option<NaiveDate>,
    /// When the system recorded that first submission.
    pub recorded_at: Option<DateTime<Utc>>,
    /// Whether the submission was recorded more than 7 days after its date (补录).
    pub backfilled: bool,
    /// How many amendments it has had (as of now).
    pub amendments: i32,
    /// The figures, as last amended.
    pub figures: Option<Value>,
    /// 本月工作进展.
    pub progress: Option<String>,
    /// 存在问题及需协调事项.
    pub problems: Option<String>,
    /// 下月工作计划.
    pub next_month_plan: Option<String>,
}

/// How many months stand in each status.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ReportStatusCounts {
    /// 按时报送.
    pub on_time: u32,
    /// 逾期报送.
    pub late: u32,
    /// 缺报.
    pub missing: u32,
    /// 未到期.
    pub pending: u32,
}

/// The monthly reports of a year as they stood on a date.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MonthlyReportsView {
    /// The date the statuses are judged on.
    pub date: NaiveDate,
    /// The year.
    pub year: i32,
    /// Totals by status.
    pub counts: ReportStatusCounts,
    /// One row per task force and month begun by the date, by task force number then month.
    pub reports: Vec<MonthlyReportRow>,
}

/// A submission or amendment of a report.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct MonthlyReportHistoryRow {
    /// Stream sequence.
    pub sequence: i64,
    /// `monthly_report.submitted.v1` or `monthly_report.amended.v1`.
    pub event_type: String,
    /// The day it happened.
    pub happened_on: NaiveDate,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it.
    pub actor: String,
    /// For an amendment: what was wrong.
    pub reason: Option<String>,
    /// The figures it carried.
    pub figures: Value,
}

#[derive(sqlx::FromRow)]
struct ReportRecord {
    id: String,
    task_force_id: String,
    month: i32,
    first_submitted_on: NaiveDate,
    first_recorded_at: DateTime<Utc>,
    amendments: i32,
    figures: Value,
    progress: String,
    problems: Option<String>,
    next_month_plan: Option<String>,
}

/// An open or closed escalation matter with its history.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EscalationView {
    /// Its id: `<task force>-<duty>-<period>`.
    pub id: String,
    /// The task force.
    pub task_force_id: String,
    /// The duty's code.
    pub duty: String,
    /// The duty's Chinese name.
    pub duty_label: String,
    /// The lagging period.
    pub period: String,
    /// The latest step: reminder, chase_notice, supervision_order, circular.
    pub step: String,
    /// 提醒 / 催办 / 督办 / 通报.
    pub step_label: String,
    /// When the latest step was issued.
    pub step_on: NaiveDate,
    /// Whether the task force has answered the latest step.
    pub answered: bool,
    /// Whether the matter is open.
    pub open: bool,
    /// When the current round opened.
    pub opened_on: NaiveDate,
    /// When it was closed.
    pub closed_on: Option<NaiveDate>,
    /// How the lag was resolved.
    pub resolution: Option<String>,
    /// Every step, response and closing, oldest first.
    pub history: Vec<EscalationHistoryRow>,
}

/// One event of an escalation matter.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EscalationHistoryRow {
    /// Stream sequence.
    pub sequence: i64,
    /// `escalation.step_issued.v1`, `escalation.responded.v1`, `escalation.closed.v1`.
    pub event_type: String,
    /// For a step: its code.
    pub step: Option<String>,
    /// For a step: 提醒 / 催办 / 督办 / 通报.
    pub step_label: Option<String>,
    /// The day it happened.
    pub happened_on: NaiveDate,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Whether it was recorded more than 7 days after it happened.
    pub backfilled: bool,
    /// Who recorded it.
    pub actor: String,
    /// Who issued the step, or who answered.
    pub person: Option<String>,
    /// The note, the response or the resolution.
    pub content: String,
}

#[derive(sqlx::FromRow)]
struct EscalationRecord {
    id: String,
    task_force_id: String,
    duty: String,
    period: String,
    step: String,
    step_on: NaiveDate,
    answered: bool,
    open: bool,
    opened_on: NaiveDate,
    closed_on: Option<NaiveDate>,
    resolution: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EscalationHistoryRecord {
    sequence: i64,
    escalation_id: String,
    event_type: String,
    step: Option<String>,
    happened_on: NaiveDate,
    recorded_at: DateTime<Utc>,
    actor: String,
    person: Option<String>,
    content: String,
}

fn step_label(code: &str) -> String {
    [EscalationStep::Reminder, EscalationStep::ChaseNotice, EscalationStep::SupervisionOrder, EscalationStep::Circular]
        .into_iter()
        .find(|s| s.code() == code)
        .map_or_else(|| code.to_owned(), |s| s.label().to_owned())
}

fn duty_label(code: &str) -> String {
    Duty::from_code(code).map_or_else(|| code.to_owned(), |d| d.label().to_owned())
}

/// An open matter shown beside the duty it is about.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OpenEscalation {
    /// The matter's id.
    pub id: String,
    /// The lagging period.
    pub period: String,
    /// The latest step's code.
    pub step: String,
    /// 提醒 / 催办 / 督办 / 通报.
    pub step_label: String,
    /// When it was issued.
    pub step_on: NaiveDate,
    /// Whether the task force has answered it.
    pub answered: bool,
}

/// One duty of one task force on a date.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DutyStatus {
    /// The task force.
    pub task_force_id: String,
    /// Its number.
    pub task_force_number: i32,
    /// Its name.
    pub task_force_name: String,
    /// The duty's code (`monthly_report`, `joint_meeting`,
    /// `supervision_inspection`, or a target measure's code).
    pub duty: &'static str,
    /// The duty's Chinese name.
    pub duty_label: &'static str,
    /// The period of the date for this duty, as an escalation names it
    /// (`2022-05`, `2022-q2`, `2022`).
    pub period: String,
    /// `green`, `blue`, `yellow` or `red`.
    pub colour: &'static str,
    /// 绿 / 蓝 / 黄 / 红.
    pub colour_label: &'static str,
    /// Why, in Chinese.
    pub why: String,
    /// For a target: the year's target.
    pub target: Option<u32>,
    /// For a target: the units expected by the date, pro rata.
    pub expected: Option<u32>,
    /// What has been done this year by the date.
    pub actual: u32,
    /// When the next thing falls due this year.
    pub next_due_on: Option<NaiveDate>,
    /// Open escalation matters about this duty of this task force.
    pub open_escalations: Vec<OpenEscalation>,
}

/// A colour, its mark and what it means.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ColourLegend {
    /// `green`, `blue`, `yellow`, `red`.
    pub colour: &'static str,
    /// 绿 / 蓝 / 黄 / 红.
    pub label: &'static str,
    /// 已完成 / 正常推进 / 即将到期 / 逾期或滞后.
    pub meaning: &'static str,
    /// When a duty takes it.
    pub rule: String,
}

/// How many duties stand in each colour.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ColourCounts {
    /// 绿.
    pub green: u32,
    /// 蓝.
    pub blue: u32,
    /// 黄.
    pub yellow: u32,
    /// 红.
    pub red: u32,
}

impl ColourCounts {
    fn add(&mut self, colour: Colour) {
        match colour {
            Colour::Green => self.green += 1,
            Colour::Blue => self.blue += 1,
            Colour::Yellow => self.yellow += 1,
            Colour::Red => self.red += 1,
        }
    }
}

/// Every duty of every task force on a date.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SupervisionStatus {
    /// The date judged.
    pub date: NaiveDate,
    /// The plan period whose targets apply.
    pub plan_period_id: String,
    /// The stream sequence the read models stood on.
    pub as_of_sequence: u64,
    /// What each colour means.
    pub legend: Vec<ColourLegend>,
    /// Totals by colour.
    pub counts: ColourCounts,
    /// The duties in board order: the monthly report, the two quarterly
    /// meetings, then the plan's yearly targets.
    pub duties: Vec<DutyHeading>,
    /// One entry per task force and duty, by task force number then duty.
    pub items: Vec<DutyStatus>,
}

/// A duty's code and Chinese name.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DutyHeading {
    /// The code.
    pub code: &'static str,
    /// The Chinese name.
    pub label: &'static str,
}

/// The legend: each colour with its rule, in Chinese.
pub fn legend() -> Vec<ColourLegend> {
    let rule = |colour: Colour| match colour {
        Colour::Green => {
            "已完成：全年目标已达到；本月进展报告已报送；本季度会议/督导已开展（且本年此前无缺项）".to_owned()
        }
        Colour::Blue => "正常推进：无逾期事项，且近期无到期事项".to_owned(),
        Colour::Yellow => format!(
            "即将到期：无逾期事项，但下一项将在 {TARGET_DUE_SOON_DAYS} 天内（年度目标按时间进度）、本季度最后 \
             {QUARTER_DUE_SOON_DAYS} 天内（季度会议/督导）或 {MONTHLY_REPORT_DUE_SOON_DAYS} 天内（月度报告）到期"
        ),
        Colour::Red => "逾期或滞后：年度目标低于时间进度（目标 × 本年已过天数 ÷ 全年天数，向下取整）；\
            有月份到期未报；本年有已结束的季度未开展会议/督导"
            .to_owned(),
    };
    [Colour::Green, Colour::Blue, Colour::Yellow, Colour::Red]
        .into_iter()
        .map(|c| ColourLegend { colour: c.code(), label: c.label(), meaning: c.meaning(), rule: rule(c) })
        .collect()
}

impl ReadModel {
    async fn task_forces_of_year(&self, year: i32) -> Result<Vec<(String, i32, String)>, ReadModelError> {
        Ok(sqlx::query_as(
            "SELECT id, number, name FROM task_forces WHERE extract(year FROM established_on) <= $1
             ORDER BY number, id",
        )
        .bind(year)
        .fetch_all(self.pool())
        .await?)
    }

    /// The monthly reports of `year` as they stood on `date`, for one task
    /// force or all: each month begun by `date` with its due date and status.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn monthly_reports(
        &self,
        task_force_id: Option<&str>,
        year: i32,
        date: NaiveDate,
    ) -> Result<MonthlyReportsView, ReadModelError> {
        let task_forces = self.task_forces_of_year(year).await?;
        let records: Vec<ReportRecord> = sqlx::query_as(
            "SELECT id, task_force_id, month, first_submitted_on, first_recorded_at, amendments, figures, progress,
                 problems, next_month_plan
             FROM monthly_reports WHERE year = $1 AND ($2::text IS NULL OR task_force_id = $2)",
        )
        .bind(year)
        .bind(task_force_id)
        .fetch_all(self.pool())
        .await?;
        let by_month: HashMap<(&str, i32), &ReportRecord> =
            records.iter().map(|r| ((r.task_force_id.as_str(), r.month), r)).collect();
        let mut counts = ReportStatusCounts::default();
        let mut reports = Vec::new();
        for (id, _, name) in task_forces.iter().filter(|(id, _, _)| task_force_id.is_none_or(|t| t == id)) {
            for month in 1..=12u32 {
                let Some(first) = NaiveDate::from_ymd_opt(year, month, 1).filter(|first| *first <= date) else {
                    continue;
                };
                let due = due_date(year, month).unwrap_or(first);
                let month_i32 = i32::try_from(month).unwrap_or(0);
                // A report submitted after the date had not happened yet then.
                let record = by_month.get(&(id.as_str(), month_i32)).filter(|r| r.first_submitted_on <= date);
                let status = status_on(date, due, record.map(|r| r.first_submitted_on));
                match status {
                    ReportStatus::OnTime => counts.on_time += 1,
                    ReportStatus::Late { .. } => counts.late += 1,
                    ReportStatus::Missing => counts.missing += 1,
                    ReportStatus::Pending => counts.pending += 1,
                }
                reports.push(MonthlyReportRow {
                    task_force_id: id.clone(),
                    task_force_name: name.clone(),
                    year,
                    month,
                    due_on: due,
                    status: status.code(),
                    status_label: status.label(),
                    days_late: match status {
                        ReportStatus::Late { days_late } => Some(days_late),
                        _ => None,
                    },
                    report_id: record.map(|r| r.id.clone()),
                    submitted_on: record.map(|r| r.first_submitted_on),
                    recorded_at: record.map(|r| r.first_recorded_at),
                    backfilled: record
                        .is_some_and(|r| is_backfilled(r.first_submitted_on, liuzhou_date(r.first_recorded_at))),
                    amendments: record.map_or(0, |r| r.amendments),
                    figures: record.map(|r| r.figures.clone()),
                    progress: record.map(|r| r.progress.clone()),
                    problems: record.and_then(|r| r.problems.clone()),
                    next_month_plan: record.and_then(|r| r.next_month_plan.clone()),
                });
            }
        }
        Ok(MonthlyReportsView { date, year, counts, reports })
    }

    /// Every submission and amendment of one report, oldest first.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn monthly_report_history(
        &self,
        report_id: &str,
    ) -> Result<Vec<MonthlyReportHistoryRow>, ReadModelError> {
        Ok(sqlx::query_as(
            "SELECT sequence, event_type, happened_on, recorded_at, actor, reason, figures
             FROM monthly_report_history WHERE report_id = $1 ORDER BY sequence",
        )
        .bind(report_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Escalation matters, for one task force or all, open or closed or
    /// both, each with its history; by task force, then most recent step first.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn escalations(
        &self,
        task_force_id: Option<&str>,
        open: Option<bool>,
    ) -> Result<Vec<EscalationView>, ReadModelError> {
        let records: Vec<EscalationRecord> = sqlx::query_as(
            "SELECT id, task_force_id, duty, period, step, step_on, answered, open, opened_on, closed_on, resolution
             FROM escalations WHERE ($1::text IS NULL OR task_force_id = $1) AND ($2::boolean IS NULL OR open = $2)
             ORDER BY task_force_id, step_on DESC, id",
        )
        .bind(task_force_id)
        .bind(open)
        .fetch_all(self.pool())
        .await?;
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let history: Vec<EscalationHistoryRecord> = sqlx::query_as(
            "SELECT sequence, escalation_id, event_type, step, happened_on, recorded_at, actor, person, content
             FROM escalation_history WHERE escalation_id = ANY($1) ORDER BY sequence",
        )
        .bind(&ids)
        .fetch_all(self.pool())
        .await?;
        let mut by_matter: HashMap<String, Vec<EscalationHistoryRow>> = HashMap::new();
        for h in history {
            by_matter.entry(h.escalation_id.clone()).or_default().push(EscalationHistoryRow {
                sequence: h.sequence,
                event_type: h.event_type,
                step_label: h.step.as_deref().map(step_label),
                step: h.step,
                happened_on: h.happened_on,
                recorded_at: h.recorded_at,
                backfilled: is_backfilled(h.happened_on, liuzhou_date(h.recorded_at)),
                actor: h.actor,
                person: h.person,
                content: h.content,
            });
        }
        Ok(records
            .into_iter()
            .map(|r| EscalationView {
                history: by_matter.remove(&r.id).unwrap_or_default(),
                duty_label: duty_label(&r.duty),
                step_label: step_label(&r.step),
                id: r.id,
                task_force_id: r.task_force_id,
                duty: r.duty,
                period: r.period,
                step: r.step,
                step_on: r.step_on,
                answered: r.answered,
                open: r.open,
                opened_on: r.opened_on,
                closed_on: r.closed_on,
                resolution: r.resolution,
            })
            .collect())
    }

    /// Every duty of every task force (or one) on `date`, coloured by the
    /// domain's rules, with the open escalation matters beside each.
    ///
    /// # Errors
    /// [`ProgressError::NoPlanPeriod`] when no plan period covers the date's
    /// year; [`ProgressError::ReadModel`] when the database fails.
    pub async fn supervision_status(
        &self,
        date: NaiveDate,
        task_force_id: Option<&str>,
    ) -> Result<SupervisionStatus, ProgressError> {
        self.supervision_status_known_at(date, task_force_id, None).await
    }

    /// The status board on `date` as it was known at a stream sequence
    /// (`None`: as everything recorded says now): facts recorded later are
    /// left out, and escalation matters stand as they stood then.
    ///
    /// # Errors
    /// As [`ReadModel::supervision_status`].
    pub async fn supervision_status_known_at(
        &self,
        date: NaiveDate,
        task_force_id: Option<&str>,
        known_sequence: Option<u64>,
    ) -> Result<SupervisionStatus, ProgressError> {
        let known = known_sequence.and_then(|s| i64::try_from(s).ok()).unwrap_or(i64::MAX);
        let year = date.year();
        let plans = self.plan_periods().await?;
        let plan = plans
            .iter()
            .find(|p| p.first_year <= year && year <= p.last_year)
            .ok_or_else(|| ProgressError::NoPlanPeriod(year.to_string()))?;
        let targets: PlanTargets = serde_json::from_value(plan.targets.clone())
            .map_err(|e| ReadModelError::Database(sqlx::Error::Decode(Box::new(e))))?;
        let year_start = NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January exists");

        let mut tx = self.pool().begin().await.map_err(ReadModelError::from)?;
        // One snapshot for every fact and the checkpoint they stand on.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(ReadModelError::from)?;
        let as_of: Option<i64> =
            sqlx::query_scalar("SELECT last_sequence FROM projection_checkpoints WHERE projection = $1")
                .bind(crate::projection::READ_MODEL_PROJECTION)
                .fetch_optional(&mut *tx)
                .await
                .map_err(ReadModelError::from)?;
        let task_forces: Vec<(String, i32, String)> = sqlx::query_as(
            "SELECT id, number, name FROM task_forces WHERE extract(year FROM established_on) <= $1
               AND ($2::text IS NULL OR id = $2) ORDER BY number, id",
        )
        .bind(year)
        .bind(task_force_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(ReadModelError::from)?;
        // Everything counted comes from the temporal facts, as known at
        // `known` and as of `date`: a year's annual plan counts once it was
        // submitted, a report once it came in.
        let year_end = NaiveDate::from_ymd_opt(year, 12, 31).expect("31 December exists");
        let knowledge = Knowledge { known_sequence, as_of: Some(date) };
        let counts = crate::progress::count_facts(&mut tx, year_start, year_end, knowledge).await?;
        let reports: Vec<(String, NaiveDate, NaiveDate)> = sqlx::query_as(
            "SELECT task_force_id, counts_in, occurred_on FROM progress_facts
             WHERE NOT repeats AND measure = 'monthly_reports' AND counts_in BETWEEN $1 AND $2 AND occurred_on <= $3
               AND recorded_seq <= $4 AND (retracted_seq IS NULL OR retracted_seq > $4)",
        )
        .bind(year_start)
        .bind(year_end)
        .bind(date)
        .bind(known)
        .fetch_all(&mut *tx)
        .await
        .map_err(ReadModelError::from)?;
        let meetings: Vec<(String, String, NaiveDate)> = sqlx::query_as(
            "SELECT task_force_id, measure, occurred_on FROM progress_facts
             WHERE repeats AND measure IN ('joint_meeting_quarters', 'supervision_meeting_quarters')
               AND task_force_id IS NOT NULL AND counts_in BETWEEN $1 AND $2
               AND recorded_seq <= $3 AND (retracted_seq IS NULL OR retracted_seq > $3)",
        )
        .bind(year_start)
        .bind(date)
        .bind(known)
        .fetch_all(&mut *tx)
        .await
        .map_err(ReadModelError::from)?;
        let open: Vec<EscalationRecord> = if known_sequence.is_none() {
            sqlx::query_as(
                "SELECT id, task_force_id, duty, period, step, step_on, answered, open, opened_on, closed_on, resolution
                 FROM escalations WHERE open ORDER BY step_on DESC, id",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(ReadModelError::from)?
        } else {
            // The matters open at `known`, each at the step it had reached then.
            sqlx::query_as(
                "SELECT e.id, e.task_force_id, e.duty, e.period, s.step, s.happened_on AS step_on,
                        EXISTS (SELECT 1 FROM escalation_history r WHERE r.escalation_id = e.id
                                AND r.event_type = 'escalation.responded.v1' AND r.sequence > s.sequence AND r.sequence <= $1)
                          AS answered,
                        true AS open, e.opened_on, NULL::date AS closed_on, NULL::text AS resolution
                 FROM escalations e
                 JOIN LATERAL (SELECT h.sequence, h.step, h.happened_on FROM escalation_history h
                               WHERE h.escalation_id = e.id AND h.event_type = 'escalation.step_issued.v1' AND h.sequence <= $1
                               ORDER BY h.sequence DESC LIMIT 1) s ON true
                 WHERE NOT EXISTS (SELECT 1 FROM escalation_history c WHERE c.escalation_id = e.id
                                   AND c.event_type = 'escalation.closed.v1' AND c.sequence <= $1)
                 ORDER BY s.happened_on DESC, e.id",
            )
            .bind(known)
            .fetch_all(&mut *tx)
            .await
            .map_err(ReadModelError::from)?
        };
        tx.commit().await.map_err(ReadModelError::from)?;

        let mut actual: HashMap<(String, Measure), u32> = HashMap::new();
        for (tf, code, value) in counts {
            if let (Some(tf), Some(measure)) = (tf, measure_from_sql(&code)) {
                actual.insert((tf, measure), u32::try_from(value).unwrap_or(u32::MAX));
            }
        }
        let mut months: HashMap<&str, Vec<MonthOnRecord>> = HashMap::new();
        for (tf, month_start, on) in &reports {
            months
                .entry(tf.as_str())
                .or_default()
                .push(MonthOnRecord { month: month_start.month(), first_submitted_on: Some(*on) });
        }
        let mut quarters: HashMap<(&str, Duty), Vec<u32>> = HashMap::new();
        for (tf, kind, held_on) in &meetings {
            let duty = if kind == "joint_meeting_quarters" { Duty::JointMeeting } else { Duty::SupervisionInspection };
            quarters.entry((tf.as_str(), duty)).or_default().push(quarter_of(*held_on));
        }
        let mut escalations: BTreeMap<(&str, &str), Vec<OpenEscalation>> = BTreeMap::new();
        for e in &open {
            escalations.entry((e.task_force_id.as_str(), e.duty.as_str())).or_default().push(OpenEscalation {
                id: e.id.clone(),
                period: e.period.clone(),
                step: e.step.clone(),
                step_label: step_label(&e.step),
                step_on: e.step_on,
                answered: e.answered,
            });
        }

        // The board's duties: the rhythms, then the plan's yearly targets
        // that the progress table counts, in its order.
        let counted: Vec<Measure> = counted_measures().collect();
        let mut duties = vec![Duty::MonthlyReport, Duty::JointMeeting, Duty::SupervisionInspection];
        duties.extend(
            Measure::ALL
                .into_iter()
                .filter(|m| targets.task_force_per_year.contains_key(m) && counted.contains(m))
                .filter_map(Duty::for_target),
        );

        let mut colour_counts = ColourCounts::default();
        let mut items = Vec::new();
        for (tf, number, name) in &task_forces {
            for duty in &duties {
                let assessment: Assessment = match duty {
                    Duty::MonthlyReport => {
                        assess_monthly_reports(date, months.get(tf.as_str()).map_or(&[][..], Vec::as_slice))
                    }
                    Duty::JointMeeting | Duty::SupervisionInspection => assess_quarterly(
                        *duty,
                        date,
                        quarters.get(&(tf.as_str(), *duty)).map_or(&[][..], Vec::as_slice),
                    ),
                    Duty::Target(measure) => assess_target(
                        targets.task_force_per_year.get(measure).copied().unwrap_or(0),
                        actual.get(&(tf.clone(), *measure)).copied().unwrap_or(0),
                        date,
                    ),
                };
                colour_counts.add(assessment.colour);
                items.push(DutyStatus {
                    task_force_id: tf.clone(),
                    task_force_number: *number,
                    task_force_name: name.clone(),
                    duty: duty.code(),
                    duty_label: duty.label(),
                    period: duty.period_of(date),
                    colour: assessment.colour.code(),
                    colour_label: assessment.colour.label(),
                    why: assessment.why,
                    target: assessment.target,
                    expected: assessment.expected,
                    actual: assessment.actual,
                    next_due_on: assessment.next_due_on,
                    open_escalations: escalations.get(&(tf.as_str(), duty.code())).cloned().unwrap_or_default(),
                });
            }
        }
        Ok(SupervisionStatus {
            date,
            plan_period_id: plan.id.clone(),
            as_of_sequence: as_of.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            legend: legend(),
            counts: colour_counts,
            duties: duties.iter().map(|d| DutyHeading { code: d.code(), label: d.label() }).collect(),
            items,
        })
    }
}

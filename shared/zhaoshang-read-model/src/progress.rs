//! The progress statistics table (附件1 科技系统科技招商工作进度统计表).
//!
//! Counted as `DOMAIN.md` ("How the progress table counts") says: a project
//! in the period of its first signing when it qualified then (a change of
//! investor makes the next signing a first signing again); started
//! projects in the period they started; held activities by kind, leader-led
//! only for going-out campaigns so marked; distinct target enterprises
//! invited in held inviting-in activities; distinct chain-leader enterprises
//! met in held online activities; distinct target enterprises docked (per
//! task force, and distinct across task forces in the total); joint meetings
//! and supervision inspections as quarters covered, report meetings as
//! months covered; service platforms recorded in the period and not reversed;
//! briefings as the quarters of the period with a published briefing; monthly
//! reports as the months of the period with a report, on time or late (whether
//! each came on time is the monthly-report view's business, see
//! `supervision.rs`). Targets come from the plan period's data.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use zhaoshang_domain::plan::{Measure, PlanTargets};

use crate::{ReadModel, ReadModelError};

/// The measures this table counts, in its column order: every measure of
/// the plan but those not recorded yet.
pub fn counted_measures() -> impl Iterator<Item = Measure> {
    Measure::ALL.into_iter().filter(|m| !NOT_YET_COUNTED.contains(m))
}

/// Measures of the plan that this version does not record yet, listed in
/// every answer so that nobody reads a missing figure as a zero.
pub const NOT_YET_COUNTED: [Measure; 0] = [];

/// The period a table covers.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PeriodView {
    /// `2022` or `2022-2024`.
    pub label: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Number of calendar years.
    pub years: u32,
}

/// One measure of one row.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProgressCell {
    /// The measure's code.
    pub measure: &'static str,
    /// The target, when the plan sets one for this scope and period.
    pub target: Option<u32>,
    /// The actual figure.
    pub actual: u32,
    /// How far short of the target (0 once reached).
    pub gap: Option<u32>,
    /// Where the target comes from: `task_force`, `system_year`,
    /// `system_cumulative`, `sum_of_task_forces`, `office`.
    pub target_source: Option<&'static str>,
}

/// One row: a task force, or the total.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProgressRow {
    /// The task force's id; `None` for the total.
    pub task_force_id: Option<String>,
    /// Its number.
    pub number: Option<i32>,
    /// Its name, or 合计 for the total.
    pub name: String,
    /// The cells, in the order of `measures`.
    pub cells: Vec<ProgressCell>,
}

/// A measure's code and heading.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MeasureHeading {
    /// The code.
    pub code: &'static str,
    /// The Chinese heading.
    pub label: &'static str,
}

/// The whole table.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProgressTable {
    /// The table's title.
    pub title: &'static str,
    /// The plan period whose targets apply.
    pub plan_period_id: String,
    /// The period counted.
    pub period: PeriodView,
    /// The stream sequence the read models stood on.
    pub as_of_sequence: u64,
    /// When asked "as known at": the last event counted (facts recorded
    /// later are left out, facts withdrawn later still count).
    pub known_at_sequence: Option<u64>,
    /// When asked "as of" a date: only what had happened by then counts.
    pub as_of: Option<NaiveDate>,
    /// Column headings.
    pub measures: Vec<MeasureHeading>,
    /// One row per task force, by number.
    pub rows: Vec<ProgressRow>,
    /// The total over the whole system.
    pub total: ProgressRow,
    /// Measures of the plan not recorded by this version yet.
    pub not_yet_counted: Vec<&'static str>,
}

/// What period a table is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodRequest {
    /// One calendar year.
    Year(i32),
    /// From the first to the last year, inclusive.
    Years(i32, i32),
    /// One calendar year from its first day up to and including a date of
    /// it (a quarterly briefing's year to date); the year's targets apply.
    YearThrough(i32, NaiveDate),
}

/// Why a table cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// No plan period covers the requested years.
    #[error("no plan period covers {0}")]
    NoPlanPeriod(String),
    /// The database failed.
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
}

pub(crate) const COUNT_SQL: &str = "
SELECT p.task_force_id, 'projects_led_in' AS measure, count(*) AS value FROM project_signings s
  JOIN projects p ON p.id = s.project_id
  WHERE s.qualifies AND s.signed_on BETWEEN $1 AND $2 GROUP BY GROUPING SETS ((p.task_force_id), ())
UNION ALL
SELECT NULL, 'briefing_quarters', count(*) FROM briefings
  WHERE make_date(year, quarter * 3, 1) BETWEEN date_trunc('month', $1::date) AND $2
UNION ALL
SELECT task_force_id, 'service_platforms', count(*) FROM service_platforms
  WHERE reversed_on IS NULL AND recorded_on BETWEEN $1 AND $2 GROUP BY GROUPING SETS ((task_force_id), ())
UNION ALL
SELECT task_force_id, 'projects_started', count(*) FROM projects
  WHERE qualifies AND construction_started_on BETWEEN $1 AND $2 GROUP BY GROUPING SETS ((task_force_id), ())
UNION ALL
SELECT task_force_id, 'reserve_quality_projects', count(*) FROM projects
  WHERE reserve_entered_on BETWEEN $1 AND $2 GROUP BY GROUPING SETS ((task_force_id), ())
UNION ALL
SELECT task_force_id, 'activities', count(*) FROM activities
  WHERE status = 'held' AND activity_on BETWEEN $1 AND $2 GROUP BY GROUPING SETS ((task_force_id), ())
UNION ALL
SELECT task_force_id, kind || '_activities', count(*) FROM activities
  WHERE status = 'held' AND activity_on BETWEEN $1 AND $2 GROUP BY GROUPING SETS ((task_force_id, kind), (kind))
UNION ALL
SELECT task_force_id, 'leader_led_going_out', count(*) FROM activities
  WHERE status = 'held' AND kind = 'going_out' AND led_by_principal_leader AND activity_on BETWEEN $1 AND $2
  GROUP BY GROUPING SETS ((task_force_id), ())
UNION ALL
SELECT a.task_force_id, 'target_enterprises_invited', count(DISTINCT e.enterprise) FROM activities a
  JOIN activity_enterprises e ON e.activity_id = a.id
  WHERE a.status = 'held' AND a.kind = 'inviting_in' AND e.role = 'target' AND a.activity_on BETWEEN $1 AND $2
  GROUP BY GROUPING SETS ((a.task_force_id), ())
UNION ALL
SELECT a.task_force_id, 'chain_leaders_met_online', count(DISTINCT e.enterprise) FROM activities a
  JOIN activity_enterprises e ON e.activity_id = a.id
  WHERE a.status = 'held' AND a.kind = 'online' AND e.role = 'chain_leader' AND a.activity_on BETWEEN $1 AND $2
  GROUP BY GROUPING SETS ((a.task_force_id), ())
UNION ALL
SELECT task_force_id, 'target_enterprises_docked', count(DISTINCT enterprise) FROM dockings
  WHERE enterprise_role = 'target' AND docked_on BETWEEN $1 AND $2 GROUP BY GROUPING SETS ((task_force_id), ())
UNION ALL
SELECT task_force_id, kind || '_meeting_quarters', count(DISTINCT (task_force_id, date_trunc('quarter', held_on)))
  FROM meetings WHERE kind IN ('joint', 'supervision') AND held_on BETWEEN $1 AND $2
  GROUP BY GROUPING SETS ((task_force_id, kind), (kind))
UNION ALL
SELECT NULL, 'monthly_report_meeting_months', count(DISTINCT date_trunc('month', held_on)) FROM meetings
  WHERE kind = 'monthly_report' AND held_on BETWEEN $1 AND $2
UNION ALL
SELECT task_force_id, 'monthly_reports', count(*) FROM monthly_reports
  WHERE make_date(year, month, 1) BETWEEN $1 AND $2 GROUP BY GROUPING SETS ((task_force_id), ())
UNION ALL
SELECT task_force_id, 'annual_plans', count(*) FROM annual_plans
  WHERE year BETWEEN extract(year FROM $1::date) AND extract(year FROM $2::date)
  GROUP BY GROUPING SETS ((task_force_id), ())
";

pub(crate) fn measure_from_sql(code: &str) -> Option<Measure> {
    match code {
        "joint_meeting_quarters" => Some(Measure::JointMeetingQuarters),
        "supervision_meeting_quarters" => Some(Measure::SupervisionQuarters),
        other => Measure::from_code(other),
    }
}

fn cell(measure: Measure, actual: u32, target: Option<(u32, &'static str)>) -> ProgressCell {
    ProgressCell {
        measure: measure.code(),
        target: target.map(|(t, _)| t),
        actual,
        gap: target.map(|(t, _)| t.saturating_sub(actual)),
        target_source: target.map(|(_, s)| s),
    }
}

fn is_office_measure(measure: Measure) -> bool {
    matches!(measure, Measure::MonthlyReportMeetingMonths | Measure::BriefingQuarters)
}

/// What a table knows: by default everything recorded, counted in its
/// period whenever it happened; "as known at" a stream sequence, only what had
/// been recorded by that event; "as of" a date, only what had happened by then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Knowledge {
    /// Count only facts recorded at or before this sequence and not withdrawn by it.
    pub known_sequence: Option<u64>,
    /// Count only facts that happened on or before this day.
    pub as_of: Option<NaiveDate>,
}

/// Where the counts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Facts(Knowledge),
    StateTables,
}

impl ReadModel {
    /// The progress table for a year or a span of years, as everything
    /// recorded says today.
    ///
    /// # Errors
    /// [`ProgressError::NoPlanPeriod`] when no adopted plan covers the span;
    /// [`ProgressError::ReadModel`] when the database fails.
    pub async fn progress(&self, request: PeriodRequest) -> Result<ProgressTable, ProgressError> {
        self.progress_counted(request, Source::Facts(Knowledge::default())).await
    }

    /// The progress table as known at a stream sequence and/or as of a date.
    ///
    /// # Errors
    /// As [`ReadModel::progress`].
    pub async fn progress_at(
        &self,
        request: PeriodRequest,
        knowledge: Knowledge,
    ) -> Result<ProgressTable, ProgressError> {
        self.progress_counted(request, Source::Facts(knowledge)).await
    }

    /// The same table counted from the current state tables instead of the
    /// temporal facts: the cross-check that the two agree (tests only).
    #[doc(hidden)]
    pub async fn progress_from_state_tables(&self, request: PeriodRequest) -> Result<ProgressTable, ProgressError> {
        self.progress_counted(request, Source::StateTables).await
    }

    async fn progress_counted(&self, request: PeriodRequest, source: Source) -> Result<ProgressTable, ProgressError> {
        let (first, last, through) = match request {
            PeriodRequest::Year(y) => (y, y, None),
            PeriodRequest::Years(a, b) => (a, b, None),
            PeriodRequest::YearThrough(y, to) => (y, y, Some(to)),
        };
        let label = match through {
            Some(to) => format!("{first}:{to}"),
            None if first == last => first.to_string(),
            None => format!("{first}-{last}"),
        };
        let plans = self.plan_periods().await?;
        let plan = plans
            .iter()
            .find(|p| p.first_year <= first && last <= p.last_year)
            .ok_or_else(|| ProgressError::NoPlanPeriod(label.clone()))?;
        let targets: PlanTargets = serde_json::from_value(plan.targets.clone())
            .map_err(|e| ReadModelError::Database(sqlx::Error::Decode(Box::new(e))))?;
        let from = NaiveDate::from_ymd_opt(first, 1, 1).ok_or_else(|| ProgressError::NoPlanPeriod(label.clone()))?;
        let mut to = match through {
            Some(to) if to.year() == last => to,
            _ => NaiveDate::from_ymd_opt(last, 12, 31).ok_or_else(|| ProgressError::NoPlanPeriod(label.clone()))?,
        };
        let knowledge = match source {
            Source::Facts(k) => k,
            Source::StateTables => Knowledge::default(),
        };
        if let Some(as_of) = knowledge.as_of {
            to = to.min(as_of);
        }
        let years = u32::try_from(last - first + 1).unwrap_or(1);

        let mut tx = self.pool().begin().await.map_err(ReadModelError::from)?;
        // One snapshot for the counts and the checkpoint they stand on.
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
        let task_forces: Vec<(String, i32, String)> =
            sqlx::query_as("SELECT id, number, name FROM task_forces ORDER BY number, id")
                .fetch_all(&mut *tx)
                .await
                .map_err(ReadModelError::from)?;
        let counts: Vec<(Option<String>, String, i64)> = match source {
            Source::StateTables => {
                sqlx::query_as(COUNT_SQL).bind(from).bind(to).fetch_all(&mut *tx).await.map_err(ReadModelError::from)?
            }
            Source::Facts(k) => count_facts(&mut tx, from, to, k).await?,
        };
        tx.commit().await.map_err(ReadModelError::from)?;

        let mut actual: HashMap<(Option<String>, Measure), u32> = HashMap::new();
        for (task_force_id, code, value) in counts {
            if let Some(measure) = measure_from_sql(&code) {
                actual.insert((task_force_id, measure), u32::try_from(value).unwrap_or(u32::MAX));
            }
        }
        let task_force_count = u32::try_from(task_forces.len()).unwrap_or(u32::MAX);
        let per_task_force = |m: Measure| targets.task_force_per_year.get(&m).map(|t| t * years);
        let rows = task_forces
            .iter()
            .map(|(id, number, name)| ProgressRow {
                task_force_id: Some(id.clone()),
                number: Some(*number),
                name: name.clone(),
                cells: counted_measures()
                    .filter(|m| !is_office_measure(*m))
                    .map(|m| {
                        let value = actual.get(&(Some(id.clone()), m)).copied().unwrap_or(0);
                        cell(m, value, per_task_force(m).map(|t| (t, "task_force")))
                    })
                    .collect(),
            })
            .collect();
        let whole_plan = first == plan.first_year && last == plan.last_year;
        let total_cells = counted_measures()
            .map(|m| {
                let value = actual.get(&(None, m)).copied().unwrap_or(0);
                let system = if first == last {
                    targets.system_years.get(&first).and_then(|t| t.get(&m)).map(|t| (*t, "system_year"))
                } else if whole_plan {
                    targets.system_cumulative.get(&m).map(|t| (*t, "system_cumulative"))
                } else {
                    None
                };
                let target = system
                    .or_else(|| targets.office_per_year.get(&m).map(|t| (t * years, "office")))
                    .or_else(|| per_task_force(m).map(|t| (t * task_force_count, "sum_of_task_forces")));
                cell(m, value, target)
            })
            .collect();
        Ok(ProgressTable {
            title: "科技系统科技招商工作进度统计表",
            plan_period_id: plan.id.clone(),
            period: PeriodView { label, from, to, years },
            as_of_sequence: as_of.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            known_at_sequence: knowledge.known_sequence,
            as_of: knowledge.as_of,
            measures: counted_measures().map(|m| MeasureHeading { code: m.code(), label: m.label() }).collect(),
            rows,
            total: ProgressRow { task_force_id: None, number: None, name: "合计".to_owned(), cells: total_cells },
            not_yet_counted: NOT_YET_COUNTED.iter().map(|m| m.code()).collect(),
        })
    }
}

/// Counts the facts of a period as `knowledge` says, keyed as the state
/// tables' counts are: `(None, measure)` is the whole system's figure.
pub(crate) async fn count_facts(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    from: NaiveDate,
    to: NaiveDate,
    knowledge: Knowledge,
) -> Result<Vec<(Option<String>, String, i64)>, ReadModelError> {
    let known = knowledge.known_sequence.and_then(|s| i64::try_from(s).ok()).unwrap_or(i64::MAX);
    let rows: Vec<(Option<String>, String, i64, bool)> = sqlx::query_as(crate::facts::FACT_COUNT_SQL)
        .bind(from)
        .bind(to)
        .bind(knowledge.as_of)
        .bind(known)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(tf, measure, value, total)| match (total, tf) {
            (true, _) => Some((None, measure, value)),
            (false, Some(tf)) => Some((Some(tf), measure, value)),
            // An office fact's own row repeats the total.
            (false, None) => None,
        })
        .collect())
}

/// Parses `2022` or `2022-2024`.
pub fn parse_period(text: &str) -> Option<PeriodRequest> {
    let valid = |y: i32| (2000..=2100).contains(&y);
    match text.split_once('-') {
        None => text.parse().ok().filter(|y| valid(*y)).map(PeriodRequest::Year),
        Some((a, b)) => {
            let (a, b): (i32, i32) = (a.parse().ok()?, b.parse().ok()?);
            (valid(a) && valid(b) && a <= b).then_some(PeriodRequest::Years(a, b))
        }
    }
}

/// The year of a date, for callers that hold only dates.
pub fn year_of(date: NaiveDate) -> i32 {
    date.year()
}

//! Supervision across time: points ("as known at", "as of", an inspection's
//! frozen snapshot), and the comparison of two points.
//!
//! Everything here reads the temporal facts (`facts.rs`), never the stream:
//! a point is a stream sequence (what had been recorded) and a date (what
//! had happened), and a count at a point is one indexed query.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use serde::Serialize;
use zhaoshang_domain::plan::Measure;
use zhaoshang_domain::supervision::expected_by;

use crate::progress::{Knowledge, PeriodRequest, ProgressError, ProgressTable, measure_from_sql};
use crate::{ReadModel, ReadModelError};

fn liuzhou() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// A supervision inspection (督导检查) on record: convening it froze a
/// snapshot at the stream sequence of its own event.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct InspectionView {
    /// The inspection's id (the meeting's id).
    pub id: String,
    /// The task force inspected.
    pub task_force_id: Option<String>,
    /// The inspection's title.
    pub title: String,
    /// The day it was held: its snapshot counts what had happened by then.
    pub held_on: NaiveDate,
    /// The stream sequence its snapshot stands on: what had been recorded
    /// when the inspection was recorded.
    pub stands_on_sequence: i64,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// What a point in time asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointRequest {
    /// An inspection's frozen snapshot.
    pub inspection: Option<String>,
    /// Only what had happened by this day.
    pub as_of: Option<NaiveDate>,
    /// Only what had been recorded by this time.
    pub known_at: Option<DateTime<Utc>>,
}

/// A point resolved against the read models.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Point {
    /// In words, in Chinese.
    pub label: String,
    /// The inspection whose snapshot this is.
    pub inspection_id: Option<String>,
    /// Only what had been recorded by this time (`None`: everything).
    pub known_at: Option<DateTime<Utc>>,
    /// The last stream sequence counted (`None`: everything recorded).
    pub known_at_sequence: Option<u64>,
    /// Only what had happened by this day (`None`: the whole period).
    pub as_of: Option<NaiveDate>,
    /// The day lags are judged on (the pro-rata target's day).
    pub judged_on: NaiveDate,
}

impl Point {
    fn knowledge(&self) -> Knowledge {
        Knowledge { known_sequence: self.known_at_sequence, as_of: self.as_of }
    }
}

/// Why a point cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum PointError {
    /// No such inspection.
    #[error("no inspection {0}")]
    NoInspection(String),
    /// An inspection's snapshot is fixed: it cannot be moved.
    #[error("an inspection's snapshot cannot be combined with as_of or known_at")]
    InspectionWithTimes,
    /// The database failed.
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
}

/// One measure of one task force (or the total) at two points.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ComparedCell {
    /// The measure's code.
    pub measure: &'static str,
    /// Its Chinese heading.
    pub label: &'static str,
    /// The target of the period, where one is set.
    pub target: Option<u32>,
    /// The figure at the first point.
    pub before: u32,
    /// The figure at the second point.
    pub after: u32,
    /// `after - before`.
    pub difference: i64,
    /// Units expected by the first point's day (pro rata), for task-force targets.
    pub expected_before: Option<u32>,
    /// Units expected by the second point's day.
    pub expected_after: Option<u32>,
    /// Behind the pro-rata target at the first point.
    pub lagging_before: bool,
    /// Behind it at the second point.
    pub lagging_after: bool,
    /// `closed` (was behind, no longer), `opened` (newly behind) or `None`.
    pub lag: Option<&'static str>,
}

/// A task force's (or the total's) measures at two points.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ComparedRow {
    /// The task force; `None` for the total.
    pub task_force_id: Option<String>,
    /// Its number.
    pub number: Option<i32>,
    /// Its name, or 合计.
    pub name: String,
    /// One cell per measure, in the table's order.
    pub cells: Vec<ComparedCell>,
}

/// What one event did to the counted facts between the two points.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FactEffect {
    /// The measure's code.
    pub measure: String,
    /// The task force it counts for (`None`: the office's).
    pub task_force_id: Option<String>,
    /// `counted` (in the second point, not the first) or `withdrawn`.
    pub change: &'static str,
    /// The day it happened.
    pub occurred_on: NaiveDate,
}

/// An event that made a difference between the two points.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DifferenceEvent {
    /// Its stream sequence.
    pub sequence: i64,
    /// Its id.
    pub event_id: uuid::Uuid,
    /// Its type.
    pub event_type: String,
    /// The record it belongs to.
    pub aggregate_type: String,
    /// The record's id.
    pub aggregate_id: String,
    /// Who recorded it.
    pub actor: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The day it says it happened.
    pub occurred_on: Option<NaiveDate>,
    /// Recorded more than a week after it happened (补录).
    pub backfilled: bool,
    /// Its effects on the counts.
    pub effects: Vec<FactEffect>,
}

/// A lag closed or opened between the two points.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LagChange {
    /// The task force.
    pub task_force_id: String,
    /// Its name.
    pub task_force_name: String,
    /// The measure's code.
    pub measure: &'static str,
    /// Its Chinese heading.
    pub label: &'static str,
    /// `closed` or `opened`.
    pub change: &'static str,
}

/// Two points compared.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Comparison {
    /// The year compared.
    pub year: i32,
    /// The first point.
    pub from: Point,
    /// The second point.
    pub to: Point,
    /// The stream sequence the read models stood on.
    pub as_of_sequence: u64,
    /// Per task force, by number.
    pub rows: Vec<ComparedRow>,
    /// The whole system.
    pub total: ComparedRow,
    /// Lags closed between the points.
    pub lags_closed: Vec<LagChange>,
    /// Lags opened between the points.
    pub lags_opened: Vec<LagChange>,
    /// The events that made a difference, oldest first: the first
    /// `events_limit` of them.
    pub events: Vec<DifferenceEvent>,
    /// How many events made a difference in all.
    pub events_total: u64,
    /// Whether `events` stops short of `events_total`.
    pub events_truncated: bool,
    /// Events recorded between the two points' sequences, counting or not.
    pub events_recorded_between: u64,
}

/// A frozen inspection snapshot.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InspectionSnapshot {
    /// The inspection.
    pub inspection: InspectionView,
    /// The point it stands on.
    pub point: Point,
    /// The year's progress table as known then, as of the inspection day.
    pub progress: ProgressTable,
}

const INSPECTION_SQL: &str = "
SELECT m.id, m.task_force_id, m.title, m.held_on, m.sequence AS stands_on_sequence, l.recorded_at
FROM meetings m JOIN event_log l ON l.sequence = m.sequence
WHERE m.kind = 'supervision'";

fn clamp_to_year(date: NaiveDate, year: i32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January exists");
    let last = NaiveDate::from_ymd_opt(year, 12, 31).expect("31 December exists");
    date.clamp(first, last)
}

impl ReadModel {
    /// The last stream sequence recorded at or before `at` (0: none).
    /// Events are stamped when appended, so stamps follow the sequence up to
    /// the few milliseconds two concurrent appends may cross by.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn sequence_known_at(&self, at: DateTime<Utc>) -> Result<u64, ReadModelError> {
        let sequence: Option<i64> = sqlx::query_scalar(
            "SELECT sequence FROM event_log WHERE recorded_at <= $1 ORDER BY recorded_at DESC, sequence DESC LIMIT 1",
        )
        .bind(at)
        .fetch_optional(self.pool())
        .await?;
        Ok(sequence.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }

    /// The supervision inspections on record, newest first.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn inspections(&self, year: Option<i32>) -> Result<Vec<InspectionView>, ReadModelError> {
        let sql = format!(
            "{INSPECTION_SQL} AND ($1::int IS NULL OR extract(year FROM m.held_on) = $1)
             ORDER BY m.held_on DESC, m.sequence DESC"
        );
        Ok(sqlx::query_as(&sql).bind(year).fetch_all(self.pool()).await?)
    }

    /// One inspection.
    ///
    /// # Errors
    /// [`ReadModelError::Database`].
    pub async fn inspection(&self, id: &str) -> Result<Option<InspectionView>, ReadModelError> {
        let sql = format!("{INSPECTION_SQL} AND m.id = $1");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.pool()).await?)
    }

    /// Resolves a point. `today` is the day "now" is judged on.
    ///
    /// # Errors
    /// [`PointError`].
    pub async fn resolve_point(&self, request: &PointRequest, today: NaiveDate) -> Result<Point, PointError> {
        if let Some(id) = &request.inspection {
            if request.as_of.is_some() || request.known_at.is_some() {
                return Err(PointError::InspectionWithTimes);
            }
            let inspection = self.inspection(id).await?.ok_or_else(|| PointError::NoInspection(id.clone()))?;
            return Ok(Point {
                label: format!("{}（{}）督导检查时", inspection.title, inspection.held_on),
                inspection_id: Some(inspection.id),
                known_at: Some(inspection.recorded_at),
                known_at_sequence: u64::try_from(inspection.stands_on_sequence).ok(),
                as_of: Some(inspection.held_on),
                judged_on: inspection.held_on,
            });
        }
        let known_at_sequence = match request.known_at {
            Some(at) => Some(self.sequence_known_at(at).await?),
            None => None,
        };
        let known_day = request.known_at.map(|at| at.with_timezone(&liuzhou()).date_naive());
        let label = match (request.as_of, request.known_at) {
            (None, None) => "现在".to_owned(),
            (Some(d), None) => format!("截至 {d} 的实际情况（按现有全部记录）"),
            (None, Some(at)) => format!("{} 时所知", at.with_timezone(&liuzhou()).format("%Y-%m-%d %H:%M")),
            (Some(d), Some(at)) => {
                format!("{} 时所知的截至 {d} 情况", at.with_timezone(&liuzhou()).format("%Y-%m-%d %H:%M"))
            }
        };
        Ok(Point {
            label,
            inspection_id: None,
            known_at: request.known_at,
            known_at_sequence,
            as_of: request.as_of,
            judged_on: request.as_of.or(known_day).unwrap_or(today),
        })
    }

    /// An inspection's frozen snapshot: the progress table of the year it was
    /// held in, as known when it was recorded, as of its day.
    ///
    /// # Errors
    /// [`PointError`], or [`ProgressError`] wrapped as its database error.
    pub async fn inspection_snapshot(&self, id: &str) -> Result<Option<InspectionSnapshot>, ProgressError> {
        let Some(inspection) = self.inspection(id).await? else { return Ok(None) };
        let request = PointRequest { inspection: Some(id.to_owned()), ..PointRequest::default() };
        let point = match self.resolve_point(&request, inspection.held_on).await {
            Ok(point) => point,
            Err(PointError::ReadModel(e)) => return Err(e.into()),
            Err(_) => return Ok(None),
        };
        let progress = self.progress_at(PeriodRequest::Year(inspection.held_on.year()), point.knowledge()).await?;
        Ok(Some(InspectionSnapshot { inspection, point, progress }))
    }

    /// Compares two points of a year.
    ///
    /// # Errors
    /// [`ProgressError`].
    pub async fn compare(
        &self,
        year: i32,
        from: Point,
        to: Point,
        events_limit: usize,
    ) -> Result<Comparison, ProgressError> {
        // The three reads are independent: each on a connection of its own.
        let (before, after, (events, events_total, events_recorded_between)) = futures::try_join!(
            self.progress_at(PeriodRequest::Year(year), from.knowledge()),
            self.progress_at(PeriodRequest::Year(year), to.knowledge()),
            async { self.difference_events(year, &from, &to, events_limit).await.map_err(ProgressError::from) },
        )?;
        let judged = (clamp_to_year(from.judged_on, year), clamp_to_year(to.judged_on, year));

        let mut lags_closed = Vec::new();
        let mut lags_opened = Vec::new();
        let compare_row = |b: &crate::progress::ProgressRow,
                           a: &crate::progress::ProgressRow,
                           lags: Option<(&mut Vec<LagChange>, &mut Vec<LagChange>)>| {
            let mut lags = lags;
            let cells = b
                .cells
                .iter()
                .zip(&a.cells)
                .map(|(cb, ca)| {
                    let measure = Measure::from_code(cb.measure).or_else(|| measure_from_sql(cb.measure));
                    let label = measure.map_or(cb.measure, |m| m.label());
                    // Pro-rata lags are judged for a task force's yearly targets.
                    let (expected_before, expected_after) = match (b.task_force_id.is_some(), ca.target) {
                        (true, Some(t)) => (Some(expected_by(t, judged.0)), Some(expected_by(t, judged.1))),
                        _ => (None, None),
                    };
                    let lagging_before = expected_before.is_some_and(|e| cb.actual < e);
                    let lagging_after = expected_after.is_some_and(|e| ca.actual < e);
                    let lag = match (lagging_before, lagging_after) {
                        (true, false) => Some("closed"),
                        (false, true) => Some("opened"),
                        _ => None,
                    };
                    if let (Some(change), Some((closed, opened)), Some(tf)) = (lag, lags.as_mut(), &b.task_force_id) {
                        let entry = LagChange {
                            task_force_id: tf.clone(),
                            task_force_name: b.name.clone(),
                            measure: cb.measure,
                            label,
                            change,
                        };
                        if change == "closed" { closed.push(entry) } else { opened.push(entry) }
                    }
                    ComparedCell {
                        measure: cb.measure,
                        label,
                        target: ca.target,
                        before: cb.actual,
                        after: ca.actual,
                        difference: i64::from(ca.actual) - i64::from(cb.actual),
                        expected_before,
                        expected_after,
                        lagging_before,
                        lagging_after,
                        lag,
                    }
                })
                .collect();
            ComparedRow { task_force_id: b.task_force_id.clone(), number: b.number, name: b.name.clone(), cells }
        };
        let rows: Vec<ComparedRow> = before
            .rows
            .iter()
            .zip(&after.rows)
            .map(|(b, a)| compare_row(b, a, Some((&mut lags_closed, &mut lags_opened))))
            .collect();
        let total = compare_row(&before.total, &after.total, None);

        let events_truncated = (events.len() as u64) < events_total;
        Ok(Comparison {
            events_truncated,
            year,
            as_of_sequence: after.as_of_sequence,
            from,
            to,
            rows,
            total,
            lags_closed,
            lags_opened,
            events,
            events_total,
            events_recorded_between,
        })
    }

    /// The events whose facts count at one point and not the other.
    async fn difference_events(
        &self,
        year: i32,
        from: &Point,
        to: &Point,
        limit: usize,
    ) -> Result<(Vec<DifferenceEvent>, u64, u64), ReadModelError> {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January exists");
        let last = NaiveDate::from_ymd_opt(year, 12, 31).expect("31 December exists");
        let seq = |p: &Point| p.known_at_sequence.and_then(|s| i64::try_from(s).ok()).unwrap_or(i64::MAX);
        let (s1, s2) = (seq(from), seq(to));
        // A fact counts at a point when it counts in the year up to the
        // point's day, had happened by then, was recorded by the point's
        // sequence and not withdrawn by it.
        let rows: Vec<(String, Option<String>, NaiveDate, bool, i64)> = sqlx::query_as(
            "WITH f AS (
                SELECT measure, task_force_id, occurred_on, recorded_seq, retracted_seq,
                    (counts_in <= COALESCE($3, $2) AND ($3::date IS NULL OR occurred_on <= $3)
                     AND recorded_seq <= $4 AND (retracted_seq IS NULL OR retracted_seq > $4)) AS at_from,
                    (counts_in <= COALESCE($5, $2) AND ($5::date IS NULL OR occurred_on <= $5)
                     AND recorded_seq <= $6 AND (retracted_seq IS NULL OR retracted_seq > $6)) AS at_to
                FROM progress_facts WHERE NOT repeats AND counts_in BETWEEN $1 AND $2
                UNION ALL
                SELECT measure, task_force_id, occurred_on, recorded_seq, retracted_seq,
                    (counts_in <= COALESCE($3, $2) AND ($3::date IS NULL OR occurred_on <= $3)
                     AND recorded_seq <= $4 AND (retracted_seq IS NULL OR retracted_seq > $4)),
                    (counts_in <= COALESCE($5, $2) AND ($5::date IS NULL OR occurred_on <= $5)
                     AND recorded_seq <= $6 AND (retracted_seq IS NULL OR retracted_seq > $6))
                FROM progress_facts WHERE repeats AND counts_in BETWEEN $1 AND $2)
             SELECT measure, task_force_id, occurred_on, at_to,
                    CASE WHEN NOT at_to AND retracted_seq IS NOT NULL AND retracted_seq <= $6 THEN retracted_seq
                         WHEN at_to AND retracted_seq IS NOT NULL AND retracted_seq <= $4 THEN retracted_seq
                         ELSE recorded_seq END AS sequence
             FROM f WHERE at_from <> at_to ORDER BY sequence",
        )
        .bind(first)
        .bind(last)
        .bind(from.as_of)
        .bind(s1)
        .bind(to.as_of)
        .bind(s2)
        .fetch_all(self.pool())
        .await?;
        let mut effects: BTreeMap<i64, Vec<FactEffect>> = BTreeMap::new();
        for (measure, task_force_id, occurred_on, counted, sequence) in rows {
            let change = if counted { "counted" } else { "withdrawn" };
            effects.entry(sequence).or_default().push(FactEffect { measure, task_force_id, change, occurred_on });
        }
        let total = effects.len() as u64;
        let effects: BTreeMap<i64, Vec<FactEffect>> = effects.into_iter().take(limit).collect();
        let sequences: Vec<i64> = effects.keys().copied().collect();
        type LogRow = (i64, uuid::Uuid, String, String, String, String, DateTime<Utc>, Option<NaiveDate>);
        let log: Vec<LogRow> = sqlx::query_as(
            "SELECT sequence, event_id, event_type, aggregate_type, aggregate_id, actor, recorded_at, occurred_on
             FROM event_log WHERE sequence = ANY($1) ORDER BY sequence",
        )
        .bind(&sequences)
        .fetch_all(self.pool())
        .await?;
        let mut log: HashMap<i64, LogRow> = log.into_iter().map(|row| (row.0, row)).collect();
        let events = effects
            .into_iter()
            .filter_map(|(sequence, effects)| {
                let (_, event_id, event_type, aggregate_type, aggregate_id, actor, recorded_at, occurred_on) =
                    log.remove(&sequence)?;
                let recorded_on = recorded_at.with_timezone(&liuzhou()).date_naive();
                Some(DifferenceEvent {
                    sequence,
                    event_id,
                    event_type,
                    aggregate_type,
                    aggregate_id,
                    actor,
                    recorded_at,
                    occurred_on,
                    backfilled: occurred_on
                        .is_some_and(|on| zhaoshang_domain::supervision::is_backfilled(on, recorded_on)),
                    effects,
                })
            })
            .collect();
        let (low, high) = (s1.min(s2), s1.max(s2));
        let between: i64 = if low == high {
            0
        } else {
            sqlx::query_scalar("SELECT count(*) FROM event_log WHERE sequence > $1 AND sequence <= $2")
                .bind(low)
                .bind(high)
                .fetch_one(self.pool())
                .await?
        };
        Ok((events, total, u64::try_from(between).unwrap_or(0)))
    }
}

//! The counted facts, with both of their times (bitemporal).
//!
//! Every unit that the progress table (附件1) and the status board count is a
//! row of `progress_facts`: which measure, which task force, what makes it
//! distinct (an enterprise, a quarter, an activity), the date it counts in,
//! the date it happened, and the stream sequences of the event that made it
//! known (`recorded_seq`) and, when a later event withdrew it (a reversed
//! service platform, a change of investor that un-qualifies a started
//! project), of that event (`retracted_seq`). Rows are only ever added or
//! closed, never changed otherwise, so:
//!
//! - "as known at" sequence S counts the rows with `recorded_seq <= S` not
//!   retracted by S, which no later event can change (a frozen inspection
//!   snapshot reads the same forever);
//! - "as of" a date D counts the rows that happened by D;
//! - today's table is both at the newest sequence and the period's end.
//!
//! The facts are derived here, in the projector's transaction, event by event
//! in stream order: for a project, from its row as it stood before the batch
//! and the batch's own events, so each fact carries the exact sequence of the
//! event that made it count, whatever the batch boundaries (a rebuild gives
//! the same rows as the live projection).

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use sqlx::{Postgres, Transaction};

/// One counted unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fact {
    pub measure: &'static str,
    pub task_force_id: Option<String>,
    pub distinct_key: String,
    pub counts_in: NaiveDate,
    pub occurred_on: NaiveDate,
}

impl Fact {
    pub fn new(
        measure: &'static str,
        task_force_id: Option<String>,
        distinct_key: String,
        counts_in: NaiveDate,
        occurred_on: NaiveDate,
    ) -> Self {
        Self { measure, task_force_id, distinct_key, counts_in, occurred_on }
    }
}

/// What one project event changes in the facts that depend on the project's
/// state.
#[derive(Debug, Clone)]
pub(crate) enum ProjectChange {
    Lead { task_force_id: String },
    FirstSigning { qualifies: bool, on: NaiveDate },
    ConstructionStarted { on: NaiveDate },
    ReserveEntered { on: NaiveDate },
    InvestorChanged,
}

/// One event's effect on the facts, in stream order.
#[derive(Debug, Clone)]
pub(crate) enum FactOp {
    /// New facts from an event that creates its source (nothing to retract).
    Insert { seq: i64, source: String, facts: Vec<Fact> },
    /// Every open fact of the source is withdrawn by this event.
    RetractSource { seq: i64, source: String },
    /// A project event, resolved against the project's state.
    Project { seq: i64, project: String, change: ProjectChange },
}

/// The first day of a date's month.
pub(crate) fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).expect("every month has a first day")
}

/// The first day of a date's quarter.
pub(crate) fn quarter_start(date: NaiveDate) -> NaiveDate {
    let month = (date.month0() / 3) * 3 + 1;
    NaiveDate::from_ymd_opt(date.year(), month, 1).expect("quarters start on a real day")
}

#[derive(Debug, Clone, Default)]
struct ProjectState {
    task_force_id: Option<String>,
    qualifies: bool,
    construction_started_on: Option<NaiveDate>,
    reserve_entered_on: Option<NaiveDate>,
}

impl ProjectState {
    /// The facts that follow from the project's state (its signings count
    /// on their own sources and never stop counting).
    fn facts(&self, project: &str) -> Vec<Fact> {
        let mut facts = Vec::new();
        if let (true, Some(on)) = (self.qualifies, self.construction_started_on) {
            facts.push(Fact::new("projects_started", self.task_force_id.clone(), project.to_owned(), on, on));
        }
        if let Some(on) = self.reserve_entered_on {
            facts.push(Fact::new("reserve_quality_projects", self.task_force_id.clone(), project.to_owned(), on, on));
        }
        facts
    }
}

/// An open fact: stored (with its key) or made in this batch (by index).
enum Open {
    Stored { recorded_seq: i64, ordinal: i32, fact: Fact },
    New { index: usize },
}

/// A fact to insert: where it came from, and whether this batch withdrew it.
struct NewFact {
    recorded_seq: i64,
    ordinal: i32,
    source: String,
    fact: Fact,
    retracted_seq: Option<i64>,
}

/// A project's row as the facts need it: id, task force, qualifies, started, reserve.
type ProjectRow = (String, Option<String>, Option<bool>, Option<NaiveDate>, Option<NaiveDate>);
/// An open fact row: key, source, measure, task force, distinct key, counts in, occurred on.
type FactRow = (i64, i32, String, String, Option<String>, String, NaiveDate, NaiveDate);

/// Folds the batch's fact operations and writes them. Runs inside the
/// projector's transaction, before the `projects` rows are updated (it reads
/// each project's state as it stood before the batch).
pub(crate) async fn write(ops: &[FactOp], tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    if ops.is_empty() {
        return Ok(());
    }
    // A project whose first event in this batch is its lead is new: it has
    // no row and no facts yet, so nothing needs reading for it (a rebuild's
    // batches are mostly such projects).
    let mut new_projects: HashSet<&str> = HashSet::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for op in ops {
        if let FactOp::Project { project, change, .. } = op {
            if seen.insert(project.as_str()) && matches!(change, ProjectChange::Lead { .. }) {
                new_projects.insert(project.as_str());
            }
        }
    }
    let project_ids: Vec<String> = {
        let mut ids: Vec<String> =
            seen.iter().filter(|p| !new_projects.contains(*p)).map(|p| (*p).to_owned()).collect();
        ids.sort();
        ids
    };
    let mut projects: HashMap<String, ProjectState> = HashMap::new();
    if !project_ids.is_empty() {
        let rows: Vec<ProjectRow> = sqlx::query_as(
            "SELECT id, task_force_id, qualifies, construction_started_on, reserve_entered_on
             FROM projects WHERE id = ANY($1)",
        )
        .bind(&project_ids)
        .fetch_all(&mut **tx)
        .await?;
        for (id, task_force_id, qualifies, construction_started_on, reserve_entered_on) in rows {
            projects.insert(
                id,
                ProjectState {
                    task_force_id,
                    qualifies: qualifies.unwrap_or(false),
                    construction_started_on,
                    reserve_entered_on,
                },
            );
        }
    }
    let mut sources: Vec<String> = ops
        .iter()
        .filter_map(|op| match op {
            FactOp::RetractSource { source, .. } => Some(source.clone()),
            FactOp::Project { project, .. } if !new_projects.contains(project.as_str()) => {
                Some(project_source(project))
            }
            FactOp::Project { .. } => None,
            FactOp::Insert { .. } => None,
        })
        .collect();
    sources.sort();
    sources.dedup();
    let mut open: HashMap<String, Vec<Open>> = HashMap::new();
    if !sources.is_empty() {
        let rows: Vec<FactRow> = sqlx::query_as(
            "SELECT recorded_seq, ordinal, source, measure, task_force_id, distinct_key, counts_in, occurred_on
             FROM progress_facts WHERE source = ANY($1) AND retracted_seq IS NULL ORDER BY recorded_seq, ordinal",
        )
        .bind(&sources)
        .fetch_all(&mut **tx)
        .await?;
        for (recorded_seq, ordinal, source, measure, task_force_id, distinct_key, counts_in, occurred_on) in rows {
            let Some(measure) = static_measure(&measure) else { continue };
            open.entry(source).or_default().push(Open::Stored {
                recorded_seq,
                ordinal,
                fact: Fact::new(measure, task_force_id, distinct_key, counts_in, occurred_on),
            });
        }
    }

    let mut inserts: Vec<NewFact> = Vec::new();
    let mut retractions: Vec<(i64, i32, i64)> = Vec::new();
    let mut ordinals: HashMap<i64, i32> = HashMap::new();
    let mut add = |inserts: &mut Vec<NewFact>, seq: i64, source: &str, fact: Fact| -> usize {
        let ordinal = ordinals.entry(seq).or_insert(0);
        inserts.push(NewFact {
            recorded_seq: seq,
            ordinal: *ordinal,
            source: source.to_owned(),
            fact,
            retracted_seq: None,
        });
        *ordinal += 1;
        inserts.len() - 1
    };
    for op in ops {
        match op {
            FactOp::Insert { seq, source, facts } => {
                for fact in facts {
                    let index = add(&mut inserts, *seq, source, fact.clone());
                    open.entry(source.clone()).or_default().push(Open::New { index });
                }
            }
            FactOp::RetractSource { seq, source } => {
                for was in open.remove(source).unwrap_or_default() {
                    retract(was, *seq, &mut inserts, &mut retractions);
                }
            }
            FactOp::Project { seq, project, change } => {
                let state = projects.entry(project.clone()).or_default();
                match change {
                    ProjectChange::Lead { task_force_id } => state.task_force_id = Some(task_force_id.clone()),
                    ProjectChange::FirstSigning { qualifies, on } => {
                        state.qualifies = *qualifies;
                        if *qualifies {
                            let signing = format!("signing:{seq}");
                            let fact =
                                Fact::new("projects_led_in", state.task_force_id.clone(), signing.clone(), *on, *on);
                            add(&mut inserts, *seq, &signing, fact);
                        }
                    }
                    ProjectChange::ConstructionStarted { on } => state.construction_started_on = Some(*on),
                    ProjectChange::ReserveEntered { on } => state.reserve_entered_on = Some(*on),
                    ProjectChange::InvestorChanged => state.qualifies = false,
                }
                let wanted = state.facts(project);
                let source = project_source(project);
                let current = open.remove(&source).unwrap_or_default();
                let mut kept = Vec::new();
                let mut still_wanted = wanted;
                for was in current {
                    let fact = match &was {
                        Open::Stored { fact, .. } => fact,
                        Open::New { index } => &inserts[*index].fact,
                    };
                    if let Some(at) = still_wanted.iter().position(|w| w == fact) {
                        still_wanted.remove(at);
                        kept.push(was);
                    } else {
                        retract(was, *seq, &mut inserts, &mut retractions);
                    }
                }
                for fact in still_wanted {
                    let index = add(&mut inserts, *seq, &source, fact);
                    kept.push(Open::New { index });
                }
                open.insert(source, kept);
            }
        }
    }

    if !retractions.is_empty() {
        let (recorded, ordinal, by): (Vec<i64>, Vec<i32>, Vec<i64>) = unzip3(retractions);
        sqlx::query(
            "UPDATE progress_facts f SET retracted_seq = r.by
             FROM UNNEST($1::bigint[], $2::int[], $3::bigint[]) AS r(recorded_seq, ordinal, by)
             WHERE f.recorded_seq = r.recorded_seq AND f.ordinal = r.ordinal",
        )
        .bind(recorded)
        .bind(ordinal)
        .bind(by)
        .execute(&mut **tx)
        .await?;
    }
    if !inserts.is_empty() {
        macro_rules! col {
            ($e:expr) => {
                inserts.iter().map($e).collect::<Vec<_>>()
            };
        }
        sqlx::query(
            "INSERT INTO progress_facts (recorded_seq, ordinal, measure, task_force_id, distinct_key, counts_in,
                 occurred_on, source, retracted_seq, repeats)
             SELECT *, measure = ANY($10) FROM UNNEST($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[],
                 $6::date[], $7::date[], $8::text[], $9::bigint[])
                 AS u(recorded_seq, ordinal, measure, task_force_id, distinct_key, counts_in, occurred_on, source,
                      retracted_seq)
             ON CONFLICT (recorded_seq, ordinal) DO NOTHING",
        )
        .bind(col!(|f| f.recorded_seq))
        .bind(col!(|f| f.ordinal))
        .bind(col!(|f| f.fact.measure))
        .bind(col!(|f| f.fact.task_force_id.clone()))
        .bind(col!(|f| f.fact.distinct_key.clone()))
        .bind(col!(|f| f.fact.counts_in))
        .bind(col!(|f| f.fact.occurred_on))
        .bind(col!(|f| f.source.clone()))
        .bind(col!(|f| f.retracted_seq))
        .bind(&REPEATING[..])
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn retract(was: Open, seq: i64, inserts: &mut [NewFact], retractions: &mut Vec<(i64, i32, i64)>) {
    match was {
        Open::Stored { recorded_seq, ordinal, .. } => retractions.push((recorded_seq, ordinal, seq)),
        Open::New { index } => inserts[index].retracted_seq = Some(seq),
    }
}

fn unzip3(rows: Vec<(i64, i32, i64)>) -> (Vec<i64>, Vec<i32>, Vec<i64>) {
    let mut a = Vec::with_capacity(rows.len());
    let mut b = Vec::with_capacity(rows.len());
    let mut c = Vec::with_capacity(rows.len());
    for (x, y, z) in rows {
        a.push(x);
        b.push(y);
        c.push(z);
    }
    (a, b, c)
}

fn project_source(project: &str) -> String {
    format!("project:{project}")
}

/// The measures facts are kept for, as `&'static str`.
pub(crate) const FACT_MEASURES: [&str; 18] = [
    "projects_led_in",
    "projects_started",
    "reserve_quality_projects",
    "activities",
    "going_out_activities",
    "inviting_in_activities",
    "online_activities",
    "leader_led_going_out",
    "target_enterprises_invited",
    "chain_leaders_met_online",
    "target_enterprises_docked",
    "joint_meeting_quarters",
    "supervision_meeting_quarters",
    "monthly_report_meeting_months",
    "monthly_reports",
    "annual_plans",
    "service_platforms",
    "briefing_quarters",
];

fn static_measure(code: &str) -> Option<&'static str> {
    FACT_MEASURES.iter().copied().find(|m| *m == code)
}

/// Measures whose facts may share a key (the same enterprise docked twice,
/// two meetings in one quarter): counted as distinct keys. Every other
/// measure's keys are unique (an activity, a signing, a report), so its
/// facts are simply counted.
pub(crate) const REPEATING: [&str; 7] = [
    "target_enterprises_invited",
    "chain_leaders_met_online",
    "target_enterprises_docked",
    "joint_meeting_quarters",
    "supervision_meeting_quarters",
    "monthly_report_meeting_months",
    "briefing_quarters",
];

/// The count of facts by task force and measure: `$1`..`$2` the period the
/// facts count in, `$3` the latest day they may have happened (NULL: any),
/// `$4` the sequence they must be known at. Rows with `total` set are the
/// whole system's (distinct across task forces). Facts with unique keys are
/// counted in one pass; only the repeating ones are de-duplicated.
pub(crate) const FACT_COUNT_SQL: &str = "
WITH r AS (
    SELECT task_force_id, measure, distinct_key FROM progress_facts
    WHERE repeats AND counts_in BETWEEN $1 AND $2
      AND ($3::date IS NULL OR occurred_on <= $3)
      AND recorded_seq <= $4 AND (retracted_seq IS NULL OR retracted_seq > $4))
SELECT task_force_id, measure, count(*) AS value, GROUPING(task_force_id) = 1 AS total
FROM progress_facts
WHERE NOT repeats AND counts_in BETWEEN $1 AND $2
  AND ($3::date IS NULL OR occurred_on <= $3)
  AND recorded_seq <= $4 AND (retracted_seq IS NULL OR retracted_seq > $4)
GROUP BY GROUPING SETS ((task_force_id, measure), (measure))
UNION ALL
SELECT task_force_id, measure, count(*), false
FROM (SELECT DISTINCT task_force_id, measure, distinct_key FROM r) d GROUP BY task_force_id, measure
UNION ALL
SELECT NULL, measure, count(*), true FROM (SELECT DISTINCT measure, distinct_key FROM r) d GROUP BY measure
";

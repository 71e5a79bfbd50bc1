//! Supervision (督导): which task force lags which duty on a date, coloured
//! as Chinese supervision systems do, and the escalation ladder the office
//! climbs when a lag persists.
//!
//! ## Duties
//! A [`Duty`] is something the plan asks of every task force with a rhythm:
//! the monthly report (monthly), the joint meeting and the office's
//! supervision inspection (quarterly), and each yearly per-task-force target
//! of the plan period (the "1133" action: annual plan, project, activities,
//! reserve, docking …), which comes from the plan's data, not from code.
//!
//! ## Colours (绿 / 蓝 / 黄 / 红)
//! - 绿 green: done — the year's target is reached; this month's report is
//!   in; this quarter's meeting was held — and nothing earlier this year is missing.
//! - 蓝 blue: on track — nothing is overdue, and nothing falls due soon.
//! - 黄 yellow: due soon — nothing is overdue, but the next unit falls due
//!   within [`TARGET_DUE_SOON_DAYS`] (targets), [`QUARTER_DUE_SOON_DAYS`]
//!   (quarterly meetings) or [`MONTHLY_REPORT_DUE_SOON_DAYS`] (the report), or today.
//! - 红 red: overdue or behind — a due date has passed without it.
//!
//! ## Pro-rata targets
//! A yearly target `T` is spread evenly over the year's `D` days: its `k`-th
//! unit falls due on day `⌈k·D/T⌉` of the year (with `T = 1`, on 31 December;
//! with `T = 3`, on 2 May, 1 September and 31 December in a 365-day year).
//! On a date `d`, the units expected by then are `⌊T·(n−1)/D⌋` where `n` is
//! `d`'s day of the year: the target times the fraction of the year that has
//! fully passed before `d`. Work done on `d` itself counts for `d`, as
//! "30日前" includes the 30th. A task force is behind (red) when it has done
//! fewer than that.
//!
//! Every duty is judged within the calendar year of the date (the plan's
//! targets are yearly): a month or quarter of an earlier year is not carried over.
//!
//! ## The escalation ladder
//! The office escalates a lagging duty along 提醒 → 催办 → 督办 → 通报
//! ([`EscalationStep`]). One [`Escalation`] aggregate is one matter: a task
//! force, a duty and the period that lags (`2022-05`, `2022-q2`, `2022`);
//! its id is [`escalation_id`]. Each step and each response is an event.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
use crate::error::{DomainError, check_happened};
use crate::plan::Measure;
use crate::values::{Name, Slug, Text};

/// A yearly target's next unit is "due soon" (yellow) this many days ahead.
pub const TARGET_DUE_SOON_DAYS: i64 = 30;
/// A quarter's meeting is "due soon" (yellow) in the quarter's last this many days.
pub const QUARTER_DUE_SOON_DAYS: i64 = 30;
/// A month's report is "due soon" (yellow) this many days before its due date.
pub const MONTHLY_REPORT_DUE_SOON_DAYS: i64 = 7;
/// A fact recorded more than this many days after it happened is back-filled (补录).
pub const BACKFILL_AFTER_DAYS: i64 = 7;

/// Whether a fact that happened on `on` and was recorded on `recorded_on`
/// (a Liuzhou date) is back-filled: recorded more than
/// [`BACKFILL_AFTER_DAYS`] days after it happened.
pub fn is_backfilled(on: NaiveDate, recorded_on: NaiveDate) -> bool {
    (recorded_on - on).num_days() > BACKFILL_AFTER_DAYS
}

/// The supervision colours, in order of urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// 绿: done.
    Green,
    /// 蓝: on track.
    Blue,
    /// 黄: due soon.
    Yellow,
    /// 红: overdue or behind.
    Red,
}

impl Colour {
    /// Code used in the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Blue => "blue",
            Self::Yellow => "yellow",
            Self::Red => "red",
        }
    }

    /// The Chinese mark.
    pub fn label(self) -> &'static str {
        match self {
            Self::Green => "绿",
            Self::Blue => "蓝",
            Self::Yellow => "黄",
            Self::Red => "红",
        }
    }

    /// What the colour means, in Chinese.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Green => "已完成",
            Self::Blue => "正常推进",
            Self::Yellow => "即将到期",
            Self::Red => "逾期或滞后",
        }
    }
}

/// How often a duty falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rhythm {
    /// Every month (the report); periods are written `2022-05`.
    Monthly,
    /// Every quarter (meetings); periods are written `2022-q2`.
    Quarterly,
    /// Every year (targets); periods are written `2022`.
    Yearly,
}

/// A duty the plan sets every task force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Duty {
    /// 月度进展报送: the month's report by the 30th.
    MonthlyReport,
    /// 季度联席会: a joint meeting every quarter.
    JointMeeting,
    /// 季度督导检查: the office's inspection of the task force every quarter.
    SupervisionInspection,
    /// A yearly per-task-force target of the plan, judged pro rata.
    Target(Measure),
}

impl Duty {
    /// The duty of a code: `monthly_report`, `joint_meeting`,
    /// `supervision_inspection`, or the code of a measure that can be a
    /// task force's yearly target.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "monthly_report" => Some(Self::MonthlyReport),
            "joint_meeting" => Some(Self::JointMeeting),
            "supervision_inspection" => Some(Self::SupervisionInspection),
            other => Measure::from_code(other).and_then(Self::for_target),
        }
    }

    /// The duty that judges a yearly target of `measure`; `None` for the
    /// measures judged by rhythm (meetings, reports) or owned by the office.
    pub fn for_target(measure: Measure) -> Option<Self> {
        match measure {
            Measure::JointMeetingQuarters
            | Measure::SupervisionQuarters
            | Measure::MonthlyReports
            | Measure::MonthlyReportMeetingMonths
            | Measure::BriefingQuarters => None,
            other => Some(Self::Target(other)),
        }
    }

    /// Code used in the API and in escalation ids.
    pub fn code(self) -> &'static str {
        match self {
            Self::MonthlyReport => "monthly_report",
            Self::JointMeeting => "joint_meeting",
            Self::SupervisionInspection => "supervision_inspection",
            Self::Target(measure) => measure.code(),
        }
    }

    /// The Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            Self::MonthlyReport => "月度进展报送",
            Self::JointMeeting => "季度招商工作联席会",
            Self::SupervisionInspection => "季度督导检查",
            Self::Target(measure) => measure.label(),
        }
    }

    /// How often it falls due.
    pub fn rhythm(self) -> Rhythm {
        match self {
            Self::MonthlyReport => Rhythm::Monthly,
            Self::JointMeeting | Self::SupervisionInspection => Rhythm::Quarterly,
            Self::Target(_) => Rhythm::Yearly,
        }
    }

    /// The period of this duty's rhythm that `date` falls in, as written in
    /// escalation ids: `2022-05`, `2022-q2` or `2022`.
    pub fn period_of(self, date: NaiveDate) -> String {
        match self.rhythm() {
            Rhythm::Monthly => format!("{:04}-{:02}", date.year(), date.month()),
            Rhythm::Quarterly => format!("{:04}-q{}", date.year(), quarter_of(date)),
            Rhythm::Yearly => format!("{:04}", date.year()),
        }
    }
}

impl TryFrom<String> for Duty {
    type Error = String;
    fn try_from(code: String) -> Result<Self, String> {
        Self::from_code(&code).ok_or_else(|| format!("unknown duty {code}"))
    }
}

impl From<Duty> for String {
    fn from(duty: Duty) -> String {
        duty.code().to_owned()
    }
}

impl Serialize for Duty {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Duty {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Self::from_code(&code).ok_or_else(|| {
            serde::de::Error::custom(crate::values::ValueError::new("known_duty", format!("未知的督办事项类别 {code}")))
        })
    }
}

impl schemars::JsonSchema for Duty {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duty".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = ["monthly_report", "joint_meeting", "supervision_inspection"]
            .into_iter()
            .chain(Measure::ALL.into_iter().filter_map(Duty::for_target).map(Duty::code))
            .collect();
        schemars::json_schema!({
            "type": "string",
            "enum": codes,
            "description": "A task force's duty: monthly_report, joint_meeting, supervision_inspection, \
                or the code of a yearly per-task-force target."
        })
    }
}

/// The quarter (1 to 4) of a date.
pub fn quarter_of(date: NaiveDate) -> u32 {
    (date.month() - 1) / 3 + 1
}

/// The first and last day of a quarter.
pub fn quarter_bounds(year: i32, quarter: u32) -> Option<(NaiveDate, NaiveDate)> {
    if !(1..=4).contains(&quarter) {
        return None;
    }
    let first = NaiveDate::from_ymd_opt(year, (quarter - 1) * 3 + 1, 1)?;
    let last = crate::monthly_report::last_day(year, quarter * 3)?;
    Some((first, last))
}

/// Checks that `period` is written as `duty`'s rhythm asks: `2022-05`
/// (monthly), `2022-q2` (quarterly) or `2022` (yearly), with a year from
/// 2000 to 2100.
///
/// # Errors
/// `period_format`, naming `period`.
pub fn check_period(duty: Duty, period: &str) -> Result<(), DomainError> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let year_ok = |s: &str| digits(s, 4) && s.parse::<i32>().is_ok_and(|y| (2000..=2100).contains(&y));
    let (ok, shape) = match duty.rhythm() {
        Rhythm::Yearly => (year_ok(period), "2022"),
        Rhythm::Monthly => (
            period.split_once('-').is_some_and(|(y, m)| {
                year_ok(y) && digits(m, 2) && m.parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
            }),
            "2022-05",
        ),
        Rhythm::Quarterly => {
            (period.split_once("-q").is_some_and(|(y, q)| year_ok(y) && matches!(q, "1" | "2" | "3" | "4")), "2022-q2")
        }
    };
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid("period", "period_format", format!("「{}」的期间须写作 {shape}", duty.label())))
    }
}

/// The first day of a period written as `duty`'s rhythm asks (`2022-05`,
/// `2022-q2`, `2022`); `None` when it is not so written.
pub fn period_start(duty: Duty, period: &str) -> Option<NaiveDate> {
    check_period(duty, period).ok()?;
    let year: i32 = period.get(..4)?.parse().ok()?;
    match duty.rhythm() {
        Rhythm::Yearly => NaiveDate::from_ymd_opt(year, 1, 1),
        Rhythm::Monthly => NaiveDate::from_ymd_opt(year, period.get(5..)?.parse().ok()?, 1),
        Rhythm::Quarterly => quarter_bounds(year, period.get(6..)?.parse().ok()?).map(|(first, _)| first),
    }
}

/// A duty judged on a date: its colour and why, in Chinese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Assessment {
    /// The colour.
    pub colour: Colour,
    /// Why, in a sentence a user can act on.
    pub why: String,
    /// For a target: the yearly target.
    pub target: Option<u32>,
    /// For a target: the units expected by the date (pro rata).
    pub expected: Option<u32>,
    /// What has been done: units this year, reports in, quarters covered.
    pub actual: u32,
    /// When the next thing falls due, if anything still does this year.
    pub next_due_on: Option<NaiveDate>,
}

fn days_in_year(year: i32) -> i64 {
    if NaiveDate::from_ymd_opt(year, 2, 29).is_some() { 366 } else { 365 }
}

fn year_day(year: i32, ordinal: i64) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January exists");
    first + Duration::days(ordinal - 1)
}

/// The units of a yearly `target` expected by `date`: ⌊target × (n−1) / D⌋
/// where `n` is the date's day of the year and `D` the year's days.
pub fn expected_by(target: u32, date: NaiveDate) -> u32 {
    let passed = i64::from(date.ordinal()) - 1;
    u32::try_from(i64::from(target) * passed / days_in_year(date.year())).unwrap_or(u32::MAX)
}

/// The day the `k`-th unit of a yearly `target` falls due in `year`: day
/// ⌈k·D/target⌉ of the year. `None` when `k` is beyond the target.
pub fn unit_due_on(target: u32, k: u32, year: i32) -> Option<NaiveDate> {
    if target == 0 || k == 0 || k > target {
        return None;
    }
    let days = days_in_year(year);
    let (k, t) = (i64::from(k), i64::from(target));
    Some(year_day(year, (k * days + t - 1) / t))
}

/// Judges a yearly per-task-force target on `date`, given what was done
/// from 1 January to `date`.
pub fn assess_target(target: u32, actual: u32, date: NaiveDate) -> Assessment {
    let expected = expected_by(target, date);
    let next_due_on = unit_due_on(target, actual.saturating_add(1), date.year());
    let (colour, why) = if target == 0 {
        (Colour::Green, "本年无此项目标".to_owned())
    } else if actual >= target {
        (Colour::Green, format!("已完成全年目标：{actual}/{target}"))
    } else if actual < expected {
        (
            Colour::Red,
            format!(
                "按时间进度到今天应完成 {expected}，实际 {actual}，落后 {}（全年目标 {target}）",
                expected - actual
            ),
        )
    } else {
        let due = next_due_on.expect("a unit is still to do");
        let days_left = (due - date).num_days();
        if days_left <= TARGET_DUE_SOON_DAYS {
            (
                Colour::Yellow,
                format!(
                    "第 {} 个须于 {due} 前完成，尚余 {days_left} 天（全年目标 {target}，已完成 {actual}）",
                    actual + 1
                ),
            )
        } else {
            (
                Colour::Blue,
                format!("按时间进度推进：已完成 {actual}，第 {} 个须于 {due} 前完成（全年目标 {target}）", actual + 1),
            )
        }
    };
    Assessment {
        colour,
        why,
        target: Some(target),
        expected: Some(expected),
        actual,
        next_due_on: if actual >= target { None } else { next_due_on },
    }
}

/// One month of a year as the monthly-report duty sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthOnRecord {
    /// The month, 1 to 12.
    pub month: u32,
    /// The first submission's date of its report, if any.
    pub first_submitted_on: Option<NaiveDate>,
}

/// Judges the monthly-report duty on `date`: red when a month of the year
/// whose due date has passed has no report (缺报); green when this month's
/// report is in; yellow when it is due within
/// [`MONTHLY_REPORT_DUE_SOON_DAYS`]; blue otherwise. `months` may list any
/// months of `date`'s year; a month not listed has no report.
pub fn assess_monthly_reports(date: NaiveDate, months: &[MonthOnRecord]) -> Assessment {
    use crate::monthly_report::{ReportStatus, due_date, status_on};
    let year = date.year();
    let submitted = |month: u32| months.iter().find(|m| m.month == month).and_then(|m| m.first_submitted_on);
    let mut missing = Vec::new();
    let mut late = 0;
    let mut in_on_time_or_late = 0;
    for month in 1..=date.month() {
        let due = due_date(year, month).expect("a month of the year");
        match status_on(date, due, submitted(month)) {
            ReportStatus::Missing => missing.push(format!("{month}月")),
            ReportStatus::Late { .. } => {
                late += 1;
                in_on_time_or_late += 1;
            }
            ReportStatus::OnTime => in_on_time_or_late += 1,
            ReportStatus::Pending => {}
        }
    }
    let this_due = due_date(year, date.month()).expect("the date's month");
    let this_in = submitted(date.month()).is_some_and(|s| s <= date);
    let late_note = if late > 0 { format!("；本年逾期报送 {late} 次") } else { String::new() };
    let (colour, why, next_due_on) = if !missing.is_empty() {
        (Colour::Red, format!("{year}年{}的月度进展报告缺报{late_note}", missing.join("、")), None)
    } else if this_in {
        let next = (date.month() < 12).then(|| due_date(year, date.month() + 1)).flatten();
        (Colour::Green, format!("本月报告已报送{late_note}"), next)
    } else {
        let days_left = (this_due - date).num_days();
        if days_left <= MONTHLY_REPORT_DUE_SOON_DAYS {
            (Colour::Yellow, format!("本月报告须于 {this_due} 前报送，尚余 {days_left} 天{late_note}"), Some(this_due))
        } else {
            (Colour::Blue, format!("本月报告须于 {this_due} 前报送{late_note}"), Some(this_due))
        }
    };
    Assessment { colour, why, target: None, expected: None, actual: in_on_time_or_late, next_due_on }
}

/// Judges a quarterly duty (the joint meeting, the supervision inspection)
/// on `date`, given the quarters of `date`'s year in which it was held on or
/// before `date`: red when an ended quarter of the year had none; green when
/// this quarter has one; yellow in the quarter's last
/// [`QUARTER_DUE_SOON_DAYS`] days; blue otherwise.
pub fn assess_quarterly(duty: Duty, date: NaiveDate, quarters_held: &[u32]) -> Assessment {
    let year = date.year();
    let this_quarter = quarter_of(date);
    let what = match duty {
        Duty::SupervisionInspection => "督导检查",
        _ => "联席会",
    };
    let missing: Vec<String> =
        (1..this_quarter).filter(|q| !quarters_held.contains(q)).map(|q| format!("第{q}季度")).collect();
    let (_, quarter_end) = quarter_bounds(year, this_quarter).expect("a quarter of the year");
    let covered = u32::try_from((1..=this_quarter).filter(|q| quarters_held.contains(q)).count()).unwrap_or(0);
    let (colour, why, next_due_on) = if !missing.is_empty() {
        (Colour::Red, format!("{year}年{}未开展{what}", missing.join("、")), None)
    } else if quarters_held.contains(&this_quarter) {
        let next = quarter_bounds(year, this_quarter + 1).map(|(_, end)| end);
        (Colour::Green, format!("本季度已开展{what}"), next)
    } else {
        let days_left = (quarter_end - date).num_days();
        if days_left < QUARTER_DUE_SOON_DAYS {
            (
                Colour::Yellow,
                format!("本季度尚未开展{what}，须于 {quarter_end} 前完成，尚余 {days_left} 天"),
                Some(quarter_end),
            )
        } else {
            (Colour::Blue, format!("本季度{what}须于 {quarter_end} 前完成"), Some(quarter_end))
        }
    };
    Assessment { colour, why, target: None, expected: None, actual: covered, next_due_on }
}

// ---------------------------------------------------------------------------
// The escalation ladder.
// ---------------------------------------------------------------------------

/// The rungs of the ladder, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationStep {
    /// 提醒: a reminder.
    Reminder,
    /// 催办: a chase notice.
    ChaseNotice,
    /// 督办: a supervision order.
    SupervisionOrder,
    /// 通报: a circular to the leading group and the whole system.
    Circular,
}

impl EscalationStep {
    /// Code used in the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::Reminder => "reminder",
            Self::ChaseNotice => "chase_notice",
            Self::SupervisionOrder => "supervision_order",
            Self::Circular => "circular",
        }
    }

    /// The Chinese name.
    pub fn label(self) -> &'static str {
        match self {
            Self::Reminder => "提醒",
            Self::ChaseNotice => "催办",
            Self::SupervisionOrder => "督办",
            Self::Circular => "通报",
        }
    }

    /// The rung above, if any.
    pub fn next(self) -> Option<Self> {
        match self {
            Self::Reminder => Some(Self::ChaseNotice),
            Self::ChaseNotice => Some(Self::SupervisionOrder),
            Self::SupervisionOrder => Some(Self::Circular),
            Self::Circular => None,
        }
    }
}

/// The aggregate id of the matter of a task force, a duty and a period:
/// `automotive-monthly_report-2022-05`.
pub fn escalation_id(task_force_id: &str, duty: Duty, period: &str) -> String {
    format!("{task_force_id}-{}-{period}", duty.code())
}

/// The office issues a step of the ladder to a task force about a duty
/// lagging in a period. The first step of a matter creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueEscalationStep {
    /// The task force concerned.
    pub task_force_id: Slug,
    /// The lagging duty.
    pub duty: Duty,
    /// The period that lags: `2022-05` (monthly report), `2022-q2`
    /// (meetings), `2022` (yearly targets).
    pub period: Slug,
    /// The rung: reminder, chase_notice, supervision_order, circular.
    pub step: EscalationStep,
    /// The day it was issued.
    pub on: NaiveDate,
    /// Who issued it for the office.
    pub issued_by: Name,
    /// What it says.
    pub note: Text,
}

/// The task force answers the latest step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordEscalationResponse {
    /// The day of the answer.
    pub on: NaiveDate,
    /// Who answered for the task force.
    pub responder: Name,
    /// The answer: what was done, what will be done by when.
    pub response: Text,
}

/// The office closes the matter: the lag is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseEscalation {
    /// The day it was closed.
    pub on: NaiveDate,
    /// How the lag was resolved (the report came in, the meeting was held).
    pub resolution: Text,
}

/// What a user can ask of an escalation matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscalationCommand {
    /// Issue a step (the first one opens the matter).
    IssueStep(IssueEscalationStep),
    /// Record the task force's response to the latest step.
    Respond(RecordEscalationResponse),
    /// Close the matter.
    Close(CloseEscalation),
}

/// What can have happened to an escalation matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum EscalationEvent {
    /// The office issued a step of the ladder.
    #[serde(rename = "escalation.step_issued.v1")]
    StepIssued(IssueEscalationStep),
    /// The task force answered the latest step.
    #[serde(rename = "escalation.responded.v1")]
    Responded(RecordEscalationResponse),
    /// The office closed the matter.
    #[serde(rename = "escalation.closed.v1")]
    Closed(CloseEscalation),
}

impl DomainEvent for EscalationEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        Some(match self {
            Self::StepIssued(s) => s.on,
            Self::Responded(r) => r.on,
            Self::Closed(c) => c.on,
        })
    }
}

/// An escalation matter as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Escalation {
    /// The task force, duty and period, once the matter exists.
    pub subject: Option<(Slug, Duty, Slug)>,
    /// The latest step issued in the current round, `None` when closed.
    pub open_step: Option<EscalationStep>,
    /// Whether the latest step has been answered.
    pub answered: bool,
    /// The latest date of any of its events: nothing later may be dated earlier.
    pub last_on: Option<NaiveDate>,
}

impl Escalation {
    fn check_after_last(&self, on: NaiveDate) -> Result<(), DomainError> {
        match self.last_on {
            Some(last) if on < last => Err(DomainError::invalid(
                "on",
                "not_before_previous_step",
                format!("日期不能早于该督办事项上一条记录的日期 {last}"),
            )),
            _ => Ok(()),
        }
    }
}

impl Aggregate for Escalation {
    const TYPE: &'static str = "escalation";
    type Command = EscalationCommand;
    type Event = EscalationEvent;

    fn decide(&self, command: &EscalationCommand, context: &DecisionContext) -> Result<EscalationEvent, DomainError> {
        match command {
            EscalationCommand::IssueStep(issue) => {
                check_period(issue.duty, issue.period.as_str())?;
                check_happened("on", issue.on, context.today)?;
                // A period cannot lag before it has begun.
                if period_start(issue.duty, issue.period.as_str()).is_some_and(|start| issue.on < start) {
                    return Err(DomainError::invalid(
                        "period",
                        "period_not_begun",
                        format!("期间 {} 尚未开始，不能就其发出督办", issue.period),
                    ));
                }
                if let Some((task_force_id, duty, period)) = &self.subject {
                    if *task_force_id != issue.task_force_id || *duty != issue.duty || *period != issue.period {
                        return Err(DomainError::not_allowed(
                            "same_matter",
                            "督办事项的专班、类别和期间一经确定不能改变",
                        ));
                    }
                }
                self.check_after_last(issue.on)?;
                match (self.open_step, issue.step) {
                    // A new matter, or one closed and lagging again, starts at the bottom.
                    (None, EscalationStep::Reminder) => {}
                    (None, step) => {
                        return Err(DomainError::not_allowed(
                            "ladder_starts_with_reminder",
                            format!("督办事项须从「提醒」开始，不能直接「{}」", step.label()),
                        ));
                    }
                    (Some(current), step) if current.next() == Some(step) => {}
                    (Some(EscalationStep::Circular), _) => {
                        return Err(DomainError::not_allowed("ladder_top", "已「通报」，无更高一级；滞后解决后请办结"));
                    }
                    (Some(current), step) => {
                        let next = current.next().expect("only the circular has no rung above");
                        return Err(DomainError::not_allowed(
                            "ladder_order",
                            format!(
                                "当前为「{}」，下一步只能是「{}」，不能「{}」",
                                current.label(),
                                next.label(),
                                step.label()
                            ),
                        ));
                    }
                }
                Ok(EscalationEvent::StepIssued(issue.clone()))
            }
            EscalationCommand::Respond(response) => {
                if self.subject.is_none() {
                    return Err(DomainError::NotFound { aggregate_type: Self::TYPE });
                }
                let Some(step) = self.open_step else {
                    return Err(DomainError::not_allowed("matter_closed", "督办事项已办结，无需答复"));
                };
                if self.answered {
                    return Err(DomainError::not_allowed(
                        "step_already_answered",
                        format!("已答复本次「{}」；如有新情况，请待下一步或办结", step.label()),
                    ));
                }
                check_happened("on", response.on, context.today)?;
                self.check_after_last(response.on)?;
                Ok(EscalationEvent::Responded(response.clone()))
            }
            EscalationCommand::Close(close) => {
                if self.subject.is_none() {
                    return Err(DomainError::NotFound { aggregate_type: Self::TYPE });
                }
                if self.open_step.is_none() {
                    return Err(DomainError::not_allowed("matter_closed", "督办事项已办结"));
                }
                check_happened("on", close.on, context.today)?;
                self.check_after_last(close.on)?;
                Ok(EscalationEvent::Closed(close.clone()))
            }
        }
    }

    fn evolve(mut self, event: &EscalationEvent) -> Self {
        match event {
            EscalationEvent::StepIssued(issue) => {
                self.subject = Some((issue.task_force_id.clone(), issue.duty, issue.period.clone()));
                self.open_step = Some(issue.step);
                self.answered = false;
                self.last_on = Some(issue.on);
            }
            EscalationEvent::Responded(response) => {
                self.answered = true;
                self.last_on = Some(response.on);
            }
            EscalationEvent::Closed(close) => {
                self.open_step = None;
                self.answered = false;
                self.last_on = Some(close.on);
            }
        }
        self
    }

    fn exists(&self) -> bool {
        self.subject.is_some()
    }

    /// The office issues and closes; the task force concerned answers.
    fn responsibility(&self, _id: &str, event: &EscalationEvent) -> Responsibility {
        match (event, &self.subject) {
            (EscalationEvent::Responded(_), Some((task_force, _, _))) => {
                Responsibility::TaskForce(task_force.to_string())
            }
            _ => Responsibility::Office,
        }
    }
}

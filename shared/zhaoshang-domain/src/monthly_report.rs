//! The monthly progress report (月度进展报告): what each task force reports
//! to the leading group office about the month's investment promotion.
//!
//! The plan (五、(二)): "各招商专班每月 30 日前将本月开展招商引资进展情况报送给
//! 领导小组办公室". So there is one report per task force per month, about that
//! month, due on the 30th of the same month, or on the month's last day when
//! the month is shorter (February). "30日前" includes the 30th.
//!
//! A report is submitted once; a correction is an amendment, an event of its
//! own that says what was wrong. Whether a report was on time is decided by
//! its first submission only: an amendment never changes that.
//!
//! The report's aggregate id is derived from its task force and month
//! ([`report_id`]), so a second report for the same month cannot exist.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
use crate::error::{DomainError, check_happened};
use crate::values::{Slug, Text, Yuan};

/// Largest count a monthly figure may carry: more than any task force does
/// in a month, small enough to catch a typing mistake.
pub const MAX_MONTHLY_COUNT: u32 = 1_000;

/// The day of the month a report is due on, when the month has it.
pub const DUE_DAY: u32 = 30;

/// The figures of a month, as the progress table (附件1) counts them, so that
/// the office can set them beside the table. Counts of the month only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthlyFigures {
    /// 本月签约项目（个）: projects signed for the first time this month.
    #[serde(default)]
    pub projects_signed: u32,
    /// Of those, how many reach the plan's investment threshold (亿元以上工业、
    /// 5000万元以上服务业).
    #[serde(default)]
    pub qualifying_projects_signed: u32,
    /// 本月开工项目（个）.
    #[serde(default)]
    pub projects_started: u32,
    /// 重大项目洽谈（次）: major negotiations held this month (each was also
    /// reported at once, as the plan asks).
    #[serde(default)]
    pub major_negotiations: u32,
    /// “走出去”招商活动（场次）.
    #[serde(default)]
    pub going_out_activities: u32,
    /// “请进来”招商活动（场次）.
    #[serde(default)]
    pub inviting_in_activities: u32,
    /// “不见面”招商活动（场次）.
    #[serde(default)]
    pub online_activities: u32,
    /// 新入库高质量项目（个）.
    #[serde(default)]
    pub reserve_projects_added: u32,
    /// 精准对接目标企业（家）.
    #[serde(default)]
    pub target_enterprises_docked: u32,
    /// 本月到资（元）, when any funds arrived.
    #[serde(default)]
    pub funds_arrived_yuan: Option<Yuan>,
}

/// Submits a task force's report for a month. Creates the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitMonthlyReport {
    /// The task force reporting.
    pub task_force_id: Slug,
    /// The year of the month reported on.
    pub year: i32,
    /// The month reported on, 1 to 12.
    pub month: u32,
    /// The day it was submitted to the office (报送日期). Defaults to today
    /// in the API; an earlier date is a back-filled fact.
    pub on: NaiveDate,
    /// The month's figures.
    pub figures: MonthlyFigures,
    /// 本月工作进展: what was done.
    pub progress: Text,
    /// 存在问题及需协调事项: problems needing help.
    #[serde(default)]
    pub problems: Option<Text>,
    /// 下月工作计划.
    #[serde(default)]
    pub next_month_plan: Option<Text>,
}

/// Amends a submitted report: the whole content again, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendMonthlyReport {
    /// The day the amendment was made.
    pub on: NaiveDate,
    /// What was wrong (更正原因).
    pub reason: Text,
    /// The month's figures, corrected.
    pub figures: MonthlyFigures,
    /// 本月工作进展, corrected.
    pub progress: Text,
    /// 存在问题及需协调事项, corrected.
    #[serde(default)]
    pub problems: Option<Text>,
    /// 下月工作计划, corrected.
    #[serde(default)]
    pub next_month_plan: Option<Text>,
}

/// What a user can ask of a monthly report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonthlyReportCommand {
    /// Submit the month's report (creates it).
    Submit(SubmitMonthlyReport),
    /// Amend the submitted report.
    Amend(AmendMonthlyReport),
}

/// What can have happened to a monthly report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum MonthlyReportEvent {
    /// The report was submitted to the office.
    #[serde(rename = "monthly_report.submitted.v1")]
    Submitted(SubmitMonthlyReport),
    /// The report was amended.
    #[serde(rename = "monthly_report.amended.v1")]
    Amended(AmendMonthlyReport),
}

impl DomainEvent for MonthlyReportEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        Some(match self {
            Self::Submitted(r) => r.on,
            Self::Amended(a) => a.on,
        })
    }
}

/// A monthly report as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthlyReport {
    /// The first submission's date, once submitted.
    pub submitted_on: Option<NaiveDate>,
    /// The date of the latest submission or amendment.
    pub last_changed_on: Option<NaiveDate>,
    /// How many amendments there have been.
    pub amendments: u32,
}

/// The aggregate id of a task force's report for a month: `automotive-2022-05`.
pub fn report_id(task_force_id: &str, year: i32, month: u32) -> String {
    format!("{task_force_id}-{year:04}-{month:02}")
}

/// The first day of a month, when the month exists.
pub fn first_day(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// The last day of a month, when the month exists.
pub fn last_day(year: i32, month: u32) -> Option<NaiveDate> {
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(next_year, next_month, 1).and_then(|d| d.pred_opt()).filter(|_| (1..=12).contains(&month))
}

/// The day a month's report is due: the 30th, or the month's last day when
/// the month has fewer days (February). `None` for a month that does not exist.
pub fn due_date(year: i32, month: u32) -> Option<NaiveDate> {
    let last = last_day(year, month)?;
    Some(if last.day() < DUE_DAY { last } else { last.with_day(DUE_DAY).unwrap_or(last) })
}

/// Where a month's report stands on a given date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReportStatus {
    /// 按时报送: first submitted on or before the due date.
    OnTime,
    /// 逾期报送: first submitted after the due date.
    Late {
        /// Days after the due date.
        days_late: i64,
    },
    /// 缺报: the due date has passed and nothing was submitted.
    Missing,
    /// 未到期: not submitted, but the due date has not passed yet.
    Pending,
}

impl ReportStatus {
    /// The status's code.
    pub fn code(self) -> &'static str {
        match self {
            Self::OnTime => "on_time",
            Self::Late { .. } => "late",
            Self::Missing => "missing",
            Self::Pending => "pending",
        }
    }

    /// The Chinese label.
    pub fn label(self) -> String {
        match self {
            Self::OnTime => "按时报送".to_owned(),
            Self::Late { days_late } => format!("逾期 {days_late} 天报送"),
            Self::Missing => "缺报".to_owned(),
            Self::Pending => "未到期".to_owned(),
        }
    }
}

/// Where a report due on `due` stands on `date`, given the date of its first
/// submission (if any). A submission dated after `date` had not happened yet
/// on `date`, so it is not seen.
pub fn status_on(date: NaiveDate, due: NaiveDate, first_submitted_on: Option<NaiveDate>) -> ReportStatus {
    match first_submitted_on.filter(|submitted| *submitted <= date) {
        Some(submitted) if submitted <= due => ReportStatus::OnTime,
        Some(submitted) => ReportStatus::Late { days_late: (submitted - due).num_days() },
        None if date > due => ReportStatus::Missing,
        None => ReportStatus::Pending,
    }
}

fn check_figures(figures: &MonthlyFigures) -> Result<(), DomainError> {
    let counts = [
        ("figures.projects_signed", figures.projects_signed),
        ("figures.qualifying_projects_signed", figures.qualifying_projects_signed),
        ("figures.projects_started", figures.projects_started),
        ("figures.major_negotiations", figures.major_negotiations),
        ("figures.going_out_activities", figures.going_out_activities),
        ("figures.inviting_in_activities", figures.inviting_in_activities),
        ("figures.online_activities", figures.online_activities),
        ("figures.reserve_projects_added", figures.reserve_projects_added),
        ("figures.target_enterprises_docked", figures.target_enterprises_docked),
    ];
    for (field, value) in counts {
        if value > MAX_MONTHLY_COUNT {
            return Err(DomainError::invalid(
                field,
                "figure_too_large",
                format!("单月数字不超过 {MAX_MONTHLY_COUNT}，请核对是否录入有误"),
            ));
        }
    }
    if figures.qualifying_projects_signed > figures.projects_signed {
        return Err(DomainError::invalid(
            "figures.qualifying_projects_signed",
            "qualifying_within_signed",
            "达到引进标准的签约项目数不能多于签约项目总数",
        ));
    }
    Ok(())
}

impl Aggregate for MonthlyReport {
    const TYPE: &'static str = "monthly_report";
    type Command = MonthlyReportCommand;
    type Event = MonthlyReportEvent;

    fn decide(
        &self,
        command: &MonthlyReportCommand,
        context: &DecisionContext,
    ) -> Result<MonthlyReportEvent, DomainError> {
        match command {
            MonthlyReportCommand::Submit(report) => {
                if self.exists() {
                    return Err(DomainError::AlreadyExists { aggregate_type: Self::TYPE });
                }
                if !(2000..=2100).contains(&report.year) {
                    return Err(DomainError::invalid("year", "year_range", "年份须在 2000 至 2100 之间"));
                }
                let Some(month_start) = first_day(report.year, report.month) else {
                    return Err(DomainError::invalid("month", "month_range", "月份须在 1 至 12 之间"));
                };
                check_happened("on", report.on, context.today)?;
                if report.on < month_start {
                    return Err(DomainError::invalid(
                        "on",
                        "not_before_month",
                        format!("{}年{}月的进展报告不能在该月开始（{month_start}）之前报送", report.year, report.month),
                    ));
                }
                check_figures(&report.figures)?;
                Ok(MonthlyReportEvent::Submitted(report.clone()))
            }
            MonthlyReportCommand::Amend(amendment) => {
                let Some(last_changed_on) = self.last_changed_on else {
                    return Err(DomainError::NotFound { aggregate_type: Self::TYPE });
                };
                check_happened("on", amendment.on, context.today)?;
                if amendment.on < last_changed_on {
                    return Err(DomainError::invalid(
                        "on",
                        "not_before_last_change",
                        format!("更正日期不能早于上次报送或更正的日期 {last_changed_on}"),
                    ));
                }
                check_figures(&amendment.figures)?;
                Ok(MonthlyReportEvent::Amended(amendment.clone()))
            }
        }
    }

    fn evolve(mut self, event: &MonthlyReportEvent) -> Self {
        match event {
            MonthlyReportEvent::Submitted(report) => {
                self.submitted_on = Some(report.on);
                self.last_changed_on = Some(report.on);
            }
            MonthlyReportEvent::Amended(amendment) => {
                self.amendments += 1;
                self.last_changed_on = Some(amendment.on);
            }
        }
        self
    }

    fn exists(&self) -> bool {
        self.submitted_on.is_some()
    }

    /// A monthly report is its task force's; the id `<task force>-<yyyy>-<mm>`
    /// names the task force of an amendment.
    fn responsibility(&self, id: &str, event: &MonthlyReportEvent) -> Responsibility {
        match event {
            MonthlyReportEvent::Submitted(report) => Responsibility::TaskForce(report.task_force_id.to_string()),
            MonthlyReportEvent::Amended(_) => {
                Responsibility::TaskForce(id.rsplitn(3, '-').nth(2).unwrap_or(id).to_owned())
            }
        }
    }
}

//! The plan period (规划期) with its targets, and the leading group (领导小组).
//!
//! Targets are data: a plan period is adopted from a data file through a
//! command, so a 2025–2027 plan needs no release.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent};
use crate::error::{DomainError, check_happened};
use crate::values::{InvestmentThresholds, Name, Slug};

/// A measure of the progress table (附件1) that has a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// 年度招商工作方案.
    AnnualPlans,
    /// 新引进项目: qualifying projects first signed in the period.
    ProjectsLedIn,
    /// 开工项目.
    ProjectsStarted,
    /// 科技招商活动 of every kind.
    Activities,
    /// “走出去”活动.
    GoingOutActivities,
    /// “请进来”活动.
    InvitingInActivities,
    /// “不见面”活动.
    OnlineActivities,
    /// 主要领导外出集中招商.
    LeaderLedGoingOut,
    /// 邀请目标企业来柳: distinct target enterprises in held inviting-in activities.
    TargetEnterprisesInvited,
    /// 线上对接链主企业: distinct chain-leader enterprises in held online activities.
    ChainLeadersMetOnline,
    /// 高质量项目滚动入库.
    ReserveQualityProjects,
    /// 精准对接目标企业: distinct target enterprises docked.
    TargetEnterprisesDocked,
    /// 联席会: quarters with a joint meeting.
    JointMeetingQuarters,
    /// 督导检查: quarters with a supervision inspection.
    SupervisionQuarters,
    /// 月度进展报送.
    MonthlyReports,
    /// 科技招商服务平台.
    ServicePlatforms,
    /// 汇报会: months with the office's report meeting.
    MonthlyReportMeetingMonths,
    /// 工作简报: quarters with a briefing.
    BriefingQuarters,
}

impl Measure {
    /// Every measure, in the order of the progress table.
    pub const ALL: [Measure; 18] = [
        Measure::AnnualPlans,
        Measure::ProjectsLedIn,
        Measure::ProjectsStarted,
        Measure::Activities,
        Measure::GoingOutActivities,
        Measure::InvitingInActivities,
        Measure::OnlineActivities,
        Measure::LeaderLedGoingOut,
        Measure::TargetEnterprisesInvited,
        Measure::ChainLeadersMetOnline,
        Measure::ReserveQualityProjects,
        Measure::TargetEnterprisesDocked,
        Measure::JointMeetingQuarters,
        Measure::SupervisionQuarters,
        Measure::MonthlyReports,
        Measure::ServicePlatforms,
        Measure::MonthlyReportMeetingMonths,
        Measure::BriefingQuarters,
    ];

    /// Code used in storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::AnnualPlans => "annual_plans",
            Self::ProjectsLedIn => "projects_led_in",
            Self::ProjectsStarted => "projects_started",
            Self::Activities => "activities",
            Self::GoingOutActivities => "going_out_activities",
            Self::InvitingInActivities => "inviting_in_activities",
            Self::OnlineActivities => "online_activities",
            Self::LeaderLedGoingOut => "leader_led_going_out",
            Self::TargetEnterprisesInvited => "target_enterprises_invited",
            Self::ChainLeadersMetOnline => "chain_leaders_met_online",
            Self::ReserveQualityProjects => "reserve_quality_projects",
            Self::TargetEnterprisesDocked => "target_enterprises_docked",
            Self::JointMeetingQuarters => "joint_meeting_quarters",
            Self::SupervisionQuarters => "supervision_quarters",
            Self::MonthlyReports => "monthly_reports",
            Self::ServicePlatforms => "service_platforms",
            Self::MonthlyReportMeetingMonths => "monthly_report_meeting_months",
            Self::BriefingQuarters => "briefing_quarters",
        }
    }

    /// The measure by its code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The Chinese heading used in the progress table.
    pub fn label(self) -> &'static str {
        match self {
            Self::AnnualPlans => "年度招商工作方案（个）",
            Self::ProjectsLedIn => "新引进亿元以上工业项目或5000万元以上服务业项目（个）",
            Self::ProjectsStarted => "开工项目（个）",
            Self::Activities => "科技招商活动（场次）",
            Self::GoingOutActivities => "“走出去”招商活动（场次）",
            Self::InvitingInActivities => "“请进来”招商活动（场次）",
            Self::OnlineActivities => "“不见面”招商活动（场次）",
            Self::LeaderLedGoingOut => "主要领导外出集中招商活动（场次）",
            Self::TargetEnterprisesInvited => "邀请目标企业来柳考察洽谈（家）",
            Self::ChainLeadersMetOnline => "线上意向对接链主企业（家）",
            Self::ReserveQualityProjects => "高质量招商引资项目滚动入库（个）",
            Self::TargetEnterprisesDocked => "精准对接目标企业（家）",
            Self::JointMeetingQuarters => "招商工作联席会（季度）",
            Self::SupervisionQuarters => "督导检查（季度）",
            Self::MonthlyReports => "月度进展报送（次）",
            Self::ServicePlatforms => "引进（合作）科技招商服务平台（家）",
            Self::MonthlyReportMeetingMonths => "招商工作汇报会（月）",
            Self::BriefingQuarters => "科技招商工作简报（期）",
        }
    }
}

/// Targets for one scope, by measure.
pub type TargetSet = BTreeMap<Measure, u32>;

/// All targets of a plan period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanTargets {
    /// System-wide targets the plan states for single years (2022 only, in 2022–2024).
    #[serde(default)]
    pub system_years: BTreeMap<i32, TargetSet>,
    /// System-wide targets for the whole period, by the end of its last year.
    #[serde(default)]
    pub system_cumulative: TargetSet,
    /// Per task force, every year (the "1133" action).
    #[serde(default)]
    pub task_force_per_year: TargetSet,
    /// The leading group office, every year.
    #[serde(default)]
    pub office_per_year: TargetSet,
}

/// Adopts a plan period with its targets. Creates the plan period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptPlanPeriod {
    /// The plan's title.
    pub title: Name,
    /// The notice's document number (柳科通〔2022〕60号).
    pub document_number: Name,
    /// Who issued it.
    pub issued_by: Name,
    /// When it was issued.
    pub issued_on: NaiveDate,
    /// The first calendar year it covers.
    pub first_year: i32,
    /// The last calendar year it covers.
    pub last_year: i32,
    /// What a project must reach to count as led in.
    pub investment_thresholds: InvestmentThresholds,
    /// The targets.
    pub targets: PlanTargets,
}

/// What a user can ask of a plan period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanPeriodCommand {
    /// Adopt the plan period.
    Adopt(AdoptPlanPeriod),
}

/// What can have happened to a plan period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum PlanPeriodEvent {
    /// The plan period was adopted.
    #[serde(rename = "plan_period.adopted.v1")]
    Adopted(AdoptPlanPeriod),
}

impl DomainEvent for PlanPeriodEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        match self {
            Self::Adopted(p) => Some(p.issued_on),
        }
    }
}

/// A plan period as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanPeriod {
    /// The adopted plan, once adopted.
    pub adopted: Option<AdoptPlanPeriod>,
}

impl Aggregate for PlanPeriod {
    const TYPE: &'static str = "plan_period";
    type Command = PlanPeriodCommand;
    type Event = PlanPeriodEvent;

    fn decide(&self, command: &PlanPeriodCommand, context: &DecisionContext) -> Result<PlanPeriodEvent, DomainError> {
        match command {
            PlanPeriodCommand::Adopt(plan) => {
                if self.adopted.is_some() {
                    return Err(DomainError::AlreadyExists { aggregate_type: Self::TYPE });
                }
                if !(2000..=2100).contains(&plan.first_year)
                    || plan.last_year < plan.first_year
                    || plan.last_year > 2100
                {
                    return Err(DomainError::invalid(
                        "last_year",
                        "year_range",
                        "规划期须在 2000 至 2100 年之间，且结束年份不早于开始年份",
                    ));
                }
                if let Some(year) =
                    plan.targets.system_years.keys().find(|y| !(plan.first_year..=plan.last_year).contains(*y))
                {
                    return Err(DomainError::invalid(
                        "targets.system_years",
                        "year_in_period",
                        format!("{year} 年不在规划期 {}—{} 内", plan.first_year, plan.last_year),
                    ));
                }
                check_happened("issued_on", plan.issued_on, context.today)?;
                Ok(PlanPeriodEvent::Adopted(plan.clone()))
            }
        }
    }

    fn evolve(mut self, event: &PlanPeriodEvent) -> Self {
        match event {
            PlanPeriodEvent::Adopted(plan) => self.adopted = Some(plan.clone()),
        }
        self
    }

    fn exists(&self) -> bool {
        self.adopted.is_some()
    }
}

/// A person's role in the leading group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadingGroupRole {
    /// 组长.
    Leader,
    /// 副组长.
    Deputy,
    /// 成员.
    Member,
}

/// A member of the leading group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadingGroupMember {
    /// The person's name.
    pub name: Name,
    /// Leader, deputy or member.
    pub role: LeadingGroupRole,
    /// The person's post (市科学技术局党组书记、局长).
    pub title: Name,
}

/// Forms the leading group. Creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormLeadingGroup {
    /// The plan period it leads.
    pub plan_period_id: Slug,
    /// Its name.
    pub name: Name,
    /// The office's name (领导小组办公室).
    pub office_name: Name,
    /// The department that houses the office.
    pub office_department: Name,
    /// The office's director.
    pub office_director: Name,
    /// The members, in the plan's order.
    pub members: Vec<LeadingGroupMember>,
    /// When it was formed.
    pub on: NaiveDate,
}

/// What a user can ask of the leading group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadingGroupCommand {
    /// Form the leading group.
    Form(FormLeadingGroup),
}

/// What can have happened to the leading group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum LeadingGroupEvent {
    /// The leading group was formed.
    #[serde(rename = "leading_group.formed.v1")]
    Formed(FormLeadingGroup),
}

impl DomainEvent for LeadingGroupEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        match self {
            Self::Formed(g) => Some(g.on),
        }
    }
}

/// The leading group as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadingGroup {
    /// Whether it has been formed.
    pub formed: bool,
}

impl Aggregate for LeadingGroup {
    const TYPE: &'static str = "leading_group";
    type Command = LeadingGroupCommand;
    type Event = LeadingGroupEvent;

    fn decide(
        &self,
        command: &LeadingGroupCommand,
        context: &DecisionContext,
    ) -> Result<LeadingGroupEvent, DomainError> {
        match command {
            LeadingGroupCommand::Form(group) => {
                if self.formed {
                    return Err(DomainError::AlreadyExists { aggregate_type: Self::TYPE });
                }
                if !group.members.iter().any(|m| m.role == LeadingGroupRole::Leader) {
                    return Err(DomainError::invalid("members", "leader_required", "领导小组须有一名组长"));
                }
                check_happened("on", group.on, context.today)?;
                Ok(LeadingGroupEvent::Formed(group.clone()))
            }
        }
    }

    fn evolve(mut self, event: &LeadingGroupEvent) -> Self {
        match event {
            LeadingGroupEvent::Formed(_) => self.formed = true,
        }
        self
    }

    fn exists(&self) -> bool {
        self.formed
    }
}

//! The project (招商项目): from a lead to a producing plant, on the plan's path
//! 谈得来、推得动、签得约、落得地.
//!
//! Stages, strictly in this order, each with its own date that is never
//! earlier than the previous stage's: lead (线索/推介) → negotiating (在谈) →
//! signed (签约) → company registered (注册) → construction started (开工) →
//! producing (竣工投产). Funds arrived (到资) accumulate from signing on. A
//! project can stall (and resume) or be dropped, each with a reason.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
use crate::error::{DomainError, check_happened};
use crate::values::{InvestmentThresholds, Name, ProjectCategory, Slug, Text, Yuan};

/// Where a project stands on its path. Ordered: a later stage compares greater.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStage {
    /// 线索/推介: known and being promoted to.
    #[default]
    Lead,
    /// 在谈: in negotiation.
    Negotiating,
    /// 签约: an agreement (framework or contract) is signed.
    Signed,
    /// 注册: the investor's company is registered locally.
    CompanyRegistered,
    /// 开工: construction has started.
    ConstructionStarted,
    /// 竣工投产: completed and producing.
    Producing,
}

impl ProjectStage {
    /// Code used in storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::Lead => "lead",
            Self::Negotiating => "negotiating",
            Self::Signed => "signed",
            Self::CompanyRegistered => "company_registered",
            Self::ConstructionStarted => "construction_started",
            Self::Producing => "producing",
        }
    }

    /// The Chinese name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Lead => "线索/推介",
            Self::Negotiating => "在谈",
            Self::Signed => "签约",
            Self::CompanyRegistered => "注册",
            Self::ConstructionStarted => "开工",
            Self::Producing => "竣工投产",
        }
    }
}

/// Whether a project is moving, paused or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// Moving along its path.
    #[default]
    Active,
    /// 停滞: paused, with a reason; it can resume.
    Stalled,
    /// 终止: given up, with a reason; nothing further can be recorded.
    Dropped,
}

/// What kind of agreement a signing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgreementKind {
    /// 框架协议 / 投资协议: a framework agreement, usually first.
    Framework,
    /// 正式合同: the formal contract.
    Contract,
}

/// Records a new project lead (线索). Creates the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordProjectLead {
    /// The task force that leads the project in.
    pub task_force_id: Slug,
    /// The project's name.
    pub name: Name,
    /// The investing enterprise (投资方).
    pub investor: Name,
    /// Industrial or service: decides the investment threshold.
    pub category: ProjectCategory,
    /// The investment expected, in yuan, when known.
    #[serde(default)]
    pub planned_investment_yuan: Option<Yuan>,
    /// The convener who owns the project (召集人分包制).
    pub owner: Name,
    /// When the lead was first recorded in the world.
    pub on: NaiveDate,
}

/// Records that negotiation (洽谈) has started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartNegotiation {
    /// When negotiation started.
    pub on: NaiveDate,
    /// What was discussed, if worth keeping.
    #[serde(default)]
    pub note: Option<Text>,
}

/// Records a signing (签约).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignProject {
    /// The signing date.
    pub on: NaiveDate,
    /// Framework agreement or formal contract.
    pub agreement: AgreementKind,
    /// The investment contracted at this signing, in yuan.
    pub investment_yuan: Yuan,
    /// Reference to the signed document (file number, archive id).
    #[serde(default)]
    pub evidence: Option<Name>,
    /// The plan's thresholds in force; filled in by the command service from
    /// the plan period, not by the user.
    #[serde(skip, default)]
    pub thresholds: InvestmentThresholds,
}

/// Records a dated stage that needs nothing but a date and evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatedStep {
    /// When it happened.
    pub on: NaiveDate,
    /// Reference to the evidence (licence number, photo archive id).
    #[serde(default)]
    pub evidence: Option<Name>,
}

/// Records the local company's registration (注册).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCompany {
    /// The registration date.
    pub on: NaiveDate,
    /// The registered company's name.
    pub company_name: Name,
    /// Reference to the business licence.
    #[serde(default)]
    pub evidence: Option<Name>,
}

/// Records an amount of money (funds arrived, an increase of investment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatedAmount {
    /// When it happened.
    pub on: NaiveDate,
    /// The amount, in yuan.
    pub amount_yuan: Yuan,
}

/// Records a date and why (stalling, dropping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatedReason {
    /// When it happened.
    pub on: NaiveDate,
    /// Why, in plain words.
    pub reason: Text,
}

/// Hands the project to another convener (召集人分包制: every project has
/// one owner who answers for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOwner {
    /// The convener who owns the project from now on.
    pub owner: Name,
    /// From when.
    pub on: NaiveDate,
    /// Why, when worth keeping.
    #[serde(default)]
    pub reason: Option<Text>,
}

/// A note on how the project is moving (最新进展), for the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteProgress {
    /// The date the note describes.
    pub on: NaiveDate,
    /// What happened.
    pub note: Text,
}

/// A problem the project needs help with (存在问题), raised so that the
/// convener or the office can act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RaiseProblem {
    /// The problem's id within the project, chosen by the caller (`land-1`).
    pub problem_id: Slug,
    /// When it was raised.
    pub on: NaiveDate,
    /// The problem, in plain words.
    pub description: Text,
    /// Who is asked to help (a department, a district, a leader).
    #[serde(default)]
    pub help_from: Option<Name>,
}

/// How a problem was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveProblem {
    /// The problem's id, as raised.
    pub problem_id: Slug,
    /// When it was resolved.
    pub on: NaiveDate,
    /// How.
    pub resolution: Text,
}

/// A new investor takes the project over (变更投资主体). The plan's counting
/// rules treat this as a new signing: the project goes back to negotiation
/// with the new investor, and its next signing counts (and qualifies) anew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeInvestor {
    /// The new investing enterprise.
    pub investor: Name,
    /// When the change was agreed.
    pub on: NaiveDate,
    /// Why.
    pub reason: Text,
}

/// What a user can ask of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectCommand {
    /// Create the project as a lead.
    RecordLead(RecordProjectLead),
    /// Lead → negotiating.
    StartNegotiation(StartNegotiation),
    /// Negotiating → signed, or a later signing (framework → contract).
    Sign(SignProject),
    /// Signed → company registered.
    RegisterCompany(RegisterCompany),
    /// Company registered → construction started.
    StartConstruction(DatedStep),
    /// Construction started → producing.
    StartProduction(DatedStep),
    /// Money arrived (到资), from signing on.
    RecordFundsArrived(DatedAmount),
    /// A capital increase (增资): adds to the contracted total only.
    IncreaseInvestment(DatedAmount),
    /// Put into the rolling reserve of quality projects (滚动入库).
    EnterReserve(DatedStep),
    /// Pause, with a reason.
    Stall(DatedReason),
    /// Resume after a stall.
    Resume(DatedStep),
    /// Give up, with a reason.
    Drop(DatedReason),
    /// Hand the project to another convener.
    ChangeOwner(ChangeOwner),
    /// Note progress for the ledger.
    NoteProgress(NoteProgress),
    /// Raise a problem needing help.
    RaiseProblem(RaiseProblem),
    /// Record how a problem was resolved.
    ResolveProblem(ResolveProblem),
    /// A new investor takes over: counts as a new signing.
    ChangeInvestor(ChangeInvestor),
}

/// What can have happened to a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum ProjectEvent {
    /// A lead was recorded; the project exists from now on.
    #[serde(rename = "project.lead_recorded.v1")]
    LeadRecorded(RecordProjectLead),
    /// Negotiation started.
    #[serde(rename = "project.negotiation_started.v1")]
    NegotiationStarted(StartNegotiation),
    /// An agreement was signed.
    #[serde(rename = "project.signed.v1")]
    Signed(ProjectSigned),
    /// The local company was registered.
    #[serde(rename = "project.company_registered.v1")]
    CompanyRegistered(RegisterCompany),
    /// Construction started (开工).
    #[serde(rename = "project.construction_started.v1")]
    ConstructionStarted(DatedStep),
    /// The project is producing (竣工投产).
    #[serde(rename = "project.production_started.v1")]
    ProductionStarted(DatedStep),
    /// Funds arrived (到资).
    #[serde(rename = "project.funds_arrived.v1")]
    FundsArrived(ProjectFundsArrived),
    /// The contracted investment grew (增资).
    #[serde(rename = "project.investment_increased.v1")]
    InvestmentIncreased(DatedAmount),
    /// The project entered the reserve (入库).
    #[serde(rename = "project.reserve_entered.v1")]
    ReserveEntered(DatedStep),
    /// The project stalled.
    #[serde(rename = "project.stalled.v1")]
    Stalled(DatedReason),
    /// The project resumed.
    #[serde(rename = "project.resumed.v1")]
    Resumed(DatedStep),
    /// The project was dropped.
    #[serde(rename = "project.dropped.v1")]
    Dropped(DatedReason),
    /// Another convener owns the project.
    #[serde(rename = "project.owner_changed.v1")]
    OwnerChanged(ChangeOwner),
    /// Progress was noted.
    #[serde(rename = "project.progress_noted.v1")]
    ProgressNoted(NoteProgress),
    /// A problem needing help was raised.
    #[serde(rename = "project.problem_raised.v1")]
    ProblemRaised(RaiseProblem),
    /// A problem was resolved.
    #[serde(rename = "project.problem_resolved.v1")]
    ProblemResolved(ResolveProblem),
    /// A new investor took over; a signed project is back in negotiation
    /// and its next signing counts as a new one.
    #[serde(rename = "project.investor_changed.v1")]
    InvestorChanged(ChangeInvestor),
}

/// A signing, with what the counting rules need decided once, at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSigned {
    /// The signing date.
    pub on: NaiveDate,
    /// Framework agreement or formal contract.
    pub agreement: AgreementKind,
    /// The investment contracted at this signing, in yuan.
    pub investment_yuan: Yuan,
    /// Reference to the signed document.
    #[serde(default)]
    pub evidence: Option<Name>,
    /// True for the project's first signing, the one that counts it as led in.
    pub first_signing: bool,
    /// Whether the first signing's investment reached the plan's threshold.
    /// Decided at the first signing and never changed by later ones.
    pub qualifies: bool,
}

/// Funds that arrived, with the running total after them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectFundsArrived {
    /// When the money arrived.
    pub on: NaiveDate,
    /// How much arrived this time, in yuan.
    pub amount_yuan: Yuan,
    /// All funds arrived so far, this amount included, in yuan.
    pub cumulative_yuan: i64,
}

impl DomainEvent for ProjectEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        Some(match self {
            Self::LeadRecorded(e) => e.on,
            Self::NegotiationStarted(e) => e.on,
            Self::Signed(e) => e.on,
            Self::CompanyRegistered(e) => e.on,
            Self::ConstructionStarted(e) | Self::ProductionStarted(e) | Self::ReserveEntered(e) | Self::Resumed(e) => {
                e.on
            }
            Self::FundsArrived(e) => e.on,
            Self::InvestmentIncreased(e) => e.on,
            Self::Stalled(e) | Self::Dropped(e) => e.on,
            Self::OwnerChanged(e) => e.on,
            Self::ProgressNoted(e) => e.on,
            Self::ProblemRaised(e) => e.on,
            Self::ProblemResolved(e) => e.on,
            Self::InvestorChanged(e) => e.on,
        })
    }
}

/// A project as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Project {
    /// Whether the lead has been recorded.
    pub exists: bool,
    /// The task force that owns it.
    pub task_force_id: Option<Slug>,
    /// Industrial or service.
    pub category: Option<ProjectCategory>,
    /// Where it stands.
    pub stage: ProjectStage,
    /// The date of the latest stage, the lower bound for the next one.
    pub stage_on: Option<NaiveDate>,
    /// Active, stalled or dropped.
    pub status: ProjectStatus,
    /// Date of the first signing, once signed.
    pub first_signed_on: Option<NaiveDate>,
    /// Whether a formal contract has been signed.
    pub contract_signed: bool,
    /// Whether the first signing qualified.
    pub qualifies: bool,
    /// Investment contracted: the larger of the first signing's and the
    /// formal contract's figures, plus every later increase, in yuan.
    pub contracted_yuan: i64,
    /// The first signing's figure, in yuan.
    pub signed_yuan: i64,
    /// The later formal contract's figure, in yuan (0 until there is one).
    pub contract_yuan: i64,
    /// The sum of capital increases (增资), in yuan.
    pub increased_yuan: i64,
    /// Funds arrived so far, in yuan.
    pub funds_arrived_yuan: i64,
    /// When the project entered the reserve, if it has.
    pub reserve_entered_on: Option<NaiveDate>,
    /// The date of the latest status change (stall, resume, drop).
    pub status_on: Option<NaiveDate>,
    /// The investing enterprise now.
    pub investor: Option<Name>,
    /// Problems raised and not yet resolved, with the date each was raised.
    pub open_problems: std::collections::BTreeMap<Slug, NaiveDate>,
    /// Ids of every problem ever raised (an id is never reused).
    pub problems_raised: std::collections::BTreeSet<Slug>,
}

impl Project {
    fn latest_date(&self) -> Option<NaiveDate> {
        match (self.stage_on, self.status_on) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn check_step(&self, next: ProjectStage, on: NaiveDate, context: &DecisionContext) -> Result<(), DomainError> {
        self.check_movable()?;
        let expected_previous = match next {
            ProjectStage::Lead => unreachable!("a lead is recorded, never stepped into"),
            ProjectStage::Negotiating => ProjectStage::Lead,
            ProjectStage::Signed => ProjectStage::Negotiating,
            ProjectStage::CompanyRegistered => ProjectStage::Signed,
            ProjectStage::ConstructionStarted => ProjectStage::CompanyRegistered,
            ProjectStage::Producing => ProjectStage::ConstructionStarted,
        };
        if self.stage != expected_previous {
            return Err(DomainError::not_allowed(
                "stage_order",
                format!(
                    "项目当前阶段为「{}」，只能从「{}」进入「{}」",
                    self.stage.label(),
                    expected_previous.label(),
                    next.label()
                ),
            ));
        }
        self.check_date(on, context)
    }

    fn check_date(&self, on: NaiveDate, context: &DecisionContext) -> Result<(), DomainError> {
        check_happened("on", on, context.today)?;
        if let Some(previous) = self.latest_date() {
            if on < previous {
                return Err(DomainError::invalid(
                    "on",
                    "not_before_previous_step",
                    format!("日期 {on} 早于项目上一环节的日期 {previous}"),
                ));
            }
        }
        Ok(())
    }

    fn check_movable(&self) -> Result<(), DomainError> {
        match self.status {
            ProjectStatus::Active => Ok(()),
            ProjectStatus::Stalled => {
                Err(DomainError::not_allowed("project_stalled", "项目处于停滞状态，请先登记恢复推进"))
            }
            ProjectStatus::Dropped => Err(DomainError::not_allowed("project_dropped", "项目已终止，不能再登记进展")),
        }
    }

    fn check_signed(&self) -> Result<(), DomainError> {
        if self.first_signed_on.is_none() {
            return Err(DomainError::not_allowed("must_be_signed", "项目尚未签约"));
        }
        Ok(())
    }
}

impl Aggregate for Project {
    const TYPE: &'static str = "project";
    type Command = ProjectCommand;
    type Event = ProjectEvent;

    fn decide(&self, command: &ProjectCommand, context: &DecisionContext) -> Result<ProjectEvent, DomainError> {
        if let ProjectCommand::RecordLead(lead) = command {
            if self.exists {
                return Err(DomainError::AlreadyExists { aggregate_type: Self::TYPE });
            }
            check_happened("on", lead.on, context.today)?;
            return Ok(ProjectEvent::LeadRecorded(lead.clone()));
        }
        if !self.exists {
            return Err(DomainError::NotFound { aggregate_type: Self::TYPE });
        }
        // A dropped project is closed: every later command gets this answer,
        // before any check that would name a lesser reason (not signed, not stalled).
        if self.status == ProjectStatus::Dropped {
            return Err(DomainError::not_allowed("project_dropped", "项目已终止，不能再登记进展"));
        }
        match command {
            ProjectCommand::RecordLead(_) => unreachable!("handled above"),
            ProjectCommand::StartNegotiation(step) => {
                self.check_step(ProjectStage::Negotiating, step.on, context)?;
                Ok(ProjectEvent::NegotiationStarted(step.clone()))
            }
            ProjectCommand::Sign(sign) => {
                let first_signing = self.first_signed_on.is_none();
                if first_signing {
                    self.check_step(ProjectStage::Signed, sign.on, context)?;
                } else {
                    self.check_movable()?;
                    self.check_date(sign.on, context)?;
                    if self.contract_signed || sign.agreement == AgreementKind::Framework {
                        return Err(DomainError::not_allowed(
                            "already_signed",
                            "项目已签约；再次签约只能是框架协议之后的正式合同（增资请登记增资）",
                        ));
                    }
                }
                let qualifies = if first_signing {
                    let category = self.category.unwrap_or(ProjectCategory::Industrial);
                    sign.thresholds.qualifies(category, sign.investment_yuan)
                } else {
                    self.qualifies
                };
                Ok(ProjectEvent::Signed(ProjectSigned {
                    on: sign.on,
                    agreement: sign.agreement,
                    investment_yuan: sign.investment_yuan,
                    evidence: sign.evidence.clone(),
                    first_signing,
                    qualifies,
                }))
            }
            ProjectCommand::RegisterCompany(step) => {
                self.check_step(ProjectStage::CompanyRegistered, step.on, context)?;
                Ok(ProjectEvent::CompanyRegistered(step.clone()))
            }
            ProjectCommand::StartConstruction(step) => {
                self.check_step(ProjectStage::ConstructionStarted, step.on, context)?;
                Ok(ProjectEvent::ConstructionStarted(step.clone()))
            }
            ProjectCommand::StartProduction(step) => {
                self.check_step(ProjectStage::Producing, step.on, context)?;
                Ok(ProjectEvent::ProductionStarted(step.clone()))
            }
            ProjectCommand::RecordFundsArrived(amount) => {
                self.check_signed()?;
                if self.status == ProjectStatus::Dropped {
                    self.check_movable()?;
                }
                check_happened("on", amount.on, context.today)?;
                let first_signed_on = self.first_signed_on.unwrap_or(amount.on);
                if amount.on < first_signed_on {
                    return Err(DomainError::invalid(
                        "on",
                        "not_before_signing",
                        format!("到资日期 {} 早于首次签约日期 {first_signed_on}", amount.on),
                    ));
                }
                let cumulative_yuan =
                    self.funds_arrived_yuan.checked_add(amount.amount_yuan.get()).ok_or_else(|| {
                        DomainError::invalid("amount_yuan", "amount_too_large", "累计到资金额超出可记录范围")
                    })?;
                Ok(ProjectEvent::FundsArrived(ProjectFundsArrived {
                    on: amount.on,
                    amount_yuan: amount.amount_yuan,
                    cumulative_yuan,
                }))
            }
            ProjectCommand::IncreaseInvestment(amount) => {
                self.check_signed()?;
                self.check_movable()?;
                self.check_date(amount.on, context)?;
                Ok(ProjectEvent::InvestmentIncreased(amount.clone()))
            }
            ProjectCommand::EnterReserve(step) => {
                if self.status == ProjectStatus::Dropped {
                    self.check_movable()?;
                }
                if let Some(entered) = self.reserve_entered_on {
                    return Err(DomainError::not_allowed("already_in_reserve", format!("项目已于 {entered} 入库")));
                }
                check_happened("on", step.on, context.today)?;
                Ok(ProjectEvent::ReserveEntered(step.clone()))
            }
            ProjectCommand::Stall(reason) => {
                self.check_movable()?;
                self.check_date(reason.on, context)?;
                Ok(ProjectEvent::Stalled(reason.clone()))
            }
            ProjectCommand::Resume(step) => {
                if self.status != ProjectStatus::Stalled {
                    return Err(DomainError::not_allowed("must_be_stalled", "项目未处于停滞状态，无需恢复"));
                }
                self.check_date(step.on, context)?;
                Ok(ProjectEvent::Resumed(step.clone()))
            }
            ProjectCommand::Drop(reason) => {
                if self.status == ProjectStatus::Dropped {
                    return Err(DomainError::not_allowed("project_dropped", "项目已终止"));
                }
                self.check_date(reason.on, context)?;
                Ok(ProjectEvent::Dropped(reason.clone()))
            }
            ProjectCommand::ChangeOwner(change) => {
                check_happened("on", change.on, context.today)?;
                Ok(ProjectEvent::OwnerChanged(change.clone()))
            }
            ProjectCommand::NoteProgress(note) => {
                check_happened("on", note.on, context.today)?;
                Ok(ProjectEvent::ProgressNoted(note.clone()))
            }
            ProjectCommand::RaiseProblem(problem) => {
                check_happened("on", problem.on, context.today)?;
                if self.problems_raised.contains(&problem.problem_id) {
                    return Err(DomainError::invalid(
                        "problem_id",
                        "problem_id_unique",
                        format!("问题编号「{}」已在本项目使用过，请换一个编号", problem.problem_id),
                    ));
                }
                Ok(ProjectEvent::ProblemRaised(problem.clone()))
            }
            ProjectCommand::ResolveProblem(resolution) => {
                check_happened("on", resolution.on, context.today)?;
                let Some(raised_on) = self.open_problems.get(&resolution.problem_id) else {
                    let message = if self.problems_raised.contains(&resolution.problem_id) {
                        format!("问题「{}」已经解决", resolution.problem_id)
                    } else {
                        format!("本项目没有编号为「{}」的问题", resolution.problem_id)
                    };
                    return Err(DomainError::invalid("problem_id", "problem_must_be_open", message));
                };
                if resolution.on < *raised_on {
                    return Err(DomainError::invalid(
                        "on",
                        "not_before_raised",
                        format!("解决日期 {} 早于问题提出日期 {raised_on}", resolution.on),
                    ));
                }
                Ok(ProjectEvent::ProblemResolved(resolution.clone()))
            }
            ProjectCommand::ChangeInvestor(change) => {
                self.check_movable()?;
                self.check_date(change.on, context)?;
                if self.investor.as_ref() == Some(&change.investor) {
                    return Err(DomainError::invalid(
                        "investor",
                        "investor_must_change",
                        format!("「{}」已是本项目的投资方", change.investor),
                    ));
                }
                if self.stage > ProjectStage::Signed {
                    return Err(DomainError::not_allowed(
                        "investor_change_before_registration",
                        "项目公司已注册，投资方变更请作为新项目登记",
                    ));
                }
                Ok(ProjectEvent::InvestorChanged(change.clone()))
            }
        }
    }

    fn evolve(mut self, event: &ProjectEvent) -> Self {
        match event {
            ProjectEvent::LeadRecorded(lead) => {
                self.exists = true;
                self.task_force_id = Some(lead.task_force_id.clone());
                self.category = Some(lead.category);
                self.investor = Some(lead.investor.clone());
                self.stage = ProjectStage::Lead;
                self.stage_on = Some(lead.on);
            }
            ProjectEvent::NegotiationStarted(step) => {
                self.stage = ProjectStage::Negotiating;
                self.stage_on = Some(step.on);
            }
            ProjectEvent::Signed(signed) => {
                if signed.first_signing {
                    self.first_signed_on = Some(signed.on);
                    self.qualifies = signed.qualifies;
                    self.signed_yuan = signed.investment_yuan.get();
                    self.stage = ProjectStage::Signed;
                } else {
                    // A later contract restates the framework's figure, it does not add to it.
                    self.contract_yuan = signed.investment_yuan.get();
                }
                self.contracted_yuan = self.signed_yuan.max(self.contract_yuan) + self.increased_yuan;
                if signed.agreement == AgreementKind::Contract {
                    self.contract_signed = true;
                }
                self.stage_on = Some(signed.on);
            }
            ProjectEvent::CompanyRegistered(step) => {
                self.stage = ProjectStage::CompanyRegistered;
                self.stage_on = Some(step.on);
            }
            ProjectEvent::ConstructionStarted(step) => {
                self.stage = ProjectStage::ConstructionStarted;
                self.stage_on = Some(step.on);
            }
            ProjectEvent::ProductionStarted(step) => {
                self.stage = ProjectStage::Producing;
                self.stage_on = Some(step.on);
            }
            ProjectEvent::FundsArrived(funds) => self.funds_arrived_yuan = funds.cumulative_yuan,
            ProjectEvent::InvestmentIncreased(amount) => {
                self.increased_yuan += amount.amount_yuan.get();
                self.contracted_yuan = self.signed_yuan.max(self.contract_yuan) + self.increased_yuan;
            }
            ProjectEvent::ReserveEntered(step) => self.reserve_entered_on = Some(step.on),
            ProjectEvent::Stalled(reason) => {
                self.status = ProjectStatus::Stalled;
                self.status_on = Some(reason.on);
            }
            ProjectEvent::Resumed(step) => {
                self.status = ProjectStatus::Active;
                self.status_on = Some(step.on);
            }
            ProjectEvent::Dropped(reason) => {
                self.status = ProjectStatus::Dropped;
                self.status_on = Some(reason.on);
            }
            ProjectEvent::OwnerChanged(_) | ProjectEvent::ProgressNoted(_) => {}
            ProjectEvent::ProblemRaised(problem) => {
                self.problems_raised.insert(problem.problem_id.clone());
                self.open_problems.insert(problem.problem_id.clone(), problem.on);
            }
            ProjectEvent::ProblemResolved(resolution) => {
                self.open_problems.remove(&resolution.problem_id);
            }
            ProjectEvent::InvestorChanged(change) => {
                self.investor = Some(change.investor.clone());
                if self.first_signed_on.is_some() {
                    // A new signing with the new investor will count anew.
                    self.stage = ProjectStage::Negotiating;
                    self.first_signed_on = None;
                    self.contract_signed = false;
                    self.qualifies = false;
                    self.signed_yuan = 0;
                    self.contract_yuan = 0;
                    self.increased_yuan = 0;
                    self.contracted_yuan = 0;
                }
                self.stage_on = Some(change.on);
            }
        }
        self
    }

    fn responsibility(&self, _id: &str, event: &ProjectEvent) -> Responsibility {
        // A project is its task force's fact from its lead on; the lead names it.
        let task_force = match (event, &self.task_force_id) {
            (ProjectEvent::LeadRecorded(lead), _) => lead.task_force_id.as_str(),
            (_, Some(task_force)) => task_force.as_str(),
            (_, None) => return Responsibility::Office,
        };
        Responsibility::TaskForce(task_force.to_owned())
    }

    fn exists(&self) -> bool {
        self.exists
    }
}

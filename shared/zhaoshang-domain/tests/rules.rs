//! The domain's rules, one test (or more) per rule, read as given / when / then.
//!
//! Every test asserts on the exact rule code a refusal carries, or on the event
//! an accepted command produces, so that breaking a rule breaks a test. "Today"
//! is fixed at [`TODAY`] so that future-date rules are tested at their edge.

use std::collections::BTreeMap;
use std::fmt::Debug;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use zhaoshang_domain::activity::{
    Activity, ActivityCommand, ActivityDetails, ActivityEvent, ActivityStatus, CancelActivity,
};
use zhaoshang_domain::envelope::EVENT_TYPE_PREFIX;
use zhaoshang_domain::meeting::{Meeting, MeetingCommand, MeetingEvent, RecordMeetingConvened};
use zhaoshang_domain::plan::{AdoptPlanPeriod, Measure, PlanPeriod, PlanPeriodCommand, PlanPeriodEvent, PlanTargets};
use zhaoshang_domain::project::{
    AgreementKind, DatedAmount, DatedReason, DatedStep, Project, ProjectCommand, ProjectEvent, ProjectFundsArrived,
    ProjectSigned, ProjectStage, ProjectStatus, RecordProjectLead, RegisterCompany, SignProject, StartNegotiation,
};
use zhaoshang_domain::task_force::{
    AssignLiaison, ChangePerson, DockingMethod, EstablishTaskForce, RecordDocking, SubmitAnnualPlan, TaskForce,
    TaskForceCommand, TaskForceEvent,
};
use zhaoshang_domain::testing::{Scenario, date, name, slug, text, yuan};
use zhaoshang_domain::values::{
    ActivityKind, EnterpriseInvolved, EnterpriseRole, InvestmentThresholds, MeetingKind, ProjectCategory, ValueError,
    YUAN_MAX, Yuan,
};
use zhaoshang_domain::{DomainError, DomainEvent, EventEnvelope, EventMetadata};

/// "Today" in every scenario: the last day of 2024 Q2.
const TODAY: &str = "2024-06-30";
/// The day after [`TODAY`], the first date a fact may not carry.
const TOMORROW: &str = "2024-07-01";

// ---------------------------------------------------------------------------
// Small builders. Test data must be valid, so they panic on a typo.
// ---------------------------------------------------------------------------

/// The rule code of a refusal; panics, naming the event, when it was accepted.
fn refused<E: Debug>(result: Result<E, DomainError>) -> &'static str {
    match result {
        Ok(event) => panic!("expected a refusal, got {event:?}"),
        Err(error) => error.rule(),
    }
}

// ---------------------------------------------------------------------------
// Project builders.
// ---------------------------------------------------------------------------

fn lead_body(category: ProjectCategory, on: &str) -> RecordProjectLead {
    RecordProjectLead {
        task_force_id: slug("automotive"),
        name: name("新能源汽车电驱动系统项目"),
        investor: name("某电驱动科技有限公司"),
        category,
        planned_investment_yuan: Some(yuan(150_000_000)),
        owner: name("李荣军"),
        on: date(on),
    }
}

fn record_lead(category: ProjectCategory, on: &str) -> ProjectCommand {
    ProjectCommand::RecordLead(lead_body(category, on))
}

fn start_negotiation(on: &str) -> ProjectCommand {
    ProjectCommand::StartNegotiation(StartNegotiation { on: date(on), note: None })
}

/// A signing under the 2022–2024 plan, as the command service fills it in.
fn sign(agreement: AgreementKind, amount: i64, on: &str) -> ProjectCommand {
    ProjectCommand::Sign(SignProject {
        on: date(on),
        agreement,
        investment_yuan: yuan(amount),
        evidence: Some(name("柳东新区投资协议〔2023〕12号")),
        thresholds: InvestmentThresholds::PLAN_2022_2024,
    })
}

fn step(on: &str) -> DatedStep {
    DatedStep { on: date(on), evidence: None }
}

fn register_company(on: &str) -> ProjectCommand {
    ProjectCommand::RegisterCompany(RegisterCompany {
        on: date(on),
        company_name: name("某电驱动科技（柳州）有限公司"),
        evidence: None,
    })
}

fn start_construction(on: &str) -> ProjectCommand {
    ProjectCommand::StartConstruction(step(on))
}

fn start_production(on: &str) -> ProjectCommand {
    ProjectCommand::StartProduction(step(on))
}

fn funds_arrived(amount: i64, on: &str) -> ProjectCommand {
    ProjectCommand::RecordFundsArrived(DatedAmount { on: date(on), amount_yuan: yuan(amount) })
}

fn increase_investment(amount: i64, on: &str) -> ProjectCommand {
    ProjectCommand::IncreaseInvestment(DatedAmount { on: date(on), amount_yuan: yuan(amount) })
}

fn stall(on: &str) -> ProjectCommand {
    ProjectCommand::Stall(DatedReason { on: date(on), reason: text("投资方资金链紧张，暂缓推进") })
}

fn resume(on: &str) -> ProjectCommand {
    ProjectCommand::Resume(step(on))
}

fn drop_project(on: &str) -> ProjectCommand {
    ProjectCommand::Drop(DatedReason { on: date(on), reason: text("投资方改变投资地点") })
}

fn signed_event(agreement: AgreementKind, amount: i64, on: &str, first_signing: bool, qualifies: bool) -> ProjectEvent {
    ProjectEvent::Signed(ProjectSigned {
        on: date(on),
        agreement,
        investment_yuan: yuan(amount),
        evidence: None,
        first_signing,
        qualifies,
    })
}

/// An industrial lead recorded on 2023-01-10, in negotiation from 2023-02-01.
fn negotiating_project() -> Scenario<Project> {
    Scenario::on(TODAY).given([
        ProjectEvent::LeadRecorded(lead_body(ProjectCategory::Industrial, "2023-01-10")),
        ProjectEvent::NegotiationStarted(StartNegotiation { on: date("2023-02-01"), note: None }),
    ])
}

/// An industrial project whose first signing was on 2023-06-01.
fn signed_project(agreement: AgreementKind, amount: i64, qualifies: bool) -> Scenario<Project> {
    negotiating_project().given([signed_event(agreement, amount, "2023-06-01", true, qualifies)])
}

// ---------------------------------------------------------------------------
// Project: the path in order.
// ---------------------------------------------------------------------------

#[test]
fn project_walks_lead_negotiating_signed_registered_started_producing_in_order() {
    let steps = [
        (record_lead(ProjectCategory::Industrial, "2023-01-10"), ProjectStage::Lead),
        (start_negotiation("2023-02-01"), ProjectStage::Negotiating),
        (sign(AgreementKind::Contract, 120_000_000, "2023-06-01"), ProjectStage::Signed),
        (register_company("2023-07-15"), ProjectStage::CompanyRegistered),
        (start_construction("2023-09-01"), ProjectStage::ConstructionStarted),
        (start_production("2024-05-20"), ProjectStage::Producing),
    ];
    let mut scenario = Scenario::<Project>::on(TODAY);
    for (command, stage) in steps {
        scenario =
            scenario.then_apply(command).unwrap_or_else(|error| panic!("the step into {stage:?} is refused: {error}"));
        assert_eq!(scenario.state().stage, stage);
    }
    assert_eq!(scenario.state().status, ProjectStatus::Active);
    assert_eq!(scenario.state().stage_on, Some(date("2024-05-20")));
}

#[test]
fn project_stage_events_carry_their_dates() {
    // The negotiation event is the command's own facts, so reports can show its date.
    let given = Scenario::<Project>::on(TODAY)
        .given([ProjectEvent::LeadRecorded(lead_body(ProjectCategory::Industrial, "2023-01-10"))]);
    let event = given.when(start_negotiation("2023-02-01")).unwrap();
    assert_eq!(event, ProjectEvent::NegotiationStarted(StartNegotiation { on: date("2023-02-01"), note: None }));
    assert_eq!(event.occurred_on(), Some(date("2023-02-01")));
}

#[test]
fn skipping_a_stage_is_refused() {
    let lead = Scenario::<Project>::on(TODAY)
        .given([ProjectEvent::LeadRecorded(lead_body(ProjectCategory::Industrial, "2023-01-10"))]);
    assert_eq!(refused(lead.when(sign(AgreementKind::Contract, 120_000_000, "2023-06-01"))), "stage_order");
    assert_eq!(refused(lead.when(register_company("2023-06-01"))), "stage_order");

    let negotiating = negotiating_project();
    assert_eq!(refused(negotiating.when(register_company("2023-06-01"))), "stage_order");
    assert_eq!(refused(negotiating.when(start_construction("2023-06-01"))), "stage_order");

    let signed = signed_project(AgreementKind::Contract, 120_000_000, true);
    assert_eq!(refused(signed.when(start_construction("2023-07-01"))), "stage_order");
    assert_eq!(refused(signed.when(start_production("2023-07-01"))), "stage_order");
    // Going back is as wrong as jumping ahead.
    assert_eq!(refused(signed.when(start_negotiation("2023-07-01"))), "stage_order");
}

#[test]
fn a_stage_may_not_be_dated_before_the_previous_one() {
    let lead = Scenario::<Project>::on(TODAY)
        .given([ProjectEvent::LeadRecorded(lead_body(ProjectCategory::Industrial, "2023-01-10"))]);
    assert_eq!(refused(lead.when(start_negotiation("2023-01-09"))), "not_before_previous_step");
    // The same day is not before it.
    assert!(lead.when(start_negotiation("2023-01-10")).is_ok());

    let negotiating = negotiating_project();
    assert_eq!(
        refused(negotiating.when(sign(AgreementKind::Framework, 120_000_000, "2023-01-31"))),
        "not_before_previous_step"
    );

    let signed = signed_project(AgreementKind::Contract, 120_000_000, true);
    assert_eq!(refused(signed.when(register_company("2023-05-31"))), "not_before_previous_step");
}

#[test]
fn funds_arrive_only_after_signing() {
    assert_eq!(refused(negotiating_project().when(funds_arrived(10_000_000, "2023-03-01"))), "must_be_signed");
}

#[test]
fn funds_may_not_be_dated_before_the_first_signing() {
    // The first signing was a framework on 2023-06-01; a contract followed later.
    let scenario = signed_project(AgreementKind::Framework, 120_000_000, true).given([signed_event(
        AgreementKind::Contract,
        120_000_000,
        "2023-09-01",
        false,
        true,
    )]);
    assert_eq!(refused(scenario.when(funds_arrived(10_000_000, "2023-05-31"))), "not_before_signing");
    // Between the two signings is after the first one, so it is accepted.
    assert!(scenario.when(funds_arrived(10_000_000, "2023-06-01")).is_ok());
}

#[test]
fn funds_arrived_accumulate() {
    let scenario = signed_project(AgreementKind::Contract, 120_000_000, true);
    let first = scenario.when(funds_arrived(30_000_000, "2023-07-01")).unwrap();
    assert_eq!(
        first,
        ProjectEvent::FundsArrived(ProjectFundsArrived {
            on: date("2023-07-01"),
            amount_yuan: yuan(30_000_000),
            cumulative_yuan: 30_000_000,
        })
    );
    let scenario = scenario.given([first]);
    let second = scenario.when(funds_arrived(20_000_000, "2023-08-01")).unwrap();
    let ProjectEvent::FundsArrived(second_funds) = &second else { panic!("expected funds arrived, got {second:?}") };
    assert_eq!(second_funds.cumulative_yuan, 50_000_000);
    assert_eq!(scenario.given([second]).state().funds_arrived_yuan, 50_000_000);
}

#[test]
fn a_stalled_project_cannot_move_until_it_resumes() {
    let stalled = negotiating_project().then_apply(stall("2023-03-01")).unwrap();
    assert_eq!(stalled.state().status, ProjectStatus::Stalled);
    assert_eq!(refused(stalled.when(sign(AgreementKind::Contract, 120_000_000, "2023-06-01"))), "project_stalled");
    assert_eq!(refused(stalled.when(stall("2023-04-01"))), "project_stalled");

    let resumed = stalled.then_apply(resume("2023-05-01")).unwrap();
    assert_eq!(resumed.state().status, ProjectStatus::Active);
    assert!(resumed.when(sign(AgreementKind::Contract, 120_000_000, "2023-06-01")).is_ok());
    // The resumption's date is a lower bound too: a step cannot come before it.
    assert_eq!(
        refused(resumed.when(sign(AgreementKind::Contract, 120_000_000, "2023-04-30"))),
        "not_before_previous_step"
    );
}

#[test]
fn only_a_stalled_project_can_resume() {
    assert_eq!(refused(negotiating_project().when(resume("2023-03-01"))), "must_be_stalled");
}

#[test]
fn a_dropped_project_refuses_everything_after() {
    // Dropped before signing: the refusal must say dropped, not "not signed yet".
    let dropped_in_negotiation = negotiating_project().then_apply(drop_project("2023-03-01")).unwrap();
    // Dropped after signing and stalling: the refusal must say dropped, not "not stalled".
    let dropped_after_signing = signed_project(AgreementKind::Framework, 120_000_000, true)
        .then_apply(stall("2023-07-01"))
        .and_then(|scenario| scenario.then_apply(drop_project("2023-08-01")))
        .unwrap();
    let later = "2023-09-01";
    let commands = [
        start_negotiation(later),
        sign(AgreementKind::Contract, 120_000_000, later),
        register_company(later),
        start_construction(later),
        start_production(later),
        funds_arrived(10_000_000, later),
        increase_investment(10_000_000, later),
        ProjectCommand::EnterReserve(step(later)),
        stall(later),
        resume(later),
        drop_project(later),
    ];
    for scenario in [&dropped_in_negotiation, &dropped_after_signing] {
        assert_eq!(scenario.state().status, ProjectStatus::Dropped);
        for command in &commands {
            assert_eq!(refused(scenario.when(command.clone())), "project_dropped", "{command:?}");
        }
    }
}

#[test]
fn a_project_exists_once_and_nothing_happens_to_a_project_that_does_not_exist() {
    let nothing = Scenario::<Project>::on(TODAY);
    assert!(matches!(
        nothing.when(start_negotiation("2023-02-01")),
        Err(DomainError::NotFound { aggregate_type: "project" })
    ));
    assert!(matches!(
        negotiating_project().when(record_lead(ProjectCategory::Industrial, "2023-01-10")),
        Err(DomainError::AlreadyExists { aggregate_type: "project" })
    ));
}

// ---------------------------------------------------------------------------
// Project: counted once, at its first signing.
// ---------------------------------------------------------------------------

#[test]
fn the_first_signing_counts_the_project_and_decides_whether_it_qualifies() {
    let scenario = negotiating_project();
    let event = scenario.when(sign(AgreementKind::Framework, 120_000_000, "2023-06-01")).unwrap();
    assert_eq!(event, signed_event_with_evidence(AgreementKind::Framework, 120_000_000, "2023-06-01", true, true));
    let state = scenario.given([event]);
    assert_eq!(state.state().first_signed_on, Some(date("2023-06-01")));
    assert!(state.state().qualifies);
    assert_eq!(state.state().contracted_yuan, 120_000_000);
}

/// The event [`sign`] produces: the same as [`signed_event`] with the evidence it names.
fn signed_event_with_evidence(
    agreement: AgreementKind,
    amount: i64,
    on: &str,
    first_signing: bool,
    qualifies: bool,
) -> ProjectEvent {
    ProjectEvent::Signed(ProjectSigned {
        on: date(on),
        agreement,
        investment_yuan: yuan(amount),
        evidence: Some(name("柳东新区投资协议〔2023〕12号")),
        first_signing,
        qualifies,
    })
}

#[test]
fn a_contract_after_a_framework_keeps_the_first_signings_qualification_even_below_the_threshold() {
    let framework_qualified = signed_project(AgreementKind::Framework, 120_000_000, true);
    let event = framework_qualified.when(sign(AgreementKind::Contract, 80_000_000, "2023-09-01")).unwrap();
    assert_eq!(event, signed_event_with_evidence(AgreementKind::Contract, 80_000_000, "2023-09-01", false, true));
    let after = framework_qualified.given([event]);
    assert_eq!(after.state().first_signed_on, Some(date("2023-06-01")));
    assert!(after.state().qualifies);
}

#[test]
fn a_contract_after_a_framework_does_not_make_a_project_qualify_even_above_the_threshold() {
    // A later upgrade is a status change: it neither counts again nor re-qualifies.
    let framework_below = signed_project(AgreementKind::Framework, 80_000_000, false);
    let event = framework_below.when(sign(AgreementKind::Contract, 300_000_000, "2023-09-01")).unwrap();
    assert_eq!(event, signed_event_with_evidence(AgreementKind::Contract, 300_000_000, "2023-09-01", false, false));
    let after = framework_below.given([event]);
    assert!(!after.state().qualifies);
    assert_eq!(after.state().first_signed_on, Some(date("2023-06-01")));
}

#[test]
fn a_second_framework_or_a_second_contract_is_refused() {
    let framework = signed_project(AgreementKind::Framework, 120_000_000, true);
    assert_eq!(refused(framework.when(sign(AgreementKind::Framework, 120_000_000, "2023-09-01"))), "already_signed");

    let contract = signed_project(AgreementKind::Contract, 120_000_000, true);
    assert_eq!(refused(contract.when(sign(AgreementKind::Contract, 120_000_000, "2023-09-01"))), "already_signed");
    assert_eq!(refused(contract.when(sign(AgreementKind::Framework, 120_000_000, "2023-09-01"))), "already_signed");

    let framework_then_contract =
        framework.given([signed_event(AgreementKind::Contract, 120_000_000, "2023-09-01", false, true)]);
    assert_eq!(
        refused(framework_then_contract.when(sign(AgreementKind::Contract, 120_000_000, "2023-10-01"))),
        "already_signed"
    );
}

#[test]
fn a_capital_increase_adds_to_the_contracted_total_but_neither_requalifies_nor_resigns() {
    let below = signed_project(AgreementKind::Contract, 80_000_000, false);
    let event = below.when(increase_investment(50_000_000, "2024-01-15")).unwrap();
    assert_eq!(
        event,
        ProjectEvent::InvestmentIncreased(DatedAmount { on: date("2024-01-15"), amount_yuan: yuan(50_000_000) })
    );
    let after = below.given([event]);
    assert_eq!(after.state().contracted_yuan, 130_000_000);
    assert!(!after.state().qualifies, "130,000,000 after an increase must not make the project qualify");
    assert_eq!(after.state().first_signed_on, Some(date("2023-06-01")));
    assert_eq!(after.state().stage, ProjectStage::Signed);
}

#[test]
fn a_capital_increase_needs_a_signed_project() {
    assert_eq!(refused(negotiating_project().when(increase_investment(50_000_000, "2023-03-01"))), "must_be_signed");
}

// ---------------------------------------------------------------------------
// Thresholds, through signing decisions.
// ---------------------------------------------------------------------------

/// Whether a first signing of `amount` by a project of `category` qualifies.
fn first_signing_qualifies(category: ProjectCategory, amount: i64) -> bool {
    let scenario = Scenario::<Project>::on(TODAY).given([
        ProjectEvent::LeadRecorded(lead_body(category, "2023-01-10")),
        ProjectEvent::NegotiationStarted(StartNegotiation { on: date("2023-02-01"), note: None }),
    ]);
    match scenario.when(sign(AgreementKind::Contract, amount, "2023-06-01")) {
        Ok(ProjectEvent::Signed(signed)) => {
            assert!(signed.first_signing);
            signed.qualifies
        }
        other => panic!("expected a first signing, got {other:?}"),
    }
}

#[test]
fn an_industrial_project_qualifies_from_one_hundred_million_yuan() {
    assert!(first_signing_qualifies(ProjectCategory::Industrial, 100_000_000));
    assert!(!first_signing_qualifies(ProjectCategory::Industrial, 99_999_999));
    // A service-sized amount is not enough for an industrial project.
    assert!(!first_signing_qualifies(ProjectCategory::Industrial, 60_000_000));
}

#[test]
fn a_service_project_qualifies_from_fifty_million_yuan() {
    assert!(first_signing_qualifies(ProjectCategory::Service, 50_000_000));
    assert!(!first_signing_qualifies(ProjectCategory::Service, 49_999_999));
}

#[test]
fn the_thresholds_come_from_the_command_not_from_code() {
    // A later plan with a higher bar must be honoured without a release.
    let later_plan = InvestmentThresholds { industrial: yuan(200_000_000), service: yuan(80_000_000) };
    let command = ProjectCommand::Sign(SignProject {
        on: date("2023-06-01"),
        agreement: AgreementKind::Contract,
        investment_yuan: yuan(150_000_000),
        evidence: None,
        thresholds: later_plan,
    });
    let Ok(ProjectEvent::Signed(signed)) = negotiating_project().when(command) else { panic!("signing refused") };
    assert!(!signed.qualifies);
}

// ---------------------------------------------------------------------------
// Amounts.
// ---------------------------------------------------------------------------

#[test]
fn an_amount_is_a_positive_whole_number_of_yuan_up_to_the_maximum() {
    assert_eq!(Yuan::new(0).unwrap_err().rule, "positive_amount");
    assert_eq!(Yuan::new(-1).unwrap_err().rule, "positive_amount");
    assert_eq!(Yuan::new(YUAN_MAX + 1).unwrap_err().rule, "amount_too_large");
    assert_eq!(Yuan::new(YUAN_MAX).unwrap().get(), YUAN_MAX);
    assert_eq!(Yuan::new(1).unwrap().get(), 1);
}

#[test]
fn a_signing_body_with_a_fractional_or_non_positive_amount_is_refused() {
    let body =
        |amount: &str| format!(r#"{{"on": "2023-06-01", "agreement": "contract", "investment_yuan": {amount}}}"#);
    assert!(serde_json::from_str::<SignProject>(&body("1.5")).is_err());
    assert!(serde_json::from_str::<SignProject>(&body("100000000.0")).is_err());

    // A refused amount keeps its rule code through serde, which the API relies on.
    let zero = serde_json::from_str::<SignProject>(&body("0")).unwrap_err().to_string();
    assert_eq!(ValueError::parse_display(&zero).map(|(rule, _)| rule), Some("positive_amount"));
    let too_large = serde_json::from_str::<SignProject>(&body(&(YUAN_MAX + 1).to_string())).unwrap_err().to_string();
    assert_eq!(ValueError::parse_display(&too_large).map(|(rule, _)| rule), Some("amount_too_large"));

    let whole = serde_json::from_str::<SignProject>(&body("150000000")).unwrap();
    assert_eq!(whole.investment_yuan.get(), 150_000_000);
    // Thresholds are filled in from the plan period, never taken from the user.
    assert_eq!(whole.thresholds, InvestmentThresholds::PLAN_2022_2024);
}

#[test]
fn a_signing_body_cannot_set_its_own_thresholds() {
    let body = r#"{"on": "2023-06-01", "agreement": "contract", "investment_yuan": 60000000,
        "thresholds": {"industrial": 1, "service": 1}}"#;
    assert!(serde_json::from_str::<SignProject>(body).is_err());
}

// ---------------------------------------------------------------------------
// Not in the future.
// ---------------------------------------------------------------------------

#[test]
fn a_lead_may_be_dated_today_but_not_tomorrow() {
    let nothing = Scenario::<Project>::on(TODAY);
    assert_eq!(refused(nothing.when(record_lead(ProjectCategory::Industrial, TOMORROW))), "not_in_future");
    assert!(nothing.when(record_lead(ProjectCategory::Industrial, TODAY)).is_ok());
}

#[test]
fn a_signing_may_be_dated_today_but_not_tomorrow() {
    let negotiating = negotiating_project();
    assert_eq!(refused(negotiating.when(sign(AgreementKind::Contract, 120_000_000, TOMORROW))), "not_in_future");
    assert!(negotiating.when(sign(AgreementKind::Contract, 120_000_000, TODAY)).is_ok());
}

#[test]
fn an_activity_may_be_recorded_held_today_but_not_tomorrow() {
    let nothing = Scenario::<Activity>::on(TODAY);
    assert_eq!(refused(nothing.when(ActivityCommand::RecordHeld(inviting_in(TOMORROW)))), "not_in_future");
    assert!(nothing.when(ActivityCommand::RecordHeld(inviting_in(TODAY))).is_ok());
}

#[test]
fn a_meeting_may_be_recorded_convened_today_but_not_tomorrow() {
    let nothing = Scenario::<Meeting>::on(TODAY);
    assert_eq!(refused(nothing.when(convene(MeetingKind::Joint, Some("automotive"), TOMORROW))), "not_in_future");
    assert!(nothing.when(convene(MeetingKind::Joint, Some("automotive"), TODAY)).is_ok());
}

#[test]
fn a_docking_may_be_dated_today_but_not_tomorrow() {
    let established = established_task_force();
    assert_eq!(refused(established.when(record_docking(TOMORROW))), "not_in_future");
    assert!(established.when(record_docking(TODAY)).is_ok());
}

// ---------------------------------------------------------------------------
// Activities.
// ---------------------------------------------------------------------------

fn enterprise(enterprise_name: &str, role: EnterpriseRole) -> EnterpriseInvolved {
    EnterpriseInvolved { name: name(enterprise_name), role }
}

fn activity(kind: ActivityKind, on: &str) -> ActivityDetails {
    ActivityDetails {
        task_force_id: slug("automotive"),
        kind,
        title: name("新能源汽车产业链科技招商活动"),
        on: date(on),
        led_by_principal_leader: false,
        destination_cities: Vec::new(),
        enterprises: vec![enterprise("某电驱动科技有限公司", EnterpriseRole::Target)],
        note: None,
    }
}

/// A going-out campaign to Shanghai, led by a principal leader.
fn going_out(on: &str) -> ActivityDetails {
    ActivityDetails {
        led_by_principal_leader: true,
        destination_cities: vec![name("上海")],
        ..activity(ActivityKind::GoingOut, on)
    }
}

fn inviting_in(on: &str) -> ActivityDetails {
    activity(ActivityKind::InvitingIn, on)
}

fn online(on: &str) -> ActivityDetails {
    ActivityDetails {
        enterprises: vec![enterprise("上汽通用五菱汽车股份有限公司", EnterpriseRole::ChainLeader)],
        ..activity(ActivityKind::Online, on)
    }
}

fn cancel(on: &str) -> ActivityCommand {
    ActivityCommand::Cancel(CancelActivity { on: date(on), reason: text("对方企业行程调整") })
}

#[test]
fn each_kind_of_activity_can_be_recorded_held() {
    for details in [going_out("2024-03-01"), inviting_in("2024-03-01"), online("2024-03-01")] {
        let event = Scenario::<Activity>::on(TODAY).when(ActivityCommand::RecordHeld(details.clone())).unwrap();
        assert_eq!(event, ActivityEvent::Held(details));
    }
}

#[test]
fn only_a_going_out_activity_can_be_led_by_a_principal_leader() {
    let nothing = Scenario::<Activity>::on(TODAY);
    for kind in [ActivityKind::InvitingIn, ActivityKind::Online] {
        let led = ActivityDetails { led_by_principal_leader: true, ..activity(kind, "2024-03-01") };
        assert_eq!(refused(nothing.when(ActivityCommand::RecordHeld(led.clone()))), "leader_led_only_going_out");
        // Planning it is refused for the same reason: the rule is about the activity.
        assert_eq!(refused(nothing.when(ActivityCommand::Plan(led))), "leader_led_only_going_out");
    }
    assert!(nothing.when(ActivityCommand::RecordHeld(going_out("2024-03-01"))).is_ok());
}

#[test]
fn a_going_out_activity_needs_a_destination_city() {
    let nowhere = ActivityDetails { destination_cities: Vec::new(), ..going_out("2024-03-01") };
    let nothing = Scenario::<Activity>::on(TODAY);
    assert_eq!(refused(nothing.when(ActivityCommand::RecordHeld(nowhere.clone()))), "going_out_needs_destination");
    assert_eq!(refused(nothing.when(ActivityCommand::Plan(nowhere))), "going_out_needs_destination");
}

#[test]
fn an_enterprise_is_named_once_per_activity() {
    // The same enterprise under two roles is still one enterprise, counted once.
    let duplicated = ActivityDetails {
        enterprises: vec![
            enterprise("某电驱动科技有限公司", EnterpriseRole::Target),
            enterprise("某电驱动科技有限公司", EnterpriseRole::Other),
        ],
        ..inviting_in("2024-03-01")
    };
    let nothing = Scenario::<Activity>::on(TODAY);
    assert_eq!(refused(nothing.when(ActivityCommand::RecordHeld(duplicated))), "no_duplicate_enterprise");
}

#[test]
fn a_planned_activity_can_be_recorded_held() {
    let planned = Scenario::<Activity>::on(TODAY).then_apply(ActivityCommand::Plan(inviting_in("2024-05-10"))).unwrap();
    assert_eq!(planned.state().status, ActivityStatus::Planned);
    let held = planned.then_apply(ActivityCommand::RecordHeld(inviting_in("2024-05-12"))).unwrap();
    assert_eq!(held.state().status, ActivityStatus::Held);
    assert_eq!(refused(held.when(ActivityCommand::RecordHeld(inviting_in("2024-05-12")))), "already_held");
}

#[test]
fn a_planned_activity_can_be_cancelled() {
    let planned = Scenario::<Activity>::on(TODAY).given([ActivityEvent::Planned(inviting_in("2024-05-10"))]);
    let event = planned.when(cancel("2024-05-01")).unwrap();
    assert_eq!(
        event,
        ActivityEvent::Cancelled(CancelActivity { on: date("2024-05-01"), reason: text("对方企业行程调整") })
    );
    assert_eq!(planned.given([event]).state().status, ActivityStatus::Cancelled);
}

#[test]
fn a_held_activity_cannot_be_cancelled() {
    let held = Scenario::<Activity>::on(TODAY).given([ActivityEvent::Held(inviting_in("2024-05-10"))]);
    assert_eq!(refused(held.when(cancel("2024-05-11"))), "already_held");
}

#[test]
fn a_cancelled_activity_cannot_be_recorded_held() {
    let cancelled = Scenario::<Activity>::on(TODAY).given([
        ActivityEvent::Planned(inviting_in("2024-05-10")),
        ActivityEvent::Cancelled(CancelActivity { on: date("2024-05-01"), reason: text("对方企业行程调整") }),
    ]);
    assert_eq!(refused(cancelled.when(ActivityCommand::RecordHeld(inviting_in("2024-05-10")))), "activity_cancelled");
}

#[test]
fn an_activity_may_be_planned_for_the_future_but_not_recorded_held_in_it() {
    let planned = Scenario::<Activity>::on(TODAY).then_apply(ActivityCommand::Plan(going_out("2024-09-15"))).unwrap();
    assert_eq!(planned.state().status, ActivityStatus::Planned);
    assert_eq!(refused(planned.when(ActivityCommand::RecordHeld(going_out("2024-09-15")))), "not_in_future");
    // Held earlier than planned, today, is a fact and is accepted.
    assert!(planned.when(ActivityCommand::RecordHeld(going_out(TODAY))).is_ok());
}

// ---------------------------------------------------------------------------
// Meetings.
// ---------------------------------------------------------------------------

fn convene(kind: MeetingKind, task_force: Option<&str>, on: &str) -> MeetingCommand {
    MeetingCommand::RecordConvened(RecordMeetingConvened {
        kind,
        task_force_id: task_force.map(slug),
        on: date(on),
        title: name("2024年第二季度招商工作会议"),
        attendees: vec![name("市科学技术局重大科"), name("柳东新区科技和大数据发展局")],
        minutes: None,
    })
}

#[test]
fn joint_meetings_and_supervision_inspections_need_a_task_force() {
    let nothing = Scenario::<Meeting>::on(TODAY);
    for kind in [MeetingKind::Joint, MeetingKind::Supervision] {
        assert_eq!(refused(nothing.when(convene(kind, None, "2024-06-20"))), "task_force_required");
        assert!(nothing.when(convene(kind, Some("automotive"), "2024-06-20")).is_ok());
    }
}

#[test]
fn the_monthly_report_meeting_belongs_to_no_task_force() {
    let nothing = Scenario::<Meeting>::on(TODAY);
    assert_eq!(
        refused(nothing.when(convene(MeetingKind::MonthlyReport, Some("automotive"), "2024-06-03"))),
        "office_meeting_has_no_task_force"
    );
    assert!(nothing.when(convene(MeetingKind::MonthlyReport, None, "2024-06-03")).is_ok());
}

#[test]
fn a_meeting_is_recorded_once() {
    let command = convene(MeetingKind::Joint, Some("automotive"), "2024-06-20");
    let convened = Scenario::<Meeting>::on(TODAY).then_apply(command.clone()).unwrap();
    assert!(matches!(convened.when(command), Err(DomainError::AlreadyExists { aggregate_type: "meeting" })));
}

// ---------------------------------------------------------------------------
// Task forces.
// ---------------------------------------------------------------------------

/// The automotive task force's charter as the plan lays it out, established on
/// the plan's issue date.
fn automotive_charter() -> EstablishTaskForce {
    EstablishTaskForce {
        number: 1,
        name: name("汽车产业链招商专班"),
        chain: name("汽车"),
        convener: name("李荣军"),
        deputy_convener: name("刘文烽"),
        lead_department: name("市科学技术局重大科"),
        cooperating_departments: vec![
            name("市科学技术局发展规划与资源配置科"),
            name("市科学技术局人才引智与对外合作科"),
        ],
        cooperating_departments_open_ended: false,
        district_bureaus: vec![name("柳东新区科技和大数据发展局"), name("柳南区科学技术局")],
        district_bureaus_open_ended: false,
        chain_leaders: vec![name("上汽通用五菱汽车股份有限公司"), name("东风柳州汽车有限公司")],
        chain_leaders_open_ended: true,
        on: date("2022-10-18"),
    }
}

fn established_task_force() -> Scenario<TaskForce> {
    Scenario::on(TODAY).given([TaskForceEvent::Established(automotive_charter())])
}

fn change_convener(on: &str) -> TaskForceCommand {
    TaskForceCommand::ChangeConvener(ChangePerson { name: name("靳磊"), on: date(on), reason: None })
}

fn record_docking(on: &str) -> TaskForceCommand {
    TaskForceCommand::RecordDocking(RecordDocking {
        enterprise: name("某电驱动科技有限公司"),
        enterprise_role: EnterpriseRole::Target,
        method: DockingMethod::GoingOut,
        on: date(on),
        participants: vec![name("李荣军")],
        outcome: None,
    })
}

const PLAN_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn submit_annual_plan(year: i32, sha256: &str, on: &str) -> TaskForceCommand {
    TaskForceCommand::SubmitAnnualPlan(SubmitAnnualPlan {
        year,
        title: name("汽车产业链年度招商工作方案"),
        document_ref: name("汽车专班〔2024〕1号"),
        document_sha256: sha256.to_owned(),
        on: date(on),
    })
}

#[test]
fn a_task_force_is_established_once() {
    let command = TaskForceCommand::Establish(automotive_charter());
    let established = Scenario::<TaskForce>::on(TODAY).then_apply(command.clone()).unwrap();
    assert!(matches!(established.when(command), Err(DomainError::AlreadyExists { aggregate_type: "task_force" })));
}

#[test]
fn nothing_can_be_recorded_for_a_task_force_before_it_is_established() {
    let nothing = Scenario::<TaskForce>::on(TODAY);
    let commands = [
        change_convener("2024-01-01"),
        TaskForceCommand::ChangeDeputyConvener(ChangePerson {
            name: name("伍国荣"),
            on: date("2024-01-01"),
            reason: None,
        }),
        TaskForceCommand::AssignLiaison(AssignLiaison {
            name: name("张三"),
            department: name("市科学技术局重大科"),
            on: date("2024-01-01"),
        }),
        record_docking("2024-01-01"),
        submit_annual_plan(2024, PLAN_SHA256, "2024-01-01"),
    ];
    for command in commands {
        assert!(
            matches!(nothing.when(command.clone()), Err(DomainError::NotFound { aggregate_type: "task_force" })),
            "{command:?}"
        );
    }
}

#[test]
fn a_change_of_convener_is_an_event_not_an_edit() {
    let established = established_task_force();
    let event = established.when(change_convener("2024-03-01")).unwrap();
    assert_eq!(
        event,
        TaskForceEvent::ConvenerChanged(ChangePerson { name: name("靳磊"), on: date("2024-03-01"), reason: None })
    );
}

#[test]
fn a_change_of_convener_is_not_dated_before_the_establishment() {
    let established = established_task_force();
    assert_eq!(refused(established.when(change_convener("2022-10-17"))), "not_before_establishment");
    assert!(established.when(change_convener("2022-10-18")).is_ok());
}

#[test]
fn an_annual_plan_is_submitted_once_a_year_and_revised_after() {
    let established = established_task_force();
    let first = established.when(submit_annual_plan(2024, PLAN_SHA256, "2024-01-20")).unwrap();
    assert!(matches!(first, TaskForceEvent::AnnualPlanSubmitted(ref plan) if plan.year == 2024), "{first:?}");

    let submitted = established.given([first]);
    let again = submitted.when(submit_annual_plan(2024, PLAN_SHA256, "2024-03-01")).unwrap();
    assert!(matches!(again, TaskForceEvent::AnnualPlanRevised(ref plan) if plan.year == 2024), "{again:?}");

    // Another year's plan is a first submission of its own.
    let next_year = submitted.when(submit_annual_plan(2023, PLAN_SHA256, "2024-03-01")).unwrap();
    assert!(matches!(next_year, TaskForceEvent::AnnualPlanSubmitted(ref plan) if plan.year == 2023), "{next_year:?}");
}

#[test]
fn an_annual_plans_digest_is_sixty_four_lower_case_hex_characters() {
    let established = established_task_force();
    let bad_digests = [
        PLAN_SHA256.to_uppercase(),
        PLAN_SHA256[..63].to_owned(),
        format!("{PLAN_SHA256}0"),
        format!("{}g", &PLAN_SHA256[..63]),
        String::new(),
    ];
    for digest in bad_digests {
        assert_eq!(
            refused(established.when(submit_annual_plan(2024, &digest, "2024-01-20"))),
            "sha256_hex",
            "{digest:?}"
        );
    }
}

#[test]
fn a_charter_list_names_each_unit_once() {
    let nothing = Scenario::<TaskForce>::on(TODAY);
    let twice = |unit: &str| vec![name(unit), name(unit)];
    let charters = [
        (
            "cooperating_departments",
            EstablishTaskForce {
                cooperating_departments: twice("市科学技术局重大科"), ..automotive_charter()
            },
        ),
        (
            "district_bureaus",
            EstablishTaskForce { district_bureaus: twice("柳南区科学技术局"), ..automotive_charter() },
        ),
        (
            "chain_leaders",
            EstablishTaskForce {
                chain_leaders: twice("上汽通用五菱汽车股份有限公司"), ..automotive_charter()
            },
        ),
    ];
    for (list, charter) in charters {
        match nothing.when(TaskForceCommand::Establish(charter)) {
            Err(DomainError::InvalidField { field, rule, .. }) => {
                assert_eq!((field, rule), (list, "no_duplicates"));
            }
            other => panic!("a duplicate in {list} was not refused: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Plan periods.
// ---------------------------------------------------------------------------

/// The 2022–2024 plan with one system-year target in `system_year`.
fn adopt_plan(first_year: i32, last_year: i32, system_year: i32) -> PlanPeriodCommand {
    let mut system_years = BTreeMap::new();
    system_years.insert(system_year, BTreeMap::from([(Measure::ProjectsLedIn, 5), (Measure::Activities, 16)]));
    PlanPeriodCommand::Adopt(AdoptPlanPeriod {
        title: name("柳州市科技系统科技招商三年行动方案（2022—2024年）"),
        document_number: name("柳科通〔2022〕60号"),
        issued_by: name("柳州市科学技术局"),
        issued_on: date("2022-10-18"),
        first_year,
        last_year,
        investment_thresholds: InvestmentThresholds::PLAN_2022_2024,
        targets: PlanTargets {
            system_years,
            system_cumulative: BTreeMap::from([(Measure::ProjectsLedIn, 15), (Measure::Activities, 50)]),
            task_force_per_year: BTreeMap::from([(Measure::AnnualPlans, 1), (Measure::ProjectsLedIn, 1)]),
            office_per_year: BTreeMap::new(),
        },
    })
}

#[test]
fn a_plan_period_is_adopted_once() {
    let command = adopt_plan(2022, 2024, 2022);
    let adopted = Scenario::<PlanPeriod>::on(TODAY).then_apply(command.clone()).unwrap();
    assert!(matches!(adopted.when(command), Err(DomainError::AlreadyExists { aggregate_type: "plan_period" })));
}

#[test]
fn a_system_year_target_lies_within_the_period() {
    let nothing = Scenario::<PlanPeriod>::on(TODAY);
    assert_eq!(refused(nothing.when(adopt_plan(2022, 2024, 2025))), "year_in_period");
    assert_eq!(refused(nothing.when(adopt_plan(2022, 2024, 2021))), "year_in_period");
    // Both ends of the period belong to it.
    assert!(nothing.when(adopt_plan(2022, 2024, 2024)).is_ok());
}

#[test]
fn a_plan_period_does_not_end_before_it_begins() {
    let nothing = Scenario::<PlanPeriod>::on(TODAY);
    assert_eq!(refused(nothing.when(adopt_plan(2024, 2022, 2024))), "year_range");
    // A one-year period is a period.
    assert!(nothing.when(adopt_plan(2024, 2024, 2024)).is_ok());
}

// ---------------------------------------------------------------------------
// Event envelopes: what leaves the domain comes back unchanged and tamper-evident.
// ---------------------------------------------------------------------------

fn metadata() -> EventMetadata {
    EventMetadata {
        actor: "liaison:automotive".to_owned(),
        correlation_id: Uuid::nil(),
        causation_id: None,
        idempotency_key: Some("sign-2023-06-01".to_owned()),
        recorded_at: DateTime::parse_from_rfc3339("2024-06-30T02:00:00Z").unwrap().with_timezone(&Utc),
    }
}

/// Seals `event`, checks its type string, reads it back, and checks that its
/// hash holds and that changing one byte of its payload breaks the hash.
fn assert_round_trip<E: DomainEvent + PartialEq + Debug>(aggregate_type: &str, event: E, expected_type: &str) {
    let envelope = EventEnvelope::seal(aggregate_type, "id-1", 1, None, &event, &metadata());
    assert_eq!(envelope.event_type, expected_type);
    assert!(envelope.event_type.starts_with(EVENT_TYPE_PREFIX));
    assert_eq!(envelope.subject, format!("{aggregate_type}/id-1"));
    assert_eq!(envelope.occurredat, event.occurred_on());
    assert_eq!(envelope.decode::<E>().unwrap(), event);
    assert_eq!(envelope.hash, envelope.compute_hash());

    // What travels over NATS is what was sealed.
    let from_wire = EventEnvelope::from_slice(&envelope.to_vec()).unwrap();
    assert_eq!(from_wire, envelope);
    assert_eq!(from_wire.hash, from_wire.compute_hash());

    // Change one digit of the payload to another non-zero digit: the JSON stays
    // valid, so only the hash can tell.
    let mut bytes = serde_json::to_vec(&envelope.data).unwrap();
    let position = bytes.iter().rposition(u8::is_ascii_digit).expect("every payload here has a date");
    bytes[position] = if bytes[position] == b'1' { b'2' } else { b'1' };
    let mut tampered = envelope.clone();
    tampered.data = serde_json::from_slice(&bytes).unwrap();
    assert_ne!(tampered.data, envelope.data);
    assert_ne!(tampered.compute_hash(), envelope.hash, "{expected_type}: a changed payload kept its hash");
}

#[test]
fn a_project_event_round_trips_through_its_envelope() {
    assert_round_trip(
        "project",
        signed_event_with_evidence(AgreementKind::Framework, 120_000_000, "2023-06-01", true, true),
        "cn.gov.liuzhou.kjj.zhaoshang.project.signed.v1",
    );
}

#[test]
fn an_activity_event_round_trips_through_its_envelope() {
    assert_round_trip(
        "activity",
        ActivityEvent::Held(going_out("2024-03-01")),
        "cn.gov.liuzhou.kjj.zhaoshang.activity.held.v1",
    );
}

#[test]
fn a_meeting_event_round_trips_through_its_envelope() {
    let MeetingCommand::RecordConvened(meeting) = convene(MeetingKind::Supervision, Some("automotive"), "2024-06-20");
    assert_round_trip("meeting", MeetingEvent::Convened(meeting), "cn.gov.liuzhou.kjj.zhaoshang.meeting.convened.v1");
}

#[test]
fn a_task_force_event_round_trips_through_its_envelope() {
    assert_round_trip(
        "task_force",
        TaskForceEvent::ConvenerChanged(ChangePerson {
            name: name("靳磊"),
            on: date("2024-03-01"),
            reason: Some(text("工作调整")),
        }),
        "cn.gov.liuzhou.kjj.zhaoshang.task_force.convener_changed.v1",
    );
}

#[test]
fn a_plan_period_event_round_trips_through_its_envelope() {
    let PlanPeriodCommand::Adopt(plan) = adopt_plan(2022, 2024, 2022);
    assert_round_trip(
        "plan_period",
        PlanPeriodEvent::Adopted(plan),
        "cn.gov.liuzhou.kjj.zhaoshang.plan_period.adopted.v1",
    );
}

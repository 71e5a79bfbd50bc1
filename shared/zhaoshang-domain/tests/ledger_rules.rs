//! Rules of the project ledger (owner, progress, problems, change of
//! investor), the enterprise registry and the small record aggregates
//! (service platforms, expenditure, talent), one test or more per rule.

use std::fmt::Debug;

use zhaoshang_domain::DomainError;
use zhaoshang_domain::enterprise::{CorrectEnterprise, Enterprise, EnterpriseCommand, EnterpriseDetails};
use zhaoshang_domain::project::{
    AgreementKind, ChangeInvestor, ChangeOwner, NoteProgress, Project, ProjectCommand, ProjectEvent, ProjectStage,
    RaiseProblem, RecordProjectLead, RegisterCompany, ResolveProblem, SignProject, StartNegotiation,
};
use zhaoshang_domain::resources::{
    Expenditure, ExpenditureCategory, ExpenditureCommand, RecordExpenditure, RecordTalentIntroduction, ReverseRecord,
    TalentIntroduction, TalentIntroductionCommand,
};
use zhaoshang_domain::testing::{Scenario, date, name, slug, text, yuan};
use zhaoshang_domain::values::{EnterpriseRole, InvestmentThresholds, ProjectCategory};

const TODAY: &str = "2024-06-30";

fn refused<E: Debug>(result: Result<E, DomainError>) -> &'static str {
    match result {
        Ok(event) => panic!("expected a refusal, got {event:?}"),
        Err(error) => error.rule(),
    }
}

fn lead() -> ProjectCommand {
    ProjectCommand::RecordLead(RecordProjectLead {
        task_force_id: slug("automotive"),
        name: name("汽车轻量化铝合金压铸件项目"),
        investor: name("广东鸿图科技股份有限公司"),
        category: ProjectCategory::Industrial,
        planned_investment_yuan: Some(yuan(120_000_000)),
        owner: name("靳磊"),
        on: date("2023-01-06"),
    })
}

fn sign(amount: i64, on: &str) -> ProjectCommand {
    ProjectCommand::Sign(SignProject {
        on: date(on),
        agreement: AgreementKind::Framework,
        investment_yuan: yuan(amount),
        evidence: None,
        thresholds: InvestmentThresholds::PLAN_2022_2024,
    })
}

fn negotiating() -> Scenario<Project> {
    Scenario::<Project>::on(TODAY)
        .then_apply(lead())
        .and_then(|s| {
            s.then_apply(ProjectCommand::StartNegotiation(StartNegotiation { on: date("2023-01-16"), note: None }))
        })
        .expect("a lead in negotiation")
}

fn signed(amount: i64) -> Scenario<Project> {
    negotiating().then_apply(sign(amount, "2023-03-02")).expect("signed")
}

fn change_investor(investor: &str, on: &str) -> ProjectCommand {
    ProjectCommand::ChangeInvestor(ChangeInvestor {
        investor: name(investor),
        on: date(on),
        reason: text("原投资方战略收缩，由新投资方承接。"),
    })
}

fn raise(id: &str, on: &str) -> ProjectCommand {
    ProjectCommand::RaiseProblem(RaiseProblem {
        problem_id: slug(id),
        on: date(on),
        description: text("用电负荷不足，需协调增容。"),
        help_from: Some(name("柳东新区管委会")),
    })
}

fn resolve(id: &str, on: &str) -> ProjectCommand {
    ProjectCommand::ResolveProblem(ResolveProblem {
        problem_id: slug(id),
        on: date(on),
        resolution: text("供电部门完成增容。"),
    })
}

// ---------------------------------------------------------------------------
// A change of investor counts as a new signing.
// ---------------------------------------------------------------------------

#[test]
fn after_a_change_of_investor_the_next_signing_is_a_first_signing_again() {
    let changed = signed(120_000_000).then_apply(change_investor("文灿集团股份有限公司", "2023-04-20")).unwrap();
    assert_eq!(changed.state().stage, ProjectStage::Negotiating, "back in negotiation with the new investor");
    match changed.when(sign(130_000_000, "2023-05-10")).unwrap() {
        ProjectEvent::Signed(s) => {
            assert!(s.first_signing, "the new investor's signing counts as a new signing");
            assert!(s.qualifies);
        }
        other => panic!("expected a signing, got {other:?}"),
    }
}

#[test]
fn a_new_signing_after_a_change_of_investor_qualifies_on_its_own_amount() {
    let changed = signed(120_000_000).then_apply(change_investor("文灿集团股份有限公司", "2023-04-20")).unwrap();
    match changed.when(sign(80_000_000, "2023-05-10")).unwrap() {
        ProjectEvent::Signed(s) => assert!(s.first_signing && !s.qualifies, "80m does not reach the industrial 100m"),
        other => panic!("expected a signing, got {other:?}"),
    }
}

#[test]
fn a_change_of_investor_before_signing_changes_only_the_investor() {
    let changed = negotiating().then_apply(change_investor("文灿集团股份有限公司", "2023-02-01")).unwrap();
    assert_eq!(changed.state().stage, ProjectStage::Negotiating);
    assert_eq!(changed.state().investor.as_ref().map(|n| n.as_str()), Some("文灿集团股份有限公司"));
}

#[test]
fn the_investor_must_actually_change() {
    assert_eq!(
        refused(signed(120_000_000).when(change_investor("广东鸿图科技股份有限公司", "2023-04-20"))),
        "investor_must_change"
    );
}

#[test]
fn a_registered_project_cannot_change_investor() {
    let registered = signed(120_000_000)
        .then_apply(ProjectCommand::RegisterCompany(RegisterCompany {
            on: date("2023-04-01"),
            company_name: name("柳州鸿图压铸有限公司"),
            evidence: None,
        }))
        .unwrap();
    assert_eq!(
        refused(registered.when(change_investor("文灿集团股份有限公司", "2023-04-20"))),
        "investor_change_before_registration"
    );
}

#[test]
fn a_change_of_investor_is_not_dated_before_the_last_step() {
    assert_eq!(
        refused(signed(120_000_000).when(change_investor("文灿集团股份有限公司", "2023-03-01"))),
        "not_before_previous_step"
    );
}

// ---------------------------------------------------------------------------
// Problems needing help, progress notes, the owner.
// ---------------------------------------------------------------------------

#[test]
fn a_problem_is_raised_then_resolved_once() {
    let raised = signed(120_000_000).then_apply(raise("power", "2023-04-01")).unwrap();
    assert!(raised.state().open_problems.contains_key(&slug("power")));
    let resolved = raised.then_apply(resolve("power", "2023-04-15")).unwrap();
    assert!(resolved.state().open_problems.is_empty());
    assert_eq!(refused(resolved.when(resolve("power", "2023-04-20"))), "problem_must_be_open");
}

#[test]
fn a_problem_id_is_never_reused() {
    let resolved = signed(120_000_000)
        .then_apply(raise("power", "2023-04-01"))
        .unwrap()
        .then_apply(resolve("power", "2023-04-15"))
        .unwrap();
    assert_eq!(refused(resolved.when(raise("power", "2023-05-01"))), "problem_id_unique");
}

#[test]
fn an_unknown_problem_cannot_be_resolved() {
    assert_eq!(refused(signed(120_000_000).when(resolve("ghost", "2023-04-15"))), "problem_must_be_open");
}

#[test]
fn a_problem_is_not_resolved_before_it_was_raised() {
    let raised = signed(120_000_000).then_apply(raise("power", "2023-04-10")).unwrap();
    assert_eq!(refused(raised.when(resolve("power", "2023-04-09"))), "not_before_raised");
}

#[test]
fn ledger_notes_are_not_dated_in_the_future() {
    let project = signed(120_000_000);
    let note =
        ProjectCommand::NoteProgress(NoteProgress { on: date("2024-07-01"), note: text("二期设备招标中。") });
    assert_eq!(refused(project.when(note)), "not_in_future");
    let owner =
        ProjectCommand::ChangeOwner(ChangeOwner { owner: name("伍国荣"), on: date("2024-07-01"), reason: None });
    assert_eq!(refused(project.when(owner)), "not_in_future");
    assert_eq!(refused(project.when(raise("later", "2024-07-01"))), "not_in_future");
}

#[test]
fn the_owner_of_a_project_can_change_at_any_stage() {
    let owner = ProjectCommand::ChangeOwner(ChangeOwner {
        owner: name("伍国荣"),
        on: date("2023-05-01"),
        reason: Some(text("召集人分工调整。")),
    });
    assert!(matches!(signed(120_000_000).when(owner).unwrap(), ProjectEvent::OwnerChanged(_)));
}

// ---------------------------------------------------------------------------
// Enterprises.
// ---------------------------------------------------------------------------

fn enterprise(uscc: Option<&str>) -> EnterpriseDetails {
    EnterpriseDetails {
        name: name("上海智驱电控科技有限公司"),
        role: EnterpriseRole::Target,
        task_force_id: slug("automotive"),
        uscc: uscc.map(str::to_owned),
        city: Some(name("上海")),
        note: None,
        listed_on: date("2022-03-01"),
    }
}

#[test]
fn an_enterprise_code_must_pass_its_check_character() {
    let registry = Scenario::<Enterprise>::on(TODAY);
    assert_eq!(
        refused(registry.when(EnterpriseCommand::Register(enterprise(Some("91440300708461136U"))))),
        "uscc_check_character"
    );
    assert_eq!(refused(registry.when(EnterpriseCommand::Register(enterprise(Some("914403007084611"))))), "uscc_format");
    assert!(registry.when(EnterpriseCommand::Register(enterprise(Some("91440300708461136T")))).is_ok());
    assert!(registry.when(EnterpriseCommand::Register(enterprise(None))).is_ok(), "the code is optional");
}

#[test]
fn an_enterprise_is_registered_once_and_corrected_with_a_change() {
    let registered =
        Scenario::<Enterprise>::on(TODAY).then_apply(EnterpriseCommand::Register(enterprise(None))).unwrap();
    assert_eq!(refused(registered.when(EnterpriseCommand::Register(enterprise(None)))), "must_not_exist");
    let same = CorrectEnterprise { details: enterprise(None), reason: text("核对。") };
    assert_eq!(refused(registered.when(EnterpriseCommand::Correct(same))), "correction_changes_nothing");
    let fixed = CorrectEnterprise { details: enterprise(Some("91440300708461136T")), reason: text("补录代码。") };
    assert!(registered.when(EnterpriseCommand::Correct(fixed)).is_ok());
}

#[test]
fn an_unregistered_enterprise_cannot_be_corrected() {
    let fixed = CorrectEnterprise { details: enterprise(None), reason: text("补录代码。") };
    assert_eq!(refused(Scenario::<Enterprise>::on(TODAY).when(EnterpriseCommand::Correct(fixed))), "must_exist");
}

// ---------------------------------------------------------------------------
// Records: expenditure, talent; reversal.
// ---------------------------------------------------------------------------

fn expenditure(on: &str) -> ExpenditureCommand {
    ExpenditureCommand::Record(RecordExpenditure {
        task_force_id: Some(slug("automotive")),
        category: ExpenditureCategory::Transport,
        amount_yuan: yuan(18_600),
        on: date(on),
        description: name("赴上海招商推介会往返交通"),
        voucher: None,
    })
}

fn reverse(on: &str) -> ReverseRecord {
    ReverseRecord { on: date(on), reason: text("金额录入错误。") }
}

#[test]
fn an_expenditure_is_reversed_once_and_not_before_it_was_paid() {
    let paid = Scenario::<Expenditure>::on(TODAY).then_apply(expenditure("2023-11-18")).unwrap();
    assert_eq!(refused(paid.when(ExpenditureCommand::Reverse(reverse("2023-11-17")))), "not_before_record");
    let reversed = paid.then_apply(ExpenditureCommand::Reverse(reverse("2023-11-20"))).unwrap();
    assert_eq!(refused(reversed.when(ExpenditureCommand::Reverse(reverse("2023-11-21")))), "already_reversed");
}

#[test]
fn nothing_unrecorded_can_be_reversed() {
    assert_eq!(
        refused(Scenario::<Expenditure>::on(TODAY).when(ExpenditureCommand::Reverse(reverse("2023-11-20")))),
        "must_exist"
    );
}

#[test]
fn an_expenditure_is_not_paid_in_the_future() {
    assert_eq!(refused(Scenario::<Expenditure>::on(TODAY).when(expenditure("2024-07-01"))), "not_in_future");
}

#[test]
fn talent_records_count_between_one_and_a_thousand_people() {
    let record = |people| {
        TalentIntroductionCommand::Record(RecordTalentIntroduction {
            task_force_id: slug("automotive"),
            title: name("新能源汽车电控研发团队"),
            people,
            level: None,
            enterprise: None,
            on: date("2023-05-30"),
        })
    };
    let nothing = Scenario::<TalentIntroduction>::on(TODAY);
    assert_eq!(refused(nothing.when(record(0))), "people_in_range");
    assert_eq!(refused(nothing.when(record(1001))), "people_in_range");
    assert!(nothing.when(record(1000)).is_ok());
    assert!(nothing.when(record(1)).is_ok());
}

// ---------------------------------------------------------------------------
// The quarterly briefing.
// ---------------------------------------------------------------------------

fn publication(quarter: u8, hash: &str, on: &str) -> zhaoshang_domain::briefing::PublishBriefing {
    zhaoshang_domain::briefing::PublishBriefing {
        year: 2023,
        quarter,
        title: name("科技招商工作简报（2023年第1期）"),
        content_sha256: hash.to_owned(),
        as_of_sequence: 100,
        on: date(on),
        correction: None,
    }
}

#[test]
fn a_briefing_names_a_real_quarter_a_sha256_and_is_not_published_before_its_quarter() {
    use zhaoshang_domain::briefing::{Briefing, BriefingCommand};
    let nothing = Scenario::<Briefing>::on(TODAY);
    let hash = "a".repeat(64);
    assert_eq!(refused(nothing.when(BriefingCommand::Publish(publication(5, &hash, "2023-04-06")))), "quarter_range");
    assert_eq!(refused(nothing.when(BriefingCommand::Publish(publication(1, "ABC", "2023-04-06")))), "sha256_hex");
    assert_eq!(
        refused(nothing.when(BriefingCommand::Publish(publication(1, &"A".repeat(64), "2023-04-06")))),
        "sha256_hex",
        "upper-case hex is not the canonical form"
    );
    assert_eq!(
        refused(nothing.when(BriefingCommand::Publish(publication(2, &hash, "2023-03-31")))),
        "not_before_quarter"
    );
    assert!(nothing.when(BriefingCommand::Publish(publication(2, &hash, "2023-04-01"))).is_ok());
}

#[test]
fn a_briefing_is_republished_only_with_new_content_and_a_stated_correction() {
    use zhaoshang_domain::briefing::{Briefing, BriefingCommand, BriefingEvent};
    let first = "a".repeat(64);
    let published = Scenario::<Briefing>::on(TODAY)
        .then_apply(BriefingCommand::Publish(publication(1, &first, "2023-04-06")))
        .unwrap();
    assert_eq!(
        refused(published.when(BriefingCommand::Publish(publication(1, &first, "2023-04-07")))),
        "already_published"
    );
    let second = "b".repeat(64);
    assert_eq!(
        refused(published.when(BriefingCommand::Publish(publication(1, &second, "2023-04-07")))),
        "correction_reason_required"
    );
    let mut corrected = publication(1, &second, "2023-04-07");
    corrected.correction = Some(text("更正签约金额。"));
    assert!(matches!(
        published.when(BriefingCommand::Publish(corrected.clone())).unwrap(),
        BriefingEvent::Republished(_)
    ));
    corrected.quarter = 2;
    corrected.on = date("2023-07-07");
    assert_eq!(refused(published.when(BriefingCommand::Publish(corrected))), "briefing_of_its_quarter");
}

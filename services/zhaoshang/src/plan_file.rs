//! Loading a plan period from its data file (`deploy/plans/*.toml`) through
//! commands, so that the organisation and the targets are part of the event
//! history like any other fact.
//!
//! Every command carries an idempotency key derived from the plan's id and
//! the item, so loading the same file twice adds nothing.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;
use zhaoshang_command::{CommandError, CommandService, RepositoryOf, RequestContext};
use zhaoshang_domain::plan::{
    AdoptPlanPeriod, FormLeadingGroup, LeadingGroup, LeadingGroupCommand, LeadingGroupMember, PlanPeriod,
    PlanPeriodCommand, PlanTargets, TargetSet,
};
use zhaoshang_domain::task_force::{EstablishTaskForce, TaskForce, TaskForceCommand};
use zhaoshang_domain::values::{InvestmentThresholds, Name, Slug, Yuan};
use zhaoshang_domain::{Aggregate, DecisionContext};

/// The 2022–2024 plan, built into the binary so `zhaoshang up` needs no file.
pub const PLAN_2022_2024: &str = include_str!("../../../deploy/plans/liuzhou-kjj-2022-2024.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    plan: PlanSection,
    leading_group: LeadingGroupSection,
    task_forces: Vec<TaskForceSection>,
    targets: TargetsSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanSection {
    id: Slug,
    title: Name,
    document_number: Name,
    issued_by: Name,
    issued_on: NaiveDate,
    first_year: i32,
    last_year: i32,
    investment_thresholds_yuan: ThresholdsSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdsSection {
    industrial: Yuan,
    service: Yuan,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeadingGroupSection {
    name: Name,
    office_name: Name,
    office_department: Name,
    office_director: Name,
    members: Vec<LeadingGroupMember>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskForceSection {
    id: Slug,
    #[serde(flatten)]
    charter: CharterSection,
}

#[derive(Deserialize)]
struct CharterSection {
    number: u16,
    name: Name,
    chain: Name,
    convener: Name,
    deputy_convener: Name,
    lead_department: Name,
    #[serde(default)]
    cooperating_departments: Vec<Name>,
    #[serde(default)]
    cooperating_departments_open_ended: bool,
    #[serde(default)]
    district_bureaus: Vec<Name>,
    #[serde(default)]
    district_bureaus_open_ended: bool,
    #[serde(default)]
    chain_leaders: Vec<Name>,
    #[serde(default)]
    chain_leaders_open_ended: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsSection {
    system: SystemTargets,
    task_force: PerYear,
    office: PerYear,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemTargets {
    #[serde(default)]
    years: BTreeMap<String, TargetSet>,
    #[serde(default)]
    cumulative: TargetSet,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PerYear {
    per_year: TargetSet,
}

/// What loading a plan did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Commands that wrote an event.
    pub written: usize,
    /// Commands whose event existed already (the file was loaded before).
    pub already_loaded: usize,
}

/// Loads a plan file through the command service.
///
/// # Errors
/// When the file does not parse or a command is refused.
pub async fn load(service: &CommandService, text: &str, actor: &str) -> anyhow::Result<LoadReport> {
    let file: PlanFile = toml::from_str(text).context("the plan file is not valid")?;
    let plan_id = file.plan.id.as_str().to_owned();
    let mut system_years = BTreeMap::new();
    for (year, set) in file.targets.system.years {
        let year: i32 = year.parse().with_context(|| format!("targets.system.years.{year} is not a year"))?;
        system_years.insert(year, set);
    }
    let adopt = AdoptPlanPeriod {
        title: file.plan.title,
        document_number: file.plan.document_number,
        issued_by: file.plan.issued_by,
        issued_on: file.plan.issued_on,
        first_year: file.plan.first_year,
        last_year: file.plan.last_year,
        investment_thresholds: InvestmentThresholds {
            industrial: file.plan.investment_thresholds_yuan.industrial,
            service: file.plan.investment_thresholds_yuan.service,
        },
        targets: PlanTargets {
            system_years,
            system_cumulative: file.targets.system.cumulative,
            task_force_per_year: file.targets.task_force.per_year,
            office_per_year: file.targets.office.per_year,
        },
    };
    let issued_on = adopt.issued_on;
    let correlation_id = Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("zhaoshang:plan:{plan_id}").as_bytes());
    let context = |key: String| RequestContext {
        actor: actor.to_owned(),
        correlation_id,
        idempotency_key: Some(key),
        expected_version: None,
        decision: DecisionContext { today: zhaoshang_command::liuzhou_today() },
        now: chrono::Utc::now(),
    };
    let mut report = LoadReport::default();
    run::<PlanPeriod>(
        service,
        &plan_id,
        PlanPeriodCommand::Adopt(adopt.clone()),
        &context(format!("plan:{plan_id}")),
        &mut report,
    )
    .await?;
    service.remember_plan(adopt);
    let group_id = format!("leading-group-{plan_id}");
    let form = FormLeadingGroup {
        plan_period_id: file.plan.id.clone(),
        name: file.leading_group.name,
        office_name: file.leading_group.office_name,
        office_department: file.leading_group.office_department,
        office_director: file.leading_group.office_director,
        members: file.leading_group.members,
        on: issued_on,
    };
    run::<LeadingGroup>(
        service,
        &group_id,
        LeadingGroupCommand::Form(form),
        &context(format!("plan:{plan_id}:leading-group")),
        &mut report,
    )
    .await?;
    for task_force in file.task_forces {
        let c = task_force.charter;
        let establish = EstablishTaskForce {
            number: c.number,
            name: c.name,
            chain: c.chain,
            convener: c.convener,
            deputy_convener: c.deputy_convener,
            lead_department: c.lead_department,
            cooperating_departments: c.cooperating_departments,
            cooperating_departments_open_ended: c.cooperating_departments_open_ended,
            district_bureaus: c.district_bureaus,
            district_bureaus_open_ended: c.district_bureaus_open_ended,
            chain_leaders: c.chain_leaders,
            chain_leaders_open_ended: c.chain_leaders_open_ended,
            on: issued_on,
        };
        let id = task_force.id.as_str().to_owned();
        let key = format!("plan:{plan_id}:task-force:{id}");
        run::<TaskForce>(service, &id, TaskForceCommand::Establish(establish), &context(key), &mut report).await?;
    }
    Ok(report)
}

async fn run<A: Aggregate>(
    service: &CommandService,
    id: &str,
    command: A::Command,
    request: &RequestContext,
    report: &mut LoadReport,
) -> anyhow::Result<()>
where
    CommandService: RepositoryOf<A>,
{
    match RepositoryOf::<A>::repository(service).execute(id, &command, request).await {
        Ok(outcome) if outcome.replayed => report.already_loaded += 1,
        Ok(_) => report.written += 1,
        Err(CommandError::Domain(zhaoshang_domain::DomainError::AlreadyExists { .. })) => report.already_loaded += 1,
        Err(error) => {
            return Err(anyhow::anyhow!("{error}")).with_context(|| format!("failed to load {} {id}", A::TYPE));
        }
    }
    Ok(())
}

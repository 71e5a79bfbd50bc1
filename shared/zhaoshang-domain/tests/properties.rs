//! Properties of the decide functions, over generated command sequences:
//! no input makes `decide` or `evolve` panic, and every accepted command
//! yields an event that travels through the envelope unchanged (its hash
//! verifies, it decodes to the same event) and validates against the
//! contract's JSON Schema of its type and the envelope's schema.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use zhaoshang_domain::activity::{Activity, ActivityCommand, ActivityDetails, CancelActivity};
use zhaoshang_domain::contract;
use zhaoshang_domain::meeting::{Meeting, MeetingCommand, RecordMeetingConvened};
use zhaoshang_domain::project::{
    AgreementKind, DatedAmount, DatedReason, DatedStep, Project, ProjectCommand, RecordProjectLead, RegisterCompany,
    SignProject, StartNegotiation,
};
use zhaoshang_domain::task_force::{
    AssignLiaison, ChangePerson, DockingMethod, EstablishTaskForce, RecordDocking, SubmitAnnualPlan, TaskForce,
    TaskForceCommand,
};
use zhaoshang_domain::values::{
    ActivityKind, EnterpriseInvolved, EnterpriseRole, InvestmentThresholds, MeetingKind, Name, ProjectCategory, Slug,
    Text, YUAN_MAX, Yuan,
};
use zhaoshang_domain::{Aggregate, DecisionContext, EventEnvelope, EventMetadata};

/// The contract's schemas, compiled once.
struct Contract {
    schemas: boon::Schemas,
    envelope: boon::SchemaIndex,
    by_type: BTreeMap<String, boon::SchemaIndex>,
}

impl Contract {
    fn new() -> Self {
        let mut compiler = boon::Compiler::new();
        let mut schemas = boon::Schemas::new();
        let mut compile = |id: String, schema: Value| {
            compiler.add_resource(&id, schema).expect("a schema");
            compiler.compile(&id, &mut schemas).expect("the schema compiles")
        };
        let envelope = contract::envelope_schema();
        let envelope_id = envelope["$id"].as_str().expect("$id").to_owned();
        let envelope = compile(envelope_id, envelope);
        let mut by_type = BTreeMap::new();
        for event_type in contract::event_types() {
            let schema = event_type.schema().to_value();
            let id = schema["$id"].as_str().expect("$id").to_owned();
            by_type.insert(event_type.full_type(), compile(id, schema));
        }
        Self { schemas, envelope, by_type }
    }

    /// Decides every command in turn; checks each accepted one's event.
    fn run<A: Aggregate>(&self, today: NaiveDate, commands: &[A::Command]) -> Result<usize, TestCaseError> {
        let context = DecisionContext { today };
        let mut state = A::default();
        let mut previous_hash = None;
        let mut accepted = 0;
        for command in commands {
            let Ok(event) = state.decide(command, &context) else { continue };
            accepted += 1;
            let metadata = EventMetadata {
                actor: "property".to_owned(),
                correlation_id: Uuid::now_v7(),
                causation_id: None,
                idempotency_key: None,
                recorded_at: chrono::Utc::now(),
            };
            let version = accepted as u64;
            let envelope = EventEnvelope::seal(A::TYPE, "p-1", version, previous_hash.clone(), &event, &metadata);
            let bytes = envelope.to_vec();
            let read = EventEnvelope::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&read, &envelope);
            prop_assert_eq!(read.compute_hash(), read.hash.clone(), "the hash verifies after the round trip");
            let decoded: A::Event = read.decode().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                serde_json::to_value(&decoded).expect("json"),
                serde_json::to_value(&event).expect("json"),
                "the event decodes to itself"
            );
            let as_json: Value = serde_json::from_slice(&bytes).expect("json");
            if let Err(error) = self.schemas.validate(&as_json, self.envelope) {
                return Err(TestCaseError::fail(format!("envelope breaks its schema: {error:#}")));
            }
            let index = self.by_type.get(&envelope.event_type).expect("every event type is in the contract");
            if let Err(error) = self.schemas.validate(&envelope.data, *index) {
                return Err(TestCaseError::fail(format!("{} breaks its schema: {error:#}", envelope.event_type)));
            }
            previous_hash = Some(envelope.hash.clone());
            state = state.evolve(&event);
        }
        Ok(accepted)
    }
}

fn contract_once() -> &'static Contract {
    static CONTRACT: std::sync::OnceLock<Contract> = std::sync::OnceLock::new();
    CONTRACT.get_or_init(Contract::new)
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    // Mostly the plan's years, so that orderly histories are reached; also far outside them.
    prop_oneof![4 => 2019i32..2023, 1 => 1995i32..2105].prop_flat_map(|y| (Just(y), 1u32..=12, 1u32..=31)).prop_map(
        |(y, m, d)| {
            NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| NaiveDate::from_ymd_opt(y, m, 28).expect("28th"))
        },
    )
}

fn today() -> impl Strategy<Value = NaiveDate> {
    (2020i32..2030, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).expect("a day"))
}

/// Any text a person might type or paste, decomposed accents and odd spaces included.
fn raw_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ \\t柳州汽车招商a-zA-Z0-9]{0,30}",
        "\\PC{0,40}",
        Just("e\u{301}".repeat(200)),
        Just("\u{3000}某企业\u{3000}".to_owned()),
    ]
}

fn name() -> impl Strategy<Value = Name> {
    raw_text().prop_filter_map("a valid name", |t| Name::parse(&t).ok())
}

fn text() -> impl Strategy<Value = Text> {
    raw_text().prop_filter_map("a valid text", |t| Text::parse(&t).ok())
}

fn slug() -> impl Strategy<Value = Slug> {
    prop_oneof![Just("automotive".to_owned()), Just("biomedicine".to_owned()), "[a-z0-9_-]{1,64}"]
        .prop_map(|s| Slug::parse(&s).expect("a slug"))
}

fn yuan() -> impl Strategy<Value = Yuan> {
    prop_oneof![1i64..=YUAN_MAX, Just(YUAN_MAX), Just(100_000_000), Just(99_999_999), Just(50_000_000)]
        .prop_map(|v| Yuan::new(v).expect("in range"))
}

fn names(max: usize) -> impl Strategy<Value = Vec<Name>> {
    proptest::collection::vec(name(), 0..max)
}

fn category() -> impl Strategy<Value = ProjectCategory> {
    prop_oneof![Just(ProjectCategory::Industrial), Just(ProjectCategory::Service)]
}

fn project_command() -> impl Strategy<Value = ProjectCommand> {
    let step = || (any_date(), proptest::option::of(name())).prop_map(|(on, evidence)| DatedStep { on, evidence });
    let amount = || (any_date(), yuan()).prop_map(|(on, amount_yuan)| DatedAmount { on, amount_yuan });
    let reason = || (any_date(), text()).prop_map(|(on, reason)| DatedReason { on, reason });
    prop_oneof![
        (slug(), name(), name(), category(), proptest::option::of(yuan()), name(), any_date()).prop_map(
            |(task_force_id, name, investor, category, planned_investment_yuan, owner, on)| {
                ProjectCommand::RecordLead(RecordProjectLead {
                    task_force_id,
                    name,
                    investor,
                    category,
                    planned_investment_yuan,
                    owner,
                    on,
                })
            }
        ),
        (any_date(), proptest::option::of(text()))
            .prop_map(|(on, note)| ProjectCommand::StartNegotiation(StartNegotiation { on, note })),
        (any_date(), any::<bool>(), yuan(), proptest::option::of(name())).prop_map(
            |(on, contract, investment_yuan, evidence)| {
                ProjectCommand::Sign(SignProject {
                    on,
                    agreement: if contract { AgreementKind::Contract } else { AgreementKind::Framework },
                    investment_yuan,
                    evidence,
                    thresholds: InvestmentThresholds::default(),
                })
            }
        ),
        (any_date(), name(), proptest::option::of(name())).prop_map(|(on, company_name, evidence)| {
            ProjectCommand::RegisterCompany(RegisterCompany { on, company_name, evidence })
        }),
        step().prop_map(ProjectCommand::StartConstruction),
        step().prop_map(ProjectCommand::StartProduction),
        amount().prop_map(ProjectCommand::RecordFundsArrived),
        amount().prop_map(ProjectCommand::IncreaseInvestment),
        step().prop_map(ProjectCommand::EnterReserve),
        reason().prop_map(ProjectCommand::Stall),
        step().prop_map(ProjectCommand::Resume),
        reason().prop_map(ProjectCommand::Drop),
    ]
}

/// A lead first (mostly), then any commands: a history that gets somewhere.
fn project_history() -> impl Strategy<Value = Vec<ProjectCommand>> {
    (project_command(), proptest::collection::vec(project_command(), 0..14), any::<bool>()).prop_map(
        |(first, rest, lead_first)| {
            let mut commands = Vec::with_capacity(rest.len() + 2);
            if lead_first {
                commands.push(ProjectCommand::RecordLead(RecordProjectLead {
                    task_force_id: Slug::parse("automotive").expect("slug"),
                    name: Name::parse("项目").expect("name"),
                    investor: Name::parse("投资方").expect("name"),
                    category: ProjectCategory::Industrial,
                    planned_investment_yuan: None,
                    owner: Name::parse("召集人").expect("name"),
                    on: NaiveDate::from_ymd_opt(2019, 1, 1).expect("date"),
                }));
            }
            commands.push(first);
            commands.extend(rest);
            commands
        },
    )
}

fn activity_details() -> impl Strategy<Value = ActivityDetails> {
    let kind = prop_oneof![Just(ActivityKind::GoingOut), Just(ActivityKind::InvitingIn), Just(ActivityKind::Online)];
    let role =
        prop_oneof![Just(EnterpriseRole::Target), Just(EnterpriseRole::ChainLeader), Just(EnterpriseRole::Other)];
    let enterprises =
        proptest::collection::vec((name(), role).prop_map(|(name, role)| EnterpriseInvolved { name, role }), 0..6);
    (slug(), kind, name(), any_date(), any::<bool>(), names(3), enterprises, proptest::option::of(text())).prop_map(
        |(task_force_id, kind, title, on, led_by_principal_leader, destination_cities, enterprises, note)| {
            ActivityDetails {
                task_force_id,
                kind,
                title,
                on,
                led_by_principal_leader,
                destination_cities,
                enterprises,
                note,
            }
        },
    )
}

fn activity_command() -> impl Strategy<Value = ActivityCommand> {
    prop_oneof![
        activity_details().prop_map(ActivityCommand::Plan),
        activity_details().prop_map(ActivityCommand::RecordHeld),
        (any_date(), text()).prop_map(|(on, reason)| ActivityCommand::Cancel(CancelActivity { on, reason })),
    ]
}

fn meeting_command() -> impl Strategy<Value = MeetingCommand> {
    let kind = prop_oneof![Just(MeetingKind::Joint), Just(MeetingKind::MonthlyReport), Just(MeetingKind::Supervision)];
    (kind, proptest::option::of(slug()), any_date(), name(), names(4), proptest::option::of(text())).prop_map(
        |(kind, task_force_id, on, title, attendees, minutes)| {
            MeetingCommand::RecordConvened(RecordMeetingConvened { kind, task_force_id, on, title, attendees, minutes })
        },
    )
}

fn task_force_command() -> impl Strategy<Value = TaskForceCommand> {
    let person = || {
        (name(), any_date(), proptest::option::of(text())).prop_map(|(name, on, reason)| ChangePerson {
            name,
            on,
            reason,
        })
    };
    let method = prop_oneof![
        Just(DockingMethod::GoingOut),
        Just(DockingMethod::InvitingIn),
        Just(DockingMethod::Online),
        Just(DockingMethod::Other)
    ];
    let role =
        prop_oneof![Just(EnterpriseRole::Target), Just(EnterpriseRole::ChainLeader), Just(EnterpriseRole::Other)];
    prop_oneof![
        (0u16..1100, name(), name(), name(), name(), name(), names(3), names(3), names(3), any_date()).prop_map(
            |(number, name, chain, convener, deputy_convener, lead_department, cooperating, districts, leaders, on)| {
                TaskForceCommand::Establish(EstablishTaskForce {
                    number,
                    name,
                    chain,
                    convener,
                    deputy_convener,
                    lead_department,
                    cooperating_departments: cooperating,
                    cooperating_departments_open_ended: false,
                    district_bureaus: districts,
                    district_bureaus_open_ended: true,
                    chain_leaders: leaders,
                    chain_leaders_open_ended: false,
                    on,
                })
            }
        ),
        person().prop_map(TaskForceCommand::ChangeConvener),
        person().prop_map(TaskForceCommand::ChangeDeputyConvener),
        (name(), name(), any_date())
            .prop_map(|(name, department, on)| TaskForceCommand::AssignLiaison(AssignLiaison { name, department, on })),
        (name(), role, method, any_date(), names(3), proptest::option::of(text())).prop_map(
            |(enterprise, enterprise_role, method, on, participants, outcome)| {
                TaskForceCommand::RecordDocking(RecordDocking {
                    enterprise,
                    enterprise_role,
                    method,
                    on,
                    participants,
                    outcome,
                })
            }
        ),
        (1990i32..2110, name(), name(), prop_oneof!["[0-9a-f]{64}", "[0-9a-fA-Z]{60,66}"], any_date()).prop_map(
            |(year, title, document_ref, document_sha256, on)| {
                TaskForceCommand::SubmitAnnualPlan(SubmitAnnualPlan { year, title, document_ref, document_sha256, on })
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn project_decisions_never_panic_and_accepted_events_meet_the_contract(
        today in today(),
        commands in project_history(),
    ) {
        contract_once().run::<Project>(today, &commands)?;
    }

    #[test]
    fn activity_decisions_never_panic_and_accepted_events_meet_the_contract(
        today in today(),
        commands in proptest::collection::vec(activity_command(), 1..6),
    ) {
        contract_once().run::<Activity>(today, &commands)?;
    }

    #[test]
    fn meeting_decisions_never_panic_and_accepted_events_meet_the_contract(
        today in today(),
        commands in proptest::collection::vec(meeting_command(), 1..4),
    ) {
        contract_once().run::<Meeting>(today, &commands)?;
    }

    #[test]
    fn task_force_decisions_never_panic_and_accepted_events_meet_the_contract(
        today in today(),
        commands in proptest::collection::vec(task_force_command(), 1..10),
    ) {
        contract_once().run::<TaskForce>(today, &commands)?;
    }
}

/// The generators are not so narrow that nothing is ever accepted: a run
/// where every command was refused would prove nothing about events.
#[test]
fn the_generators_reach_accepted_commands() {
    use proptest::strategy::ValueTree as _;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut accepted = 0;
    for _ in 0..200 {
        let today = today().new_tree(&mut runner).expect("tree").current();
        let commands =
            proptest::collection::vec(project_command(), 1..14).new_tree(&mut runner).expect("tree").current();
        accepted += contract_once().run::<Project>(today, &commands).expect("no failure");
    }
    assert!(accepted > 50, "only {accepted} project commands accepted");
}

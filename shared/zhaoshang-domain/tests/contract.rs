//! The public event contract, held to the code.
//!
//! Subscribers build against the committed files under `contract/`: one JSON
//! Schema per event type, the envelope's schema, and one golden example per
//! event type. These tests fail when the catalog misses an event type, when
//! the committed schemas no longer equal what the code generates, and when a
//! golden example stops validating, hashing or decoding.
//!
//! `ZHAOSHANG_BLESS_CONTRACT=1` rewrites the schema files from the code and
//! writes the examples that do not exist yet; an existing example is never
//! rewritten, because it stands for an event already published.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use zhaoshang_domain::activity::{Activity, ActivityCommand, ActivityDetails, ActivityEvent, CancelActivity};
use zhaoshang_domain::briefing::{Briefing, BriefingCommand, BriefingEvent, PublishBriefing};
use zhaoshang_domain::contract;
use zhaoshang_domain::enterprise::{
    CorrectEnterprise, Enterprise, EnterpriseCommand, EnterpriseDetails, EnterpriseEvent,
};
use zhaoshang_domain::envelope::schema_version_of;
use zhaoshang_domain::meeting::{Meeting, MeetingCommand, MeetingEvent, RecordMeetingConvened};
use zhaoshang_domain::monthly_report::{
    AmendMonthlyReport, MonthlyFigures, MonthlyReport, MonthlyReportCommand, MonthlyReportEvent, SubmitMonthlyReport,
};
use zhaoshang_domain::plan::{
    AdoptPlanPeriod, FormLeadingGroup, LeadingGroup, LeadingGroupCommand, LeadingGroupEvent, LeadingGroupMember,
    LeadingGroupRole, Measure, PlanPeriod, PlanPeriodCommand, PlanPeriodEvent, PlanTargets,
};
use zhaoshang_domain::project::{
    AgreementKind, ChangeInvestor, ChangeOwner, DatedAmount, DatedReason, DatedStep, NoteProgress, Project,
    ProjectCommand, ProjectEvent, RaiseProblem, RecordProjectLead, RegisterCompany, ResolveProblem, SignProject,
    StartNegotiation,
};
use zhaoshang_domain::resources::{
    Expenditure, ExpenditureCategory, ExpenditureCommand, ExpenditureEvent, PlatformRelation, RecordExpenditure,
    RecordServicePlatform, RecordTalentIntroduction, ReverseRecord, ServicePlatform, ServicePlatformCommand,
    ServicePlatformEvent, TalentIntroduction, TalentIntroductionCommand, TalentIntroductionEvent,
};
use zhaoshang_domain::supervision::{
    CloseEscalation, Duty, Escalation, EscalationCommand, EscalationEvent, EscalationStep, IssueEscalationStep,
    RecordEscalationResponse,
};
use zhaoshang_domain::task_force::{
    AssignLiaison, ChangePerson, DockingMethod, EraseLiaisonContact, EstablishTaskForce, RecordDocking,
    RecordLiaisonContact, SealedContact, SubmitAnnualPlan, TaskForce, TaskForceCommand, TaskForceEvent,
};
use zhaoshang_domain::testing::{name, slug, text, yuan};
use zhaoshang_domain::upcast;
use zhaoshang_domain::values::{
    ActivityKind, EnterpriseInvolved, EnterpriseRole, InvestmentThresholds, MeetingKind, Name, ProjectCategory,
};
use zhaoshang_domain::{Aggregate, DecisionContext, DomainEvent, EventEnvelope, EventMetadata};

const BLESS_VARIABLE: &str = "ZHAOSHANG_BLESS_CONTRACT";
const BLESS_COMMAND: &str = "ZHAOSHANG_BLESS_CONTRACT=1 cargo test -p zhaoshang-domain --test contract";
const ENVELOPE_FILE: &str = "envelope.json";

fn contract_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contract")
}

fn schemas_dir() -> PathBuf {
    contract_dir().join("schemas")
}

fn examples_dir() -> PathBuf {
    contract_dir().join("examples")
}

fn blessing() -> bool {
    std::env::var(BLESS_VARIABLE).is_ok_and(|v| v == "1")
}

/// Blesses once per test run, before any test reads the files, because the
/// tests of one binary run in parallel and would otherwise read half-written
/// files.
fn files_ready() {
    static BLESSED: OnceLock<()> = OnceLock::new();
    if blessing() {
        BLESSED.get_or_init(bless);
    }
}

/// Sorts every object's members, so the written text does not depend on
/// whether serde_json's `preserve_order` feature happens to be on in a build.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(value)).expect("JSON values always serialise");
    text.push('\n');
    text
}

/// What the committed schema files must be: file name → text.
fn generated_schemas() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for event_type in contract::event_types() {
        files.insert(event_type.file_name(), pretty(&event_type.schema().to_value()));
    }
    files.insert(ENVELOPE_FILE.to_owned(), pretty(&contract::envelope_schema()));
    files
}

fn json_files_in(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = fs::read_dir(dir) else { return BTreeSet::new() };
    entries
        .map(|e| e.expect("a readable directory entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect()
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn asyncapi_file() -> PathBuf {
    contract_dir().join("asyncapi.json")
}

fn bless() {
    let asyncapi = pretty(&contract::asyncapi_document());
    if fs::read_to_string(asyncapi_file()).ok().as_deref() != Some(asyncapi.as_str()) {
        fs::write(asyncapi_file(), asyncapi).expect("cannot write contract/asyncapi.json");
    }
    fs::create_dir_all(schemas_dir()).expect("create contract/schemas");
    fs::create_dir_all(examples_dir()).expect("create contract/examples");
    for (name, text) in generated_schemas() {
        let path = schemas_dir().join(&name);
        if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
    }
    for (name, envelope) in golden_examples() {
        let path = examples_dir().join(&name);
        if !path.exists() {
            fs::write(&path, example_text(&envelope))
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
    }
}

/// The example as written: the envelope's members in CloudEvents order, the
/// payload's sorted.
fn example_text(envelope: &EventEnvelope) -> String {
    let mut envelope = envelope.clone();
    envelope.data = sorted(&envelope.data);
    let mut text = serde_json::to_string_pretty(&envelope).expect("envelopes always serialise");
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------
// 1. The catalog lists every event type, and nothing else.
// ---------------------------------------------------------------------------

/// A variant of an event enum as its derived schema describes it: the tag,
/// and the name of the payload type its `data` refers to.
struct Variant {
    tag: String,
    payload: Option<String>,
}

/// Reads the variants of an adjacently tagged enum from its schema: each
/// `oneOf` branch fixes `type` with `const` (or a one-value `enum`).
fn variants_of<E: JsonSchema>() -> Vec<Variant> {
    let schema = schemars::schema_for!(E).to_value();
    let branches = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{} has no oneOf: {schema:#}", E::schema_name()));
    let mut variants = Vec::new();
    for branch in branches {
        let type_schema = &branch["properties"]["type"];
        let tags: Vec<String> = match (type_schema.get("const"), type_schema.get("enum")) {
            (Some(Value::String(tag)), _) => vec![tag.clone()],
            (_, Some(Value::Array(values))) => values.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => panic!("a branch of {} does not fix its type: {branch:#}", E::schema_name()),
        };
        let payload = branch["properties"]["data"]
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .map(str::to_owned);
        variants.extend(tags.into_iter().map(|tag| Variant { tag, payload: payload.clone() }));
    }
    variants
}

fn enum_variants() -> BTreeMap<&'static str, Vec<Variant>> {
    BTreeMap::from([
        (TaskForce::TYPE, variants_of::<TaskForceEvent>()),
        (Project::TYPE, variants_of::<ProjectEvent>()),
        (Activity::TYPE, variants_of::<ActivityEvent>()),
        (Meeting::TYPE, variants_of::<MeetingEvent>()),
        (PlanPeriod::TYPE, variants_of::<PlanPeriodEvent>()),
        (LeadingGroup::TYPE, variants_of::<LeadingGroupEvent>()),
        (Enterprise::TYPE, variants_of::<EnterpriseEvent>()),
        (ServicePlatform::TYPE, variants_of::<ServicePlatformEvent>()),
        (Expenditure::TYPE, variants_of::<ExpenditureEvent>()),
        (TalentIntroduction::TYPE, variants_of::<TalentIntroductionEvent>()),
        (Briefing::TYPE, variants_of::<BriefingEvent>()),
        (MonthlyReport::TYPE, variants_of::<MonthlyReportEvent>()),
        (Escalation::TYPE, variants_of::<EscalationEvent>()),
    ])
}

#[test]
fn the_catalog_lists_every_variant_of_every_event_enum_and_nothing_else() {
    let catalog = contract::event_types();
    let enums = enum_variants();
    let mut problems = Vec::new();

    let mut seen = BTreeSet::new();
    for entry in &catalog {
        if !seen.insert(entry.tag) {
            problems.push(format!("{} is listed twice", entry.tag));
        }
        if !entry.tag.starts_with(&format!("{}.", entry.aggregate_type)) {
            problems.push(format!("{} is listed under aggregate {}", entry.tag, entry.aggregate_type));
        }
        if entry.summary.trim().is_empty() {
            problems.push(format!("{} has no summary", entry.tag));
        }
        let Some(variants) = enums.get(entry.aggregate_type) else {
            problems.push(format!("{} names an unknown aggregate type {}", entry.tag, entry.aggregate_type));
            continue;
        };
        match variants.iter().find(|v| v.tag == entry.tag) {
            // An older version the upcasters read as a current one stays in
            // the catalog, so its schema stays published for the events
            // already in the stream (see contract/README.md).
            None if upcast::needs_upcast(entry.tag) => {}
            None => problems.push(format!(
                "{} is neither a variant of the {} event enum nor an older version the upcasters read",
                entry.tag, entry.aggregate_type
            )),
            Some(variant) => {
                // The payload type is named once in the enum and once in the
                // catalog; the two must agree, or the schema describes another type.
                let generated = (entry.data_schema)();
                let catalog_payload = generated.get("title").and_then(Value::as_str);
                if variant.payload.as_deref() != catalog_payload {
                    problems.push(format!(
                        "{}: the enum's payload is {:?} but the catalog's schema is of {:?}",
                        entry.tag, variant.payload, catalog_payload
                    ));
                }
            }
        }
    }
    for (aggregate_type, variants) in &enums {
        for variant in variants {
            if !catalog.iter().any(|e| e.aggregate_type == *aggregate_type && e.tag == variant.tag) {
                problems.push(format!(
                    "{} is a variant of the {aggregate_type} event enum but missing from contract::event_types()",
                    variant.tag
                ));
            }
        }
    }
    assert!(problems.is_empty(), "the event catalog is out of step with the event enums:\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// 2. The committed schemas are what the code generates.
// ---------------------------------------------------------------------------

#[test]
fn the_committed_asyncapi_document_equals_the_generated_one() {
    files_ready();
    let committed = fs::read_to_string(asyncapi_file()).unwrap_or_default();
    assert!(
        committed == pretty(&contract::asyncapi_document()),
        "contract/asyncapi.json differs from the code: run `{BLESS_COMMAND}` and review the diff"
    );
    // Every message's references point at committed files.
    let document: Value = serde_json::from_str(&committed).expect("JSON");
    let messages = document["components"]["messages"].as_object().expect("messages");
    assert_eq!(messages.len(), contract::event_types().len());
    for message in messages.values() {
        let data_ref = message["payload"]["allOf"][1]["properties"]["data"]["$ref"].as_str().expect("a data $ref");
        assert!(contract_dir().join(data_ref).is_file(), "{data_ref} is committed");
        let example = message["x-golden-example"].as_str().expect("an example");
        assert!(contract_dir().join(example).is_file(), "{example} is committed");
    }
}

#[test]
fn committed_schemas_equal_the_generated_ones() {
    files_ready();
    let generated = generated_schemas();
    let mut problems = Vec::new();
    for (name, text) in &generated {
        let path = schemas_dir().join(name);
        match fs::read_to_string(&path) {
            Err(_) => problems.push(format!("{} is missing", path.display())),
            Ok(committed) if committed != *text => {
                problems.push(format!("{} differs from what the code generates", path.display()))
            }
            Ok(_) => {}
        }
    }
    for name in json_files_in(&schemas_dir()) {
        if !generated.contains_key(&name) {
            problems.push(format!(
                "{} has no entry in contract::event_types(): add the event type there, \
                 or delete the file if the type is gone",
                schemas_dir().join(&name).display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the committed event contract has drifted from the code:\n{}\n\nIf the change is intended, run \
         `{BLESS_COMMAND}` to regenerate the schemas, review the diff (a changed schema of a published \
         version breaks subscribers: see src/upcast.rs) and commit it.",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------
// 3. Golden examples validate, hash, chain and decode.
// ---------------------------------------------------------------------------

type FormatCheck = fn(&Value) -> Result<(), Box<dyn std::error::Error>>;

/// The integer formats schemars writes, each with the range of its Rust type.
const INTEGER_FORMATS: [(&str, FormatCheck); 5] = [
    ("int32", |v| in_range(v, i32::MIN.into(), i32::MAX.into())),
    ("int64", |v| in_range(v, i64::MIN.into(), i64::MAX.into())),
    ("uint16", |v| in_range(v, 0, u16::MAX.into())),
    ("uint32", |v| in_range(v, 0, u32::MAX.into())),
    ("uint64", |v| in_range(v, 0, u64::MAX.into())),
];

/// Whether a number is an integer within `min..=max`; other values are left
/// to the schema's `type`.
fn in_range(value: &Value, min: i128, max: i128) -> Result<(), Box<dyn std::error::Error>> {
    let Value::Number(number) = value else { return Ok(()) };
    let integer = number.as_i64().map(i128::from).or_else(|| number.as_u64().map(i128::from));
    match integer {
        Some(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(format!("{number} is not an integer from {min} to {max}").into()),
    }
}

/// The committed schemas, compiled: the envelope's, and each event type's by
/// its full type.
struct Validator {
    schemas: boon::Schemas,
    envelope: boon::SchemaIndex,
    by_type: BTreeMap<String, Result<boon::SchemaIndex, String>>,
}

impl Validator {
    fn from_committed_files() -> Self {
        let mut compiler = boon::Compiler::new();
        // Draft 2020-12 leaves `format` as an annotation; the contract means
        // it (uuid, date, date-time), so a validator here asserts it.
        compiler.enable_format_assertions();
        // schemars names a Rust integer's width as a format; the validator
        // knows none of them, so they are taught here to refuse, say, a year
        // that would not fit the i32 the code reads it into.
        for (name, func) in INTEGER_FORMATS {
            compiler.register_format(boon::Format { name, func });
        }
        let mut schemas = boon::Schemas::new();
        let mut compile = |file: &str| -> Result<boon::SchemaIndex, String> {
            let schema = read_json(&schemas_dir().join(file));
            let id = schema["$id"].as_str().ok_or_else(|| format!("{file} has no $id"))?.to_owned();
            compiler.add_resource(&id, schema).map_err(|e| format!("{file} is not a schema: {e}"))?;
            compiler.compile(&id, &mut schemas).map_err(|e| format!("{file} does not compile: {e:#}"))
        };
        let envelope = compile(ENVELOPE_FILE).unwrap_or_else(|e| panic!("{e}"));
        // A broken type schema fails only the examples that need it, so
        // the drift test can still say which file is wrong.
        let mut by_type = BTreeMap::new();
        for file in json_files_in(&schemas_dir()) {
            if file != ENVELOPE_FILE {
                by_type.insert(file.trim_end_matches(".json").to_owned(), compile(&file));
            }
        }
        Self { schemas, envelope, by_type }
    }

    fn check_envelope(&self, value: &Value) -> Result<(), String> {
        self.schemas.validate(value, self.envelope).map_err(|e| format!("{e:#}"))
    }

    fn check_data(&self, full_type: &str, data: &Value) -> Result<(), String> {
        let index = self.by_type.get(full_type).ok_or_else(|| format!("no committed schema for {full_type}"))?;
        let index = index.as_ref().map_err(Clone::clone)?;
        self.schemas.validate(data, *index).map_err(|e| format!("{e:#}"))
    }
}

/// What decoding an example gave: the tag and payload as the current code
/// writes them, and the date the event says it happened.
struct Decoded {
    tag: String,
    data: Value,
    occurred_on: Option<NaiveDate>,
}

fn decode_as<E: DomainEvent>(envelope: &EventEnvelope) -> Result<Decoded, String> {
    let event: E = envelope.decode().map_err(|e| e.to_string())?;
    let tagged = serde_json::to_value(&event).map_err(|e| e.to_string())?;
    Ok(Decoded {
        tag: tagged["type"].as_str().unwrap_or_default().to_owned(),
        data: tagged["data"].clone(),
        occurred_on: event.occurred_on(),
    })
}

fn decode(envelope: &EventEnvelope) -> Result<Decoded, String> {
    match envelope.aggregatetype.as_str() {
        "task_force" => decode_as::<TaskForceEvent>(envelope),
        "project" => decode_as::<ProjectEvent>(envelope),
        "activity" => decode_as::<ActivityEvent>(envelope),
        "meeting" => decode_as::<MeetingEvent>(envelope),
        "plan_period" => decode_as::<PlanPeriodEvent>(envelope),
        "leading_group" => decode_as::<LeadingGroupEvent>(envelope),
        "enterprise" => decode_as::<EnterpriseEvent>(envelope),
        "service_platform" => decode_as::<ServicePlatformEvent>(envelope),
        "expenditure" => decode_as::<ExpenditureEvent>(envelope),
        "talent_introduction" => decode_as::<TalentIntroductionEvent>(envelope),
        "briefing" => decode_as::<BriefingEvent>(envelope),
        "monthly_report" => decode_as::<MonthlyReportEvent>(envelope),
        "escalation" => decode_as::<EscalationEvent>(envelope),
        other => Err(format!("unknown aggregate type {other}")),
    }
}

/// Checks one example file; returns the envelope when it parses at all.
fn check_example(validator: &Validator, file: &str, problems: &mut Vec<String>) -> Option<EventEnvelope> {
    let value = read_json(&examples_dir().join(file));
    let mut problem = |what: String| problems.push(format!("{file}: {what}"));
    if let Err(e) = validator.check_envelope(&value) {
        problem(format!("does not validate against {ENVELOPE_FILE}: {e}"));
    }
    let envelope: EventEnvelope = match serde_json::from_value(value) {
        Ok(envelope) => envelope,
        Err(e) => {
            problem(format!("is not an envelope: {e}"));
            return None;
        }
    };
    if file.trim_end_matches(".json") != envelope.event_type {
        problem(format!("holds an event of type {}", envelope.event_type));
    }
    if let Err(e) = validator.check_data(&envelope.event_type, &envelope.data) {
        problem(format!("data does not validate against its type's schema: {e}"));
    }
    if envelope.hash != envelope.compute_hash() {
        problem(format!("hash is {} but the envelope hashes to {}", envelope.hash, envelope.compute_hash()));
    }
    let tag = envelope.short_type().to_owned();
    if envelope.schemaversion != schema_version_of(&tag) {
        problem(format!("schemaversion {} does not match its type", envelope.schemaversion));
    }
    if !tag.starts_with(&format!("{}.", envelope.aggregatetype)) {
        problem(format!("aggregatetype {} does not match its type", envelope.aggregatetype));
    }
    if envelope.subject != format!("{}/{}", envelope.aggregatetype, envelope.aggregateid) {
        problem(format!("subject {} does not name its aggregate", envelope.subject));
    }
    match decode(&envelope) {
        Err(e) => problem(format!("does not decode with the current code: {e}")),
        Ok(decoded) => {
            if decoded.occurred_on != envelope.occurredat {
                problem(format!("occurredat {:?} but the event says {:?}", envelope.occurredat, decoded.occurred_on));
            }
            // A current-version example must survive the round trip whole;
            // a member the code would drop means the example and code disagree.
            if decoded.tag == tag && decoded.data != envelope.data {
                problem(format!("data reads back as {}", decoded.data));
            }
        }
    }
    Some(envelope)
}

#[test]
fn golden_examples_validate_hash_chain_and_decode() {
    files_ready();
    let validator = Validator::from_committed_files();
    let committed = json_files_in(&examples_dir());
    let mut problems = Vec::new();
    for event_type in contract::event_types() {
        if !committed.contains(&event_type.file_name()) {
            problems.push(format!(
                "{} has no golden example: add one to golden_history() in tests/contract.rs and run `{BLESS_COMMAND}`",
                event_type.full_type()
            ));
        }
    }
    // Every committed example is checked, also one of a type no longer in
    // the catalog: a published event must stay readable after its type moved on.
    let mut chains: BTreeMap<(String, String), BTreeMap<u64, EventEnvelope>> = BTreeMap::new();
    for file in &committed {
        if let Some(envelope) = check_example(&validator, file, &mut problems) {
            let key = (envelope.aggregatetype.clone(), envelope.aggregateid.clone());
            chains.entry(key).or_default().insert(envelope.aggregateversion, envelope);
        }
    }
    for ((aggregate_type, id), events) in &chains {
        for (version, envelope) in events {
            let name = format!("{aggregate_type}/{id} version {version}");
            match (version, &envelope.prevhash) {
                (1, Some(_)) => problems.push(format!("{name} is the first event but has a prevhash")),
                (1, None) => {}
                (_, None) => problems.push(format!("{name} follows another event but has no prevhash")),
                (_, Some(prevhash)) => {
                    if let Some(previous) = events.get(&(version - 1)) {
                        if *prevhash != previous.hash {
                            problems.push(format!("{name}: prevhash is not the hash of version {}", version - 1));
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "golden examples are broken:\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// 4. The schemas refuse what the code refuses.
// ---------------------------------------------------------------------------

fn example(tag: &str) -> Value {
    read_json(&examples_dir().join(format!("{}.json", contract::full_type(tag))))
}

#[test]
fn schemas_refuse_obviously_wrong_events() {
    files_ready();
    let validator = Validator::from_committed_files();
    let signed_type = contract::full_type("project.signed.v1");
    let signed = example("project.signed.v1")["data"].clone();
    assert_eq!(validator.check_data(&signed_type, &signed), Ok(()), "the golden signing is valid");

    let refused = |full_type: &str, data: &Value, why: &str| {
        assert!(validator.check_data(full_type, data).is_err(), "{full_type} accepted {why}: {data}");
    };
    let mut negative = signed.clone();
    negative["investment_yuan"] = json!(-1);
    refused(&signed_type, &negative, "a negative investment");
    let mut fraction = signed.clone();
    fraction["investment_yuan"] = json!(100_000_000.5);
    refused(&signed_type, &fraction, "a fractional amount");
    let mut missing = signed.clone();
    missing.as_object_mut().expect("an object").remove("qualifies");
    refused(&signed_type, &missing, "a payload without `qualifies`");
    let mut agreement = signed.clone();
    agreement["agreement"] = json!("handshake");
    refused(&signed_type, &agreement, "an unknown agreement kind");
    let mut date = signed;
    date["on"] = json!("2022-13-40");
    refused(&signed_type, &date, "an impossible date");

    let lead_type = contract::full_type("project.lead_recorded.v1");
    let lead = example("project.lead_recorded.v1")["data"].clone();
    let mut extra = lead.clone();
    extra["phone"] = json!("0772-0000000");
    refused(&lead_type, &extra, "a member the type denies");
    let mut empty_name = lead.clone();
    empty_name["investor"] = json!("");
    refused(&lead_type, &empty_name, "an empty name");
    let mut bad_slug = lead;
    bad_slug["task_force_id"] = json!("汽车");
    refused(&lead_type, &bad_slug, "a task force id outside the slug alphabet");

    let plan_type = contract::full_type("plan_period.adopted.v1");
    let mut plan = example("plan_period.adopted.v1")["data"].clone();
    plan["last_year"] = json!(3_000_000_000_u64);
    refused(&plan_type, &plan, "a year beyond i32");

    let envelope = example("project.signed.v1");
    assert_eq!(validator.check_envelope(&envelope), Ok(()), "the golden envelope is valid");
    let refused_envelope = |member: &str, value: Value| {
        let mut wrong = envelope.clone();
        wrong[member] = value;
        assert!(validator.check_envelope(&wrong).is_err(), "envelope.json accepted {member} = {}", wrong[member]);
    };
    refused_envelope("type", json!("com.example.project.signed.v1"));
    refused_envelope("hash", json!("ABC"));
    refused_envelope("prevhash", json!("00"));
    refused_envelope("id", json!("not-a-uuid"));
    refused_envelope("time", json!("yesterday"));
    refused_envelope("occurredat", json!("2022-11-18T00:00:00Z"));
    refused_envelope("aggregateversion", json!(0));
    refused_envelope("data", json!("a string"));
    let mut without_hash = envelope;
    without_hash.as_object_mut().expect("an object").remove("hash");
    assert!(validator.check_envelope(&without_hash).is_err(), "envelope.json accepted an envelope without hash");
}

// ---------------------------------------------------------------------------
// The golden history: realistic events of the 2022–2024 plan's automotive
// task force, decided by the aggregates themselves, so each example is one
// the system could have written. Only used when blessing.
// ---------------------------------------------------------------------------

fn names(texts: &[&str]) -> Vec<Name> {
    texts.iter().map(|t| name(t)).collect()
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a valid date")
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("a valid instant").with_timezone(&Utc)
}

/// A UUIDv7 at `at` whose random part comes from `seed`, so a history
/// regenerated later has the same ids and hashes.
fn uuid_v7(at: DateTime<Utc>, seed: &str) -> Uuid {
    let digest = Sha256::digest(seed.as_bytes());
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(at.timestamp_millis()).expect("a time after 1970");
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// Who recorded an event, when, and as part of what.
struct Request<'a> {
    actor: &'a str,
    recorded_at: &'a str,
    correlation_id: Option<Uuid>,
    idempotency_key: Option<&'a str>,
}

impl<'a> Request<'a> {
    fn by(actor: &'a str, recorded_at: &'a str) -> Self {
        Self { actor, recorded_at, correlation_id: None, idempotency_key: None }
    }

    fn correlated(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = Some(correlation_id);
        self
    }

    fn key(mut self, key: &'a str) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

/// One aggregate's events as the command service would write them.
struct Stream<A: Aggregate> {
    id: String,
    state: A,
    version: u64,
    last_hash: Option<String>,
}

impl<A: Aggregate> Stream<A> {
    fn new(id: &str) -> Self {
        Self { id: id.to_owned(), state: A::default(), version: 0, last_hash: None }
    }

    /// Decides `command` as of the recording day in Liuzhou, seals the event
    /// with fixed ids, and appends it to `history`.
    fn record(&mut self, command: A::Command, request: Request<'_>, history: &mut Vec<EventEnvelope>) {
        let recorded_at = instant(request.recorded_at);
        let today = (recorded_at + chrono::Duration::hours(8)).date_naive();
        let event = self
            .state
            .decide(&command, &DecisionContext { today })
            .unwrap_or_else(|e| panic!("the golden history breaks a rule at {} {}: {e}", A::TYPE, self.id));
        let version = self.version + 1;
        let seed = format!("{}/{}/{version}", A::TYPE, self.id);
        let metadata = EventMetadata {
            actor: request.actor.to_owned(),
            correlation_id: request.correlation_id.unwrap_or_else(|| uuid_v7(recorded_at, &format!("{seed}/request"))),
            causation_id: None,
            idempotency_key: request.idempotency_key.map(str::to_owned),
            recorded_at,
        };
        let mut envelope = EventEnvelope::seal(A::TYPE, &self.id, version, self.last_hash.clone(), &event, &metadata);
        envelope.id = uuid_v7(recorded_at, &seed);
        envelope.hash = envelope.compute_hash();
        self.state = std::mem::take(&mut self.state).evolve(&event);
        self.version = version;
        self.last_hash = Some(envelope.hash.clone());
        history.push(envelope);
    }
}

const PLAN_ID: &str = "2022-2024";
const PLAN_LOADER: &str = "system:plan-loader";
// Actors are login names: the command service takes `X-Actor` from a header,
// which carries visible ASCII only, so a Chinese name cannot be an actor.
const LIAISON: &str = "zengzhiyong";
const CONVENER: &str = "lirongjun";
const OFFICE: &str = "dongxiuluan";

fn targets(pairs: &[(Measure, u32)]) -> BTreeMap<Measure, u32> {
    pairs.iter().copied().collect()
}

fn adopt_plan() -> AdoptPlanPeriod {
    use Measure::*;
    AdoptPlanPeriod {
        title: name("柳州科技系统科技招商三年行动实施方案(2022—2024年)"),
        document_number: name("柳科通〔2022〕60号"),
        issued_by: name("柳州市科学技术局"),
        issued_on: day("2022-10-18"),
        first_year: 2022,
        last_year: 2024,
        investment_thresholds: InvestmentThresholds::PLAN_2022_2024,
        targets: PlanTargets {
            system_years: BTreeMap::from([(
                2022,
                targets(&[
                    (ProjectsLedIn, 5),
                    (ProjectsStarted, 3),
                    (Activities, 16),
                    (LeaderLedGoingOut, 4),
                    (ReserveQualityProjects, 40),
                    (TargetEnterprisesDocked, 24),
                ]),
            )]),
            system_cumulative: targets(&[
                (ProjectsLedIn, 15),
                (ProjectsStarted, 10),
                (Activities, 50),
                (LeaderLedGoingOut, 12),
                (ReserveQualityProjects, 100),
                (TargetEnterprisesDocked, 80),
                (ServicePlatforms, 1),
            ]),
            task_force_per_year: targets(&[
                (AnnualPlans, 1),
                (ProjectsLedIn, 1),
                (Activities, 3),
                (GoingOutActivities, 1),
                (InvitingInActivities, 1),
                (OnlineActivities, 1),
                (TargetEnterprisesInvited, 5),
                (ChainLeadersMetOnline, 5),
                (ReserveQualityProjects, 5),
                (TargetEnterprisesDocked, 3),
                (JointMeetingQuarters, 4),
                (SupervisionQuarters, 4),
                (MonthlyReports, 12),
            ]),
            office_per_year: targets(&[(MonthlyReportMeetingMonths, 12), (BriefingQuarters, 4)]),
        },
    }
}

fn form_leading_group() -> FormLeadingGroup {
    use LeadingGroupRole::*;
    let members = [
        ("管伟荣", Leader, "市科学技术局党组书记、局长"),
        ("李荣军", Deputy, "市科学技术局党组成员、副局长"),
        ("董秀鸾", Deputy, "市科学技术局党组成员、副局长"),
        ("靳磊", Deputy, "市科学技术局党组成员、副局长"),
        ("钟丽娜", Deputy, "市科学技术局党组成员、副局长"),
        ("刘文烽", Deputy, "市科学技术情报研究所书记"),
        ("伍国荣", Deputy, "市智能制造科技服务中心书记"),
        ("陈新连", Deputy, "市科学技术情报研究所所长"),
        ("刘勇", Deputy, "市智能制造科技服务中心主任"),
        ("李猛", Member, "市科学技术局办公室主任"),
        ("杨吉奎", Member, "市科学技术局机关党委专职副书记"),
        ("覃靖涛", Member, "市科学技术局法规与监督诚信科科长"),
        ("曾智勇", Member, "市科学技术局重大专项科科长"),
        ("卢超团", Member, "市科学技术局高新技术科科长"),
        ("周毓婷", Member, "市科学技术局农业农村与社会发展科技科科长、发展规划与资源配置科科长（兼）"),
        ("周兵", Member, "市科学技术局成果转化与区域创新科科长"),
        ("杨建军", Member, "市科学技术局创新平台与基础研究科科长"),
        ("黄轶君", Member, "市科学技术局人才引智与对外合作科科长"),
    ];
    FormLeadingGroup {
        plan_period_id: slug(PLAN_ID),
        name: name("柳州科技系统科技招商三年行动领导小组"),
        office_name: name("领导小组办公室"),
        office_department: name("市科学技术局人才引智与对外合作科"),
        office_director: name("董秀鸾"),
        members: members
            .iter()
            .map(|(person, role, title)| LeadingGroupMember { name: name(person), role: *role, title: name(title) })
            .collect(),
        on: day("2022-10-18"),
    }
}

fn establish_automotive() -> EstablishTaskForce {
    EstablishTaskForce {
        number: 1,
        name: name("汽车产业链招商专班"),
        chain: name("汽车"),
        convener: name("李荣军"),
        deputy_convener: name("刘文烽"),
        lead_department: name("市科学技术局重大科"),
        cooperating_departments: names(&[
            "市科学技术局发展规划与资源配置科",
            "市科学技术情报研究所技术转移服务科",
            "市科学技术局创新平台与基础研究科",
            "市科学技术局人才引智与对外合作科",
        ]),
        cooperating_departments_open_ended: false,
        district_bureaus: names(&["柳东新区科技和大数据发展局", "柳南区科学技术局", "柳江区科学技术局"]),
        district_bureaus_open_ended: false,
        chain_leaders: names(&[
            "上汽通用五菱汽车股份有限公司",
            "广西汽车集团有限公司",
            "东风柳州汽车有限公司",
            "一汽解放汽车有限公司柳州分公司",
            "中国重汽集团柳州运力专用汽车有限公司",
            "国轩高科股份有限公司",
            "联合汽车电子（柳州）有限公司",
            "广西方盛实业股份有限公司",
        ]),
        chain_leaders_open_ended: true,
        on: day("2022-10-18"),
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Every event of the golden history, in the order it was recorded. The
/// first event of each type is its golden example; the others are there so
/// that every example's `prevhash` is the hash of a real predecessor.
fn golden_history() -> Vec<EventEnvelope> {
    let mut history = Vec::new();
    let h = &mut history;
    let plan_load = Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("zhaoshang:plan:{PLAN_ID}").as_bytes());

    // The plan is loaded from its data file two days after it was issued.
    Stream::<PlanPeriod>::new(PLAN_ID).record(
        PlanPeriodCommand::Adopt(adopt_plan()),
        Request::by(PLAN_LOADER, "2022-10-20T01:30:00Z").correlated(plan_load).key("plan:2022-2024"),
        h,
    );
    Stream::<LeadingGroup>::new("leading-group-2022-2024").record(
        LeadingGroupCommand::Form(form_leading_group()),
        Request::by(PLAN_LOADER, "2022-10-20T01:30:01Z").correlated(plan_load).key("plan:2022-2024:leading-group"),
        h,
    );

    let mut automotive = Stream::<TaskForce>::new("automotive");
    automotive.record(
        TaskForceCommand::Establish(establish_automotive()),
        Request::by(PLAN_LOADER, "2022-10-20T01:30:02Z")
            .correlated(plan_load)
            .key("plan:2022-2024:task-force:automotive"),
        h,
    );
    automotive.record(
        TaskForceCommand::AssignLiaison(AssignLiaison {
            name: name("曾智勇"),
            department: name("市科学技术局重大科"),
            on: day("2022-10-24"),
        }),
        Request::by(CONVENER, "2022-10-24T03:12:45Z"),
        h,
    );
    let annual_plan_title = "汽车产业链2022年度科技招商工作方案";
    automotive.record(
        TaskForceCommand::SubmitAnnualPlan(SubmitAnnualPlan {
            year: 2022,
            title: name(annual_plan_title),
            document_ref: name("柳科重大〔2022〕3号"),
            document_sha256: sha256_hex(annual_plan_title),
            on: day("2022-10-31"),
        }),
        Request::by(LIAISON, "2022-10-31T08:05:10Z").key("tf-automotive-annual-plan-2022"),
        h,
    );
    let project_a = uuid_v7(instant("2022-03-16T02:20:00Z"), "project/a").to_string();
    let project_b = uuid_v7(instant("2022-05-11T06:40:00Z"), "project/b").to_string();

    // A project from lead to production, with every step the plan names.
    let mut a = Stream::<Project>::new(&project_a);
    let lead_a = RecordProjectLead {
        task_force_id: slug("automotive"),
        name: name("新能源汽车动力电池包配套项目"),
        investor: name("上汽通用五菱汽车股份有限公司"),
        category: ProjectCategory::Industrial,
        planned_investment_yuan: Some(yuan(300_000_000)),
        owner: name("李荣军"),
        on: day("2022-03-15"),
    };
    a.record(ProjectCommand::RecordLead(lead_a), Request::by(LIAISON, "2022-03-16T02:20:00Z"), h);
    a.record(
        ProjectCommand::EnterReserve(DatedStep {
            on: day("2022-03-20"),
            evidence: Some(name("柳州市高质量招商引资项目库 2022-QC-007")),
        }),
        Request::by(LIAISON, "2022-03-21T01:10:00Z"),
        h,
    );
    a.record(
        ProjectCommand::StartNegotiation(StartNegotiation {
            on: day("2022-04-06"),
            note: Some(text("双方就电池包产线选址、产能规划及配套用地进行首轮洽谈。")),
        }),
        Request::by(LIAISON, "2022-04-07T02:00:00Z"),
        h,
    );
    a.record(
        ProjectCommand::Sign(SignProject {
            on: day("2022-06-18"),
            agreement: AgreementKind::Framework,
            investment_yuan: yuan(280_000_000),
            evidence: Some(name("柳东新区投资合作框架协议 LD-2022-031")),
            thresholds: InvestmentThresholds::PLAN_2022_2024,
        }),
        Request::by(LIAISON, "2022-06-20T01:45:00Z").key("project-a-sign-framework"),
        h,
    );
    a.record(
        ProjectCommand::RegisterCompany(RegisterCompany {
            on: day("2022-07-12"),
            company_name: name("柳州五菱新能源电池科技有限公司"),
            evidence: Some(name("营业执照（柳州市市场监督管理局核发）")),
        }),
        Request::by(LIAISON, "2022-07-13T02:30:00Z"),
        h,
    );
    a.record(
        ProjectCommand::RecordFundsArrived(DatedAmount { on: day("2022-08-05"), amount_yuan: yuan(50_000_000) }),
        Request::by(LIAISON, "2022-08-08T03:00:00Z"),
        h,
    );
    a.record(
        ProjectCommand::StartConstruction(DatedStep {
            on: day("2022-08-26"),
            evidence: Some(name("施工许可证 450200202208260101")),
        }),
        Request::by(LIAISON, "2022-08-29T01:20:00Z"),
        h,
    );
    a.record(
        ProjectCommand::IncreaseInvestment(DatedAmount { on: day("2022-09-20"), amount_yuan: yuan(20_000_000) }),
        Request::by(LIAISON, "2022-09-21T07:15:00Z"),
        h,
    );
    a.record(
        ProjectCommand::Stall(DatedReason {
            on: day("2022-10-10"),
            reason: text("受疫情影响，主要设备延期进场，项目暂缓推进。"),
        }),
        Request::by(LIAISON, "2022-10-11T02:00:00Z"),
        h,
    );
    a.record(
        ProjectCommand::Resume(DatedStep { on: day("2022-11-21"), evidence: None }),
        Request::by(LIAISON, "2022-11-22T01:30:00Z"),
        h,
    );
    a.record(
        ProjectCommand::StartProduction(DatedStep {
            on: day("2022-12-28"),
            evidence: Some(name("竣工验收备案 LD-JG-2022-118")),
        }),
        Request::by(LIAISON, "2022-12-29T02:10:00Z"),
        h,
    );

    // A project that is given up after it stalled.
    let mut b = Stream::<Project>::new(&project_b);
    b.record(
        ProjectCommand::RecordLead(RecordProjectLead {
            task_force_id: slug("automotive"),
            name: name("商用车智能线控底盘研发及产业化项目"),
            investor: name("江苏华驰线控底盘科技有限公司"),
            category: ProjectCategory::Industrial,
            planned_investment_yuan: Some(yuan(150_000_000)),
            owner: name("刘文烽"),
            on: day("2022-05-10"),
        }),
        Request::by(LIAISON, "2022-05-11T06:40:00Z"),
        h,
    );
    b.record(
        ProjectCommand::StartNegotiation(StartNegotiation { on: day("2022-06-01"), note: None }),
        Request::by(LIAISON, "2022-06-02T02:00:00Z"),
        h,
    );
    b.record(
        ProjectCommand::Stall(DatedReason {
            on: day("2022-08-15"), reason: text("投资方融资计划调整，洽谈暂停。")
        }),
        Request::by(LIAISON, "2022-08-16T02:00:00Z"),
        h,
    );
    b.record(
        ProjectCommand::Drop(DatedReason {
            on: day("2022-11-30"),
            reason: text("投资方调整战略布局，决定不在柳州落地，项目终止。"),
        }),
        Request::by(LIAISON, "2022-12-01T01:00:00Z"),
        h,
    );

    automotive.record(
        TaskForceCommand::RecordDocking(RecordDocking {
            enterprise: name("上海智驱电控科技有限公司"),
            enterprise_role: EnterpriseRole::Target,
            method: DockingMethod::GoingOut,
            on: day("2022-11-08"),
            participants: names(&["李荣军", "曾智勇"]),
            outcome: Some(text("企业有意在柳设立华南生产基地，约定 12 月来柳实地考察。")),
        }),
        Request::by(LIAISON, "2022-11-09T02:00:00Z"),
        h,
    );
    automotive.record(
        TaskForceCommand::SubmitAnnualPlan(SubmitAnnualPlan {
            year: 2022,
            title: name("汽车产业链2022年度科技招商工作方案（修订稿）"),
            document_ref: name("柳科重大〔2022〕5号"),
            document_sha256: sha256_hex("汽车产业链2022年度科技招商工作方案（修订稿）"),
            on: day("2022-11-15"),
        }),
        Request::by(LIAISON, "2022-11-15T09:30:00Z").key("tf-automotive-annual-plan-2022-rev1"),
        h,
    );

    // A going-out activity, planned and then held, and an online one cancelled.
    let activity_a = uuid_v7(instant("2022-11-01T03:00:00Z"), "activity/a").to_string();
    let activity_b = uuid_v7(instant("2022-12-05T03:00:00Z"), "activity/b").to_string();
    let shanghai = ActivityDetails {
        task_force_id: slug("automotive"),
        kind: ActivityKind::GoingOut,
        title: name("赴上海新能源汽车产业链招商推介会"),
        on: day("2022-11-16"),
        led_by_principal_leader: true,
        destination_cities: names(&["上海市"]),
        enterprises: vec![
            EnterpriseInvolved { name: name("上海智驱电控科技有限公司"), role: EnterpriseRole::Target },
            EnterpriseInvolved {
                name: name("上汽通用五菱汽车股份有限公司"), role: EnterpriseRole::ChainLeader
            },
        ],
        note: None,
    };
    let mut activity = Stream::<Activity>::new(&activity_a);
    activity.record(ActivityCommand::Plan(shanghai.clone()), Request::by(LIAISON, "2022-11-01T03:00:00Z"), h);
    activity.record(
        ActivityCommand::RecordHeld(ActivityDetails {
            note: Some(text("管伟荣局长带队，推介柳州汽车产业链配套机会，现场洽谈企业 2 家。")),
            ..shanghai
        }),
        Request::by(LIAISON, "2022-11-17T10:00:00Z"),
        h,
    );
    let mut online = Stream::<Activity>::new(&activity_b);
    online.record(
        ActivityCommand::Plan(ActivityDetails {
            task_force_id: slug("automotive"),
            kind: ActivityKind::Online,
            title: name("汽车产业链链主企业线上对接会"),
            on: day("2022-12-20"),
            led_by_principal_leader: false,
            destination_cities: Vec::new(),
            enterprises: vec![
                EnterpriseInvolved { name: name("国轩高科股份有限公司"), role: EnterpriseRole::ChainLeader },
                EnterpriseInvolved { name: name("东风柳州汽车有限公司"), role: EnterpriseRole::ChainLeader },
            ],
            note: None,
        }),
        Request::by(LIAISON, "2022-12-05T03:00:00Z"),
        h,
    );
    online.record(
        ActivityCommand::Cancel(CancelActivity {
            on: day("2022-12-19"),
            reason: text("对接企业年终排产任务重，改期至 2023 年一季度。"),
        }),
        Request::by(LIAISON, "2022-12-19T08:00:00Z"),
        h,
    );

    // The task force's people change at the year's end.
    automotive.record(
        TaskForceCommand::ChangeConvener(ChangePerson {
            name: name("靳磊"),
            on: day("2022-12-01"),
            reason: Some(text("局领导班子分工调整。")),
        }),
        Request::by(OFFICE, "2022-12-02T01:00:00Z"),
        h,
    );
    automotive.record(
        TaskForceCommand::ChangeDeputyConvener(ChangePerson {
            name: name("伍国荣"),
            on: day("2022-12-01"),
            reason: Some(text("局领导班子分工调整。")),
        }),
        Request::by(OFFICE, "2022-12-02T01:00:05Z"),
        h,
    );

    let meeting_id = uuid_v7(instant("2022-12-26T02:00:00Z"), "meeting/a").to_string();
    Stream::<Meeting>::new(&meeting_id).record(
        MeetingCommand::RecordConvened(RecordMeetingConvened {
            kind: MeetingKind::Joint,
            task_force_id: Some(slug("automotive")),
            on: day("2022-12-23"),
            title: name("汽车产业链招商专班2022年第四季度招商工作联席会"),
            attendees: names(&[
                "市科学技术局重大科",
                "市科学技术局发展规划与资源配置科",
                "柳东新区科技和大数据发展局",
                "柳南区科学技术局",
                "上汽通用五菱汽车股份有限公司",
            ]),
            minutes: Some(text(
                "一、通报第四季度项目推进情况：新能源汽车动力电池包配套项目即将竣工投产。\n二、研究 2023 年一季度线上对接会安排。",
            )),
        }),
        Request::by(LIAISON, "2022-12-26T02:00:00Z"),
        h,
    );

    // The ledger of project a: its owner, progress, a problem and its resolution.
    a.record(
        ProjectCommand::ChangeOwner(ChangeOwner {
            owner: name("靳磊"),
            on: day("2022-12-01"),
            reason: Some(text("召集人调整，项目随专班召集人分包。")),
        }),
        Request::by(OFFICE, "2022-12-02T01:10:00Z"),
        h,
    );
    a.record(
        ProjectCommand::NoteProgress(NoteProgress {
            on: day("2022-12-30"),
            note: text("一期产线满产运行，二期设备招标中。"),
        }),
        Request::by(LIAISON, "2022-12-30T08:00:00Z"),
        h,
    );
    a.record(
        ProjectCommand::RaiseProblem(RaiseProblem {
            problem_id: slug("power-supply"),
            on: day("2023-01-05"),
            description: text("二期用电负荷不足，需协调供电部门增容。"),
            help_from: Some(name("柳东新区管委会")),
        }),
        Request::by(LIAISON, "2023-01-05T03:00:00Z"),
        h,
    );
    a.record(
        ProjectCommand::ResolveProblem(ResolveProblem {
            problem_id: slug("power-supply"),
            on: day("2023-02-10"),
            resolution: text("供电部门完成专线增容，二期用电已保障。"),
        }),
        Request::by(LIAISON, "2023-02-10T03:00:00Z"),
        h,
    );

    // A project whose investor changes after signing: its next signing counts anew.
    let project_c = uuid_v7(instant("2023-01-09T02:00:00Z"), "project/c").to_string();
    let mut c = Stream::<Project>::new(&project_c);
    c.record(
        ProjectCommand::RecordLead(RecordProjectLead {
            task_force_id: slug("automotive"),
            name: name("汽车轻量化铝合金压铸件项目"),
            investor: name("广东鸿图科技股份有限公司"),
            category: ProjectCategory::Industrial,
            planned_investment_yuan: Some(yuan(120_000_000)),
            owner: name("靳磊"),
            on: day("2023-01-06"),
        }),
        Request::by(LIAISON, "2023-01-09T02:00:00Z"),
        h,
    );
    c.record(
        ProjectCommand::StartNegotiation(StartNegotiation { on: day("2023-01-16"), note: None }),
        Request::by(LIAISON, "2023-01-16T02:00:00Z"),
        h,
    );
    c.record(
        ProjectCommand::Sign(SignProject {
            on: day("2023-03-02"),
            agreement: AgreementKind::Framework,
            investment_yuan: yuan(120_000_000),
            evidence: None,
            thresholds: InvestmentThresholds::PLAN_2022_2024,
        }),
        Request::by(LIAISON, "2023-03-02T08:00:00Z"),
        h,
    );
    c.record(
        ProjectCommand::ChangeInvestor(ChangeInvestor {
            investor: name("文灿集团股份有限公司"),
            on: day("2023-04-20"),
            reason: text("原投资方战略收缩，由文灿集团承接项目并重新签约。"),
        }),
        Request::by(LIAISON, "2023-04-21T02:00:00Z"),
        h,
    );

    let enterprise_id = uuid_v7(instant("2022-03-01T02:00:00Z"), "enterprise/a").to_string();
    let mut registry = Stream::<Enterprise>::new(&enterprise_id);
    let details = EnterpriseDetails {
        name: name("上海智驱电控科技有限公司"),
        role: EnterpriseRole::Target,
        task_force_id: slug("automotive"),
        uscc: None,
        city: Some(name("上海")),
        note: Some(text("新能源汽车电驱电控系统供应商，汽车产业链补链目标。")),
        listed_on: day("2022-03-01"),
    };
    registry.record(EnterpriseCommand::Register(details.clone()), Request::by(LIAISON, "2022-03-01T02:00:00Z"), h);
    registry.record(
        EnterpriseCommand::Correct(CorrectEnterprise {
            details: EnterpriseDetails { uscc: Some("91440300708461136T".to_owned()), ..details },
            reason: text("补录统一社会信用代码。"),
        }),
        Request::by(LIAISON, "2022-11-10T02:00:00Z"),
        h,
    );

    let platform_id = uuid_v7(instant("2023-05-10T02:00:00Z"), "platform/a").to_string();
    let mut platform = Stream::<ServicePlatform>::new(&platform_id);
    platform.record(
        ServicePlatformCommand::Record(RecordServicePlatform {
            name: name("中国科学院深圳先进技术研究院柳州技术转移中心"),
            relation: PlatformRelation::Partnered,
            task_force_id: Some(slug("automotive")),
            operator: Some(name("中国科学院深圳先进技术研究院")),
            on: day("2023-05-08"),
            evidence: Some(name("柳科合〔2023〕12号")),
            note: None,
        }),
        Request::by(OFFICE, "2023-05-10T02:00:00Z"),
        h,
    );
    platform.record(
        ServicePlatformCommand::Reverse(ReverseRecord {
            on: day("2023-05-12"),
            reason: text("合作协议尚未签署，误登，予以冲销。"),
        }),
        Request::by(OFFICE, "2023-05-12T02:00:00Z"),
        h,
    );
    let expenditure_id = uuid_v7(instant("2022-11-20T02:00:00Z"), "expenditure/a").to_string();
    let mut spending = Stream::<Expenditure>::new(&expenditure_id);
    spending.record(
        ExpenditureCommand::Record(RecordExpenditure {
            task_force_id: Some(slug("automotive")),
            category: ExpenditureCategory::Transport,
            amount_yuan: yuan(18_600),
            on: day("2022-11-18"),
            description: name("赴上海招商推介会往返交通"),
            voucher: Some(name("记-2022-11-0087")),
        }),
        Request::by(OFFICE, "2022-11-20T02:00:00Z"),
        h,
    );
    spending.record(
        ExpenditureCommand::Reverse(ReverseRecord {
            on: day("2022-11-25"),
            reason: text("金额录入错误，冲销后重录。"),
        }),
        Request::by(OFFICE, "2022-11-25T02:00:00Z"),
        h,
    );
    let talent_id = uuid_v7(instant("2023-06-01T02:00:00Z"), "talent/a").to_string();
    let mut talent = Stream::<TalentIntroduction>::new(&talent_id);
    talent.record(
        TalentIntroductionCommand::Record(RecordTalentIntroduction {
            task_force_id: slug("automotive"),
            title: name("新能源汽车电控研发团队"),
            people: 6,
            level: Some(name("高层次人才团队")),
            enterprise: Some(name("柳州五菱新能源电池科技有限公司")),
            on: day("2023-05-30"),
        }),
        Request::by(LIAISON, "2023-06-01T02:00:00Z"),
        h,
    );
    talent.record(
        TalentIntroductionCommand::Reverse(ReverseRecord {
            on: day("2023-06-02"),
            reason: text("该团队已由人才专班登记，避免重复统计。"),
        }),
        Request::by(OFFICE, "2023-06-02T02:00:00Z"),
        h,
    );
    let mut briefing = Stream::<Briefing>::new("2023-q1");
    let publication = PublishBriefing {
        year: 2023,
        quarter: 1,
        title: name("科技招商工作简报（2023年第1期）"),
        content_sha256: sha256_hex("科技招商工作简报（2023年第1期）"),
        as_of_sequence: 1_204,
        on: day("2023-04-06"),
        correction: None,
    };
    briefing.record(BriefingCommand::Publish(publication.clone()), Request::by(OFFICE, "2023-04-06T08:00:00Z"), h);
    briefing.record(
        BriefingCommand::Publish(PublishBriefing {
            content_sha256: sha256_hex("科技招商工作简报（2023年第1期）更正版"),
            as_of_sequence: 1_260,
            on: day("2023-04-10"),
            correction: Some(text("更正汽车产业链专班签约项目投资额。")),
            ..publication
        }),
        Request::by(OFFICE, "2023-04-10T08:00:00Z"),
        h,
    );
    supervision_history(h);
    // The liaison's phone and email, sealed with their own data key: the
    // example shows ciphertext only, as every subscriber sees it.
    let liaison = Uuid::parse_str("0b6f3c1e-5a2d-5e8f-9c41-7d2e6a0b9f13").expect("uuid");
    automotive.record(
        TaskForceCommand::RecordLiaisonContact(RecordLiaisonContact {
            person_id: liaison,
            name: name("曾智勇"),
            on: day("2022-10-24"),
            contact: SealedContact {
                algorithm: "AES-256-GCM".to_owned(),
                key_id: liaison,
                nonce: "AQIDBAUGBwgJCgsM".to_owned(),
                ciphertext: "DaVg1+76NAD+/Sa/YCRUiy4maqkdGuHAesLpSMP9dtaEf/4RpAPgeVPJ8CelvC1kYK3i5cwemQTnSg=="
                    .to_owned(),
            },
        }),
        Request::by(CONVENER, "2022-10-24T03:14:02Z"),
        h,
    );
    automotive.record(
        TaskForceCommand::EraseLiaisonContact(EraseLiaisonContact {
            person_id: liaison,
            on: day("2024-12-31"),
            reason: text("联络员调离岗位，本人申请删除个人联系方式"),
        }),
        Request::by(OFFICE, "2025-01-03T02:00:00Z"),
        h,
    );
    history
}

/// The monthly report of November 2022, amended, and an escalation matter
/// about the missing October report that climbs one rung, is answered and closed.
fn supervision_history(h: &mut Vec<EventEnvelope>) {
    let mut november = Stream::<MonthlyReport>::new("automotive-2022-11");
    let figures = MonthlyFigures {
        projects_signed: 0,
        qualifying_projects_signed: 0,
        projects_started: 0,
        major_negotiations: 1,
        going_out_activities: 1,
        inviting_in_activities: 0,
        online_activities: 0,
        reserve_projects_added: 0,
        target_enterprises_docked: 1,
        funds_arrived_yuan: None,
    };
    november.record(
        MonthlyReportCommand::Submit(SubmitMonthlyReport {
            task_force_id: slug("automotive"),
            year: 2022,
            month: 11,
            on: day("2022-11-29"),
            figures: figures.clone(),
            progress: text(
                "11月16日管伟荣局长带队赴上海开展新能源汽车产业链招商推介；与上海智驱电控科技有限公司精准对接。",
            ),
            problems: Some(text("电池包配套项目设备进场受疫情影响，需协调物流保障。")),
            next_month_plan: Some(text("召开第四季度联席会；筹备线上链主企业对接会。")),
        }),
        Request::by(LIAISON, "2022-11-29T08:00:00Z").key("automotive-monthly-report-2022-11"),
        h,
    );
    november.record(
        MonthlyReportCommand::Amend(AmendMonthlyReport {
            on: day("2022-12-02"),
            reason: text("漏报 11 月 21 日恢复推进的电池包配套项目到资情况。"),
            figures: MonthlyFigures { funds_arrived_yuan: Some(yuan(10_000_000)), ..figures },
            progress: text(
                "11月16日管伟荣局长带队赴上海开展新能源汽车产业链招商推介；与上海智驱电控科技有限公司精准对接；电池包配套项目恢复推进并到资 1000 万元。",
            ),
            problems: Some(text("电池包配套项目设备进场受疫情影响，需协调物流保障。")),
            next_month_plan: Some(text("召开第四季度联席会；筹备线上链主企业对接会。")),
        }),
        Request::by(LIAISON, "2022-12-02T03:00:00Z"),
        h,
    );

    let mut matter = Stream::<Escalation>::new("automotive-monthly_report-2022-10");
    let issue = |step, on: &str, note: &str| {
        EscalationCommand::IssueStep(IssueEscalationStep {
            task_force_id: slug("automotive"),
            duty: Duty::MonthlyReport,
            period: slug("2022-10"),
            step,
            on: day(on),
            issued_by: name("董秀鸾"),
            note: text(note),
        })
    };
    matter.record(
        issue(EscalationStep::Reminder, "2022-11-01", "汽车产业链招商专班 10 月进展报告未按时报送，请尽快报送。"),
        Request::by(OFFICE, "2022-11-01T02:00:00Z"),
        h,
    );
    matter.record(
        EscalationCommand::Respond(RecordEscalationResponse {
            on: day("2022-11-02"),
            responder: name("曾智勇"),
            response: text("联络员出差，报告将于 11 月 4 日前补报。"),
        }),
        Request::by(LIAISON, "2022-11-02T01:00:00Z"),
        h,
    );
    matter.record(
        issue(EscalationStep::ChaseNotice, "2022-11-07", "10 月进展报告仍未报送，请于 11 月 9 日前报送。"),
        Request::by(OFFICE, "2022-11-07T02:00:00Z"),
        h,
    );
    matter.record(
        EscalationCommand::Close(CloseEscalation {
            on: day("2022-11-08"),
            resolution: text("10 月进展报告已于 11 月 8 日补报，逾期 9 天。"),
        }),
        Request::by(OFFICE, "2022-11-08T06:00:00Z"),
        h,
    );
}

/// The golden examples: the first event of each type in the history, by file name.
fn golden_examples() -> BTreeMap<String, EventEnvelope> {
    let mut examples = BTreeMap::new();
    for envelope in golden_history() {
        examples.entry(format!("{}.json", envelope.event_type)).or_insert(envelope);
    }
    examples
}

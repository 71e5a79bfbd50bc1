//! The task force (重点产业链科技招商专班): its people and units, and the
//! facts it records about itself (liaison, dockings, annual plans).
//!
//! People change: a new convener or liaison is an event, never an edit.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
use crate::error::{DomainError, check_happened};
use crate::values::{EnterpriseRole, Name, Text};

/// Most names one list of the charter may hold.
pub const MAX_LIST_ITEMS: usize = 200;

/// The charter of a task force, as the plan lays it out: "one chain, one
/// bureau leader, one second-tier leader, one lead department, several
/// cooperating departments, several district bureaus, several chain-leader
/// enterprises".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EstablishTaskForce {
    /// Its number in the plan (1 to 8 in 2022–2024).
    pub number: u16,
    /// Its name exactly as the plan writes it (汽车产业链招商专班).
    pub name: Name,
    /// The industry chain (汽车).
    pub chain: Name,
    /// 召集人: the bureau leader in charge.
    pub convener: Name,
    /// 副召集人: the A/B partner of the convener.
    pub deputy_convener: Name,
    /// 牵头科室.
    pub lead_department: Name,
    /// 配合科室.
    #[serde(default)]
    pub cooperating_departments: Vec<Name>,
    /// Whether the plan's list ends with 等 (and others).
    #[serde(default)]
    pub cooperating_departments_open_ended: bool,
    /// 协同县区科技局.
    #[serde(default)]
    pub district_bureaus: Vec<Name>,
    /// Whether the plan's list ends with 等.
    #[serde(default)]
    pub district_bureaus_open_ended: bool,
    /// 链主企业.
    #[serde(default)]
    pub chain_leaders: Vec<Name>,
    /// Whether the plan's list ends with 等.
    #[serde(default)]
    pub chain_leaders_open_ended: bool,
    /// When it was established (the plan's issue date for the initial eight).
    pub on: NaiveDate,
}

/// A change of the person in a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePerson {
    /// The person taking the role.
    pub name: Name,
    /// From when.
    pub on: NaiveDate,
    /// Why (a reorganisation, a transfer).
    #[serde(default)]
    pub reason: Option<Text>,
}

/// Designates the liaison officer (联络员), the person who enters the task
/// force's records. Contact details are personal data and are not part of
/// this event (see the security design).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignLiaison {
    /// The liaison's name.
    pub name: Name,
    /// The department the liaison works in.
    pub department: Name,
    /// From when.
    pub on: NaiveDate,
}

/// The algorithm every sealed contact uses.
pub const CONTACT_ALGORITHM: &str = "AES-256-GCM";

/// Contact details (phone, email) encrypted with the person's own data key,
/// which lives outside the stream (the key store): destroying the key makes
/// every copy of the ciphertext, in the stream, its replays and its
/// backups, unreadable, while the hash chain over the ciphertext still holds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SealedContact {
    /// Always [`CONTACT_ALGORITHM`].
    pub algorithm: String,
    /// The id of the data key in the key store: the person's id.
    pub key_id: uuid::Uuid,
    /// The 96-bit nonce, standard base64 (16 characters).
    pub nonce: String,
    /// The ciphertext with its 128-bit tag, standard base64.
    pub ciphertext: String,
}

impl std::fmt::Debug for SealedContact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedContact").field("key_id", &self.key_id).field("bytes", &self.ciphertext.len()).finish()
    }
}

/// Most base64 characters a sealed contact may have (a phone and an email
/// are short; a larger one is not a contact).
pub const MAX_SEALED_CONTACT_CHARS: usize = 4096;

/// Records a liaison's contact details, sealed. The command service seals
/// them before the command is decided, so plaintext never reaches an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordLiaisonContact {
    /// The person's id: the key store's key id.
    pub person_id: uuid::Uuid,
    /// The liaison's name (not secret: it is in `liaison_assigned` too).
    pub name: Name,
    /// From when the details hold.
    pub on: NaiveDate,
    /// The phone and email, encrypted.
    pub contact: SealedContact,
}

/// Erases a person's contact details (个人信息保护法 right to deletion): the
/// command service destroys the person's data key once this is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseLiaisonContact {
    /// The person whose details are erased.
    pub person_id: uuid::Uuid,
    /// When the erasure was requested or decided.
    pub on: NaiveDate,
    /// Why (the person's request, end of the role).
    pub reason: Text,
}

/// How a docking (精准对接) took place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DockingMethod {
    /// Visiting the enterprise (走出去).
    GoingOut,
    /// The enterprise visiting Liuzhou (请进来).
    InvitingIn,
    /// Online (不见面).
    Online,
    /// Any other way.
    Other,
}

/// Records a docking with an enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDocking {
    /// The enterprise docked.
    pub enterprise: Name,
    /// Target or chain-leader enterprise; only target enterprises count
    /// toward the docking target.
    pub enterprise_role: EnterpriseRole,
    /// How.
    pub method: DockingMethod,
    /// When.
    pub on: NaiveDate,
    /// Who from the task force took part.
    #[serde(default)]
    pub participants: Vec<Name>,
    /// What came of it.
    #[serde(default)]
    pub outcome: Option<Text>,
}

/// Submits (or revises) the task force's annual work plan
/// (《重点产业链年度招商工作方案》).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitAnnualPlan {
    /// The year the plan is for.
    pub year: i32,
    /// Its title.
    pub title: Name,
    /// Reference to the document (file number, archive id).
    pub document_ref: Name,
    /// SHA-256 of the document, 64 lower-case hex characters.
    pub document_sha256: String,
    /// When it was submitted.
    pub on: NaiveDate,
}

/// What a user can ask of a task force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskForceCommand {
    /// Establish the task force (creates it).
    Establish(EstablishTaskForce),
    /// A new convener.
    ChangeConvener(ChangePerson),
    /// A new deputy convener.
    ChangeDeputyConvener(ChangePerson),
    /// Designate the liaison officer.
    AssignLiaison(AssignLiaison),
    /// Record a docking with an enterprise.
    RecordDocking(RecordDocking),
    /// Submit or revise an annual work plan.
    SubmitAnnualPlan(SubmitAnnualPlan),
    /// Record a liaison's sealed contact details.
    RecordLiaisonContact(RecordLiaisonContact),
    /// Erase a person's contact details.
    EraseLiaisonContact(EraseLiaisonContact),
}

/// What can have happened to a task force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum TaskForceEvent {
    /// The task force was established.
    #[serde(rename = "task_force.established.v1")]
    Established(EstablishTaskForce),
    /// The convener changed.
    #[serde(rename = "task_force.convener_changed.v1")]
    ConvenerChanged(ChangePerson),
    /// The deputy convener changed.
    #[serde(rename = "task_force.deputy_convener_changed.v1")]
    DeputyConvenerChanged(ChangePerson),
    /// A liaison officer was designated.
    #[serde(rename = "task_force.liaison_assigned.v1")]
    LiaisonAssigned(AssignLiaison),
    /// An enterprise was docked.
    #[serde(rename = "task_force.enterprise_docked.v1")]
    EnterpriseDocked(RecordDocking),
    /// The annual plan was submitted for the first time for its year.
    #[serde(rename = "task_force.annual_plan_submitted.v1")]
    AnnualPlanSubmitted(SubmitAnnualPlan),
    /// The annual plan of a year already submitted was revised.
    #[serde(rename = "task_force.annual_plan_revised.v1")]
    AnnualPlanRevised(SubmitAnnualPlan),
    /// A liaison's contact details were recorded, sealed with their data key.
    #[serde(rename = "task_force.liaison_contact_recorded.v1")]
    LiaisonContactRecorded(RecordLiaisonContact),
    /// A person's contact details were erased: their data key is destroyed.
    #[serde(rename = "task_force.liaison_contact_erased.v1")]
    LiaisonContactErased(EraseLiaisonContact),
}

impl DomainEvent for TaskForceEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        Some(match self {
            Self::Established(e) => e.on,
            Self::ConvenerChanged(e) | Self::DeputyConvenerChanged(e) => e.on,
            Self::LiaisonAssigned(e) => e.on,
            Self::EnterpriseDocked(e) => e.on,
            Self::AnnualPlanSubmitted(e) | Self::AnnualPlanRevised(e) => e.on,
            Self::LiaisonContactRecorded(e) => e.on,
            Self::LiaisonContactErased(e) => e.on,
        })
    }
}

/// A task force as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskForce {
    /// Whether it has been established.
    pub established: bool,
    /// The date of establishment: nothing of the task force's own may be earlier.
    pub established_on: Option<NaiveDate>,
    /// The years whose annual plan has been submitted.
    pub annual_plan_years: BTreeSet<i32>,
    /// The people whose contact details were recorded here.
    pub contact_people: BTreeSet<uuid::Uuid>,
}

fn is_base64(text: &str) -> bool {
    text.len() % 4 == 0 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

fn check_sealed(person_id: uuid::Uuid, sealed: &SealedContact) -> Result<(), DomainError> {
    if sealed.algorithm != CONTACT_ALGORITHM {
        return Err(DomainError::invalid("contact.algorithm", "contact_algorithm", "联系方式须以 AES-256-GCM 加密"));
    }
    if sealed.key_id != person_id {
        return Err(DomainError::invalid("contact.key_id", "key_of_the_person", "联系方式须以本人的数据密钥加密"));
    }
    if sealed.nonce.len() != 16 || !is_base64(&sealed.nonce) {
        return Err(DomainError::invalid("contact.nonce", "nonce_format", "随机数须为 12 字节的 base64"));
    }
    let size_ok = (24..=MAX_SEALED_CONTACT_CHARS).contains(&sealed.ciphertext.len());
    if !size_ok || !is_base64(&sealed.ciphertext) {
        return Err(DomainError::invalid("contact.ciphertext", "ciphertext_format", "密文格式不正确"));
    }
    Ok(())
}

fn check_list(field: &'static str, items: &[Name]) -> Result<(), DomainError> {
    if items.len() > MAX_LIST_ITEMS {
        return Err(DomainError::invalid(field, "too_many_items", format!("最多 {MAX_LIST_ITEMS} 项")));
    }
    let mut seen = BTreeSet::new();
    for item in items {
        if !seen.insert(item.as_str()) {
            return Err(DomainError::invalid(field, "no_duplicates", format!("「{item}」重复")));
        }
    }
    Ok(())
}

impl Aggregate for TaskForce {
    const TYPE: &'static str = "task_force";
    type Command = TaskForceCommand;
    type Event = TaskForceEvent;

    fn decide(&self, command: &TaskForceCommand, context: &DecisionContext) -> Result<TaskForceEvent, DomainError> {
        if let TaskForceCommand::Establish(charter) = command {
            if self.established {
                return Err(DomainError::AlreadyExists { aggregate_type: Self::TYPE });
            }
            if charter.number == 0 || charter.number > 999 {
                return Err(DomainError::invalid("number", "number_range", "专班序号须在 1 至 999 之间"));
            }
            check_list("cooperating_departments", &charter.cooperating_departments)?;
            check_list("district_bureaus", &charter.district_bureaus)?;
            check_list("chain_leaders", &charter.chain_leaders)?;
            check_happened("on", charter.on, context.today)?;
            return Ok(TaskForceEvent::Established(charter.clone()));
        }
        if !self.established {
            return Err(DomainError::NotFound { aggregate_type: Self::TYPE });
        }
        let established_on = self.established_on.unwrap_or(crate::error::EARLIEST_DATE);
        let check_on = |on: NaiveDate| -> Result<(), DomainError> {
            check_happened("on", on, context.today)?;
            if on < established_on {
                return Err(DomainError::invalid(
                    "on",
                    "not_before_establishment",
                    format!("日期 {on} 早于专班成立日期 {established_on}"),
                ));
            }
            Ok(())
        };
        match command {
            TaskForceCommand::Establish(_) => unreachable!("handled above"),
            TaskForceCommand::ChangeConvener(change) => {
                check_on(change.on)?;
                Ok(TaskForceEvent::ConvenerChanged(change.clone()))
            }
            TaskForceCommand::ChangeDeputyConvener(change) => {
                check_on(change.on)?;
                Ok(TaskForceEvent::DeputyConvenerChanged(change.clone()))
            }
            TaskForceCommand::AssignLiaison(liaison) => {
                check_on(liaison.on)?;
                Ok(TaskForceEvent::LiaisonAssigned(liaison.clone()))
            }
            TaskForceCommand::RecordDocking(docking) => {
                check_happened("on", docking.on, context.today)?;
                check_list("participants", &docking.participants)?;
                Ok(TaskForceEvent::EnterpriseDocked(docking.clone()))
            }
            TaskForceCommand::SubmitAnnualPlan(plan) => {
                if !(2000..=2100).contains(&plan.year) {
                    return Err(DomainError::invalid("year", "year_range", "年份须在 2000 至 2100 之间"));
                }
                let hex_ok = plan.document_sha256.len() == 64
                    && plan.document_sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !hex_ok {
                    return Err(DomainError::invalid(
                        "document_sha256",
                        "sha256_hex",
                        "须为 64 位小写十六进制的 SHA-256 摘要",
                    ));
                }
                check_happened("on", plan.on, context.today)?;
                if self.annual_plan_years.contains(&plan.year) {
                    Ok(TaskForceEvent::AnnualPlanRevised(plan.clone()))
                } else {
                    Ok(TaskForceEvent::AnnualPlanSubmitted(plan.clone()))
                }
            }
            TaskForceCommand::RecordLiaisonContact(contact) => {
                check_on(contact.on)?;
                check_sealed(contact.person_id, &contact.contact)?;
                Ok(TaskForceEvent::LiaisonContactRecorded(contact.clone()))
            }
            TaskForceCommand::EraseLiaisonContact(erasure) => {
                check_happened("on", erasure.on, context.today)?;
                if !self.contact_people.contains(&erasure.person_id) {
                    return Err(DomainError::invalid("person_id", "known_person", "本专班没有登记过此人的联系方式"));
                }
                // Erasing again is allowed: a retry must be able to finish
                // destroying the key after a failure.
                Ok(TaskForceEvent::LiaisonContactErased(erasure.clone()))
            }
        }
    }

    fn evolve(mut self, event: &TaskForceEvent) -> Self {
        match event {
            TaskForceEvent::Established(charter) => {
                self.established = true;
                self.established_on = Some(charter.on);
            }
            TaskForceEvent::AnnualPlanSubmitted(plan) => {
                self.annual_plan_years.insert(plan.year);
            }
            TaskForceEvent::LiaisonContactRecorded(contact) => {
                self.contact_people.insert(contact.person_id);
            }
            TaskForceEvent::LiaisonContactErased(_) => {}
            TaskForceEvent::ConvenerChanged(_)
            | TaskForceEvent::DeputyConvenerChanged(_)
            | TaskForceEvent::LiaisonAssigned(_)
            | TaskForceEvent::EnterpriseDocked(_)
            | TaskForceEvent::AnnualPlanRevised(_) => {}
        }
        self
    }

    fn exists(&self) -> bool {
        self.established
    }

    fn responsibility(&self, id: &str, event: &TaskForceEvent) -> Responsibility {
        match event {
            // The charter and the task force's leaders are the bureau's to set.
            TaskForceEvent::Established(_)
            | TaskForceEvent::ConvenerChanged(_)
            | TaskForceEvent::DeputyConvenerChanged(_) => Responsibility::Administration,
            TaskForceEvent::LiaisonAssigned(_)
            | TaskForceEvent::EnterpriseDocked(_)
            | TaskForceEvent::AnnualPlanSubmitted(_)
            | TaskForceEvent::AnnualPlanRevised(_)
            | TaskForceEvent::LiaisonContactRecorded(_) => Responsibility::TaskForce(id.to_owned()),
            // Erasure answers a person's request under PIPL: the office decides it.
            TaskForceEvent::LiaisonContactErased(_) => Responsibility::Office,
        }
    }
}

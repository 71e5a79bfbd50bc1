//! The enterprise (企业): a target enterprise a task force wants to bring in,
//! or a chain-leader enterprise of a chain, kept as a record of its own so
//! that dockings, activities and projects name the same enterprise.
//!
//! An enterprise may carry its unified social credit code (统一社会信用代码,
//! GB 32100-2015), checked with the standard's check character.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
use crate::error::{DomainError, check_happened};
use crate::values::{EnterpriseRole, Name, Slug, Text};

/// The 31 characters a unified social credit code is written in (no I, O,
/// S, V, Z), in the order of their values.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of the first 17 characters (3^(i) mod 31).
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// Checks a unified social credit code: 18 characters of the standard's
/// alphabet whose last is the check character of the first 17.
///
/// # Errors
/// `uscc_format` or `uscc_check_character`, naming `uscc`.
pub fn check_uscc(code: &str) -> Result<(), DomainError> {
    let value = |c: u8| USCC_ALPHABET.iter().position(|a| *a == c).and_then(|p| u32::try_from(p).ok());
    let bytes = code.as_bytes();
    if bytes.len() != 18 || bytes.iter().any(|c| value(*c).is_none()) {
        return Err(DomainError::invalid(
            "uscc",
            "uscc_format",
            "统一社会信用代码应为 18 位，由数字和大写字母组成（不含 I、O、S、V、Z）",
        ));
    }
    let sum: u32 = bytes[..17].iter().zip(USCC_WEIGHTS).map(|(c, w)| value(*c).unwrap_or(0) * w).sum();
    let check = (31 - sum % 31) % 31;
    if value(bytes[17]) != Some(check) {
        return Err(DomainError::invalid("uscc", "uscc_check_character", "统一社会信用代码校验位不符，请核对是否抄错"));
    }
    Ok(())
}

/// The facts of an enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseDetails {
    /// The registered name (企业名称).
    pub name: Name,
    /// Target enterprise or chain-leader enterprise.
    pub role: EnterpriseRole,
    /// The chain it belongs to, as the task force that works it.
    pub task_force_id: Slug,
    /// The unified social credit code, when known: 18 characters, upper case.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[0-9A-HJ-NPQRTUWXY]{18}$"))]
    pub uscc: Option<String>,
    /// The city it is based in (e.g. 上海).
    #[serde(default)]
    pub city: Option<Name>,
    /// What it makes or does, and why it matters to the chain.
    #[serde(default)]
    pub note: Option<Text>,
    /// When it was put on the task force's list.
    pub listed_on: NaiveDate,
}

impl EnterpriseDetails {
    fn check(&self) -> Result<(), DomainError> {
        if let Some(code) = &self.uscc {
            check_uscc(code)?;
        }
        Ok(())
    }
}

/// Corrects an enterprise's facts; the old ones stay in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectEnterprise {
    /// The corrected facts, in full.
    pub details: EnterpriseDetails,
    /// What was wrong.
    pub reason: Text,
}

/// What a user can ask of an enterprise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnterpriseCommand {
    /// Register it (creates it).
    Register(EnterpriseDetails),
    /// Correct its facts.
    Correct(CorrectEnterprise),
}

/// What can have happened to an enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum EnterpriseEvent {
    /// The enterprise was registered.
    #[serde(rename = "enterprise.registered.v1")]
    Registered(EnterpriseDetails),
    /// Its facts were corrected.
    #[serde(rename = "enterprise.corrected.v1")]
    Corrected(CorrectEnterprise),
}

impl DomainEvent for EnterpriseEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        match self {
            Self::Registered(e) => Some(e.listed_on),
            Self::Corrected(_) => None,
        }
    }
}

/// An enterprise as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enterprise {
    /// Its facts, once registered.
    pub details: Option<EnterpriseDetails>,
}

impl Aggregate for Enterprise {
    const TYPE: &'static str = "enterprise";
    type Command = EnterpriseCommand;
    type Event = EnterpriseEvent;

    fn decide(&self, command: &EnterpriseCommand, context: &DecisionContext) -> Result<EnterpriseEvent, DomainError> {
        match command {
            EnterpriseCommand::Register(registration) => {
                if self.details.is_some() {
                    return Err(DomainError::AlreadyExists { aggregate_type: Self::TYPE });
                }
                check_happened("listed_on", registration.listed_on, context.today)?;
                registration.check()?;
                Ok(EnterpriseEvent::Registered(registration.clone()))
            }
            EnterpriseCommand::Correct(correction) => {
                let Some(current) = &self.details else {
                    return Err(DomainError::NotFound { aggregate_type: Self::TYPE });
                };
                check_happened("details.listed_on", correction.details.listed_on, context.today)?;
                correction.details.check()?;
                if *current == correction.details {
                    return Err(DomainError::not_allowed("correction_changes_nothing", "更正内容与现有记录相同"));
                }
                Ok(EnterpriseEvent::Corrected(correction.clone()))
            }
        }
    }

    fn evolve(mut self, event: &EnterpriseEvent) -> Self {
        match event {
            EnterpriseEvent::Registered(r) => self.details = Some(r.clone()),
            EnterpriseEvent::Corrected(c) => self.details = Some(c.details.clone()),
        }
        self
    }

    fn exists(&self) -> bool {
        self.details.is_some()
    }

    /// An enterprise is the chain's task force's record; a correction stays
    /// with the task force that listed it.
    fn responsibility(&self, _id: &str, event: &EnterpriseEvent) -> Responsibility {
        let listed = match (&self.details, event) {
            (Some(current), _) => &current.task_force_id,
            (None, EnterpriseEvent::Registered(d)) => &d.task_force_id,
            (None, EnterpriseEvent::Corrected(c)) => &c.details.task_force_id,
        };
        Responsibility::TaskForce(listed.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::check_uscc;

    #[test]
    fn uscc_check_character_is_the_standards() {
        // Codes published by well-known enterprises on their licences.
        for code in ["91440300708461136T", "91330100799655058B", "91110000802100433B"] {
            assert!(check_uscc(code).is_ok(), "{code}");
        }
        assert_eq!(check_uscc("91440300708461136U").unwrap_err().rule(), "uscc_check_character");
        assert_eq!(check_uscc("9144030070846113").unwrap_err().rule(), "uscc_format");
        assert_eq!(check_uscc("91440300708461136I").unwrap_err().rule(), "uscc_format");
        assert_eq!(check_uscc("91440300708461136t").unwrap_err().rule(), "uscc_format");
    }
}

//! Domain rejections: what the user did that the rules do not allow.

use crate::values::ValueError;

/// Why a command was refused. Every variant is something the user can fix;
/// infrastructure failures are never expressed here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field's value breaks a rule (a negative amount, a future date).
    #[error("{field}: [{rule}] {message}")]
    InvalidField {
        /// The request field, as named in the API (`investment_yuan`).
        field: &'static str,
        /// Stable code of the rule (`not_in_future`).
        rule: &'static str,
        /// Plain Chinese explanation.
        message: String,
    },
    /// The command does not fit the aggregate's current state (signing a
    /// project that was never negotiated, holding a cancelled activity).
    #[error("[{rule}] {message}")]
    NotAllowedNow {
        /// Stable code of the rule (`stage_order`).
        rule: &'static str,
        /// Plain Chinese explanation.
        message: String,
    },
    /// The command needs an aggregate that has not been created.
    #[error("{aggregate_type} not found")]
    NotFound {
        /// Which kind of record is missing.
        aggregate_type: &'static str,
    },
    /// The command creates an aggregate that already exists.
    #[error("{aggregate_type} already exists")]
    AlreadyExists {
        /// Which kind of record exists already.
        aggregate_type: &'static str,
    },
}

impl DomainError {
    /// A field that breaks a rule.
    pub fn invalid(field: &'static str, rule: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField { field, rule, message: message.into() }
    }

    /// A command that the current state does not allow.
    pub fn not_allowed(rule: &'static str, message: impl Into<String>) -> Self {
        Self::NotAllowedNow { rule, message: message.into() }
    }

    /// A field whose value object refused it.
    pub fn from_value(field: &'static str, error: ValueError) -> Self {
        Self::InvalidField { field, rule: error.rule, message: error.message }
    }

    /// The stable rule code, for tests and the API.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::InvalidField { rule, .. } | Self::NotAllowedNow { rule, .. } => rule,
            Self::NotFound { .. } => "must_exist",
            Self::AlreadyExists { .. } => "must_not_exist",
        }
    }
}

/// The earliest date any fact may carry. Anything earlier is a typing mistake.
pub const EARLIEST_DATE: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(date) => date,
    None => panic!("2000-01-01 is a valid date"),
};

/// Checks that a fact that has happened is not dated in the future and not
/// absurdly early.
///
/// # Errors
/// `not_in_future` or `date_too_early`, naming `field`.
pub fn check_happened(
    field: &'static str,
    date: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> Result<(), DomainError> {
    if date > today {
        return Err(DomainError::invalid(
            field,
            "not_in_future",
            format!("已发生的事实不能登记为将来日期（{date} 晚于今天 {today}）"),
        ));
    }
    check_not_too_early(field, date)
}

/// The latest date any fact may carry, planned ones included.
pub const LATEST_DATE: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(2100, 12, 31) {
    Some(date) => date,
    None => panic!("2100-12-31 is a valid date"),
};

/// Checks that a date lies between [`EARLIEST_DATE`] and [`LATEST_DATE`].
///
/// # Errors
/// `date_too_early` or `date_too_late`, naming `field`.
pub fn check_not_too_early(field: &'static str, date: chrono::NaiveDate) -> Result<(), DomainError> {
    if date < EARLIEST_DATE {
        return Err(DomainError::invalid(field, "date_too_early", format!("日期不能早于 {EARLIEST_DATE}")));
    }
    if date > LATEST_DATE {
        return Err(DomainError::invalid(field, "date_too_late", format!("日期不能晚于 {LATEST_DATE}")));
    }
    Ok(())
}

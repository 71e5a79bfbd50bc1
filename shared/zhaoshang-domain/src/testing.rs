//! A small given/when/then helper for deciding tests.
//!
//! ```
//! use zhaoshang_domain::testing::Scenario;
//! use zhaoshang_domain::meeting::Meeting;
//! let scenario = Scenario::<Meeting>::on("2022-06-30");
//! # let _ = scenario;
//! ```

use chrono::NaiveDate;

use crate::{Aggregate, DecisionContext, DomainError};

/// A decision under test: the events that happened before, and today's date.
pub struct Scenario<A: Aggregate> {
    state: A,
    context: DecisionContext,
}

impl<A: Aggregate> Scenario<A> {
    /// A scenario whose "today" is `today` (`YYYY-MM-DD`).
    pub fn on(today: &str) -> Self {
        Self { state: A::default(), context: DecisionContext { today: date(today) } }
    }

    /// These events have happened.
    pub fn given(mut self, events: impl IntoIterator<Item = A::Event>) -> Self {
        for event in events {
            self.state = self.state.evolve(&event);
        }
        self
    }

    /// Decides `command` against the state so far.
    pub fn when(&self, command: A::Command) -> Result<A::Event, DomainError> {
        self.state.decide(&command, &self.context)
    }

    /// Decides `command` and, when it is accepted, applies its event, for
    /// scenarios that walk an aggregate through several steps.
    pub fn then_apply(mut self, command: A::Command) -> Result<Self, DomainError> {
        let event = self.state.decide(&command, &self.context)?;
        self.state = self.state.evolve(&event);
        Ok(self)
    }

    /// The state so far.
    pub fn state(&self) -> &A {
        &self.state
    }
}

/// Parses `YYYY-MM-DD`; for tests only, so it panics on a typo.
pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|_| panic!("bad test date {text}"))
}

/// A name that must be valid; for tests only, so it panics on a typo.
pub fn name(text: &str) -> crate::values::Name {
    crate::values::Name::parse(text).unwrap_or_else(|e| panic!("bad test name {text:?}: {e}"))
}

/// A text that must be valid; for tests only.
pub fn text(raw: &str) -> crate::values::Text {
    crate::values::Text::parse(raw).unwrap_or_else(|e| panic!("bad test text {raw:?}: {e}"))
}

/// A slug that must be valid; for tests only.
pub fn slug(raw: &str) -> crate::values::Slug {
    crate::values::Slug::parse(raw).unwrap_or_else(|e| panic!("bad test slug {raw:?}: {e}"))
}

/// An amount that must be valid; for tests only.
pub fn yuan(amount: i64) -> crate::values::Yuan {
    crate::values::Yuan::new(amount).unwrap_or_else(|e| panic!("bad test amount {amount}: {e}"))
}

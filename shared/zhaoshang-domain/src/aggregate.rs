//! The shape every aggregate takes: a pure `decide` and a pure `evolve`.

use chrono::NaiveDate;
use serde::{Serialize, de::DeserializeOwned};

use crate::DomainError;

/// Outside facts a decision may need, gathered by the command service before
/// it calls [`Aggregate::decide`], so that deciding stays pure and testable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionContext {
    /// Today's date in Liuzhou (UTC+8): nothing that has happened may be dated later.
    pub today: NaiveDate,
}

/// Who answers for a fact, and so who may record it: the plan gives the
/// leading group's office some duties (supervision, the monthly report
/// meeting), each task force its own facts, and the plan itself, the leading
/// group and the task forces' charters and people to the bureau's
/// administration. The command service matches it against the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Responsibility {
    /// The plan, the leading group, a task force's establishment and its leaders.
    Administration,
    /// The leading group's office (领导小组办公室).
    Office,
    /// The task force with this id.
    TaskForce(String),
}

/// An event-sourced aggregate: its state is the fold of its events.
///
/// `decide` answers a command with exactly one event or a rejection; one
/// command is one event is one NATS message, which is what makes an append
/// atomic on every supported nats-server.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The aggregate type as it appears in subjects and envelopes, e.g. `project`.
    const TYPE: &'static str;
    /// What a user can ask of the aggregate.
    type Command: Send + Sync;
    /// What can have happened to it.
    type Event: DomainEvent;

    /// Decides what a command means for the current state.
    ///
    /// # Errors
    /// A [`DomainError`] when the command breaks a rule; nothing is then written.
    fn decide(&self, command: &Self::Command, context: &DecisionContext) -> Result<Self::Event, DomainError>;

    /// Applies an event that has happened. Never fails: an event is a fact.
    fn evolve(self, event: &Self::Event) -> Self;

    /// Whether the aggregate has been created (by its first event).
    fn exists(&self) -> bool;

    /// Who answers for `event` about aggregate `id` in this state (the
    /// state before the event). An aggregate that does not say is the
    /// administration's alone: a new kind of record is closed until its
    /// author opens it.
    fn responsibility(&self, id: &str, event: &Self::Event) -> Responsibility {
        let _ = (id, event);
        Responsibility::Administration
    }
}

/// An event payload of one aggregate type.
///
/// Serialised adjacently tagged: `{"type": "project.signed.v1", "data": {…}}`.
/// The `type` tag, prefixed with [`crate::envelope::EVENT_TYPE_PREFIX`], is the
/// CloudEvents `type`; `data` is the CloudEvents `data`.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The date the fact happened in the world (a signing date, a meeting
    /// date); `None` for facts that happen when they are recorded.
    fn occurred_on(&self) -> Option<NaiveDate>;
}

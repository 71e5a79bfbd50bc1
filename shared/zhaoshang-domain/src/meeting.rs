//! The meeting (会议): a task force's quarterly joint meeting, the office's
//! monthly report meeting, or the office's quarterly supervision inspection
//! of a task force. A meeting is recorded once it has been convened.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
use crate::error::{DomainError, check_happened};
use crate::values::{MeetingKind, Name, Slug, Text};

/// Most attendees one meeting may list.
pub const MAX_ATTENDEES: usize = 500;

/// Records a meeting that was convened. Creates the meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordMeetingConvened {
    /// Joint, monthly report, or supervision.
    pub kind: MeetingKind,
    /// The task force concerned: required for joint meetings and supervision
    /// inspections, absent for the office's monthly report meeting.
    #[serde(default)]
    pub task_force_id: Option<Slug>,
    /// The date it was held.
    pub on: NaiveDate,
    /// A short title.
    pub title: Name,
    /// Who attended: departments, district bureaus, enterprises, people.
    #[serde(default)]
    pub attendees: Vec<Name>,
    /// The minutes (会议纪要), or for an inspection its findings.
    #[serde(default)]
    pub minutes: Option<Text>,
}

/// What a user can ask of a meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingCommand {
    /// Record that the meeting was convened.
    RecordConvened(RecordMeetingConvened),
}

/// What can have happened to a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum MeetingEvent {
    /// The meeting was convened.
    #[serde(rename = "meeting.convened.v1")]
    Convened(RecordMeetingConvened),
}

impl DomainEvent for MeetingEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        match self {
            Self::Convened(m) => Some(m.on),
        }
    }
}

/// A meeting as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meeting {
    /// Whether it has been recorded.
    pub convened: bool,
}

impl Aggregate for Meeting {
    const TYPE: &'static str = "meeting";
    type Command = MeetingCommand;
    type Event = MeetingEvent;

    fn decide(&self, command: &MeetingCommand, context: &DecisionContext) -> Result<MeetingEvent, DomainError> {
        match command {
            MeetingCommand::RecordConvened(meeting) => {
                if self.convened {
                    return Err(DomainError::AlreadyExists { aggregate_type: Self::TYPE });
                }
                match (meeting.kind, &meeting.task_force_id) {
                    (MeetingKind::Joint | MeetingKind::Supervision, None) => {
                        return Err(DomainError::invalid(
                            "task_force_id",
                            "task_force_required",
                            "联席会和督导检查须指明专班",
                        ));
                    }
                    (MeetingKind::MonthlyReport, Some(_)) => {
                        return Err(DomainError::invalid(
                            "task_force_id",
                            "office_meeting_has_no_task_force",
                            "汇报会由领导小组办公室召开，不属于某一专班",
                        ));
                    }
                    _ => {}
                }
                if meeting.attendees.len() > MAX_ATTENDEES {
                    return Err(DomainError::invalid(
                        "attendees",
                        "too_many_items",
                        format!("参会名单最多 {MAX_ATTENDEES} 项"),
                    ));
                }
                check_happened("on", meeting.on, context.today)?;
                Ok(MeetingEvent::Convened(meeting.clone()))
            }
        }
    }

    fn evolve(mut self, event: &MeetingEvent) -> Self {
        match event {
            MeetingEvent::Convened(_) => self.convened = true,
        }
        self
    }

    fn responsibility(&self, _id: &str, event: &MeetingEvent) -> Responsibility {
        // A joint meeting is its task force's; the monthly report meeting and
        // the supervision inspection are the office's (the plan's 三、工作机制).
        match event {
            MeetingEvent::Convened(RecordMeetingConvened {
                kind: MeetingKind::Joint,
                task_force_id: Some(task_force),
                ..
            }) => Responsibility::TaskForce(task_force.as_str().to_owned()),
            MeetingEvent::Convened(_) => Responsibility::Office,
        }
    }

    fn exists(&self) -> bool {
        self.convened
    }
}

//! The promotion activity (招商活动): going out, inviting in, or online.
//!
//! An activity is planned and then held or cancelled; a past activity can be
//! recorded as held directly (the bureau back-fills 2022–2024).

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
use crate::error::{DomainError, check_happened, check_not_too_early};
use crate::values::{ActivityKind, EnterpriseInvolved, Name, Slug, Text};

/// Most enterprises one activity may name; more is a pasted list gone wrong.
pub const MAX_ENTERPRISES_PER_ACTIVITY: usize = 500;

/// The facts of an activity, planned or held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityDetails {
    /// The task force that runs it.
    pub task_force_id: Slug,
    /// Going out, inviting in, or online.
    pub kind: ActivityKind,
    /// A short title (e.g. 赴上海新能源汽车产业链招商推介会).
    pub title: Name,
    /// The date it is planned for, or was held on.
    pub on: NaiveDate,
    /// Led by a principal leader of the bureau (主要领导外出集中招商);
    /// only a going-out activity can be.
    #[serde(default)]
    pub led_by_principal_leader: bool,
    /// For going out: the cities visited.
    #[serde(default)]
    pub destination_cities: Vec<Name>,
    /// The enterprises visited, invited or met online, with their part.
    #[serde(default)]
    pub enterprises: Vec<EnterpriseInvolved>,
    /// Anything worth keeping.
    #[serde(default)]
    pub note: Option<Text>,
}

impl ActivityDetails {
    fn check(&self) -> Result<(), DomainError> {
        check_not_too_early("on", self.on)?;
        if self.led_by_principal_leader && self.kind != ActivityKind::GoingOut {
            return Err(DomainError::invalid(
                "led_by_principal_leader",
                "leader_led_only_going_out",
                "只有“走出去”活动才能登记为主要领导外出集中招商",
            ));
        }
        if self.kind == ActivityKind::GoingOut && self.destination_cities.is_empty() {
            return Err(DomainError::invalid(
                "destination_cities",
                "going_out_needs_destination",
                "“走出去”活动须填写至少一个前往城市",
            ));
        }
        if self.enterprises.len() > MAX_ENTERPRISES_PER_ACTIVITY {
            return Err(DomainError::invalid(
                "enterprises",
                "too_many_items",
                format!("一场活动最多登记 {MAX_ENTERPRISES_PER_ACTIVITY} 家企业"),
            ));
        }
        let mut seen = HashSet::new();
        for enterprise in &self.enterprises {
            if !seen.insert(enterprise.name.as_str()) {
                return Err(DomainError::invalid(
                    "enterprises",
                    "no_duplicate_enterprise",
                    format!("企业「{}」重复登记", enterprise.name),
                ));
            }
        }
        Ok(())
    }
}

/// Why an activity was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelActivity {
    /// When it was cancelled.
    pub on: NaiveDate,
    /// Why.
    pub reason: Text,
}

/// What a user can ask of an activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityCommand {
    /// Plan an activity (creates it).
    Plan(ActivityDetails),
    /// Record it as held: creates it when new, completes a planned one.
    RecordHeld(ActivityDetails),
    /// Cancel a planned activity.
    Cancel(CancelActivity),
}

/// What can have happened to an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum ActivityEvent {
    /// The activity was planned.
    #[serde(rename = "activity.planned.v1")]
    Planned(ActivityDetails),
    /// The activity was held; these details are the final ones.
    #[serde(rename = "activity.held.v1")]
    Held(ActivityDetails),
    /// The planned activity was cancelled.
    #[serde(rename = "activity.cancelled.v1")]
    Cancelled(CancelActivity),
}

impl DomainEvent for ActivityEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        Some(match self {
            Self::Planned(d) | Self::Held(d) => d.on,
            Self::Cancelled(c) => c.on,
        })
    }
}

/// Where an activity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    /// Not recorded yet.
    #[default]
    Unknown,
    /// Planned.
    Planned,
    /// Held: counts in the progress table.
    Held,
    /// Cancelled: never counts.
    Cancelled,
}

/// An activity as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// Where it stands.
    pub status: ActivityStatus,
    /// Its task force, once created.
    pub task_force_id: Option<Slug>,
    /// Its kind, once created.
    pub kind: Option<ActivityKind>,
}

impl Aggregate for Activity {
    const TYPE: &'static str = "activity";
    type Command = ActivityCommand;
    type Event = ActivityEvent;

    fn decide(&self, command: &ActivityCommand, context: &DecisionContext) -> Result<ActivityEvent, DomainError> {
        match command {
            ActivityCommand::Plan(details) => {
                if self.exists() {
                    return Err(DomainError::AlreadyExists { aggregate_type: Self::TYPE });
                }
                details.check()?;
                Ok(ActivityEvent::Planned(details.clone()))
            }
            ActivityCommand::RecordHeld(details) => {
                match self.status {
                    ActivityStatus::Unknown => {}
                    ActivityStatus::Planned => {
                        if self.task_force_id.as_ref() != Some(&details.task_force_id) {
                            return Err(DomainError::invalid(
                                "task_force_id",
                                "same_task_force",
                                "举办活动的专班须与计划活动的专班一致",
                            ));
                        }
                    }
                    ActivityStatus::Held => {
                        return Err(DomainError::not_allowed("already_held", "活动已登记为已举办"));
                    }
                    ActivityStatus::Cancelled => {
                        return Err(DomainError::not_allowed("activity_cancelled", "活动已取消，不能登记为已举办"));
                    }
                }
                details.check()?;
                check_happened("on", details.on, context.today)?;
                Ok(ActivityEvent::Held(details.clone()))
            }
            ActivityCommand::Cancel(cancel) => {
                match self.status {
                    ActivityStatus::Unknown => return Err(DomainError::NotFound { aggregate_type: Self::TYPE }),
                    ActivityStatus::Planned => {}
                    ActivityStatus::Held => {
                        return Err(DomainError::not_allowed("already_held", "已举办的活动不能取消"));
                    }
                    ActivityStatus::Cancelled => {
                        return Err(DomainError::not_allowed("activity_cancelled", "活动已取消"));
                    }
                }
                check_happened("on", cancel.on, context.today)?;
                Ok(ActivityEvent::Cancelled(cancel.clone()))
            }
        }
    }

    fn evolve(mut self, event: &ActivityEvent) -> Self {
        match event {
            ActivityEvent::Planned(details) | ActivityEvent::Held(details) => {
                self.status = if matches!(event, ActivityEvent::Held(_)) {
                    ActivityStatus::Held
                } else {
                    ActivityStatus::Planned
                };
                self.task_force_id = Some(details.task_force_id.clone());
                self.kind = Some(details.kind);
            }
            ActivityEvent::Cancelled(_) => self.status = ActivityStatus::Cancelled,
        }
        self
    }

    fn responsibility(&self, _id: &str, event: &ActivityEvent) -> Responsibility {
        let task_force = match (event, &self.task_force_id) {
            (ActivityEvent::Planned(details) | ActivityEvent::Held(details), _) => details.task_force_id.as_str(),
            (ActivityEvent::Cancelled(_), Some(task_force)) => task_force.as_str(),
            (ActivityEvent::Cancelled(_), None) => return Responsibility::Office,
        };
        Responsibility::TaskForce(task_force.to_owned())
    }

    fn exists(&self) -> bool {
        self.status != ActivityStatus::Unknown
    }
}

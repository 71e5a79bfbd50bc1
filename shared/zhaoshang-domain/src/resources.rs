//! What the action brings in and spends beside projects: tech-investment
//! service platforms introduced or partnered (科技招商服务平台), the special
//! fund's expenditure (专项经费支出) and talent introduced (人才引进).
//!
//! Each record is an aggregate of its own, like a meeting: recorded once,
//! and corrected only by a reversal that says why, so the history keeps both.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
use crate::error::{DomainError, check_happened};
use crate::values::{Name, Slug, Text, Yuan};

/// How a service platform came to work with the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlatformRelation {
    /// 引进: the platform was brought to Liuzhou.
    Introduced,
    /// 合作: the bureau partners with it where it is.
    Partnered,
}

/// Records a service platform introduced or partnered. Creates the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordServicePlatform {
    /// The platform's name.
    pub name: Name,
    /// Introduced or partnered.
    pub relation: PlatformRelation,
    /// The task force that brought it, when one did.
    #[serde(default)]
    pub task_force_id: Option<Slug>,
    /// The organisation running it.
    #[serde(default)]
    pub operator: Option<Name>,
    /// The date of the agreement.
    pub on: NaiveDate,
    /// Reference to the agreement.
    #[serde(default)]
    pub evidence: Option<Name>,
    /// What it does for the action.
    #[serde(default)]
    pub note: Option<Text>,
}

/// What the special fund paid for, as the plan lists it (《方案》五(四)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpenditureCategory {
    /// 招商会议.
    Meetings,
    /// 招商宣传.
    Publicity,
    /// 交通保障.
    Transport,
    /// 委托招商.
    CommissionedPromotion,
    /// 平台建设.
    PlatformBuilding,
    /// 人才引进.
    Talent,
    /// 项目引进.
    Projects,
}

impl ExpenditureCategory {
    /// Every category, in the plan's order.
    pub const ALL: [Self; 7] = [
        Self::Meetings,
        Self::Publicity,
        Self::Transport,
        Self::CommissionedPromotion,
        Self::PlatformBuilding,
        Self::Talent,
        Self::Projects,
    ];

    /// Code used in storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::Meetings => "meetings",
            Self::Publicity => "publicity",
            Self::Transport => "transport",
            Self::CommissionedPromotion => "commissioned_promotion",
            Self::PlatformBuilding => "platform_building",
            Self::Talent => "talent",
            Self::Projects => "projects",
        }
    }

    /// The Chinese name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Meetings => "招商会议",
            Self::Publicity => "招商宣传",
            Self::Transport => "交通保障",
            Self::CommissionedPromotion => "委托招商",
            Self::PlatformBuilding => "平台建设",
            Self::Talent => "人才引进",
            Self::Projects => "项目引进",
        }
    }
}

/// Records a payment from the special fund. Creates the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordExpenditure {
    /// The task force it was spent for; absent for the office's own spending.
    #[serde(default)]
    pub task_force_id: Option<Slug>,
    /// What it paid for.
    pub category: ExpenditureCategory,
    /// How much, in whole yuan.
    pub amount_yuan: Yuan,
    /// The payment date.
    pub on: NaiveDate,
    /// What was bought, in plain words.
    pub description: Name,
    /// The voucher number (凭证号).
    #[serde(default)]
    pub voucher: Option<Name>,
}

/// Reverses a record entered by mistake (红冲); the record and its reversal
/// both stay in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseRecord {
    /// When it was reversed.
    pub on: NaiveDate,
    /// What was wrong.
    pub reason: Text,
}

/// Records talent introduced (人才引进) through the action. Creates the record.
/// People are counted, not named: names of individuals are personal data and
/// do not belong in the event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordTalentIntroduction {
    /// The task force that introduced them.
    pub task_force_id: Slug,
    /// A description (e.g. 新能源汽车电控研发团队).
    pub title: Name,
    /// How many people, 1 to 1000.
    pub people: u32,
    /// The level or programme (e.g. 高层次人才, 龙城人才计划).
    #[serde(default)]
    pub level: Option<Name>,
    /// The enterprise they joined, when one did.
    #[serde(default)]
    pub enterprise: Option<Name>,
    /// When they were introduced.
    pub on: NaiveDate,
}

/// Most people one talent record may count; more is a typing error.
pub const MAX_PEOPLE_PER_RECORD: u32 = 1000;

macro_rules! record_aggregate {
    (
        $(#[$doc:meta])* $state:ident, $type_name:literal, $command:ident, $event:ident,
        $record:ty, $recorded:literal, $reversed:literal, $check:expr, $who:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $state {
            /// Whether it has been recorded.
            pub recorded: bool,
            /// The date it happened, once recorded.
            pub on: Option<NaiveDate>,
            /// Whether it has been reversed.
            pub reversed: bool,
        }

        /// What a user can ask of the record.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $command {
            /// Record it (creates it).
            Record($record),
            /// Reverse it.
            Reverse(ReverseRecord),
        }

        /// What can have happened to the record.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(tag = "type", content = "data")]
        pub enum $event {
            /// It was recorded.
            #[serde(rename = $recorded)]
            Recorded($record),
            /// It was reversed.
            #[serde(rename = $reversed)]
            Reversed(ReverseRecord),
        }

        impl DomainEvent for $event {
            fn occurred_on(&self) -> Option<NaiveDate> {
                match self {
                    Self::Recorded(r) => Some(r.on),
                    Self::Reversed(r) => Some(r.on),
                }
            }
        }

        impl Aggregate for $state {
            const TYPE: &'static str = $type_name;
            type Command = $command;
            type Event = $event;

            fn decide(&self, command: &$command, context: &DecisionContext) -> Result<$event, DomainError> {
                match command {
                    $command::Record(record) => {
                        if self.recorded {
                            return Err(DomainError::AlreadyExists { aggregate_type: Self::TYPE });
                        }
                        check_happened("on", record.on, context.today)?;
                        let check: fn(&$record) -> Result<(), DomainError> = $check;
                        check(record)?;
                        Ok($event::Recorded(record.clone()))
                    }
                    $command::Reverse(reversal) => {
                        if !self.recorded {
                            return Err(DomainError::NotFound { aggregate_type: Self::TYPE });
                        }
                        if self.reversed {
                            return Err(DomainError::not_allowed("already_reversed", "该记录已冲销"));
                        }
                        check_happened("on", reversal.on, context.today)?;
                        if let Some(on) = self.on {
                            if reversal.on < on {
                                return Err(DomainError::invalid(
                                    "on",
                                    "not_before_record",
                                    format!("冲销日期 {} 早于原记录日期 {on}", reversal.on),
                                ));
                            }
                        }
                        Ok($event::Reversed(reversal.clone()))
                    }
                }
            }

            fn evolve(mut self, event: &$event) -> Self {
                match event {
                    $event::Recorded(r) => {
                        self.recorded = true;
                        self.on = Some(r.on);
                    }
                    $event::Reversed(_) => self.reversed = true,
                }
                self
            }

            fn exists(&self) -> bool {
                self.recorded
            }

            /// A record is its recorder's (as `$who` says); a reversal is
            /// the office's, which keeps the books.
            fn responsibility(&self, _id: &str, event: &$event) -> Responsibility {
                match event {
                    $event::Recorded(record) => {
                        let who: fn(&$record) -> Responsibility = $who;
                        who(record)
                    }
                    $event::Reversed(_) => Responsibility::Office,
                }
            }
        }
    };
}

record_aggregate!(
    /// A service platform record as the rules need to see it.
    ServicePlatform,
    "service_platform",
    ServicePlatformCommand,
    ServicePlatformEvent,
    RecordServicePlatform,
    "service_platform.recorded.v1",
    "service_platform.reversed.v1",
    |_| Ok(()),
    |p| p.task_force_id.as_ref().map_or(Responsibility::Office, |t| Responsibility::TaskForce(t.to_string()))
);

record_aggregate!(
    /// An expenditure record as the rules need to see it.
    Expenditure,
    "expenditure",
    ExpenditureCommand,
    ExpenditureEvent,
    RecordExpenditure,
    "expenditure.recorded.v1",
    "expenditure.reversed.v1",
    |_| Ok(()),
    |_| Responsibility::Office
);

record_aggregate!(
    /// A talent introduction record as the rules need to see it.
    TalentIntroduction,
    "talent_introduction",
    TalentIntroductionCommand,
    TalentIntroductionEvent,
    RecordTalentIntroduction,
    "talent_introduction.recorded.v1",
    "talent_introduction.reversed.v1",
    |record| {
        if record.people == 0 || record.people > MAX_PEOPLE_PER_RECORD {
            return Err(DomainError::invalid(
                "people",
                "people_in_range",
                format!("引进人数应在 1 到 {MAX_PEOPLE_PER_RECORD} 之间"),
            ));
        }
        Ok(())
    },
    |t| Responsibility::TaskForce(t.task_force_id.to_string())
);

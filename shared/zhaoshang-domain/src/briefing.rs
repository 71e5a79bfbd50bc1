//! The quarterly briefing (科技招商工作简报): the office writes one every
//! quarter from the read models. Publishing it records the content's SHA-256
//! and the stream sequence the figures stood on, so that anyone can later
//! prove which text was published and re-derive it from the same history.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
use crate::error::{DomainError, check_happened};
use crate::values::{Name, Text};

/// Publishes (or republishes, corrected) the briefing of a quarter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBriefing {
    /// The year of the quarter.
    pub year: i32,
    /// The quarter, 1 to 4.
    pub quarter: u8,
    /// Its title (e.g. 科技招商工作简报（2023年第1期）).
    pub title: Name,
    /// SHA-256 of the published Markdown, 64 lower-case hex characters (the
    /// `X-Content-SHA256` of `GET /api/v1/briefings/{year}-Q{n}?format=md`).
    pub content_sha256: String,
    /// The stream sequence the briefing's figures stood on (its `X-As-Of-Sequence`).
    pub as_of_sequence: u64,
    /// When it was published.
    pub on: NaiveDate,
    /// For a republication: what was corrected.
    #[serde(default)]
    pub correction: Option<Text>,
}

/// What a user can ask of a quarter's briefing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BriefingCommand {
    /// Publish it; publishing again republishes a correction.
    Publish(PublishBriefing),
}

/// What can have happened to a quarter's briefing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum BriefingEvent {
    /// The quarter's briefing was published.
    #[serde(rename = "briefing.published.v1")]
    Published(PublishBriefing),
    /// A corrected briefing replaced the published one.
    #[serde(rename = "briefing.republished.v1")]
    Republished(PublishBriefing),
}

impl DomainEvent for BriefingEvent {
    fn occurred_on(&self) -> Option<NaiveDate> {
        match self {
            Self::Published(b) | Self::Republished(b) => Some(b.on),
        }
    }
}

/// A quarter's briefing as the rules need to see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Briefing {
    /// The hash last published, once published.
    pub content_sha256: Option<String>,
    /// The date it was last published.
    pub published_on: Option<NaiveDate>,
    /// The year and quarter, once published.
    pub quarter: Option<(i32, u8)>,
}

/// The aggregate id of a quarter's briefing: `2023-q1`.
pub fn briefing_id(year: i32, quarter: u8) -> String {
    format!("{year}-q{quarter}")
}

fn quarter_end(year: i32, quarter: u8) -> Option<NaiveDate> {
    let next = if quarter == 4 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, u32::from(quarter) * 3 + 1, 1)
    };
    next.and_then(|d| d.pred_opt())
}

impl Aggregate for Briefing {
    const TYPE: &'static str = "briefing";
    type Command = BriefingCommand;
    type Event = BriefingEvent;

    fn decide(&self, command: &BriefingCommand, context: &DecisionContext) -> Result<BriefingEvent, DomainError> {
        let BriefingCommand::Publish(briefing) = command;
        if !(1..=4).contains(&briefing.quarter) {
            return Err(DomainError::invalid("quarter", "quarter_range", "季度须为 1 至 4"));
        }
        if !(2000..=2100).contains(&briefing.year) {
            return Err(DomainError::invalid("year", "year_range", "年份须为 2000 至 2100 之间的整数"));
        }
        let hex = briefing.content_sha256.len() == 64
            && briefing.content_sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            return Err(DomainError::invalid("content_sha256", "sha256_hex", "须为 64 位小写十六进制 SHA-256"));
        }
        check_happened("on", briefing.on, context.today)?;
        if let Some(end) = quarter_end(briefing.year, briefing.quarter) {
            let start = end.with_day(1).and_then(|d| d.checked_sub_months(chrono::Months::new(2)));
            if start.is_some_and(|start| briefing.on < start) {
                return Err(DomainError::invalid(
                    "on",
                    "not_before_quarter",
                    format!("{}年第{}季度的简报不能在该季度开始之前发布", briefing.year, briefing.quarter),
                ));
            }
        }
        match (&self.quarter, &self.content_sha256) {
            (None, _) => Ok(BriefingEvent::Published(briefing.clone())),
            (Some(quarter), _) if *quarter != (briefing.year, briefing.quarter) => {
                Err(DomainError::invalid("quarter", "briefing_of_its_quarter", "该编号的简报属于另一个季度"))
            }
            (Some(_), Some(hash)) if *hash == briefing.content_sha256 => {
                Err(DomainError::not_allowed("already_published", "同样内容的简报已经发布"))
            }
            (Some(_), _) => {
                if briefing.correction.is_none() {
                    return Err(DomainError::invalid(
                        "correction",
                        "correction_reason_required",
                        "重新发布简报须说明更正了什么",
                    ));
                }
                if self.published_on.is_some_and(|on| briefing.on < on) {
                    return Err(DomainError::invalid("on", "not_before_previous", "重新发布日期早于上次发布日期"));
                }
                Ok(BriefingEvent::Republished(briefing.clone()))
            }
        }
    }

    fn evolve(mut self, event: &BriefingEvent) -> Self {
        let (BriefingEvent::Published(b) | BriefingEvent::Republished(b)) = event;
        self.content_sha256 = Some(b.content_sha256.clone());
        self.published_on = Some(b.on);
        self.quarter = Some((b.year, b.quarter));
        self
    }

    fn exists(&self) -> bool {
        self.quarter.is_some()
    }

    /// The office writes the briefing.
    fn responsibility(&self, _id: &str, _event: &BriefingEvent) -> Responsibility {
        Responsibility::Office
    }
}

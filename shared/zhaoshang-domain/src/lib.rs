//! The zhaoshang domain: what the Liuzhou S&T system's investment-promotion
//! plan asks of its task forces, as pure decisions over events.
//!
//! This crate does no I/O and depends on no runtime, database or broker: it
//! is the part of the system an auditor or a new developer can read alone.
//!
//! Layout:
//! - [`values`]: value objects (names, amounts in yuan, kinds) that are valid once built.
//! - [`aggregate`]: the `decide`/`evolve` shape every aggregate takes.
//! - one module per aggregate: [`task_force`], [`project`], [`activity`],
//!   [`meeting`], [`enterprise`], [`briefing`], and [`plan`] (the plan period
//!   with its targets, and the leading group); [`resources`] holds the small
//!   record aggregates (service platforms, expenditure, talent introduced).
//! - [`monthly_report`]: the task forces' monthly progress reports, when they
//!   are due and whether they came on time; [`supervision`]: the duties'
//!   colours (绿/蓝/黄/红) on a date and the escalation ladder (提醒 → 催办 →
//!   督办 → 通报).
//! - [`envelope`]: the CloudEvents envelope every event travels in, with its
//!   canonical encoding and hash; [`upcast`] reads old versions as new.
//! - [`contract`]: every event type with the JSON Schemas subscribers rely on.
//! - [`error`]: domain rejections, each naming its field and rule.
//! - [`testing`]: the given/when/then helper the domain's tests use.

pub mod activity;
pub mod aggregate;
pub mod briefing;
/// The public event contract: the catalog of event types and their JSON Schemas.
pub mod contract;
pub mod enterprise;
pub mod envelope;
pub mod error;
pub mod import;
pub mod meeting;
pub mod monthly_report;
pub mod plan;
pub mod project;
pub mod resources;
pub mod supervision;
pub mod task_force;
pub mod testing;
pub mod upcast;
pub mod values;

pub use aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
pub use envelope::{EventEnvelope, EventMetadata};
pub use error::DomainError;

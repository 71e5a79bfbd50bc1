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
//!   [`meeting`], and [`plan`] (the plan period with its targets, and the
//!   leading group).
//! - [`envelope`]: the CloudEvents envelope every event travels in, with its
//!   canonical encoding and hash; [`upcast`] reads old versions as new.
//! - [`contract`]: every event type with the JSON Schemas subscribers rely on.
//! - [`error`]: domain rejections, each naming its field and rule.
//! - [`testing`]: the given/when/then helper the domain's tests use.

pub mod activity;
pub mod aggregate;
/// The public event contract: the catalog of event types and their JSON Schemas.
pub mod contract;
pub mod envelope;
pub mod error;
pub mod meeting;
pub mod plan;
pub mod project;
pub mod task_force;
pub mod testing;
pub mod upcast;
pub mod values;

pub use aggregate::{Aggregate, DecisionContext, DomainEvent, Responsibility};
pub use envelope::{EventEnvelope, EventMetadata};
pub use error::DomainError;

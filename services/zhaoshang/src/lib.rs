//! `zhaoshang`: the one binary that runs the command, projection and query
//! services, together on one machine or each alone when scaled out, and the
//! operator's commands (loading a plan).
//!
//! Layout: [`config`] is every setting with its environment variable and
//! default; [`system`] wires the services together; [`plan_file`] loads a
//! plan period's data file through commands; [`infra`] starts a local NATS
//! and PostgreSQL when the configured ones do not answer; [`telemetry`] is
//! `/metrics`, the request spans with their correlation ids, and the log format.

pub mod config;
pub mod infra;
pub mod plan_file;
pub mod system;
pub mod telemetry;

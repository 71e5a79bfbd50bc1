//! `zhaoshang`: the one binary that runs the command, projection and query
//! services, together on one machine or each alone when scaled out, and the
//! operator's commands (loading a plan).
//!
//! Layout: [`config`] is every setting with its environment variable and
//! default; [`system`] wires the services together; [`plan_file`] loads a
//! plan period's data file through commands; [`infra`] starts a local NATS
//! and PostgreSQL when the configured ones do not answer; [`security`] builds
//! the token verification, policy and rate limit from the configuration;
//! [`audit`] signs tree heads, verifies the history and rebuilds the read
//! models; [`telemetry`] is `/metrics`, the request spans with their
//! correlation ids, and the log format.

pub mod audit;
pub mod config;
pub mod infra;
pub mod plan_file;
pub mod security;
pub mod system;
pub mod telemetry;

//! System tests against the real NATS JetStream and PostgreSQL.

mod audit;
mod briefing;
mod full_year;
mod group_commit;
mod import;
mod ledger;
mod local_servers;
mod nats_access;
mod operations;
mod personal_data;
mod plan;
mod progress;
mod projector;
mod reports;
mod security;
mod supervision;
mod temporal;
mod write_path;

//! System tests against the real NATS JetStream and PostgreSQL.

mod local_servers;
mod nats_access;
mod personal_data;
mod plan;
mod progress;
mod projector;
mod security;
mod write_path;

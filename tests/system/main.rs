//! System tests against the real NATS JetStream and PostgreSQL.

mod local_servers;
mod nats_access;
mod operations;
mod plan;
mod progress;
mod projector;
mod write_path;

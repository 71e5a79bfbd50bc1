//! System tests against the real NATS JetStream and PostgreSQL.

mod audit;
mod local_servers;
mod nats_access;
mod plan;
mod progress;
mod projector;
mod write_path;

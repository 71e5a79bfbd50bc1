//! System tests against the real NATS JetStream and PostgreSQL.

mod local_servers;
mod plan;
mod progress;
mod projector;
mod write_path;

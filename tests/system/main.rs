//! System tests against the real NATS JetStream and PostgreSQL.

mod plan;
mod progress;
mod projector;
mod write_path;

//! The audit trail's mathematics, free of I/O: what lets an auditor prove
//! that nothing in zhaoshang's history was changed, removed or slipped in.
//!
//! - [`merkle`]: RFC 6962/9162 tree hashing, inclusion and consistency
//!   proofs, and verifiers that check every element; [`merkle::Frontier`]
//!   follows a growing log in constant memory.
//! - [`tree_head`]: signed tree heads ("digests"), Ed25519 keys from PEM or hex.
//! - [`chain`]: [`chain::ChainVerifier`] checks the stream event by event
//!   (sequence, hash, per-aggregate link, version) and rebuilds the tree.
//! - [`proof`]: proofs as printed and served, each verifiable with the public
//!   key alone.
//!
//! Reading the stream, storing digests and comparing read models is the
//! `zhaoshang` binary's part (`services/zhaoshang/src/audit.rs`).

pub mod chain;
pub mod merkle;
pub mod proof;
pub mod tree_head;

pub use ed25519_dalek::{SigningKey, VerifyingKey};

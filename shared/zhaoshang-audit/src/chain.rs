//! Checking the event stream link by link: every sequence present, every
//! hash recomputed, every `prevhash` equal to the hash of the aggregate's
//! previous event, every aggregate version one more than the last, every
//! signed tree head equal to the tree the verifier rebuilt.

use std::collections::HashMap;

use zhaoshang_domain::EventEnvelope;

use crate::merkle::{Frontier, Hash, leaf_hash};

/// The first thing found wrong in the history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A stream sequence is missing: an event was removed.
    #[error("event at stream sequence {expected} is missing (the next one is {found})")]
    Gap {
        /// The sequence that should come next.
        expected: u64,
        /// The sequence that came instead.
        found: u64,
    },
    /// The stored message is not an event envelope.
    #[error("stream sequence {sequence} is not a readable event: {reason}")]
    Unreadable {
        /// Its stream sequence.
        sequence: u64,
        /// Why.
        reason: String,
    },
    /// The event's content does not hash to its `hash`: it was altered.
    #[error(
        "event {event_id} at stream sequence {sequence}: its content hashes to {computed}, not to its hash {stored}"
    )]
    HashMismatch {
        /// Its stream sequence.
        sequence: u64,
        /// Its id.
        event_id: String,
        /// The hash it carries.
        stored: String,
        /// The hash of its content.
        computed: String,
    },
    /// `prevhash` is not the hash of the aggregate's previous event.
    #[error(
        "event {event_id} at stream sequence {sequence} ({subject}): prevhash {found:?} is not the hash of the previous event {expected:?}"
    )]
    BrokenLink {
        /// Its stream sequence.
        sequence: u64,
        /// Its id.
        event_id: String,
        /// `<aggregate_type>/<aggregate_id>`.
        subject: String,
        /// The previous event's hash (none for a first event).
        expected: Option<String>,
        /// What the event says.
        found: Option<String>,
    },
    /// The aggregate version does not follow the previous one.
    #[error("event {event_id} at stream sequence {sequence} ({subject}): version {found}, expected {expected}")]
    VersionOutOfOrder {
        /// Its stream sequence.
        sequence: u64,
        /// Its id.
        event_id: String,
        /// `<aggregate_type>/<aggregate_id>`.
        subject: String,
        /// The version that should come next.
        expected: u64,
        /// The version it has.
        found: u64,
    },
    /// A signed tree head's root is not the root of the events it covers.
    #[error("tree head of size {tree_size} says root {signed}, the stream gives {computed}")]
    DigestMismatch {
        /// Its tree size.
        tree_size: u64,
        /// The root it signs.
        signed: String,
        /// The root of the stream's first `tree_size` events.
        computed: String,
    },
}

impl ChainError {
    /// The stream sequence at which the history goes wrong.
    pub fn sequence(&self) -> u64 {
        match self {
            Self::Gap { expected, .. } => *expected,
            Self::Unreadable { sequence, .. }
            | Self::HashMismatch { sequence, .. }
            | Self::BrokenLink { sequence, .. }
            | Self::VersionOutOfOrder { sequence, .. } => *sequence,
            Self::DigestMismatch { tree_size, .. } => *tree_size,
        }
    }
}

/// Follows the stream in order and checks each event against what came before.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    /// The sequence expected next (1 at the start).
    next_sequence: u64,
    /// The last version and hash of each aggregate, by `aggregatetype/aggregateid`.
    last_by_aggregate: HashMap<String, (u64, String)>,
    /// The Merkle tree over the event hashes so far.
    tree: Frontier,
}

impl ChainVerifier {
    /// A verifier at the start of the stream.
    pub fn new() -> Self {
        Self { next_sequence: 1, ..Self::default() }
    }

    /// How many events have been checked (the tree's size).
    pub fn checked(&self) -> u64 {
        self.tree.size()
    }

    /// The Merkle root over the events checked so far.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// Checks the event at stream `sequence`. With `recompute_hash` false the
    /// stored hash is taken as it is (for a prefix covered by a trusted tree
    /// head: any change to it changes that root).
    ///
    /// # Errors
    /// The first [`ChainError`] this event shows.
    pub fn check(&mut self, sequence: u64, envelope: &EventEnvelope, recompute_hash: bool) -> Result<(), ChainError> {
        if sequence != self.next_sequence {
            return Err(ChainError::Gap { expected: self.next_sequence, found: sequence });
        }
        if recompute_hash {
            let computed = envelope.compute_hash();
            if computed != envelope.hash {
                return Err(ChainError::HashMismatch {
                    sequence,
                    event_id: envelope.id.to_string(),
                    stored: envelope.hash.clone(),
                    computed,
                });
            }
        }
        let leaf: Hash = hex::decode(&envelope.hash)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| ChainError::Unreadable { sequence, reason: "hash is not 64 hex digits".to_owned() })?;
        let subject = format!("{}/{}", envelope.aggregatetype, envelope.aggregateid);
        let (expected_version, expected_previous) = match self.last_by_aggregate.get(&subject) {
            Some((version, hash)) => (version + 1, Some(hash.as_str())),
            None => (1, None),
        };
        if envelope.prevhash.as_deref() != expected_previous {
            return Err(ChainError::BrokenLink {
                sequence,
                event_id: envelope.id.to_string(),
                subject,
                expected: expected_previous.map(str::to_owned),
                found: envelope.prevhash.clone(),
            });
        }
        if envelope.aggregateversion != expected_version {
            return Err(ChainError::VersionOutOfOrder {
                sequence,
                event_id: envelope.id.to_string(),
                subject,
                expected: expected_version,
                found: envelope.aggregateversion,
            });
        }
        self.last_by_aggregate.insert(subject, (expected_version, envelope.hash.clone()));
        self.tree.push(leaf_hash(&leaf));
        self.next_sequence += 1;
        Ok(())
    }

    /// Checks that a tree head over exactly the events checked so far signs
    /// their root (its signature is checked apart, with the public key).
    ///
    /// # Errors
    /// [`ChainError::DigestMismatch`].
    pub fn check_root(&self, tree_size: u64, signed_root: &str) -> Result<(), ChainError> {
        debug_assert_eq!(tree_size, self.tree.size());
        let computed = hex::encode(self.tree.root());
        if computed == signed_root {
            Ok(())
        } else {
            Err(ChainError::DigestMismatch { tree_size, signed: signed_root.to_owned(), computed })
        }
    }
}

/// The leaf hash of an event: `SHA-256(0x00 || hash bytes)`.
///
/// # Errors
/// When the event's hash is not 64 hex digits.
pub fn event_leaf(envelope_hash: &str) -> Result<Hash, hex::FromHexError> {
    let bytes: [u8; 32] = hex::decode(envelope_hash)?.try_into().map_err(|_| hex::FromHexError::InvalidStringLength)?;
    Ok(leaf_hash(&bytes))
}

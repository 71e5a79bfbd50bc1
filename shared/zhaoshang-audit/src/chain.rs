//! Checking the event stream link by link: every sequence present, every
//! hash recomputed, every `prevhash` equal to the hash of the aggregate's
//! previous event, every aggregate version one more than the last, every
//! signed tree head equal to the tree the verifier rebuilt.

use std::collections::HashMap;

use uuid::Uuid;
use zhaoshang_domain::EventEnvelope;
use zhaoshang_domain::envelope::StoredEnvelope;

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

/// What the chain check needs of one event, worked out from the event alone:
/// its hash recomputed and compared, its leaf hash, the fields its links are
/// checked on. Each event's is independent of the others', so a verifier
/// examines many at once (on every core) and then passes them, in stream
/// order, to [`ChainVerifier::check_examined`], the step that is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExaminedEvent {
    /// Its id, for the findings.
    pub event_id: Uuid,
    /// `<aggregate_type>/<aggregate_id>`: the chain it belongs to.
    pub subject: String,
    /// Its aggregate version.
    pub version: u64,
    /// The hash of the aggregate's previous event, as the event says.
    pub prevhash: Option<String>,
    /// Its hash as stored (checked against its content unless taken on
    /// trust from a tree head).
    pub hash: String,
    /// `SHA-256(0x00 || hash bytes)`: its leaf in the Merkle tree.
    pub leaf: Hash,
}

impl ExaminedEvent {
    /// Examines the event at stream `sequence`: with `recompute_hash` its
    /// hash is recomputed over the canonical encoding and must equal the
    /// stored one, character for character; without, the stored hash is
    /// taken as it is (for a prefix covered by a trusted tree head: any
    /// change to it changes that root).
    ///
    /// # Errors
    /// [`ChainError::HashMismatch`], or [`ChainError::Unreadable`] when the
    /// stored hash is not 64 hex digits.
    pub fn of(sequence: u64, envelope: &EventEnvelope, recompute_hash: bool) -> Result<Self, ChainError> {
        let leaf = Self::check_hash(sequence, envelope, recompute_hash)?;
        Ok(Self {
            event_id: envelope.id,
            subject: format!("{}/{}", envelope.aggregatetype, envelope.aggregateid),
            version: envelope.aggregateversion,
            prevhash: envelope.prevhash.clone(),
            hash: envelope.hash.clone(),
            leaf,
        })
    }

    /// [`ExaminedEvent::of`] for an envelope the caller has no further use
    /// for: its strings are moved, not copied.
    ///
    /// # Errors
    /// As [`ExaminedEvent::of`].
    pub fn from_envelope(sequence: u64, envelope: EventEnvelope, recompute_hash: bool) -> Result<Self, ChainError> {
        let leaf = Self::check_hash(sequence, &envelope, recompute_hash)?;
        let mut subject = envelope.aggregatetype;
        subject.push('/');
        subject.push_str(&envelope.aggregateid);
        Ok(Self {
            event_id: envelope.id,
            subject,
            version: envelope.aggregateversion,
            prevhash: envelope.prevhash,
            hash: envelope.hash,
            leaf,
        })
    }

    /// [`ExaminedEvent::of`] for a message read only to be checked: the
    /// borrowing [`StoredEnvelope`], which copies none of the strings it
    /// need not keep.
    ///
    /// # Errors
    /// As [`ExaminedEvent::of`].
    pub fn from_stored(sequence: u64, envelope: &StoredEnvelope<'_>, recompute_hash: bool) -> Result<Self, ChainError> {
        if recompute_hash {
            compare_hash(sequence, envelope.id, envelope.compute_hash_bytes(), &envelope.hash)?;
        }
        let leaf = stored_leaf(sequence, &envelope.hash)?;
        Ok(Self {
            event_id: envelope.id,
            subject: format!("{}/{}", envelope.aggregatetype, envelope.aggregateid),
            version: envelope.aggregateversion,
            prevhash: envelope.prevhash.clone(),
            hash: envelope.hash.clone().into_owned(),
            leaf,
        })
    }

    /// The hash check and the leaf: the stored hash must be exactly the
    /// lower-case hex of the recomputed one (so compared as text, not as
    /// decoded bytes, which would let `AB…` pass for `ab…`).
    fn check_hash(sequence: u64, envelope: &EventEnvelope, recompute_hash: bool) -> Result<Hash, ChainError> {
        if recompute_hash {
            compare_hash(sequence, envelope.id, envelope.compute_hash_bytes(), &envelope.hash)?;
        }
        stored_leaf(sequence, &envelope.hash)
    }
}

/// The stored hash must be the lower-case hex of the computed one, character
/// for character.
fn compare_hash(sequence: u64, event_id: Uuid, computed: [u8; 32], stored: &str) -> Result<(), ChainError> {
    let mut computed_hex = [0u8; 64];
    hex::encode_to_slice(computed, &mut computed_hex).expect("64 hex digits for 32 bytes");
    if computed_hex[..] == *stored.as_bytes() {
        Ok(())
    } else {
        Err(ChainError::HashMismatch {
            sequence,
            event_id: event_id.to_string(),
            stored: stored.to_owned(),
            computed: hex::encode(computed),
        })
    }
}

fn stored_leaf(sequence: u64, stored: &str) -> Result<Hash, ChainError> {
    event_leaf(stored).map_err(|_| ChainError::Unreadable { sequence, reason: "hash is not 64 hex digits".to_owned() })
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
        self.check_examined(sequence, ExaminedEvent::of(sequence, envelope, recompute_hash))
    }

    /// Checks the event at stream `sequence` from what [`ExaminedEvent::of`]
    /// (or the reading of its bytes) found: the sequence must follow the
    /// last one before anything else counts, so a gap is named ahead of
    /// whatever the next event holds; then the examination's own finding;
    /// then the link to the aggregate's previous event and the version.
    ///
    /// # Errors
    /// The first [`ChainError`] this event shows.
    pub fn check_examined(
        &mut self,
        sequence: u64,
        examined: Result<ExaminedEvent, ChainError>,
    ) -> Result<(), ChainError> {
        if sequence != self.next_sequence {
            return Err(ChainError::Gap { expected: self.next_sequence, found: sequence });
        }
        let event = examined?;
        let (expected_version, expected_previous) = match self.last_by_aggregate.get(&event.subject) {
            Some((version, hash)) => (version + 1, Some(hash.as_str())),
            None => (1, None),
        };
        if event.prevhash.as_deref() != expected_previous {
            return Err(ChainError::BrokenLink {
                sequence,
                expected: expected_previous.map(str::to_owned),
                event_id: event.event_id.to_string(),
                subject: event.subject,
                found: event.prevhash,
            });
        }
        if event.version != expected_version {
            return Err(ChainError::VersionOutOfOrder {
                sequence,
                event_id: event.event_id.to_string(),
                subject: event.subject,
                expected: expected_version,
                found: event.version,
            });
        }
        self.last_by_aggregate.insert(event.subject, (expected_version, event.hash));
        self.tree.push(event.leaf);
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
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(envelope_hash, &mut bytes)?;
    Ok(leaf_hash(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::root;

    /// A history of `aggregates` projects with `versions` events each,
    /// interleaved in the stream, chained and hashed as the command service
    /// seals them.
    fn history(aggregates: usize, versions: u64) -> Vec<EventEnvelope> {
        let template: EventEnvelope = serde_json::from_str(include_str!(
            "../../zhaoshang-domain/contract/examples/cn.gov.liuzhou.kjj.zhaoshang.project.lead_recorded.v1.json"
        ))
        .expect("the contract example is an envelope");
        let mut last_hash: Vec<Option<String>> = vec![None; aggregates];
        let mut events = Vec::new();
        for version in 1..=versions {
            for (aggregate, previous) in last_hash.iter_mut().enumerate() {
                let mut envelope = template.clone();
                envelope.aggregateid = format!("project-{aggregate}");
                envelope.subject = format!("project/project-{aggregate}");
                envelope.aggregateversion = version;
                envelope.prevhash = previous.take();
                envelope.data["name"] = serde_json::Value::String(format!("项目{aggregate}-{version}"));
                envelope.hash = envelope.compute_hash();
                *previous = Some(envelope.hash.clone());
                events.push(envelope);
            }
        }
        events
    }

    fn check_all(events: &[EventEnvelope]) -> Result<ChainVerifier, ChainError> {
        let mut chain = ChainVerifier::new();
        for (i, envelope) in events.iter().enumerate() {
            chain.check(i as u64 + 1, envelope, true)?;
        }
        Ok(chain)
    }

    fn rehash(envelope: &mut EventEnvelope) {
        envelope.hash = envelope.compute_hash();
    }

    #[test]
    fn an_honest_history_passes_and_gives_the_tree_of_its_hashes() {
        let events = history(3, 4);
        let chain = check_all(&events).expect("an honest history");
        assert_eq!(chain.checked(), 12);
        let leaves: Vec<Hash> = events.iter().map(|e| event_leaf(&e.hash).expect("hex")).collect();
        assert_eq!(chain.root(), root(&leaves));
        chain.check_root(12, &hex::encode(root(&leaves))).expect("the root it built");
        assert!(matches!(
            chain.check_root(12, &"00".repeat(32)),
            Err(ChainError::DigestMismatch { tree_size: 12, .. })
        ));
    }

    #[test]
    fn an_altered_payload_is_named_unless_its_hash_is_taken_on_trust() {
        let mut events = history(2, 3);
        events[4].data["name"] = serde_json::Value::String("改过".to_owned());
        match check_all(&events) {
            Err(ChainError::HashMismatch { sequence: 5, stored, computed, .. }) => {
                assert_eq!(stored, events[4].hash);
                assert_eq!(computed, events[4].compute_hash());
            }
            other => panic!("expected the altered event to be named, got {other:?}"),
        }
        // A trusted prefix is checked through its root instead.
        let mut chain = ChainVerifier::new();
        for (i, envelope) in events.iter().enumerate() {
            chain.check(i as u64 + 1, envelope, false).expect("hashes taken as stored");
        }
    }

    #[test]
    fn a_wrong_previous_hash_and_a_skipped_version_are_named() {
        let mut events = history(2, 3);
        events[3].prevhash = Some("ab".repeat(32));
        rehash(&mut events[3]);
        match check_all(&events) {
            Err(ChainError::BrokenLink { sequence: 4, subject, expected, found, .. }) => {
                assert_eq!(subject, "project/project-1");
                assert_eq!(expected, Some(events[1].hash.clone()));
                assert_eq!(found, Some("ab".repeat(32)));
            }
            other => panic!("expected a broken link at 4, got {other:?}"),
        }

        let mut events = history(1, 3);
        events[2].aggregateversion = 4;
        rehash(&mut events[2]);
        assert!(matches!(
            check_all(&events),
            Err(ChainError::VersionOutOfOrder { sequence: 3, expected: 3, found: 4, .. })
        ));

        let mut events = history(1, 2);
        events[1].hash = "not hex".to_owned();
        let mut chain = ChainVerifier::new();
        chain.check(1, &events[0], false).expect("first");
        assert!(matches!(chain.check(2, &events[1], false), Err(ChainError::Unreadable { sequence: 2, .. })));
    }

    /// Examined apart (in parallel) and checked in order, the first problem
    /// is still the first in the stream: a missing sequence is named before
    /// whatever the event after it holds.
    #[test]
    fn examined_events_are_checked_in_stream_order_gap_first() {
        let mut events = history(2, 2);
        events[2].data["name"] = serde_json::Value::String("改过".to_owned());
        let examined: Vec<_> =
            events.iter().enumerate().map(|(i, e)| ExaminedEvent::of(i as u64 + 1, e, true)).collect();
        assert!(matches!(examined[2], Err(ChainError::HashMismatch { sequence: 3, .. })));

        for (i, envelope) in events.iter().enumerate() {
            let bytes = envelope.to_vec();
            let stored = StoredEnvelope::from_slice(&bytes).expect("stored");
            assert_eq!(
                ExaminedEvent::from_stored(i as u64 + 1, &stored, true),
                examined[i],
                "the borrowing reader agrees"
            );
            assert_eq!(ExaminedEvent::from_envelope(i as u64 + 1, envelope.clone(), true), examined[i]);
        }

        let mut chain = ChainVerifier::new();
        chain.check_examined(1, examined[0].clone()).expect("first");
        assert_eq!(
            chain.check_examined(3, examined[2].clone()),
            Err(ChainError::Gap { expected: 2, found: 3 }),
            "the gap at 2 comes before the altered event at 3"
        );
        chain.check_examined(2, examined[1].clone()).expect("second");
        assert!(matches!(
            chain.check_examined(3, examined[2].clone()),
            Err(ChainError::HashMismatch { sequence: 3, .. })
        ));
    }
}

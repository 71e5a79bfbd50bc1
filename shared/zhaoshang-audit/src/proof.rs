//! Proofs as they are printed, served and exported: self-contained JSON that
//! an auditor checks with the public key alone.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use zhaoshang_domain::EventEnvelope;

use crate::merkle::{self, Hash, ProofError};
use crate::tree_head::{SignedTreeHead, TreeHeadError};

/// That one event is leaf `leaf_index` of a signed tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The event's stream sequence (`leaf_index + 1`).
    pub sequence: u64,
    /// The leaf's index in the tree, from 0.
    pub leaf_index: u64,
    /// The event as stored.
    pub event: EventEnvelope,
    /// The signed tree head the proof leads to.
    pub tree_head: SignedTreeHead,
    /// The audit path from the leaf upwards, hex.
    pub audit_path: Vec<String>,
}

/// That a later signed tree extends an earlier one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The earlier tree head.
    pub first: SignedTreeHead,
    /// The later tree head.
    pub second: SignedTreeHead,
    /// The RFC 9162 consistency path, hex.
    pub path: Vec<String>,
}

/// Why a printed proof does not hold.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The event's content does not hash to its hash.
    #[error("the event's content does not hash to its hash")]
    EventAltered,
    /// The leaf index does not match the sequence.
    #[error("the leaf index is not the sequence minus one")]
    WrongIndex,
    /// An element is not 64 hex digits.
    #[error("a proof element is not 64 hex digits")]
    Malformed,
    /// The tree head is not signed by the key.
    #[error(transparent)]
    TreeHead(#[from] TreeHeadError),
    /// The path does not lead to the signed root.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The two tree heads are of different streams.
    #[error("the tree heads are of different streams")]
    OtherStream,
}

fn decode_path(path: &[String]) -> Result<Vec<Hash>, BundleError> {
    path.iter()
        .map(|h| {
            let bytes = hex::decode(h).map_err(|_| BundleError::Malformed)?;
            if h != &hex::encode(&bytes) {
                return Err(BundleError::Malformed);
            }
            bytes.try_into().map_err(|_| BundleError::Malformed)
        })
        .collect()
}

impl InclusionProof {
    /// Builds the proof of the event at `sequence` from every event hash
    /// (leaf input) of the tree, in stream order.
    ///
    /// # Errors
    /// [`BundleError::Proof`] when the event is not in the tree.
    pub fn build(
        event: EventEnvelope,
        sequence: u64,
        tree_head: SignedTreeHead,
        leaf_hashes: &[Hash],
    ) -> Result<Self, BundleError> {
        let leaf_index = sequence.checked_sub(1).ok_or(BundleError::WrongIndex)?;
        let path = merkle::inclusion_proof(leaf_hashes, leaf_index)?;
        Ok(Self { sequence, leaf_index, event, tree_head, audit_path: path.iter().map(hex::encode).collect() })
    }

    /// Checks everything: the event's hash, the index, the path to the
    /// root, and the tree head's signature with `key`.
    ///
    /// # Errors
    /// [`BundleError`] naming the first thing that does not hold.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), BundleError> {
        self.tree_head.verify(key)?;
        if self.event.compute_hash() != self.event.hash {
            return Err(BundleError::EventAltered);
        }
        if self.sequence != self.leaf_index + 1 {
            return Err(BundleError::WrongIndex);
        }
        let leaf = crate::chain::event_leaf(&self.event.hash).map_err(|_| BundleError::Malformed)?;
        let path = decode_path(&self.audit_path)?;
        merkle::verify_inclusion(&leaf, self.leaf_index, self.tree_head.tree_size, &path, &self.tree_head.root()?)?;
        Ok(())
    }
}

impl ConsistencyProof {
    /// Builds the proof between two tree heads from the leaf hashes of the
    /// later tree.
    ///
    /// # Errors
    /// [`BundleError::Proof`] when the sizes are out of order.
    pub fn build(first: SignedTreeHead, second: SignedTreeHead, leaf_hashes: &[Hash]) -> Result<Self, BundleError> {
        let path = merkle::consistency_proof(&leaf_hashes[..second.tree_size as usize], first.tree_size)?;
        Ok(Self { first, second, path: path.iter().map(hex::encode).collect() })
    }

    /// Checks both signatures and the path.
    ///
    /// # Errors
    /// [`BundleError`] naming the first thing that does not hold.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), BundleError> {
        self.first.verify(key)?;
        self.second.verify(key)?;
        if self.first.stream != self.second.stream {
            return Err(BundleError::OtherStream);
        }
        let path = decode_path(&self.path)?;
        merkle::verify_consistency(
            self.first.tree_size,
            self.second.tree_size,
            &self.first.root()?,
            &self.second.root()?,
            &path,
        )?;
        Ok(())
    }
}

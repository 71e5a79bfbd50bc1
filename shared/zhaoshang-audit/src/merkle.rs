//! Merkle tree hashing as RFC 6962 §2.1 and RFC 9162 §2.1 define it, with
//! inclusion and consistency proofs and verifiers that check every element.
//!
//! A leaf's hash is `SHA-256(0x00 || leaf)` and an inner node's is
//! `SHA-256(0x01 || left || right)`; the two prefixes keep a leaf from ever
//! passing for a node (the second-preimage attack on plain Merkle trees). A
//! tree of `n` leaves splits at the largest power of two below `n`, so the
//! tree over the first `m` leaves of a log is a prefix of every later tree.
//!
//! The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 to the letter: they
//! consume every element of the proof, and a proof with one element too many
//! or too few fails, as does an index outside the tree (immudb's 2022
//! advisory came from a verifier that skipped such checks).

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The index asked about.
        index: u64,
        /// The tree's size.
        size: u64,
    },
    /// The proof has fewer or more elements than the tree sizes call for.
    #[error("the proof has the wrong number of elements")]
    WrongLength,
    /// The second tree is smaller than the first.
    #[error("tree size {first} is larger than tree size {second}")]
    SizesOutOfOrder {
        /// The first (older) tree size.
        first: u64,
        /// The second (newer) tree size.
        second: u64,
    },
    /// The proof leads to another root than the one given.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// `SHA-256(0x00 || data)`: the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The hash of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (for `n >= 2`).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The Merkle tree hash (MTH) over leaf hashes.
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes.len() {
        0 => empty_root(),
        1 => leaf_hashes[0],
        n => {
            let k = split_point(n);
            node_hash(&root(&leaf_hashes[..k]), &root(&leaf_hashes[k..]))
        }
    }
}

/// The inclusion proof (RFC 6962 `PATH`) of leaf `index` in the tree over
/// `leaf_hashes`, from the leaf upwards.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] when `index` is not a leaf of the tree.
pub fn inclusion_proof(leaf_hashes: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let size = leaf_hashes.len() as u64;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(leaf_hashes, index as usize, &mut proof);
    Ok(proof)
}

fn path(leaves: &[Hash], m: usize, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(&leaves[..k], m, proof);
        proof.push(root(&leaves[k..]));
    } else {
        path(&leaves[k..], m - k, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Checks that the leaf with hash `leaf` is leaf `index` of the tree of
/// `size` leaves with root `expected_root` (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError`] naming what does not hold.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    expected_root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != expected_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The consistency proof (RFC 6962 `PROOF`) between the tree over the first
/// `first_size` leaves and the tree over all of `leaf_hashes`.
///
/// # Errors
/// [`ProofError::SizesOutOfOrder`] when `first_size` exceeds the tree.
pub fn consistency_proof(leaf_hashes: &[Hash], first_size: u64) -> Result<Vec<Hash>, ProofError> {
    let size = leaf_hashes.len() as u64;
    if first_size > size {
        return Err(ProofError::SizesOutOfOrder { first: first_size, second: size });
    }
    let mut proof = Vec::new();
    if first_size > 0 && first_size < size {
        subproof(first_size as usize, leaf_hashes, true, &mut proof);
    }
    Ok(proof)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, &leaves[..k], whole, proof);
        proof.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Checks that the tree of `second_size` leaves with root `second_root`
/// extends the tree of `first_size` leaves with root `first_root`
/// (RFC 9162 §2.1.4.2).
///
/// # Errors
/// [`ProofError`] naming what does not hold.
pub fn verify_consistency(
    first_size: u64,
    second_size: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first_size > second_size {
        return Err(ProofError::SizesOutOfOrder { first: first_size, second: second_size });
    }
    if first_size == second_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if first_root == second_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if first_size == 0 {
        // Every tree extends the empty one; RFC 9162 asks for an empty proof.
        return if proof.is_empty() { Ok(()) } else { Err(ProofError::WrongLength) };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    // When the first tree is a complete subtree, its root starts the path.
    let mut elements: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first_size.is_power_of_two() {
        elements.push(*first_root);
    }
    elements.extend_from_slice(proof);
    let mut fn_ = first_size - 1;
    let mut sn = second_size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = elements[0];
    let mut sr = elements[0];
    for c in &elements[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != first_root || &sr != second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its complete subtrees,
/// largest first. Appending a leaf costs O(1) amortised and the root of the
/// tree so far O(log n), so a reader can follow a log of any length in
/// constant memory.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    /// `(height, hash)` of each complete subtree on the right edge.
    stack: Vec<(u32, Hash)>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf by its leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut entry = (0u32, leaf);
        while let Some(&(height, left)) = self.stack.last() {
            if height != entry.0 {
                break;
            }
            self.stack.pop();
            entry = (height + 1, node_hash(&left, &entry.1));
        }
        self.stack.push(entry);
        self.size += 1;
    }

    /// The Merkle tree hash of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut hash)) = iter.next() else { return empty_root() };
        for (_, left) in iter {
            hash = node_hash(left, &hash);
        }
        hash
    }
}

/// A whole tree kept level by level, for serving many inclusion proofs:
/// building it costs `n` node hashes, each proof then `log n` look-ups. An
/// odd node at the end of a level is carried up unchanged, which gives the
/// same tree as RFC 6962's split at the largest power of two.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// `levels[0]` are the leaf hashes; the last level holds the root.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// Builds the tree over `leaf_hashes`.
    pub fn new(leaf_hashes: Vec<Hash>) -> Self {
        let mut levels = vec![leaf_hashes];
        while levels.last().is_some_and(|level| level.len() > 1) {
            let below = levels.last().expect("at least one level");
            let above: Vec<Hash> = below
                .chunks(2)
                .map(|pair| if pair.len() == 2 { node_hash(&pair[0], &pair[1]) } else { pair[0] })
                .collect();
            levels.push(above);
        }
        Self { levels }
    }

    /// How many leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The leaf hashes.
    pub fn leaves(&self) -> &[Hash] {
        &self.levels[0]
    }

    /// The Merkle tree hash.
    pub fn root(&self) -> Hash {
        match self.levels.last() {
            Some(top) if !top.is_empty() => top[0],
            _ => empty_root(),
        }
    }

    /// The inclusion proof of leaf `index`, equal to [`inclusion_proof`]'s.
    ///
    /// # Errors
    /// [`ProofError::IndexOutOfRange`].
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, ProofError> {
        if index >= self.size() {
            return Err(ProofError::IndexOutOfRange { index, size: self.size() });
        }
        let mut proof = Vec::new();
        let mut i = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                proof.push(level[sibling]);
            }
            i /= 2;
        }
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
    }

    /// Every proof of every leaf in trees of 1..=33 leaves verifies, and
    /// fails when any byte of any element, the leaf, the root, the index or
    /// the size changes, or an element is added or removed.
    #[test]
    fn inclusion_proofs_verify_and_fail_on_any_change() {
        for n in 1..=33usize {
            let all = leaves(n);
            let tree_root = root(&all);
            for m in 0..n {
                let proof = inclusion_proof(&all, m as u64).expect("in range");
                verify_inclusion(&all[m], m as u64, n as u64, &proof, &tree_root).expect("verifies");
                for i in 0..proof.len() {
                    for byte in [0, 17, 31] {
                        let mut bad = proof.clone();
                        bad[i][byte] ^= 1;
                        assert!(verify_inclusion(&all[m], m as u64, n as u64, &bad, &tree_root).is_err());
                    }
                }
                let mut bad_leaf = all[m];
                bad_leaf[5] ^= 0x80;
                assert!(verify_inclusion(&bad_leaf, m as u64, n as u64, &proof, &tree_root).is_err());
                let mut bad_root = tree_root;
                bad_root[0] ^= 1;
                assert!(verify_inclusion(&all[m], m as u64, n as u64, &proof, &bad_root).is_err());
                assert!(verify_inclusion(&all[m], (m as u64) + 1, n as u64, &proof, &tree_root).is_err());
                // The size is not checked here: a path alone does not always
                // fix it (RFC 9162 binds it through the signed tree head).
                let mut longer = proof.clone();
                longer.push(tree_root);
                assert_eq!(
                    verify_inclusion(&all[m], m as u64, n as u64, &longer, &tree_root),
                    Err(ProofError::WrongLength)
                );
                if !proof.is_empty() {
                    assert!(verify_inclusion(&all[m], m as u64, n as u64, &proof[1..], &tree_root).is_err());
                }
            }
            assert!(matches!(
                verify_inclusion(&all[0], n as u64, n as u64, &[], &tree_root),
                Err(ProofError::IndexOutOfRange { .. })
            ));
        }
    }

    #[test]
    fn consistency_proofs_verify_and_fail_on_any_change() {
        for n in 1..=33usize {
            let all = leaves(n);
            let second = root(&all);
            for m in 0..=n {
                let first = root(&all[..m]);
                let proof = consistency_proof(&all, m as u64).expect("in order");
                verify_consistency(m as u64, n as u64, &first, &second, &proof).expect("verifies");
                for i in 0..proof.len() {
                    for byte in [0, 31] {
                        let mut bad = proof.clone();
                        bad[i][byte] ^= 1;
                        assert!(verify_consistency(m as u64, n as u64, &first, &second, &bad).is_err());
                    }
                }
                if m > 0 && m < n {
                    let mut bad_first = first;
                    bad_first[9] ^= 4;
                    assert!(verify_consistency(m as u64, n as u64, &bad_first, &second, &proof).is_err());
                    let mut bad_second = second;
                    bad_second[9] ^= 4;
                    assert!(verify_consistency(m as u64, n as u64, &first, &bad_second, &proof).is_err());
                    let mut longer = proof.clone();
                    longer.push(second);
                    assert!(verify_consistency(m as u64, n as u64, &first, &second, &longer).is_err());
                    assert!(verify_consistency(m as u64, n as u64, &first, &second, &proof[1..]).is_err());
                    assert!(verify_consistency(m as u64 + 1, n as u64, &first, &second, &proof).is_err());
                }
            }
        }
    }

    #[test]
    fn the_level_tree_gives_the_same_roots_and_proofs() {
        for n in 0..=40usize {
            let all = leaves(n);
            let tree = MerkleTree::new(all.clone());
            assert_eq!(tree.root(), root(&all), "root of {n}");
            for m in 0..n {
                assert_eq!(
                    tree.inclusion_proof(m as u64).expect("in range"),
                    inclusion_proof(&all, m as u64).expect("in range")
                );
            }
        }
    }

    #[test]
    fn the_frontier_follows_the_tree_root() {
        let all = leaves(70);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.size(), i as u64 + 1);
            assert_eq!(frontier.root(), root(&all[..=i]), "after {} leaves", i + 1);
        }
    }

    /// The RFC 6962 test vectors used by Certificate Transparency's
    /// reference implementations (empty tree and one empty leaf).
    #[test]
    fn known_answers() {
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex::encode(leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }
}

//! Signed tree heads ("digests"): a Merkle root over every event hash up to
//! a stream sequence, signed with the bureau's Ed25519 key.
//!
//! The leaves of the log are the events in stream order: leaf `i` (from 0)
//! is the event at stream sequence `i + 1`, and its leaf input is the 32
//! bytes of the event's `hash` (hex-decoded). So a tree of size `n` covers
//! stream sequences `1..=n`, and a gap in the stream can never be hidden.
//!
//! The signature covers these UTF-8 bytes, one field a line, no trailing
//! newline, so any tool can rebuild them without a JSON canonicaliser:
//!
//! ```text
//! zhaoshang-tree-head-v1
//! <stream name>
//! <tree size, decimal>
//! <root hash, 64 lower-case hex digits>
//! <timestamp, RFC 3339 UTC with milliseconds, e.g. 2024-01-02T03:04:05.678Z>
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::merkle::Hash;

/// The first line of every signed message: names the format and its version.
pub const TREE_HEAD_DOMAIN: &str = "zhaoshang-tree-head-v1";

/// A signed tree head, as stored, published and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    /// The event stream the tree is over (`ZHAOSHANG`).
    pub stream: String,
    /// How many leaves: the tree covers stream sequences `1..=tree_size`.
    pub tree_size: u64,
    /// The Merkle tree hash, lower-case hex.
    pub root_hash: String,
    /// When it was signed, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// SHA-256 (hex) of the public key's 32 bytes: which key signed.
    pub key_id: String,
    /// The Ed25519 signature over [`SignedTreeHead::signed_message`], hex.
    pub signature: String,
}

/// Why a signed tree head is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeHeadError {
    /// It was signed with another key than the one given.
    #[error("tree head {tree_size} names key {key_id}, not the given public key")]
    WrongKey {
        /// Its tree size.
        tree_size: u64,
        /// The key it names.
        key_id: String,
    },
    /// The signature is malformed or does not verify.
    #[error("the signature of tree head {tree_size} does not verify")]
    BadSignature {
        /// Its tree size.
        tree_size: u64,
    },
    /// The root hash is not 64 hex digits.
    #[error("the root hash of tree head {tree_size} is malformed")]
    BadRoot {
        /// Its tree size.
        tree_size: u64,
    },
}

/// Why a key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Neither a PKCS#8 PEM private key nor a 64-hex-digit seed.
    #[error("the signing key is neither PKCS#8 PEM nor a 64-hex-digit Ed25519 seed")]
    Unreadable,
    /// Not a 64-hex-digit public key, nor a SubjectPublicKeyInfo PEM.
    #[error("the public key is neither 64 hex digits nor a SubjectPublicKeyInfo PEM")]
    UnreadablePublic,
}

/// Reads a signing key: PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, as
/// `openssl genpkey -algorithm ed25519` writes) or the 32-byte seed as hex.
///
/// # Errors
/// [`KeyError::Unreadable`].
pub fn parse_signing_key(text: &str) -> Result<SigningKey, KeyError> {
    let trimmed = text.trim();
    if trimmed.starts_with("-----BEGIN") {
        return SigningKey::from_pkcs8_pem(trimmed).map_err(|_| KeyError::Unreadable);
    }
    let bytes = hex::decode(trimmed).map_err(|_| KeyError::Unreadable)?;
    let seed: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Unreadable)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a public key: 64 hex digits, or a SubjectPublicKeyInfo PEM.
///
/// # Errors
/// [`KeyError::UnreadablePublic`].
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    let trimmed = text.trim();
    if trimmed.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(trimmed).map_err(|_| KeyError::UnreadablePublic);
    }
    let bytes = hex::decode(trimmed).map_err(|_| KeyError::UnreadablePublic)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::UnreadablePublic)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::UnreadablePublic)
}

/// The public key as hex (what `audit public-key` prints).
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// The public key as a SubjectPublicKeyInfo PEM, for tools like openssl.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .expect("an Ed25519 public key always encodes")
}

/// SHA-256 (hex) of the public key's 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The timestamp format of tree heads.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl SignedTreeHead {
    /// Signs the tree of `tree_size` leaves with root `root` of `stream`.
    pub fn sign(stream: &str, tree_size: u64, root: &Hash, at: DateTime<Utc>, key: &SigningKey) -> Self {
        let mut head = Self {
            stream: stream.to_owned(),
            tree_size,
            root_hash: hex::encode(root),
            timestamp: format_timestamp(at),
            key_id: key_id(&key.verifying_key()),
            signature: String::new(),
        };
        head.signature = hex::encode(key.sign(head.signed_message().as_bytes()).to_bytes());
        head
    }

    /// The exact bytes the signature covers (see the module's docs).
    pub fn signed_message(&self) -> String {
        format!("{TREE_HEAD_DOMAIN}\n{}\n{}\n{}\n{}", self.stream, self.tree_size, self.root_hash, self.timestamp)
    }

    /// The root hash as bytes.
    ///
    /// # Errors
    /// [`TreeHeadError::BadRoot`].
    pub fn root(&self) -> Result<Hash, TreeHeadError> {
        let bad = || TreeHeadError::BadRoot { tree_size: self.tree_size };
        let bytes = hex::decode(&self.root_hash).map_err(|_| bad())?;
        if self.root_hash != hex::encode(&bytes) {
            // Upper-case hex would sign other bytes than the ones recomputed.
            return Err(bad());
        }
        bytes.try_into().map_err(|_| bad())
    }

    /// Checks the key id and the signature with `key`.
    ///
    /// # Errors
    /// [`TreeHeadError`] naming what does not hold.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), TreeHeadError> {
        if self.key_id != key_id(key) {
            return Err(TreeHeadError::WrongKey { tree_size: self.tree_size, key_id: self.key_id.clone() });
        }
        self.root()?;
        let bad = || TreeHeadError::BadSignature { tree_size: self.tree_size };
        let bytes: [u8; 64] = hex::decode(&self.signature).map_err(|_| bad())?.try_into().map_err(|_| bad())?;
        key.verify(self.signed_message().as_bytes(), &Signature::from_bytes(&bytes)).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        parse_signing_key(&"07".repeat(32)).expect("hex seed")
    }

    #[test]
    fn a_signed_head_verifies_and_fails_when_anything_changes() {
        let key = key();
        let public = key.verifying_key();
        let at = DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123Z").expect("time").with_timezone(&Utc);
        let head = SignedTreeHead::sign("ZHAOSHANG", 42, &[3u8; 32], at, &key);
        head.verify(&public).expect("verifies");
        assert_eq!(head.timestamp, "2024-05-06T07:08:09.123Z");

        let mut changed = head.clone();
        changed.tree_size = 43;
        assert!(changed.verify(&public).is_err());
        let mut changed = head.clone();
        changed.root_hash.replace_range(0..1, "1");
        assert!(changed.verify(&public).is_err());
        let mut changed = head.clone();
        changed.timestamp = "2024-05-06T07:08:09.124Z".to_owned();
        assert!(changed.verify(&public).is_err());
        let mut changed = head.clone();
        changed.stream = "OTHER".to_owned();
        assert!(changed.verify(&public).is_err());
        for position in [0, 63, 127] {
            let mut changed = head.clone();
            let mut bytes = hex::decode(&changed.signature).expect("hex");
            bytes[position / 2] ^= 1;
            changed.signature = hex::encode(bytes);
            assert!(changed.verify(&public).is_err());
        }
        let other = parse_signing_key(&"08".repeat(32)).expect("seed").verifying_key();
        assert!(matches!(head.verify(&other), Err(TreeHeadError::WrongKey { .. })));
    }

    #[test]
    fn keys_read_from_pem_and_hex_alike() {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let key = key();
        let pem = key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).expect("pem");
        assert_eq!(parse_signing_key(&pem).expect("pem").to_bytes(), key.to_bytes());
        let public = key.verifying_key();
        assert_eq!(parse_public_key(&public_key_pem(&public)).expect("pem"), public);
        assert_eq!(parse_public_key(&public_key_hex(&public)).expect("hex"), public);
        assert!(parse_signing_key("not a key").is_err());
    }
}

//! Personal data (个人信息保护法): one data key per person, kept in the
//! `<schema>_keys` schema (migration 0005), AES-256-GCM sealing of contact
//! details with it, and the log of every read in clear.
//!
//! Crypto-shredding: events carry only ciphertext; [`KeyStore::destroy`]
//! deletes the person's key, after which no replay, rebuilt read model or
//! backup of the stream can be read, while the events, their hashes and the
//! chains stay exactly as they were.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;
use zhaoshang_domain::task_force::{CONTACT_ALGORITHM, SealedContact};

use crate::ReadModelError;

/// A person's contact details in clear. Never logged: `Debug` hides them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactDetails {
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl std::fmt::Debug for ContactDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactDetails(<personal data>)")
    }
}

/// A sealed contact could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The random source failed.
    #[error("the system's random source failed")]
    Random,
    /// The ciphertext, nonce or key does not fit (tampered or wrong key).
    #[error("the sealed contact does not open with this key")]
    Open,
}

/// What binds a ciphertext to its record: moved to another task force or
/// person, it no longer opens.
fn additional_data(task_force_id: &str, person_id: Uuid) -> Vec<u8> {
    format!("zhaoshang:liaison_contact:v1:{task_force_id}:{person_id}").into_bytes()
}

fn key_of(data_key: &[u8]) -> Result<LessSafeKey, SealError> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, data_key).map_err(|_| SealError::Open)?))
}

/// Seals `contact` with the person's `data_key`.
///
/// # Errors
/// [`SealError`] when the key is not 32 bytes or the random source fails.
pub fn seal(
    data_key: &[u8],
    task_force_id: &str,
    person_id: Uuid,
    contact: &ContactDetails,
) -> Result<SealedContact, SealError> {
    let key = key_of(data_key)?;
    let mut nonce = [0u8; 12];
    SystemRandom::new().fill(&mut nonce).map_err(|_| SealError::Random)?;
    let mut in_out = serde_json::to_vec(contact).expect("contact details serialise");
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(additional_data(task_force_id, person_id)),
        &mut in_out,
    )
    .map_err(|_| SealError::Open)?;
    Ok(SealedContact {
        algorithm: CONTACT_ALGORITHM.to_owned(),
        key_id: person_id,
        nonce: STANDARD.encode(nonce),
        ciphertext: STANDARD.encode(in_out),
    })
}

/// Opens a sealed contact with the person's `data_key`.
///
/// # Errors
/// [`SealError::Open`] when it does not open (wrong key, tampered, moved).
pub fn open(
    data_key: &[u8],
    task_force_id: &str,
    person_id: Uuid,
    sealed: &SealedContact,
) -> Result<ContactDetails, SealError> {
    let key = key_of(data_key)?;
    let nonce: [u8; 12] = STANDARD.decode(&sealed.nonce).ok().and_then(|n| n.try_into().ok()).ok_or(SealError::Open)?;
    let mut in_out = STANDARD.decode(&sealed.ciphertext).map_err(|_| SealError::Open)?;
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(additional_data(task_force_id, person_id)),
            &mut in_out,
        )
        .map_err(|_| SealError::Open)?;
    serde_json::from_slice(plain).map_err(|_| SealError::Open)
}

/// The data keys and the read log, in `<schema>_keys`.
#[derive(Clone)]
pub struct KeyStore {
    pool: PgPool,
    schema: String,
}

impl KeyStore {
    /// The key store of the read models' deployment (`schema`); its tables
    /// are created by the read models' migration 0005.
    pub fn new(pool: PgPool, schema: &str) -> Self {
        Self { pool, schema: format!("{schema}_keys") }
    }

    /// The person's data key, created when they have none.
    ///
    /// # Errors
    /// When PostgreSQL fails, or the random source does.
    pub async fn key_for(&self, person_id: Uuid) -> Result<Vec<u8>, ReadModelError> {
        let mut fresh = [0u8; 32];
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| ReadModelError::Database(sqlx::Error::Protocol("random source failed".to_owned())))?;
        // Insert-or-keep in one statement, so two writers agree on one key.
        let sql = format!(
            "WITH inserted AS (INSERT INTO {0}.person_keys (person_id, data_key) VALUES ($1, $2)
                 ON CONFLICT (person_id) DO NOTHING RETURNING data_key)
             SELECT data_key FROM inserted UNION ALL SELECT data_key FROM {0}.person_keys WHERE person_id = $1
             LIMIT 1",
            self.schema
        );
        let key: Vec<u8> = sqlx::query_scalar(&sql).bind(person_id).bind(&fresh[..]).fetch_one(&self.pool).await?;
        Ok(key)
    }

    /// The person's data key, if it has not been destroyed.
    ///
    /// # Errors
    /// When PostgreSQL fails.
    pub async fn existing_key(&self, person_id: Uuid) -> Result<Option<Vec<u8>>, ReadModelError> {
        let sql = format!("SELECT data_key FROM {}.person_keys WHERE person_id = $1", self.schema);
        Ok(sqlx::query_scalar(&sql).bind(person_id).fetch_optional(&self.pool).await?)
    }

    /// Destroys the person's data key (idempotent).
    ///
    /// # Errors
    /// When PostgreSQL fails.
    pub async fn destroy(&self, person_id: Uuid) -> Result<(), ReadModelError> {
        let sql = format!("DELETE FROM {}.person_keys WHERE person_id = $1", self.schema);
        sqlx::query(&sql).bind(person_id).execute(&self.pool).await?;
        Ok(())
    }

    /// Records that `reader` (in `role`) read these people's details in clear.
    ///
    /// # Errors
    /// When PostgreSQL fails: the caller must then not show the details.
    pub async fn record_reads(
        &self,
        reader: &str,
        role: &str,
        task_force_id: &str,
        people: &[Uuid],
    ) -> Result<(), ReadModelError> {
        if people.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO {}.personal_data_reads (reader, reader_role, task_force_id, person_id)
             SELECT $1, $2, $3, unnest($4::uuid[])",
            self.schema
        );
        sqlx::query(&sql).bind(reader).bind(role).bind(task_force_id).bind(people).execute(&self.pool).await?;
        Ok(())
    }

    /// How many reads in clear of `person_id` have been recorded.
    ///
    /// # Errors
    /// When PostgreSQL fails.
    pub async fn reads_of(&self, person_id: Uuid) -> Result<i64, ReadModelError> {
        let sql = format!("SELECT count(*) FROM {}.personal_data_reads WHERE person_id = $1", self.schema);
        Ok(sqlx::query_scalar(&sql).bind(person_id).fetch_one(&self.pool).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_contact_opens_only_with_its_key_and_for_its_record() {
        let key = [7u8; 32];
        let person = Uuid::now_v7();
        let contact = ContactDetails { phone: Some("0772-1234567".into()), email: Some("liaison@example.cn".into()) };
        let sealed = seal(&key, "automotive", person, &contact).expect("sealed");
        assert!(!sealed.ciphertext.contains("1234567"));
        assert_eq!(open(&key, "automotive", person, &sealed).expect("opens"), contact);
        assert!(open(&[8u8; 32], "automotive", person, &sealed).is_err(), "another key");
        assert!(open(&key, "biomedicine", person, &sealed).is_err(), "moved to another task force");
        assert_eq!(format!("{contact:?}"), "ContactDetails(<personal data>)");
    }
}

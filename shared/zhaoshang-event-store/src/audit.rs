//! What the audit needs from NATS beyond appends: opening a stream without
//! insisting on its settings (an auditor must be able to read a damaged or
//! misconfigured one), reading it in order at full speed, and the separate
//! stream of signed tree heads.
//!
//! Tree heads live in a stream of their own, `<STREAM>_DIGESTS`, on the
//! subject `<prefix>-digests`: the event stream's subjects are
//! `<prefix>.<type>.<id>`, so `<prefix>.>` never matches a tree head. The
//! projector, every subscriber of `<prefix>.>`, and the sequence numbers the
//! Merkle tree is built over are untouched by them.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::stream::{Config as StreamConfig, DiscardPolicy, RawMessageErrorKind, StorageType};
use bytes::Bytes;
use futures::StreamExt as _;

use crate::{EventStore, EventStoreConfig, EventStoreError, split_credentials, unavailable};

/// The name of the tree-head stream of the event stream `stream`.
pub fn digest_stream_name(stream: &str) -> String {
    format!("{stream}_DIGESTS")
}

/// The subject of the tree heads of events under `subject_prefix`.
pub fn digest_subject(subject_prefix: &str) -> String {
    format!("{subject_prefix}-digests")
}

/// One stored message, as read in order.
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// Its stream sequence.
    pub sequence: u64,
    /// The envelope's bytes as stored.
    pub payload: Bytes,
    /// How many messages the stream held after it when it was delivered.
    pub pending: u64,
}

impl EventStore {
    /// Connects to an existing stream without checking or changing its
    /// settings, and without creating it.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`] when NATS does not answer or the
    /// stream does not exist.
    pub async fn open_existing(config: EventStoreConfig) -> Result<Self, EventStoreError> {
        let (url, credentials) = split_credentials(&config.nats_url);
        let options = match credentials {
            Some((user, password)) => async_nats::ConnectOptions::with_user_and_password(user, password),
            None => async_nats::ConnectOptions::new(),
        };
        let client = options
            .name("zhaoshang-audit")
            .connection_timeout(Duration::from_secs(5))
            .connect(url.as_str())
            .await
            .map_err(|e| EventStoreError::Unavailable(format!("cannot connect to NATS at {url}: {e}")))?;
        let jetstream = jetstream::new(client.clone());
        let stream = jetstream.get_stream(&config.stream_name).await.map_err(unavailable)?;
        // The auditors' tools only read: their appends, if any, go alone.
        Ok(Self { client, jetstream, stream, config, group_commit: None })
    }

    /// Whether the stream forbids deleting and purging messages, as a system
    /// of record must.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`].
    pub async fn denies_deletes(&self) -> Result<bool, EventStoreError> {
        let mut stream = self.stream.clone();
        let info = stream.info().await.map_err(unavailable)?;
        Ok(info.config.deny_delete && info.config.deny_purge)
    }

    /// Every event message from stream sequence `from` on, in order, through
    /// an ordered consumer (the fastest way JetStream reads a stream). The
    /// stream ends only when the caller stops reading.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`] when the consumer cannot be created.
    pub async fn read_in_order(
        &self,
        from: u64,
    ) -> Result<impl futures::Stream<Item = Result<RawEvent, EventStoreError>> + use<>, EventStoreError> {
        let deliver_policy =
            if from <= 1 { DeliverPolicy::All } else { DeliverPolicy::ByStartSequence { start_sequence: from } };
        let consumer = self
            .stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: self.all_events_filter(),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        let messages = consumer.messages().await.map_err(unavailable)?;
        Ok(messages.map(|message| {
            let message = message.map_err(unavailable)?;
            let info = message.info().map_err(|e| EventStoreError::Unavailable(e.to_string()))?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            Ok(RawEvent { sequence, payload: message.message.payload, pending })
        }))
    }

    /// The tree-head stream's name.
    pub fn digest_stream_name(&self) -> String {
        digest_stream_name(&self.config.stream_name)
    }

    /// The tree heads' subject.
    pub fn digest_subject(&self) -> String {
        digest_subject(&self.config.subject_prefix)
    }

    /// Publishes a tree head (its JSON) to the tree-head stream, creating the
    /// stream the first time; a head already published for `tree_size` is
    /// not stored twice.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`] when NATS did not acknowledge.
    pub async fn publish_digest(&self, tree_size: u64, payload: Vec<u8>) -> Result<crate::Appended, EventStoreError> {
        self.jetstream
            .get_or_create_stream(StreamConfig {
                name: self.digest_stream_name(),
                description: Some("zhaoshang: signed tree heads over the event stream".to_owned()),
                subjects: vec![self.digest_subject()],
                storage: StorageType::File,
                num_replicas: self.config.replicas,
                discard: DiscardPolicy::New,
                deny_delete: true,
                deny_purge: true,
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        let message = async_nats::jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(format!("tree-head-{tree_size}"));
        let ack = self
            .jetstream
            .send_publish(self.digest_subject(), message)
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        Ok(crate::Appended { sequence: ack.sequence, duplicate: ack.duplicate })
    }

    /// Every tree head published so far (their JSON), oldest first; none
    /// when the tree-head stream does not exist yet.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`].
    pub async fn read_digests(&self) -> Result<Vec<Bytes>, EventStoreError> {
        let stream = match self.jetstream.get_stream(self.digest_stream_name()).await {
            Ok(stream) => stream,
            Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(ref inner) if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(unavailable(e)),
        };
        let mut heads = Vec::new();
        let mut next = 1;
        loop {
            match stream.get_first_raw_message_by_subject(self.digest_subject(), next).await {
                Ok(message) => {
                    next = message.sequence + 1;
                    heads.push(message.payload);
                }
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => return Ok(heads),
                Err(e) => return Err(unavailable(e)),
            }
        }
    }
}

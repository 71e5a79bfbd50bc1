//! The event store: zhaoshang's system of record, on NATS JetStream.
//!
//! One stream holds every event. Each aggregate has its own subject,
//! `<prefix>.<aggregate_type>.<aggregate_id>`, and each message is one event
//! envelope ([`zhaoshang_domain::EventEnvelope`]) as JSON. Appends are
//! optimistic: they carry `Nats-Expected-Last-Subject-Sequence` (the stream
//! sequence of the aggregate's last event, 0 for a new aggregate), so a
//! concurrent writer is refused instead of silently interleaved, and
//! `Nats-Msg-Id`, so a retried append inside the duplicate window returns the
//! first append's sequence instead of writing twice.
//!
//! Layout: [`EventStoreConfig`] says where and how; [`EventStore`] connects,
//! creates or checks the stream, appends and reads.

pub mod audit;
mod group_commit;

pub use group_commit::{LONE_IN_FLIGHT, MIN_BATCH};

use std::time::Duration;

use async_nats::jetstream::{
    self,
    context::GetStreamErrorKind,
    stream::{Config as StreamConfig, DiscardPolicy, LastRawMessageErrorKind, RawMessageErrorKind, StorageType},
};
use zhaoshang_domain::EventEnvelope;
use zhaoshang_domain::envelope::DecodeError;

/// Where the event store lives and how its stream is set up.
#[derive(Debug, Clone)]
pub struct EventStoreConfig {
    /// NATS server URL, e.g. `nats://127.0.0.1:4222`.
    pub nats_url: String,
    /// The stream's name (`ZHAOSHANG`). Tests use a unique one each.
    pub stream_name: String,
    /// The first tokens of every event subject (`zs.ev`). Tests use a unique one each.
    pub subject_prefix: String,
    /// How many copies JetStream keeps: 1 on one machine, 3 in production.
    pub replicas: usize,
    /// How long a `Nats-Msg-Id` is remembered: the window in which a retried
    /// command is guaranteed to be answered with its first result.
    pub duplicate_window: Duration,
    /// Most appends sent together as one atomic batch (group commit, on
    /// nats-server 2.12 or later with a stream that allows atomic publish);
    /// 1 sends every append alone.
    pub append_batch_max: usize,
}

impl EventStoreConfig {
    /// The stream's settings as a system of record: file storage, nothing
    /// deletable or purgeable, no age, size or count limit, and the
    /// configured replicas and duplicate window.
    pub fn stream_config(&self) -> StreamConfig {
        StreamConfig {
            name: self.stream_name.clone(),
            description: Some("zhaoshang: the system of record of the investment-promotion plan".to_owned()),
            subjects: vec![format!("{}.>", self.subject_prefix)],
            storage: StorageType::File,
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            discard: DiscardPolicy::New,
            deny_delete: true,
            deny_purge: true,
            ..Default::default()
        }
    }
}

impl Default for EventStoreConfig {
    fn default() -> Self {
        Self {
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            stream_name: "ZHAOSHANG".to_owned(),
            subject_prefix: "zs.ev".to_owned(),
            replicas: 1,
            duplicate_window: Duration::from_secs(24 * 60 * 60),
            append_batch_max: 256,
        }
    }
}

/// An event as stored: its envelope and its stream sequence.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The stream sequence: the event's position in the whole history, and
    /// the consistency token a client can wait on.
    pub sequence: u64,
    /// The event.
    pub envelope: EventEnvelope,
}

/// The result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream sequence of the event (of the first one, for a duplicate).
    pub sequence: u64,
    /// True when NATS recognised the message id and wrote nothing.
    pub duplicate: bool,
}

/// Why the event store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    /// Another writer appended to the aggregate first: reload and decide again.
    #[error("the aggregate's last event is no longer at sequence {expected}")]
    Conflict {
        /// The sequence the append expected to follow.
        expected: u64,
    },
    /// NATS could not be reached or did not answer in time: nothing is known
    /// to be written; retrying with the same message id is safe.
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    /// The stream exists with settings that would break the system of
    /// record's guarantees (deletable, in memory, other subjects).
    #[error("stream {stream} is not set up as a system of record: {problem}")]
    Misconfigured {
        /// The stream's name.
        stream: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A stored message is not an event envelope.
    #[error("message {sequence} is not a readable event: {source}")]
    Corrupt {
        /// Its stream sequence.
        sequence: u64,
        /// Why it could not be read.
        #[source]
        source: DecodeError,
    },
}

fn unavailable(error: impl std::fmt::Display) -> EventStoreError {
    EventStoreError::Unavailable(error.to_string())
}

/// A connection to the event stream.
#[derive(Clone)]
pub struct EventStore {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    stream: jetstream::stream::Stream,
    config: EventStoreConfig,
    /// Set when appends are sent in atomic batches.
    group_commit: Option<group_commit::GroupCommit>,
}

impl EventStore {
    /// Connects to NATS and creates the stream, or checks an existing one.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`] when NATS does not answer;
    /// [`EventStoreError::Misconfigured`] when the stream exists with unsafe settings.
    pub async fn connect(config: EventStoreConfig) -> Result<Self, EventStoreError> {
        let (url, credentials) = split_credentials(&config.nats_url);
        let options = match credentials {
            // async-nats does not read credentials written in the URL
            // (nats-io/nats.rs#1623): pass them explicitly.
            Some((user, password)) => async_nats::ConnectOptions::with_user_and_password(user, password),
            None => async_nats::ConnectOptions::new(),
        };
        let client = options
            .name("zhaoshang")
            .connection_timeout(Duration::from_secs(5))
            .connect(url.as_str())
            .await
            .map_err(|e| EventStoreError::Unavailable(format!("cannot connect to NATS at {url}: {e}")))?;
        Self::with_client(client, config).await
    }

    /// Uses an existing NATS connection.
    ///
    /// # Errors
    /// As [`EventStore::connect`].
    pub async fn with_client(client: async_nats::Client, config: EventStoreConfig) -> Result<Self, EventStoreError> {
        let jetstream = jetstream::new(client.clone());
        let atomic = config.append_batch_max > 1 && knows_atomic_batches(&client.server_info().version);
        let stream = ensure_stream(&jetstream, &config, atomic).await?;
        let group_commit = (atomic && stream.cached_info().config.allow_atomic_publish)
            .then(|| group_commit::GroupCommit::start(client.clone(), jetstream.clone(), config.append_batch_max));
        if atomic && group_commit.is_none() {
            tracing::warn!(
                stream = %config.stream_name,
                "the stream does not allow atomic publish: appends are sent one by one; an administrator can allow it \
                 (allow_atomic: true, nats-server 2.12 or later) to let concurrent appends share their fsyncs"
            );
        }
        Ok(Self { client, jetstream, stream, config, group_commit })
    }

    /// Whether concurrent appends are sent together in atomic batches.
    pub fn groups_appends(&self) -> bool {
        self.group_commit.is_some()
    }

    /// How many appends through this store (and its clones) were stored as
    /// part of an atomic batch of two or more.
    pub fn appends_stored_together(&self) -> u64 {
        self.group_commit.as_ref().map_or(0, group_commit::GroupCommit::stored_together)
    }

    /// The NATS connection, for consumers that share it.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// The configuration in force.
    pub fn config(&self) -> &EventStoreConfig {
        &self.config
    }

    /// The subject of one aggregate.
    pub fn subject(&self, aggregate_type: &str, aggregate_id: &str) -> String {
        format!("{}.{aggregate_type}.{aggregate_id}", self.config.subject_prefix)
    }

    /// The subject filter that matches every event.
    pub fn all_events_filter(&self) -> String {
        format!("{}.>", self.config.subject_prefix)
    }

    /// Appends one event to its aggregate's subject, if the aggregate's last
    /// event is still at `expected_last_sequence` (0: the aggregate is new).
    /// Waits for JetStream's acknowledgement: once this returns `Ok`, the
    /// event is stored.
    ///
    /// # Errors
    /// [`EventStoreError::Conflict`] when another writer was first;
    /// [`EventStoreError::Unavailable`] when NATS did not acknowledge.
    pub async fn append(
        &self,
        envelope: &EventEnvelope,
        expected_last_sequence: u64,
        message_id: &str,
    ) -> Result<Appended, EventStoreError> {
        // While the connection is down the client would queue the publish
        // and send it after reconnecting, long after the caller was told
        // 503: refuse at once instead, so that an unavailable answer means
        // nothing was sent (the retry with the same key is then the only write).
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(EventStoreError::Unavailable("not connected to NATS".to_owned()));
        }
        let subject = self.subject(&envelope.aggregatetype, &envelope.aggregateid);
        let payload = bytes::Bytes::from(envelope.to_vec());
        match &self.group_commit {
            Some(group_commit) => group_commit.append(subject, payload, message_id, expected_last_sequence).await,
            None => {
                group_commit::publish_alone(&self.jetstream, subject, payload, message_id, expected_last_sequence).await
            }
        }
    }

    /// The last event of a subject, read from the stream leader (so it sees
    /// every acknowledged append), or `None` when the subject has none.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`] or [`EventStoreError::Corrupt`].
    pub async fn last_event(&self, subject: &str) -> Result<Option<StoredEvent>, EventStoreError> {
        match self.stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => decode(message.sequence, &message.payload).map(Some),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The events of a subject after stream sequence `after`, oldest first.
    /// Costs one round trip when nothing is new and one more per new event.
    ///
    /// Reads with the stream's message-get API only (leader-coherent, and
    /// needing no consumer), so the command service's NATS user may be denied
    /// every consumer operation.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`] or [`EventStoreError::Corrupt`].
    pub async fn read_subject_after(&self, subject: &str, after: u64) -> Result<Vec<StoredEvent>, EventStoreError> {
        let Some(last) = self.last_event(subject).await? else {
            return Ok(Vec::new());
        };
        if last.sequence <= after {
            return Ok(Vec::new());
        }
        let mut events = self.read_matching(subject, after + 1, Some(last.sequence)).await?;
        events.push(last);
        Ok(events)
    }

    /// Every event whose subject matches `filter` (wildcards allowed), oldest
    /// first, as the stream holds them now. For small sets read at start-up
    /// (the plan periods), not for the whole history.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`] or [`EventStoreError::Corrupt`].
    pub async fn read_filter(&self, filter: &str) -> Result<Vec<StoredEvent>, EventStoreError> {
        self.read_matching(filter, 1, None).await
    }

    /// The events matching `filter` from sequence `from` on, stopping before
    /// `before` when given, one message get each.
    async fn read_matching(
        &self,
        filter: &str,
        from: u64,
        before: Option<u64>,
    ) -> Result<Vec<StoredEvent>, EventStoreError> {
        let mut events = Vec::new();
        let mut next = from;
        loop {
            if before.is_some_and(|before| next >= before) {
                return Ok(events);
            }
            let message = match self.stream.get_first_raw_message_by_subject(filter, next).await {
                Ok(message) => message,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => return Ok(events),
                Err(e) => return Err(unavailable(e)),
            };
            if before.is_some_and(|before| message.sequence >= before) {
                return Ok(events);
            }
            next = message.sequence + 1;
            events.push(decode(message.sequence, &message.payload)?);
        }
    }

    /// One event by its stream sequence.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`] or [`EventStoreError::Corrupt`].
    pub async fn get(&self, sequence: u64) -> Result<StoredEvent, EventStoreError> {
        let message = self.stream.get_raw_message(sequence).await.map_err(unavailable)?;
        decode(message.sequence, &message.payload)
    }

    /// The stream's last sequence: how far the history goes.
    ///
    /// # Errors
    /// [`EventStoreError::Unavailable`].
    pub async fn last_sequence(&self) -> Result<u64, EventStoreError> {
        let mut stream = self.stream.clone();
        let info = stream.info().await.map_err(unavailable)?;
        Ok(info.state.last_sequence)
    }

    /// The underlying stream handle, for consumers.
    pub fn stream(&self) -> &jetstream::stream::Stream {
        &self.stream
    }
}

/// Splits `nats://user:password@host:port` into the URL without credentials
/// (safe to log) and the credentials.
fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("nats", url));
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (format!("{scheme}://{host}"), Some((user.to_owned(), password.to_owned())))
        }
        None => (url.to_owned(), None),
    }
}

/// Parses a stored message.
///
/// # Errors
/// [`EventStoreError::Corrupt`] when it is not an envelope.
pub fn decode(sequence: u64, payload: &[u8]) -> Result<StoredEvent, EventStoreError> {
    EventEnvelope::from_slice(payload)
        .map(|envelope| StoredEvent { sequence, envelope })
        .map_err(|source| EventStoreError::Corrupt { sequence, source })
}

/// Whether a nats-server of this version (`2.12.3`) takes atomic batches.
fn knows_atomic_batches(version: &str) -> bool {
    let mut parts = version.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 12)
}

async fn ensure_stream(
    jetstream: &jetstream::Context,
    config: &EventStoreConfig,
    atomic: bool,
) -> Result<jetstream::stream::Stream, EventStoreError> {
    let wanted = StreamConfig { allow_atomic_publish: atomic, ..config.stream_config() };
    match jetstream.get_stream(&config.stream_name).await {
        Ok(mut stream) => {
            let info = stream.info().await.map_err(unavailable)?;
            let actual = &info.config;
            let mut problems = Vec::new();
            if !actual.deny_delete || !actual.deny_purge {
                problems.push("deny_delete and deny_purge must both be set");
            }
            if actual.storage != StorageType::File {
                problems.push("storage must be file");
            }
            if actual.max_messages > 0 || actual.max_bytes > 0 || !actual.max_age.is_zero() {
                problems.push("the stream must have no message, size or age limit");
            }
            if !actual.subjects.contains(&wanted.subjects[0]) {
                problems.push("the stream does not hold the configured subject prefix");
            }
            if !problems.is_empty() {
                return Err(EventStoreError::Misconfigured {
                    stream: config.stream_name.clone(),
                    problem: problems.join("; "),
                });
            }
            Ok(stream)
        }
        Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(ref inner) if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            tracing::info!(stream = %config.stream_name, "creating the event stream");
            jetstream.create_stream(wanted).await.map_err(unavailable)
        }
        Err(e) => Err(unavailable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::{knows_atomic_batches, split_credentials};

    #[test]
    fn atomic_batches_need_nats_server_2_12() {
        assert!(knows_atomic_batches("2.12.3"));
        assert!(knows_atomic_batches("2.15.1"));
        assert!(knows_atomic_batches("3.0.0"));
        assert!(!knows_atomic_batches("2.9.11"));
        assert!(!knows_atomic_batches("2.11.0-beta.1"));
        assert!(!knows_atomic_batches(""));
    }

    #[test]
    fn credentials_are_taken_out_of_the_url() {
        assert_eq!(
            split_credentials("nats://command:s3cret@127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".to_owned(), Some(("command".to_owned(), "s3cret".to_owned())))
        );
        assert_eq!(split_credentials("nats://127.0.0.1:4222"), ("nats://127.0.0.1:4222".to_owned(), None));
    }
}

//! Loading aggregates, deciding, and appending: the write path of DESIGN.md.
//!
//! Each aggregate's state is cached with the stream sequence, version and
//! hash of its last event. A command is decided against the cached state and
//! appended with that sequence as `Nats-Expected-Last-Subject-Sequence`; if
//! another writer (another instance of this service) got there first, NATS
//! refuses the append, the state is refreshed with just the events after the
//! cached sequence, and the decision is taken again. So a command's cost does
//! not grow with its aggregate's history, and a stale cache can never write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use zhaoshang_domain::{Aggregate, DecisionContext, DomainError, EventEnvelope, EventMetadata, Responsibility};
use zhaoshang_event_store::{EventStore, EventStoreError, StoredEvent};

/// How often a command without an expected version is decided again after
/// losing a race before the service gives up with 409.
const MAX_ATTEMPTS: usize = 8;

/// How many aggregates the cache keeps before it starts over. The cache only
/// saves round trips; dropping it is always safe.
const CACHE_CAPACITY: usize = 200_000;

/// What the caller learns when its command was accepted: the consistency token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CommandAccepted {
    /// The event's id (UUIDv7).
    pub event_id: Uuid,
    /// The event's CloudEvents type.
    pub event_type: String,
    /// The aggregate type (`project`).
    pub aggregate_type: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// The aggregate's version after this event (its ETag).
    pub aggregate_version: u64,
    /// The event's stream sequence: pass it as `consistent_with` to a query
    /// to read your own write.
    pub sequence: u64,
}

impl CommandAccepted {
    fn from_stored(stored: &StoredEvent) -> Self {
        let e = &stored.envelope;
        Self {
            event_id: e.id,
            event_type: e.event_type.clone(),
            aggregate_type: e.aggregatetype.clone(),
            aggregate_id: e.aggregateid.clone(),
            aggregate_version: e.aggregateversion,
            sequence: stored.sequence,
        }
    }
}

/// The outcome of a command that was not refused.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The event written (or, for a replay, written the first time).
    pub accepted: CommandAccepted,
    /// True when the idempotency key had been seen: nothing new was written.
    pub replayed: bool,
}

/// Who asks, and how the request is identified.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The authenticated actor.
    pub actor: String,
    /// The request's correlation id.
    pub correlation_id: Uuid,
    /// The client's idempotency key.
    pub idempotency_key: Option<String>,
    /// The version the client expects the aggregate to be at (`If-Match`).
    pub expected_version: Option<u64>,
    /// Today, for the rules about dates.
    pub decision: DecisionContext,
    /// Now, the recorded time of the event.
    pub now: DateTime<Utc>,
}

/// Why a command was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The rules refuse it.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The aggregate is not at the version the client expected, or kept
    /// changing under the service.
    #[error("expected version {expected:?}, the aggregate is at {actual}")]
    VersionConflict {
        /// What the client expected (None: the service lost every retry).
        expected: Option<u64>,
        /// Where the aggregate is.
        actual: u64,
    },
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] EventStoreError),
    /// The caller may not record this fact (another task force's, or not a
    /// fact of their role); nothing was written.
    #[error("the caller may not record a fact {0:?} answers for")]
    Forbidden(Responsibility),
}

/// Decides whether the caller may record a fact of a responsibility.
pub type Permission<'a> = &'a (dyn Fn(&Responsibility) -> bool + Send + Sync);

/// An aggregate as loaded: its state and where its history ends.
#[derive(Debug, Clone)]
struct Loaded<A> {
    state: A,
    version: u64,
    last_sequence: u64,
    last_hash: Option<String>,
    /// Idempotency keys already used on this aggregate, with their answers.
    keys: HashMap<String, CommandAccepted>,
}

impl<A: Aggregate> Loaded<A> {
    fn new() -> Self {
        Self { state: A::default(), version: 0, last_sequence: 0, last_hash: None, keys: HashMap::new() }
    }

    fn apply(&mut self, stored: &StoredEvent, event: &A::Event) {
        self.state = std::mem::take(&mut self.state).evolve(event);
        self.version = stored.envelope.aggregateversion;
        self.last_sequence = stored.sequence;
        self.last_hash = Some(stored.envelope.hash.clone());
        if let Some(key) = &stored.envelope.idempotencykey {
            self.keys.insert(key.clone(), CommandAccepted::from_stored(stored));
        }
    }

    fn apply_stored(&mut self, stored: &StoredEvent) -> Result<(), EventStoreError> {
        let event = stored
            .envelope
            .decode::<A::Event>()
            .map_err(|source| EventStoreError::Corrupt { sequence: stored.sequence, source })?;
        self.apply(stored, &event);
        Ok(())
    }
}

/// Executes commands on aggregates of one type.
///
/// Each cached aggregate sits behind its own async lock: commands on one
/// aggregate in this process take turns (they would conflict anyway), while
/// commands on different aggregates run in parallel, and a state is updated
/// in place instead of being copied for every command.
pub struct AggregateRepository<A: Aggregate> {
    store: EventStore,
    cache: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Loaded<A>>>>>,
}

impl<A: Aggregate> AggregateRepository<A> {
    /// A repository writing to `store`.
    pub fn new(store: EventStore) -> Self {
        Self { store, cache: Mutex::new(HashMap::new()) }
    }

    fn entry(&self, id: &str) -> Arc<tokio::sync::Mutex<Loaded<A>>> {
        let mut cache = self.cache.lock().expect("cache lock poisoned");
        if let Some(entry) = cache.get(id) {
            return entry.clone();
        }
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        let entry = Arc::new(tokio::sync::Mutex::new(Loaded::new()));
        cache.insert(id.to_owned(), entry.clone());
        entry
    }

    fn forget_if_empty(&self, id: &str) {
        let mut cache = self.cache.lock().expect("cache lock poisoned");
        let empty = cache.get(id).and_then(|e| e.try_lock().ok().map(|l| l.version == 0)).unwrap_or(false);
        if empty {
            cache.remove(id);
        }
    }

    async fn refresh(&self, id: &str, loaded: &mut Loaded<A>) -> Result<(), EventStoreError> {
        let subject = self.store.subject(A::TYPE, id);
        for stored in self.store.read_subject_after(&subject, loaded.last_sequence).await? {
            loaded.apply_stored(&stored)?;
        }
        Ok(())
    }

    /// The current state of an aggregate and its version, from the stream.
    ///
    /// # Errors
    /// [`EventStoreError`] when the stream cannot be read.
    pub async fn load(&self, id: &str) -> Result<(A, u64), EventStoreError> {
        let entry = self.entry(id);
        let mut loaded = entry.lock().await;
        self.refresh(id, &mut loaded).await?;
        let answer = (loaded.state.clone(), loaded.version);
        drop(loaded);
        self.forget_if_empty(id);
        Ok(answer)
    }

    /// The current state of an aggregate and the idempotency keys already
    /// used on it, from the stream: what an import checks its rows against
    /// before it writes any.
    ///
    /// # Errors
    /// [`EventStoreError`] when the stream cannot be read.
    pub async fn load_with_keys(&self, id: &str) -> Result<(A, std::collections::HashSet<String>), EventStoreError> {
        let entry = self.entry(id);
        let mut loaded = entry.lock().await;
        self.refresh(id, &mut loaded).await?;
        let answer = (loaded.state.clone(), loaded.keys.keys().cloned().collect());
        drop(loaded);
        self.forget_if_empty(id);
        Ok(answer)
    }

    /// Decides `command` on aggregate `id` and appends its event.
    ///
    /// An aggregate this process has never seen is first decided as new:
    /// a creating command is then appended at once with "no event yet" as
    /// its expectation, and only if the stream disagrees is the history read.
    ///
    /// # Errors
    /// [`CommandError::Domain`] when the rules refuse it (nothing written);
    /// [`CommandError::VersionConflict`] when the aggregate is not at the
    /// expected version (nothing written); [`CommandError::Store`] when NATS
    /// fails (nothing known to be written; a retry with the same idempotency
    /// key is safe).
    pub async fn execute(
        &self,
        id: &str,
        command: &A::Command,
        request: &RequestContext,
    ) -> Result<Outcome, CommandError> {
        // The system itself (loading a plan file) answers for everything.
        self.execute_as(id, command, request, &|_| true).await
    }

    /// Like [`AggregateRepository::execute`], for a caller whose `permission`
    /// is asked, once the rules have accepted the command, whether they may
    /// record the fact for whoever the aggregate says answers for it.
    ///
    /// # Errors
    /// As [`AggregateRepository::execute`], and [`CommandError::Forbidden`]
    /// when the caller may not (nothing written).
    pub async fn execute_as(
        &self,
        id: &str,
        command: &A::Command,
        request: &RequestContext,
        permission: Permission<'_>,
    ) -> Result<Outcome, CommandError> {
        let entry = self.entry(id);
        let mut loaded = entry.lock().await;
        let result = self.execute_locked(id, &mut loaded, command, request, permission).await;
        let refused = matches!(
            result,
            Err(CommandError::Domain(_) | CommandError::VersionConflict { .. } | CommandError::Forbidden(_))
        );
        if result.is_err() && !refused {
            // The append may or may not have been stored: read the history
            // again next time.
            *loaded = Loaded::new();
        }
        drop(loaded);
        self.forget_if_empty(id);
        result
    }

    async fn execute_locked(
        &self,
        id: &str,
        loaded: &mut Loaded<A>,
        command: &A::Command,
        request: &RequestContext,
        permission: Permission<'_>,
    ) -> Result<Outcome, CommandError> {
        // Another instance may have written since this state was cached: it
        // is trusted for deciding, never for refusing.
        let mut fresh = false;
        for _ in 0..MAX_ATTEMPTS {
            if let Some(accepted) = request.idempotency_key.as_ref().and_then(|k| loaded.keys.get(k)) {
                return Ok(Outcome { accepted: accepted.clone(), replayed: true });
            }
            if let Some(expected) = request.expected_version {
                if expected != loaded.version {
                    if !fresh {
                        self.refresh(id, loaded).await?;
                        fresh = true;
                        continue;
                    }
                    return Err(CommandError::VersionConflict { expected: Some(expected), actual: loaded.version });
                }
            }
            let event = match loaded.state.decide(command, &request.decision) {
                Ok(event) => event,
                Err(_) if !fresh => {
                    self.refresh(id, loaded).await?;
                    fresh = true;
                    continue;
                }
                Err(refusal) => return Err(refusal.into()),
            };
            // Who answers for a record never changes once it exists, so the
            // cached state is as good as a fresh one here.
            let responsibility = loaded.state.responsibility(id, &event);
            if !permission(&responsibility) {
                return Err(CommandError::Forbidden(responsibility));
            }
            let metadata = EventMetadata {
                actor: request.actor.clone(),
                correlation_id: request.correlation_id,
                causation_id: None,
                idempotency_key: request.idempotency_key.clone(),
                recorded_at: request.now,
            };
            let envelope =
                EventEnvelope::seal(A::TYPE, id, loaded.version + 1, loaded.last_hash.clone(), &event, &metadata);
            let message_id = match &request.idempotency_key {
                Some(key) => format!("{}:{id}:{key}", A::TYPE),
                None => envelope.id.to_string(),
            };
            let started = std::time::Instant::now();
            let appended = self.store.append(&envelope, loaded.last_sequence, &message_id).await;
            metrics::histogram!("zhaoshang_append_seconds", "aggregate" => A::TYPE).record(started.elapsed());
            match appended {
                Ok(appended) if appended.duplicate => {
                    // The same key was written first by a concurrent retry
                    // (perhaps through another instance): answer with that event.
                    let first = self.store.get(appended.sequence).await?;
                    self.refresh(id, loaded).await?;
                    return Ok(Outcome { accepted: CommandAccepted::from_stored(&first), replayed: true });
                }
                Ok(appended) => {
                    let stored = StoredEvent { sequence: appended.sequence, envelope };
                    loaded.apply(&stored, &event);
                    return Ok(Outcome { accepted: CommandAccepted::from_stored(&stored), replayed: false });
                }
                Err(EventStoreError::Conflict { .. }) => {
                    metrics::counter!("zhaoshang_append_conflicts_total", "aggregate" => A::TYPE).increment(1);
                    self.refresh(id, loaded).await?;
                    fresh = true;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(CommandError::VersionConflict { expected: request.expected_version, actual: loaded.version })
    }
}

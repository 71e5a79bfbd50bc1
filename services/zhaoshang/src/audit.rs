//! The audit trail at work: signing tree heads as the stream grows
//! ([`run_digester`]), `zhaoshang audit verify` ([`verify`]), `zhaoshang
//! audit proof` ([`inclusion_proof`]) and `zhaoshang projections rebuild`
//! ([`rebuild`]). The mathematics is in `zhaoshang-audit`; this module reads
//! NATS and PostgreSQL around it.
//!
//! Who signs: the projector role runs the digester when a signing key is
//! configured (`ZHAOSHANG_SIGNING_KEY_FILE`); without a key it signs
//! nothing and says so once. Tree heads go to their own stream
//! (`<STREAM>_DIGESTS`, subject `<prefix>-digests`), so no reader of the
//! event stream ever sees one, and to the `audit_tree_heads` table.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;
use zhaoshang_audit::chain::{ChainError, ChainVerifier, ExaminedEvent};
use zhaoshang_audit::merkle::{Frontier, Hash, MerkleTree};
use zhaoshang_audit::proof::InclusionProof;
use zhaoshang_audit::tree_head::{self, SignedTreeHead};
use zhaoshang_audit::{SigningKey, VerifyingKey};
use zhaoshang_domain::EventEnvelope;
use zhaoshang_domain::envelope::{DecodeError, StoredEnvelope};
use zhaoshang_event_store::EventStore;
use zhaoshang_event_store::audit::RawEvent;
use zhaoshang_read_model::audit::{Comparison, RowDifference, TreeHeadRow};
use zhaoshang_read_model::projection::{EventToApply, PreparedBatch, Written, prepare};
use zhaoshang_read_model::{ReadModel, ReadModelConfig};

use crate::config::Config;

/// Most events read and checked as one batch.
const BATCH: usize = 4000;

/// Most events a rebuild writes in one transaction.
const REBUILD_BATCH: usize = 4000;

/// Reads the signing key named by the configuration, if any.
///
/// # Errors
/// When the file cannot be read or holds no Ed25519 key.
pub fn load_signing_key(config: &Config) -> anyhow::Result<Option<SigningKey>> {
    let Some(path) = &config.signing_key_file else { return Ok(None) };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("failed to read the signing key {}", path.display()))?;
    let key = tree_head::parse_signing_key(&text).with_context(|| format!("in {}", path.display()))?;
    Ok(Some(key))
}

/// For `zhaoshang up`: when no signing key is configured, uses (and creates
/// on first start) `<data dir>/signing-key.hex`, a random Ed25519 seed
/// readable by its owner only.
///
/// # Errors
/// When the file cannot be written.
pub fn ensure_local_signing_key(config: &mut Config) -> anyhow::Result<()> {
    if config.signing_key_file.is_some() {
        return Ok(());
    }
    let path = config.data_dir.join("signing-key.hex");
    if !path.exists() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("failed to create {}", config.data_dir.display()))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for a signing key: {e}"))?;
        write_private_file(&path, &hex::encode(seed))?;
        let public = SigningKey::from_bytes(&seed).verifying_key();
        tracing::info!(path = %path.display(), public_key = %tree_head::public_key_hex(&public), "created a local signing key for tree heads");
    }
    config.signing_key_file = Some(path);
    Ok(())
}

fn write_private_file(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("failed to create {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("failed to write {}", path.display()))
}

/// The row kept in PostgreSQL for a signed tree head.
pub fn tree_head_row(head: &SignedTreeHead, public_key: &VerifyingKey) -> TreeHeadRow {
    TreeHeadRow {
        tree_size: i64::try_from(head.tree_size).expect("tree sizes fit in i64"),
        stream: head.stream.clone(),
        root_hash: head.root_hash.clone(),
        signed_at: head.timestamp.clone(),
        key_id: head.key_id.clone(),
        public_key: tree_head::public_key_hex(public_key),
        signature: head.signature.clone(),
    }
}

/// The tree head a row holds.
pub fn row_tree_head(row: &TreeHeadRow) -> SignedTreeHead {
    SignedTreeHead {
        stream: row.stream.clone(),
        tree_size: u64::try_from(row.tree_size).unwrap_or(0),
        root_hash: row.root_hash.clone(),
        timestamp: row.signed_at.clone(),
        key_id: row.key_id.clone(),
        signature: row.signature.clone(),
    }
}

/// Signs the tree of `frontier`, publishes the head to the tree-head stream
/// and keeps a copy in PostgreSQL (only the first publisher of a size does,
/// so the copy always equals the published head).
async fn sign_and_publish(
    store: &EventStore,
    read_model: &ReadModel,
    key: &SigningKey,
    frontier: &Frontier,
) -> anyhow::Result<SignedTreeHead> {
    let head =
        SignedTreeHead::sign(&store.config().stream_name, frontier.size(), &frontier.root(), chrono::Utc::now(), key);
    let payload = serde_json::to_vec(&head).expect("tree heads serialise");
    let appended =
        store.publish_digest(head.tree_size, payload).await.context("failed to publish a signed tree head")?;
    if !appended.duplicate {
        read_model
            .insert_tree_head(&tree_head_row(&head, &key.verifying_key()))
            .await
            .context("failed to keep a signed tree head")?;
    }
    tracing::info!(tree_size = head.tree_size, root = %head.root_hash, "signed tree head published");
    Ok(head)
}

/// Every tree head in the tree-head stream, smallest first.
///
/// # Errors
/// When NATS fails or a stored head is not one.
pub async fn published_tree_heads(store: &EventStore) -> anyhow::Result<Vec<SignedTreeHead>> {
    let mut heads = Vec::new();
    for (i, payload) in store.read_digests().await?.into_iter().enumerate() {
        let head: SignedTreeHead = serde_json::from_slice(&payload)
            .with_context(|| format!("message {} of the tree-head stream is not a tree head", i + 1))?;
        heads.push(head);
    }
    heads.sort_by_key(|h| h.tree_size);
    Ok(heads)
}

/// The leaf hash of a stored message, from its envelope's `hash`,
/// read without decoding the rest.
fn leaf_of(event: &RawEvent) -> anyhow::Result<Hash> {
    #[derive(serde::Deserialize)]
    struct HashOnly<'a> {
        #[serde(borrow)]
        hash: std::borrow::Cow<'a, str>,
    }
    let only: HashOnly<'_> = serde_json::from_slice(&event.payload)
        .with_context(|| format!("stream sequence {} is not an event", event.sequence))?;
    zhaoshang_audit::chain::event_leaf(&only.hash)
        .map_err(|_| anyhow::anyhow!("stream sequence {} has a malformed hash", event.sequence))
}

/// Runs until `shutdown`: follows the event stream and signs a tree head
/// every `every_events` events, and every `every` when events came since
/// the last one. On start it re-reads the stream from the beginning (a
/// linear read, seconds for a million events) and checks that the tree
/// matches every head already published.
///
/// # Errors
/// When the stream has a gap or disagrees with a published head: the
/// digester then stops rather than sign a history it cannot vouch for.
pub async fn run_digester(
    store: EventStore,
    read_model: ReadModel,
    key: SigningKey,
    every_events: u64,
    every: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let published = published_tree_heads(&store).await?;
    let roots: HashMap<u64, String> = published.iter().map(|h| (h.tree_size, h.root_hash.clone())).collect();
    let mut last_signed = published.last().map_or(0, |h| h.tree_size);
    let mut messages = Box::pin(store.read_in_order(1).await?);
    let mut frontier = Frontier::new();
    let mut timer = tokio::time::interval(every);
    timer.tick().await;
    tracing::info!(every_events, every_seconds = every.as_secs(), last_signed, "digester started");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = timer.tick() => {
                if frontier.size() > last_signed {
                    match sign_and_publish(&store, &read_model, &key, &frontier).await {
                        Ok(head) => last_signed = head.tree_size,
                        Err(error) => tracing::warn!(%error, "failed to sign a tree head; trying again later"),
                    }
                }
            }
            message = messages.next() => {
                let Some(message) = message else { anyhow::bail!("the event stream ended") };
                let event = message?;
                if event.sequence != frontier.size() + 1 {
                    anyhow::bail!(
                        "the event stream has a gap: sequence {} follows {}; no tree head is signed over it",
                        event.sequence,
                        frontier.size()
                    );
                }
                frontier.push(leaf_of(&event)?);
                if let Some(root) = roots.get(&frontier.size()) {
                    anyhow::ensure!(
                        *root == hex::encode(frontier.root()),
                        "the event stream no longer matches the tree head of size {}: it was changed",
                        frontier.size()
                    );
                }
                if frontier.size() >= last_signed + every_events {
                    match sign_and_publish(&store, &read_model, &key, &frontier).await {
                        Ok(head) => last_signed = head.tree_size,
                        Err(error) => tracing::warn!(%error, "failed to sign a tree head; trying again later"),
                    }
                }
            }
        }
    }
}

/// Reads the stream in order up to a sequence, in batches.
struct OrderedReader<S> {
    messages: std::pin::Pin<Box<S>>,
    /// The last sequence wanted.
    to: u64,
    /// Most events in a batch.
    batch_size: usize,
    done: bool,
}

impl<S: futures::Stream<Item = Result<RawEvent, zhaoshang_event_store::EventStoreError>>> OrderedReader<S> {
    /// The next batch: `batch_size` events, fewer only at the end of the
    /// range; empty once the range is read. A bounded read gains nothing
    /// from handing out what happens to be ready: full batches make fewer
    /// hand-offs and, for a rebuild, fewer and larger transactions.
    async fn next_batch(&mut self) -> anyhow::Result<Vec<RawEvent>> {
        let mut batch = Vec::with_capacity(if self.done { 0 } else { self.batch_size });
        while !self.done && batch.len() < self.batch_size {
            let Some(event) = self.messages.next().await else {
                self.done = true;
                break;
            };
            let event = event?;
            if event.sequence > self.to {
                self.done = true;
                break;
            }
            // `pending` 0: nothing after this one (the last may have been removed).
            if event.sequence == self.to || event.pending == 0 {
                self.done = true;
            }
            batch.push(event);
        }
        Ok(batch)
    }
}

async fn reader(
    store: &EventStore,
    from: u64,
    to: u64,
    batch_size: usize,
) -> anyhow::Result<
    OrderedReader<impl futures::Stream<Item = Result<RawEvent, zhaoshang_event_store::EventStoreError>> + use<>>,
> {
    let messages = Box::pin(store.read_in_order(from).await?);
    Ok(OrderedReader { messages, to, batch_size, done: from > to })
}

/// The stream from one sequence to another, read by a task of its own and
/// worked on batch by batch on the blocking pool, the results handed out in
/// stream order.
///
/// This is what lets `audit verify` and `projections rebuild` use every
/// core: the reader never waits for the work (JetStream keeps delivering
/// while earlier batches are decoded and hashed: an ordered consumer asks
/// for more only while it is read), several batches are worked on at once
/// (decoding and hashing one event needs nothing of another), and the
/// caller does only what must follow the stream order (the chain links,
/// the Merkle tree, the writes with their checkpoint).
struct Pipeline<T> {
    /// One handle per batch, in stream order; a reading error in its place.
    results: tokio::sync::mpsc::Receiver<anyhow::Result<tokio::task::JoinHandle<anyhow::Result<T>>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl<T: Send + 'static> Pipeline<T> {
    /// Starts reading `from..=to` in batches of `batch_size`, each given to
    /// `work` as soon as it is read.
    ///
    /// # Errors
    /// When the ordered consumer cannot be created.
    async fn start(
        store: &EventStore,
        from: u64,
        to: u64,
        batch_size: usize,
        work: impl Fn(Vec<RawEvent>) -> anyhow::Result<T> + Clone + Send + 'static,
    ) -> anyhow::Result<Self> {
        let mut events = reader(store, from, to, batch_size).await?;
        // Batches being worked on, or waiting to be taken, beside the one
        // the caller is on: enough to keep every core busy, few enough to
        // bound the memory (a batch is a few MB).
        let depth = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(2, 8);
        let (sender, results) = tokio::sync::mpsc::channel(depth);
        let reader = tokio::spawn(async move {
            loop {
                let batch = match events.next_batch().await {
                    Ok(batch) if batch.is_empty() => return,
                    Ok(batch) => batch,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                };
                let work = work.clone();
                let handle = tokio::task::spawn_blocking(move || work(batch));
                if sender.send(Ok(handle)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Self { results, reader })
    }

    /// The next batch's result; `None` after the last.
    ///
    /// # Errors
    /// When reading failed, or the work did.
    async fn next(&mut self) -> anyhow::Result<Option<T>> {
        match self.results.recv().await {
            None => Ok(None),
            Some(Err(error)) => Err(error),
            Some(Ok(handle)) => handle.await.context("a worker of the audit panicked")?.map(Some),
        }
    }
}

impl<T> Drop for Pipeline<T> {
    fn drop(&mut self) {
        // A caller that stops early (a finding) stops the reading too.
        self.reader.abort();
    }
}

/// Signs a tree head over the whole stream now (`zhaoshang audit digest`).
/// `None` when the stream is empty.
///
/// # Errors
/// When the stream or the stores fail.
pub async fn sign_now(
    store: &EventStore,
    read_model: &ReadModel,
    key: &SigningKey,
) -> anyhow::Result<Option<SignedTreeHead>> {
    let last = store.last_sequence().await?;
    if last == 0 {
        return Ok(None);
    }
    let mut reader = reader(store, 1, last, BATCH).await?;
    let mut frontier = Frontier::new();
    loop {
        let batch = reader.next_batch().await?;
        if batch.is_empty() {
            break;
        }
        for event in &batch {
            anyhow::ensure!(
                event.sequence == frontier.size() + 1,
                "the event stream has a gap at sequence {}",
                frontier.size() + 1
            );
            frontier.push(leaf_of(event)?);
        }
    }
    sign_and_publish(store, read_model, key, &frontier).await.map(Some)
}

/// What `audit verify` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The key tree heads must be signed with; without it, the configured
    /// signing key's public half.
    pub public_key: Option<VerifyingKey>,
    /// A tree head the auditor holds (a subscriber's copy): the stream must
    /// give exactly its root, and the events it covers are taken by their
    /// stored hashes (which its root fixes) instead of being re-hashed.
    pub trusted_head: Option<SignedTreeHead>,
    /// Whether to draw a progress bar (only ever on a terminal).
    pub progress: bool,
    /// Check the stream and the tree heads only: no scratch rebuild, no
    /// row-by-row comparison (the quick daily check; the full one is the default).
    pub events_only: bool,
}

/// The first thing `audit verify` found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// An event, a link, a gap or a tree head's root.
    Chain(ChainError),
    /// A tree head itself: its signature, or it covers more than the stream holds.
    TreeHead {
        /// Its tree size.
        tree_size: u64,
        /// What is wrong.
        problem: String,
    },
    /// A read-model row the events do not give, or one they give that is missing.
    ReadModel(RowDifference),
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Chain(error) => write!(f, "{error}"),
            Self::TreeHead { tree_size, problem } => write!(f, "tree head of size {tree_size}: {problem}"),
            Self::ReadModel(difference) => write!(f, "read model {difference}"),
        }
    }
}

/// What `audit verify` did and found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Events checked (hashes, links, tree).
    pub events: u64,
    /// Of those, events re-hashed (all but a trusted head's prefix).
    pub rehashed: u64,
    /// Tree heads whose signature and root were checked.
    pub tree_heads: u64,
    /// The checkpoint at which the read models were compared.
    pub compared_at: u64,
    /// Tables and rows compared.
    pub comparison: Comparison,
    /// Whether the stream forbids deletes and purges.
    pub stream_denies_deletes: bool,
    /// How long it took.
    pub elapsed: Duration,
    /// The first thing found wrong; `None` when the history holds.
    pub finding: Option<Finding>,
}

fn progress_bar(enabled: bool, total: u64, what: &str) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta}")
            .expect("a valid template"),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A schema name derived from `schema` for a scratch copy.
fn scratch_schema(schema: &str, suffix: &str) -> String {
    let mut base = schema.to_owned();
    base.truncate(63 - suffix.len() - 1);
    format!("{base}_{suffix}")
}

/// Builds the read models of events into another schema, a batch at a time,
/// writing one batch while the next ones are prepared.
struct ScratchWriter {
    read_model: ReadModel,
    after: u64,
    in_flight: Option<tokio::task::JoinHandle<anyhow::Result<Written>>>,
}

impl ScratchWriter {
    fn new(read_model: ReadModel) -> Self {
        Self { read_model, after: 0, in_flight: None }
    }

    /// Writes rows [`prepare_events`] folded (in a worker) from the events
    /// up to `last`: they must follow what was written, without a gap.
    async fn write(&mut self, (prepared, last): (PreparedBatch, u64)) -> anyhow::Result<()> {
        anyhow::ensure!(
            prepared.after() == self.after,
            "the events stop following each other after sequence {}",
            self.after
        );
        anyhow::ensure!(
            prepared.last_sequence() == last,
            "the events stop following each other after sequence {}",
            prepared.last_sequence()
        );
        self.settle().await?;
        self.after = prepared.last_sequence();
        let read_model = self.read_model.clone();
        self.in_flight = Some(tokio::spawn(async move { Ok(read_model.write_prepared(&prepared).await?) }));
        Ok(())
    }

    async fn settle(&mut self) -> anyhow::Result<()> {
        if let Some(in_flight) = self.in_flight.take() {
            match in_flight.await.context("a scratch write panicked")?? {
                Written::Applied(_) => {}
                Written::CheckpointMoved(at) => anyhow::bail!("the scratch schema was written by someone else ({at})"),
            }
        }
        Ok(())
    }
}

/// Folds decoded events, in stream order, into the rows the projector would
/// write after the sequence before the first (CPU only, so a worker does it
/// while earlier rows are being written). `None` for no events; the last
/// sequence of the events beside the rows, so the writer can tell a gap.
///
/// # Errors
/// When an event's payload cannot be read as its type.
fn prepare_events(events: &[(u64, EventEnvelope)]) -> anyhow::Result<Option<(PreparedBatch, u64)>> {
    let (Some((first, _)), Some((last, _))) = (events.first(), events.last()) else { return Ok(None) };
    let to_apply: Vec<EventToApply<'_>> =
        events.iter().map(|(sequence, envelope)| EventToApply { sequence: *sequence, envelope }).collect();
    let prepared = prepare(&to_apply, first - 1)?.context("a batch's first event follows the one before it")?;
    Ok(Some((prepared, *last)))
}

/// A batch as a worker of `audit verify` examined it.
struct ExaminedBatch {
    /// Each event's sequence and what examining it alone found, in order.
    events: Vec<(u64, Result<ExaminedEvent, ChainError>)>,
    /// The rows of the events the scratch schema is to hold, folded ahead.
    rows: anyhow::Result<Option<(PreparedBatch, u64)>>,
}

/// A worker's part of `audit verify`: decodes each event, recomputes its
/// hash (past the trusted prefix) and its leaf, and folds the events up to
/// `rebuild_up_to` into scratch rows. Everything else is dropped here, on
/// the worker, not on the task that follows the chain.
fn examine_batch(batch: Vec<RawEvent>, trusted_size: u64, rebuild_up_to: u64) -> ExaminedBatch {
    let mut events = Vec::with_capacity(batch.len());
    let mut to_rebuild = Vec::new();
    for event in batch {
        let recompute = event.sequence > trusted_size;
        let unreadable =
            |error: DecodeError| ChainError::Unreadable { sequence: event.sequence, reason: error.to_string() };
        let examined = if event.sequence <= rebuild_up_to {
            EventEnvelope::from_slice(&event.payload).map_err(unreadable).and_then(|envelope| {
                let examined = ExaminedEvent::of(event.sequence, &envelope, recompute);
                to_rebuild.push((event.sequence, envelope));
                examined
            })
        } else {
            StoredEnvelope::from_slice(&event.payload)
                .map_err(unreadable)
                .and_then(|envelope| ExaminedEvent::from_stored(event.sequence, &envelope, recompute))
        };
        events.push((event.sequence, examined));
    }
    ExaminedBatch { events, rows: prepare_events(&to_rebuild) }
}

/// A worker's part of `projections rebuild`: decodes and folds a batch.
fn decode_and_prepare(batch: Vec<RawEvent>) -> anyhow::Result<Option<(PreparedBatch, u64)>> {
    let events = batch
        .into_iter()
        .map(|e| Ok((e.sequence, EventEnvelope::from_slice(&e.payload)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    prepare_events(&events)
}

async fn connect_schema(config: &Config, schema: &str) -> anyhow::Result<ReadModel> {
    let settings =
        ReadModelConfig { database_url: config.database_url.clone(), schema: schema.to_owned(), max_connections: 4 };
    ReadModel::connect(&settings).await.with_context(|| format!("failed to set up schema {schema}"))
}

/// Replays the stream from the start (or from a trusted tree head), checks
/// every sequence, hash, link and tree head, rebuilds the read models into a
/// scratch schema and compares them row by row with the live ones.
///
/// # Errors
/// When NATS or PostgreSQL fail; what the history gets wrong is a
/// [`VerifyReport::finding`], not an error.
pub async fn verify(config: &Config, options: &VerifyOptions) -> anyhow::Result<VerifyReport> {
    let started = Instant::now();
    let store = EventStore::open_existing(config.event_store()).await.context("failed to open the event stream")?;
    let live = ReadModel::connect(&config.read_model()).await.context("failed to open the read models")?;
    if options.events_only {
        let mut report = verify_into(&store, &live, None, config, options).await?;
        report.elapsed = started.elapsed();
        return Ok(report);
    }
    let scratch_name = scratch_schema(&config.schema, "audit");
    zhaoshang_read_model::audit::drop_schema(live.pool(), &scratch_name).await?;
    let scratch = connect_schema(config, &scratch_name).await?;
    // The comparison reads whole tables: the scratch copy needs no index
    // beyond the keys the projector's upserts stand on, and maintaining one
    // row by row would cost the replay for nothing.
    let result = match zhaoshang_read_model::audit::drop_secondary_indexes(scratch.pool(), &scratch_name).await {
        Ok(_) => verify_into(&store, &live, Some(&scratch), config, options).await,
        Err(error) => Err(error.into()),
    };
    scratch.pool().close().await;
    zhaoshang_read_model::audit::drop_schema(live.pool(), &scratch_name).await?;
    let mut report = result?;
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn verify_into(
    store: &EventStore,
    live: &ReadModel,
    scratch: Option<&ReadModel>,
    config: &Config,
    options: &VerifyOptions,
) -> anyhow::Result<VerifyReport> {
    let mut report = VerifyReport { stream_denies_deletes: store.denies_deletes().await?, ..Default::default() };
    if !report.stream_denies_deletes {
        tracing::warn!("the event stream allows deleting messages: a system of record must not");
    }
    let public_key = match &options.public_key {
        Some(key) => Some(*key),
        None => load_signing_key(config)?.map(|k| k.verifying_key()),
    };
    // Tree heads: each signed by the key; a trusted one must be among them or beyond.
    let mut heads = published_tree_heads(store).await?;
    if let Some(trusted) = &options.trusted_head {
        let key = public_key.context("a trusted tree head needs the public key to check it")?;
        if let Err(error) = trusted.verify(&key) {
            report.finding = Some(Finding::TreeHead { tree_size: trusted.tree_size, problem: error.to_string() });
            return Ok(report);
        }
        if let Some(same) = heads.iter().find(|h| h.tree_size == trusted.tree_size) {
            if same.root_hash != trusted.root_hash {
                report.finding = Some(Finding::TreeHead {
                    tree_size: trusted.tree_size,
                    problem: format!(
                        "the published head says root {}, the trusted copy {}",
                        same.root_hash, trusted.root_hash
                    ),
                });
                return Ok(report);
            }
        }
        heads.push(trusted.clone());
        heads.sort_by_key(|h| h.tree_size);
        heads.dedup_by_key(|h| h.tree_size);
    }
    if !heads.is_empty() {
        let Some(key) = public_key else {
            anyhow::bail!(
                "tree heads cannot be checked without the public key (--public-key, or a signing key in the configuration)"
            )
        };
        for head in &heads {
            if let Err(error) = head.verify(&key) {
                report.finding = Some(Finding::TreeHead { tree_size: head.tree_size, problem: error.to_string() });
                return Ok(report);
            }
        }
    }
    // The PostgreSQL copy must hold only published heads.
    let published: HashMap<u64, &SignedTreeHead> = heads.iter().map(|h| (h.tree_size, h)).collect();
    for row in live.tree_heads().await? {
        let copy = row_tree_head(&row);
        if published.get(&copy.tree_size).is_none_or(|h| **h != copy) {
            report.finding = Some(Finding::TreeHead {
                tree_size: copy.tree_size,
                problem: "the copy in the read models is not the published tree head".to_owned(),
            });
            return Ok(report);
        }
    }

    let last = store.last_sequence().await?;
    let trusted_size = options.trusted_head.as_ref().map_or(0, |h| h.tree_size);
    let (live_checkpoint, mut scratch_writer) = match scratch {
        Some(scratch) => (live.checkpoint().await?, Some(ScratchWriter::new(scratch.clone()))),
        None => (0, None),
    };
    let mut chain = ChainVerifier::new();
    let mut next_head = 0usize;
    let bar = progress_bar(options.progress, last, "verify");

    // Follows the chain through a batch in stream order; the finding, if any.
    let check = |events: Vec<(u64, Result<ExaminedEvent, ChainError>)>,
                 chain: &mut ChainVerifier,
                 next_head: &mut usize,
                 report: &mut VerifyReport|
     -> Result<(), Finding> {
        for (sequence, examined) in events {
            chain.check_examined(sequence, examined).map_err(Finding::Chain)?;
            report.events += 1;
            report.rehashed += u64::from(sequence > trusted_size);
            while *next_head < heads.len() && heads[*next_head].tree_size == chain.checked() {
                chain.check_root(chain.checked(), &heads[*next_head].root_hash).map_err(Finding::Chain)?;
                report.tree_heads += 1;
                *next_head += 1;
            }
        }
        Ok(())
    };

    let mut batches =
        Pipeline::start(store, 1, last, BATCH, move |batch| Ok(examine_batch(batch, trusted_size, live_checkpoint)))
            .await?;
    while let Some(examined) = batches.next().await? {
        bar.inc(examined.events.len() as u64);
        if let Err(finding) = check(examined.events, &mut chain, &mut next_head, &mut report) {
            bar.abandon();
            if let Some(writer) = &mut scratch_writer {
                writer.settle().await?;
            }
            report.finding = Some(finding);
            return Ok(report);
        }
        if let (Some(writer), Some(rows)) = (&mut scratch_writer, examined.rows?) {
            writer.write(rows).await?;
        }
    }
    drop(batches);
    if let Some(writer) = &mut scratch_writer {
        writer.settle().await?;
    }
    bar.finish_and_clear();
    if chain.checked() < last {
        report.finding = Some(Finding::Chain(ChainError::Gap { expected: chain.checked() + 1, found: last + 1 }));
        return Ok(report);
    }
    if let Some(head) = heads.get(next_head) {
        report.finding = Some(Finding::TreeHead {
            tree_size: head.tree_size,
            problem: format!("it covers {} events, the stream holds {}: events were removed", head.tree_size, last),
        });
        return Ok(report);
    }

    let (Some(scratch), Some(mut scratch_writer)) = (scratch, scratch_writer) else { return Ok(report) };
    // Compare at one checkpoint: hold the live projector still, bring the
    // scratch schema to the same checkpoint, compare, let go.
    let mut transaction = live.pool().begin().await?;
    let at = zhaoshang_read_model::audit::hold_checkpoint(&mut transaction, live.schema(), false).await?;
    if at > scratch_writer.after {
        let mut more = Pipeline::start(store, scratch_writer.after + 1, at, BATCH, move |batch| {
            Ok(examine_batch(batch, trusted_size, at))
        })
        .await?;
        while let Some(examined) = more.next().await? {
            // Events the first pass checked are only rebuilt here.
            let fresh: Vec<_> =
                examined.events.into_iter().filter(|(sequence, _)| *sequence > chain.checked()).collect();
            if let Err(finding) = check(fresh, &mut chain, &mut next_head, &mut report) {
                report.finding = Some(finding);
                return Ok(report);
            }
            if let Some(rows) = examined.rows? {
                scratch_writer.write(rows).await?;
            }
        }
        scratch_writer.settle().await?;
    }
    report.compared_at = at;
    report.comparison =
        zhaoshang_read_model::audit::compare_schemas(&mut transaction, live.schema(), scratch.schema()).await?;
    transaction.rollback().await?;
    if let Some(difference) = report.comparison.difference.clone() {
        report.finding = Some(Finding::ReadModel(difference));
    }
    Ok(report)
}

/// The inclusion proof of one event against the latest published tree head
/// that covers it (`zhaoshang audit proof`).
///
/// # Errors
/// When the event is unknown, no tree head covers it yet, or a store fails.
pub async fn inclusion_proof(config: &Config, event_id: uuid::Uuid) -> anyhow::Result<InclusionProof> {
    let store = EventStore::open_existing(config.event_store()).await.context("failed to open the event stream")?;
    let read_model = ReadModel::connect(&config.read_model()).await.context("failed to open the read models")?;
    let row = read_model.audit_event(event_id).await?.with_context(|| format!("no event {event_id}"))?;
    let sequence = u64::try_from(row.sequence)?;
    let heads = published_tree_heads(&store).await?;
    let head = heads
        .into_iter()
        .find(|h| h.tree_size >= sequence)
        .with_context(|| format!("no signed tree head covers sequence {sequence} yet"))?;
    let event = store.get(sequence).await?.envelope;
    let tree = tree_from_log(&read_model, head.tree_size).await?;
    Ok(InclusionProof {
        sequence,
        leaf_index: sequence - 1,
        event,
        audit_path: tree.inclusion_proof(sequence - 1)?.iter().map(hex::encode).collect(),
        tree_head: head,
    })
}

/// The tree of the first `size` events, from the event log's hashes.
///
/// # Errors
/// When the log holds fewer events or a malformed hash.
pub async fn tree_from_log(read_model: &ReadModel, size: u64) -> anyhow::Result<MerkleTree> {
    let hashes = read_model.event_hashes(i64::try_from(size)?).await?;
    anyhow::ensure!(hashes.len() as u64 == size, "the event log holds {} of the {size} events", hashes.len());
    let leaves = hashes
        .iter()
        .map(|h| zhaoshang_audit::chain::event_leaf(h).map_err(|_| anyhow::anyhow!("malformed hash {h}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(MerkleTree::new(leaves))
}

/// What a rebuild did.
#[derive(Debug, Clone, Default)]
pub struct RebuildReport {
    /// Events replayed into the shadow schema.
    pub events: u64,
    /// The checkpoint the new read models start at.
    pub checkpoint: u64,
    /// How long the replay and the swap took.
    pub elapsed: Duration,
}

/// The projections `rebuild` knows.
pub const PROJECTIONS: &[&str] = &[zhaoshang_read_model::projection::READ_MODEL_PROJECTION];

/// Replays the whole stream into a shadow schema and swaps it in for the
/// live one in one transaction, while the query API keeps answering
/// (`zhaoshang projections rebuild`). The running projector is held for
/// the swap only, then carries on in the new schema.
///
/// # Errors
/// When NATS or PostgreSQL fail; the live read models are then untouched.
pub async fn rebuild(config: &Config, progress: bool) -> anyhow::Result<RebuildReport> {
    let started = Instant::now();
    let store = EventStore::open_existing(config.event_store()).await.context("failed to open the event stream")?;
    let live = ReadModel::connect(&config.read_model()).await.context("failed to open the read models")?;
    let shadow_name = scratch_schema(&config.schema, "rebuild");
    zhaoshang_read_model::audit::drop_schema(live.pool(), &shadow_name).await?;
    let shadow = connect_schema(config, &shadow_name).await?;
    let result = rebuild_into(&store, &live, &shadow, progress).await;
    shadow.pool().close().await;
    if result.is_err() {
        zhaoshang_read_model::audit::drop_schema(live.pool(), &shadow_name).await?;
    }
    let mut report = result?;
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn rebuild_into(
    store: &EventStore,
    live: &ReadModel,
    shadow: &ReadModel,
    progress: bool,
) -> anyhow::Result<RebuildReport> {
    let last = store.last_sequence().await?;
    let bar = progress_bar(progress, last, "rebuild");
    let mut writer = ScratchWriter::new(shadow.clone());
    let mut report = RebuildReport::default();
    // Secondary indexes are built once over the loaded tables (a sort)
    // rather than kept up row by row through the replay; the keys the
    // upserts stand on stay. They are back before the swap, and before the
    // catch-up under the held checkpoint, so the live projector never
    // waits for an index build.
    let indexes = zhaoshang_read_model::audit::drop_secondary_indexes(shadow.pool(), shadow.schema()).await?;
    let mut batches = Pipeline::start(store, 1, last, REBUILD_BATCH, decode_and_prepare).await?;
    while let Some(rows) = batches.next().await? {
        let Some(rows) = rows else { continue };
        let before = writer.after;
        writer.write(rows).await?;
        bar.inc(writer.after - before);
        report.events += writer.after - before;
    }
    drop(batches);
    writer.settle().await?;
    zhaoshang_read_model::audit::create_indexes(shadow.pool(), &indexes).await?;
    bar.finish_and_clear();
    // The swap: hold the live checkpoint exclusively, catch the shadow up
    // to it, put the shadow in its place.
    let mut transaction = live.pool().begin().await?;
    let at = zhaoshang_read_model::audit::hold_checkpoint(&mut transaction, live.schema(), true).await?;
    if at > writer.after {
        let mut more = Pipeline::start(store, writer.after + 1, at, REBUILD_BATCH, decode_and_prepare).await?;
        while let Some(rows) = more.next().await? {
            let Some(rows) = rows else { continue };
            let before = writer.after;
            writer.write(rows).await?;
            report.events += writer.after - before;
        }
        writer.settle().await?;
    }
    report.checkpoint = writer.after;
    shadow.pool().close().await;
    zhaoshang_read_model::audit::swap_in(&mut transaction, live.schema(), shadow.schema()).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(live.notify_channel())
        .bind(writer.after.to_string())
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    tracing::info!(events = report.events, checkpoint = report.checkpoint, "read models rebuilt and swapped in");
    Ok(report)
}

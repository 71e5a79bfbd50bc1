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
use futures::future::FutureExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;
use zhaoshang_audit::chain::{ChainError, ChainVerifier};
use zhaoshang_audit::merkle::{Frontier, Hash, MerkleTree};
use zhaoshang_audit::proof::InclusionProof;
use zhaoshang_audit::tree_head::{self, SignedTreeHead};
use zhaoshang_audit::{SigningKey, VerifyingKey};
use zhaoshang_domain::EventEnvelope;
use zhaoshang_event_store::EventStore;
use zhaoshang_event_store::audit::RawEvent;
use zhaoshang_read_model::audit::{Comparison, RowDifference, TreeHeadRow};
use zhaoshang_read_model::projection::{EventToApply, Written, prepare};
use zhaoshang_read_model::{ReadModel, ReadModelConfig};

use crate::config::Config;

/// Most events read, checked and written as one batch.
const BATCH: usize = 4000;

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
    done: bool,
}

impl<S: futures::Stream<Item = Result<RawEvent, zhaoshang_event_store::EventStoreError>>> OrderedReader<S> {
    /// The next batch: what is ready, at most [`BATCH`], at least one
    /// message unless the range is read.
    async fn next_batch(&mut self) -> anyhow::Result<Vec<RawEvent>> {
        let mut batch = Vec::new();
        while !self.done && batch.len() < BATCH {
            let next = if batch.is_empty() {
                self.messages.next().await
            } else {
                match self.messages.next().now_or_never() {
                    Some(next) => next,
                    None => break,
                }
            };
            let Some(event) = next else {
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
) -> anyhow::Result<
    OrderedReader<impl futures::Stream<Item = Result<RawEvent, zhaoshang_event_store::EventStoreError>> + use<>>,
> {
    let messages = Box::pin(store.read_in_order(from).await?);
    Ok(OrderedReader { messages, to, done: from > to })
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
    let mut reader = reader(store, 1, last).await?;
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
/// writing one batch while the next is prepared.
struct ScratchWriter {
    read_model: ReadModel,
    after: u64,
    in_flight: Option<tokio::task::JoinHandle<anyhow::Result<Written>>>,
}

impl ScratchWriter {
    async fn apply(&mut self, events: &[(u64, EventEnvelope)]) -> anyhow::Result<()> {
        let to_apply: Vec<EventToApply<'_>> =
            events.iter().map(|(sequence, envelope)| EventToApply { sequence: *sequence, envelope }).collect();
        let Some(prepared) = prepare(&to_apply, self.after)? else { return Ok(()) };
        anyhow::ensure!(
            prepared.last_sequence() == events.last().map_or(self.after, |e| e.0),
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
    let scratch_name = scratch_schema(&config.schema, "audit");
    zhaoshang_read_model::audit::drop_schema(live.pool(), &scratch_name).await?;
    let scratch = connect_schema(config, &scratch_name).await?;
    let result = verify_into(&store, &live, &scratch, config, options).await;
    scratch.pool().close().await;
    zhaoshang_read_model::audit::drop_schema(live.pool(), &scratch_name).await?;
    let mut report = result?;
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn verify_into(
    store: &EventStore,
    live: &ReadModel,
    scratch: &ReadModel,
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
    let live_checkpoint = if options.events_only { 0 } else { live.checkpoint().await? };
    let mut chain = ChainVerifier::new();
    let mut scratch_writer = ScratchWriter { read_model: scratch.clone(), after: 0, in_flight: None };
    let mut next_head = 0usize;
    let bar = progress_bar(options.progress, last, "verify");

    // Checks a batch; returns the events to rebuild from, or the finding.
    let check = |batch: &[RawEvent],
                 chain: &mut ChainVerifier,
                 next_head: &mut usize,
                 report: &mut VerifyReport|
     -> Result<Vec<(u64, EventEnvelope)>, Finding> {
        let mut envelopes = Vec::with_capacity(batch.len());
        for (event, (decoded, computed)) in batch.iter().zip(decode_and_hash(batch, trusted_size)) {
            let envelope = decoded
                .map_err(|reason| Finding::Chain(ChainError::Unreadable { sequence: event.sequence, reason }))?;
            if let Some(computed) = computed.filter(|c| *c != envelope.hash) {
                return Err(Finding::Chain(ChainError::HashMismatch {
                    sequence: event.sequence,
                    event_id: envelope.id.to_string(),
                    stored: envelope.hash.clone(),
                    computed,
                }));
            }
            chain.check(event.sequence, &envelope, false).map_err(Finding::Chain)?;
            report.events += 1;
            report.rehashed += u64::from(event.sequence > trusted_size);
            while *next_head < heads.len() && heads[*next_head].tree_size == chain.checked() {
                chain.check_root(chain.checked(), &heads[*next_head].root_hash).map_err(Finding::Chain)?;
                report.tree_heads += 1;
                *next_head += 1;
            }
            envelopes.push((event.sequence, envelope));
        }
        Ok(envelopes)
    };

    let mut events = reader(store, 1, last).await?;
    loop {
        let batch = events.next_batch().await?;
        if batch.is_empty() {
            break;
        }
        bar.inc(batch.len() as u64);
        let envelopes = match check(&batch, &mut chain, &mut next_head, &mut report) {
            Ok(envelopes) => envelopes,
            Err(finding) => {
                bar.abandon();
                scratch_writer.settle().await?;
                report.finding = Some(finding);
                return Ok(report);
            }
        };
        let to_rebuild: Vec<(u64, EventEnvelope)> =
            envelopes.into_iter().filter(|(sequence, _)| *sequence <= live_checkpoint).collect();
        if !to_rebuild.is_empty() {
            scratch_writer.apply(&to_rebuild).await?;
        }
    }
    scratch_writer.settle().await?;
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

    if options.events_only {
        return Ok(report);
    }
    // Compare at one checkpoint: hold the live projector still, bring the
    // scratch schema to the same checkpoint, compare, let go.
    let mut transaction = live.pool().begin().await?;
    let at = zhaoshang_read_model::audit::hold_checkpoint(&mut transaction, live.schema(), false).await?;
    if at > scratch_writer.after {
        let mut more = reader(store, scratch_writer.after + 1, at).await?;
        loop {
            let batch = more.next_batch().await?;
            if batch.is_empty() {
                break;
            }
            let fresh: Vec<RawEvent> = batch.iter().filter(|e| e.sequence > chain.checked()).cloned().collect();
            if let Err(finding) = check(&fresh, &mut chain, &mut next_head, &mut report) {
                report.finding = Some(finding);
                return Ok(report);
            }
            let mut envelopes = Vec::with_capacity(batch.len());
            for event in &batch {
                envelopes.push((event.sequence, EventEnvelope::from_slice(&event.payload)?));
            }
            scratch_writer.apply(&envelopes).await?;
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

/// Decodes a batch and recomputes the hashes of the events after
/// `trusted_size`, on every core: these are the CPU of verifying, and each
/// event's are independent of the others'. The links, which are not, are
/// checked after, in order.
fn decode_and_hash(batch: &[RawEvent], trusted_size: u64) -> Vec<(Result<EventEnvelope, String>, Option<String>)> {
    let work = |events: &[RawEvent]| {
        events
            .iter()
            .map(|event| match EventEnvelope::from_slice(&event.payload) {
                Ok(envelope) => {
                    let computed = (event.sequence > trusted_size).then(|| envelope.compute_hash());
                    (Ok(envelope), computed)
                }
                Err(error) => (Err(error.to_string()), None),
            })
            .collect::<Vec<_>>()
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if workers < 2 || batch.len() < 256 {
        return work(batch);
    }
    let chunk = batch.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch.chunks(chunk).map(|part| scope.spawn(move || work(part))).collect();
        handles.into_iter().flat_map(|h| h.join().expect("a hashing thread panicked")).collect()
    })
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
    let mut writer = ScratchWriter { read_model: shadow.clone(), after: 0, in_flight: None };
    let mut report = RebuildReport::default();
    let mut events = reader(store, 1, last).await?;
    loop {
        let batch = events.next_batch().await?;
        if batch.is_empty() {
            break;
        }
        bar.inc(batch.len() as u64);
        report.events += batch.len() as u64;
        let envelopes = batch
            .iter()
            .map(|e| Ok((e.sequence, EventEnvelope::from_slice(&e.payload)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        writer.apply(&envelopes).await?;
    }
    writer.settle().await?;
    bar.finish_and_clear();
    // The swap: hold the live checkpoint exclusively, catch the shadow up
    // to it, put the shadow in its place.
    let mut transaction = live.pool().begin().await?;
    let at = zhaoshang_read_model::audit::hold_checkpoint(&mut transaction, live.schema(), true).await?;
    if at > writer.after {
        let mut more = reader(store, writer.after + 1, at).await?;
        loop {
            let batch = more.next_batch().await?;
            if batch.is_empty() {
                break;
            }
            report.events += batch.len() as u64;
            let envelopes = batch
                .iter()
                .map(|e| Ok((e.sequence, EventEnvelope::from_slice(&e.payload)?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            writer.apply(&envelopes).await?;
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

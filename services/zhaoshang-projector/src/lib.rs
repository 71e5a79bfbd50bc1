//! The projection service: reads the event stream with a durable pull
//! consumer and keeps the PostgreSQL read models up to date.
//!
//! Each round takes whatever the consumer has ready (one message, or up to
//! [`ProjectorConfig::max_batch`] under load), applies it in one transaction
//! with the checkpoint, and only then acknowledges the last message (the
//! consumer acknowledges all earlier ones with it). A crash before the commit
//! redelivers the batch; a crash after it redelivers events the checkpoint
//! already covers, which are skipped. So the read models converge after any
//! crash, and a replay changes nothing.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::{FutureExt as _, StreamExt as _};
use tokio_util::sync::CancellationToken;
use zhaoshang_event_store::{EventStore, StoredEvent, decode};
use zhaoshang_read_model::ReadModel;
use zhaoshang_read_model::ReadModelError;
use zhaoshang_read_model::projection::{EventToApply, PreparedBatch, Written, prepare};

/// How long the projector waits with no delivery before it checks whether
/// the stream has moved on without it.
const STALL_CHECK: Duration = Duration::from_secs(10);

/// How the projector consumes.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// The durable consumer's name; one per read-model schema.
    pub durable_name: String,
    /// Most events applied in one transaction.
    pub max_batch: usize,
    /// How long a batch waits for more events once it has one.
    pub collect_window: Duration,
}

impl ProjectorConfig {
    /// The configuration for the read models in `schema`.
    pub fn for_schema(schema: &str) -> Self {
        Self {
            durable_name: format!("zhaoshang-read-model-{schema}"),
            max_batch: 4000,
            collect_window: Duration::from_millis(2),
        }
    }
}

async fn consumer(
    store: &EventStore,
    read_model: &ReadModel,
    config: &ProjectorConfig,
) -> anyhow::Result<(async_nats::jetstream::consumer::Consumer<pull::Config>, u64)> {
    let checkpoint = read_model.checkpoint().await.context("failed to read the projection checkpoint")?;
    let stream = store.stream();
    // Start from the checkpoint every time: messages a previous run had
    // fetched but not acknowledged would otherwise come back only after the
    // acknowledgement timeout, behind newer ones.
    if stream.get_consumer::<pull::Config>(&config.durable_name).await.is_ok() {
        stream.delete_consumer(&config.durable_name).await.context("failed to reset the projector's consumer")?;
    }
    let deliver_policy = if checkpoint == 0 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence { start_sequence: checkpoint + 1 }
    };
    stream
        .create_consumer(pull::Config {
            durable_name: Some(config.durable_name.clone()),
            description: Some("zhaoshang read-model projector".to_owned()),
            filter_subject: store.all_events_filter(),
            ack_policy: AckPolicy::All,
            deliver_policy,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 100_000,
            ..Default::default()
        })
        .await
        .map(|consumer| (consumer, checkpoint))
        .context("failed to create the projector's consumer")
}

/// Runs the projector until `shutdown` is cancelled.
///
/// While NATS or PostgreSQL do not answer, it keeps trying to start (with a
/// growing pause, up to 5 s), logging each failure.
///
/// # Errors
/// When the consumer it just made cannot be read, or the stream holds an
/// event this version cannot read (the projector stops there rather than
/// build wrong read models).
pub async fn run(
    store: EventStore,
    read_model: ReadModel,
    config: ProjectorConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(100);
    loop {
        // Starting again usually follows NATS going away: until it (and
        // PostgreSQL) answer again, keep trying rather than give up.
        let (consumer, checkpoint) = match consumer(&store, &read_model, &config).await {
            Ok(started) => {
                delay = Duration::from_millis(100);
                started
            }
            Err(error) => {
                let retry_in_ms = delay.as_millis();
                tracing::error!(
                    error = format!("{error:#}"),
                    retry_in_ms,
                    "the projector cannot start consuming; retrying"
                );
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        tracing::info!(consumer = %config.durable_name, checkpoint, "projector started");
        if !consume(&store, consumer, checkpoint, &read_model, &config, &shutdown).await? {
            tracing::info!("projector stopped");
            return Ok(());
        }
        tracing::warn!("the read models and the stream disagree on where to go on; re-reading from the checkpoint");
    }
}

/// A batch being written, with the message that acknowledges it. Dropping
/// it (the projector stopped or was aborted) aborts the write, as a crash
/// would: the transaction is rolled back or committed whole, never half.
struct InFlight(tokio::task::JoinHandle<anyhow::Result<(Written, Option<jetstream::Message>)>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits for the batch being written; acknowledges it once committed.
/// Returns false when the checkpoint was not where the batch expected.
async fn settle(mut in_flight: InFlight) -> anyhow::Result<bool> {
    let (written, last_message) = (&mut in_flight.0).await.context("the batch writer failed")??;
    match written {
        Written::Applied(_) => {
            if let Some(message) = last_message {
                // With AckPolicy::All this acknowledges the whole batch. A
                // lost acknowledgement is harmless: the redelivered events are
                // at or below the checkpoint and are skipped.
                if let Err(error) = message.ack().await {
                    tracing::warn!(%error, "failed to acknowledge a batch; it will be redelivered and skipped");
                }
            }
            Ok(true)
        }
        Written::CheckpointMoved(_) => Ok(false),
    }
}

/// Consumes until shutdown (false) or until the stream and the checkpoint
/// disagree (true: start again from the checkpoint).
///
/// Two batches are in hand at a time: while one is written to PostgreSQL,
/// the next is received, decoded and folded into rows.
async fn consume(
    store: &EventStore,
    consumer: async_nats::jetstream::consumer::Consumer<pull::Config>,
    mut after: u64,
    read_model: &ReadModel,
    config: &ProjectorConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(config.max_batch)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .context("failed to start consuming the event stream")?;
    let mut in_flight: Option<InFlight> = None;
    let mut quiet = tokio::time::interval_at(tokio::time::Instant::now() + STALL_CHECK, STALL_CHECK);
    quiet.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            next = messages.next() => next,
            _ = quiet.tick() => {
                // Nothing came for a while. If the stream has gone past what
                // was applied, the pull has stalled (seen once after a NATS
                // restart): start again from the checkpoint.
                match store.last_sequence().await {
                    Ok(last) if last > after => {
                        tracing::warn!(last, applied = after, "no event delivered for a while although the stream holds more");
                        if let Some(previous) = in_flight.take() {
                            settle(previous).await?;
                        }
                        return Ok(true);
                    }
                    _ => continue,
                }
            }
        };
        quiet.reset();
        let Some(first) = first else {
            // The server ended the delivery (its consumer is gone): start
            // again from the checkpoint with a new one.
            if let Some(previous) = in_flight.take() {
                settle(previous).await?;
            }
            return Ok(true);
        };
        let mut batch = match first {
            Ok(message) => vec![message],
            Err(error) => {
                tracing::warn!(%error, "event stream hiccup; continuing");
                continue;
            }
        };
        // Take what is ready, then wait a little for more: under load this
        // fills large batches (one transaction for thousands of events); at
        // light load it costs at most `collect_window` of latency.
        let deadline = tokio::time::Instant::now() + config.collect_window;
        while batch.len() < config.max_batch {
            let next = match messages.next().now_or_never() {
                Some(next) => next,
                None => match tokio::time::timeout_at(deadline, messages.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
            };
            match next {
                Some(Ok(message)) => batch.push(message),
                _ => break,
            }
        }
        let mut events: Vec<StoredEvent> = Vec::with_capacity(batch.len());
        let mut pending = 0;
        for message in &batch {
            let info = message.info().map_err(|e| anyhow::anyhow!("{e}")).context("message without metadata")?;
            pending = info.pending;
            events.push(
                decode(info.stream_sequence, &message.payload)
                    .context("the projector stopped at an unreadable event")?,
            );
        }
        // JetStream tells with each message how many more wait behind it:
        // after the batch's last one, that is the projection's lag.
        metrics::gauge!("zhaoshang_projection_lag_events").set(pending as f64);
        metrics::histogram!("zhaoshang_projection_batch_events").record(batch.len() as f64);
        let batch_end = events.last().map_or(after, |e| e.sequence);
        let to_apply: Vec<EventToApply<'_>> =
            events.iter().map(|e| EventToApply { sequence: e.sequence, envelope: &e.envelope }).collect();
        let prepared = match prepare(&to_apply, after) {
            Ok(prepared) => prepared,
            Err(ReadModelError::Decode { sequence, source }) => {
                return Err(anyhow::anyhow!(
                    "the projector stopped at event {sequence}, which it cannot read: {source}"
                ));
            }
            Err(other) => return Err(other.into()),
        };
        // The previous batch must be committed before this one is written.
        if let Some(previous) = in_flight.take() {
            if !settle(previous).await? {
                return Ok(true);
            }
        }
        let Some(prepared) = prepared else {
            // Only redeliveries of events already applied: acknowledge them.
            if let Some(message) = batch.pop() {
                let _ = message.ack().await;
            }
            continue;
        };
        let gap = prepared.last_sequence() < batch_end;
        after = prepared.last_sequence();
        let last_message = if gap { None } else { batch.pop() };
        in_flight = Some(InFlight(tokio::spawn(write_with_retry(
            read_model.clone(),
            prepared,
            last_message,
            shutdown.clone(),
        ))));
        if gap {
            settle(in_flight.take().expect("just set")).await?;
            return Ok(true);
        }
    }
    if let Some(previous) = in_flight.take() {
        settle(previous).await?;
    }
    Ok(false)
}

/// Writes a batch, retrying with backoff while PostgreSQL is unavailable.
async fn write_with_retry(
    read_model: ReadModel,
    prepared: PreparedBatch,
    last_message: Option<jetstream::Message>,
    shutdown: CancellationToken,
) -> anyhow::Result<(Written, Option<jetstream::Message>)> {
    let mut delay = Duration::from_millis(100);
    loop {
        let started = std::time::Instant::now();
        match read_model.write_prepared(&prepared).await {
            Ok(written) => {
                metrics::histogram!("zhaoshang_projection_write_seconds").record(started.elapsed());
                if let Written::Applied(checkpoint) = written {
                    metrics::gauge!("zhaoshang_projection_checkpoint").set(checkpoint as f64);
                }
                tracing::debug!(checkpoint = prepared.last_sequence(), "batch applied");
                return Ok((written, last_message));
            }
            Err(error) => {
                metrics::counter!("zhaoshang_projection_write_failures_total").increment(1);
                tracing::error!(%error, retry_in_ms = delay.as_millis(), "failed to apply a batch; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => anyhow::bail!("stopped while PostgreSQL was unavailable"),
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

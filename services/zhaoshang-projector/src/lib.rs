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
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::{FutureExt as _, StreamExt as _};
use tokio_util::sync::CancellationToken;
use zhaoshang_event_store::{EventStore, StoredEvent, decode};
use zhaoshang_read_model::ReadModel;
use zhaoshang_read_model::projection::EventToApply;

/// How the projector consumes.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// The durable consumer's name; one per read-model schema.
    pub durable_name: String,
    /// Most events applied in one transaction.
    pub max_batch: usize,
}

impl ProjectorConfig {
    /// The configuration for the read models in `schema`.
    pub fn for_schema(schema: &str) -> Self {
        Self { durable_name: format!("zhaoshang-read-model-{schema}"), max_batch: 2000 }
    }
}

async fn consumer(
    store: &EventStore,
    read_model: &ReadModel,
    config: &ProjectorConfig,
) -> anyhow::Result<async_nats::jetstream::consumer::Consumer<pull::Config>> {
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
        .context("failed to create the projector's consumer")
}

/// Runs the projector until `shutdown` is cancelled.
///
/// # Errors
/// When the stream cannot be consumed, or holds an event this version cannot
/// read (the projector stops there rather than build wrong read models).
pub async fn run(
    store: EventStore,
    read_model: ReadModel,
    config: ProjectorConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let consumer = consumer(&store, &read_model, &config).await?;
        if !consume(consumer, &read_model, &config, &shutdown).await? {
            return Ok(());
        }
        tracing::warn!("events arrived out of order; re-reading from the checkpoint");
    }
}

/// Consumes until shutdown (false) or until a batch had a gap (true).
async fn consume(
    consumer: async_nats::jetstream::consumer::Consumer<pull::Config>,
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
    tracing::info!(consumer = %config.durable_name, "projector started");
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            next = messages.next() => next,
        };
        let Some(first) = first else { break };
        let mut batch = match first {
            Ok(message) => vec![message],
            Err(error) => {
                tracing::warn!(%error, "event stream hiccup; continuing");
                continue;
            }
        };
        while batch.len() < config.max_batch {
            match messages.next().now_or_never() {
                Some(Some(Ok(message))) => batch.push(message),
                _ => break,
            }
        }
        let mut events: Vec<StoredEvent> = Vec::with_capacity(batch.len());
        for message in &batch {
            let sequence =
                message.info().map_err(|e| anyhow::anyhow!("{e}")).context("message without metadata")?.stream_sequence;
            events.push(decode(sequence, &message.payload).context("the projector stopped at an unreadable event")?);
        }
        let to_apply: Vec<EventToApply<'_>> =
            events.iter().map(|e| EventToApply { sequence: e.sequence, envelope: &e.envelope }).collect();
        let mut delay = Duration::from_millis(100);
        let checkpoint = loop {
            match read_model.apply_batch(&to_apply).await {
                Ok(checkpoint) => break checkpoint,
                Err(zhaoshang_read_model::ReadModelError::Decode { sequence, source }) => {
                    return Err(anyhow::anyhow!(
                        "the projector stopped at event {sequence}, which it cannot read: {source}"
                    ));
                }
                Err(error) => {
                    tracing::error!(%error, retry_in_ms = delay.as_millis(), "failed to apply a batch; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(false),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        };
        if checkpoint < events.last().map_or(0, |e| e.sequence) {
            return Ok(true);
        }
        if let Some(last) = batch.last() {
            if let Err(error) = last.ack().await {
                // Harmless: the redelivered events are at or below the checkpoint.
                tracing::warn!(%error, "failed to acknowledge a batch; it will be redelivered and skipped");
            }
        }
        tracing::debug!(events = batch.len(), checkpoint, "batch applied");
    }
    tracing::info!("projector stopped");
    Ok(false)
}

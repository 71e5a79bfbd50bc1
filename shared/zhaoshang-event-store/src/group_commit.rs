//! Group commit: appends made at the same time travel to JetStream as one
//! atomic batch.
//!
//! Under `sync_interval: always` a server writes and fsyncs each message on
//! its own, so single appends are bound by the disk. nats-server 2.12 and
//! later accept an atomic batch (`Nats-Batch-Id`, `Nats-Batch-Sequence`,
//! `Nats-Batch-Commit`): stored whole or not at all, contiguously, with one
//! acknowledgement and a few fsyncs for the lot.
//!
//! Appends queue here. While fewer than [`LONE_IN_FLIGHT`] are on their way
//! alone, an append leaves at once, alone, as a plain publish: at light load
//! nothing waits. Once that many are under way, appends gather; when
//! [`MIN_BATCH`] or more wait, they leave together, one batch at a time and
//! as many as have gathered, so under load the batches grow by themselves. Every message keeps its own `Nats-Msg-Id` and
//! `Nats-Expected-Last-Subject-Sequence`, so each append means exactly what it
//! means alone. When JetStream refuses a batch (one append's aggregate moved
//! on, one message id was already used), nothing of it was written, and each
//! append is then sent alone, to get its own answer. When a batch gets no
//! answer, every append in it is told "unavailable": the client's retry with
//! the same key is then recognised by its message id, whatever happened.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::{Appended, EventStoreError, unavailable};

/// Appends sent alone that may be on their way at once. While fewer are,
/// an append leaves at once, alone: a lone publish costs the server a few
/// hundred microseconds, an atomic batch some milliseconds whatever its size
/// (measured with nats-server 2.15 under `sync_interval: always`; see the
/// load bench).
pub const LONE_IN_FLIGHT: usize = 8;

/// The fewest appends sent as one batch: fewer are cheaper alone.
pub const MIN_BATCH: usize = 8;

/// How long the server is given to acknowledge a batch.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// One append waiting for its batch.
pub(crate) struct Pending {
    pub subject: String,
    pub payload: Bytes,
    pub message_id: String,
    pub expected_last_sequence: u64,
    pub answer: oneshot::Sender<Result<Appended, EventStoreError>>,
}

/// The queue appends go through; cloned with the event store.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::UnboundedSender<Pending>,
    /// Appends stored as part of a batch of two or more.
    stored_together: Arc<AtomicU64>,
}

impl GroupCommit {
    /// Starts the task that sends batches of at most `max_batch` appends.
    /// It ends when the last clone of the queue is dropped.
    pub fn start(client: async_nats::Client, jetstream: jetstream::Context, max_batch: usize) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let stored_together = Arc::new(AtomicU64::new(0));
        tokio::spawn(send_batches(client, jetstream, receiver, max_batch.max(2), stored_together.clone()));
        Self { queue, stored_together }
    }

    /// How many appends were stored as part of a batch of two or more.
    pub fn stored_together(&self) -> u64 {
        self.stored_together.load(Ordering::Relaxed)
    }

    /// Queues an append and waits for its answer.
    pub async fn append(
        &self,
        subject: String,
        payload: Bytes,
        message_id: &str,
        expected_last_sequence: u64,
    ) -> Result<Appended, EventStoreError> {
        let (answer, answered) = oneshot::channel();
        let pending = Pending { subject, payload, message_id: message_id.to_owned(), expected_last_sequence, answer };
        self.queue.send(pending).map_err(|_| unavailable("the event store is shutting down"))?;
        answered.await.unwrap_or_else(|_| Err(unavailable("the append was dropped unanswered")))
    }
}

async fn send_batches(
    client: async_nats::Client,
    jetstream: jetstream::Context,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
    max_batch: usize,
    stored_together: Arc<AtomicU64>,
) {
    let lanes = Arc::new(Semaphore::new(LONE_IN_FLIGHT));
    let batch_slot = Arc::new(Semaphore::new(1));
    let mut waiting: VecDeque<Pending> = VecDeque::new();
    let mut open = true;
    let spawn_send = |batch: Vec<Pending>, permit: OwnedSemaphorePermit| {
        let (client, jetstream, stored_together) = (client.clone(), jetstream.clone(), stored_together.clone());
        tokio::spawn(async move {
            send(&client, &jetstream, batch, &stored_together).await;
            drop(permit);
        });
    };
    loop {
        if waiting.is_empty() {
            match receiver.recv().await {
                Some(pending) => waiting.push_back(pending),
                None => return,
            }
        }
        while open && waiting.len() < max_batch {
            match receiver.try_recv() {
                Ok(pending) => waiting.push_back(pending),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        if waiting.len() >= MIN_BATCH {
            if let Ok(slot) = batch_slot.clone().try_acquire_owned() {
                let batch: Vec<Pending> = waiting.drain(..waiting.len().min(max_batch)).collect();
                metrics::histogram!("zhaoshang_append_batch_events").record(batch.len() as f64);
                spawn_send(batch, slot);
                continue;
            }
        }
        if let Ok(lane) = lanes.clone().try_acquire_owned() {
            spawn_send(vec![waiting.pop_front().expect("not empty")], lane);
            continue;
        }
        // Nothing can leave now: wait for the batch slot (once enough wait
        // to pay for a batch), a lane, or one more append to gather.
        tokio::select! {
            biased;
            slot = batch_slot.clone().acquire_owned(), if waiting.len() >= MIN_BATCH => {
                let Ok(slot) = slot else { return };
                let batch: Vec<Pending> = waiting.drain(..waiting.len().min(max_batch)).collect();
                metrics::histogram!("zhaoshang_append_batch_events").record(batch.len() as f64);
                spawn_send(batch, slot);
            }
            lane = lanes.clone().acquire_owned() => {
                let Ok(lane) = lane else { return };
                spawn_send(vec![waiting.pop_front().expect("not empty")], lane);
            }
            next = receiver.recv(), if open && waiting.len() < max_batch => match next {
                Some(pending) => waiting.push_back(pending),
                None => open = false,
            },
        }
    }
}

async fn send(
    client: &async_nats::Client,
    jetstream: &jetstream::Context,
    mut batch: Vec<Pending>,
    stored_together: &AtomicU64,
) {
    // As for a lone append: while the connection is down the client would
    // queue the messages and send them after reconnecting, long after the
    // callers were told 503. Refuse at once instead: nothing is sent.
    if client.connection_state() != async_nats::connection::State::Connected {
        for pending in batch {
            let _ = pending.answer.send(Err(unavailable("not connected to NATS")));
        }
        return;
    }
    if batch.len() == 1 {
        let pending = batch.pop().expect("one");
        let result = publish_pending(jetstream, &pending).await;
        let _ = pending.answer.send(result);
        return;
    }
    match publish_atomically(client, &batch).await {
        Outcome::Stored { last_sequence } => {
            let count = batch.len() as u64;
            stored_together.fetch_add(count, Ordering::Relaxed);
            metrics::counter!("zhaoshang_appends_stored_together_total").increment(count);
            let first = last_sequence + 1 - count;
            for (offset, pending) in (0u64..).zip(batch) {
                let _ = pending.answer.send(Ok(Appended { sequence: first + offset, duplicate: false }));
            }
        }
        Outcome::Refused(reason) => {
            // Nothing of the batch was written: each append alone gets its
            // own answer (its conflict, its duplicate, or its sequence).
            tracing::debug!(reason, appends = batch.len(), "a batch was refused; sending its appends one by one");
            metrics::counter!("zhaoshang_append_batches_refused_total").increment(1);
            futures::future::join_all(batch.into_iter().map(|pending| async move {
                let result = publish_pending(jetstream, &pending).await;
                let _ = pending.answer.send(result);
            }))
            .await;
        }
        Outcome::Unknown(reason) => {
            for pending in batch {
                let _ = pending.answer.send(Err(unavailable(format!("no answer for a batch of appends: {reason}"))));
            }
        }
    }
}

async fn publish_pending(jetstream: &jetstream::Context, pending: &Pending) -> Result<Appended, EventStoreError> {
    let (subject, payload) = (pending.subject.clone(), pending.payload.clone());
    publish_alone(jetstream, subject, payload, &pending.message_id, pending.expected_last_sequence).await
}

/// A plain publish of one append, with its own message id and expected
/// last subject sequence.
pub(crate) async fn publish_alone(
    jetstream: &jetstream::Context,
    subject: String,
    payload: Bytes,
    message_id: &str,
    expected: u64,
) -> Result<Appended, EventStoreError> {
    let message =
        PublishMessage::build().payload(payload).message_id(message_id).expected_last_subject_sequence(expected);
    let map_publish_error = |e: jetstream::context::PublishError| match e.kind() {
        PublishErrorKind::WrongLastSequence => EventStoreError::Conflict { expected },
        _ => unavailable(e),
    };
    let ack =
        jetstream.send_publish(subject, message).await.map_err(map_publish_error)?.await.map_err(map_publish_error)?;
    Ok(Appended { sequence: ack.sequence, duplicate: ack.duplicate })
}

/// What became of a batch.
enum Outcome {
    /// Stored whole; its last message is at this sequence.
    Stored { last_sequence: u64 },
    /// JetStream answered that it wrote none of it.
    Refused(String),
    /// No usable answer: it may or may not be stored.
    Unknown(String),
}

#[derive(serde::Deserialize)]
struct BatchAck {
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    error: Option<BatchAckError>,
}

#[derive(serde::Deserialize)]
struct BatchAckError {
    #[serde(default)]
    description: String,
}

async fn publish_atomically(client: &async_nats::Client, batch: &[Pending]) -> Outcome {
    let batch_id = uuid::Uuid::new_v4().simple().to_string();
    let last = batch.len() - 1;
    for (index, pending) in batch.iter().enumerate() {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Batch-Id", batch_id.as_str());
        headers.insert("Nats-Batch-Sequence", (index + 1).to_string().as_str());
        headers.insert("Nats-Msg-Id", pending.message_id.as_str());
        headers.insert("Nats-Expected-Last-Subject-Sequence", pending.expected_last_sequence.to_string().as_str());
        if index < last {
            if let Err(error) =
                client.publish_with_headers(pending.subject.clone(), headers, pending.payload.clone()).await
            {
                // The server drops a batch it never sees committed.
                return Outcome::Unknown(error.to_string());
            }
            continue;
        }
        headers.insert("Nats-Batch-Commit", "1");
        let request = client.request_with_headers(pending.subject.clone(), headers, pending.payload.clone());
        let reply = match tokio::time::timeout(ANSWER_TIMEOUT, request).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => return Outcome::Unknown(error.to_string()),
            Err(_) => return Outcome::Unknown("timed out".to_owned()),
        };
        return match serde_json::from_slice::<BatchAck>(&reply.payload) {
            Ok(BatchAck { error: Some(error), .. }) => Outcome::Refused(error.description),
            Ok(BatchAck { seq, count: Some(count), error: None }) if count == batch.len() as u64 && seq >= count => {
                Outcome::Stored { last_sequence: seq }
            }
            Ok(_) => Outcome::Unknown(format!(
                "an acknowledgement that does not account for {} messages: {}",
                batch.len(),
                String::from_utf8_lossy(&reply.payload)
            )),
            Err(error) => Outcome::Unknown(format!("an unreadable acknowledgement: {error}")),
        };
    }
    unreachable!("a batch has at least one append")
}

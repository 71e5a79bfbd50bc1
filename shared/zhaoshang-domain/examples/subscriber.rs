//! A subscriber of zhaoshang's events, as another municipal system would
//! write one: it follows the event stream from a chosen point through a
//! durable consumer of its own, prints each event, and after a restart goes
//! on exactly where it stopped, with nothing lost and nothing printed twice.
//!
//! ```sh
//! cargo run -p zhaoshang-domain --example subscriber -- \
//!     --consumer dashboard-main --start all --state-file dashboard.state
//! ```
//!
//! Delivery is at least once: JetStream redelivers what was not
//! acknowledged. The example therefore keeps the stream sequence of the last
//! event it handled in `--state-file` (written before the acknowledgement)
//! and skips anything at or below it, which turns at-least-once delivery into
//! exactly-once handling. A system that stores events can instead
//! deduplicate on the event's `id`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use clap::Parser;
use futures::StreamExt as _;
use zhaoshang_domain::EventEnvelope;

#[derive(Parser)]
#[command(about = "Follows zhaoshang's event stream and prints each event")]
struct Args {
    /// NATS URL, with the subscriber's credentials (nats://user:password@host:4222).
    #[arg(long, env = "ZHAOSHANG_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// The event stream.
    #[arg(long, default_value = "ZHAOSHANG")]
    stream: String,
    /// This subscriber's durable consumer; its position survives restarts.
    #[arg(long, default_value = "subscriber-example")]
    consumer: String,
    /// Where a new consumer starts: `all`, `new`, `seq:<N>` or `time:<RFC 3339>`.
    /// Ignored when the consumer exists: it goes on from where it was.
    #[arg(long, default_value = "all")]
    start: String,
    /// File keeping the last stream sequence handled.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Stop after this many events.
    #[arg(long)]
    max: Option<u64>,
    /// Stop once every event in the stream has been handled.
    #[arg(long)]
    exit_when_caught_up: bool,
}

fn deliver_policy(start: &str) -> anyhow::Result<DeliverPolicy> {
    Ok(match start.split_once(':') {
        None if start == "all" => DeliverPolicy::All,
        None if start == "new" => DeliverPolicy::New,
        Some(("seq", n)) => {
            DeliverPolicy::ByStartSequence { start_sequence: n.parse().context("seq:<N> needs a number")? }
        }
        Some(("time", t)) => {
            let time = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .context("time:<RFC 3339>, e.g. time:2022-10-18T00:00:00+08:00")?;
            DeliverPolicy::ByStartTime { start_time: time }
        }
        _ => bail!("--start must be all, new, seq:<N> or time:<RFC 3339>"),
    })
}

fn read_state(path: Option<&PathBuf>) -> anyhow::Result<u64> {
    match path {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            text.trim().parse().with_context(|| format!("{} does not hold a sequence", path.display()))
        }
        _ => Ok(0),
    }
}

fn write_state(path: Option<&PathBuf>, sequence: u64) -> anyhow::Result<()> {
    if let Some(path) = path {
        // Write then rename, so a crash never leaves a half-written file.
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, format!("{sequence}\n"))?;
        std::fs::rename(&temporary, path)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = async_nats::connect(&args.nats_url).await.context("cannot connect to NATS")?;
    let jetstream = jetstream::new(client);
    let stream = jetstream.get_stream(&args.stream).await.context("cannot find the event stream")?;
    let consumer = stream
        .get_or_create_consumer(
            &args.consumer,
            pull::Config {
                durable_name: Some(args.consumer.clone()),
                deliver_policy: deliver_policy(&args.start)?,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await
        .context("cannot create or find the consumer")?;
    let mut last_handled = read_state(args.state_file.as_ref())?;
    let mut handled = 0u64;
    loop {
        // Ask for no more than may still be handled, so stopping at --max
        // leaves nothing delivered and unacknowledged (it would otherwise be
        // redelivered only after the acknowledgement timeout).
        let want = args.max.map_or(100, |max| (max - handled).min(100));
        let want = usize::try_from(want).unwrap_or(100);
        let mut batch = if args.exit_when_caught_up {
            // What is there now, without waiting.
            consumer.fetch().max_messages(want).messages().await
        } else {
            consumer.batch().max_messages(want).expires(Duration::from_secs(5)).messages().await
        }
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot consume")?;
        let mut received = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
            received += 1;
            let sequence = message.info().map_err(|e| anyhow::anyhow!("{e}"))?.stream_sequence;
            if sequence > last_handled {
                let envelope = EventEnvelope::from_slice(&message.payload).context("not a zhaoshang event")?;
                println!(
                    "{sequence}\t{}\t{}\t{}\t{}\t{}",
                    envelope.event_type,
                    envelope.subject,
                    envelope.occurredat.map(|d| d.to_string()).unwrap_or_default(),
                    envelope.actor,
                    envelope.id
                );
                write_state(args.state_file.as_ref(), sequence)?;
                last_handled = sequence;
                handled += 1;
            }
            message.double_ack().await.map_err(|e| anyhow::anyhow!("{e}")).context("cannot acknowledge")?;
        }
        if args.max.is_some_and(|max| handled >= max) || (args.exit_when_caught_up && received == 0) {
            return Ok(());
        }
    }
}

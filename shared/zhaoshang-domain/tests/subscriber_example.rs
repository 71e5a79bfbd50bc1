//! The subscriber example follows the stream from a chosen point and, after a
//! restart, goes on exactly where it stopped. Runs the compiled example
//! against the real NATS, on a stream of its own.

use std::path::PathBuf;
use std::process::Command;

use chrono::Utc;
use uuid::Uuid;
use zhaoshang_domain::meeting::{MeetingEvent, RecordMeetingConvened};
use zhaoshang_domain::values::{MeetingKind, Name};
use zhaoshang_domain::{EventEnvelope, EventMetadata};

fn nats_url() -> String {
    std::env::var("ZHAOSHANG_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// The example's binary, built now: `cargo test --test subscriber_example`
/// alone would not build examples, and a stale binary would test old code.
fn example() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "zhaoshang-domain", "--example", "subscriber"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the subscriber example builds");
    });
    let test_binary = std::env::current_exe().expect("the test binary's path");
    test_binary.parent().and_then(|deps| deps.parent()).expect("target/<profile>").join("examples").join("subscriber")
}

/// Runs the example and returns the stream sequences it printed.
fn run(stream: &str, consumer: &str, start: &str, state: &std::path::Path, extra: &[&str]) -> Vec<u64> {
    let output = Command::new(example())
        .args(["--nats-url", &nats_url(), "--stream", stream, "--consumer", consumer, "--start", start])
        .arg("--state-file")
        .arg(state)
        .args(extra)
        .output()
        .expect("the example runs");
    assert!(output.status.success(), "example failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| {
            let mut fields = line.split('\t');
            let sequence = fields.next().and_then(|s| s.parse().ok()).expect("a sequence first");
            assert_eq!(fields.next(), Some("cn.gov.liuzhou.kjj.zhaoshang.meeting.convened.v1"));
            sequence
        })
        .collect()
}

struct Stream {
    jetstream: async_nats::jetstream::Context,
    name: String,
    prefix: String,
    files: Vec<PathBuf>,
}

impl Drop for Stream {
    /// Removes the stream and state files even when an assertion failed;
    /// on a thread and a connection of its own, as Drop cannot await.
    fn drop(&mut self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                if let Ok(client) = async_nats::connect(nats_url()).await {
                    let _ = async_nats::jetstream::new(client).delete_stream(&name).await;
                }
            });
        })
        .join();
    }
}

impl Stream {
    async fn publish(&self, count: usize) {
        for _ in 0..count {
            let id = Uuid::now_v7().to_string();
            let event = MeetingEvent::Convened(RecordMeetingConvened {
                kind: MeetingKind::MonthlyReport,
                task_force_id: None,
                on: chrono::NaiveDate::from_ymd_opt(2022, 1, 5).expect("date"),
                title: Name::parse("一月招商工作汇报会").expect("name"),
                attendees: vec![],
                minutes: None,
            });
            let metadata = EventMetadata {
                actor: "office".to_owned(),
                correlation_id: Uuid::now_v7(),
                causation_id: None,
                idempotency_key: None,
                recorded_at: Utc::now(),
            };
            let envelope = EventEnvelope::seal("meeting", &id, 1, None, &event, &metadata);
            let subject = format!("{}.meeting.{id}", self.prefix);
            self.jetstream
                .publish(subject, envelope.to_vec().into())
                .await
                .expect("published")
                .await
                .expect("acknowledged");
        }
    }

    fn state_file(&mut self) -> PathBuf {
        let path = std::env::temp_dir().join(format!("zhaoshang-subscriber-{}.state", Uuid::new_v4().simple()));
        self.files.push(path.clone());
        path
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_subscriber_resumes_exactly_where_it_stopped() {
    let client = async_nats::connect(nats_url()).await.expect("NATS answers");
    let jetstream = async_nats::jetstream::new(client);
    let tag = Uuid::new_v4().simple().to_string();
    let mut stream = Stream {
        jetstream: jetstream.clone(),
        name: format!("SUBSCRIBER_{}", tag.to_uppercase()),
        prefix: format!("s{tag}.ev"),
        files: Vec::new(),
    };
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream.name.clone(),
            subjects: vec![format!("{}.>", stream.prefix)],
            ..Default::default()
        })
        .await
        .expect("a stream of the test's own");
    stream.publish(5).await;

    let state = stream.state_file();
    assert_eq!(run(&stream.name, "main", "all", &state, &["--max", "3"]), [1, 2, 3]);
    // Restarted: it goes on after the third event.
    assert_eq!(run(&stream.name, "main", "all", &state, &["--exit-when-caught-up"]), [4, 5]);
    let before_second_batch = Utc::now();
    stream.publish(2).await;
    assert_eq!(run(&stream.name, "main", "all", &state, &["--exit-when-caught-up"]), [6, 7]);
    // Nothing new: nothing printed.
    assert!(run(&stream.name, "main", "all", &state, &["--exit-when-caught-up"]).is_empty());

    // Chosen starting points, for new consumers.
    let from_sequence = stream.state_file();
    assert_eq!(run(&stream.name, "from-four", "seq:4", &from_sequence, &["--exit-when-caught-up"]), [4, 5, 6, 7]);
    let from_time = stream.state_file();
    let start = format!("time:{}", before_second_batch.to_rfc3339());
    assert_eq!(run(&stream.name, "from-time", &start, &from_time, &["--exit-when-caught-up"]), [6, 7]);

    // An event handled but whose acknowledgement was lost comes back; the
    // state file makes sure it is not handled twice.
    let acknowledgement_lost = stream.state_file();
    std::fs::write(&acknowledgement_lost, "5\n").expect("state written");
    assert_eq!(run(&stream.name, "lost-ack", "all", &acknowledgement_lost, &["--exit-when-caught-up"]), [6, 7]);
}

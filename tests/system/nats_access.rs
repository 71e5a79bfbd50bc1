//! The NATS users of `deploy/nats/zhaoshang-accounts.conf`, against a
//! nats-server of the test's own: each user can do its job and nothing the
//! configuration means to forbid.
//!
//! A refusal is proven twice: the operation fails, and the server reports a
//! permissions violation for exactly that subject. The second half matters:
//! a purge also fails on a stream with `deny_purge`, and any request fails if
//! the server is merely slow, but only the permissions produce the violation.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{AckPolicy, DeliverPolicy, pull},
    context::ContextBuilder,
};
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use tokio::sync::mpsc;
use uuid::Uuid;
use zhaoshang_domain::EventEnvelope;
use zhaoshang_event_store::{EventStore, EventStoreConfig, EventStoreError};

const ACCOUNTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nats/zhaoshang-accounts.conf");
const STREAM: &str = "ZHAOSHANG";
/// The projector's consumer for the default read-model schema `zhaoshang`:
/// the configuration names consumers exactly, because a NATS wildcard is a
/// whole subject token and cannot match a name prefix.
const PROJECTOR_CONSUMER: &str = "zhaoshang-read-model-zhaoshang";
const DASHBOARD_CONSUMER: &str = "dashboard-main";
/// How long a client waits for an answer: a refused request gets none, so
/// this bounds each refusal.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// A nats-server with the deployment's accounts, in a temporary directory.
/// Dropping it (also when a test panics) kills the server and removes the
/// directory.
struct NatsServer {
    child: Child,
    dir: PathBuf,
    port: u16,
    passwords: Vec<(&'static str, String)>,
}

impl NatsServer {
    async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("zhaoshang-nats-access-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("jetstream")).expect("temporary directory");
        // nats-server resolves an include relative to the including file,
        // so the accounts file sits next to the main configuration, as the
        // deployment README describes.
        std::fs::copy(ACCOUNTS, dir.join("zhaoshang-accounts.conf")).expect("copy the accounts file");
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port();
        let config = format!(
            "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: \"{}\" }}\ninclude \"zhaoshang-accounts.conf\"\n",
            dir.join("jetstream").display()
        );
        std::fs::write(dir.join("nats-server.conf"), config).expect("write the server configuration");
        // The configuration reads the passwords from the environment: a
        // password starts with a letter and is letters and digits only.
        let passwords: Vec<(&'static str, String)> = ["command", "projector", "dashboard", "admin"]
            .into_iter()
            .map(|user| (user, format!("zs{}", Uuid::new_v4().simple())))
            .collect();
        let log = std::fs::File::create(dir.join("nats-server.log")).expect("log file");
        let mut command = Command::new(zhaoshang_tests::private_servers::nats_server_program());
        command
            .arg("-c")
            .arg(dir.join("nats-server.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for (user, password) in &passwords {
            command.env(format!("ZHAOSHANG_{}_PASSWORD", user.to_uppercase()), password);
        }
        let child = command.spawn().expect("nats-server starts");
        let mut server = Self { child, dir, port, passwords };
        server.wait_until_listening().await;
        server
    }

    /// nats-server opens its client port once JetStream is ready, so the
    /// first accepted connection means the server can be used.
    async fn wait_until_listening(&mut self) {
        for _ in 0..500 {
            if let Some(status) = self.child.try_wait().expect("nats-server status") {
                panic!("nats-server exited with {status}: {}", self.log());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("nats-server did not listen on port {} within 10 s: {}", self.port, self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nats-server.log")).unwrap_or_default()
    }

    fn password(&self, user: &str) -> &str {
        &self.passwords.iter().find(|(name, _)| *name == user).expect("a configured user").1
    }

    /// A connection as `user`. The credentials go into the connect options:
    /// async-nats 0.51 ignores a user and password written into the URL
    /// (nats-io/nats.rs#1623), so `EventStore::connect` cannot log in yet.
    async fn connect(&self, user: &str) -> async_nats::Client {
        async_nats::ConnectOptions::with_user_and_password(user.to_owned(), self.password(user).to_owned())
            .connect(format!("127.0.0.1:{}", self.port))
            .await
            .expect("the user connects")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A connection that records the server's permission violations, so a test
/// can tell a refusal by the permissions from any other failure.
struct Watched {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    violations: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Watched {
    async fn connect(server: &NatsServer, user: &str, inbox_prefix: Option<&str>) -> Self {
        let (sender, violations) = mpsc::unbounded_channel();
        let mut options =
            async_nats::ConnectOptions::with_user_and_password(user.to_owned(), server.password(user).to_owned())
                .request_timeout(Some(REQUEST_TIMEOUT))
                .event_callback(move |event| {
                    let sender = sender.clone();
                    async move {
                        if let async_nats::Event::ServerError(async_nats::ServerError::Other(message)) = event {
                            let _ = sender.send(message);
                        }
                    }
                });
        if let Some(prefix) = inbox_prefix {
            options = options.custom_inbox_prefix(prefix);
        }
        let client = options.connect(format!("127.0.0.1:{}", server.port)).await.expect("the user connects");
        let jetstream = ContextBuilder::new().timeout(REQUEST_TIMEOUT).build(client.clone());
        Self { client, jetstream, violations, seen: Vec::new() }
    }

    async fn stream(&self) -> jetstream::stream::Stream {
        self.jetstream.get_stream(STREAM).await.expect("STREAM.INFO is allowed")
    }

    /// Waits until the server has reported a permissions violation for each
    /// of `refusals` (e.g. `Publish to "zs.ev.meeting.x"`).
    async fn expect_refused(&mut self, refusals: &[String]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let missing: Vec<&String> = refusals
                .iter()
                .filter(|refusal| !self.seen.iter().any(|message| message.ends_with(&format!("for {refusal}"))))
                .collect();
            if missing.is_empty() {
                return;
            }
            match tokio::time::timeout_at(deadline, self.violations.recv()).await {
                Ok(Some(message)) => self.seen.push(message),
                _ => panic!("no permissions violation for {missing:?}; the server reported {:?}", self.seen),
            }
        }
    }
}

fn publish_to(subject: &str) -> String {
    format!("Publish to \"{subject}\"")
}

fn convened(version: u64, previous: Option<&EventEnvelope>) -> EventEnvelope {
    let on = NaiveDate::from_ymd_opt(2022, 3, u32::try_from(version).expect("a small version")).expect("date");
    zhaoshang_tests::joint_meeting("m-1", version, previous, on, &format!("汽车专班联席会第{version}次"))
}

#[tokio::test]
async fn each_nats_user_can_do_its_job_and_nothing_it_must_not() {
    let server = NatsServer::start().await;

    // The command user does what the command service does: creates the
    // stream, appends with an expected last sequence, reads back. The two
    // events exercise the store, not the meeting rules, which allow only one.
    // Credentials in the URL, as an operator configures ZHAOSHANG_NATS_URL.
    let command_url = format!("nats://command:{}@127.0.0.1:{}", server.password("command"), server.port);
    let store = EventStore::connect(EventStoreConfig { nats_url: command_url, ..EventStoreConfig::default() })
        .await
        .expect("the command user creates the stream");
    let first = convened(1, None);
    let second = convened(2, Some(&first));
    assert_eq!(store.append(&first, 0, "meeting:m-1:1").await.expect("first append").sequence, 1);
    assert_eq!(store.append(&second, 1, "meeting:m-1:2").await.expect("second append").sequence, 2);
    assert!(matches!(
        store.append(&second, 1, "meeting:m-1:stale").await,
        Err(EventStoreError::Conflict { expected: 1 })
    ));
    let subject = store.subject("meeting", "m-1");
    assert_eq!(store.last_event(&subject).await.expect("last event").expect("one").sequence, 2);
    let history = store.read_subject_after(&subject, 0).await.expect("message gets read the subject");
    assert_eq!(history.iter().map(|e| e.envelope.id).collect::<Vec<_>>(), vec![first.id, second.id]);
    assert_eq!(store.read_filter("zs.ev.>").await.expect("read by filter").len(), 2);
    assert_eq!(store.get(1).await.expect("get by sequence").envelope.id, first.id);
    assert_eq!(store.last_sequence().await.expect("last sequence"), 2);
    // A restart checks the existing stream instead of creating it.
    EventStore::with_client(server.connect("command").await, EventStoreConfig::default())
        .await
        .expect("the command user checks the stream");

    let mut command = Watched::connect(&server, "command", None).await;
    let stream = command.stream().await;
    let mut unsafe_config = store.config().stream_config();
    unsafe_config.deny_purge = false;
    let (purged, deleted, updated, removed, consumer) = tokio::join!(
        async { stream.purge().await },
        command.jetstream.delete_stream(STREAM),
        command.jetstream.update_stream(unsafe_config),
        stream.delete_message(1),
        stream.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()),
    );
    assert!(purged.is_err() && deleted.is_err() && updated.is_err() && removed.is_err() && consumer.is_err());
    command
        .expect_refused(&[
            publish_to("$JS.API.STREAM.PURGE.ZHAOSHANG"),
            publish_to("$JS.API.STREAM.DELETE.ZHAOSHANG"),
            publish_to("$JS.API.STREAM.UPDATE.ZHAOSHANG"),
            publish_to("$JS.API.STREAM.MSG.DELETE.ZHAOSHANG"),
            publish_to("$JS.API.CONSUMER.CREATE.ZHAOSHANG"),
        ])
        .await;

    // The projector connects as the projector role does (the stream exists
    // already), resets its durable consumer, fetches and acknowledges.
    let mut projector = Watched::connect(&server, "projector", None).await;
    let projector_store = EventStore::with_client(projector.client.clone(), EventStoreConfig::default())
        .await
        .expect("the projector user checks the stream");
    let stream = projector_store.stream();
    assert!(stream.get_consumer::<pull::Config>(PROJECTOR_CONSUMER).await.is_err(), "no consumer yet");
    let consumer_config = pull::Config {
        durable_name: Some(PROJECTOR_CONSUMER.to_owned()),
        filter_subject: projector_store.all_events_filter(),
        ack_policy: AckPolicy::All,
        deliver_policy: DeliverPolicy::All,
        ..Default::default()
    };
    let mut consumer =
        stream.create_consumer(consumer_config.clone()).await.expect("the projector creates its consumer");
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(4000)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .expect("the projector pulls");
    let mut sequences = Vec::new();
    let mut last = None;
    while sequences.len() < 2 {
        let message = messages.next().await.expect("a message").expect("a delivery");
        sequences.push(message.info().expect("metadata").stream_sequence);
        last = Some(message);
    }
    assert_eq!(sequences, vec![1, 2]);
    // With AckPolicy::All one acknowledgement covers both; the double ack
    // waits for the server to confirm it.
    last.expect("the last message").double_ack().await.expect("the projector acknowledges");
    drop(messages);
    let info = consumer.info().await.expect("consumer info");
    assert_eq!((info.ack_floor.stream_sequence, info.num_ack_pending), (2, 0));
    stream.get_consumer::<pull::Config>(PROJECTOR_CONSUMER).await.expect("the projector finds its consumer");
    stream.delete_consumer(PROJECTOR_CONSUMER).await.expect("the projector resets its consumer");
    stream.create_consumer(consumer_config).await.expect("and creates it again");
    let published = async { projector.jetstream.publish("zs.ev.meeting.p", "{}".into()).await?.await };
    assert!(published.await.is_err(), "the projector cannot append");
    projector.expect_refused(&[publish_to("zs.ev.meeting.p")]).await;

    // The digester runs in the projector role: it reads the tree heads
    // published so far, follows the whole stream with an ordered consumer
    // (audit verify and rebuild read the same way), and publishes a signed
    // tree head, creating the tree-head stream the first time.
    assert!(zhaoshang::audit::published_tree_heads(&projector_store).await.expect("reads tree heads").is_empty());
    let mut ordered =
        Box::pin(projector_store.read_in_order(1).await.expect("the projector creates an ordered consumer"));
    let mut leaves = zhaoshang_audit::merkle::Frontier::new();
    for expected in 1..=2 {
        let event = ordered.next().await.expect("a message").expect("a delivery");
        assert_eq!(event.sequence, expected);
        let envelope = EventEnvelope::from_slice(&event.payload).expect("an envelope");
        leaves.push(zhaoshang_audit::chain::event_leaf(&envelope.hash).expect("a hash"));
    }
    drop(ordered);
    let key = zhaoshang_audit::SigningKey::from_bytes(&[7; 32]);
    let head = zhaoshang_audit::tree_head::SignedTreeHead::sign(STREAM, 2, &leaves.root(), Utc::now(), &key);
    let appended = projector_store
        .publish_digest(2, serde_json::to_vec(&head).expect("a tree head serialises"))
        .await
        .expect("the projector publishes a tree head");
    assert!(!appended.duplicate);
    let heads = zhaoshang::audit::published_tree_heads(&projector_store).await.expect("reads tree heads");
    assert_eq!(heads, vec![head]);

    // The dashboard, an external system, reads through its own consumer
    // with an inbox prefix of its own, and cannot change anything.
    let mut dashboard = Watched::connect(&server, "dashboard", Some("_INBOX_dashboard")).await;
    let stream = dashboard.stream().await;
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(DASHBOARD_CONSUMER.to_owned()),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("the dashboard creates its consumer");
    let mut batch =
        consumer.batch().max_messages(2).expires(Duration::from_secs(5)).messages().await.expect("the dashboard pulls");
    let mut read = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.expect("a delivery");
        read.push(EventEnvelope::from_slice(&message.payload).expect("an envelope").id);
        message.double_ack().await.expect("the dashboard acknowledges");
    }
    assert_eq!(read, vec![first.id, second.id]);
    let got = stream.get_raw_message(2).await.expect("the dashboard gets a message by sequence");
    assert_eq!(EventEnvelope::from_slice(&got.payload).expect("an envelope").id, second.id);

    let other_consumer = pull::Config { durable_name: Some("zhaoshang-read-model-y".to_owned()), ..Default::default() };
    let (published, purged, deleted, created, removed, reset) = tokio::join!(
        async { dashboard.jetstream.publish("zs.ev.meeting.x", "{}".into()).await?.await },
        async { stream.purge().await },
        dashboard.jetstream.delete_stream(STREAM),
        stream.create_consumer(other_consumer),
        stream.delete_message(1),
        stream.delete_consumer(PROJECTOR_CONSUMER),
    );
    assert!(published.is_err(), "the dashboard cannot append");
    assert!(purged.is_err(), "the dashboard cannot purge");
    assert!(deleted.is_err(), "the dashboard cannot delete the stream");
    assert!(created.is_err(), "the dashboard cannot create another system's consumer");
    assert!(removed.is_err(), "the dashboard cannot delete a message");
    assert!(reset.is_err(), "the dashboard cannot delete another system's consumer");
    // The subscription is accepted by the client; the server refuses it.
    let _snooping = dashboard.client.subscribe("_INBOX.>").await.expect("the client sends the subscription");
    dashboard
        .expect_refused(&[
            publish_to("zs.ev.meeting.x"),
            publish_to("$JS.API.STREAM.PURGE.ZHAOSHANG"),
            publish_to("$JS.API.STREAM.DELETE.ZHAOSHANG"),
            publish_to("$JS.API.CONSUMER.CREATE.ZHAOSHANG.zhaoshang-read-model-y"),
            publish_to("$JS.API.STREAM.MSG.DELETE.ZHAOSHANG"),
            publish_to("$JS.API.CONSUMER.DELETE.ZHAOSHANG.zhaoshang-read-model-zhaoshang"),
            "Subscription to \"_INBOX.>\"".to_owned(),
        ])
        .await;

    // The projector's ordered-consumer rights name consumers with `*`; the
    // dashboard's consumer is denied to it by name.
    let projector_stream = projector.stream().await;
    let (pulled, reset, taken_over) = tokio::join!(
        projector.client.request(format!("$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{DASHBOARD_CONSUMER}"), "1".into()),
        projector_stream.delete_consumer(DASHBOARD_CONSUMER),
        projector_stream.create_consumer(pull::OrderedConfig {
            name: Some(DASHBOARD_CONSUMER.to_owned()),
            filter_subject: "zs.ev.>".to_owned(),
            ..Default::default()
        }),
    );
    assert!(pulled.is_err(), "the projector cannot pull the dashboard's messages");
    assert!(reset.is_err(), "the projector cannot delete the dashboard's consumer");
    assert!(taken_over.is_err(), "the projector cannot create a consumer under the dashboard's name");
    projector
        .expect_refused(&[
            publish_to("$JS.API.CONSUMER.MSG.NEXT.ZHAOSHANG.dashboard-main"),
            publish_to("$JS.API.CONSUMER.DELETE.ZHAOSHANG.dashboard-main"),
            publish_to("$JS.API.CONSUMER.CREATE.ZHAOSHANG.dashboard-main.zs.ev.>"),
        ])
        .await;

    // After all of it the stream holds exactly the two events.
    let admin = Watched::connect(&server, "admin", None).await;
    let mut stream = admin.stream().await;
    let state = stream.info().await.expect("stream info").state.clone();
    assert_eq!((state.messages, state.first_sequence, state.last_sequence), (2, 1, 2));
    let names: Vec<String> = stream.consumer_names().map(|name| name.expect("a consumer name")).collect().await;
    assert!(names.contains(&PROJECTOR_CONSUMER.to_owned()) && names.contains(&DASHBOARD_CONSUMER.to_owned()));
}

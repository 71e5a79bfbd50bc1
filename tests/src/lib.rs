//! The system-test harness: each test gets its own NATS stream and subject
//! prefix and its own PostgreSQL schema, and a zhaoshang bound to a random
//! port, so tests run in parallel against the real servers and leave nothing
//! behind.

pub mod private_servers;
pub mod replay;

use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use zhaoshang::config::{AuthMode, Config, Secret};
use zhaoshang::system::{self, Role, RunningSystem};
use zhaoshang_http::auth::{Claims, Role as AuthRole};

/// A running system under test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The HTTP client.
    pub client: reqwest::Client,
    /// The configuration it runs with.
    pub config: Config,
    /// The running services.
    pub running: RunningSystem,
}

/// A unique configuration: own stream, subject prefix and schema.
pub fn unique_config() -> Config {
    let id = Uuid::new_v4().simple().to_string();
    Config {
        nats_url: std::env::var("ZHAOSHANG_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
        database_url: std::env::var("ZHAOSHANG_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        schema: format!("test_{id}"),
        stream: format!("TEST_{}", id.to_uppercase()),
        subject_prefix: format!("t{id}.ev"),
        replicas: 1,
        duplicate_window_hours: 1,
        append_batch_max: 256,
        ready_lag: 10_000,
        listen: "127.0.0.1:0".parse().expect("valid address"),
        data_dir: std::env::temp_dir().join("zhaoshang-test"),
        auth_mode: AuthMode::Local,
        jwt_secret: Some(Secret(TEST_SECRET.to_owned())),
        jwks_file: None,
        jwks_url: None,
        jwt_issuer: None,
        jwt_audience: None,
        // Tests write fast on purpose; the rate-limit test sets its own.
        write_rate_per_second: 1_000_000.0,
        write_burst: 1_000_000,
        request_timeout_ms: 40_000,
        signing_key_file: None,
        digest_every_events: 1000,
        digest_every_seconds: 3600,
        log_format: zhaoshang::config::LogFormat::Text,
        projector_max_batch: 4000,
        console_sso_login_url: None,
        console_secure_cookie: false,
    }
}

/// A sealed `meeting.convened` envelope of a joint meeting of the
/// automotive task force: for tests that append to the event store directly.
pub fn joint_meeting(
    meeting_id: &str,
    version: u64,
    previous: Option<&zhaoshang_domain::EventEnvelope>,
    on: chrono::NaiveDate,
    title: &str,
) -> zhaoshang_domain::EventEnvelope {
    use zhaoshang_domain::meeting::{MeetingEvent, RecordMeetingConvened};
    use zhaoshang_domain::values::{MeetingKind, Name, Slug};
    let event = MeetingEvent::Convened(RecordMeetingConvened {
        kind: MeetingKind::Joint,
        task_force_id: Some(Slug::parse("automotive").expect("slug")),
        on,
        title: Name::parse(title).expect("name"),
        attendees: vec![Name::parse("柳州市科学技术局").expect("name")],
        minutes: None,
    });
    let metadata = zhaoshang_domain::EventMetadata {
        actor: TEST_ACTOR.to_owned(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        idempotency_key: None,
        recorded_at: chrono::Utc::now(),
    };
    zhaoshang_domain::EventEnvelope::seal(
        "meeting",
        meeting_id,
        version,
        previous.map(|e| e.hash.clone()),
        &event,
        &metadata,
    )
}

/// The local-mode HS256 secret every test system runs with.
pub const TEST_SECRET: &str = "zhaoshang-tests-local-hs256-secret-not-for-production";

/// The subject of the harness's own token: the actor of every event a test writes through `app.client`.
pub const TEST_ACTOR: &str = "tester";

/// Signs `claims` with the test secret of `config`.
pub fn token_with(config: &Config, claims: &Claims) -> String {
    // The configured secret, else the one a local-mode system keeps under its data directory.
    let secret = zhaoshang::security::local_secret(config, true)
        .expect("the local secret can be read")
        .expect("test systems run in local mode");
    zhaoshang_http::auth::mint_hs256(&secret, claims).expect("sign a test token")
}

/// A valid token of `role` for `task_forces` (subject `<role>-user`), for tests of who may do what.
pub fn token_for(config: &Config, role: AuthRole, task_forces: &[&str]) -> String {
    let now = zhaoshang_http::auth::unix_now();
    let claims = Claims {
        sub: format!("{}-user", role.code()),
        name: None,
        role,
        task_forces: task_forces.iter().map(|s| (*s).to_owned()).collect(),
        exp: now + 3600,
        iat: now,
        iss: None,
        aud: None,
    };
    token_with(config, &claims)
}

/// Starts the services of `role` with a fresh configuration.
pub async fn spawn(role: Role) -> TestApp {
    spawn_with(unique_config(), role).await
}

/// Starts the services of `role` with `config`.
pub async fn spawn_with(config: Config, role: Role) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
    // A system that fails to start (an error, or a panic such as two routes
    // claiming one path) has already made its stream and schema: remove them
    // before failing the test, since no TestApp will exist to drop.
    let started = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(system::start(
        &config,
        role,
        Some(listener),
        CancellationToken::new(),
    )))
    .await;
    let running = match started {
        Ok(Ok(running)) => running,
        Ok(Err(error)) => {
            remove_test_data(&config).await;
            panic!("the system does not start: {error:#}");
        }
        Err(panic) => {
            remove_test_data(&config).await;
            std::panic::resume_unwind(panic);
        }
    };
    let base = running.address.map(|a| format!("http://{a}")).unwrap_or_default();
    TestApp { base, client: client_for(&config), config, running }
}

/// Waits until `read_model` has applied the stream up to `at_least`, woken by
/// the projector's own checkpoint `NOTIFY`s rather than by polling, and fails
/// the test (naming `what`) after a minute. The checkpoint is read again after
/// every notification and at least once a second, so a notification lost
/// while PostgreSQL was restarting does not leave the wait hanging.
pub async fn wait_for_checkpoint(read_model: &zhaoshang_read_model::ReadModel, at_least: u64, what: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut listener = None;
    loop {
        if listener.is_none() {
            if let Ok(mut l) = sqlx::postgres::PgListener::connect_with(read_model.pool()).await {
                if l.listen(&read_model.notify_channel()).await.is_ok() {
                    listener = Some(l);
                }
            }
        }
        if read_model.checkpoint().await.is_ok_and(|c| c >= at_least) {
            return;
        }
        let now = tokio::time::Instant::now();
        assert!(now < deadline, "timed out waiting until {what}");
        let wake = (deadline - now).min(std::time::Duration::from_secs(1));
        match &mut listener {
            Some(l) => {
                if let Ok(Err(_)) = tokio::time::timeout(wake, l.recv()).await {
                    listener = None;
                }
            }
            None => tokio::time::sleep(wake.min(std::time::Duration::from_millis(100))).await,
        }
    }
}

/// An HTTP client for a system running with `config`. Every test that talks
/// HTTP to zhaoshang builds its client here, so that what every request must
/// carry (credentials, once the API asks for them) is added in one place.
pub fn client_for(config: &Config) -> reqwest::Client {
    let now = zhaoshang_http::auth::unix_now();
    let claims = Claims {
        sub: TEST_ACTOR.to_owned(),
        name: Some("系统测试".to_owned()),
        role: AuthRole::Admin,
        task_forces: vec![],
        exp: now + 24 * 3600,
        iat: now,
        iss: None,
        aud: None,
    };
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {}", token_with(config, &claims));
    headers.insert(reqwest::header::AUTHORIZATION, value.parse().expect("a token is a valid header value"));
    reqwest::Client::builder().default_headers(headers).build().expect("an HTTP client")
}

/// An HTTP client that carries no token, for tests of what is refused
/// without one (and for sending a token of the test's choosing).
pub fn client_without_token() -> reqwest::Client {
    reqwest::Client::builder().build().expect("an HTTP client")
}

/// Starts everything and loads the 2022–2024 plan.
pub async fn spawn_with_plan() -> TestApp {
    let app = spawn(Role::All).await;
    let command = app.running.command.clone().expect("command service runs");
    zhaoshang::plan_file::load(&command, zhaoshang::plan_file::PLAN_2022_2024, "test").await.expect("plan loads");
    app
}

/// A response: status, body and headers.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The JSON body (Null when empty or not JSON).
    pub body: Value,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The consistency token of an accepted command.
    pub fn sequence(&self) -> u64 {
        self.body["sequence"].as_u64().unwrap_or_else(|| panic!("no sequence in {} {}", self.status, self.body))
    }
}

impl TestApp {
    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request is sent");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Answer { status, body, headers }
    }

    /// POSTs a command, with optional idempotency key and expected version.
    pub async fn command(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        key: Option<&str>,
        if_match: Option<u64>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut request = if method == "put" { self.client.put(url) } else { self.client.post(url) };
        request = request.json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(version) = if_match {
            request = request.header("if-match", format!("\"{version}\""));
        }
        self.send(request).await
    }

    /// POSTs a command that must be accepted, and returns its answer.
    pub async fn post_ok(&self, path: &str, body: &Value) -> Answer {
        let answer = self.command("post", path, body, None, None).await;
        assert!(answer.status.is_success(), "POST {path} failed: {} {}", answer.status, answer.body);
        answer
    }

    /// GETs a path, waiting for the read models to reach `token` first.
    pub async fn get(&self, path: &str, token: Option<u64>) -> Answer {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = match token {
            Some(t) => format!("{}{path}{separator}consistent_with={t}&wait_ms=10000", self.base),
            None => format!("{}{path}", self.base),
        };
        self.send(self.client.get(url)).await
    }

    /// How many events the test's stream holds.
    pub async fn events_in_stream(&self) -> u64 {
        self.running.store.last_sequence().await.expect("stream info")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.running.shutdown.cancel();
        for task in &self.running.tasks {
            task.abort();
        }
        // Drop cannot await, and the test's runtime is blocked while it
        // runs: clean up on a thread with a runtime and connections of its own.
        let config = self.config.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(remove_test_data(&config));
        });
        let _ = cleanup.join();
    }
}

/// Deletes a test's stream and schema.
pub async fn remove_test_data(config: &Config) {
    use sqlx::Connection as _;
    if let Ok(client) = async_nats::connect(&config.nats_url).await {
        let jetstream = async_nats::jetstream::new(client);
        if let Err(error) = jetstream.delete_stream(&config.stream).await {
            eprintln!("could not delete test stream {}: {error}", config.stream);
        }
        // The tree-head stream exists only once a tree head was signed.
        let _ = jetstream.delete_stream(zhaoshang_event_store::audit::digest_stream_name(&config.stream)).await;
    }
    match sqlx::PgConnection::connect(&config.database_url).await {
        Ok(mut connection) => {
            // The test's own connections may sit in an aborted transaction
            // that their (now blocked) runtime will never roll back.
            let terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1";
            let name = zhaoshang_read_model::ReadModel::application_name(&config.schema);
            let _ = sqlx::query(terminate).bind(name).execute(&mut connection).await;
            for schema in [config.schema.clone(), format!("{}_keys", config.schema)] {
                let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                if let Err(error) = sqlx::query(&drop).execute(&mut connection).await {
                    eprintln!("could not drop test schema {schema}: {error}");
                }
            }
        }
        Err(error) => eprintln!("could not connect to drop test schema {}: {error}", config.schema),
    }
}

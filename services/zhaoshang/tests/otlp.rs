//! With the `otlp` feature, the binary exports its spans over OTLP/HTTP to
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, the request's correlation id among their
//! attributes. Run with `cargo test -p zhaoshang --features otlp --test otlp`
//! (CI does); without the feature this file is empty.
#![cfg(feature = "otlp")]

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::json;
use zhaoshang_tests::{client_for, remove_test_data, unique_config};

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn spans_with_the_correlation_id_reach_the_otlp_collector() {
    // A stand-in collector that keeps every body posted to /v1/traces.
    let received: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let collector = Router::new()
        .route(
            "/v1/traces",
            post(|State(received): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move {
                received.lock().expect("not poisoned").push(body);
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let collector_address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let config = unique_config();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("address").port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_zhaoshang"))
        .args(["serve", "--role", "command"])
        .env("ZHAOSHANG_NATS_URL", &config.nats_url)
        .env("ZHAOSHANG_DATABASE_URL", &config.database_url)
        .env("ZHAOSHANG_SCHEMA", &config.schema)
        .env("ZHAOSHANG_STREAM", &config.stream)
        .env("ZHAOSHANG_SUBJECT_PREFIX", &config.subject_prefix)
        .env("ZHAOSHANG_LISTEN", format!("127.0.0.1:{port}"))
        // The secret the test client's token is signed with.
        .env("ZHAOSHANG_JWT_SECRET", zhaoshang_tests::TEST_SECRET)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector_address}"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("zhaoshang starts");

    let client = client_for(&config);
    let correlation_id = "0190b8a0-1111-7000-8000-00000000abcd";
    let lead = json!({"task_force_id": "automotive", "name": "追踪项目", "investor": "投资方",
                      "category": "industrial", "owner": "李荣军", "on": "2022-01-10"});
    let deadline = Instant::now() + DEADLINE;
    let answer = loop {
        let sent = client
            .put(format!("http://127.0.0.1:{port}/api/v1/projects/traced-1"))
            .header("x-correlation-id", correlation_id)
            .json(&lead)
            .send()
            .await;
        match sent {
            Ok(answer) => break answer,
            Err(_) => {
                assert!(Instant::now() < deadline, "zhaoshang never answered");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(answer.status(), 201);

    // SIGTERM: the process stops gracefully and flushes the queued spans.
    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("kill");
    assert!(status.success());
    loop {
        if let Some(status) = server.try_wait().expect("status") {
            assert!(status.success(), "zhaoshang exits cleanly: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "zhaoshang did not stop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let bodies = received.lock().expect("not poisoned").clone();
    assert!(!bodies.is_empty(), "no spans were exported");
    // Protobuf keeps strings as they are: the id is in the exported attributes.
    let found = bodies.iter().any(|body| body.windows(correlation_id.len()).any(|w| w == correlation_id.as_bytes()));
    assert!(found, "the correlation id is in no exported span");
    remove_test_data(&config).await;
}

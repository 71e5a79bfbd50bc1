//! `zhaoshang up` on a machine whose NATS and PostgreSQL do not answer:
//! it starts its own under its data directory.

use serde_json::json;
use zhaoshang::system::Role;
use zhaoshang_tests::private_servers::free_port;
use zhaoshang_tests::{spawn_with, unique_config};

#[tokio::test]
async fn silent_local_servers_are_started_under_the_data_directory() {
    let data_dir = std::env::temp_dir().join(format!("zhaoshang-local-{}", uuid::Uuid::new_v4().simple()));
    let mut config = unique_config();
    config.nats_url = format!("nats://127.0.0.1:{}", free_port());
    config.database_url = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
    config.data_dir = data_dir.clone();

    let servers = zhaoshang::infra::ensure(&config).await.expect("local servers start");
    assert!(servers.started_any());
    assert!(data_dir.join("nats").is_dir(), "JetStream keeps its store under the data directory");
    assert!(data_dir.join("pg").join("PG_VERSION").is_file(), "PostgreSQL's cluster is under the data directory");

    let app = spawn_with(config.clone(), Role::All).await;
    let answer = app
        .post_ok("/api/v1/meetings", &json!({"kind": "monthly_report", "on": "2022-01-05", "title": "一月汇报会"}))
        .await;
    let meetings = app.get("/api/v1/meetings", Some(answer.sequence())).await;
    assert_eq!(meetings.body[0]["title"], "一月汇报会");
    drop(app);

    // Asked again while they answer, it starts nothing.
    let again = zhaoshang::infra::ensure(&config).await.expect("ensure again");
    assert!(!again.started_any());
    servers.stop().await.expect("local servers stop");
    let _ = std::fs::remove_dir_all(&data_dir);
}

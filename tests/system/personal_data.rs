//! Personal data (个人信息保护法): contact details are sealed in events,
//! shown in clear only to those entitled (and every such read recorded),
//! and gone for good once the person is erased, while the hash chain holds.

use serde_json::{Value, json};
use uuid::Uuid;
use zhaoshang_http::auth::Role;
use zhaoshang_read_model::personal_data::KeyStore;
use zhaoshang_tests::{TestApp, client_without_token, spawn_with_plan, token_for};

const PHONE: &str = "0772-2681234";
const EMAIL: &str = "zeng.zhiyong@kjj.example.cn";

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value, String) {
    let url = format!("{}{path}", app.base);
    let client = client_without_token();
    let mut request = if method == "get" { client.get(url) } else { client.post(url) };
    request = request.bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

fn keys(app: &TestApp) -> KeyStore {
    KeyStore::new(app.running.read_model.pool().clone(), &app.config.schema)
}

#[tokio::test]
async fn contact_details_are_sealed_shown_only_to_those_entitled_and_erased_for_good() {
    let app = spawn_with_plan().await;
    let member = token_for(&app.config, Role::TaskForce, &["automotive"]);
    let other_member = token_for(&app.config, Role::TaskForce, &["biomedicine"]);
    let office = token_for(&app.config, Role::Office, &[]);
    let subscriber = token_for(&app.config, Role::Subscriber, &[]);
    let contacts = "/api/v1/task-forces/automotive/liaison-contacts";
    let body = json!({"name": "曾智勇", "phone": PHONE, "email": EMAIL, "on": "2022-10-24"});

    // Another task force's member may not record it, and no key is made for them.
    let before = app.events_in_stream().await;
    let (status, problem, _) = call(&app, "post", contacts, &other_member, Some(&body)).await;
    assert_eq!((status, problem["rule"].as_str()), (403, Some("own_task_force_only")));
    assert_eq!(app.events_in_stream().await, before);

    let (status, accepted, _) = call(&app, "post", contacts, &member, Some(&body)).await;
    assert_eq!(status, 201, "{accepted}");
    let sequence = accepted["sequence"].as_u64().expect("sequence");
    let stored = app.running.store.get(sequence).await.expect("the event");
    let published = String::from_utf8(stored.envelope.to_vec()).expect("utf-8");
    assert!(!published.contains("2681234") && !published.contains("zeng.zhiyong"), "{published}");
    assert_eq!(stored.envelope.data["contact"]["algorithm"], "AES-256-GCM");
    assert_eq!(stored.envelope.actor, "task_force-user");
    let person: Uuid = serde_json::from_value(stored.envelope.data["person_id"].clone()).expect("person id");

    // The office and the task force's own members read it in clear; each read is recorded.
    for token in [&office, &member] {
        let (status, list, _) = call(&app, "get", contacts, token, None).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list[0]["contact"]["phone"], PHONE);
        assert_eq!(list[0]["contact"]["email"], EMAIL);
        assert!(list[0].get("sealed").is_none());
    }
    assert_eq!(keys(&app).reads_of(person).await.expect("reads"), 2);
    // Anyone else sees ciphertext only, and such a read is not one in clear.
    for token in [&subscriber, &other_member] {
        let (status, list, text) = call(&app, "get", contacts, token, None).await;
        assert_eq!(status, 200);
        assert!(!text.contains("2681234") && !text.contains("zeng.zhiyong"), "{text}");
        assert!(list[0]["sealed"]["ciphertext"].is_string());
        assert!(list[0].get("contact").is_none());
    }
    assert_eq!(keys(&app).reads_of(person).await.expect("reads"), 2);
    // The read models hold no personal data at all, not even sealed.
    let leaked: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {}.event_log WHERE data::text LIKE '%2681234%' OR data::text LIKE '%zeng.zhiyong%'",
        app.config.schema
    ))
    .fetch_one(app.running.read_model.pool())
    .await
    .expect("count");
    assert_eq!(leaked, 0);

    // Erasure is the office's: a member may not, the office may.
    let erasure = json!({"person_id": person, "on": "2024-12-31", "reason": "本人申请删除个人联系方式"});
    let erasures = "/api/v1/task-forces/automotive/liaison-contact-erasures";
    let (status, problem, _) = call(&app, "post", erasures, &member, Some(&erasure)).await;
    assert_eq!((status, problem["rule"].as_str()), (403, Some("office_only")));
    assert!(keys(&app).existing_key(person).await.expect("key").is_some(), "a refused erasure destroys nothing");
    let (status, erased, _) = call(&app, "post", erasures, &office, Some(&erasure)).await;
    assert_eq!(status, 201, "{erased}");
    assert!(keys(&app).existing_key(person).await.expect("key").is_none(), "the data key is destroyed");

    // No API shows the details any more, to anyone.
    for token in [&office, &member, &subscriber] {
        let (status, list, text) = call(&app, "get", contacts, token, None).await;
        assert_eq!(status, 200);
        assert_eq!(list[0]["erased"], true);
        assert!(list[0].get("contact").is_none() && list[0].get("sealed").is_none(), "{text}");
    }

    // A replay of the stream finds the ciphertext, which no key opens any
    // more, and every event's hash and the chain still verify.
    let subject = app.running.store.subject("task_force", "automotive");
    let history = app.running.store.read_subject_after(&subject, 0).await.expect("history");
    let mut previous: Option<String> = None;
    let mut sealed_seen = 0;
    for event in &history {
        assert_eq!(event.envelope.compute_hash(), event.envelope.hash, "event {} hashes as it did", event.sequence);
        assert_eq!(event.envelope.prevhash, previous, "the chain links at {}", event.sequence);
        previous = Some(event.envelope.hash.clone());
        if event.envelope.short_type() == "task_force.liaison_contact_recorded.v1" {
            sealed_seen += 1;
            let key_id: Uuid = serde_json::from_value(event.envelope.data["contact"]["key_id"].clone()).expect("uuid");
            assert!(keys(&app).existing_key(key_id).await.expect("key").is_none());
        }
    }
    assert_eq!(sealed_seen, 1);

    // And the auditors' check passes: every hash, link and tree head, and the
    // read models rebuilt from the stream equal the live ones row by row.
    let options = zhaoshang::audit::VerifyOptions { progress: false, ..Default::default() };
    let report = zhaoshang::audit::verify(&app.config, &options).await.expect("audit verify runs");
    assert_eq!(report.finding.map(|f| f.to_string()), None, "audit verify passes after an erasure");
}

#[tokio::test]
async fn bad_contact_details_are_refused_with_their_field_and_rule_and_nothing_is_written() {
    let app = spawn_with_plan().await;
    let office = token_for(&app.config, Role::Office, &[]);
    let contacts = "/api/v1/task-forces/automotive/liaison-contacts";
    let before = app.events_in_stream().await;
    let cases = [
        (json!({"name": "曾智勇", "phone": "call me maybe", "on": "2022-10-24"}), "phone", "phone_format"),
        (json!({"name": "曾智勇", "email": "not-an-email", "on": "2022-10-24"}), "email", "email_format"),
        (json!({"name": "曾智勇", "on": "2022-10-24"}), "phone", "contact_required"),
        (json!({"name": "曾智勇", "phone": "0772-1", "on": "2999-01-01"}), "on", "not_in_future"),
        (json!({"name": " ", "phone": "0772-1", "on": "2022-10-24"}), "name", "required_text"),
    ];
    for (body, field, rule) in cases {
        let (status, problem, _) = call(&app, "post", contacts, &office, Some(&body)).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        assert_eq!(problem["errors"][0]["rule"], rule, "{problem}");
    }
    // Erasing someone never recorded is refused too.
    let erasure = json!({"person_id": Uuid::now_v7(), "on": "2024-12-31", "reason": "测试"});
    let (status, problem, _) =
        call(&app, "post", "/api/v1/task-forces/automotive/liaison-contact-erasures", &office, Some(&erasure)).await;
    assert_eq!((status, problem["errors"][0]["rule"].as_str()), (422, Some("known_person")), "{problem}");
    assert_eq!(app.events_in_stream().await, before);
}

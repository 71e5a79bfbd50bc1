//! Group commit: appends made at the same time may travel to JetStream as
//! one atomic batch (nats-server 2.12 or later), and each must still mean
//! exactly what it means alone: its own sequence, its own conflict, its own
//! duplicate. This runs in both CI passes: on nats-server 2.9 appends go one
//! by one, on the current release they go together.

use chrono::NaiveDate;
use zhaoshang::system::Role;
use zhaoshang_domain::EventEnvelope;
use zhaoshang_event_store::{Appended, EventStoreError};
use zhaoshang_tests::spawn;

fn convened(meeting: &str, title: &str) -> EventEnvelope {
    zhaoshang_tests::joint_meeting(meeting, 1, None, NaiveDate::from_ymd_opt(2023, 3, 1).expect("date"), title)
}

#[tokio::test]
async fn appends_made_together_are_each_stored_answered_and_refused_as_if_alone() {
    let app = spawn(Role::Command).await;
    let store = app.running.store.clone();
    let version = store.client().server_info().version;
    let (major, minor) = {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    assert_eq!(store.groups_appends(), (major, minor) >= (2, 12), "group commit on nats-server {version}");

    // 200 new meetings at once: no two on one subject.
    let first: Vec<EventEnvelope> = (0..200).map(|i| convened(&format!("g-{i}"), &format!("联席会{i}"))).collect();
    let ids: Vec<String> = (0..200).map(|i| format!("first-{i}")).collect();
    let answers = futures::future::join_all(first.iter().zip(&ids).map(|(e, id)| store.append(e, 0, id))).await;
    let mut sequences = Vec::new();
    for (envelope, answer) in first.iter().zip(answers) {
        let Appended { sequence, duplicate } = answer.expect("a new aggregate's first event is accepted");
        assert!(!duplicate);
        assert_eq!(
            store.get(sequence).await.expect("stored").envelope.id,
            envelope.id,
            "each answer names its own event"
        );
        sequences.push(sequence);
    }
    let first_sequences = sequences.clone();
    sequences.sort_unstable();
    assert_eq!(sequences, (1..=200).collect::<Vec<u64>>(), "200 events, each once");
    if store.groups_appends() {
        assert!(store.appends_stored_together() >= 100, "most travelled together: {}", store.appends_stored_together());
    } else {
        assert_eq!(store.appends_stored_together(), 0);
    }

    // Then, at once: rivals (two appends expecting the same empty subject),
    // re-sends of accepted appends (same message id), and plain appends. A
    // batch holding a rival or a re-send is refused whole; each append is
    // then answered on its own.
    let rivals: Vec<(EventEnvelope, EventEnvelope)> =
        (0..20).map(|i| (convened(&format!("r-{i}"), "甲方会议"), convened(&format!("r-{i}"), "乙方会议"))).collect();
    let plain: Vec<EventEnvelope> = (0..20).map(|i| convened(&format!("p-{i}"), "普通会议")).collect();
    let mut appends = Vec::new();
    for (i, (a, b)) in rivals.iter().enumerate() {
        appends.push((a, 0, format!("rival-a-{i}")));
        appends.push((b, 0, format!("rival-b-{i}")));
    }
    // A re-send expects what the stream holds now, its own first copy:
    // nats-server 2.12 and later check the expected sequence before the
    // message id, 2.9 the other way round; so both recognise it only then.
    for (i, e) in first.iter().take(20).enumerate() {
        appends.push((e, first_sequences[i], format!("first-{i}")));
    }
    for (i, e) in plain.iter().enumerate() {
        appends.push((e, 0, format!("plain-{i}")));
    }
    let answers: Vec<Result<Appended, EventStoreError>> =
        futures::future::join_all(appends.iter().map(|(e, expected, id)| store.append(e, *expected, id))).await;

    for (i, pair) in answers[..40].chunks(2).enumerate() {
        let won: Vec<&Appended> = pair.iter().filter_map(|a| a.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "exactly one of rivals {i} wins: {pair:?}");
        assert!(
            pair.iter().any(|a| matches!(a, Err(EventStoreError::Conflict { expected: 0 }))),
            "the other is told of the conflict: {pair:?}"
        );
        let winner = if pair[0].is_ok() { &rivals[i].0 } else { &rivals[i].1 };
        assert_eq!(store.get(won[0].sequence).await.expect("stored").envelope.id, winner.id);
    }
    for (i, answer) in answers[40..60].iter().enumerate() {
        let answer = answer.as_ref().expect("a re-send is answered");
        assert!(answer.duplicate, "a re-send is recognised: {answer:?}");
        assert_eq!(answer.sequence, first_sequences[i], "with the first append's sequence");
    }
    for (e, answer) in plain.iter().zip(&answers[60..]) {
        let answer = answer.as_ref().expect("a plain append next to rivals is accepted");
        assert!(!answer.duplicate);
        assert_eq!(store.get(answer.sequence).await.expect("stored").envelope.id, e.id);
    }
    // Nothing more was stored than was acknowledged.
    assert_eq!(store.last_sequence().await.expect("last sequence"), 200 + 20 + 20);
}

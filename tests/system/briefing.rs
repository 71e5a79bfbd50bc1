//! Publishing the quarterly briefing records the hash of what was published
//! and counts the quarter in 附件1.

use serde_json::json;
use zhaoshang_tests::spawn_with_plan;

#[tokio::test]
async fn publishing_a_briefing_records_its_hash_and_counts_the_quarter() {
    let app = spawn_with_plan().await;
    let token = app.events_in_stream().await;
    let rendered = app.get("/api/v1/briefings/2023-Q1?format=md", Some(token)).await;
    assert_eq!(rendered.status, 200);
    let header = |name: &str| {
        rendered.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name}")).to_owned()
    };
    let hash = header("x-content-sha256");
    let as_of: u64 = header("x-as-of-sequence").parse().expect("a sequence");
    let publication = json!({"year": 2023, "quarter": 1, "title": "科技招商工作简报（2023年第1期）",
        "content_sha256": hash, "as_of_sequence": as_of, "on": "2023-04-06"});

    let wrong_id = app.command("put", "/api/v1/briefings/2023-q2", &publication, None, None).await;
    assert_eq!(wrong_id.status, 422, "{}", wrong_id.body);
    assert_eq!(wrong_id.body["errors"][0]["rule"], "briefing_id_matches_quarter");
    let mut bad_hash = publication.clone();
    bad_hash["content_sha256"] = json!("ABC");
    let refused = app.command("put", "/api/v1/briefings/2023-q1", &bad_hash, None, None).await;
    assert_eq!(refused.body["errors"][0]["field"], "content_sha256", "{}", refused.body);
    assert_eq!(app.events_in_stream().await, token, "refused publications wrote nothing");

    let published = app.command("put", "/api/v1/briefings/2023-q1", &publication, None, None).await;
    assert_eq!(published.status, 201, "{}", published.body);
    assert_eq!(published.body["event_type"], "cn.gov.liuzhou.kjj.zhaoshang.briefing.published.v1");
    let table = app.get("/api/v1/progress?year=2023", Some(published.sequence())).await.body;
    let cell = table["total"]["cells"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["measure"] == "briefing_quarters"))
        .expect("briefings are counted");
    assert_eq!((cell["actual"].as_u64(), cell["target"].as_u64()), (Some(1), Some(4)));

    let same = app.command("put", "/api/v1/briefings/2023-q1", &publication, None, None).await;
    assert_eq!(same.body["rule"], "already_published", "{}", same.body);
    let mut corrected = publication.clone();
    corrected["content_sha256"] = json!("0".repeat(64));
    let no_reason = app.command("put", "/api/v1/briefings/2023-q1", &corrected, None, None).await;
    assert_eq!(no_reason.body["errors"][0]["rule"], "correction_reason_required", "{}", no_reason.body);
    corrected["correction"] = json!("更正签约金额");
    let republished = app.command("put", "/api/v1/briefings/2023-q1", &corrected, None, None).await;
    assert_eq!(republished.body["event_type"], "cn.gov.liuzhou.kjj.zhaoshang.briefing.republished.v1");
    let table = app.get("/api/v1/progress?year=2023", Some(republished.sequence())).await.body;
    let cell = table["total"]["cells"].as_array().and_then(|c| c.iter().find(|c| c["measure"] == "briefing_quarters"));
    assert_eq!(cell.expect("cell")["actual"], 1, "a republication is the same quarter");
}

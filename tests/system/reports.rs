//! The plan's three attachments and the quarterly briefing, downloaded and
//! read back: XLSX through calamine (and its raw parts for frozen panes and
//! column widths), CSV through the csv crate, JSON against /api/v1/progress.

use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::NaiveDate;
use serde_json::{Value, json};
use zhaoshang_tests::{TestApp, spawn_with_plan};

/// A raw download: status, headers, body bytes.
struct Download {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

async fn download(app: &TestApp, path: &str, token: u64) -> Download {
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{separator}consistent_with={token}&wait_ms=10000", app.base);
    let response = app.client.get(url).send().await.expect("request is sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body").to_vec();
    Download { status, headers, bytes }
}

fn header<'a>(d: &'a Download, name: &str) -> &'a str {
    d.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
}

/// Records the facts the reports print, and returns the last consistency token.
async fn record_facts(app: &TestApp) -> u64 {
    let lead = |tf: &str, name: &str, category: &str, planned: i64| {
        json!({"task_force_id": tf, "name": name, "investor": format!("{name}投资方"), "category": category,
               "owner": "李荣军", "planned_investment_yuan": planned, "on": "2022-01-05"})
    };
    app.command(
        "put",
        "/api/v1/projects/p1",
        &lead("automotive", "新能源汽车零部件项目", "industrial", 150_000_000),
        None,
        None,
    )
    .await
    .sequence();
    app.post_ok("/api/v1/projects/p1/negotiation", &json!({"on": "2022-01-15"})).await;
    app.post_ok(
        "/api/v1/projects/p1/signings",
        &json!({"on": "2022-02-10", "agreement": "contract", "investment_yuan": 120_000_000}),
    )
    .await;
    app.post_ok("/api/v1/projects/p1/reserve-entry", &json!({"on": "2022-02-11"})).await;
    app.post_ok("/api/v1/projects/p1/funds-arrivals", &json!({"on": "2022-03-20", "amount_yuan": 30_000_000})).await;
    app.command(
        "put",
        "/api/v1/projects/p2",
        &lead("automotive", "汽车服务平台项目", "service", 40_000_000),
        None,
        None,
    )
    .await
    .sequence();
    app.post_ok("/api/v1/projects/p2/negotiation", &json!({"on": "2022-03-01"})).await;
    app.post_ok("/api/v1/projects/p2/stall", &json!({"on": "2022-03-25", "reason": "用地指标未落实"})).await;
    app.command(
        "put",
        "/api/v1/projects/p3",
        &lead("machinery", "智能装备服务项目", "service", 60_000_000),
        None,
        None,
    )
    .await
    .sequence();
    app.post_ok("/api/v1/projects/p3/negotiation", &json!({"on": "2022-03-02"})).await;
    app.post_ok(
        "/api/v1/projects/p3/signings",
        &json!({"on": "2022-04-01", "agreement": "framework", "investment_yuan": 60_000_000}),
    )
    .await;

    let e = |name: &str, role: &str| json!({"name": name, "role": role});
    app.post_ok("/api/v1/activities/held", &json!({"task_force_id": "automotive", "kind": "going_out", "title": "赴上海汽车产业链招商", "on": "2022-03-01", "led_by_principal_leader": true, "destination_cities": ["上海"]})).await;
    app.post_ok("/api/v1/activities/held", &json!({"task_force_id": "machinery", "kind": "inviting_in", "title": "装备企业来柳考察", "on": "2022-02-15", "enterprises": [e("目标企业甲", "target"), e("目标企业乙", "target")]})).await;
    let meeting = |kind: &str, tf: Option<&str>, date: &str, title: &str| json!({"kind": kind, "task_force_id": tf, "on": date, "title": title});
    app.post_ok("/api/v1/meetings", &meeting("joint", Some("automotive"), "2022-03-10", "汽车专班一季度联席会")).await;
    app.post_ok("/api/v1/meetings", &meeting("monthly_report", None, "2022-01-05", "一月招商工作汇报会")).await;
    app.post_ok(
        "/api/v1/task-forces/automotive/dockings",
        &json!({"enterprise": "目标企业丙", "enterprise_role": "target", "method": "going_out", "on": "2022-03-05"}),
    )
    .await;
    app.post_ok(
        "/api/v1/task-forces/automotive/liaison",
        &json!({"name": "张联络", "department": "市科学技术局重大专项科", "on": "2022-10-20"}),
    )
    .await
    .sequence()
}

fn workbook(bytes: &[u8]) -> Xlsx<Cursor<Vec<u8>>> {
    open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("a readable XLSX")
}

fn text(range: &calamine::Range<Data>, row: u32, col: u32) -> String {
    match range.get_value((row, col)) {
        Some(Data::String(s)) => s.clone(),
        Some(Data::Empty) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn number(range: &calamine::Range<Data>, row: u32, col: u32) -> Option<f64> {
    match range.get_value((row, col)) {
        Some(Data::Float(f)) => Some(*f),
        Some(Data::Int(i)) => Some(*i as f64),
        Some(Data::DateTime(d)) => Some(d.as_f64()),
        _ => None,
    }
}

/// The worksheet's own XML, for what calamine does not read.
fn sheet_xml(bytes: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).expect("an XLSX is a zip");
    let mut part = archive.by_name("xl/worksheets/sheet1.xml").expect("first worksheet");
    let mut xml = String::new();
    part.read_to_string(&mut xml).expect("UTF-8 XML");
    xml
}

/// The width of a column (1-based) as the worksheet XML declares it.
fn column_width(xml: &str, column: u32) -> f64 {
    let tag = format!(r#"<col min="{column}" max="{column}" width=""#);
    let start = xml.find(&tag).unwrap_or_else(|| panic!("no width for column {column}")) + tag.len();
    xml[start..].split('"').next().and_then(|w| w.parse().ok()).expect("a number")
}

/// Excel's serial number of a date (days since 1899-12-30).
fn serial(date: &str) -> f64 {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date");
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("epoch");
    (day - epoch).num_days() as f64
}

fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "CSV starts with a UTF-8 byte-order mark");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(&bytes[3..]);
    reader.records().map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect()).collect()
}

#[tokio::test]
async fn the_three_attachments_download_as_the_plan_heads_them() {
    let app = spawn_with_plan().await;
    let token = record_facts(&app).await;

    // 附件1 as JSON is the progress table itself.
    let json1 = download(&app, "/api/v1/reports/attachment-1?year=2022&format=json", token).await;
    assert_eq!(json1.status, 200);
    let progress = app.get("/api/v1/progress?year=2022", Some(token)).await.body;
    let from_report: Value = serde_json::from_slice(&json1.bytes).expect("JSON");
    assert_eq!(from_report, progress);

    // 附件1 as XLSX: title, two-level header, every figure as in the JSON, totals row.
    let x1 = download(&app, "/api/v1/reports/attachment-1?year=2022", token).await;
    assert_eq!(x1.status, 200);
    assert_eq!(header(&x1, "content-type"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let disposition = header(&x1, "content-disposition");
    assert!(disposition.contains("filename=\"attachment-1-progress-2022.xlsx\""), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E9%99%84%E4%BB%B61_"),
        "the Chinese name is RFC 5987-encoded: {disposition}"
    );
    let again = download(&app, "/api/v1/reports/attachment-1?year=2022", token).await;
    assert_eq!(again.bytes, x1.bytes, "the same data gives the same file, byte for byte");
    let mut book = workbook(&x1.bytes);
    let range = book.worksheet_range("附件1 进度统计表").expect("the sheet");
    assert_eq!(text(&range, 0, 0), "附件1");
    assert_eq!(text(&range, 1, 0), "科技系统科技招商工作进度统计表");
    assert_eq!((text(&range, 3, 0), text(&range, 3, 1)), ("序号".into(), "专班".into()));
    let measures = progress["measures"].as_array().expect("measures");
    for (j, measure) in measures.iter().enumerate() {
        let col = 2 + 3 * j as u32;
        assert_eq!(text(&range, 3, col), measure["label"].as_str().expect("label"), "group heading {j}");
        assert_eq!(
            (text(&range, 4, col), text(&range, 4, col + 1), text(&range, 4, col + 2)),
            ("目标".into(), "完成".into(), "差距".into())
        );
    }
    let rows = progress["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 8);
    for (i, row) in rows.iter().chain([&progress["total"]]).enumerate() {
        let r = 5 + i as u32;
        assert_eq!(text(&range, r, 1), row["name"].as_str().expect("name"));
        for (j, measure) in measures.iter().enumerate() {
            let col = 2 + 3 * j as u32;
            let cell = row["cells"].as_array().expect("cells").iter().find(|c| c["measure"] == measure["code"]);
            let expected = |key: &str| cell.and_then(|c| c[key].as_f64());
            assert_eq!(number(&range, r, col), expected("target"), "{} {} target", row["name"], measure["code"]);
            assert_eq!(number(&range, r, col + 1), expected("actual"), "{} {} actual", row["name"], measure["code"]);
            assert_eq!(number(&range, r, col + 2), expected("gap"), "{} {} gap", row["name"], measure["code"]);
        }
    }
    assert_eq!(text(&range, 13, 1), "合计");
    let led_in = measures.iter().position(|m| m["code"] == "projects_led_in").expect("projects_led_in") as u32;
    assert_eq!(number(&range, 5, 2 + 3 * led_in + 1), Some(1.0), "automotive led in p1");
    assert_eq!(number(&range, 13, 2 + 3 * led_in), Some(5.0), "the system's 2022 target");
    assert_eq!(number(&range, 13, 2 + 3 * led_in + 1), Some(2.0), "p1 and p3");
    let xml = sheet_xml(&x1.bytes);
    assert!(xml.contains(r#"topLeftCell="C6""#) && xml.contains(r#"state="frozen""#), "header and names frozen");
    // 专班 holds 大健康和文旅体育产业链招商专班: 15 CJK characters, each two
    // columns wide, plus a margin of two.
    let width = column_width(&xml, 2);
    assert!((32.0..33.0).contains(&width), "Chinese text counts double: {width}");

    // 附件1 as CSV: one flat header row, the same figures, the totals row last.
    let c1 = download(&app, "/api/v1/reports/attachment-1?year=2022&format=csv", token).await;
    assert_eq!(header(&c1, "content-type"), "text/csv; charset=utf-8");
    let table = csv_rows(&c1.bytes);
    assert_eq!(table.len(), 1 + 8 + 1);
    assert_eq!(table[0][1], "专班");
    assert_eq!(table[0][2], format!("{}·目标", measures[0]["label"].as_str().expect("label")));
    assert_eq!(table[9][1], "合计");
    assert_eq!(table[1][2 + 3 * led_in as usize + 1], "1");
    assert_eq!(table[9][2 + 3 * led_in as usize + 1], "2");

    // 附件2: every project, task forces in the plan's order, amounts in 万元.
    let j2 = download(&app, "/api/v1/reports/attachment-2?format=json", token).await;
    assert_eq!(j2.status, 200);
    let reserve: Value = serde_json::from_slice(&j2.bytes).expect("JSON");
    let ids: Vec<&str> =
        reserve["rows"].as_array().expect("rows").iter().map(|r| r["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["p1", "p2", "p3"]);
    assert_eq!(reserve["total"]["contracted_investment_yuan"], 180_000_000);
    assert_eq!(reserve["total"]["funds_arrived_yuan"], 30_000_000);
    assert_eq!(reserve["total"]["qualifying"], 2);
    assert_eq!(reserve["rows"][1]["problems"], "用地指标未落实");

    let x2 = download(&app, "/api/v1/reports/attachment-2", token).await;
    let mut book = workbook(&x2.bytes);
    let range = book.worksheet_range("附件2 项目储备库").expect("the sheet");
    assert_eq!(text(&range, 1, 0), "科技系统科技招商项目储备库");
    let headings: Vec<String> = (0..24)
        .map(|c| {
            let group_or_heading = text(&range, 4, c);
            if group_or_heading.is_empty() { text(&range, 3, c) } else { group_or_heading }
        })
        .collect();
    for expected in [
        "项目名称",
        "所属产业链",
        "牵头专班",
        "投资方",
        "项目类别",
        "计划投资",
        "签约投资",
        "已到资",
        "资金到位率",
        "当前阶段",
        "负责人（召集人）",
        "首次签约",
        "开工",
        "入库日期",
        "最新进展",
        "存在问题",
    ] {
        assert!(headings.iter().any(|h| h == expected), "附件2 has {expected}: {headings:?}");
    }
    assert_eq!(text(&range, 5, 1), "新能源汽车零部件项目");
    assert_eq!(text(&range, 5, 2), "汽车");
    assert_eq!(text(&range, 5, 5), "工业");
    assert_eq!(number(&range, 5, 7), Some(12_000.0), "signed 120,000,000 yuan = 12,000 万元");
    assert_eq!(number(&range, 5, 8), Some(3_000.0));
    assert_eq!(number(&range, 5, 9), Some(0.25), "funds arrival rate 25 %");
    assert_eq!(number(&range, 5, 16), Some(serial("2022-02-10")), "first signing date");
    assert_eq!(text(&range, 5, 22), "2022-03-20 资金到位");
    assert_eq!(text(&range, 6, 23), "用地指标未落实");
    assert_eq!(text(&range, 7, 3), "机械装备制造产业链招商专班");
    assert_eq!(text(&range, 8, 1), "合计：3 个项目");
    assert_eq!(number(&range, 8, 7), Some(18_000.0));
    assert!(sheet_xml(&x2.bytes).contains(r#"state="frozen""#));

    let c2 = download(&app, "/api/v1/reports/attachment-2?format=csv&task_force=automotive", token).await;
    let table = csv_rows(&c2.bytes);
    assert_eq!(table.len(), 1 + 2 + 1, "header, automotive's two projects, total");
    assert_eq!(table[1][7], "12000");
    assert_eq!(table[3][1], "合计：2 个项目");

    // 附件3: the lead department's liaison of every task force; contacts empty.
    let x3 = download(&app, "/api/v1/reports/attachment-3", token).await;
    let mut book = workbook(&x3.bytes);
    let range = book.worksheet_range("附件3 联络员回执").expect("the sheet");
    assert_eq!(text(&range, 1, 0), "牵头科室联络员回执");
    assert_eq!(text(&range, 3, 4), "联络员");
    assert_eq!(
        (4..9).map(|c| text(&range, 4, c)).collect::<Vec<_>>(),
        ["姓名", "所在科室", "办公电话", "手机", "电子邮箱"]
    );
    assert_eq!(
        (text(&range, 5, 1), text(&range, 5, 3), text(&range, 5, 4), text(&range, 5, 5), text(&range, 5, 7)),
        (
            "汽车产业链招商专班".into(),
            "市科学技术局重大科".into(),
            "张联络".into(),
            "市科学技术局重大专项科".into(),
            String::new()
        )
    );
    assert_eq!(text(&range, 6, 4), "", "machinery has no liaison yet");
    assert_eq!(text(&range, 13, 4), "已明确 1 名");
    let c3 = download(&app, "/api/v1/reports/attachment-3?format=csv", token).await;
    let table = csv_rows(&c3.bytes);
    assert_eq!(
        table[0],
        [
            "序号",
            "专班",
            "召集人",
            "牵头科室",
            "联络员·姓名",
            "联络员·所在科室",
            "联络员·办公电话",
            "联络员·手机",
            "联络员·电子邮箱"
        ]
    );
    assert_eq!(table.len(), 1 + 8 + 1);

    // Bad parameters are refused with the parameter and the rule, as problem+json.
    for (path, field, rule) in [
        ("/api/v1/reports/attachment-1?year=2022&format=pdf", "format", "allowed_values"),
        ("/api/v1/reports/attachment-1", "year", "year_or_period"),
        ("/api/v1/reports/attachment-3?format=json", "format", "allowed_values"),
        ("/api/v1/reports/attachment-2?task_force=nowhere", "task_force", "known_task_force"),
        ("/api/v1/reports/attachment-2?colour=red", "colour", "unknown_parameter"),
        ("/api/v1/briefings/2022-Q5", "quarter", "quarter_format"),
    ] {
        let answer = app.get(path, None).await;
        assert_eq!(answer.status.as_u16(), 422, "{path}: {}", answer.body);
        assert_eq!(answer.headers["content-type"], "application/problem+json");
        assert_eq!(
            (answer.body["errors"][0]["field"].as_str(), answer.body["errors"][0]["rule"].as_str()),
            (Some(field), Some(rule)),
            "{path}"
        );
    }
    let outside = app.get("/api/v1/reports/attachment-1?year=2030", None).await;
    assert_eq!(outside.status.as_u16(), 404, "no plan period covers 2030");
}

#[tokio::test]
async fn the_quarterly_briefing_shows_the_quarter_and_its_hash_is_stable() {
    let app = spawn_with_plan().await;
    let token = record_facts(&app).await;

    let md = download(&app, "/api/v1/briefings/2022-Q1?format=md", token).await;
    assert_eq!(md.status, 200);
    assert_eq!(header(&md, "content-type"), "text/markdown; charset=utf-8");
    let text = String::from_utf8(md.bytes.clone()).expect("UTF-8");
    for expected in [
        "# 科技招商工作简报",
        "2022年第一季度（2022-01-01 至 2022-03-31）",
        // The signing of Q1 with its investment; p3's framework of 1 April is Q2's.
        "| 2022-02-10 | 汽车产业链招商专班 | 新能源汽车零部件项目 | 新能源汽车零部件项目投资方 | 正式合同 | 12000万元 | 是 | 是 |",
        // Negotiations begun in the quarter.
        "| 2022-03-02 | 机械装备制造产业链招商专班 | 智能装备服务项目 |",
        "本季度举办招商活动 2 场，其中“走出去” 1 场（主要领导带队 1 场）、“请进来” 1 场、“不见面” 0 场。",
        "2022-03-10 汽车产业链招商专班 招商工作联席会：汽车专班一季度联席会",
        // Progress per task force: p1 led in against the year's target of one.
        "| 汽车产业链招商专班 | 1/1 |",
        // Progress stops at the quarter's end: machinery's signing of 1 April is not yet counted.
        "| 机械装备制造产业链招商专班 | 0/1 |",
        "| 新引进亿元以上工业项目或5000万元以上服务业项目（个） | 5 | 1 | 4 |",
        // Machinery held no joint meeting in Q1: behind one of four quarters.
        "机械装备制造产业链招商专班：",
        "招商工作联席会（季度） 完成 0，应达 1（全年目标 4）",
    ] {
        assert!(text.contains(expected), "the briefing says {expected:?}:\n{text}");
    }
    assert!(!text.contains("智能装备服务项目投资方 | 框架协议"), "a Q2 signing is not in Q1's briefing");
    let automotive_lags = text.lines().find(|l| l.starts_with("- 汽车产业链招商专班：")).unwrap_or_default();
    assert!(!automotive_lags.contains("新引进"), "automotive has its project: {automotive_lags}");

    let sha = header(&md, "x-content-sha256").to_owned();
    assert_eq!(sha, zhaoshang_query_sha256(&md.bytes), "the header is the SHA-256 of the body");
    let again = download(&app, "/api/v1/briefings/2022-Q1?format=md", token).await;
    assert_eq!(header(&again, "x-content-sha256"), sha, "same data, same hash");
    assert_eq!(again.bytes, md.bytes);

    let html = download(&app, "/api/v1/briefings/2022-Q1?format=html", token).await;
    assert_eq!(header(&html, "content-type"), "text/html; charset=utf-8");
    let page = String::from_utf8(html.bytes.clone()).expect("UTF-8");
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<h1>科技招商工作简报</h1>"));
    assert!(page.contains("<td>新能源汽车零部件项目</td>") && page.contains("<td>12000万元</td>"));
    assert_ne!(header(&html, "x-content-sha256"), sha);

    // A fact of the quarter changes the briefing and its hash.
    let later = app
        .post_ok(
            "/api/v1/meetings",
            &json!({"kind": "joint", "task_force_id": "machinery", "on": "2022-03-30", "title": "机械专班联席会"}),
        )
        .await
        .sequence();
    let changed = download(&app, "/api/v1/briefings/2022-Q1?format=md", later).await;
    assert_ne!(header(&changed, "x-content-sha256"), sha);
    assert!(String::from_utf8_lossy(&changed.bytes).contains("机械专班联席会"));
}

fn zhaoshang_query_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn import_templates_carry_chinese_headings_and_their_rules() {
    let app = spawn_with_plan().await;
    let list = app.get("/api/v1/import-templates", None).await;
    assert_eq!(list.status, 200);
    let templates = list.body.as_array().expect("a list").clone();
    let kinds: Vec<&str> = templates.iter().map(|t| t["kind"].as_str().expect("kind")).collect();
    assert_eq!(
        kinds,
        [
            "project-leads",
            "project-signings",
            "activities",
            "meetings",
            "dockings",
            "service-platforms",
            "expenditures",
            "talent-introductions"
        ]
    );

    // Every column fills a field of its command's body (or the path's id):
    // the templates cannot drift from the commands.
    let openapi = app.get("/openapi.json", None).await.body;
    for template in &templates {
        let (method, path) = template["command"].as_str().expect("command").split_once(' ').expect("METHOD path");
        let schema =
            &openapi["paths"][path][method.to_lowercase()]["requestBody"]["content"]["application/json"]["schema"];
        let name = schema["$ref"].as_str().expect("a schema reference").rsplit('/').next().expect("name");
        let properties = &openapi["components"]["schemas"][name]["properties"];
        for column in template["columns"].as_array().expect("columns") {
            let field = column["field"].as_str().expect("field");
            assert!(field == "id" || properties.get(field).is_some(), "{} fills {field} of {name}", template["kind"]);
        }
    }

    let x = download(&app, "/api/v1/import-templates/project-leads.xlsx", 0).await;
    assert_eq!(x.status, 200);
    assert!(header(&x, "content-disposition").contains("filename=\"import-template-project-leads.xlsx\""));
    let mut book = workbook(&x.bytes);
    let range = book.worksheet_range("项目线索").expect("the sheet");
    assert_eq!(text(&range, 0, 0), "导入模板：项目线索");
    let headings: Vec<String> = (0..8).map(|c| text(&range, 2, c)).collect();
    assert_eq!(
        headings,
        [
            "项目编号",
            "牵头专班编号",
            "项目名称",
            "投资方",
            "项目类别",
            "计划投资（万元）",
            "负责人（召集人）",
            "线索日期"
        ]
    );
    assert!(text(&range, 3, 7).contains("2022-05-01"), "the comment row explains the date rule");
    assert!(sheet_xml(&x.bytes).contains(r#"topLeftCell="A5""#), "headings and rules stay in view");

    for kind in kinds {
        let c = download(&app, &format!("/api/v1/import-templates/{kind}.csv"), 0).await;
        assert_eq!(c.status, 200, "{kind}");
        let rows = csv_rows(&c.bytes);
        assert_eq!(rows.len(), 2, "{kind}: headings and rules, no data");
        assert!(
            rows[1].iter().all(|rule| rule.starts_with("必填") || rule.starts_with("选填") || rule.contains("必填")),
            "{kind}: {:?}",
            rows[1]
        );
    }
    let unknown = app.get("/api/v1/import-templates/budgets.xlsx", None).await;
    assert_eq!((unknown.status.as_u16(), unknown.body["errors"][0]["field"].as_str()), (422, Some("kind")));
    let pdf = app.get("/api/v1/import-templates/activities.pdf", None).await;
    assert_eq!((pdf.status.as_u16(), pdf.body["errors"][0]["rule"].as_str()), (422, Some("template_format")));
}

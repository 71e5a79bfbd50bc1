//! The web console in a real browser: Debian's chromium, headless, driven
//! through chromedriver with fantoccini, against a system with the plan
//! loaded. A member of the automotive task force logs in with a token,
//! records an activity through the page's form and sees the progress table
//! count it, sees a bad amount refused beside its field, and downloads 附件1
//! with the activity counted. Screenshots of the dashboard, a task-force page
//! and the comparison page (1366×768) go to `target/console-screenshots/`.
//!
//! Beside it, plain HTTP tests of the console's security: the session
//! cookie, the header a cookie-authenticated write needs, the login page a
//! browser without a session is sent to, and the audit page's role.

use std::io::Cursor;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use zhaoshang_http::auth::Role;
use zhaoshang_tests::{client_without_token, spawn_with_plan, token_for};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long the browser may take to show what a step waits for.
const STEP_DEADLINE: Duration = Duration::from_secs(30);

/// A chromedriver of the test's own on a free port; killed when dropped.
struct Driver {
    process: tokio::process::Child,
    url: String,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group, and the browser it started
        // is in it: a test that failed before closing its session must not
        // leave a chromium behind.
        if let Some(pid) = self.process.id() {
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        }
        let _ = self.process.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

async fn start_driver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "the console's browser tests need Debian's chromium and its driver: run \
         `apt-get install -y chromium chromium-driver` (.ci/run does this when {CHROMEDRIVER} is missing)"
    );
    let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port();
    let process = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .expect("chromedriver starts");
    let profile = std::env::temp_dir().join(format!("zhaoshang-console-{}", uuid::Uuid::new_v4().simple()));
    let url = format!("http://127.0.0.1:{port}");
    // Wait until the driver answers its status endpoint (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let http = client_without_token();
    loop {
        if http.get(format!("{url}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "chromedriver did not answer on port {port} within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { process, url, profile }
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--disable-crash-reporter", "--disable-breakpad", "--lang=zh-CN",
                format!("--user-data-dir={}", driver.profile.display()),
                "--window-size=1366,768",
            ],
        }),
    );
    // chromedriver listens on loopback over plain HTTP.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("chromium starts under chromedriver");
    // In-page waits (`wait_in_page`) give up after one step's deadline.
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(Some(STEP_DEADLINE), None, None))
        .await
        .expect("script timeout");
    // --window-size counts the window's frame: make the page itself 1366×768.
    let inner = client.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.expect("viewport");
    let (width, height) = (inner[0].as_u64().unwrap_or(1366), inner[1].as_u64().unwrap_or(768));
    if (width, height) != (1366, 768) {
        let (_, _, outer_width, outer_height) = client.get_window_rect().await.expect("window");
        let w = outer_width + 1366 - width;
        let h = outer_height + 768 - height;
        client
            .set_window_size(u32::try_from(w).unwrap_or(1366), u32::try_from(h).unwrap_or(768))
            .await
            .expect("resize");
    }
    client
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

async fn save_screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write the screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// The figure the dashboard shows for a task force and measure.
async fn cell(client: &Client, task_force: &str, measure: &str) -> u32 {
    let selector = format!("td[data-cell='{task_force}:{measure}']");
    let element = client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css(&selector)).await.expect("the cell");
    element.attr("data-actual").await.expect("attribute").expect("data-actual").parse().expect("a count")
}

/// Sets an input's value as the page's own date picker would (typing into a
/// date input depends on the browser's locale), and tells the page.
async fn set_value(client: &Client, selector: &str, value: &str) {
    client
        .execute(
            "const el = document.querySelector(arguments[0]); el.value = arguments[1];
             el.dispatchEvent(new Event('input', {bubbles: true})); return el.value;",
            vec![json!(selector), json!(value)],
        )
        .await
        .expect("set a value");
}

async fn type_into(client: &Client, selector: &str, text: &str) {
    client.find(Locator::Css(selector)).await.expect(selector).send_keys(text).await.expect("typing");
}

async fn open_form(client: &Client, form_id: &str) {
    let summary = format!("details:has(#{form_id}) > summary");
    let element = client.find(Locator::Css(&summary)).await.expect("the form's summary");
    client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'});",
            vec![serde_json::to_value(&element).expect("element")],
        )
        .await
        .expect("scroll");
    element.click().await.expect("open the form");
}

async fn text_of(client: &Client, selector: &str) -> String {
    client.find(Locator::Css(selector)).await.expect(selector).text().await.expect("text")
}

/// Resolves (WebDriver's asynchronous script) once the element at
/// `arguments[0]` has text, or contains `arguments[1]` when that is given:
/// at once if it already does, else on the DOM change that makes it so, seen
/// by a MutationObserver. The script timeout set in `browser` bounds it.
const WAIT_IN_PAGE: &str = r"
const [selector, needle, done] = arguments;
const check = () => {
  const element = document.querySelector(selector);
  const text = element ? element.innerText : '';
  return (needle === null ? text.trim() !== '' : text.includes(needle)) ? text : null;
};
const now = check();
if (now !== null) { done(now); return; }
const observer = new MutationObserver(() => {
  const text = check();
  if (text !== null) { observer.disconnect(); done(text); }
});
observer.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
";

async fn wait_in_page(client: &Client, selector: &str, needle: Option<&str>, what: &str) -> String {
    match client.execute_async(WAIT_IN_PAGE, vec![json!(selector), json!(needle)]).await {
        Ok(text) => text.as_str().unwrap_or_default().to_owned(),
        Err(error) => panic!("no {what} in {selector} within {STEP_DEADLINE:?}: {error}"),
    }
}

/// Waits until the element at `selector` has some text, and returns it.
async fn wait_for_text(client: &Client, selector: &str, what: &str) -> String {
    wait_in_page(client, selector, None, what).await
}

/// Waits until the element at `selector` shows `needle`, and returns its text.
async fn wait_for_contains(client: &Client, selector: &str, needle: &str) -> String {
    wait_in_page(client, selector, Some(needle), &format!("{needle:?}")).await
}

/// Starts a system with the plan loaded and waits until the read models hold it.
async fn system_with_plan() -> zhaoshang_tests::TestApp {
    let app = spawn_with_plan().await;
    let last = app.events_in_stream().await;
    zhaoshang_tests::wait_for_checkpoint(&app.running.read_model, last, "the plan is projected").await;
    app
}

fn xlsx_text(range: &calamine::Range<Data>, row: u32, col: u32) -> String {
    match range.get_value((row, col)) {
        Some(Data::String(s)) => s.clone(),
        Some(Data::Empty) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[tokio::test]
async fn a_task_force_member_records_an_activity_in_the_browser_and_finds_it_counted() {
    let driver = start_driver().await;
    let app = system_with_plan().await;
    let client = browser(&driver).await;
    let token = token_for(&app.config, Role::TaskForce, &["automotive"]);
    let automotive_name = app.get("/api/v1/task-forces/automotive", None).await.body["name"]
        .as_str()
        .expect("the automotive task force")
        .to_owned();

    // Without a session, the console sends the browser to the login page.
    client.goto(&format!("{}/console/", app.base)).await.expect("open the console");
    client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css("textarea#token")).await.expect("the login page");
    assert!(client.current_url().await.expect("url").path().starts_with("/console/login"));
    type_into(&client, "textarea#token", &token).await;
    client
        .find(Locator::Css("form[action='/console/login'] button"))
        .await
        .expect("login button")
        .click()
        .await
        .expect("log in");

    // The dashboard of the plan's last year (2024), with its charts drawn.
    client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css("table.progress")).await.expect("the dashboard");
    let heading = text_of(&client, "h1").await;
    assert!(heading.contains("2024"), "the dashboard shows the plan's last year: {heading}");
    let before = cell(&client, "automotive", "activities").await;
    let total_before = cell(&client, "total", "activities").await;
    client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css("#chart-task-forces canvas")).await.expect("a chart");
    save_screenshot(&client, "dashboard").await;
    let session = client.get_named_cookie("zhaoshang_session").await.expect("the session cookie");
    assert_eq!(session.http_only(), Some(true), "the session cookie is HttpOnly");

    // The member's own task force page, with its forms.
    client.goto(&format!("{}/console/task-forces/automotive?year=2024", app.base)).await.expect("task force page");
    client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css("section#ledger")).await.expect("the ledger");
    save_screenshot(&client, "task-force").await;

    // Record an activity through the form.
    let title = "赴上海新能源汽车零部件产业链招商推介会（浏览器测试）";
    open_form(&client, "form-activity").await;
    type_into(&client, "#form-activity input[name='title']", title).await;
    set_value(&client, "#form-activity input[name='on']", "2024-06-18").await;
    type_into(&client, "#form-activity input[name='destination_cities']", "上海").await;
    type_into(&client, "#form-activity input[name='target_enterprises']", "上海某新能源汽车电子有限公司").await;
    let events_before = app.events_in_stream().await;
    client
        .find(Locator::Css("#form-activity button[type='submit']"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("submit");
    let ok = wait_for_text(&client, "#form-activity .form-ok", "the form's confirmation").await;
    assert!(ok.contains("已登记"), "{ok}");
    assert_eq!(app.events_in_stream().await, events_before + 1, "one event for one form");
    // The activities section was refreshed with the new activity in it.
    let activities = wait_for_contains(&client, "section#activities", title).await;
    assert!(activities.contains("（1 次）"), "the count is refreshed too: {activities}");

    // The dashboard's progress table counts it.
    client.goto(&format!("{}/console/?year=2024", app.base)).await.expect("dashboard");
    assert_eq!(cell(&client, "automotive", "activities").await, before + 1, "automotive's activities");
    assert_eq!(cell(&client, "total", "activities").await, total_before + 1, "the total's activities");
    client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css("#chart-task-forces canvas")).await.expect("a chart");
    client.execute("document.getElementById('charts').scrollIntoView();", vec![]).await.expect("scroll");
    save_screenshot(&client, "dashboard-charts").await;

    // A bad amount is refused, with the API's message beside the field, and nothing is written.
    client.goto(&format!("{}/console/task-forces/automotive?year=2024", app.base)).await.expect("task force page");
    client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css("#form-project-lead")).await.expect("the form");
    open_form(&client, "form-project-lead").await;
    type_into(&client, "#form-project-lead input[name='name']", "新能源汽车热管理系统项目").await;
    type_into(&client, "#form-project-lead input[name='investor']", "某热管理科技有限公司").await;
    type_into(&client, "#form-project-lead input[name='owner']", "曾智勇").await;
    set_value(&client, "#form-project-lead input[name='on']", "2024-07-01").await;
    type_into(&client, "#form-project-lead input[name='planned_investment_yuan']", "-500").await;
    let events_before = app.events_in_stream().await;
    client
        .find(Locator::Css("#form-project-lead button[type='submit']"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("submit");
    let message = wait_for_text(
        &client,
        "#form-project-lead .field[data-field='planned_investment_yuan'] .field-error",
        "the amount's error",
    )
    .await;
    assert!(!message.trim().is_empty());
    let general = text_of(&client, "#form-project-lead .form-error").await;
    assert!(general.trim().is_empty(), "the error is beside the field, not above the form: {general}");
    assert_eq!(app.events_in_stream().await, events_before, "a refused form writes nothing");
    client
        .execute("document.querySelector('#form-project-lead').scrollIntoView({block: 'center'});", vec![])
        .await
        .expect("scroll");
    save_screenshot(&client, "task-force-validation").await;

    // 附件1, downloaded from the dashboard's link with the browser's session, counts the activity.
    client.goto(&format!("{}/console/?year=2024", app.base)).await.expect("dashboard");
    let link = client.find(Locator::Css("a#download-attachment-1")).await.expect("the download link");
    let href = link.attr("href").await.expect("href").expect("a link");
    let session = client.get_named_cookie("zhaoshang_session").await.expect("the session cookie");
    let response = client_without_token()
        .get(format!("{}{href}", app.base))
        .header("cookie", format!("zhaoshang_session={}", session.value()))
        .send()
        .await
        .expect("download");
    assert!(response.status().is_success(), "download: {}", response.status());
    let bytes = response.bytes().await.expect("the file").to_vec();
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).expect("an XLSX");
    let range = book.worksheet_range("附件1 进度统计表").expect("the sheet");
    let column = (0..range.width() as u32)
        .find(|c| xlsx_text(&range, 3, *c) == "科技招商活动（场次）")
        .expect("the activities column");
    let row =
        (5..range.height() as u32).find(|r| xlsx_text(&range, *r, 1) == automotive_name).expect("automotive's row");
    let actual = match range.get_value((row, column + 1)) {
        Some(Data::Float(f)) => *f as u32,
        Some(Data::Int(i)) => *i as u32,
        other => panic!("the actual figure is a number, not {other:?}"),
    };
    assert_eq!(actual, before + 1, "附件1 counts the activity recorded in the browser");

    // The comparison page (supervision), then the audit page is not the member's.
    client
        .goto(&format!("{}/console/supervision?year=2024&from_as_of=2024-03-31&to_as_of=2024-12-31", app.base))
        .await
        .expect("comparison page");
    client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css("section#comparison")).await.expect("the comparison");
    let compared = text_of(&client, "section#comparison td[data-cell='automotive:activities']").await;
    assert!(
        compared.contains("0 → 1") && compared.contains("+1"),
        "the activity held in June is the difference: {compared}"
    );
    let events = text_of(&client, "section#difference-events").await;
    assert!(events.contains("task_force-user"), "the event that made the difference names its actor: {events}");
    assert!(client.find(Locator::Css("a#download-comparison")).await.is_ok(), "the XLSX link");
    save_screenshot(&client, "comparison").await;
    client.goto(&format!("{}/console/audit", app.base)).await.expect("audit page");
    let refused = text_of(&client, "h1").await;
    assert_eq!(refused, "无权访问");

    // Log out; an auditor logs in and reads the new activity's history and chain.
    client.goto(&format!("{}/console/", app.base)).await.expect("dashboard");
    client
        .find(Locator::Css("form[action='/console/logout'] button"))
        .await
        .expect("logout")
        .click()
        .await
        .expect("log out");
    client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css("textarea#token")).await.expect("the login page");
    assert!(client.get_named_cookie("zhaoshang_session").await.is_err(), "logging out removes the session");
    type_into(&client, "textarea#token", &token_for(&app.config, Role::Auditor, &[])).await;
    client
        .find(Locator::Css("form[action='/console/login'] button"))
        .await
        .expect("login")
        .click()
        .await
        .expect("log in");
    client.wait().at_most(STEP_DEADLINE).for_element(Locator::Css("table.progress")).await.expect("the dashboard");
    let activities = app.get("/api/v1/activities?task_force=automotive&year=2024", None).await;
    let activity = activities.body[0]["id"].as_str().expect("the activity").to_owned();
    client.goto(&format!("{}/console/audit?type=activity&id={activity}", app.base)).await.expect("audit page");
    let verdict = wait_for_text(&client, "p.chain-ok", "the chain's verdict").await;
    assert!(verdict.contains("哈希链完整"), "{verdict}");
    let history = text_of(&client, "table.audit").await;
    assert!(history.contains("task_force-user"), "the actor who recorded it: {history}");
    save_screenshot(&client, "audit").await;
    client.close().await.expect("close the browser");
}

#[tokio::test]
async fn the_console_session_is_a_cookie_that_writes_only_with_the_console_header() {
    let app = system_with_plan().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");

    // A page without a session: a redirect to the login page, which comes back.
    let answer = http.get(format!("{}/console/task-forces/automotive?year=2023", app.base)).send().await.expect("get");
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with("/console/login?next=%2Fconsole%2Ftask%2Dforces%2Fautomotive"), "{location}");
    // The API still answers programs with problem+json.
    assert_eq!(http.get(format!("{}/api/v1/task-forces", app.base)).send().await.expect("get").status(), 401);

    // A bad token is refused on the login page, and no cookie is set.
    let refused = http
        .post(format!("{}/console/login", app.base))
        .form(&[("token", "not-a-token"), ("next", "/console/")])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("set-cookie").is_none());
    // Another site's form cannot log the browser in, even with a valid token (login CSRF).
    let valid = token_for(&app.config, Role::Office, &[]);
    let cross_site = http
        .post(format!("{}/console/login", app.base))
        .header("origin", "https://evil.example")
        .form(&[("token", valid.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(cross_site.status(), 403);
    assert!(cross_site.headers().get("set-cookie").is_none());

    // A good token: the cookie, HttpOnly and SameSite=Strict, and back to where the browser was going.
    let token = token_for(&app.config, Role::Office, &[]);
    let login = http
        .post(format!("{}/console/login", app.base))
        .form(&[("token", token.as_str()), ("next", "/console/task-forces/automotive")])
        .send()
        .await
        .expect("post");
    assert_eq!(login.status(), 303);
    assert_eq!(login.headers()["location"], "/console/task-forces/automotive");
    let set_cookie = login.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(set_cookie.starts_with(&format!("zhaoshang_session={token};")), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{attribute} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP on loopback: not Secure");
    let over_https = http
        .post(format!("{}/console/login", app.base))
        .header("x-forwarded-proto", "https")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("post");
    assert!(over_https.headers()["set-cookie"].to_str().expect("cookie").contains("; Secure"));
    let cookie = format!("zhaoshang_session={token}");

    // With the cookie: pages and the API read.
    let page = http
        .get(format!("{}/console/task-forces/automotive?year=2023", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    let status = page.status();
    let html = page.text().await.expect("html");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("项目台账"), "{html}");
    assert_eq!(
        http.get(format!("{}/api/v1/task-forces", app.base))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get")
            .status(),
        200
    );

    // A write with the cookie but without the console header is refused, and writes nothing.
    let body = json!({"task_force_id": "automotive", "kind": "online", "title": "线上对接会", "on": "2023-05-10"});
    let events = app.events_in_stream().await;
    let forged = http
        .post(format!("{}/api/v1/activities/held", app.base))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    let problem: serde_json::Value = forged.json().await.expect("problem+json");
    assert_eq!(problem["rule"], "console_header_required");
    assert_eq!(app.events_in_stream().await, events);
    let accepted = http
        .post(format!("{}/api/v1/activities/held", app.base))
        .header("cookie", &cookie)
        .header("x-zhaoshang-console", "1")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(accepted.status(), 201);
    let sequence = accepted.json::<serde_json::Value>().await.expect("json")["sequence"].as_u64().expect("sequence");

    // The office is not an auditor: no audit page; an auditor sees the activity's chain, intact.
    let audit = http.get(format!("{}/console/audit", app.base)).header("cookie", &cookie).send().await.expect("get");
    assert_eq!(audit.status(), 403);
    let auditor = format!("zhaoshang_session={}", token_for(&app.config, Role::Auditor, &[]));
    let activities = app.get("/api/v1/activities?task_force=automotive&year=2023", Some(sequence)).await;
    let id = activities.body[0]["id"].as_str().expect("the activity").to_owned();
    let history = http
        .get(format!("{}/console/audit?type=activity&id={id}&consistent_with={sequence}", app.base))
        .header("cookie", &auditor)
        .send()
        .await
        .expect("get");
    assert_eq!(history.status(), 200);
    let html = history.text().await.expect("html");
    assert!(html.contains("哈希链完整"), "{html}");
    assert!(html.contains("office-user"), "the actor is shown");

    // An inspection's frozen snapshot is a moment the supervision page offers and compares.
    let inspection = app
        .post_ok(
            "/api/v1/meetings",
            &json!({"kind": "supervision", "task_force_id": "automotive", "on": "2023-06-30", "title": "2023 年第二季度督导检查（汽车）"}),
        )
        .await;
    let inspection_id = inspection.body["aggregate_id"].as_str().expect("the inspection's id").to_owned();
    let snapshot = http
        .get(format!(
            "{}/console/supervision?year=2023&from_inspection={inspection_id}&consistent_with={}",
            app.base,
            inspection.sequence()
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(snapshot.status(), 200);
    let html = snapshot.text().await.expect("html");
    assert!(html.contains("2023 年第二季度督导检查（汽车）") && html.contains("id=\"comparison\""), "{html}");
    assert!(
        html.contains(&format!("from_inspection={inspection_id}&amp;format=xlsx")) || html.contains("format=xlsx"),
        "the XLSX link"
    );

    // Logging out clears the cookie.
    let logout =
        http.post(format!("{}/console/logout", app.base)).header("cookie", &cookie).send().await.expect("post");
    assert_eq!(logout.status(), 303);
    assert!(logout.headers()["set-cookie"].to_str().expect("cookie").contains("Max-Age=0"));
}

#[tokio::test]
async fn the_sso_posts_an_id_token_that_becomes_the_session_and_a_member_sees_only_their_own_pages() {
    use base64::Engine as _;
    use ring::signature::KeyPair as _;
    // The city SSO's key, published as a JWKS the system trusts beside the local secret.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("a key");
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("a key pair");
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let jwks =
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "city-sso", "alg": "EdDSA", "use": "sig"}]});
    let jwks_file = std::env::temp_dir().join(format!("zhaoshang-sso-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&jwks_file, jwks.to_string()).expect("write the JWKS");
    let config = zhaoshang::config::Config {
        jwks_file: Some(jwks_file.clone()),
        console_sso_login_url: Some("https://sso.example.gov.cn/authorize?client_id=zhaoshang".to_owned()),
        ..zhaoshang_tests::unique_config()
    };
    let app = zhaoshang_tests::spawn_with(config, zhaoshang::system::Role::All).await;
    let command = app.running.command.clone().expect("command service");
    zhaoshang::plan_file::load(&command, zhaoshang::plan_file::PLAN_2022_2024, "test").await.expect("plan loads");
    let last = app.events_in_stream().await;
    zhaoshang_tests::wait_for_checkpoint(&app.running.read_model, last, "the plan is projected").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");

    // The login page starts an SSO login of ours, which sends the browser to
    // the SSO with a fresh state and nonce, kept in a cookie only the
    // callback receives.
    let login = http.get(format!("{}/console/login", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(login.contains("href=\"/console/login/sso\""), "{login}");
    let start = http.get(format!("{}/console/login/sso", app.base)).send().await.expect("get");
    assert_eq!(start.status(), 303);
    let location = start.headers()["location"].to_str().expect("location").to_owned();
    let query = location
        .strip_prefix("https://sso.example.gov.cn/authorize?client_id=zhaoshang&")
        .unwrap_or_else(|| panic!("to the SSO: {location}"));
    let parameters: std::collections::HashMap<&str, &str> =
        query.split('&').filter_map(|pair| pair.split_once('=')).collect();
    let (state, nonce) = (parameters["state"].to_owned(), parameters["nonce"].to_owned());
    assert!(state.len() >= 32 && nonce.len() >= 32 && state != nonce, "{location}");
    let sso_cookie = start.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(sso_cookie.starts_with(&format!("zhaoshang_sso={state}.{nonce};")), "{sso_cookie}");
    for attribute in ["Path=/console/login/callback", "HttpOnly", "Secure", "SameSite=None", "Max-Age=600"] {
        assert!(sso_cookie.contains(attribute), "{attribute} in {sso_cookie}");
    }
    let browser_cookie = format!("zhaoshang_sso={state}.{nonce}");
    let again = http.get(format!("{}/console/login/sso", app.base)).send().await.expect("get");
    assert_ne!(again.headers()["location"], location.as_str(), "every login has its own state and nonce");

    // The SSO's form_post: a signed id_token becomes the session.
    let now = zhaoshang_http::auth::unix_now();
    let claims = zhaoshang_http::auth::Claims {
        sub: "zengzhiyong".to_owned(),
        name: Some("曾智勇".to_owned()),
        role: Role::TaskForce,
        task_forces: vec!["automotive".to_owned()],
        exp: now + 3600,
        iat: now,
        iss: None,
        aud: None,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("city-sso".to_owned());
    let signed = |key: &[u8], nonce: &str| {
        let mut claims = serde_json::to_value(&claims).expect("claims");
        claims["nonce"] = json!(nonce);
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ed_der(key)).expect("sign")
    };
    let id_token = signed(pkcs8.as_ref(), &nonce);
    let post_callback = |token: String, state: &str, cookie: Option<&str>| {
        let mut request = http
            .post(format!("{}/console/login/callback", app.base))
            .form(&[("id_token", token.as_str()), ("state", state)]);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let no_session = |answer: &reqwest::Response| {
        !answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().expect("cookie").starts_with("zhaoshang_session="))
    };
    // Login CSRF: another site posts a valid token of its own, but the
    // browser never started that login, so it has no SSO cookie.
    let csrf = post_callback(id_token.clone(), &state, None).await.expect("post");
    assert_eq!(csrf.status(), 403);
    assert!(no_session(&csrf));
    assert!(csrf.text().await.expect("html").contains("无法核实这次统一身份认证登录"));
    // A wrong state, or a token issued for another login (its nonce), neither.
    let wrong_state = post_callback(id_token.clone(), "0123456789abcdef", Some(&browser_cookie)).await.expect("post");
    assert_eq!(wrong_state.status(), 403);
    assert!(no_session(&wrong_state));
    let other_login = post_callback(signed(pkcs8.as_ref(), "another-nonce"), &state, Some(&browser_cookie)).await;
    let other_login = other_login.expect("post");
    assert_eq!(other_login.status(), 403);
    assert!(no_session(&other_login));
    // A token the SSO did not sign is refused, and no session is set.
    let forged_key = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("another key");
    let refused = post_callback(signed(forged_key.as_ref(), &nonce), &state, Some(&browser_cookie)).await;
    let refused = refused.expect("post");
    assert_eq!(refused.status(), 401);
    assert!(no_session(&refused));
    // The answer to this browser's own login becomes the session, and the
    // SSO cookie is spent.
    let callback = post_callback(id_token.clone(), &state, Some(&browser_cookie)).await.expect("post");
    assert_eq!(callback.status(), 200, "a same-site page moves on, so the Strict cookie goes with it");
    let cookies: Vec<String> =
        callback.headers().get_all("set-cookie").iter().map(|c| c.to_str().expect("cookie").to_owned()).collect();
    assert!(cookies.iter().any(|c| c.starts_with(&format!("zhaoshang_session={id_token};"))), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("zhaoshang_sso=;") && c.contains("Max-Age=0")), "{cookies:?}");
    assert!(callback.text().await.expect("html").contains("url=/console/"));

    // The member sees their own task force with its forms, not another's page.
    let cookie = format!("zhaoshang_session={id_token}");
    let own = http
        .get(format!("{}/console/task-forces/automotive", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(own.status(), 200);
    let own = own.text().await.expect("html");
    assert!(own.contains("id=\"form-activity\""), "the member's forms");
    assert!(own.contains("曾智勇"), "the caller's name in the frame");
    let other_page = http
        .get(format!("{}/console/task-forces/biomedicine", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(other_page.status(), 403);
    // A leader reads every task force's page, with no forms.
    let leader = format!("zhaoshang_session={}", token_for(&app.config, Role::Leader, &[]));
    let read_only = http
        .get(format!("{}/console/task-forces/biomedicine", app.base))
        .header("cookie", &leader)
        .send()
        .await
        .expect("get");
    assert_eq!(read_only.status(), 200);
    let read_only = read_only.text().await.expect("html");
    assert!(read_only.contains("项目台账") && !read_only.contains("form-activity"), "a leader reads, records nothing");
    let _ = std::fs::remove_file(jwks_file);
}

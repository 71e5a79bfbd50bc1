//! The web console (控制台): server-rendered HTML pages for the office, the
//! leaders, the task forces, the inspectors and the auditors, in Chinese.
//!
//! Every page reads the read models through the same functions as the
//! `/api/v1` handlers; every form records its fact through the same command
//! API (`console.js` posts the same JSON with the session cookie and
//! `X-Zhaoshang-Console: 1`, and shows each problem+json error beside the
//! field it names). The pages are kept out of `/openapi.json`: they are for
//! people, and everything they show or record has its API operation.
//!
//! Layout:
//! - this module: the router, the login (a pasted token, or the city SSO's
//!   OIDC form_post callback) and logout, the session cookie, the static
//!   assets (our `console.js` and `console.css`, and Apache ECharts, which
//!   `build.rs` installs from the npm registry and this crate embeds), the page
//!   frame and the HTML error page;
//! - [`dashboard`] (`/console/`): 附件1 with colours, charts, alerts, reminders;
//! - [`task_force`] (`/console/task-forces/{id}`): one task force and its forms;
//! - [`supervision`] (`/console/supervision`): two moments compared;
//! - [`audit`] (`/console/audit`): one record's history and hash chain.
//!
//! Who sees what: the security layer admits every role to the pages (the
//! audit page only the auditors) and redirects a browser without a session
//! to the login page; the pages then show a role only what it may (a task
//! force's member: its own task forces' pages and forms). Personal data
//! (liaison contacts) is never shown on the console.

mod audit;
mod dashboard;
mod supervision;
mod task_force;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use zhaoshang_http::ApiError;
use zhaoshang_http::auth::{Caller, Role, SESSION_COOKIE, Security, unix_now};

use crate::QueryService;

/// The console's settings.
#[derive(Debug, Clone, Default)]
pub struct ConsoleSettings {
    /// The city SSO's login address; the login page links to it when set.
    pub sso_login_url: Option<String>,
    /// Mark the session cookie `Secure` on every answer (else only over HTTPS).
    pub secure_cookie: bool,
}

/// The console's own script: forms, charts, pickers.
const CONSOLE_JS: &str = include_str!("../../console/console.js");
/// The console's style sheet.
const CONSOLE_CSS: &str = include_str!("../../console/console.css");
/// Apache ECharts, installed by `build.rs` from the npm registry (never committed).
const ECHARTS_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/node_modules/echarts/dist/echarts.min.js"));

/// The console's routes. `security` verifies the tokens pasted on the login
/// page and posted by the SSO; every other check is the security layer's.
pub fn router(service: QueryService, security: Arc<Security>) -> Router {
    let login = Router::new()
        .route("/console/login", get(login_page).post(login_with_token))
        .route("/console/login/sso", get(login_with_sso))
        .route("/console/login/callback", axum::routing::post(login_callback))
        .with_state((service.clone(), security));
    Router::new()
        .route("/console", get(|| async { redirect("/console/") }))
        .route("/console/", get(dashboard::page))
        .route("/console/task-forces/{id}", get(task_force::page))
        .route("/console/supervision", get(supervision::page))
        .route("/console/audit", get(audit::page))
        .route("/console/logout", axum::routing::post(logout))
        .route("/console/assets/console.js", get(|| async { asset(CONSOLE_JS.as_bytes(), "text/javascript", false) }))
        .route("/console/assets/console.css", get(|| async { asset(CONSOLE_CSS.as_bytes(), "text/css", false) }))
        .route("/console/assets/echarts.min.js", get(|| async { asset(ECHARTS_JS, "text/javascript", true) }))
        .with_state(service)
        .merge(login)
}

/// A static asset. ECharts is pinned by the lock file and changes only with
/// a release, so it is cached for a year; our own files are revalidated.
fn asset(bytes: &'static [u8], content_type: &'static str, immutable: bool) -> Response {
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    let content_type = format!("{content_type}; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type.as_str()), (header::CACHE_CONTROL, cache)], bytes).into_response()
}

fn redirect(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

pub(crate) use crate::liuzhou_today;

/// The Chinese name of a role.
pub(crate) fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "系统管理员",
        Role::Office => "领导小组办公室",
        Role::TaskForce => "专班成员",
        Role::Leader => "领导小组",
        Role::Auditor => "审计",
        Role::Subscriber => "外部系统",
    }
}

/// Whether `caller` may see task force `id`'s page: a member only their own.
pub(crate) fn may_see_task_force(caller: &Caller, id: &str) -> bool {
    caller.role != Role::TaskForce || caller.task_forces.contains(id)
}

/// Whether `caller` may record `id`'s facts (the command service checks again).
pub(crate) fn may_record_for(caller: &Caller, id: &str) -> bool {
    match caller.role {
        Role::Admin | Role::Office => true,
        Role::TaskForce => caller.task_forces.contains(id),
        Role::Leader | Role::Auditor | Role::Subscriber => false,
    }
}

/// Which part of the console a page belongs to, for the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Dashboard,
    TaskForce,
    Supervision,
    Audit,
}

/// A page's `<head>`: its title, the stylesheet and, on pages with forms and
/// charts, the console's script.
fn head(title: &str, with_script: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · 柳州科技招商控制台" }
            link rel="stylesheet" href="/console/assets/console.css";
            @if with_script {
                script src="/console/assets/console.js" defer {}
            }
        }
    }
}

/// A whole page: head, navigation (what the caller's role may open), the
/// caller and the logout button, then `body`.
pub(crate) fn frame(title: &str, caller: &Caller, section: Section, body: Markup) -> Markup {
    let link = |target: Section, href: &str, label: &str| {
        html! { a href=(href) class=@if section == target { "active" } { (label) } }
    };
    let own_task_force = match caller.role {
        Role::TaskForce => caller.task_forces.iter().next().cloned(),
        _ => None,
    };
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(title, true))
            body {
                header.top {
                    span.brand { "柳州市科技系统科技招商" }
                    nav {
                        (link(Section::Dashboard, "/console/", "总览"))
                        @if let Some(id) = &own_task_force {
                            (link(Section::TaskForce, &format!("/console/task-forces/{id}"), "本专班"))
                        }
                        (link(Section::Supervision, "/console/supervision", "督导比对"))
                        @if matches!(caller.role, Role::Auditor | Role::Admin) {
                            (link(Section::Audit, "/console/audit", "审计追溯"))
                        }
                    }
                    span.who {
                        (caller.name.as_deref().unwrap_or(&caller.sub)) "（" (role_label(caller.role)) "）"
                        form method="post" action="/console/logout" { button type="submit" { "退出" } }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page that could not be made, shown to a person (never the cause of a 5xx).
pub(crate) struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = match &self.0 {
            ApiError::InvalidField { message, .. } | ApiError::NotAllowed { message, .. } => {
                format!("请求有误：{message}")
            }
            ApiError::NotFound { what } => format!("未找到{what}。"),
            ApiError::ProjectionBehind { .. } => "数据正在更新，请稍后刷新本页。".to_owned(),
            ApiError::Forbidden { message, .. } => message.clone(),
            _ if status.is_server_error() => {
                tracing::error!(error = %self.0, "a console page failed");
                "服务暂时不可用，请稍后再试。".to_owned()
            }
            other => other.to_string(),
        };
        let body = html! {
            (DOCTYPE)
            html lang="zh-CN" {
                head {
                    meta charset="utf-8";
                    title { "出错了 · 柳州科技招商控制台" }
                    link rel="stylesheet" href="/console/assets/console.css";
                }
                body { main.narrow { h1 { "无法显示此页" } p { (message) } p { a href="/console/" { "返回总览" } } } }
            }
        };
        (status, body).into_response()
    }
}

/// The console's query parameters: the page's own, and the consistency token
/// a form's command returned (`consistent_with`), which the page waits for.
pub(crate) async fn page_params(
    service: &QueryService,
    raw: HashMap<String, String>,
    allowed: &[&str],
) -> Result<crate::Params, PageError> {
    let params = crate::Params::new(raw.clone(), allowed)?;
    crate::consistent(service, &raw).await?;
    Ok(params)
}

/// Yuan as 万元 with up to four decimals (exact), as the bureau writes amounts.
pub(crate) fn wan_yuan(yuan: i64) -> String {
    let sign = if yuan < 0 { "-" } else { "" };
    let yuan = yuan.unsigned_abs();
    let (whole, rest) = (yuan / 10_000, yuan % 10_000);
    if rest == 0 {
        format!("{sign}{whole}")
    } else {
        let decimals = format!("{rest:04}");
        format!("{sign}{whole}.{}", decimals.trim_end_matches('0'))
    }
}

// ---------------------------------------------------------------- logging in

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Where to go after logging in: a console page of ours, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with("/console/") && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/console/".to_owned(),
    }
}

fn login_form(settings: &ConsoleSettings, next: &str, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head("登录", false))
            body {
                main.narrow.login {
                    h1 { "柳州市科技系统科技招商控制台" }
                    p.muted { "科技招商三年行动（2022—2024）进度、台账、督导与审计" }
                    @if settings.sso_login_url.is_some() {
                        p { a.button href="/console/login/sso" { "通过统一身份认证登录" } }
                        p.muted { "或粘贴访问令牌：" }
                    }
                    @if let Some(error) = error {
                        p.error role="alert" { (error) }
                    }
                    form method="post" action="/console/login" {
                        input type="hidden" name="next" value=(next);
                        label for="token" { "访问令牌" }
                        textarea #token name="token" rows="5" required
                            placeholder="粘贴 zhaoshang token --role … 签发的令牌" {}
                        button type="submit" { "登录" }
                    }
                    p.muted {
                        "本机运行时，用 " code { "zhaoshang token --role office --sub 姓名拼音" }
                        " 签发令牌。登录后会话保存在仅本站可用的 Cookie 中。"
                    }
                }
            }
        }
    }
}

async fn login_page(State((service, _)): State<(QueryService, Arc<Security>)>, Query(q): Query<LoginQuery>) -> Markup {
    login_form(&service.console, &safe_next(q.next.as_deref()), None)
}

#[derive(Deserialize)]
struct TokenLogin {
    token: String,
    next: Option<String>,
}

/// Whether the request came over HTTPS (directly, or through a proxy that says so).
fn over_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().is_some_and(|first| first.trim().eq_ignore_ascii_case("https")));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

/// Whether a form was posted from this site: its `Origin` (when the browser
/// sends one) names the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    // Behind a reverse proxy the public host is in X-Forwarded-Host.
    let forwarded =
        headers.get("x-forwarded-host").and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next()).map(str::trim);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    [forwarded, host].into_iter().flatten().any(|h| !h.is_empty() && origin_host.eq_ignore_ascii_case(h))
}

/// The `Set-Cookie` value of a session holding `token` until it expires.
fn session_cookie(token: &str, lifetime_seconds: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value =
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={lifetime_seconds}{secure}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("zhaoshang_session=; Path=/; Max-Age=0"))
}

/// Verifies `token` and answers with the session cookie and `then`, or the login page with why.
fn start_session(
    service: &QueryService,
    security: &Security,
    headers: &HeaderMap,
    token: &str,
    next: &str,
    then: impl FnOnce() -> Response,
) -> Response {
    let token = token.trim();
    // A JWT is three base64url parts: anything else cannot be a token and
    // must not reach a Set-Cookie header.
    let well_formed = !token.is_empty()
        && token.split('.').count() == 3
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let verified = if well_formed {
        security.authenticator.verify(token).map_err(|e| e.to_string())
    } else {
        Err("not a token".to_owned())
    };
    match verified {
        Ok(_) => {
            let lifetime = token_lifetime(token).unwrap_or(8 * 3600);
            let secure = service.console.secure_cookie || over_https(headers);
            let mut response = then();
            response.headers_mut().append(header::SET_COOKIE, session_cookie(token, lifetime, secure));
            response
        }
        Err(why) => {
            tracing::info!(%why, "console login refused");
            let message = "令牌无效、已过期或签发方不受信任，请重新获取令牌。";
            (StatusCode::UNAUTHORIZED, login_form(&service.console, next, Some(message))).into_response()
        }
    }
}

/// Seconds until the (already verified) token expires.
fn token_lifetime(token: &str) -> Option<u64> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["exp"].as_u64().map(|exp| exp.saturating_sub(unix_now()))
}

async fn login_with_token(
    State((service, security)): State<(QueryService, Arc<Security>)>,
    headers: HeaderMap,
    Form(form): Form<TokenLogin>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    // Login CSRF: another site's form must not log the browser in as someone
    // else. A browser names the form's origin; it must be this host.
    if !same_origin(&headers) {
        let message = "登录请求来自其他网站，已拒绝。请在本站登录页粘贴令牌。";
        return (StatusCode::FORBIDDEN, login_form(&service.console, &next, Some(message))).into_response();
    }
    let then = {
        let next = next.clone();
        move || redirect(&next)
    };
    start_session(&service, &security, &headers, &form.token, &next, then)
}

/// The cookie that ties an SSO answer to the browser that asked for it:
/// `<state>.<nonce>`, for ten minutes, sent only to the callback. The SSO
/// posts its answer from its own site, so the cookie must be `SameSite=None`,
/// which browsers accept only with `Secure`: SSO logins need HTTPS (or
/// `localhost`).
const SSO_COOKIE: &str = "zhaoshang_sso";
const SSO_CALLBACK_PATH: &str = "/console/login/callback";
const SSO_LOGIN_SECONDS: u64 = 600;

fn sso_cookie(value: &str, max_age: u64) -> HeaderValue {
    let value =
        format!("{SSO_COOKIE}={value}; Path={SSO_CALLBACK_PATH}; HttpOnly; Secure; SameSite=None; Max-Age={max_age}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("zhaoshang_sso=; Max-Age=0"))
}

/// Starts an SSO login: a fresh `state` and `nonce`, kept in this browser's
/// [`SSO_COOKIE`] and sent to the SSO, which returns them (OIDC: `state` in
/// the form, `nonce` inside the signed `id_token`). The callback accepts an
/// answer only with both, so another site cannot log a browser in as someone
/// else with a token of its own (login CSRF), nor replay an old token.
async fn login_with_sso(State((service, _)): State<(QueryService, Arc<Security>)>) -> Response {
    let Some(url) = &service.console.sso_login_url else {
        return (StatusCode::NOT_FOUND, login_form(&service.console, "/console/", Some("本系统未配置统一身份认证。")))
            .into_response();
    };
    let state = uuid::Uuid::new_v4().simple().to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let separator = if url.contains('?') { '&' } else { '?' };
    let mut response = redirect(&format!("{url}{separator}state={state}&nonce={nonce}"));
    response.headers_mut().append(header::SET_COOKIE, sso_cookie(&format!("{state}.{nonce}"), SSO_LOGIN_SECONDS));
    response
}

#[derive(Deserialize)]
struct SsoCallback {
    id_token: String,
    #[serde(default)]
    state: Option<String>,
}

/// The `nonce` claim of a token (read before it is verified: it is only
/// compared with the cookie's, and the token is verified next anyway).
fn token_nonce(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["nonce"].as_str().map(str::to_owned)
}

/// Whether an SSO answer belongs to the login this browser started.
fn sso_answer_expected(headers: &HeaderMap, form: &SsoCallback) -> bool {
    let Some((state, nonce)) = zhaoshang_http::auth::cookie(headers, SSO_COOKIE).and_then(|v| v.split_once('.')) else {
        return false;
    };
    form.state.as_deref() == Some(state) && token_nonce(&form.id_token).as_deref() == Some(nonce)
}

/// The city SSO's OIDC `form_post` answer: the `id_token` is verified with
/// the same keys (JWKS) as every bearer token, then becomes the session.
async fn login_callback(
    State((service, security)): State<(QueryService, Arc<Security>)>,
    headers: HeaderMap,
    Form(form): Form<SsoCallback>,
) -> Response {
    // Used once, whatever the outcome.
    let forget = sso_cookie("", 0);
    if !sso_answer_expected(&headers, &form) {
        tracing::info!("console SSO answer refused: its state or nonce is not this browser's login");
        let message = "无法核实这次统一身份认证登录（可能来自其他网站，或已超过十分钟），请重新登录。";
        let mut response =
            (StatusCode::FORBIDDEN, login_form(&service.console, "/console/", Some(message))).into_response();
        response.headers_mut().append(header::SET_COOKIE, forget);
        return response;
    }
    // The SSO posts from its own site, so a redirect now would be a
    // cross-site navigation that does not carry the SameSite=Strict cookie
    // just set: a page of ours moves on instead, same-site.
    let then = || {
        html! {
            (DOCTYPE)
            html lang="zh-CN" {
                head {
                    meta charset="utf-8";
                    meta http-equiv="refresh" content="0;url=/console/";
                    title { "已登录" }
                }
                body { p { "已登录，正在进入控制台……" a href="/console/" { "进入控制台" } } }
            }
        }
        .into_response()
    };
    let mut response = start_session(&service, &security, &headers, &form.id_token, "/console/", then);
    response.headers_mut().append(header::SET_COOKIE, forget);
    response
}

async fn logout(State(service): State<QueryService>, headers: HeaderMap) -> Response {
    let secure = service.console.secure_cookie || over_https(&headers);
    let mut response = redirect("/console/login");
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Embeds `value` as JSON for the page's script (`<script type="application/json">`),
/// with `<` escaped so that no text can close the element.
pub(crate) fn json_island(id: &str, value: &serde_json::Value) -> Markup {
    let text = value.to_string().replace('<', "\\u003c");
    html! { script type="application/json" id=(id) { (PreEscaped(text)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_as_exact_wan_yuan() {
        assert_eq!(wan_yuan(150_000_000), "15000");
        assert_eq!(wan_yuan(12_345), "1.2345");
        assert_eq!(wan_yuan(10_500), "1.05");
        assert_eq!(wan_yuan(-20_000), "-2");
    }

    #[test]
    fn a_login_form_from_another_site_is_not_same_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers), "no Origin: not a cross-site browser form");
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&headers));
    }

    #[test]
    fn after_login_only_a_console_page_of_ours_is_a_destination() {
        assert_eq!(safe_next(Some("/console/task-forces/automotive")), "/console/task-forces/automotive");
        assert_eq!(safe_next(Some("https://evil.example/")), "/console/");
        assert_eq!(safe_next(Some("//evil.example/console/")), "/console/");
        assert_eq!(safe_next(None), "/console/");
    }
}

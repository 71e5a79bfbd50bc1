//! Who is calling, and whether they may: bearer JWTs, the six roles, the
//! policy table by method and path, and the per-caller write rate limit.
//!
//! A request passes [`middleware`] before any handler runs:
//! 1. the [`Policy`] says what the method and path need: nothing (`/healthz`,
//!    `/readyz`, `/openapi.json`) or a valid token of one of some roles;
//! 2. the token is verified by the [`Authenticator`] (HS256 with a local
//!    secret only in local mode; EdDSA or RS256 against the city's JWKS);
//! 3. a write takes a token from the caller's bucket ([`WriteRateLimiter`]);
//! 4. the [`Caller`] is put into the request for handlers to extract.
//!
//! The token comes from the `Authorization: Bearer` header or, for the web
//! console, from the `zhaoshang_session` cookie ([`SESSION_COOKIE`]). A write
//! authenticated by the cookie alone must also carry `X-Zhaoshang-Console: 1`
//! ([`CONSOLE_HEADER`]): a cross-site form can make the browser send the
//! cookie, never that header (CSRF defence beside `SameSite=Strict`).
//!
//! Missing or bad credentials answer 401 with `WWW-Authenticate: Bearer`; a
//! valid token of a role the path does not admit answers 403. A console page
//! (`/console/...`, HTML) answers instead with a redirect to the login page
//! and an HTML page saying what is not allowed. Finer checks
//! (a task force's member writes only its own facts) are the command
//! service's, against the aggregate's state.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use zhaoshang_domain::Responsibility;

use crate::ApiError;

/// What a person or system is to zhaoshang.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 领导小组办公室: supervision, and may record for any task force.
    Office,
    /// A task force's member (专班): records only its own task forces' facts.
    TaskForce,
    /// 领导小组 and leaders: read everything.
    Leader,
    /// 审计: read everything, the audit endpoints, no writes.
    Auditor,
    /// A service account of another municipal system: reads, sees personal data as ciphertext only.
    Subscriber,
    /// The bureau's administrator: plan periods, the leading group, task forces and their people, and all else.
    Admin,
}

impl Role {
    /// Every role, in the order above.
    pub const ALL: [Role; 6] =
        [Role::Office, Role::TaskForce, Role::Leader, Role::Auditor, Role::Subscriber, Role::Admin];

    /// The role's code in tokens and on the command line.
    pub fn code(self) -> &'static str {
        match self {
            Self::Office => "office",
            Self::TaskForce => "task_force",
            Self::Leader => "leader",
            Self::Auditor => "auditor",
            Self::Subscriber => "subscriber",
            Self::Admin => "admin",
        }
    }

    /// The role of a code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// The claims zhaoshang reads from a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The person (or system) the token was issued to: recorded as the actor of every event they cause.
    pub sub: String,
    /// Their display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Their role.
    pub role: Role,
    /// For the `task_force` role: the ids of the task forces they belong to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_forces: Vec<String>,
    /// Expiry, seconds since 1970 (UTC).
    pub exp: u64,
    /// Issued at, seconds since 1970 (UTC).
    #[serde(default)]
    pub iat: u64,
    /// The issuer; checked when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audience; checked when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// The authenticated caller of a request, as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject: the actor recorded on events.
    pub sub: String,
    /// The display name, when the token has one.
    pub name: Option<String>,
    /// The role.
    pub role: Role,
    /// The task forces a `task_force` caller belongs to (empty for other roles).
    pub task_forces: BTreeSet<String>,
}

impl Caller {
    /// Whether this caller may record a fact the domain says `responsibility` answers for.
    pub fn may_record(&self, responsibility: &Responsibility) -> bool {
        match (self.role, responsibility) {
            (Role::Admin, _) => true,
            (Role::Office, Responsibility::Office | Responsibility::TaskForce(_)) => true,
            (Role::TaskForce, Responsibility::TaskForce(id)) => self.task_forces.contains(id),
            _ => false,
        }
    }

    /// Whether this caller may read personal data (contact details) of `task_force`'s people in clear.
    pub fn may_read_personal_data_of(&self, task_force: &str) -> bool {
        match self.role {
            Role::Admin | Role::Office => true,
            Role::TaskForce => self.task_forces.contains(task_force),
            Role::Leader | Role::Auditor | Role::Subscriber => false,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Put there by [`middleware`]; a router served without it refuses everyone.
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| ApiError::Unauthenticated {
            rule: "token_required",
            message: "需要有效的访问令牌 (a valid bearer token is required)".to_owned(),
        })
    }
}

/// Why a token was refused: each becomes a 401 with its own rule.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// The signature does not verify, or the algorithm or key is not one configured.
    #[error("bad signature or unknown key: {0}")]
    BadSignature(String),
    /// The claims are missing, malformed, or the issuer/audience is wrong.
    #[error("bad claims: {0}")]
    BadClaims(String),
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        let (rule, message) = match &error {
            TokenError::Missing => (
                "token_required",
                "缺少访问令牌，请在 Authorization 头中携带 Bearer 令牌 (missing bearer token)".to_owned(),
            ),
            TokenError::Expired => ("token_expired", "访问令牌已过期，请重新登录 (the token has expired)".to_owned()),
            TokenError::BadSignature(_) => {
                ("token_signature", "访问令牌签名无效或签发密钥未被信任 (bad signature or untrusted key)".to_owned())
            }
            TokenError::BadClaims(why) => ("token_claims", format!("访问令牌内容不符合要求 (bad claims: {why})")),
        };
        ApiError::Unauthenticated { rule, message }
    }
}

/// How tokens are verified.
#[derive(Clone, Default)]
pub struct AuthSettings {
    /// The HS256 secret (local mode only).
    pub hs256_secret: Option<Vec<u8>>,
    /// The city SSO's public keys.
    pub jwks: Option<JwkSet>,
    /// The issuer every token must name, when set.
    pub issuer: Option<String>,
    /// The audience every token must name, when set.
    pub audience: Option<String>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("AuthSettings")
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<redacted>"))
            .field("jwks_keys", &self.jwks.as_ref().map(|j| j.keys.len()))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// A configuration that cannot verify anything.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// Neither a secret nor a JWKS.
    #[error("no key to verify tokens with: configure an HS256 secret (local mode) or a JWKS")]
    NoKeys,
    /// A JWKS key zhaoshang cannot use.
    #[error("JWKS key {kid:?} cannot be used: {why}")]
    BadJwk {
        /// Its `kid`.
        kid: Option<String>,
        /// Why.
        why: String,
    },
}

struct PublicKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens against the configured keys.
pub struct Authenticator {
    hs256: Option<DecodingKey>,
    public_keys: Vec<PublicKey>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Authenticator {
    /// Builds the verifier.
    ///
    /// # Errors
    /// [`AuthSetupError`] when there is no key, or a JWKS key is neither Ed25519 nor RSA.
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthSetupError> {
        let mut public_keys = Vec::new();
        for jwk in settings.jwks.iter().flat_map(|set| set.keys.iter()) {
            let kid = jwk.common.key_id.clone();
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::OctetKeyPair(_), None | Some(KeyAlgorithm::EdDSA)) => Algorithm::EdDSA,
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                (_, other) => {
                    return Err(AuthSetupError::BadJwk {
                        kid,
                        why: format!("only EdDSA (OKP) and RS256 (RSA) keys are accepted, not {other:?}"),
                    });
                }
            };
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| AuthSetupError::BadJwk { kid: kid.clone(), why: e.to_string() })?;
            public_keys.push(PublicKey { kid, algorithm, key });
        }
        let hs256 = settings.hs256_secret.as_deref().map(DecodingKey::from_secret);
        if hs256.is_none() && public_keys.is_empty() {
            return Err(AuthSetupError::NoKeys);
        }
        Ok(Self { hs256, public_keys, issuer: settings.issuer.clone(), audience: settings.audience.clone() })
    }

    /// Verifies a token and returns its caller.
    ///
    /// # Errors
    /// [`TokenError`] saying why the token is refused.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::BadSignature(e.to_string()))?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::EdDSA | Algorithm::RS256 => self
                .public_keys
                .iter()
                .filter(|k| k.algorithm == header.alg)
                .find(|k| header.kid.is_none() || k.kid == header.kid)
                .map(|k| &k.key),
            _ => None,
        }
        .ok_or_else(|| TokenError::BadSignature(format!("no trusted {:?} key", header.alg)))?;
        let mut validation = Validation::new(header.alg);
        let mut required = vec!["exp", "sub"];
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        required.extend(self.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        validation.leeway = 30;
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                match error.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidAlgorithm
                    | ErrorKind::InvalidKeyFormat
                    | ErrorKind::InvalidToken
                    | ErrorKind::Base64(_)
                    | ErrorKind::Crypto(_) => TokenError::BadSignature(error.to_string()),
                    _ => TokenError::BadClaims(error.to_string()),
                }
            })?
            .claims;
        caller_of(claims)
    }
}

fn caller_of(claims: Claims) -> Result<Caller, TokenError> {
    let sub = claims.sub.trim();
    if sub.is_empty() || sub.chars().count() > 200 || sub.chars().any(char::is_control) {
        return Err(TokenError::BadClaims("sub must be 1 to 200 visible characters".to_owned()));
    }
    if claims.role == Role::TaskForce && claims.task_forces.is_empty() {
        return Err(TokenError::BadClaims("a task_force token must name its task_forces".to_owned()));
    }
    let task_forces =
        if claims.role == Role::TaskForce { claims.task_forces.into_iter().collect() } else { BTreeSet::new() };
    Ok(Caller { sub: sub.to_owned(), name: claims.name, role: claims.role, task_forces })
}

/// Mints an HS256 token (local mode, tests, `zhaoshang token`).
///
/// # Errors
/// When the claims cannot be encoded (never for [`Claims`]).
pub fn mint_hs256(secret: &[u8], claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
}

/// Seconds since 1970, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What a method and path need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Open,
    /// A valid token of one of these roles.
    Roles(&'static [Role]),
}

/// Roles that read: everyone with a token.
pub const READERS: &[Role] = &Role::ALL;
/// Roles that record facts; which facts is checked per command.
pub const WRITERS: &[Role] = &[Role::Admin, Role::Office, Role::TaskForce];
/// The administrator alone.
pub const ADMIN: &[Role] = &[Role::Admin];
/// The audit trail's readers.
pub const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];

/// The paths anyone may call without a token.
pub const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/openapi.json"];

/// The console's pages that need no session: logging in and out, the SSO's
/// form_post callback (under `/console/login`), and the static assets.
pub const CONSOLE_OPEN_PATHS: [&str; 3] = ["/console/login", "/console/logout", "/console/assets"];

/// The cookie holding a console session: the caller's token itself, HttpOnly
/// and `SameSite=Strict`.
pub const SESSION_COOKIE: &str = "zhaoshang_session";

/// The header a cookie-authenticated write must carry, with the value `1`.
pub const CONSOLE_HEADER: &str = "x-zhaoshang-console";

/// The console's login page, where an unauthenticated console page sends the browser.
pub const CONSOLE_LOGIN_PATH: &str = "/console/login";

/// One line of the policy table.
#[derive(Debug, Clone)]
pub struct PolicyRule {
    /// The method, or any method when `None`.
    pub method: Option<Method>,
    /// A path prefix, matched on whole segments (`/api/v1/audit` matches `/api/v1/audit/chains`, not `/api/v1/auditx`).
    pub prefix: &'static str,
    /// What it needs.
    pub access: Access,
}

/// Who may call what, by method and path prefix. The longest matching
/// prefix wins (a rule with a method beats one without at equal length);
/// a path no rule matches needs a token of a reading role for GET and HEAD,
/// and is refused to everyone for any other method, so that a route added
/// without a rule is readable by the bureau's people but writable by none.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<PolicyRule>,
}

impl Policy {
    /// Adds a rule.
    #[must_use]
    pub fn rule(mut self, method: Option<Method>, prefix: &'static str, access: Access) -> Self {
        self.rules.push(PolicyRule { method, prefix, access });
        self
    }

    /// What `method` on `path` needs.
    pub fn access(&self, method: &Method, path: &str) -> Access {
        let matches_prefix = |prefix: &str| {
            path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
        };
        let best = self
            .rules
            .iter()
            .filter(|r| r.method.as_ref().is_none_or(|m| m == method) && matches_prefix(r.prefix))
            .max_by_key(|r| (r.prefix.len(), r.method.is_some()));
        match best {
            Some(rule) => rule.access,
            None if method == Method::GET || method == Method::HEAD => Access::Roles(READERS),
            None => Access::Roles(&[]),
        }
    }

    /// zhaoshang's table. Other services' routes get a line here.
    pub fn zhaoshang() -> Self {
        let (get, put, post) = (Some(Method::GET), Some(Method::PUT), Some(Method::POST));
        let mut policy = Self::default();
        for path in OPEN_PATHS.into_iter().chain(CONSOLE_OPEN_PATHS) {
            policy = policy.rule(None, path, Access::Open);
        }
        policy = policy
            // Reading the audit trail and the metrics.
            .rule(get.clone(), "/api/v1/audit", Access::Roles(AUDITORS))
            // The console's audit page shows the same trail; its other pages are
            // readable by every role (each page shows only what the role may see).
            .rule(get.clone(), "/console/audit", Access::Roles(AUDITORS))
            .rule(get, "/metrics", Access::Roles(ADMIN))
            // The plan, its leading group, and task forces' establishment (PUT) are the administrator's.
            .rule(put.clone(), "/api/v1/plan-periods", Access::Roles(ADMIN))
            .rule(put.clone(), "/api/v1/leading-groups", Access::Roles(ADMIN))
            .rule(put.clone(), "/api/v1/task-forces", Access::Roles(ADMIN))
            // Facts: which task force's is checked per command against the aggregate.
            .rule(post.clone(), "/api/v1/task-forces", Access::Roles(WRITERS))
            .rule(post.clone(), "/api/v1/projects", Access::Roles(WRITERS))
            .rule(put, "/api/v1/projects", Access::Roles(WRITERS))
            .rule(post.clone(), "/api/v1/activities", Access::Roles(WRITERS))
            .rule(post, "/api/v1/meetings", Access::Roles(WRITERS));
        // Records other parts of the system add (monthly reports, escalations,
        // briefings, the ledger's enterprises, platforms, expenditure and
        // talent, imports): open to the recording roles here; which of them may record
        // what is the aggregate's `responsibility`, the administrator's alone
        // until the aggregate says otherwise.
        for prefix in [
            "/api/v1/monthly-reports",
            "/api/v1/escalations",
            "/api/v1/briefings",
            "/api/v1/enterprises",
            "/api/v1/service-platforms",
            "/api/v1/expenditures",
            "/api/v1/talent-introductions",
            "/api/v1/imports",
        ] {
            policy = policy.rule(Some(Method::POST), prefix, Access::Roles(WRITERS)).rule(
                Some(Method::PUT),
                prefix,
                Access::Roles(WRITERS),
            );
        }
        policy
    }
}

/// A token bucket per caller for writes: `per_second` tokens flow in, at
/// most `burst` are kept. Reads are not limited here.
pub struct WriteRateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, tokio::time::Instant)>>,
}

/// Most callers the limiter remembers before it starts over (forgetting is
/// generous, never strict).
const MAX_BUCKETS: usize = 100_000;

impl WriteRateLimiter {
    /// A limiter allowing `per_second` writes per caller on average, `burst` at once.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second: per_second.max(0.001), burst: f64::from(burst.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token from `caller`'s bucket.
    ///
    /// # Errors
    /// How long to wait until a token is there.
    pub fn take(&self, caller: &str) -> Result<(), Duration> {
        let now = tokio::time::Instant::now();
        let mut buckets = self.buckets.lock().expect("rate limiter lock poisoned");
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(caller) {
            buckets.clear();
        }
        let (tokens, last) = buckets.entry(caller.to_owned()).or_insert((self.burst, now));
        let refilled = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / self.per_second))
        }
    }
}

/// Everything [`middleware`] needs.
pub struct Security {
    /// Verifies tokens.
    pub authenticator: Authenticator,
    /// Who may call what.
    pub policy: Policy,
    /// The write rate limit.
    pub limiter: WriteRateLimiter,
}

fn bearer(request: &Request) -> Result<&str, TokenError> {
    let value = request.headers().get(header::AUTHORIZATION).ok_or(TokenError::Missing)?;
    let text = value.to_str().map_err(|_| TokenError::BadSignature("not visible ASCII".to_owned()))?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(TokenError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(TokenError::Missing);
    }
    Ok(token.trim())
}

/// The value of the cookie `name` among a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Where a request's token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// The `Authorization: Bearer` header: an API client.
    Bearer,
    /// The console's session cookie: a browser.
    SessionCookie,
}

/// The request's token: the bearer header wins; without one, the console's session cookie.
fn credentials(request: &Request) -> Result<(&str, Credential), TokenError> {
    match bearer(request) {
        Ok(token) => Ok((token, Credential::Bearer)),
        Err(TokenError::Missing) => cookie(request.headers(), SESSION_COOKIE)
            .map(|token| (token, Credential::SessionCookie))
            .ok_or(TokenError::Missing),
        Err(other) => Err(other),
    }
}

/// Whether `path` is one of the console's HTML pages (they answer people, not programs).
pub fn is_console_page(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// Where an unauthenticated console page sends the browser: the login page,
/// which comes back to `path` (and its query) once logged in.
fn login_redirect(request: &Request) -> Response {
    let back = request.uri().path_and_query().map_or("/console/", |p| p.as_str());
    let next = percent_encoding::utf8_percent_encode(back, percent_encoding::NON_ALPHANUMERIC);
    let location = format!("{CONSOLE_LOGIN_PATH}?next={next}");
    (axum::http::StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// A console page a role may not see: a page for a person, not problem+json.
fn console_forbidden(message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>无权访问</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head><body><main class=\"narrow\">\
         <h1>无权访问</h1><p>{}</p><p><a href=\"/console/\">返回总览</a></p></main></body></html>",
        html_escape(message)
    );
    (axum::http::StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// Escapes text for HTML (the only HTML this crate writes is [`console_forbidden`]).
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The axum middleware: authenticates, authorises by the policy table,
/// limits writes, and hands the [`Caller`] to the handlers.
pub async fn middleware(State(security): State<Arc<Security>>, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let roles = match security.policy.access(&method, request.uri().path()) {
        Access::Open => return next.run(request).await,
        Access::Roles(roles) => roles,
    };
    let console_page = is_console_page(request.uri().path());
    let (caller, credential) = match credentials(&request)
        .and_then(|(token, credential)| Ok((security.authenticator.verify(token)?, credential)))
    {
        Ok(found) => found,
        Err(_) if console_page => return login_redirect(&request),
        Err(error) => return ApiError::from(error).into_response(),
    };
    if !roles.contains(&caller.role) {
        let message = if roles.is_empty() {
            format!("此接口不接受 {method} 请求 (no role may {method} this path)")
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.code()).collect();
            format!(
                "角色 {} 无权执行此操作，需要：{} (role {} may not do this)",
                caller.role.code(),
                allowed.join("、"),
                caller.role.code()
            )
        };
        if console_page {
            return console_forbidden(&message);
        }
        return ApiError::Forbidden { rule: "role_not_allowed", message }.into_response();
    }
    let is_write = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    // A browser sends the cookie with any form a hostile page submits to us;
    // only our own script can add this header (a cross-site request carrying
    // it needs a CORS preflight, which nothing here grants).
    if is_write
        && credential == Credential::SessionCookie
        && request.headers().get(CONSOLE_HEADER).is_none_or(|value| value.as_bytes() != b"1")
    {
        return ApiError::Forbidden {
            rule: "console_header_required",
            message: "以登录会话（Cookie）提交的写操作须带 X-Zhaoshang-Console: 1 请求头 (a cookie-authenticated write needs the X-Zhaoshang-Console: 1 header)".to_owned(),
        }
        .into_response();
    }
    if is_write {
        if let Err(wait) = security.limiter.take(&caller.sub) {
            let seconds = u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX);
            return ApiError::TooManyRequests { retry_after_seconds: seconds }.into_response();
        }
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Answers 503 problem+json when a request takes longer than `limit`.
///
/// tower-http's `TimeoutLayer` answers a bare 408 with no body; this one
/// answers in the same problem+json as every other error. Dropping a
/// command half-way is safe: an append either happened (and a retry with
/// the same idempotency key finds it) or did not.
pub async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout { limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX) }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims(role: Role, task_forces: &[&str], exp_offset: i64) -> Claims {
        let now = unix_now();
        Claims {
            sub: "alice".to_owned(),
            name: Some("张三".to_owned()),
            role,
            task_forces: task_forces.iter().map(|s| (*s).to_owned()).collect(),
            exp: now.saturating_add_signed(exp_offset),
            iat: now,
            iss: None,
            aud: None,
        }
    }

    fn local() -> Authenticator {
        Authenticator::new(&AuthSettings { hs256_secret: Some(SECRET.to_vec()), ..AuthSettings::default() })
            .expect("keys")
    }

    #[test]
    fn a_local_token_round_trips_to_its_caller() {
        let token = mint_hs256(SECRET, &claims(Role::TaskForce, &["automotive"], 600)).expect("mint");
        let caller = local().verify(&token).expect("valid");
        assert_eq!(caller.sub, "alice");
        assert_eq!(caller.role, Role::TaskForce);
        assert!(caller.task_forces.contains("automotive"));
    }

    #[test]
    fn expired_wrongly_signed_and_malformed_tokens_are_refused() {
        let expired = mint_hs256(SECRET, &claims(Role::Admin, &[], -3600)).expect("mint");
        assert_eq!(local().verify(&expired), Err(TokenError::Expired));
        let forged = mint_hs256(b"another secret, not ours, 32 bytes", &claims(Role::Admin, &[], 600)).expect("mint");
        assert!(matches!(local().verify(&forged), Err(TokenError::BadSignature(_))));
        assert!(matches!(local().verify("not.a.token"), Err(TokenError::BadSignature(_))));
        let no_task_forces = mint_hs256(SECRET, &claims(Role::TaskForce, &[], 600)).expect("mint");
        assert!(matches!(local().verify(&no_task_forces), Err(TokenError::BadClaims(_))));
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let settings = AuthSettings {
            hs256_secret: Some(SECRET.to_vec()),
            issuer: Some("https://sso.liuzhou.gov.cn".to_owned()),
            audience: Some("zhaoshang".to_owned()),
            ..AuthSettings::default()
        };
        let auth = Authenticator::new(&settings).expect("keys");
        let mut good = claims(Role::Leader, &[], 600);
        good.iss = Some("https://sso.liuzhou.gov.cn".to_owned());
        good.aud = Some("zhaoshang".to_owned());
        assert!(auth.verify(&mint_hs256(SECRET, &good).expect("mint")).is_ok());
        let mut wrong_audience = good.clone();
        wrong_audience.aud = Some("another-system".to_owned());
        assert!(matches!(
            auth.verify(&mint_hs256(SECRET, &wrong_audience).expect("mint")),
            Err(TokenError::BadClaims(_))
        ));
        let mut no_issuer = good;
        no_issuer.iss = None;
        assert!(matches!(auth.verify(&mint_hs256(SECRET, &no_issuer).expect("mint")), Err(TokenError::BadClaims(_))));
    }

    #[test]
    fn an_eddsa_token_verifies_against_the_jwks_and_a_local_secret_cannot_stand_in() {
        use base64::Engine as _;
        use ring::signature::KeyPair as _;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let jwks: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "city-sso-1", "alg": "EdDSA", "use": "sig"}
        ]}))
        .expect("jwks");
        let sso = Authenticator::new(&AuthSettings { jwks: Some(jwks), ..AuthSettings::default() }).expect("keys");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("city-sso-1".to_owned());
        let token =
            jsonwebtoken::encode(&header, &claims(Role::Office, &[], 600), &EncodingKey::from_ed_der(pkcs8.as_ref()))
                .expect("mint");
        assert_eq!(sso.verify(&token).expect("valid").role, Role::Office);
        // Without a configured secret, an HS256 token is never accepted.
        let local_token = mint_hs256(SECRET, &claims(Role::Admin, &[], 600)).expect("mint");
        assert!(matches!(sso.verify(&local_token), Err(TokenError::BadSignature(_))));
    }

    #[test]
    fn the_policy_table_opens_health_guards_audit_and_refuses_unlisted_writes() {
        let policy = Policy::zhaoshang();
        assert_eq!(policy.access(&Method::GET, "/healthz"), Access::Open);
        assert_eq!(policy.access(&Method::GET, "/openapi.json"), Access::Open);
        assert_eq!(policy.access(&Method::GET, "/api/v1/audit/chains"), Access::Roles(AUDITORS));
        assert_eq!(policy.access(&Method::GET, "/api/v1/auditx"), Access::Roles(READERS));
        assert_eq!(policy.access(&Method::GET, "/metrics"), Access::Roles(ADMIN));
        assert_eq!(policy.access(&Method::PUT, "/api/v1/task-forces/automotive"), Access::Roles(ADMIN));
        assert_eq!(policy.access(&Method::POST, "/api/v1/task-forces/automotive/dockings"), Access::Roles(WRITERS));
        assert_eq!(policy.access(&Method::POST, "/api/v1/some-new-thing"), Access::Roles(&[]));
        assert_eq!(policy.access(&Method::GET, "/api/v1/some-new-thing"), Access::Roles(READERS));
        assert_eq!(policy.access(&Method::DELETE, "/api/v1/projects/x"), Access::Roles(&[]));
        // The console: logging in (and the SSO callback) and its assets need no
        // session; its pages need one; the audit page only the auditors.
        assert_eq!(policy.access(&Method::GET, "/console/login"), Access::Open);
        assert_eq!(policy.access(&Method::GET, "/console/login/sso"), Access::Open);
        assert_eq!(policy.access(&Method::POST, "/console/login/callback"), Access::Open);
        assert_eq!(policy.access(&Method::GET, "/console/assets/echarts.min.js"), Access::Open);
        assert_eq!(policy.access(&Method::GET, "/console/"), Access::Roles(READERS));
        assert_eq!(policy.access(&Method::GET, "/console/audit"), Access::Roles(AUDITORS));
        assert_eq!(policy.access(&Method::POST, "/console/task-forces/automotive"), Access::Roles(&[]));
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_an_empty_one_is_none() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append(header::COOKIE, "theme=dark; zhaoshang_session=abc.def.ghi".parse().expect("header"));
        headers.append(header::COOKIE, "other=1".parse().expect("header"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc.def.ghi"));
        assert_eq!(cookie(&headers, "other"), Some("1"));
        let mut empty = axum::http::HeaderMap::new();
        empty.append(header::COOKIE, "zhaoshang_session=".parse().expect("header"));
        assert_eq!(cookie(&empty, SESSION_COOKIE), None);
        assert!(is_console_page("/console/"));
        assert!(!is_console_page("/consoles"));
    }

    #[test]
    fn the_office_records_any_task_forces_facts_a_member_only_their_own() {
        let member = Caller {
            sub: "m".into(),
            name: None,
            role: Role::TaskForce,
            task_forces: ["automotive".to_owned()].into(),
        };
        assert!(member.may_record(&Responsibility::TaskForce("automotive".into())));
        assert!(!member.may_record(&Responsibility::TaskForce("biomedicine".into())));
        assert!(!member.may_record(&Responsibility::Office));
        let office = Caller { role: Role::Office, task_forces: BTreeSet::new(), ..member.clone() };
        assert!(office.may_record(&Responsibility::TaskForce("biomedicine".into())));
        assert!(office.may_record(&Responsibility::Office));
        assert!(!office.may_record(&Responsibility::Administration));
        let auditor = Caller { role: Role::Auditor, ..office.clone() };
        assert!(!auditor.may_record(&Responsibility::TaskForce("automotive".into())));
    }

    #[tokio::test(start_paused = true)]
    async fn the_write_bucket_empties_and_refills_with_time() {
        let limiter = WriteRateLimiter::new(2.0, 3);
        for _ in 0..3 {
            assert!(limiter.take("alice").is_ok());
        }
        let wait = limiter.take("alice").expect_err("the bucket is empty");
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(limiter.take("bob").is_ok(), "each caller has a bucket of their own");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(limiter.take("alice").is_ok());
    }
}

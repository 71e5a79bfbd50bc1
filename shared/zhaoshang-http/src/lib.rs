//! What zhaoshang's HTTP services share: the one error type and its RFC 9457
//! problem+json body, the JSON body extractor that names the field and the
//! rule of a refused value, and graceful shutdown.
//!
//! Every 4xx says what to fix in plain words; every 5xx says nothing of its
//! cause to the caller (the cause is logged with the request's correlation id).

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zhaoshang_domain::DomainError;
use zhaoshang_domain::values::ValueError;

pub mod auth;
pub mod openapi;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// One field that broke one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FieldViolation {
    /// The field, as a JSON path into the request (`enterprises[2].name`).
    pub field: String,
    /// Stable code of the rule (`positive_amount`).
    pub rule: String,
    /// What to do, in plain Chinese.
    pub message: String,
}

/// An RFC 9457 problem document, as every error response carries it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:zhaoshang:problem:invalid-field`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short, human summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened this time, in plain words.
    pub detail: String,
    /// For invalid input: every field and the rule it broke.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldViolation>,
    /// For rule rejections: the stable rule code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// Everything an HTTP handler can fail with, and the one place that turns it
/// into a status and a problem document.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, not the right shape, or a value breaks a rule (422).
    #[error("invalid field {field}: [{rule}] {message}")]
    InvalidField {
        /// The field's JSON path.
        field: String,
        /// The rule's code.
        rule: String,
        /// What to fix.
        message: String,
    },
    /// The request itself is malformed: not JSON, wrong content type, too large (400/413/415).
    #[error("bad request: {message}")]
    BadRequest {
        /// The status to answer with.
        status: StatusCode,
        /// The rule's code.
        rule: &'static str,
        /// What to fix.
        message: String,
    },
    /// The command does not fit the record's current state (422).
    #[error("not allowed now: [{rule}] {message}")]
    NotAllowed {
        /// The rule's code.
        rule: String,
        /// Why.
        message: String,
    },
    /// The record does not exist (404).
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// Someone else changed the record first, or it exists already (409).
    #[error("conflict: {message}")]
    Conflict {
        /// The rule's code.
        rule: &'static str,
        /// What happened.
        message: String,
    },
    /// A dependency is down; nothing was written; retry later (503).
    #[error("unavailable: {cause}")]
    Unavailable {
        /// The cause, for the log only.
        cause: String,
        /// Seconds after which a retry makes sense.
        retry_after_seconds: u32,
    },
    /// The read models did not reach the requested consistency token in time (503).
    #[error("projection behind: wanted {wanted}, reached {reached}")]
    ProjectionBehind {
        /// The token asked for.
        wanted: u64,
        /// Where the projections stand.
        reached: u64,
    },
    /// A bug or an unexpected failure (500). The cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
    /// No valid bearer token: missing, expired, wrongly signed (401, `WWW-Authenticate: Bearer`).
    #[error("unauthenticated: [{rule}] {message}")]
    Unauthenticated {
        /// The rule's code (`token_expired`).
        rule: &'static str,
        /// What to do.
        message: String,
    },
    /// A valid token, but its role or task forces do not allow this (403).
    #[error("forbidden: [{rule}] {message}")]
    Forbidden {
        /// The rule's code (`role_not_allowed`, `own_task_force_only`).
        rule: &'static str,
        /// Why.
        message: String,
    },
    /// The caller wrote too often; nothing was written (429, `Retry-After`).
    #[error("too many writes")]
    TooManyRequests {
        /// Seconds until a write will be accepted again.
        retry_after_seconds: u32,
    },
    /// The request took longer than the service allows (503, `Retry-After`).
    #[error("timed out after {limit_ms} ms")]
    Timeout {
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
}

impl ApiError {
    /// An unexpected failure; `cause` goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// A query parameter that breaks a rule.
    pub fn invalid(field: &str, rule: &str, message: impl Into<String>) -> Self {
        Self::InvalidField { field: field.to_owned(), rule: rule.to_owned(), message: message.into() }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidField { .. } | Self::NotAllowed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { status, .. } => *status,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unavailable { .. } | Self::ProjectionBehind { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        let status = self.status().as_u16();
        let (kind, title, detail, errors, rule) = match self {
            Self::InvalidField { field, rule, message } => (
                "invalid-field",
                "请求中的字段不符合规则",
                format!("字段 {field}：{message}"),
                vec![FieldViolation { field: field.clone(), rule: rule.clone(), message: message.clone() }],
                None,
            ),
            Self::BadRequest { rule, message, .. } => {
                ("bad-request", "请求格式错误", message.clone(), vec![], Some((*rule).to_owned()))
            }
            Self::NotAllowed { rule, message } => {
                ("not-allowed-now", "当前状态下不允许此操作", message.clone(), vec![], Some(rule.clone()))
            }
            Self::NotFound { what } => ("not-found", "未找到记录", format!("未找到{what}"), vec![], None),
            Self::Conflict { rule, message } => {
                ("conflict", "记录已被他人修改", message.clone(), vec![], Some((*rule).to_owned()))
            }
            Self::Unavailable { .. } => (
                "unavailable",
                "服务暂时不可用",
                "事件存储或数据库暂时无法访问，本次操作未写入任何数据，请稍后使用同一幂等键重试".to_owned(),
                vec![],
                None,
            ),
            Self::ProjectionBehind { wanted, reached } => (
                "projection-behind",
                "查询数据尚未更新到所需版本",
                format!("所需一致性令牌为 {wanted}，当前读模型只到 {reached}，请稍后重试"),
                vec![],
                None,
            ),
            Self::Internal(_) => {
                ("internal", "服务器内部错误", "服务器内部错误，已记录日志，请联系系统管理员".to_owned(), vec![], None)
            }
            Self::Unauthenticated { rule, message } => {
                ("unauthenticated", "未通过身份认证", message.clone(), vec![], Some((*rule).to_owned()))
            }
            Self::Forbidden { rule, message } => {
                ("forbidden", "无权执行此操作", message.clone(), vec![], Some((*rule).to_owned()))
            }
            Self::TooManyRequests { retry_after_seconds } => (
                "too-many-requests",
                "写入过于频繁",
                format!("写入过于频繁，本次未写入任何数据，请 {retry_after_seconds} 秒后重试 (too many writes)"),
                vec![],
                Some("write_rate_limit".to_owned()),
            ),
            Self::Timeout { limit_ms } => (
                "timeout",
                "请求超时",
                format!("请求处理超过 {limit_ms} 毫秒已中止；写操作请用同一幂等键重试 (request timed out)"),
                vec![],
                Some("request_timeout".to_owned()),
            ),
        };
        Problem {
            problem_type: format!("urn:zhaoshang:problem:{kind}"),
            title: title.to_owned(),
            status,
            detail,
            errors,
            rule,
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::InvalidField { field, rule, message } => {
                Self::InvalidField { field: field.to_owned(), rule: rule.to_owned(), message }
            }
            DomainError::NotAllowedNow { rule, message } => Self::NotAllowed { rule: rule.to_owned(), message },
            DomainError::NotFound { aggregate_type } => {
                Self::NotFound { what: aggregate_label(aggregate_type).to_owned() }
            }
            DomainError::AlreadyExists { aggregate_type } => Self::Conflict {
                rule: "must_not_exist",
                message: format!("{}已存在", aggregate_label(aggregate_type)),
            },
        }
    }
}

/// The Chinese name of an aggregate type, for messages.
pub fn aggregate_label(aggregate_type: &str) -> &'static str {
    match aggregate_type {
        "task_force" => "专班",
        "project" => "项目",
        "activity" => "招商活动",
        "meeting" => "会议",
        "plan_period" => "规划期",
        "leading_group" => "领导小组",
        "monthly_report" => "该月进展报告",
        "escalation" => "督办事项",
        _ => "记录",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, "request refused");
        }
        let problem = self.problem();
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Self::Unavailable { retry_after_seconds, .. } = &self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
        }
        if let Self::ProjectionBehind { .. } | Self::Timeout { .. } = &self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u32));
        }
        if let Self::TooManyRequests { retry_after_seconds } = &self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
        }
        if let Self::Unauthenticated { rule, .. } = &self {
            // RFC 6750: no error code when no credentials were sent at all.
            let challenge = match *rule {
                "token_required" => "Bearer realm=\"zhaoshang\"".to_owned(),
                rule => format!("Bearer realm=\"zhaoshang\", error=\"invalid_token\", error_description=\"{rule}\""),
            };
            let value = HeaderValue::from_str(&challenge).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A JSON body, deserialised so that a refusal names the field (as a JSON
/// path) and the rule. Replaces axum's `Json` for request bodies.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::BadRequest {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                rule: "json_content_type",
                message: "请求体须为 JSON（Content-Type: application/json）".to_owned(),
            });
        }
        let bytes = bytes::Bytes::from_request(request, state).await.map_err(|e| ApiError::BadRequest {
            status: e.status(),
            rule: "body_readable",
            message: format!("无法读取请求体（最大 {MAX_BODY_BYTES} 字节）"),
        })?;
        parse_json(&bytes).map(ValidJson)
    }
}

/// Parses a JSON body into `T`, naming the failing field and rule.
///
/// # Errors
/// [`ApiError::BadRequest`] for text that is not JSON; [`ApiError::InvalidField`]
/// for JSON of the wrong shape or with a value that breaks a rule.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest {
                status: StatusCode::BAD_REQUEST,
                rule: "json_syntax",
                message: format!("请求体不是合法的 JSON：{inner}"),
            };
        }
        let text = inner.to_string();
        let (rule, message) = match ValueError::parse_display(&text) {
            Some((rule, message)) => (rule.to_owned(), message.to_owned()),
            None => (schema_rule(&text).to_owned(), text.split(" at line ").next().unwrap_or(&text).to_owned()),
        };
        let field = if field == "." { missing_field(&text).unwrap_or(field) } else { field };
        ApiError::InvalidField { field, rule, message }
    })
}

fn schema_rule(serde_message: &str) -> &'static str {
    if serde_message.starts_with("missing field") {
        "required"
    } else if serde_message.starts_with("unknown field") {
        "unknown_field"
    } else if serde_message.starts_with("unknown variant") {
        "allowed_values"
    } else if serde_message.contains("input contains invalid characters")
        || serde_message.contains("premature end of input")
    {
        "date_format"
    } else {
        "type"
    }
}

fn missing_field(serde_message: &str) -> Option<String> {
    let rest = serde_message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM), so that
/// servers and consumers finish what they are doing and exit.
pub async fn shutdown_signal(token: tokio_util::sync::CancellationToken) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
        () = token.cancelled() => {}
    }
    token.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        amount: zhaoshang_domain::values::Yuan,
        on: chrono::NaiveDate,
        items: Vec<zhaoshang_domain::values::Name>,
    }

    fn field_and_rule(json: &str) -> (String, String) {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::InvalidField { field, rule, .. }) => (field, rule),
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn a_refused_value_names_its_field_and_rule() {
        assert_eq!(
            field_and_rule(r#"{"amount": -1, "on": "2022-01-01", "items": []}"#),
            ("amount".into(), "positive_amount".into())
        );
        assert_eq!(field_and_rule(r#"{"amount": 1, "on": "2022-13-01", "items": []}"#).0, "on");
        assert_eq!(
            field_and_rule(r#"{"amount": 1, "on": "2022-01-01", "items": ["a", " "]}"#),
            ("items[1]".into(), "required_text".into())
        );
        assert_eq!(field_and_rule(r#"{"on": "2022-01-01", "items": []}"#), ("amount".into(), "required".into()));
        assert_eq!(field_and_rule(r#"{"amount": 1, "on": "2022-01-01", "items": [], "x": 1}"#).1, "unknown_field");
    }

    #[test]
    fn text_that_is_not_json_is_a_bad_request() {
        assert!(matches!(parse_json::<Body>(b"{not json"), Err(ApiError::BadRequest { rule: "json_syntax", .. })));
    }
}

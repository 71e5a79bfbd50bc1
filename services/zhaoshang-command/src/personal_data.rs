//! Commands on personal data (个人信息保护法): recording a liaison's contact
//! details, sealed with the person's own data key before anything is
//! decided, and erasing them by destroying that key.
//!
//! The plaintext lives only in this request's memory: it is never logged
//! (`ContactDetails` hides itself from `Debug`), never put in an event, and
//! never reaches the read models.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;
use zhaoshang_domain::Responsibility;
use zhaoshang_domain::task_force::{EraseLiaisonContact, RecordLiaisonContact, TaskForce, TaskForceCommand};
use zhaoshang_domain::values::{Name, Slug};
use zhaoshang_http::auth::Caller;
use zhaoshang_http::openapi::{Endpoint, OpenApiBuilder};
use zhaoshang_http::{ApiError, ValidJson};
use zhaoshang_read_model::personal_data::{ContactDetails, KeyStore, seal};

use crate::CommandService;
use crate::repository::CommandAccepted;
use crate::routes::{IdFrom, execute};

/// Namespace of person ids: a person is their name within their task force.
const PERSON_ID_NAMESPACE: Uuid = Uuid::from_u128(0x2b7c_51d0_8e3a_4f19_9c64_07a5_e1d2_3b48);

/// Longest phone number or email accepted, in characters.
const MAX_CONTACT_CHARS: usize = 100;

/// A liaison's contact details as the office or the task force sends them.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiaisonContactBody {
    /// The liaison's name (as in the liaison assignment).
    pub name: Name,
    /// Phone number (digits, spaces, `+`, `-`, parentheses).
    #[serde(default)]
    pub phone: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// From when the details hold.
    pub on: NaiveDate,
}

/// Erasing a person's contact details.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureBody {
    /// The person (`person_id` from the contacts list).
    pub person_id: Uuid,
    /// When it was decided.
    pub on: NaiveDate,
    /// Why.
    pub reason: zhaoshang_domain::values::Text,
}

/// The person id of `name` in `task_force`.
pub fn person_id(task_force: &str, name: &Name) -> Uuid {
    Uuid::new_v5(&PERSON_ID_NAMESPACE, format!("{task_force}/{name}").as_bytes())
}

fn clean_contact(field: &str, raw: Option<String>, valid: fn(&str) -> bool) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = unicode_nfc_trim(&raw);
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > MAX_CONTACT_CHARS {
        return Err(ApiError::invalid(field, "text_too_long", format!("最多 {MAX_CONTACT_CHARS} 个字符")));
    }
    if !valid(&text) {
        let message = if field == "phone" {
            "电话号码只能包含数字、空格、+、-、括号"
        } else {
            "邮箱格式不正确"
        };
        return Err(ApiError::invalid(field, if field == "phone" { "phone_format" } else { "email_format" }, message));
    }
    Ok(Some(text))
}

fn unicode_nfc_trim(raw: &str) -> String {
    // Name::parse normalises to NFC and trims; reuse it when it accepts.
    Name::parse(raw).map(String::from).unwrap_or_else(|_| raw.trim().to_owned())
}

fn is_phone(text: &str) -> bool {
    text.chars().filter(char::is_ascii_digit).count() >= 3
        && text.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c))
}

fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && text.chars().all(|c| c.is_ascii_graphic())
}

fn key_store(service: &CommandService) -> Result<KeyStore, ApiError> {
    service.key_store().ok_or_else(|| ApiError::Unavailable {
        cause: "no personal-data key store configured".to_owned(),
        retry_after_seconds: 5,
    })
}

fn store_failure(error: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable { cause: format!("personal-data key store: {error}"), retry_after_seconds: 2 }
}

async fn record_contact(
    State(service): State<CommandService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    ValidJson(body): ValidJson<LiaisonContactBody>,
) -> Result<Response, ApiError> {
    let task_force = Slug::parse(&id).map_err(|e| ApiError::invalid("id", e.rule, e.message))?;
    // Refuse before a key is made for someone the caller may not record.
    if !caller.may_record(&Responsibility::TaskForce(task_force.to_string())) {
        return Err(ApiError::Forbidden {
            rule: "own_task_force_only",
            message: format!("只能登记本专班的事项：该事项属于专班 {task_force} (only your own task forces' facts)"),
        });
    }
    let contact = ContactDetails {
        phone: clean_contact("phone", body.phone, is_phone)?,
        email: clean_contact("email", body.email, is_email)?,
    };
    if contact.phone.is_none() && contact.email.is_none() {
        return Err(ApiError::invalid("phone", "contact_required", "电话和邮箱至少填写一项"));
    }
    let person_id = person_id(task_force.as_str(), &body.name);
    let keys = key_store(&service)?;
    let data_key = keys.key_for(person_id).await.map_err(store_failure)?;
    let sealed = seal(&data_key, task_force.as_str(), person_id, &contact).map_err(ApiError::internal)?;
    let command = TaskForceCommand::RecordLiaisonContact(RecordLiaisonContact {
        person_id,
        name: body.name,
        on: body.on,
        contact: sealed,
    });
    execute::<TaskForce>(&service, IdFrom::Path, Some(id), &headers, &caller, command).await
}

async fn erase_contact(
    State(service): State<CommandService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    ValidJson(body): ValidJson<ErasureBody>,
) -> Result<Response, ApiError> {
    let keys = key_store(&service)?;
    let person_id = body.person_id;
    let command =
        TaskForceCommand::EraseLiaisonContact(EraseLiaisonContact { person_id, on: body.on, reason: body.reason });
    // The erasure is recorded first (so a refused one destroys nothing),
    // then the key is destroyed. Should that fail, the answer is 503 and
    // the same request (a replay, or a second erasure) destroys it.
    let response = execute::<TaskForce>(&service, IdFrom::Path, Some(id), &headers, &caller, command).await?;
    keys.destroy(person_id).await.map_err(store_failure)?;
    tracing::info!(%person_id, by = %caller.sub, "personal data erased: the person's data key is destroyed");
    Ok(response)
}

/// The routes.
pub fn routes() -> Router<CommandService> {
    Router::new()
        .route("/api/v1/task-forces/{id}/liaison-contacts", post(record_contact))
        .route("/api/v1/task-forces/{id}/liaison-contact-erasures", post(erase_contact))
}

/// Their documentation.
pub fn document(docs: &mut OpenApiBuilder) {
    let headers = vec![
        ("Idempotency-Key", "客户端生成的唯一键；重试时使用同一键只会写入一次，并返回第一次的结果"),
        ("If-Match", "期望的记录版本（上次响应的 ETag）；版本不符时返回 409"),
        ("X-Correlation-Id", "关联编号（UUID），同一业务流程的多条命令使用同一编号"),
    ];
    let accepted = docs.schema::<CommandAccepted>();
    let request = docs.schema::<LiaisonContactBody>();
    docs.add(Endpoint {
        method: "post",
        path: "/api/v1/task-forces/{id}/liaison-contacts",
        tag: "个人信息",
        summary: "登记联络员联系方式（以本人数据密钥加密后写入事件）",
        request: Some(request),
        response: Some(accepted.clone()),
        status: 201,
        query: vec![],
        headers: headers.clone(),
    });
    let request = docs.schema::<ErasureBody>();
    docs.add(Endpoint {
        method: "post",
        path: "/api/v1/task-forces/{id}/liaison-contact-erasures",
        tag: "个人信息",
        summary: "删除某人的联系方式（销毁其数据密钥；仅领导小组办公室或管理员）",
        request: Some(request),
        response: Some(accepted),
        status: 201,
        query: vec![],
        headers,
    });
}

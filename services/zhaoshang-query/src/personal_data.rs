//! Reading personal data (个人信息保护法): a task force's liaison contacts.
//!
//! They are read from the task force's own events, never from the read
//! models (which hold no personal data at all). The office, the
//! administrator and the task force's own members see them in clear, and
//! every such read is recorded in `<schema>_keys.personal_data_reads`;
//! every other role sees the ciphertext only. An erased person shows no
//! details to anyone: their key is gone, and the erasure is honoured even
//! before that.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;
use zhaoshang_domain::task_force::{SealedContact, TaskForceEvent};
use zhaoshang_http::ApiError;
use zhaoshang_http::auth::Caller;
use zhaoshang_http::openapi::{Endpoint, OpenApiBuilder};
use zhaoshang_read_model::personal_data::{ContactDetails, KeyStore, open};

use crate::QueryService;

/// One person's contact entry.
#[derive(Serialize, schemars::JsonSchema)]
pub struct LiaisonContactView {
    /// The person's id (for an erasure).
    pub person_id: Uuid,
    /// Their name.
    pub name: String,
    /// From when the details hold.
    pub on: NaiveDate,
    /// Whether the details were erased (then nothing else is shown).
    pub erased: bool,
    /// The details in clear, for the office, the administrator and the task force's members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactDetails>,
    /// The details as ciphertext, for every other role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedContact>,
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable { cause: error.to_string(), retry_after_seconds: 2 }
}

async fn liaison_contacts(
    State(service): State<QueryService>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Json<Vec<LiaisonContactView>>, ApiError> {
    let task_force =
        zhaoshang_domain::values::Slug::parse(&id).map_err(|e| ApiError::invalid("id", e.rule, e.message))?;
    let store = service.store.as_ref().ok_or_else(|| unavailable("no event store"))?;
    let subject = store.subject("task_force", task_force.as_str());
    let mut latest = BTreeMap::new();
    let mut erased = BTreeSet::new();
    for stored in store.read_subject_after(&subject, 0).await.map_err(unavailable)? {
        match stored.envelope.decode::<TaskForceEvent>().map_err(ApiError::internal)? {
            TaskForceEvent::LiaisonContactRecorded(contact) => {
                erased.remove(&contact.person_id);
                latest.insert(contact.person_id, contact);
            }
            TaskForceEvent::LiaisonContactErased(erasure) => {
                erased.insert(erasure.person_id);
            }
            _ => {}
        }
    }
    let in_clear = caller.may_read_personal_data_of(task_force.as_str());
    let keys = KeyStore::new(service.read_model.pool().clone(), service.read_model.schema());
    let mut views = Vec::new();
    let mut read_in_clear = Vec::new();
    for (person_id, recorded) in latest {
        let is_erased = erased.contains(&person_id);
        let mut view = LiaisonContactView {
            person_id,
            name: recorded.name.to_string(),
            on: recorded.on,
            erased: is_erased,
            contact: None,
            sealed: None,
        };
        if !is_erased && in_clear {
            if let Some(key) = keys.existing_key(person_id).await.map_err(unavailable)? {
                view.contact = open(&key, task_force.as_str(), person_id, &recorded.contact).ok();
                read_in_clear.push(person_id);
            }
        } else if !is_erased {
            view.sealed = Some(recorded.contact);
        }
        views.push(view);
    }
    // The read is recorded before anything in clear leaves the service.
    keys.record_reads(&caller.sub, caller.role.code(), task_force.as_str(), &read_in_clear)
        .await
        .map_err(unavailable)?;
    Ok(Json(views))
}

/// The routes.
pub fn routes() -> Router<QueryService> {
    Router::new().route("/api/v1/task-forces/{id}/liaison-contacts", get(liaison_contacts))
}

/// Their documentation.
pub fn document(docs: &mut OpenApiBuilder) {
    let response = docs.schema::<Vec<LiaisonContactView>>();
    docs.add(Endpoint {
        method: "get",
        path: "/api/v1/task-forces/{id}/liaison-contacts",
        tag: "个人信息",
        summary: "专班联络员联系方式（领导小组办公室、管理员和本专班成员可见明文，每次读取均留痕；其他角色只见密文）",
        request: None,
        response: Some(response),
        status: 200,
        query: vec![],
        headers: vec![],
    });
}

//! The audit query API, under `/api/v1/audit` (the auditor's role: the
//! security work restricts the prefix).
//!
//! - `GET /api/v1/audit/aggregates/{type}/{id}/events`: an aggregate's whole history;
//! - `GET /api/v1/audit/events?actor=&type=&correlation_id=&from=&to=&after=&limit=`;
//! - `GET /api/v1/audit/events/{event_id}`: the event as stored, with its
//!   inclusion proof against the latest signed tree head covering it;
//! - `GET /api/v1/audit/tree-heads` and `GET /api/v1/audit/consistency?first=&second=`;
//! - `GET /api/v1/audit/export?from=&to=`: a `.tar` audit package (events as
//!   JSON Lines with their proofs, tree heads, consistency proofs, the
//!   public key and a README on how to check it all independently).
//!
//! Lists come from the event log; full envelopes (every field the hash
//! covers) from the stream itself; proofs from the event log's hashes,
//! so a tampered log gives proofs that fail rather than lies.

use crate::q;
use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use zhaoshang_audit::merkle::{Hash, MerkleTree};
use zhaoshang_audit::proof::ConsistencyProof;
use zhaoshang_audit::tree_head::SignedTreeHead;
use zhaoshang_http::ApiError;
use zhaoshang_http::openapi::{Endpoint, OpenApiBuilder, QueryParam};
use zhaoshang_read_model::audit::{AuditEventFilter, AuditEventRow, TreeHeadRow};

use crate::{Params, QueryService, consistent, database};

/// Most events one list answer holds.
const MAX_LIMIT: i64 = 10_000;
/// Most events one audit package holds.
const MAX_EXPORT: i64 = 100_000;

/// The audit routes.
pub fn router(service: QueryService) -> Router {
    Router::new()
        .route("/api/v1/audit/aggregates/{aggregate_type}/{aggregate_id}/events", get(aggregate_history))
        .route("/api/v1/audit/events", get(events))
        .route("/api/v1/audit/events/{event_id}", get(event))
        .route("/api/v1/audit/tree-heads", get(tree_heads))
        .route("/api/v1/audit/consistency", get(consistency))
        .route("/api/v1/audit/export", get(export))
        .with_state(service)
}

/// A page of events.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditEventPage {
    /// The events, in stream order.
    pub events: Vec<AuditEventRow>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<i64>,
}

/// One event with its proof.
#[derive(Debug, Serialize)]
pub struct AuditEventDetail {
    /// Stream sequence.
    pub sequence: u64,
    /// Leaf index in the tree (`sequence - 1`).
    pub leaf_index: u64,
    /// The envelope exactly as stored (every field its hash covers).
    pub event: serde_json::Value,
    /// The latest signed tree head covering it; `null` until one is signed.
    pub tree_head: Option<SignedTreeHead>,
    /// The audit path to that head's root, hex; `null` without a head.
    pub audit_path: Option<Vec<String>>,
}

fn timestamp(params: &Params, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .text(name)
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
                })
                .map_err(|_| ApiError::invalid(name, "timestamp", "须为 RFC 3339 时间或 YYYY-MM-DD 日期（UTC）"))
        })
        .transpose()
}

fn integer(params: &Params, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
    params
        .text(name)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| ApiError::invalid(name, "integer_range", format!("须为 {min} 至 {max} 之间的整数")))
        })
        .transpose()
}

fn page(mut events: Vec<AuditEventRow>, limit: i64) -> AuditEventPage {
    let full = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next_after = if full { events.last().map(|e| e.sequence) } else { None };
    AuditEventPage { events, next_after }
}

async fn aggregate_history(
    State(s): State<QueryService>,
    Path((aggregate_type, aggregate_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<AuditEventPage>, ApiError> {
    let params = Params::new(q.clone(), &["after", "limit"])?;
    consistent(&s, &q).await?;
    let limit = integer(&params, "limit", 1, MAX_LIMIT)?.unwrap_or(MAX_LIMIT);
    let filter = AuditEventFilter {
        aggregate_type: Some(aggregate_type),
        aggregate_id: Some(aggregate_id),
        after: integer(&params, "after", 0, i64::MAX)?,
        limit: limit + 1,
        ..Default::default()
    };
    let events = s.read_model.audit_events(&filter).await.map_err(database)?;
    if events.is_empty() && filter.after.is_none() {
        return Err(ApiError::NotFound { what: "该业务对象".to_owned() });
    }
    Ok(Json(page(events, limit)))
}

const EVENT_FILTERS: &[&str] =
    &["actor", "type", "correlation_id", "from", "to", "aggregate_type", "aggregate_id", "after", "limit"];

fn filter_of(params: &Params, limit: i64) -> Result<AuditEventFilter, ApiError> {
    Ok(AuditEventFilter {
        aggregate_type: params.text("aggregate_type"),
        aggregate_id: params.text("aggregate_id"),
        actor: params.text("actor"),
        event_type: params.text("type"),
        correlation_id: params
            .text("correlation_id")
            .map(|v| v.parse().map_err(|_| ApiError::invalid("correlation_id", "uuid", "须为 UUID")))
            .transpose()?,
        from: timestamp(params, "from")?,
        to: timestamp(params, "to")?,
        after: integer(params, "after", 0, i64::MAX)?,
        limit,
    })
}

async fn events(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<AuditEventPage>, ApiError> {
    let params = Params::new(q.clone(), EVENT_FILTERS)?;
    consistent(&s, &q).await?;
    let limit = integer(&params, "limit", 1, MAX_LIMIT)?.unwrap_or(1000);
    let filter = filter_of(&params, limit + 1)?;
    Ok(Json(page(s.read_model.audit_events(&filter).await.map_err(database)?, limit)))
}

fn event_store(s: &QueryService) -> Result<&zhaoshang_event_store::EventStore, ApiError> {
    s.store.as_ref().ok_or_else(|| ApiError::Unavailable {
        cause: "the query service runs without the event stream".to_owned(),
        retry_after_seconds: 60,
    })
}

async fn stored_event(s: &QueryService, sequence: u64) -> Result<serde_json::Value, ApiError> {
    let stored = event_store(s)?
        .get(sequence)
        .await
        .map_err(|e| ApiError::Unavailable { cause: e.to_string(), retry_after_seconds: 2 })?;
    Ok(serde_json::to_value(&stored.envelope).expect("envelopes serialise"))
}

fn head_of(row: &TreeHeadRow) -> SignedTreeHead {
    SignedTreeHead {
        stream: row.stream.clone(),
        tree_size: u64::try_from(row.tree_size).unwrap_or(0),
        root_hash: row.root_hash.clone(),
        timestamp: row.signed_at.clone(),
        key_id: row.key_id.clone(),
        signature: row.signature.clone(),
    }
}

async fn tree_of(s: &QueryService, size: u64) -> Result<MerkleTree, ApiError> {
    let hashes = s.read_model.event_hashes(size as i64).await.map_err(database)?;
    if hashes.len() as u64 != size {
        return Err(ApiError::internal(format!("the event log holds {} of {size} events", hashes.len())));
    }
    let leaves = hashes
        .iter()
        .map(|h| zhaoshang_audit::chain::event_leaf(h).map_err(|_| ApiError::internal(format!("malformed hash {h}"))))
        .collect::<Result<Vec<Hash>, ApiError>>()?;
    Ok(MerkleTree::new(leaves))
}

async fn event(
    State(s): State<QueryService>,
    Path(event_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<AuditEventDetail>, ApiError> {
    Params::new(q.clone(), &[])?;
    consistent(&s, &q).await?;
    let id: uuid::Uuid = event_id.parse().map_err(|_| ApiError::invalid("event_id", "uuid", "事件编号须为 UUID"))?;
    let row = s
        .read_model
        .audit_event(id)
        .await
        .map_err(database)?
        .ok_or(ApiError::NotFound { what: "该事件".to_owned() })?;
    let sequence = row.sequence as u64;
    let heads = s.read_model.tree_heads().await.map_err(database)?;
    let head = heads.iter().rev().find(|h| h.tree_size as u64 >= sequence).map(head_of);
    let audit_path = match &head {
        Some(head) => {
            let tree = tree_of(&s, head.tree_size).await?;
            let path = tree.inclusion_proof(sequence - 1).map_err(ApiError::internal)?;
            Some(path.iter().map(hex::encode).collect())
        }
        None => None,
    };
    Ok(Json(AuditEventDetail {
        sequence,
        leaf_index: sequence - 1,
        event: stored_event(&s, sequence).await?,
        tree_head: head,
        audit_path,
    }))
}

async fn tree_heads(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TreeHeadRow>>, ApiError> {
    Params::new(q.clone(), &[])?;
    consistent(&s, &q).await?;
    Ok(Json(s.read_model.tree_heads().await.map_err(database)?))
}

async fn consistency(
    State(s): State<QueryService>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let params = Params::new(q.clone(), &["first", "second"])?;
    consistent(&s, &q).await?;
    let first = integer(&params, "first", 1, i64::MAX)?
        .ok_or_else(|| ApiError::invalid("first", "required", "须给出较早的树头大小"))?;
    let second = integer(&params, "second", 1, i64::MAX)?
        .ok_or_else(|| ApiError::invalid("second", "required", "须给出较晚的树头大小"))?;
    if first > second {
        return Err(ApiError::invalid("first", "order", "较早的树头不能大于较晚的树头"));
    }
    let heads = s.read_model.tree_heads().await.map_err(database)?;
    let find = |size: i64, field: &str| {
        heads
            .iter()
            .find(|h| h.tree_size == size)
            .map(head_of)
            .ok_or_else(|| ApiError::invalid(field, "signed_tree_head", "没有该大小的签名树头"))
    };
    let (first, second) = (find(first, "first")?, find(second, "second")?);
    let tree = tree_of(&s, second.tree_size).await?;
    Ok(Json(ConsistencyProof::build(first, second, tree.leaves()).map_err(ApiError::internal)?))
}

/// What `manifest.json` of an audit package says.
#[derive(Debug, Serialize)]
struct Manifest {
    stream: String,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    events: usize,
    covered_through_sequence: u64,
    generated_at: DateTime<Utc>,
    public_key_id: String,
}

async fn export(State(s): State<QueryService>, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let params = Params::new(q.clone(), &["from", "to"])?;
    consistent(&s, &q).await?;
    let heads = s.read_model.tree_heads().await.map_err(database)?;
    let Some(latest) = heads.last() else {
        return Err(ApiError::Conflict {
            rule: "no_signed_tree_head",
            message: "尚无签名树头，无法出具可验证的审计包；请稍后再试".to_owned(),
        });
    };
    let package_head = head_of(latest);
    let mut filter = filter_of(&params, MAX_EXPORT + 1)?;
    filter.limit = MAX_EXPORT + 1;
    let mut rows = s.read_model.audit_events(&filter).await.map_err(database)?;
    if rows.len() as i64 > MAX_EXPORT {
        return Err(ApiError::invalid(
            "to",
            "export_size",
            format!("一个审计包最多 {MAX_EXPORT} 个事件，请缩小时间范围"),
        ));
    }
    // Events after the latest tree head cannot be proven yet.
    rows.retain(|r| r.sequence as u64 <= package_head.tree_size);
    let tree = tree_of(&s, package_head.tree_size).await?;
    let mut events = String::new();
    for row in &rows {
        let sequence = row.sequence as u64;
        let path = tree.inclusion_proof(sequence - 1).map_err(ApiError::internal)?;
        let line = serde_json::json!({
            "sequence": sequence,
            "leaf_index": sequence - 1,
            "event": stored_event(&s, sequence).await?,
            "audit_path": path.iter().map(hex::encode).collect::<Vec<_>>(),
        });
        events.push_str(&line.to_string());
        events.push('\n');
    }
    // Earlier heads signed in the range, each with its proof of consistency
    // with the package's head (at most 100, the latest).
    let in_range: Vec<SignedTreeHead> = heads
        .iter()
        .rev()
        .skip(1)
        .map(head_of)
        .filter(|h| {
            let at = DateTime::parse_from_rfc3339(&h.timestamp).map(|t| t.with_timezone(&Utc)).ok();
            at.is_some_and(|at| filter.from.is_none_or(|f| at >= f) && filter.to.is_none_or(|t| at < t))
        })
        .take(100)
        .collect();
    let mut consistency = Vec::new();
    for head in &in_range {
        let proof =
            ConsistencyProof::build(head.clone(), package_head.clone(), tree.leaves()).map_err(ApiError::internal)?;
        consistency.push(proof);
    }
    let public_key = zhaoshang_audit::tree_head::parse_public_key(&latest.public_key).map_err(ApiError::internal)?;
    let manifest = Manifest {
        stream: package_head.stream.clone(),
        from: filter.from,
        to: filter.to,
        events: rows.len(),
        covered_through_sequence: package_head.tree_size,
        generated_at: Utc::now(),
        public_key_id: package_head.key_id.clone(),
    };
    let mut tar = TarWriter::default();
    tar.file("README.md", PACKAGE_README.as_bytes());
    tar.file("manifest.json", serde_json::to_string_pretty(&manifest).expect("serialises").as_bytes());
    tar.file("events.jsonl", events.as_bytes());
    tar.file("tree-head.json", serde_json::to_string_pretty(&package_head).expect("serialises").as_bytes());
    tar.file("consistency.json", serde_json::to_string_pretty(&consistency).expect("serialises").as_bytes());
    tar.file("public-key.hex", format!("{}\n", latest.public_key).as_bytes());
    tar.file("public-key.pem", zhaoshang_audit::tree_head::public_key_pem(&public_key).as_bytes());
    let name = format!("zhaoshang-audit-{}-{}.tar", package_head.stream.to_lowercase(), package_head.tree_size);
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        tar.finish(),
    )
        .into_response())
}

/// How to check an audit package; shipped inside it.
const PACKAGE_README: &str = include_str!("audit_package_readme.md");

/// A POSIX ustar archive written in memory: enough for a handful of
/// regular files, with no dependency.
#[derive(Default)]
struct TarWriter {
    bytes: Vec<u8>,
}

impl TarWriter {
    fn file(&mut self, name: &str, data: &[u8]) {
        let mut header = [0u8; 512];
        let put = |header: &mut [u8; 512], at: usize, value: &[u8]| header[at..at + value.len()].copy_from_slice(value);
        put(&mut header, 0, name.as_bytes());
        put(&mut header, 100, b"0000644\0");
        put(&mut header, 108, b"0000000\0");
        put(&mut header, 116, b"0000000\0");
        put(&mut header, 124, format!("{:011o}\0", data.len()).as_bytes());
        put(&mut header, 136, format!("{:011o}\0", Utc::now().timestamp()).as_bytes());
        put(&mut header, 148, b"        ");
        header[156] = b'0';
        put(&mut header, 257, b"ustar\0");
        put(&mut header, 263, b"00");
        let checksum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        put(&mut header, 148, format!("{checksum:06o}\0 ").as_bytes());
        self.bytes.extend_from_slice(&header);
        self.bytes.extend_from_slice(data);
        let padding = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, padding));
    }

    fn finish(mut self) -> Vec<u8> {
        self.bytes.extend(std::iter::repeat_n(0u8, 1024));
        self.bytes
    }
}

/// Documents the audit endpoints.
pub fn document(docs: &mut OpenApiBuilder) {
    let page = docs.schema::<AuditEventPage>();
    let filters = || {
        vec![
            q("actor", "只看该操作人的事件", "string"),
            q("type", "事件类型（完整或简写，如 project.signed.v1）", "string"),
            q("correlation_id", "关联编号（一次请求或一次导入）", "string"),
            q("from", "记录时间不早于（RFC 3339 或 YYYY-MM-DD，UTC）", "string"),
            q("to", "记录时间早于（RFC 3339 或 YYYY-MM-DD，UTC）", "string"),
            q("aggregate_type", "业务对象类型", "string"),
            q("aggregate_id", "业务对象编号", "string"),
            q("after", "分页：上一页的 next_after", "integer"),
            q("limit", "每页最多条数（默认 1000，最多 10000）", "integer"),
        ]
    };
    let mut add =
        |path: &'static str, summary: &'static str, response: Option<serde_json::Value>, query: Vec<QueryParam>| {
            docs.add(Endpoint {
                method: "get",
                path,
                tag: "审计",
                summary,
                request: None,
                response,
                status: 200,
                query,
                headers: vec![],
            });
        };
    add(
        "/api/v1/audit/aggregates/{aggregate_type}/{aggregate_id}/events",
        "某一业务对象的全部历史事件",
        Some(page.clone()),
        vec![q("after", "分页", "integer"), q("limit", "每页最多条数", "integer")],
    );
    add("/api/v1/audit/events", "按操作人、时间范围、事件类型、关联编号查事件", Some(page), filters());
    add("/api/v1/audit/events/{event_id}", "单个事件（原样）及其哈希与包含证明", None, vec![]);
    add("/api/v1/audit/tree-heads", "全部签名树头（摘要）", None, vec![]);
    add(
        "/api/v1/audit/consistency",
        "两个签名树头之间的一致性证明",
        None,
        vec![q("first", "较早的树头大小", "integer"), q("second", "较晚的树头大小", "integer")],
    );
    add(
        "/api/v1/audit/export",
        "导出时间范围内的审计包（.tar：事件 JSON Lines、树头、公钥、验证说明）",
        None,
        vec![q("from", "记录时间不早于", "string"), q("to", "记录时间早于", "string")],
    );
}

//! 附件3 牵头科室联络员回执: for every task force, in the plan's order, its
//! lead department and the liaison officer it designated, with contacts.
//!
//! Contact details (office phone, mobile, e-mail) are personal data. This
//! report prints only what the read model hands to the caller: it reads the
//! task force rows whole (`to_jsonb`) and fills the contact columns from
//! `liaison_office_phone`, `liaison_mobile` and `liaison_email` when such
//! columns exist and hold a value. The read model has none of them yet (the
//! security work adds them, with the roles allowed to see them), so the
//! columns are printed empty, ready for the receipt to be filled in by hand.

use serde_json::Value as Json;
use sqlx::PgPool;

use super::sheet::{Column, ColumnKind, Sheet, Value};

/// The plan's heading of the attachment.
pub const TITLE: &str = "牵头科室联络员回执";

/// One task force's receipt line.
#[derive(Debug, Clone)]
pub struct ReceiptRow {
    /// Its number in the plan.
    pub number: i64,
    /// 专班.
    pub task_force: String,
    /// 召集人.
    pub convener: String,
    /// 牵头科室.
    pub lead_department: String,
    /// 联络员.
    pub liaison_name: Option<String>,
    /// 联络员所在科室.
    pub liaison_department: Option<String>,
    /// 办公电话, when the read model offers it to the caller.
    pub office_phone: Option<String>,
    /// 手机, when offered.
    pub mobile: Option<String>,
    /// 电子邮箱, when offered.
    pub email: Option<String>,
}

/// Reads the receipt lines, by task force number.
///
/// # Errors
/// When PostgreSQL fails.
pub async fn read(pool: &PgPool) -> Result<Vec<ReceiptRow>, sqlx::Error> {
    let rows: Vec<(Json,)> =
        sqlx::query_as("SELECT to_jsonb(t) FROM task_forces t ORDER BY t.number, t.id").fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(row,)| {
            let text = |key: &str| row.get(key).and_then(Json::as_str).map(str::to_owned).filter(|v| !v.is_empty());
            ReceiptRow {
                number: row.get("number").and_then(Json::as_i64).unwrap_or(0),
                task_force: text("name").unwrap_or_default(),
                convener: text("convener").unwrap_or_default(),
                lead_department: text("lead_department").unwrap_or_default(),
                liaison_name: text("liaison_name"),
                liaison_department: text("liaison_department"),
                office_phone: text("liaison_office_phone"),
                mobile: text("liaison_mobile"),
                email: text("liaison_email"),
            }
        })
        .collect())
}

/// The receipt as a sheet.
pub fn sheet(rows: &[ReceiptRow], as_of_sequence: u64) -> Sheet {
    let liaison = "联络员";
    let columns = vec![
        Column::new("序号", ColumnKind::Count),
        Column::new("专班", ColumnKind::Text),
        Column::new("召集人", ColumnKind::Text),
        Column::new("牵头科室", ColumnKind::Text),
        Column::grouped(liaison, "姓名", ColumnKind::Text),
        Column::grouped(liaison, "所在科室", ColumnKind::Text),
        Column::grouped(liaison, "办公电话", ColumnKind::Text),
        Column::grouped(liaison, "手机", ColumnKind::Text),
        Column::grouped(liaison, "电子邮箱", ColumnKind::Text),
    ];
    let values = rows
        .iter()
        .map(|r| {
            vec![
                Value::Count(r.number),
                Value::Text(r.task_force.clone()),
                Value::Text(r.convener.clone()),
                Value::Text(r.lead_department.clone()),
                Value::text(r.liaison_name.clone()),
                Value::text(r.liaison_department.clone()),
                Value::text(r.office_phone.clone()),
                Value::text(r.mobile.clone()),
                Value::text(r.email.clone()),
            ]
        })
        .collect();
    let designated = rows.iter().filter(|r| r.liaison_name.is_some()).count();
    let mut total = vec![Value::Empty; columns.len()];
    total[1] = Value::Text(format!("合计：{} 个专班", rows.len()));
    total[4] = Value::Text(format!("已明确 {designated} 名"));
    Sheet {
        sheet_name: "附件3 联络员回执".to_owned(),
        label: Some("附件3".to_owned()),
        title: TITLE.to_owned(),
        subtitle: format!("各招商专班明确 1 名联络员负责具体工作对接　数据截至事件序号：{as_of_sequence}"),
        columns,
        rows: values,
        total: Some(total),
        notes: vec![
            "说明：联络员的办公电话、手机、电子邮箱属个人信息，仅在查询者有权查看时由系统填写，否则留空，可打印后手工填写回执。".to_owned(),
        ],
        frozen_columns: 2,
        rule_row: false,
    }
}

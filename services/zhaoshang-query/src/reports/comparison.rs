//! 督导对比: a comparison of two points, printed as a workbook of two
//! sheets: the figures (task force × measure: before, after, change, lag)
//! and the events that made the difference.

use rust_xlsxwriter::XlsxError;
use zhaoshang_read_model::temporal::{ComparedRow, Comparison, Point};

use super::sheet::{Column, ColumnKind, Sheet, Value, workbook_xlsx};

fn point_text(point: &Point) -> String {
    let mut text = point.label.clone();
    if let Some(sequence) = point.known_at_sequence {
        text.push_str(&format!("（事件序号 ≤ {sequence}）"));
    }
    text
}

fn lag_text(lag: Option<&str>, lagging_after: bool) -> String {
    match (lag, lagging_after) {
        (Some("closed"), _) => "已消除落后".to_owned(),
        (Some("opened"), _) => "新增落后".to_owned(),
        (_, true) => "仍落后".to_owned(),
        _ => String::new(),
    }
}

/// The figures sheet.
pub fn figures(comparison: &Comparison) -> Sheet {
    let columns = vec![
        Column::new("序号", ColumnKind::Count),
        Column::new("专班", ColumnKind::Text),
        Column::new("指标", ColumnKind::Text),
        Column::new("目标", ColumnKind::Count),
        Column::grouped("起点", "完成", ColumnKind::Count),
        Column::grouped("起点", "应完成", ColumnKind::Count),
        Column::grouped("终点", "完成", ColumnKind::Count),
        Column::grouped("终点", "应完成", ColumnKind::Count),
        Column::new("变化", ColumnKind::Count),
        Column::new("落后情况", ColumnKind::Text),
    ];
    let count = |n: Option<u32>| n.map_or(Value::Empty, |n| Value::Count(i64::from(n)));
    let lines = |row: &ComparedRow| -> Vec<Vec<Value>> {
        row.cells
            .iter()
            .map(|c| {
                vec![
                    row.number.map_or(Value::Empty, |n| Value::Count(i64::from(n))),
                    Value::Text(row.name.clone()),
                    Value::Text(c.label.to_owned()),
                    count(c.target),
                    Value::Count(i64::from(c.before)),
                    count(c.expected_before),
                    Value::Count(i64::from(c.after)),
                    count(c.expected_after),
                    Value::Count(c.difference),
                    Value::Text(lag_text(c.lag, c.lagging_after)),
                ]
            })
            .collect()
    };
    let mut rows: Vec<Vec<Value>> = comparison.rows.iter().flat_map(lines).collect();
    rows.extend(lines(&comparison.total));
    Sheet {
        sheet_name: "对比".to_owned(),
        label: None,
        title: format!("{}年科技招商工作督导对比", comparison.year),
        subtitle: format!("起点：{}　终点：{}", point_text(&comparison.from), point_text(&comparison.to)),
        columns,
        rows,
        total: None,
        notes: vec![
            format!(
                "新增落后 {} 项，消除落后 {} 项；两时点之间录入事件 {} 个，共 {} 个改变了统计数（见“变化事件”{}）。",
                comparison.lags_opened.len(),
                comparison.lags_closed.len(),
                comparison.events_recorded_between,
                comparison.events_total,
                if comparison.events_truncated {
                    format!("，只列出前 {} 个", comparison.events.len())
                } else {
                    String::new()
                }
            ),
            "应完成为按时间进度折算的专班年度目标；完成数少于应完成即为落后。".to_owned(),
        ],
        frozen_columns: 3,
        rule_row: false,
    }
}

/// The events sheet.
pub fn events(comparison: &Comparison) -> Sheet {
    let columns = vec![
        Column::new("事件序号", ColumnKind::Count),
        Column::new("录入时间", ColumnKind::Text),
        Column::new("操作人", ColumnKind::Text),
        Column::new("事件", ColumnKind::Text),
        Column::new("记录", ColumnKind::Text),
        Column::new("发生日期", ColumnKind::Date),
        Column::new("补录", ColumnKind::Text),
        Column::new("对统计的影响", ColumnKind::Text),
    ];
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    let rows = comparison
        .events
        .iter()
        .map(|e| {
            let effects = e
                .effects
                .iter()
                .map(|f| {
                    let label = zhaoshang_domain::plan::Measure::from_code(&f.measure)
                        .map_or(f.measure.as_str(), |m| m.label());
                    let sign = if f.change == "counted" { "+1" } else { "−1" };
                    format!("{label} {sign}")
                })
                .collect::<Vec<_>>()
                .join("；");
            vec![
                Value::Count(e.sequence),
                Value::Text(e.recorded_at.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S").to_string()),
                Value::Text(e.actor.clone()),
                Value::Text(e.event_type.clone()),
                Value::Text(format!("{} {}", e.aggregate_type, e.aggregate_id)),
                Value::date(e.occurred_on),
                Value::Text(if e.backfilled { "是".to_owned() } else { String::new() }),
                Value::Text(effects),
            ]
        })
        .collect();
    Sheet {
        sheet_name: "变化事件".to_owned(),
        label: None,
        title: "造成变化的事件".to_owned(),
        subtitle: format!("起点：{}　终点：{}", point_text(&comparison.from), point_text(&comparison.to)),
        columns,
        rows,
        total: None,
        notes: vec!["补录：录入时间比发生日期晚 7 天以上。".to_owned()],
        frozen_columns: 1,
        rule_row: false,
    }
}

/// The whole workbook.
///
/// # Errors
/// When rust_xlsxwriter refuses a value.
pub fn workbook(comparison: &Comparison) -> Result<Vec<u8>, XlsxError> {
    workbook_xlsx(&[&figures(comparison), &events(comparison)])
}

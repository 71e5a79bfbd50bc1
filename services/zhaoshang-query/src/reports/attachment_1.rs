//! 附件1 科技系统科技招商工作进度统计表: the progress table of
//! `zhaoshang_read_model::progress`, printed. Every measure the table counts
//! is a group of three columns, 目标 / 完成 / 差距, beside the task force; the
//! last row is the system total (合计), whose targets are the plan's
//! system-wide figures (or the sum over task forces where the plan sets a
//! duty only per task force).

use zhaoshang_read_model::progress::{ProgressRow, ProgressTable};

use super::sheet::{Column, ColumnKind, Sheet, Value};

/// The plan's heading of the attachment.
pub const TITLE: &str = "科技系统科技招商工作进度统计表";

/// The progress table as a sheet.
pub fn sheet(table: &ProgressTable) -> Sheet {
    let mut columns = vec![Column::new("序号", ColumnKind::Count), Column::new("专班", ColumnKind::Text)];
    for measure in &table.measures {
        for part in ["目标", "完成", "差距"] {
            columns.push(Column::grouped(measure.label, part, ColumnKind::Count));
        }
    }
    let row_values = |row: &ProgressRow, number: Value| {
        let mut values = vec![number, Value::Text(row.name.clone())];
        for measure in &table.measures {
            // Task-force rows leave out the office's own duties (report
            // meetings): their cells stay empty rather than read as zero.
            match row.cells.iter().find(|c| c.measure == measure.code) {
                Some(cell) => {
                    let count = |n: Option<u32>| n.map_or(Value::Empty, |n| Value::Count(i64::from(n)));
                    values.extend([count(cell.target), Value::Count(i64::from(cell.actual)), count(cell.gap)]);
                }
                None => values.extend([Value::Empty, Value::Empty, Value::Empty]),
            }
        }
        values
    };
    let rows = table
        .rows
        .iter()
        .map(|row| row_values(row, row.number.map_or(Value::Empty, |n| Value::Count(i64::from(n)))))
        .collect();
    let total = row_values(&table.total, Value::Empty);
    let period = if table.period.years == 1 {
        format!("{}年", table.period.label)
    } else {
        format!("{}年（{} 至 {}）", table.period.label.replace('-', "—"), table.period.from, table.period.to)
    };
    let mut notes = vec![
        "说明：目标为规划期数据中的目标（专班每年“1133”任务；合计行为方案中的全系统目标，方案只对专班规定的任务为各专班之和）；差距为目标减完成，完成即为 0。".to_owned(),
        "联席会、督导检查按季度计（每季度至少一次），汇报会按月计；活动只计已举办、未取消的；对接、邀请、线上对接企业均按不同企业计。".to_owned(),
    ];
    if !table.not_yet_counted.is_empty() {
        notes.push(format!(
            "本版本尚未统计：{}（不是零，请勿按零理解）。",
            table
                .not_yet_counted
                .iter()
                .filter_map(|code| zhaoshang_domain::plan::Measure::from_code(code))
                .map(|m| m.label())
                .collect::<Vec<_>>()
                .join("、")
        ));
    }
    Sheet {
        sheet_name: "附件1 进度统计表".to_owned(),
        label: Some("附件1".to_owned()),
        title: TITLE.to_owned(),
        subtitle: format!(
            "统计期间：{period}　规划期：{}　数据截至事件序号：{}",
            table.plan_period_id, table.as_of_sequence
        ),
        columns,
        rows,
        total: Some(total),
        notes,
        frozen_columns: 2,
        rule_row: false,
    }
}

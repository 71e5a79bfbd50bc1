//! The import templates (导入模板) handed out to the bureau, one per kind
//! of fact that can be recorded today: project leads, project signings,
//! activities, meetings and dockings.
//!
//! A template is an empty sheet: the Chinese headings, then a comment row
//! saying what goes into each column and by which rule, then the user's
//! rows. [`TEMPLATES`] is public so that the importer (item 14, done
//! elsewhere) reads files against the very headings handed out; each
//! template names the command endpoint its rows become.

use super::sheet::{Column, ColumnKind, Sheet};

pub use zhaoshang_domain::import::{TEMPLATES, Template, TemplateColumn, find};

/// A template as an empty sheet with its comment row.
pub fn sheet(template: &Template) -> Sheet {
    Sheet {
        sheet_name: template.name.to_owned(),
        label: None,
        title: format!("导入模板：{}", template.name),
        subtitle: format!(
            "第 3 行为列名，第 4 行为填写说明（导入时跳过），第 5 行起每行一条记录；每行按“{}”登记，日期为事情发生的日期。",
            template.command
        ),
        columns: template
            .columns
            .iter()
            .map(|c| {
                let mut column = Column::new(c.heading, ColumnKind::Text);
                column.rule = Some(c.rule.to_owned());
                column
            })
            .collect(),
        rows: vec![],
        total: None,
        notes: vec![],
        frozen_columns: 0,
        rule_row: true,
    }
}

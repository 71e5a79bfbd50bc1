//! The import templates (导入模板) handed out to the bureau, one per kind
//! of fact that can be recorded today: project leads, project signings,
//! activities, meetings and dockings.
//!
//! A template is an empty sheet: the Chinese headings, then a comment row
//! saying what goes into each column and by which rule, then the user's
//! rows. [`TEMPLATES`] is public so that the importer (item 14, done
//! elsewhere) reads files against the very headings handed out; each
//! template names the command endpoint its rows become.

use serde::Serialize;

use super::sheet::{Column, ColumnKind, Sheet};

/// One column of a template.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct TemplateColumn {
    /// The Chinese heading, exactly as the file must carry it.
    pub heading: &'static str,
    /// The command body's field it fills (dotted for nested fields).
    pub field: &'static str,
    /// Whether a row must fill it.
    pub required: bool,
    /// What goes in and by which rule, in Chinese.
    pub rule: &'static str,
}

/// One kind of fact that can be imported.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct Template {
    /// The kind's code in the URL (`project-leads`).
    pub kind: &'static str,
    /// Its Chinese name.
    pub name: &'static str,
    /// The command each row becomes (`PUT /api/v1/projects/{id}`).
    pub command: &'static str,
    /// The columns, in order.
    pub columns: &'static [TemplateColumn],
}

const fn col(heading: &'static str, field: &'static str, required: bool, rule: &'static str) -> TemplateColumn {
    TemplateColumn { heading, field, required, rule }
}

const DATE_RULE: &str = "必填。日期，写作 2022-05-01；不得晚于今天";
const TASK_FORCE_RULE: &str = "必填。专班编号：automotive、machinery、biomedicine 等，见 /api/v1/task-forces 的 id";

/// Every template, in the order the README lists them.
pub const TEMPLATES: [Template; 5] = [
    Template {
        kind: "project-leads",
        name: "项目线索",
        command: "PUT /api/v1/projects/{id}",
        columns: &[
            col(
                "项目编号",
                "id",
                true,
                "必填。小写英文字母、数字、下划线或连字符，1 至 64 位，如 auto-2022-001；全库唯一，签约等后续记录凭它指认项目",
            ),
            col("牵头专班编号", "task_force_id", true, TASK_FORCE_RULE),
            col("项目名称", "name", true, "必填。不超过 200 字"),
            col("投资方", "investor", true, "必填。投资企业全称，不超过 200 字"),
            col(
                "项目类别",
                "category",
                true,
                "必填。填“工业”或“服务业”（工业项目亿元以上、服务业项目5000万元以上为达标）",
            ),
            col("计划投资（万元）", "planned_investment_yuan", false, "选填。万元，大于 0，最多四位小数（精确到元）"),
            col("负责人（召集人）", "owner", true, "必填。实行召集人分包制的负责人姓名"),
            col("线索日期", "on", true, DATE_RULE),
        ],
    },
    Template {
        kind: "project-signings",
        name: "项目签约",
        command: "POST /api/v1/projects/{id}/signings",
        columns: &[
            col("项目编号", "id", true, "必填。已登记线索的项目编号（见项目线索模板）"),
            col("签约日期", "on", true, DATE_RULE),
            col(
                "协议类型",
                "agreement",
                true,
                "必填。填“框架协议”或“正式合同”；首次签约计为新引进项目，之后的签约不重复计数",
            ),
            col("签约投资（万元）", "investment_yuan", true, "必填。万元，大于 0，最多四位小数（精确到元）"),
            col("佐证材料", "evidence", false, "选填。协议文号或存档位置，不超过 200 字"),
        ],
    },
    Template {
        kind: "activities",
        name: "招商活动",
        command: "POST /api/v1/activities/held",
        columns: &[
            col("专班编号", "task_force_id", true, TASK_FORCE_RULE),
            col("活动类型", "kind", true, "必填。填“走出去”“请进来”或“不见面”"),
            col("活动名称", "title", true, "必填。不超过 200 字"),
            col("举办日期", "on", true, DATE_RULE),
            col(
                "主要领导带队",
                "led_by_principal_leader",
                false,
                "选填。填“是”或“否”，默认“否”；只对“走出去”活动计入主要领导外出集中招商",
            ),
            col("目的地城市", "destination_cities", false, "选填。多个城市用顿号“、”分隔，如 上海、深圳"),
            col(
                "参加企业",
                "enterprises",
                false,
                "选填。每家写作 企业名称（目标企业|链主企业|其他），多家用顿号“、”分隔",
            ),
            col("备注", "note", false, "选填。不超过 20000 字"),
        ],
    },
    Template {
        kind: "meetings",
        name: "会议",
        command: "POST /api/v1/meetings",
        columns: &[
            col("会议类型", "kind", true, "必填。填“联席会”“汇报会”或“督导检查”"),
            col("专班编号", "task_force_id", false, "联席会、督导检查必填，汇报会不填。专班编号见 /api/v1/task-forces"),
            col("会议日期", "on", true, DATE_RULE),
            col("会议名称", "title", true, "必填。不超过 200 字"),
            col("参会单位及人员", "attendees", false, "选填。多个用顿号“、”分隔"),
            col("会议纪要", "minutes", false, "选填。纪要或督导检查发现的问题，不超过 20000 字"),
        ],
    },
    Template {
        kind: "dockings",
        name: "精准对接",
        command: "POST /api/v1/task-forces/{id}/dockings",
        columns: &[
            col("专班编号", "id", true, TASK_FORCE_RULE),
            col("企业名称", "enterprise", true, "必填。对接企业全称，不超过 200 字；同一企业一年内多次对接只计一家"),
            col("企业类型", "enterprise_role", true, "必填。填“目标企业”“链主企业”或“其他”；只有目标企业计入精准对接"),
            col("对接方式", "method", true, "必填。填“走出去”“请进来”“线上”或“其他”"),
            col("对接日期", "on", true, DATE_RULE),
            col("参与人员", "participants", false, "选填。多人用顿号“、”分隔"),
            col("对接结果", "outcome", false, "选填。不超过 20000 字"),
        ],
    },
];

/// The template of a kind.
pub fn find(kind: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.kind == kind)
}

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

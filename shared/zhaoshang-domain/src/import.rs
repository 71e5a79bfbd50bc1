//! Importing the bureau's existing spreadsheets (导入): the templates handed
//! out, one per kind of fact, and the pure conversion of one filled-in row
//! into the body of the command it stands for.
//!
//! Cells are read as text by the caller (an XLSX date cell as `2023-05-01`);
//! here they become JSON in the command body's own shape, so that the same
//! deserialisation and the same `decide` judge an imported row and a row
//! recorded live. Money is written in 万元 in the sheets, as bureau staff
//! work, and converted exactly to yuan.

use serde::Serialize;
use serde_json::{Map, Value, json};

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
pub const TEMPLATES: [Template; 8] = [
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
    Template {
        kind: "service-platforms",
        name: "服务平台",
        command: "POST /api/v1/service-platforms",
        columns: &[
            col("平台名称", "name", true, "必填。不超过 200 字"),
            col("引进或合作", "relation", true, "必填。填“引进”（平台落地柳州）或“合作”（在原地与我局合作）"),
            col("专班编号", "task_force_id", false, "选填。由专班引进或对接的填专班编号；办公室直接引进的不填"),
            col("运营单位", "operator", false, "选填。不超过 200 字"),
            col("协议日期", "on", true, DATE_RULE),
            col("佐证材料", "evidence", false, "选填。协议文号或存档位置，不超过 200 字"),
            col("备注", "note", false, "选填。平台为招商做什么，不超过 20000 字"),
        ],
    },
    Template {
        kind: "expenditures",
        name: "专项经费支出",
        command: "POST /api/v1/expenditures",
        columns: &[
            col("专班编号", "task_force_id", false, "选填。为专班支出的填专班编号；办公室自身支出不填"),
            col(
                "支出类别",
                "category",
                true,
                "必填。填“招商会议”“招商宣传”“交通保障”“委托招商”“平台建设”“人才引进”或“项目引进”",
            ),
            col("金额（万元）", "amount_yuan", true, "必填。万元，大于 0，最多四位小数（精确到元）"),
            col("支付日期", "on", true, DATE_RULE),
            col("支出内容", "description", true, "必填。买了什么、办了什么，不超过 200 字"),
            col("凭证号", "voucher", false, "选填。不超过 200 字"),
        ],
    },
    Template {
        kind: "talent-introductions",
        name: "人才引进",
        command: "POST /api/v1/talent-introductions",
        columns: &[
            col("专班编号", "task_force_id", true, TASK_FORCE_RULE),
            col("人才或团队", "title", true, "必填。如 新能源汽车电控研发团队；不写个人姓名，不超过 200 字"),
            col("人数", "people", true, "必填。1 至 1000 的整数"),
            col("人才层次", "level", false, "选填。如 高层次人才、龙城人才计划，不超过 200 字"),
            col("入职企业", "enterprise", false, "选填。不超过 200 字"),
            col("引进日期", "on", true, DATE_RULE),
        ],
    },
];

/// The template of a kind.
pub fn find(kind: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.kind == kind)
}

/// A cell that cannot become its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CellError {
    /// The column's heading.
    pub column: &'static str,
    /// The command field it fills.
    pub field: &'static str,
    /// The rule's code.
    pub rule: &'static str,
    /// What to fix, in Chinese.
    pub message: String,
}

fn code_of(value: &str, pairs: &'static [(&'static str, &'static str)]) -> Option<&'static str> {
    pairs.iter().find(|(label, code)| *label == value || *code == value).map(|(_, code)| *code)
}

const CATEGORY: &[(&str, &str)] = &[("工业", "industrial"), ("服务业", "service")];
const AGREEMENT: &[(&str, &str)] = &[("框架协议", "framework"), ("正式合同", "contract")];
const ACTIVITY_KIND: &[(&str, &str)] = &[("走出去", "going_out"), ("请进来", "inviting_in"), ("不见面", "online")];
const MEETING_KIND: &[(&str, &str)] = &[("联席会", "joint"), ("汇报会", "monthly_report"), ("督导检查", "supervision")];
const ENTERPRISE_ROLE: &[(&str, &str)] = &[("目标企业", "target"), ("链主企业", "chain_leader"), ("其他", "other")];
const PLATFORM_RELATION: &[(&str, &str)] = &[("引进", "introduced"), ("合作", "partnered")];
/// The plan's spending categories (《方案》五(四)), as
/// [`crate::resources::ExpenditureCategory`] labels and codes them.
const EXPENDITURE_CATEGORY: &[(&str, &str)] = &[
    ("招商会议", "meetings"),
    ("招商宣传", "publicity"),
    ("交通保障", "transport"),
    ("委托招商", "commissioned_promotion"),
    ("平台建设", "platform_building"),
    ("人才引进", "talent"),
    ("项目引进", "projects"),
];
const DOCKING_METHOD: &[(&str, &str)] =
    &[("走出去", "going_out"), ("请进来", "inviting_in"), ("线上", "online"), ("其他", "other")];

/// 万元 with at most four decimals, as whole yuan.
pub fn wan_to_yuan(text: &str) -> Option<i64> {
    let text = text.trim().replace(',', "");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 4 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<4}").parse().ok()? };
    whole.checked_mul(10_000)?.checked_add(fraction)
}

fn list(text: &str) -> Vec<String> {
    text.split(['、', ',', '，', ';', '；']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Converts one row's cells (in the template's column order) into the
/// command body, and the path id when the template has an `id` column.
///
/// # Errors
/// Every cell that cannot become its field, each naming its column and rule.
pub fn row_to_body(template: &Template, cells: &[String]) -> Result<(Option<String>, Value), Vec<CellError>> {
    let mut body = Map::new();
    let mut id = None;
    let mut errors = Vec::new();
    for (i, column) in template.columns.iter().enumerate() {
        let raw = cells.get(i).map(|c| c.trim()).unwrap_or_default();
        let error = |rule: &'static str, message: String| CellError {
            column: column.heading,
            field: column.field,
            rule,
            message,
        };
        if raw.is_empty() {
            if column.required {
                errors.push(error("required", format!("「{}」必填", column.heading)));
            }
            continue;
        }
        let enumerated = |pairs: &'static [(&'static str, &'static str)]| {
            code_of(raw, pairs).map(|c| json!(c)).ok_or_else(|| {
                let allowed: Vec<&str> = pairs.iter().map(|(label, _)| *label).collect();
                error("allowed_values", format!("「{}」须填：{}", column.heading, allowed.join("、")))
            })
        };
        let value = match column.field {
            "id" => {
                id = Some(raw.to_owned());
                continue;
            }
            "planned_investment_yuan" | "investment_yuan" | "amount_yuan" => {
                wan_to_yuan(raw).filter(|y| *y > 0).map(|y| json!(y)).ok_or_else(|| {
                    error("amount_in_wan", format!("「{}」须为大于 0 的万元数，最多四位小数", column.heading))
                })
            }
            "category" if template.kind == "expenditures" => enumerated(EXPENDITURE_CATEGORY),
            "category" => enumerated(CATEGORY),
            "relation" => enumerated(PLATFORM_RELATION),
            "people" => raw
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .map(|n| json!(n))
                .ok_or_else(|| error("whole_number", format!("「{}」须为正整数", column.heading))),
            "agreement" => enumerated(AGREEMENT),
            "kind" if template.kind == "meetings" => enumerated(MEETING_KIND),
            "kind" => enumerated(ACTIVITY_KIND),
            "enterprise_role" => enumerated(ENTERPRISE_ROLE),
            "method" => enumerated(DOCKING_METHOD),
            "led_by_principal_leader" => match raw {
                "是" | "true" => Ok(json!(true)),
                "否" | "false" => Ok(json!(false)),
                _ => Err(error("yes_or_no", format!("「{}」须填“是”或“否”", column.heading))),
            },
            "destination_cities" | "attendees" | "participants" => Ok(json!(list(raw))),
            "enterprises" => list(raw)
                .iter()
                .map(|item| {
                    let (name, role) = item
                        .strip_suffix('）')
                        .and_then(|s| s.rsplit_once('（'))
                        .or_else(|| item.strip_suffix(')').and_then(|s| s.rsplit_once('(')))
                        .ok_or_else(|| {
                            error("enterprise_format", format!("「{item}」须写作 企业名称（目标企业|链主企业|其他）"))
                        })?;
                    let role = code_of(role.trim(), ENTERPRISE_ROLE).ok_or_else(|| {
                        error("allowed_values", format!("「{item}」的企业类型须为目标企业、链主企业或其他"))
                    })?;
                    Ok(json!({"name": name.trim(), "role": role}))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Ok(json!(raw)),
        };
        match value {
            Ok(value) => {
                body.insert(column.field.to_owned(), value);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok((id, Value::Object(body))) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wan_becomes_exact_yuan() {
        assert_eq!(wan_to_yuan("15000"), Some(150_000_000));
        assert_eq!(wan_to_yuan("0.0001"), Some(1));
        assert_eq!(wan_to_yuan("1,234.5"), Some(12_345_000));
        assert_eq!(wan_to_yuan("1.23456"), None, "more than four decimals is not exact yuan");
        assert_eq!(wan_to_yuan("-5"), None);
        assert_eq!(wan_to_yuan("五千"), None);
    }

    #[test]
    fn a_row_becomes_the_commands_body_in_its_own_codes() {
        let template = find("activities").expect("template");
        let cells: Vec<String> = [
            "automotive",
            "请进来",
            "邀请企业来柳考察",
            "2023-06-08",
            "否",
            "",
            "甲公司（目标企业）、乙公司（链主企业）",
            "",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let (id, body) = row_to_body(template, &cells).expect("a good row");
        assert_eq!(id, None);
        assert_eq!(body["kind"], "inviting_in");
        assert_eq!(body["led_by_principal_leader"], false);
        assert_eq!(body["enterprises"][1], json!({"name": "乙公司", "role": "chain_leader"}));
        assert!(body.get("note").is_none(), "an empty optional cell is left out");
    }

    #[test]
    fn the_spending_categories_are_the_domains_own() {
        use crate::resources::ExpenditureCategory;
        let domain: Vec<(&str, &str)> = ExpenditureCategory::ALL.iter().map(|c| (c.label(), c.code())).collect();
        assert_eq!(EXPENDITURE_CATEGORY, domain.as_slice());
    }

    #[test]
    fn resource_rows_become_their_commands_bodies() {
        let cells = |cells: &[&str]| cells.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let (_, platform) = row_to_body(
            find("service-platforms").expect("template"),
            &cells(&["柳州汽车检测公共服务平台", "合作", "automotive", "", "2023-04-02", "", ""]),
        )
        .expect("a good row");
        assert_eq!(platform["relation"], "partnered");
        assert_eq!(platform["task_force_id"], "automotive");
        let (_, spending) = row_to_body(
            find("expenditures").expect("template"),
            &cells(&["", "委托招商", "12.5", "2023-05-06", "委托第三方机构招商服务费", "JZ-2023-018"]),
        )
        .expect("a good row");
        assert_eq!(spending["category"], "commissioned_promotion");
        assert_eq!(spending["amount_yuan"], 125_000);
        assert!(spending.get("task_force_id").is_none(), "the office's own spending names no task force");
        let talent = find("talent-introductions").expect("template");
        let (_, team) = row_to_body(talent, &cells(&["automotive", "电控研发团队", "6", "", "", "2023-07-01"]))
            .expect("a good row");
        assert_eq!(team["people"], 6);
        let errors = row_to_body(talent, &cells(&["automotive", "团队", "六人", "", "", "2023-07-01"]))
            .expect_err("people in words");
        assert_eq!(errors.iter().map(|e| (e.column, e.rule)).collect::<Vec<_>>(), [("人数", "whole_number")]);
    }

    #[test]
    fn every_bad_cell_of_a_row_is_named() {
        let template = find("project-leads").expect("template");
        let cells: Vec<String> = ["p1", "automotive", "", "投资方", "制造业", "12.345678", "召集人", "2023-01-05"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let errors = row_to_body(template, &cells).expect_err("three bad cells");
        let named: Vec<(&str, &str)> = errors.iter().map(|e| (e.column, e.rule)).collect();
        assert_eq!(
            named,
            [("项目名称", "required"), ("项目类别", "allowed_values"), ("计划投资（万元）", "amount_in_wan")]
        );
    }
}

//! The quarterly briefing (科技招商工作简报) the leading group office writes
//! every quarter, rendered from the read models in Chinese, as Markdown and
//! as HTML.
//!
//! Two steps keep it auditable: [`gather`] reads the facts of a quarter into
//! a [`BriefingData`]; [`render_briefing`] is a pure function of that data
//! and returns the text with its SHA-256, so the same data always gives the
//! same bytes and the same hash, and a later "publish" command can record
//! the hash of what was published. The stream sequence the data stands on is
//! deliberately not part of the text (it is sent as a header): an unrelated
//! fact recorded elsewhere does not change the briefing of a quarter.
//!
//! Both formats are rendered from one list of blocks (headings, paragraphs,
//! lists, tables), so they cannot say different things.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use zhaoshang_domain::plan::Measure;
use zhaoshang_read_model::progress::{ProgressRow, ProgressTable};

/// A quarter of a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Quarter {
    /// The year.
    pub year: i32,
    /// 1 to 4.
    pub number: u32,
}

impl Quarter {
    /// Parses `2022-Q1` (also `2022-q1`).
    pub fn parse(text: &str) -> Option<Self> {
        let (year, quarter) = text.split_once('-')?;
        let year: i32 = year.parse().ok().filter(|y| (2000..=2100).contains(y))?;
        let number: u32 = quarter.strip_prefix(['Q', 'q'])?.parse().ok().filter(|n| (1..=4).contains(n))?;
        Some(Self { year, number })
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.number * 3 - 2, 1).unwrap_or_default()
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        let next = if self.number == 4 {
            NaiveDate::from_ymd_opt(self.year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.year, self.number * 3 + 1, 1)
        };
        next.and_then(|d| d.pred_opt()).unwrap_or_default()
    }

    /// `2022年第一季度`.
    pub fn label(self) -> String {
        let name = ["一", "二", "三", "四"][usize::try_from(self.number - 1).unwrap_or(0).min(3)];
        format!("{}年第{name}季度", self.year)
    }
}

/// A signing of the quarter.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct SigningLine {
    /// When it was signed.
    pub on: NaiveDate,
    /// The project.
    pub project: Option<String>,
    /// The task force.
    pub task_force: Option<String>,
    /// The investor.
    pub investor: Option<String>,
    /// `framework` or `contract`.
    pub agreement: Option<String>,
    /// Investment signed, yuan.
    pub investment_yuan: Option<i64>,
    /// Whether the project meets the plan's threshold.
    pub qualifies: Option<bool>,
    /// Whether this was the project's first signing (the one that counts).
    pub first_signing: bool,
}

/// A negotiation started in the quarter.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct NegotiationLine {
    /// When it started.
    pub on: NaiveDate,
    /// The project.
    pub project: Option<String>,
    /// The task force.
    pub task_force: Option<String>,
    /// The investor.
    pub investor: Option<String>,
    /// Planned investment, yuan.
    pub planned_investment_yuan: Option<i64>,
}

/// An activity held in the quarter.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ActivityLine {
    /// When.
    pub on: NaiveDate,
    /// The task force.
    pub task_force: Option<String>,
    /// `going_out`, `inviting_in`, `online`.
    pub kind: Option<String>,
    /// Its title.
    pub title: Option<String>,
    /// Led by a principal leader.
    pub led_by_principal_leader: Option<bool>,
    /// How many enterprises took part.
    pub enterprises: i64,
}

/// A meeting held in the quarter.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct MeetingLine {
    /// When.
    pub on: NaiveDate,
    /// `joint`, `monthly_report`, `supervision`.
    pub kind: String,
    /// The task force, for joint meetings and inspections.
    pub task_force: Option<String>,
    /// Its title.
    pub title: String,
}

/// A measure in which a task force is behind its pro-rata progress.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Lag {
    /// The measure's Chinese heading.
    pub measure: &'static str,
    /// Done by the quarter's end.
    pub actual: u32,
    /// Due by the quarter's end: the year's target × quarters passed ÷ 4, rounded up.
    pub expected: u32,
    /// The year's target.
    pub target: u32,
}

/// A task force behind in at least one measure.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Laggard {
    /// Its name.
    pub task_force: String,
    /// What it is behind in.
    pub lags: Vec<Lag>,
}

/// Everything a briefing says, read from the read models.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BriefingData {
    /// The quarter.
    pub quarter: Quarter,
    /// The year's progress from 1 January to the quarter's last day,
    /// against the year's targets.
    pub progress: ProgressTable,
    /// Signings in the quarter.
    pub signings: Vec<SigningLine>,
    /// Negotiations started in the quarter.
    pub negotiations: Vec<NegotiationLine>,
    /// Activities held in the quarter.
    pub activities: Vec<ActivityLine>,
    /// Meetings held in the quarter.
    pub meetings: Vec<MeetingLine>,
    /// Task forces behind their pro-rata progress, in the plan's order.
    pub laggards: Vec<Laggard>,
}

/// Reads the facts of a quarter; `progress` is the year-to-date table.
///
/// # Errors
/// When PostgreSQL fails.
pub async fn gather(pool: &PgPool, quarter: Quarter, progress: ProgressTable) -> Result<BriefingData, sqlx::Error> {
    let (from, to) = (quarter.first_day(), quarter.last_day());
    let signings = sqlx::query_as(
        "SELECT s.occurred_on AS \"on\", p.name AS project, t.name AS task_force, p.investor, s.note AS agreement,
                s.amount_yuan AS investment_yuan, p.qualifies, (s.stage IS NOT NULL) AS first_signing
         FROM project_steps s JOIN projects p ON p.id = s.project_id LEFT JOIN task_forces t ON t.id = p.task_force_id
         WHERE s.event_type LIKE 'project.signed.%' AND s.occurred_on BETWEEN $1 AND $2
         ORDER BY s.occurred_on, t.number NULLS LAST, s.sequence",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let negotiations = sqlx::query_as(
        "SELECT s.occurred_on AS \"on\", p.name AS project, t.name AS task_force, p.investor, p.planned_investment_yuan
         FROM project_steps s JOIN projects p ON p.id = s.project_id LEFT JOIN task_forces t ON t.id = p.task_force_id
         WHERE s.event_type LIKE 'project.negotiation_started.%' AND s.occurred_on BETWEEN $1 AND $2
         ORDER BY s.occurred_on, t.number NULLS LAST, s.sequence",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let activities = sqlx::query_as(
        "SELECT a.activity_on AS \"on\", t.name AS task_force, a.kind, a.title, a.led_by_principal_leader,
                (SELECT count(*) FROM activity_enterprises e WHERE e.activity_id = a.id) AS enterprises
         FROM activities a LEFT JOIN task_forces t ON t.id = a.task_force_id
         WHERE a.status = 'held' AND a.activity_on BETWEEN $1 AND $2
         ORDER BY a.activity_on, t.number NULLS LAST, a.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let meetings = sqlx::query_as(
        "SELECT m.held_on AS \"on\", m.kind, t.name AS task_force, m.title
         FROM meetings m LEFT JOIN task_forces t ON t.id = m.task_force_id
         WHERE m.held_on BETWEEN $1 AND $2
         ORDER BY m.held_on, t.number NULLS LAST, m.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let laggards = laggards(&progress, quarter);
    Ok(BriefingData { quarter, progress, signings, negotiations, activities, meetings, laggards })
}

/// Task forces behind in some measure: done by the quarter's end less than
/// the year's target × quarters passed ÷ 4 (rounded up), as the office
/// reminds them (进度缓慢的专班进行提醒督促).
pub fn laggards(progress: &ProgressTable, quarter: Quarter) -> Vec<Laggard> {
    progress
        .rows
        .iter()
        .filter_map(|row| {
            let lags: Vec<Lag> = row
                .cells
                .iter()
                .filter_map(|cell| {
                    let target = cell.target?;
                    let expected = (target * quarter.number).div_ceil(4);
                    (cell.actual < expected).then(|| Lag {
                        measure: Measure::from_code(cell.measure).map_or(cell.measure, Measure::label),
                        actual: cell.actual,
                        expected,
                        target,
                    })
                })
                .collect();
            (!lags.is_empty()).then(|| Laggard { task_force: row.name.clone(), lags })
        })
        .collect()
}

/// Which text to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BriefingFormat {
    /// Markdown (CommonMark with pipe tables).
    Markdown,
    /// A complete HTML page.
    Html,
}

/// A rendered briefing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedBriefing {
    /// The text.
    pub content: String,
    /// SHA-256 of the text's UTF-8 bytes, lower-case hex.
    pub sha256: String,
}

enum Block {
    Heading(u8, String),
    Paragraph(String),
    List(Vec<String>),
    Table(Vec<&'static str>, Vec<Vec<String>>),
}

/// Renders the briefing. Pure: the same data gives the same text and hash.
pub fn render_briefing(data: &BriefingData, format: BriefingFormat) -> RenderedBriefing {
    let blocks = blocks(data);
    let content = match format {
        BriefingFormat::Markdown => markdown(&blocks),
        BriefingFormat::Html => html(&blocks, &format!("科技招商工作简报（{}）", data.quarter.label())),
    };
    let sha256 = hex::encode(Sha256::digest(content.as_bytes()));
    RenderedBriefing { content, sha256 }
}

const KEY_MEASURES: [Measure; 7] = [
    Measure::ProjectsLedIn,
    Measure::ProjectsStarted,
    Measure::Activities,
    Measure::ReserveQualityProjects,
    Measure::TargetEnterprisesDocked,
    Measure::JointMeetingQuarters,
    Measure::AnnualPlans,
];

fn done_of(row: &ProgressRow, measure: Measure) -> String {
    match row.cells.iter().find(|c| c.measure == measure.code()) {
        Some(cell) => match cell.target {
            Some(target) => format!("{}/{target}", cell.actual),
            None => cell.actual.to_string(),
        },
        None => "—".to_owned(),
    }
}

fn wan(yuan: Option<i64>) -> String {
    yuan.map_or_else(|| "—".to_owned(), |y| format!("{}万元", super::sheet::wan_yuan(y)))
}

fn kind_label(kind: &str) -> &str {
    match kind {
        "going_out" => "走出去",
        "inviting_in" => "请进来",
        "online" => "不见面",
        "joint" => "招商工作联席会",
        "monthly_report" => "招商工作汇报会",
        "supervision" => "督导检查",
        other => other,
    }
}

fn blocks(data: &BriefingData) -> Vec<Block> {
    let q = data.quarter;
    let (from, to) = (q.first_day(), q.last_day());
    let table = &data.progress;
    let mut out = vec![
        Block::Heading(1, "科技招商工作简报".to_owned()),
        Block::Paragraph(format!("{}（{from} 至 {to}）　柳州科技系统科技招商三年行动领导小组办公室", q.label())),
        Block::Heading(2, "一、总体进展".to_owned()),
        Block::Paragraph(format!(
            "{}年1月1日至{}，全系统各项指标完成情况如下（目标为全年目标）。",
            q.year,
            format_args!("{}月{}日", to.month(), to.day())
        )),
    ];
    let total_rows = table
        .measures
        .iter()
        .filter_map(|m| {
            let cell = table.total.cells.iter().find(|c| c.measure == m.code)?;
            Some(vec![
                m.label.to_owned(),
                cell.target.map_or_else(|| "—".to_owned(), |t| t.to_string()),
                cell.actual.to_string(),
                cell.gap.map_or_else(|| "—".to_owned(), |g| g.to_string()),
            ])
        })
        .collect();
    out.push(Block::Table(vec!["指标", "全年目标", "截至季末完成", "差距"], total_rows));
    let not_counted: Vec<&str> =
        table.not_yet_counted.iter().filter_map(|code| Measure::from_code(code)).map(Measure::label).collect();
    if !not_counted.is_empty() {
        out.push(Block::Paragraph(format!("本系统尚未统计：{}（不是零）。", not_counted.join("、"))));
    }

    out.push(Block::Heading(2, "二、各专班进展".to_owned()));
    out.push(Block::Paragraph("各格为“截至季末完成/全年目标”。".to_owned()));
    let mut headings = vec!["专班"];
    headings.extend(KEY_MEASURES.iter().map(|m| short_label(*m)));
    let rows = table
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.name.clone()];
            cells.extend(KEY_MEASURES.iter().map(|m| done_of(row, *m)));
            cells
        })
        .collect();
    out.push(Block::Table(headings, rows));

    out.push(Block::Heading(2, "三、本季度签约项目".to_owned()));
    if data.signings.is_empty() {
        out.push(Block::Paragraph("本季度无签约项目。".to_owned()));
    } else {
        let first = data.signings.iter().filter(|s| s.first_signing && s.qualifies == Some(true)).count();
        out.push(Block::Paragraph(format!(
            "本季度签约 {} 次，其中首次签约且达到引进标准的项目 {first} 个。",
            data.signings.len()
        )));
        let rows = data
            .signings
            .iter()
            .map(|s| {
                vec![
                    s.on.to_string(),
                    s.task_force.clone().unwrap_or_default(),
                    s.project.clone().unwrap_or_default(),
                    s.investor.clone().unwrap_or_default(),
                    match s.agreement.as_deref() {
                        Some("framework") => "框架协议".to_owned(),
                        Some("contract") => "正式合同".to_owned(),
                        other => other.unwrap_or_default().to_owned(),
                    },
                    wan(s.investment_yuan),
                    if s.first_signing { "是" } else { "否" }.to_owned(),
                    if s.qualifies == Some(true) { "是" } else { "否" }.to_owned(),
                ]
            })
            .collect();
        out.push(Block::Table(
            vec!["日期", "专班", "项目", "投资方", "协议类型", "签约投资", "首次签约", "达到引进标准"],
            rows,
        ));
    }

    out.push(Block::Heading(2, "四、本季度重大项目洽谈".to_owned()));
    if data.negotiations.is_empty() {
        out.push(Block::Paragraph("本季度无新进入洽谈的项目。".to_owned()));
    } else {
        let rows = data
            .negotiations
            .iter()
            .map(|n| {
                vec![
                    n.on.to_string(),
                    n.task_force.clone().unwrap_or_default(),
                    n.project.clone().unwrap_or_default(),
                    n.investor.clone().unwrap_or_default(),
                    wan(n.planned_investment_yuan),
                ]
            })
            .collect();
        out.push(Block::Table(vec!["日期", "专班", "项目", "投资方", "计划投资"], rows));
    }

    out.push(Block::Heading(2, "五、本季度举办的招商活动".to_owned()));
    if data.activities.is_empty() {
        out.push(Block::Paragraph("本季度未举办招商活动。".to_owned()));
    } else {
        let count = |kind: &str| data.activities.iter().filter(|a| a.kind.as_deref() == Some(kind)).count();
        let led = data.activities.iter().filter(|a| a.led_by_principal_leader == Some(true)).count();
        out.push(Block::Paragraph(format!(
            "本季度举办招商活动 {} 场，其中“走出去” {} 场（主要领导带队 {led} 场）、“请进来” {} 场、“不见面” {} 场。",
            data.activities.len(),
            count("going_out"),
            count("inviting_in"),
            count("online")
        )));
        out.push(Block::List(
            data.activities
                .iter()
                .map(|a| {
                    format!(
                        "{} {}：{}（{}{}，{} 家企业参加）",
                        a.on,
                        a.task_force.clone().unwrap_or_default(),
                        a.title.clone().unwrap_or_default(),
                        kind_label(a.kind.as_deref().unwrap_or_default()),
                        if a.led_by_principal_leader == Some(true) { "，主要领导带队" } else { "" },
                        a.enterprises
                    )
                })
                .collect(),
        ));
    }

    out.push(Block::Heading(2, "六、本季度召开的会议".to_owned()));
    if data.meetings.is_empty() {
        out.push(Block::Paragraph("本季度未记录会议。".to_owned()));
    } else {
        out.push(Block::List(
            data.meetings
                .iter()
                .map(|m| {
                    let who = m.task_force.as_deref().map(|t| format!("{t} ")).unwrap_or_default();
                    format!("{} {who}{}：{}", m.on, kind_label(&m.kind), m.title)
                })
                .collect(),
        ));
    }

    out.push(Block::Heading(2, "七、进度滞后的专班".to_owned()));
    if data.laggards.is_empty() {
        out.push(Block::Paragraph("各专班均已达到按季度进度应完成的数量。".to_owned()));
    } else {
        out.push(Block::Paragraph(
            "按全年目标的季度进度（全年目标×已过季度数÷4，向上取整）衡量，以下专班进度滞后，请加快推进：".to_owned(),
        ));
        out.push(Block::List(
            data.laggards
                .iter()
                .map(|l| {
                    let lags: Vec<String> = l
                        .lags
                        .iter()
                        .map(|g| {
                            format!("{} 完成 {}，应达 {}（全年目标 {}）", g.measure, g.actual, g.expected, g.target)
                        })
                        .collect();
                    format!("{}：{}", l.task_force, lags.join("；"))
                })
                .collect(),
        ));
    }
    out
}

fn short_label(measure: Measure) -> &'static str {
    match measure {
        Measure::ProjectsLedIn => "新引进项目",
        Measure::ProjectsStarted => "开工项目",
        Measure::Activities => "招商活动",
        Measure::ReserveQualityProjects => "项目入库",
        Measure::TargetEnterprisesDocked => "精准对接企业",
        Measure::JointMeetingQuarters => "联席会（季度）",
        Measure::AnnualPlans => "年度方案",
        other => other.label(),
    }
}

/// Escapes text for Markdown, so a project called `A|B` or `*x*` prints as
/// written and cannot break a table or start emphasis. A handful of
/// characters: not worth a dependency.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn markdown(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Heading(level, text) => {
                out.push_str(&"#".repeat(usize::from(*level)));
                out.push(' ');
                out.push_str(&escape_markdown(text));
                out.push_str("\n\n");
            }
            Block::Paragraph(text) => {
                out.push_str(&escape_markdown(text));
                out.push_str("\n\n");
            }
            Block::List(items) => {
                for item in items {
                    out.push_str("- ");
                    out.push_str(&escape_markdown(item));
                    out.push('\n');
                }
                out.push('\n');
            }
            Block::Table(headings, rows) => {
                let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
                out.push_str(&line(headings.iter().map(|h| escape_markdown(h)).collect()));
                out.push_str(&line(headings.iter().map(|_| "---".to_owned()).collect()));
                for row in rows {
                    out.push_str(&line(row.iter().map(|c| escape_markdown(c)).collect()));
                }
                out.push('\n');
            }
        }
    }
    out
}

fn html(blocks: &[Block], title: &str) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\
body{{font-family:\"SimSun\",\"Songti SC\",serif;max-width:60em;margin:2em auto;line-height:1.6}}\
table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #999;padding:.2em .5em}}\
th{{background:#ddebf7}}h1{{text-align:center;color:#c00}}\
</style>\n</head>\n<body>\n",
        escape_html(title)
    );
    for block in blocks {
        match block {
            Block::Heading(level, text) => {
                out.push_str(&format!("<h{level}>{}</h{level}>\n", escape_html(text)));
            }
            Block::Paragraph(text) => out.push_str(&format!("<p>{}</p>\n", escape_html(text))),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    out.push_str(&format!("<li>{}</li>\n", escape_html(item)));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(headings, rows) => {
                out.push_str("<table>\n<thead><tr>");
                for heading in headings {
                    out.push_str(&format!("<th>{}</th>", escape_html(heading)));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for cell in row {
                        out.push_str(&format!("<td>{}</td>", escape_html(cell)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_parse_and_span_their_months() {
        let q = Quarter::parse("2022-Q1").expect("valid");
        assert_eq!((q.first_day().to_string(), q.last_day().to_string()), ("2022-01-01".into(), "2022-03-31".into()));
        let q4 = Quarter::parse("2024-q4").expect("valid");
        assert_eq!(q4.last_day().to_string(), "2024-12-31");
        assert_eq!(q4.label(), "2024年第四季度");
        assert!(Quarter::parse("2022-Q5").is_none());
        assert!(Quarter::parse("2022Q1").is_none());
        assert!(Quarter::parse("1999-Q1").is_none());
    }

    #[test]
    fn user_text_cannot_break_the_markup() {
        assert_eq!(escape_markdown("A|B *x*"), "A\\|B \\*x\\*");
        assert_eq!(escape_html("<script>&"), "&lt;script&gt;&amp;");
    }
}

//! Value objects: small types that are valid once built.
//!
//! Each is built by `parse`/`TryFrom` and deserialises through the same
//! check, so a request body that breaks a rule is refused at the edge with the
//! field's name and the rule's code (see [`ValueError`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization as _;

/// A value broke a rule. `rule` is a stable code for programs; `message` is
/// the sentence shown to the person who typed the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{rule}] {message}")]
pub struct ValueError {
    /// Stable, English, snake_case code of the broken rule, e.g. `positive_amount`.
    pub rule: &'static str,
    /// Plain Chinese explanation for the bureau's staff.
    pub message: String,
}

impl ValueError {
    /// Builds an error for a broken rule with its explanation.
    pub fn new(rule: &'static str, message: impl Into<String>) -> Self {
        Self { rule, message: message.into() }
    }

    /// Splits a message produced by this type's `Display` back into rule and
    /// text. Deserialisation errors carry only text, so this is how the HTTP
    /// layer recovers the rule of a value refused inside a request body.
    pub fn parse_display(text: &str) -> Option<(&str, &str)> {
        let rest = text.strip_prefix('[')?;
        let (rule, message) = rest.split_once("] ")?;
        let message = message.split(" at line ").next().unwrap_or(message);
        Some((rule, message))
    }
}

/// Longest text accepted in a short field (a name, a title), in characters.
pub const SHORT_TEXT_MAX_CHARS: usize = 200;
/// Longest text accepted in a long field (minutes, a reason), in characters.
pub const LONG_TEXT_MAX_CHARS: usize = 20_000;

/// Normalises to Unicode NFC (so that 「é」 typed as e + U+0301 and as U+00E9
/// are the same name, and counts the same), trims, and checks the rules.
fn clean_text(raw: &str, max_chars: usize) -> Result<String, ValueError> {
    let normalized: String = raw.nfc().collect();
    let trimmed = normalized.trim();
    if trimmed.is_empty() {
        return Err(ValueError::new("required_text", "不能为空"));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ValueError::new("no_control_characters", "不能包含控制字符"));
    }
    let count = trimmed.chars().count();
    if count > max_chars {
        return Err(ValueError::new("text_too_long", format!("最多 {max_chars} 个字符，收到 {count} 个")));
    }
    Ok(trimmed.to_owned())
}

/// A short piece of text: a name, a title, a department. Trimmed, not empty,
/// at most [`SHORT_TEXT_MAX_CHARS`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    /// Checks and builds a name.
    ///
    /// # Errors
    /// `required_text`, `text_too_long` or `no_control_characters`.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        clean_text(raw, SHORT_TEXT_MAX_CHARS).map(Self)
    }

    /// The text itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Name> for String {
    fn from(value: Name) -> Self {
        value.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A long piece of text: minutes, a reason, a note. Trimmed, not empty, at
/// most [`LONG_TEXT_MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    /// Checks and builds a text.
    ///
    /// # Errors
    /// `required_text`, `text_too_long` or `no_control_characters`.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        clean_text(raw, LONG_TEXT_MAX_CHARS).map(Self)
    }

    /// The text itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Text> for String {
    fn from(value: Text) -> Self {
        value.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stable identifier chosen by people or derived from data: lower-case
/// ASCII letters, digits, `_` and `-`, 1 to 64 characters. Used for task
/// forces (`automotive`), plan periods (`2022-2024`) and as part of NATS
/// subjects, which is why the alphabet is so narrow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    /// Checks and builds a slug.
    ///
    /// # Errors
    /// `slug_format` when the text is empty, too long or has other characters.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValueError::new("slug_format", "只能由小写英文字母、数字、下划线和连字符组成，长度 1 至 64"))
        }
    }

    /// The slug itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(value: Slug) -> Self {
        value.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The largest amount accepted, in yuan: ten trillion. Larger figures are
/// typing mistakes (an extra zero or two), not investments in one city.
pub const YUAN_MAX: i64 = 10_000_000_000_000;

/// An amount of money in whole yuan (元), exact, positive, at most
/// [`YUAN_MAX`]. Never a float: 0.1 + 0.2 must not change a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Yuan(i64);

impl Yuan {
    /// Checks and builds an amount.
    ///
    /// # Errors
    /// `positive_amount` when zero or negative, `amount_too_large` above [`YUAN_MAX`].
    pub fn new(yuan: i64) -> Result<Self, ValueError> {
        if yuan <= 0 {
            return Err(ValueError::new("positive_amount", "金额必须是大于 0 的整数（单位：元）"));
        }
        if yuan > YUAN_MAX {
            return Err(ValueError::new(
                "amount_too_large",
                format!("金额不能超过 {YUAN_MAX} 元，请检查是否多输入了零"),
            ));
        }
        Ok(Self(yuan))
    }

    /// The amount in yuan.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Yuan {
    type Error = ValueError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Yuan> for i64 {
    fn from(value: Yuan) -> Self {
        value.0
    }
}

/// Whether a project is industrial (工业) or a service (服务业) project; the
/// plan's investment threshold differs between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectCategory {
    /// 工业项目: qualifies from 100,000,000 CNY under the 2022–2024 plan.
    Industrial,
    /// 服务业项目: qualifies from 50,000,000 CNY under the 2022–2024 plan.
    Service,
}

impl ProjectCategory {
    /// Code used in storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::Industrial => "industrial",
            Self::Service => "service",
        }
    }
}

/// The investment a project must reach at its first signing to count as "led
/// in" (新引进). They are plan data: the command service reads them from the
/// plan period in force and puts them in the signing command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvestmentThresholds {
    /// Minimum for an industrial project, in yuan (2022–2024: 1亿元).
    pub industrial: Yuan,
    /// Minimum for a service project, in yuan (2022–2024: 5000万元).
    pub service: Yuan,
}

impl InvestmentThresholds {
    /// The thresholds of the 2022–2024 plan: 100,000,000 and 50,000,000 yuan.
    pub const PLAN_2022_2024: Self = Self { industrial: Yuan(100_000_000), service: Yuan(50_000_000) };

    /// Whether `amount` of a project of `category` reaches the threshold
    /// ("以上" includes the figure itself).
    pub fn qualifies(&self, category: ProjectCategory, amount: Yuan) -> bool {
        match category {
            ProjectCategory::Industrial => amount >= self.industrial,
            ProjectCategory::Service => amount >= self.service,
        }
    }
}

impl Default for InvestmentThresholds {
    fn default() -> Self {
        Self::PLAN_2022_2024
    }
}

/// The three kinds of promotion activity (招商活动) the plan asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// 走出去: promotion, research and negotiation in chain-leader cities.
    GoingOut,
    /// 请进来: target enterprises invited to Liuzhou.
    InvitingIn,
    /// 不见面: online matchmaking with chain-leader enterprises.
    Online,
}

impl ActivityKind {
    /// Code used in storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::GoingOut => "going_out",
            Self::InvitingIn => "inviting_in",
            Self::Online => "online",
        }
    }
}

/// The three kinds of meeting the plan asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeetingKind {
    /// 招商工作联席会: each task force, every quarter.
    Joint,
    /// 招商工作汇报会: the office, at the start of every month.
    MonthlyReport,
    /// 督导检查会: the office inspects each task force, every quarter.
    Supervision,
}

impl MeetingKind {
    /// Code used in storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::Joint => "joint",
            Self::MonthlyReport => "monthly_report",
            Self::Supervision => "supervision",
        }
    }
}

/// The part an enterprise plays in an activity or a docking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnterpriseRole {
    /// 目标企业: an enterprise the task force wants to bring in.
    Target,
    /// 链主企业: a chain-leader enterprise.
    ChainLeader,
    /// Any other participant.
    Other,
}

impl EnterpriseRole {
    /// Code used in storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::Target => "target",
            Self::ChainLeader => "chain_leader",
            Self::Other => "other",
        }
    }
}

/// An enterprise named in an activity or a docking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseInvolved {
    /// The enterprise's registered name (企业名称).
    pub name: Name,
    /// The part it plays.
    pub role: EnterpriseRole,
}

macro_rules! string_schema {
    ($type:ty, $name:literal, $schema:tt) => {
        impl schemars::JsonSchema for $type {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

string_schema!(Name, "Name", {
    "type": "string", "minLength": 1, "maxLength": SHORT_TEXT_MAX_CHARS,
    "description": "Short text: trimmed, not empty, at most 200 characters, no control characters."
});
string_schema!(Text, "Text", {
    "type": "string", "minLength": 1, "maxLength": LONG_TEXT_MAX_CHARS,
    "description": "Long text: trimmed, not empty, at most 20000 characters."
});
string_schema!(Slug, "Slug", {
    "type": "string", "pattern": "^[a-z0-9_-]{1,64}$",
    "description": "Stable identifier: lower-case ASCII letters, digits, '_' and '-'."
});
string_schema!(Yuan, "Yuan", {
    "type": "integer", "minimum": 1, "maximum": YUAN_MAX,
    "description": "Amount in whole yuan (元), exact."
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_trimmed_and_bounded() {
        assert_eq!(Name::parse("  上汽通用五菱  ").unwrap().as_str(), "上汽通用五菱");
        assert_eq!(Name::parse("   ").unwrap_err().rule, "required_text");
        let long: String = "柳".repeat(SHORT_TEXT_MAX_CHARS + 1);
        assert_eq!(Name::parse(&long).unwrap_err().rule, "text_too_long");
        // The limit counts characters, not bytes: 200 Chinese characters fit.
        assert!(Name::parse(&"柳".repeat(SHORT_TEXT_MAX_CHARS)).is_ok());
        assert_eq!(Name::parse("a\u{0}b").unwrap_err().rule, "no_control_characters");
    }

    #[test]
    fn text_is_normalised_to_nfc_before_it_is_trimmed_and_counted() {
        let decomposed = "  Cafe\u{301} 柳州  ";
        assert_eq!(Name::parse(decomposed).unwrap().as_str(), "Caf\u{e9} 柳州");
        assert_eq!(Name::parse(decomposed), Name::parse("Caf\u{e9} 柳州"));
        let name: Name = serde_json::from_str("\"\\u3000\u{2126}\u{3000}\"").unwrap();
        assert_eq!(name.as_str(), "\u{3a9}", "the ohm sign becomes omega; ideographic spaces are trimmed");
        // 200 decomposed characters are 400 code points but 200 characters once composed.
        assert!(Text::parse(&"e\u{301}".repeat(SHORT_TEXT_MAX_CHARS)).is_ok());
        assert!(Name::parse(&"e\u{301}".repeat(SHORT_TEXT_MAX_CHARS)).is_ok());
    }

    #[test]
    fn yuan_is_positive_and_bounded() {
        assert_eq!(Yuan::new(0).unwrap_err().rule, "positive_amount");
        assert_eq!(Yuan::new(-5).unwrap_err().rule, "positive_amount");
        assert_eq!(Yuan::new(YUAN_MAX + 1).unwrap_err().rule, "amount_too_large");
        assert_eq!(Yuan::new(YUAN_MAX).unwrap().get(), YUAN_MAX);
    }

    #[test]
    fn yuan_refuses_fractions_when_deserialised() {
        assert!(serde_json::from_str::<Yuan>("100000000.5").is_err());
        assert!(serde_json::from_str::<Yuan>("-1").is_err());
        assert_eq!(serde_json::from_str::<Yuan>("100000000").unwrap().get(), 100_000_000);
    }

    #[test]
    fn thresholds_include_the_figure_itself() {
        let t = InvestmentThresholds::PLAN_2022_2024;
        let y = |v| Yuan::new(v).unwrap();
        assert!(t.qualifies(ProjectCategory::Industrial, y(100_000_000)));
        assert!(!t.qualifies(ProjectCategory::Industrial, y(99_999_999)));
        assert!(t.qualifies(ProjectCategory::Service, y(50_000_000)));
        assert!(!t.qualifies(ProjectCategory::Service, y(49_999_999)));
        // A service-sized amount does not make an industrial project qualify.
        assert!(!t.qualifies(ProjectCategory::Industrial, y(60_000_000)));
    }

    #[test]
    fn slug_alphabet_is_narrow() {
        assert!(Slug::parse("automotive").is_ok());
        assert!(Slug::parse("2022-2024").is_ok());
        assert_eq!(Slug::parse("汽车").unwrap_err().rule, "slug_format");
        assert_eq!(Slug::parse("a.b").unwrap_err().rule, "slug_format");
        assert_eq!(Slug::parse("").unwrap_err().rule, "slug_format");
    }

    #[test]
    fn value_error_display_round_trips() {
        let e = ValueError::new("positive_amount", "金额必须为正");
        let text = format!("{e} at line 1 column 20");
        assert_eq!(ValueError::parse_display(&text), Some(("positive_amount", "金额必须为正")));
    }
}

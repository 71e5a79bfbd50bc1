//! One table, printed two ways: as an XLSX worksheet laid out for people
//! (title rows, a two-level frozen header, widths that fit Chinese text, a
//! totals row, number formats) and as CSV for machines and quick looks
//! (UTF-8 with a byte-order mark, one header row, the totals row last).
//!
//! The attachments build a [`Sheet`] from the read models; nothing here
//! reads a database, so the layout rules are tested without one.

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{
    Color, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Note, Workbook, Worksheet, XlsxError,
};
use unicode_width::UnicodeWidthStr;

/// How a column's values are written and formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Text, left-aligned.
    Text,
    /// A whole number (a count), right-aligned.
    Count,
    /// An amount of yuan shown in 万元 (ten thousand yuan), two decimals in
    /// XLSX, exact (up to four decimals) in CSV.
    WanYuan,
    /// A percentage given in percent (`45.5` for 45.5 %).
    Percent,
    /// A calendar date, `yyyy-mm-dd`.
    Date,
}

/// One column: its heading, the heading group above it, and its kind.
#[derive(Debug, Clone)]
pub struct Column {
    /// The heading, in Chinese.
    pub heading: String,
    /// The group heading over consecutive columns (e.g. a measure over its
    /// 目标/完成/差距 columns); `None` when the heading stands alone.
    pub group: Option<String>,
    /// How its values are written.
    pub kind: ColumnKind,
    /// What goes into the column and by what rule, for import templates:
    /// written as a note on the heading and as the template's comment row.
    pub rule: Option<String>,
}

impl Column {
    /// A column without a group.
    pub fn new(heading: impl Into<String>, kind: ColumnKind) -> Self {
        Self { heading: heading.into(), group: None, kind, rule: None }
    }

    /// A column under a group heading.
    pub fn grouped(group: impl Into<String>, heading: impl Into<String>, kind: ColumnKind) -> Self {
        Self { heading: heading.into(), group: Some(group.into()), kind, rule: None }
    }

    /// The heading as one line, for CSV: `group·heading` under a group.
    pub fn flat_heading(&self) -> String {
        match &self.group {
            Some(group) => format!("{group}·{}", self.heading),
            None => self.heading.clone(),
        }
    }
}

/// One value of one cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Nothing known (written as an empty cell).
    Empty,
    /// Text.
    Text(String),
    /// A count.
    Count(i64),
    /// Yuan (shown in 万元).
    Yuan(i64),
    /// Percent.
    Percent(f64),
    /// A date.
    Date(NaiveDate),
}

impl Value {
    /// Text, or empty for `None`.
    pub fn text(text: Option<impl Into<String>>) -> Self {
        text.map_or(Self::Empty, |t| Self::Text(t.into()))
    }

    /// A date, or empty for `None`.
    pub fn date(date: Option<NaiveDate>) -> Self {
        date.map_or(Self::Empty, Self::Date)
    }

    /// Yuan, or empty for `None`.
    pub fn yuan(yuan: Option<i64>) -> Self {
        yuan.map_or(Self::Empty, Self::Yuan)
    }

    /// How the value reads as text: in CSV, and to measure column widths.
    pub fn display(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Text(t) => t.clone(),
            Self::Count(n) => n.to_string(),
            Self::Yuan(y) => wan_yuan(*y),
            Self::Percent(p) => format!("{p:.2}%"),
            Self::Date(d) => d.format("%Y-%m-%d").to_string(),
        }
    }
}

/// Yuan as an exact decimal number of 万元: `123456789` → `12345.6789`,
/// `50000000` → `5000`.
pub fn wan_yuan(yuan: i64) -> String {
    let sign = if yuan < 0 { "-" } else { "" };
    let magnitude = yuan.unsigned_abs();
    let (whole, fraction) = (magnitude / 10_000, magnitude % 10_000);
    if fraction == 0 {
        format!("{sign}{whole}")
    } else {
        let digits = format!("{fraction:04}");
        format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// A table ready to print.
#[derive(Debug, Clone)]
pub struct Sheet {
    /// The worksheet's name (at most 31 characters, no `[]:*?/\`).
    pub sheet_name: String,
    /// The attachment label printed above the title (`附件1`), if any.
    pub label: Option<String>,
    /// The title, as the plan gives it.
    pub title: String,
    /// One line under the title: period, as-of sequence, units.
    pub subtitle: String,
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows, each with one value per column.
    pub rows: Vec<Vec<Value>>,
    /// The totals row, printed last and in bold.
    pub total: Option<Vec<Value>>,
    /// Notes printed under the table in XLSX (not in CSV, which stays a
    /// plain table for machines).
    pub notes: Vec<String>,
    /// How many leading columns stay visible when scrolling right.
    pub frozen_columns: u16,
    /// Whether the CSV carries a second row with each column's rule
    /// (import templates); XLSX then writes the rules as a row too.
    pub rule_row: bool,
}

/// The narrowest and widest a column may be, in Excel's character units.
const MIN_WIDTH: usize = 6;
const MAX_WIDTH: usize = 50;
/// The most a column widens for its rule text before the text wraps.
const RULE_WIDTH: usize = 24;

/// The display width of text in Excel's character units: unicode-width
/// counts a CJK character as 2 columns and a Latin one as 1, which is how
/// Excel's default fonts lay them out.
pub fn text_width(text: &str) -> usize {
    text.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
}

impl Sheet {
    fn has_groups(&self) -> bool {
        self.columns.iter().any(|c| c.group.is_some())
    }

    /// The width of every column: the widest of its heading and its values,
    /// plus a margin, between [`MIN_WIDTH`] and [`MAX_WIDTH`].
    pub fn column_widths(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .map(|(index, column)| {
                let values = self.rows.iter().chain(self.total.iter()).filter_map(|row| row.get(index));
                let widest_value = values.map(|v| text_width(&v.display())).max().unwrap_or(0);
                let heading = text_width(&column.heading);
                // A rule (import templates) wraps: let it widen the column
                // only so far, and the rule row grows taller instead.
                let rule = column.rule.as_deref().map_or(0, |r| text_width(r).min(RULE_WIDTH));
                (widest_value.max(heading).max(rule) + 2).clamp(MIN_WIDTH, MAX_WIDTH)
            })
            .collect()
    }

    /// The first row holding data, zero-based, below the title and header
    /// rows (the row the panes freeze at).
    pub fn first_data_row(&self) -> u32 {
        let title_rows = 2 + u32::from(self.label.is_some());
        let header_rows = if self.has_groups() { 2 } else { 1 };
        title_rows + header_rows + u32::from(self.rule_row)
    }

    /// The table as CSV: UTF-8 with a byte-order mark (so Excel reads the
    /// Chinese right), one header row, the optional rule row, the rows and
    /// the totals row.
    ///
    /// # Errors
    /// When the CSV writer fails (it writes to memory, so only on a bug).
    pub fn to_csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut buffer = "\u{feff}".as_bytes().to_vec();
        {
            let mut writer = csv::Writer::from_writer(&mut buffer);
            writer.write_record(self.columns.iter().map(Column::flat_heading))?;
            if self.rule_row {
                writer.write_record(self.columns.iter().map(|c| c.rule.clone().unwrap_or_default()))?;
            }
            for row in self.rows.iter().chain(self.total.iter()) {
                writer.write_record(row.iter().map(Value::display))?;
            }
            writer.flush()?;
        }
        Ok(buffer)
    }

    /// The table as an XLSX workbook of one worksheet.
    ///
    /// # Errors
    /// When rust_xlsxwriter refuses a value (a bug: sizes are checked here).
    pub fn to_xlsx(&self) -> Result<Vec<u8>, XlsxError> {
        workbook_xlsx(&[self])
    }

    fn write_worksheet(&self, sheet: &mut Worksheet) -> Result<(), XlsxError> {
        sheet.set_name(&self.sheet_name)?;
        // Printed as the bureau files it: A4 landscape, every column on one
        // page's width, the header repeated on every page.
        sheet.set_landscape().set_paper_size(9).set_print_fit_to_pages(1, 0);
        let last_column = u16::try_from(self.columns.len().saturating_sub(1)).unwrap_or(u16::MAX);
        let border = |f: Format| f.set_border(FormatBorder::Thin);
        let label_format = Format::new().set_bold().set_font_size(12);
        let title_format = Format::new().set_bold().set_font_size(16).set_align(FormatAlign::Center);
        let subtitle_format = Format::new().set_align(FormatAlign::Left).set_font_size(10);
        let header = border(
            Format::new()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color(Color::RGB(0xDDEBF7)),
        );
        let rule_format = border(
            Format::new().set_italic().set_text_wrap().set_align(FormatAlign::Top).set_font_color(Color::RGB(0x595959)),
        );

        let mut row: u32 = 0;
        if let Some(label) = &self.label {
            sheet.write_string_with_format(row, 0, label, &label_format)?;
            row += 1;
        }
        merge_or_write(sheet, row, 0, row, last_column, &self.title, &title_format)?;
        sheet.set_row_height(row, 28)?;
        row += 1;
        merge_or_write(sheet, row, 0, row, last_column, &self.subtitle, &subtitle_format)?;
        row += 1;

        let header_row = row;
        if self.has_groups() {
            let (group_row, heading_row) = (row, row + 1);
            let mut index = 0;
            while index < self.columns.len() {
                let column = &self.columns[index];
                let col = to_col(index);
                match &column.group {
                    None => merge_or_write(sheet, group_row, col, heading_row, col, &column.heading, &header)?,
                    Some(group) => {
                        let span = self.columns[index..].iter().take_while(|c| c.group.as_ref() == Some(group)).count();
                        let last = to_col(index + span - 1);
                        merge_or_write(sheet, group_row, col, group_row, last, group, &header)?;
                        for (offset, member) in self.columns[index..index + span].iter().enumerate() {
                            sheet.write_string_with_format(
                                heading_row,
                                to_col(index + offset),
                                &member.heading,
                                &header,
                            )?;
                        }
                        index += span - 1;
                    }
                }
                index += 1;
            }
            // The group headings are long (a measure's full wording): give
            // the group row room for two or three wrapped lines.
            sheet.set_row_height(group_row, 48)?;
            row += 2;
        } else {
            for (index, column) in self.columns.iter().enumerate() {
                sheet.write_string_with_format(row, to_col(index), &column.heading, &header)?;
                if let Some(rule) = &column.rule {
                    sheet.insert_note(row, to_col(index), &Note::new(rule).set_author("zhaoshang"))?;
                }
            }
            row += 1;
        }
        if self.rule_row {
            for (index, column) in self.columns.iter().enumerate() {
                sheet.write_string_with_format(
                    row,
                    to_col(index),
                    column.rule.as_deref().unwrap_or(""),
                    &rule_format,
                )?;
            }
            // Tall enough for the longest wrapped rule, at 15 points a line.
            let widths = self.column_widths();
            let lines = self
                .columns
                .iter()
                .zip(&widths)
                .map(|(c, w)| text_width(c.rule.as_deref().unwrap_or("")).div_ceil(w.saturating_sub(2).max(1)))
                .max()
                .unwrap_or(1);
            sheet.set_row_height(row, u32::try_from(lines.max(1) * 15).unwrap_or(90))?;
            row += 1;
        }
        sheet.set_freeze_panes(row, self.frozen_columns)?;
        sheet.set_repeat_rows(header_row, row - 1)?;

        let formats = CellFormats::new(false);
        for values in &self.rows {
            write_values(sheet, row, values, &self.columns, &formats)?;
            row += 1;
        }
        if let Some(total) = &self.total {
            write_values(sheet, row, total, &self.columns, &CellFormats::new(true))?;
            row += 1;
        }
        if !self.notes.is_empty() {
            row += 1;
            let note_format = Format::new().set_font_size(10).set_text_wrap();
            for note in &self.notes {
                merge_or_write(sheet, row, 0, row, last_column, note, &note_format)?;
                row += 1;
            }
        }
        for (index, width) in self.column_widths().into_iter().enumerate() {
            sheet.set_column_width(to_col(index), u32::try_from(width).unwrap_or(50))?;
        }
        Ok(())
    }
}

fn to_col(index: usize) -> u16 {
    u16::try_from(index).unwrap_or(u16::MAX)
}

/// Merges a range, or writes one cell when the range is a single cell
/// (rust_xlsxwriter refuses to merge one cell).
fn merge_or_write(
    sheet: &mut Worksheet,
    first_row: u32,
    first_col: u16,
    last_row: u32,
    last_col: u16,
    text: &str,
    format: &Format,
) -> Result<(), XlsxError> {
    if first_row == last_row && first_col == last_col {
        sheet.write_string_with_format(first_row, first_col, text, format)?;
    } else {
        sheet.merge_range(first_row, first_col, last_row, last_col, text, format)?;
    }
    Ok(())
}

struct CellFormats {
    text: Format,
    count: Format,
    wan_yuan: Format,
    percent: Format,
    date: Format,
}

impl CellFormats {
    fn new(bold: bool) -> Self {
        let base = || {
            let format = Format::new().set_border(FormatBorder::Thin).set_align(FormatAlign::VerticalCenter);
            if bold { format.set_bold().set_background_color(Color::RGB(0xF2F2F2)) } else { format }
        };
        Self {
            text: base().set_text_wrap(),
            count: base().set_num_format("0"),
            wan_yuan: base().set_num_format("#,##0.00"),
            percent: base().set_num_format("0.00%"),
            date: base().set_num_format("yyyy-mm-dd").set_align(FormatAlign::Center),
        }
    }
}

fn write_values(
    sheet: &mut Worksheet,
    row: u32,
    values: &[Value],
    columns: &[Column],
    formats: &CellFormats,
) -> Result<(), XlsxError> {
    for (index, column) in columns.iter().enumerate() {
        let col = to_col(index);
        let value = values.get(index).unwrap_or(&Value::Empty);
        match value {
            Value::Empty => {
                let format = match column.kind {
                    ColumnKind::Text => &formats.text,
                    ColumnKind::Count => &formats.count,
                    ColumnKind::WanYuan => &formats.wan_yuan,
                    ColumnKind::Percent => &formats.percent,
                    ColumnKind::Date => &formats.date,
                };
                sheet.write_blank(row, col, format)?;
            }
            Value::Text(text) => {
                sheet.write_string_with_format(row, col, text, &formats.text)?;
            }
            // Counts and amounts fit f64 exactly far beyond any real figure
            // (2^53 yuan); the XLSX cell holds the number, the format shows it.
            #[allow(clippy::cast_precision_loss)]
            Value::Count(n) => {
                sheet.write_number_with_format(row, col, *n as f64, &formats.count)?;
            }
            #[allow(clippy::cast_precision_loss)]
            Value::Yuan(yuan) => {
                sheet.write_number_with_format(row, col, *yuan as f64 / 10_000.0, &formats.wan_yuan)?;
            }
            Value::Percent(percent) => {
                sheet.write_number_with_format(row, col, percent / 100.0, &formats.percent)?;
            }
            Value::Date(date) => {
                let excel = ExcelDateTime::from_ymd(
                    u16::try_from(date.year()).unwrap_or(1900),
                    u8::try_from(date.month()).unwrap_or(1),
                    u8::try_from(date.day()).unwrap_or(1),
                )?;
                sheet.write_datetime_with_format(row, col, &excel, &formats.date)?;
            }
        }
    }
    Ok(())
}

/// Sheets as one XLSX workbook, one worksheet each, in order.
///
/// # Errors
/// When rust_xlsxwriter refuses a value (a bug: sizes are checked here).
pub fn workbook_xlsx(sheets: &[&Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    // A fixed creation time (the zip epoch, as reproducible builds use)
    // instead of "now": the same data gives the same bytes, so a
    // downloaded attachment can be compared or hashed like the briefing.
    let title = sheets.first().map_or("", |s| s.title.as_str());
    let properties = DocProperties::new()
        .set_title(title)
        .set_author("zhaoshang")
        .set_creation_datetime(&ExcelDateTime::from_ymd(1980, 1, 1)?);
    workbook.set_properties(&properties);
    for sheet in sheets {
        let worksheet = workbook.add_worksheet();
        sheet.write_worksheet(worksheet)?;
    }
    workbook.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_print_exactly_as_wan_yuan() {
        assert_eq!(wan_yuan(120_000_000), "12000");
        assert_eq!(wan_yuan(123_456_789), "12345.6789");
        assert_eq!(wan_yuan(50_005_000), "5000.5");
        assert_eq!(wan_yuan(-15_000), "-1.5");
        assert_eq!(wan_yuan(0), "0");
    }

    #[test]
    fn chinese_text_counts_double_in_column_widths() {
        assert_eq!(text_width("汽车产业链招商专班"), 18);
        assert_eq!(text_width("E1"), 2);
        let sheet = Sheet {
            sheet_name: "t".into(),
            label: None,
            title: "t".into(),
            subtitle: String::new(),
            columns: vec![Column::new("专班", ColumnKind::Text), Column::new("数", ColumnKind::Count)],
            rows: vec![vec![Value::Text("汽车产业链招商专班".into()), Value::Count(3)]],
            total: None,
            notes: vec![],
            frozen_columns: 1,
            rule_row: false,
        };
        assert_eq!(sheet.column_widths(), vec![20, MIN_WIDTH]);
    }

    #[test]
    fn csv_starts_with_a_byte_order_mark_and_flattens_groups() {
        let sheet = Sheet {
            sheet_name: "t".into(),
            label: None,
            title: "t".into(),
            subtitle: String::new(),
            columns: vec![
                Column::new("专班", ColumnKind::Text),
                Column::grouped("开工项目", "目标", ColumnKind::Count),
            ],
            rows: vec![vec![Value::Text("汽车".into()), Value::Count(1)]],
            total: Some(vec![Value::Text("合计".into()), Value::Count(8)]),
            notes: vec![],
            frozen_columns: 1,
            rule_row: false,
        };
        let csv = String::from_utf8(sheet.to_csv().expect("csv")).expect("utf-8");
        assert_eq!(csv, "\u{feff}专班,开工项目·目标\n汽车,1\n合计,8\n");
    }
}

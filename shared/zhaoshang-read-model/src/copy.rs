//! Rows for PostgreSQL's `COPY … FROM STDIN` in text format: the fastest way
//! to append many rows, used for the append-only tables of a batch.
//!
//! COPY has no `ON CONFLICT`: it is safe here because the checkpoint, read
//! `FOR UPDATE` in the same transaction, guarantees that no row of a batch
//! was written before. A duplicate would fail loudly, which is what a broken
//! invariant should do.

use std::fmt::Write as _;

use sqlx::{Postgres, Transaction};

/// Rows being built in COPY's text format.
#[derive(Default)]
pub(crate) struct CopyRows {
    text: String,
    row_started: bool,
}

impl CopyRows {
    fn separator(&mut self) {
        if self.row_started {
            self.text.push('\t');
        }
        self.row_started = true;
    }

    /// Adds a text field, escaped; `None` is SQL NULL.
    pub(crate) fn text(&mut self, value: Option<&str>) -> &mut Self {
        self.separator();
        match value {
            None => self.text.push_str("\\N"),
            Some(value) => {
                for c in value.chars() {
                    match c {
                        '\\' => self.text.push_str("\\\\"),
                        '\t' => self.text.push_str("\\t"),
                        '\n' => self.text.push_str("\\n"),
                        '\r' => self.text.push_str("\\r"),
                        c => self.text.push(c),
                    }
                }
            }
        }
        self
    }

    /// Adds a field whose text form needs no escaping (numbers, dates, UUIDs).
    pub(crate) fn plain(&mut self, value: Option<impl std::fmt::Display>) -> &mut Self {
        self.separator();
        match value {
            None => self.text.push_str("\\N"),
            Some(value) => {
                let _ = write!(self.text, "{value}");
            }
        }
        self
    }

    /// Ends the current row.
    pub(crate) fn end_row(&mut self) {
        self.text.push('\n');
        self.row_started = false;
    }

    /// Sends the rows with `statement` (`COPY table (columns) FROM STDIN`).
    pub(crate) async fn send(&self, tx: &mut Transaction<'_, Postgres>, statement: &str) -> Result<(), sqlx::Error> {
        if self.text.is_empty() {
            return Ok(());
        }
        let mut copy = tx.copy_in_raw(statement).await?;
        copy.send(self.text.as_bytes()).await?;
        copy.finish().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_escaped_and_nulls_marked() {
        let mut rows = CopyRows::default();
        rows.text(Some("柳州\t科技\\局\n")).plain(Some(42)).text(None);
        rows.end_row();
        assert_eq!(rows.text, "柳州\\t科技\\\\局\\n\t42\t\\N\n");
    }
}

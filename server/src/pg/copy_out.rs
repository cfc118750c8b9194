//! `COPY (query) TO STDOUT` and `COPY table TO STDOUT`: psql's `\copy ... to stdout` (and
//! `\copy ... to 'file'`, which psql writes itself) sends these, and they only read. The query
//! runs through the ordinary path (rewrites, read-only guard, catalog emulation, text
//! encoding); its text-format rows are then re-framed as COPY data in PostgreSQL's text or CSV
//! format. Every other COPY (from anywhere, or to a file or program on the server) is left to
//! the read-only guard, which refuses it.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_postgres::pgwire::api::results::{CopyResponse, Response};
use datafusion_postgres::pgwire::error::PgWireResult;
use datafusion_postgres::pgwire::messages::copy::CopyData;
use datafusion_postgres::pgwire::messages::data::DataRow;
use futures::StreamExt;

use crate::sqlstate::{codes, user_error};

/// How a value is written: PostgreSQL's `text` (escaped) or `csv` (quoted) format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Style {
    Text,
    Csv { quote: u8, escape: u8 },
}

/// The format options of one COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Format {
    style: Style,
    delimiter: u8,
    null: Vec<u8>,
    header: bool,
}

/// A `COPY ... TO STDOUT`: the query to run and how to frame its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOut {
    query: Statement,
    format: Format,
}

fn not_supported(what: impl std::fmt::Display) -> datafusion_postgres::pgwire::error::PgWireError {
    user_error(
        codes::NOT_SUPPORTED,
        format!("COPY TO STDOUT: {what} is not supported"),
    )
}

fn single_byte(character: char, option: &str) -> PgWireResult<u8> {
    u8::try_from(character)
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| not_supported(format!("a non-ASCII {option}")))
}

impl CopyOut {
    /// The `COPY ... TO STDOUT` in `sql`, if `sql` is exactly one; `None` for anything else
    /// (including other COPYs, which the read-only guard then refuses).
    #[cfg(test)]
    pub fn parse(sql: &str) -> PgWireResult<Option<Self>> {
        match Parser::parse_sql(&PostgreSqlDialect {}, sql).as_deref() {
            Ok([statement]) => Self::from_statement(statement),
            _ => Ok(None),
        }
    }

    /// The `COPY ... TO STDOUT` that `statement` is, if it is one.
    pub fn from_statement(statement: &Statement) -> PgWireResult<Option<Self>> {
        let Statement::Copy {
            source,
            to: true,
            target: CopyTarget::Stdout,
            options,
            legacy_options,
            values: _,
        } = statement
        else {
            return Ok(None);
        };
        let query = match source {
            CopySource::Query(query) => Statement::Query(query.clone()),
            CopySource::Table {
                table_name,
                columns,
            } => {
                let columns: Vec<String> = columns.iter().map(ToString::to_string).collect();
                let projection = if columns.is_empty() {
                    "*".to_string()
                } else {
                    columns.join(", ")
                };
                // Names the parser produced, printed back: this always parses.
                let select = format!("SELECT {projection} FROM {table_name}");
                let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, &select)
                    .map_err(|error| not_supported(format!("copying {table_name} ({error})")))?;
                statements
                    .pop()
                    .ok_or_else(|| not_supported("an empty table name"))?
            }
        };
        let format = Format::from_options(options, legacy_options)?;
        Ok(Some(Self { query, format }))
    }

    /// The query whose rows are copied out.
    pub fn query(&self) -> &Statement {
        &self.query
    }

    /// Turn the query's (text-format) result into the COPY OUT response.
    pub fn respond(&self, response: Response) -> PgWireResult<Response> {
        let Response::Query(result) = response else {
            return Err(not_supported("a statement that returns no rows"));
        };
        let fields = result.row_schema();
        let header = self.format.header.then(|| {
            let mut line = Vec::new();
            let names: Vec<Option<&[u8]>> = fields
                .iter()
                .map(|field| Some(field.name().as_bytes()))
                .collect();
            self.format.write_line(&mut line, &names);
            line
        });
        let format = Arc::new(self.format.clone());
        // The header goes out with the first row (pgwire counts each CopyData as a row for
        // the `COPY n` tag), or on its own when there are no rows.
        let lines = futures::stream::unfold(
            (header, result.data_rows, format, false),
            |(mut header, mut rows, format, done)| async move {
                if done {
                    return None;
                }
                match rows.next().await {
                    Some(row) => {
                        let line = row.and_then(|row| {
                            let mut line = header.take().unwrap_or_default();
                            format.write_line(&mut line, &row_values(&row)?);
                            Ok(CopyData::new(line.into()))
                        });
                        Some((line, (header, rows, format, false)))
                    }
                    None => header
                        .take()
                        .map(|line| (Ok(CopyData::new(line.into())), (None, rows, format, true))),
                }
            },
        );
        Ok(Response::CopyOut(CopyResponse::new(0, fields.len(), lines)))
    }
}

impl Format {
    fn from_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> PgWireResult<Self> {
        let mut csv = false;
        let mut header = false;
        let mut delimiter = None;
        let mut null = None;
        let mut quote = b'"';
        let mut escape = None;
        for option in options {
            match option {
                CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                    "text" => csv = false,
                    "csv" => csv = true,
                    other => return Err(not_supported(format!("FORMAT {other}"))),
                },
                CopyOption::Header(on) => header = *on,
                CopyOption::Delimiter(character) => {
                    delimiter = Some(single_byte(*character, "DELIMITER")?);
                }
                CopyOption::Null(text) => null = Some(text.clone().into_bytes()),
                CopyOption::Quote(character) => quote = single_byte(*character, "QUOTE")?,
                CopyOption::Escape(character) => {
                    escape = Some(single_byte(*character, "ESCAPE")?);
                }
                CopyOption::Encoding(name)
                    if name.eq_ignore_ascii_case("utf8") || name.eq_ignore_ascii_case("utf-8") => {}
                CopyOption::Freeze(_) => {}
                other => return Err(not_supported(other)),
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Csv(csv_options) => {
                    csv = true;
                    for csv_option in csv_options {
                        match csv_option {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(character) => {
                                quote = single_byte(*character, "QUOTE")?;
                            }
                            CopyLegacyCsvOption::Escape(character) => {
                                escape = Some(single_byte(*character, "ESCAPE")?);
                            }
                            other => return Err(not_supported(other)),
                        }
                    }
                }
                CopyLegacyOption::Header => header = true,
                CopyLegacyOption::Delimiter(character) => {
                    delimiter = Some(single_byte(*character, "DELIMITER")?);
                }
                CopyLegacyOption::Null(text) => null = Some(text.clone().into_bytes()),
                other => return Err(not_supported(other)),
            }
        }
        let (style, default_delimiter, default_null) = if csv {
            let escape = escape.unwrap_or(quote);
            (Style::Csv { quote, escape }, b',', Vec::new())
        } else {
            (Style::Text, b'\t', b"\\N".to_vec())
        };
        Ok(Self {
            style,
            delimiter: delimiter.unwrap_or(default_delimiter),
            null: null.unwrap_or(default_null),
            header,
        })
    }

    /// Append one line (values, `None` for NULL) with its newline.
    fn write_line(&self, line: &mut Vec<u8>, values: &[Option<&[u8]>]) {
        for (position, value) in values.iter().enumerate() {
            if position > 0 {
                line.push(self.delimiter);
            }
            match value {
                None => line.extend_from_slice(&self.null),
                Some(value) => self.write_value(line, value),
            }
        }
        line.push(b'\n');
    }

    fn write_value(&self, line: &mut Vec<u8>, value: &[u8]) {
        match self.style {
            Style::Text => {
                for &byte in value {
                    match byte {
                        b'\\' => line.extend_from_slice(b"\\\\"),
                        b'\n' => line.extend_from_slice(b"\\n"),
                        b'\r' => line.extend_from_slice(b"\\r"),
                        b'\t' if self.delimiter == b'\t' => line.extend_from_slice(b"\\t"),
                        _ if byte == self.delimiter => line.extend_from_slice(&[b'\\', byte]),
                        _ => line.push(byte),
                    }
                }
            }
            Style::Csv { quote, escape } => {
                // As PostgreSQL: quote what would otherwise read back differently (the
                // delimiter, quotes, line breaks, the NULL marker, and `\.` alone).
                let needs_quotes = value == self.null.as_slice()
                    || value == b"\\."
                    || value.iter().any(|&byte| {
                        matches!(byte, b'\n' | b'\r') || byte == self.delimiter || byte == quote
                    });
                if !needs_quotes {
                    line.extend_from_slice(value);
                    return;
                }
                line.push(quote);
                for &byte in value {
                    if byte == quote || byte == escape {
                        line.push(escape);
                    }
                    line.push(byte);
                }
                line.push(quote);
            }
        }
    }
}

/// The values of a text-format data row (`None` for NULL): each is a big-endian length
/// (-1 for NULL) followed by that many bytes.
fn row_values(row: &DataRow) -> PgWireResult<Vec<Option<&[u8]>>> {
    let malformed = || user_error(codes::INTERNAL, "COPY TO STDOUT: malformed data row");
    let mut rest: &[u8] = &row.data;
    let mut values = Vec::with_capacity(usize::try_from(row.field_count).unwrap_or(0));
    for _ in 0..row.field_count {
        let (length, tail) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
        let length = i32::from_be_bytes(*length);
        rest = tail;
        if length < 0 {
            values.push(None);
            continue;
        }
        let length = usize::try_from(length).map_err(|_| malformed())?;
        if rest.len() < length {
            return Err(malformed());
        }
        let (value, tail) = rest.split_at(length);
        values.push(Some(value));
        rest = tail;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(format: &Format, values: &[Option<&str>]) -> String {
        let values: Vec<Option<&[u8]>> = values.iter().map(|v| v.map(str::as_bytes)).collect();
        let mut out = Vec::new();
        format.write_line(&mut out, &values);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn only_copy_to_stdout_is_taken() {
        let copy = CopyOut::parse("COPY ( SELECT source FROM sources ) TO STDOUT")
            .expect("parsed")
            .expect("a copy out");
        assert_eq!(copy.query().to_string(), "SELECT source FROM sources");
        assert_eq!(copy.format.style, Style::Text);
        let table = CopyOut::parse("copy sources (source, stale) to stdout")
            .expect("parsed")
            .expect("a copy out");
        assert_eq!(
            table.query().to_string(),
            "SELECT source, stale FROM sources"
        );
        for other in [
            "COPY sources FROM STDIN",
            "COPY sources TO '/tmp/x'",
            "COPY (SELECT 1) TO PROGRAM 'cat'",
            "SELECT 1",
            "COPY (SELECT 1) TO STDOUT; SELECT 1",
        ] {
            assert_eq!(CopyOut::parse(other).expect("parsed"), None, "{other}");
        }
        assert!(CopyOut::parse("COPY (SELECT 1) TO STDOUT WITH (FORMAT binary)").is_err());
    }

    #[test]
    fn text_format_escapes() {
        let copy = CopyOut::parse("COPY (SELECT 1) TO STDOUT")
            .expect("ok")
            .expect("copy");
        assert_eq!(
            line(&copy.format, &[Some("a\tb"), None, Some("c\\d\ne")]),
            "a\\tb\t\\N\tc\\\\d\\ne\n"
        );
    }

    #[test]
    fn csv_format_quotes() {
        for sql in [
            "COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER)",
            "COPY (SELECT 1) TO STDOUT CSV HEADER",
        ] {
            let copy = CopyOut::parse(sql).expect("ok").expect("copy");
            assert!(copy.format.header, "{sql}");
            assert_eq!(
                line(
                    &copy.format,
                    &[
                        Some("plain"),
                        Some("a,b"),
                        Some("say \"hi\""),
                        Some(""),
                        None
                    ]
                ),
                "plain,\"a,b\",\"say \"\"hi\"\"\",\"\",\n",
                "{sql}"
            );
        }
    }

    #[test]
    fn data_rows_split_into_values() {
        let mut data = Vec::new();
        data.extend_from_slice(&3_i32.to_be_bytes());
        data.extend_from_slice(b"abc");
        data.extend_from_slice(&(-1_i32).to_be_bytes());
        let row = DataRow::new(data.as_slice().into(), 2);
        assert_eq!(
            row_values(&row).expect("well formed"),
            vec![Some(b"abc".as_slice()), None]
        );
        let truncated = DataRow::new(data[..5].into(), 2);
        assert!(row_values(&truncated).is_err());
    }
}

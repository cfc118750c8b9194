//! Splitting a migration file into statements before parsing, so one statement sqlparser
//! cannot read costs a warning instead of the rest of the file.

/// One statement of a file: its text (without the terminating `;`) and the byte offset of its
/// first significant character, for line numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawStatement<'a> {
    pub text: &'a str,
    pub offset: usize,
}

/// Split `sql` at top-level semicolons, respecting single-quoted strings (with `E'...'`
/// backslash escapes), double-quoted identifiers, `$$`/`$tag$` dollar quoting, `--` line
/// comments and nested `/* */` comments. Statements holding only comments are dropped.
/// Linear in the input length; unterminated quotes or comments run to the end of the file.
pub(crate) fn split_statements(sql: &str) -> Vec<RawStatement<'_>> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    // Offset of the first character that is not whitespace or comment, once seen.
    let mut first_significant: Option<usize> = None;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                index = sql[index..]
                    .find('\n')
                    .map_or(bytes.len(), |end| index + end + 1);
                continue;
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index = skip_block_comment(bytes, index);
                continue;
            }
            b';' => {
                if let Some(offset) = first_significant.take() {
                    statements.push(RawStatement {
                        text: sql[offset..index].trim_end(),
                        offset,
                    });
                }
                index += 1;
                start = index;
                continue;
            }
            _ if byte.is_ascii_whitespace() => {
                index += 1;
                continue;
            }
            _ => {}
        }
        first_significant.get_or_insert(index);
        index = match byte {
            b'\'' => {
                let escapes = index > start
                    && matches!(bytes[index - 1], b'e' | b'E')
                    && (index < 2 || !is_identifier_byte(bytes[index - 2]));
                skip_single_quoted(bytes, index, escapes)
            }
            b'"' => skip_until(bytes, index + 1, b'"'),
            b'$' => skip_dollar_quoted(sql, index),
            _ => index + 1,
        };
    }
    if let Some(offset) = first_significant {
        let text = sql[offset..].trim_end();
        if !text.is_empty() {
            statements.push(RawStatement { text, offset });
        }
    }
    statements
}

fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// Past the closing quote; `''` is an escaped quote (a doubled delimiter reads as two strings,
/// which splits the same way).
fn skip_single_quoted(bytes: &[u8], open: usize, backslash_escapes: bool) -> usize {
    let mut index = open + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' if backslash_escapes => index += 2,
            b'\'' => return index + 1,
            _ => index += 1,
        }
    }
    bytes.len()
}

fn skip_until(bytes: &[u8], from: usize, delimiter: u8) -> usize {
    bytes[from.min(bytes.len())..]
        .iter()
        .position(|byte| *byte == delimiter)
        .map_or(bytes.len(), |position| from + position + 1)
}

fn skip_block_comment(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut index = open;
    while index + 1 < bytes.len() {
        if bytes[index] == b'/' && bytes[index + 1] == b'*' {
            depth += 1;
            index += 2;
        } else if bytes[index] == b'*' && bytes[index + 1] == b'/' {
            depth -= 1;
            index += 2;
            if depth == 0 {
                return index;
            }
        } else {
            index += 1;
        }
    }
    bytes.len()
}

/// `$tag$ ... $tag$`; a `$` that does not open a tag (`$1`) is an ordinary character.
fn skip_dollar_quoted(sql: &str, open: usize) -> usize {
    let bytes = sql.as_bytes();
    let mut end = open + 1;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        end += 1;
    }
    let tag_is_valid = end < bytes.len()
        && bytes[end] == b'$'
        && !bytes.get(open + 1).is_some_and(u8::is_ascii_digit);
    if !tag_is_valid {
        return open + 1;
    }
    let tag = &sql[open..=end];
    sql[end + 1..]
        .find(tag)
        .map_or(bytes.len(), |position| end + 1 + position + tag.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<&str> {
        split_statements(sql).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "-- header; not a statement\nCREATE TABLE a (x text DEFAULT 'a;b');\n\
                   /* block; /* nested; */ still */ CREATE TABLE \"we;ird\" (y int);\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\nSELECT E'it\\'s; fine', $1;\n-- trailing";
        assert_eq!(
            texts(sql),
            vec![
                "CREATE TABLE a (x text DEFAULT 'a;b')",
                "CREATE TABLE \"we;ird\" (y int)",
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
                "DO $$ BEGIN PERFORM 1; END $$",
                "SELECT E'it\\'s; fine', $1",
            ]
        );
        let offsets: Vec<usize> = split_statements(sql).iter().map(|s| s.offset).collect();
        assert_eq!(&sql[offsets[0]..offsets[0] + 12], "CREATE TABLE");
    }

    #[test]
    fn non_ascii_text_and_transaction_wrappers_split_cleanly() {
        let sql = "BEGIN;\nCREATE TABLE café (prénom text DEFAULT 'Zoë; ok'); -- ünïcode ; comment\nCOMMIT;";
        assert_eq!(
            texts(sql),
            vec![
                "BEGIN",
                "CREATE TABLE café (prénom text DEFAULT 'Zoë; ok')",
                "COMMIT"
            ]
        );
    }

    #[test]
    fn unterminated_quote_runs_to_the_end() {
        assert_eq!(
            texts("SELECT 1; SELECT 'open; SELECT 2"),
            vec!["SELECT 1", "SELECT 'open; SELECT 2"]
        );
    }
}

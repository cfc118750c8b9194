//! PostgreSQL's `format(formatstr, args...)`, which DataFusion lacks: Metabase's field sync
//! builds type names (`format('%s', udt_name)`) and qualified table names
//! (`format('%I.%I', schema, table)`) with it. `%s` (text, NULL as empty), `%I` (identifier,
//! quoted when needed), `%L` (literal, NULL as `NULL`) and `%%`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// `format`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Format {
    signature: Signature,
}

/// An identifier as `quote_ident` writes it: bare when it is lower case letters, digits and
/// underscores not starting with a digit, else double-quoted.
fn quote_ident(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `template` with its placeholders filled from `values` (`None` for NULL).
fn format_row(template: &str, values: &[Option<&str>]) -> Result<String> {
    let mut output = String::with_capacity(template.len());
    let mut next = values.iter();
    let mut characters = template.chars();
    while let Some(character) = characters.next() {
        if character != '%' {
            output.push(character);
            continue;
        }
        let conversion = characters.next();
        if conversion == Some('%') {
            output.push('%');
            continue;
        }
        let Some(value) = next.next() else {
            return exec_err!("format: too few arguments");
        };
        match (conversion, value) {
            (Some('s'), value) => output.push_str(value.unwrap_or("")),
            (Some('I'), Some(value)) => output.push_str(&quote_ident(value)),
            (Some('I'), None) => return exec_err!("format: NULL cannot be an identifier"),
            (Some('L'), Some(value)) => {
                output.push('\'');
                output.push_str(&value.replace('\'', "''"));
                output.push('\'');
            }
            (Some('L'), None) => output.push_str("NULL"),
            (other, _) => {
                return exec_err!("format: unrecognized conversion type specifier {other:?}")
            }
        }
    }
    Ok(output)
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arguments: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = arrays
            .iter()
            .map(|array| cast(array, &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let texts = texts
            .iter()
            .map(|array| array.as_any().downcast_ref::<StringArray>())
            .collect::<Option<Vec<_>>>();
        let Some((template, values)) = texts.as_deref().and_then(<[_]>::split_first) else {
            return exec_err!("format needs a format string");
        };
        let mut formatted = Vec::with_capacity(rows);
        for row in 0..rows {
            if template.is_null(row) {
                formatted.push(None);
                continue;
            }
            let row_values: Vec<Option<&str>> = values
                .iter()
                .map(|column| column.is_valid(row).then(|| column.value(row)))
                .collect();
            formatted.push(Some(format_row(template.value(row), &row_values)?));
        }
        let formatted: ArrayRef = Arc::new(StringArray::from(formatted));
        Ok(ColumnarValue::Array(formatted))
    }
}

/// `format`, to register with the session.
pub fn format() -> ScalarUDF {
    ScalarUDF::from(Format {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_as_postgres_does() {
        assert_eq!(format_row("%s", &[Some("text")]).expect("ok"), "text");
        assert_eq!(
            format_row("%I.%I", &[Some("public"), Some("Mixed Case")]).expect("ok"),
            "public.\"Mixed Case\""
        );
        assert_eq!(
            format_row(
                "\"%s\".\"%s\" %L %L 100%%",
                &[Some("a"), None, Some("it's"), None]
            )
            .expect("ok"),
            "\"a\".\"\" 'it''s' NULL 100%"
        );
        assert!(format_row("%s %s", &[Some("one")]).is_err());
        assert!(format_row("%I", &[None]).is_err());
    }
}

//! The shared half of the UDFs that read a JSON text column and answer a list of texts per
//! row (`changed_paths`, `published_ports`): the return type and the row loop.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::ColumnarValue;
use serde_json::Value;

/// `List<Utf8>`.
pub(super) fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// For each row of the single JSON text argument, the texts `extract` finds; NULL in, NULL out.
/// The JSON is written by the engine itself, so a value that does not parse yields an empty
/// list rather than failing a whole query.
pub(super) fn map_rows(
    args: &[ColumnarValue],
    extract: impl Fn(&Value) -> Vec<String>,
) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let texts = as_string_array(&arrays[0])?;
    let mut builder = ListBuilder::new(StringBuilder::new());
    for row in 0..texts.len() {
        if texts.is_null(row) {
            builder.append_null();
            continue;
        }
        let value: Value = serde_json::from_str(texts.value(row)).unwrap_or(Value::Null);
        for text in extract(&value) {
            builder.values().append_value(text);
        }
        builder.append(true);
    }
    let list: ArrayRef = Arc::new(builder.finish());
    Ok(ColumnarValue::Array(list))
}

//! `changed_paths(diff)`: the attribute paths listed in a version's stored diff, as a text
//! array, so `WHERE array_has(changed_paths, 'memory_size')` works without JSON functions.

use std::sync::Arc;

use arrow::array::{Array, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The UDF; see the module docs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ChangedPaths {
    signature: Signature,
}

impl Default for ChangedPaths {
    fn default() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ChangedPaths {
    fn name(&self) -> &str {
        "changed_paths"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let diffs = as_string_array(&arrays[0])?;
        let mut builder = ListBuilder::new(StringBuilder::new());
        for row in 0..diffs.len() {
            if diffs.is_null(row) {
                builder.append_null();
                continue;
            }
            // Diffs are written by the engine itself; an unparseable one yields no paths rather
            // than failing a whole query.
            let entries: Vec<serde_json::Value> =
                serde_json::from_str(diffs.value(row)).unwrap_or_default();
            for entry in entries {
                if let Some(path) = entry.get("path").and_then(serde_json::Value::as_str) {
                    builder.values().append_value(path);
                }
            }
            builder.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

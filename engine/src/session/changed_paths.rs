//! `changed_paths(diff)`: the attribute paths listed in a version's stored diff, as a text
//! array, so `WHERE array_has(changed_paths, 'memory_size')` works without JSON functions.

use arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::json_text_list;

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
        Ok(json_text_list::list_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        json_text_list::map_rows(&args.args, |diff| {
            diff.as_array()
                .into_iter()
                .flatten()
                .filter_map(|entry| entry.get("path").and_then(serde_json::Value::as_str))
                .map(str::to_string)
                .collect()
        })
    }
}

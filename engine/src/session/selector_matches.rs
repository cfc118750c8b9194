//! `selector_matches(selector, attrs)`: whether a Kubernetes object (its attributes as JSON
//! text) matches a label selector (a JSON object of required labels), following
//! [`crate::relations::selector_matches`]. NULL when either side is NULL.

use std::sync::Arc;

use arrow::array::{Array, BooleanBuilder};
use arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

use crate::relations;

/// The UDF; see the module docs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SelectorMatches {
    signature: Signature,
}

impl Default for SelectorMatches {
    fn default() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for SelectorMatches {
    fn name(&self) -> &str {
        "selector_matches"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let selectors = as_string_array(&arrays[0])?;
        let attrs = as_string_array(&arrays[1])?;
        let mut builder = BooleanBuilder::with_capacity(selectors.len());
        for row in 0..selectors.len() {
            if selectors.is_null(row) || attrs.is_null(row) {
                builder.append_null();
                continue;
            }
            let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
            builder.append_value(relations::selector_matches(
                &parse(selectors.value(row)),
                &parse(attrs.value(row)),
            ));
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

//! `attribute_drift(kind, declared_attrs, live_attrs)`: the attributes the declared side states
//! that the live side does not match, as JSON text `[{"path", "declared", "live"}]` (`[]` when
//! in sync), following [`crate::drift::compare`]. NULL when either side is NULL.

use std::sync::Arc;

use arrow::array::{Array, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::drift::{self, IgnoreRule};

/// The UDF; see the module docs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AttributeDrift {
    signature: Signature,
    ignores: Vec<(String, String)>,
}

impl AttributeDrift {
    /// The function with the user's ignore rules (the built-in ones always apply).
    pub fn new(ignores: &[IgnoreRule]) -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8, DataType::Utf8],
                Volatility::Immutable,
            ),
            ignores: ignores
                .iter()
                .map(|rule| (rule.kind.clone(), rule.path.clone()))
                .collect(),
        }
    }
}

impl ScalarUDFImpl for AttributeDrift {
    fn name(&self) -> &str {
        "attribute_drift"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let kinds = as_string_array(&arrays[0])?;
        let declared = as_string_array(&arrays[1])?;
        let live = as_string_array(&arrays[2])?;
        let ignores: Vec<IgnoreRule> = self
            .ignores
            .iter()
            .map(|(kind, path)| IgnoreRule::new(kind.clone(), path.clone()))
            .collect();
        let mut builder = StringBuilder::new();
        for row in 0..kinds.len() {
            if kinds.is_null(row) || declared.is_null(row) || live.is_null(row) {
                builder.append_null();
                continue;
            }
            // Attributes are written by the engine as JSON; text that is not JSON is compared
            // as a plain string rather than failing the whole query.
            let parse = |text: &str| {
                serde_json::from_str(text)
                    .unwrap_or_else(|_| serde_json::Value::String(text.into()))
            };
            let drifts = drift::compare(
                kinds.value(row),
                &parse(declared.value(row)),
                &parse(live.value(row)),
                &ignores,
            );
            builder.append_value(serde_json::to_string(&drifts).unwrap_or_else(|_| "[]".into()));
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

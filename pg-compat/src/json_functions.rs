//! PostgreSQL's `json_build_object(key, value, ...)`, which DataFusion lacks: SQLAlchemy's
//! column reflection builds a column's collation with it, so without it no table reflects.
//! Values keep their JSON kind (numbers, booleans, null); everything else is a string. The
//! result is of the `json` type, as in PostgreSQL.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use groundtruth_engine::json_type::json_field;
use serde_json::{Number, Value};

/// `json_build_object`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

/// One argument column as JSON values.
fn json_values(column: &ArrayRef) -> Result<Vec<Value>> {
    let data_type = column.data_type().clone();
    if data_type == DataType::Boolean {
        let Some(flags) = column.as_any().downcast_ref::<BooleanArray>() else {
            return exec_err!("json_build_object: unexpected boolean column");
        };
        return Ok((0..flags.len())
            .map(|row| {
                if flags.is_null(row) {
                    Value::Null
                } else {
                    Value::Bool(flags.value(row))
                }
            })
            .collect());
    }
    let text = cast(column, &DataType::Utf8)?;
    let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
        return exec_err!("json_build_object: a value has no text form");
    };
    let numeric = data_type.is_numeric();
    Ok((0..text.len())
        .map(|row| {
            if text.is_null(row) {
                return Value::Null;
            }
            let value = text.value(row);
            numeric
                .then(|| value.parse::<Number>().ok())
                .flatten()
                .map_or_else(|| Value::String(value.to_string()), Value::Number)
        })
        .collect())
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arguments: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    /// `json`, as in PostgreSQL, so drivers decode the object.
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(json_field(self.name(), DataType::Utf8)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return exec_err!("json_build_object: argument list must have even number of elements");
        }
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let columns = arrays.iter().map(json_values).collect::<Result<Vec<_>>>()?;
        let mut objects = Vec::with_capacity(rows);
        for row in 0..rows {
            // Written by hand rather than as a `serde_json::Map`, which sorts its keys:
            // PostgreSQL keeps them in argument order.
            let mut members = Vec::with_capacity(columns.len() / 2);
            for pair in columns.chunks(2) {
                let key = match &pair[0][row] {
                    Value::String(key) => key.clone(),
                    Value::Null => return exec_err!("json_build_object: a key is NULL"),
                    other => other.to_string(),
                };
                members.push(format!("{}:{}", Value::String(key), pair[1][row]));
            }
            objects.push(format!("{{{}}}", members.join(",")));
        }
        let objects: ArrayRef = Arc::new(StringArray::from(objects));
        Ok(ColumnarValue::Array(objects))
    }
}

/// `json_build_object`, to register with the session.
pub fn json_build_object() -> ScalarUDF {
    ScalarUDF::from(JsonBuildObject {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;
    use groundtruth_engine::json_type::is_json;

    #[tokio::test]
    async fn builds_objects_with_json_kinds() {
        let context = SessionContext::new();
        context.register_udf(json_build_object());
        let batches = context
            .sql("SELECT json_build_object('name', 'C', 'schema', NULL, 'n', 3, 'on', true)")
            .await
            .expect("planned")
            .collect()
            .await
            .expect("ran");
        let column = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("text");
        assert_eq!(
            column.value(0),
            r#"{"name":"C","schema":null,"n":3,"on":true}"#
        );
        let frame = context
            .sql("SELECT json_build_object('n', 1) AS object")
            .await
            .expect("planned");
        assert!(
            is_json(frame.schema().field(0)),
            "json_build_object is json"
        );
        assert!(context
            .sql("SELECT json_build_object('odd')")
            .await
            .expect("planned")
            .collect()
            .await
            .is_err());
    }
}

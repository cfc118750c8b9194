//! Query results as JSON rows for agents: one object per row, columns of the JSON logical type
//! (`attrs`, `diff`, any `x::json`; `groundtruth_engine::json_type`) nested as JSON rather than
//! as strings holding JSON, timestamps in RFC 3339.

use std::collections::BTreeSet;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::json::{writer::JsonArray, WriterBuilder};
use groundtruth_engine::json_type::is_json;
use serde_json::{Map, Value};

use crate::error::{McpError, Result};

/// Columns that name the source a row came from; their values are the sources a result
/// involves (for the freshness envelope).
const SOURCE_COLUMNS: &[&str] = &["source", "declared_source", "live_source"];

/// A result: its columns in order and its rows.
#[derive(Debug, Default)]
pub struct Rows {
    /// Column names, in the result's order (row objects do not keep it).
    pub columns: Vec<String>,
    /// One object per row.
    pub rows: Vec<Map<String, Value>>,
}

impl Rows {
    /// Convert record batches (columns from the first batch; none when there is none).
    pub fn from_batches(batches: &[RecordBatch]) -> Result<Self> {
        match batches.first() {
            Some(batch) => Self::with_schema(&batch.schema(), batches),
            None => Ok(Rows::default()),
        }
    }

    /// Convert record batches of `schema` (which names the columns even without rows).
    pub fn with_schema(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        let columns = schema
            .fields()
            .iter()
            .map(|field| field.name().clone())
            .collect();
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(Vec::new());
        let encoding = |error: arrow::error::ArrowError| McpError::Encoding {
            what: "query results",
            message: error.to_string(),
        };
        for batch in batches {
            writer.write(batch).map_err(encoding)?;
        }
        writer.finish().map_err(encoding)?;
        let bytes = writer.into_inner();
        let mut rows: Vec<Map<String, Value>> = if bytes.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&bytes).map_err(|error| McpError::Encoding {
                what: "query results",
                message: error.to_string(),
            })?
        };
        let json_columns: Vec<&String> = schema
            .fields()
            .iter()
            .filter(|field| is_json(field))
            .map(|field| field.name())
            .collect();
        for row in &mut rows {
            for column in &json_columns {
                if let Some(value) = row.get_mut(column.as_str()) {
                    if let Value::String(text) = value {
                        if let Ok(parsed) = serde_json::from_str::<Value>(text) {
                            *value = parsed;
                        }
                    }
                }
            }
        }
        Ok(Rows { columns, rows })
    }

    /// The sources named by the rows, or `None` when no column names one.
    pub fn sources(&self) -> Option<BTreeSet<String>> {
        if !self
            .columns
            .iter()
            .any(|column| SOURCE_COLUMNS.contains(&column.as_str()))
        {
            return None;
        }
        Some(
            self.rows
                .iter()
                .flat_map(|row| SOURCE_COLUMNS.iter().filter_map(|column| row.get(*column)))
                .filter_map(|value| value.as_str().map(str::to_string))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray, StringViewArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use groundtruth_engine::json_type::json_field;

    use super::*;

    #[test]
    fn json_typed_columns_nest_and_sources_are_collected() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("source", DataType::Utf8, true),
            json_field("attrs", DataType::Utf8),
            // Text holding JSON stays a string whatever the column is called; a JSON-typed
            // column nests whatever it is called.
            Field::new("labels", DataType::Utf8, true),
            json_field("document", DataType::Utf8View),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("tf"), Some("aws")])),
                Arc::new(StringArray::from(vec![Some("{\"memory_size\":256}"), None])),
                Arc::new(StringArray::from(vec![Some("{\"team\":\"a\"}"), None])),
                Arc::new(StringViewArray::from(vec![Some("[1,2]"), Some("{}")])),
                Arc::new(Int64Array::from(vec![Some(1), None])),
            ],
        )
        .unwrap();
        let rows = Rows::from_batches(&[batch]).unwrap();
        assert_eq!(
            rows.columns,
            vec!["source", "attrs", "labels", "document", "n"]
        );
        assert_eq!(rows.rows[0]["attrs"]["memory_size"], 256);
        assert_eq!(
            rows.rows[0]["labels"],
            Value::String("{\"team\":\"a\"}".into())
        );
        assert_eq!(rows.rows[0]["document"][1], 2);
        assert!(rows.rows[1]["document"].is_object());
        assert_eq!(rows.rows[1]["attrs"], Value::Null);
        assert_eq!(rows.rows[1]["n"], Value::Null);
        let sources: Vec<String> = rows.sources().unwrap().into_iter().collect();
        assert_eq!(sources, vec!["aws", "tf"]);
        assert!(Rows::from_batches(&[]).unwrap().sources().is_none());
    }
}

//! Columns of the JSON logical type (`groundtruth_engine::json_type`: text marked with the
//! Arrow extension type `arrow.json`, such as `resources.attrs`, `drift.differences` or any
//! `x::json`) are described as PostgreSQL's `json` (OID 114) rather than `text`, so drivers
//! decode them into objects (psycopg, asyncpg with a codec, node-postgres, pgJDBC's PGobject).
//! The bytes are the same in both formats: binary `json` is the text itself, as binary `text`
//! is, so only the row description changes.
//!
//! A column is JSON by its type, never by its name: `SELECT 'x' AS attrs` is text, and
//! `attrs::text` is text.

use datafusion::arrow::datatypes::Schema;
use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse, Response};
use datafusion_postgres::pgwire::api::Type;

use groundtruth_engine::json_type::is_json;

/// `fields`, the row description of a result whose Arrow schema is `schema`, with the JSON
/// columns described as `json`. A description that does not match the schema column for
/// column is returned as it is.
pub fn describe(fields: Vec<FieldInfo>, schema: &Schema) -> Vec<FieldInfo> {
    if fields.len() != schema.fields().len() {
        return fields;
    }
    fields
        .into_iter()
        .zip(schema.fields().iter())
        .map(|(field, arrow_field)| {
            if *field.datatype() != Type::TEXT || !is_json(arrow_field) {
                return field;
            }
            FieldInfo::new(
                field.name().to_string(),
                field.table_id(),
                field.column_id(),
                Type::JSON,
                field.format(),
            )
            .with_format_options(field.format_options().clone())
            .with_type_size(field.type_size())
            .with_type_modifier(field.type_modifier())
        })
        .collect()
}

/// `response` (a result whose Arrow schema is `schema`) with its JSON columns described as
/// `json`; other responses unchanged.
pub fn in_response(response: Response, schema: &Schema) -> Response {
    let Response::Query(query) = response else {
        return response;
    };
    let command_tag = query.command_tag().to_string();
    let fields = describe(query.row_schema().as_ref().clone(), schema);
    let mut described = QueryResponse::new(std::sync::Arc::new(fields), query.data_rows);
    described.set_command_tag(&command_tag);
    Response::Query(described)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion_postgres::pgwire::api::results::FieldFormat;
    use groundtruth_engine::json_type::json_field;

    use super::*;

    #[test]
    fn json_typed_columns_are_described_as_json_whatever_their_names() {
        let field = |name: &str, datatype: Type| {
            FieldInfo::new(name.to_string(), None, None, datatype, FieldFormat::Binary)
        };
        let schema = Schema::new(vec![
            json_field("attrs", DataType::Utf8View),
            Field::new("labels", DataType::Utf8, true),
            json_field("document", DataType::Utf8),
            Field::new("n", DataType::Int64, true),
        ]);
        let described = describe(
            vec![
                field("attrs", Type::TEXT),
                field("labels", Type::TEXT),
                field("document", Type::TEXT),
                field("n", Type::INT8),
            ],
            &schema,
        );
        let types: Vec<&Type> = described.iter().map(FieldInfo::datatype).collect();
        assert_eq!(types, [&Type::JSON, &Type::TEXT, &Type::JSON, &Type::INT8]);
        assert_eq!(described[0].format(), FieldFormat::Binary);
        assert_eq!(described[0].name(), "attrs");
        // A description that does not match the schema is left as it is.
        let unmatched = describe(vec![field("attrs", Type::TEXT)], &schema);
        assert_eq!(unmatched[0].datatype(), &Type::TEXT);
    }
}

//! Groundtruth's JSON columns (`attrs`, `labels`, `diff`, `differences`, ...) are JSON text in
//! the engine, which the type mapping would describe as `text`. Described as `json` (OID 114)
//! instead, drivers decode them into objects (psycopg, asyncpg with a codec, node-postgres,
//! pgJDBC's PGobject). The bytes are the same in both formats: binary `json` is the text
//! itself, as binary `text` is, so only the row description changes.
//!
//! Columns are recognized by name among text columns: these names hold JSON in every table and
//! function of the SQL surface (see `descriptions`).

use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse, Response};
use datafusion_postgres::pgwire::api::Type;

use groundtruth_engine::session::JSON_COLUMNS;

/// `fields` with the JSON columns described as `json`.
pub fn describe(fields: Vec<FieldInfo>) -> Vec<FieldInfo> {
    fields
        .into_iter()
        .map(|field| {
            if *field.datatype() != Type::TEXT || !JSON_COLUMNS.contains(&field.name()) {
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

/// A query response whose row description says `json` for the JSON columns.
pub fn in_response(response: Response) -> Response {
    let Response::Query(query) = response else {
        return response;
    };
    let command_tag = query.command_tag().to_string();
    let fields = describe(query.row_schema().as_ref().clone());
    let mut described = QueryResponse::new(std::sync::Arc::new(fields), query.data_rows);
    described.set_command_tag(&command_tag);
    Response::Query(described)
}

#[cfg(test)]
mod tests {
    use datafusion_postgres::pgwire::api::results::FieldFormat;

    use super::*;

    #[test]
    fn json_columns_are_described_as_json_and_others_are_not() {
        let field = |name: &str, datatype: Type| {
            FieldInfo::new(name.to_string(), None, None, datatype, FieldFormat::Binary)
        };
        let described = describe(vec![
            field("attrs", Type::TEXT),
            field("id", Type::TEXT),
            field("labels", Type::TEXT),
            field("diff", Type::INT8),
        ]);
        let types: Vec<&Type> = described.iter().map(FieldInfo::datatype).collect();
        assert_eq!(types, [&Type::JSON, &Type::TEXT, &Type::JSON, &Type::INT8]);
        assert_eq!(described[0].format(), FieldFormat::Binary);
        assert_eq!(described[0].name(), "attrs");
    }
}

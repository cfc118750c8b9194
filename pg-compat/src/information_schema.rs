//! `information_schema` as PostgreSQL clients read it.
//!
//! DataFusion's `information_schema.columns` names types the Arrow way (`Utf8`,
//! `Timestamp(µs, "UTC")`) and has no `udt_name`; Grafana's column pickers and Metabase's
//! field sync read `data_type` and `udt_name` as PostgreSQL spells them (`text`,
//! `timestamp with time zone` / `timestamptz`). Metabase also joins
//! `table_constraints` with `key_column_usage` to find primary keys; DataFusion has neither.
//!
//! DataFusion serves `information_schema` itself, ahead of the catalog, when
//! `datafusion.catalog.information_schema` is on, so [`install`] turns that off and registers
//! this schema under the same name instead: DataFusion's own tables, `columns` as a view that
//! maps each type with the mapping datafusion-postgres uses on the wire, and the constraint
//! tables, empty (Groundtruth's tables have no keys).

use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::datasource::{provider_as_source, MemTable, ViewTable};
use datafusion::logical_expr::{
    col, lit, ColumnarValue, Expr, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion_postgres::arrow_pg::datatypes::into_pg_type;
use datafusion_postgres::pgwire::api::Type;

/// The schema's name.
const INFORMATION_SCHEMA: &str = "information_schema";

/// The constraint tables, with PostgreSQL's columns (all text but the positions).
const CONSTRAINT_TABLES: &[(&str, &[&str])] = &[
    (
        "table_constraints",
        &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "table_catalog",
            "table_schema",
            "table_name",
            "constraint_type",
            "is_deferrable",
            "initially_deferred",
            "enforced",
            "nulls_distinct",
        ],
    ),
    (
        "key_column_usage",
        &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "table_catalog",
            "table_schema",
            "table_name",
            "column_name",
            "ordinal_position",
            "position_in_unique_constraint",
        ],
    ),
    (
        "referential_constraints",
        &[
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
            "unique_constraint_catalog",
            "unique_constraint_schema",
            "unique_constraint_name",
            "match_option",
            "update_rule",
            "delete_rule",
        ],
    ),
    (
        "constraint_column_usage",
        &[
            "table_catalog",
            "table_schema",
            "table_name",
            "column_name",
            "constraint_catalog",
            "constraint_schema",
            "constraint_name",
        ],
    ),
];

/// Serve `information_schema` from `catalog` rather than from DataFusion's built-in lookup.
pub fn install(context: &SessionContext, catalog: &Arc<dyn CatalogProvider>) -> Result<()> {
    let catalogs = {
        let state = context.state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().catalog.information_schema = false;
        Arc::clone(state.catalog_list())
    };
    let builtin = Arc::new(InformationSchemaProvider::new(catalogs));
    catalog.register_schema(
        INFORMATION_SCHEMA,
        Arc::new(PostgresInformationSchema { builtin }),
    )?;
    Ok(())
}

/// DataFusion's `information_schema` with PostgreSQL's type names and constraint tables.
#[derive(Debug)]
struct PostgresInformationSchema {
    builtin: Arc<InformationSchemaProvider>,
}

#[async_trait]
impl SchemaProvider for PostgresInformationSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.builtin.table_names();
        names.extend(CONSTRAINT_TABLES.iter().map(|(name, _)| name.to_string()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let name = name.to_ascii_lowercase();
        if let Some((_, columns)) = CONSTRAINT_TABLES.iter().find(|(table, _)| *table == name) {
            return Ok(Some(Arc::new(empty_table(columns)?)));
        }
        let Some(table) = self.builtin.table(&name).await? else {
            return Ok(None);
        };
        if name == "columns" {
            return Ok(Some(Arc::new(postgres_columns(table)?)));
        }
        Ok(Some(table))
    }

    fn table_exist(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.builtin.table_exist(&name) || CONSTRAINT_TABLES.iter().any(|(table, _)| *table == name)
    }
}

fn empty_table(columns: &[&str]) -> Result<MemTable> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|column| {
            let data_type = if column.ends_with("position") || column.starts_with("position_") {
                DataType::Int32
            } else {
                DataType::Utf8
            };
            Field::new(*column, data_type, true)
        })
        .collect();
    MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]])
}

/// `columns` with `data_type` as PostgreSQL names it and the `udt_*` columns added.
fn postgres_columns(builtin: Arc<dyn TableProvider>) -> Result<ViewTable> {
    let scan = LogicalPlanBuilder::scan("columns", provider_as_source(builtin), None)?.build()?;
    let sql_name = ScalarUDF::from(TypeName::new(Naming::Sql));
    let udt_name = ScalarUDF::from(TypeName::new(Naming::Udt));
    let mut expressions: Vec<Expr> = Vec::new();
    for column in scan.schema().columns() {
        if column.name() == "data_type" {
            expressions.push(sql_name.call(vec![col(column.clone())]).alias("data_type"));
        } else {
            expressions.push(col(column));
        }
    }
    expressions.extend([
        col("table_catalog").alias("udt_catalog"),
        lit("pg_catalog").alias("udt_schema"),
        udt_name.call(vec![col("data_type")]).alias("udt_name"),
        lit("NO").alias("is_identity"),
        lit("NEVER").alias("is_generated"),
        lit("NO").alias("is_updatable"),
        lit(ScalarValue::Utf8(None)).alias("collation_name"),
        lit(ScalarValue::Utf8(None)).alias("domain_name"),
    ]);
    let plan = LogicalPlanBuilder::from(scan)
        .project(expressions)?
        .build()?;
    Ok(ViewTable::new(plan, None))
}

/// Which of PostgreSQL's names for a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Naming {
    /// `information_schema.columns.data_type`: the SQL standard's name (`bigint`, `ARRAY`).
    Sql,
    /// `udt_name`: the name in `pg_type` (`int8`, `_text`).
    Udt,
}

/// The PostgreSQL type a column of this (DataFusion-spelled) type goes out as on the wire.
fn wire_type(arrow_name: &str) -> Option<Type> {
    into_pg_type(&DataType::from_str(arrow_name).ok()?).ok()
}

/// `information_schema`'s name for a wire type.
fn sql_name(pg_type: &Type) -> String {
    // Array types are the element type's name with a leading underscore.
    if pg_type.name().starts_with('_') {
        return "ARRAY".to_string();
    }
    match pg_type.name() {
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "bool" => "boolean",
        "varchar" => "character varying",
        "bpchar" => "character",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        "time" => "time without time zone",
        "timetz" => "time with time zone",
        other => other,
    }
    .to_string()
}

/// Maps `information_schema.columns.data_type` from DataFusion's spelling to PostgreSQL's.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeName {
    naming: Naming,
    signature: Signature,
}

impl TypeName {
    fn new(naming: Naming) -> Self {
        Self {
            naming,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }

    fn name(&self, arrow_name: &str) -> String {
        match (wire_type(arrow_name), self.naming) {
            (Some(pg_type), Naming::Sql) => sql_name(&pg_type),
            (Some(pg_type), Naming::Udt) => pg_type.name().to_string(),
            (None, _) => arrow_name.to_ascii_lowercase(),
        }
    }
}

impl ScalarUDFImpl for TypeName {
    fn name(&self) -> &str {
        match self.naming {
            Naming::Sql => "information_schema_sql_type_name",
            Naming::Udt => "information_schema_udt_name",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arguments: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(names) = arrays
            .first()
            .and_then(|array| array.as_any().downcast_ref::<StringArray>())
        else {
            return exec_err!("type names must be text");
        };
        let mapped: StringArray = (0..names.len())
            .map(|row| names.is_valid(row).then(|| self.name(names.value(row))))
            .collect();
        let mapped: ArrayRef = Arc::new(mapped);
        Ok(ColumnarValue::Array(mapped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionConfig;

    #[test]
    fn arrow_types_get_postgres_names() {
        let sql = TypeName::new(Naming::Sql);
        let udt = TypeName::new(Naming::Udt);
        for (arrow, standard, internal) in [
            ("Utf8", "text", "text"),
            ("Int64", "bigint", "int8"),
            ("Float64", "double precision", "float8"),
            ("Boolean", "boolean", "bool"),
            (
                &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()))
                    .to_string(),
                "timestamp with time zone",
                "timestamptz",
            ),
            (
                &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))).to_string(),
                "ARRAY",
                "_text",
            ),
        ] {
            assert_eq!(sql.name(arrow), standard, "{arrow}");
            assert_eq!(udt.name(arrow), internal, "{arrow}");
        }
    }

    #[tokio::test]
    async fn columns_and_constraints_read_as_in_postgres() {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("groundtruth", "public");
        let context = SessionContext::new_with_config(config);
        crate::session_settings::apply_defaults(&context).expect("zoned timestamps");
        context
            .sql("CREATE TABLE t (id VARCHAR, seen TIMESTAMP WITH TIME ZONE, n BIGINT)")
            .await
            .expect("created");
        let catalog = context.catalog("groundtruth").expect("the catalog");
        install(&context, &catalog).expect("installed");
        let batches = context
            .sql(
                "SELECT column_name, data_type, udt_name FROM information_schema.columns \
                 WHERE table_name = 't' ORDER BY ordinal_position",
            )
            .await
            .expect("planned")
            .collect()
            .await
            .expect("ran");
        let text = |column: usize, row: usize| {
            batches[0]
                .column(column)
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|column| column.value(row).to_string())
        };
        assert_eq!(text(1, 0).as_deref(), Some("text"));
        assert_eq!(text(2, 1).as_deref(), Some("timestamptz"));
        assert_eq!(text(1, 2).as_deref(), Some("bigint"));
        let constraints = context
            .sql(
                "SELECT kc.column_name FROM information_schema.table_constraints tc \
                 JOIN information_schema.key_column_usage kc ON tc.constraint_name = kc.constraint_name \
                 WHERE tc.constraint_type = 'PRIMARY KEY'",
            )
            .await
            .expect("planned")
            .collect()
            .await
            .expect("ran");
        assert_eq!(
            constraints
                .iter()
                .map(|batch| batch.num_rows())
                .sum::<usize>(),
            0
        );
        let tables = context
            .sql("SELECT table_name FROM information_schema.tables WHERE table_name = 't'")
            .await
            .expect("planned")
            .collect()
            .await
            .expect("ran");
        assert_eq!(
            tables.iter().map(|batch| batch.num_rows()).sum::<usize>(),
            1
        );
    }
}

//! Emulated `pg_catalog` tables served with the column types and rows drivers expect.
//!
//! datafusion-pg-catalog serves `pg_constraint` and `pg_index` from a snapshot that stores
//! their array columns (`conkey`, `indkey`, ...) as text such as `[1, 2]` or `1 2`; clients use
//! them as arrays: SQLAlchemy `unnest(conkey)` and `unnest(indkey)`, Metabase and DBeaver
//! `attnum = ANY(conkey)`. Here they become integer lists. Its `pg_settings` holds one row;
//! JDBC reads `max_index_keys` from it (`getImportedKeys`), so it lists the settings of
//! `session_settings`. Its `pg_class` lacks `reloptions` (SQLAlchemy's index reflection reads
//! it), added as NULL through a view: `pg_class` is built while the emulation walks every
//! schema's tables, this one included, so it must not be scanned from here.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, ListBuilder, PrimitiveBuilder, RecordBatch, StringArray,
};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Int16Type, Int32Type, Schema, SchemaRef,
};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::{provider_as_source, MemTable, ViewTable};
use datafusion::logical_expr::{cast, col, lit, Expr, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;

use crate::session_settings::SETTINGS;

/// The text-encoded array columns, with the element type each really has (`int2[]` and
/// `int2vector` as Int16, `oid[]` and `oidvector` as Int32, as the emulation types oids).
const ARRAY_COLUMNS: &[(&str, &str, DataType)] = &[
    ("pg_constraint", "conkey", DataType::Int16),
    ("pg_constraint", "confkey", DataType::Int16),
    ("pg_constraint", "conpfeqop", DataType::Int32),
    ("pg_constraint", "conppeqop", DataType::Int32),
    ("pg_constraint", "conffeqop", DataType::Int32),
    ("pg_constraint", "conexclop", DataType::Int32),
    ("pg_index", "indkey", DataType::Int16),
    ("pg_index", "indoption", DataType::Int16),
    ("pg_index", "indclass", DataType::Int32),
    ("pg_index", "indcollation", DataType::Int32),
];

/// Columns the emulation lacks, added as NULL: `(table, column, type)`.
fn missing_columns() -> [(&'static str, &'static str, DataType); 1] {
    [("pg_class", "reloptions", list_type(&DataType::Utf8))]
}

/// The emulated `pg_catalog` with the tables above adjusted.
pub struct CompatibleCatalogSchema {
    inner: Arc<dyn SchemaProvider>,
    context: SessionContext,
}

impl std::fmt::Debug for CompatibleCatalogSchema {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CompatibleCatalogSchema")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl CompatibleCatalogSchema {
    /// Wrap a `pg_catalog` schema; `context` reads its tables.
    pub fn new(inner: Arc<dyn SchemaProvider>, context: SessionContext) -> Self {
        Self { inner, context }
    }

    async fn rows(&self, table: Arc<dyn TableProvider>) -> Result<Vec<RecordBatch>> {
        self.context.read_table(table)?.collect().await
    }
}

#[async_trait]
impl SchemaProvider for CompatibleCatalogSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(stock) = self.inner.table(name).await? else {
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if name == "pg_settings" {
            return Ok(Some(Arc::new(settings_table(&stock.schema())?)));
        }
        let missing: Vec<(&str, DataType)> = missing_columns()
            .into_iter()
            .filter(|(table, column, _)| {
                *table == name && stock.schema().field_with_name(column).is_err()
            })
            .map(|(_, column, data_type)| (column, data_type))
            .collect();
        if !missing.is_empty() {
            return Ok(Some(Arc::new(with_null_columns(&name, stock, &missing)?)));
        }
        let arrays: Vec<(&str, &DataType)> = ARRAY_COLUMNS
            .iter()
            .filter(|(table, column, _)| {
                *table == name
                    && stock
                        .schema()
                        .field_with_name(column)
                        .is_ok_and(|field| field.data_type() == &DataType::Utf8)
            })
            .map(|(_, column, element)| (*column, element))
            .collect();
        if arrays.is_empty() {
            return Ok(Some(stock));
        }
        let schema = with_lists(&stock.schema(), &arrays);
        let batches = self
            .rows(stock)
            .await?
            .iter()
            .map(|batch| with_list_columns(batch, &schema, &arrays))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Arc::new(MemTable::try_new(schema, vec![batches])?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// `stock` with NULL `columns` appended, as a view (planned, not scanned, here).
fn with_null_columns(
    name: &str,
    stock: Arc<dyn TableProvider>,
    columns: &[(&str, DataType)],
) -> Result<ViewTable> {
    let scan = LogicalPlanBuilder::scan(name, provider_as_source(stock), None)?.build()?;
    let mut expressions: Vec<Expr> = scan.schema().columns().into_iter().map(col).collect();
    for (column, data_type) in columns {
        expressions.push(cast(lit(ScalarValue::Null), data_type.clone()).alias(*column));
    }
    let plan = LogicalPlanBuilder::from(scan)
        .project(expressions)?
        .build()?;
    Ok(ViewTable::new(plan, None))
}

fn list_type(element: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", element.clone(), true)))
}

fn with_lists(schema: &SchemaRef, arrays: &[(&str, &DataType)]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(
            |field| match arrays.iter().find(|(column, _)| column == field.name()) {
                Some((_, element)) => Field::new(field.name(), list_type(element), true),
                None => field.as_ref().clone(),
            },
        )
        .collect();
    Arc::new(Schema::new(fields))
}

fn with_list_columns(
    batch: &RecordBatch,
    schema: &SchemaRef,
    arrays: &[(&str, &DataType)],
) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(
            |(field, column)| match arrays.iter().find(|(name, _)| name == field.name()) {
                Some((_, element)) => parse_lists(column, element),
                None => Ok(Arc::clone(column)),
            },
        )
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The integers of a text-encoded array (`[1, 2]`, `{1,2}` or the vector form `1 2`);
/// `None` for text that is not one.
fn integers(text: &str) -> Option<Vec<i64>> {
    text.trim_matches(|c| matches!(c, '[' | ']' | '{' | '}'))
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse().ok())
        .collect()
}

fn parse_lists(column: &ArrayRef, element: &DataType) -> Result<ArrayRef> {
    let text = arrow::compute::cast(column, &DataType::Utf8)?;
    let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
        return Ok(new_null_array(&list_type(element), column.len()));
    };
    Ok(match element {
        DataType::Int16 => lists_of::<Int16Type>(text),
        _ => lists_of::<Int32Type>(text),
    })
}

/// Each text array as a list of `P` (an element out of `P`'s range is NULL).
fn lists_of<P: ArrowPrimitiveType>(text: &StringArray) -> ArrayRef
where
    P::Native: TryFrom<i64>,
{
    let mut lists = ListBuilder::new(PrimitiveBuilder::<P>::new());
    for row in 0..text.len() {
        let values = text
            .is_valid(row)
            .then(|| integers(text.value(row)))
            .flatten();
        lists.append_option(values.map(|values| {
            values
                .into_iter()
                .map(|value| P::Native::try_from(value).ok())
                .collect::<Vec<_>>()
        }));
    }
    Arc::new(lists.finish())
}

/// `pg_settings` with a row per setting Groundtruth reports (name and value; the rest NULL).
fn settings_table(stock: &SchemaRef) -> Result<MemTable> {
    let schema = Arc::new(Schema::new(
        stock
            .fields()
            .iter()
            .map(|field| Field::new(field.name(), field.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let rows = SETTINGS.len();
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef> {
            let column: ArrayRef = match field.name().as_str() {
                "name" => Arc::new(StringArray::from_iter_values(
                    SETTINGS.iter().map(|(name, _)| *name),
                )),
                "setting" | "reset_val" | "boot_val" => Arc::new(StringArray::from_iter_values(
                    SETTINGS.iter().map(|(_, value)| *value),
                )),
                _ => new_null_array(field.data_type(), rows),
            };
            Ok(arrow::compute::cast(&column, field.data_type())?)
        })
        .collect::<Result<Vec<_>>>()?;
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    MemTable::try_new(schema, vec![vec![batch]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int16Array, ListArray};

    #[test]
    fn text_arrays_become_lists() {
        assert_eq!(integers("[2, 20, 3]"), Some(vec![2, 20, 3]));
        assert_eq!(integers("{1,2}"), Some(vec![1, 2]));
        assert_eq!(integers("1 2"), Some(vec![1, 2]));
        assert_eq!(integers(""), Some(vec![]));
        assert_eq!(integers("[a]"), None);
        let column: ArrayRef = Arc::new(StringArray::from(vec![Some("[1, 3]"), None, Some("2")]));
        let lists = parse_lists(&column, &DataType::Int16).expect("parsed");
        let lists = lists.as_any().downcast_ref::<ListArray>().expect("a list");
        assert!(lists.is_null(1));
        let first = lists.value(0);
        let first = first.as_any().downcast_ref::<Int16Array>().expect("int2");
        assert_eq!(first.values().to_vec(), vec![1, 3]);
    }

    #[tokio::test]
    async fn missing_columns_are_added_as_null() {
        let stock: Arc<dyn TableProvider> = Arc::new(
            MemTable::try_new(
                Arc::new(Schema::new(vec![Field::new(
                    "relname",
                    DataType::Utf8,
                    true,
                )])),
                vec![vec![]],
            )
            .expect("a table"),
        );
        let view = with_null_columns(
            "pg_class",
            stock,
            &[("reloptions", list_type(&DataType::Utf8))],
        )
        .expect("a view");
        let schema = view.schema();
        assert_eq!(schema.field(0).name(), "relname");
        assert_eq!(schema.field(1).name(), "reloptions");
        assert_eq!(schema.field(1).data_type(), &list_type(&DataType::Utf8));
    }

    #[tokio::test]
    async fn settings_rows_answer_max_index_keys() {
        let stock = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("setting", DataType::Utf8, true),
            Field::new("sourceline", DataType::Int32, true),
        ]));
        let context = SessionContext::new();
        context
            .register_table(
                "pg_settings",
                Arc::new(settings_table(&stock).expect("built")),
            )
            .expect("registered");
        let batches = context
            .sql("SELECT setting FROM pg_settings WHERE name = 'max_index_keys'")
            .await
            .expect("planned")
            .collect()
            .await
            .expect("ran");
        let settings = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("text");
        assert_eq!(settings.value(0), "32");
    }
}

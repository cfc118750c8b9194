//! Groundtruth's own objects in the emulated `pg_catalog`: the descriptions of tables and
//! columns (`pg_description`, `obj_description`, `col_description`, psql's `\d+` and `\dt+`)
//! and the table functions (`pg_proc`, psql's `\df`).
//!
//! datafusion-pg-catalog serves `pg_description` and `pg_proc` from static snapshots of a stock
//! PostgreSQL, and allocates table oids lazily as `pg_class` is scanned. So the descriptions
//! are joined to oids by name at query time: [`CatalogDescriptions::refresh`] reads the oids
//! the emulation has given our tables and columns and matches them with the engine's
//! `descriptions` table. It runs before a statement that mentions descriptions or `pg_proc` is
//! planned, never while a catalog table is being built: the emulation's `pg_class` holds its
//! oid-cache lock while it asks every schema for its tables (this one included), so a refresh
//! from inside [`SchemaProvider::table`] would wait on itself. Table functions get fixed oids from [`FUNCTION_OID_BASE`], above the
//! range the emulation allocates from.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{exec_err, DataFusionError, Result};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use groundtruth_engine::session::{table_functions, FunctionDescription};
use tokio::sync::OnceCell;

/// `pg_class`'s oid: the `classoid` of table and column descriptions.
const PG_CLASS_OID: i32 = 1259;
/// `pg_proc`'s oid: the `classoid` of function descriptions.
const PG_PROC_OID: i32 = 1255;
/// First oid of the table functions; the emulation allocates upwards from 16384.
pub const FUNCTION_OID_BASE: i32 = 1_900_000_000;

/// Descriptions keyed by `(classoid, objoid, objsubid)`, as `pg_description` keys them.
#[derive(Debug, Default)]
struct Index {
    descriptions: HashMap<(i32, i32, i32), String>,
    public_namespace: Option<i32>,
    /// Relation oids by `schema.relation`, for `to_regclass`.
    relations: HashMap<String, i32>,
}

/// The descriptions of Groundtruth's objects under the oids the catalog emulation uses.
pub struct CatalogDescriptions {
    context: SessionContext,
    index: RwLock<Index>,
    static_description: OnceCell<Vec<RecordBatch>>,
    static_proc: OnceCell<Vec<RecordBatch>>,
}

/// Relation and column oids of our tables joined with their descriptions.
const DESCRIBED_OIDS: &str = "
    SELECT CAST(c.oid AS INT) AS objoid, CAST(0 AS INT) AS objsubid, d.description
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN public.descriptions d
      ON d.schema_name = n.nspname AND d.object_name = c.relname
     AND d.object_type = 'table' AND d.column_name IS NULL
    WHERE d.description IS NOT NULL
    UNION ALL
    SELECT CAST(a.attrelid AS INT), CAST(a.attnum AS INT), d.description
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN public.descriptions d
      ON d.schema_name = n.nspname AND d.object_name = c.relname
     AND d.object_type = 'table' AND d.column_name = a.attname
    WHERE d.description IS NOT NULL";

impl std::fmt::Debug for CatalogDescriptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CatalogDescriptions")
            .finish_non_exhaustive()
    }
}

impl CatalogDescriptions {
    /// Descriptions over `context`, which must have `pg_catalog` and `descriptions`.
    pub fn new(context: SessionContext) -> Self {
        Self {
            context,
            index: RwLock::new(Index::default()),
            static_description: OnceCell::new(),
            static_proc: OnceCell::new(),
        }
    }

    /// Match the current oids with the descriptions (cheap: a few hundred rows).
    pub async fn refresh(&self) -> Result<()> {
        let mut index = Index::default();
        for batch in self.context.sql(DESCRIBED_OIDS).await?.collect().await? {
            let objoid = int32_column(&batch, 0)?;
            let objsubid = int32_column(&batch, 1)?;
            let text = cast(batch.column(2), &DataType::Utf8)?;
            let text = downcast::<StringArray>(&text)?;
            for row in 0..batch.num_rows() {
                if text.is_valid(row) {
                    index.descriptions.insert(
                        (PG_CLASS_OID, objoid.value(row), objsubid.value(row)),
                        text.value(row).to_string(),
                    );
                }
            }
        }
        for (position, function) in table_functions().iter().enumerate() {
            index.descriptions.insert(
                (PG_PROC_OID, function_oid(position), 0),
                function.description.to_string(),
            );
        }
        let relations = self
            .context
            .sql(
                "SELECT CAST(c.oid AS INT), n.nspname, c.relname FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
            )
            .await?
            .collect()
            .await?;
        for batch in relations {
            let oids = int32_column(&batch, 0)?;
            let schemas = cast(batch.column(1), &DataType::Utf8)?;
            let schemas = downcast::<StringArray>(&schemas)?;
            let names = cast(batch.column(2), &DataType::Utf8)?;
            let names = downcast::<StringArray>(&names)?;
            for row in 0..batch.num_rows() {
                index.relations.insert(
                    format!("{}.{}", schemas.value(row), names.value(row)),
                    oids.value(row),
                );
            }
        }
        let namespaces = self
            .context
            .sql("SELECT CAST(oid AS INT) FROM pg_catalog.pg_namespace WHERE nspname = 'public'")
            .await?
            .collect()
            .await?;
        index.public_namespace = namespaces
            .iter()
            .find(|batch| batch.num_rows() > 0)
            .map(|batch| int32_column(batch, 0).map(|column| column.value(0)))
            .transpose()?;
        *self
            .index
            .write()
            .map_err(|_| DataFusionError::Internal("description index poisoned".into()))? = index;
        Ok(())
    }

    /// The oid of a relation named as `regclass` input: `name` or `schema.name`, each part
    /// bare (folded to lower case) or double-quoted; a bare name is looked for in `public`,
    /// then `pg_catalog`.
    fn relation_oid(&self, name: &str) -> Option<i32> {
        let parts = identifier_parts(name)?;
        let index = self.index.read().ok()?;
        match parts.as_slice() {
            [schema, relation] => index
                .relations
                .get(&format!("{schema}.{relation}"))
                .copied(),
            [relation] => ["public", "pg_catalog"]
                .iter()
                .find_map(|schema| index.relations.get(&format!("{schema}.{relation}")))
                .copied(),
            _ => None,
        }
    }

    fn lookup(&self, classoid: i32, objoid: i32, objsubid: i32) -> Option<String> {
        self.index
            .read()
            .ok()?
            .descriptions
            .get(&(classoid, objoid, objsubid))
            .cloned()
    }

    async fn static_rows(
        &self,
        cell: &OnceCell<Vec<RecordBatch>>,
        table: Arc<dyn TableProvider>,
    ) -> Result<Vec<RecordBatch>> {
        cell.get_or_try_init(|| async { self.context.read_table(table)?.collect().await })
            .await
            .cloned()
    }

    /// `pg_description`: the stock rows plus ours.
    async fn description_table(&self, stock: Arc<dyn TableProvider>) -> Result<MemTable> {
        let schema = nullable(&stock.schema());
        let mut batches = relax(
            &schema,
            self.static_rows(&self.static_description, stock).await?,
        )?;
        let rows: Vec<((i32, i32, i32), String)> = self
            .index
            .read()
            .map_err(|_| DataFusionError::Internal("description index poisoned".into()))?
            .descriptions
            .iter()
            .map(|(key, text)| (*key, text.clone()))
            .collect();
        let columns = schema
            .fields()
            .iter()
            .map(|field| -> Result<ArrayRef> {
                let column: ArrayRef = match field.name().as_str() {
                    "objoid" => Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0 .1))),
                    "classoid" => {
                        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0 .0)))
                    }
                    "objsubid" => {
                        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0 .2)))
                    }
                    "description" => Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r.1.as_str()),
                    )),
                    _ => new_null_array(field.data_type(), rows.len()),
                };
                Ok(cast(&column, field.data_type())?)
            })
            .collect::<Result<Vec<_>>>()?;
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns)?);
        MemTable::try_new(schema, vec![batches])
    }

    /// `pg_proc`: the stock rows plus the table functions, in the public schema.
    async fn proc_table(&self, stock: Arc<dyn TableProvider>) -> Result<MemTable> {
        let namespace = self
            .index
            .read()
            .map_err(|_| DataFusionError::Internal("description index poisoned".into()))?
            .public_namespace
            .unwrap_or(2200);
        let schema = nullable(&stock.schema());
        let mut batches = relax(&schema, self.static_rows(&self.static_proc, stock).await?)?;
        let functions = table_functions();
        let count = functions.len();
        let text = |pick: fn(&FunctionDescription) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(functions.iter().map(pick)))
        };
        let columns = schema
            .fields()
            .iter()
            .map(|field| -> Result<ArrayRef> {
                let column: ArrayRef = match field.name().as_str() {
                    "oid" => Arc::new(Int32Array::from_iter_values((0..count).map(function_oid))),
                    "proname" | "prosrc" => text(|function| function.name),
                    "pronamespace" => Arc::new(Int32Array::from(vec![namespace; count])),
                    "prokind" => Arc::new(StringArray::from(vec!["f"; count])),
                    "provolatile" => Arc::new(StringArray::from(vec!["s"; count])),
                    "proparallel" => Arc::new(StringArray::from(vec!["s"; count])),
                    "proretset" => Arc::new(BooleanArray::from(vec![true; count])),
                    "prosecdef" | "proleakproof" | "proisstrict" => {
                        Arc::new(BooleanArray::from(vec![false; count]))
                    }
                    "proowner" | "prolang" | "provariadic" | "prorettype" => {
                        Arc::new(Int64Array::from(vec![0; count]))
                    }
                    _ => new_null_array(field.data_type(), count),
                };
                Ok(cast(&column, field.data_type())?)
            })
            .collect::<Result<Vec<_>>>()?;
        batches.push(RecordBatch::try_new(Arc::clone(&schema), columns)?);
        MemTable::try_new(schema, vec![batches])
    }
}

/// The parts of a dotted SQL name: quoted parts as written, bare ones in lower case.
fn identifier_parts(name: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut characters = name.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if characters.peek() == Some(&'"') {
            characters.next();
            loop {
                match characters.next()? {
                    '"' if characters.peek() == Some(&'"') => {
                        characters.next();
                        part.push('"');
                    }
                    '"' => break,
                    other => part.push(other),
                }
            }
        } else {
            while let Some(&character) = characters.peek() {
                if character == '.' {
                    break;
                }
                part.extend(character.to_lowercase());
                characters.next();
            }
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match characters.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

fn function_oid(position: usize) -> i32 {
    // At most a handful of functions: the position always fits.
    FUNCTION_OID_BASE + i32::try_from(position).unwrap_or(0)
}

fn function_at(oid: i32) -> Option<FunctionDescription> {
    let position = usize::try_from(oid.checked_sub(FUNCTION_OID_BASE)?).ok()?;
    table_functions().get(position).copied()
}

fn downcast<T: Any>(array: &ArrayRef) -> Result<&T> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| DataFusionError::Internal("unexpected column type in pg_catalog".into()))
}

fn int32_column(batch: &RecordBatch, index: usize) -> Result<Int32Array> {
    let column = cast(batch.column(index), &DataType::Int32)?;
    Ok(downcast::<Int32Array>(&column)?.clone())
}

/// The schema with every field nullable, so appended rows may leave stock columns empty.
fn nullable(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|field| Field::new(field.name(), field.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ))
}

fn relax(schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    batches
        .into_iter()
        .map(|batch| {
            Ok(RecordBatch::try_new(
                Arc::clone(schema),
                batch.columns().to_vec(),
            )?)
        })
        .collect()
}

/// The emulated `pg_catalog` with `pg_description` and `pg_proc` extended.
#[derive(Debug)]
pub struct DescribedCatalogSchema {
    inner: Arc<dyn SchemaProvider>,
    descriptions: Arc<CatalogDescriptions>,
}

impl DescribedCatalogSchema {
    /// Wrap the emulation's `pg_catalog` schema.
    pub fn new(inner: Arc<dyn SchemaProvider>, descriptions: Arc<CatalogDescriptions>) -> Self {
        Self {
            inner,
            descriptions,
        }
    }
}

#[async_trait]
impl SchemaProvider for DescribedCatalogSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let stock = self.inner.table(name).await?;
        let Some(stock) = stock else { return Ok(None) };
        let extended: Arc<dyn TableProvider> = match name.to_ascii_lowercase().as_str() {
            "pg_description" => Arc::new(self.descriptions.description_table(stock).await?),
            "pg_proc" => Arc::new(self.descriptions.proc_table(stock).await?),
            _ => stock,
        };
        Ok(Some(extended))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// What a catalog function answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Answer {
    ObjectDescription,
    ColumnDescription,
    SharedObjectDescription,
    FunctionIsVisible,
    FunctionResult,
    FunctionArguments,
    FunctionBody,
    /// Groundtruth's tables have no on-disk size of their own.
    TableSize,
    SizePretty,
    /// Groundtruth's tables have no sequences, indexes or constraints to define.
    NoDefinition,
    /// `to_regclass`: a relation's oid from its name.
    RelationOid,
}

/// One of PostgreSQL's catalog information functions, answered from [`CatalogDescriptions`].
#[derive(Debug)]
struct CatalogFunction {
    name: &'static str,
    answer: Answer,
    signature: Signature,
    descriptions: Arc<CatalogDescriptions>,
}

impl PartialEq for CatalogFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for CatalogFunction {}
impl std::hash::Hash for CatalogFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for CatalogFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arguments: &[DataType]) -> Result<DataType> {
        Ok(match self.answer {
            Answer::FunctionIsVisible => DataType::Boolean,
            Answer::TableSize => DataType::Int64,
            Answer::RelationOid => DataType::Int32,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(first) = arrays.first() else {
            return exec_err!("{} needs an oid", self.name);
        };
        if self.answer == Answer::RelationOid {
            let names = cast(first, &DataType::Utf8)?;
            let names = downcast::<StringArray>(&names)?;
            let oids: Int32Array = (0..names.len())
                .map(|row| {
                    names
                        .is_valid(row)
                        .then(|| self.descriptions.relation_oid(names.value(row)))
                        .flatten()
                })
                .collect();
            return Ok(ColumnarValue::Array(Arc::new(oids)));
        }
        let oids = cast(first, &DataType::Int64)?;
        let oids = downcast::<Int64Array>(&oids)?;
        let second = match arrays.get(1) {
            Some(array) => Some(cast(array, &DataType::Utf8)?),
            None => None,
        };
        let second = second.as_ref().map(downcast::<StringArray>).transpose()?;
        match self.answer {
            Answer::FunctionIsVisible => {
                return Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(vec![
                    true;
                    rows
                ]))));
            }
            Answer::TableSize => {
                return Ok(ColumnarValue::Array(new_null_array(&DataType::Int64, rows)));
            }
            Answer::NoDefinition => {
                return Ok(ColumnarValue::Array(new_null_array(&DataType::Utf8, rows)));
            }
            Answer::SizePretty => {
                let sizes: StringArray = (0..rows)
                    .map(|row| oids.is_valid(row).then(|| pretty_size(oids.value(row))))
                    .collect();
                return Ok(ColumnarValue::Array(Arc::new(sizes)));
            }
            _ => {}
        }
        let values: StringArray = (0..rows)
            .map(|row| {
                if oids.is_null(row) {
                    return None;
                }
                let oid = i32::try_from(oids.value(row)).ok()?;
                match self.answer {
                    Answer::ObjectDescription => {
                        let catalog = second
                            .filter(|column| column.is_valid(row))
                            .map(|column| column.value(row))
                            .unwrap_or("pg_class");
                        let classoid = match catalog.trim_start_matches("pg_catalog.") {
                            "pg_class" => PG_CLASS_OID,
                            "pg_proc" => PG_PROC_OID,
                            _ => return None,
                        };
                        self.descriptions.lookup(classoid, oid, 0)
                    }
                    Answer::ColumnDescription => {
                        let attnum = second
                            .filter(|column| column.is_valid(row))
                            .and_then(|column| column.value(row).parse::<i32>().ok())?;
                        self.descriptions.lookup(PG_CLASS_OID, oid, attnum)
                    }
                    Answer::FunctionResult => function_at(oid).map(|f| f.result.to_string()),
                    Answer::FunctionArguments => function_at(oid).map(|f| f.arguments.to_string()),
                    Answer::FunctionBody
                    | Answer::SharedObjectDescription
                    | Answer::FunctionIsVisible
                    | Answer::TableSize
                    | Answer::SizePretty
                    | Answer::NoDefinition
                    | Answer::RelationOid => None,
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(values)))
    }
}

/// The catalog information functions psql, drivers and BI tools call, over `descriptions`.
pub fn catalog_functions(descriptions: &Arc<CatalogDescriptions>) -> Vec<ScalarUDF> {
    [
        ("obj_description", Answer::ObjectDescription),
        ("col_description", Answer::ColumnDescription),
        ("shobj_description", Answer::SharedObjectDescription),
        ("pg_function_is_visible", Answer::FunctionIsVisible),
        ("pg_collation_is_visible", Answer::FunctionIsVisible),
        ("pg_get_function_result", Answer::FunctionResult),
        ("pg_get_function_arguments", Answer::FunctionArguments),
        (
            "pg_get_function_identity_arguments",
            Answer::FunctionArguments,
        ),
        ("pg_get_function_sqlbody", Answer::FunctionBody),
        ("pg_table_size", Answer::TableSize),
        ("pg_size_pretty", Answer::SizePretty),
        ("pg_get_serial_sequence", Answer::NoDefinition),
        ("pg_get_indexdef", Answer::NoDefinition),
        ("to_regclass", Answer::RelationOid),
    ]
    .into_iter()
    .map(|(name, answer)| {
        ScalarUDF::from(CatalogFunction {
            name,
            answer,
            signature: Signature::variadic_any(Volatility::Stable),
            descriptions: Arc::clone(descriptions),
        })
    })
    .collect()
}

/// PostgreSQL's `pg_size_pretty`: bytes below 10 kB, then kB, MB, GB, TB (each unit kept
/// until the number reaches 10240, halves rounded away from zero).
fn pretty_size(bytes: i64) -> String {
    let mut size = bytes;
    for unit in ["bytes", "kB", "MB", "GB", "TB"] {
        if size.abs() < 10 * 1024 || unit == "TB" {
            return format!("{size} {unit}");
        }
        let half_rounded = (size + size.signum() * 512) / 1024;
        size = half_rounded;
    }
    format!("{size} PB")
}

/// Whether `sql` may read descriptions, `pg_proc` or relation oids by name (then the index is
/// refreshed first).
pub fn mentions_descriptions(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower.contains("_description") || lower.contains("pg_proc") || lower.contains("regclass")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regclass_names_split_like_postgres() {
        assert_eq!(
            identifier_parts("public.Resources"),
            Some(vec!["public".to_string(), "resources".to_string()])
        );
        assert_eq!(
            identifier_parts("\"My \"\"S\"\"\".\"T\""),
            Some(vec!["My \"S\"".to_string(), "T".to_string()])
        );
        assert_eq!(identifier_parts("a..b"), None);
        assert_eq!(identifier_parts("\"open"), None);
    }

    #[tokio::test]
    async fn definitions_of_what_groundtruth_lacks_are_null() {
        let context = SessionContext::new();
        let descriptions = Arc::new(CatalogDescriptions::new(context.clone()));
        for function in catalog_functions(&descriptions) {
            context.register_udf(function);
        }
        let batches = context
            .sql("SELECT pg_get_serial_sequence('public.drift', 'id'), pg_get_indexdef(16384, 1, true)")
            .await
            .expect("planned")
            .collect()
            .await
            .expect("ran");
        assert_eq!(batches[0].num_rows(), 1);
        for column in batches[0].columns() {
            assert_eq!(column.data_type(), &DataType::Utf8);
            assert!(column.is_null(0));
        }
    }
}

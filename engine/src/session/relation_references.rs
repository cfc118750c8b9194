//! `relation_references(kind, id, layer, attrs, labels)`: the references one resource version
//! makes ([`crate::relations::references`]), as a list of structs
//! `{relation, origin_kind, origin_id, target_kind, match_on, key, condition}` for `unnest`.
//! Rows of kinds without rules get an empty list without their attributes being parsed.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListBuilder, StringArray, StringBuilder, StructBuilder};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::{Map, Value};

use crate::relations::{self, Reference};

/// The struct fields, in order.
const FIELDS: [(&str, bool); 7] = [
    ("relation", false),
    ("origin_kind", true),
    ("origin_id", true),
    ("target_kind", true),
    ("match_on", false),
    ("key", false),
    ("condition", true),
];

fn struct_fields() -> Fields {
    FIELDS
        .iter()
        .map(|(name, nullable)| Field::new(*name, DataType::Utf8, *nullable))
        .collect()
}

/// The UDF; see the module docs.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RelationReferences {
    signature: Signature,
}

impl Default for RelationReferences {
    fn default() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Utf8; 5], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RelationReferences {
    fn name(&self) -> &str {
        "relation_references"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(struct_fields()),
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let column = |index: usize| as_string_array(&arrays[index]);
        let (kinds, ids, layers, attrs, labels) =
            (column(0)?, column(1)?, column(2)?, column(3)?, column(4)?);
        let values = StructBuilder::from_fields(struct_fields(), 0);
        let mut builder = ListBuilder::new(values).with_field(Arc::new(Field::new_list_field(
            DataType::Struct(struct_fields()),
            true,
        )));
        for row in 0..kinds.len() {
            let (Some(kind), Some(id), Some(layer)) =
                (known(kinds, row), known(ids, row), known(layers, row))
            else {
                builder.append(true);
                continue;
            };
            if relations::may_reference(kind, layer) {
                // Attributes and labels are written by the engine as JSON; anything else
                // makes no references rather than failing the query.
                let attrs: Value = known(attrs, row)
                    .and_then(|text| serde_json::from_str(text).ok())
                    .unwrap_or(Value::Null);
                let labels: Map<String, Value> = known(labels, row)
                    .and_then(|text| serde_json::from_str(text).ok())
                    .unwrap_or_default();
                for reference in relations::references(kind, id, layer, &attrs, &labels) {
                    append(builder.values(), &reference);
                }
            }
            builder.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish()) as ArrayRef))
    }
}

fn known(array: &StringArray, row: usize) -> Option<&str> {
    (!array.is_null(row)).then(|| array.value(row))
}

fn append(values: &mut StructBuilder, reference: &Reference) {
    let (origin_kind, origin_id) = match &reference.origin {
        Some((kind, id)) => (Some(kind.as_str()), Some(id.as_str())),
        None => (None, None),
    };
    let texts = [
        Some(reference.relation),
        origin_kind,
        origin_id,
        reference.target_kind.as_deref(),
        Some(reference.match_on.as_str()),
        Some(reference.key.as_str()),
        reference.condition.as_deref(),
    ];
    for (index, text) in texts.into_iter().enumerate() {
        // The builder was made from `struct_fields()`: every field is a Utf8 StringBuilder.
        if let Some(field) = values.field_builder::<StringBuilder>(index) {
            field.append_option(text);
        }
    }
    values.append(true);
}

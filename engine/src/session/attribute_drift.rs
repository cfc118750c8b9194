//! `attribute_drift(kind, declared_attrs, live_attrs)`: the attributes the declared side states
//! that the live side does not match, as JSON text `[{"path", "declared", "live"}]` (`[]` when
//! in sync), following [`crate::drift::compare`]. NULL when either side is NULL.
//!
//! Comparing two documents means parsing both and walking every declared path (tens of µs a
//! pair), and the pairs a drift query compares are nearly all the ones the previous query
//! compared: a resource's attributes change far less often than dashboards refresh. So results
//! are remembered per (kind, declared text, live text), keyed by a SHA-256 of the three, and
//! the comparison runs only for pairs not seen before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    remembered: Remembered,
}

/// Results of earlier comparisons. Not part of the function's identity.
#[derive(Debug, Default)]
struct Remembered(Mutex<HashMap<[u8; 32], Arc<str>>>);

/// Beyond this many remembered pairs the memory starts again empty (about 200 bytes a pair).
const REMEMBERED_PAIRS: usize = 1_000_000;

impl PartialEq for Remembered {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Remembered {}

impl std::hash::Hash for Remembered {
    fn hash<H: std::hash::Hasher>(&self, _state: &mut H) {}
}

fn pair_key(kind: &str, declared: &str, live: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in [kind, declared, live] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
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
            remembered: Remembered::default(),
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
            let (kind, declared, live) = (kinds.value(row), declared.value(row), live.value(row));
            let key = pair_key(kind, declared, live);
            let known = self
                .remembered
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get(&key)
                .cloned();
            let result = match known {
                Some(result) => result,
                None => {
                    let drifts = drift::compare(kind, &parse(declared), &parse(live), &ignores);
                    let result: Arc<str> = serde_json::to_string(&drifts)
                        .unwrap_or_else(|_| "[]".into())
                        .into();
                    let mut remembered = self
                        .remembered
                        .0
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    if remembered.len() >= REMEMBERED_PAIRS {
                        remembered.clear();
                    }
                    remembered.insert(key, Arc::clone(&result));
                    result
                }
            };
            builder.append_value(&*result);
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

//! The logical codec (client to scheduler): Groundtruth's tables by what they are, anything
//! else through Ballista's own codec.

use std::sync::{Arc, RwLock};

use arrow::datatypes::SchemaRef;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use serde::{Deserialize, Serialize};

use crate::catalog::Surface;
use crate::error::plan_error;
use crate::identity::Identity;
use crate::remote_table::RemoteTable;

/// First byte of a payload: which codec wrote the rest.
pub(crate) const DELEGATED: u8 = 0;
/// First byte of a payload written by a Groundtruth codec.
pub(crate) const GROUNDTRUTH: u8 = 1;

/// A table as the client sends it: what it is and the snapshot the client planned against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableSpec {
    /// What the table is.
    pub identity: Identity,
    /// The client's Delta log versions (`versions`, `scrapes`, `checkpoints`).
    pub log_versions: [Option<i64>; 3],
    /// The client's `[drift]` settings fingerprint: a process whose own differs refuses the
    /// table (see [`Surface::check_settings`]).
    pub drift: String,
}

/// Encodes Groundtruth tables as [`TableSpec`]s; decodes them as [`RemoteTable`]s over this
/// process's engine.
#[derive(Debug)]
pub struct GroundtruthLogicalCodec {
    surface: Arc<Surface>,
    /// The log versions the client's engine had when the current query was planned.
    watermark: Arc<RwLock<[Option<i64>; 3]>>,
    inner: BallistaLogicalExtensionCodec,
}

impl GroundtruthLogicalCodec {
    /// A codec over `surface`; `watermark` is what the sender has read (see
    /// [`crate::client::ClusterClient`]).
    pub fn new(surface: Arc<Surface>, watermark: Arc<RwLock<[Option<i64>; 3]>>) -> Self {
        Self {
            surface,
            watermark,
            inner: BallistaLogicalExtensionCodec::default(),
        }
    }
}

/// Split a payload into its tag and body.
pub(crate) fn split(buf: &[u8]) -> Result<(u8, &[u8])> {
    buf.split_first()
        .map(|(tag, body)| (*tag, body))
        .ok_or_else(|| plan_error("groundtruth cluster: empty codec payload"))
}

impl LogicalExtensionCodec for GroundtruthLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match split(buf)? {
            (GROUNDTRUTH, body) => {
                let spec: TableSpec = serde_json::from_slice(body).map_err(|error| {
                    plan_error(format!(
                        "groundtruth cluster: decoding table {table_ref}: {error}"
                    ))
                })?;
                self.surface.check_settings(&spec)?;
                Ok(Arc::new(RemoteTable::new(
                    spec,
                    schema,
                    Arc::clone(&self.surface),
                )))
            }
            (_, body) => self
                .inner
                .try_decode_table_provider(body, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(spec) = node.downcast_ref::<RemoteTable>().map(RemoteTable::spec) {
            buf.push(GROUNDTRUTH);
            return serde_json::to_writer(buf, spec)
                .map_err(|error| plan_error(format!("encoding table {table_ref}: {error}")));
        }
        match self.surface.identify(&node) {
            Some(identity) => {
                let spec = TableSpec {
                    identity,
                    log_versions: *self
                        .watermark
                        .read()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()),
                    drift: self.surface.engine().drift_fingerprint().to_owned(),
                };
                buf.push(GROUNDTRUTH);
                serde_json::to_writer(buf, &spec)
                    .map_err(|error| plan_error(format!("encoding table {table_ref}: {error}")))
            }
            None => {
                buf.push(DELEGATED);
                self.inner.try_encode_table_provider(table_ref, node, buf)
            }
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    crate::delegate_function_codecs!();
}

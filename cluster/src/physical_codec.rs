//! The physical codec (scheduler to executors): [`ScanExec`] as its [`ScanSpec`] and schema,
//! anything else through Ballista's own codec.

use std::io::Cursor;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use crate::catalog::Surface;
use crate::error::plan_error;
use crate::logical_codec::{split, DELEGATED, GROUNDTRUTH};
use crate::scan_exec::{ScanExec, ScanSpec};

#[derive(Serialize, Deserialize)]
struct Wire {
    spec: ScanSpec,
    /// The output schema as an Arrow IPC stream with no batches.
    schema: Vec<u8>,
}

/// Encodes [`ScanExec`]; decodes it over this process's engine.
#[derive(Debug)]
pub struct GroundtruthPhysicalCodec {
    surface: Arc<Surface>,
    inner: BallistaPhysicalExtensionCodec,
}

impl GroundtruthPhysicalCodec {
    /// A codec whose decoded scans run on `surface`.
    pub fn new(surface: Arc<Surface>) -> Self {
        Self {
            surface,
            inner: BallistaPhysicalExtensionCodec::default(),
        }
    }
}

fn schema_bytes(schema: &SchemaRef) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}

fn schema_from(bytes: &[u8]) -> Result<SchemaRef> {
    Ok(StreamReader::try_new(Cursor::new(bytes), None)?.schema())
}

impl PhysicalExtensionCodec for GroundtruthPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match split(buf)? {
            (GROUNDTRUTH, body) => {
                let wire: Wire = serde_json::from_slice(body).map_err(|error| {
                    plan_error(format!(
                        "groundtruth cluster: decoding a table scan: {error}"
                    ))
                })?;
                self.surface.check_settings(&wire.spec.table)?;
                Ok(Arc::new(ScanExec::new(
                    wire.spec,
                    schema_from(&wire.schema)?,
                    Some(Arc::clone(&self.surface)),
                )))
            }
            (_, body) => self.inner.try_decode(body, inputs, ctx, converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<ScanExec>() {
            let wire = Wire {
                spec: scan.spec().clone(),
                schema: schema_bytes(&scan.schema())?,
            };
            buf.push(GROUNDTRUTH);
            return serde_json::to_writer(buf, &wire)
                .map_err(|error| plan_error(format!("encoding a table scan: {error}")));
        }
        buf.push(DELEGATED);
        self.inner.try_encode(node, buf, converter)
    }

    crate::delegate_function_codecs!();
}

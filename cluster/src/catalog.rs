//! One process's view of Groundtruth's SQL surface: its engine over the store, and the map
//! between the engine's tables and their [`Identity`].

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::error::{DataFusionError, Result as DfResult};
use groundtruth_engine::session::{Engine, StateAtTable, CATALOG};

use crate::error::{plan_error, ClusterError, Result};
use crate::identity::Identity;
use crate::logical_codec::{GroundtruthLogicalCodec, TableSpec};
use crate::physical_codec::GroundtruthPhysicalCodec;

/// An engine and the names of its tables, shared by a process's codecs.
#[derive(Debug)]
pub struct Surface {
    engine: Arc<Engine>,
    tables: HashMap<String, Arc<dyn TableProvider>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Surface {
    /// Index the tables of `engine`'s catalog. The handles are stable across refreshes (each
    /// is a refreshable table or a view over them), so the index is built once.
    pub async fn new(engine: Arc<Engine>) -> Result<Self> {
        let catalog = engine
            .context()
            .catalog(CATALOG)
            .ok_or_else(|| ClusterError::Config {
                option: "store",
                message: format!("the engine has no catalog {CATALOG}"),
            })?;
        let mut tables = HashMap::new();
        for schema_name in catalog.schema_names() {
            if schema_name == "information_schema" {
                continue;
            }
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            for table in schema.table_names() {
                let provider =
                    schema
                        .table(&table)
                        .await
                        .map_err(|source| ClusterError::Query {
                            what: "listing the engine's tables",
                            source,
                        })?;
                if let Some(provider) = provider {
                    tables.insert(format!("{schema_name}.{table}"), provider);
                }
            }
        }
        Ok(Self {
            engine,
            tables,
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// Index `engine`'s tables, and the two codecs a scheduler or executor installs over them.
    pub async fn with_codecs(
        engine: Arc<Engine>,
    ) -> Result<(
        Arc<Self>,
        Arc<GroundtruthLogicalCodec>,
        Arc<GroundtruthPhysicalCodec>,
    )> {
        let surface = Arc::new(Self::new(engine).await?);
        let watermark = Arc::new(std::sync::RwLock::new(surface.log_versions().await));
        let logical = Arc::new(GroundtruthLogicalCodec::new(
            Arc::clone(&surface),
            watermark,
        ));
        let physical = Arc::new(GroundtruthPhysicalCodec::new(Arc::clone(&surface)));
        Ok((surface, logical, physical))
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// What `provider` is, if it is one of this engine's tables or a state at T.
    pub fn identify(&self, provider: &Arc<dyn TableProvider>) -> Option<Identity> {
        if let Some(state) = provider.downcast_ref::<StateAtTable>() {
            return state.instant().map(|at| Identity::StateAt {
                at,
                shared: state.is_shared(),
            });
        }
        let wanted = Arc::as_ptr(provider) as *const ();
        self.tables
            .iter()
            .find(|(_, table)| Arc::as_ptr(table) as *const () == wanted)
            .map(|(name, _)| Identity::Table(name.clone()))
    }

    /// This engine's table for `identity`.
    pub fn resolve(&self, identity: &Identity) -> DfResult<Arc<dyn TableProvider>> {
        match identity {
            Identity::Table(name) => self.tables.get(name).cloned().ok_or_else(|| {
                plan_error(format!(
                    "groundtruth cluster: this process's engine has no table {name} (are the scheduler, executors and client on the same Groundtruth version?)"
                ))
            }),
            Identity::StateAt { at, shared } => {
                Ok(Arc::new(self.engine.state_at(*at, *shared)) as Arc<dyn TableProvider>)
            }
        }
    }

    /// Refuse a table sent by a process whose `[drift]` settings differ from this one's: the
    /// rules live in each process's views and `attribute_drift`, so the processes of one query
    /// would otherwise link and compare resources differently and the answer would be wrong
    /// without any error.
    pub fn check_settings(&self, spec: &TableSpec) -> DfResult<()> {
        let own = self.engine.drift_fingerprint();
        if spec.drift == own {
            return Ok(());
        }
        let short = |fingerprint: &str| fingerprint.chars().take(12).collect::<String>();
        Err(plan_error(format!(
            "groundtruth cluster: the [drift] settings of this process (fingerprint {}) differ from the client's ({}); every process of a cluster (scheduler, executors, serve) must run with the same [drift] section",
            short(own),
            short(&spec.drift)
        )))
    }

    /// The Delta log versions the engine has loaded.
    pub async fn log_versions(&self) -> [Option<i64>; 3] {
        self.engine.store().log_versions().await
    }

    /// Refresh the engine unless it has loaded at least the log versions `wanted` (what the
    /// sender of a plan read), so no process answers from an older snapshot than the client's.
    pub async fn catch_up(&self, wanted: [Option<i64>; 3]) -> DfResult<()> {
        let behind =
            |have: [Option<i64>; 3]| have.iter().zip(wanted).any(|(have, want)| *have < want);
        if !behind(self.log_versions().await) {
            return Ok(());
        }
        let _one_refresh = self.refreshing.lock().await;
        if behind(self.log_versions().await) {
            self.engine
                .refresh()
                .await
                .map_err(|error| DataFusionError::External(Box::new(error)))?;
        }
        Ok(())
    }
}

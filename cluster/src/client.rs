//! The client side: a session that plans with the engine's SQL surface and hands the plan to
//! a Ballista scheduler.

use std::sync::{Arc, RwLock};

use arrow::array::RecordBatch;
use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionContext};
use groundtruth_engine::session::Engine;

use crate::catalog::Surface;
use crate::error::{ClusterError, Result};
use crate::identity::Identity;
use crate::logical_codec::GroundtruthLogicalCodec;

/// The tables whose scans make a query history-wide.
const HISTORY_TABLES: [&str; 2] = ["storage.versions", "internals.checkpoints"];

/// A session whose queries run on a Ballista cluster over the same store as `engine`.
pub struct ClusterClient {
    engine: Arc<Engine>,
    surface: Arc<Surface>,
    context: SessionContext,
    watermark: Arc<RwLock<[Option<i64>; 3]>>,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClusterClient")
            .field("session", &self.context.session_id())
            .finish_non_exhaustive()
    }
}

/// Connect `engine`'s SQL surface to the scheduler at `url` (`df://host:port`).
pub async fn remote_context(engine: Arc<Engine>, url: &str) -> Result<ClusterClient> {
    let surface = Arc::new(Surface::new(Arc::clone(&engine)).await?);
    let watermark = Arc::new(RwLock::new(surface.log_versions().await));
    let codec = Arc::new(GroundtruthLogicalCodec::new(
        Arc::clone(&surface),
        Arc::clone(&watermark),
    ));
    let state = engine.context().state();
    // Not "create the default catalog": building the state would replace the engine's
    // catalog (shared with it) with an empty one of the same name.
    let config = state
        .config()
        .clone()
        .with_create_default_catalog_and_schema(false)
        .with_ballista_logical_extension_codec(codec);
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let context = SessionContext::remote_with_state(url, state)
        .await
        .map_err(|source| ClusterError::Query {
            what: "connecting to the Ballista scheduler",
            source,
        })?;
    Ok(ClusterClient {
        engine,
        surface,
        context,
        watermark,
    })
}

/// Whether a plan can and should run on the cluster.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Reads {
    /// Every table it reads is one of Groundtruth's (not the catalog emulation's).
    known: bool,
    /// It reads history: the versions or checkpoints, or a state at T.
    history: bool,
}

impl ClusterClient {
    /// Whether `plan` should run on the cluster: it reads history (`storage.versions`,
    /// `internals.checkpoints`, or a state at T, directly or through views and table
    /// functions) and reads nothing but Groundtruth's tables. Queries of the current state or
    /// of the catalog emulation stay in the embedded engine, where they are cheap and where
    /// `pg_catalog` lives.
    pub fn accepts(&self, plan: &LogicalPlan) -> bool {
        let reads = self.reads(plan);
        reads.known && reads.history
    }

    fn reads(&self, plan: &LogicalPlan) -> Reads {
        let mut reads = Reads {
            known: true,
            history: false,
        };
        let _ = plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                let inner = match source_as_provider(&scan.source) {
                    Err(_) => Reads::default(),
                    Ok(provider) => match provider.get_logical_plan() {
                        Some(view) => self.reads(&view),
                        None => match self.surface.identify(&provider) {
                            None => Reads::default(),
                            Some(identity) => Reads {
                                known: true,
                                history: matches!(
                                    &identity,
                                    Identity::StateAt { .. }
                                ) || matches!(
                                    &identity,
                                    Identity::Table(name) if HISTORY_TABLES.contains(&name.as_str())
                                ),
                            },
                        },
                    },
                };
                reads.known &= inner.known;
                reads.history |= inner.history;
            }
            Ok(if reads.known {
                TreeNodeRecursion::Continue
            } else {
                TreeNodeRecursion::Stop
            })
        });
        reads
    }

    /// Run `plan` (planned by the engine's own session) on the cluster.
    pub async fn execute(&self, plan: LogicalPlan) -> Result<DataFrame> {
        self.mark_snapshot().await;
        self.context
            .execute_logical_plan(plan)
            .await
            .map_err(|source| ClusterError::Query {
                what: "running a query on the cluster",
                source,
            })
    }

    /// Record the snapshot the next plans are made against, for the processes that run them.
    async fn mark_snapshot(&self) {
        *self
            .watermark
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = self.surface.log_versions().await;
    }

    /// The session (its catalog is the engine's; its query planner is Ballista's).
    pub fn context(&self) -> &SessionContext {
        &self.context
    }

    /// Run one read-only statement (after the engine's rewrites: named queries, time travel)
    /// on the cluster.
    pub async fn query(&self, text: &str) -> Result<Vec<RecordBatch>> {
        let query = |source| ClusterError::Query {
            what: "running a query on the cluster",
            source,
        };
        self.mark_snapshot().await;
        let mut batches = Vec::new();
        for statement in self.engine.pipeline().prepare(text)? {
            groundtruth_engine::sql::ensure_read_only(statement.statement())?;
            let plan = self
                .context
                .state()
                .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                    statement.into_statement(),
                )))
                .await
                .map_err(query)?;
            let frame = self
                .context
                .execute_logical_plan(plan)
                .await
                .map_err(query)?;
            batches = frame.collect().await.map_err(query)?;
        }
        Ok(batches)
    }
}

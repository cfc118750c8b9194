//! The query session: a DataFusion context exposing the SQL surface over the store.

mod attribute_drift;
mod changed_paths;
mod definitions;
mod descriptions;
mod drift_definitions;
mod json_text_list;
mod published_ports;
mod published_view;
mod refreshable_table;
mod relation_definitions;
mod relation_references;
mod selector_matches;
mod state_at_table;
mod temporal_function;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

pub use descriptions::{
    column_description, table_description, table_functions, FunctionDescription, DESCRIPTIONS_TABLE,
};
pub use published_view::PublishedView;
pub use refreshable_table::RefreshableTable;
pub use state_at_table::{StateAtTable, StateSource, STATE_AT_PLACEHOLDER};
pub use temporal_function::TemporalFunction;

use crate::drift::DriftSettings;
use crate::error::{EngineError, Result};
use crate::json_type;
use crate::sql::{self, NamedQueries, NamedQueryEntry};
use crate::store::Store;
use crate::timeline::{self, live::LiveState};

/// Catalog name clients see (`current_database()`).
pub const CATALOG: &str = "groundtruth";
/// Schema of the published tables.
pub const PUBLIC_SCHEMA: &str = "public";
/// Schema of the raw Delta tables.
pub const STORAGE_SCHEMA: &str = "storage";
/// Schema of what the engine derives to answer fast: the state checkpoints (a Delta table,
/// but derived, never the only copy of anything) and the kinds each source has reported.
pub const INTERNAL_SCHEMA: &str = "internals";

/// What `query_catalog` holds.
pub const QUERY_CATALOG_DESCRIPTION: &str = "The named query library: one row per query with \
     its name, the question it answers, its parameters (name, type, default, meaning), a \
     ready-to-run example and its SQL. Run one with \
     SELECT * FROM named_query('name', parameter => value) or `groundtruth query NAME`.";

/// (Re)build `descriptions` from the tables registered so far.
async fn register_descriptions(context: &SessionContext) -> Result<()> {
    let table = descriptions::table(context).await?;
    context
        .deregister_table(DESCRIPTIONS_TABLE)
        .map_err(|error| EngineError::query("replacing descriptions", error))?;
    context
        .register_table(DESCRIPTIONS_TABLE, Arc::new(table))
        .map_err(|error| EngineError::query("registering descriptions", error))?;
    Ok(())
}

/// A query engine over one store.
#[derive(Clone)]
pub struct Engine {
    context: SessionContext,
    store: Arc<Store>,
    versions: Arc<RefreshableTable>,
    scrapes: Arc<RefreshableTable>,
    checkpoints: Arc<RefreshableTable>,
    /// `resources`: the current state, rebuilt in memory at each refresh.
    resources: Arc<RefreshableTable>,
    /// `storage.kinds_seen`.
    kinds: Arc<RefreshableTable>,
    /// The state a refresh is about to publish, which the current links are computed from.
    next_resources: Arc<RefreshableTable>,
    /// The identity links of the current state, computed once per refresh: `drift` reads
    /// them three times per query.
    current_links: Arc<RefreshableTable>,
    current_links_plan: datafusion::logical_expr::LogicalPlan,
    /// `internals.snapshot`: the Delta log version of each table this engine reads, and when
    /// it read them (`store_snapshot` adds the age).
    snapshot: Arc<RefreshableTable>,
    state: Arc<StateSource>,
    live: Arc<tokio::sync::Mutex<LiveState>>,
    named_queries: Option<Arc<dyn NamedQueries>>,
    /// [`DriftSettings::fingerprint`] of the settings the views and UDFs were built with.
    drift_fingerprint: Arc<str>,
}

/// `internals.snapshot`'s rows: each table's Delta log version, read at `loaded_at`.
fn snapshot_batch(
    log_versions: &[(&'static str, Option<i64>)],
    loaded_at: chrono::DateTime<chrono::Utc>,
) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("log_version", DataType::Int64, true),
        Field::new(
            "loaded_at",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                log_versions.iter().map(|(table, _)| *table),
            )),
            Arc::new(arrow::array::Int64Array::from_iter(
                log_versions.iter().map(|(_, version)| *version),
            )),
            Arc::new(
                arrow::array::TimestampMicrosecondArray::from_iter_values(
                    log_versions.iter().map(|_| loaded_at.timestamp_micros()),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .map_err(|source| EngineError::Arrow {
        what: "the snapshot table",
        source,
    })
}

/// An in-memory table of `batch`, split so that scans use every core.
fn memory_table(batch: RecordBatch, partitions: usize) -> Result<Arc<dyn TableProvider>> {
    let schema = batch.schema();
    let parts = crate::timeline::merge::split(&batch, partitions)
        .into_iter()
        .map(|part| vec![part])
        .collect();
    let table = MemTable::try_new(schema, parts)
        .map_err(|error| EngineError::query("building an in-memory table", error))?;
    Ok(Arc::new(table))
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Engine")
            .field("store", &self.store.url().to_string())
            .finish()
    }
}

impl Engine {
    /// Build the SQL surface over `store`, with the built-in drift rules only.
    pub async fn open(store: Arc<Store>) -> Result<Self> {
        Self::open_with(store, &DriftSettings::default()).await
    }

    /// Build the SQL surface over `store`, with configured drift link and ignore rules
    /// (`[drift]` in the server's configuration).
    pub async fn open_with(store: Arc<Store>, drift: &DriftSettings) -> Result<Self> {
        drift
            .validate()
            .map_err(|error| EngineError::Config(error.to_string()))?;
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, PUBLIC_SCHEMA)
            .set_str("datafusion.sql_parser.dialect", "PostgreSQL");
        let mut context = SessionContext::new_with_config(config);
        json_type::install(&context);
        datafusion_functions_json::register_all(&mut context)
            .map_err(|error| EngineError::query("registering JSON functions", error))?;
        context.register_udf(ScalarUDF::from(changed_paths::ChangedPaths::default()));
        context.register_udf(ScalarUDF::from(
            relation_references::RelationReferences::default(),
        ));
        context.register_udf(ScalarUDF::from(selector_matches::SelectorMatches::default()));
        context.register_udf(ScalarUDF::from(published_ports::PublishedPorts::default()));
        context.register_udf(ScalarUDF::from(attribute_drift::AttributeDrift::new(
            &drift.ignores,
        )));
        store.prepare_session(&context).await?;

        let snapshot = store.snapshot().await?;
        let versions = Arc::new(RefreshableTable::new(snapshot.versions));
        let scrapes = Arc::new(RefreshableTable::new(snapshot.scrapes));
        let checkpoints = Arc::new(RefreshableTable::new(snapshot.checkpoints));
        let state = Arc::new(StateSource::new(
            Arc::clone(&versions) as Arc<dyn TableProvider>,
            Arc::clone(&checkpoints) as Arc<dyn TableProvider>,
        ));
        let empty_resources = timeline::merge::merge(&[], &[], &timeline::merge::PAYLOAD_COLUMNS)?;
        let resources = Arc::new(RefreshableTable::new(memory_table(
            timeline::publish(
                &empty_resources,
                &timeline::TimeIndex::default(),
                None,
                None,
            )?,
            1,
        )?));
        let kinds = Arc::new(RefreshableTable::new(memory_table(
            timeline::KindsSeen::default().batch()?,
            1,
        )?));
        let next_resources = Arc::new(RefreshableTable::new(resources.current()));
        let snapshot = Arc::new(RefreshableTable::new(memory_table(
            snapshot_batch(&[], chrono::Utc::now())?,
            1,
        )?));
        let storage = Arc::new(MemorySchemaProvider::new());
        let register = |name: &str, table: Arc<RefreshableTable>| {
            storage
                .register_table(name.to_string(), table)
                .map_err(|error| EngineError::query("registering storage table", error))
        };
        register("versions", Arc::clone(&versions))?;
        register("scrapes", Arc::clone(&scrapes))?;
        let internals = Arc::new(MemorySchemaProvider::new());
        for (name, table) in [
            ("checkpoints", &checkpoints),
            ("kinds_seen", &kinds),
            ("next_resources", &next_resources),
            ("snapshot", &snapshot),
        ] {
            internals
                .register_table(
                    name.to_string(),
                    Arc::clone(table) as Arc<dyn TableProvider>,
                )
                .map_err(|error| EngineError::query("registering internal table", error))?;
        }
        let catalog = context.catalog(CATALOG).ok_or_else(|| {
            EngineError::Corrupt(format!("catalog {CATALOG} missing from a new session"))
        })?;
        catalog
            .register_schema(STORAGE_SCHEMA, storage)
            .map_err(|error| EngineError::query("registering storage schema", error))?;
        catalog
            .register_schema(INTERNAL_SCHEMA, Arc::clone(&internals) as _)
            .map_err(|error| EngineError::query("registering internals schema", error))?;
        context
            .register_table(
                "resources",
                Arc::clone(&resources) as Arc<dyn TableProvider>,
            )
            .map_err(|error| EngineError::query("registering resources", error))?;
        // Templates over the state at T are planned against an unbound state table, which
        // each call replaces; it is not left in the catalog.
        context
            .register_table(STATE_AT_PLACEHOLDER, Arc::new(state.at(None, false)))
            .map_err(|error| EngineError::query("registering the state placeholder", error))?;

        for definition in definitions::tables() {
            let plan = plan(&context, &definition.sql, definition.name).await?;
            let table = PublishedView::new(plan, &definition.sql, definition.description);
            context
                .register_table(definition.name, Arc::new(table))
                .map_err(|error| {
                    EngineError::query(format!("registering {}", definition.name), error)
                })?;
        }
        let current_links_plan = plan(
            &context,
            &drift_definitions::identity_links(
                &drift_definitions::DriftInputs::next(),
                &drift.links,
            ),
            "identity_links",
        )
        .await?;
        let current_links = Arc::new(RefreshableTable::new(Arc::new(
            MemTable::try_new(current_links_plan.schema().inner().clone(), vec![vec![]])
                .map_err(|error| EngineError::query("building the identity links table", error))?,
        )));
        internals
            .register_table(
                "current_links".to_string(),
                Arc::clone(&current_links) as Arc<dyn TableProvider>,
            )
            .map_err(|error| EngineError::query("registering internal table", error))?;
        let now = drift_definitions::DriftInputs::now();
        // Shown as the definition of `identity_links`: what the table computed at each
        // refresh holds.
        let links_definition = drift_definitions::identity_links(
            &drift_definitions::DriftInputs {
                links: None,
                ..drift_definitions::DriftInputs::now()
            },
            &drift.links,
        );
        let links_view = PublishedView::new(
            plan(
                &context,
                &format!(
                    "SELECT * FROM {}",
                    drift_definitions::INTERNAL_CURRENT_LINKS
                ),
                "identity_links",
            )
            .await?,
            &links_definition,
            drift_definitions::IDENTITY_LINKS_DESCRIPTION,
        );
        context
            .register_table("identity_links", Arc::new(links_view))
            .map_err(|error| EngineError::query("registering identity_links", error))?;
        for (name, sql, description) in [
            (
                "drift",
                drift_definitions::drift(&now, &drift.links),
                drift_definitions::DRIFT_DESCRIPTION,
            ),
            (
                "drift_history",
                drift_definitions::drift_history(&drift.links),
                drift_definitions::DRIFT_HISTORY_DESCRIPTION,
            ),
            (
                "attribute_drift_history",
                drift_definitions::attribute_drift_history(&drift.links),
                drift_definitions::ATTRIBUTE_DRIFT_HISTORY_DESCRIPTION,
            ),
            (
                "relations",
                relation_definitions::relations(),
                relation_definitions::RELATIONS_DESCRIPTION,
            ),
        ] {
            let view = PublishedView::new(plan(&context, &sql, name).await?, &sql, description);
            context
                .register_table(name, Arc::new(view))
                .map_err(|error| EngineError::query(format!("registering {name}"), error))?;
        }
        let drift_at = plan(
            &context,
            &drift_definitions::drift(&drift_definitions::DriftInputs::as_of(), &drift.links),
            "drift_at",
        )
        .await?;
        context.register_udtf(
            "drift_at",
            Arc::new(TemporalFunction::over_state(
                "drift_at",
                drift_at,
                Arc::clone(&state),
            )),
        );
        let identity_links_at = plan(
            &context,
            &drift_definitions::identity_links(
                &drift_definitions::DriftInputs::as_of(),
                &drift.links,
            ),
            "identity_links_at",
        )
        .await?;
        context.register_udtf(
            "identity_links_at",
            Arc::new(TemporalFunction::over_state(
                "identity_links_at",
                identity_links_at,
                Arc::clone(&state),
            )),
        );
        context
            .deregister_table(STATE_AT_PLACEHOLDER)
            .map_err(|error| EngineError::query("removing the state placeholder", error))?;
        context.register_udtf(
            "resources_at",
            Arc::new(TemporalFunction::state("resources_at", Arc::clone(&state))),
        );
        for (name, sql, parameters) in [
            (
                "relations_at",
                relation_definitions::relations_at(),
                &["as_of"][..],
            ),
            (
                "relation_changes",
                relation_definitions::relation_changes(),
                &["from", "to"][..],
            ),
        ] {
            let planned = plan(&context, &sql, name).await?;
            context.register_udtf(
                name,
                Arc::new(TemporalFunction::new(name, parameters, planned)),
            );
        }
        let changes = plan(&context, &definitions::changes(), "changes").await?;
        context.register_udtf(
            "changes",
            Arc::new(TemporalFunction::new("changes", &["from", "to"], changes)),
        );

        let engine = Self {
            context,
            store,
            versions,
            scrapes,
            checkpoints,
            resources,
            kinds,
            next_resources,
            current_links,
            current_links_plan,
            snapshot,
            state,
            live: Arc::new(tokio::sync::Mutex::new(LiveState::default())),
            named_queries: None,
            drift_fingerprint: drift.fingerprint().into(),
        };
        engine.load_state().await?;
        register_descriptions(&engine.context).await?;
        Ok(engine)
    }

    /// Advance the in-memory time index and current state to the store's newest snapshot, then
    /// install the snapshot, `resources`, the current identity links and `kinds_seen`
    /// together: a reader that sees a scrape in `scrapes` also sees the state it produced.
    async fn load_state(&self) -> Result<()> {
        let mut live = self.live.lock().await;
        // The index first: the snapshot read after it holds at least the scrapes it lists.
        let index = Arc::new(self.store.time_index().await?);
        let snapshot = self.store.snapshot().await?;
        live.advance(
            &self.context.state(),
            Arc::clone(&snapshot.versions),
            Arc::clone(&snapshot.checkpoints),
            &index,
        )
        .await?;
        let partitions = self.context.state().config().target_partitions();
        let rows = timeline::publish(&live.rows()?, &index, None, None)?;
        let table = memory_table(rows, partitions)?;
        self.next_resources.replace(Arc::clone(&table));
        let links = self
            .context
            .execute_logical_plan(self.current_links_plan.clone())
            .await
            .map_err(|error| EngineError::query("planning the identity links", error))?
            .collect()
            .await
            .map_err(|error| EngineError::query("computing the identity links", error))?;
        let links =
            arrow::compute::concat_batches(self.current_links_plan.schema().inner(), &links)
                .map_err(|source| EngineError::Arrow {
                    what: "identity links",
                    source,
                })?;
        let links = memory_table(links, partitions)?;
        let kinds = memory_table(live.kinds().batch()?, 1)?;
        let read = memory_table(
            snapshot_batch(&snapshot.log_versions, chrono::Utc::now())?,
            1,
        )?;
        // No await from here on: the tables change together, `scrapes` last, so a reader
        // that sees a scrape already sees its state.
        self.versions.replace(snapshot.versions);
        self.checkpoints.replace(snapshot.checkpoints);
        self.resources.replace(table);
        self.current_links.replace(links);
        self.kinds.replace(kinds);
        self.snapshot.replace(read);
        self.state.set_index(index);
        self.scrapes.replace(snapshot.scrapes);
        Ok(())
    }

    /// Install a query library: `named_query(...)` expands its queries and `query_catalog`
    /// lists them.
    pub async fn with_named_queries(mut self, library: Arc<dyn NamedQueries>) -> Result<Self> {
        let entries = library.entries();
        let schema = Arc::new(Schema::new(
            ["name", "description", "parameters", "example", "sql"]
                .into_iter()
                .map(|column| Field::new(column, DataType::Utf8, false))
                .collect::<Vec<_>>(),
        ));
        let column = |pick: fn(&NamedQueryEntry) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(entries.iter().map(pick)))
        };
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                column(|entry| &entry.name),
                column(|entry| &entry.description),
                column(|entry| &entry.parameters),
                column(|entry| &entry.example),
                column(|entry| &entry.sql),
            ],
        )
        .map_err(|error| EngineError::query("building query_catalog", error.into()))?;
        let table = MemTable::try_new(schema, vec![vec![batch]])
            .map_err(|error| EngineError::query("building query_catalog", error))?;
        self.context
            .register_table("query_catalog", Arc::new(table))
            .map_err(|error| EngineError::query("registering query_catalog", error))?;
        register_descriptions(&self.context).await?;
        self.named_queries = Some(library);
        Ok(self)
    }

    /// The installed query library, if any.
    pub fn named_queries(&self) -> Option<Arc<dyn NamedQueries>> {
        self.named_queries.clone()
    }

    /// Read the newest committed table versions (after a commit, or to see another writer's).
    pub async fn refresh(&self) -> Result<()> {
        self.store.refresh().await?;
        self.load_state().await
    }

    /// The state at `at` (µs) as a table, as `resources_at` builds it (`shared`: as the
    /// drift templates bind it, one computation for every scan). Lets another process
    /// rebuild a state table it received by description (see `groundtruth-cluster`).
    pub fn state_at(&self, at: i64, shared: bool) -> StateAtTable {
        self.state.at(Some(at), shared)
    }

    /// The DataFusion context (for the Postgres-wire server and the catalog emulation).
    pub fn context(&self) -> &SessionContext {
        &self.context
    }

    /// The store this engine reads.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The fingerprint of the `[drift]` settings this engine was opened with
    /// ([`DriftSettings::fingerprint`]): engines that answer one query together must agree.
    pub fn drift_fingerprint(&self) -> &str {
        &self.drift_fingerprint
    }

    /// The statement pipeline this engine's queries go through (named queries from its
    /// library, then time travel); the wire adds its client rules to it.
    pub fn pipeline(&self) -> sql::pipeline::Pipeline {
        sql::pipeline::Pipeline::new(self.named_queries.clone())
    }

    /// Plan one or more read-only statements, each parsed once and rewritten by
    /// [`Self::pipeline`].
    pub async fn sql(&self, text: &str) -> Result<Vec<DataFrame>> {
        let statements = self.pipeline().prepare(text)?;
        let mut frames = Vec::with_capacity(statements.len());
        for statement in statements {
            sql::ensure_read_only(statement.statement())?;
            let statement = statement.into_statement();
            let state = self.context.state();
            let plan = state
                .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                    statement,
                )))
                .await
                .map_err(|error| EngineError::query("planning", error))?;
            frames.push(DataFrame::new(state, plan));
        }
        Ok(frames)
    }

    /// Run one read-only query and collect its result.
    pub async fn query(&self, text: &str) -> Result<Vec<RecordBatch>> {
        let mut frames = self.sql(text).await?;
        let frame = frames
            .pop()
            .ok_or_else(|| EngineError::Syntax("empty query".into()))?;
        frame
            .collect()
            .await
            .map_err(|error| EngineError::query("executing", error))
    }
}

async fn plan(
    context: &SessionContext,
    sql: &str,
    name: &str,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    context
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(|error| EngineError::query(format!("planning {name}"), error))
}

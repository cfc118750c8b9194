//! What every table, table function and column means, so the schema explains itself: the
//! `descriptions` table (one row per object and per column), which the Postgres-wire server
//! also serves as `pg_description`, `obj_description` and `col_description` (psql's `\d+`).
//!
//! Column meanings come from one glossary keyed by column name, because a column name means the
//! same thing wherever it appears (`valid_from`, `observed_at`, `stale_reason`...); the few
//! names whose meaning depends on the table are overridden per table first.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::{definitions, drift_definitions, relation_definitions};
use super::{PUBLIC_SCHEMA, QUERY_CATALOG_DESCRIPTION, STORAGE_SCHEMA};
use crate::error::{EngineError, Result};

/// Name of the table listing every description.
pub const DESCRIPTIONS_TABLE: &str = "descriptions";

/// What `descriptions` holds.
pub const DESCRIPTIONS_DESCRIPTION: &str = "What every table, table function and column of this database means: one row per object (column_name NULL) and one per column. Functions have their arguments and result. The same text is in pg_description, obj_description(oid, 'pg_class'), col_description(oid, attnum) and psql's \\d+.";

/// A table function, as `\df` and `descriptions` show it.
#[derive(Debug, Clone, Copy)]
pub struct FunctionDescription {
    /// Name it is called by.
    pub name: &'static str,
    /// Its arguments, in Postgres notation.
    pub arguments: &'static str,
    /// What it returns.
    pub result: &'static str,
    /// What it answers.
    pub description: &'static str,
}

/// Every table function of the SQL surface.
pub fn table_functions() -> Vec<FunctionDescription> {
    vec![
        FunctionDescription {
            name: "resources_at",
            arguments: "as_of timestamp with time zone",
            result: "SETOF resources",
            description: definitions::RESOURCES_AT_DESCRIPTION,
        },
        FunctionDescription {
            name: "changes",
            arguments: "from timestamp with time zone, to timestamp with time zone",
            result: "TABLE(source, kind, id, layer, change, changed_at, diff, ...)",
            description: definitions::CHANGES_DESCRIPTION,
        },
        FunctionDescription {
            name: "drift_at",
            arguments: "as_of timestamp with time zone",
            result: "SETOF drift",
            description: drift_definitions::DRIFT_AT_DESCRIPTION,
        },
        FunctionDescription {
            name: "identity_links_at",
            arguments: "as_of timestamp with time zone",
            result: "SETOF identity_links",
            description: drift_definitions::IDENTITY_LINKS_AT_DESCRIPTION,
        },
        FunctionDescription {
            name: "relations_at",
            arguments: "as_of timestamp with time zone",
            result: "SETOF relations",
            description: relation_definitions::RELATIONS_AT_DESCRIPTION,
        },
        FunctionDescription {
            name: "relation_changes",
            arguments: "from timestamp with time zone, to timestamp with time zone",
            result: "TABLE(kind, id, direction, relation, other_kind, other_id, change, changed_at, ...)",
            description: relation_definitions::RELATION_CHANGES_DESCRIPTION,
        },
        FunctionDescription {
            name: "named_query",
            arguments: "name text, VARIADIC parameter => value",
            result: "the named query's columns",
            description: "named_query('name', parameter => value, ...): runs a query of the library (see query_catalog) with its parameters; omitted parameters take their defaults.",
        },
    ]
}

/// What the table or view `schema.name` holds.
pub fn table_description(schema: &str, name: &str) -> Option<&'static str> {
    match (schema, name) {
        (STORAGE_SCHEMA, "versions") => Some("The stored versions, as committed: one row per added, modified or removed resource version, with the scrape that wrote it. resource_versions adds valid_to; most questions are easier there."),
        (super::INTERNAL_SCHEMA, "checkpoints") => Some("The stored state checkpoints: per source, at chosen instants (checkpoint_at_us), one row per resource alive then, with first_seen and last_changed. resources_at(T) reads the newest checkpoint at or before T plus the versions after it."),
        (super::INTERNAL_SCHEMA, "snapshot") => Some("The Delta log version of each stored table this engine has loaded, and when; store_snapshot adds the age."),
        (super::INTERNAL_SCHEMA, "kinds_seen") => Some("Per source and layer, every kind it has ever reported and when first (derived from the versions and kept in memory): drift uses it to know which kinds a live source watches."),
        (PUBLIC_SCHEMA, "resources") => Some(definitions::RESOURCES_DESCRIPTION),
        (STORAGE_SCHEMA, "scrapes") => Some("The stored scrape log, as committed: one row per run of a source, whatever its outcome. The public scrapes table shows the same rows."),
        (PUBLIC_SCHEMA, DESCRIPTIONS_TABLE) => Some(DESCRIPTIONS_DESCRIPTION),
        (PUBLIC_SCHEMA, "query_catalog") => Some(QUERY_CATALOG_DESCRIPTION),
        (PUBLIC_SCHEMA, "identity_links") => Some(drift_definitions::IDENTITY_LINKS_DESCRIPTION),
        (PUBLIC_SCHEMA, "drift") => Some(drift_definitions::DRIFT_DESCRIPTION),
        (PUBLIC_SCHEMA, "drift_history") => Some(drift_definitions::DRIFT_HISTORY_DESCRIPTION),
        (PUBLIC_SCHEMA, "attribute_drift_history") => {
            Some(drift_definitions::ATTRIBUTE_DRIFT_HISTORY_DESCRIPTION)
        }
        (PUBLIC_SCHEMA, "relations") => Some(relation_definitions::RELATIONS_DESCRIPTION),
        (PUBLIC_SCHEMA, table) => definitions::tables()
            .into_iter()
            .find(|definition| definition.name == table)
            .map(|definition| definition.description),
        _ => None,
    }
}

/// What `column` of `table` means.
pub fn column_description(table: &str, column: &str) -> Option<&'static str> {
    let specific = match (table, column) {
        ("query_catalog", "name") => Some("Name of the query, as given to named_query('name') and `groundtruth query NAME`."),
        ("query_catalog", "description") => Some("The question the query answers."),
        ("query_catalog", "parameters") => Some("Its parameters: name, type, default and meaning, one per line."),
        ("query_catalog", "example") => Some("A ready-to-run call."),
        ("query_catalog", "sql") => Some("The query's SQL, with $name placeholders for parameters."),
        (DESCRIPTIONS_TABLE, "description") => Some("What the object or column means."),
        ("scrapes", "status") => Some("Outcome of the scrape: ok, partial (some units failed; only what was covered was compared) or failed (nothing was concluded from it)."),
        ("drift", "status") => Some("missing, unmanaged, changed, in_sync, or stale when a source involved is stale or its last scrape failed (then nothing is asserted)."),
        ("drift_history", "status") => Some("The drift that held during the interval: missing, unmanaged or changed."),
        ("drift", "kind" | "id") | ("drift_history" | "attribute_drift_history", "kind" | "id") => {
            Some("The live identity the row is about (for a missing resource, the live kind and id it would have).")
        }
        ("kinds_seen", "first_seen") => Some("When the source first wrote a version of that kind."),
        ("relations", "source") => Some("The source whose versions the relation was found in (the from side's source)."),
        ("relations", "layer") => Some("declared or live: relations are resolved within one layer."),
        ("relations", "valid_to") => Some("When the relation stopped holding; NULL while it holds."),
        ("identity_links", "rule") => Some("The rule that linked them: live_id, config:<name>, same_identity, live_name or cloudformation_physical_id (compose_published_port for compose services)."),
        _ => None,
    };
    specific.or_else(|| {
        GLOSSARY
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, text)| *text)
    })
}

/// Column meanings shared by every table that has the column.
const GLOSSARY: &[(&str, &str)] = &[
    ("source", "Name of the configured source (one scraper: a Terraform state, a cluster, an AWS account...)."),
    ("source_type", "Type of the source: terraform_state, kubernetes_api, aws, postgres_catalog, ..."),
    ("kind", "Resource kind: the Terraform type for cloud resources (aws_sqs_queue), k8s/<group>/<Kind> for Kubernetes, postgres/<object> for catalogs."),
    ("id", "Identity of the resource within its kind: an ARN, namespace/name, schema.table, a Terraform address..."),
    ("name", "Human name of the resource, when it has one."),
    ("layer", "declared (what configuration says: Terraform, manifests, migrations...) or live (what is running)."),
    ("attrs", "The resource's attributes as JSON, normalized; secrets are replaced by a hash."),
    ("attrs_hash", "SHA-256 of the canonical attrs: equal hashes mean equal attributes."),
    ("labels", "Labels and tags as a JSON object (live.kind/live.id labels link a declared resource to a live one)."),
    ("change", "added, modified or removed."),
    ("diff", "For a modification, the changed attribute paths with old and new values (JSON)."),
    ("scrape_id", "The scrape that produced this version or row."),
    ("valid_from", "When this version (or relation) started to hold: the scrape that first saw it."),
    ("valid_to", "When this version stopped holding (the next version's valid_from); NULL while current."),
    ("change_window_start", "The previous successful scrape of the source: the change happened between this and valid_from."),
    ("provenance", "Where the version was read from: file path and commit, API endpoint, ..."),
    ("first_seen", "When the resource was first recorded in its current existence (a resource deleted and re-created starts again)."),
    ("checkpoint_at_us", "The instant whose state the checkpoint holds, in microseconds since 1970 (the start of the source's latest scrape then)."),
    ("last_changed", "When its current version started (its last change)."),
    ("observed_at", "The last successful scrape of its source: how fresh this row is."),
    ("started_at", "When the scrape started."),
    ("finished_at", "When the scrape finished."),
    ("resources_seen", "Resources the scrape reported."),
    ("versions_written", "New versions the scrape stored (only changes are stored)."),
    ("error", "Why the scrape failed, if it did."),
    ("warnings", "Non-fatal problems the scrape reported (JSON list), e.g. a unit that could not be read."),
    ("interval_seconds", "The source's schedule interval, in seconds."),
    ("last_status", "Status of the source's latest scrape: ok, partial or failed."),
    ("last_scrape_at", "When the source was last scraped, whatever the outcome."),
    ("last_success_at", "When the source last scraped successfully (ok or partial)."),
    ("last_failure_at", "When the source last failed."),
    ("last_error", "The error of its latest failure."),
    ("scrapes", "Number of scrapes recorded."),
    ("failures", "Number of failed scrapes."),
    ("staleness_seconds", "Seconds since the last successful scrape."),
    ("as_of", "The instant the answer describes."),
    ("table_name", "The stored table: versions, scrapes or checkpoints."),
    ("log_version", "The Delta log version loaded (NULL before the table's first commit)."),
    ("loaded_at", "When this server loaded that version."),
    ("age_seconds", "Seconds since loaded_at: how far behind the store this server's answers may be."),
    ("warning", "Why the source's data should not be trusted blindly (stale, or its last scrape failed); NULL when fresh."),
    ("stale", "True when no scrape succeeded within twice the schedule interval (one hour when unknown): do not trust absence."),
    ("declared_source", "The declared side's source."),
    ("declared_kind", "The declared side's kind (e.g. the Terraform type, or compose/service)."),
    ("declared_id", "The declared side's id (e.g. the Terraform address)."),
    ("live_source", "The live side's source."),
    ("live_kind", "The live side's kind."),
    ("live_id", "The live side's id."),
    ("link_rule", "The identity_links rule that paired the two sides."),
    ("attributes_compared", "Whether attributes were compared (only when both sides have the same kind)."),
    ("differences", "For changed: JSON list of {path, declared, live} for each attribute the declared side states that differs."),
    ("declared_observed_at", "Last successful scrape of the declared source."),
    ("live_observed_at", "Last successful scrape of the live source."),
    ("stale_reason", "Why nothing is asserted: which source is stale or failed its last scrape."),
    ("onset", "When the drift started."),
    ("resolved_at", "When it ended; NULL while ongoing."),
    ("duration_seconds", "How long it held (until now when ongoing), in seconds."),
    ("ongoing", "True while the drift still holds."),
    ("differences_at_onset", "The differing attributes when the drift started (JSON)."),
    ("path", "Attribute path that differs, dotted (spec.replicas, tags.team)."),
    ("from_kind", "Kind of the resource the relation starts from."),
    ("from_id", "Id of the resource the relation starts from."),
    ("relation", "What the relation is: reads_from, invokes, assumes_role, dead_letters_to, uses_security_group, provisions, part_of_stack, selects, routes_to, mounts, references, indexes, depends_on."),
    ("to_source", "Source of the resource the relation points at."),
    ("to_kind", "Kind of the resource the relation points at."),
    ("to_id", "Id of the resource the relation points at."),
    ("schema_name", "Schema of the object: public (the SQL surface) or storage (raw tables)."),
    ("object_name", "Table, view or function name."),
    ("object_type", "table or function."),
    ("column_name", "The column described; NULL for the object itself."),
    ("arguments", "A function's arguments."),
    ("result", "What a function returns."),
];

fn schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("schema_name", false),
        text("object_name", false),
        text("object_type", false),
        text("column_name", true),
        text("arguments", true),
        text("result", true),
        text("description", true),
    ]))
}

/// One row of `descriptions`.
struct Row {
    schema_name: String,
    object_name: String,
    object_type: &'static str,
    column_name: Option<String>,
    arguments: Option<&'static str>,
    result: Option<&'static str>,
    description: Option<&'static str>,
}

/// Build `descriptions` from the tables registered in `context` (so a column added to a view
/// appears here at once, described or not) and the table functions.
pub(super) async fn table(context: &SessionContext) -> Result<MemTable> {
    let mut rows = Vec::new();
    let catalog = context
        .catalog(super::CATALOG)
        .ok_or_else(|| EngineError::Corrupt(format!("catalog {} missing", super::CATALOG)))?;
    for schema_name in [PUBLIC_SCHEMA, STORAGE_SCHEMA] {
        let Some(schema) = catalog.schema(schema_name) else {
            continue;
        };
        let mut names = schema.table_names();
        if schema_name == PUBLIC_SCHEMA && !names.iter().any(|name| name == DESCRIPTIONS_TABLE) {
            names.push(DESCRIPTIONS_TABLE.to_string());
        }
        names.sort();
        for name in names {
            let columns: Vec<String> = if name == DESCRIPTIONS_TABLE {
                self::schema()
                    .fields()
                    .iter()
                    .map(|field| field.name().clone())
                    .collect()
            } else {
                let table = schema
                    .table(&name)
                    .await
                    .map_err(|error| EngineError::query(format!("describing {name}"), error))?;
                let Some(table) = table else { continue };
                table
                    .schema()
                    .fields()
                    .iter()
                    .map(|field| field.name().clone())
                    .collect()
            };
            rows.push(Row {
                schema_name: schema_name.to_string(),
                object_name: name.clone(),
                object_type: "table",
                column_name: None,
                arguments: None,
                result: None,
                description: table_description(schema_name, &name),
            });
            for column in columns {
                rows.push(Row {
                    schema_name: schema_name.to_string(),
                    object_name: name.clone(),
                    object_type: "table",
                    description: column_description(&name, &column),
                    column_name: Some(column),
                    arguments: None,
                    result: None,
                });
            }
        }
    }
    for function in table_functions() {
        rows.push(Row {
            schema_name: PUBLIC_SCHEMA.to_string(),
            object_name: function.name.to_string(),
            object_type: "function",
            column_name: None,
            arguments: Some(function.arguments),
            result: Some(function.result),
            description: Some(function.description),
        });
    }
    let schema = schema();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|row| row.schema_name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|row| row.object_name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|row| row.object_type),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|row| row.column_name.as_deref()),
            )),
            Arc::new(StringArray::from_iter(rows.iter().map(|row| row.arguments))),
            Arc::new(StringArray::from_iter(rows.iter().map(|row| row.result))),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|row| row.description),
            )),
        ],
    )
    .map_err(|error| EngineError::query("building descriptions", error.into()))?;
    MemTable::try_new(schema, vec![vec![batch]])
        .map_err(|error| EngineError::query("building descriptions", error))
}

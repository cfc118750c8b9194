//! sqllogictest coverage of the SQL surface: every `tests/sql/*.slt` file runs against a fresh
//! store loaded with the same deterministic history (see [`load_fixture`]).
//!
//! Values are rendered as: `NULL` for nulls, `(empty)` for empty strings, timestamps in RFC 3339
//! UTC (`2026-01-01T00:00:00Z`), booleans `true`/`false`, lists `[a, b]`. Column types are
//! checked strictly: `T` text, `I` integer, `R` float/decimal, `B` boolean, `P` timestamp,
//! `D` date, `?` anything else.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Duration, Utc};
use groundtruth_engine::model::{Layer, Observation, ObservedResource, ScrapeRecord, ScrapeStatus};
use groundtruth_engine::session::Engine;
use groundtruth_engine::state::{ScrapeStamp, SourceState};
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use serde_json::{json, Value};
use sqllogictest::{ColumnType, DBOutput};

// ---------------------------------------------------------------------------------------------
// The database under test
// ---------------------------------------------------------------------------------------------

/// Column types as sqllogictest characters (the DataFusion convention).
#[derive(Debug, Clone, PartialEq, Eq)]
enum SqlType {
    Text,
    Integer,
    Float,
    Boolean,
    Timestamp,
    Date,
    Other,
}

impl ColumnType for SqlType {
    fn from_char(value: char) -> Option<Self> {
        Some(match value {
            'T' => Self::Text,
            'I' => Self::Integer,
            'R' => Self::Float,
            'B' => Self::Boolean,
            'P' => Self::Timestamp,
            'D' => Self::Date,
            _ => Self::Other,
        })
    }

    fn to_char(&self) -> char {
        match self {
            Self::Text => 'T',
            Self::Integer => 'I',
            Self::Float => 'R',
            Self::Boolean => 'B',
            Self::Timestamp => 'P',
            Self::Date => 'D',
            Self::Other => '?',
        }
    }
}

fn sql_type(data_type: &DataType) -> SqlType {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::Text,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => SqlType::Integer,
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => SqlType::Float,
        DataType::Boolean => SqlType::Boolean,
        DataType::Timestamp(_, _) => SqlType::Timestamp,
        DataType::Date32 | DataType::Date64 => SqlType::Date,
        DataType::Dictionary(_, value) => sql_type(value),
        _ => SqlType::Other,
    }
}

/// An error from planning or running a statement, as its message.
#[derive(Debug)]
struct SqlError(String);

impl std::fmt::Display for SqlError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for SqlError {}

fn error(error: impl std::fmt::Display) -> SqlError {
    SqlError(error.to_string())
}

/// One sqllogictest connection: the engine, exactly as the server and CLI use it.
struct GroundtruthDb {
    engine: Engine,
}

fn render(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, SqlError> {
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_display_error(true);
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(error)?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|formatter| {
                        let text = formatter.value(row).to_string();
                        if text.is_empty() {
                            "(empty)".to_string()
                        } else {
                            text
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for GroundtruthDb {
    type Error = SqlError;
    type ColumnType = SqlType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<SqlType>, SqlError> {
        let frames = self.engine.sql(sql).await.map_err(error)?;
        let mut output = DBOutput::StatementComplete(0);
        for frame in frames {
            let types: Vec<SqlType> = frame
                .schema()
                .fields()
                .iter()
                .map(|field| sql_type(field.data_type()))
                .collect();
            let batches = frame.collect().await.map_err(error)?;
            output = DBOutput::Rows {
                types,
                rows: render(&batches)?,
            };
        }
        Ok(output)
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "groundtruth"
    }

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The fixture history
// ---------------------------------------------------------------------------------------------
//
// Two sources, four scrape rounds an hour apart on 2026-01-01:
//
// tf (terraform_state, declared, interval 3600 s, the orders queue labelled with the live
// queue's ARN, provenance {"git": {"commit": "c<round>", ...}}):
//   00:00 tf-1 ok   added    aws_sqs_queue/orders, aws_sqs_queue/events, aws_lambda_function/resize
//   01:00 tf-2 ok   modified orders: visibility_timeout_seconds 30 -> 60
//   02:00 tf-3 ok   removed  events; modified resize: label team media -> imaging
//   03:00 tf-4 ok   added    aws_s3_bucket/assets (one warning)
//
// aws (aws, live, interval 1800 s, no provenance):
//   00:00 aws-1 ok     added    aws_instance/i-0abc, aws_sqs_queue/arn:aws:sqs:eu-west-1:123456789012:orders
//   01:00 aws-2 ok     modified i-0abc: instance_type t3.micro -> t3.small, monitoring false -> true
//   02:00 aws-3 failed nothing written; error text below
//   03:00 aws-4 ok     modified the queue: visibility_timeout_seconds 30 -> 45
//                      (change_window_start 01:00: the failed scrape proves nothing)
//
// db (postgres_catalog, live, interval 3600 s):
//   03:30 db-1 ok      added    postgres/index public.orders_customer_id_idx
//
// Every scrape finishes 10 s after it starts, the failed one after 2 s.

const AWS_ERROR: &str = "AccessDenied: User is not authorized to perform ec2:DescribeInstances";
const QUEUE_ARN: &str = "arn:aws:sqs:eu-west-1:123456789012:orders";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

struct SourceDef {
    name: &'static str,
    source_type: &'static str,
    interval_seconds: i64,
    state: SourceState,
}

struct Scrape<'a> {
    id: &'a str,
    started: &'a str,
    resources: Vec<ObservedResource>,
    warnings: Vec<String>,
    provenance: Option<String>,
}

async fn commit_scrape(store: &Store, source: &mut SourceDef, scrape: Scrape<'_>) {
    let started_at = at(scrape.started);
    let observation = Observation {
        resources: scrape.resources,
        coverage: groundtruth_engine::model::Coverage::Complete,
        warnings: scrape.warnings.clone(),
    };
    let stamp = ScrapeStamp {
        source: source.name,
        scrape_id: scrape.id,
        started_at,
        provenance: scrape.provenance.as_deref(),
    };
    let changes = source.state.plan(&stamp, &observation).unwrap();
    assert!(changes.warnings.is_empty(), "{:?}", changes.warnings);
    let record = ScrapeRecord {
        scrape_id: scrape.id.into(),
        source: source.name.into(),
        source_type: source.source_type.into(),
        started_at,
        finished_at: started_at + Duration::seconds(10),
        status: ScrapeStatus::Ok,
        resources_seen: observation.resources.len() as i64,
        versions_written: changes.rows.len() as i64,
        error: None,
        warnings: scrape.warnings,
        interval_seconds: Some(source.interval_seconds),
    };
    store.commit(&[record], &changes.rows).await.unwrap();
    source.state.apply(changes, started_at);
}

async fn commit_failure(store: &Store, source: &SourceDef, id: &str, started: &str, text: &str) {
    let started_at = at(started);
    let record = ScrapeRecord {
        scrape_id: id.into(),
        source: source.name.into(),
        source_type: source.source_type.into(),
        started_at,
        finished_at: started_at + Duration::seconds(2),
        status: ScrapeStatus::Failed,
        resources_seen: 0,
        versions_written: 0,
        error: Some(text.into()),
        warnings: vec![],
        interval_seconds: Some(source.interval_seconds),
    };
    store.commit(&[record], &[]).await.unwrap();
}

fn queue(id: &str, timeout: i64) -> ObservedResource {
    ObservedResource::new(
        "aws_sqs_queue",
        id,
        Layer::Declared,
        json!({
            "name": id,
            "visibility_timeout_seconds": timeout,
            "redrive_policy": {"max_receive_count": 5, "dead_letter_target": format!("{id}-dlq")},
        }),
    )
    .with_name(id)
    .with_label("env", "prod")
}

/// The declared orders queue, which names its live counterpart the way Terraform state does.
fn orders_queue(timeout: i64) -> ObservedResource {
    queue("orders", timeout)
        .with_label("live.kind", "aws_sqs_queue")
        .with_label("live.id", QUEUE_ARN)
}

fn lambda(team: &str) -> ObservedResource {
    ObservedResource::new(
        "aws_lambda_function",
        "resize",
        Layer::Declared,
        json!({
            "function_name": "resize",
            "memory_size": 128,
            "runtime": "python3.12",
            "environment": {"variables": {"STAGE": "prod"}},
            "layers": ["arn:aws:lambda:eu-west-1:123456789012:layer:pillow:3"],
        }),
    )
    .with_name("resize")
    .with_label("team", team)
}

fn bucket() -> ObservedResource {
    ObservedResource::new(
        "aws_s3_bucket",
        "assets",
        Layer::Declared,
        json!({"bucket": "assets", "versioning": {"enabled": true}, "force_destroy": false}),
    )
    .with_name("assets")
}

fn instance(instance_type: &str, monitoring: bool) -> ObservedResource {
    ObservedResource::new(
        "aws_instance",
        "i-0abc",
        Layer::Live,
        json!({"instance_type": instance_type, "monitoring": monitoring, "cpu_core_count": 2, "tags": {"Name": "web"}}),
    )
    .with_name("web")
    .with_label("Name", "web")
}

fn live_queue(timeout: i64) -> ObservedResource {
    ObservedResource::new(
        "aws_sqs_queue",
        QUEUE_ARN,
        Layer::Live,
        json!({"visibility_timeout_seconds": timeout, "fifo_queue": false}),
    )
    .with_name("orders")
}

fn provenance(round: u32) -> Option<String> {
    // The shape the runner records for declared files in git.
    Some(json!({"git": {"commit": format!("c{round}"), "path": "main.tf"}}).to_string())
}

/// Write the fixture history into `store`.
async fn load_fixture(store: &Store) {
    let mut tf = SourceDef {
        name: "tf",
        source_type: "terraform_state",
        interval_seconds: 3600,
        state: SourceState::default(),
    };
    let mut aws = SourceDef {
        name: "aws",
        source_type: "aws",
        interval_seconds: 1800,
        state: SourceState::default(),
    };
    let tf_scrape = |id, started, resources, round| Scrape {
        id,
        started,
        resources,
        warnings: vec![],
        provenance: provenance(round),
    };
    let aws_scrape = |id, started, resources| Scrape {
        id,
        started,
        resources,
        warnings: vec![],
        provenance: None,
    };

    // 00:00
    commit_scrape(
        store,
        &mut tf,
        tf_scrape(
            "tf-1",
            "2026-01-01T00:00:00Z",
            vec![orders_queue(30), queue("events", 30), lambda("media")],
            1,
        ),
    )
    .await;
    commit_scrape(
        store,
        &mut aws,
        aws_scrape(
            "aws-1",
            "2026-01-01T00:00:00Z",
            vec![instance("t3.micro", false), live_queue(30)],
        ),
    )
    .await;
    // 01:00
    commit_scrape(
        store,
        &mut tf,
        tf_scrape(
            "tf-2",
            "2026-01-01T01:00:00Z",
            vec![orders_queue(60), queue("events", 30), lambda("media")],
            2,
        ),
    )
    .await;
    commit_scrape(
        store,
        &mut aws,
        aws_scrape(
            "aws-2",
            "2026-01-01T01:00:00Z",
            vec![instance("t3.small", true), live_queue(30)],
        ),
    )
    .await;
    // 02:00
    commit_scrape(
        store,
        &mut tf,
        tf_scrape(
            "tf-3",
            "2026-01-01T02:00:00Z",
            vec![orders_queue(60), lambda("imaging")],
            3,
        ),
    )
    .await;
    commit_failure(store, &aws, "aws-3", "2026-01-01T02:00:00Z", AWS_ERROR).await;
    // 03:00
    let mut last = tf_scrape(
        "tf-4",
        "2026-01-01T03:00:00Z",
        vec![orders_queue(60), lambda("imaging"), bucket()],
        4,
    );
    last.warnings =
        vec!["ignored unsupported attribute lifecycle_rule on aws_s3_bucket.assets".into()];
    commit_scrape(store, &mut tf, last).await;
    commit_scrape(
        store,
        &mut aws,
        aws_scrape(
            "aws-4",
            "2026-01-01T03:00:00Z",
            vec![instance("t3.small", true), live_queue(45)],
        ),
    )
    .await;
    // 03:30: the database catalog, scraped once, after everything above.
    let mut db = SourceDef {
        name: "db",
        source_type: "postgres_catalog",
        interval_seconds: 3600,
        state: SourceState::default(),
    };
    commit_scrape(
        store,
        &mut db,
        Scrape {
            id: "db-1",
            started: "2026-01-01T03:30:00Z",
            resources: vec![postgres_index()],
            warnings: vec![],
            provenance: None,
        },
    )
    .await;
}

fn postgres_index() -> ObservedResource {
    ObservedResource::new(
        "postgres/index",
        "public.orders_customer_id_idx",
        Layer::Live,
        json!({
            "table": "public.orders",
            "columns": ["customer_id"],
            "unique": false,
            "definition": "CREATE INDEX orders_customer_id_idx ON public.orders USING btree (customer_id)",
        }),
    )
    .with_name("orders_customer_id_idx")
}

/// The extended history (files with `# fixture: extended`), after the shared one:
///
/// * `cloud` (live AWS), 04:00: functions billing and reports (billing assumes role billing),
///   mapping m-1 from the shared orders queue (source `aws`) to billing by ARN, instance
///   i-web in security group sg-1; 05:00: mapping m-2 from the orders queue to reports by
///   name; 06:00: m-1 deleted, i-web moved to sg-2.
/// * `cluster` (live Kubernetes), 04:00: Service shop/web selecting app=web (Deployment
///   shop/web matches, shop/api does not), Ingress shop/web routing to it, shop/web mounting
///   ConfigMap shop/web-config.
/// * `schema` (live PostgreSQL), 04:00: orders references customers by a foreign key; index
///   usage: orders_pkey scanned 5 times and growing in size at 05:00, orders_customer_idx
///   scanned 2 times, then 9 at 05:00.
/// * `flags` (declared flagd), 04:00: new_checkout on and dark_mode off; 05:00:
///   new_checkout's targeting changes (same variant), dark_mode turns on.
/// * `manifests` (declared Kubernetes), 04:00: shop/web at version 1 with 2 replicas;
///   05:00: version 2.
/// * `hcl` (declared Terraform), 04:00: a mapping referring to a queue and a function by
///   address, with `depends_on` on a role.
async fn load_extended_fixture(store: &Store) {
    let arn = |kind: &str, name: &str| format!("arn:aws:{kind}:eu-west-1:123456789012:{name}");
    let function = |name: &str| {
        ObservedResource::new(
            "aws_lambda_function",
            arn("lambda", &format!("function:{name}")),
            Layer::Live,
            json!({"function_name": name, "role": format!("arn:aws:iam::123456789012:role/{name}")}),
        )
        .with_name(name)
    };
    let role = ObservedResource::new(
        "aws_iam_role",
        "arn:aws:iam::123456789012:role/billing",
        Layer::Live,
        json!({"name": "billing"}),
    )
    .with_name("billing");
    let mapping = |id: &str, attrs: Value| {
        ObservedResource::new("aws_lambda_event_source_mapping", id, Layer::Live, attrs)
    };
    let by_arn = |id: &str, name: &str| {
        let function_arn = arn("lambda", &format!("function:{name}"));
        mapping(
            id,
            json!({"event_source_arn": QUEUE_ARN, "function_arn": function_arn}),
        )
    };
    let by_name = |id: &str, name: &str| {
        mapping(
            id,
            json!({"event_source_arn": QUEUE_ARN, "function_name": name}),
        )
    };
    let group = |id: &str| {
        ObservedResource::new(
            "aws_security_group",
            arn("ec2", &format!("security-group/{id}")),
            Layer::Live,
            json!({"id": id}),
        )
        .with_name(id)
    };
    let server = |group: &str| {
        ObservedResource::new(
            "aws_instance",
            arn("ec2", "instance/i-web"),
            Layer::Live,
            json!({"instance_type": "t3.small", "vpc_security_group_ids": [group]}),
        )
        .with_name("i-web")
    };
    let cloud_at = |mappings: Vec<ObservedResource>, instance_group: &str| {
        let mut resources = vec![
            function("billing"),
            function("reports"),
            role.clone(),
            group("sg-1"),
            group("sg-2"),
            server(instance_group),
        ];
        resources.extend(mappings);
        resources
    };
    let mut cloud = SourceDef {
        name: "cloud",
        source_type: "aws",
        interval_seconds: 3600,
        state: SourceState::default(),
    };
    for (id, started, resources) in [
        (
            "cloud-1",
            "2026-01-01T04:00:00Z",
            cloud_at(vec![by_arn("m-1", "billing")], "sg-1"),
        ),
        (
            "cloud-2",
            "2026-01-01T05:00:00Z",
            cloud_at(
                vec![by_arn("m-1", "billing"), by_name("m-2", "reports")],
                "sg-1",
            ),
        ),
        (
            "cloud-3",
            "2026-01-01T06:00:00Z",
            cloud_at(vec![by_name("m-2", "reports")], "sg-2"),
        ),
    ] {
        let scrape = Scrape {
            id,
            started,
            resources,
            warnings: vec![],
            provenance: None,
        };
        commit_scrape(store, &mut cloud, scrape).await;
    }

    let k8s = |kind: &str, id: &str, attrs: Value| {
        ObservedResource::new(format!("k8s/{kind}"), id, Layer::Live, attrs)
    };
    let deployment = |name: &str| {
        k8s(
            "apps/Deployment",
            &format!("shop/{name}"),
            json!({"spec": {"template": {
                "metadata": {"labels": {"app": name, "version": "2"}},
                "spec": {"volumes": [{"name": "config", "configMap": {"name": format!("{name}-config")}}]}
            }}}),
        )
    };
    let cluster_resources = vec![
        k8s(
            "core/Service",
            "shop/web",
            json!({"spec": {"selector": {"app": "web"}}}),
        ),
        deployment("web"),
        deployment("api"),
        k8s(
            "core/ConfigMap",
            "shop/web-config",
            json!({"data": {"mode": "prod"}}),
        ),
        k8s(
            "networking.k8s.io/Ingress",
            "shop/web",
            json!({"spec": {"rules": [{"http": {"paths": [
                {"path": "/", "backend": {"service": {"name": "web"}}}]}}]}}),
        ),
    ];
    let usage = |name: &str, scans: i64, size: i64| {
        ObservedResource::new(
            "postgres/index_usage",
            format!("public.{name}"),
            Layer::Live,
            json!({"table": "public.orders", "idx_scan": scans, "size_bytes": size}),
        )
    };
    let schema_at = |pkey_size: i64, customer_scans: i64| {
        vec![
            ObservedResource::new("postgres/table", "public.orders", Layer::Live, json!({})),
            ObservedResource::new("postgres/table", "public.customers", Layer::Live, json!({})),
            ObservedResource::new(
                "postgres/constraint",
                "public.orders.orders_customer_fk",
                Layer::Live,
                json!({"table": "public.orders", "type": "foreign_key",
                       "references": {"table": "public.customers", "columns": ["id"]}}),
            ),
            usage("orders_pkey", 5, pkey_size),
            usage("orders_customer_idx", customer_scans, 8192),
        ]
    };
    let flag = |name: &str, variant: &str, targeting: Value| {
        ObservedResource::new(
            "flagd/flag",
            name,
            Layer::Declared,
            json!({"state": "ENABLED", "defaultVariant": variant,
                   "variants": {"on": true, "off": false}, "targeting": targeting}),
        )
    };
    let flags_at = |dark_mode: &str, targeting: Value| {
        vec![
            flag("new_checkout", "on", targeting),
            flag("dark_mode", dark_mode, Value::Null),
        ]
    };
    let mut schema = SourceDef {
        name: "schema",
        source_type: "postgres_catalog",
        interval_seconds: 3600,
        state: SourceState::default(),
    };
    let mut flags = SourceDef {
        name: "flags",
        source_type: "flagd",
        interval_seconds: 3600,
        state: SourceState::default(),
    };
    let beta = json!({"if": [{"in": ["@example.com", {"var": "email"}]}, "on", "off"]});
    for (round, started, schema_resources, flag_resources) in [
        (
            1,
            "2026-01-01T04:00:00Z",
            schema_at(16384, 2),
            flags_at("off", Value::Null),
        ),
        (
            2,
            "2026-01-01T05:00:00Z",
            schema_at(24576, 9),
            flags_at("on", beta.clone()),
        ),
    ] {
        for (source, resources) in [
            (&mut schema, schema_resources),
            (&mut flags, flag_resources),
        ] {
            let id = format!("{}-{round}", source.name);
            let scrape = Scrape {
                id: &id,
                started,
                resources,
                warnings: vec![],
                provenance: None,
            };
            commit_scrape(store, source, scrape).await;
        }
    }
    let declared = |kind: &str, name: &str, attrs: Value| {
        ObservedResource::new(kind, format!("{kind}.{name}"), Layer::Declared, attrs)
    };
    let hcl_resources = vec![
        declared("aws_sqs_queue", "jobs", json!({"name": "jobs"})),
        declared(
            "aws_lambda_function",
            "worker",
            json!({"function_name": "worker"}),
        ),
        declared("aws_iam_role", "worker", json!({"name": "worker"})),
        declared(
            "aws_lambda_event_source_mapping",
            "jobs",
            json!({"event_source_arn": "${aws_sqs_queue.jobs.arn}",
                   "function_name": "aws_lambda_function.worker.function_name",
                   "depends_on": ["aws_iam_role.worker"]}),
        ),
    ];
    // Declared manifests for shop/web: 04:00 states version 1 and 2 replicas (the cluster
    // runs version 2 and reports no replicas); 05:00 states version 2.
    let mut manifests = SourceDef {
        name: "manifests",
        source_type: "kubernetes_manifests",
        interval_seconds: 3600,
        state: SourceState::default(),
    };
    for (round, started, version) in [
        (1, "2026-01-01T04:00:00Z", "1"),
        (2, "2026-01-01T05:00:00Z", "2"),
    ] {
        let declared_web = ObservedResource::new(
            "k8s/apps/Deployment",
            "shop/web",
            Layer::Declared,
            json!({"spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web", "version": version}}}}}),
        );
        let id = format!("manifests-{round}");
        let scrape = Scrape {
            id: &id,
            started,
            resources: vec![declared_web],
            warnings: vec![],
            provenance: None,
        };
        commit_scrape(store, &mut manifests, scrape).await;
    }
    for (name, source_type, resources) in [
        ("cluster", "kubernetes_api", cluster_resources),
        ("hcl", "terraform_hcl", hcl_resources),
    ] {
        let mut source = SourceDef {
            name,
            source_type,
            interval_seconds: 3600,
            state: SourceState::default(),
        };
        let id = format!("{name}-1");
        let scrape = Scrape {
            id: &id,
            started: "2026-01-01T04:00:00Z",
            resources,
            warnings: vec![],
            provenance: None,
        };
        commit_scrape(store, &mut source, scrape).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

/// Every `.slt` file under tests/sql, subdirectories included (`queries/` has one per named
/// query).
fn slt_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("sql")];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory)
            .unwrap_or_else(|error| panic!("reading {}: {error}", directory.display()))
        {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "slt") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_named_query_has_a_sqllogictest_file() {
    let library = groundtruth_queries::Library::load().unwrap();
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/queries");
    for query in library.queries() {
        let file = directory.join(format!("{}.slt", query.name));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|_| panic!("{} is missing", file.display()));
        assert!(
            text.contains(&format!("named_query('{}'", query.name)),
            "{} does not run the query",
            file.display()
        );
    }
}

async fn run_file(path: &Path) -> Result<(), String> {
    let directory = tempfile::tempdir().map_err(|error| error.to_string())?;
    let url = StoreUrl::parse(directory.path().to_str().unwrap()).map_err(|e| e.to_string())?;
    let store = Arc::new(
        Store::open(&url, &StoreOptions::default())
            .await
            .map_err(|error| error.to_string())?,
    );
    load_fixture(&store).await;
    // Files that test relations ask for a second history on top of the shared one, so the
    // other files' expectations do not depend on it.
    let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
    if text
        .lines()
        .any(|line| line.trim() == "# fixture: extended")
    {
        load_extended_fixture(&store).await;
    }
    let library = groundtruth_queries::Library::load().map_err(|error| error.to_string())?;
    let engine = match Engine::open(Arc::clone(&store)).await {
        Ok(engine) => engine.with_named_queries(Arc::new(library)).await,
        Err(error) => Err(error),
    }
    .map_err(|error| error.to_string())?;

    let mut runner = sqllogictest::Runner::new(move || {
        let engine = engine.clone();
        async move { Ok::<_, SqlError>(GroundtruthDb { engine }) }
    });
    runner.with_column_validator(sqllogictest::strict_column_validator);
    // `GROUNDTRUTH_SLT_COMPLETE=1 cargo test -p groundtruth-tests --test integration sql::`
    // rewrites the expected results in place (review them with git diff before committing).
    if std::env::var_os("GROUNDTRUTH_SLT_COMPLETE").is_some() {
        return runner
            .update_test_file(
                path,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::strict_column_validator,
            )
            .await
            .map_err(|error| error.to_string());
    }
    runner
        .run_file_async(path)
        .await
        .map_err(|error| error.display(false).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_logic_tests() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files under tests/sql");
    let mut failures = Vec::new();
    for file in &files {
        let name = file
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("sql"))
            .unwrap_or(file)
            .display()
            .to_string();
        match run_file(file).await {
            Ok(()) => eprintln!("ok   {name}"),
            Err(message) => {
                eprintln!("FAIL {name}");
                failures.push(format!("{name}:\n{message}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} sqllogictest files failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

//! The `postgres_catalog` source: the schema a running PostgreSQL database has, read from its
//! system catalogs, as the live layer.
//!
//! It connects with tokio-postgres (no TLS: use it on a trusted network, a unix socket or an
//! SSH/stunnel tunnel; PostgreSQL 12 or later, any role that can read the catalogs), opens one read-only REPEATABLE READ transaction so every query sees
//! the same catalog snapshot, and reads schemas, tables, columns, indexes, constraints (with
//! foreign keys), views and materialized views, sequences, extensions, enum and composite
//! types and domains. Identity and attributes are exactly those of the declared
//! `sql_migrations` source ([`crate::identity::postgres`]): kinds `postgres/schema|table|
//! column|index|constraint|view|sequence|extension|type|domain`, ids `public`,
//! `public.orders`, `public.orders.id`, `public.orders_pkey`,
//! `public.orders.orders_customer_id_fkey`, `public.open_orders`, `public.orders_id_seq`,
//! `pgcrypto`, `public.mood`, `public.year`, and the `builtin` label on the `public` schema and the
//! `plpgsql` extension, so drift compares the two layers attribute by attribute. The live
//! side adds attributes the declared side cannot know: indexes `valid`, `ready` and
//! `definition` (`pg_get_indexdef`); constraints `definition` (`pg_get_constraintdef`) and
//! `validated`; domains `definitions` (`pg_get_constraintdef` of each CHECK); sequences `start`, `increment`, `min_value`, `max_value`, `cache`, `cycle`.
//! Texts PostgreSQL deparses (CHECK expressions, index predicates and expressions, view
//! definitions, generated-column expressions) are in PostgreSQL's own spelling
//! (`(total >= (0)::numeric)`), which can differ from the migration's text.
//!
//! Usage counters are kept out of those resources, so that a growing counter is not a
//! configuration change: every table also gets a `postgres/table_usage` resource and every
//! index a `postgres/index_usage` resource, with the same id as the table or index
//! (`n_live_tup`, `seq_scan`, `idx_scan`, `size_bytes`, `total_bytes`).
//!
//! The password comes from an environment variable or a file, is never part of a resource,
//! and is removed from every error message; a connection string that contains one is
//! refused. The connection attempt (TCP connect, startup and authentication) is bounded by
//! `connect_timeout`, and every catalog query by `statement_timeout` (set on the server with
//! `SET LOCAL statement_timeout`, so a query stuck behind a DDL lock is cancelled, and enforced
//! on the client too, against a server that stops answering). A failed connection or query fails the scrape; the error names the target as
//! `postgres://user@host:port/dbname`. Schemas dropped by the include/exclude filters are
//! simply not reported; duplicate (kind, id) pairs (impossible in a consistent catalog) keep
//! the first and become warnings.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use serde_json::json;
use tokio_postgres::config::Host;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row};

use crate::error::{IngestError, Result};
use crate::identity::postgres;
use crate::source::{ScrapeContext, Source};

/// Kind of the usage counters of a table; the id is the table's id.
pub const TABLE_USAGE: &str = "postgres/table_usage";
/// Kind of the usage counters of an index; the id is the index's id.
pub const INDEX_USAGE: &str = "postgres/index_usage";

/// Default bound on connecting and authenticating.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on each catalog query.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Schemas that are PostgreSQL's own, never reported (besides every `pg_*` schema:
/// `pg_catalog`, `pg_toast`, `pg_temp_N`, `pg_toast_temp_N`; users cannot create `pg_*`).
const SYSTEM_SCHEMAS: &[&str] = &["information_schema"];

/// Where the password comes from; it is read at every scrape, so a rotated secret is
/// picked up without a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// No password (trust, peer or certificate authentication).
    None,
    /// The value of an environment variable.
    Env(String),
    /// The contents of a file, without the trailing newline.
    File(PathBuf),
}

/// Settings of the `postgres_catalog` source.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PostgresCatalogConfig {
    /// `host=... port=... user=... dbname=...` or a `postgres://user@host/db` URL, without
    /// password. No TLS.
    pub connection: String,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (trailing newline ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Only these schemas (default: all but PostgreSQL's own).
    #[serde(default)]
    pub include_schemas: Vec<String>,
    /// Never these schemas.
    #[serde(default)]
    pub exclude_schemas: Vec<String>,
    /// Bound on connecting and authenticating (default 10s).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub connect_timeout: Option<Duration>,
    /// Bound on each catalog query (default 30s).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub statement_timeout: Option<Duration>,
}

impl PostgresCatalogConfig {
    /// Refuse settings that cannot both apply.
    pub fn validate(&self, source_name: &str) -> Result<()> {
        if self.password_env.is_some() && self.password_file.is_some() {
            return Err(IngestError::Config(format!(
                "source '{source_name}': set password_env or password_file, not both"
            )));
        }
        Ok(())
    }

    /// The source this configures (`password_env` wins if both are set; `validate` refuses
    /// that).
    pub fn source(&self, name: impl Into<String>) -> PostgresCatalogSource {
        let password = match (&self.password_env, &self.password_file) {
            (Some(variable), _) => PasswordSource::Env(variable.clone()),
            (None, Some(path)) => PasswordSource::File(path.clone()),
            (None, None) => PasswordSource::None,
        };
        PostgresCatalogSource::new(name.into(), self.connection.clone(), password)
            .with_schemas(self.include_schemas.clone(), self.exclude_schemas.clone())
            .with_timeouts(
                self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
                self.statement_timeout.unwrap_or(DEFAULT_STATEMENT_TIMEOUT),
            )
    }
}

/// Reads the catalog of one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresCatalogSource {
    name: String,
    connection: String,
    password: PasswordSource,
    include_schemas: Vec<String>,
    exclude_schemas: Vec<String>,
    connect_timeout: Duration,
    statement_timeout: Duration,
}

impl PostgresCatalogSource {
    /// A source called `name` connecting with `connection` (`host=... port=... user=...
    /// dbname=...` or a `postgres://` URL, without password), authenticating with `password`.
    pub fn new(
        name: impl Into<String>,
        connection: impl Into<String>,
        password: PasswordSource,
    ) -> Self {
        Self {
            name: name.into(),
            connection: connection.into(),
            password,
            include_schemas: Vec::new(),
            exclude_schemas: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }

    /// Report only the `include` schemas (all when empty), and never the `exclude` ones.
    pub fn with_schemas(mut self, include: Vec<String>, exclude: Vec<String>) -> Self {
        self.include_schemas = include;
        self.exclude_schemas = exclude;
        self
    }

    /// Bound connecting (`connect`) and each catalog query (`statement`).
    pub fn with_timeouts(mut self, connect: Duration, statement: Duration) -> Self {
        self.connect_timeout = connect;
        self.statement_timeout = statement;
        self
    }

    fn schema_selected(&self, schema: &str) -> bool {
        if schema.starts_with("pg_") || SYSTEM_SCHEMAS.contains(&schema) {
            return false;
        }
        if !self.include_schemas.is_empty() && !self.include_schemas.iter().any(|s| s == schema) {
            return false;
        }
        !self.exclude_schemas.iter().any(|s| s == schema)
    }

    /// The connection settings, refusing a password in the connection string.
    fn config(&self) -> Result<Config> {
        let config = Config::from_str(&self.connection).map_err(|error| {
            IngestError::Config(format!(
                "source '{}': invalid PostgreSQL connection string: {error}",
                self.name
            ))
        })?;
        if config.get_password().is_some() {
            return Err(IngestError::Config(format!(
                "source '{}': the connection string must not contain a password; use \
                 password_env or password_file",
                self.name
            )));
        }
        Ok(config)
    }

    fn password(&self, target: &Path) -> Result<Option<String>> {
        match &self.password {
            PasswordSource::None => Ok(None),
            PasswordSource::Env(variable) => match std::env::var(variable) {
                Ok(value) => Ok(Some(value)),
                Err(std::env::VarError::NotPresent) => Err(IngestError::Invalid {
                    path: target.to_path_buf(),
                    message: format!("password environment variable {variable} is not set"),
                }),
                Err(std::env::VarError::NotUnicode(_)) => Err(IngestError::Invalid {
                    path: target.to_path_buf(),
                    message: format!("password environment variable {variable} is not UTF-8"),
                }),
            },
            PasswordSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| IngestError::Read {
                    path: path.clone(),
                    source,
                })?;
                Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
            }
        }
    }
}

/// `postgres://user@host:port/dbname`: names the database in errors, without the password.
fn target(config: &Config) -> PathBuf {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let database = config.get_dbname().unwrap_or(user);
    PathBuf::from(format!("postgres://{user}@{host}:{port}/{database}"))
}

/// An error's message with its causes, the password cut out of it.
fn describe(error: &tokio_postgres::Error, password: Option<&str>) -> String {
    let mut text = match error.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => {
            let mut text = error.to_string();
            let mut cause = std::error::Error::source(error);
            while let Some(inner) = cause {
                let inner_text = inner.to_string();
                if !text.contains(&inner_text) {
                    text = format!("{text}: {inner_text}");
                }
                cause = inner.source();
            }
            text
        }
    };
    if let Some(password) = password.filter(|password| !password.is_empty()) {
        text = text.replace(password, "<redacted>");
    }
    text
}

/// A scrape in progress: the client and what errors need.
struct Session<'a> {
    client: Client,
    target: PathBuf,
    password: Option<&'a str>,
    statement_timeout: Duration,
}

impl Session<'_> {
    fn failure(&self, what: &str, error: &tokio_postgres::Error) -> IngestError {
        IngestError::Invalid {
            path: self.target.clone(),
            message: format!("{what}: {}", describe(error, self.password)),
        }
    }

    /// Run `future` within the statement timeout (plus a margin for the server to answer
    /// with its own timeout error, which says more).
    async fn bounded<T>(
        &self,
        what: &str,
        future: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        let limit = self.statement_timeout + Duration::from_secs(2);
        match tokio::time::timeout(limit, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.failure(what, &error)),
            Err(_) => Err(IngestError::Invalid {
                path: self.target.clone(),
                message: format!("{what}: no answer within {} s", limit.as_secs()),
            }),
        }
    }

    async fn query(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        self.bounded(what, self.client.query(sql, params)).await
    }

    async fn execute(&self, what: &str, sql: &str) -> Result<()> {
        self.bounded(what, self.client.batch_execute(sql)).await
    }
}

/// Read a column, turning a type mismatch (a catalog that is not what this source expects)
/// into an error instead of a panic.
fn get<'r, T: tokio_postgres::types::FromSql<'r>>(
    row: &'r Row,
    index: usize,
    target: &Path,
    what: &str,
) -> Result<T> {
    row.try_get(index).map_err(|error| IngestError::Invalid {
        path: target.to_path_buf(),
        message: format!("unexpected {what} catalog row: {error}"),
    })
}

fn referential_action(code: i8) -> &'static str {
    match code as u8 {
        b'r' => "restrict",
        b'c' => "cascade",
        b'n' => "set null",
        b'd' => "set default",
        _ => "no action",
    }
}

fn constraint_type(code: i8) -> &'static str {
    match code as u8 {
        b'p' => "primary_key",
        b'u' => "unique",
        b'f' => "foreign_key",
        b'c' => "check",
        _ => "exclusion",
    }
}

const SCHEMAS: &str = "SELECT nspname::text FROM pg_namespace ORDER BY 1";

const TABLES: &str = "
SELECT n.nspname::text, c.relname::text,
       coalesce(s.n_live_tup, 0), coalesce(s.seq_scan, 0), coalesce(s.idx_scan, 0),
       pg_table_size(c.oid), pg_total_relation_size(c.oid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p') AND n.nspname::text = ANY($1)";

const COLUMNS: &str = "
SELECT n.nspname::text, c.relname::text, a.attname::text,
       format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attnum::int4,
       a.attidentity::text, a.attgenerated::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
  AND n.nspname::text = ANY($1)";

const CONSTRAINTS: &str = "
SELECT n.nspname::text, t.relname::text, con.conname::text, con.contype::\"char\",
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       rn.nspname::text || '.' || r.relname::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       con.confdeltype::\"char\", con.confupdtype::\"char\",
       CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid) END,
       pg_get_constraintdef(con.oid, true), con.convalidated
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class r ON r.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE con.contype IN ('p', 'u', 'f', 'c', 'x') AND n.nspname::text = ANY($1)";

const INDEXES: &str = "
SELECT n.nspname::text, ic.relname::text, t.relname::text, i.indisunique,
       ARRAY(SELECT CASE WHEN k.attnum = 0
                         THEN pg_get_indexdef(i.indexrelid, k.ord::int4, true)
                         ELSE a.attname::text END
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.ord <= i.indnkeyatts ORDER BY k.ord),
       ARRAY(SELECT k.attnum = 0
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             WHERE k.ord <= i.indnkeyatts ORDER BY k.ord),
       pg_get_expr(i.indpred, i.indrelid), am.amname::text,
       i.indisvalid, i.indisready, pg_get_indexdef(i.indexrelid),
       coalesce(s.idx_scan, 0), pg_relation_size(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
WHERE n.nspname::text = ANY($1)";

const VIEWS: &str = "
SELECT n.nspname::text, c.relname::text, pg_get_viewdef(c.oid, true), c.relkind = 'm'
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND n.nspname::text = ANY($1)";

/// `owned_by` follows the dependency `ALTER SEQUENCE OWNED BY`, serial ('a') and identity
/// ('i') columns record.
const SEQUENCES: &str = "
SELECT n.nspname::text, c.relname::text, format_type(s.seqtypid, NULL),
       (SELECT tn.nspname::text || '.' || t.relname::text || '.' || a.attname::text
        FROM pg_depend d
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_namespace tn ON tn.oid = t.relnamespace
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
          AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        ORDER BY 1 LIMIT 1),
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname::text = ANY($1)";

/// Enum and stand-alone composite types. Implicit types are left out: a table's, view's or
/// sequence's row type (its pg_class entry is not a composite, relkind 'c'), array types
/// (typtype 'b'), and types an extension owns.
const TYPES: &str = "
SELECT n.nspname::text, t.typname::text, t.typtype::text,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e
             WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder),
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum),
       ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE (t.typtype = 'e' OR (t.typtype = 'c' AND c.relkind = 'c'))
  AND n.nspname::text = ANY($1)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')";

/// Domains with their CHECK constraints in name order (the order PostgreSQL checks them),
/// each as `pg_get_constraintdef` prints it and as its bare expression.
const DOMAINS: &str = "
SELECT n.nspname::text, t.typname::text, format_type(t.typbasetype, t.typtypmod),
       t.typnotnull, t.typdefault,
       ARRAY(SELECT con.conname::text FROM pg_constraint con
             WHERE con.contypid = t.oid AND con.contype = 'c' ORDER BY con.conname),
       ARRAY(SELECT pg_get_constraintdef(con.oid, true) FROM pg_constraint con
             WHERE con.contypid = t.oid AND con.contype = 'c' ORDER BY con.conname)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'd' AND n.nspname::text = ANY($1)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')";

/// The expression of a `CHECK (expr) [NOT VALID]` definition.
fn check_expression(definition: &str) -> String {
    let trimmed = definition.trim();
    let trimmed = trimmed
        .strip_suffix("NOT VALID")
        .unwrap_or(trimmed)
        .trim_end();
    trimmed
        .strip_prefix("CHECK (")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(trimmed)
        .to_string()
}

const EXTENSIONS: &str = "
SELECT e.extname::text, n.nspname::text, e.extversion
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace";

impl PostgresCatalogSource {
    async fn connect<'p>(&self, config: &Config, password: Option<&'p str>) -> Result<Session<'p>> {
        let target = target(config);
        let mut config = config.clone();
        if let Some(password) = password {
            config.password(password);
        }
        config.connect_timeout(self.connect_timeout);
        config.application_name("groundtruth");
        // tokio-postgres's own connect_timeout covers the TCP connect only; a server that
        // accepts and then never answers must also fail in bounded time.
        let connected = tokio::time::timeout(self.connect_timeout, config.connect(NoTls)).await;
        let (client, connection) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(error)) => {
                return Err(IngestError::Invalid {
                    path: target,
                    message: format!("cannot connect: {}", describe(&error, password)),
                })
            }
            Err(_) => {
                return Err(IngestError::Invalid {
                    path: target,
                    message: format!(
                        "cannot connect: no answer within {} s",
                        self.connect_timeout.as_secs_f64()
                    ),
                })
            }
        };
        // The connection task ends when the client is dropped; its errors surface through
        // the client's queries.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Session {
            client,
            target,
            password,
            statement_timeout: self.statement_timeout,
        })
    }

    async fn read_catalog(
        &self,
        session: &Session<'_>,
        context: &ScrapeContext,
    ) -> Result<Observation> {
        let target = &session.target;
        let cancelled = || -> Result<()> {
            if context.cancel.is_cancelled() {
                Err(IngestError::Cancelled {
                    source_name: self.name.clone(),
                })
            } else {
                Ok(())
            }
        };
        session
            .execute(
                "starting a read-only transaction",
                // SET LOCAL rather than a startup option: connection poolers such as
                // PgBouncer refuse unknown startup parameters but pass transactions through.
                &format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                     SET LOCAL statement_timeout = {}",
                    self.statement_timeout.as_millis().max(1)
                ),
            )
            .await?;
        let mut resources = Vec::new();

        let mut schemas: Vec<String> = Vec::new();
        for row in session.query("reading schemas", SCHEMAS, &[]).await? {
            let schema: String = get(&row, 0, target, "schema")?;
            if self.schema_selected(&schema) {
                schemas.push(schema);
            }
        }
        for schema in &schemas {
            let mut resource =
                ObservedResource::new(postgres::SCHEMA, schema.clone(), Layer::Live, json!({}))
                    .with_name(schema.clone());
            if schema == "public" {
                resource = resource.with_label("builtin", "true");
            }
            resources.push(resource);
        }
        let params: [&(dyn ToSql + Sync); 1] = [&schemas];
        cancelled()?;

        for row in session.query("reading tables", TABLES, &params).await? {
            let schema: String = get(&row, 0, target, "table")?;
            let name: String = get(&row, 1, target, "table")?;
            let id = format!("{schema}.{name}");
            resources.push(
                ObservedResource::new(
                    TABLE_USAGE,
                    id.clone(),
                    Layer::Live,
                    json!({
                        "n_live_tup": get::<i64>(&row, 2, target, "table")?,
                        "seq_scan": get::<i64>(&row, 3, target, "table")?,
                        "idx_scan": get::<i64>(&row, 4, target, "table")?,
                        "size_bytes": get::<i64>(&row, 5, target, "table")?,
                        "total_bytes": get::<i64>(&row, 6, target, "table")?,
                    }),
                )
                .with_name(name.clone()),
            );
            resources.push(
                ObservedResource::new(
                    postgres::TABLE,
                    id,
                    Layer::Live,
                    json!({ "schema": schema }),
                )
                .with_name(name),
            );
        }
        cancelled()?;

        for row in session.query("reading columns", COLUMNS, &params).await? {
            let schema: String = get(&row, 0, target, "column")?;
            let table: String = get(&row, 1, target, "column")?;
            let name: String = get(&row, 2, target, "column")?;
            let default: Option<String> = get(&row, 5, target, "column")?;
            let identity: String = get(&row, 7, target, "column")?;
            let generated: String = get(&row, 8, target, "column")?;
            let mut attrs = json!({
                "table": format!("{schema}.{table}"),
                "type": get::<String>(&row, 3, target, "column")?,
                "not_null": get::<bool>(&row, 4, target, "column")?,
                "default": if generated.is_empty() { default.clone() } else { None },
                "position": get::<i32>(&row, 6, target, "column")?,
            });
            match identity.as_str() {
                "a" => attrs["identity"] = json!("always"),
                "d" => attrs["identity"] = json!("by default"),
                _ => {}
            }
            if !generated.is_empty() {
                attrs["generated"] = json!(default);
            }
            resources.push(
                ObservedResource::new(
                    postgres::COLUMN,
                    format!("{schema}.{table}.{name}"),
                    Layer::Live,
                    attrs,
                )
                .with_name(name),
            );
        }
        cancelled()?;

        for row in session
            .query("reading constraints", CONSTRAINTS, &params)
            .await?
        {
            let schema: String = get(&row, 0, target, "constraint")?;
            let table: String = get(&row, 1, target, "constraint")?;
            let name: String = get(&row, 2, target, "constraint")?;
            let code: i8 = get(&row, 3, target, "constraint")?;
            let mut attrs = json!({
                "table": format!("{schema}.{table}"),
                "type": constraint_type(code),
                "columns": get::<Vec<String>>(&row, 4, target, "constraint")?,
                "definition": get::<String>(&row, 10, target, "constraint")?,
                "validated": get::<bool>(&row, 11, target, "constraint")?,
            });
            if code as u8 == b'f' {
                attrs["references"] = json!({
                    "table": get::<Option<String>>(&row, 5, target, "constraint")?,
                    "columns": get::<Vec<String>>(&row, 6, target, "constraint")?,
                    "on_delete": referential_action(get(&row, 7, target, "constraint")?),
                    "on_update": referential_action(get(&row, 8, target, "constraint")?),
                });
            }
            if let Some(check) = get::<Option<String>>(&row, 9, target, "constraint")? {
                attrs["check"] = json!(check);
            }
            resources.push(
                ObservedResource::new(
                    postgres::CONSTRAINT,
                    format!("{schema}.{table}.{name}"),
                    Layer::Live,
                    attrs,
                )
                .with_name(name),
            );
        }
        cancelled()?;

        for row in session.query("reading indexes", INDEXES, &params).await? {
            let schema: String = get(&row, 0, target, "index")?;
            let name: String = get(&row, 1, target, "index")?;
            let table: String = get(&row, 2, target, "index")?;
            let id = format!("{schema}.{name}");
            resources.push(
                ObservedResource::new(
                    postgres::INDEX,
                    id.clone(),
                    Layer::Live,
                    json!({
                        "table": format!("{schema}.{table}"),
                        "columns": get::<Vec<String>>(&row, 4, target, "index")?,
                        "expressions": get::<Vec<bool>>(&row, 5, target, "index")?,
                        "unique": get::<bool>(&row, 3, target, "index")?,
                        "predicate": get::<Option<String>>(&row, 6, target, "index")?,
                        "method": get::<String>(&row, 7, target, "index")?,
                        "valid": get::<bool>(&row, 8, target, "index")?,
                        "ready": get::<bool>(&row, 9, target, "index")?,
                        "definition": get::<String>(&row, 10, target, "index")?,
                    }),
                )
                .with_name(name.clone()),
            );
            resources.push(
                ObservedResource::new(
                    INDEX_USAGE,
                    id,
                    Layer::Live,
                    json!({
                        "table": format!("{schema}.{table}"),
                        "idx_scan": get::<i64>(&row, 11, target, "index")?,
                        "size_bytes": get::<i64>(&row, 12, target, "index")?,
                    }),
                )
                .with_name(name),
            );
        }
        cancelled()?;

        for row in session.query("reading views", VIEWS, &params).await? {
            let schema: String = get(&row, 0, target, "view")?;
            let name: String = get(&row, 1, target, "view")?;
            resources.push(
                ObservedResource::new(
                    postgres::VIEW,
                    format!("{schema}.{name}"),
                    Layer::Live,
                    json!({
                        "definition": get::<Option<String>>(&row, 2, target, "view")?,
                        "materialized": get::<bool>(&row, 3, target, "view")?,
                    }),
                )
                .with_name(name),
            );
        }
        cancelled()?;

        for row in session
            .query("reading sequences", SEQUENCES, &params)
            .await?
        {
            let schema: String = get(&row, 0, target, "sequence")?;
            let name: String = get(&row, 1, target, "sequence")?;
            resources.push(
                ObservedResource::new(
                    postgres::SEQUENCE,
                    format!("{schema}.{name}"),
                    Layer::Live,
                    json!({
                        "data_type": get::<String>(&row, 2, target, "sequence")?,
                        "owned_by": get::<Option<String>>(&row, 3, target, "sequence")?,
                        "start": get::<i64>(&row, 4, target, "sequence")?,
                        "increment": get::<i64>(&row, 5, target, "sequence")?,
                        "min_value": get::<i64>(&row, 6, target, "sequence")?,
                        "max_value": get::<i64>(&row, 7, target, "sequence")?,
                        "cache": get::<i64>(&row, 8, target, "sequence")?,
                        "cycle": get::<bool>(&row, 9, target, "sequence")?,
                    }),
                )
                .with_name(name),
            );
        }
        cancelled()?;

        for row in session.query("reading types", TYPES, &params).await? {
            let schema: String = get(&row, 0, target, "type")?;
            let name: String = get(&row, 1, target, "type")?;
            let attrs = if get::<String>(&row, 2, target, "type")? == "e" {
                json!({
                    "category": "enum",
                    "labels": get::<Vec<String>>(&row, 3, target, "type")?,
                })
            } else {
                json!({
                    "category": "composite",
                    "attributes": get::<Vec<String>>(&row, 4, target, "type")?,
                    "attribute_types": get::<Vec<String>>(&row, 5, target, "type")?,
                })
            };
            resources.push(
                ObservedResource::new(
                    postgres::TYPE,
                    format!("{schema}.{name}"),
                    Layer::Live,
                    attrs,
                )
                .with_name(name),
            );
        }
        cancelled()?;

        for row in session.query("reading domains", DOMAINS, &params).await? {
            let schema: String = get(&row, 0, target, "domain")?;
            let name: String = get(&row, 1, target, "domain")?;
            let definitions: Vec<String> = get(&row, 6, target, "domain")?;
            let checks: Vec<String> = definitions
                .iter()
                .map(|definition| check_expression(definition))
                .collect();
            resources.push(
                ObservedResource::new(
                    postgres::DOMAIN,
                    format!("{schema}.{name}"),
                    Layer::Live,
                    json!({
                        "data_type": get::<String>(&row, 2, target, "domain")?,
                        "not_null": get::<bool>(&row, 3, target, "domain")?,
                        "default": get::<Option<String>>(&row, 4, target, "domain")?,
                        "constraints": get::<Vec<String>>(&row, 5, target, "domain")?,
                        "check": checks,
                        "definitions": definitions,
                    }),
                )
                .with_name(name),
            );
        }
        cancelled()?;

        for row in session.query("reading extensions", EXTENSIONS, &[]).await? {
            let name: String = get(&row, 0, target, "extension")?;
            let mut resource = ObservedResource::new(
                postgres::EXTENSION,
                name.clone(),
                Layer::Live,
                json!({
                    "schema": get::<String>(&row, 1, target, "extension")?,
                    "version": get::<String>(&row, 2, target, "extension")?,
                }),
            )
            .with_name(name.clone());
            if name == "plpgsql" {
                resource = resource.with_label("builtin", "true");
            }
            resources.push(resource);
        }
        session.execute("ending the transaction", "COMMIT").await?;
        Ok(deduplicated(resources))
    }
}

/// Sort by (kind, id), keeping the first of duplicate pairs with a warning.
fn deduplicated(mut resources: Vec<ObservedResource>) -> Observation {
    // Stable sort: the first read of a duplicated pair stays first.
    resources.sort_by_key(ObservedResource::key);
    let mut seen = BTreeSet::new();
    let mut warnings = Vec::new();
    resources.retain(|resource| {
        let fresh = seen.insert((resource.kind.clone(), resource.id.clone()));
        if !fresh {
            warnings.push(format!(
                "duplicate {} {}: kept the first",
                resource.kind, resource.id
            ));
        }
        fresh
    });
    let mut observation = Observation::complete(resources);
    observation.warnings = warnings;
    observation
}

#[async_trait::async_trait]
impl Source for PostgresCatalogSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "postgres_catalog"
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        let config = self.config()?;
        let target = target(&config);
        let password = self.password(&target)?;
        let session = self.connect(&config, password.as_deref()).await?;
        self.read_catalog(&session, context).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(connection: &str) -> PostgresCatalogSource {
        PostgresCatalogSource::new("shop", connection, PasswordSource::None)
    }

    #[test]
    fn targets_name_the_database_without_password() {
        let config = source("host=db.internal port=6432 user=app dbname=shop")
            .config()
            .expect("valid");
        assert_eq!(
            target(&config),
            PathBuf::from("postgres://app@db.internal:6432/shop")
        );
        let config = source("postgres://app@10.0.0.5/shop")
            .config()
            .expect("valid");
        assert_eq!(
            target(&config),
            PathBuf::from("postgres://app@10.0.0.5:5432/shop")
        );
    }

    #[test]
    fn passwords_in_connection_strings_are_refused_without_echoing_them() {
        for connection in [
            "host=db user=app password=hunter2 dbname=shop",
            "postgres://app:hunter2@db/shop",
        ] {
            let error = source(connection)
                .config()
                .expect_err("refused")
                .to_string();
            assert!(error.contains("password_env"), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn system_schemas_are_never_selected_and_filters_apply() {
        let all = source("host=db");
        for schema in [
            "pg_catalog",
            "pg_toast",
            "pg_temp_3",
            "pg_toast_temp_3",
            "information_schema",
        ] {
            assert!(!all.schema_selected(schema), "{schema}");
        }
        assert!(all.schema_selected("public"));
        let filtered = source("host=db").with_schemas(
            vec!["public".into(), "reporting".into()],
            vec!["reporting".into()],
        );
        assert!(filtered.schema_selected("public"));
        assert!(!filtered.schema_selected("reporting"));
        assert!(!filtered.schema_selected("audit"));
    }

    #[test]
    fn missing_password_variable_fails_naming_it() {
        let source = PostgresCatalogSource::new(
            "shop",
            "host=db user=app",
            PasswordSource::Env("GT_TEST_SURELY_UNSET_PASSWORD".into()),
        );
        let error = source
            .password(&PathBuf::from("postgres://app@db:5432/app"))
            .expect_err("unset")
            .to_string();
        assert_eq!(
            error,
            "postgres://app@db:5432/app: password environment variable \
             GT_TEST_SURELY_UNSET_PASSWORD is not set"
        );
    }

    #[test]
    fn domain_checks_are_their_expressions() {
        assert_eq!(
            check_expression("CHECK (VALUE >= 1901 AND VALUE <= 2155)"),
            "VALUE >= 1901 AND VALUE <= 2155"
        );
        assert_eq!(
            check_expression("CHECK (VALUE <> ''::text) NOT VALID"),
            "VALUE <> ''::text"
        );
    }

    #[test]
    fn duplicates_keep_the_first_with_a_warning() {
        let observation = deduplicated(vec![
            ObservedResource::new(postgres::TABLE, "public.b", Layer::Live, json!({"n": 1})),
            ObservedResource::new(postgres::TABLE, "public.a", Layer::Live, json!({})),
            ObservedResource::new(postgres::TABLE, "public.b", Layer::Live, json!({"n": 2})),
        ]);
        let ids: Vec<&str> = observation
            .resources
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(ids, ["public.a", "public.b"]);
        assert_eq!(observation.resources[1].attrs, json!({"n": 1}));
        assert_eq!(
            observation.warnings,
            ["duplicate postgres/table public.b: kept the first"]
        );
    }
}

//! The `sql_migrations` source: a directory of SQL migrations, folded into a declared PostgreSQL schema, as the declared layer.
//!
//! NOT IMPLEMENTED YET: this placeholder exists so the configuration and module layout are
//! fixed while the source is written.

use groundtruth_engine::model::Observation;

use crate::error::{IngestError, Result};
use crate::input::Input;
use crate::source::{ScrapeContext, Source};

/// How migration files are named and ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationLayout {
    /// Detect the layout from the file names.
    #[default]
    Auto,
    /// Flyway: `V1__create_orders.sql`, `V1.1__add_index.sql`.
    Flyway,
    /// golang-migrate: `0001_create_orders.up.sql` (the `.down.sql` files are ignored).
    GolangMigrate,
    /// diesel: `<version>_name/up.sql` directories.
    Diesel,
    /// sqlx: `<version>_name.sql` (or `.up.sql`).
    Sqlx,
    /// Plain `.sql` files applied in lexical order.
    Plain,
}

/// Reads a directory of SQL migrations, folded into a declared PostgreSQL schema.
#[derive(Debug, Clone)]
pub struct SqlMigrationsSource {
    name: String,
    input: Input,
    layout: MigrationLayout,
}

impl SqlMigrationsSource {
    /// A source called `name` reading `input`; `layout` is the directory layout (detected when `Auto`).
    pub fn new(name: impl Into<String>, input: Input, layout: MigrationLayout) -> Self {
        Self {
            name: name.into(),
            input,
            layout,
        }
    }
}

#[async_trait::async_trait]
impl Source for SqlMigrationsSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "sql_migrations"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, _context: &ScrapeContext) -> Result<Observation> {
        Err(IngestError::Invalid {
            path: self.input.location().display_path(),
            message: "the sql_migrations source is not implemented yet".to_string(),
        })
    }
}

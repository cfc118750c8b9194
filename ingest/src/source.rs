//! The [`Source`] trait and the sources that implement it, one per file: [`declared`] sources
//! read what people wrote (IaC, manifests, migrations, flag files), [`live`] sources ask running
//! systems (cloud APIs, cluster API servers, database catalogs, this host, a command).

pub mod declared;
pub mod live;
pub mod simulated;

use chrono::{DateTime, Utc};
use groundtruth_engine::model::Observation;
use tokio_util::sync::CancellationToken;

use crate::error::{IngestError, Result};
use crate::input::{FileFilter, Input, InputFile};

/// What a source gets for one scrape.
#[derive(Debug, Clone)]
pub struct ScrapeContext {
    /// The observation instant: versions written by this scrape become valid from here.
    /// Time-dependent sources (the simulator) must use this, never the wall clock.
    pub started_at: DateTime<Utc>,
    /// Cancelled on shutdown or timeout; long scrapes should check it between steps.
    pub cancel: CancellationToken,
}

/// A collector of resources: a file format, a cloud API, a database catalog or a command.
///
/// A scrape returns everything the source sees now. Returning `Err` records a `failed` scrape
/// and deletes nothing; returning an [`Observation`] with `Coverage::Partial` records a
/// `partial` scrape that only deletes inside the covered scopes. The store decides what
/// changed, so a source never needs to remember earlier scrapes.
///
/// Sources must be deterministic (the same input gives the same resources), must name the
/// file (and line, when known) in parse errors, and must replace secrets with
/// [`groundtruth_engine::canonical::redacted`] before returning them (the runner then seals
/// those stand-ins with the configured key and hides secrets no field name announced; see
/// [`crate::secrets`]).
#[async_trait::async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The configured name, unique per store.
    fn name(&self) -> &str;

    /// The type, as written in the configuration (`terraform_state`, `host`, ...).
    fn source_type(&self) -> &'static str;

    /// The files a declared source reads, if it reads files: the runner records their git
    /// provenance, and a backfill re-points a copy of the source at old commits.
    fn input(&self) -> Option<&Input> {
        None
    }

    /// Observe the current state.
    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation>;

    /// The parse half of [`Source::scrape`], for sources that read content (files, or a
    /// command's standard output as one file): what `scrape` runs once the content is read,
    /// run here on content already in memory, on the calling thread. `None` for sources that
    /// observe an API. The parser fuzzer (`ingest/tests/parser_fuzz.rs`) calls it millions of
    /// times, with no disk, process or thread pool between it and the parser.
    fn parse_content(&self, _files: Vec<InputFile>) -> Option<Result<Observation>> {
        None
    }
}

/// The scrape of a file-reading source: read the input's accepted files, stop if the scrape
/// was cancelled meanwhile, and parse them on the blocking pool (declared inputs such as
/// rendered charts or long migration histories run to many megabytes of CPU-bound parsing).
pub async fn read_and_parse<T: Send + 'static>(
    source_name: &str,
    input: &Input,
    accept: FileFilter,
    context: &ScrapeContext,
    parse: impl FnOnce(Vec<InputFile>) -> Result<T> + Send + 'static,
) -> Result<T> {
    let files = input.read(accept).await?;
    if context.cancel.is_cancelled() {
        return Err(IngestError::Cancelled {
            source_name: source_name.to_string(),
        });
    }
    tokio::task::spawn_blocking(move || parse(files))
        .await
        .map_err(|error| IngestError::Invalid {
            path: input.location().display_path(),
            message: format!("parsing task failed: {error}"),
        })?
}

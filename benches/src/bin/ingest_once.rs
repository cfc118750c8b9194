//! One ingest of a 100k-resource scrape in a fresh process, as the writer does it after a
//! restart: rebuild the writer's index from the store (`Store::load_state`), diff the next
//! scrape against it (`SourceState::plan`), commit the rows (`Store::commit`), then write the
//! checkpoints that are due. Prints one JSON object with each phase's time and the process's
//! peak RSS (`VmHWM`) after each phase.
//!
//!     GT_BENCH_PRESET=year ingest_once STORE_DIR
//!
//! STORE_DIR must be a throwaway copy of the dataset built for the same `GT_BENCH_*` shape
//! (run.sh makes a hard-linked copy: Delta never rewrites a file in place), because the scrape
//! is committed into it. The next scrape is the generator's scrape number `scrapes` (one past
//! the dataset), rebuilt by replaying the generator's plan without rendering the history.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use groundtruth_benches::{maybe_checkpoint, open_store, rss_kib, Generator, Params, SOURCE};
use groundtruth_engine::model::{Observation, ScrapeRecord, ScrapeStatus};
use groundtruth_engine::state::ScrapeStamp;
use serde_json::json;

fn peak_mib() -> f64 {
    rss_kib().map_or(0.0, |(peak, _)| peak as f64 / 1024.0)
}

fn main() -> Result<()> {
    let directory: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: ingest_once STORE_DIR")?
        .into();
    let params = Params::from_env()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let started = Instant::now();
    let peak_at_start = peak_mib();

    // What the source reports: the estate after the dataset's last scrape, with one more
    // scrape's churn applied. A real source builds the same 100k `ObservedResource`s.
    let clock = Instant::now();
    let mut generator = Generator::new(params.clone());
    generator.skip(params.scrapes);
    generator.extend_to(params.scrapes + 1);
    let next = generator
        .next_scrape()?
        .context("the generator produces the next scrape")?;
    let observation = Observation::complete(generator.live()?);
    let observe_ms = clock.elapsed().as_secs_f64() * 1e3;
    let peak_after_observation = peak_mib();

    let (load_ms, recover_ms, plan_ms, commit_ms, checkpoint_ms, rows, checkpoints, peaks) =
        runtime.block_on(async {
            let store = open_store(&directory).await?;
            // The writer finishes an interrupted commit before anything else (nothing to do
            // here: the dataset is consistent, but the query runs).
            let clock = Instant::now();
            store.recover().await?;
            let recover_ms = clock.elapsed().as_secs_f64() * 1e3;
            let clock = Instant::now();
            let mut states = store.load_state().await?;
            let load_ms = clock.elapsed().as_secs_f64() * 1e3;
            let peak_after_load = peak_mib();
            let state = states
                .remove(SOURCE)
                .context("no state for the bench source")?;
            // The population is constant, so the state must hold as many resources as the
            // generator's estate.
            ensure!(
                state.resources.len() == generator.live_count(),
                "the store holds {} resources, the generator {}: wrong dataset for this shape?",
                state.resources.len(),
                generator.live_count()
            );

            let scrape_id = format!("ingest-{}", params.scrapes);
            let started_at = next.record.started_at;
            let stamp = ScrapeStamp {
                source: SOURCE,
                scrape_id: &scrape_id,
                started_at,
                provenance: None,
            };
            let clock = Instant::now();
            let changes = state.plan(&stamp, &observation)?;
            let plan_ms = clock.elapsed().as_secs_f64() * 1e3;
            ensure!(
                changes.rows.len() == next.rows.len(),
                "the diff found {} changes, the generator made {}",
                changes.rows.len(),
                next.rows.len()
            );
            let peak_after_plan = peak_mib();
            let record = ScrapeRecord {
                scrape_id: scrape_id.clone(),
                source: SOURCE.to_string(),
                source_type: "synthetic".to_string(),
                started_at,
                finished_at: started_at,
                status: ScrapeStatus::Ok,
                resources_seen: observation.resources.len() as i64,
                versions_written: changes.rows.len() as i64,
                error: None,
                warnings: Vec::new(),
                interval_seconds: Some(params.interval_seconds),
            };
            let clock = Instant::now();
            store.commit(&[record], &changes.rows).await?;
            let commit_ms = clock.elapsed().as_secs_f64() * 1e3;
            let peak_after_commit = peak_mib();
            let clock = Instant::now();
            let written = maybe_checkpoint(&store).await?;
            let checkpoint_ms = clock.elapsed().as_secs_f64() * 1e3;
            anyhow::Ok((
                load_ms,
                recover_ms,
                plan_ms,
                commit_ms,
                checkpoint_ms,
                changes.rows.len(),
                written,
                [peak_after_load, peak_after_plan, peak_after_commit],
            ))
        })?;
    let report = json!({
        "dataset": params.dataset_name(),
        "resources_observed": observation.resources.len(),
        "rows_written": rows,
        "observe_ms": observe_ms,
        "recover_ms": recover_ms,
        "load_state_ms": load_ms,
        "plan_ms": plan_ms,
        "commit_ms": commit_ms,
        "ingest_ms": plan_ms + commit_ms,
        "checkpoint_ms": checkpoint_ms,
        "checkpoints_written": checkpoints.checkpoints,
        "checkpoint_rows": checkpoints.rows,
        "total_ms": started.elapsed().as_secs_f64() * 1e3,
        "peak_rss_mib": {
            "start": peak_at_start,
            "after_observation": peak_after_observation,
            "after_load_state": peaks[0],
            "after_plan": peaks[1],
            "after_commit": peaks[2],
            "end": peak_mib(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

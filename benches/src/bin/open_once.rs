//! The engine's share of `groundtruth serve` start-up, in a fresh process: open the store,
//! build the SQL surface (`Engine::open`: time index, current state from the newest
//! checkpoints plus the versions after them, kinds seen, identity links) and answer
//! `SELECT count(*) FROM resources`. Prints one JSON object with each phase's time and the
//! peak RSS. `benches/serve_startup.py` times the real binary end to end (config, listener,
//! a psycopg client); this bin needs no server build and no client.
//!
//!     open_once STORE_DIR

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use groundtruth_benches::{open_store, rss_kib};
use groundtruth_engine::session::Engine;
use serde_json::json;

fn main() -> Result<()> {
    let directory: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: open_once STORE_DIR")?
        .into();
    let runtime = tokio::runtime::Runtime::new()?;
    let started = Instant::now();
    let (open_store_ms, open_engine_ms, first_answer_ms, resources) = runtime.block_on(async {
        let clock = Instant::now();
        let store = Arc::new(open_store(&directory).await?);
        let open_store_ms = clock.elapsed().as_secs_f64() * 1e3;
        let clock = Instant::now();
        let engine = Engine::open(store).await?;
        let open_engine_ms = clock.elapsed().as_secs_f64() * 1e3;
        let clock = Instant::now();
        let batches = engine.query("SELECT count(*) FROM resources").await?;
        let first_answer_ms = clock.elapsed().as_secs_f64() * 1e3;
        let count = arrow::compute::cast(batches[0].column(0), &arrow::datatypes::DataType::Int64)?;
        let resources = count
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .context("count(*) is an integer")?
            .value(0);
        anyhow::Ok((open_store_ms, open_engine_ms, first_answer_ms, resources))
    })?;
    let report = json!({
        "resources": resources,
        "open_store_ms": open_store_ms,
        "open_engine_ms": open_engine_ms,
        "first_answer_ms": first_answer_ms,
        "total_ms": started.elapsed().as_secs_f64() * 1e3,
        "peak_rss_mib": rss_kib().map_or(0.0, |(peak, _)| peak as f64 / 1024.0),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

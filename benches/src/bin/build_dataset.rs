//! Build (or reuse) the foundation-shaped dataset for `GT_BENCH_*` and print its marker, e.g.
//! to time generation alone or to build the year store before the criterion run:
//!
//!     GT_BENCH_PRESET=year build_dataset            # into target/bench-data/foundation-<slug>
//!     GT_BENCH_PRESET=year build_dataset DIR        # into DIR (rebuilt unless complete)
//!
//! Prints the dataset directory on the first line, then the marker JSON.

use std::path::PathBuf;

use anyhow::Result;
use groundtruth_benches::{dataset_dir, ensure_dataset, Params};

fn main() -> Result<()> {
    let params = Params::from_env()?;
    let directory = std::env::args_os()
        .nth(1)
        .map_or_else(|| dataset_dir(&params), PathBuf::from);
    let runtime = tokio::runtime::Runtime::new()?;
    let manifest = runtime.block_on(ensure_dataset(&params, &directory, &mut |line| {
        eprintln!("[build_dataset] {line}")
    }))?;
    println!("{}", directory.display());
    println!("{}", serde_json::to_string_pretty(&manifest.json)?);
    Ok(())
}

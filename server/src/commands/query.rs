//! `groundtruth sql` and `groundtruth query`: run SQL or a named query and print the result.

use anyhow::Context;

use super::*;
use crate::config::Config;

pub(crate) async fn sql(config: Config, query: &str) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let engine = open_engine(store, &config.drift).await?;
    for frame in engine.sql(query).await? {
        let batches = frame.collect().await.context("executing")?;
        println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
    }
    Ok(())
}

pub(crate) async fn named_query(
    config: Config,
    name: Option<String>,
    params: &[String],
    list: bool,
) -> anyhow::Result<()> {
    let library = groundtruth_queries::Library::load()?;
    if list {
        for query in library.queries() {
            println!("{}\n  {}", query.name, query.description);
            for line in query.parameter_summary().lines() {
                println!("  --param {line}");
            }
            println!();
        }
        return Ok(());
    }
    let name = name.context("a query name is required (see `groundtruth query --list`)")?;
    let mut values = std::collections::BTreeMap::new();
    for param in params {
        let (key, value) = param
            .split_once('=')
            .with_context(|| format!("--param '{param}' is not NAME=VALUE"))?;
        values.insert(key.trim().to_string(), value.to_string());
    }
    let query = library.get(&name)?.render(&values)?;
    sql(config, &query).await
}

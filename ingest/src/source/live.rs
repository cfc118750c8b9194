//! Live sources: what is running, asked of the systems that run it (AWS APIs, a Kubernetes
//! API server, a PostgreSQL catalog, this host's procfs, a command's JSON). A source that
//! cannot see everything it was asked to see returns an error or a partial observation, never
//! an incomplete `ok` (a failed scrape is never read as a deletion).

pub mod aws;
pub mod command;
pub mod host;
pub mod kubernetes_api;
pub mod postgres_catalog;

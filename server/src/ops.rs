//! Operating the server: the HTTP endpoint for health checks and Prometheus metrics
//! ([`http`]), and the counters and gauges it exposes ([`metrics`]). Nothing here answers SQL;
//! the Postgres-wire side lives in [`crate::pg`].

pub mod http;
pub mod metrics;

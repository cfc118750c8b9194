//! The engine's integration tests, as one test binary (each binary links DataFusion and the
//! store, hundreds of megabytes unoptimized; one binary saves the disk and the link). Run one
//! part with `cargo test -p groundtruth-engine --test integration <module>::`.

mod checkpoints;
mod time_travel;

//! The identity scheme shared by declared and live sources is the engine's kind vocabulary
//! (`groundtruth_engine::kinds`): drift and relations join the layers on it, so it has one
//! owner. Sources import it from here as before.

pub use groundtruth_engine::kinds::*;

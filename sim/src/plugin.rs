//! The plug-in seam: the traits a user's own analysis method or bandit
//! policy implements to run on umpire's engine, next to the built-ins and on
//! the same simulated data (common random numbers).
//!
//! - [`AnalysisMethod`] reads a *batch* of consecutive replications'
//!   cumulative statistics at every look ([`LookBatch`]) and writes one
//!   [`Decision`] per replication and comparison. umpire's own methods
//!   implement it too, so a built-in and a plug-in take one code path.
//! - [`BatchPolicy`] steps a batch of replications of a bandit in lockstep:
//!   umpire owns the environment, the shared reward stream and the regret
//!   accounting; the policy only chooses arms (and may learn from rewards).
//!
//! Batches are fixed runs of consecutive replications: an analysis method's
//! are the engine's chunks (their length depends on the scenario's shape and
//! on how many methods run, the plug-ins included), a policy's are
//! `BanditEngine::chunk_len(1)` replications; neither depends on the thread
//! count. A plug-in's randomness comes from [`plugin_stream`] keyed by (seed,
//! plug-in name, batch index), so the same seed gives the same result on any
//! thread count. (A method that is [`AnalysisMethod::splittable`] may be
//! called on parts of a chunk instead.)

use rand_chacha::ChaCha8Rng;

pub use crate::experiment::accumulator::Decision;
// Defined beside the engine that calls them, so that `experiment` does not
// import this module back (tests/imports.rs).
pub use crate::bandit::batch_policy::{
    BatchPolicy, BatchPolicyFactory, BatchSpec, BatchView, Delivery,
};
pub use crate::experiment::analysis_method::{AnalysisMethod, LookBatch, PluginError};
use crate::rng::{Purpose, StreamKey};

/// The random stream of plug-in `name` for batch `index` of a run with `seed`.
pub fn plugin_stream(seed: u64, name: &str, index: u64) -> ChaCha8Rng {
    StreamKey::new(seed, Purpose::plugin(name)).replication(index)
}

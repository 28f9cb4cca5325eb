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
//! Batches are the engine's chunks: their bounds depend on the scenario and
//! the replication count, never on the thread count, and a plug-in's
//! randomness comes from [`plugin_stream`] keyed by (seed, plug-in name,
//! batch index), so the same seed gives the same result on any thread count.

use rand_chacha::ChaCha8Rng;

pub use crate::experiment::accumulator::Decision;
// Defined beside the engine that calls them, so that `experiment` does not
// import this module back (tests/imports.rs).
pub use crate::experiment::analysis_method::{AnalysisMethod, LookBatch, PluginError};
use crate::rng::{Purpose, StreamKey};

/// What a [`BatchPolicy`] sees at step `t`: the statistics umpire keeps of
/// the rewards delivered so far, per replication of the batch.
#[derive(Clone, Copy, Debug)]
pub struct BatchView<'a> {
    /// Index of the batch's first replication in the run.
    pub first: u64,
    /// Replications in the batch.
    pub replications: usize,
    /// Arms of the bandit.
    pub arms: usize,
    /// `pulls[r * arms + a]`: rewards of arm a delivered to replication r.
    pub pulls: &'a [u64],
    /// `reward_sums[r * arms + a]`: their sum.
    pub reward_sums: &'a [f64],
}

/// A bandit policy that chooses arms for a whole batch of replications at
/// once (one call per step, not per replication).
pub trait BatchPolicy: Send {
    /// Choose an arm for every replication at step `t`: `arms[r] < view.arms`.
    fn select(
        &mut self,
        t: u64,
        view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError>;
    /// Learn from step `t`'s pulls: `arms[r]` drew `rewards[r]`.
    fn update(&mut self, t: u64, arms: &[usize], rewards: &[f64]) -> Result<(), PluginError>;
}

/// The batch a [`BatchPolicyFactory`] builds a policy for.
#[derive(Clone, Debug)]
pub struct BatchSpec {
    /// Index of the batch's first replication in the run.
    pub first: u64,
    /// Replications in the batch.
    pub replications: usize,
    /// Arms of the bandit.
    pub arms: usize,
    /// The run's seed.
    pub seed: u64,
    /// The batch's index: the plug-in's stream for this batch is
    /// [`plugin_stream`]`(seed, name, index)`.
    pub index: u64,
}

/// Builds a fresh [`BatchPolicy`] for each batch of replications.
pub type BatchPolicyFactory =
    dyn Fn(&BatchSpec) -> Result<Box<dyn BatchPolicy>, PluginError> + Send + Sync;

/// The random stream of plug-in `name` for batch `index` of a run with `seed`.
pub fn plugin_stream(seed: u64, name: &str, index: u64) -> ChaCha8Rng {
    StreamKey::new(seed, Purpose::plugin(name)).replication(index)
}

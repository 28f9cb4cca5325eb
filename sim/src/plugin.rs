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

use crate::analysis::ArmStats;
use crate::experiment::Comparison;
pub use crate::experiment::accumulator::Decision;
use crate::rng::{Purpose, StreamKey};

/// A chunk of consecutive replications' cumulative statistics at each look.
#[derive(Clone, Copy, Debug)]
pub struct LookBatch<'a> {
    /// Index of the batch's first replication in the run.
    pub first: u64,
    /// Replications in the batch.
    pub replications: usize,
    /// Looks per replication (the last is the final data).
    pub looks: usize,
    /// Metrics in the scenario.
    pub metrics: usize,
    /// Arms (control is arm 0).
    pub arms: usize,
    /// `stats[((r * looks + k) * metrics + m) * arms + a]`: cumulative
    /// statistics of metric m in arm a at look k of the batch's replication r.
    pub stats: &'a [ArmStats],
    /// The comparisons to decide, in `Experiment::comparisons()` order.
    pub comparisons: &'a [Comparison],
    /// The scenario's significance level.
    pub alpha: f64,
    /// The batch's index (its first replication / the chunk length): with the
    /// seed and the plug-in's name it keys the plug-in's randomness.
    pub index: u64,
    /// The scenario's seed.
    pub seed: u64,
}

impl LookBatch<'_> {
    /// Metric `m`'s statistics in every arm at look `k` of replication `r`.
    pub fn arms_at(&self, r: usize, k: usize, m: usize) -> &[ArmStats] {
        let start = ((r * self.looks + k) * self.metrics + m) * self.arms;
        &self.stats[start..start + self.arms]
    }
}

/// A user's (or umpire's own) analysis method.
///
/// `evaluate` writes `out[r * comparisons + c]` for every replication r of
/// the batch and comparison c. A decision's `look` is the look it stopped at
/// (the last look if it never stopped) and `sample_size` the units of the
/// compared arms at that look; unknown estimates are NaN.
pub trait AnalysisMethod: Send + Sync {
    /// Decide every comparison of every replication in `batch`.
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError>;

    /// Whether each replication's decisions depend on its own statistics
    /// alone (no randomness keyed by the batch, no state across
    /// replications), so that evaluating any split of a batch gives the same
    /// decisions as the whole. The engine then calls `evaluate` on
    /// cache-sized parts of a chunk, in parallel, right after simulating
    /// them. Default `false`: exactly one call per chunk.
    fn splittable(&self) -> bool {
        false
    }
}

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

/// A plug-in failed: which one, on which replications, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("plug-in `{plugin}` failed on replications {first}..{end}: {message}")]
pub struct PluginError {
    /// The plug-in's name.
    pub plugin: String,
    /// First replication of the failing batch.
    pub first: u64,
    /// One past its last replication.
    pub end: u64,
    /// What went wrong.
    pub message: String,
}

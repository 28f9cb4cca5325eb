//! The analysis-method half of the plug-in seam (re-exported by
//! [`crate::plugin`], which documents it): the trait every method the
//! engine evaluates implements, the batch it reads, the error a plug-in
//! returns, and a named plug-in as a study passes it to the engine. They
//! live here, beside the engine, so that the engine does not import the
//! modules that import it.

use std::any::Any;
use std::ops::Range;
use std::sync::Arc;

use super::Comparison;
use super::accumulator::Decision;
use crate::analysis::ArmStats;
use crate::analysis::ratio::RatioPre;

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
    /// The pre-period parts of ratio metrics with a covariate (CUPED on a
    /// ratio), in the layout of `stats`; empty when no metric of the
    /// scenario has one (then every entry would be zero). Read it with
    /// [`LookBatch::pre_at`].
    pub pre: &'a [RatioPre],
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

    /// Metric `m`'s pre-period parts in every arm at look `k` of replication
    /// `r`, when the scenario has ratio covariates (zero for a metric that
    /// is not a ratio with a covariate).
    pub fn pre_at(&self, r: usize, k: usize, m: usize) -> Option<&[RatioPre]> {
        if self.pre.is_empty() {
            return None;
        }
        let start = ((r * self.looks + k) * self.metrics + m) * self.arms;
        self.pre.get(start..start + self.arms)
    }
}

/// A user's (or umpire's own) analysis method.
///
/// `evaluate` writes `out[r * comparisons + c]` for every replication r of
/// the batch and comparison c. A decision's `look` is the look it stopped at
/// (the last look if it never stopped) and `sample_size` the units of the
/// compared arms at that look (no more: umpire checks); unknown estimates
/// are NaN. Set `defined` when both arms had enough units for the estimate:
/// a defined estimate that is not finite counts as an overflow and fails the
/// run's verdict, where an undefined one is only reported as undefined.
pub trait AnalysisMethod: Send + Sync {
    /// Decide every comparison of every replication in `batch`.
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError>;

    /// Whether each replication's decisions depend on its own statistics
    /// alone (no randomness keyed by the batch, no state across
    /// replications), so that evaluating any split of a batch gives the same
    /// decisions as the whole. The engine then calls `evaluate` on
    /// cache-sized parts of a chunk, in parallel, right after simulating
    /// them. Default `false`: one call per chunk of a run (a traced
    /// replication is a batch of one).
    fn splittable(&self) -> bool {
        false
    }
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

impl PluginError {
    /// An error with its message only, as a plug-in returns it: umpire
    /// reports every plug-in error under the plug-in's name and the batch's
    /// replications, whatever `plugin`, `first` and `end` it carries.
    pub fn new(message: impl Into<String>) -> Self {
        Self::at("", 0..0, message)
    }

    /// Plug-in `plugin` failed on replications `range` with `message`.
    pub fn at(plugin: &str, range: Range<u64>, message: impl Into<String>) -> Self {
        Self {
            plugin: plugin.to_owned(),
            first: range.start,
            end: range.end,
            message: message.into(),
        }
    }

    /// Plug-in `plugin` panicked on replications `range` with `payload`.
    pub fn panicked(plugin: &str, range: Range<u64>, payload: &(dyn Any + Send)) -> Self {
        let text = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a non-text panic payload");
        Self::at(plugin, range, format!("panicked: {text}"))
    }
}

/// A named analysis method plugged into a run.
#[derive(Clone)]
pub struct MethodPlugin {
    /// Its name in the results (unique among the run's methods).
    pub name: String,
    /// The method.
    pub method: Arc<dyn AnalysisMethod>,
}

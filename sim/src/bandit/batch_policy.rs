//! The bandit-policy half of the plug-in seam (re-exported by
//! [`crate::plugin`], which documents it): the trait a batch policy
//! implements, the view and deliveries it reads, the factory that builds it
//! per batch, and a named plug-in as a study passes it to the engine. They
//! live here, beside the lockstep runner, so that `bandit` does not import
//! the modules that import it (tests/imports.rs).

use std::sync::Arc;

pub use crate::experiment::analysis_method::PluginError;

use super::policy::argmax;

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

/// A reward reaching a [`BatchPolicy`] late (delayed or batched feedback).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Delivery {
    /// The replication, as an index into the batch (0-based).
    pub replication: usize,
    /// The arm that was pulled.
    pub arm: usize,
    /// The reward it drew.
    pub reward: f64,
}

/// A bandit policy that chooses arms for a whole batch of replications at
/// once (one call per step, not per replication).
///
/// The contract, which umpire's lockstep runner keeps:
///
/// - Steps run `t = 0, 1, …, horizon − 1`; at each, `select` is called once
///   and must write an arm `< view.arms` into every `arms[r]` (an arm out of
///   range, a slot left unwritten, or an `Err`, aborts the run with a
///   [`PluginError`] naming the plug-in and the batch's replications). umpire then draws each
///   replication's reward from the scenario's shared reward stream, the same
///   words the built-in policies face (common random numbers).
/// - Immediate feedback (no delay, `update_every = 1`): after every step,
///   the view counts the step's rewards and `update(t, arms, rewards)` is
///   called with them.
/// - Delayed or batched feedback: a reward reaches the view only when the
///   scenario delivers it, and `deliver` is called at each step that
///   delivers any, with those rewards in delivery order; `update` is not
///   called (the step's rewards are not yet known to the learner).
/// - Plug-ins do not see segments: in a scenario with segments they pool
///   all traffic (a non-contextual policy), and regret is still measured
///   against each step's segment's best arm.
/// - At the horizon `recommend` names each replication's best-arm guess.
/// - The factory builds a fresh policy for every batch (a chunk of the run,
///   the last one possibly shorter); `view.pulls`, `view.reward_sums` hold
///   `replications × arms` entries and `arms`, `rewards` one per replication.
///   Batches run in parallel, so a policy must not share mutable state with
///   other batches.
/// - A batch's randomness should come from [`plugin_stream`](crate::plugin::plugin_stream) with the
///   [`BatchSpec`]'s seed and index, so results do not depend on threads.
/// - Errors are returned, not panicked; a panic is caught all the same and
///   fails the run with a [`PluginError`]. Whatever `plugin`, `first` and
///   `end` a returned error carries, umpire reports the plug-in's name and
///   the batch's replications.
pub trait BatchPolicy: Send {
    /// Choose an arm for every replication at step `t`: `arms[r] < view.arms`.
    fn select(
        &mut self,
        t: u64,
        view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError>;
    /// Learn from step `t`'s pulls: `arms[r]` drew `rewards[r]` (immediate
    /// feedback only).
    fn update(&mut self, t: u64, arms: &[usize], rewards: &[f64]) -> Result<(), PluginError>;
    /// Learn from rewards delivered at step `t` under delayed or batched
    /// feedback, in delivery order. The default ignores them: a policy that
    /// reads only the [`BatchView`] already sees them there.
    fn deliver(&mut self, t: u64, delivered: &[Delivery]) -> Result<(), PluginError> {
        let _ = (t, delivered);
        Ok(())
    }
    /// The arm each replication recommends as best at the horizon, into
    /// `arms[r]`. The default picks the highest mean of delivered rewards in
    /// the view (arms with no delivered reward rank below the others, ties
    /// go to the lowest arm), as the built-ins' `recommend` does.
    fn recommend(&mut self, view: &BatchView<'_>, arms: &mut [usize]) -> Result<(), PluginError> {
        let k = view.arms;
        for ((out, pulls), sums) in arms
            .iter_mut()
            .zip(view.pulls.chunks_exact(k.max(1)))
            .zip(view.reward_sums.chunks_exact(k.max(1)))
        {
            *out = argmax(pulls.iter().zip(sums).map(|(&n, &s)| {
                if n > 0 {
                    s / n as f64
                } else {
                    f64::NEG_INFINITY
                }
            }));
        }
        Ok(())
    }
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
    /// [`plugin_stream`](crate::plugin::plugin_stream)`(seed, name, index)`.
    pub index: u64,
}

/// Builds a fresh [`BatchPolicy`] for each batch of replications.
pub type BatchPolicyFactory =
    dyn Fn(&BatchSpec) -> Result<Box<dyn BatchPolicy>, PluginError> + Send + Sync;

/// A named bandit policy plugged into a run.
#[derive(Clone)]
pub struct PolicyPlugin {
    /// Its name in the results (unique among the run's policies).
    pub name: String,
    /// Builds the policy for each batch of replications.
    pub factory: Arc<BatchPolicyFactory>,
}

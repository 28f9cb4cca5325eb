//! The bandit [`Policy`] trait and [`PolicyState`], a single concrete type that
//! runs any [`PolicySpec`] and holds its whole state as plain serde data.
//!
//! [`spec`] holds the specs with their parameters, defaults and ranges;
//! [`state`] the state and its dispatch on the spec; one file per family
//! holds the family's arithmetic: [`greedy`] (epsilon-greedy and its decaying
//! variant), [`ucb`] (UCB1, KL-UCB), [`thompson`] (Beta, Gaussian, top-two,
//! discounted and sliding-window Thompson sampling) and [`exponential`]
//! (EXP3, softmax).
//!
//! One type rather than one per algorithm keeps the simulator and the serving
//! API free of trait objects and generics over the policy, and makes a
//! snapshot of any policy the same kind of value.
//!
//! Conventions shared by every policy:
//!
//! - Statistics are kept per (context, arm) in flat vectors indexed
//!   `context * arms + arm`; with one context a policy is non-contextual. Each
//!   context is an independent bandit with its own clock `t` (its number of
//!   updates so far).
//! - `select` and `recommend` treat a context index at or beyond
//!   [`PolicyState::contexts`] as context 0, and `update` ignores an
//!   out-of-range context or arm and a non-finite reward, so no input panics.
//! - Policies whose model assumes rewards in [0, 1] (KL-UCB, EXP3 and the
//!   Beta-Bernoulli Thompson family) clamp the reward into [0, 1] before
//!   learning from it; the others learn from it as given. The lifetime totals
//!   behind [`PolicyState::pulls`] and [`PolicyState::mean_reward`] always
//!   record the reward as given.
//! - Deterministic choices (UCB1, KL-UCB, every `recommend`) break argmax ties
//!   by the lowest arm index. Epsilon-greedy breaks ties of its greedy step
//!   uniformly at random; Thompson draws are continuous, so their ties have
//!   probability zero and fall to the lowest index.
//! - Index policies (UCB1, KL-UCB), epsilon-greedy and softmax first play every
//!   arm not yet pulled in the context: UCB1 and KL-UCB the lowest such index,
//!   the randomised ones a uniformly chosen one.
//! - All memory is allocated by [`PolicyState::new`]; `select` and `update` never
//!   allocate.

mod exponential;
mod greedy;
mod spec;
mod state;
mod thompson;
mod ucb;

#[cfg(test)]
mod tests;

pub use spec::{
    GAUSSIAN_MEAN_MAX, GAUSSIAN_VAR_MAX, GAUSSIAN_VAR_MIN, PLUGIN_TYPE, POLICY_TYPES, Param,
    ParamDefault, ParamRange, PolicySpec, PolicyType, docs_table,
};
pub use state::PolicyState;

/// What every policy offers the simulator and the serving API. `select` takes &self so a
/// server can serve decisions from a read-only snapshot; all learning happens in `update`.
///
/// # Implementing it for a plug-in
///
/// [`Study::policy`](crate::study::Study::policy)`(name, make)` runs one
/// `make(arms)` instance per replication, through the lockstep path beside
/// the scenario's policies and on the same rewards (common random numbers).
/// For the run to be correct and reproducible, an implementation must:
///
/// - return the same [`Policy::arms`] it was built for (`make(arms)` must
///   build for `arms`, else the run stops with an error), and from `select`
///   and `recommend` an arm below it (another is an error naming the plug-in
///   and its replications, not a clamp);
/// - draw every random number from `rng`: it is the replication's own
///   stream, `plugin_stream(seed, name, replication)`, so the same seed
///   gives the same result on any number of threads. No thread-local or
///   time-seeded generator, no state shared between instances;
/// - learn only in `update`, which gets each reward once, when the scenario
///   delivers it (after the pull, or later under `delay` and `update_every`),
///   in the order the built-ins learn them. Plug-ins are not contextual: they
///   always get context 0, also in scenarios with segments;
/// - take any finite reward without panicking (Bernoulli rewards are 0 or 1,
///   Gaussian ones any real), and keep `select` and `update` free of
///   allocation: they run once per step of every replication.
///
/// A panic in a plug-in is caught and reported as a
/// [`PluginError`](crate::plugin::PluginError), but it is still a bug.
/// `recommend` is asked once, at the horizon, for the arm the policy
/// believes best; it scores best-arm identification.
pub trait Policy {
    /// Number of arms; `select` and `recommend` return an index below it.
    fn arms(&self) -> usize;
    /// Choose an arm for a unit with optional context (a segment index; policies that ignore
    /// context use 0). Randomness only from `rng`.
    fn select<R: rand::Rng + ?Sized>(&self, context: usize, rng: &mut R) -> usize;
    /// Learn from a reward for `arm` in `context`.
    fn update(&mut self, context: usize, arm: usize, reward: f64);
    /// The arm the policy would recommend as best now (highest posterior/empirical mean).
    fn recommend(&self, context: usize) -> usize;
}

/// Upper bound on `arms × contexts` and on `window × contexts`: larger states
/// are refused at construction rather than aborting on allocation.
pub const MAX_CELLS: usize = 1 << 24;

/// Why a policy could not be built or a snapshot could not be loaded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The policy needs more arms than it was given.
    #[error("policy `{policy}` needs at least {min} arms, got {arms}")]
    TooFewArms {
        /// The policy's type tag.
        policy: &'static str,
        /// Arms given.
        arms: usize,
        /// Arms the policy needs.
        min: usize,
    },
    /// Zero contexts were asked for.
    #[error("a policy needs at least one context")]
    NoContexts,
    /// A parameter is outside its valid range.
    #[error("parameter `{name}` = {value} is invalid: it must be {expected}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// Its valid range in words, e.g. `in [0, 1]`.
        expected: String,
    },
    /// A required parameter was not given.
    #[error("parameter `{name}` is required")]
    MissingParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// `arms × contexts` or `window × contexts` exceeds [`MAX_CELLS`].
    #[error("{what} = {size} exceeds the limit of {MAX_CELLS}")]
    TooLarge {
        /// Which product, e.g. `arms × contexts`.
        what: &'static str,
        /// Its value.
        size: u128,
    },
    /// A feature-based policy (`lin_ucb`, `lin_ts`, `logistic_ts`) asked
    /// for without a feature environment: it has nothing to select on.
    #[error("policy `{0}` runs on a feature environment: set [bandit.features]")]
    NeedsFeatures(&'static str),
    /// The spec is a plug-in's result kind, which no built-in runs.
    #[error("`plugin` names a plug-in policy's results; it is not a policy type to run")]
    Plugin,
    /// A snapshot's vectors or values do not fit its spec; the message says which.
    #[error("inconsistent policy state: {0}")]
    InconsistentState(&'static str),
}

/// Index of the largest value, the lowest index on ties; 0 if every value is
/// NaN or −∞ (so the result is always a valid arm).
#[inline]
pub(super) fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = 0;
    let mut best_value = f64::NEG_INFINITY;
    for (k, v) in values.enumerate() {
        if v > best_value {
            best = k;
            best_value = v;
        }
    }
    best
}

#[inline]
pub(super) fn max_of(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

//! [`PolicyState`]: a policy's whole state as plain data, its checked
//! deserialisation, and the dispatch of [`Policy`] on the spec to each
//! family's arithmetic.

use serde::{Deserialize, Serialize};

use super::exponential::{exp3_select, exp3_update, softmax_probabilities, softmax_select};
use super::greedy::{epsilon_greedy, epsilon_greedy_probabilities};
use super::thompson::{
    beta_shapes, discount, gaussian_known_posterior, gaussian_known_select,
    gaussian_unknown_select, successes, thompson_beta_select, thompson_prepared_select,
    top_two_select,
};
use super::ucb::{kl_ucb_select, ucb1_parts, ucb1_select, ucb1_width};
use super::{MAX_CELLS, Policy, PolicyError, PolicySpec, argmax, max_of};
use crate::bandit::beta::{BetaShape, uniform_index};

/// Vector lengths a (spec, arms, contexts) needs; the one place that decides
/// which optional statistics a policy keeps.
struct Layout {
    cells: usize,
    ucb1: usize,
    beta: usize,
    sq_dev: usize,
    log_weight: usize,
    window: usize,
}

fn layout(spec: &PolicySpec, arms: usize, contexts: usize) -> Result<Layout, PolicyError> {
    spec.validate()?;
    if spec.linear().is_some() {
        return Err(PolicyError::NeedsFeatures(spec.name()));
    }
    let min = spec.min_arms();
    if arms < min {
        return Err(PolicyError::TooFewArms {
            policy: spec.name(),
            arms,
            min,
        });
    }
    if contexts < 1 {
        return Err(PolicyError::NoContexts);
    }
    let cells = arms as u128 * contexts as u128;
    if cells > MAX_CELLS as u128 {
        return Err(PolicyError::TooLarge {
            what: "arms × contexts",
            size: cells,
        });
    }
    let cells = cells as usize;
    let window = match *spec {
        PolicySpec::SlidingWindowThompson { window, .. } => {
            let size = window as u128 * contexts as u128;
            if size > MAX_CELLS as u128 {
                return Err(PolicyError::TooLarge {
                    what: "window × contexts",
                    size,
                });
            }
            size as usize
        }
        _ => 0,
    };
    let sq_dev = match spec {
        PolicySpec::ThompsonGaussian {
            noise_var: None, ..
        } => cells,
        _ => 0,
    };
    let log_weight = match spec {
        PolicySpec::Exp3 { .. } => cells,
        _ => 0,
    };
    let ucb1 = match spec {
        PolicySpec::Ucb1 => cells,
        _ => 0,
    };
    let beta = match spec {
        PolicySpec::ThompsonBeta { .. } => cells,
        _ => 0,
    };
    Ok(Layout {
        cells,
        ucb1,
        beta,
        sq_dev,
        log_weight,
        window,
    })
}

/// A policy's whole state as plain data (serde), so a server can snapshot and reload it.
///
/// Deserialisation re-validates the spec and checks every vector's length and
/// every value's range, so a loaded snapshot cannot make a later call panic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StateData")]
pub struct PolicyState {
    pub(super) spec: PolicySpec,
    pub(super) arms: usize,
    pub(super) contexts: usize,
    /// Per context: updates so far, the context's clock `t`.
    pub(super) updates: Vec<u64>,
    /// Per cell: the pulls the policy acts on (decayed for discounted Thompson,
    /// within the window for sliding-window Thompson).
    pub(super) count: Vec<f64>,
    /// Per cell: the sum of rewards matching `count` (clamped where the policy clamps).
    pub(super) reward_sum: Vec<f64>,
    /// Per cell, Gaussian Thompson with unknown variance only: Σ (x − x̄)².
    pub(super) sq_dev: Vec<f64>,
    /// Per cell, EXP3 only: log-weights, shifted so that each context's maximum
    /// is 0, which keeps exp() from overflowing however long the run.
    pub(super) log_weight: Vec<f64>,
    /// Per cell, UCB1 only: `√(1/n)` and `s/n` ([`super::ucb::ucb1_parts`]),
    /// the parts of the index that change only when the arm is pulled.
    /// Derived from `count` and `reward_sum`: not serialised, rebuilt on load.
    #[serde(skip)]
    pub(super) ucb1_root: Vec<f64>,
    #[serde(skip)]
    pub(super) ucb1_mean: Vec<f64>,
    /// Per cell, Beta-Bernoulli Thompson only: the posterior prepared for
    /// drawing (its Gamma constants change only when the arm is pulled).
    /// Derived: not serialised, rebuilt on load.
    #[serde(skip)]
    pub(super) posterior: Vec<BetaShape>,
    /// Per cell: lifetime pulls, for summaries.
    pub(super) total_pulls: Vec<u64>,
    /// Per cell: lifetime sum of rewards as given, for summaries.
    pub(super) total_reward: Vec<f64>,
    /// Sliding-window Thompson only: a ring of `window` slots per context.
    pub(super) window_arm: Vec<u32>,
    pub(super) window_reward: Vec<f64>,
    /// Per context (sliding window only): slot of the oldest entry, and entries held.
    pub(super) window_start: Vec<usize>,
    pub(super) window_len: Vec<usize>,
}

/// The unchecked serde image of [`PolicyState`]; field names must match it.
#[derive(Deserialize)]
struct StateData {
    spec: PolicySpec,
    arms: usize,
    contexts: usize,
    updates: Vec<u64>,
    count: Vec<f64>,
    reward_sum: Vec<f64>,
    sq_dev: Vec<f64>,
    log_weight: Vec<f64>,
    total_pulls: Vec<u64>,
    total_reward: Vec<f64>,
    window_arm: Vec<u32>,
    window_reward: Vec<f64>,
    window_start: Vec<usize>,
    window_len: Vec<usize>,
}

impl TryFrom<StateData> for PolicyState {
    type Error = PolicyError;

    fn try_from(d: StateData) -> Result<Self, PolicyError> {
        let l = layout(&d.spec, d.arms, d.contexts)?;
        let bad = |what| Err(PolicyError::InconsistentState(what));
        let per_window_context = if l.window > 0 { d.contexts } else { 0 };
        if d.updates.len() != d.contexts
            || d.count.len() != l.cells
            || d.reward_sum.len() != l.cells
            || d.total_pulls.len() != l.cells
            || d.total_reward.len() != l.cells
            || d.sq_dev.len() != l.sq_dev
            || d.log_weight.len() != l.log_weight
            || d.window_arm.len() != l.window
            || d.window_reward.len() != l.window
            || d.window_start.len() != per_window_context
            || d.window_len.len() != per_window_context
        {
            return bad("a statistics vector has the wrong length");
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !finite(&d.count) || d.count.iter().any(|&n| n < 0.0) {
            return bad("pull counts must be finite and >= 0");
        }
        if !finite(&d.reward_sum) || !finite(&d.total_reward) || !finite(&d.window_reward) {
            return bad("reward sums must be finite");
        }
        if !finite(&d.sq_dev) || d.sq_dev.iter().any(|&s| s < 0.0) {
            return bad("squared deviations must be finite and >= 0");
        }
        if !finite(&d.log_weight) || d.log_weight.iter().any(|&w| w > 0.0) {
            return bad("EXP3 log-weights must be finite and <= 0");
        }
        if d.window_arm.iter().any(|&a| a as usize >= d.arms) {
            return bad("a window entry names an arm out of range");
        }
        if l.window > 0 {
            let w = l.window / d.contexts;
            if d.window_start.iter().any(|&s| s >= w) || d.window_len.iter().any(|&n| n > w) {
                return bad("a window position is out of range");
            }
        }
        let mut state = PolicyState {
            spec: d.spec,
            arms: d.arms,
            contexts: d.contexts,
            updates: d.updates,
            count: d.count,
            reward_sum: d.reward_sum,
            sq_dev: d.sq_dev,
            log_weight: d.log_weight,
            ucb1_root: vec![0.0; l.ucb1],
            ucb1_mean: vec![0.0; l.ucb1],
            posterior: vec![BetaShape::default(); l.beta],
            total_pulls: d.total_pulls,
            total_reward: d.total_reward,
            window_arm: d.window_arm,
            window_reward: d.window_reward,
            window_start: d.window_start,
            window_len: d.window_len,
        };
        state.rebuild_caches();
        Ok(state)
    }
}

impl PolicyState {
    /// A fresh policy with no data, every vector allocated here once.
    pub fn new(
        spec: &PolicySpec,
        arms: usize,
        contexts: usize,
    ) -> Result<PolicyState, PolicyError> {
        let l = layout(spec, arms, contexts)?;
        let window_contexts = if l.window > 0 { contexts } else { 0 };
        let mut state = PolicyState {
            spec: spec.clone(),
            arms,
            contexts,
            updates: vec![0; contexts],
            count: vec![0.0; l.cells],
            reward_sum: vec![0.0; l.cells],
            sq_dev: vec![0.0; l.sq_dev],
            log_weight: vec![0.0; l.log_weight],
            ucb1_root: vec![0.0; l.ucb1],
            ucb1_mean: vec![0.0; l.ucb1],
            posterior: vec![BetaShape::default(); l.beta],
            total_pulls: vec![0; l.cells],
            total_reward: vec![0.0; l.cells],
            window_arm: vec![0; l.window],
            window_reward: vec![0.0; l.window],
            window_start: vec![0; window_contexts],
            window_len: vec![0; window_contexts],
        };
        state.rebuild_caches();
        Ok(state)
    }

    /// Every cell's derived caches, from `count` and `reward_sum`.
    fn rebuild_caches(&mut self) {
        for cell in 0..self.ucb1_root.len() {
            self.refresh_ucb1(cell);
        }
        for cell in 0..self.posterior.len() {
            self.refresh_posterior(cell);
        }
    }

    /// The policy and parameters it runs.
    pub fn spec(&self) -> &PolicySpec {
        &self.spec
    }

    /// Number of contexts, each an independent bandit (1: non-contextual).
    pub fn contexts(&self) -> usize {
        self.contexts
    }

    /// Updates received in a context (0 for an out-of-range context).
    pub fn updates(&self, context: usize) -> u64 {
        self.updates.get(context).copied().unwrap_or(0)
    }

    /// Pulls and mean reward per arm in a context (for summaries).
    ///
    /// Lifetime pulls, even for discounted and sliding-window Thompson whose
    /// decisions use fewer; 0 for an out-of-range context or arm.
    pub fn pulls(&self, context: usize, arm: usize) -> f64 {
        self.cell(context, arm)
            .map_or(0.0, |c| self.total_pulls[c] as f64)
    }

    /// The (count, reward sum) a decision acts on in a cell: decayed for
    /// discounted Thompson, within the window for sliding-window Thompson, and
    /// the lifetime values otherwise. For posterior summaries; (0, 0) for an
    /// out-of-range context or arm.
    pub fn effective(&self, context: usize, arm: usize) -> (f64, f64) {
        self.cell(context, arm)
            .map_or((0.0, 0.0), |c| (self.count[c], self.reward_sum[c]))
    }

    /// Lifetime mean of the rewards as given; 0 for an arm never pulled and for
    /// an out-of-range context or arm.
    pub fn mean_reward(&self, context: usize, arm: usize) -> f64 {
        match self.cell(context, arm) {
            Some(c) if self.total_pulls[c] > 0 => self.total_reward[c] / self.total_pulls[c] as f64,
            _ => 0.0,
        }
    }

    /// Writes the probability with which `select` would choose each arm into
    /// `out` and returns true, for the policies where it has a closed form
    /// (uniform, both epsilon-greedys, softmax, EXP3, and the point masses of
    /// UCB1 and KL-UCB). Returns false, leaving `out` untouched, for the
    /// Thompson family (whose probabilities are integrals without a closed
    /// form) or when `out.len() != arms`. For logging propensities.
    pub fn probabilities(&self, context: usize, out: &mut [f64]) -> bool {
        if out.len() != self.arms {
            return false;
        }
        let ctx = self.context_or_zero(context);
        let (n, s) = self.stats(ctx);
        let k = self.arms as f64;
        match self.spec {
            PolicySpec::Uniform => out.fill(1.0 / k),
            PolicySpec::EpsilonGreedy { epsilon } => {
                epsilon_greedy_probabilities(n, s, epsilon, out);
            }
            PolicySpec::DecayingEpsilonGreedy { c } => {
                let eps = self.decayed_epsilon(ctx, c);
                epsilon_greedy_probabilities(n, s, eps, out);
            }
            PolicySpec::Ucb1 | PolicySpec::KlUcb { .. } => {
                let arm = match self.spec {
                    PolicySpec::Ucb1 => self.ucb1(ctx),
                    _ => kl_ucb_select(n, s, self.kl_ucb_exploration(ctx)),
                };
                out.fill(0.0);
                out[arm] = 1.0;
            }
            PolicySpec::Exp3 { gamma } => {
                let lw = self.log_weights(ctx);
                let max = max_of(lw);
                let total: f64 = lw.iter().map(|w| (w - max).exp()).sum();
                for (p, w) in out.iter_mut().zip(lw) {
                    *p = (1.0 - gamma) * (w - max).exp() / total + gamma / k;
                }
            }
            PolicySpec::Softmax { temperature } => softmax_probabilities(n, s, temperature, out),
            // Never built: `layout` refuses it.
            PolicySpec::Plugin
            | PolicySpec::LinUcb { .. }
            | PolicySpec::LinTs { .. }
            | PolicySpec::LogisticTs { .. } => return false,
            PolicySpec::ThompsonBeta { .. }
            | PolicySpec::ThompsonGaussian { .. }
            | PolicySpec::TopTwoThompson { .. }
            | PolicySpec::DiscountedThompson { .. }
            | PolicySpec::SlidingWindowThompson { .. } => return false,
        }
        true
    }

    #[inline]
    pub(super) fn cell(&self, context: usize, arm: usize) -> Option<usize> {
        (context < self.contexts && arm < self.arms).then(|| context * self.arms + arm)
    }

    #[inline]
    pub(super) fn context_or_zero(&self, context: usize) -> usize {
        if context < self.contexts { context } else { 0 }
    }

    /// The (count, reward_sum) slices of one context.
    #[inline]
    pub(super) fn stats(&self, context: usize) -> (&[f64], &[f64]) {
        let cells = context * self.arms..(context + 1) * self.arms;
        (&self.count[cells.clone()], &self.reward_sum[cells])
    }

    /// The UCB1 cache of a cell, after its count or sum changed.
    #[inline]
    fn refresh_ucb1(&mut self, cell: usize) {
        // An unpulled arm is chosen before any index is compared; zeros
        // rather than 1/0 keep the state equal to itself.
        let n = self.count[cell];
        (self.ucb1_root[cell], self.ucb1_mean[cell]) = if n > 0.0 {
            ucb1_parts(n, self.reward_sum[cell])
        } else {
            (0.0, 0.0)
        };
    }

    /// The prepared posterior of a Beta-Bernoulli Thompson cell, after its
    /// count or sum changed: the shapes `thompson_beta_select` would use.
    #[inline]
    fn refresh_posterior(&mut self, cell: usize) {
        if let PolicySpec::ThompsonBeta { prior_a, prior_b } = self.spec {
            let (a, b) = beta_shapes(self.count[cell], self.reward_sum[cell], prior_a, prior_b);
            self.posterior[cell] = BetaShape::new(a, b);
        }
    }

    /// UCB1's choice in a context, from the cached parts of its indices.
    #[inline]
    fn ucb1(&self, context: usize) -> usize {
        let cells = context * self.arms..(context + 1) * self.arms;
        ucb1_select(
            &self.count[cells.clone()],
            &self.ucb1_root[cells.clone()],
            &self.ucb1_mean[cells],
            ucb1_width(self.updates[context]),
        )
    }

    #[inline]
    pub(super) fn log_weights(&self, context: usize) -> &[f64] {
        &self.log_weight[context * self.arms..(context + 1) * self.arms]
    }

    #[inline]
    fn decayed_epsilon(&self, context: usize, c: f64) -> f64 {
        let t = self.updates[context] as f64 + 1.0;
        (c * self.arms as f64 / t).min(1.0)
    }

    /// `ln t + c ln ln t`; the second term is dropped while `ln t <= 1`, where
    /// `ln ln t` is negative or undefined.
    pub(super) fn kl_ucb_exploration(&self, context: usize) -> f64 {
        let c = match self.spec {
            PolicySpec::KlUcb { c } => c,
            _ => 0.0,
        };
        let ln_t = (self.updates[context].max(1) as f64).ln();
        if ln_t > 1.0 && c > 0.0 {
            ln_t + c * ln_t.ln()
        } else {
            ln_t
        }
    }

    fn window_push(&mut self, context: usize, arm: usize, reward: f64, window: usize) {
        let base = context * window;
        let start = self.window_start[context];
        let len = self.window_len[context];
        if len == window {
            let old_arm = self.window_arm[base + start] as usize;
            let old = context * self.arms + old_arm;
            self.count[old] -= 1.0;
            self.reward_sum[old] -= self.window_reward[base + start];
            // Counts are whole numbers, so an arm that has left the window is
            // exactly 0; resetting its sum drops the rounding that adding and
            // subtracting fractional rewards leaves behind.
            if self.count[old] < 0.5 {
                self.count[old] = 0.0;
                self.reward_sum[old] = 0.0;
            }
            self.window_arm[base + start] = arm as u32;
            self.window_reward[base + start] = reward;
            self.window_start[context] = (start + 1) % window;
        } else {
            let slot = (start + len) % window;
            self.window_arm[base + slot] = arm as u32;
            self.window_reward[base + slot] = reward;
            self.window_len[context] = len + 1;
        }
    }
}

impl Policy for PolicyState {
    fn arms(&self) -> usize {
        self.arms
    }

    fn select<R: rand::Rng + ?Sized>(&self, context: usize, rng: &mut R) -> usize {
        let ctx = self.context_or_zero(context);
        let (n, s) = self.stats(ctx);
        match self.spec {
            // Never built (`layout` refuses them); uniform keeps `select` total.
            PolicySpec::Uniform
            | PolicySpec::Plugin
            | PolicySpec::LinUcb { .. }
            | PolicySpec::LinTs { .. }
            | PolicySpec::LogisticTs { .. } => uniform_index(rng, self.arms),
            PolicySpec::EpsilonGreedy { epsilon } => epsilon_greedy(n, s, epsilon, rng),
            PolicySpec::DecayingEpsilonGreedy { c } => {
                epsilon_greedy(n, s, self.decayed_epsilon(ctx, c), rng)
            }
            PolicySpec::Ucb1 => self.ucb1(ctx),
            PolicySpec::KlUcb { .. } => kl_ucb_select(n, s, self.kl_ucb_exploration(ctx)),
            PolicySpec::ThompsonBeta { .. } => thompson_prepared_select(
                &self.posterior[ctx * self.arms..(ctx + 1) * self.arms],
                rng,
            ),
            PolicySpec::DiscountedThompson {
                prior_a, prior_b, ..
            }
            | PolicySpec::SlidingWindowThompson {
                prior_a, prior_b, ..
            } => thompson_beta_select(n, s, prior_a, prior_b, rng),
            PolicySpec::ThompsonGaussian {
                prior_mean,
                prior_var,
                noise_var,
            } => match noise_var {
                Some(noise) => gaussian_known_select(n, s, prior_mean, prior_var, noise, rng),
                None => {
                    let sq = &self.sq_dev[ctx * self.arms..(ctx + 1) * self.arms];
                    gaussian_unknown_select(n, s, sq, prior_mean, prior_var, rng)
                }
            },
            PolicySpec::Exp3 { gamma } => exp3_select(self.log_weights(ctx), gamma, rng),
            PolicySpec::Softmax { temperature } => softmax_select(n, s, temperature, rng),
            PolicySpec::TopTwoThompson {
                beta,
                prior_a,
                prior_b,
            } => top_two_select(n, s, beta, prior_a, prior_b, rng),
        }
    }

    fn update(&mut self, context: usize, arm: usize, reward: f64) {
        let Some(cell) = self.cell(context, arm) else {
            return;
        };
        if !reward.is_finite() {
            return;
        }
        self.updates[context] = self.updates[context].saturating_add(1);
        self.total_pulls[cell] = self.total_pulls[cell].saturating_add(1);
        self.total_reward[cell] += reward;
        let unit = reward.clamp(0.0, 1.0);
        match self.spec {
            PolicySpec::Uniform
            | PolicySpec::EpsilonGreedy { .. }
            | PolicySpec::DecayingEpsilonGreedy { .. }
            | PolicySpec::Softmax { .. }
            | PolicySpec::Plugin
            | PolicySpec::LinUcb { .. }
            | PolicySpec::LinTs { .. }
            | PolicySpec::LogisticTs { .. } => {
                self.count[cell] += 1.0;
                self.reward_sum[cell] += reward;
            }
            PolicySpec::Ucb1 => {
                self.count[cell] += 1.0;
                self.reward_sum[cell] += reward;
                self.refresh_ucb1(cell);
            }
            PolicySpec::KlUcb { .. } | PolicySpec::TopTwoThompson { .. } => {
                self.count[cell] += 1.0;
                self.reward_sum[cell] += unit;
            }
            PolicySpec::ThompsonBeta { .. } => {
                self.count[cell] += 1.0;
                self.reward_sum[cell] += unit;
                self.refresh_posterior(cell);
            }
            PolicySpec::ThompsonGaussian { noise_var, .. } => {
                if noise_var.is_none() {
                    // Welford's update keeps Σ (x − x̄)² accurate where the
                    // textbook Σx² − n x̄² would cancel catastrophically.
                    let n = self.count[cell];
                    let old_mean = if n > 0.0 {
                        self.reward_sum[cell] / n
                    } else {
                        reward
                    };
                    let new_mean = (self.reward_sum[cell] + reward) / (n + 1.0);
                    self.sq_dev[cell] += (reward - old_mean) * (reward - new_mean);
                }
                self.count[cell] += 1.0;
                self.reward_sum[cell] += reward;
            }
            PolicySpec::Exp3 { gamma } => {
                exp3_update(
                    &mut self.log_weight[context * self.arms..(context + 1) * self.arms],
                    arm,
                    unit,
                    gamma,
                );
                self.count[cell] += 1.0;
                self.reward_sum[cell] += unit;
            }
            PolicySpec::DiscountedThompson { gamma, .. } => {
                let cells = context * self.arms..(context + 1) * self.arms;
                discount(
                    &mut self.count[cells.clone()],
                    &mut self.reward_sum[cells],
                    gamma,
                );
                self.count[cell] += 1.0;
                self.reward_sum[cell] += unit;
            }
            PolicySpec::SlidingWindowThompson { window, .. } => {
                self.window_push(context, arm, unit, window);
                self.count[cell] += 1.0;
                self.reward_sum[cell] += unit;
            }
        }
    }

    fn recommend(&self, context: usize) -> usize {
        let ctx = self.context_or_zero(context);
        let (n, s) = self.stats(ctx);
        let pairs = n.iter().zip(s);
        if let Some((prior_a, prior_b)) = self.spec.beta_prior() {
            // The Beta family: the posterior mean.
            return argmax(
                pairs
                    .map(|(&n, &s)| (prior_a + successes(n, s)) / (prior_a + prior_b + n.max(0.0))),
            );
        }
        match self.spec {
            PolicySpec::ThompsonGaussian {
                prior_mean,
                prior_var,
                noise_var,
            } => match noise_var {
                Some(noise) => argmax(pairs.map(|(&n, &s)| {
                    gaussian_known_posterior(n, s, prior_mean, prior_var, noise).0
                })),
                None => argmax(pairs.map(|(&n, &s)| (prior_mean + s) / (1.0 + n))),
            },
            // Arms never pulled rank below every pulled arm.
            _ => argmax(pairs.map(|(&n, &s)| if n > 0.0 { s / n } else { f64::NEG_INFINITY })),
        }
    }
}

//! How wrong each off-policy estimator is, against ground truth: a feature
//! environment, a logging policy and target policies, all fixed stochastic
//! policies on the environment's true means ([`StaticPolicy`]), as a
//! scenario's `[ope]` table names them ([`OpeSpec`]). Each replication logs
//! the largest log size's rounds under the logging policy (contexts from
//! `Purpose::Context`, actions from the `logging` policy stream, rewards
//! from `Purpose::Reward`); each smaller size is a prefix of that log, so a
//! row of the table is the same logs growing. At each size the ridge
//! reward model is fitted on the prefix and every target is estimated by
//! every [`Estimator`]. A target's truth V(π) = E_x Σ_a π(a | x)·μ_a(x) is
//! averaged over `truth_contexts` contexts of their own stream
//! (`Purpose::Truth`), and its Monte Carlo error is reported beside it: it
//! must be small against the estimators' standard errors for coverage to
//! mean anything.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::super::features::FeatureEnv;
use super::acc::OpeAcc;
use super::estimators::{Estimate, Estimator, estimate};
use super::{LoggedData, RidgeModel};
use crate::rng::{Purpose, StreamKey, unit_f64};

/// A fixed stochastic policy on the environment's true means.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StaticPolicy {
    /// Every arm alike.
    Uniform,
    /// The best arm for the context with probability 1 − ε, else uniform.
    EpsilonGreedy {
        /// Exploration share, in [0, 1].
        epsilon: f64,
    },
    /// Probabilities ∝ exp(μ_a(x)/temperature).
    Softmax {
        /// Temperature, > 0.
        temperature: f64,
    },
    /// The worst arm for the context with probability 1 − ε, else uniform: a
    /// target far from a good logging policy.
    EpsilonWorst {
        /// Exploration share, in [0, 1].
        epsilon: f64,
    },
}

impl StaticPolicy {
    /// The policies' `type` keys in scenarios, in documentation order.
    pub const TYPES: [&'static str; 4] = ["uniform", "epsilon_greedy", "softmax", "epsilon_worst"];

    /// Its action probabilities into `out`, given each arm's true mean in
    /// the context (`means`, the same length).
    pub fn probabilities(&self, means: &[f64], out: &mut [f64]) {
        let k = out.len();
        let uniform = 1.0 / k as f64;
        // The first arm of the highest (or lowest) mean.
        let extreme = |best: bool| {
            let mut pick = (0, means[0]);
            for (a, &m) in means.iter().enumerate().skip(1) {
                if (best && m > pick.1) || (!best && m < pick.1) {
                    pick = (a, m);
                }
            }
            pick.0
        };
        match *self {
            StaticPolicy::Uniform => out.fill(uniform),
            StaticPolicy::EpsilonGreedy { epsilon } | StaticPolicy::EpsilonWorst { epsilon } => {
                let chosen = extreme(matches!(self, StaticPolicy::EpsilonGreedy { .. }));
                out.fill(epsilon * uniform);
                out[chosen] += 1.0 - epsilon;
            }
            StaticPolicy::Softmax { temperature } => {
                let top = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut total = 0.0;
                for (p, &m) in out.iter_mut().zip(means) {
                    *p = ((m - top) / temperature).exp();
                    total += *p;
                }
                out.iter_mut().for_each(|p| *p /= total);
            }
        }
    }
}

impl std::fmt::Display for StaticPolicy {
    /// As the table's header names it, e.g. `softmax (temperature 0.5)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StaticPolicy::Uniform => write!(f, "uniform"),
            StaticPolicy::EpsilonGreedy { epsilon } => {
                write!(f, "epsilon_greedy (epsilon {epsilon})")
            }
            StaticPolicy::Softmax { temperature } => {
                write!(f, "softmax (temperature {temperature})")
            }
            StaticPolicy::EpsilonWorst { epsilon } => {
                write!(f, "epsilon_worst (epsilon {epsilon})")
            }
        }
    }
}

/// A target policy under its name in the scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeTarget {
    /// Its name, `[ope.targets.NAME]`; it keys results and expectations.
    pub name: String,
    /// The policy.
    pub policy: StaticPolicy,
}

/// What to measure: between which bounds an estimator's error must lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpeMeasure {
    /// Mean error against the truth.
    Bias,
    /// Root mean squared error against the truth.
    Rmse,
    /// Share of intervals that held the truth.
    Coverage,
    /// RMSE over another target's RMSE, same estimator and log size.
    RmseRatio,
}

impl OpeMeasure {
    /// Every measure, in documentation order.
    pub const ALL: [OpeMeasure; 4] = [
        OpeMeasure::Bias,
        OpeMeasure::Rmse,
        OpeMeasure::Coverage,
        OpeMeasure::RmseRatio,
    ];

    /// Its key in scenarios and results.
    pub fn key(self) -> &'static str {
        match self {
            OpeMeasure::Bias => "bias",
            OpeMeasure::Rmse => "rmse",
            OpeMeasure::Coverage => "coverage",
            OpeMeasure::RmseRatio => "rmse_ratio",
        }
    }

    /// The measure with key `key`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.key() == key)
    }
}

/// One bound on one target's estimator, `[expect.TARGET.ESTIMATOR] MEASURE
/// = { min, max, log_size, to }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeExpectation {
    /// Its path in the scenario, `expect.TARGET.ESTIMATOR.MEASURE`.
    pub key: String,
    /// Index of the target in [`OpeSpec::targets`].
    pub target: usize,
    /// The estimator judged.
    pub estimator: Estimator,
    /// What is measured.
    pub measure: OpeMeasure,
    /// For `rmse_ratio`: the target whose RMSE is the denominator.
    pub relative_to: Option<usize>,
    /// Index of the one log size judged; `None` judges every size.
    pub log_size: Option<usize>,
    /// The bounds.
    pub bound: crate::result::Bound,
}

/// A bandit scenario's off-policy study (`[ope]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeSpec {
    /// The policy that logs the data.
    pub logging: StaticPolicy,
    /// The policies evaluated, in result order.
    pub targets: Vec<OpeTarget>,
    /// Rounds per log, ascending and distinct; each is a prefix of the largest.
    pub log_sizes: Vec<u64>,
    /// The ridge reward model's penalty (DM and DR).
    pub ridge_lambda: f64,
    /// The estimators' intervals are at level 1 − alpha.
    pub alpha: f64,
    /// Contexts the truth is averaged over.
    pub truth_contexts: u64,
    /// When set, each round's logged propensity is not the logging policy's
    /// probability but the share of this many independent draws of the
    /// policy that pick the arm played (at least one: floored at 1/draws),
    /// as a server logs a Thompson-family policy's propensities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity_draws: Option<u64>,
    /// The bounds the study is judged against.
    pub expectations: Vec<OpeExpectation>,
}

impl OpeSpec {
    /// The largest log size.
    pub fn rounds(&self) -> usize {
        self.log_sizes.last().map_or(0, |&n| n as usize)
    }

    /// Cells of the table: log sizes × targets × estimators, in that order.
    pub fn cells(&self) -> usize {
        self.log_sizes.len() * self.targets.len() * Estimator::ALL.len()
    }
}

/// A target's true value and its Monte Carlo standard error, over
/// `samples` contexts of the Truth stream.
pub fn true_value(env: &FeatureEnv, target: &StaticPolicy, seed: u64, samples: u64) -> (f64, f64) {
    let mut rng = StreamKey::new(seed, Purpose::Truth).replication(0);
    let (mut x, mut p) = (vec![0.0; env.dim()], vec![0.0; env.arms()]);
    let mut mu = vec![0.0; env.arms()];
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..samples {
        env.draw_context(&mut rng, &mut x);
        means(env, &x, &mut mu);
        target.probabilities(&mu, &mut p);
        let v: f64 = p.iter().zip(&mu).map(|(p, m)| p * m).sum();
        sum += v;
        sum_sq += v * v;
    }
    let n = samples.max(1) as f64;
    let mean = sum / n;
    (mean, ((sum_sq / n - mean * mean).max(0.0) / n).sqrt())
}

/// Each arm's true mean in context `x`, computed once per context for the
/// logging policy, every target and the reward.
fn means(env: &FeatureEnv, x: &[f64], out: &mut [f64]) {
    for (a, m) in out.iter_mut().enumerate() {
        *m = env.mean(x, a);
    }
}

/// Draws an arm from probabilities `p` with one uniform.
fn draw<R: Rng + ?Sized>(p: &[f64], rng: &mut R) -> usize {
    let u = unit_f64(rng.next_u64());
    let mut acc = 0.0;
    for (a, &q) in p.iter().enumerate() {
        acc += q;
        if u < acc {
            return a;
        }
    }
    p.len() - 1
}

/// A study ready to run: the spec on its environment, with every target's
/// truth computed once.
#[derive(Clone, Debug)]
pub struct Study<'a> {
    env: &'a FeatureEnv,
    spec: &'a OpeSpec,
    seed: u64,
    truth: Vec<(f64, f64)>,
}

impl<'a> Study<'a> {
    /// The study of `spec` on `env` with the streams of `seed`; computes the
    /// truths (the targets side by side on the rayon pool).
    pub fn new(env: &'a FeatureEnv, spec: &'a OpeSpec, seed: u64) -> Self {
        use rayon::prelude::*;
        let truth = spec
            .targets
            .par_iter()
            .map(|t| true_value(env, &t.policy, seed, spec.truth_contexts))
            .collect();
        Self {
            env,
            spec,
            seed,
            truth,
        }
    }

    /// Every target's truth and its Monte Carlo standard error.
    pub fn truth(&self) -> &[(f64, f64)] {
        &self.truth
    }

    /// Replication `r`: every estimate, log sizes × targets × estimators
    /// ([`OpeSpec::cells`] order; `None` where the log cannot give one).
    pub fn replicate(&self, r: u64) -> Vec<Option<Estimate>> {
        let (env, spec) = (self.env, self.spec);
        let (n, k, d) = (spec.rounds(), env.arms(), env.dim());
        let mut contexts_rng = StreamKey::new(self.seed, Purpose::Context).replication(r);
        let mut rewards_rng = StreamKey::new(self.seed, Purpose::Reward).replication(r);
        let mut logging_rng = StreamKey::new(self.seed, Purpose::policy("logging")).replication(r);
        let mut propensity_rng =
            StreamKey::new(self.seed, Purpose::policy("propensity")).replication(r);
        let mut contexts = vec![0.0; n * d];
        let (mut actions, mut rewards, mut propensities) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut targets = vec![vec![0.0; n * k]; spec.targets.len()];
        let (mut p, mut mu) = (vec![0.0; k], vec![0.0; k]);
        for i in 0..n {
            let x = &mut contexts[i * d..(i + 1) * d];
            env.draw_context(&mut contexts_rng, x);
            means(env, x, &mut mu);
            spec.logging.probabilities(&mu, &mut p);
            let a = draw(&p, &mut logging_rng);
            actions.push(a);
            propensities.push(match spec.propensity_draws {
                None => p[a],
                Some(m) => {
                    let wins = crate::binomial::sample(&mut propensity_rng, m, p[a]).max(1);
                    wins as f64 / m as f64
                }
            });
            rewards.push(env.reward(mu[a], &mut rewards_rng));
            for (t, probs) in spec.targets.iter().zip(&mut targets) {
                t.policy.probabilities(&mu, &mut probs[i * k..(i + 1) * k]);
            }
        }
        let mut out = Vec::with_capacity(spec.cells());
        for &size in &spec.log_sizes {
            let m = size as usize;
            let q_hat = RidgeModel::fit(
                k,
                d,
                &contexts[..m * d],
                &actions[..m],
                &rewards[..m],
                spec.ridge_lambda,
            )
            .map(|model| model.predictions(&contexts[..m * d]))
            .unwrap_or_default();
            for probs in &targets {
                let data = LoggedData::new(
                    k,
                    &actions[..m],
                    &rewards[..m],
                    &propensities[..m],
                    &probs[..m * k],
                    &q_hat,
                );
                match data {
                    Ok(data) => {
                        out.extend(Estimator::ALL.map(|e| estimate(e, &data, spec.alpha).ok()));
                    }
                    Err(_) => out.extend([None; 4]),
                }
            }
        }
        out
    }

    /// An empty accumulator with this study's truths.
    pub fn acc(&self) -> OpeAcc {
        OpeAcc::new(self.truth.clone(), self.spec.cells())
    }

    /// Replications `range`, on the rayon pool, folded in order, a chunk at
    /// a time.
    pub fn run(&self, range: std::ops::Range<u64>) -> OpeAcc {
        use rayon::prelude::*;
        // In chunks, so memory does not grow with the replications.
        const CHUNK: u64 = 1024;
        let mut acc = self.acc();
        let mut start = range.start;
        while start < range.end {
            let end = (start + CHUNK).min(range.end);
            let rows: Vec<_> = (start..end)
                .into_par_iter()
                .map(|r| self.replicate(r))
                .collect();
            for row in &rows {
                acc.add(row);
            }
            start = end;
        }
        acc
    }
}

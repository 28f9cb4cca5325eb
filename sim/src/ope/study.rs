//! How wrong each off-policy estimator is, against ground truth: a feature
//! environment, a logging policy and a target policy, both fixed stochastic
//! policies on the environment's true means ([`StaticPolicy`]). Each
//! replication logs `rounds` rounds under the logging policy (contexts
//! from `Purpose::Context`, actions from the logging policy's stream,
//! rewards from `Purpose::Reward`), fits the ridge reward model on them and
//! estimates the target's value with every [`Estimator`]. The truth V(π) =
//! E_x Σ_a π(a | x)·μ_a(x) is averaged over `truth_samples` contexts of
//! their own stream (`Purpose::Truth`): its Monte Carlo error is reported
//! beside it, and must be small against the estimators' standard errors
//! for coverage to mean anything.

use rand::Rng;

use super::estimators::{Estimator, estimate};
use super::{LoggedData, RidgeModel};
use crate::bandit::features::FeatureEnv;
use crate::rng::{Purpose, StreamKey, unit_f64};

/// A fixed stochastic policy on the environment's true means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StaticPolicy {
    /// Every arm alike.
    Uniform,
    /// The best arm for the context with probability 1 − ε, else uniform.
    EpsilonGreedy {
        /// Exploration share.
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
        /// Exploration share.
        epsilon: f64,
    },
}

impl StaticPolicy {
    /// Its action probabilities in context `x` into `out` (length arms).
    pub fn probabilities(&self, env: &FeatureEnv, x: &[f64], out: &mut [f64]) {
        let k = out.len();
        let uniform = 1.0 / k as f64;
        let extreme = |best: bool| {
            let mut pick = (
                0,
                if best {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                },
            );
            for a in 0..k {
                let m = env.mean(x, a);
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
                let top = (0..k)
                    .map(|a| env.mean(x, a))
                    .fold(f64::NEG_INFINITY, f64::max);
                let mut total = 0.0;
                for (a, p) in out.iter_mut().enumerate() {
                    *p = ((env.mean(x, a) - top) / temperature).exp();
                    total += *p;
                }
                out.iter_mut().for_each(|p| *p /= total);
            }
        }
    }
}

/// One off-policy study: what is logged and what is evaluated.
#[derive(Clone, Debug)]
pub struct OpeStudy {
    /// The environment.
    pub env: FeatureEnv,
    /// The policy that logged the data.
    pub logging: StaticPolicy,
    /// The policy evaluated.
    pub target: StaticPolicy,
    /// Rounds per log.
    pub rounds: usize,
    /// The ridge reward model's penalty.
    pub ridge_lambda: f64,
    /// The interval's level is 1 − alpha.
    pub alpha: f64,
    /// The scenario's seed.
    pub seed: u64,
}

/// The target's true value and its Monte Carlo standard error, over
/// `samples` contexts of the Truth stream.
pub fn true_value(study: &OpeStudy, samples: u64) -> (f64, f64) {
    let env = &study.env;
    let mut rng = StreamKey::new(study.seed, Purpose::Truth).replication(0);
    let (mut x, mut p) = (vec![0.0; env.dim()], vec![0.0; env.arms()]);
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..samples {
        env.draw_context(&mut rng, &mut x);
        study.target.probabilities(env, &x, &mut p);
        let v: f64 = p.iter().enumerate().map(|(a, p)| p * env.mean(&x, a)).sum();
        sum += v;
        sum_sq += v * v;
    }
    let n = samples as f64;
    let mean = sum / n;
    (mean, ((sum_sq / n - mean * mean).max(0.0) / n).sqrt())
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

/// Replication `r`: every estimator's estimate of the target's value, in
/// [`Estimator::ALL`] order (`None` where the log cannot give one).
pub fn replicate(study: &OpeStudy, r: u64) -> [Option<super::Estimate>; 4] {
    let env = &study.env;
    let (n, k, d) = (study.rounds, env.arms(), env.dim());
    let mut contexts_rng = StreamKey::new(study.seed, Purpose::Context).replication(r);
    let mut rewards_rng = StreamKey::new(study.seed, Purpose::Reward).replication(r);
    let mut logging_rng = StreamKey::new(study.seed, Purpose::policy("logging")).replication(r);
    let mut contexts = vec![0.0; n * d];
    let (mut actions, mut rewards, mut propensities) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut target = vec![0.0; n * k];
    let mut p = vec![0.0; k];
    for i in 0..n {
        let x = &mut contexts[i * d..(i + 1) * d];
        env.draw_context(&mut contexts_rng, x);
        study.logging.probabilities(env, x, &mut p);
        let a = draw(&p, &mut logging_rng);
        actions.push(a);
        propensities.push(p[a]);
        rewards.push(env.reward(env.mean(x, a), &mut rewards_rng));
        study
            .target
            .probabilities(env, x, &mut target[i * k..(i + 1) * k]);
    }
    let q_hat = RidgeModel::fit(k, d, &contexts, &actions, &rewards, study.ridge_lambda)
        .map(|m| m.predictions(&contexts))
        .unwrap_or_default();
    let Ok(data) = LoggedData::new(k, &actions, &rewards, &propensities, &target, &q_hat) else {
        return [None; 4];
    };
    Estimator::ALL.map(|e| estimate(e, &data, study.alpha).ok())
}

/// Per estimator, over replications: errors against the truth and how
/// often the interval covered it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorStats {
    /// Replications with an estimate.
    pub n: u64,
    /// Σ (estimate − truth).
    pub error_sum: f64,
    /// Σ (estimate − truth)².
    pub error_sq_sum: f64,
    /// Replications whose interval held the truth.
    pub covered: u64,
}

impl ErrorStats {
    /// Adds one replication's estimate against `truth`.
    pub fn add(&mut self, e: &super::Estimate, truth: f64) {
        let err = e.value - truth;
        self.n += 1;
        self.error_sum += err;
        self.error_sq_sum += err * err;
        self.covered += u64::from(e.ci.0 <= truth && truth <= e.ci.1);
    }

    /// Mean error.
    pub fn bias(&self) -> f64 {
        self.error_sum / self.n as f64
    }

    /// Root mean squared error.
    pub fn rmse(&self) -> f64 {
        (self.error_sq_sum / self.n as f64).sqrt()
    }

    /// Share of intervals that held the truth.
    pub fn coverage(&self) -> f64 {
        self.covered as f64 / self.n as f64
    }
}

/// Replications `0..replications`, folded in order: the truth (with its
/// Monte Carlo error) and each estimator's [`ErrorStats`].
pub fn run(
    study: &OpeStudy,
    replications: u64,
    truth_samples: u64,
) -> ((f64, f64), [ErrorStats; 4]) {
    use rayon::prelude::*;
    let truth = true_value(study, truth_samples);
    let estimates: Vec<_> = (0..replications)
        .into_par_iter()
        .map(|r| replicate(study, r))
        .collect();
    let mut stats = [ErrorStats::default(); 4];
    for row in &estimates {
        for (s, e) in stats.iter_mut().zip(row) {
            if let Some(e) = e {
                s.add(e, truth.0);
            }
        }
    }
    (truth, stats)
}

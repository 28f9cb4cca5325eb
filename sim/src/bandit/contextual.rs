//! Contextual runs: one replication of a [`FeatureEnv`] against a learner,
//! either a feature-based [`LinearPolicy`] or a non-contextual
//! [`PolicyState`] that pools every context (the baseline a linear policy
//! must beat). Streams follow the bandit engine's: contexts from
//! `Purpose::Context`, rewards from `Purpose::Reward` and the learner's
//! randomness from `Purpose::policy(name)`, each the replication's stream.
//! The context and reward streams are read the same way whatever the
//! learner does (one context and one reward draw per step, for the arm
//! played), so every learner meets the same contexts and the same reward
//! noise: common random numbers, as for non-contextual policies.
//!
//! Regret is pseudo-regret against the best arm for each context:
//! Σ_t μ*(x_t) − μ_{a_t}(x_t). Updates are delivered in batches of
//! `update_every` steps (1: after each step), in step order; with a delay,
//! each reward is due `delay` steps after its pull (random delays from
//! `Purpose::Feedback`, as the engine draws them) and the batch boundary
//! delivers every reward due by then, with the context it was pulled in.

use super::accumulator::PolicyRun;
use super::env::Delay;
use super::features::FeatureEnv;
use super::feedback::Pending;
use super::linear::LinearPolicy;
use super::policy::{Policy, PolicyState};
use crate::rng::{Purpose, StreamKey};

/// What learns in a contextual run.
#[derive(Clone, Debug)]
pub enum Learner {
    /// A policy on the context's features.
    Linear(LinearPolicy),
    /// A non-contextual policy: every step is context 0.
    Pooled(Box<PolicyState>),
}

impl Learner {
    fn select<R: rand::Rng + ?Sized>(&self, x: &[f64], rng: &mut R) -> usize {
        match self {
            Learner::Linear(p) => p.select(x, rng),
            Learner::Pooled(p) => p.select(0, rng),
        }
    }

    fn update(&mut self, x: &[f64], arm: usize, r: f64) {
        match self {
            Learner::Linear(p) => p.update(x, arm, r),
            Learner::Pooled(p) => p.update(0, arm, r),
        }
    }
}

/// One replication: pseudo-regret and pulls per arm at each of
/// `checkpoints` (steps, ascending, each at most `horizon`), realised
/// regret and best-arm pulls over the horizon, as the bandit engine's
/// [`PolicyRun`] holds them. A context has no single best arm, so
/// `recommended_best` stays false. Rewards wait in [`Pending`] (the
/// engine's queue) keyed by their step's slot in a ring of contexts long
/// enough ([`context_ring`]) that no slot is reused before its reward is
/// learnt.
pub fn run(
    env: &FeatureEnv,
    learner: &mut Learner,
    horizon: u64,
    (update_every, delay): (u64, Delay),
    checkpoints: &[u64],
    (seed, policy, replication): (u64, &str, u64),
) -> PolicyRun {
    let mut contexts = StreamKey::new(seed, Purpose::Context).replication(replication);
    let mut rewards = StreamKey::new(seed, Purpose::Reward).replication(replication);
    let mut feedback = StreamKey::new(seed, Purpose::Feedback).replication(replication);
    let mut rng = StreamKey::new(seed, Purpose::policy(policy)).replication(replication);
    let (dim, k) = (env.dim(), env.arms());
    let ring = context_ring(update_every, delay);
    // Validation bounds ring × dim (`MAX_CONTEXT_RING`).
    let mut xs = vec![0.0; ring as usize * dim];
    let mut pending = Pending::default();
    let mut run = PolicyRun {
        regret: Vec::with_capacity(checkpoints.len()),
        pulls: vec![0; k],
        pulls_at: Vec::with_capacity(checkpoints.len() * k),
        ..PolicyRun::default()
    };
    let mut next = checkpoints.iter().peekable();
    let mut regret = 0.0;
    for t in 0..horizon {
        let slot = (t % ring) as usize;
        let x = &mut xs[slot * dim..(slot + 1) * dim];
        env.draw_context(&mut contexts, x);
        let arm = learner.select(x, &mut rng).min(k - 1);
        let (best, best_mean) = env.best(x);
        let mean = if arm == best {
            best_mean
        } else {
            env.mean(x, arm)
        };
        let reward = env.reward(mean, &mut rewards);
        regret += best_mean - mean;
        run.realised_regret += best_mean - reward;
        run.best_pulls += u64::from(arm == best);
        run.pulls[arm] += 1;
        pending.push(delay, t, slot, arm, reward, &mut feedback);
        if (t + 1) % update_every.max(1) == 0 {
            pending.deliver(t, |c, a, r| {
                learner.update(&xs[c * dim..(c + 1) * dim], a, r);
            });
        }
        while next.peek().is_some_and(|&&c| c == t + 1) {
            run.regret.push(regret);
            run.pulls_at.extend_from_slice(&run.pulls);
            next.next();
        }
    }
    run
}

/// Contexts a delayed run keeps: every context whose reward is still
/// outstanding, at most the longest delay plus a batch.
pub fn context_ring(update_every: u64, delay: Delay) -> u64 {
    let longest = match delay {
        Delay::None => 0,
        Delay::Fixed(d) => d,
        Delay::Uniform { max, .. } => max,
    };
    longest + update_every.max(1) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bandit::features::{Block, Coefficients, Link, Noise};
    use crate::bandit::linear::LinearKind;
    use crate::bandit::policy::PolicySpec;

    fn small_env() -> FeatureEnv {
        FeatureEnv::new(
            vec![
                Block::Constant,
                Block::Gaussian {
                    dim: 3,
                    mean: 0.0,
                    sd: 1.0,
                },
            ],
            4,
            Link::Logistic,
            Noise::Bernoulli,
            &Coefficients::Drawn { scale: 0.8 },
            7,
        )
    }

    fn lin_ts() -> Learner {
        Learner::Linear(LinearPolicy::new(LinearKind::LinTs { v: 0.3 }, 4, 4, 1.0).expect("valid"))
    }

    /// A fixed delay of 0 learns exactly what no delay learns, in the same
    /// order, batched or not.
    #[test]
    fn a_zero_delay_is_the_undelayed_run() {
        let env = small_env();
        let cps = [10, 100, 1000];
        for every in [1, 7] {
            let plain = run(
                &env,
                &mut lin_ts(),
                1000,
                (every, Delay::None),
                &cps,
                (3, "p", 2),
            );
            let zero = run(
                &env,
                &mut lin_ts(),
                1000,
                (every, Delay::Fixed(0)),
                &cps,
                (3, "p", 2),
            );
            assert_eq!(plain, zero, "update_every {every}");
        }
    }

    /// Delayed rewards cost regret: a policy that learns 300 steps late
    /// explores longer (8 replications, each delay alike).
    #[test]
    fn delays_cost_regret() {
        let env = small_env();
        let regret = |delay| -> f64 {
            (0..8)
                .map(|r| {
                    let run = run(&env, &mut lin_ts(), 2000, (1, delay), &[2000], (3, "p", r));
                    run.regret[0]
                })
                .sum()
        };
        let (none, late) = (
            regret(Delay::None),
            regret(Delay::Uniform { min: 200, max: 400 }),
        );
        assert!(late > none + 8.0 * 10.0, "regret {none} → {late}");
    }

    /// 10 arms, an intercept and 9 Gaussian features, logistic Bernoulli
    /// rewards with drawn coefficients: the linear policies' regret per step
    /// falls as the horizon grows (sublinear), the pooled Thompson's does
    /// not (linear: it can only find the best arm on average).
    #[test]
    fn linear_policies_have_sublinear_regret_and_pooled_linear() {
        let env = FeatureEnv::new(
            vec![
                Block::Constant,
                Block::Gaussian {
                    dim: 9,
                    mean: 0.0,
                    sd: 1.0,
                },
            ],
            10,
            Link::Logistic,
            Noise::Bernoulli,
            &Coefficients::Drawn { scale: 0.5 },
            2026,
        );
        let checkpoints = [500, 4000];
        let per_step = |make: &dyn Fn() -> Learner| {
            let mut sums = [0.0; 2];
            for r in 0..8 {
                let regret = run(
                    &env,
                    &mut make(),
                    4000,
                    (1, Delay::None),
                    &checkpoints,
                    (2026, "p", r),
                )
                .regret;
                sums[0] += regret[0] / 500.0;
                sums[1] += regret[1] / 4000.0;
            }
            (sums[0] / 8.0, sums[1] / 8.0)
        };
        for kind in [
            LinearKind::LinUcb { alpha: 0.5 },
            LinearKind::LinTs { v: 0.3 },
            LinearKind::LogisticTs,
        ] {
            let (early, late) =
                per_step(&|| Learner::Linear(LinearPolicy::new(kind, 10, 10, 1.0).expect("valid")));
            assert!(
                late < 0.5 * early,
                "{kind:?}: regret per step {early} → {late}"
            );
        }
        let spec = PolicySpec::ThompsonBeta {
            prior_a: 1.0,
            prior_b: 1.0,
        };
        let (early, late) =
            per_step(&|| Learner::Pooled(Box::new(PolicyState::new(&spec, 10, 1).expect("valid"))));
        assert!(
            late > 0.7 * early,
            "pooled: regret per step {early} → {late}"
        );
    }
}

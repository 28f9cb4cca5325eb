//! The bandit engine: each policy against the same environment and reward
//! stream, replication by replication, folded in replication order into a
//! [`BanditAcc`].

use rand::RngExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::accumulator::{BanditAcc, PolicyRun};
use super::env::{Delay, Environment};
use super::feedback::Pending;
use super::model::{BanditScenario, NamedPolicy};
use super::ope::acc::OpeAcc;
use super::ope::study::Study;
use super::policy::{Policy, PolicyState};
use crate::rng::{Purpose, StreamKey};

/// Log-spaced checkpoints 1, 2, 5, 10, 20, 50, … up to and including the horizon.
pub fn checkpoints(horizon: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut decade = 1u64;
    'outer: loop {
        for m in [1u64, 2, 5] {
            let t = decade.saturating_mul(m);
            if t >= horizon {
                break 'outer;
            }
            out.push(t);
        }
        decade = decade.saturating_mul(10);
    }
    out.push(horizon);
    out
}

/// A step of a traced run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The step, 0-based.
    pub t: u64,
    /// The step's segment (0 without segments).
    pub segment: usize,
    /// The arm the policy pulled.
    pub arm: usize,
    /// The reward the pull drew.
    pub reward: f64,
    /// Cumulative pseudo-regret up to and including this step.
    pub regret: f64,
}

/// Per row of `k` means (one row per segment): the best arm and its mean.
#[inline]
pub(super) fn best_per_row(means: &[f64], k: usize, best: &mut [usize], best_mean: &mut [f64]) {
    for (row, (b, bm)) in best.iter_mut().zip(best_mean).enumerate() {
        *bm = f64::NEG_INFINITY;
        for (i, &m) in means[row * k..(row + 1) * k].iter().enumerate() {
            if m > *bm {
                *bm = m;
                *b = i;
            }
        }
    }
}

/// Keys and constants of a bandit scenario, built once.
pub struct BanditEngine<'a> {
    /// The environment every policy faces.
    pub env: &'a Environment,
    /// The policies, in scenario order (index `p` of [`BanditEngine::run_policy`]).
    pub policies: &'a [NamedPolicy],
    /// The scenario seed that keys every stream.
    pub seed: u64,
    pub(super) reward_key: StreamKey,
    pub(super) feedback_key: StreamKey,
    policy_keys: Vec<StreamKey>,
    /// Steps at which regret and pulls are recorded: [`checkpoints`] of the horizon.
    pub checkpoints: Vec<u64>,
    /// The scenario's off-policy study, run beside the policies.
    ope: Option<Study<'a>>,
}

impl<'a> BanditEngine<'a> {
    /// The engine for `policies` on `env`, with the streams of `seed`.
    pub fn new(env: &'a Environment, policies: &'a [NamedPolicy], seed: u64) -> Self {
        Self {
            env,
            policies,
            seed,
            reward_key: StreamKey::new(seed, Purpose::Reward),
            feedback_key: StreamKey::new(seed, Purpose::Feedback),
            policy_keys: policies
                .iter()
                .map(|p| StreamKey::new(seed, Purpose::policy(&p.name)))
                .collect(),
            checkpoints: checkpoints(env.horizon),
            ope: None,
        }
    }

    /// The engine for the whole of scenario `s`: its policies and, when it
    /// has one, its off-policy study (whose truths this computes).
    pub fn for_scenario(s: &'a BanditScenario) -> Self {
        let mut engine = Self::new(&s.env, &s.policies, s.seed);
        if let (Some(spec), Some(features)) = (&s.ope, &s.env.features) {
            engine.ope = Some(Study::new(features, spec, s.seed));
        }
        engine
    }

    /// The off-policy study's sums over replications `range`, when the
    /// scenario has one.
    pub fn run_ope(&self, range: std::ops::Range<u64>) -> Option<OpeAcc> {
        self.ope.as_ref().map(|o| o.run(range))
    }

    /// Run policy `p` on replication `r`; with `trace`, record up to
    /// `trace.capacity()` steps.
    pub fn run_policy(&self, p: usize, r: u64, mut trace: Option<&mut Vec<Step>>) -> PolicyRun {
        let env = self.env;
        if let Some(features) = &env.features {
            return self.run_on_features(features, p, r);
        }
        let k = env.arms();
        let segments = env.segments.len();
        let contextual = self.policies[p].contextual && segments > 1;
        // Construction was validated with the scenario.
        let contexts = if contextual { segments } else { 1 };
        let Ok(mut policy) = PolicyState::new(&self.policies[p].spec, k, contexts) else {
            return PolicyRun::default();
        };
        let mut policy_rng = self.policy_keys[p].replication(r);
        let mut reward_rng = self.reward_key.replication(r);
        let mut feedback_rng = self.feedback_key.replication(r);
        let reward_words = env.reward.words();
        // One more word per step picks the segment. With at most one segment
        // the stream is read exactly as without segments, so one segment of
        // weight 1 reproduces the plain environment bit for bit.
        let words_per_step = reward_words + usize::from(segments > 1);
        let mut words = vec![0u32; 1024 * words_per_step];
        let thresholds = crate::rng::segment_thresholds(env.segments.iter().map(|s| s.weight));
        // Row s holds segment s's means (one row without segments); segments
        // are stationary, so `best` per row is computed once.
        let mut means = env.mean_rows();
        let rows = segments.max(1);
        let mut best = vec![0usize; rows];
        let mut best_mean = vec![f64::NEG_INFINITY; rows];
        let mut run = PolicyRun {
            regret: Vec::with_capacity(self.checkpoints.len()),
            pulls: vec![0; k],
            pulls_at: Vec::with_capacity(self.checkpoints.len() * k),
            ..Default::default()
        };
        let mut pending = Pending::default();
        let immediate = env.delay == Delay::None && env.update_every == 1;
        let mut regret = 0.0;
        let mut next_cp = 0;
        let mut recompute = true;
        // Changes are sorted by step: watch only the next one, not all of
        // them at every step.
        let mut next_change = 0;
        for t in 0..env.horizon {
            let changed = env.changes.get(next_change).is_some_and(|c| c.step == t);
            if changed {
                next_change += 1;
            }
            if segments == 0 && (env.varies_every_step() || changed || t == 0) {
                env.means_at(t, &mut means);
                recompute = true;
            }
            if recompute {
                best_per_row(&means, k, &mut best, &mut best_mean);
                recompute = false;
            }
            let i = (t % 1024) as usize;
            if i == 0 {
                reward_rng.fill(&mut words[..]);
            }
            let w = &words[i * words_per_step..(i + 1) * words_per_step];
            let seg = if segments > 1 {
                let x = u64::from(w[reward_words]);
                thresholds.iter().position(|&th| x < th).unwrap_or(0)
            } else {
                0
            };
            let ctx = if contextual { seg } else { 0 };
            let arm = policy.select(ctx, &mut policy_rng).min(k - 1);
            let mu = means[seg * k + arm];
            let reward = env.reward.draw(mu, w);
            regret += best_mean[seg] - mu;
            run.realised_regret += best_mean[seg] - reward;
            run.pulls[arm] += 1;
            run.best_pulls += u64::from(arm == best[seg]);
            if let Some(tr) = trace.as_deref_mut()
                && tr.len() < tr.capacity()
            {
                tr.push(Step {
                    t,
                    segment: seg,
                    arm,
                    reward,
                    regret,
                });
            }
            if immediate {
                policy.update(ctx, arm, reward);
            } else {
                pending.push(env.delay, t, ctx, arm, reward, &mut feedback_rng);
                if (t + 1) % env.update_every == 0 {
                    pending.deliver(t, |c, a, rw| policy.update(c, a, rw));
                }
            }
            if next_cp < self.checkpoints.len() && t + 1 == self.checkpoints[next_cp] {
                run.regret.push(regret);
                run.pulls_at.extend_from_slice(&run.pulls);
                next_cp += 1;
            }
        }
        // Identified only if the recommendation is right in every segment.
        run.recommended_best =
            (0..rows).all(|s| policy.recommend(if contextual { s } else { 0 }) == best[s]);
        run
    }
}

impl BanditEngine<'_> {
    /// Policy `p` on replication `r` of a feature environment
    /// ([`super::contextual::run`]): a linear policy on the context, any
    /// other pooling it. Construction was validated with the scenario.
    fn run_on_features(
        &self,
        features: &super::features::FeatureEnv,
        p: usize,
        r: u64,
    ) -> PolicyRun {
        use super::contextual::{Learner, run};
        let spec = &self.policies[p].spec;
        let (k, dim) = (features.arms(), features.dim());
        let learner = match spec.linear() {
            Some((kind, lambda)) => super::linear::LinearPolicy::new(kind, k, dim, lambda)
                .ok()
                .map(Learner::Linear),
            None => PolicyState::new(spec, k, 1)
                .ok()
                .map(|s| Learner::Pooled(Box::new(s))),
        };
        let Some(mut learner) = learner else {
            return PolicyRun::default();
        };
        run(
            features,
            &mut learner,
            self.env.horizon,
            (self.env.update_every, self.env.delay),
            &self.checkpoints,
            (self.seed, &self.policies[p].name, r),
        )
    }

    /// The largest gap between the best and worst arm at any step: the most
    /// regret one step can add (for histogram ranges).
    pub fn max_gap(&self) -> f64 {
        let mut means = vec![0.0; self.env.arms()];
        let mut gap: f64 = 0.0;
        let mut steps: Vec<u64> = vec![0, self.env.horizon.saturating_sub(1)];
        steps.extend(self.env.changes.iter().map(|c| c.step));
        for s in &self.env.segments {
            let hi = s.means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lo = s.means.iter().copied().fold(f64::INFINITY, f64::min);
            gap = gap.max(hi - lo);
        }
        for t in steps {
            self.env.means_at(t, &mut means);
            let hi = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lo = means.iter().copied().fold(f64::INFINITY, f64::min);
            gap = gap.max(hi - lo);
        }
        gap
    }

    /// Replications per chunk of a run with `policies` policies in all: a
    /// function of the scenario alone, never of the thread count, so a
    /// chunk can be a plug-in's batch.
    pub fn chunk_len(&self, policies: usize) -> u64 {
        // A chunk's runs hold pull counts per checkpoint, arm and policy; keep
        // them under about 256 MB (chunking never changes results: runs are
        // folded in replication order).
        let run_bytes =
            8 * (policies * (self.checkpoints.len() + 1) * self.env.arms()).max(1) as u64;
        (2_000_000 / self.env.horizon.max(1))
            .clamp(2, 256)
            .min((256 << 20) / run_bytes)
            .max(1)
    }

    /// Run replications `range` in parallel, folding in order.
    pub fn run(&self, range: std::ops::Range<u64>, progress: &(dyn Fn(u64) + Sync)) -> BanditAcc {
        let np = self.policies.len();
        let mut acc = BanditAcc::new(range.start, np, self.checkpoints.len(), self.env.arms());
        acc.ope = self.ope.as_ref().map(Study::acc);
        let max_gap = self.max_gap();
        let chunk = self.chunk_len(np);
        let mut start = range.start;
        while start < range.end {
            let n = chunk.min(range.end - start);
            let runs: Vec<(Vec<PolicyRun>, Vec<_>)> = (start..start + n)
                .into_par_iter()
                .map(|r| {
                    let runs = (0..np).map(|p| self.run_policy(p, r, None)).collect();
                    let ope = self
                        .ope
                        .as_ref()
                        .map(|o| o.replicate(r))
                        .unwrap_or_default();
                    (runs, ope)
                })
                .collect();
            for (rr, ope) in &runs {
                acc.add(rr, &self.checkpoints, max_gap, self.env.horizon);
                if let Some(o) = &mut acc.ope {
                    o.add(ope);
                }
            }
            progress(n);
            start += n;
        }
        acc
    }
}

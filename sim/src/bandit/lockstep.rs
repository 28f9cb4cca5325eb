//! The lockstep runner: a batch of replications of one [`BatchPolicy`]
//! stepped together, one `select` per step for the whole batch, on the same
//! environment, reward stream and regret accounting as
//! [`BanditEngine::run_policy`].
//!
//! Invariants (the equivalence tests in `plugged` hold them bit for bit):
//!
//! - Replication r's rewards come from `reward_key.replication(r)`, read in
//!   blocks of 1024 steps with the engine's words per step (one more for the
//!   segment), so a plug-in faces exactly the rewards, segments, changes
//!   and drift a built-in faces on the same seed (common random numbers).
//! - Delays draw from `feedback_key.replication(r)` and are delivered in the
//!   engine's order; the view counts only delivered rewards.
//! - Regret, realised regret, pulls, best pulls and checkpoints are summed in
//!   the engine's order, into the same [`PolicyRun`].
//!
//! All buffers are allocated once per batch; the step loop does not
//! allocate (the delivery list and pending queues keep their capacity).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::accumulator::PolicyRun;
use super::engine::{BanditEngine, Pending, best_per_row};
use super::env::{Delay, RewardKind};
use crate::plugin::{BatchPolicy, BatchView, Delivery, PluginError};
use crate::rng::{join_words, open_unit_f64};

/// Steps whose reward words are drawn at once, as the engine does.
const BLOCK: usize = 1024;

/// An error of plug-in `name` on replications `first..end`.
fn fail(name: &str, first: u64, end: u64, message: String) -> PluginError {
    PluginError {
        plugin: name.to_owned(),
        first,
        end,
        message,
    }
}

/// A plug-in's own error, relabelled with the plug-in's name and the batch
/// (a plug-in cannot know which name the study gave it).
fn relabel(e: PluginError, name: &str, first: u64, end: u64) -> PluginError {
    fail(name, first, end, e.message)
}

/// Run `policy` (plug-in `name`) on replications `first..first + n` of
/// `engine`'s scenario in lockstep: one [`PolicyRun`] per replication,
/// equal to what [`BanditEngine::run_policy`] gives a policy that chooses
/// the same arms.
#[allow(clippy::too_many_lines)] // One step loop, kept whole so its order reads as the engine's.
pub fn run_batch(
    engine: &BanditEngine<'_>,
    name: &str,
    policy: &mut dyn BatchPolicy,
    first: u64,
    n: usize,
) -> Result<Vec<PolicyRun>, PluginError> {
    let env = engine.env;
    let end = first + n as u64;
    let k = env.arms();
    let segments = env.segments.len();
    let reward_words = match env.reward {
        RewardKind::Bernoulli => 1,
        RewardKind::Gaussian { .. } => 2,
    };
    let wps = reward_words + usize::from(segments > 1);
    let stride = BLOCK * wps;
    let immediate = env.delay == Delay::None && env.update_every == 1;
    let mut reward_rngs: Vec<ChaCha8Rng> = (first..end)
        .map(|r| engine.reward_key.replication(r))
        .collect();
    let mut feedback_rngs: Vec<ChaCha8Rng> = if immediate {
        Vec::new()
    } else {
        (first..end)
            .map(|r| engine.feedback_key.replication(r))
            .collect()
    };
    let mut pending: Vec<Pending> = if immediate {
        Vec::new()
    } else {
        (0..n).map(|_| Pending::default()).collect()
    };
    let mut words = vec![0u32; n * stride];
    let thresholds = crate::rng::segment_thresholds(env.segments.iter().map(|s| s.weight));
    let mut means: Vec<f64> = if segments > 0 {
        env.segments
            .iter()
            .flat_map(|s| s.means.iter().copied())
            .collect()
    } else {
        env.means.clone()
    };
    let rows = segments.max(1);
    let mut best = vec![0usize; rows];
    let mut best_mean = vec![f64::NEG_INFINITY; rows];
    let cps = &engine.checkpoints;
    let mut runs: Vec<PolicyRun> = (0..n)
        .map(|_| PolicyRun {
            regret: Vec::with_capacity(cps.len()),
            pulls: vec![0; k],
            pulls_at: Vec::with_capacity(cps.len() * k),
            ..Default::default()
        })
        .collect();
    let mut regret = vec![0.0f64; n];
    let mut seg = vec![0usize; n];
    let mut arms = vec![0usize; n];
    let mut rewards = vec![0.0f64; n];
    let mut pulls = vec![0u64; n * k];
    let mut sums = vec![0.0f64; n * k];
    let mut delivered: Vec<Delivery> = Vec::new();
    let mut next_cp = 0;
    let mut recompute = true;
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
        let i = (t % BLOCK as u64) as usize;
        for (r, (rng, block)) in reward_rngs
            .iter_mut()
            .zip(words.chunks_exact_mut(stride))
            .enumerate()
        {
            if i == 0 {
                rng.fill(block);
            }
            seg[r] = if segments > 1 {
                let x = u64::from(block[i * wps + reward_words]);
                thresholds.iter().position(|&th| x < th).unwrap_or(0)
            } else {
                0
            };
        }
        let view = BatchView {
            first,
            replications: n,
            arms: k,
            pulls: &pulls,
            reward_sums: &sums,
        };
        policy
            .select(t, &view, &mut arms)
            .map_err(|e| relabel(e, name, first, end))?;
        for r in 0..n {
            let arm = arms[r];
            if arm >= k {
                return Err(fail(
                    name,
                    first,
                    end,
                    format!(
                        "select chose arm {arm} for replication {} at step {t}; the bandit has {k} arms (0..{k})",
                        first + r as u64
                    ),
                ));
            }
            let w = &words[r * stride + i * wps..r * stride + (i + 1) * wps];
            let s = seg[r];
            let mu = means[s * k + arm];
            let reward = match env.reward {
                RewardKind::Bernoulli => {
                    f64::from(u8::from(f64::from(w[0]) < mu * 4_294_967_296.0))
                }
                RewardKind::Gaussian { sd } => {
                    let u = open_unit_f64(join_words(w[0], w[1]));
                    mu + sd * crate::metric::standard_normal_from_unit(u)
                }
            };
            let run = &mut runs[r];
            regret[r] += best_mean[s] - mu;
            run.realised_regret += best_mean[s] - reward;
            run.pulls[arm] += 1;
            run.best_pulls += u64::from(arm == best[s]);
            rewards[r] = reward;
            if immediate {
                pulls[r * k + arm] += 1;
                sums[r * k + arm] += reward;
            } else {
                pending[r].push(env.delay, t, 0, arm, reward, &mut feedback_rngs[r]);
            }
        }
        if immediate {
            policy
                .update(t, &arms, &rewards)
                .map_err(|e| relabel(e, name, first, end))?;
        } else if (t + 1) % env.update_every == 0 {
            delivered.clear();
            for (r, p) in pending.iter_mut().enumerate() {
                p.deliver(t, |_, arm, reward| {
                    pulls[r * k + arm] += 1;
                    sums[r * k + arm] += reward;
                    delivered.push(Delivery {
                        replication: r,
                        arm,
                        reward,
                    });
                });
            }
            if !delivered.is_empty() {
                policy
                    .deliver(t, &delivered)
                    .map_err(|e| relabel(e, name, first, end))?;
            }
        }
        if next_cp < cps.len() && t + 1 == cps[next_cp] {
            for (run, &x) in runs.iter_mut().zip(&regret) {
                run.regret.push(x);
                run.pulls_at.extend_from_slice(&run.pulls);
            }
            next_cp += 1;
        }
    }
    let view = BatchView {
        first,
        replications: n,
        arms: k,
        pulls: &pulls,
        reward_sums: &sums,
    };
    policy
        .recommend(&view, &mut arms)
        .map_err(|e| relabel(e, name, first, end))?;
    for (r, (run, &arm)) in runs.iter_mut().zip(&arms).enumerate() {
        if arm >= k {
            return Err(fail(
                name,
                first,
                end,
                format!(
                    "recommend chose arm {arm} for replication {}; the bandit has {k} arms (0..{k})",
                    first + r as u64
                ),
            ));
        }
        // Identified only if the recommendation is right in every segment.
        run.recommended_best = best.iter().all(|&b| b == arm);
    }
    Ok(runs)
}

//! The lockstep runner: a batch of replications of one [`BatchPolicy`]
//! stepped together, one `select` per step for the whole batch, on the same
//! environment, reward stream and regret accounting as
//! [`BanditEngine::run_policy`].
//!
//! Invariants (the equivalence tests in `sim/tests/plugin_policy.rs` hold
//! them bit for bit):
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

use std::sync::atomic::{AtomicBool, Ordering};

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::accumulator::PolicyRun;
use super::batch_policy::{BatchPolicy, BatchView, Delivery, PluginError};
use super::engine::{BanditEngine, best_per_row};
use super::env::Delay;
use super::feedback::Pending;

/// Steps whose reward words are drawn at once, as the engine does.
const BLOCK: usize = 1024;

/// What every arm slot holds when `select` is called: a slot `select` leaves
/// unwritten is reported, never read as the previous step's arm.
const UNSET: usize = usize::MAX;

/// One batch's state: the environment's streams and means, the runs being
/// accounted, and the statistics the policy sees. Allocated once.
struct Batch<'e> {
    engine: &'e BanditEngine<'e>,
    first: u64,
    arms: usize,
    reward_words: usize,
    words_per_step: usize,
    immediate: bool,
    reward_rngs: Vec<ChaCha8Rng>,
    feedback_rngs: Vec<ChaCha8Rng>,
    pending: Vec<Pending>,
    /// Per replication, the reward words of the current block of steps.
    words: Vec<u32>,
    thresholds: Vec<u64>,
    /// Row s: segment s's means (one row without segments).
    means: Vec<f64>,
    best: Vec<usize>,
    best_mean: Vec<f64>,
    next_change: usize,
    runs: Vec<PolicyRun>,
    regret: Vec<f64>,
    segment: Vec<usize>,
    rewards: Vec<f64>,
    pulls: Vec<u64>,
    sums: Vec<f64>,
    delivered: Vec<Delivery>,
}

impl<'e> Batch<'e> {
    fn new(engine: &'e BanditEngine<'e>, first: u64, n: usize) -> Self {
        let env = engine.env;
        let end = first + n as u64;
        let k = env.arms();
        let segments = env.segments.len();
        let reward_words = env.reward.words();
        let words_per_step = reward_words + usize::from(segments > 1);
        let immediate = env.delay == Delay::None && env.update_every == 1;
        let cps = engine.checkpoints.len();
        Self {
            engine,
            first,
            arms: k,
            reward_words,
            words_per_step,
            immediate,
            reward_rngs: (first..end)
                .map(|r| engine.reward_key.replication(r))
                .collect(),
            feedback_rngs: if immediate {
                Vec::new()
            } else {
                (first..end)
                    .map(|r| engine.feedback_key.replication(r))
                    .collect()
            },
            pending: if immediate {
                Vec::new()
            } else {
                (0..n).map(|_| Pending::default()).collect()
            },
            words: vec![0; n * BLOCK * words_per_step],
            thresholds: crate::rng::segment_thresholds(env.segments.iter().map(|s| s.weight)),
            means: env.mean_rows(),
            best: vec![0; segments.max(1)],
            best_mean: vec![f64::NEG_INFINITY; segments.max(1)],
            next_change: 0,
            runs: (0..n)
                .map(|_| PolicyRun {
                    regret: Vec::with_capacity(cps),
                    pulls: vec![0; k],
                    pulls_at: Vec::with_capacity(cps * k),
                    ..Default::default()
                })
                .collect(),
            regret: vec![0.0; n],
            segment: vec![0; n],
            rewards: vec![0.0; n],
            pulls: vec![0; n * k],
            sums: vec![0.0; n * k],
            delivered: Vec::new(),
        }
    }

    /// Step `t`'s means and best arms, and each replication's reward words
    /// and segment, as the engine reads them.
    fn begin(&mut self, t: u64) {
        let env = self.engine.env;
        let segments = env.segments.len();
        let changed = env
            .changes
            .get(self.next_change)
            .is_some_and(|c| c.step == t);
        if changed {
            self.next_change += 1;
        }
        // Segments are stationary: their rows are set once, at t = 0.
        if t == 0 || (segments == 0 && (env.varies_every_step() || changed)) {
            if segments == 0 {
                env.means_at(t, &mut self.means);
            }
            best_per_row(&self.means, self.arms, &mut self.best, &mut self.best_mean);
        }
        let i = (t % BLOCK as u64) as usize;
        // Per replication, there is work only when the block refills or a
        // step picks a segment (without segments every segment stays 0).
        if i != 0 && segments <= 1 {
            return;
        }
        let wps = self.words_per_step;
        for ((rng, block), seg) in self
            .reward_rngs
            .iter_mut()
            .zip(self.words.chunks_exact_mut(BLOCK * wps))
            .zip(&mut self.segment)
        {
            if i == 0 {
                rng.fill(block);
            }
            if segments > 1 {
                let x = u64::from(block[i * wps + self.reward_words]);
                *seg = self.thresholds.iter().position(|&th| x < th).unwrap_or(0);
            }
        }
    }

    /// Draw the arms `chosen` for step `t`, and account them; `Err` names
    /// the first replication whose arm is out of range (or was not set:
    /// [`UNSET`]).
    fn pull(&mut self, t: u64, chosen: &[usize]) -> Result<(), String> {
        let env = self.engine.env;
        let k = self.arms;
        let wps = self.words_per_step;
        let i = (t % BLOCK as u64) as usize;
        for (r, &arm) in chosen.iter().enumerate() {
            if arm >= k {
                let r = self.first + r as u64;
                return Err(if arm == UNSET {
                    format!("select did not set an arm for replication {r} at step {t}")
                } else {
                    format!(
                        "select chose arm {arm} for replication {r} at step {t}; the bandit has {k} arms (0..{k})"
                    )
                });
            }
            let at = r * BLOCK * wps + i * wps;
            let w = &self.words[at..at + wps];
            let s = self.segment[r];
            let mu = self.means[s * k + arm];
            let reward = env.reward.draw(mu, w);
            let run = &mut self.runs[r];
            self.regret[r] += self.best_mean[s] - mu;
            run.realised_regret += self.best_mean[s] - reward;
            run.pulls[arm] += 1;
            run.best_pulls += u64::from(arm == self.best[s]);
            self.rewards[r] = reward;
            if self.immediate {
                self.pulls[r * k + arm] += 1;
                self.sums[r * k + arm] += reward;
            } else {
                self.pending[r].push(env.delay, t, 0, arm, reward, &mut self.feedback_rngs[r]);
            }
        }
        Ok(())
    }

    /// Deliver the rewards due by step `t` into the view and `delivered`.
    fn deliver(&mut self, t: u64) {
        let k = self.arms;
        self.delivered.clear();
        for (r, p) in self.pending.iter_mut().enumerate() {
            p.deliver(t, |_, arm, reward| {
                self.pulls[r * k + arm] += 1;
                self.sums[r * k + arm] += reward;
                self.delivered.push(Delivery {
                    replication: r,
                    arm,
                    reward,
                });
            });
        }
    }

    /// Record the checkpoint that ends at step `t`, if one does.
    fn checkpoint(&mut self, t: u64, next: &mut usize) {
        let cps = &self.engine.checkpoints;
        if *next < cps.len() && t + 1 == cps[*next] {
            for (run, &x) in self.runs.iter_mut().zip(&self.regret) {
                run.regret.push(x);
                run.pulls_at.extend_from_slice(&run.pulls);
            }
            *next += 1;
        }
    }

    fn view(&self) -> BatchView<'_> {
        BatchView {
            first: self.first,
            replications: self.runs.len(),
            arms: self.arms,
            pulls: &self.pulls,
            reward_sums: &self.sums,
        }
    }
}

/// Run `policy` (plug-in `name`) on replications `first..first + n` of
/// `engine`'s scenario in lockstep: one [`PolicyRun`] per replication,
/// equal to what [`BanditEngine::run_policy`] gives a policy that chooses
/// the same arms.
///
/// `cancel` is read once per step (a relaxed load): once it is set, the
/// batch stops and returns an error saying it was cancelled. A run sets it
/// when another batch has failed, so that a failing run stops early.
pub fn run_batch(
    engine: &BanditEngine<'_>,
    name: &str,
    policy: &mut dyn BatchPolicy,
    first: u64,
    n: usize,
    cancel: &AtomicBool,
) -> Result<Vec<PolicyRun>, PluginError> {
    let range = first..first + n as u64;
    let fail = |message: String| PluginError::at(name, range.clone(), message);
    // A plug-in cannot know which name the study gave it: its own errors are
    // relabelled with the plug-in's name and the batch.
    let err = |e: PluginError| fail(e.message);
    let mut b = Batch::new(engine, first, n);
    let mut chosen = vec![UNSET; n];
    let update_every = engine.env.update_every;
    let mut next_cp = 0;
    for t in 0..engine.env.horizon {
        if cancel.load(Ordering::Relaxed) {
            return Err(fail("cancelled: another batch of the run failed".into()));
        }
        b.begin(t);
        chosen.fill(UNSET);
        policy.select(t, &b.view(), &mut chosen).map_err(err)?;
        b.pull(t, &chosen).map_err(fail)?;
        if b.immediate {
            policy.update(t, &chosen, &b.rewards).map_err(err)?;
        } else if (t + 1) % update_every == 0 {
            b.deliver(t);
            if !b.delivered.is_empty() {
                policy.deliver(t, &b.delivered).map_err(err)?;
            }
        }
        b.checkpoint(t, &mut next_cp);
    }
    // `chosen` is free again: it takes the recommendations.
    chosen.fill(UNSET);
    policy.recommend(&b.view(), &mut chosen).map_err(err)?;
    for (r, (run, &arm)) in b.runs.iter_mut().zip(&chosen).enumerate() {
        if arm >= b.arms {
            let r = first + r as u64;
            return Err(fail(if arm == UNSET {
                format!("recommend did not set an arm for replication {r}")
            } else {
                format!(
                    "recommend chose arm {arm} for replication {r}; the bandit has {} arms",
                    b.arms
                )
            }));
        }
        // Identified only if the recommendation is right in every segment.
        run.recommended_best = b.best.iter().all(|&best| best == arm);
    }
    Ok(b.runs)
}

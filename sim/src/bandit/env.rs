//! Bandit environments: the arms' true means over time, and how rewards are
//! drawn and fed back (delay, batching).
//!
//! Rewards use one stream word per step shared by all arms: at step t the
//! reward of arm k is 1{u_t < μ_k(t)} (Bernoulli) or μ_k(t) + σ·z_t
//! (Gaussian). Each arm's reward sequence has the right law, and two policies
//! on one seed face the same reward for the same pull (common random numbers).
//!
//! With segments (contextual structure), each step's unit belongs to a segment
//! drawn by weight from one more word of the same stream, so every policy sees
//! the same segment sequence too. Each segment has its own arm means, and
//! regret is measured against the best arm *of the step's segment*: a policy
//! that ignores the segment pays for it.

use serde::{Deserialize, Serialize};

use crate::metric::standard_normal_from_unit;
use crate::rng::{join_words, open_unit_f64};

/// How rewards are distributed around an arm's mean.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RewardKind {
    /// Reward 1 with probability equal to the arm's mean, else 0.
    Bernoulli,
    /// Normal around the arm's mean with standard deviation `sd`.
    Gaussian {
        /// Standard deviation of every arm's rewards.
        sd: f64,
    },
}

impl RewardKind {
    /// Words of the reward stream one step's reward reads.
    pub fn words(self) -> usize {
        match self {
            RewardKind::Bernoulli => 1,
            RewardKind::Gaussian { .. } => 2,
        }
    }

    /// The reward of an arm with mean `mu`, from a step's reward words `w`
    /// (at least [`RewardKind::words`]). The one draw every policy faces,
    /// built-in or plug-in, so that they all see the same rewards.
    #[inline]
    pub fn draw(self, mu: f64, w: &[u32]) -> f64 {
        match self {
            RewardKind::Bernoulli => f64::from(u8::from(f64::from(w[0]) < mu * 4_294_967_296.0)),
            RewardKind::Gaussian { sd } => {
                let u = open_unit_f64(join_words(w[0], w[1]));
                mu + sd * standard_normal_from_unit(u)
            }
        }
    }
}

/// When the learner sees a reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delay {
    /// Immediately after the pull.
    None,
    /// A fixed number of steps later.
    Fixed(u64),
    /// Uniformly between `min` and `max` steps later (inclusive).
    Uniform {
        /// Fewest steps of delay.
        min: u64,
        /// Most steps of delay.
        max: u64,
    },
}

/// An abrupt change: from `step` on, the arms have `means`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// First step (0-based) at which the new means hold.
    pub step: u64,
    /// The arms' means from `step` on, one per arm.
    pub means: Vec<f64>,
}

/// A segment of the traffic with its own arm means (a context).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// The segment's name, as results list it.
    pub name: String,
    /// Share of steps from this segment; weights are normalised to sum to 1.
    pub weight: f64,
    /// The arms' true means in this segment, one per arm.
    pub means: Vec<f64>,
}

/// A bandit environment: the arms' true means over the horizon, the reward
/// law, the segments, and when the policy sees rewards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Steps (pulls) per replication.
    pub horizon: u64,
    /// How each reward is drawn around the pulled arm's mean.
    pub reward: RewardKind,
    /// Means at step 0. With segments, the weight-averaged segment means:
    /// what a policy that ignores segments faces.
    pub means: Vec<f64>,
    /// Segments with their own means (stationary: the scenario reader rejects
    /// changes and drift together with segments). Empty: one population.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Abrupt changes, by increasing step.
    pub changes: Vec<Change>,
    /// Linear drift: the means move from their current values to these by the
    /// horizon (applied on top of abrupt changes' starting point).
    pub drift_to: Option<Vec<f64>>,
    /// How long after its pull a reward reaches the policy.
    pub delay: Delay,
    /// The policy learns only every `update_every` steps.
    pub update_every: u64,
    /// A feature environment (`[bandit.features]`): each step draws a
    /// context and the arms' means depend on it; `means` then holds each
    /// arm's mean over contexts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<super::features::FeatureEnv>,
}

impl Environment {
    /// The arms' starting means, one row per segment (row s holds segment
    /// s's means; one row, `means`, without segments).
    pub fn mean_rows(&self) -> Vec<f64> {
        if self.segments.is_empty() {
            self.means.clone()
        } else {
            self.segments
                .iter()
                .flat_map(|s| s.means.iter().copied())
                .collect()
        }
    }

    /// Number of arms.
    pub fn arms(&self) -> usize {
        self.means.len()
    }

    /// Whether the means never move (the Lai–Robbins bound applies): not
    /// with changes, drift or features (whose means move with the context).
    pub fn stationary(&self) -> bool {
        self.changes.is_empty() && self.drift_to.is_none() && self.features.is_none()
    }

    /// The means in force at step `t` (0-based), written into `out`.
    pub fn means_at(&self, t: u64, out: &mut [f64]) {
        let base = self
            .changes
            .iter()
            .rev()
            .find(|c| c.step <= t)
            .map_or(&self.means, |c| &c.means);
        match &self.drift_to {
            Some(to) => {
                let f = t as f64 / self.horizon.max(1) as f64;
                for ((o, &a), &b) in out.iter_mut().zip(base).zip(to) {
                    *o = a + (b - a) * f;
                }
            }
            None => out.copy_from_slice(base),
        }
    }

    /// Weight-averaged means of segments (what `means` holds with segments).
    pub fn average_means(segments: &[Segment]) -> Vec<f64> {
        let total: f64 = segments.iter().map(|s| s.weight).sum();
        let arms = segments.first().map_or(0, |s| s.means.len());
        (0..arms)
            .map(|k| segments.iter().map(|s| s.weight / total * s.means[k]).sum())
            .collect()
    }

    /// The Lai–Robbins lower bound on pseudo-regret at step `t` (stationary
    /// Bernoulli arms). With segments, each segment is its own bandit seen
    /// for about w_s·t steps, so the bound is Σ_s c_s ln(w_s t).
    pub fn lai_robbins_at(&self, t: u64) -> f64 {
        let t = t as f64;
        if self.segments.is_empty() {
            return super::theory::lai_robbins_coefficient(&self.means) * t.ln();
        }
        let total: f64 = self.segments.iter().map(|s| s.weight).sum();
        self.segments
            .iter()
            .map(|s| {
                super::theory::lai_robbins_coefficient(&s.means)
                    * (s.weight / total * t).ln().max(0.0)
            })
            .sum()
    }

    /// Whether the means move at every step (linear drift), so the engine
    /// recomputes them each step rather than only at changes.
    pub fn varies_every_step(&self) -> bool {
        self.drift_to.is_some()
    }
}

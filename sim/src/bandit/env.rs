//! Bandit environments: the arms' true means over time, and how rewards are
//! drawn and fed back (delay, batching).
//!
//! Rewards use one stream word per step shared by all arms: at step t the
//! reward of arm k is 1{u_t < μ_k(t)} (Bernoulli) or μ_k(t) + σ·z_t
//! (Gaussian). Each arm's reward sequence has the right law, and two policies
//! on one seed face the same reward for the same pull (common random numbers).

use serde::{Deserialize, Serialize};

/// How rewards are distributed around an arm's mean.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RewardKind {
    Bernoulli,
    Gaussian { sd: f64 },
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
    Uniform { min: u64, max: u64 },
}

/// An abrupt change: from `step` on, the arms have `means`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub step: u64,
    pub means: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub horizon: u64,
    pub reward: RewardKind,
    /// Means at step 0.
    pub means: Vec<f64>,
    /// Abrupt changes, by increasing step.
    pub changes: Vec<Change>,
    /// Linear drift: the means move from their current values to these by the
    /// horizon (applied on top of abrupt changes' starting point).
    pub drift_to: Option<Vec<f64>>,
    pub delay: Delay,
    /// The policy learns only every `update_every` steps.
    pub update_every: u64,
}

impl Environment {
    pub fn arms(&self) -> usize {
        self.means.len()
    }

    /// Whether the means never move (the Lai–Robbins bound applies).
    pub fn stationary(&self) -> bool {
        self.changes.is_empty() && self.drift_to.is_none()
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

    /// Steps at which the means change (for precomputing them between).
    pub fn varies_every_step(&self) -> bool {
        self.drift_to.is_some()
    }
}

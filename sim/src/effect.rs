//! Treatment effects and injected faults: what differs between arms, and what
//! goes wrong in the data pipeline.

use serde::{Deserialize, Serialize};

/// How a lift moves a metric's mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiftKind {
    /// mean × (1 + lift)
    Relative,
    /// mean + lift
    Absolute,
}

/// A novelty effect: an extra lift that fades, `initial`·2^(−day/half_life)
/// for users arriving on day `day` (0 for the first), in the lift's kind.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Novelty {
    /// The extra lift on the first day.
    pub initial: f64,
    /// Days for the extra lift to halve (> 0).
    pub half_life_days: f64,
}

impl Novelty {
    /// The extra lift on day `day` (0-based).
    pub fn on_day(&self, day: usize) -> f64 {
        self.initial * (-(day as f64) / self.half_life_days).exp2()
    }
}

/// A lift of one variant on one metric, with per-segment values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lift {
    /// Relative (× (1 + lift)) or absolute (+ lift).
    pub kind: LiftKind,
    /// One value per population segment (the scenario's default where a segment
    /// is not overridden): the long-run lift, the estimand.
    pub by_segment: Vec<f64>,
    /// A fading extra lift on top, by arrival day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub novelty: Option<Novelty>,
}

impl Lift {
    /// The mean of `segment`'s cell under this lift, given its baseline mean
    /// `kind_mean` (a missing segment gets no lift).
    pub fn apply(&self, kind_mean: f64, segment: usize) -> f64 {
        self.apply_with(kind_mean, segment, 0.0)
    }

    /// The mean of `segment`'s cell for users arriving on day `day`
    /// (0-based): the long-run lift plus the novelty's share that day.
    pub fn apply_on_day(&self, kind_mean: f64, segment: usize, day: usize) -> f64 {
        let extra = self.novelty.map_or(0.0, |n| n.on_day(day));
        self.apply_with(kind_mean, segment, extra)
    }

    fn apply_with(&self, kind_mean: f64, segment: usize, extra: f64) -> f64 {
        let v = self.by_segment.get(segment).copied().unwrap_or(0.0) + extra;
        match self.kind {
            LiftKind::Relative => kind_mean * (1.0 + v),
            LiftKind::Absolute => kind_mean + v,
        }
    }
}

/// Faults injected after assignment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Per arm, the fraction of its units lost before analysis (a
    /// sample-ratio mismatch). Empty when there is no SRM fault.
    pub srm_loss: Vec<f64>,
    /// Per metric, per arm: the fraction of events lost (a lost conversion or
    /// purchase is recorded as 0). Empty when no events are lost.
    pub lost_events: Vec<Vec<f64>>,
}

impl Faults {
    /// Whether any arm loses units (an SRM fault).
    pub fn has_srm(&self) -> bool {
        self.srm_loss.iter().any(|&f| f > 0.0)
    }

    /// Fraction of events of `metric` lost in `arm` (0 when none are).
    pub fn lost_rate(&self, metric: usize, arm: usize) -> f64 {
        self.lost_events
            .get(metric)
            .and_then(|v| v.get(arm))
            .copied()
            .unwrap_or(0.0)
    }

    /// Whether `metric` loses events in any arm.
    pub fn has_lost_events(&self, metric: usize) -> bool {
        self.lost_events
            .get(metric)
            .is_some_and(|v| v.iter().any(|&f| f > 0.0))
    }
}

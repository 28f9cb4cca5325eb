//! Off-policy evaluation (OPE): estimating what a target policy would earn
//! from rounds logged under another policy, as the Open Bandit Pipeline
//! (obp) defines the estimators. [`LoggedData`] holds a log (each round's
//! action, reward and logging propensity) with the target's action
//! probabilities and, for the model-based estimators, a reward model's
//! predictions; [`estimators`] turns it into an [`Estimate`] per
//! [`Estimator`]; [`ridge`] fits the disjoint per-arm ridge reward model
//! the direct method and doubly robust read; [`study`] runs a scenario's
//! `[ope]` study (logs under a logging policy, every target estimated at
//! every log size), [`acc`] sums its errors against a feature
//! environment's known truth, and [`result`] turns the sums into the
//! bias, RMSE and coverage table and its verdicts.
//!
//! Every estimator is a mean of per-round terms (SNIPS a ratio of two), so
//! each interval is the normal one from the terms' sample variance:
//! value ± z_{1−α/2}·sd/√n (SNIPS by the delta method). The model-based
//! ones treat the reward model as fixed, so their intervals leave out its
//! estimation error: what a practitioner computes, and what the coverage
//! tables measure.

pub mod acc;
pub mod estimators;
pub mod result;
pub mod ridge;
pub mod served;
pub mod study;

pub use estimators::{Estimate, Estimator, estimate};
pub use ridge::RidgeModel;

/// Why a log cannot be evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OpeError {
    /// The log has no rounds.
    #[error("the log has no rounds")]
    Empty,
    /// Two columns of the log differ in length.
    #[error("{what} has {found} entries, expected {expected}")]
    Length {
        /// The column.
        what: &'static str,
        /// Its length.
        found: usize,
        /// The length the rounds and arms imply.
        expected: usize,
    },
    /// A logged action is not an arm.
    #[error("round {round}: action {action} is not below the {arms} arms")]
    Action {
        /// The round, 0-based.
        round: usize,
        /// The action logged.
        action: usize,
        /// The arms.
        arms: usize,
    },
    /// A propensity outside (0, 1].
    #[error("round {round}: propensity {value} is not in (0, 1]")]
    Propensity {
        /// The round, 0-based.
        round: usize,
        /// The propensity logged.
        value: f64,
    },
    /// A reward, target probability or prediction that is not finite (or a
    /// negative probability).
    #[error("round {round}: {what} {value} must be finite (and a probability non-negative)")]
    Value {
        /// The round, 0-based.
        round: usize,
        /// The column.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// An estimate that is not a number: SNIPS on a log where the target
    /// gives every logged action probability 0, or weights beyond f64.
    #[error("{0} is undefined on this log (e.g. every importance weight is 0)")]
    Undefined(&'static str),
    /// A model-based estimator without a reward model.
    #[error("{0} needs a reward model's predictions")]
    NoModel(&'static str),
    /// A reward model asked for impossible dimensions or penalty.
    #[error("ridge model: {0}")]
    Ridge(String),
    /// A log too large to evaluate at once.
    #[error("{rounds} rounds × {arms} arms is more than the {cap} values one evaluation holds")]
    TooLarge {
        /// The rounds.
        rounds: usize,
        /// The arms.
        arms: usize,
        /// The most rounds × arms.
        cap: usize,
    },
}

/// A logged bandit dataset with a target policy to evaluate on it.
#[derive(Clone, Copy, Debug)]
pub struct LoggedData<'a> {
    arms: usize,
    actions: &'a [usize],
    rewards: &'a [f64],
    propensities: &'a [f64],
    target: &'a [f64],
    q_hat: &'a [f64],
}

impl<'a> LoggedData<'a> {
    /// A log of `actions.len()` rounds over `arms` arms: the logged
    /// `actions`, their `rewards` and logging `propensities`; `target[i *
    /// arms + a]`, the target policy's probability of arm a in round i; and
    /// `q_hat` in the same layout, a reward model's predictions (empty when
    /// there is none). Checked: lengths, actions below `arms`, propensities
    /// in (0, 1], everything finite, probabilities non-negative.
    pub fn new(
        arms: usize,
        actions: &'a [usize],
        rewards: &'a [f64],
        propensities: &'a [f64],
        target: &'a [f64],
        q_hat: &'a [f64],
    ) -> Result<Self, OpeError> {
        let n = actions.len();
        if n == 0 {
            return Err(OpeError::Empty);
        }
        let length = |what, found: usize, expected: usize| {
            if found == expected {
                Ok(())
            } else {
                Err(OpeError::Length {
                    what,
                    found,
                    expected,
                })
            }
        };
        length("rewards", rewards.len(), n)?;
        length("propensities", propensities.len(), n)?;
        length("target", target.len(), n * arms)?;
        if !q_hat.is_empty() {
            length("q_hat", q_hat.len(), n * arms)?;
        }
        for i in 0..n {
            if actions[i] >= arms {
                return Err(OpeError::Action {
                    round: i,
                    action: actions[i],
                    arms,
                });
            }
            let p = propensities[i];
            if !(p > 0.0 && p <= 1.0) {
                return Err(OpeError::Propensity { round: i, value: p });
            }
            let value = |what, value: f64| OpeError::Value {
                round: i,
                what,
                value,
            };
            if !rewards[i].is_finite() {
                return Err(value("reward", rewards[i]));
            }
            for a in 0..arms {
                let t = target[i * arms + a];
                if !(t.is_finite() && t >= 0.0) {
                    return Err(value("target probability", t));
                }
                if let Some(&q) = q_hat.get(i * arms + a)
                    && !q.is_finite()
                {
                    return Err(value("prediction", q));
                }
            }
        }
        Ok(Self {
            arms,
            actions,
            rewards,
            propensities,
            target,
            q_hat,
        })
    }

    /// Rounds in the log.
    pub fn rounds(&self) -> usize {
        self.actions.len()
    }

    /// Arms.
    pub fn arms(&self) -> usize {
        self.arms
    }

    /// Whether the log carries a reward model's predictions.
    pub fn has_model(&self) -> bool {
        !self.q_hat.is_empty()
    }

    /// Round i's importance weight π_e(a_i | x_i) / p_i.
    #[inline]
    fn weight(&self, i: usize) -> f64 {
        self.target[i * self.arms + self.actions[i]] / self.propensities[i]
    }

    /// Round i's model value under the target: Σ_a π_e(a | x_i)·q̂(x_i, a).
    #[inline]
    fn model_value(&self, i: usize) -> f64 {
        let row = i * self.arms..(i + 1) * self.arms;
        self.target[row.clone()]
            .iter()
            .zip(&self.q_hat[row])
            .map(|(p, q)| p * q)
            .sum()
    }
}

//! What a bandit scenario is: the environment, the named policies to run on
//! it and the expectations to judge, as read from a scenario file.

use serde::{Deserialize, Serialize};

use super::env::Environment;
use super::policy::PolicySpec;
use crate::result::Bound;

/// A policy to run, under the name results, expectations and its random stream use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedPolicy {
    /// Unique name of the policy in the scenario; it keys its stream, results and expectations.
    pub name: String,
    /// Which policy, with its parameters.
    pub spec: PolicySpec,
    /// Whether the policy sees the step's segment (and keeps statistics per
    /// segment) or pools all traffic.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contextual: bool,
}

/// A bandit scenario: every policy run on the same environment and reward
/// stream for `replications` replications, and the expectations to judge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BanditScenario {
    /// The scenario's name.
    pub name: String,
    /// Keys every random stream of the run (rewards, feedback delays, policies).
    pub seed: u64,
    /// Independent replications of the whole horizon, per policy.
    pub replications: u64,
    /// The arms, their true means and how rewards are fed back.
    pub env: Environment,
    /// The policies compared, in result order.
    pub policies: Vec<NamedPolicy>,
    /// The bounds the result is judged against.
    pub expectations: Vec<BanditExpectation>,
    /// An off-policy study on the environment (`[ope]`, feature
    /// environments only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ope: Option<super::ope::study::OpeSpec>,
}

/// What a bandit expectation bounds; each is a key under `[expect.POLICY]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BanditMeasure {
    /// Mean cumulative pseudo-regret at the horizon.
    Regret,
    /// Mean cumulative realised regret (best mean minus rewards) at the horizon.
    RealisedRegret,
    /// Mean share of pulls that went to the arm best at the time.
    BestArmShare,
    /// Share of replications whose recommendation at the horizon is the best arm.
    BestArmIdentified,
    /// Mean regret at the horizon over the Lai–Robbins bound there.
    LowerBoundRatio,
    /// Mean regret at the horizon over another policy's.
    RegretRatio,
    /// Mean regret per step over the horizon divided by that up to the last
    /// checkpoint at or before a tenth of it: about 1 for linear regret,
    /// √0.1 ≈ 0.32 for regret growing as √T, smaller still for ln T.
    RegretGrowth,
    /// An off-policy estimator's mean error (`[expect.TARGET.ESTIMATOR]`).
    Bias,
    /// An off-policy estimator's root mean squared error.
    Rmse,
    /// The share of an off-policy estimator's intervals that held the truth.
    Coverage,
    /// An off-policy estimator's RMSE over its RMSE on another target.
    RmseRatio,
}

impl BanditMeasure {
    /// Every policy measure, in documentation order (the off-policy ones
    /// are [`OpeMeasure`](super::ope::study::OpeMeasure)s).
    pub const ALL: [BanditMeasure; 7] = [
        BanditMeasure::Regret,
        BanditMeasure::RealisedRegret,
        BanditMeasure::BestArmShare,
        BanditMeasure::BestArmIdentified,
        BanditMeasure::LowerBoundRatio,
        BanditMeasure::RegretRatio,
        BanditMeasure::RegretGrowth,
    ];

    /// The measure's key in scenarios and results, e.g. `"best_arm_share"`.
    pub fn key(self) -> &'static str {
        match self {
            BanditMeasure::Regret => "regret",
            BanditMeasure::RealisedRegret => "realised_regret",
            BanditMeasure::BestArmShare => "best_arm_share",
            BanditMeasure::BestArmIdentified => "best_arm_identified",
            BanditMeasure::LowerBoundRatio => "lower_bound_ratio",
            BanditMeasure::RegretRatio => "regret_ratio",
            BanditMeasure::RegretGrowth => "regret_growth",
            BanditMeasure::Bias => "bias",
            BanditMeasure::Rmse => "rmse",
            BanditMeasure::Coverage => "coverage",
            BanditMeasure::RmseRatio => "rmse_ratio",
        }
    }

    /// The bandit measure an off-policy measure is reported as.
    pub fn of_ope(m: super::ope::study::OpeMeasure) -> Self {
        use super::ope::study::OpeMeasure;
        match m {
            OpeMeasure::Bias => BanditMeasure::Bias,
            OpeMeasure::Rmse => BanditMeasure::Rmse,
            OpeMeasure::Coverage => BanditMeasure::Coverage,
            OpeMeasure::RmseRatio => BanditMeasure::RmseRatio,
        }
    }

    /// The policy measure with key `key`, if there is one.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.key() == key)
    }
}

/// One bound on one policy's measure, from `[expect.POLICY] MEASURE = { min, max }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BanditExpectation {
    /// Its path in the scenario, `expect.POLICY.MEASURE`: the key of its verdict.
    pub key: String,
    /// Index of the policy in [`BanditScenario::policies`].
    pub policy: usize,
    /// What is measured.
    pub measure: BanditMeasure,
    /// For `regret_ratio`: the policy whose regret is the denominator.
    pub relative_to: Option<usize>,
    /// The bounds the measured value must lie within.
    pub bound: Bound,
}

//! What a bandit scenario is: the environment, the named policies to run on
//! it and the expectations to judge, as read from a scenario file.

use serde::{Deserialize, Serialize};

use super::env::Environment;
use super::policy::PolicySpec;
use crate::result::Bound;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedPolicy {
    pub name: String,
    pub spec: PolicySpec,
    /// Whether the policy sees the step's segment (and keeps statistics per
    /// segment) or pools all traffic.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contextual: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BanditScenario {
    pub name: String,
    pub seed: u64,
    pub replications: u64,
    pub env: Environment,
    pub policies: Vec<NamedPolicy>,
    pub expectations: Vec<BanditExpectation>,
}

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
}

impl BanditMeasure {
    pub const ALL: [BanditMeasure; 6] = [
        BanditMeasure::Regret,
        BanditMeasure::RealisedRegret,
        BanditMeasure::BestArmShare,
        BanditMeasure::BestArmIdentified,
        BanditMeasure::LowerBoundRatio,
        BanditMeasure::RegretRatio,
    ];

    pub fn key(self) -> &'static str {
        match self {
            BanditMeasure::Regret => "regret",
            BanditMeasure::RealisedRegret => "realised_regret",
            BanditMeasure::BestArmShare => "best_arm_share",
            BanditMeasure::BestArmIdentified => "best_arm_identified",
            BanditMeasure::LowerBoundRatio => "lower_bound_ratio",
            BanditMeasure::RegretRatio => "regret_ratio",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.key() == key)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BanditExpectation {
    pub key: String,
    pub policy: usize,
    pub measure: BanditMeasure,
    /// For `regret_ratio`: the policy whose regret is the denominator.
    pub relative_to: Option<usize>,
    pub bound: Bound,
}

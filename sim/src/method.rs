//! Analysis methods: how the looks of a replication are read and when a
//! method stops. Several methods run on the same simulated data (common random
//! numbers), so a scenario compares them side by side.

use serde::{Deserialize, Serialize};

use crate::analysis::group_sequential::BoundaryKind;
use crate::analysis::multiple::Correction;

/// Defaults, documented in scenarios/README.md.
pub const DEFAULT_MSPRT_TAU: f64 = 0.1;
pub const DEFAULT_MIN_CHANCE: f64 = 0.95;
pub const DEFAULT_MAX_RELATIVE_LOSS: f64 = 0.0025;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MethodKind {
    /// The fixed-horizon test at the last look only, with an optional
    /// multiple-testing correction across all comparisons.
    Fixed { correction: Correction },
    /// The fixed-horizon test at every look; stops at the first p < alpha.
    Naive,
    /// Mixture SPRT with a normal mixing distribution; `tau` is its standard
    /// deviation in units of the metric's baseline standard deviation.
    Msprt { tau: f64 },
    /// Group-sequential boundaries computed for the planned look fractions.
    GroupSequential { boundary: BoundaryKind },
    /// Posterior chance to beat control and expected loss; stops when the
    /// leader's chance ≥ `min_chance` and its expected loss relative to the
    /// control mean < `max_relative_loss`. Beta(prior_a, prior_b) priors for
    /// Bernoulli metrics, flat priors otherwise.
    Bayesian {
        prior_a: f64,
        prior_b: f64,
        min_chance: f64,
        max_relative_loss: f64,
    },
}

impl MethodKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            MethodKind::Fixed { .. } => "fixed",
            MethodKind::Naive => "naive",
            MethodKind::Msprt { .. } => "msprt",
            MethodKind::GroupSequential { boundary } => match boundary {
                BoundaryKind::Pocock => "pocock",
                BoundaryKind::OBrienFleming => "obrien_fleming",
                BoundaryKind::SpendingObrienFleming => "spending_obrien_fleming",
                BoundaryKind::SpendingPocock => "spending_pocock",
            },
            MethodKind::Bayesian { .. } => "bayesian",
        }
    }

    /// Whether the method reports p-values (Bayesian decisions do not).
    pub fn has_p_values(&self) -> bool {
        !matches!(self, MethodKind::Bayesian { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Method {
    pub name: String,
    pub kind: MethodKind,
    /// Regression-adjust each metric with its pre-period covariate (CUPED).
    pub cuped: bool,
}

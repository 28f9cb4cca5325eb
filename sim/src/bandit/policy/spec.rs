//! [`PolicySpec`]: which policy to run, and [`POLICY_TYPES`]: each policy's
//! parameters with their defaults and valid ranges, the one source that
//! serde's defaults, [`PolicySpec::validate`], the scenario reader and the
//! documentation table all read.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::PolicyError;

/// Largest |`prior_mean`| of `thompson_gaussian`: the scale of the rewards
/// it models (arm means are capped at the same magnitude).
pub const GAUSSIAN_MEAN_MAX: f64 = crate::metric::MAX_MAGNITUDE;
/// Smallest `prior_var` and `noise_var` of `thompson_gaussian`. Precisions
/// then stay at most 10^12 per observation, so the posterior's precision
/// (≤ 10^12 + horizon·10^12 ≤ 10^21.1) and precision-weighted mean
/// (≤ 10^9 · 10^21.1) stay finite. `prior_var = 5e-324` gave inf/inf = NaN
/// posterior means and a silently broken policy.
pub const GAUSSIAN_VAR_MIN: f64 = 1e-12;
/// Largest `prior_var` and `noise_var`: the square of the largest reward
/// scale; anything wider is as uninformative and only loses precision.
pub const GAUSSIAN_VAR_MAX: f64 = GAUSSIAN_MEAN_MAX * GAUSSIAN_MEAN_MAX;

/// What a parameter takes when it is omitted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamDefault {
    /// This value.
    Value(f64),
    /// Nothing: the parameter must be given.
    Required,
    /// Nothing: the parameter stays unset (`Option::None`).
    Unset,
}

/// The valid values of a parameter: an interval, open or closed at each end
/// (an infinite end is open), of reals or of integers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamRange {
    /// Lower end.
    pub min: f64,
    /// Whether the lower end is excluded.
    pub min_open: bool,
    /// Upper end (`f64::INFINITY` when unbounded).
    pub max: f64,
    /// Whether the upper end is excluded.
    pub max_open: bool,
    /// Whether only whole numbers are valid.
    pub integer: bool,
}

impl ParamRange {
    const fn new(min: f64, min_open: bool, max: f64, max_open: bool) -> Self {
        Self {
            min,
            min_open,
            max,
            max_open,
            integer: false,
        }
    }

    /// Whether `x` is in the range; false for NaN and ±∞.
    pub fn contains(&self, x: f64) -> bool {
        let above = if self.min_open {
            x > self.min
        } else {
            x >= self.min
        };
        let below = if self.max_open {
            x < self.max
        } else {
            x <= self.max
        };
        above && below && x.is_finite() && (!self.integer || x.fract() == 0.0)
    }

    /// The range as messages and the documentation state it: `in [0, 1]`,
    /// `> 0`, `integer ≥ 1`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        if self.integer {
            out.push_str("integer ");
        }
        if self.max.is_infinite() {
            let op = if self.min_open { ">" } else { "≥" };
            let _ = write!(out, "{op} {}", show(self.min));
        } else {
            let (l, r) = (
                if self.min_open { '(' } else { '[' },
                if self.max_open { ')' } else { ']' },
            );
            let _ = write!(out, "in {l}{}, {}{r}", show(self.min), show(self.max));
        }
        out
    }
}

/// A bound or default as the documentation writes it: `0.5`, `1e-12`, `-1e9`.
pub fn show(x: f64) -> String {
    if x != 0.0 && !(1e-3..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// One parameter of a policy type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    /// Its key in the policy table, e.g. `prior_a`.
    pub name: &'static str,
    /// What it takes when omitted.
    pub default: ParamDefault,
    /// Its valid values.
    pub range: ParamRange,
}

impl Param {
    /// `Ok` if `value` is in range, else the [`PolicyError`] naming it.
    pub fn check(&self, value: f64) -> Result<(), PolicyError> {
        if self.range.contains(value) {
            Ok(())
        } else {
            Err(PolicyError::InvalidParameter {
                name: self.name,
                value,
                expected: self.range.describe(),
            })
        }
    }

    /// The default value, for serde. Only parameters with a value default
    /// name a serde default function, so the fallback is never taken.
    const fn fallback(&self) -> f64 {
        match self.default {
            ParamDefault::Value(x) => x,
            ParamDefault::Required | ParamDefault::Unset => 0.0,
        }
    }
}

/// A policy type: its `type` tag, its parameters in documentation order, and
/// a note for the documentation table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolicyType {
    /// The serde `type` tag, e.g. `"thompson_beta"`.
    pub name: &'static str,
    /// Its parameters, in documentation order (at most three).
    pub params: &'static [Param],
    /// One line on what the policy does, for the documentation table.
    pub note: &'static str,
}

const POSITIVE: ParamRange = ParamRange::new(0.0, true, f64::INFINITY, true);
const NON_NEGATIVE: ParamRange = ParamRange::new(0.0, false, f64::INFINITY, true);
const UNIT: ParamRange = ParamRange::new(0.0, false, 1.0, false);
const RATE: ParamRange = ParamRange::new(0.0, true, 1.0, false);
const GAUSSIAN_VAR: ParamRange = ParamRange::new(GAUSSIAN_VAR_MIN, false, GAUSSIAN_VAR_MAX, false);

const fn param(name: &'static str, default: f64, range: ParamRange) -> Param {
    Param {
        name,
        default: ParamDefault::Value(default),
        range,
    }
}

const EPSILON: Param = param("epsilon", 0.1, UNIT);
/// c = 0 makes ε_t = 0: greedy after one pull per arm, as `epsilon = 0` is
/// for epsilon-greedy. Degenerate but well defined, and served snapshots
/// with it exist, so it stays valid.
const DECAY_C: Param = param("c", 1.0, NON_NEGATIVE);
const KL_C: Param = param("c", 0.0, NON_NEGATIVE);
const PRIOR_A: Param = param("prior_a", 1.0, POSITIVE);
const PRIOR_B: Param = param("prior_b", 1.0, POSITIVE);
const PRIOR_MEAN: Param = Param {
    name: "prior_mean",
    default: ParamDefault::Required,
    range: ParamRange::new(-GAUSSIAN_MEAN_MAX, false, GAUSSIAN_MEAN_MAX, false),
};
const PRIOR_VAR: Param = Param {
    name: "prior_var",
    default: ParamDefault::Required,
    range: GAUSSIAN_VAR,
};
const NOISE_VAR: Param = Param {
    name: "noise_var",
    default: ParamDefault::Unset,
    range: GAUSSIAN_VAR,
};
const EXP3_GAMMA: Param = param("gamma", 0.1, RATE);
const TEMPERATURE: Param = param("temperature", 0.1, POSITIVE);
/// β = 1 always plays the leader (plain Thompson sampling) and β = 0 always
/// a challenger: both well defined, neither divides by β, and served
/// snapshots with them exist, so the closed interval stays valid.
const TOP_TWO_BETA: Param = param("beta", 0.5, UNIT);
const DISCOUNT_GAMMA: Param = param("gamma", 0.99, RATE);
const WINDOW: Param = param(
    "window",
    1000.0,
    ParamRange {
        integer: true,
        ..ParamRange::new(1.0, false, f64::INFINITY, true)
    },
);

const LIN_ALPHA: Param = param("alpha", 1.0, POSITIVE);
const LIN_V: Param = param("v", 0.5, POSITIVE);
/// The prior precision λ of each arm's coefficients (the ridge penalty):
/// bounded so that A⁻¹ = I/λ stays finite and meaningful.
const LIN_LAMBDA: Param = param("lambda", 1.0, ParamRange::new(1e-6, false, 1e6, false));

fn default_lin_alpha() -> f64 {
    LIN_ALPHA.fallback()
}
fn default_lin_v() -> f64 {
    LIN_V.fallback()
}
fn default_lin_lambda() -> f64 {
    LIN_LAMBDA.fallback()
}
fn default_epsilon() -> f64 {
    EPSILON.fallback()
}
fn default_decay_c() -> f64 {
    DECAY_C.fallback()
}
fn default_kl_c() -> f64 {
    KL_C.fallback()
}
fn default_prior_a() -> f64 {
    PRIOR_A.fallback()
}
fn default_prior_b() -> f64 {
    PRIOR_B.fallback()
}
fn default_exp3_gamma() -> f64 {
    EXP3_GAMMA.fallback()
}
fn default_temperature() -> f64 {
    TEMPERATURE.fallback()
}
fn default_top_two_beta() -> f64 {
    TOP_TWO_BETA.fallback()
}
fn default_discount_gamma() -> f64 {
    DISCOUNT_GAMMA.fallback()
}
fn default_window() -> usize {
    WINDOW.fallback() as usize
}

/// Every policy type, in documentation order.
pub const POLICY_TYPES: [PolicyType; 15] = [
    PolicyType {
        name: "uniform",
        params: &[],
        note: "every arm with probability 1/K",
    },
    PolicyType {
        name: "epsilon_greedy",
        params: &[EPSILON],
        note: "a uniform arm with probability ε, else the best mean",
    },
    PolicyType {
        name: "decaying_epsilon_greedy",
        params: &[DECAY_C],
        note: "ε_t = min(1, c·K/t)",
    },
    PolicyType {
        name: "ucb1",
        params: &[],
        note: "mean + √(2 ln t / n), each arm once first",
    },
    PolicyType {
        name: "kl_ucb",
        params: &[KL_C],
        note: "exploration ln t + c ln ln t",
    },
    PolicyType {
        name: "thompson_beta",
        params: &[PRIOR_A, PRIOR_B],
        note: "Beta(prior_a, prior_b) prior",
    },
    PolicyType {
        name: "thompson_gaussian",
        params: &[PRIOR_MEAN, PRIOR_VAR, NOISE_VAR],
        note: "the prior's scale must match the rewards', so it has no default; \
               noise variance unknown if `noise_var` is absent. The bounds keep the \
               posterior finite: `prior_var = 5e-324` gave NaN posterior means.",
    },
    PolicyType {
        name: "exp3",
        params: &[EXP3_GAMMA],
        note: "uniform-mixing rate γ; rewards in [0, 1]",
    },
    PolicyType {
        name: "softmax",
        params: &[TEMPERATURE],
        note: "arm k with probability ∝ exp(mean_k / temperature)",
    },
    PolicyType {
        name: "top_two_thompson",
        params: &[TOP_TWO_BETA, PRIOR_A, PRIOR_B],
        note: "the leader with probability β, else a challenger; β = 1 is plain Thompson",
    },
    PolicyType {
        name: "discounted_thompson",
        params: &[DISCOUNT_GAMMA, PRIOR_A, PRIOR_B],
        note: "counts decay by γ at each update",
    },
    PolicyType {
        name: "sliding_window_thompson",
        params: &[WINDOW, PRIOR_A, PRIOR_B],
        note: "the last `window` rewards; `window` at most 10^6 in a bandit scenario",
    },
    PolicyType {
        name: "lin_ucb",
        params: &[LIN_ALPHA, LIN_LAMBDA],
        note: "disjoint LinUCB on `[bandit.features]`: θ_aᵀx + α·√(xᵀA_a⁻¹x)",
    },
    PolicyType {
        name: "lin_ts",
        params: &[LIN_V, LIN_LAMBDA],
        note: "linear Thompson sampling on `[bandit.features]`: θ̃_a ~ N(θ_a, v²A_a⁻¹)",
    },
    PolicyType {
        name: "logistic_ts",
        params: &[LIN_LAMBDA],
        note: "logistic Thompson sampling on `[bandit.features]` (online Laplace posterior); rewards in [0, 1]",
    },
];

/// The kind of a plug-in policy's results (`{"type": "plugin"}`): not one of
/// [`POLICY_TYPES`], so no scenario file or served bandit can name it.
pub const PLUGIN_TYPE: PolicyType = PolicyType {
    name: "plugin",
    params: &[],
    note: "a policy plugged in from Rust or Python (results only)",
};

/// Which policy to run and its parameters. Serialised with a snake_case `type`
/// tag; omitted parameters that have a default take it. Each variant's
/// parameters, defaults and ranges are its [`PolicyType`] in [`POLICY_TYPES`]:
/// serde's defaults, [`PolicySpec::validate`], the scenario reader and the
/// scenarios/README.md table all come from there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicySpec {
    /// Every arm with probability 1/K: the no-learning baseline.
    Uniform,
    /// With probability `epsilon` a uniform arm, otherwise the best empirical mean.
    EpsilonGreedy {
        /// Probability of exploring, in [0, 1] (default 0.1).
        #[serde(default = "default_epsilon")]
        epsilon: f64,
    },
    /// Epsilon-greedy with `eps_t = min(1, c·K / t)`, `t` = updates so far + 1
    /// (the schedule of Auer et al. 2002 with the gap term folded into `c`).
    DecayingEpsilonGreedy {
        /// Exploration scale, ≥ 0 (default 1); 0 is greedy after one pull per arm.
        #[serde(default = "default_decay_c")]
        c: f64,
    },
    /// UCB1 (Auer et al. 2002): `mean + √(2 ln t / n)`, each arm pulled once first.
    Ucb1,
    /// Bernoulli KL-UCB (Garivier & Cappé 2011) with exploration `ln t + c ln ln t`;
    /// `c = 3` is what their proof needs, `c = 0` (the default) works best in practice.
    KlUcb {
        /// Weight of the `ln ln t` term, ≥ 0 (default 0).
        #[serde(default = "default_kl_c")]
        c: f64,
    },
    /// Thompson sampling with a Beta(prior_a, prior_b) prior; a reward r in [0, 1]
    /// adds r to a and 1 − r to b (exact for Bernoulli rewards).
    ThompsonBeta {
        /// Prior pseudo-successes, > 0 (default 1).
        #[serde(default = "default_prior_a")]
        prior_a: f64,
        /// Prior pseudo-failures, > 0 (default 1).
        #[serde(default = "default_prior_b")]
        prior_b: f64,
    },
    /// Thompson sampling for Gaussian rewards. With `noise_var = Some(σ²)` the
    /// prior on an arm's mean is N(prior_mean, prior_var) and the posterior is
    /// conjugate normal. With `None` the noise variance is unknown too and the
    /// prior is normal-inverse-gamma with κ₀ = 1, α₀ = 1, β₀ = prior_var: one
    /// pseudo-observation, under which the marginal prior of the mean is a
    /// Student t with 2 degrees of freedom, location prior_mean and scale
    /// √prior_var, the same centre and scale as in the known-variance case.
    ThompsonGaussian {
        /// Prior mean of each arm's mean, |x| ≤ [`GAUSSIAN_MEAN_MAX`] (required).
        prior_mean: f64,
        /// Prior variance of each arm's mean (with unknown noise, β₀), from
        /// [`GAUSSIAN_VAR_MIN`] to [`GAUSSIAN_VAR_MAX`] inclusive (required).
        prior_var: f64,
        /// Known variance of the rewards around an arm's mean, in the same range;
        /// `None`: unknown, learnt with the mean.
        #[serde(default)]
        noise_var: Option<f64>,
    },
    /// EXP3 (Auer et al. 2002) with uniform-mixing rate `gamma`; rewards must be in [0, 1].
    Exp3 {
        /// Share of uniform exploration mixed into the weights, in (0, 1] (default 0.1).
        #[serde(default = "default_exp3_gamma")]
        gamma: f64,
    },
    /// Boltzmann exploration: arm k with probability ∝ exp(mean_k / temperature).
    Softmax {
        /// Temperature, > 0 (default 0.1): lower is greedier.
        #[serde(default = "default_temperature")]
        temperature: f64,
    },
    /// Top-two Thompson sampling (Russo 2016) for best-arm identification: play
    /// the posterior-sample leader with probability `beta`, else a challenger.
    TopTwoThompson {
        /// Probability of playing the leader, in [0, 1] (default 0.5).
        #[serde(default = "default_top_two_beta")]
        beta: f64,
        /// Prior pseudo-successes, > 0 (default 1).
        #[serde(default = "default_prior_a")]
        prior_a: f64,
        /// Prior pseudo-failures, > 0 (default 1).
        #[serde(default = "default_prior_b")]
        prior_b: f64,
    },
    /// Beta-Bernoulli Thompson sampling whose counts all decay by `gamma` at
    /// each update in their context, for non-stationary rewards.
    DiscountedThompson {
        /// Discount factor applied to every count at each update, in (0, 1] (default 0.99).
        #[serde(default = "default_discount_gamma")]
        gamma: f64,
        /// Prior pseudo-successes, > 0 (default 1).
        #[serde(default = "default_prior_a")]
        prior_a: f64,
        /// Prior pseudo-failures, > 0 (default 1).
        #[serde(default = "default_prior_b")]
        prior_b: f64,
    },
    /// Beta-Bernoulli Thompson sampling on the last `window` rewards of each context.
    SlidingWindowThompson {
        /// Rewards remembered per context, an integer ≥ 1 (default 1000).
        #[serde(default = "default_window")]
        window: usize,
        /// Prior pseudo-successes, > 0 (default 1).
        #[serde(default = "default_prior_a")]
        prior_a: f64,
        /// Prior pseudo-failures, > 0 (default 1).
        #[serde(default = "default_prior_b")]
        prior_b: f64,
    },
    /// Disjoint LinUCB on a feature environment.
    LinUcb {
        /// Width of the confidence bonus, > 0 (default 1).
        #[serde(default = "default_lin_alpha")]
        alpha: f64,
        /// Prior precision (ridge penalty), in [1e-6, 1e6] (default 1).
        #[serde(default = "default_lin_lambda")]
        lambda: f64,
    },
    /// Linear Thompson sampling on a feature environment.
    LinTs {
        /// Posterior scale, > 0 (default 0.5).
        #[serde(default = "default_lin_v")]
        v: f64,
        /// Prior precision (ridge penalty), in [1e-6, 1e6] (default 1).
        #[serde(default = "default_lin_lambda")]
        lambda: f64,
    },
    /// Logistic Thompson sampling on a feature environment.
    LogisticTs {
        /// Prior precision, in [1e-6, 1e6] (default 1).
        #[serde(default = "default_lin_lambda")]
        lambda: f64,
    },
    /// A policy plugged in through [`crate::study::Study`]: what a plug-in's
    /// result lists as its spec. It reads back from result JSON, but
    /// [`PolicySpec::validate`] refuses it, so it cannot be built into a
    /// [`super::PolicyState`], and the scenario and serve readers do not know
    /// its tag.
    Plugin,
}

impl PolicySpec {
    /// The serde tag of the variant, e.g. `"thompson_beta"`.
    pub fn name(&self) -> &'static str {
        self.policy_type().name
    }

    /// The variant's entry in [`POLICY_TYPES`] ([`PLUGIN_TYPE`] for a plug-in).
    pub fn policy_type(&self) -> &'static PolicyType {
        let index = match self {
            PolicySpec::Plugin => return &PLUGIN_TYPE,
            PolicySpec::Uniform => 0,
            PolicySpec::EpsilonGreedy { .. } => 1,
            PolicySpec::DecayingEpsilonGreedy { .. } => 2,
            PolicySpec::Ucb1 => 3,
            PolicySpec::KlUcb { .. } => 4,
            PolicySpec::ThompsonBeta { .. } => 5,
            PolicySpec::ThompsonGaussian { .. } => 6,
            PolicySpec::Exp3 { .. } => 7,
            PolicySpec::Softmax { .. } => 8,
            PolicySpec::TopTwoThompson { .. } => 9,
            PolicySpec::DiscountedThompson { .. } => 10,
            PolicySpec::SlidingWindowThompson { .. } => 11,
            PolicySpec::LinUcb { .. } => 12,
            PolicySpec::LinTs { .. } => 13,
            PolicySpec::LogisticTs { .. } => 14,
        };
        &POLICY_TYPES[index]
    }

    /// The type of tag `name`, if there is one.
    pub fn find_type(name: &str) -> Option<&'static PolicyType> {
        POLICY_TYPES.iter().find(|t| t.name == name)
    }

    /// The parameters' values in the order of [`PolicyType::params`]; `None`
    /// for an unset optional parameter and past the last parameter.
    pub fn values(&self) -> [Option<f64>; 3] {
        match *self {
            PolicySpec::Uniform | PolicySpec::Ucb1 | PolicySpec::Plugin => [None; 3],
            PolicySpec::EpsilonGreedy { epsilon: x }
            | PolicySpec::DecayingEpsilonGreedy { c: x }
            | PolicySpec::KlUcb { c: x }
            | PolicySpec::Exp3 { gamma: x }
            | PolicySpec::Softmax { temperature: x }
            | PolicySpec::LogisticTs { lambda: x } => [Some(x), None, None],
            PolicySpec::LinUcb { alpha: x, lambda } | PolicySpec::LinTs { v: x, lambda } => {
                [Some(x), Some(lambda), None]
            }
            PolicySpec::ThompsonBeta { prior_a, prior_b } => [Some(prior_a), Some(prior_b), None],
            PolicySpec::ThompsonGaussian {
                prior_mean,
                prior_var,
                noise_var,
            } => [Some(prior_mean), Some(prior_var), noise_var],
            PolicySpec::TopTwoThompson {
                beta: x,
                prior_a,
                prior_b,
            }
            | PolicySpec::DiscountedThompson {
                gamma: x,
                prior_a,
                prior_b,
            } => [Some(x), Some(prior_a), Some(prior_b)],
            PolicySpec::SlidingWindowThompson {
                window,
                prior_a,
                prior_b,
            } => [Some(window as f64), Some(prior_a), Some(prior_b)],
        }
    }

    /// The spec of type `ty` from its parameters' values, given in the order
    /// of its [`PolicyType::params`] (`None`: omitted). Omitted parameters
    /// take their defaults, and every value is checked against its range.
    pub fn from_values(ty: &PolicyType, given: &[Option<f64>]) -> Result<PolicySpec, PolicyError> {
        let mut v = [0.0; 3];
        let mut set = [false; 3];
        for (i, p) in ty.params.iter().enumerate() {
            match (given.get(i).copied().flatten(), p.default) {
                (Some(x), _) => {
                    p.check(x)?;
                    (v[i], set[i]) = (x, true);
                }
                (None, ParamDefault::Value(x)) => (v[i], set[i]) = (x, true),
                (None, ParamDefault::Unset) => {}
                (None, ParamDefault::Required) => {
                    return Err(PolicyError::MissingParameter { name: p.name });
                }
            }
        }
        Ok(match ty.name {
            "uniform" => PolicySpec::Uniform,
            "epsilon_greedy" => PolicySpec::EpsilonGreedy { epsilon: v[0] },
            "decaying_epsilon_greedy" => PolicySpec::DecayingEpsilonGreedy { c: v[0] },
            "ucb1" => PolicySpec::Ucb1,
            "kl_ucb" => PolicySpec::KlUcb { c: v[0] },
            "thompson_beta" => PolicySpec::ThompsonBeta {
                prior_a: v[0],
                prior_b: v[1],
            },
            "thompson_gaussian" => PolicySpec::ThompsonGaussian {
                prior_mean: v[0],
                prior_var: v[1],
                noise_var: set[2].then_some(v[2]),
            },
            "exp3" => PolicySpec::Exp3 { gamma: v[0] },
            "softmax" => PolicySpec::Softmax { temperature: v[0] },
            "top_two_thompson" => PolicySpec::TopTwoThompson {
                beta: v[0],
                prior_a: v[1],
                prior_b: v[2],
            },
            "discounted_thompson" => PolicySpec::DiscountedThompson {
                gamma: v[0],
                prior_a: v[1],
                prior_b: v[2],
            },
            "sliding_window_thompson" => PolicySpec::SlidingWindowThompson {
                // An integer in range (checked above), so exact.
                window: v[0] as usize,
                prior_a: v[1],
                prior_b: v[2],
            },
            "lin_ucb" => PolicySpec::LinUcb {
                alpha: v[0],
                lambda: v[1],
            },
            "lin_ts" => PolicySpec::LinTs {
                v: v[0],
                lambda: v[1],
            },
            "logistic_ts" => PolicySpec::LogisticTs { lambda: v[0] },
            "plugin" => return Err(PolicyError::Plugin),
            other => unreachable!("policy type `{other}` is in POLICY_TYPES but not built"),
        })
    }

    /// The feature-based policy this spec runs, if it is one (those run
    /// only on a `[bandit.features]` environment).
    pub fn linear(&self) -> Option<(crate::bandit::linear::LinearKind, f64)> {
        use crate::bandit::linear::LinearKind;
        match *self {
            PolicySpec::LinUcb { alpha, lambda } => Some((LinearKind::LinUcb { alpha }, lambda)),
            PolicySpec::LinTs { v, lambda } => Some((LinearKind::LinTs { v }, lambda)),
            PolicySpec::LogisticTs { lambda } => Some((LinearKind::LogisticTs, lambda)),
            _ => None,
        }
    }

    /// The fewest arms the policy accepts: top-two needs a challenger.
    pub fn min_arms(&self) -> usize {
        match self {
            PolicySpec::TopTwoThompson { .. } => 2,
            _ => 1,
        }
    }

    /// The Beta(prior_a, prior_b) prior of the Beta-Bernoulli Thompson family;
    /// `None` for every other policy.
    pub fn beta_prior(&self) -> Option<(f64, f64)> {
        match *self {
            PolicySpec::ThompsonBeta { prior_a, prior_b }
            | PolicySpec::TopTwoThompson {
                prior_a, prior_b, ..
            }
            | PolicySpec::DiscountedThompson {
                prior_a, prior_b, ..
            }
            | PolicySpec::SlidingWindowThompson {
                prior_a, prior_b, ..
            } => Some((prior_a, prior_b)),
            _ => None,
        }
    }

    /// Checks the parameters alone (not the arm and context counts) against
    /// the ranges of [`POLICY_TYPES`].
    pub fn validate(&self) -> Result<(), PolicyError> {
        if *self == PolicySpec::Plugin {
            return Err(PolicyError::Plugin);
        }
        let ty = self.policy_type();
        for (p, v) in ty.params.iter().zip(self.values()) {
            if let Some(x) = v {
                p.check(x)?;
            }
        }
        Ok(())
    }
}

/// The scenarios/README.md table of policy types, one row per type: each
/// parameter as `` `name` RANGE (DEFAULT) ``, DEFAULT being a number,
/// `required` or `unset`.
pub fn docs_table() -> String {
    let mut out = String::from("| `type` | parameters: range (default) | notes |\n|---|---|---|\n");
    for ty in &POLICY_TYPES {
        let params: Vec<String> = ty
            .params
            .iter()
            .map(|p| {
                let default = match p.default {
                    ParamDefault::Value(x) => show(x),
                    ParamDefault::Required => "required".to_owned(),
                    ParamDefault::Unset => "unset".to_owned(),
                };
                format!("`{}` {} ({default})", p.name, p.range.describe())
            })
            .collect();
        let params = if params.is_empty() {
            "—".to_owned()
        } else {
            params.join(", ")
        };
        let _ = writeln!(out, "| `{}` | {params} | {} |", ty.name, ty.note);
    }
    out
}

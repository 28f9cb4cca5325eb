//! Fixed-horizon analyses: per-arm sufficient statistics, the pooled
//! two-proportion z-test, Welch's t-test, lift intervals and the SRM test.

pub mod group_sequential;
mod proportion;
pub mod quantile;
pub mod ratio;
mod srm;
mod student;
mod welch;

pub mod bayes;
pub mod msprt;
pub mod multiple;

pub use proportion::{pooled_z, two_proportion_z};
pub use srm::{SrmResult, srm_chi_square, srm_critical_value, srm_statistic};
pub use welch::welch_t;

use serde::{Deserialize, Serialize};

/// Which fixed-horizon test analyses a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Pooled two-proportion z-test (binary metrics).
    Z,
    /// Welch's unequal-variance t-test.
    Welch,
    /// The delta-method test of a ratio of per-unit sums (numerator in
    /// `sum`, denominator in `x_sum`): [`ratio::ratio_test`].
    Ratio,
    /// gbstats's quantile test, on an arm's normal summary of its sample
    /// quantile ([`quantile::summary_stats`]): [`quantile::summary_test`].
    Quantile,
}

/// Sufficient statistics of one metric in one arm: what both the per-unit and
/// the aggregate paths produce, and all that the tests read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmStats {
    /// Units in the arm.
    pub n: u64,
    /// Sum of the metric over the units.
    pub sum: f64,
    /// Sum of the squared metric values.
    pub sum_sq: f64,
    /// Pre-period covariate sums (zero when the metric has no covariate).
    pub x_sum: f64,
    /// Sum of the squared covariate values.
    pub x_sum_sq: f64,
    /// Sum of covariate × metric over the units.
    pub xy_sum: f64,
}

impl ArmStats {
    /// Add the statistics of disjoint data (sums are additive).
    pub fn add(&mut self, o: &ArmStats) {
        self.n += o.n;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
        self.x_sum += o.x_sum;
        self.x_sum_sq += o.x_sum_sq;
        self.xy_sum += o.xy_sum;
    }

    /// Statistics of the given metric values (no covariate).
    pub fn from_values(values: &[f64]) -> Self {
        let mut s = ArmStats::default();
        for &v in values {
            s.push(v);
        }
        s
    }

    /// Adds one unit with metric value `v` (no covariate).
    #[inline]
    pub fn push(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.sum_sq += v * v;
    }

    /// Adds one unit with metric value `y` and paired value `x` (its
    /// covariate, or a ratio's denominator).
    #[inline]
    pub fn push_paired(&mut self, y: f64, x: f64) {
        self.push(y);
        self.x_sum += x;
        self.x_sum_sq += x * x;
        self.xy_sum += x * y;
    }

    /// Mean of the metric; NaN for an empty arm.
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.sum / self.n as f64
        }
    }

    /// Sample variance (n − 1 denominator), clamped at 0 against rounding.
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        let n = self.n as f64;
        ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
    }

    /// Sample correlation of the covariate with the metric.
    pub fn covariate_correlation(&self) -> f64 {
        let n = self.n as f64;
        let sxy = self.xy_sum - self.x_sum * self.sum / n;
        let sxx = self.x_sum_sq - self.x_sum * self.x_sum / n;
        let syy = self.sum_sq - self.sum * self.sum / n;
        sxy / (sxx * syy).sqrt()
    }
}

/// The outcome of one test of treatment against control.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// z or t statistic, positive when the treatment mean is higher.
    pub statistic: f64,
    /// Welch–Satterthwaite degrees of freedom (NaN for the z-test).
    pub df: f64,
    /// Two-sided p-value (1 when an arm has too few units to test).
    pub p_value: f64,
    /// Treatment mean minus control mean, with its interval.
    pub diff: f64,
    /// Confidence interval `(lo, hi)` for `diff` at level 1 − alpha (NaN when undefined).
    pub diff_ci: (f64, f64),
    /// Treatment mean / control mean − 1, with its delta-method interval.
    pub rel: f64,
    /// Delta-method interval `(lo, hi)` for `rel` at level 1 − alpha.
    pub rel_ci: (f64, f64),
}

impl TestResult {
    /// The result when an arm has too few units to test: no evidence.
    pub(crate) fn undefined() -> Self {
        TestResult {
            statistic: f64::NAN,
            df: f64::NAN,
            p_value: 1.0,
            diff: f64::NAN,
            diff_ci: (f64::NAN, f64::NAN),
            rel: f64::NAN,
            rel_ci: (f64::NAN, f64::NAN),
        }
    }
}

/// Constants a test needs that depend only on alpha, computed once per run.
#[derive(Clone, Copy, Debug)]
pub struct TestSetup {
    /// Two-sided significance level.
    pub alpha: f64,
    /// Φ⁻¹(1 − α/2).
    pub z_crit: f64,
}

impl TestSetup {
    /// Precomputes the critical value for two-sided level `alpha`.
    pub fn new(alpha: f64) -> Self {
        Self {
            alpha,
            z_crit: crate::stats::normal_quantile(1.0 - alpha / 2.0),
        }
    }
}

/// Whether both arms have enough units for the test: one each for the
/// z-test, two each for Welch's (a variance needs two).
pub fn testable(kind: TestKind, control: &ArmStats, treatment: &ArmStats) -> bool {
    let min = match kind {
        TestKind::Z => 1,
        TestKind::Welch | TestKind::Ratio | TestKind::Quantile => 2,
    };
    control.n >= min && treatment.n >= min
}

/// Runs the test `kind` of treatment against control; an undefined result
/// (p-value 1, NaN estimates) when an arm has too few units (see [`testable`]).
pub fn run_test(
    kind: TestKind,
    setup: &TestSetup,
    control: &ArmStats,
    treatment: &ArmStats,
) -> TestResult {
    match kind {
        TestKind::Z => two_proportion_z(control, treatment, setup),
        TestKind::Welch => welch_t(control, treatment, setup),
        TestKind::Ratio => ratio::ratio_test(control, treatment, setup),
        TestKind::Quantile => quantile::summary_test(control, treatment, setup),
    }
}

/// Closed-form normal-approximation rejection rate of a two-sided test with
/// critical value `z_crit`, true difference `d`, null standard error `sigma0`
/// and alternative standard error `sigma1`:
/// Φ((|d| − z·σ₀)/σ₁) + Φ((−|d| − z·σ₀)/σ₁).
pub fn normal_approx_rejection_rate(d: f64, sigma0: f64, sigma1: f64, z_crit: f64) -> f64 {
    use crate::stats::normal_cdf;
    let d = d.abs();
    if sigma1 == 0.0 {
        return if d > 0.0 { 1.0 } else { 0.0 };
    }
    normal_cdf((d - z_crit * sigma0) / sigma1) + normal_cdf((-d - z_crit * sigma0) / sigma1)
}

/// Power of the pooled two-proportion z-test at fixed arm sizes.
pub fn z_test_power(pc: f64, pt: f64, nc: f64, nt: f64, alpha: f64) -> f64 {
    let pbar = (nc * pc + nt * pt) / (nc + nt);
    let sigma0 = (pbar * (1.0 - pbar) * (1.0 / nc + 1.0 / nt)).sqrt();
    let sigma1 = (pc * (1.0 - pc) / nc + pt * (1.0 - pt) / nt).sqrt();
    normal_approx_rejection_rate(
        pt - pc,
        sigma0,
        sigma1,
        crate::stats::normal_quantile(1.0 - alpha / 2.0),
    )
}

/// Relative lift r = m_t/m_c − 1 and its delta-method interval with the normal
/// quantile, given the variances of the two means.
pub(crate) fn relative_lift(
    mc: f64,
    mt: f64,
    var_mc: f64,
    var_mt: f64,
    z: f64,
) -> (f64, (f64, f64)) {
    if mc == 0.0 {
        return (f64::NAN, (f64::NAN, f64::NAN));
    }
    let rel = mt / mc - 1.0;
    let se = (var_mt / (mc * mc) + mt * mt * var_mc / mc.powi(4)).sqrt();
    (rel, (rel - z * se, rel + z * se))
}

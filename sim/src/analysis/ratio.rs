//! Ratio metrics (ΣM/ΣD over randomisation units) and their two-sample test,
//! matching GrowthBook's stats engine (gbstats 0.8.0, frequentist engine):
//! per-arm sufficient statistics [`RatioStats`] with an optional
//! regression-adjusted (CUPED) part [`RatioPre`], the delta-method variances,
//! gbstats's two-sided t-test [`t_test`] (shared with the quantile test), and
//! [`ratio_test`], the engine's entry point on [`ArmStats`].
//!
//! Per-unit variances ("unit variance" below) are what gbstats calls a
//! statistic's `variance`: the variance of one unit's contribution, which the
//! test divides by n. All sample (co)variances use n − 1.
//!
//! - Ratio R = ΣM/ΣD, with m̄ = ΣM/n, d̄ = ΣD/n: unit variance
//!   σ²_M/d̄² − 2·cov(M, D)·m̄/d̄³ + m̄²·σ²_D/d̄⁴ (the delta method with the
//!   covariance term); the variance of R is that over n.
//! - Regression-adjusted ratio R_post − θ·R_pre (GrowthBook's
//!   `RegressionAdjustedRatioStatistic`, which postdates the 0.8.0 release):
//!   unit variance ∇ᵀ Λ ∇ with Λ the 4×4 sample covariance matrix of
//!   (M, D, Mpre, Dpre) and ∇ = (1/d̄, −m̄/d̄², −θ/d̄pre, θ·m̄pre/d̄pre²) (zero when
//!   a denominator mean is 0). θ = (c_C + c_T)/(v_C + v_T), where per arm v is
//!   the unit variance of R_pre and c its unit covariance with R_post (θ = 0
//!   when v_C + v_T = 0).
//! - The test (gbstats's `TwoSidedTTest`): absolute difference μ_T − μ_C with
//!   variance V_T/n_T + V_C/n_C; relative (μ_T − μ_C)/u_C with variance
//!   V_T/(u_C²·n_T) + V_C·u_T²/(u_C⁴·n_C), where u is the unadjusted mean (the
//!   mean itself except under CUPED); t = estimate/se; Welch–Satterthwaite df
//!   (V_T/n_T + V_C/n_C)²/(V_T²/(n_T²(n_T − 1)) + V_C²/(n_C²(n_C − 1))); p from
//!   Student's t with that df; CI estimate ± t_{1−α/2, df}·se.
//!
//! Where gbstats differs from the textbook, this module follows gbstats:
//! - the relative test uses the *absolute* test's df (computed from the
//!   unit variances, not from the relative variance), and a t quantile rather
//!   than a normal one for the relative interval;
//! - under CUPED the relative estimate divides by the *unadjusted* control
//!   ratio, and its variance ignores the covariance between the adjusted
//!   difference and the unadjusted denominator;
//! - θ pools the per-unit (co)variances of the two arms without weighting
//!   them by 1/n, so it minimises the variance of the difference only for
//!   equal arms;
//! - gbstats computes p = 2·(1 − F(|t|)), which rounds to 0 below ~1e-16; here
//!   p = 2·sf(|t|) keeps tiny p-values (the two agree to 1e-16 absolutely).
//!
//! The t distribution's numbers are scipy's to ~1e-11 (checked against the
//! reference): statrs's `inverse_cdf` is off by up to 1e-4 at df in the
//! millions (a large test's df) and its sf by ~1e-9, so quantiles come from
//! the Cornish–Fisher expansion (polished by Newton steps on sf below
//! df = 1000) and, from df = 1000 on, p-values from the same expansion
//! inverted to a normal deviate. That is also faster: `ratio_test` takes
//! 0.09–0.8 µs where `welch_t` (statrs's `inverse_cdf`) takes 1.2–2.5 µs.
//!
//! The relative CUPED-ratio variance above is 0.8.0's test applied to the
//! later statistic. GrowthBook's sources after 0.8.0 (unreleased on PyPI)
//! instead take the full delta method of (adjusted difference)/|u_C|, with
//! the covariance between the two and |u_C| for u_C; this module follows the
//! pinned release, and its reference (tests/reference/gbstats.json) is built
//! the same way.
//!
//! Undefined cases give NaN or `None` instead of gbstats's zeros: a unit
//! variance with n < 2 or a zero denominator mean is NaN, and [`t_test`] is
//! `None` exactly where gbstats returns its uninformative default result.

use serde::{Deserialize, Serialize};
use statrs::distribution::StudentsT;

use super::student::{t_dist, two_sided_p};

use super::{ArmStats, TestResult, TestSetup};

/// The pre-period (CUPED) part of a ratio metric's statistics in one arm: the
/// pre-period numerator Mpre and denominator Dpre per unit, their sums,
/// squares and every cross product with M, D and each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RatioPre {
    /// ΣMpre.
    pub m_sum: f64,
    /// ΣMpre².
    pub m_sum_sq: f64,
    /// ΣDpre.
    pub d_sum: f64,
    /// ΣDpre².
    pub d_sum_sq: f64,
    /// ΣMpre·Dpre.
    pub md_sum: f64,
    /// ΣM·Mpre.
    pub m_mpre_sum: f64,
    /// ΣM·Dpre.
    pub m_dpre_sum: f64,
    /// ΣD·Mpre.
    pub d_mpre_sum: f64,
    /// ΣD·Dpre.
    pub d_dpre_sum: f64,
}

impl RatioPre {
    /// Adds one unit's pre-period numerator `m_pre` and denominator `d_pre`,
    /// beside its post-period `m` and `d`.
    #[inline]
    pub fn push(&mut self, m: f64, d: f64, m_pre: f64, d_pre: f64) {
        self.m_sum += m_pre;
        self.m_sum_sq += m_pre * m_pre;
        self.d_sum += d_pre;
        self.d_sum_sq += d_pre * d_pre;
        self.md_sum += m_pre * d_pre;
        self.m_mpre_sum += m * m_pre;
        self.m_dpre_sum += m * d_pre;
        self.d_mpre_sum += d * m_pre;
        self.d_dpre_sum += d * d_pre;
    }

    /// Adds the pre-period part of disjoint units (sums are additive).
    pub fn add(&mut self, o: &RatioPre) {
        self.m_sum += o.m_sum;
        self.m_sum_sq += o.m_sum_sq;
        self.d_sum += o.d_sum;
        self.d_sum_sq += o.d_sum_sq;
        self.md_sum += o.md_sum;
        self.m_mpre_sum += o.m_mpre_sum;
        self.m_dpre_sum += o.m_dpre_sum;
        self.d_mpre_sum += o.d_mpre_sum;
        self.d_dpre_sum += o.d_dpre_sum;
    }
}

/// Sufficient statistics of a ratio metric in one arm, over its randomisation
/// units u: n and the sums of M_u, D_u, M_u², D_u², M_u·D_u, with the
/// pre-period part when the metric is regression-adjusted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RatioStats {
    /// Randomisation units.
    pub n: u64,
    /// ΣM.
    pub m_sum: f64,
    /// ΣM².
    pub m_sum_sq: f64,
    /// ΣD.
    pub d_sum: f64,
    /// ΣD².
    pub d_sum_sq: f64,
    /// ΣM·D.
    pub md_sum: f64,
    /// The pre-period part, for a regression-adjusted (CUPED) ratio.
    #[serde(default)]
    pub pre: Option<RatioPre>,
}

/// One arm as the two-sample test reads it (gbstats's `Statistic`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArmEstimate {
    /// Units (events for a quantile).
    pub n: u64,
    /// The (possibly adjusted) point estimate.
    pub mean: f64,
    /// The point estimate without regression adjustment (the relative lift's
    /// denominator).
    pub unadjusted_mean: f64,
    /// Per-unit variance: the estimate's variance times n.
    pub variance: f64,
}

/// One comparison of treatment with control (absolute or relative).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// Point estimate (difference, or relative lift).
    pub estimate: f64,
    /// Variance of the estimate.
    pub variance: f64,
    /// Standard error of the estimate.
    pub se: f64,
    /// t statistic, estimate / se.
    pub statistic: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Confidence interval `(lo, hi)` at level 1 − alpha.
    pub ci: (f64, f64),
}

/// gbstats's two-sided t-test, with `difference_type` absolute and relative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GbTest {
    /// Treatment − control.
    pub absolute: Comparison,
    /// (Treatment − control) / unadjusted control.
    pub relative: Comparison,
}

/// The sample covariance matrix of (M, D, Mpre, Dpre).
type Cov4 = [[f64; 4]; 4];

/// Sample covariance (n − 1 denominator) from Σxy, Σx and Σy.
#[inline]
fn cov(n: f64, xy: f64, x: f64, y: f64) -> f64 {
    (xy - x * y / n) / (n - 1.0)
}

/// Delta-method unit variance of m̄/d̄ from the sums; NaN when n < 2 or d̄ = 0.
#[inline]
fn delta_unit_variance(n: u64, m: f64, m2: f64, d: f64, d2: f64, md: f64) -> f64 {
    if n < 2 || d == 0.0 {
        return f64::NAN;
    }
    let nf = n as f64;
    let (mm, dm) = (m / nf, d / nf);
    let (vm, vd, c) = (cov(nf, m2, m, m), cov(nf, d2, d, d), cov(nf, md, m, d));
    vm / (dm * dm) - 2.0 * c * mm / (dm * dm * dm) + mm * mm * vd / (dm * dm * dm * dm)
}

impl RatioStats {
    /// The ratio metric carried by an [`ArmStats`] without CUPED: numerator →
    /// (`sum`, `sum_sq`), denominator → (`x_sum`, `x_sum_sq`), their product
    /// → `xy_sum`, units → `n`.
    pub fn from_arm_stats(a: &ArmStats) -> Self {
        RatioStats {
            n: a.n,
            m_sum: a.sum,
            m_sum_sq: a.sum_sq,
            d_sum: a.x_sum,
            d_sum_sq: a.x_sum_sq,
            md_sum: a.xy_sum,
            pre: None,
        }
    }

    /// Statistics of per-unit numerators and denominators (pairs beyond the
    /// shorter slice are ignored).
    pub fn from_units(m: &[f64], d: &[f64]) -> Self {
        let mut s = RatioStats::default();
        for (&mu, &du) in m.iter().zip(d) {
            s.n += 1;
            s.m_sum += mu;
            s.m_sum_sq += mu * mu;
            s.d_sum += du;
            s.d_sum_sq += du * du;
            s.md_sum += mu * du;
        }
        s
    }

    /// Statistics of per-unit (M, D, Mpre, Dpre), regression-adjusted
    /// (units beyond the shortest slice are ignored).
    pub fn from_units_with_pre(m: &[f64], d: &[f64], m_pre: &[f64], d_pre: &[f64]) -> Self {
        let k = m.len().min(d.len()).min(m_pre.len()).min(d_pre.len());
        let mut s = RatioStats::from_units(&m[..k], &d[..k]);
        let mut p = RatioPre::default();
        for i in 0..k {
            p.push(m[i], d[i], m_pre[i], d_pre[i]);
        }
        s.pre = Some(p);
        s
    }

    /// The ratio metric carried by an [`ArmStats`] (as
    /// [`RatioStats::from_arm_stats`]) with its pre-period part.
    pub fn with_pre(a: &ArmStats, pre: &RatioPre) -> Self {
        RatioStats {
            pre: Some(*pre),
            ..RatioStats::from_arm_stats(a)
        }
    }

    /// The ratio ΣM/ΣD; NaN when ΣD = 0 (gbstats reports 0).
    pub fn ratio(&self) -> f64 {
        if self.d_sum == 0.0 {
            f64::NAN
        } else {
            self.m_sum / self.d_sum
        }
    }

    /// The pre-period ratio ΣMpre/ΣDpre (NaN when ΣDpre = 0), if any.
    pub fn pre_ratio(&self) -> Option<f64> {
        self.pre.map(|p| {
            if p.d_sum == 0.0 {
                f64::NAN
            } else {
                p.m_sum / p.d_sum
            }
        })
    }

    /// Sample covariance of M and D (n − 1); NaN when n < 2.
    pub fn covariance(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        cov(self.n as f64, self.md_sum, self.m_sum, self.d_sum)
    }

    /// Delta-method per-unit variance of the ratio, with the covariance term
    /// (gbstats's `RatioStatistic.variance`); NaN when n < 2 or ΣD = 0.
    pub fn unit_variance(&self) -> f64 {
        delta_unit_variance(
            self.n,
            self.m_sum,
            self.m_sum_sq,
            self.d_sum,
            self.d_sum_sq,
            self.md_sum,
        )
    }

    /// Delta-method variance of the ratio estimate: the unit variance over n.
    pub fn variance_of_ratio(&self) -> f64 {
        self.unit_variance() / self.n as f64
    }

    /// Means of (M, D, Mpre, Dpre) and their 4×4 sample covariance matrix;
    /// `None` without a pre-period part or with n < 2.
    fn moments(&self) -> Option<([f64; 4], Cov4)> {
        let p = self.pre?;
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let s = [self.m_sum, self.d_sum, p.m_sum, p.d_sum];
        let cross = [
            [self.m_sum_sq, self.md_sum, p.m_mpre_sum, p.m_dpre_sum],
            [self.md_sum, self.d_sum_sq, p.d_mpre_sum, p.d_dpre_sum],
            [p.m_mpre_sum, p.d_mpre_sum, p.m_sum_sq, p.md_sum],
            [p.m_dpre_sum, p.d_dpre_sum, p.md_sum, p.d_sum_sq],
        ];
        let mut lam = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                lam[i][j] = cov(n, cross[i][j], s[i], s[j]);
            }
        }
        Some((s.map(|v| v / n), lam))
    }

    /// The gradients of R_post and R_pre in the means (zero when a
    /// denominator mean is 0, as gbstats), with the covariance matrix.
    fn gradients(&self) -> Option<([f64; 2], [f64; 2], Cov4)> {
        let (mu, lam) = self.moments()?;
        if mu[1] == 0.0 || mu[3] == 0.0 {
            return Some(([0.0; 2], [0.0; 2], lam));
        }
        let post = [1.0 / mu[1], -mu[0] / (mu[1] * mu[1])];
        let pre = [1.0 / mu[3], -mu[2] / (mu[3] * mu[3])];
        Some((post, pre, lam))
    }

    /// Per-unit variance of R_pre and its covariance with R_post (the parts θ
    /// pools); `None` without a pre-period part or with n < 2.
    fn pre_parts(&self) -> Option<(f64, f64)> {
        let (g, h, lam) = self.gradients()?;
        let (mut v, mut c) = (0.0, 0.0);
        for i in 0..2 {
            for j in 0..2 {
                v += h[i] * lam[2 + i][2 + j] * h[j];
                c += h[i] * lam[2 + i][j] * g[j];
            }
        }
        Some((v, c))
    }

    /// The regression-adjusted arm at coefficient `theta`: mean
    /// R_post − θ·R_pre (NaN when a denominator sum is 0), unadjusted mean
    /// R_post, and the unit variance ∇ᵀΛ∇. `None` without a pre-period part
    /// or with n < 2.
    pub fn adjusted(&self, theta: f64) -> Option<ArmEstimate> {
        let (g, h, lam) = self.gradients()?;
        let grad = [g[0], g[1], -theta * h[0], -theta * h[1]];
        let mut variance = 0.0;
        for i in 0..4 {
            for j in 0..4 {
                variance += grad[i] * lam[i][j] * grad[j];
            }
        }
        let (r_post, r_pre) = (self.ratio(), self.pre_ratio().unwrap_or(f64::NAN));
        Some(ArmEstimate {
            n: self.n,
            mean: r_post - theta * r_pre,
            unadjusted_mean: r_post,
            variance,
        })
    }

    /// The arm as the test reads it: regression-adjusted at `theta` when it
    /// has a pre-period part, the plain ratio otherwise.
    pub fn estimate(&self, theta: f64) -> ArmEstimate {
        self.adjusted(theta).unwrap_or(ArmEstimate {
            n: self.n,
            mean: self.ratio(),
            unadjusted_mean: self.ratio(),
            variance: self.unit_variance(),
        })
    }
}

/// The CUPED coefficient θ of two regression-adjusted arms, pooled as gbstats
/// pools it (see the module header); 0 when the pre-period ratios have no
/// variance, `None` when an arm has no pre-period part or fewer than 2 units.
pub fn ra_theta(control: &RatioStats, treatment: &RatioStats) -> Option<f64> {
    let (vc, cc) = control.pre_parts()?;
    let (vt, ct) = treatment.pre_parts()?;
    let v = vc + vt;
    Some(if v == 0.0 { 0.0 } else { (cc + ct) / v })
}

/// CUPED on a ratio metric, for the engine's tests: the two arms of
/// [`ArmStats`] (ratio layout, see [`ratio_test`]) with their pre-period
/// parts, regression-adjusted at the pooled [`ra_theta`] and written back as
/// per-unit statistics whose mean is the adjusted ratio and whose sample
/// variance is its delta-method unit variance ∇ᵀΛ∇. So Welch's test on them
/// is gbstats's absolute test of the adjusted ratios: the same difference,
/// variance V_T/n_T + V_C/n_C and Welch–Satterthwaite df. The means are
/// centred, R_post − θ·(R_pre − R̄_pre) with R̄_pre the pooled pre-period
/// ratio, as per-unit CUPED centres its covariate: the difference is
/// unchanged, and a relative lift divides by a mean near the control's own
/// ratio instead of gbstats's unadjusted one. Also returns the share of the
/// difference's variance the adjustment removed. `None` where the test is
/// undefined: an arm with fewer than 2 units, or a post- or pre-period
/// denominator sum of 0.
pub fn cuped_ratio_arms(
    control: (&ArmStats, &RatioPre),
    treatment: (&ArmStats, &RatioPre),
) -> Option<(ArmStats, ArmStats, f64)> {
    let c = RatioStats::with_pre(control.0, control.1);
    let t = RatioStats::with_pre(treatment.0, treatment.1);
    let zero = |s: &RatioStats| s.n < 2 || s.d_sum == 0.0 || s.pre.is_some_and(|p| p.d_sum == 0.0);
    if zero(&c) || zero(&t) {
        return None;
    }
    let theta = ra_theta(&c, &t)?;
    let (ac, at) = (c.adjusted(theta)?, t.adjusted(theta)?);
    let (pc, pt) = (c.pre?, t.pre?);
    let pooled_pre = (pc.m_sum + pt.m_sum) / (pc.d_sum + pt.d_sum);
    let (nc, nt) = (c.n as f64, t.n as f64);
    let before = c.unit_variance() / nc + t.unit_variance() / nt;
    let after = ac.variance.max(0.0) / nc + at.variance.max(0.0) / nt;
    let reduction = if before > 0.0 {
        1.0 - after / before
    } else {
        0.0
    };
    let encode = |a: &ArmEstimate| {
        let n = a.n as f64;
        let mean = a.mean + theta * pooled_pre;
        // A quadratic form of a covariance matrix: negative only by rounding.
        let variance = a.variance.max(0.0);
        ArmStats {
            n: a.n,
            sum: n * mean,
            sum_sq: variance * (n - 1.0) + n * mean * mean,
            ..ArmStats::default()
        }
    };
    Some((encode(&ac), encode(&at), reduction))
}

/// gbstats's two-sided test of treatment against control on two ratio arms:
/// regression-adjusted (with [`ra_theta`]) when both have a pre-period part,
/// plain otherwise. `None` where gbstats gives its default result (see
/// [`t_test`]) or an arm has fewer than 2 units or ΣD = 0.
pub fn ratio_comparison(
    control: &RatioStats,
    treatment: &RatioStats,
    alpha: f64,
) -> Option<GbTest> {
    if control.n < 2 || treatment.n < 2 || control.d_sum == 0.0 || treatment.d_sum == 0.0 {
        return None;
    }
    let (c, t) = match ra_theta(control, treatment) {
        // gbstats's adjusted mean is 0 when a pre-period denominator sum is 0.
        Some(theta) if control.pre_ratio()?.is_finite() && treatment.pre_ratio()?.is_finite() => {
            (control.adjusted(theta)?, treatment.adjusted(theta)?)
        }
        Some(_) => return None,
        None => (control.estimate(0.0), treatment.estimate(0.0)),
    };
    t_test(&c, &t, alpha)
}

/// Welch–Satterthwaite df of two unit variances, as gbstats computes it.
#[inline]
fn welch_df(vc: f64, nc: f64, vt: f64, nt: f64) -> f64 {
    (vt / nt + vc / nc).powi(2)
        / (vt * vt / (nt * nt * (nt - 1.0)) + vc * vc / (nc * nc * (nc - 1.0)))
}

/// One comparison from its estimate and variance, with the shared df, t
/// distribution and quantile.
#[inline]
fn comparison(estimate: f64, variance: f64, df: f64, t: Option<&(StudentsT, f64)>) -> Comparison {
    let se = variance.sqrt();
    let statistic = estimate / se;
    let q = t.map_or(f64::NAN, |t| t.1);
    Comparison {
        estimate,
        variance,
        se,
        statistic,
        df,
        p_value: two_sided_p(t.map(|t| &t.0), statistic),
        ci: (estimate - q * se, estimate + q * se),
    }
}

/// gbstats's frequentist two-sided t-test (`TwoSidedTTest`, test value 0) of
/// treatment against control, absolute and relative (formulas in the module
/// header). `None` where gbstats returns its uninformative default: a control
/// mean or unadjusted mean of 0, a unit variance that is not positive (or
/// not finite), or an arm with fewer than 2 units.
pub fn t_test(control: &ArmEstimate, treatment: &ArmEstimate, alpha: f64) -> Option<GbTest> {
    let (c, t) = (control, treatment);
    let ok = |a: &ArmEstimate| {
        a.n >= 2 && a.variance > 0.0 && a.variance.is_finite() && a.mean.is_finite()
    };
    if !ok(c) || !ok(t) || c.mean == 0.0 || c.unadjusted_mean == 0.0 {
        return None;
    }
    let (nc, nt) = (c.n as f64, t.n as f64);
    let df = welch_df(c.variance, nc, t.variance, nt);
    let diff = t.mean - c.mean;
    // statrs's normal quantile panics outside [0, 1]: alpha outside (0, 1]
    // gets no interval (NaN) but still its p-value.
    let z = if alpha > 0.0 && alpha <= 1.0 {
        crate::stats::normal_quantile(1.0 - alpha / 2.0)
    } else {
        f64::NAN
    };
    let dist = t_dist(df, alpha, z);
    let absolute = comparison(diff, t.variance / nt + c.variance / nc, df, dist.as_ref());
    let u = c.unadjusted_mean;
    let rel_var = t.variance / (u * u * nt)
        + c.variance * t.unadjusted_mean * t.unadjusted_mean / (u * u * u * u * nc);
    let relative = comparison(diff / u, rel_var, df, dist.as_ref());
    Some(GbTest { absolute, relative })
}

/// The ratio test of treatment against control on the engine's [`ArmStats`],
/// each carrying a ratio metric per randomisation unit (n = units,
/// `sum` = ΣM, `sum_sq` = ΣM², `x_sum` = ΣD, `x_sum_sq` = ΣD², `xy_sum` = ΣM·D;
/// see [`RatioStats::from_arm_stats`]). It tests the difference of the ratios
/// R = ΣM/ΣD (treatment − control) as gbstats does: delta-method variances,
/// Welch–Satterthwaite df, Student-t p-value and interval at `setup.alpha`,
/// and the relative lift R_T/R_C − 1 with gbstats's delta-method interval
/// (same df). Undefined (p-value 1, NaN estimates) when an arm has fewer than
/// 2 units, ΣD = 0, or a variance is not finite; with zero variance in both
/// arms the difference is exact, as in `welch_t`. A control ratio of 0 leaves
/// the relative lift NaN. No allocation.
pub fn ratio_test(control: &ArmStats, treatment: &ArmStats, setup: &TestSetup) -> TestResult {
    let (c, t) = (
        RatioStats::from_arm_stats(control),
        RatioStats::from_arm_stats(treatment),
    );
    if c.n < 2 || t.n < 2 || c.d_sum == 0.0 || t.d_sum == 0.0 {
        return TestResult::undefined();
    }
    let (vc, vt) = (c.unit_variance(), t.unit_variance());
    if !vc.is_finite() || !vt.is_finite() {
        return TestResult::undefined();
    }
    // A quadratic form of a covariance matrix: negative only by rounding.
    let (vc, vt) = (vc.max(0.0), vt.max(0.0));
    let (nc, nt) = (c.n as f64, t.n as f64);
    let (rc, rt) = (c.ratio(), t.ratio());
    let diff = rt - rc;
    let se = (vt / nt + vc / nc).sqrt();
    let (rel, rel_se) = if rc == 0.0 {
        (f64::NAN, f64::NAN)
    } else {
        let v = vt / (rc * rc * nt) + vc * rt * rt / (rc * rc * rc * rc * nc);
        (diff / rc, v.sqrt())
    };
    if se == 0.0 {
        // No variance in either arm: the difference is exact.
        let (statistic, p_value) = if diff == 0.0 {
            (0.0, 1.0)
        } else {
            (diff.signum() * f64::INFINITY, 0.0)
        };
        return TestResult {
            statistic,
            df: nc + nt - 2.0,
            p_value,
            diff,
            diff_ci: (diff, diff),
            rel,
            rel_ci: (rel, rel),
        };
    }
    let statistic = diff / se;
    let df = welch_df(vc, nc, vt, nt);
    let dist = t_dist(df, setup.alpha, setup.z_crit);
    let p_value = two_sided_p(dist.as_ref().map(|d| &d.0), statistic);
    let q = dist.map_or(f64::NAN, |d| d.1);
    TestResult {
        statistic,
        df,
        p_value,
        diff,
        diff_ci: (diff - q * se, diff + q * se),
        rel,
        rel_ci: (rel - q * rel_se, rel + q * rel_se),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(n: u64, m: f64, m2: f64, d: f64, d2: f64, md: f64) -> ArmStats {
        ArmStats {
            n,
            sum: m,
            sum_sq: m2,
            x_sum: d,
            x_sum_sq: d2,
            xy_sum: md,
        }
    }

    fn undefined(r: &TestResult) -> bool {
        r.p_value == 1.0 && r.diff.is_nan() && r.statistic.is_nan() && r.rel.is_nan()
    }

    #[test]
    fn odd_alpha_does_not_panic() {
        let c = ArmEstimate {
            n: 10,
            mean: 1.0,
            unadjusted_mean: 1.0,
            variance: 2.0,
        };
        let t = ArmEstimate { mean: 1.5, ..c };
        for alpha in [f64::NAN, 0.0, -1.0, 1.0, 2.0, 1e-300] {
            let r = t_test(&c, &t, alpha).expect("defined");
            assert!(r.absolute.p_value > 0.0 && r.absolute.p_value < 1.0);
        }
    }

    #[test]
    fn from_arm_stats_is_the_documented_mapping() {
        let a = arm(7, 1.0, 2.0, 3.0, 4.0, 5.0);
        let r = RatioStats::from_arm_stats(&a);
        assert_eq!(
            (r.n, r.m_sum, r.m_sum_sq, r.d_sum, r.d_sum_sq, r.md_sum),
            (7, 1.0, 2.0, 3.0, 4.0, 5.0)
        );
        assert!(r.pre.is_none());
    }

    #[test]
    fn from_units_matches_from_arm_stats() {
        let (m, d) = ([1.0, 2.0, 0.5, 4.0], [2.0, 3.0, 1.0, 5.0]);
        let r = RatioStats::from_units(&m, &d);
        assert_eq!(r.n, 4);
        assert_eq!(r.ratio(), 7.5 / 11.0);
        assert!(r.unit_variance() > 0.0);
        assert!((r.variance_of_ratio() * 4.0 - r.unit_variance()).abs() < 1e-15);
    }

    #[test]
    fn zero_denominator_is_undefined() {
        let setup = TestSetup::new(0.05);
        let zero_d = arm(10, 5.0, 5.0, 0.0, 0.0, 0.0);
        let ok = arm(10, 5.0, 5.0, 10.0, 12.0, 6.0);
        assert!(undefined(&ratio_test(&zero_d, &ok, &setup)));
        assert!(undefined(&ratio_test(&ok, &zero_d, &setup)));
        let r = RatioStats::from_arm_stats(&zero_d);
        assert!(r.ratio().is_nan() && r.unit_variance().is_nan());
        assert!(ratio_comparison(&r, &RatioStats::from_arm_stats(&ok), 0.05).is_none());
    }

    #[test]
    fn fewer_than_two_units_is_undefined() {
        let setup = TestSetup::new(0.05);
        let one = arm(1, 1.0, 1.0, 2.0, 4.0, 2.0);
        let ok = arm(10, 5.0, 5.0, 10.0, 12.0, 6.0);
        assert!(undefined(&ratio_test(&one, &ok, &setup)));
        assert!(undefined(&ratio_test(&ok, &one, &setup)));
        assert!(undefined(&ratio_test(&ArmStats::default(), &ok, &setup)));
        assert!(RatioStats::from_arm_stats(&one).unit_variance().is_nan());
        assert!(RatioStats::from_arm_stats(&one).covariance().is_nan());
    }

    #[test]
    fn zero_variance_behaves_as_welch() {
        let setup = TestSetup::new(0.05);
        // Every unit has M = 1, D = 2 (control) or M = 1, D = 1 (treatment).
        let c = arm(5, 5.0, 5.0, 10.0, 20.0, 10.0);
        let t = arm(5, 5.0, 5.0, 5.0, 5.0, 5.0);
        let r = ratio_test(&c, &t, &setup);
        assert_eq!(r.diff, 0.5);
        assert_eq!(r.statistic, f64::INFINITY);
        assert_eq!(r.p_value, 0.0);
        assert_eq!(r.diff_ci, (0.5, 0.5));
        assert_eq!(r.rel, 1.0);
        let same = ratio_test(&c, &c, &setup);
        assert_eq!((same.statistic, same.p_value, same.diff), (0.0, 1.0, 0.0));
        // gbstats gives its default result there.
        let rc = RatioStats::from_arm_stats(&c);
        assert!(ratio_comparison(&rc, &rc, 0.05).is_none());
    }

    #[test]
    fn zero_control_ratio_leaves_the_lift_undefined() {
        let setup = TestSetup::new(0.05);
        let c = arm(4, 0.0, 0.0, 8.0, 18.0, 0.0);
        let t = arm(4, 4.0, 6.0, 8.0, 18.0, 9.0);
        let r = ratio_test(&c, &t, &setup);
        assert!(r.diff.is_finite() && r.p_value < 1.0);
        assert!(r.rel.is_nan() && r.rel_ci.0.is_nan());
        let (rc, rt) = (
            RatioStats::from_arm_stats(&c),
            RatioStats::from_arm_stats(&t),
        );
        assert!(ratio_comparison(&rc, &rt, 0.05).is_none());
    }

    #[test]
    fn non_finite_sums_are_undefined() {
        let setup = TestSetup::new(0.05);
        let ok = arm(10, 5.0, 5.0, 10.0, 12.0, 6.0);
        let inf = arm(10, f64::INFINITY, f64::INFINITY, 10.0, 12.0, 6.0);
        let nan = arm(10, f64::NAN, 5.0, 10.0, 12.0, 6.0);
        assert!(undefined(&ratio_test(&inf, &ok, &setup)));
        assert!(undefined(&ratio_test(&ok, &nan, &setup)));
    }

    #[test]
    fn ratio_test_agrees_with_t_test() {
        let setup = TestSetup::new(0.05);
        let c = arm(50, 40.0, 60.0, 100.0, 260.0, 95.0);
        let t = arm(60, 55.0, 80.0, 118.0, 300.0, 125.0);
        let r = ratio_test(&c, &t, &setup);
        let g = ratio_comparison(
            &RatioStats::from_arm_stats(&c),
            &RatioStats::from_arm_stats(&t),
            0.05,
        )
        .expect("defined");
        assert_eq!(r.diff, g.absolute.estimate);
        assert_eq!(r.statistic, g.absolute.statistic);
        assert_eq!(r.df, g.absolute.df);
        assert_eq!(r.p_value, g.absolute.p_value);
        assert!((r.diff_ci.0 - g.absolute.ci.0).abs() < 1e-15);
        assert!((r.rel - g.relative.estimate).abs() < 1e-15);
        assert!((r.rel_ci.1 - g.relative.ci.1).abs() < 1e-12);
    }

    #[test]
    fn cuped_edge_cases_do_not_panic() {
        let base = RatioStats::from_units_with_pre(
            &[1.0, 2.0, 3.0],
            &[1.0, 1.0, 2.0],
            &[0.0; 3],
            &[0.0; 3],
        );
        // Zero pre-period denominators: no adjustment is defined.
        assert!(base.pre_ratio().unwrap().is_nan());
        assert!(ratio_comparison(&base, &base, 0.05).is_none());
        let one = RatioStats::from_units_with_pre(&[1.0], &[1.0], &[1.0], &[1.0]);
        assert!(one.adjusted(0.5).is_none());
        assert!(ra_theta(&one, &base).is_none());
        // Constant pre-period ratios: θ = 0, the plain ratio's variance.
        let flat = RatioStats::from_units_with_pre(
            &[1.0, 2.0, 3.0],
            &[1.0, 1.0, 2.0],
            &[1.0; 3],
            &[1.0; 3],
        );
        assert_eq!(ra_theta(&flat, &flat), Some(0.0));
        let a = flat.adjusted(0.0).unwrap();
        assert!((a.variance - flat.unit_variance()).abs() < 1e-12);
    }
}

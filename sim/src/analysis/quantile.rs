//! Quantile tests as GrowthBook's stats engine (gbstats 0.8.0) runs them: the
//! unclustered [`QuantileStatistic`] (one value per unit), the clustered
//! [`QuantileClusteredStatistic`] (events nested in randomisation units,
//! with a cluster-robust variance), helpers that compute both from raw data,
//! and the two-arm tests (gbstats's t-test, [`super::ratio::t_test`]).
//!
//! Definitions (from gbstats's statistics and GrowthBook's SQL):
//! - The sample quantile at level p of n sorted values x₀ ≤ … ≤ x_{n−1} is
//!   linear interpolation between order statistics (SQL `PERCENTILE_CONT`,
//!   numpy's default `method="linear"`): h = (n − 1)·p,
//!   Q(p) = x_⌊h⌋ + (h − ⌊h⌋)·(x_⌊h⌋+1 − x_⌊h⌋).
//! - `quantile_hat` = Q(ν). n* (`n_star`) is the largest value of the grid
//!   100·2^k, k = 0…19, below n (100 when none is). With z = Φ⁻¹(0.975)
//!   and w = z·√(ν(1 − ν)/n*), `quantile_lower` = Q(max(ν − w, 1e−8)) and
//!   `quantile_upper` = Q(min(ν + w, 1 − 1e−8)): the order statistics around
//!   the quantile that bound a 95% interval for it at sample size n*.
//! - Per-unit variance ("variance_init"): (n*/n)·(n − 1)·((upper − lower)/(2z))²,
//!   the density-based (Price–Bonett style) variance of the quantile scaled so
//!   the test's division by n gives the quantile's variance. gbstats floors it
//!   at 1e−5 when n ≥ 100.
//! - Clustered: with K clusters, S_k = events of cluster k at or below
//!   `quantile_hat`, N_k = events of cluster k, the delta-method variance of
//!   ΣS/ΣN, V_c = (σ²_S − 2·μ_S·σ_SN/μ_N + μ_S²·σ²_N/μ_N²)/(K·μ_N²) (sample
//!   (co)variances with K − 1), replaces the i.i.d. binomial variance
//!   ν(1 − ν)/n: variance_init = iid variance_init · V_c/(ν(1 − ν)/n).
//!
//! gbstats quirks kept here: z is Φ⁻¹(0.975) whatever the test's alpha (the
//! bounds are always a 95% interval); the 1e−5 floor makes a zero-width
//! interval testable at n ≥ 100 and untestable below; an arm is untestable
//! (gbstats's default result, `None` here) when n ≤ z²·ν/(1 − ν) or
//! n ≤ z²·(1 − ν)/ν (the interval would leave [0, 1]) or when the variance is
//! zero with n < 1000; the relative test uses the absolute test's df.
//! Whether S_k counts values at or strictly below the quantile is not stated
//! by gbstats; this module counts x ≤ `quantile_hat` (the same for
//! continuous data).

use serde::{Deserialize, Serialize};

use super::ratio::{ArmEstimate, GbTest, t_test};
use super::{ArmStats, TestResult, TestSetup};

/// Φ⁻¹(0.975), the multiplier gbstats fixes for the quantile bounds.
pub const Z_975: f64 = 1.959963984540054;

/// The smallest n* of GrowthBook's grid (100·2^k, k = 0…19).
const N_STAR_MIN: u64 = 100;
/// Number of values in the grid.
const N_STAR_STEPS: u32 = 20;

/// The n* GrowthBook pairs with `n` values: the largest grid value 100·2^k
/// (k = 0…19) below n, or 100 when none is.
pub fn n_star_for(n: u64) -> u64 {
    (0..N_STAR_STEPS)
        .map(|k| N_STAR_MIN << k)
        .filter(|&g| g < n)
        .max()
        .unwrap_or(N_STAR_MIN)
}

/// The levels of the lower and upper bound order statistics for quantile
/// `nu` at sample size `n_star` (see the module header).
pub fn bound_levels(nu: f64, n_star: u64) -> (f64, f64) {
    let w = Z_975 * (nu * (1.0 - nu) / n_star as f64).sqrt();
    ((nu - w).max(1e-8), (nu + w).min(1.0 - 1e-8))
}

/// The sample quantile at level `p` ∈ [0, 1] of ascending `sorted` values by
/// linear interpolation (see the module header); NaN when empty.
pub fn sample_quantile(sorted: &[f64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let h = last as f64 * p.clamp(0.0, 1.0);
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// An unclustered quantile statistic of one arm, with gbstats's fields.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantileStatistic {
    /// Values (units, or events when clustered).
    pub n: u64,
    /// The grid sample size the bounds were computed for ([`n_star_for`]).
    pub n_star: u64,
    /// Quantile level ν in (0, 1).
    pub nu: f64,
    /// The sample quantile Q(ν).
    pub quantile_hat: f64,
    /// The lower bound order statistic ([`bound_levels`]).
    pub quantile_lower: f64,
    /// The upper bound order statistic.
    pub quantile_upper: f64,
}

impl QuantileStatistic {
    /// The statistic of `values` at level `nu` (definitions in the module
    /// header); `None` when empty, when a value is NaN, or when `nu` is not
    /// in (0, 1).
    pub fn from_values(values: &[f64], nu: f64) -> Option<Self> {
        let mut sorted = values.to_vec();
        Self::from_sorted(&mut sorted, nu)
    }

    /// As [`QuantileStatistic::from_values`], sorting `values` in place.
    fn from_sorted(values: &mut [f64], nu: f64) -> Option<Self> {
        if values.is_empty() || !(nu > 0.0 && nu < 1.0) || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len() as u64;
        let n_star = n_star_for(n);
        let (lo, hi) = bound_levels(nu, n_star);
        Some(QuantileStatistic {
            n,
            n_star,
            nu,
            quantile_hat: sample_quantile(values, nu),
            quantile_lower: sample_quantile(values, lo),
            quantile_upper: sample_quantile(values, hi),
        })
    }

    /// gbstats's per-unit variance before its floor:
    /// (n*/n)·(n − 1)·((upper − lower)/(2z))²; NaN when n < 2.
    pub fn variance_init(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        let n = self.n as f64;
        let w = (self.quantile_upper - self.quantile_lower) / (2.0 * Z_975);
        (self.n_star as f64 / n) * (n - 1.0) * w * w
    }

    /// Whether gbstats declines to test this arm (see the module header).
    pub fn has_zero_variance(&self) -> bool {
        untestable(self.n, self.nu, self.variance_init())
    }

    /// The arm as the t-test reads it (mean = unadjusted mean = the quantile).
    pub fn estimate(&self) -> ArmEstimate {
        estimate_of(self, self.variance_init())
    }
}

/// gbstats's floor on a quantile's per-unit variance: none below 100 values,
/// 1e−5 from 100 on; NaN stays NaN.
fn floored(n: u64, variance_init: f64) -> f64 {
    if variance_init.is_nan() || n < 100 {
        variance_init
    } else {
        variance_init.max(1e-5)
    }
}

/// gbstats's `_has_zero_variance` for a quantile arm.
fn untestable(n: u64, nu: f64, variance_init: f64) -> bool {
    let (n, z2) = (n as f64, Z_975 * Z_975);
    let above_one = n <= z2 * nu / (1.0 - nu);
    let below_zero = n <= z2 * (1.0 - nu) / nu;
    above_one || below_zero || variance_init.is_nan() || (variance_init <= 0.0 && n < 1000.0)
}

fn estimate_of(q: &QuantileStatistic, variance_init: f64) -> ArmEstimate {
    ArmEstimate {
        n: q.n,
        mean: q.quantile_hat,
        unadjusted_mean: q.quantile_hat,
        variance: floored(q.n, variance_init),
    }
}

/// A clustered (event-level) quantile statistic of one arm: the quantile of
/// all events, with the per-cluster sums of S (events at or below the
/// quantile) and N (events) for the cluster-robust variance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantileClusteredStatistic {
    /// The quantile over all events (n = events).
    #[serde(flatten)]
    pub quantile: QuantileStatistic,
    /// ΣS over clusters.
    pub main_sum: f64,
    /// ΣS².
    pub main_sum_squares: f64,
    /// ΣN over clusters (the events).
    pub denominator_sum: f64,
    /// ΣN².
    pub denominator_sum_squares: f64,
    /// ΣS·N.
    pub main_denominator_sum_product: f64,
    /// Clusters K.
    pub n_clusters: u64,
}

impl QuantileClusteredStatistic {
    /// The statistic of (cluster id, value) events at level `nu`; `None` as
    /// for [`QuantileStatistic::from_values`].
    pub fn from_events(events: &[(u64, f64)], nu: f64) -> Option<Self> {
        let mut values: Vec<f64> = events.iter().map(|e| e.1).collect();
        let quantile = QuantileStatistic::from_sorted(&mut values, nu)?;
        let mut by_cluster = events.to_vec();
        by_cluster.sort_by_key(|e| e.0);
        let mut s = QuantileClusteredStatistic {
            quantile,
            main_sum: 0.0,
            main_sum_squares: 0.0,
            denominator_sum: 0.0,
            denominator_sum_squares: 0.0,
            main_denominator_sum_product: 0.0,
            n_clusters: 0,
        };
        for group in by_cluster.chunk_by(|a, b| a.0 == b.0) {
            let k = group.len() as f64;
            let below = group
                .iter()
                .filter(|e| e.1 <= quantile.quantile_hat)
                .count() as f64;
            s.n_clusters += 1;
            s.main_sum += below;
            s.main_sum_squares += below * below;
            s.denominator_sum += k;
            s.denominator_sum_squares += k * k;
            s.main_denominator_sum_product += below * k;
        }
        Some(s)
    }

    /// Whether the clusters hold any events (ΣN > 0; false for NaN).
    fn has_events(&self) -> bool {
        self.denominator_sum > 0.0
    }

    /// The delta-method variance V_c of the share of events at or below the
    /// quantile, across clusters (module header); NaN with fewer than 2
    /// clusters or no events.
    pub fn cluster_variance(&self) -> f64 {
        if self.n_clusters < 2 || !self.has_events() {
            return f64::NAN;
        }
        let k = self.n_clusters as f64;
        let (mu_s, mu_n) = (self.main_sum / k, self.denominator_sum / k);
        let c = k / (k - 1.0);
        let var_s = (self.main_sum_squares / k - mu_s * mu_s) * c;
        let var_n = (self.denominator_sum_squares / k - mu_n * mu_n) * c;
        let cov_sn = (self.main_denominator_sum_product / k - mu_s * mu_n) * c;
        let num = var_s - 2.0 * mu_s * cov_sn / mu_n + mu_s * mu_s * var_n / (mu_n * mu_n);
        num / (k * mu_n * mu_n)
    }

    /// gbstats's per-unit variance before its floor: the i.i.d. one scaled
    /// by V_c/(ν(1 − ν)/n); NaN when n < 2, K < 2 or there are no events.
    pub fn variance_init(&self) -> f64 {
        let q = &self.quantile;
        if q.n < 2 || q.nu == 0.0 || self.n_clusters < 2 || !self.has_events() {
            return f64::NAN;
        }
        let iid = q.nu * (1.0 - q.nu) / q.n as f64;
        q.variance_init() * self.cluster_variance() / iid
    }

    /// Whether gbstats declines to test this arm (see the module header).
    pub fn has_zero_variance(&self) -> bool {
        untestable(self.quantile.n, self.quantile.nu, self.variance_init())
    }

    /// The arm as the t-test reads it.
    pub fn estimate(&self) -> ArmEstimate {
        estimate_of(&self.quantile, self.variance_init())
    }
}

/// gbstats's two-sided test of two unclustered quantiles, absolute and
/// relative; `None` where gbstats gives its default result (an untestable
/// arm, or a control quantile of 0).
pub fn quantile_test(
    control: &QuantileStatistic,
    treatment: &QuantileStatistic,
    alpha: f64,
) -> Option<GbTest> {
    if control.has_zero_variance() || treatment.has_zero_variance() {
        return None;
    }
    t_test(&control.estimate(), &treatment.estimate(), alpha)
}

/// gbstats's two-sided test of two clustered quantiles; `None` as for
/// [`quantile_test`].
pub fn quantile_clustered_test(
    control: &QuantileClusteredStatistic,
    treatment: &QuantileClusteredStatistic,
    alpha: f64,
) -> Option<GbTest> {
    if control.has_zero_variance() || treatment.has_zero_variance() {
        return None;
    }
    t_test(&control.estimate(), &treatment.estimate(), alpha)
}

/// An arm's quantile estimate as the engine carries it: the sufficient
/// statistics of a pseudo-sample of `e.n` values whose mean is the quantile
/// and whose sample variance is its per-unit variance, the normal summary
/// every t or z test reads (`mean()`, `variance()`, `n`). A quantile is not
/// additive, so such statistics are never summed across looks (a quantile
/// metric has one look, validated). An arm gbstats will not test (`None`)
/// has n = 0, which no test accepts.
pub fn summary_stats(e: Option<ArmEstimate>) -> ArmStats {
    let Some(e) = e else {
        return ArmStats::default();
    };
    let n = e.n as f64;
    ArmStats {
        n: e.n,
        sum: n * e.mean,
        sum_sq: e.variance * (n - 1.0) + n * e.mean * e.mean,
        ..ArmStats::default()
    }
}

/// The estimate of an unclustered arm's values at level `nu`, as
/// [`summary_stats`] takes it: None when gbstats declines to test it.
pub fn arm_estimate(values: &[f64], nu: f64) -> Option<ArmEstimate> {
    QuantileStatistic::from_values(values, nu)
        .filter(|q| !q.has_zero_variance())
        .map(|q| q.estimate())
}

/// The same for events nested in users, `(user, value)`, with the
/// cluster-robust variance.
pub fn clustered_arm_estimate(events: &[(u64, f64)], nu: f64) -> Option<ArmEstimate> {
    QuantileClusteredStatistic::from_events(events, nu)
        .filter(|q| !q.has_zero_variance())
        .map(|q| q.estimate())
}

/// gbstats's quantile t-test on two arms' [`summary_stats`]: the same test
/// as [`quantile_test`] on the statistics they summarise (to rounding).
/// Undefined when an arm was not testable.
pub fn summary_test(control: &ArmStats, treatment: &ArmStats, setup: &TestSetup) -> TestResult {
    if control.n < 2 || treatment.n < 2 {
        return TestResult::undefined();
    }
    let back = |a: &ArmStats| ArmEstimate {
        n: a.n,
        mean: a.mean(),
        unadjusted_mean: a.mean(),
        variance: a.variance().max(0.0),
    };
    match t_test(&back(control), &back(treatment), setup.alpha) {
        Some(t) => TestResult {
            statistic: t.absolute.statistic,
            df: t.absolute.df,
            p_value: t.absolute.p_value,
            diff: t.absolute.estimate,
            diff_ci: t.absolute.ci,
            rel: t.relative.estimate,
            rel_ci: t.relative.ci,
        },
        None => TestResult::undefined(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's route (an arm's normal summary in `ArmStats`, then
    /// `summary_test`) gives gbstats's quantile test on the statistics
    /// themselves, to rounding; an untestable arm stays untested.
    #[test]
    fn the_summary_route_is_the_quantile_test() {
        let values = |seed: u64, n: usize, shift: f64| -> Vec<f64> {
            (0..n)
                .map(|i| {
                    let x = ((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed) >> 11;
                    shift + 100.0 * (x as f64 / (1u64 << 53) as f64).powi(2)
                })
                .collect()
        };
        let setup = TestSetup::new(0.05);
        for (n, nu) in [(150, 0.5), (1000, 0.9), (5000, 0.1)] {
            let (c, t) = (values(1, n, 0.0), values(2, n + 37, 1.5));
            let (qc, qt) = (
                QuantileStatistic::from_values(&c, nu).unwrap(),
                QuantileStatistic::from_values(&t, nu).unwrap(),
            );
            let direct = quantile_test(&qc, &qt, 0.05).expect("testable");
            let via = summary_test(
                &summary_stats(arm_estimate(&c, nu)),
                &summary_stats(arm_estimate(&t, nu)),
                &setup,
            );
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
            assert!(close(via.diff, direct.absolute.estimate), "{n}");
            assert!(
                close(via.p_value, direct.absolute.p_value),
                "{n}: {} vs {}",
                via.p_value,
                direct.absolute.p_value
            );
            assert!(
                close(via.diff_ci.0, direct.absolute.ci.0)
                    && close(via.diff_ci.1, direct.absolute.ci.1),
                "{n}"
            );
            assert!(close(via.rel, direct.relative.estimate), "{n}");
        }
        // Five values cannot bound a 90th percentile: untested, p = 1.
        let few = summary_stats(arm_estimate(&values(3, 5, 0.0), 0.9));
        assert_eq!(few.n, 0);
        let r = summary_test(&few, &few, &setup);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn n_star_grid() {
        assert_eq!(n_star_for(0), 100);
        assert_eq!(n_star_for(100), 100);
        assert_eq!(n_star_for(101), 100);
        assert_eq!(n_star_for(201), 200);
        assert_eq!(n_star_for(u64::MAX), 100 << 19);
    }

    #[test]
    fn sample_quantile_interpolates() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(sample_quantile(&v, 0.0), 1.0);
        assert_eq!(sample_quantile(&v, 1.0), 8.0);
        assert_eq!(sample_quantile(&v, 0.5), 3.0);
        assert_eq!(sample_quantile(&[5.0], 0.9), 5.0);
        assert!(sample_quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn bad_input_is_none() {
        assert!(QuantileStatistic::from_values(&[], 0.5).is_none());
        assert!(QuantileStatistic::from_values(&[1.0, f64::NAN], 0.5).is_none());
        assert!(QuantileStatistic::from_values(&[1.0, 2.0], 0.0).is_none());
        assert!(QuantileStatistic::from_values(&[1.0, 2.0], 1.0).is_none());
        assert!(QuantileClusteredStatistic::from_events(&[], 0.5).is_none());
    }

    #[test]
    fn single_value_and_single_cluster_are_undefined() {
        let one = QuantileStatistic::from_values(&[3.0], 0.5).unwrap();
        assert!(one.variance_init().is_nan());
        assert!(one.has_zero_variance());
        assert!(quantile_test(&one, &one, 0.05).is_none());
        let events: Vec<(u64, f64)> = (0..50).map(|i| (7, f64::from(i))).collect();
        let c = QuantileClusteredStatistic::from_events(&events, 0.5).unwrap();
        assert_eq!(c.n_clusters, 1);
        assert!(c.cluster_variance().is_nan() && c.variance_init().is_nan());
        assert!(quantile_clustered_test(&c, &c, 0.05).is_none());
    }

    #[test]
    fn zero_width_bounds_follow_gbstats() {
        // Constant data: the bounds coincide, so the variance is 0.
        let small = QuantileStatistic::from_values(&[2.0; 50], 0.5).unwrap();
        assert_eq!(small.variance_init(), 0.0);
        assert!(quantile_test(&small, &small, 0.05).is_none());
        // From 1000 values on gbstats tests with the 1e-5 floor.
        let big = QuantileStatistic::from_values(&vec![2.0; 1500], 0.5).unwrap();
        assert!(!big.has_zero_variance());
        assert_eq!(big.estimate().variance, 1e-5);
        let r = quantile_test(&big, &big, 0.05).unwrap();
        assert_eq!((r.absolute.estimate, r.absolute.p_value), (0.0, 1.0));
    }

    #[test]
    fn too_few_values_for_the_interval() {
        // n ≤ z²·ν/(1 − ν) ≈ 34.6 at ν = 0.9.
        let v: Vec<f64> = (0..30).map(f64::from).collect();
        let q = QuantileStatistic::from_values(&v, 0.9).unwrap();
        assert!(q.has_zero_variance());
    }

    #[test]
    fn zero_control_quantile_is_none() {
        let v: Vec<f64> = (0..200).map(|i| f64::from(i) - 100.0).collect();
        let c = QuantileStatistic::from_values(&v, 0.5).unwrap();
        assert!(c.quantile_hat.abs() < 1.0);
        let mut zero = c;
        zero.quantile_hat = 0.0;
        assert!(quantile_test(&zero, &c, 0.05).is_none());
    }

    #[test]
    fn clustered_sums() {
        let events = [(1, 1.0), (1, 5.0), (2, 2.0), (3, 3.0), (3, 4.0), (3, 6.0)];
        let c = QuantileClusteredStatistic::from_events(&events, 0.5).unwrap();
        assert_eq!(c.quantile.quantile_hat, 3.5);
        assert_eq!(c.n_clusters, 3);
        // S = (1, 1, 1), N = (2, 1, 3).
        assert_eq!((c.main_sum, c.main_sum_squares), (3.0, 3.0));
        assert_eq!((c.denominator_sum, c.denominator_sum_squares), (6.0, 14.0));
        assert_eq!(c.main_denominator_sum_product, 6.0);
        assert!(c.cluster_variance() >= 0.0);
    }
}

//! The delta-method test of a ratio metric: the ratio of two per-unit sums
//! (sessions' conversions over sessions, revenue over orders), compared
//! between arms with its delta-method variance over units and a t
//! distribution with Welch–Satterthwaite degrees of freedom.

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{ArmStats, TestResult, TestSetup, relative_lift};

/// The ratio ΣM/ΣD of one arm and its delta-method variance
/// (σ²_M/μ_D² − 2·cov·μ_M/μ_D³ + σ²_D·μ_M²/μ_D⁴)/n, with the numerator per
/// unit in `sum`, the denominator in `x_sum` and their product in `xy_sum`.
pub fn ratio_moments(a: &ArmStats) -> (f64, f64) {
    let n = a.n as f64;
    let (mm, md) = (a.sum / n, a.x_sum / n);
    let vm = (a.sum_sq - n * mm * mm) / (n - 1.0);
    let vd = (a.x_sum_sq - n * md * md) / (n - 1.0);
    let c = (a.xy_sum - n * mm * md) / (n - 1.0);
    let r = mm / md;
    let var = (vm / (md * md) - 2.0 * c * mm / md.powi(3) + vd * mm * mm / md.powi(4)) / n;
    (r, var)
}

/// The delta-method t-test of the difference of two arms' ratios; undefined
/// when an arm has fewer than two units, no denominator, or no variance.
pub fn ratio_test(control: &ArmStats, treatment: &ArmStats, setup: &TestSetup) -> TestResult {
    if control.n < 2 || treatment.n < 2 || control.x_sum == 0.0 || treatment.x_sum == 0.0 {
        return TestResult::undefined();
    }
    let (rc, vc) = ratio_moments(control);
    let (rt, vt) = ratio_moments(treatment);
    let (nc, nt) = (control.n as f64, treatment.n as f64);
    let se = (vc + vt).sqrt();
    let diff = rt - rc;
    let (rel, rel_ci) = relative_lift(rc, rt, vc, vt, setup.z_crit);
    if se.is_nan() || se <= 0.0 {
        return TestResult::undefined();
    }
    let t = diff / se;
    let df = (vc + vt).powi(2) / (vc * vc / (nc - 1.0) + vt * vt / (nt - 1.0));
    let (p, q) = match StudentsT::new(0.0, 1.0, df) {
        Ok(d) => (
            (2.0 * d.sf(t.abs())).min(1.0),
            d.inverse_cdf(1.0 - setup.alpha / 2.0),
        ),
        Err(_) => (1.0, f64::NAN),
    };
    TestResult {
        statistic: t,
        df,
        p_value: p,
        diff,
        diff_ci: (diff - q * se, diff + q * se),
        rel,
        rel_ci,
    }
}

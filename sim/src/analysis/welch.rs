//! Welch's unequal-variance t-test with Welch–Satterthwaite degrees of freedom.

use super::{ArmStats, TestResult, TestSetup, relative_lift, student};

/// Welch's t-test of treatment against control, with a Student-t interval for the
/// difference and a delta-method interval for the relative lift; undefined
/// (p-value 1, NaN estimates) when an arm has fewer than two units.
pub fn welch_t(control: &ArmStats, treatment: &ArmStats, setup: &TestSetup) -> TestResult {
    if !super::testable(super::TestKind::Welch, control, treatment) {
        return TestResult::undefined();
    }
    let (nc, nt) = (control.n as f64, treatment.n as f64);
    let (mc, mt) = (control.mean(), treatment.mean());
    let (vc, vt) = (control.variance() / nc, treatment.variance() / nt);
    let se = (vc + vt).sqrt();
    let diff = mt - mc;
    let (rel, rel_ci) = relative_lift(mc, mt, vc, vt, setup.z_crit);
    if se == 0.0 {
        // Constant data in both arms: the difference is exact.
        let p = if diff == 0.0 { 1.0 } else { 0.0 };
        let t = if diff == 0.0 {
            0.0
        } else {
            diff.signum() * f64::INFINITY
        };
        return TestResult {
            statistic: t,
            df: nc + nt - 2.0,
            p_value: p,
            diff,
            diff_ci: (diff, diff),
            rel,
            rel_ci,
        };
    }
    let t = diff / se;
    let df = (vc + vt).powi(2) / (vc * vc / (nc - 1.0) + vt * vt / (nt - 1.0));
    // statrs alone drifts at the df of large arms (see `student`).
    let dist = student::t_dist(df, setup.alpha, setup.z_crit);
    let p = student::two_sided_p(dist.as_ref().map(|d| &d.0), t);
    let q = dist.map_or(f64::NAN, |d| d.1);
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

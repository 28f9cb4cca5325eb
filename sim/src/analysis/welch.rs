//! Welch's unequal-variance t-test with Welch–Satterthwaite degrees of freedom.

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{ArmStats, TestResult, TestSetup, relative_lift};

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
    let (p, q) = match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => {
            // sf(|t|) directly: 1 − cdf would lose tiny p-values.
            let p = (2.0 * dist.sf(t.abs())).min(1.0);
            (p, dist.inverse_cdf(1.0 - setup.alpha / 2.0))
        }
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

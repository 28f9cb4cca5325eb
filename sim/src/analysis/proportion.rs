//! The pooled two-proportion z-test, with a Wald interval for the difference
//! (unpooled standard error) and a delta-method interval for the relative lift.

use super::{ArmStats, TestResult, TestSetup, relative_lift};
use crate::stats::normal_two_sided_p;

/// The pooled z statistic alone: what a look needs to decide, without the
/// p-value and intervals. All-zero or all-one data carries no evidence of a
/// difference, so its statistic is 0; so is an empty arm's.
pub fn pooled_z(control: &ArmStats, treatment: &ArmStats) -> f64 {
    if control.n == 0 || treatment.n == 0 {
        return 0.0;
    }
    let (nc, nt) = (control.n as f64, treatment.n as f64);
    let pbar = (control.sum + treatment.sum) / (nc + nt);
    let se0 = (pbar * (1.0 - pbar) * (1.0 / nc + 1.0 / nt)).sqrt();
    if se0 > 0.0 {
        (treatment.sum / nt - control.sum / nc) / se0
    } else {
        0.0
    }
}

/// The pooled two-proportion z-test of treatment against control; undefined
/// (p-value 1, NaN estimates) when an arm is empty. `sum` of each arm is its
/// count of successes.
pub fn two_proportion_z(control: &ArmStats, treatment: &ArmStats, setup: &TestSetup) -> TestResult {
    if !super::testable(super::TestKind::Z, control, treatment) {
        return TestResult::undefined();
    }
    let (nc, nt) = (control.n as f64, treatment.n as f64);
    let (pc, pt) = (control.sum / nc, treatment.sum / nt);
    let diff = pt - pc;
    // `pooled_z` with its shares and difference reused (both arms are
    // non-empty here): the same operations, so the same bits, without
    // dividing twice.
    let pbar = (control.sum + treatment.sum) / (nc + nt);
    let se0 = (pbar * (1.0 - pbar) * (1.0 / nc + 1.0 / nt)).sqrt();
    let z = if se0 > 0.0 { diff / se0 } else { 0.0 };
    let p = if z == 0.0 { 1.0 } else { normal_two_sided_p(z) };
    let (var_c, var_t) = (pc * (1.0 - pc) / nc, pt * (1.0 - pt) / nt);
    let se1 = (var_c + var_t).sqrt();
    let zc = setup.z_crit;
    let (rel, rel_ci) = relative_lift(pc, pt, var_c, var_t, zc);
    TestResult {
        statistic: z,
        df: f64::NAN,
        p_value: p,
        diff,
        diff_ci: (diff - zc * se1, diff + zc * se1),
        rel,
        rel_ci,
    }
}

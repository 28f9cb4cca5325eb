//! What theory says a design search should find: the power of a method where
//! a closed form (or a numerical integral) gives it, and the smallest value
//! of the varied key at which that power reaches the target.
//!
//! - The fixed-horizon test (no CUPED, no multiple-testing correction): the
//!   normal approximation at the expected arm sizes,
//!   Φ((|Δ| − z·σ₀)/σ₁) + Φ((−|Δ| − z·σ₀)/σ₁) (`Experiment::theoretical_rejection_rate`).
//! - Group-sequential designs (no CUPED): the boundaries' two-sided exit
//!   probability under the drift |Δ|/σ₁ at the last look, with the critical
//!   values (on the σ₀ scale the test uses) rescaled by σ₀/σ₁, by the same
//!   recursive numerical integration that computes the boundaries (Jennison &
//!   Turnbull ch. 19). At one look it is the fixed test's formula.

use crate::analysis::group_sequential::{boundaries, rejection_probability};
use crate::experiment::Experiment;
use crate::method::{Method, MethodKind};

/// The closed-form power of `method` on the primary comparison of `exp`, if
/// theory gives one for it.
pub fn power(exp: &Experiment, method: &Method) -> Option<f64> {
    if method.cuped {
        return None;
    }
    let c = exp.comparisons()[exp.comparison_index(exp.analysis.primary_metric, 1)];
    match method.kind {
        MethodKind::Fixed {
            correction: crate::analysis::multiple::Correction::None,
        } => Some(exp.theoretical_rejection_rate(c)),
        MethodKind::GroupSequential { boundary } => {
            let b = boundaries(boundary, exp.analysis.alpha, &exp.planned_fractions()).ok()?;
            let (d, sigma0, sigma1) = exp.test_scales(c);
            if !(sigma1 > 0.0 && sigma0 > 0.0) {
                return None;
            }
            let critical: Vec<f64> = b.critical.iter().map(|c| c * sigma0 / sigma1).collect();
            let (p, _) = rejection_probability(&critical, &b.fractions, d.abs() / sigma1);
            p.is_finite().then_some(p)
        }
        _ => None,
    }
}

/// The smallest x in `[min, max]` (an integer when `integer`) at which
/// `power_at(x)` reaches `target`, for a power increasing in x; None when it
/// is not reached (or has no answer) at `max`, or when it is already reached
/// at `min` (the answer is then not a crossing). Below the answer, a value
/// with no power (e.g. too few users to form a valid scenario) counts as
/// below the target.
pub fn answer(
    min: f64,
    max: f64,
    integer: bool,
    target: f64,
    mut power_at: impl FnMut(f64) -> Option<f64>,
) -> Option<f64> {
    let (mut lo, mut hi) = if integer {
        (min.ceil(), max.floor())
    } else {
        (min, max)
    };
    if power_at(hi)? < target || power_at(lo).is_some_and(|p| p >= target) {
        return None;
    }
    // lo is below the target, hi at or above it.
    for _ in 0..200 {
        if integer && hi - lo <= 1.0 {
            return Some(hi);
        }
        if !integer && hi - lo <= 1e-12 * hi.abs().max(1e-300) {
            return Some(hi);
        }
        let mid = if integer {
            ((lo + hi) / 2.0).floor()
        } else if lo > 0.0 && hi / lo > 4.0 {
            (lo * hi).sqrt()
        } else {
            (lo + hi) / 2.0
        };
        if power_at(mid).is_some_and(|p| p >= target) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::normal_quantile;

    #[test]
    fn the_answer_is_the_smallest_integer_reaching_the_target() {
        // Power Φ(√x/100 − 1.96): reaches 0.8 at x = (100 (1.96 + 0.8416))².
        let p = |x: f64| crate::stats::normal_cdf(x.sqrt() / 100.0 - 1.959_963_984_540_054);
        let x = answer(1.0, 1e9, true, 0.8, |x| Some(p(x))).unwrap();
        let exact = (100.0 * (1.959_963_984_540_054 + normal_quantile(0.8))).powi(2);
        assert_eq!(x, exact.ceil());
        assert!(p(x) >= 0.8 && p(x - 1.0) < 0.8);
        assert_eq!(answer(1.0, 100.0, true, 0.8, |x| Some(p(x))), None);
        assert_eq!(answer(1e6, 1e9, true, 0.8, |x| Some(p(x))), None);
        // Values too small to have a power count as below the target.
        let q = |x: f64| (x >= 50.0).then(|| p(x));
        assert_eq!(answer(1.0, 1e9, true, 0.8, q), Some(exact.ceil()));
        let y = answer(0.0, 10.0, false, 0.8, |x| Some(p(x * 1e4))).unwrap();
        assert!((y * 1e4 - exact).abs() < 1e-6 * exact, "{y}");
    }
}

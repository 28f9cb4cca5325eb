//! Multiple-testing corrections for a family of hypotheses (several metrics or
//! several treatment arms): Bonferroni, Holm's step-down procedure and the
//! Benjamini–Hochberg step-up procedure.
//!
//! References: S. Holm, "A simple sequentially rejective multiple test
//! procedure", Scandinavian Journal of Statistics 6(2), 65–70, 1979;
//! Y. Benjamini and Y. Hochberg, "Controlling the false discovery rate: a
//! practical and powerful approach to multiple testing", Journal of the Royal
//! Statistical Society B 57(1), 289–300, 1995.
//!
//! Bonferroni and Holm control the family-wise error rate under any dependence;
//! BH controls the false discovery rate under independence (and positive
//! regression dependence, Benjamini & Yekutieli 2001).

use serde::{Deserialize, Serialize};

/// A multiple-testing correction applied across a method's comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Each hypothesis at level α on its own.
    None,
    /// p_i ≤ α/m.
    Bonferroni,
    /// Step-down: p_(i) ≤ α/(m − i + 1) until the first failure.
    Holm,
    /// Step-up: the k smallest, for the largest k with p_(k) ≤ k·α/m.
    BenjaminiHochberg,
}

impl Correction {
    /// The name a scenario and a result use.
    pub fn name(self) -> &'static str {
        match self {
            Correction::None => "none",
            Correction::Bonferroni => "bonferroni",
            Correction::Holm => "holm",
            Correction::BenjaminiHochberg => "benjamini_hochberg",
        }
    }

    /// The correction a scenario names (`bh` is short for
    /// `benjamini_hochberg`).
    pub fn from_name(name: &str) -> Option<Correction> {
        match name {
            "none" => Some(Correction::None),
            "bonferroni" => Some(Correction::Bonferroni),
            "holm" => Some(Correction::Holm),
            "benjamini_hochberg" | "bh" => Some(Correction::BenjaminiHochberg),
            _ => None,
        }
    }
}

/// Which of the hypotheses with these p-values are rejected at family level
/// `alpha`. Writes into `reject` (same length as `p_values`); `scratch` is a
/// caller-owned buffer of indices reused across calls so the function does
/// not allocate (it may resize it).
///
/// NaN p-values are treated as 1. Ties need no special care: with thresholds
/// nondecreasing in rank, tied p-values pass or fail together in both the
/// step-down and the step-up procedure. m is always `p_values.len()`; if
/// `reject` is shorter, only its entries are written, and if longer, the extra
/// entries are set to false. A NaN `alpha` rejects nothing.
pub fn reject(
    correction: Correction,
    p_values: &[f64],
    alpha: f64,
    reject: &mut [bool],
    scratch: &mut Vec<usize>,
) {
    reject.fill(false);
    let m = p_values.len();
    if m == 0 {
        return;
    }
    let mf = m as f64;
    match correction {
        Correction::None => mark_at_most(p_values, alpha, reject),
        Correction::Bonferroni => mark_at_most(p_values, alpha / mf, reject),
        Correction::Holm => {
            sort_indices(p_values, scratch);
            // 0-based rank i has threshold α/(m − i); a NaN alpha fails at once.
            let passing = scratch
                .iter()
                .enumerate()
                .take_while(|&(i, &idx)| p_of(p_values, idx) <= alpha / (mf - i as f64));
            for (_, &idx) in passing {
                if let Some(r) = reject.get_mut(idx) {
                    *r = true;
                }
            }
        }
        Correction::BenjaminiHochberg => {
            sort_indices(p_values, scratch);
            let k = scratch
                .iter()
                .enumerate()
                .rev()
                .find(|&(i, &idx)| p_of(p_values, idx) <= bh_threshold(alpha, i + 1, m))
                .map_or(0, |(i, _)| i + 1);
            for &idx in &scratch[..k] {
                if let Some(r) = reject.get_mut(idx) {
                    *r = true;
                }
            }
        }
    }
}

/// k·α/m, with the last rank pinned to α itself: (m·α)/m can round to just
/// below α, and then a p-value of exactly α that Holm rejects at its last step
/// would escape BH, breaking the nesting Holm ⊆ BH.
#[inline]
fn bh_threshold(alpha: f64, k: usize, m: usize) -> f64 {
    if k == m {
        alpha
    } else {
        k as f64 * alpha / m as f64
    }
}

/// NaN counts as no evidence, and must also sort last rather than wherever
/// total_cmp would put a negative NaN.
#[inline]
fn nan_as_one(p: f64) -> f64 {
    if p.is_nan() { 1.0 } else { p }
}

#[inline]
fn p_of(p_values: &[f64], i: usize) -> f64 {
    nan_as_one(p_values[i])
}

fn mark_at_most(p_values: &[f64], threshold: f64, reject: &mut [bool]) {
    for (r, &p) in reject.iter_mut().zip(p_values) {
        *r = nan_as_one(p) <= threshold;
    }
}

/// Fills `scratch` with 0..m ordered by p-value. The unstable sort is in place
/// (a stable sort may allocate a buffer). Breaking ties by index only pins the
/// order down; the result cannot depend on it, as tied p-values share a fate.
fn sort_indices(p_values: &[f64], scratch: &mut Vec<usize>) {
    scratch.clear();
    scratch.extend(0..p_values.len());
    scratch.sort_unstable_by(|&a, &b| {
        p_of(p_values, a)
            .total_cmp(&p_of(p_values, b))
            .then(a.cmp(&b))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::normal_cdf;
    use rand::RngExt;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;
    use rand_distr::StandardNormal;

    fn run(c: Correction, p: &[f64], alpha: f64) -> Vec<bool> {
        let mut out = vec![true; p.len()];
        let mut scratch = Vec::new();
        reject(c, p, alpha, &mut out, &mut scratch);
        out
    }

    fn rejected_indices(c: Correction, p: &[f64], alpha: f64) -> Vec<usize> {
        run(c, p, alpha)
            .iter()
            .enumerate()
            .filter_map(|(i, &r)| r.then_some(i))
            .collect()
    }

    #[test]
    fn serde_names() {
        let json = serde_json::to_string(&Correction::BenjaminiHochberg).unwrap();
        assert_eq!(json, "\"benjamini_hochberg\"");
        let c: Correction = serde_json::from_str("\"holm\"").unwrap();
        assert_eq!(c, Correction::Holm);
        assert!(serde_json::from_str::<Correction>("\"Holm\"").is_err());
    }

    #[test]
    fn uncorrected_and_bonferroni() {
        let p = [0.01, 0.02, 0.04, 0.2];
        assert_eq!(run(Correction::None, &p, 0.05), [true, true, true, false]);
        // α/m = 0.0125.
        assert_eq!(
            run(Correction::Bonferroni, &p, 0.05),
            [true, false, false, false]
        );
        // The boundary counts as a rejection (p ≤ α/m).
        let p = [0.05 / 4.0, 0.0126, 0.5, 0.9];
        assert_eq!(
            run(Correction::Bonferroni, &p, 0.05),
            [true, false, false, false]
        );
        // Ties pass or fail together.
        let p = [0.01, 0.3, 0.01, 0.01];
        assert_eq!(
            run(Correction::Bonferroni, &p, 0.05),
            [true, false, true, true]
        );
    }

    #[test]
    fn holm_steps_down_and_stops_at_first_failure() {
        // Sorted 0.01 ≤ 0.0125, 0.015 ≤ 0.0167, 0.03 > 0.025: two rejections
        // where Bonferroni makes one.
        let p = [0.03, 0.015, 0.5, 0.01];
        assert_eq!(rejected_indices(Correction::Holm, &p, 0.05), [1, 3]);
        assert_eq!(rejected_indices(Correction::Bonferroni, &p, 0.05), [3]);
        // 0.02 > α/3 stops the procedure, although 0.024 ≤ α/2 and
        // 0.049 ≤ α/1 would pass their own thresholds.
        let p = [0.049, 0.001, 0.024, 0.02];
        assert_eq!(rejected_indices(Correction::Holm, &p, 0.05), [1]);
        // Ties: all fail together at α/3 = 0.0167 ...
        assert!(rejected_indices(Correction::Holm, &[0.02, 0.02, 0.02], 0.05).is_empty());
        // ... or all pass together.
        assert_eq!(
            rejected_indices(Correction::Holm, &[0.015, 0.5, 0.015], 0.05),
            [0, 2]
        );
        // Everything small enough: all rejected, the last at α.
        assert_eq!(
            rejected_indices(Correction::Holm, &[0.04, 0.001, 0.02], 0.05),
            [0, 1, 2]
        );
    }

    #[test]
    fn benjamini_hochberg_steps_up() {
        // p_(2) = 0.03 > 2α/4, but p_(4) = 0.04 ≤ α: step-up rejects all four.
        let p = [0.035, 0.001, 0.04, 0.03];
        assert_eq!(
            rejected_indices(Correction::BenjaminiHochberg, &p, 0.05),
            [0, 1, 2, 3]
        );
        assert_eq!(rejected_indices(Correction::Holm, &p, 0.05), [1]);
        // Only k = 1 qualifies.
        let p = [0.2, 0.045, 0.04, 0.01];
        assert_eq!(
            rejected_indices(Correction::BenjaminiHochberg, &p, 0.05),
            [3]
        );
        // Ties pass together ...
        assert_eq!(
            rejected_indices(Correction::BenjaminiHochberg, &[0.03; 4], 0.05),
            [0, 1, 2, 3]
        );
        // ... and fail together.
        assert!(
            rejected_indices(Correction::BenjaminiHochberg, &[0.04, 0.9, 0.04], 0.05).is_empty()
        );
    }

    #[test]
    fn benjamini_hochberg_1995_example() {
        // The 15 p-values of Benjamini & Hochberg (1995, section 4), shuffled
        // to exercise the index bookkeeping. At q = 0.05 BH rejects the four
        // smallest; Bonferroni (0.05/15 = 0.0033) and Holm reject three.
        let sorted = [
            0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
            0.5719, 0.6528, 0.7590, 1.000,
        ];
        let order = [7, 14, 3, 0, 11, 9, 1, 13, 5, 2, 10, 6, 12, 4, 8];
        let p: Vec<f64> = order.iter().map(|&i| sorted[i]).collect();
        let smallest = |k: usize| -> Vec<usize> { (0..15).filter(|&j| order[j] < k).collect() };
        assert_eq!(
            rejected_indices(Correction::BenjaminiHochberg, &p, 0.05),
            smallest(4)
        );
        assert_eq!(rejected_indices(Correction::Holm, &p, 0.05), smallest(3));
        assert_eq!(
            rejected_indices(Correction::Bonferroni, &p, 0.05),
            smallest(3)
        );
        assert_eq!(rejected_indices(Correction::None, &p, 0.05), smallest(9));
    }

    #[test]
    fn nan_and_degenerate_inputs() {
        let all = [
            Correction::None,
            Correction::Bonferroni,
            Correction::Holm,
            Correction::BenjaminiHochberg,
        ];
        for c in all {
            // NaN is a p-value of 1: not rejected below α = 1, but counted in m.
            assert_eq!(run(c, &[f64::NAN, 0.001], 0.05), [false, true], "{c:?}");
            for alpha in [0.05, 0.5, 1.0] {
                let p = [0.3, f64::NAN, 0.001, 0.9];
                let one = [0.3, 1.0, 0.001, 0.9];
                assert_eq!(run(c, &p, alpha), run(c, &one, alpha), "{c:?} {alpha}");
            }
            assert_eq!(run(c, &[0.001, 0.001], f64::NAN), [false, false], "{c:?}");
            assert_eq!(run(c, &[0.001, 0.001], 0.0), [false, false], "{c:?}");
            assert_eq!(run(c, &[], 0.05), Vec::<bool>::new());
            // Mismatched lengths: no panic, m still counts every p-value.
            // (Bonferroni at m = 2 does not reject 0.03; at m = 1 it would.)
            let mut short = [true; 1];
            let mut scratch = Vec::new();
            reject(c, &[0.03, 0.001], 0.05, &mut short, &mut scratch);
            assert_eq!(short, [c != Correction::Bonferroni], "{c:?}");
            let mut long = [true; 4];
            reject(c, &[0.03, 0.001], 0.05, &mut long, &mut scratch);
            assert_eq!(long, [c != Correction::Bonferroni, true, false, false]);
        }
    }

    #[test]
    fn scratch_is_reused_without_growing() {
        let mut scratch = Vec::new();
        let mut out = [false; 16];
        let p: Vec<f64> = (0..16).map(|i| (f64::from(i) + 0.5) / 400.0).collect();
        reject(Correction::Holm, &p, 0.05, &mut out, &mut scratch);
        let (ptr, cap) = (scratch.as_ptr(), scratch.capacity());
        for _ in 0..3 {
            reject(Correction::Holm, &p, 0.05, &mut out, &mut scratch);
            reject(
                Correction::BenjaminiHochberg,
                &p[..9],
                0.05,
                &mut out[..9],
                &mut scratch,
            );
            assert_eq!((scratch.as_ptr(), scratch.capacity()), (ptr, cap));
        }
    }

    #[test]
    fn procedures_are_nested_on_random_inputs() {
        let mut rng = ChaCha8Rng::seed_from_u64(1979);
        let mut scratch = Vec::new();
        let (mut bonf, mut holm, mut bh) = ([false; 20], [false; 20], [false; 20]);
        let mut p = [0.0; 20];
        let (mut extra_holm, mut extra_bh) = (0, 0);
        for rep in 0..20_000 {
            let m = 1 + rep % 20;
            for x in &mut p[..m] {
                // Mostly small p-values so the procedures disagree often;
                // every fourth family rounded to produce ties.
                let u: f64 = rng.random();
                *x = u.powi(3) * 0.2;
                if rep % 4 == 0 {
                    *x = (*x * 200.0).round() / 200.0;
                }
            }
            let p = &p[..m];
            reject(
                Correction::Bonferroni,
                p,
                0.05,
                &mut bonf[..m],
                &mut scratch,
            );
            reject(Correction::Holm, p, 0.05, &mut holm[..m], &mut scratch);
            reject(
                Correction::BenjaminiHochberg,
                p,
                0.05,
                &mut bh[..m],
                &mut scratch,
            );
            for i in 0..m {
                assert!(!bonf[i] || holm[i], "Holm ⊉ Bonferroni: {p:?}");
                assert!(!holm[i] || bh[i], "BH ⊉ Holm: {p:?}");
                extra_holm += usize::from(holm[i] && !bonf[i]);
                extra_bh += usize::from(bh[i] && !holm[i]);
            }
        }
        // The inclusions are strict often enough for the test to mean something.
        assert!(
            extra_holm > 100 && extra_bh > 100,
            "{extra_holm} {extra_bh}"
        );
    }

    #[test]
    fn monte_carlo_error_rates() {
        // 6 true nulls with uniform p-values, 4 alternatives with one-sided z
        // p-values under a shift of 3.
        const NULLS: usize = 6;
        const M: usize = 10;
        let alpha = 0.05;
        let reps = 20_000;
        let mut rng = ChaCha8Rng::seed_from_u64(1995);
        let mut scratch = Vec::new();
        let mut p = [0.0; M];
        let mut out = [false; M];
        let mut fwer = [0usize; 4];
        let mut fdp_sum = [0.0f64; 4];
        let mut fdp_sq = [0.0f64; 4];
        let mut power = [0usize; 4];
        let all = [
            Correction::None,
            Correction::Bonferroni,
            Correction::Holm,
            Correction::BenjaminiHochberg,
        ];
        for _ in 0..reps {
            for (i, x) in p.iter_mut().enumerate() {
                *x = if i < NULLS {
                    rng.random()
                } else {
                    let z: f64 = rng.sample(StandardNormal);
                    normal_cdf(-(3.0 + z))
                };
            }
            for (j, &c) in all.iter().enumerate() {
                reject(c, &p, alpha, &mut out, &mut scratch);
                let false_rej = out[..NULLS].iter().filter(|&&r| r).count();
                let total = out.iter().filter(|&&r| r).count();
                fwer[j] += usize::from(false_rej > 0);
                let fdp = false_rej as f64 / total.max(1) as f64;
                fdp_sum[j] += fdp;
                fdp_sq[j] += fdp * fdp;
                power[j] += total - false_rej;
            }
        }
        let n = f64::from(reps);
        let se_rate = (alpha * (1.0 - alpha) / n).sqrt();
        for (j, c) in all.iter().enumerate() {
            let fdr = fdp_sum[j] / n;
            let fdr_se = ((fdp_sq[j] / n - fdr * fdr).max(0.0) / n).sqrt();
            println!(
                "{c:?}: FWER {:.4}, FDR {fdr:.4} (SE {fdr_se:.4}), mean power {:.4}",
                fwer[j] as f64 / n,
                power[j] as f64 / (n * (M - NULLS) as f64)
            );
        }
        for j in [1, 2] {
            let rate = fwer[j] as f64 / n;
            assert!(rate <= alpha + 3.0 * se_rate, "{:?} FWER {rate}", all[j]);
        }
        let fdr = fdp_sum[3] / n;
        let fdr_se = ((fdp_sq[3] / n - fdr * fdr).max(0.0) / n).sqrt();
        assert!(fdr <= alpha + 3.0 * fdr_se, "BH FDR {fdr}");
        // Without correction the family-wise error is 1 − 0.95⁶ ≈ 0.26.
        assert!(fwer[0] as f64 / n > 0.2);
        // Power ordering follows the nesting.
        assert!(power[1] <= power[2] && power[2] <= power[3]);
    }
}

//! Index policies: UCB1 and Bernoulli KL-UCB, deterministic given the state.

use crate::bandit::theory::bernoulli_kl;

/// Width of the bracket within which the KL-UCB index is solved.
pub(super) const KL_UCB_TOLERANCE: f64 = 1e-9;

/// The UCB1 index of a pulled arm: `s/n + √(2 ln t / n)`.
#[cfg(test)]
pub(super) fn ucb1_index(n: f64, s: f64, two_ln_t: f64) -> f64 {
    let (root, mean) = ucb1_parts(n, s);
    mean + two_ln_t.sqrt() * root
}

/// The parts of an arm's UCB1 index that change only when it is pulled:
/// `√(1/n)` and `s/n`. The index is then `mean + √(2 ln t)·root`, one square
/// root per decision rather than one per arm (it rounds differently from
/// `√(2 ln t / n)`, within an ulp or two, never across a tie of equal arms).
#[inline]
pub(super) fn ucb1_parts(n: f64, s: f64) -> (f64, f64) {
    let inv = 1.0 / n;
    (inv.sqrt(), s * inv)
}

/// The first arm with the largest UCB1 index (the first unpulled arm, if
/// any), from the parts of [`ucb1_parts`].
#[inline]
pub(super) fn ucb1_select(n: &[f64], root: &[f64], mean: &[f64], two_ln_t: f64) -> usize {
    if let Some(k) = n.iter().position(|&nk| nk <= 0.0) {
        return k;
    }
    let width = two_ln_t.sqrt();
    let mut best = 0;
    let mut best_value = f64::NEG_INFINITY;
    for (k, (&rk, &mk)) in root.iter().zip(mean).enumerate() {
        let v = mk + width * rk;
        if v > best_value {
            best = k;
            best_value = v;
        }
    }
    best
}

/// The KL-UCB index: the largest q in [p, 1] with KL(p, q) <= bound, to within
/// `KL_UCB_TOLERANCE`, returned from above (KL(p, result) >= bound).
///
/// KL(p, ·) is convex and increasing on [p, 1), so Newton's method started to
/// the right of the root stays to its right and converges quadratically; a
/// bracket [lo, hi] around the root catches rounding mishaps by bisection, and
/// once Newton's steps become tiny a probe just below `hi` certifies it.
pub(super) fn kl_ucb_upper(p: f64, bound: f64) -> f64 {
    let p = p.max(0.0);
    if p >= 1.0 {
        return 1.0;
    }
    if bound.is_nan() || bound <= 0.0 {
        return p;
    }
    // Two upper bounds on the root: Pinsker (KL >= 2(q − p)²), tight for small
    // bounds, and KL >= p ln p + (1 − p) ln((1 − p)/(1 − q)), tight near 1.
    let p_ln_p = if p > 0.0 { p * p.ln() } else { 0.0 };
    // 1 − (1 − p)·e^z written as p − (1 − p)·(e^z − 1), which keeps its
    // precision when the root is close to p.
    let near_one = p - (1.0 - p) * ((p_ln_p - bound) / (1.0 - p)).exp_m1();
    let mut hi = (p + (0.5 * bound).sqrt()).min(near_one);
    if hi >= 1.0 {
        // The root is within rounding of 1.
        return 1.0;
    }
    let mut lo = p;
    let mut q = hi;
    for _ in 0..200 {
        let g = bernoulli_kl(p, q) - bound;
        if g >= 0.0 {
            hi = q;
        } else {
            lo = q;
        }
        if hi - lo <= KL_UCB_TOLERANCE {
            break;
        }
        let slope = (q - p) / (q * (1.0 - q));
        let newton = q - g / slope;
        q = if !(newton > lo && newton < hi) {
            0.5 * (lo + hi)
        } else if hi - newton < 0.25 * KL_UCB_TOLERANCE {
            (hi - 0.5 * KL_UCB_TOLERANCE).max(0.5 * (lo + hi))
        } else {
            newton
        };
    }
    hi
}

pub(super) fn kl_ucb_select(n: &[f64], s: &[f64], exploration: f64) -> usize {
    let mut best = 0;
    let mut best_value = f64::NEG_INFINITY;
    for (k, (&nk, &sk)) in n.iter().zip(s).enumerate() {
        if nk <= 0.0 {
            return k;
        }
        let v = kl_ucb_upper(sk / nk, exploration / nk);
        if v > best_value {
            best = k;
            best_value = v;
        }
    }
    best
}

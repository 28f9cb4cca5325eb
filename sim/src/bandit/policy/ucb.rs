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

/// Decisions whose exploration width `√(2 ln t)` comes from [`ucb1_width`]'s
/// table: 512 KiB, built once per process, read in order as `t` grows.
const WIDTH_TABLE: usize = 1 << 16;

/// UCB1's exploration width `√(2 ln t)` at `t` updates (`t` of 0 counts as
/// 1). Below [`WIDTH_TABLE`] it is looked up, which takes the logarithm and
/// the square root off every decision; the table holds the same expression,
/// so the choices are bit for bit those of computing it.
#[inline]
pub(super) fn ucb1_width(t: u64) -> f64 {
    static TABLE: std::sync::OnceLock<Box<[f64]>> = std::sync::OnceLock::new();
    let width = |t: u64| (2.0 * (t.max(1) as f64).ln()).sqrt();
    match usize::try_from(t) {
        Ok(i) if i < WIDTH_TABLE => {
            TABLE.get_or_init(|| (0..WIDTH_TABLE as u64).map(width).collect())[i]
        }
        _ => width(t),
    }
}

/// The first arm with the largest UCB1 index (the first unpulled arm, if
/// any), from the parts of [`ucb1_parts`] and the width of [`ucb1_width`].
#[inline]
pub(super) fn ucb1_select(n: &[f64], root: &[f64], mean: &[f64], width: f64) -> usize {
    if let Some(k) = n.iter().position(|&nk| nk <= 0.0) {
        return k;
    }
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

/// The first arm with the largest KL-UCB index (an unpulled arm first).
///
/// Most arms cannot win, and showing it is cheaper than solving for their
/// index: an index never exceeds Pinsker's bound `p + √(bound/2)` (the root
/// search starts at or below it), and an arm whose divergence at the best
/// index so far (less twice the tolerance) already reaches its bound has its
/// root below that. So the likeliest winner is solved first, and another
/// arm only when neither test rules it out; ties go to the
/// lower arm as in a plain scan, so the choice is the scan's.
pub(super) fn kl_ucb_select(n: &[f64], s: &[f64], exploration: f64) -> usize {
    if let Some(k) = n.iter().position(|&nk| nk <= 0.0) {
        return k;
    }
    let pinsker = |k: usize| {
        let (p, bound) = (s[k] / n[k], exploration / n[k]);
        (p, bound, p + (0.5 * bound).sqrt())
    };
    // The lead: the largest index by the divergence's quadratic
    // approximation, KL(p, q) ≈ (q − p)² / (2p(1 − p)); only a guess, so
    // that the best index is usually known before the others are tested.
    let mut lead = 0;
    let mut lead_guess = f64::NEG_INFINITY;
    for k in 0..n.len() {
        let (p, bound) = (s[k] / n[k], exploration / n[k]);
        let guess = p + (2.0 * p * (1.0 - p) * bound).sqrt();
        if guess > lead_guess {
            lead = k;
            lead_guess = guess;
        }
    }
    let (p, bound, _) = pinsker(lead);
    let (mut best, mut best_value) = (lead, kl_ucb_upper(p, bound));
    for k in (0..n.len()).filter(|&k| k != lead) {
        let (p, bound, u) = pinsker(k);
        // NaN bounds (never from counts > 0) are solved, not skipped.
        if u < best_value {
            continue;
        }
        // KL(p, ·) increases beyond p, so KL(p, cut) ≥ bound puts the root at
        // or below `cut`, and the index, within the tolerance above its root,
        // below the best: one divergence instead of a root search.
        let cut = best_value - 2.0 * KL_UCB_TOLERANCE;
        if cut > p && bernoulli_kl(p, cut) >= bound {
            continue;
        }
        let v = kl_ucb_upper(p, bound);
        if v > best_value || (v == best_value && k < best) {
            best = k;
            best_value = v;
        }
    }
    best
}

//! Epsilon-greedy, fixed and decaying: a uniform arm with probability ε,
//! otherwise the best empirical mean with ties split at random.

use rand::Rng;

use crate::bandit::beta::{uniform, uniform_index};

/// The empirical mean, with unpulled arms at +∞ so that they are tried first.
#[inline]
pub(super) fn optimistic_mean(n: f64, s: f64) -> f64 {
    if n > 0.0 { s / n } else { f64::INFINITY }
}

/// Greedy step of epsilon-greedy: the best optimistic mean, ties broken
/// uniformly by reservoir sampling (the j-th tied arm replaces the current
/// choice with probability 1/j).
pub(super) fn greedy_random_ties<R: Rng + ?Sized>(n: &[f64], s: &[f64], rng: &mut R) -> usize {
    let mut best = 0;
    let mut best_value = f64::NEG_INFINITY;
    let mut ties = 0usize;
    for (k, (&nk, &sk)) in n.iter().zip(s).enumerate() {
        let v = optimistic_mean(nk, sk);
        if v > best_value {
            best = k;
            best_value = v;
            ties = 1;
        } else if v == best_value {
            ties += 1;
            if uniform_index(rng, ties) == 0 {
                best = k;
            }
        }
    }
    best
}

pub(super) fn epsilon_greedy<R: Rng + ?Sized>(
    n: &[f64],
    s: &[f64],
    epsilon: f64,
    rng: &mut R,
) -> usize {
    if uniform(rng) < epsilon {
        uniform_index(rng, n.len())
    } else {
        greedy_random_ties(n, s, rng)
    }
}

pub(super) fn epsilon_greedy_probabilities(n: &[f64], s: &[f64], epsilon: f64, out: &mut [f64]) {
    let best = n
        .iter()
        .zip(s)
        .map(|(&n, &s)| optimistic_mean(n, s))
        .fold(f64::NEG_INFINITY, f64::max);
    let is_best = |(&n, &s): (&f64, &f64)| optimistic_mean(n, s) == best;
    let ties = n.iter().zip(s).filter(|&p| is_best(p)).count().max(1) as f64;
    let k = n.len() as f64;
    for (p, pair) in out.iter_mut().zip(n.iter().zip(s)) {
        *p = epsilon / k
            + if is_best(pair) {
                (1.0 - epsilon) / ties
            } else {
                0.0
            };
    }
}

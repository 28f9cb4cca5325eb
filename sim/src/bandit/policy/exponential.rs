//! Exponential-weights policies: EXP3 (adversarial, importance-weighted) and
//! softmax (Boltzmann exploration on empirical means).

use rand::Rng;

use super::max_of;
use crate::bandit::beta::{uniform, uniform_index};

/// EXP3's update of one context's log-weights after `arm` earned `reward`.
pub(super) fn exp3_update(lw: &mut [f64], arm: usize, reward: f64, gamma: f64) {
    let k = lw.len() as f64;
    let max = max_of(lw);
    let total: f64 = lw.iter().map(|w| (w - max).exp()).sum();
    // The probability with which the current weights choose `arm`: the
    // importance weight assumes the arm was drawn from them.
    let p = (1.0 - gamma) * (lw[arm] - max).exp() / total + gamma / k;
    lw[arm] += gamma * (reward / p) / k;
    let new_max = max_of(lw);
    if new_max != 0.0 {
        for w in lw.iter_mut() {
            *w -= new_max;
        }
    }
}

pub(super) fn exp3_select<R: Rng + ?Sized>(log_weight: &[f64], gamma: f64, rng: &mut R) -> usize {
    let k = log_weight.len() as f64;
    let max = max_of(log_weight);
    let total: f64 = log_weight.iter().map(|w| (w - max).exp()).sum();
    let u = uniform(rng);
    let mut cumulative = 0.0;
    for (arm, w) in log_weight.iter().enumerate() {
        cumulative += (1.0 - gamma) * (w - max).exp() / total + gamma / k;
        if u < cumulative {
            return arm;
        }
    }
    // Rounding can leave the cumulative sum a hair below 1.
    log_weight.len() - 1
}

pub(super) fn unpulled(n: &[f64]) -> usize {
    n.iter().filter(|&&nk| nk <= 0.0).count()
}

pub(super) fn softmax_select<R: Rng + ?Sized>(
    n: &[f64],
    s: &[f64],
    temperature: f64,
    rng: &mut R,
) -> usize {
    let fresh = unpulled(n);
    if fresh > 0 {
        let pick = uniform_index(rng, fresh);
        return n
            .iter()
            .enumerate()
            .filter(|(_, nk)| **nk <= 0.0)
            .nth(pick)
            .map_or(0, |(k, _)| k);
    }
    // Shifting by the largest mean keeps every exponent <= 0.
    let max = n
        .iter()
        .zip(s)
        .map(|(&nk, &sk)| sk / nk)
        .fold(f64::NEG_INFINITY, f64::max);
    let weight = |nk: f64, sk: f64| ((sk / nk - max) / temperature).exp();
    let total: f64 = n.iter().zip(s).map(|(&nk, &sk)| weight(nk, sk)).sum();
    let target = uniform(rng) * total;
    let mut cumulative = 0.0;
    for (k, (&nk, &sk)) in n.iter().zip(s).enumerate() {
        cumulative += weight(nk, sk);
        if target < cumulative {
            return k;
        }
    }
    n.len() - 1
}

pub(super) fn softmax_probabilities(n: &[f64], s: &[f64], temperature: f64, out: &mut [f64]) {
    let fresh = unpulled(n);
    if fresh > 0 {
        for (p, &nk) in out.iter_mut().zip(n) {
            *p = if nk <= 0.0 { 1.0 / fresh as f64 } else { 0.0 };
        }
        return;
    }
    let max = n
        .iter()
        .zip(s)
        .map(|(&nk, &sk)| sk / nk)
        .fold(f64::NEG_INFINITY, f64::max);
    for (p, (&nk, &sk)) in out.iter_mut().zip(n.iter().zip(s)) {
        *p = ((sk / nk - max) / temperature).exp();
    }
    let total: f64 = out.iter().sum();
    for p in out.iter_mut() {
        *p /= total;
    }
}

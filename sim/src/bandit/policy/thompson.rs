//! The Thompson-sampling family: Beta-Bernoulli (plain, top-two, discounted,
//! sliding-window) and Gaussian (known or unknown noise variance).

use rand::Rng;

use super::argmax;
use crate::bandit::beta::{BetaShape, beta, gamma, standard_normal, uniform};

/// How many times top-two Thompson redraws the posterior looking for a
/// challenger that differs from the leader.
const TOP_TWO_RESAMPLES: usize = 100;

/// Successes of a Beta-Bernoulli arm, kept within [0, n] so that rounding in
/// the sliding window's subtractions can never push a Beta shape below its prior.
#[inline]
pub(super) fn successes(n: f64, s: f64) -> f64 {
    s.max(0.0).min(n.max(0.0))
}

/// The Beta posterior's shapes of an arm with `n` pulls and reward sum `s`.
#[inline]
pub(super) fn beta_shapes(n: f64, s: f64, prior_a: f64, prior_b: f64) -> (f64, f64) {
    let wins = successes(n, s);
    (prior_a + wins, prior_b + (n - wins).max(0.0))
}

#[inline]
pub(super) fn thompson_beta_select<R: Rng + ?Sized>(
    n: &[f64],
    s: &[f64],
    prior_a: f64,
    prior_b: f64,
    rng: &mut R,
) -> usize {
    let mut best = 0;
    let mut best_value = f64::NEG_INFINITY;
    for (k, (&nk, &sk)) in n.iter().zip(s).enumerate() {
        let (a, b) = beta_shapes(nk, sk, prior_a, prior_b);
        let x = beta(rng, a, b);
        if x > best_value {
            best = k;
            best_value = x;
        }
    }
    best
}

/// [`thompson_beta_select`] from posteriors prepared when their arms were
/// last pulled: the same draws from the same stream, without recomputing
/// every arm's Gamma constants at every decision.
#[inline]
pub(super) fn thompson_prepared_select<R: Rng + ?Sized>(
    posterior: &[BetaShape],
    rng: &mut R,
) -> usize {
    let mut best = 0;
    let mut best_value = f64::NEG_INFINITY;
    for (k, shape) in posterior.iter().enumerate() {
        let x = shape.sample(rng);
        if x > best_value {
            best = k;
            best_value = x;
        }
    }
    best
}

/// The arms with the largest and second-largest posterior draws.
pub(super) fn thompson_beta_top_two<R: Rng + ?Sized>(
    n: &[f64],
    s: &[f64],
    prior_a: f64,
    prior_b: f64,
    rng: &mut R,
) -> (usize, usize) {
    let (mut first, mut first_value) = (0, f64::NEG_INFINITY);
    let (mut second, mut second_value) = (0, f64::NEG_INFINITY);
    for (k, (&nk, &sk)) in n.iter().zip(s).enumerate() {
        let (a, b) = beta_shapes(nk, sk, prior_a, prior_b);
        let x = beta(rng, a, b);
        if x > first_value {
            (second, second_value) = (first, first_value);
            (first, first_value) = (k, x);
        } else if x > second_value {
            (second, second_value) = (k, x);
        }
    }
    if second == first {
        // Only reachable if draws were NaN; any other arm is a valid challenger.
        second = usize::from(first == 0);
    }
    (first, second)
}

/// Posterior (mean, precision) of an arm's mean with known noise variance.
#[inline]
pub(super) fn gaussian_known_posterior(
    n: f64,
    s: f64,
    prior_mean: f64,
    prior_var: f64,
    noise_var: f64,
) -> (f64, f64) {
    let precision = 1.0 / prior_var + n / noise_var;
    (
        (prior_mean / prior_var + s / noise_var) / precision,
        precision,
    )
}

pub(super) fn gaussian_known_select<R: Rng + ?Sized>(
    n: &[f64],
    s: &[f64],
    prior_mean: f64,
    prior_var: f64,
    noise_var: f64,
    rng: &mut R,
) -> usize {
    argmax(n.iter().zip(s).map(|(&nk, &sk)| {
        let (mean, precision) = gaussian_known_posterior(nk, sk, prior_mean, prior_var, noise_var);
        mean + standard_normal(rng) / precision.sqrt()
    }))
}

/// A draw of an arm's mean from its normal-inverse-gamma posterior, with
/// κ₀ = 1, α₀ = 1, β₀ = prior_var: σ² = β_n / G with G ~ Gamma(α_n), then
/// μ ~ N(μ_n, σ²/κ_n), which is a draw from the Student-t marginal of μ.
#[inline]
pub(super) fn gaussian_unknown_draw<R: Rng + ?Sized>(
    n: f64,
    s: f64,
    sq_dev: f64,
    prior_mean: f64,
    prior_var: f64,
    rng: &mut R,
) -> f64 {
    let kappa = 1.0 + n;
    let mu = (prior_mean + s) / kappa;
    let alpha = 1.0 + 0.5 * n;
    let shift = if n > 0.0 { s / n - prior_mean } else { 0.0 };
    let beta_n = prior_var + 0.5 * sq_dev + 0.5 * n * shift * shift / kappa;
    let g = gamma(rng, alpha);
    mu + standard_normal(rng) * (beta_n / (kappa * g)).sqrt()
}

pub(super) fn gaussian_unknown_select<R: Rng + ?Sized>(
    n: &[f64],
    s: &[f64],
    sq_dev: &[f64],
    prior_mean: f64,
    prior_var: f64,
    rng: &mut R,
) -> usize {
    argmax(
        n.iter()
            .zip(s)
            .zip(sq_dev)
            .map(|((&nk, &sk), &sq)| gaussian_unknown_draw(nk, sk, sq, prior_mean, prior_var, rng)),
    )
}

/// Top-two Thompson: the posterior-sample leader with probability `beta`,
/// else the first resample whose leader differs from it (the runner-up of the
/// last resample if none does).
pub(super) fn top_two_select<R: Rng + ?Sized>(
    n: &[f64],
    s: &[f64],
    leader_probability: f64,
    prior_a: f64,
    prior_b: f64,
    rng: &mut R,
) -> usize {
    let leader = thompson_beta_select(n, s, prior_a, prior_b, rng);
    if uniform(rng) < leader_probability {
        return leader;
    }
    let mut challenger = leader;
    for _ in 0..TOP_TWO_RESAMPLES {
        let (first, second) = thompson_beta_top_two(n, s, prior_a, prior_b, rng);
        if first != leader {
            return first;
        }
        challenger = second;
    }
    challenger
}

/// Discounted Thompson: every count and sum of the context decays by `gamma`.
pub(super) fn discount(count: &mut [f64], reward_sum: &mut [f64], gamma: f64) {
    for (n, s) in count.iter_mut().zip(reward_sum) {
        *n *= gamma;
        *s *= gamma;
        // Flushing what would become subnormal avoids the slow path of
        // subnormal arithmetic on arms that go unplayed for long.
        if *n < f64::MIN_POSITIVE {
            *n = 0.0;
            *s = 0.0;
        }
    }
}

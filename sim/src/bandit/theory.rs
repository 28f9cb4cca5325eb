//! Bandit theory: the Bernoulli KL divergence, and the Lai–Robbins lower
//! bound it gives on the regret of any consistent policy. KL-UCB's index and
//! the Lai–Robbins curve of results share the one divergence.

/// KL(Ber(p) ‖ Ber(q)), with 0 ln 0 = 0; +∞ when q is 0 or 1 and p is not.
///
/// Written with plain `ln` of ratios. A form through `ln_1p` keeps the low
/// bits of 1 − q for q near 0, but for means in [1e-4, 1] the two agree to
/// about 1e-15 relative, far inside KL-UCB's bracket of 1e-9, while the
/// `ln_1p` form moves the last digit of published Lai–Robbins curves; so
/// this one is kept, and KL-UCB and the bound share it. (KL-UCB used the
/// `ln_1p` form before issue 12: its index can differ in the last bits, which
/// can break an exact tie between arms differently; the shipped KL-UCB
/// scenarios' results are unchanged.)
pub fn bernoulli_kl(p: f64, q: f64) -> f64 {
    let term = |a: f64, b: f64| if a <= 0.0 { 0.0 } else { a * (a / b).ln() };
    term(p, q) + term(1.0 - p, 1.0 - q)
}

/// The Lai–Robbins coefficient Σ_{k suboptimal} Δ_k / KL(μ_k, μ*): regret
/// grows at least like this times ln t for any consistent policy.
pub fn lai_robbins_coefficient(means: &[f64]) -> f64 {
    let best = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    means
        .iter()
        .filter(|&&m| m < best)
        .map(|&m| (best - m) / bernoulli_kl(m, best))
        .sum()
}

//! The mixture sequential probability ratio test (mSPRT) for a difference in
//! means, with always-valid p-values and confidence intervals, so that an
//! experiment can be monitored at every look without inflating type I error.
//!
//! References: R. Johari, P. Koomen, L. Pekelis and D. Walsh, "Peeking at A/B
//! tests: why it matters, and what to do about it", KDD 2017; R. Johari,
//! L. Pekelis and D. Walsh, "Always valid inference: continuous monitoring of
//! A/B tests", Operations Research 70(3), 2022 (preprint arXiv:1512.04922).
//!
//! The estimate θ̂ of θ = μ_t − μ_c is taken as N(θ, V) with V known (the
//! caller plugs in s_t²/n_t + s_c²/n_c). Mixing θ over N(0, τ²) under H1 gives
//! the likelihood ratio against H0: θ = 0
//!
//!   Λ = sqrt(V / (V + τ²)) · exp(θ̂² τ² / (2 V (V + τ²))),
//!
//! a nonnegative martingale under H0 (exactly for Gaussian data with known
//! variance, approximately with V estimated), so by Ville's inequality
//! P(sup_k Λ_k ≥ 1/α) ≤ α. That is what makes p_k = min(p_{k−1}, 1/Λ_k) and the
//! running intersection of the per-look intervals valid at any stopping time.

/// An mSPRT with a normal mixing distribution N(0, `tau`²) on the difference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Msprt {
    /// Mixing standard deviation, in the metric's units (the caller converts a
    /// relative effect to absolute). Only τ² enters, so its sign is irrelevant.
    pub tau: f64,
    /// Level of the test and of the intervals (1 − coverage).
    pub alpha: f64,
}

impl Msprt {
    /// A test with mixing standard deviation `tau` (metric units) at level `alpha`.
    pub fn new(tau: f64, alpha: f64) -> Msprt {
        Msprt { tau, alpha }
    }

    /// ln Λ for the estimate `diff` with variance `var`. Working in logs means
    /// a decisive look gives a large finite number instead of overflowing.
    ///
    /// Degenerate inputs (`var <= 0`, any non-finite input) give −∞: Λ = 0, so
    /// 1/Λ = +∞ and the running p-value does not move. τ = 0 gives 0 (the
    /// mixture is H0 itself, Λ ≡ 1).
    pub fn log_likelihood_ratio(&self, diff: f64, var: f64) -> f64 {
        let tau2 = self.tau * self.tau;
        // Positive tests, so that NaN anywhere lands in the degenerate branch.
        let usable = var > 0.0 && var.is_finite() && diff.is_finite() && tau2.is_finite();
        if !usable {
            return f64::NEG_INFINITY;
        }
        // u = τ²/V is the prior-to-sampling variance ratio; writing the first
        // term as −½·ln(1 + u) keeps it accurate when u is tiny (early looks
        // with a narrow prior, or τ → 0).
        let u = tau2 / var;
        let shrink = tau2 / (var + tau2);
        let llr = -0.5 * u.ln_1p() + 0.5 * (diff * diff / var) * shrink;
        if llr.is_nan() {
            // Only when V is so small that both terms overflow: the quadratic
            // term then dominates unless the estimate is exactly 0.
            return if diff == 0.0 {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
        }
        llr
    }

    /// The always-valid interval at one look, {θ : Λ(θ̂ − θ) < 1/α}:
    /// θ̂ ± sqrt(2 V (V + τ²)/τ² · (ln(1/α) + ½ ln((V + τ²)/V))).
    ///
    /// (−∞, ∞) when undefined: degenerate `diff`/`var` as in
    /// [`Self::log_likelihood_ratio`], τ = 0 or non-finite (Λ is then constant,
    /// so no θ is excluded), or α outside (0, 1).
    pub fn interval(&self, diff: f64, var: f64) -> (f64, f64) {
        const WHOLE_LINE: (f64, f64) = (f64::NEG_INFINITY, f64::INFINITY);
        let tau2 = self.tau * self.tau;
        let usable = var > 0.0
            && var.is_finite()
            && diff.is_finite()
            && tau2 > 0.0
            && tau2.is_finite()
            && self.alpha > 0.0
            && self.alpha < 1.0;
        if !usable {
            return WHOLE_LINE;
        }
        let u = tau2 / var;
        // (V + τ²)/τ² = 1 + 1/u, so the radicand is 2V(1 + 1/u)(−ln α + ½ ln(1 + u));
        // both factors are positive for α < 1.
        let half2 = 2.0 * var * (1.0 + 1.0 / u) * (-self.alpha.ln() + 0.5 * u.ln_1p());
        let half = half2.sqrt();
        if !half.is_finite() {
            return WHOLE_LINE;
        }
        (diff - half, diff + half)
    }
}

/// Running state across the looks of one replication.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MsprtState {
    /// Always-valid p-value: the running minimum of 1/Λ, capped at 1.
    pub p_value: f64,
    /// Running intersection of the per-look intervals. It can become empty
    /// (lo > hi): every θ, the true one included, has then been excluded at
    /// some look, so under the model this happens with probability ≤ α.
    pub lo: f64,
    /// Upper end of the running interval (see `lo`).
    pub hi: f64,
}

impl Default for MsprtState {
    fn default() -> Self {
        MsprtState {
            p_value: 1.0,
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
        }
    }
}

impl MsprtState {
    /// Fold one look in; returns true when the test rejects at this look
    /// (p ≤ alpha). Because p never increases, once true it stays true for the
    /// rest of the replication: the caller decides whether to stop.
    pub fn update(&mut self, m: &Msprt, diff: f64, var: f64) -> bool {
        let llr = m.log_likelihood_ratio(diff, var);
        // exp(−ln Λ) underflows to 0 for overwhelming evidence, and is +∞ for
        // a degenerate look; min() keeps the running value either way.
        self.p_value = self.p_value.min((-llr).exp());
        let (lo, hi) = m.interval(diff, var);
        self.lo = self.lo.max(lo);
        self.hi = self.hi.min(hi);
        self.p_value <= m.alpha
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;
    use rand_distr::StandardNormal;

    #[test]
    fn closed_form_hand_case() {
        // V = 0.01, τ = 0.1 (τ² = 0.01), θ̂ = 0.3:
        // Λ = sqrt(1/2) · exp(0.09 · 0.01 / (2 · 0.01 · 0.02)) = sqrt(1/2) · e^2.25.
        let m = Msprt::new(0.1, 0.05);
        let llr = m.log_likelihood_ratio(0.3, 0.01);
        let expected = 0.5 * 0.5f64.ln() + 2.25;
        assert!((llr - expected).abs() < 1e-12, "{llr} vs {expected}");
        let lambda = llr.exp();
        assert!((lambda - 0.5f64.sqrt() * 2.25f64.exp()).abs() < 1e-12);

        // Interval: half² = 2 · 0.01 · 0.02 / 0.01 · (ln 20 + ½ ln 2).
        let (lo, hi) = m.interval(0.3, 0.01);
        let half = (0.04 * (20f64.ln() + 0.5 * 2f64.ln())).sqrt();
        assert!((lo - (0.3 - half)).abs() < 1e-12 && (hi - (0.3 + half)).abs() < 1e-12);
        // At the interval's ends Λ(θ̂ − θ) is exactly 1/α.
        let at_end = m.log_likelihood_ratio(0.3 - hi, 0.01);
        assert!((at_end - 20f64.ln()).abs() < 1e-10, "{at_end}");
    }

    #[test]
    fn neutral_at_zero_and_small_tau() {
        // At θ̂ = 0, Λ = sqrt(V/(V + τ²)) → 1 as τ → 0; exactly 1 at τ = 0.
        for &tau in &[1e-3, 1e-6, 1e-9] {
            let m = Msprt::new(tau, 0.05);
            let llr = m.log_likelihood_ratio(0.0, 0.04);
            assert!(llr <= 0.0 && llr > -tau * tau / 0.04, "τ = {tau}: {llr}");
            let (lo, hi) = m.interval(0.7, 0.04);
            assert!(lo < 0.7 && 0.7 < hi);
        }
        assert_eq!(Msprt::new(0.0, 0.05).log_likelihood_ratio(0.0, 0.04), 0.0);
        assert_eq!(Msprt::new(0.0, 0.05).log_likelihood_ratio(5.0, 0.04), 0.0);
        // And for ordinary τ the interval always contains the estimate.
        let m = Msprt::new(0.3, 0.05);
        for &(d, v) in &[(0.0, 1.0), (-2.0, 1e-6), (1e6, 3.0)] {
            let (lo, hi) = m.interval(d, v);
            assert!(lo < d && d < hi, "{d} {v}: ({lo}, {hi})");
        }
    }

    #[test]
    fn degenerate_inputs_are_neutral() {
        let m = Msprt::new(0.3, 0.05);
        let whole = (f64::NEG_INFINITY, f64::INFINITY);
        for &(d, v) in &[
            (0.1, 0.0),
            (0.1, -1.0),
            (f64::NAN, 1.0),
            (0.1, f64::NAN),
            (f64::INFINITY, 1.0),
            (0.1, f64::INFINITY),
        ] {
            assert_eq!(m.log_likelihood_ratio(d, v), f64::NEG_INFINITY);
            assert_eq!(m.interval(d, v), whole);
            let mut s = MsprtState::default();
            assert!(!s.update(&m, d, v));
            assert_eq!(s, MsprtState::default());
        }
        assert_eq!(Msprt::new(0.0, 0.05).interval(1.0, 1.0), whole);
        assert_eq!(Msprt::new(f64::NAN, 0.05).interval(1.0, 1.0), whole);
        assert_eq!(Msprt::new(0.3, 0.0).interval(1.0, 1.0), whole);
        assert_eq!(Msprt::new(0.3, 1.0).interval(1.0, 1.0), whole);
        assert_eq!(Msprt::new(0.3, f64::NAN).interval(1.0, 1.0), whole);
        let mut s = MsprtState::default();
        assert!(!s.update(&Msprt::new(0.3, f64::NAN), 10.0, 1e-4));
        // Variances so small that both terms overflow still give a verdict.
        assert_eq!(m.log_likelihood_ratio(1.0, 1e-320), f64::INFINITY);
        assert_eq!(m.log_likelihood_ratio(0.0, 1e-320), f64::NEG_INFINITY);
        let mut s = MsprtState::default();
        assert!(s.update(&m, 1.0, 1e-320));
        assert_eq!(s.p_value, 0.0);
    }

    #[test]
    fn p_value_is_monotone_and_dual_to_interval() {
        let m = Msprt::new(0.2, 0.05);
        let mut s = MsprtState::default();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut prev = s;
        let mut rejected = false;
        for k in 1..=400 {
            let var = 2.0 / (10.0 * f64::from(k));
            let z: f64 = rng.sample(StandardNormal);
            let diff = 0.05 + z * var.sqrt();
            let now = s.update(&m, diff, var);
            assert!(s.p_value <= prev.p_value && s.p_value >= 0.0);
            assert!(s.lo >= prev.lo && s.hi <= prev.hi);
            // p ≤ α exactly when 0 has left the running intersection (up to
            // the boundary convention ≥ vs <).
            assert_eq!(now, !(s.lo < 0.0 && 0.0 < s.hi), "look {k}: {s:?}");
            assert!(!rejected || now, "a rejection never reverts");
            rejected |= now;
            prev = s;
        }
        assert!(rejected);
    }

    /// Arm sufficient statistics for the Monte Carlo tests.
    #[derive(Default)]
    struct Arm {
        n: f64,
        sum: f64,
        sum_sq: f64,
    }

    impl Arm {
        fn push(&mut self, x: f64) {
            self.n += 1.0;
            self.sum += x;
            self.sum_sq += x * x;
        }
        fn mean(&self) -> f64 {
            self.sum / self.n
        }
        fn var_of_mean(&self) -> f64 {
            let s2 = (self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1.0);
            s2.max(0.0) / self.n
        }
    }

    struct Run {
        rejected: bool,
        covered: bool,
    }

    /// One replication: alternate N(0,1) observations between the arms (the
    /// treatment shifted by `theta`), look every 10, stop at the first
    /// rejection or after `looks` looks. Coverage of θ is judged at the stop.
    fn replicate(rng: &mut ChaCha8Rng, m: &Msprt, theta: f64, looks: usize) -> Run {
        let (mut c, mut t) = (Arm::default(), Arm::default());
        let mut s = MsprtState::default();
        let mut rejected = false;
        for _ in 0..looks {
            for _ in 0..5 {
                c.push(rng.sample(StandardNormal));
                t.push(theta + rng.sample::<f64, _>(StandardNormal));
            }
            let diff = t.mean() - c.mean();
            let var = t.var_of_mean() + c.var_of_mean();
            if s.update(m, diff, var) {
                rejected = true;
                break;
            }
        }
        Run {
            rejected,
            covered: s.lo < theta && theta < s.hi,
        }
    }

    #[test]
    fn monte_carlo_type_one_error_and_power() {
        let alpha = 0.05;
        let m = Msprt::new(0.3, alpha);
        let reps = 3000;
        let se = (alpha * (1.0 - alpha) / f64::from(reps)).sqrt();

        let mut rng = ChaCha8Rng::seed_from_u64(2017);
        let null = (0..reps)
            .filter(|_| replicate(&mut rng, &m, 0.0, 1000).rejected)
            .count() as f64
            / f64::from(reps);
        println!(
            "mSPRT null rejection over 1000 looks: {null:.4} (α + 3 SE = {:.4})",
            alpha + 3.0 * se
        );
        assert!(null <= alpha + 3.0 * se, "type I error {null}");

        let mut rng = ChaCha8Rng::seed_from_u64(2022);
        let power = (0..reps)
            .filter(|_| replicate(&mut rng, &m, 0.3, 1000).rejected)
            .count() as f64
            / f64::from(reps);
        println!("mSPRT rejection at θ = 0.3 sd: {power:.4}");
        assert!(power > 0.5, "power {power}");
    }

    #[test]
    fn monte_carlo_running_interval_coverage() {
        let alpha = 0.05;
        let m = Msprt::new(0.3, alpha);
        let reps = 3000;
        let se = (alpha * (1.0 - alpha) / f64::from(reps)).sqrt();
        // θ = 0.1 sd: small enough that many replications stop early on a
        // lucky, biased estimate, which is where naive intervals under-cover.
        let theta = 0.1;
        let mut rng = ChaCha8Rng::seed_from_u64(1512);
        let (mut covered, mut rejected) = (0usize, 0usize);
        for _ in 0..reps {
            let r = replicate(&mut rng, &m, theta, 1000);
            covered += usize::from(r.covered);
            rejected += usize::from(r.rejected);
        }
        let coverage = covered as f64 / f64::from(reps);
        println!(
            "mSPRT running-interval coverage at θ = {theta}: {coverage:.4} (stopped early in {:.4}; bound {:.4})",
            rejected as f64 / f64::from(reps),
            1.0 - alpha - 3.0 * se
        );
        assert!(coverage >= 1.0 - alpha - 3.0 * se, "coverage {coverage}");
    }
}

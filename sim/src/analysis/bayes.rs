//! Bayesian A/B decision: chance to beat control and expected loss, with a
//! GrowthBook-style stopping rule.
//!
//! References: C. Stucchio, "Bayesian A/B Testing at VWO", Visual Website
//! Optimizer whitepaper (2 September 2015), for expected loss as the decision
//! criterion; GrowthBook documentation, "Statistical Details"
//! (docs.growthbook.io/statistics/details), for the normal approximation of
//! the effect and the chance-to-win / risk rule relative to the control mean.
//!
//! Each arm's posterior for its mean is reduced to a normal by moment matching
//! (the exact Beta mean and variance for conversions; N(x̄, s²/n) under a flat
//! prior for continuous metrics), so the difference D = μ_t − μ_c is
//! N(m, s²) with m = m_t − m_c, s² = v_t + v_c, and with z = m/s:
//!
//!   P(D > 0) = Φ(z),
//!   E[max(−D, 0)] = s·φ(z) − m·Φ(−z)   (loss of shipping the treatment),
//!   E[max(D, 0)]  = s·φ(z) + m·Φ(z)    (loss of keeping the control),
//!
//! the last two being the normal partial expectations; their difference is m.

use crate::stats::normal_cdf;

/// A normal approximation N(`mean`, `var`) to the posterior of an arm's mean.
/// `var = +∞` (with `mean = 0`) is the flat prior with no data: no information.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Posterior {
    /// Posterior mean of the arm's mean.
    pub mean: f64,
    /// Posterior variance of the arm's mean (+∞ for no information).
    pub var: f64,
}

impl Posterior {
    /// What an arm with no usable data contributes: no information either way.
    pub const UNINFORMATIVE: Posterior = Posterior {
        mean: 0.0,
        var: f64::INFINITY,
    };

    fn is_informative(&self) -> bool {
        self.mean.is_finite() && self.var.is_finite() && self.var >= 0.0
    }
}

/// Beta-Binomial posterior Beta(a0 + x, b0 + n − x), moment-matched to a
/// normal. The uniform prior is `prior_a = prior_b = 1`.
///
/// Inputs that do not define a proper posterior (non-finite values, x < 0,
/// x > n, or a0 + x or b0 + n − x not positive) give
/// [`Posterior::UNINFORMATIVE`]. With n = 0 the result is the prior itself.
pub fn beta_posterior(successes: f64, trials: f64, prior_a: f64, prior_b: f64) -> Posterior {
    let a = prior_a + successes;
    let b = prior_b + (trials - successes);
    // Positive tests, so that NaN anywhere lands in the degenerate branch.
    let proper = successes >= 0.0
        && successes <= trials
        && a > 0.0
        && b > 0.0
        && a.is_finite()
        && b.is_finite();
    if !proper {
        return Posterior::UNINFORMATIVE;
    }
    let ab = a + b;
    Posterior {
        mean: a / ab,
        // a·b/((a+b)²(a+b+1)), divided in stages so huge counts do not
        // overflow the product.
        var: (a / ab) * (b / ab) / (ab + 1.0),
    }
}

/// Flat-prior posterior of a mean: N(x̄, s²/n). Undefined inputs (n ≤ 0, a
/// non-finite mean, or a negative or non-finite variance, e.g. the NaN sample
/// variance of fewer than two units) give [`Posterior::UNINFORMATIVE`]; a zero
/// sample variance gives a point mass.
pub fn normal_posterior(mean: f64, sample_var: f64, n: f64) -> Posterior {
    let defined = n > 0.0 && n.is_finite() && mean.is_finite() && sample_var >= 0.0;
    if !defined {
        return Posterior::UNINFORMATIVE;
    }
    let var = sample_var / n;
    if !var.is_finite() {
        return Posterior::UNINFORMATIVE;
    }
    Posterior { mean, var }
}

/// Chance to beat control and the two expected losses, in the metric's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// P(μ_t > μ_c).
    pub chance_to_beat: f64,
    /// E[max(μ_c − μ_t, 0)]: what shipping the treatment costs if it is worse.
    pub loss_treatment: f64,
    /// E[max(μ_t − μ_c, 0)]: what keeping the control costs if it is worse.
    pub loss_control: f64,
}

impl Comparison {
    /// No evidence either way. The zero losses keep the result finite; the
    /// even chance is what stops [`decide`] from acting on it.
    pub const NEUTRAL: Comparison = Comparison {
        chance_to_beat: 0.5,
        loss_treatment: 0.0,
        loss_control: 0.0,
    };
}

/// Compares the two arms' posteriors. If either is uninformative the result is
/// [`Comparison::NEUTRAL`]; if both are point masses (or the difference is
/// overwhelming next to its spread) it is the exact limit: chance 1, ½ or 0
/// and the loss |m| on the losing side.
pub fn compare(control: Posterior, treatment: Posterior) -> Comparison {
    if !control.is_informative() || !treatment.is_informative() {
        return Comparison::NEUTRAL;
    }
    let m = treatment.mean - control.mean;
    let s = (treatment.var + control.var).sqrt();
    if !m.is_finite() || !s.is_finite() {
        return Comparison::NEUTRAL;
    }
    let z = m / s;
    // s = 0 (both arms point masses), or s so small next to m that z
    // overflows: D is effectively the constant m.
    if !z.is_finite() {
        let chance = if m > 0.0 {
            1.0
        } else if m < 0.0 {
            0.0
        } else {
            0.5
        };
        return Comparison {
            chance_to_beat: chance,
            loss_treatment: (-m).max(0.0),
            loss_control: m.max(0.0),
        };
    }
    // Written as s·g(±z) with g(z) = φ(z) − z·Φ(−z), the losses are exact
    // mirror images, so swapping the arms swaps them bit for bit.
    Comparison {
        chance_to_beat: normal_cdf(z),
        loss_treatment: s * partial_expectation(z),
        loss_control: s * partial_expectation(-z),
    }
}

/// E[max(−X, 0)] / s for X ~ N(z·s, s²): φ(z) − z·Φ(−z), clamped at 0 since
/// for large z it is a difference of two tiny, nearly equal terms.
fn partial_expectation(z: f64) -> f64 {
    let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (pdf - z * normal_cdf(-z)).max(0.0)
}

/// Decision rule (GrowthBook-style): decide when the leading arm's chance to
/// win is ≥ `min_chance` and its expected loss, relative to |control posterior
/// mean|, is < `max_relative_loss`.
///
/// Returns Some(true) = treatment wins, Some(false) = control wins, None =
/// keep going. An exact tie in chance (including [`Comparison::NEUTRAL`]), a
/// NaN, or a zero or non-finite control mean (the relative loss is then
/// undefined) all give None.
pub fn decide(
    c: &Comparison,
    control_mean: f64,
    min_chance: f64,
    max_relative_loss: f64,
) -> Option<bool> {
    let (treatment_leads, chance, loss) = if c.chance_to_beat > 0.5 {
        (true, c.chance_to_beat, c.loss_treatment)
    } else if c.chance_to_beat < 0.5 {
        (false, 1.0 - c.chance_to_beat, c.loss_control)
    } else {
        return None;
    };
    let scale = control_mean.abs();
    let usable = scale > 0.0 && scale.is_finite();
    if !usable {
        return None;
    }
    (chance >= min_chance && loss / scale < max_relative_loss).then_some(treatment_leads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{Beta, Continuous, ContinuousCDF};

    /// Composite Simpson rule for f on [a, b] with `n` (even) intervals.
    fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
        let h = (b - a) / n as f64;
        let mut sum = f(a) + f(b);
        for i in 1..n {
            let w = if i % 2 == 1 { 4.0 } else { 2.0 };
            sum += w * f(a + i as f64 * h);
        }
        sum * h / 3.0
    }

    /// Exact chance to beat and losses for Beta(1 + x, 1 + n − x) posteriors,
    /// by quadrature over the treatment's support:
    /// P(p_t > p_c) = ∫ f_t(x) F_c(x) dx, and with
    /// ∫_x^1 y f_c(y) dy = μ_c (1 − F_{a_c+1, b_c}(x)),
    /// E[max(p_c − p_t, 0)] = ∫ f_t(x) [μ_c (1 − F_{a_c+1,b_c}(x)) − x (1 − F_c(x))] dx.
    fn exact(xc: f64, nc: f64, xt: f64, nt: f64) -> Comparison {
        let (ac, bc) = (1.0 + xc, 1.0 + nc - xc);
        let (at, bt) = (1.0 + xt, 1.0 + nt - xt);
        let fc = Beta::new(ac, bc).unwrap();
        let fc1 = Beta::new(ac + 1.0, bc).unwrap();
        let ft = Beta::new(at, bt).unwrap();
        let mu_c = ac / (ac + bc);
        let mu_t = at / (at + bt);
        let n = 200_000;
        let chance = simpson(|x| ft.pdf(x) * fc.cdf(x), 0.0, 1.0, n);
        let loss_t = simpson(
            |x| ft.pdf(x) * (mu_c * (1.0 - fc1.cdf(x)) - x * (1.0 - fc.cdf(x))),
            0.0,
            1.0,
            n,
        );
        // E[max(D,0)] − E[max(−D,0)] = E[D] exactly.
        Comparison {
            chance_to_beat: chance,
            loss_treatment: loss_t,
            loss_control: loss_t + (mu_t - mu_c),
        }
    }

    fn approx(xc: f64, nc: f64, xt: f64, nt: f64) -> Comparison {
        compare(
            beta_posterior(xc, nc, 1.0, 1.0),
            beta_posterior(xt, nt, 1.0, 1.0),
        )
    }

    #[test]
    fn beta_posterior_moments() {
        // Beta(4, 18): mean 4/22, var 4·18/(22²·23).
        let p = beta_posterior(3.0, 20.0, 1.0, 1.0);
        assert!((p.mean - 4.0 / 22.0).abs() < 1e-15);
        assert!((p.var - 72.0 / (484.0 * 23.0)).abs() < 1e-15);
        let p = normal_posterior(2.0, 9.0, 100.0);
        assert_eq!(
            p,
            Posterior {
                mean: 2.0,
                var: 0.09
            }
        );
    }

    #[test]
    fn normal_approximation_against_exact_beta() {
        for &(xc, nc, xt, nt) in &[
            (480.0, 5000.0, 530.0, 5000.0),
            (90.0, 1000.0, 100.0, 1000.0),
            (100.0, 1000.0, 90.0, 1000.0),
        ] {
            let e = exact(xc, nc, xt, nt);
            let a = approx(xc, nc, xt, nt);
            let d_chance = (a.chance_to_beat - e.chance_to_beat).abs();
            let r_lt = (a.loss_treatment / e.loss_treatment - 1.0).abs();
            let r_lc = (a.loss_control / e.loss_control - 1.0).abs();
            println!(
                "{xc}/{nc} vs {xt}/{nt}: chance {:.6} exact {:.6} (|err| {d_chance:.2e}); \
                 loss_t {:.4e} exact {:.4e} (rel {r_lt:.2e}); loss_c {:.4e} exact {:.4e} (rel {r_lc:.2e})",
                a.chance_to_beat,
                e.chance_to_beat,
                a.loss_treatment,
                e.loss_treatment,
                a.loss_control,
                e.loss_control
            );
            assert!(d_chance < 2e-3);
            assert!(r_lt < 0.05 && r_lc < 0.05);
        }
    }

    #[test]
    fn normal_approximation_small_counts() {
        let (xc, nc, xt, nt) = (3.0, 20.0, 7.0, 20.0);
        let e = exact(xc, nc, xt, nt);
        let a = approx(xc, nc, xt, nt);
        println!(
            "3/20 vs 7/20: chance {:.4} exact {:.4} (err {:+.4}); loss_t {:.5} exact {:.5} (rel {:+.3}); \
             loss_c {:.5} exact {:.5} (rel {:+.3})",
            a.chance_to_beat,
            e.chance_to_beat,
            a.chance_to_beat - e.chance_to_beat,
            a.loss_treatment,
            e.loss_treatment,
            a.loss_treatment / e.loss_treatment - 1.0,
            a.loss_control,
            e.loss_control,
            a.loss_control / e.loss_control - 1.0
        );
        assert!((0.0..=1.0).contains(&a.chance_to_beat));
        assert!(a.loss_treatment >= 0.0 && a.loss_control >= 0.0);
    }

    #[test]
    fn swapping_arms_mirrors_the_comparison() {
        let pairs = [
            (
                beta_posterior(480.0, 5000.0, 1.0, 1.0),
                beta_posterior(530.0, 5000.0, 1.0, 1.0),
            ),
            (
                normal_posterior(10.0, 4.0, 50.0),
                normal_posterior(9.2, 6.0, 80.0),
            ),
            (
                normal_posterior(1.0, 1.0, 1e6),
                normal_posterior(1.1, 1.0, 1e6),
            ),
        ];
        for (c, t) in pairs {
            let ab = compare(c, t);
            let ba = compare(t, c);
            assert!((ab.chance_to_beat - (1.0 - ba.chance_to_beat)).abs() < 1e-15);
            assert_eq!(ab.loss_treatment, ba.loss_control);
            assert_eq!(ab.loss_control, ba.loss_treatment);
        }
    }

    #[test]
    fn loss_difference_is_the_mean_difference() {
        for &(mc, vc, mt, vt) in &[
            (0.1, 1e-5, 0.105, 2e-5),
            (10.0, 0.3, 9.0, 0.2),
            (0.0, 1.0, 0.0, 1.0),
            (-3.0, 1e-4, 3.0, 1e-4),
            (5.0, 1.0, 5.001, 0.0),
        ] {
            let c = compare(
                Posterior { mean: mc, var: vc },
                Posterior { mean: mt, var: vt },
            );
            let m = mt - mc;
            let got = c.loss_control - c.loss_treatment;
            assert!(
                (got - m).abs() <= 1e-12 * (1.0 + m.abs() + c.loss_control),
                "{got} vs {m}"
            );
            assert!(c.loss_treatment >= 0.0 && c.loss_control >= 0.0);
        }
    }

    #[test]
    fn decide_rule() {
        let p = beta_posterior(500.0, 5000.0, 1.0, 1.0);
        let even = compare(p, p);
        assert_eq!(even.chance_to_beat, 0.5);
        assert_eq!(decide(&even, p.mean, 0.95, 0.01), None);
        // Even a permissive rule will not pick a side on a tie.
        assert_eq!(decide(&even, p.mean, 0.0, f64::INFINITY), None);

        let c = beta_posterior(500.0, 10000.0, 1.0, 1.0);
        let t = beta_posterior(600.0, 10000.0, 1.0, 1.0);
        let tc = compare(c, t);
        assert!(tc.chance_to_beat > 0.99);
        assert_eq!(decide(&tc, c.mean, 0.95, 0.01), Some(true));
        let ct = compare(t, c);
        assert_eq!(decide(&ct, t.mean, 0.95, 0.01), Some(false));
        // A strict enough chance threshold holds the decision back.
        assert_eq!(decide(&tc, c.mean, 1.0, 0.01), None);
        // So does a loss budget smaller than the actual risk.
        assert_eq!(decide(&tc, c.mean, 0.95, tc.loss_treatment / c.mean), None);

        // Small difference: no decision yet.
        let t = beta_posterior(510.0, 10000.0, 1.0, 1.0);
        assert_eq!(decide(&compare(c, t), c.mean, 0.95, 0.01), None);

        assert_eq!(decide(&tc, 0.0, 0.95, 0.01), None);
        assert_eq!(decide(&tc, f64::NAN, 0.95, 0.01), None);
        assert_eq!(decide(&tc, c.mean, f64::NAN, 0.01), None);
        let nan = Comparison {
            chance_to_beat: f64::NAN,
            ..tc
        };
        assert_eq!(decide(&nan, c.mean, 0.95, 0.01), None);
    }

    #[test]
    fn degenerate_inputs_are_finite_and_neutral() {
        let finite = |c: Comparison| {
            c.chance_to_beat.is_finite()
                && c.loss_treatment.is_finite()
                && c.loss_control.is_finite()
        };
        // No trials: the posterior is the prior, and equal priors are a tie.
        let empty = beta_posterior(0.0, 0.0, 1.0, 1.0);
        assert_eq!(
            empty,
            Posterior {
                mean: 0.5,
                var: 1.0 / 12.0
            }
        );
        let c = compare(empty, empty);
        assert!(finite(c) && c.chance_to_beat == 0.5);
        assert_eq!(decide(&c, 0.5, 0.95, 0.01), None);

        for p in [
            normal_posterior(1.0, 1.0, 0.0),
            normal_posterior(1.0, f64::NAN, 1.0),
            normal_posterior(f64::NAN, 1.0, 10.0),
            normal_posterior(1.0, -1.0, 10.0),
            normal_posterior(1.0, 1.0, f64::INFINITY),
            normal_posterior(1.0, f64::MAX, 1e-300),
            beta_posterior(5.0, 3.0, 1.0, 1.0),
            beta_posterior(-1.0, 3.0, 1.0, 1.0),
            beta_posterior(0.0, 3.0, 0.0, 1.0),
            beta_posterior(f64::NAN, 3.0, 1.0, 1.0),
            beta_posterior(1.0, f64::INFINITY, 1.0, 1.0),
        ] {
            assert_eq!(p, Posterior::UNINFORMATIVE);
            let ok = normal_posterior(1.0, 1.0, 10.0);
            for c in [compare(p, ok), compare(ok, p), compare(p, p)] {
                assert_eq!(c, Comparison::NEUTRAL);
                assert_eq!(decide(&c, 1.0, 0.5, 1.0), None);
            }
        }

        // Zero sample variance: point masses, the exact limit.
        let a = normal_posterior(1.0, 0.0, 10.0);
        let b = normal_posterior(1.5, 0.0, 10.0);
        assert_eq!(
            compare(a, b),
            Comparison {
                chance_to_beat: 1.0,
                loss_treatment: 0.0,
                loss_control: 0.5
            }
        );
        assert_eq!(
            compare(b, a),
            Comparison {
                chance_to_beat: 0.0,
                loss_treatment: 0.5,
                loss_control: 0.0
            }
        );
        assert_eq!(compare(a, a), Comparison::NEUTRAL);
        assert_eq!(decide(&compare(a, b), 1.0, 0.95, 0.01), Some(true));

        // Extreme but valid inputs stay finite.
        let huge = beta_posterior(1e300, 1e300, 1.0, 1.0);
        assert!(huge.mean.is_finite() && huge.var.is_finite());
        let far = compare(
            normal_posterior(0.0, 1e-300, 1.0),
            normal_posterior(1e300, 1e-300, 1.0),
        );
        assert!(finite(far) && far.chance_to_beat == 1.0 && far.loss_treatment == 0.0);
        let overflow = compare(
            Posterior {
                mean: -f64::MAX,
                var: 1.0,
            },
            Posterior {
                mean: f64::MAX,
                var: 1.0,
            },
        );
        assert_eq!(overflow, Comparison::NEUTRAL);
    }
}

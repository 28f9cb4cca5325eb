//! Two-sided group-sequential boundaries (Pocock, O'Brien–Fleming and the two
//! Lan–DeMets spending families), the exact type I error of any two-sided
//! boundary (e.g. the inflation from naively peeking at a fixed 1.96), its
//! power under an effect, and a design's maximum-information inflation factor
//! relative to the fixed-sample test (`rejection_probability`,
//! `inflation_factor`: the same recursion with a drift).
//!
//! Model: the canonical joint distribution (Jennison & Turnbull, "Group
//! Sequential Methods with Applications to Clinical Trials", 2000, ch. 3):
//! at information fractions 0 < t_1 < … < t_K the statistics are
//! Z_k = S_k/√t_k with S a standard Brownian motion in information time under
//! H0, so only the ratios of the fractions matter. Rejection at look k means
//! |Z_k| ≥ c_k.
//!
//! Computation (Jennison & Turnbull ch. 19; Armitage, McPherson & Rowe 1969):
//! the sub-density f_k of Z_k on the paths that have not stopped before look k
//! obeys f_1 = φ and
//!
//!   f_k(x) = ∫_{−c_{k−1}}^{c_{k−1}} f_{k−1}(y) · √t_k/√Δ_k ·
//!            φ((x√t_k − y√t_{k−1})/√Δ_k) dy,   Δ_k = t_k − t_{k−1},
//!
//! and the probability of first exiting at look k is the integral of f_{k−1}
//! against the exact normal tail mass beyond ±c_k (erfc, so small exit
//! probabilities keep full relative precision). Each f_k is held on the
//! Jennison–Turnbull grid: 6m − 1 points, uniform with spacing 3/(2m) on
//! [−3, 3] and logarithmically spaced out to ±(3 + 4 ln m), trimmed to the
//! continuation region (−c_k, c_k) with ±c_k added as end points, and each
//! gap between neighbouring points integrated by Simpson's rule (its midpoint
//! is an extra node), 12m − 3 nodes at most. Because the rule is applied
//! panel by panel, the integral moves continuously with c_k, which keeps the
//! root finders well behaved. Critical values beyond the grid's reach
//! (|z| > 3 + 4 ln m ≈ 18) are truncated to it: the mass there is below
//! 1e-70. Under H0 with symmetric boundaries each density is even, so only
//! half of it is integrated, and kernel terms below 1e-22 are skipped.
//!
//! m is ⌈12/σ⌉ clamped to [50, 400], σ = min_k √(Δ_k/t_k) being the narrowest
//! transition kernel on the z scale: a central Simpson panel then spans at
//! most 1/8 of it. Simpson's error falls as m⁻⁴; measured against m = 400,
//! total exit probabilities are within 3e-10 at K = 5 and 5e-9 at K = 20
//! equally spaced looks (so critical values within ~1e-7), far below the
//! 3-decimal published tables the tests check. Cost is O(K·n²) for n nodes,
//! cut to O(K·n·band) when kernels are narrow; in release builds a Pocock
//! boundary takes ~3 ms at K = 5 and ~20 ms at K = 20.
//!
//! Boundaries: Pocock (c_k = C) and O'Brien–Fleming (c_k = C/√t_k) solve
//! P_H0(exit) = α for C (Jennison & Turnbull ch. 2); the spending families
//! solve look by look for the c_k whose first-exit probability equals
//! α(t_k) − α(t_{k−1}) (Lan & DeMets 1983; Jennison & Turnbull ch. 7). All root finding is Brent's method on the "equivalent single-look
//! z" Φ⁻¹(1 − p/2) of the probability p, which is nearly linear in c.

use libm::erfc;
use serde::{Deserialize, Serialize};

use crate::stats::{normal_cdf, normal_quantile};

/// Which family of two-sided boundaries to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundaryKind {
    /// Classic Pocock: constant critical value c at every look.
    Pocock,
    /// Classic O'Brien–Fleming: c_k = C · sqrt(1 / t_k)  (for equal spacing, C·sqrt(K/k)).
    #[serde(rename = "obrien_fleming")]
    OBrienFleming,
    /// Lan–DeMets alpha spending with the O'Brien–Fleming-type function,
    /// spent symmetrically: α/2 per side with 2 − 2Φ(z_{1−α/4}/√t), i.e.
    /// α(t) = 4 − 4Φ(z_{1−α/4}/√t) in total. This is the form tabulated as
    /// "two-sided 0.05" (4.877, 3.357, 2.680, 2.290, 2.031 at five equal
    /// looks: gsDesign's sfLDOF, ldbounds), which users compare against; the
    /// single-function form 2 − 2Φ(z_{1−α/2}/√t) spends slightly differently.
    SpendingObrienFleming,
    /// Lan–DeMets alpha spending with the Pocock-type function α(t) = α · ln(1 + (e − 1) t).
    SpendingPocock,
}

/// Why [`boundaries`] refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BoundaryError {
    /// Alpha outside (0, 1).
    #[error("alpha must lie strictly between 0 and 1, got {0}")]
    Alpha(f64),
    /// No information fractions given.
    #[error("at least one analysis (information fraction) is required")]
    NoLooks,
    /// Fraction `index` is not finite and positive, or not above the one before.
    #[error(
        "information fractions must be finite, positive and strictly increasing; fraction {index} is {value}"
    )]
    Fraction {
        /// 0-based position of the fraction.
        index: usize,
        /// The offending fraction.
        value: f64,
    },
    /// The last fraction is not 1 (within 1e-9).
    #[error("the last information fraction must be 1, got {0}")]
    LastNotOne(f64),
}

/// Two-sided boundaries: reject at look k when |Z_k| >= critical[k].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Boundaries {
    /// The boundary family.
    pub kind: BoundaryKind,
    /// Overall two-sided significance level spent across the looks.
    pub alpha: f64,
    /// Information fraction t_k of each look (increasing, the last 1).
    pub fractions: Vec<f64>,
    /// Critical value c_k per look, in [0, 40].
    pub critical: Vec<f64>,
}

/// Critical values are capped here: 2Φ(−40) underflows f64, so a larger
/// value could not change any probability. Also what an infinite input means.
const MAX_CRITICAL: f64 = 40.0;
/// Kernel terms with |u| beyond this have φ(u) < 1e-22 relative to the
/// density's scale and are skipped.
const KERNEL_CUTOFF: f64 = 10.0;
/// m = 50 already puts the quadrature error near 1e-9 for up to 20 looks; the
/// cap bounds the cost (∝ m²) for pathologically close looks.
const M_MIN: usize = 50;
const M_MAX: usize = 400;
/// Central Simpson panels per standard deviation of the narrowest transition
/// kernel.
const PANELS_PER_SD: f64 = 8.0;
/// The last fraction may miss 1 by rounding (e.g. a sum of decimal steps).
const LAST_FRACTION_TOLERANCE: f64 = 1e-9;
/// Probabilities are floored here before taking the normal quantile, so the
/// root finders see finite values even where tails underflow.
const MIN_PROBABILITY: f64 = 1e-300;

/// Equally spaced fractions k/K, k = 1..K.
pub fn equal_fractions(k: usize) -> Vec<f64> {
    (1..=k).map(|i| i as f64 / k as f64).collect()
}

/// Two-sided boundaries of the given kind at level `alpha` for analyses at
/// `fractions` (0 < t_1 < … < t_K = 1, the last within 1e-9 of 1).
///
/// Errors on alpha outside (0, 1) and on empty, non-finite, non-positive,
/// non-increasing fractions or a last fraction that is not 1. Critical values
/// are clamped to [0, 40]; a spending increment that underflows to zero gets
/// the cap 40 (no rejection possible in f64).
pub fn boundaries(
    kind: BoundaryKind,
    alpha: f64,
    fractions: &[f64],
) -> Result<Boundaries, BoundaryError> {
    // Written so that NaN fails too.
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(BoundaryError::Alpha(alpha));
    }
    check_fractions(fractions)?;
    let last = fractions[fractions.len() - 1];
    if (last - 1.0).abs() > LAST_FRACTION_TOLERANCE {
        return Err(BoundaryError::LastNotOne(last));
    }
    let critical = match kind {
        BoundaryKind::Pocock => constant_shape(alpha, fractions, |c, _| c),
        BoundaryKind::OBrienFleming => constant_shape(alpha, fractions, |c, t| c / t.sqrt()),
        BoundaryKind::SpendingObrienFleming => {
            // z_{1−α/4} as an upper-tail quantile, exact for small alpha too;
            // erfc(x/√2) = 2 − 2Φ(x), doubled for the two sides.
            let z = -normal_quantile(alpha / 4.0);
            spending(fractions, |t| {
                2.0 * erfc(z / (t.sqrt() * std::f64::consts::SQRT_2))
            })
        }
        BoundaryKind::SpendingPocock => spending(fractions, |t| {
            alpha * ((std::f64::consts::E - 1.0) * t).ln_1p()
        }),
    };
    Ok(Boundaries {
        kind,
        alpha,
        fractions: fractions.to_vec(),
        critical,
    })
}

/// P(|Z_k| >= critical[k] for some k) under H0 (zero drift), by the same recursive integration;
/// also per look: the probability of first exiting at look k. Returns (total, per_look).
///
/// Only the ratios of the fractions matter, so they need not end at 1, but
/// they must be finite, positive and strictly increasing, and there must be
/// one per critical value; otherwise every number returned is NaN (one per
/// critical value). A NaN critical value also gives NaN. Negative critical
/// values act as 0 (always reject) and values above 40, including +∞, as 40
/// (never reject, to f64 precision). Empty input gives (0, []).
pub fn exit_probability(critical: &[f64], fractions: &[f64]) -> (f64, Vec<f64>) {
    let valid_fractions = fractions.is_empty() || check_fractions(fractions).is_ok();
    if critical.len() != fractions.len() || !valid_fractions || critical.iter().any(|c| c.is_nan())
    {
        return (f64::NAN, vec![f64::NAN; critical.len()]);
    }
    let critical: Vec<f64> = critical
        .iter()
        .map(|c| c.clamp(0.0, MAX_CRITICAL))
        .collect();
    let per_look = first_exits(&critical, fractions);
    (per_look.iter().sum(), per_look)
}

fn check_fractions(fractions: &[f64]) -> Result<(), BoundaryError> {
    if fractions.is_empty() {
        return Err(BoundaryError::NoLooks);
    }
    let mut prev = 0.0;
    for (index, &value) in fractions.iter().enumerate() {
        // Negated so that NaN fails.
        if !(value.is_finite() && value > prev) {
            return Err(BoundaryError::Fraction { index, value });
        }
        prev = value;
    }
    Ok(())
}

/// Φ⁻¹(1 − p/2): the single-look critical value with two-sided tail p. Roots
/// are sought on this scale because it is close to linear in the boundary.
fn equivalent_z(p: f64) -> f64 {
    // The quantile panics outside [0, 1]; NaN is passed on for Brent to stop on.
    if p.is_nan() {
        return f64::NAN;
    }
    -normal_quantile(p.clamp(MIN_PROBABILITY, 1.0) / 2.0)
}

/// The constant C of a boundary c_k = shape(C, t_k) with total exit
/// probability `alpha`, for shapes with c_K = C and c_k ≥ C.
fn constant_shape(alpha: f64, fractions: &[f64], shape: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    let boundary = |c: f64| -> Vec<f64> {
        fractions
            .iter()
            .map(|&t| shape(c, t).clamp(0.0, MAX_CRITICAL))
            .collect()
    };
    let target = equivalent_z(alpha);
    let gap = |c: f64| equivalent_z(first_exits(&boundary(c), fractions).iter().sum()) - target;
    // The last look alone exits with probability α at C = z_{1−α/2}, so the
    // total is at least α there; Bonferroni over K looks with every c_k ≥ C
    // caps it at α when C = z_{1−α/(2K)}. So the root is bracketed.
    let lo = target;
    let hi = equivalent_z(alpha / fractions.len() as f64);
    boundary(brent(gap, lo, hi))
}

/// Lan–DeMets: look by look, the c_k whose first-exit probability is the
/// increment of the spending function.
fn spending(fractions: &[f64], spend: impl Fn(f64) -> f64) -> Vec<f64> {
    let mut integrator = Integrator::new(fractions);
    let mut critical = Vec::with_capacity(fractions.len());
    let mut spent = 0.0;
    for (k, &t) in fractions.iter().enumerate() {
        // Guard monotonicity against rounding in the spending function.
        // (min/max rather than clamp: they cannot panic, even on NaN.)
        let now = spend(t).min(1.0).max(spent);
        let increment = now - spent;
        spent = now;
        let c = solve_look(&integrator, t, increment);
        critical.push(c);
        if k + 1 < fractions.len() {
            integrator.advance(t, c);
        }
    }
    critical
}

/// The c with first-exit probability `target` at the next look.
fn solve_look(integrator: &Integrator, t: f64, target: f64) -> f64 {
    if target < MIN_PROBABILITY {
        return MAX_CRITICAL;
    }
    // c = 0 stops every surviving path; if that is not enough, nothing is.
    if integrator.exit(t, 0.0) <= target {
        return 0.0;
    }
    let goal = equivalent_z(target);
    // The first exit at look k is at most P(|Z_k| ≥ c), which equals target at
    // c = goal: the root lies below it.
    let hi = goal.min(MAX_CRITICAL);
    brent(|c| equivalent_z(integrator.exit(t, c)) - goal, 0.0, hi)
}

/// Probabilities of first exit at each look for valid, clamped input.
/// P(|Z_k| ≥ critical[k] for some k) when the statistics drift: Z_k has mean
/// `drift`·√(t_k/t_K), so `drift` is the mean of the last look's statistic
/// (θ√I_K for an effect θ and the last look's information I_K). Also per
/// look, the probability of first exiting there. Returns (total, per_look).
///
/// The same recursion as [`exit_probability`] (same grid and Simpson rule,
/// without the even-density shortcut), with the transition kernel's mean
/// moved by the drift: S_k − S_{k−1} ~ N(drift·Δ_k, Δ_k) on the scale
/// t_K = 1. At drift 0 it agrees with [`exit_probability`] to ~1e-12. Invalid
/// input gives NaN as there; a non-finite drift gives NaN.
pub fn rejection_probability(critical: &[f64], fractions: &[f64], drift: f64) -> (f64, Vec<f64>) {
    let per_look: Vec<f64> = crossings(critical, fractions, drift)
        .iter()
        .map(|(up, down)| up + down)
        .collect();
    (per_look.iter().sum(), per_look)
}

/// Per look, the probabilities of first exiting there across the upper
/// (Z_k ≥ c_k) and the lower (Z_k ≤ −c_k) boundary; NaN for invalid input.
fn crossings(critical: &[f64], fractions: &[f64], drift: f64) -> Vec<(f64, f64)> {
    let valid_fractions = fractions.is_empty() || check_fractions(fractions).is_ok();
    if critical.len() != fractions.len()
        || !valid_fractions
        || critical.iter().any(|c| c.is_nan())
        || !drift.is_finite()
    {
        return vec![(f64::NAN, f64::NAN); critical.len()];
    }
    let Some(&last) = fractions.last() else {
        return Vec::new();
    };
    let half_base = Integrator::new(fractions).half_base;
    let inv_sqrt_2pi = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    // The surviving sub-density's Simpson nodes and masses at the previous
    // look, and that look's scaled information.
    let mut prev: Option<(f64, Vec<f64>, Vec<f64>)> = None;
    let mut per_look = Vec::with_capacity(critical.len());
    for (k, (&c, &f)) in critical.iter().zip(fractions).enumerate() {
        let c = c.clamp(0.0, MAX_CRITICAL);
        let tau = f / last;
        let exit = match &prev {
            None => {
                let mu = drift * tau.sqrt();
                (normal_cdf(mu - c), normal_cdf(-c - mu))
            }
            Some((tau0, nodes, mass)) => {
                let sd = (tau - tau0).sqrt();
                let step = drift * (tau - tau0);
                let bound = c * tau.sqrt();
                nodes
                    .iter()
                    .zip(mass)
                    .fold((0.0, 0.0), |(up, down), (&y, &w)| {
                        let m = y * tau0.sqrt() + step;
                        (
                            up + w * normal_cdf((m - bound) / sd),
                            down + w * normal_cdf((-bound - m) / sd),
                        )
                    })
            }
        };
        per_look.push(exit);
        if k + 1 == critical.len() {
            break;
        }
        let (nodes, weights) = simpson_nodes(&half_base, c);
        let density: Vec<f64> = match &prev {
            None => {
                let mu = drift * tau.sqrt();
                nodes
                    .iter()
                    .map(|&x| inv_sqrt_2pi * (-0.5 * (x - mu) * (x - mu)).exp())
                    .collect()
            }
            Some((tau0, prev_nodes, prev_mass)) => {
                let sd = (tau - tau0).sqrt();
                let step = drift * (tau - tau0);
                let scale = tau.sqrt() / sd * inv_sqrt_2pi;
                nodes
                    .iter()
                    .map(|&x| {
                        let sum: f64 = prev_nodes
                            .iter()
                            .zip(prev_mass)
                            .map(|(&y, &w)| {
                                let d = (x * tau.sqrt() - y * tau0.sqrt() - step) / sd;
                                w * (-0.5 * d * d).exp()
                            })
                            .sum();
                        sum * scale
                    })
                    .collect()
            }
        };
        let mass = density.iter().zip(&weights).map(|(d, w)| d * w).collect();
        prev = Some((tau, nodes, mass));
    }
    per_look
}

/// The drift (the last look's mean statistic, θ√I_K > 0) at which the
/// boundary `critical` at `fractions` rejects H0 in the effect's direction
/// (first exit across the upper boundary) with probability `power` in
/// (0, 1), as Jennison & Turnbull define a two-sided test's power; NaN when
/// no drift in [0, 40] does.
pub fn drift_for_power(critical: &[f64], fractions: &[f64], power: f64) -> f64 {
    if !(power > 0.0 && power < 1.0) {
        return f64::NAN;
    }
    let g = |d: f64| {
        crossings(critical, fractions, d)
            .iter()
            .map(|(up, _)| up)
            .sum::<f64>()
            - power
    };
    // NaN (invalid input) reaches nothing.
    let top = g(MAX_CRITICAL);
    let reaches = top.is_finite() && top >= 0.0;
    if g(0.0) > 0.0 || !reaches {
        return f64::NAN;
    }
    brent(g, 0.0, MAX_CRITICAL)
}

/// The maximum-information inflation factor R of a group-sequential design:
/// the information its last look needs for `power` at the effect a
/// fixed-sample two-sided test of the same level has that power at, relative
/// to that fixed sample, (η / (z_{1−α/2} + z_power))² with η the design's
/// [`drift_for_power`] (Jennison & Turnbull ch. 2, Tables 2.1–2.3: the
/// fixed test's power ignores its far tail, as theirs does).
pub fn inflation_factor(b: &Boundaries, power: f64) -> f64 {
    let fixed = -normal_quantile(b.alpha / 2.0) - normal_quantile(1.0 - power);
    let eta = drift_for_power(&b.critical, &b.fractions, power);
    (eta / fixed).powi(2)
}

fn first_exits(critical: &[f64], fractions: &[f64]) -> Vec<f64> {
    if fractions.is_empty() {
        return Vec::new();
    }
    let mut integrator = Integrator::new(fractions);
    let mut exits = Vec::with_capacity(critical.len());
    for (k, (&c, &t)) in critical.iter().zip(fractions).enumerate() {
        exits.push(integrator.exit(t, c));
        if k + 1 < critical.len() {
            integrator.advance(t, c);
        }
    }
    exits
}

/// The recursion's state after the latest look it has advanced past.
struct Integrator {
    /// The non-negative half of the base grid (it is symmetric about 0).
    half_base: Vec<f64>,
    /// None before the first look.
    layer: Option<Layer>,
}

/// The surviving sub-density at one look on its Simpson nodes.
struct Layer {
    t: f64,
    /// Symmetric about 0, ascending, odd length; the middle node is 0.
    nodes: Vec<f64>,
    /// Simpson weight × sub-density at each node.
    mass: Vec<f64>,
}

impl Integrator {
    /// The grid depends only on the fractions, never on the boundary, so that
    /// every evaluation inside a root finder, and a later exit_probability
    /// with the solved boundary, integrate on the same rule.
    fn new(fractions: &[f64]) -> Self {
        let narrowest = fractions
            .windows(2)
            .map(|w| ((w[1] - w[0]) / w[1]).sqrt())
            .fold(f64::INFINITY, f64::min);
        let wanted = (1.5 * PANELS_PER_SD / narrowest).ceil();
        let m = if wanted.is_finite() {
            (wanted as usize).clamp(M_MIN, M_MAX)
        } else {
            M_MIN
        };
        Integrator {
            half_base: half_base_grid(m),
            layer: None,
        }
    }

    /// Probability that a surviving path first exits at look t with boundary c.
    fn exit(&self, t: f64, c: f64) -> f64 {
        let Some(layer) = &self.layer else {
            return erfc(c / std::f64::consts::SQRT_2);
        };
        let sd = (t - layer.t).sqrt();
        let b = c * t.sqrt() / sd;
        let r = layer.t.sqrt() / sd;
        layer
            .nodes
            .iter()
            .zip(&layer.mass)
            .map(|(&y, &w)| w * (normal_cdf(-b - y * r) + normal_cdf(-b + y * r)))
            .sum()
    }

    /// Move the recursion to look t with continuation region (−c, c).
    fn advance(&mut self, t: f64, c: f64) {
        let (nodes, weights) = simpson_nodes(&self.half_base, c);
        let n = nodes.len();
        let mid = n / 2;
        let mut density = vec![0.0; n];
        match &self.layer {
            None => {
                for (d, &x) in density.iter_mut().zip(&nodes) {
                    *d = (-0.5 * x * x).exp();
                }
            }
            Some(layer) => {
                let sd = (t - layer.t).sqrt();
                let xs = t.sqrt() / sd;
                let ys = layer.t.sqrt() / sd;
                // Previous nodes on the kernel's scale: u = x·xs − y·ys.
                let prev: Vec<f64> = layer.nodes.iter().map(|&y| y * ys).collect();
                // Under H0 with a symmetric boundary the density is even, so
                // only the non-negative half is integrated.
                for j in mid..n {
                    let u = nodes[j] * xs;
                    let lo = prev.partition_point(|&v| v < u - KERNEL_CUTOFF);
                    let hi = prev.partition_point(|&v| v <= u + KERNEL_CUTOFF);
                    let sum: f64 = prev[lo..hi]
                        .iter()
                        .zip(&layer.mass[lo..hi])
                        .map(|(&v, &w)| {
                            let d = u - v;
                            w * (-0.5 * d * d).exp()
                        })
                        .sum();
                    density[j] = sum * xs;
                }
                for j in 0..mid {
                    density[j] = density[n - 1 - j];
                }
            }
        }
        let inv_sqrt_2pi = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        let mass = density
            .iter()
            .zip(&weights)
            .map(|(&d, &w)| d * w * inv_sqrt_2pi)
            .collect();
        self.layer = Some(Layer { t, nodes, mass });
    }
}

/// Non-negative half of the Jennison–Turnbull grid for H0 (centred on 0):
/// 0, 3/(2m), …, 3, then 3 + 4 ln(m/i) for i = m − 1, …, 1.
fn half_base_grid(m: usize) -> Vec<f64> {
    let mf = m as f64;
    let step = 1.5 / mf;
    let mut grid: Vec<f64> = (0..=2 * m).map(|j| j as f64 * step).collect();
    grid.extend((1..m).rev().map(|i| 3.0 + 4.0 * (mf / i as f64).ln()));
    grid
}

/// Simpson nodes and weights on (−c, c), symmetric by construction so that
/// mirroring the half-density is exact.
fn simpson_nodes(half_base: &[f64], c: f64) -> (Vec<f64>, Vec<f64>) {
    let mut points: Vec<f64> = half_base.iter().copied().take_while(|&p| p < c).collect();
    let reach = half_base[half_base.len() - 1];
    if c <= reach {
        points.push(c);
    }
    // Half nodes: points with the midpoints of the gaps between them.
    let panels = points.len() - 1;
    let mut half_nodes = Vec::with_capacity(2 * panels + 1);
    let mut half_weights = Vec::with_capacity(2 * panels + 1);
    for i in 0..=panels {
        let left = if i > 0 {
            points[i] - points[i - 1]
        } else {
            0.0
        };
        let right = if i < panels {
            points[i + 1] - points[i]
        } else {
            0.0
        };
        // The node at 0 also closes the mirrored panel on its left.
        let left = if i == 0 { right } else { left };
        half_nodes.push(points[i]);
        half_weights.push((left + right) / 6.0);
        if i < panels {
            half_nodes.push(0.5 * (points[i] + points[i + 1]));
            half_weights.push(4.0 * right / 6.0);
        }
    }
    let n = 2 * half_nodes.len() - 1;
    let mut nodes = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    for i in (1..half_nodes.len()).rev() {
        nodes.push(-half_nodes[i]);
        weights.push(half_weights[i]);
    }
    nodes.extend_from_slice(&half_nodes);
    weights.extend_from_slice(&half_weights);
    (nodes, weights)
}

/// Brent's method (Brent 1973, ch. 4) for a root of an increasing g bracketed
/// by [lo, hi]; converges to ~1e-12 in c. If the bracket is not a bracket, it
/// returns the end nearer to a root.
fn brent(mut g: impl FnMut(f64) -> f64, lo: f64, hi: f64) -> f64 {
    const XTOL: f64 = 1e-12;
    const MAX_ITER: usize = 200;
    let (mut a, mut b) = (lo, hi);
    let (mut fa, mut fb) = (g(a), g(b));
    if fa == 0.0 {
        return a;
    }
    if fb == 0.0 {
        return b;
    }
    if fa.is_nan() || fb.is_nan() {
        return b;
    }
    if fa > 0.0 {
        return a;
    }
    if fb < 0.0 {
        return b;
    }
    let (mut c, mut fc) = (a, fa);
    let mut d = b - a;
    let mut e = d;
    for _ in 0..MAX_ITER {
        if (fb > 0.0) == (fc > 0.0) {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol = 2.0 * f64::EPSILON * b.abs() + 0.5 * XTOL;
        let half = 0.5 * (c - b);
        if half.abs() <= tol || fb == 0.0 {
            return b;
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            // Secant, or inverse quadratic interpolation through three points.
            let s = fb / fa;
            let (mut p, mut q) = if a == c {
                (2.0 * half * s, 1.0 - s)
            } else {
                let q = fa / fc;
                let r = fb / fc;
                (
                    s * (2.0 * half * q * (q - r) - (b - a) * (r - 1.0)),
                    (q - 1.0) * (r - 1.0) * (s - 1.0),
                )
            };
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * half * q - (tol * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = half;
                e = d;
            }
        } else {
            d = half;
            e = d;
        }
        a = b;
        fa = fb;
        b += if d.abs() > tol { d } else { tol.copysign(half) };
        fb = g(b);
        if fb.is_nan() {
            return b;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(kind: BoundaryKind, k: usize) -> f64 {
        let b = boundaries(kind, 0.05, &equal_fractions(k)).unwrap();
        // Both constant shapes have c_K = C.
        b.critical[k - 1]
    }

    #[test]
    fn pocock_constants_match_jennison_turnbull_table_2_1() {
        for (k, published) in [(2, 2.178), (3, 2.289), (4, 2.361), (5, 2.413), (10, 2.555)] {
            let b = boundaries(BoundaryKind::Pocock, 0.05, &equal_fractions(k)).unwrap();
            let c = b.critical[0];
            assert!(b.critical.iter().all(|&x| x == c));
            assert!((c - published).abs() < 0.0015, "K={k}: {c} vs {published}");
        }
    }

    #[test]
    fn rejection_probability_at_zero_drift_is_the_exit_probability() {
        for kind in [BoundaryKind::Pocock, BoundaryKind::OBrienFleming] {
            for k in [1, 2, 5, 10] {
                let b = boundaries(kind, 0.05, &equal_fractions(k)).unwrap();
                let (h0, h0_looks) = exit_probability(&b.critical, &b.fractions);
                let (p, looks) = rejection_probability(&b.critical, &b.fractions, 0.0);
                assert!((p - h0).abs() < 1e-12, "{kind:?} K={k}: {p} vs {h0}");
                for (a, e) in looks.iter().zip(&h0_looks) {
                    assert!((a - e).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn one_look_power_is_the_closed_form() {
        // One look at 1.96: P(|N(η, 1)| ≥ 1.96) = Φ(η − 1.96) + Φ(−η − 1.96).
        for eta in [0.5, 1.0, 2.8, 4.0] {
            let (p, _) = rejection_probability(&[1.96], &[1.0], eta);
            let exact = normal_cdf(eta - 1.96) + normal_cdf(-eta - 1.96);
            assert!((p - exact).abs() < 1e-15, "η={eta}: {p} vs {exact}");
        }
        // Two looks at 1.96 and ∞ at t = 0.5, 1: only the first can reject,
        // where Z_1 has mean η√0.5.
        let (p, looks) = rejection_probability(&[1.96, 40.0], &[0.5, 1.0], 2.0);
        let mu = 2.0 * 0.5f64.sqrt();
        let exact = normal_cdf(mu - 1.96) + normal_cdf(-mu - 1.96);
        assert!(
            (looks[0] - exact).abs() < 1e-15 && looks[1] < 1e-300,
            "{looks:?}"
        );
        assert!((p - exact).abs() < 1e-15);
    }

    #[test]
    fn power_search_refuses_what_it_cannot_reach() {
        let b = boundaries(BoundaryKind::Pocock, 0.05, &equal_fractions(3)).unwrap();
        for power in [0.0, 1.0, -0.5, f64::NAN] {
            assert!(
                drift_for_power(&b.critical, &b.fractions, power).is_nan(),
                "{power}"
            );
        }
        // Below the level: even no effect rejects upward more often.
        assert!(drift_for_power(&b.critical, &b.fractions, 0.01).is_nan());
        assert!(drift_for_power(&[f64::NAN], &[1.0], 0.8).is_nan());
        assert!(
            rejection_probability(&b.critical, &b.fractions, f64::INFINITY)
                .0
                .is_nan()
        );
        // A found drift gives the power asked for.
        let eta = drift_for_power(&b.critical, &b.fractions, 0.8);
        let upward: f64 = crossings(&b.critical, &b.fractions, eta)
            .iter()
            .map(|c| c.0)
            .sum();
        assert!((upward - 0.8).abs() < 1e-9, "{upward}");
    }

    /// Jennison & Turnbull (2000) Tables 2.1 and 2.3: R_P(K, α, β) and
    /// R_B(K, α, β) at α = 0.05 for 1 − β = 0.8 and 0.9, K = 2…5, to their
    /// three decimals. Power counts rejections in the effect's direction
    /// only, as theirs does: counting the far boundary too moves Pocock's
    /// R at K = 5 by 2e-4, to 1.22837, which would round to 1.228.
    #[test]
    fn inflation_factors_match_jennison_turnbull_tables_2_1_and_2_3() {
        let published: [(BoundaryKind, f64, [f64; 4]); 4] = [
            (BoundaryKind::Pocock, 0.8, [1.110, 1.166, 1.202, 1.229]),
            (BoundaryKind::Pocock, 0.9, [1.100, 1.151, 1.183, 1.207]),
            (
                BoundaryKind::OBrienFleming,
                0.8,
                [1.008, 1.017, 1.024, 1.028],
            ),
            (
                BoundaryKind::OBrienFleming,
                0.9,
                [1.007, 1.016, 1.022, 1.026],
            ),
        ];
        for (kind, power, r) in published {
            for (k, &table) in (2..=5).zip(&r) {
                let b = boundaries(kind, 0.05, &equal_fractions(k)).unwrap();
                let ours = inflation_factor(&b, power);
                assert!(
                    // The table rounds to three decimals.
                    (ours - table).abs() <= 5e-4,
                    "{kind:?} K={k} power {power}: {ours:.5} vs {table}"
                );
            }
        }
    }

    #[test]
    fn obrien_fleming_constants_match_jennison_turnbull_table_2_3() {
        for (k, published) in [(2, 1.977), (3, 2.004), (4, 2.024), (5, 2.040), (10, 2.087)] {
            let b = boundaries(BoundaryKind::OBrienFleming, 0.05, &equal_fractions(k)).unwrap();
            let c = b.critical[k - 1];
            for (i, &ci) in b.critical.iter().enumerate() {
                let expected = c * (k as f64 / (i + 1) as f64).sqrt();
                assert!((ci - expected).abs() < 1e-12);
            }
            assert!((c - published).abs() < 0.0015, "K={k}: {c} vs {published}");
        }
    }

    #[test]
    fn the_issue_values_for_five_looks() {
        assert!((constant(BoundaryKind::Pocock, 5) - 2.413).abs() < 0.0015);
        assert!((constant(BoundaryKind::OBrienFleming, 5) - 2.040).abs() < 0.0015);
    }

    #[test]
    fn naive_peeking_matches_armitage_mcpherson_rowe() {
        let z = 1.959964;
        for (k, published) in [
            (2, 0.083),
            (3, 0.107),
            (4, 0.126),
            (5, 0.142),
            (10, 0.193),
            (20, 0.248),
        ] {
            let (total, per_look) = exit_probability(&vec![z; k], &equal_fractions(k));
            assert_eq!(per_look.len(), k);
            assert!((per_look[0] - 0.05).abs() < 1e-6);
            assert!(
                (total - published).abs() < 0.0005,
                "K={k}: {total} vs {published}"
            );
        }
    }

    /// Symmetric O'Brien–Fleming-type spending: α/2 per side.
    fn obf_spend(alpha: f64, t: f64) -> f64 {
        2.0 * (2.0 - 2.0 * normal_cdf(normal_quantile(1.0 - alpha / 4.0) / t.sqrt()))
    }

    fn pocock_spend(alpha: f64, t: f64) -> f64 {
        alpha * (1.0 + (std::f64::consts::E - 1.0) * t).ln()
    }

    #[test]
    fn spending_boundaries_spend_exactly_their_function() {
        let fractions = equal_fractions(5);
        for (kind, spend) in [
            (
                BoundaryKind::SpendingObrienFleming,
                obf_spend as fn(f64, f64) -> f64,
            ),
            (BoundaryKind::SpendingPocock, pocock_spend),
        ] {
            let b = boundaries(kind, 0.05, &fractions).unwrap();
            let first = normal_quantile(1.0 - spend(0.05, fractions[0]) / 2.0);
            assert!((b.critical[0] - first).abs() < 1e-6, "{kind:?}");
            let (total, per_look) = exit_probability(&b.critical, &fractions);
            let mut cumulative = 0.0;
            for (k, p) in per_look.iter().enumerate() {
                cumulative += p;
                let want = spend(0.05, fractions[k]);
                assert!((cumulative - want).abs() < 1e-6, "{kind:?} look {k}");
            }
            assert!((total - 0.05).abs() < 1e-6);
        }
    }

    #[test]
    fn obrien_fleming_type_spending_matches_published_boundaries() {
        // The tabulated Lan–DeMets O'Brien–Fleming boundaries for five equal
        // looks at two-sided 0.05 (gsDesign sfLDOF, ldbounds).
        let b = boundaries(
            BoundaryKind::SpendingObrienFleming,
            0.05,
            &equal_fractions(5),
        )
        .unwrap();
        for (c, published) in b.critical.iter().zip([4.877, 3.357, 2.680, 2.290, 2.031]) {
            assert!((c - published).abs() < 0.0015, "{c} vs {published}");
        }
        let (total, _) = exit_probability(&b.critical, &equal_fractions(5));
        assert!((total - 0.05).abs() < 1e-9);
    }

    #[test]
    fn pocock_type_spending_matches_published_boundaries() {
        // Lan–DeMets Pocock-type, five equal looks, two-sided 0.05 (the same
        // as one-sided 0.025 per side: this function is linear in alpha).
        let b = boundaries(BoundaryKind::SpendingPocock, 0.05, &equal_fractions(5)).unwrap();
        for (c, published) in b.critical.iter().zip([2.438, 2.427, 2.410, 2.397, 2.386]) {
            assert!((c - published).abs() < 0.0015, "{c} vs {published}");
        }
    }

    #[test]
    fn obrien_fleming_type_spending_first_look_is_closed_form() {
        // Each side spends 2 − 2Φ(z_{1−α/4}/√t_1) at the first look, so the
        // first boundary is the one-sided quantile of that.
        let b = boundaries(
            BoundaryKind::SpendingObrienFleming,
            0.05,
            &equal_fractions(5),
        )
        .unwrap();
        let per_side = 2.0 - 2.0 * normal_cdf(normal_quantile(1.0 - 0.05 / 4.0) / 0.2f64.sqrt());
        assert!((b.critical[0] - normal_quantile(1.0 - per_side)).abs() < 1e-5);
        assert!(b.critical.windows(2).all(|w| w[0] > w[1]));
    }

    /// Monte Carlo exit probabilities of a boundary (total and per look).
    fn simulate(critical: &[f64], fractions: &[f64], paths: usize, seed: u64) -> Vec<f64> {
        use rand::RngExt;
        use rand_chacha::ChaCha8Rng;
        use rand_core::SeedableRng;
        use rand_distr::StandardNormal;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut exits = vec![0usize; critical.len()];
        for _ in 0..paths {
            let mut s = 0.0;
            let mut t_prev = 0.0;
            for (k, (&c, &t)) in critical.iter().zip(fractions).enumerate() {
                let step: f64 = rng.sample(StandardNormal);
                s += step * (t - t_prev).sqrt();
                t_prev = t;
                if (s / t.sqrt()).abs() >= c {
                    exits[k] += 1;
                    break;
                }
            }
        }
        exits.iter().map(|&e| e as f64 / paths as f64).collect()
    }

    #[test]
    fn exit_probability_agrees_with_monte_carlo() {
        let paths = 200_000;
        let pocock = boundaries(BoundaryKind::Pocock, 0.05, &equal_fractions(5)).unwrap();
        let cases = [
            (pocock.critical.clone(), pocock.fractions),
            (vec![2.5, 2.2, 2.0], vec![0.2, 0.5, 1.0]),
        ];
        for (seed, (critical, fractions)) in cases.iter().enumerate() {
            let (exact, per_look) = exit_probability(critical, fractions);
            let mc = simulate(critical, fractions, paths, 7 + seed as u64);
            let check = |exact: f64, mc: f64| {
                let se = (exact * (1.0 - exact) / paths as f64).sqrt();
                assert!(
                    (mc - exact).abs() < 4.0 * se,
                    "{critical:?} at {fractions:?}: MC {mc} vs exact {exact} (se {se})"
                );
            };
            check(exact, mc.iter().sum());
            for (&e, &m) in per_look.iter().zip(&mc) {
                check(e, m);
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let f = equal_fractions(3);
        for alpha in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            assert!(matches!(
                boundaries(BoundaryKind::Pocock, alpha, &f),
                Err(BoundaryError::Alpha(_))
            ));
        }
        assert_eq!(
            boundaries(BoundaryKind::Pocock, 0.05, &[]),
            Err(BoundaryError::NoLooks)
        );
        for bad in [
            vec![0.5, 0.5, 1.0],
            vec![0.6, 0.3, 1.0],
            vec![0.0, 0.5, 1.0],
            vec![-0.2, 1.0],
            vec![0.5, f64::NAN, 1.0],
            vec![0.5, f64::INFINITY],
        ] {
            for kind in [
                BoundaryKind::Pocock,
                BoundaryKind::OBrienFleming,
                BoundaryKind::SpendingObrienFleming,
                BoundaryKind::SpendingPocock,
            ] {
                assert!(
                    matches!(
                        boundaries(kind, 0.05, &bad),
                        Err(BoundaryError::Fraction { .. })
                    ),
                    "{bad:?}"
                );
            }
        }
        assert_eq!(
            boundaries(BoundaryKind::Pocock, 0.05, &[0.5, 0.9]),
            Err(BoundaryError::LastNotOne(0.9))
        );
        assert!(matches!(
            boundaries(BoundaryKind::Pocock, 0.05, &[0.5, 1.2]),
            Err(BoundaryError::LastNotOne(_))
        ));

        let (total, per_look) = exit_probability(&[2.0, 2.0], &[0.5]);
        assert!(total.is_nan() && per_look.len() == 2 && per_look[0].is_nan());
        let (total, _) = exit_probability(&[2.0, 2.0], &[0.5, 0.5]);
        assert!(total.is_nan());
        let (total, _) = exit_probability(&[2.0, f64::NAN], &[0.5, 1.0]);
        assert!(total.is_nan());
        assert_eq!(exit_probability(&[], &[]), (0.0, vec![]));
        assert!(equal_fractions(0).is_empty());
    }

    #[test]
    fn extreme_critical_values_are_clamped() {
        let (total, per_look) = exit_probability(&[f64::INFINITY, 1.96], &[0.5, 1.0]);
        assert!((total - 0.05).abs() < 1e-4, "{total}");
        assert_eq!(per_look[0], 0.0);
        let (total, per_look) = exit_probability(&[2.0, -1.0, 3.0], &[0.3, 0.6, 1.0]);
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert_eq!(per_look[2], 0.0);
        // Fractions need not end at 1: only their ratios matter.
        let (a, _) = exit_probability(&[2.2, 2.1], &[0.4, 1.0]);
        let (b, _) = exit_probability(&[2.2, 2.1], &[2.0, 5.0]);
        assert!((a - b).abs() < 1e-12);
    }

    #[test]
    fn one_look_is_the_fixed_sample_test() {
        for kind in [
            BoundaryKind::Pocock,
            BoundaryKind::OBrienFleming,
            BoundaryKind::SpendingObrienFleming,
            BoundaryKind::SpendingPocock,
        ] {
            let b = boundaries(kind, 0.05, &[1.0]).unwrap();
            assert!((b.critical[0] - 1.959964).abs() < 1e-6, "{kind:?}");
        }
    }

    #[test]
    fn unequal_spacing_holds_alpha() {
        let fractions = [0.3, 0.6, 1.0];
        for kind in [
            BoundaryKind::Pocock,
            BoundaryKind::OBrienFleming,
            BoundaryKind::SpendingObrienFleming,
            BoundaryKind::SpendingPocock,
        ] {
            let b = boundaries(kind, 0.05, &fractions).unwrap();
            let (total, _) = exit_probability(&b.critical, &fractions);
            assert!((total - 0.05).abs() < 1e-9, "{kind:?}: {total}");
            if kind == BoundaryKind::OBrienFleming {
                let c = b.critical[2];
                assert!((b.critical[0] - c / 0.3f64.sqrt()).abs() < 1e-12);
            }
        }
        // Pocock at unequal spacing lies between the fixed test and Bonferroni.
        let c = boundaries(BoundaryKind::Pocock, 0.05, &fractions)
            .unwrap()
            .critical[0];
        assert!(c > 1.959964 && c < normal_quantile(1.0 - 0.05 / 6.0));
    }

    #[test]
    fn grid_refinement_changes_nothing_visible() {
        // Same recursion on the finest grid: the quadrature error of the
        // default grid is far below anything reported.
        let fractions = equal_fractions(20);
        let critical = vec![2.0; 20];
        let coarse = first_exits(&critical, &fractions);
        let mut fine = Integrator::new(&fractions);
        fine.half_base = half_base_grid(M_MAX);
        let mut fine_exits = Vec::new();
        for (k, &t) in fractions.iter().enumerate() {
            fine_exits.push(fine.exit(t, critical[k]));
            fine.advance(t, critical[k]);
        }
        let a: f64 = coarse.iter().sum();
        let b: f64 = fine_exits.iter().sum();
        assert!((a - b).abs() < 1e-8, "{a} vs {b}");
    }

    #[test]
    fn kind_serialises_in_snake_case() {
        let json = serde_json::to_string(&BoundaryKind::SpendingObrienFleming).unwrap();
        assert_eq!(json, "\"spending_obrien_fleming\"");
        let json = serde_json::to_string(&BoundaryKind::OBrienFleming).unwrap();
        assert_eq!(json, "\"obrien_fleming\"");
    }
}

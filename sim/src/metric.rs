//! Metric distributions and their per-unit samplers.
//!
//! Every sampler is an inverse CDF over a fixed number of stream words, so a
//! unit's value under any arm comes from the same uniforms (common random
//! numbers) and the per-unit stride is fixed: no rejection loops whose word
//! consumption would depend on the parameters.

use serde::{Deserialize, Serialize};
use statrs::function::erf::erfc_inv;

use crate::rng::{join_words, open_unit_f64, u32_threshold};

/// A metric's distribution in one (segment, arm) cell.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Distribution {
    /// Conversion: 1 with probability `p`, else 0.
    Bernoulli {
        /// Probability of a 1, in [0, 1].
        p: f64,
    },
    /// Continuous: Normal(mean, sd²).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (≥ 0).
        sd: f64,
    },
    /// Heavy-tailed revenue: 0 with probability 1 − `p_nonzero`, else
    /// exp(Normal(`log_mean`, `log_sd`²)).
    Revenue {
        /// Probability of a non-zero value (a purchase), in [0, 1].
        p_nonzero: f64,
        /// Mean of the log of a non-zero value.
        log_mean: f64,
        /// Standard deviation of the log of a non-zero value (≥ 0).
        log_sd: f64,
    },
    /// Counts: Poisson(`lambda`).
    Count {
        /// Poisson mean (at most [`MAX_POISSON_LAMBDA`]).
        lambda: f64,
    },
}

/// Largest Poisson mean we tabulate; the inverse-CDF table grows with λ.
pub const MAX_POISSON_LAMBDA: f64 = 10_000.0;

/// Largest |mean| and standard deviation of a metric in any cell (baseline or
/// lifted), and of a Gaussian bandit arm's mean and its reward noise. A draw
/// lies within about 9.4 standard deviations of its mean (the inverse normal
/// CDF of a 64-bit uniform), so values stay below 10^10.1, their squares below
/// 10^20.2, and sums of squares over 10^9 units below 10^29.2: finite, and
/// the per-replication estimates summed over 10^7 replications stay inside
/// the ±1.5·10^26 range of the exact fixed-point sums. Mean = sd = 10^300 used
/// to overflow to infinity and report a false-positive rate of 1.
pub const MAX_MAGNITUDE: f64 = 1e9;

impl Distribution {
    /// Stream words a unit consumes for one draw.
    pub const fn stride(&self) -> usize {
        match self {
            Distribution::Bernoulli { .. } => 1,
            Distribution::Normal { .. } | Distribution::Count { .. } => 2,
            Distribution::Revenue { .. } => 3,
        }
    }

    /// The distribution's mean.
    pub fn mean(&self) -> f64 {
        match *self {
            Distribution::Bernoulli { p } => p,
            Distribution::Normal { mean, .. } => mean,
            Distribution::Revenue {
                p_nonzero,
                log_mean,
                log_sd,
            } => p_nonzero * (log_mean + log_sd * log_sd / 2.0).exp(),
            Distribution::Count { lambda } => lambda,
        }
    }

    /// The distribution's variance.
    pub fn variance(&self) -> f64 {
        match *self {
            Distribution::Bernoulli { p } => p * (1.0 - p),
            Distribution::Normal { sd, .. } => sd * sd,
            Distribution::Revenue {
                p_nonzero,
                log_mean,
                log_sd,
            } => {
                let s2 = log_sd * log_sd;
                let second = p_nonzero * (2.0 * log_mean + 2.0 * s2).exp();
                second - self.mean().powi(2)
            }
            Distribution::Count { lambda } => lambda,
        }
    }

    /// The `q`-quantile and the density there, for the continuous families a
    /// quantile metric may be over: normal, and revenue above its point mass
    /// at 0 (`q > 1 − p_nonzero`). None for the others.
    pub fn quantile_and_density(&self, q: f64) -> Option<(f64, f64)> {
        use crate::stats::normal_quantile;
        let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        match *self {
            Distribution::Normal { mean, sd } => {
                let z = normal_quantile(q);
                Some((mean + sd * z, phi(z) / sd))
            }
            Distribution::Revenue {
                p_nonzero,
                log_mean,
                log_sd,
            } if q > 1.0 - p_nonzero => {
                let z = normal_quantile((q - (1.0 - p_nonzero)) / p_nonzero);
                let x = (log_mean + log_sd * z).exp();
                Some((x, p_nonzero * phi(z) / (x * log_sd)))
            }
            _ => None,
        }
    }

    /// Whether the mean and standard deviation are within [`MAX_MAGNITUDE`],
    /// which keeps every sum the engine forms from the draws finite.
    pub fn within_magnitude(&self) -> bool {
        let cap = MAX_MAGNITUDE;
        let var = self.variance();
        // NaN fails every comparison, so a NaN mean or variance is out.
        self.mean().abs() <= cap && var <= cap * cap
    }

    /// The `type` a scenario writes: `bernoulli`, `normal`, `revenue` or `count`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Distribution::Bernoulli { .. } => "bernoulli",
            Distribution::Normal { .. } => "normal",
            Distribution::Revenue { .. } => "revenue",
            Distribution::Count { .. } => "count",
        }
    }

    /// Whether values are 0 or 1 only (Bernoulli).
    pub fn is_binary(&self) -> bool {
        matches!(self, Distribution::Bernoulli { .. })
    }

    /// The same distribution with its mean moved to `mean`, the way a treatment
    /// moves it: a shifted probability, mean or rate; for revenue, the non-zero
    /// values scaled (so the conversion-to-purchase rate is unchanged). Returns
    /// None when the new mean is outside the family's range, or the new
    /// distribution is not [`within_magnitude`](Self::within_magnitude).
    pub fn with_mean(&self, mean: f64) -> Option<Distribution> {
        if !mean.is_finite() {
            return None;
        }
        let moved = match *self {
            Distribution::Bernoulli { .. } => (0.0..=1.0)
                .contains(&mean)
                .then_some(Distribution::Bernoulli { p: mean }),
            Distribution::Normal { sd, .. } => Some(Distribution::Normal { mean, sd }),
            Distribution::Revenue {
                p_nonzero,
                log_mean,
                log_sd,
            } => {
                let base = self.mean();
                (mean > 0.0 && base > 0.0).then(|| Distribution::Revenue {
                    p_nonzero,
                    log_mean: log_mean + (mean / base).ln(),
                    log_sd,
                })
            }
            Distribution::Count { .. } => (0.0..=MAX_POISSON_LAMBDA)
                .contains(&mean)
                .then_some(Distribution::Count { lambda: mean }),
        };
        moved.filter(Distribution::within_magnitude)
    }
}

/// Φ⁻¹(u) for u in (0, 1), through statrs' erfc⁻¹ (accurate to a few ulps).
#[inline]
pub fn standard_normal_from_unit(u: f64) -> f64 {
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * u)
}

/// A cap on a metric's values, applied in the analysis (the truth stays
/// uncapped, so a cap's bias shows against it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cap {
    /// Every value above this is analysed as this.
    Absolute(f64),
    /// Values are capped at this quantile of the replication's values of
    /// both arms together (winsorising at the top, as platforms cap).
    Quantile(f64),
}

impl Distribution {
    /// P(X ≤ x), for the families a cap applies to (not Bernoulli).
    pub fn cdf(&self, x: f64) -> f64 {
        use crate::stats::normal_cdf;
        match *self {
            Distribution::Bernoulli { p } => {
                if x < 0.0 {
                    0.0
                } else if x < 1.0 {
                    1.0 - p
                } else {
                    1.0
                }
            }
            Distribution::Normal { mean, sd } => normal_cdf((x - mean) / sd),
            Distribution::Revenue {
                p_nonzero,
                log_mean,
                log_sd,
            } => {
                if x < 0.0 {
                    0.0
                } else if x == 0.0 {
                    1.0 - p_nonzero
                } else {
                    1.0 - p_nonzero + p_nonzero * normal_cdf((x.ln() - log_mean) / log_sd)
                }
            }
            Distribution::Count { lambda } => {
                if x < 0.0 {
                    return 0.0;
                }
                let (mut p, mut cdf) = ((-lambda).exp(), 0.0);
                for k in 0..=(x.floor() as u64).min(1_000_000) {
                    if k > 0 {
                        p *= lambda / k as f64;
                    }
                    cdf += p;
                }
                cdf.min(1.0)
            }
        }
    }

    /// Mean and variance of min(X, c): what the analysis sees of a metric
    /// capped at c. Closed forms for normal and revenue (truncated normal
    /// and log-normal partial moments), a sum over the pmf for counts.
    pub fn capped_moments(&self, c: f64) -> (f64, f64) {
        use crate::stats::normal_cdf;
        if c == f64::INFINITY {
            // No cap: c·P(X > c) would be ∞·0.
            return (self.mean(), self.variance());
        }
        let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let (m1, m2) = match *self {
            Distribution::Bernoulli { p } => {
                let v = c.clamp(0.0, 1.0);
                (p * v, p * v * v)
            }
            Distribution::Normal { mean, sd } => {
                let a = (c - mean) / sd;
                let (big, small) = (normal_cdf(a), phi(a));
                let m1 = mean * big - sd * small + c * (1.0 - big);
                let m2 =
                    (mean * mean + sd * sd) * big - sd * small * (mean + c) + c * c * (1.0 - big);
                (m1, m2)
            }
            Distribution::Revenue {
                p_nonzero,
                log_mean,
                log_sd,
            } => {
                if c <= 0.0 {
                    (0.0, 0.0)
                } else {
                    let (mu, s) = (log_mean, log_sd);
                    let above = 1.0 - normal_cdf((c.ln() - mu) / s);
                    let m1 = (mu + s * s / 2.0).exp() * normal_cdf((c.ln() - mu - s * s) / s)
                        + c * above;
                    let m2 = (2.0 * mu + 2.0 * s * s).exp()
                        * normal_cdf((c.ln() - mu - 2.0 * s * s) / s)
                        + c * c * above;
                    (p_nonzero * m1, p_nonzero * m2)
                }
            }
            Distribution::Count { lambda } => {
                let (mut p, mut m1, mut m2, mut below) = ((-lambda).exp(), 0.0, 0.0, 0.0);
                let top = c.floor().max(0.0) as u64;
                for k in 0..=top.min(1_000_000) {
                    if k > 0 {
                        p *= lambda / k as f64;
                    }
                    let v = (k as f64).min(c);
                    m1 += v * p;
                    m2 += v * v * p;
                    below += p;
                }
                let rest = (1.0 - below).max(0.0);
                (m1 + c * rest, m2 + c * c * rest)
            }
        };
        (m1, (m2 - m1 * m1).max(0.0))
    }
}

/// The q-quantile of a mixture of `cells` with `weights` (both arms'
/// values pooled, as a quantile cap is taken), by bisection on the CDF.
pub fn mixture_quantile(cells: &[(f64, Distribution)], q: f64) -> f64 {
    let cdf = |x: f64| cells.iter().map(|(w, d)| w * d.cdf(x)).sum::<f64>();
    let spread = |d: &Distribution| d.mean().abs() + 40.0 * d.variance().sqrt() + 1.0;
    let mut hi = cells.iter().map(|(_, d)| spread(d)).fold(1.0, f64::max);
    let mut lo = -hi;
    while cdf(hi) < q && hi < 1e300 {
        hi *= 2.0;
    }
    while cdf(lo) >= q && lo > -1e300 {
        lo *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) >= q {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// A distribution prepared for fast sampling from raw stream words.
#[derive(Clone, Debug)]
pub enum Sampler {
    /// Bernoulli: 1 when the word is below `threshold`.
    Bernoulli {
        /// P(1) × 2^32: a word below it draws a 1.
        threshold: u64,
    },
    /// Normal by the inverse CDF of a 64-bit uniform.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
    /// Revenue: a Bernoulli word for non-zero, then a log-normal value.
    Revenue {
        /// P(non-zero) × 2^32: a first word below it draws a non-zero value.
        nonzero_threshold: u64,
        /// Mean of the log of a non-zero value.
        log_mean: f64,
        /// Standard deviation of the log of a non-zero value.
        log_sd: f64,
    },
    /// Poisson by inverse CDF: `cdf[k]` = P(X ≤ k), tabulated until it reaches 1
    /// in double precision.
    Count {
        /// `cdf[k]` = P(X ≤ k).
        cdf: Vec<f64>,
    },
}

impl Sampler {
    /// Prepares `d` for sampling (thresholds, or the Poisson CDF table).
    pub fn new(d: &Distribution) -> Sampler {
        match *d {
            Distribution::Bernoulli { p } => Sampler::Bernoulli {
                threshold: u32_threshold(p),
            },
            Distribution::Normal { mean, sd } => Sampler::Normal { mean, sd },
            Distribution::Revenue {
                p_nonzero,
                log_mean,
                log_sd,
            } => Sampler::Revenue {
                nonzero_threshold: u32_threshold(p_nonzero),
                log_mean,
                log_sd,
            },
            Distribution::Count { lambda } => Sampler::Count {
                cdf: poisson_cdf_table(lambda),
            },
        }
    }

    /// One draw from exactly `stride()` words.
    #[inline]
    pub fn sample(&self, words: &[u32]) -> f64 {
        match self {
            Sampler::Bernoulli { threshold } => {
                f64::from(u8::from(u64::from(words[0]) < *threshold))
            }
            Sampler::Normal { mean, sd } => {
                mean + sd * standard_normal_from_unit(open_unit_f64(join_words(words[0], words[1])))
            }
            Sampler::Revenue {
                nonzero_threshold,
                log_mean,
                log_sd,
            } => {
                if u64::from(words[0]) < *nonzero_threshold {
                    let z =
                        standard_normal_from_unit(open_unit_f64(join_words(words[1], words[2])));
                    (log_mean + log_sd * z).exp()
                } else {
                    0.0
                }
            }
            Sampler::Count { cdf } => {
                let u = open_unit_f64(join_words(words[0], words[1]));
                // First k with cdf[k] > u; the table ends at 1.0 so it exists.
                cdf.partition_point(|&c| c <= u) as f64
            }
        }
    }
}

/// P(X ≤ k) for Poisson(λ), k = 0, 1, …, until it rounds to 1. Computed with the
/// pmf recurrence in log space from the mode outwards would be more precise for
/// huge λ; up to MAX_POISSON_LAMBDA the forward recurrence started from the
/// log-pmf at 0 underflows, so we start it from the mode instead.
fn poisson_cdf_table(lambda: f64) -> Vec<f64> {
    if lambda <= 0.0 {
        return vec![1.0];
    }
    let mode = lambda.floor() as usize;
    let upper = mode + 12 + (12.0 * lambda.sqrt()).ceil() as usize;
    // pmf at the mode via lgamma, then the ratio recurrence both ways.
    let ln_mode =
        mode as f64 * lambda.ln() - lambda - statrs::function::gamma::ln_gamma(mode as f64 + 1.0);
    let mut pmf = vec![0.0; upper + 1];
    pmf[mode] = ln_mode.exp();
    for k in (0..mode).rev() {
        pmf[k] = pmf[k + 1] * (k + 1) as f64 / lambda;
    }
    for k in mode + 1..=upper {
        pmf[k] = pmf[k - 1] * lambda / k as f64;
    }
    let mut cdf = Vec::with_capacity(upper + 1);
    let mut acc = 0.0;
    for p in pmf {
        acc += p;
        cdf.push(acc.min(1.0));
    }
    // The table's tail mass beyond `upper` is below 1e-30; pin the last entry to
    // exactly 1 so every uniform in (0, 1) finds a k.
    if let Some(last) = cdf.last_mut() {
        *last = 1.0;
    }
    cdf
}

#[cfg(test)]
mod tests {

    /// min(X, c)'s mean and variance against midpoint-rule integration over
    /// the density (normal, log-normal part of revenue) or the pmf (counts),
    /// and the pooled-quantile bisection against the CDF it inverts.
    #[test]
    fn capped_moments_match_numerical_integration() {
        let integrate = |pdf: &dyn Fn(f64) -> f64, lo: f64, hi: f64, c: f64| {
            let steps = 400_000u32;
            let h = (hi - lo) / f64::from(steps);
            let (mut m1, mut m2) = (0.0, 0.0);
            for i in 0..steps {
                let x = lo + (f64::from(i) + 0.5) * h;
                let (v, w) = (x.min(c), pdf(x) * h);
                m1 += v * w;
                m2 += v * v * w;
            }
            (m1, m2 - m1 * m1)
        };
        let normal = Distribution::Normal { mean: 5.0, sd: 2.0 };
        let pdf = |x: f64| {
            (-0.5 * ((x - 5.0) / 2.0f64).powi(2)).exp()
                / (2.0 * (2.0 * std::f64::consts::PI).sqrt())
        };
        for c in [3.0, 5.0, 8.0] {
            let (m, v) = normal.capped_moments(c);
            let (mi, vi) = integrate(&pdf, -20.0, 30.0, c);
            assert!(
                (m - mi).abs() < 1e-8 && (v - vi).abs() < 1e-7,
                "normal c {c}: {m} {v} vs {mi} {vi}"
            );
        }
        // Revenue with p_nonzero = 1: a log-normal, integrated in log space.
        let rev = Distribution::Revenue {
            p_nonzero: 1.0,
            log_mean: 1.0,
            log_sd: 0.7,
        };
        let log_pdf = |y: f64| {
            (-0.5 * ((y - 1.0) / 0.7f64).powi(2)).exp()
                / (0.7 * (2.0 * std::f64::consts::PI).sqrt())
        };
        for c in [1.0, 3.0, 10.0] {
            let (m, v) = rev.capped_moments(c);
            let steps = 400_000u32;
            let (lo, hi) = (-8.0, 10.0);
            let h = (hi - lo) / f64::from(steps);
            let (mut m1, mut m2) = (0.0, 0.0);
            for i in 0..steps {
                let y = lo + (f64::from(i) + 0.5) * h;
                let x = y.exp().min(c);
                m1 += x * log_pdf(y) * h;
                m2 += x * x * log_pdf(y) * h;
            }
            let vi = m2 - m1 * m1;
            assert!(
                (m - m1).abs() < 1e-7 && (v - vi).abs() < 1e-6,
                "revenue c {c}: {m} {v} vs {m1} {vi}"
            );
        }
        let count = Distribution::Count { lambda: 4.0 };
        let (m, v) = count.capped_moments(5.0);
        let (mut p, mut m1, mut m2) = ((-4.0f64).exp(), 0.0, 0.0);
        for k in 0..200 {
            if k > 0 {
                p *= 4.0 / f64::from(k);
            }
            let x = f64::from(k).min(5.0);
            m1 += x * p;
            m2 += x * x * p;
        }
        assert!((m - m1).abs() < 1e-12 && (v - (m2 - m1 * m1)).abs() < 1e-12);
        // No cap in reach: the plain moments.
        let (m, v) = normal.capped_moments(f64::INFINITY);
        assert!(
            (m - 5.0).abs() < 1e-12 && (v - 4.0).abs() < 1e-12,
            "{m} {v}"
        );
        let cells = [
            (0.5, normal),
            (0.5, Distribution::Normal { mean: 6.0, sd: 2.0 }),
        ];
        let q = mixture_quantile(&cells, 0.99);
        let cdf = 0.5 * normal.cdf(q) + 0.5 * cells[1].1.cdf(q);
        assert!((cdf - 0.99).abs() < 1e-12, "{q}: {cdf}");
    }

    use super::*;

    #[test]
    fn poisson_table_matches_pmf() {
        let cdf = poisson_cdf_table(3.0);
        let p0 = (-3.0f64).exp();
        assert!((cdf[0] - p0).abs() < 1e-15);
        assert!((cdf[1] - p0 * 4.0).abs() < 1e-15);
        let big = poisson_cdf_table(5000.0);
        // median of Poisson(5000) ≈ 5000 - 1/3 + ...
        let med = big.partition_point(|&c| c <= 0.5);
        assert_eq!(med, 5000);
    }

    #[test]
    fn means_and_lifts() {
        let r = Distribution::Revenue {
            p_nonzero: 0.1,
            log_mean: 2.0,
            log_sd: 1.0,
        };
        let lifted = r.with_mean(r.mean() * 1.1).unwrap();
        assert!((lifted.mean() / r.mean() - 1.1).abs() < 1e-12);
        assert!(Distribution::Bernoulli { p: 0.9 }.with_mean(1.2).is_none());
        assert!((standard_normal_from_unit(0.975) - 1.959963984540054).abs() < 1e-12);
    }
}

//! Clustered units: users randomised as a whole whose metrics are observed
//! per event (sessions, page views). Holds the events-per-user distribution
//! ([`EventsPerUnit`]) and its exact inverse-CDF sampler ([`EventCounts`]),
//! the within-user correlation of a metric and the unit it is analysed at
//! ([`Clustering`], [`AnalysisUnit`]), and the design effect that says how
//! much treating events as independent understates the variance.
//!
//! The correlation model is the copy construction the covariate already
//! uses: each user has a latent value drawn from the metric's distribution,
//! and each event copies it with probability `√icc`, else draws its own.
//! Every event is then exactly the metric's distribution, and two events of
//! one user correlate exactly `icc` (their covariance is
//! `P(both copy)·Var = icc·Var`), for every distribution family.

use serde::{Deserialize, Serialize};

use crate::rng::join_words;

/// Largest number of events one user can have: the sampler's table ends here.
pub const MAX_EVENTS_PER_UNIT: u32 = 10_000;

/// Probability mass a distribution may put beyond [`MAX_EVENTS_PER_UNIT`]
/// (the sampler never draws it, so more would bias the simulation).
pub const MAX_TAIL: f64 = 1e-12;

/// How many events a randomised user has in one replication.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "snake_case")]
pub enum EventsPerUnit {
    /// Every user has exactly `count` events.
    Fixed {
        /// Events per user (1 to [`MAX_EVENTS_PER_UNIT`]).
        count: u32,
    },
    /// Poisson(`mean`): some users have none.
    Poisson {
        /// The mean number of events.
        mean: f64,
    },
    /// Negative binomial with mean `mu` and size `size` (variance
    /// `mu + mu²/size`, as R's `dnbinom(mu =, size =)`), conditioned on at
    /// least one event: every user shows up, and a few are heavy users.
    ZtNegativeBinomial {
        /// Mean of the negative binomial before truncation.
        mu: f64,
        /// Its size (dispersion) parameter; smaller is heavier-tailed.
        size: f64,
    },
}

impl EventsPerUnit {
    /// The distribution's probabilities `pmf[k] = P(k events)` for k up to
    /// where the rest is below f64 resolution or [`MAX_EVENTS_PER_UNIT`], and
    /// the mass beyond the table.
    fn pmf(&self) -> (Vec<f64>, f64) {
        let cap = MAX_EVENTS_PER_UNIT as usize;
        let mut pmf = Vec::new();
        match *self {
            EventsPerUnit::Fixed { count } => {
                pmf.resize(count as usize, 0.0);
                pmf.push(1.0);
                return (pmf, 0.0);
            }
            EventsPerUnit::Poisson { mean } => {
                // In log space: e^-mean underflows for means past ~745.
                let mut log_p = -mean;
                for k in 0..=cap {
                    if k > 0 {
                        log_p += mean.ln() - (k as f64).ln();
                    }
                    pmf.push(log_p.exp());
                    if k as f64 > mean && log_p < -800.0 {
                        break;
                    }
                }
            }
            EventsPerUnit::ZtNegativeBinomial { mu, size } => {
                let q = mu / (size + mu);
                // ln P(0) = size · ln(size / (size + mu)), written with ln_1p
                // so that a large size keeps its precision.
                let log_p0 = -size * (mu / size).ln_1p();
                let p0 = log_p0.exp();
                let mut log_p = log_p0;
                pmf.push(0.0);
                for k in 1..=cap {
                    log_p += ((k - 1) as f64 + size).ln() - (k as f64).ln() + q.ln();
                    pmf.push(log_p.exp() / (1.0 - p0));
                    if k as f64 > mu && log_p < -800.0 {
                        break;
                    }
                }
            }
        }
        let total: f64 = pmf.iter().sum();
        (pmf, (1.0 - total).max(0.0))
    }

    /// Checks the parameters: the mass beyond [`MAX_EVENTS_PER_UNIT`] must be
    /// below [`MAX_TAIL`]. The message names what to lower.
    pub fn validate(&self) -> Result<(), String> {
        let finite_positive = |x: f64| x.is_finite() && x > 0.0;
        match *self {
            EventsPerUnit::Fixed { count } if !(1..=MAX_EVENTS_PER_UNIT).contains(&count) => {
                return Err(format!(
                    "count must be 1 to {MAX_EVENTS_PER_UNIT}, found {count}"
                ));
            }
            EventsPerUnit::Poisson { mean } if !finite_positive(mean) || mean > 1000.0 => {
                return Err(format!("mean must be in (0, 1000], found {mean}"));
            }
            EventsPerUnit::ZtNegativeBinomial { mu, size }
                if !finite_positive(mu) || mu > 1000.0 || !finite_positive(size) || size > 1e6 =>
            {
                return Err(format!(
                    "mu must be in (0, 1000] and size in (0, 1e6], found mu = {mu}, size = {size}"
                ));
            }
            _ => {}
        }
        let (_, tail) = self.pmf();
        if tail > MAX_TAIL {
            return Err(format!(
                "puts {tail:.1e} of its mass beyond {MAX_EVENTS_PER_UNIT} events per user \
                 (at most {MAX_TAIL:.0e}); lower the mean or raise size"
            ));
        }
        Ok(())
    }

    /// The name a scenario writes for the distribution.
    pub fn name(&self) -> &'static str {
        match self {
            EventsPerUnit::Fixed { .. } => "fixed",
            EventsPerUnit::Poisson { .. } => "poisson",
            EventsPerUnit::ZtNegativeBinomial { .. } => "zt_negative_binomial",
        }
    }
}

/// Moments of the events per user, from the sampler's own table, so the
/// design-effect prediction is exact for what is simulated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EventMoments {
    /// E[m].
    pub mean: f64,
    /// E[m²].
    pub mean_sq: f64,
    /// P(m ≥ 1): the share of users with any event.
    pub p_any: f64,
    /// E[1/m | m ≥ 1].
    pub mean_inverse: f64,
}

impl EventMoments {
    /// The size-weighted mean cluster size E[m²]/E[m]: what `m̄` is in the
    /// design effect when cluster sizes vary.
    pub fn weighted_size(&self) -> f64 {
        self.mean_sq / self.mean
    }

    /// The design effect of a per-event mean when events of one user
    /// correlate `icc`: `1 + (E[m²]/E[m] − 1)·icc`. The variance of the
    /// pooled mean is this many times what treating events as independent
    /// assumes (Kish; for equal sizes `1 + (m − 1)·icc`).
    pub fn design_effect(&self, icc: f64) -> f64 {
        1.0 + (self.weighted_size() - 1.0) * icc
    }
}

/// The exact inverse-CDF sampler of an [`EventsPerUnit`]: one 64-bit word
/// (two stream words) per user, whatever the distribution.
#[derive(Clone, Debug)]
pub struct EventCounts {
    /// `thresholds[k]`: a word below it and at or above `thresholds[k − 1]`
    /// gives k events. The last is `u64::MAX`, so every word lands.
    thresholds: Vec<u64>,
    moments: EventMoments,
}

impl EventCounts {
    /// Stream words one user's count consumes.
    pub const STRIDE: usize = 2;

    /// The sampler of a validated distribution.
    pub fn new(d: &EventsPerUnit) -> Self {
        let (pmf, _) = d.pmf();
        let scale = 2f64.powi(64);
        let mut cdf = 0.0;
        let mut thresholds: Vec<u64> = pmf
            .iter()
            .map(|p| {
                cdf += p;
                // Saturating cast: a CDF that rounds to 1 maps to u64::MAX.
                (cdf * scale) as u64
            })
            .collect();
        if let Some(last) = thresholds.last_mut() {
            *last = u64::MAX;
        }
        let (mut mean, mut mean_sq, mut p_any, mut inv) = (0.0, 0.0, 0.0, 0.0);
        let total: f64 = pmf.iter().sum();
        for (k, p) in pmf.iter().enumerate() {
            let (k, p) = (k as f64, p / total);
            mean += k * p;
            mean_sq += k * k * p;
            if k >= 1.0 {
                p_any += p;
                inv += p / k;
            }
        }
        Self {
            thresholds,
            moments: EventMoments {
                mean,
                mean_sq,
                p_any,
                mean_inverse: if p_any > 0.0 { inv / p_any } else { f64::NAN },
            },
        }
    }

    /// The count for one user from its two stream words.
    #[inline]
    pub fn sample(&self, words: &[u32]) -> u32 {
        let x = join_words(words[0], words[1]);
        // The first k whose threshold is above x; the last is u64::MAX.
        self.thresholds
            .partition_point(|&t| t <= x)
            .min(self.thresholds.len() - 1) as u32
    }

    /// The moments of the counts this sampler draws.
    pub fn moments(&self) -> EventMoments {
        self.moments
    }
}

/// The unit a clustered metric is analysed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisUnit {
    /// Every event an independent observation: the naive analysis, whose
    /// variance is too small by the design effect.
    Event,
    /// Each user's mean over their events (users without events left out),
    /// then the users' means compared: valid, but it weights a light user
    /// as much as a heavy one, so it estimates a different mean.
    User,
    /// Events pooled per arm (Σ values / Σ events) with the delta-method
    /// variance of that ratio over users: what experimentation platforms do.
    Ratio,
}

impl AnalysisUnit {
    /// The name a scenario writes.
    pub fn key(self) -> &'static str {
        match self {
            AnalysisUnit::Event => "event",
            AnalysisUnit::User => "user",
            AnalysisUnit::Ratio => "ratio",
        }
    }
}

/// How a metric is observed per event: with within-user correlation `icc`,
/// analysed at `unit`, over the population's events per user or, for a
/// `type = "ratio"` metric, its own (its denominator: orders per user for
/// revenue per order).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clustering {
    /// Intra-class correlation of two events of one user, in [0, 1].
    pub icc: f64,
    /// The unit of analysis.
    pub unit: AnalysisUnit,
    /// The metric's own events per user (a ratio metric's denominator);
    /// None: the population's `events_per_unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventsPerUnit>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(x: u64) -> [u32; 2] {
        [x as u32, (x >> 32) as u32]
    }

    #[test]
    fn fixed_counts_are_constant_and_their_design_effect_is_kish() {
        let s = EventCounts::new(&EventsPerUnit::Fixed { count: 5 });
        for x in [0, 1, u64::MAX / 2, u64::MAX] {
            assert_eq!(s.sample(&words(x)), 5);
        }
        let m = s.moments();
        assert_eq!((m.mean, m.mean_sq, m.p_any), (5.0, 25.0, 1.0));
        assert!((m.design_effect(0.1) - 1.4).abs() < 1e-12);
    }

    #[test]
    fn poisson_moments_are_the_closed_forms() {
        let s = EventCounts::new(&EventsPerUnit::Poisson { mean: 4.0 });
        let m = s.moments();
        assert!((m.mean - 4.0).abs() < 1e-12, "{m:?}");
        assert!((m.mean_sq - 20.0).abs() < 1e-11, "{m:?}");
        assert!((m.p_any - (1.0 - (-4.0f64).exp())).abs() < 1e-12);
        // Design effect 1 + λ·icc for Poisson sizes.
        assert!((m.design_effect(0.05) - 1.2).abs() < 1e-11);
    }

    /// Zero-truncated NB: E[m] = μ/(1 − p0), E[m²] = (μ + μ²/r + μ²)/(1 − p0).
    #[test]
    fn zero_truncated_negative_binomial_moments_are_the_closed_forms() {
        let (mu, size) = (3.0, 0.8);
        let s = EventCounts::new(&EventsPerUnit::ZtNegativeBinomial { mu, size });
        let p0 = (size / (size + mu)).powf(size);
        let m = s.moments();
        assert!((m.mean - mu / (1.0 - p0)).abs() < 1e-10, "{m:?}");
        let second = (mu + mu * mu / size + mu * mu) / (1.0 - p0);
        assert!((m.mean_sq - second).abs() < 1e-8, "{m:?}");
        assert!((m.p_any - 1.0).abs() < 1e-12, "{m:?}");
        assert_eq!(s.sample(&words(0)), 1);
    }

    /// The sampler's frequencies over an even grid of words are its pmf.
    #[test]
    fn inverse_cdf_frequencies_follow_the_pmf() {
        let d = EventsPerUnit::Poisson { mean: 2.5 };
        let s = EventCounts::new(&d);
        let (pmf, _) = d.pmf();
        let n = 1u64 << 20;
        let mut counts = vec![0u64; pmf.len()];
        for i in 0..n {
            let x = (i << 44) | (i.wrapping_mul(0x9E37_79B9) & 0xFFF_FFFF_FFFF);
            counts[s.sample(&words(x)) as usize] += 1;
        }
        for (k, p) in pmf.iter().enumerate().take(10) {
            let f = counts[k] as f64 / n as f64;
            assert!((f - p).abs() < 1e-5, "k = {k}: {f} vs {p}");
        }
    }

    #[test]
    fn validation_bounds_the_table() {
        assert!(EventsPerUnit::Poisson { mean: 1000.0 }.validate().is_ok());
        assert!(EventsPerUnit::Poisson { mean: 1e4 }.validate().is_err());
        assert!(
            EventsPerUnit::Poisson { mean: f64::NAN }
                .validate()
                .is_err()
        );
        assert!(EventsPerUnit::Fixed { count: 0 }.validate().is_err());
        assert!(EventsPerUnit::Fixed { count: 10_001 }.validate().is_err());
        // Mean 1000 with size 0.01: a tail far past 10,000 events.
        let heavy = EventsPerUnit::ZtNegativeBinomial {
            mu: 1000.0,
            size: 0.01,
        };
        let e = heavy.validate().unwrap_err();
        assert!(e.contains("beyond 10000 events"), "{e}");
        assert!(
            EventsPerUnit::ZtNegativeBinomial { mu: 3.0, size: 0.5 }
                .validate()
                .is_ok()
        );
    }
}

//! The clustered path: users randomised whole, each with a random number of
//! events, every metric observed per event with within-user correlation
//! (`[population] events_per_unit`, see [`crate::cluster`]).
//!
//! Each user gets an arm (one Assignment word against the weights), an event
//! count (two Events words through [`EventCounts`]; a ratio metric's own
//! count from its Denominator stream; one event for a plain metric) and,
//! per metric with `icc > 0`, a latent value (the metric's stride of Outcome
//! words); then each event reads one Outcome word that decides whether it
//! copies the latent value (probability `√icc`) and, if not, a stride of its
//! own. With `icc = 0` each event is just its own stride. The streams are read in order
//! through the replication, so a user's words depend on the counts of the
//! users before it: a function of (seed, replication) alone, as the
//! determinism contract asks, but not seekable per unit.
//!
//! One pass fills the statistics the metric's [`AnalysisUnit`] needs:
//! events as units, each user's mean, or each user's sums for the
//! delta-method ratio (`sum`, `sum_sq` of the user's total; `x_sum`,
//! `x_sum_sq` of their event count; `xy_sum` of the product).
//!
//! A metric with `covariate_correlation = ρ` (a ratio, or a plain metric
//! beside one) gets a pre-period as the per-unit path's covariate is built:
//! one Covariate word per user decides (probability ρ) whether the user's
//! pre-period is their own control-world period (the same words read by the
//! control arm's sampler, and the same event count), else it is an
//! independent user's, drawn from the Covariate stream (a count, then the
//! events) under control. So (M_pre, D_pre) has the joint law of (M, D)
//! under control and covariance ρ·Σ with it, and any linear function of
//! the pair, the ratio's linearisation included, correlates ρ with its
//! pre-period copy: CUPED's variance reduction is ρ² asymptotically. A
//! ratio's pre-period sums go to the replication's `pre`
//! ([`RatioPre`](crate::analysis::ratio::RatioPre)); a plain metric's
//! covariate to `x_sum`, `x_sum_sq`, `xy_sum`, as on the per-unit path.

use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;

use super::ReplicationStats;
use crate::analysis::{ArmStats, quantile};
use crate::cluster::{AnalysisUnit, EventCounts};
use crate::experiment::Experiment;
use crate::metric::Sampler;
use crate::population::Arrivals;
use crate::rng::{Purpose, StreamKey, u32_threshold};

/// Where a metric's events per user come from.
enum Events {
    /// The population's count (one per user, shared by its metrics).
    Population,
    /// The metric's own count (a ratio's denominator), from its own stream.
    Own(StreamKey, EventCounts),
    /// One value per user: a plain metric beside a ratio metric.
    One,
}

struct MetricSim {
    events: Events,
    outcome: StreamKey,
    stride: usize,
    /// One per arm: a clustered population has one segment.
    samplers: Vec<Sampler>,
    /// With a novelty effect, one per (arrival day, arm): `[day * arms + arm]`.
    by_day: Option<Vec<Sampler>>,
    /// An event copies its user's latent value when its word is below this
    /// (probability √icc).
    copy: u64,
    unit: AnalysisUnit,
    /// A quantile metric's level.
    quantile: Option<f64>,
    /// An absolute cap, applied to each value as it is drawn.
    cap: f64,
    /// A quantile cap's level: the cap is taken from the replication's
    /// values, so they are kept and the statistics rebuilt at the end.
    quantile_cap: Option<f64>,
    /// Whether its quantile is over events clustered by user (the
    /// cluster-robust variance) rather than independent values.
    clustered_quantile: bool,
    /// The pre-period covariate's stream and copy threshold (probability ρ).
    covariate: Option<(StreamKey, u64)>,
}

/// A quantile metric's values in one replication: per arm, (user, value).
type Kept = Vec<Vec<(u64, f64)>>;

/// The clustered simulation path (see the module header).
pub struct ClusteredSim {
    users: u64,
    /// Cumulative u32 thresholds of the arm weights.
    arms: Vec<u64>,
    assignment: StreamKey,
    /// The population's events per user, when it has them.
    events: Option<(StreamKey, EventCounts)>,
    /// Users' arrival days, when a lift has a novelty effect.
    arrivals: Option<Arrivals>,
    metrics: Vec<MetricSim>,
}

impl ClusteredSim {
    /// The clustered path of `exp`, when its population has events per unit
    /// or a metric has its own (a ratio metric); validation then guarantees
    /// random assignment, one segment, no faults, and covariates only on
    /// ratio metrics and one-value metrics.
    pub fn new(exp: &Experiment) -> Option<Self> {
        if !exp.is_clustered() {
            return None;
        }
        let seed = exp.seed;
        let days = exp.population.duration_days.ceil().max(1.0) as usize;
        let novelty = (0..exp.metrics.len()).any(|m| exp.has_novelty(m));
        let metrics = exp
            .metrics
            .iter()
            .enumerate()
            .map(|(m, metric)| {
                let (events, c) = match metric.clustering {
                    Some(c) => match c.events {
                        Some(own) => (
                            Events::Own(
                                StreamKey::new(seed, Purpose::Denominator(metric.tag)),
                                EventCounts::new(&own),
                            ),
                            c,
                        ),
                        None => (Events::Population, c),
                    },
                    // A plain metric: each user's one value, as the per-unit
                    // path analyses it.
                    None => (
                        Events::One,
                        crate::cluster::Clustering {
                            icc: 0.0,
                            unit: AnalysisUnit::Event,
                            events: None,
                        },
                    ),
                };
                MetricSim {
                    events,
                    outcome: StreamKey::new(seed, Purpose::Outcome(metric.tag)),
                    stride: metric.baseline.stride(),
                    samplers: (0..exp.arms())
                        .map(|a| Sampler::new(&exp.cell(m, 0, a)))
                        .collect(),
                    by_day: exp.has_novelty(m).then(|| {
                        (0..days)
                            .flat_map(|d| (0..exp.arms()).map(move |a| (d, a)))
                            .map(|(d, a)| Sampler::new(&exp.cell_on_day(m, a, d)))
                            .collect()
                    }),
                    copy: u32_threshold(c.icc.sqrt()),
                    unit: c.unit,
                    quantile: metric.quantile,
                    cap: match metric.cap {
                        Some(crate::metric::Cap::Absolute(c)) => c,
                        _ => f64::INFINITY,
                    },
                    quantile_cap: match metric.cap {
                        Some(crate::metric::Cap::Quantile(q)) => Some(q),
                        _ => None,
                    },
                    clustered_quantile: metric.clustering.is_some()
                        && c.unit != AnalysisUnit::Event,
                    covariate: metric.covariate_correlation.map(|rho| {
                        (
                            StreamKey::new(seed, Purpose::Covariate(metric.tag)),
                            u32_threshold(rho),
                        )
                    }),
                }
            })
            .collect();
        Some(Self {
            users: exp.population.users,
            arms: crate::rng::segment_thresholds(exp.assignment.weights.iter().copied()),
            assignment: StreamKey::new(seed, Purpose::Assignment),
            events: exp
                .population
                .events_per_unit
                .as_ref()
                .map(|e| (StreamKey::new(seed, Purpose::Events), EventCounts::new(e))),
            arrivals: novelty.then(|| Arrivals::new(seed, &exp.population)),
            metrics,
        })
    }

    /// Simulate replication `r`: `out[j]` receives the statistics of the
    /// users between look j − 1 and look j (`boundaries[j]` users seen by
    /// look j, in arrival order).
    pub fn simulate(&self, r: u64, boundaries: &[u64], out: &mut [ReplicationStats]) {
        let mut assign = self.assignment.replication(r);
        let mut events = self.events.as_ref().map(|(key, _)| key.replication(r));
        let mut outcomes: Vec<ChaCha8Rng> = self
            .metrics
            .iter()
            .map(|m| m.outcome.replication(r))
            .collect();
        let mut covariates: Vec<Option<ChaCha8Rng>> = self
            .metrics
            .iter()
            .map(|m| m.covariate.as_ref().map(|(key, _)| key.replication(r)))
            .collect();
        let mut own: Vec<Option<ChaCha8Rng>> = self
            .metrics
            .iter()
            .map(|m| match &m.events {
                Events::Own(key, _) => Some(key.replication(r)),
                _ => None,
            })
            .collect();
        let arms = self.arms.len();
        // A quantile metric's (user, value) pairs per arm: a quantile needs them all.
        let mut kept: Vec<Option<Kept>> = self
            .metrics
            .iter()
            .map(|m| {
                m.quantile
                    .or(m.quantile_cap)
                    .map(|_| vec![Vec::new(); arms])
            })
            .collect();
        let mut look = 0;
        let mut words = [0u32; 4];
        // Users arrive in index order: the first `arrived[d]` by the end of day d.
        let arrived: Vec<u64> = self.arrivals.as_ref().map_or_else(Vec::new, |a| {
            a.per_day(r, self.users)
                .iter()
                .scan(0, |total, &c| {
                    *total += c;
                    Some(*total)
                })
                .collect()
        });
        let mut day = 0;
        for u in 0..self.users {
            while look + 1 < out.len() && u >= boundaries[look] {
                look += 1;
            }
            while day + 1 < arrived.len() && u >= arrived[day] {
                day += 1;
            }
            let w = u64::from(assign.next_u32());
            let arm = self.arms.iter().position(|&t| w < t).unwrap_or(0);
            let mut cw = [0u32; EventCounts::STRIDE];
            let shared = match (&mut events, &self.events) {
                (Some(rng), Some((_, counts))) => {
                    rng.fill(&mut cw[..]);
                    counts.sample(&cw)
                }
                _ => 1,
            };
            let stats = &mut out[look];
            stats.assigned[arm] += 1;
            stats.analysed[arm] += 1;
            for (i, (metric, rng)) in self.metrics.iter().zip(&mut outcomes).enumerate() {
                let m = match (&metric.events, &mut own[i]) {
                    (Events::Own(_, counts), Some(rng)) => {
                        rng.fill(&mut cw[..]);
                        counts.sample(&cw)
                    }
                    (Events::Population, _) => shared,
                    _ => 1,
                };
                let mut collect = kept[i].as_mut().map(|k| &mut k[arm]);
                let sampler = match &metric.by_day {
                    Some(by_day) => &by_day[day * arms + arm],
                    None => &metric.samplers[arm],
                };
                let at = i * arms + arm;
                let Some(cov) = covariates[i].as_mut() else {
                    let (total, total_sq, _) =
                        user_events(metric, sampler, None, rng, m, &mut words, |v| {
                            if let Some(k) = collect.as_mut() {
                                k.push((u, v));
                            }
                        });
                    add_user(&mut stats.metrics[at], metric.unit, m, total, total_sq);
                    continue;
                };
                // Validated: a metric with a covariate keeps no values.
                let (total, m_pre, d_pre) = self.with_covariate(metric, sampler, arm, rng, cov, m);
                let (mf, dp) = (f64::from(m), f64::from(d_pre));
                if metric.unit == AnalysisUnit::Ratio {
                    stats.metrics[at].push_paired(total, mf);
                    stats.pre[at].push(total, mf, m_pre, dp);
                } else {
                    // One value per user (validated): the per-unit path's covariate.
                    stats.metrics[at].push_paired(total, m_pre);
                }
            }
        }
        self.summarise_quantiles(&kept, out);
    }

    /// One user's `m` events of a metric with a covariate, drawn by
    /// `sampler` from `rng`, and their pre-period from `cov` (see the module
    /// header): the events' sum, and the pre-period's sum and event count.
    fn with_covariate(
        &self,
        metric: &MetricSim,
        sampler: &Sampler,
        arm: usize,
        rng: &mut ChaCha8Rng,
        cov: &mut ChaCha8Rng,
        m: u32,
    ) -> (f64, f64, u32) {
        let mut words = [0u32; 4];
        // The control arm's sampler reads a treated user's words again for
        // their control-world period (the covariate's copy).
        let twin = (arm != 0).then(|| &metric.samplers[0]);
        let (total, _, own_control) =
            user_events(metric, sampler, twin, rng, m, &mut words, |_| {});
        let copy = metric.covariate.as_ref().map_or(0, |(_, copy)| *copy);
        if u64::from(cov.next_u32()) < copy {
            return (total, own_control, m);
        }
        let mut cw = [0u32; EventCounts::STRIDE];
        let mut count = |counts: &EventCounts| {
            cov.fill(&mut cw[..]);
            counts.sample(&cw)
        };
        let d = match &metric.events {
            Events::Own(_, counts) => count(counts),
            Events::Population => self.events.as_ref().map_or(1, |(_, c)| count(c)),
            Events::One => 1,
        };
        let control = &metric.samplers[0];
        let m_pre = user_events(metric, control, None, cov, d, &mut words, |_| {}).0;
        (total, m_pre, d)
    }

    /// Replaces each quantile metric's statistics with its arms' normal
    /// summaries (one look, validated): over users, over events as if
    /// independent (`unit = "event"`), or over events clustered by user.
    fn summarise_quantiles(&self, kept: &[Option<Kept>], out: &mut [ReplicationStats]) {
        let arms = self.arms.len();
        let Some(last) = out.last_mut() else {
            return;
        };
        for (i, (metric, kept)) in self.metrics.iter().zip(kept).enumerate() {
            if let (Some(q), Some(kept)) = (metric.quantile_cap, kept) {
                capped_stats(metric.unit, q, kept, &mut last.metrics, i * arms);
                continue;
            }
            let (Some(q), Some(kept)) = (metric.quantile, kept) else {
                continue;
            };
            for (a, pairs) in kept.iter().enumerate() {
                let estimate = if metric.clustered_quantile {
                    quantile::clustered_arm_estimate(pairs, q)
                } else {
                    let values: Vec<f64> = pairs.iter().map(|&(_, v)| v).collect();
                    quantile::arm_estimate(&values, q)
                };
                last.metrics[i * arms + a] = quantile::summary_stats(estimate);
            }
        }
    }
}

/// Rebuilds one metric's per-arm statistics (at `at`) from its kept
/// (user, value) pairs with every value capped at the q-quantile of both
/// arms' values together. Pairs are in user order, so each user's events
/// are adjacent.
fn capped_stats(unit: AnalysisUnit, q: f64, kept: &Kept, out: &mut [ArmStats], at: usize) {
    let mut pooled: Vec<f64> = kept.iter().flatten().map(|&(_, v)| v).collect();
    pooled.sort_by(f64::total_cmp);
    if pooled.is_empty() {
        return;
    }
    let cap = quantile::sample_quantile(&pooled, q);
    for (a, pairs) in kept.iter().enumerate() {
        let s = &mut out[at + a];
        // A ratio's n counts users without events too; keep it.
        let users = s.n;
        *s = ArmStats::default();
        let mut rest = pairs.as_slice();
        while let Some(&(user, _)) = rest.first() {
            let len = rest.iter().take_while(|&&(u, _)| u == user).count();
            let (mut total, mut total_sq) = (0.0, 0.0);
            for &(_, v) in &rest[..len] {
                let v = v.min(cap);
                total += v;
                total_sq += v * v;
            }
            add_user(s, unit, len as u32, total, total_sq);
            rest = &rest[len..];
        }
        if unit == AnalysisUnit::Ratio {
            s.n = users;
        }
    }
}

/// One user's `m` events of `metric`, drawn by `sampler` (the user's arm
/// and, with a novelty effect, arrival day) from the metric's stream `rng`:
/// their sum, sum of squares, and the sum `twin` (the control arm's
/// sampler, for a treated user's covariate) draws from the same words (the
/// sum itself without a twin); `each` sees every value.
#[inline]
fn user_events(
    metric: &MetricSim,
    sampler: &Sampler,
    twin: Option<&Sampler>,
    rng: &mut ChaCha8Rng,
    m: u32,
    words: &mut [u32; 4],
    each: impl FnMut(f64),
) -> (f64, f64, f64) {
    // Two monomorphic loops: the second sampler must cost nothing where
    // there is none (most scenarios).
    match twin {
        None => events::<false>(metric, sampler, sampler, rng, m, words, each),
        Some(t) => events::<true>(metric, sampler, t, rng, m, words, each),
    }
}

/// [`user_events`], with `twin` read only when `TWIN`.
#[inline(always)]
fn events<const TWIN: bool>(
    metric: &MetricSim,
    sampler: &Sampler,
    twin: &Sampler,
    rng: &mut ChaCha8Rng,
    m: u32,
    words: &mut [u32; 4],
    mut each: impl FnMut(f64),
) -> (f64, f64, f64) {
    let stride = &mut words[..metric.stride];
    let (mut total, mut total_sq, mut twin_total) = (0.0, 0.0, 0.0);
    // Both values of one set of words; an absolute cap (infinite when there
    // is none) applies to each.
    let draw = |w: &[u32]| {
        let v = sampler.sample(w).min(metric.cap);
        (
            v,
            if TWIN {
                twin.sample(w).min(metric.cap)
            } else {
                v
            },
        )
    };
    let mut add = |(v, t): (f64, f64)| {
        total += v;
        total_sq += v * v;
        if TWIN {
            twin_total += t;
        }
        each(v);
    };
    if metric.copy == 0 {
        // Independent events (icc = 0): no latent value, no copy word.
        for _ in 0..m {
            rng.fill(&mut stride[..]);
            add(draw(stride));
        }
    } else {
        rng.fill(&mut stride[..]);
        let latent = draw(stride);
        for _ in 0..m {
            let v = if u64::from(rng.next_u32()) < metric.copy {
                latent
            } else {
                rng.fill(&mut stride[..]);
                draw(stride)
            };
            add(v);
        }
    }
    (total, total_sq, if TWIN { twin_total } else { total })
}

/// Folds one user's `m` events (their values summing to `total`, their
/// squares to `total_sq`) into the statistics `unit` analyses.
#[inline]
fn add_user(s: &mut ArmStats, unit: AnalysisUnit, m: u32, total: f64, total_sq: f64) {
    let mf = f64::from(m);
    match unit {
        AnalysisUnit::Event => {
            s.n += u64::from(m);
            s.sum += total;
            s.sum_sq += total_sq;
        }
        AnalysisUnit::User => {
            if m > 0 {
                s.push(total / mf);
            }
        }
        AnalysisUnit::Ratio => s.push_paired(total, mf),
    }
}

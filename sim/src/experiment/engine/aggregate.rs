//! The aggregate fast path: a replication's sufficient statistics drawn
//! directly, without simulating units.
//!
//! Valid when nothing depends on unit identity: random assignment without
//! namespaces, Bernoulli or Normal metrics, no covariate. Then per segment the
//! arm sizes are multinomial, SRM loss thins them binomially, conversions are
//! binomial, and a normal sample's mean and sum of squared deviations are an
//! independent normal and scaled chi-square. Same distribution as the per-unit
//! path, a different random sequence: the two agree within Monte Carlo error,
//! not to the bit.

use rand::RngExt;
use rand_distr::{ChiSquared, Distribution as _, StandardNormal};

use super::ReplicationStats;
use crate::assignment::Method;
use crate::experiment::Experiment;
use crate::metric::Distribution;
use crate::rng::{LaneStreams, Purpose, StreamKey};

/// The aggregate simulation path: per replication, draws each look interval's
/// sufficient statistics directly (multinomial segment and arm sizes, binomial
/// conversions, normal means with chi-square sums of squares) instead of
/// simulating units.
pub struct AggregateSim {
    key: StreamKey,
    /// The first draw of every replication has n = users: the first segment's
    /// size, or with one segment the control arm's. Its constants are
    /// computed once (the same draw as the one-shot sampler, just prepared).
    first: crate::binomial::Binomial,
    /// Conditional probabilities for the sequential-binomial multinomial draw of
    /// segment sizes: `p[s]` = w_s / (1 − w_0 − … − w_{s−1}).
    segment_cond: Vec<f64>,
    /// Same for the arms within a segment, with a final "outside coverage" cell.
    arm_cond: Vec<f64>,
    keep: Vec<f64>,
    /// `cells[(m * segments + s) * arms + a]`: the observed-data distribution
    /// (lost events folded in for Bernoulli; Normal keeps its loss rate).
    cells: Vec<Distribution>,
    lost: Vec<f64>,
    arms: usize,
    segments: usize,
    metrics: usize,
}

fn conditional(probs: &[f64]) -> Vec<f64> {
    let mut rest = 1.0;
    probs
        .iter()
        .map(|&p| {
            let c = if rest > 0.0 {
                (p / rest).clamp(0.0, 1.0)
            } else {
                0.0
            };
            rest -= p;
            c
        })
        .collect()
}

/// Three or more binomial draws per replication dominate this path; the BTRD
/// sampler in `crate::binomial` is about twice as fast as rand_distr's BTPE.
fn binomial<R: rand::Rng>(rng: &mut R, n: u64, p: f64) -> u64 {
    crate::binomial::sample(rng, n, p)
}

impl AggregateSim {
    /// None when the scenario needs units (see module docs).
    pub fn new(exp: &Experiment) -> Option<Self> {
        let eligible = matches!(exp.assignment.method, Method::Random)
            && exp.assignment.namespace.is_none()
            && exp.metrics.iter().all(|m| {
                m.covariate_correlation.is_none()
                    && matches!(
                        m.baseline,
                        Distribution::Bernoulli { .. } | Distribution::Normal { .. }
                    )
            });
        if !eligible {
            return None;
        }
        let (arms, segments, metrics) = (exp.arms(), exp.segments(), exp.metrics.len());
        let weights: Vec<f64> = exp.population.segments.iter().map(|s| s.weight).collect();
        let shares = exp.assignment.expected_shares();
        let mut cells = Vec::with_capacity(metrics * segments * arms);
        let mut lost = Vec::with_capacity(metrics * arms);
        for m in 0..metrics {
            for a in 0..arms {
                lost.push(exp.faults.lost_rate(m, a));
            }
            for s in 0..segments {
                for a in 0..arms {
                    let d = exp.cell(m, s, a);
                    let q = exp.faults.lost_rate(m, a);
                    cells.push(match d {
                        // A lost conversion is a non-conversion: thinning.
                        Distribution::Bernoulli { p } => {
                            Distribution::Bernoulli { p: p * (1.0 - q) }
                        }
                        other => other,
                    });
                }
            }
        }
        let segment_cond = conditional(&weights);
        let arm_cond = conditional(&shares);
        let first_p = if segments > 1 {
            segment_cond[0]
        } else {
            arm_cond[0]
        };
        Some(Self {
            key: StreamKey::new(exp.seed, Purpose::Aggregate),
            first: crate::binomial::Binomial::new(exp.population.users, first_p),
            segment_cond,
            arm_cond,
            keep: (0..arms)
                .map(|a| 1.0 - exp.faults.srm_loss.get(a).copied().unwrap_or(0.0))
                .collect(),
            cells,
            lost,
            arms,
            segments,
            metrics,
        })
    }

    /// Per-worker stream cache for [`AggregateSim::simulate`].
    pub fn lanes(&self) -> LaneStreams {
        LaneStreams::new(self.key.clone())
    }

    /// Simulate replication `r`: for each look interval, the sufficient
    /// statistics of the units that arrive in it (`out[j]`), drawn directly.
    pub fn simulate(
        &self,
        exp: &Experiment,
        r: u64,
        boundaries: &[u64],
        lanes: &mut LaneStreams,
        out: &mut [ReplicationStats],
    ) {
        let mut rng = lanes.replication(r);
        let mut seen = 0u64;
        for (j, &b) in boundaries.iter().enumerate() {
            let users = b - seen;
            seen = b;
            self.interval(exp.population.users, users, &mut rng, &mut out[j]);
        }
    }

    fn interval<R: rand::Rng>(
        &self,
        population: u64,
        users: u64,
        rng: &mut R,
        out: &mut ReplicationStats,
    ) {
        let mut rng = rng;
        // The prepared first draw is for n = the whole population.
        let whole = users == population;
        let mut left = users;
        for s in 0..self.segments {
            let n_s = if s + 1 == self.segments {
                left
            } else if s == 0 && whole {
                self.first.sample(&mut rng)
            } else {
                binomial(&mut rng, left, self.segment_cond[s])
            };
            left -= n_s;
            let mut left_s = n_s;
            for a in 0..self.arms {
                let n_sa = if self.segments == 1 && a == 0 && whole {
                    self.first.sample(&mut rng)
                } else {
                    binomial(&mut rng, left_s, self.arm_cond[a])
                };
                left_s -= n_sa;
                out.assigned[a] += n_sa;
                let kept = binomial(&mut rng, n_sa, self.keep[a]);
                out.analysed[a] += kept;
                for m in 0..self.metrics {
                    let st = &mut out.metrics[m * self.arms + a];
                    st.n += kept;
                    match self.cells[(m * self.segments + s) * self.arms + a] {
                        Distribution::Bernoulli { p } => {
                            let x = binomial(&mut rng, kept, p) as f64;
                            st.sum += x;
                            st.sum_sq += x;
                        }
                        Distribution::Normal { mean, sd } => {
                            // Lost events are zeros: only the rest are normal.
                            let k = kept - binomial(&mut rng, kept, self.lost[m * self.arms + a]);
                            if k == 0 {
                                continue;
                            }
                            let kf = k as f64;
                            let z: f64 = rng.sample(StandardNormal);
                            let sample_mean = mean + sd * z / kf.sqrt();
                            let ss = if k > 1 {
                                ChiSquared::new(kf - 1.0)
                                    .map_or(0.0, |c| sd * sd * c.sample(&mut rng))
                            } else {
                                0.0
                            };
                            st.sum += kf * sample_mean;
                            st.sum_sq += ss + kf * sample_mean * sample_mean;
                        }
                        // Excluded by `new`.
                        Distribution::Revenue { .. } | Distribution::Count { .. } => {}
                    }
                }
            }
        }
    }
}

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
//!
//! Binomial draws whose distribution repeats use alias tables
//! ([`crate::binomial::Table`], exact like BTRD): the first draw of a
//! replication (n = users, the first segment's or the control arm's size)
//! has one fixed distribution, and each Bernoulli cell's conversions
//! `Bin(n, p)` have a table for every arm size `n` within four standard
//! deviations of its expected size over the whole population (a few hundred
//! tables of 128 slots, 1 KB each, at most `TABLE_ENTRIES_MAX` slots in
//! all; cells with the same expected size and p, such as an A/A test's
//! arms, share theirs). Tables are built only for single-look analyses:
//! with several looks every draw is over a look's interval, which no table
//! serves. Other sizes (rare arm sizes, cells past the cap) and the other
//! draws use BTRD or inversion. Which sampler serves a draw
//! depends only on the scenario and the draw's (n, p), so results stay a
//! pure function of (seed, replication).

use rand::RngExt;
use rand_distr::{ChiSquared, Distribution as _, StandardNormal};

use super::ReplicationStats;
use crate::assignment::Method;
use crate::binomial::{Binomial, Table};
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
    /// size, or with one segment the control arm's. One distribution, so
    /// one alias table (or BTRD prepared once when the table would be too
    /// large).
    first: Repeated,
    /// Conditional probabilities for the sequential-binomial multinomial draw of
    /// segment sizes: `p[s]` = w_s / (1 − w_0 − … − w_{s−1}).
    segment_cond: Vec<f64>,
    /// Same for the arms within a segment, with a final "outside coverage" cell.
    arm_cond: Vec<f64>,
    keep: Vec<f64>,
    /// `cells[(m * segments + s) * arms + a]`: the observed-data distribution
    /// (lost events folded in for Bernoulli; Normal keeps its loss rate).
    cells: Vec<Distribution>,
    /// Per cell of `cells`, its conversion samplers for every likely arm
    /// size (see [`Conversions`]) as an index into `tables`; None for Normal
    /// cells and for cells whose tables would pass `TABLE_ENTRIES_MAX`.
    conversions: Vec<Option<usize>>,
    /// The cells' conversion tables, one per distinct (expected size, p):
    /// an A/A test's arms share theirs, which halves what the draws keep
    /// in cache.
    tables: Vec<Conversions>,
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

/// Most alias slots (8 bytes each) the conversion draws of one
/// [`AggregateSim`] keep: the windows of every cell together stay within a
/// core's L2 cache, where a lookup is much cheaper than a BTRD draw.
const TABLE_ENTRIES_MAX: usize = 1 << 18;

/// The arm split's table width in standard deviations: one table, so kept
/// wide (its tails are reached about once in 10^11 draws).
const SPLIT_WIDTH: f64 = 7.0;

/// Values each side of the mode in a conversion table: 127 values and the
/// outside slot make 128 slots (1 KB), so that the tables of a few hundred
/// arm sizes stay in cache. For the peer benchmark's Bin(5000, 0.1) (sd 21)
/// that is ±3 sd, and the tails' walk serves 0.3% of draws.
const CONVERSION_REACH: u64 = 63;

/// Arm sizes, in standard deviations of the expected size, that get a
/// conversion table; beyond, a draw is BTRD's (also exact).
const SIZE_WINDOW: f64 = 4.0;

/// A sampler of one fixed `Bin(n, p)`: its table when it has one, else
/// BTRD prepared once. Both are exact; which one serves a distribution
/// depends only on (n, p), never on the run.
enum Repeated {
    Table(Table),
    Btrd(Binomial),
}

impl Repeated {
    fn new(n: u64, p: f64, table: Option<Table>) -> Self {
        table.map_or_else(|| Repeated::Btrd(Binomial::new(n, p)), Repeated::Table)
    }

    /// Alias slots held.
    fn entries(&self) -> usize {
        match self {
            Repeated::Table(t) => t.entries(),
            Repeated::Btrd(_) => 0,
        }
    }

    #[inline]
    fn sample<R: rand::Rng>(&self, rng: &mut R) -> u64 {
        match self {
            Repeated::Table(t) => t.sample(rng),
            Repeated::Btrd(b) => b.sample(rng),
        }
    }
}

/// The conversion draws `Bin(n, p)` of one cell, for every arm size `n`
/// in a window around the expected size: the arm size changes every
/// replication, but nearly always within a few hundred values, each with a
/// table of its own. Sizes outside the window draw by BTRD.
struct Conversions {
    lo: u64,
    p: f64,
    /// The cell's share of the population, for sharing the tables.
    share: f64,
    by_size: Vec<Repeated>,
}

impl Conversions {
    /// For sizes within [`SIZE_WINDOW`] standard deviations of
    /// `users · share` (the cell's expected size over the whole
    /// population), or None when their tables would hold more than `room`
    /// entries.
    fn new(users: u64, share: f64, p: f64, room: usize) -> Option<Self> {
        let mean = users as f64 * share;
        let sd = (mean * (1.0 - share).max(0.0)).sqrt();
        let lo = (mean - SIZE_WINDOW * sd - 1.0).max(0.0).floor();
        let hi = (mean + SIZE_WINDOW * sd + 1.0).min(users as f64).ceil();
        if lo.is_nan() || hi.is_nan() || lo > hi || hi - lo + 1.0 > room as f64 {
            return None;
        }
        let (lo, hi) = (lo as u64, hi as u64);
        // Sized before building: a sweep or design search makes an engine
        // per point, and building a large population's tables only to
        // refuse them cost more than its replications.
        let needed: usize = (lo..=hi)
            .map(|n| Table::slots_with_reach(n, p, CONVERSION_REACH))
            .sum();
        if needed > room {
            return None;
        }
        let by_size = (lo..=hi)
            .map(|n| Repeated::new(n, p, Table::with_reach(n, p, CONVERSION_REACH)))
            .collect();
        Some(Self {
            lo,
            p,
            share,
            by_size,
        })
    }

    fn entries(&self) -> usize {
        self.by_size.iter().map(Repeated::entries).sum()
    }

    #[inline]
    fn sample<R: rand::Rng>(&self, rng: &mut R, n: u64) -> u64 {
        match usize::try_from(n.wrapping_sub(self.lo))
            .ok()
            .and_then(|i| self.by_size.get(i))
        {
            Some(d) => d.sample(rng),
            None => binomial(rng, n, self.p),
        }
    }
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
        let total_weight: f64 = weights.iter().sum();
        let keep: Vec<f64> = (0..arms)
            .map(|a| 1.0 - exp.faults.srm_loss.get(a).copied().unwrap_or(0.0))
            .collect();
        // Tables serve draws over the whole population: with several looks
        // every interval is a part of it, no draw would reach a table, and
        // a sweep or design search (an engine per point) would build them
        // for nothing.
        let one_look = exp.analysis.looks <= 1;
        let mut room = if one_look { TABLE_ENTRIES_MAX } else { 0 };
        let mut tables: Vec<Conversions> = Vec::new();
        let conversions = cells
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let Distribution::Bernoulli { p } = *d else {
                    return None;
                };
                let (s, a) = ((i / arms) % segments, i % arms);
                let share = weights[s] / total_weight * shares[a] * keep[a];
                // Bitwise equal parameters give the very same tables.
                let same = |t: &Conversions| {
                    t.p.to_bits() == p.to_bits() && t.share.to_bits() == share.to_bits()
                };
                if let Some(k) = tables.iter().position(same) {
                    return Some(k);
                }
                let conversions = Conversions::new(exp.population.users, share, p, room)?;
                room -= conversions.entries();
                tables.push(conversions);
                Some(tables.len() - 1)
            })
            .collect();
        let segment_cond = conditional(&weights);
        let arm_cond = conditional(&shares);
        let first_p = if segments > 1 {
            segment_cond[0]
        } else {
            arm_cond[0]
        };
        Some(Self {
            key: StreamKey::new(exp.seed, Purpose::Aggregate),
            first: Repeated::new(
                exp.population.users,
                first_p,
                one_look
                    .then(|| Table::new(exp.population.users, first_p, SPLIT_WIDTH))
                    .flatten(),
            ),
            segment_cond,
            arm_cond,
            keep,
            cells,
            conversions,
            tables,
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
                    let cell = (m * self.segments + s) * self.arms + a;
                    match self.cells[cell] {
                        Distribution::Bernoulli { p } => {
                            let x = match self.conversions[cell] {
                                Some(k) => self.tables[k].sample(&mut rng, kept),
                                None => binomial(&mut rng, kept, p),
                            } as f64;
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

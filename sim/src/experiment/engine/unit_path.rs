//! The per-unit path: every unit gets a segment, an arm (by hash or random
//! draw), faults and metric values, in blocks of [`BLOCK`] units.
//!
//! Each purpose's stream is read sequentially from the replication's first unit,
//! which is the same as seeking to `unit × stride` for each unit. Blocks keep
//! the inner loops branch-light and allocation-free: arm and segment codes go in
//! byte arrays, and the Bernoulli kernel counts conversions per arm with
//! compare-and-sum passes that the compiler vectorises.
//!
//! The commonest design, 50/50 random assignment with plain Bernoulli
//! metrics, takes a shorter road ([`one_bit`]): it never expands the
//! assignment bits into arm codes, and counts each arm's units and
//! conversions straight from the bits and the outcome words, in one pass per
//! metric. Both roads read the same words, so they give the same statistics.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::ReplicationStats;
use crate::analysis::ArmStats;
use crate::assignment::{HashAssigner, Method, RandomArms};
use crate::experiment::Experiment;
use crate::metric::Sampler;
use crate::rng::{Purpose, StreamKey, u32_threshold};

mod one_bit;
use one_bit::OneBit;

/// Units per block. A multiple of 32, so random-assignment bit draws of every
/// width start each block on a word boundary.
pub const BLOCK: usize = 1024;

/// Look pieces handled per batch within a block.
const MAX_PIECES: usize = 8;

enum Assigner {
    Random {
        arms: RandomArms,
        key: Box<StreamKey>,
    },
    Hash(Box<HashAssigner>),
}

struct MetricSim {
    outcome: StreamKey,
    stride: usize,
    /// `samplers[segment * arms + arm]`.
    samplers: Vec<Sampler>,
    /// For Bernoulli metrics: `thresholds[segment * (arms + 1) + arm]`, with the
    /// excluded code `arms` mapped to 0 so excluded units never convert.
    bernoulli: Option<Vec<u64>>,
    /// Per-arm lost-event thresholds (index `arms` = 0).
    lost: Option<(StreamKey, Vec<u64>)>,
    /// Copy-threshold of the covariate: with probability ρ the covariate is the
    /// unit's own control outcome, else an independent control draw, so that
    /// corr(X, Y_control) = ρ exactly for every distribution.
    covariate: Option<(StreamKey, u64)>,
}

/// The per-unit simulation path: every unit assigned (randomly or by hash),
/// its segment, outcomes, faults and covariate drawn, in blocks of [`BLOCK`] units.
pub struct UnitSim {
    users: u64,
    arms: usize,
    segments: Option<(StreamKey, Vec<u64>)>,
    assigner: Assigner,
    /// Per-arm SRM loss thresholds (index `arms` = 0).
    srm: Option<(StreamKey, Vec<u64>)>,
    metrics: Vec<MetricSim>,
    /// The one-bit road, when it applies: two arms split 50/50 by one
    /// assignment bit per unit, no segments, no SRM loss, and every metric a
    /// Bernoulli without lost events or covariate.
    one_bit: Option<OneBit>,
}

/// Reusable per-worker buffers.
#[derive(Default)]
pub struct UnitScratch {
    segment: Vec<u8>,
    arm: Vec<u8>,
    words: Vec<u32>,
    extra: Vec<u32>,
    hit: Vec<u8>,
    /// The block's assignment words (the one-bit road).
    bits: Vec<u32>,
    /// Each metric's outcome stream in the current replication (the one-bit road).
    outcome: Vec<ChaCha8Rng>,
}

impl UnitScratch {
    fn ensure(&mut self, max_stride: usize) {
        if self.arm.len() != BLOCK {
            self.segment = vec![0; BLOCK];
            self.arm = vec![0; BLOCK];
            self.hit = vec![0; BLOCK];
            self.bits = vec![0; BLOCK / 32];
        }
        if self.words.len() < BLOCK * max_stride {
            self.words = vec![0; BLOCK * max_stride];
            // Lost-event words (1 per unit) and covariate words (stride + 1).
            self.extra = vec![0; BLOCK * (max_stride + 2)];
        }
    }
}

fn thresholds_with_excluded(rates: impl Iterator<Item = f64>) -> Vec<u64> {
    rates.map(u32_threshold).chain(std::iter::once(0)).collect()
}

impl UnitSim {
    /// Builds the samplers, thresholds and stream keys of `exp`.
    pub fn new(exp: &Experiment) -> Self {
        let seed = exp.seed;
        let arms = exp.arms();
        let segs = exp.segments();
        let assigner = match &exp.assignment.method {
            Method::Random if exp.assignment.namespace.is_none() => Assigner::Random {
                arms: RandomArms::new(&exp.assignment),
                key: Box::new(StreamKey::new(seed, Purpose::Assignment)),
            },
            _ => Assigner::Hash(Box::new(HashAssigner::new(
                &exp.assignment,
                &exp.population.id_prefix,
            ))),
        };
        let metrics: Vec<MetricSim> = exp
            .metrics
            .iter()
            .enumerate()
            .map(|(m, metric)| {
                let cells: Vec<_> = (0..segs)
                    .flat_map(|s| (0..arms).map(move |a| (s, a)))
                    .map(|(s, a)| exp.cell(m, s, a))
                    .collect();
                let bernoulli = metric.baseline.is_binary().then(|| {
                    (0..segs)
                        .flat_map(|s| {
                            cells[s * arms..(s + 1) * arms]
                                .iter()
                                .map(|d| u32_threshold(d.mean()))
                                .chain(std::iter::once(0))
                        })
                        .collect()
                });
                MetricSim {
                    outcome: StreamKey::new(seed, Purpose::Outcome(metric.tag)),
                    stride: metric.baseline.stride(),
                    samplers: cells.iter().map(Sampler::new).collect(),
                    bernoulli,
                    lost: exp.faults.has_lost_events(m).then(|| {
                        (
                            StreamKey::new(seed, Purpose::LostEvent(metric.tag)),
                            thresholds_with_excluded((0..arms).map(|a| exp.faults.lost_rate(m, a))),
                        )
                    }),
                    covariate: metric.covariate_correlation.map(|rho| {
                        (
                            StreamKey::new(seed, Purpose::Covariate(metric.tag)),
                            u32_threshold(rho),
                        )
                    }),
                }
            })
            .collect();
        let one_bit = OneBit::new(&assigner, arms, segs, exp.faults.has_srm(), &metrics);
        UnitSim {
            users: exp.population.users,
            arms,
            segments: (segs > 1).then(|| {
                (
                    StreamKey::new(seed, Purpose::Segment),
                    exp.population.segment_thresholds(),
                )
            }),
            assigner,
            srm: exp.faults.has_srm().then(|| {
                (
                    StreamKey::new(seed, Purpose::SrmFault),
                    thresholds_with_excluded(
                        (0..arms).map(|a| exp.faults.srm_loss.get(a).copied().unwrap_or(0.0)),
                    ),
                )
            }),
            metrics,
            one_bit,
        }
    }

    /// Simulate replication `r`. `boundaries[j]` is the number of units (in
    /// index order, which is arrival order) seen by look j; `out[j]` receives
    /// the statistics of the units between look j − 1 and look j.
    pub fn simulate(
        &self,
        r: u64,
        boundaries: &[u64],
        scratch: &mut UnitScratch,
        out: &mut [ReplicationStats],
    ) {
        let max_stride = self.metrics.iter().map(|m| m.stride).max().unwrap_or(1);
        scratch.ensure(max_stride);
        if let Some(road) = &self.one_bit {
            road.simulate(self.users, r, boundaries, scratch, out);
            return;
        }
        let k = self.arms;
        let excluded = k as u8;
        let mut seg_rng = self.segments.as_ref().map(|(key, _)| key.replication(r));
        let mut srm_rng = self.srm.as_ref().map(|(key, _)| key.replication(r));
        let (mut assign_rng, hash_arms) = match &self.assigner {
            Assigner::Random { key, .. } => (Some(key.replication(r)), None),
            Assigner::Hash(h) => (None, Some(h.replication(r))),
        };
        let mut rngs: Vec<MetricRngs> = self
            .metrics
            .iter()
            .map(|m| MetricRngs {
                outcome: m.outcome.replication(r),
                lost: m.lost.as_ref().map(|(key, _)| key.replication(r)),
                covariate: m.covariate.as_ref().map(|(key, _)| key.replication(r)),
            })
            .collect();

        let mut start = 0u64;
        let mut look = 0usize;
        while start < self.users {
            let len = (self.users - start).min(BLOCK as u64) as usize;
            let UnitScratch {
                segment,
                arm,
                words,
                extra,
                hit,
                ..
            } = scratch;
            let (segment, arm, hit) = (&mut segment[..len], &mut arm[..len], &mut hit[..len]);

            match (&mut seg_rng, &self.segments) {
                (Some(rng), Some((_, thresholds))) => {
                    rng.fill(&mut words[..len]);
                    for (s, &w) in segment.iter_mut().zip(words.iter()) {
                        *s = thresholds
                            .iter()
                            .take_while(|&&t| u64::from(w) >= t)
                            .count() as u8;
                    }
                }
                _ => segment.fill(0),
            }

            match (&self.assigner, &mut assign_rng) {
                (Assigner::Random { arms, .. }, Some(rng)) => {
                    let n = arms.words_for(len);
                    rng.fill(&mut words[..n]);
                    arms.fill(&words[..n], arm);
                }
                _ => {
                    if let Some(h) = &hash_arms {
                        for (i, a) in arm.iter_mut().enumerate() {
                            *a = h.arm(start + i as u64);
                        }
                    }
                }
            }
            // EXCLUDED (u8::MAX) becomes the compact code k.
            arm.iter_mut().for_each(|a| *a = (*a).min(excluded));

            // The block's pieces between look boundaries. Looks split the
            // accumulation, never the stream reads, so they cost nothing per
            // unit and leave every draw where it was.
            let mut flush = |pieces: &[(usize, usize, usize)]| {
                self.accumulate_block(
                    pieces,
                    Block {
                        segment,
                        arm,
                        words,
                        extra,
                        hit,
                    },
                    &mut rngs,
                    &mut srm_rng,
                    out,
                );
            };
            split_block(boundaries, &mut look, start, len, &mut flush);
            start += len as u64;
        }
    }

    /// Faults and metrics for consecutive pieces of one block, accumulated per
    /// look. Streams are read for exactly the units of the pieces, in order, so
    /// a block handled in several batches reads what one batch would.
    fn accumulate_block(
        &self,
        pieces: &[(usize, usize, usize)],
        block: Block<'_>,
        rngs: &mut [MetricRngs],
        srm_rng: &mut Option<ChaCha8Rng>,
        out: &mut [ReplicationStats],
    ) {
        let Block {
            segment,
            arm,
            words,
            extra,
            hit,
        } = block;
        let (Some(&(_, first, _)), Some(&(_, _, last))) = (pieces.first(), pieces.last()) else {
            return;
        };
        let k = self.arms;
        let excluded = k as u8;
        // Units per arm in each piece: assigned, then (after SRM loss)
        // analysed. Counted once here and handed to the metric kernels.
        let mut counts = [[0u32; crate::assignment::MAX_VARIANTS]; MAX_PIECES];
        for (c, &(j, lo, hi)) in counts.iter_mut().zip(pieces) {
            count_arms(&arm[lo..hi], &mut c[..k]);
            for (total, &n) in out[j].assigned.iter_mut().zip(&c[..k]) {
                *total += u64::from(n);
            }
        }
        if let (Some(rng), Some((_, loss))) = (srm_rng, &self.srm) {
            let w = &mut words[first..last];
            rng.fill(w);
            for (a, &w) in arm[first..last].iter_mut().zip(w.iter()) {
                if u64::from(w) < loss[*a as usize] {
                    *a = excluded;
                }
            }
            for (c, &(_, lo, hi)) in counts.iter_mut().zip(pieces) {
                count_arms(&arm[lo..hi], &mut c[..k]);
            }
        }
        for (c, &(j, _, _)) in counts.iter().zip(pieces) {
            for (total, &n) in out[j].analysed.iter_mut().zip(&c[..k]) {
                *total += u64::from(n);
            }
        }
        for (m, (metric, rng)) in self.metrics.iter().zip(rngs.iter_mut()).enumerate() {
            let n = last - first;
            let stride = metric.stride;
            rng.outcome.fill(&mut words[..n * stride]);
            let (lost_words, cov_words) = extra.split_at_mut(n);
            let lost = match (&mut rng.lost, &metric.lost) {
                (Some(r), Some((_, t))) => {
                    r.fill(&mut lost_words[..n]);
                    Some(t)
                }
                _ => None,
            };
            let covariate = match (&mut rng.covariate, &metric.covariate) {
                (Some(r), Some((_, copy))) => {
                    r.fill(&mut cov_words[..n * (stride + 1)]);
                    Some(*copy)
                }
                _ => None,
            };
            for (piece_counts, &(j, lo, hi)) in counts.iter().zip(pieces) {
                let stats = &mut out[j].metrics[m * k..(m + 1) * k];
                let (a, b) = (lo - first, hi - first);
                let seg = &segment[lo..hi];
                let lost_w = lost.map(|t| (&lost_words[a..b], t.as_slice()));
                match &metric.bernoulli {
                    Some(thresholds) if covariate.is_none() => {
                        let seg = self.segments.as_ref().map(|_| seg);
                        bernoulli_piece(
                            thresholds,
                            Piece {
                                segment: seg,
                                arm: &arm[lo..hi],
                                counts: &piece_counts[..k],
                                words: &words[a..b],
                                lost: lost_w,
                            },
                            &mut hit[lo..hi],
                            stats,
                        );
                    }
                    _ => general_piece(
                        metric,
                        seg,
                        &arm[lo..hi],
                        &words[a * stride..b * stride],
                        lost_w,
                        covariate.map(|c| (&cov_words[a * (stride + 1)..b * (stride + 1)], c)),
                        stats,
                    ),
                }
            }
        }
    }
}

/// Hand the pieces of block `start..start + len` between look boundaries to
/// `flush`, in order, at most [`MAX_PIECES`] at a time: `(look, lo, hi)` is
/// the block's units `lo..hi`, all seen first by look `look`. `look` carries
/// the current look from block to block.
fn split_block(
    boundaries: &[u64],
    look: &mut usize,
    start: u64,
    len: usize,
    flush: &mut impl FnMut(&[(usize, usize, usize)]),
) {
    let mut pieces = [(0usize, 0usize, 0usize); MAX_PIECES];
    let mut n_pieces = 0;
    let mut lo = 0usize;
    let block_end = start + len as u64;
    while lo < len {
        while *look + 1 < boundaries.len() && boundaries[*look] <= start + lo as u64 {
            *look += 1;
        }
        let hi = (boundaries[*look].min(block_end) - start) as usize;
        let hi = hi.max(lo + 1).min(len);
        if n_pieces == pieces.len() {
            // More looks than fit in one batch: flush what we have.
            flush(&pieces[..n_pieces]);
            n_pieces = 0;
        }
        pieces[n_pieces] = (*look, lo, hi);
        n_pieces += 1;
        lo = hi;
    }
    flush(&pieces[..n_pieces]);
}

/// One block's per-unit buffers: the worker's scratch, cut to the block.
struct Block<'a> {
    segment: &'a [u8],
    arm: &'a mut [u8],
    words: &'a mut [u32],
    extra: &'a mut [u32],
    hit: &'a mut [u8],
}

/// What a Bernoulli metric reads for one piece of a block.
struct Piece<'a> {
    /// Each unit's segment, when segments change the thresholds.
    segment: Option<&'a [u8]>,
    arm: &'a [u8],
    /// Units per arm in the piece.
    counts: &'a [u32],
    /// One outcome word per unit.
    words: &'a [u32],
    /// Lost-event words and the per-arm loss thresholds.
    lost: Option<(&'a [u32], &'a [u64])>,
}

struct MetricRngs {
    outcome: ChaCha8Rng,
    lost: Option<ChaCha8Rng>,
    covariate: Option<ChaCha8Rng>,
}

/// Each arm's unit count in a block (≤ BLOCK units, so u32 cannot overflow);
/// the excluded code k is not counted. One compare-and-sum pass per arm, which
/// the compiler vectorises.
fn count_arms(arm: &[u8], counts: &mut [u32]) {
    for (a, c) in counts.iter_mut().enumerate() {
        let a = a as u8;
        *c = arm.iter().map(|&x| u32::from(x == a)).sum::<u32>();
    }
}

/// Conversions of one arm in a block: units of arm `a` whose outcome word is
/// below the threshold `t` (at most 2^32, which means certain conversion).
#[inline]
fn count_hits(arm: &[u8], words: &[u32], a: u8, t: u64) -> u32 {
    if t > u64::from(u32::MAX) {
        return arm.iter().map(|&c| u32::from(c == a)).sum();
    }
    let t = t as u32;
    arm.iter()
        .zip(words)
        .map(|(&c, &w)| u32::from(c == a) & u32::from(w < t))
        .sum()
}

/// Conversions per arm in one piece of a block.
fn bernoulli_piece(thresholds: &[u64], piece: Piece<'_>, hit: &mut [u8], stats: &mut [ArmStats]) {
    let Piece {
        segment,
        arm,
        counts,
        words,
        lost,
    } = piece;
    let k = stats.len();
    let row = k + 1;
    if segment.is_none() && lost.is_none() {
        // The common case: one pass per arm with a constant threshold.
        for (a, st) in stats.iter_mut().enumerate() {
            let x = count_hits(arm, words, a as u8, thresholds[a]);
            add_block(st, counts[a], x);
        }
        return;
    }
    match segment {
        None => {
            for ((h, &a), &w) in hit.iter_mut().zip(arm).zip(words) {
                *h = u8::from(u64::from(w) < thresholds[a as usize]);
            }
        }
        Some(segment) => {
            for (((h, &a), &s), &w) in hit.iter_mut().zip(arm).zip(segment).zip(words) {
                *h = u8::from(u64::from(w) < thresholds[s as usize * row + a as usize]);
            }
        }
    }
    if let Some((lost_words, lost)) = lost {
        for ((h, &a), &w) in hit.iter_mut().zip(arm).zip(lost_words) {
            *h &= u8::from(u64::from(w) >= lost[a as usize]);
        }
    }
    for (a, st) in stats.iter_mut().enumerate() {
        let a = a as u8;
        let x: u32 = arm
            .iter()
            .zip(hit.iter())
            .map(|(&c, &h)| u32::from(c == a) & u32::from(h))
            .sum();
        add_block(st, counts[a as usize], x);
    }
}

fn add_block(st: &mut ArmStats, n: u32, conversions: u32) {
    st.n += u64::from(n);
    // Conversion counts are exact integers in f64 far beyond any population
    // we simulate (2^53).
    st.sum += f64::from(conversions);
    st.sum_sq += f64::from(conversions);
}

/// Any metric, one unit at a time: sampler, lost events, covariate.
fn general_piece(
    metric: &MetricSim,
    segment: &[u8],
    arm: &[u8],
    words: &[u32],
    lost: Option<(&[u32], &[u64])>,
    covariate: Option<(&[u32], u64)>,
    stats: &mut [ArmStats],
) {
    let k = stats.len();
    let stride = metric.stride;
    let cov_stride = stride + 1;
    for i in 0..arm.len() {
        let a = arm[i] as usize;
        if a >= k {
            continue;
        }
        let s = segment[i] as usize;
        let w = &words[i * stride..(i + 1) * stride];
        let mut y = metric.samplers[s * k + a].sample(w);
        if let Some((lw, t)) = lost
            && u64::from(lw[i]) < t[a]
        {
            y = 0.0;
        }
        let st = &mut stats[a];
        match covariate {
            None => st.push(y),
            Some((cw, copy)) => {
                let cw = &cw[i * cov_stride..(i + 1) * cov_stride];
                let control = &metric.samplers[s * k];
                let x = if u64::from(cw[0]) < copy {
                    control.sample(w)
                } else {
                    control.sample(&cw[1..])
                };
                st.push_paired(y, x);
            }
        }
    }
}

//! The one-bit road of the per-unit path: two arms split 50/50 by one
//! assignment bit per unit (the bit is the arm), no segments, no SRM loss,
//! and plain Bernoulli metrics (no lost events, no covariate).
//!
//! It reads the same stream words as the general road, block by block and
//! piece by piece, so it gives the same statistics; what it saves is work
//! per unit. The general road expands the assignment bits into one arm code
//! per unit, then makes a compare-and-sum pass per arm to count the arm's
//! units and one per arm and metric to count its conversions. Here the
//! units per arm are the ones in the assignment words, and each metric's
//! conversions take a single branch-free pass over its outcome words that
//! tests every unit's bit in place (a 32-unit group's word against the
//! constants `1 << j`), counting every conversion and those of arm 1.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{Assigner, BLOCK, MAX_PIECES, MetricSim, UnitScratch, add_block, split_block};
use crate::assignment::RandomArms;
use crate::experiment::engine::ReplicationStats;
use crate::rng::StreamKey;

/// Units per assignment word: the word's bit j is unit j's arm.
const GROUP: usize = 32;

/// Accumulator lanes of the group kernel: one 128-bit vector of u32.
const LANES: usize = 4;

/// `BIT[j]` selects unit j's bit in its group's assignment word.
const BIT: [u32; GROUP] = {
    let mut bit = [0; GROUP];
    let mut j = 0;
    while j < GROUP {
        bit[j] = 1 << j;
        j += 1;
    }
    bit
};

/// What the one-bit road needs of an experiment.
pub(super) struct OneBit {
    assignment: StreamKey,
    /// Per metric: its outcome stream and the conversion thresholds of arms
    /// 0 and 1 (a unit converts when its word is below its arm's threshold).
    metrics: Vec<(StreamKey, [u64; 2])>,
}

/// Whether `draw` gives each unit one bit of the stream and that bit is its
/// arm: a fair coin between arms 0 and 1, with nobody excluded.
fn fair_coin(draw: &RandomArms) -> bool {
    draw.bits() == 1 && draw.arm(0) == 0 && draw.arm(1) == 1
}

impl OneBit {
    /// The one-bit road for an experiment of `arms` arms and `segments`
    /// segments with these assigner and metrics, or None if it does not
    /// apply.
    pub(super) fn new(
        assigner: &Assigner,
        arms: usize,
        segments: usize,
        srm: bool,
        metrics: &[MetricSim],
    ) -> Option<Self> {
        let Assigner::Random { arms: draw, key } = assigner else {
            return None;
        };
        if !(fair_coin(draw) && arms == 2 && segments == 1 && !srm) {
            return None;
        }
        let metrics = metrics
            .iter()
            .map(|m| match (&m.bernoulli, &m.lost, &m.covariate) {
                // Thresholds by segment and arm, the excluded code last: with
                // one segment, [arm 0, arm 1, excluded].
                (Some(t), None, None) if m.stride == 1 && t.len() == 3 => {
                    Some((m.outcome.clone(), [t[0], t[1]]))
                }
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            assignment: (**key).clone(),
            metrics,
        })
    }

    /// Simulate replication `r` of `users` units: the same contract as
    /// [`super::UnitSim::simulate`], whose scratch is already sized.
    pub(super) fn simulate(
        &self,
        users: u64,
        r: u64,
        boundaries: &[u64],
        scratch: &mut UnitScratch,
        out: &mut [ReplicationStats],
    ) {
        let UnitScratch {
            words,
            bits,
            outcome,
            ..
        } = scratch;
        let mut assignment = self.assignment.replication(r);
        outcome.clear();
        outcome.extend(self.metrics.iter().map(|(key, _)| key.replication(r)));
        let mut start = 0u64;
        let mut look = 0usize;
        while start < users {
            let len = (users - start).min(BLOCK as u64) as usize;
            // The general road's `RandomArms::words_for(len)` at one bit per unit.
            let bits = &mut bits[..len.div_ceil(GROUP)];
            assignment.fill(bits);
            let bits = &*bits;
            split_block(boundaries, &mut look, start, len, &mut |pieces| {
                self.count(pieces, bits, words, outcome, out);
            });
            start += len as u64;
        }
    }

    /// Units and conversions per arm for consecutive pieces of one block,
    /// reading each metric's words for exactly the pieces' units, in order.
    fn count(
        &self,
        pieces: &[(usize, usize, usize)],
        bits: &[u32],
        words: &mut [u32],
        outcome: &mut [ChaCha8Rng],
        out: &mut [ReplicationStats],
    ) {
        let (Some(&(_, first, _)), Some(&(_, _, last))) = (pieces.first(), pieces.last()) else {
            return;
        };
        // Units per arm in each piece (no SRM loss: all are analysed).
        let mut units = [[0u32; 2]; MAX_PIECES];
        for (n, &(j, lo, hi)) in units.iter_mut().zip(pieces) {
            let treated = ones(bits, lo, hi);
            *n = [(hi - lo) as u32 - treated, treated];
            for (a, &count) in n.iter().enumerate() {
                out[j].assigned[a] += u64::from(count);
                out[j].analysed[a] += u64::from(count);
            }
        }
        for (m, ((_, thresholds), rng)) in self.metrics.iter().zip(outcome.iter_mut()).enumerate() {
            let words = &mut words[..last - first];
            rng.fill(&mut words[..]);
            for (n, &(j, lo, hi)) in units.iter().zip(pieces) {
                let converted = conversions(bits, words, first, lo..hi, *thresholds);
                let stats = &mut out[j].metrics[m * 2..m * 2 + 2];
                for ((st, &count), &x) in stats.iter_mut().zip(n).zip(&converted) {
                    add_block(st, count, x);
                }
            }
        }
    }
}

/// Set bits of `bits` at positions `lo..hi`: the units of arm 1 among them.
fn ones(bits: &[u32], lo: usize, hi: usize) -> u32 {
    if lo >= hi {
        return 0;
    }
    let (a, b) = (lo / GROUP, (hi - 1) / GROUP);
    let head = u32::MAX << (lo % GROUP);
    let tail = u32::MAX >> (GROUP - 1 - (hi - 1) % GROUP);
    if a == b {
        return (bits[a] & head & tail).count_ones();
    }
    (bits[a] & head).count_ones()
        + bits[a + 1..b].iter().map(|w| w.count_ones()).sum::<u32>()
        + (bits[b] & tail).count_ones()
}

/// Conversions of arms 0 and 1 among the block's units `units`: unit u's arm
/// is bit u of `bits`, its outcome word `words[u - first]`, and it converts
/// when the word is below its arm's threshold (at most 2^32).
fn conversions(
    bits: &[u32],
    words: &[u32],
    first: usize,
    units: std::ops::Range<usize>,
    thresholds: [u64; 2],
) -> [u32; 2] {
    // `word < t` is `word <= t - 1` for t ≥ 1 (and t - 1 fits a u32 since
    // t ≤ 2^32). An arm with t = 0 never converts: its count is set to 0 at
    // the end, whatever its stand-in bound made the kernel count.
    let lim = thresholds.map(|t| t.saturating_sub(1).min(u64::from(u32::MAX)) as u32);
    let kernel = |bits: &[u32], groups: &[[u32; GROUP]]| {
        if lim[0] == lim[1] {
            group_hits::<true>(bits, groups, lim)
        } else {
            group_hits::<false>(bits, groups, lim)
        }
    };
    // The whole groups of 32 units in one go; the units before the first
    // and after the last (or all, within one group) as a group of their own.
    let whole_from = units.start.next_multiple_of(GROUP).min(units.end);
    let whole_to = (units.end / GROUP * GROUP).max(whole_from);
    let (mut all, mut treated) = (0, 0);
    if whole_to > whole_from {
        let (groups, _) = words[whole_from - first..whole_to - first].as_chunks::<GROUP>();
        (all, treated) = kernel(&bits[whole_from / GROUP..whole_to / GROUP], groups);
    }
    for part in [units.start..whole_from, whole_to..units.end] {
        if part.is_empty() {
            continue;
        }
        // The part's units at their places in a group padded with units of
        // arm 0 whose word is u32::MAX: they convert only when arm 0 always
        // does, and are then taken back out.
        let (at, n) = (part.start % GROUP, part.len());
        let mut group = [u32::MAX; GROUP];
        group[at..at + n].copy_from_slice(&words[part.start - first..part.end - first]);
        let own = (u32::MAX >> (GROUP - n)) << at;
        let (a, t) = kernel(&[bits[part.start / GROUP] & own], &[group]);
        all += a - if lim[0] == u32::MAX {
            (GROUP - n) as u32
        } else {
            0
        };
        treated += t;
    }
    // `all` counts both arms' conversions, `treated` arm 1's.
    [
        if thresholds[0] > 0 { all - treated } else { 0 },
        if thresholds[1] > 0 { treated } else { 0 },
    ]
}

/// The kernel: over whole groups (`bits[g]` holds the arms of the 32 units
/// whose words are `words[g]`), the units whose word is at most their arm's
/// bound `lim[arm]`, in all and in arm 1. `SAME` when both bounds are equal
/// (A/A), which saves the per-unit choice of bound.
///
/// Branch-free and written so that the compiler vectorises it within each
/// group, four units to a 128-bit vector: per unit, a compare for the hit,
/// an AND and compare against `BIT` for the arm, and two adds.
#[inline]
fn group_hits<const SAME: bool>(bits: &[u32], words: &[[u32; GROUP]], lim: [u32; 2]) -> (u32, u32) {
    let flip = lim[0] ^ lim[1];
    let mut all = [0u32; LANES];
    let mut treated = [0u32; LANES];
    for (&b, w) in bits.iter().zip(words) {
        // Rotate the lanes once per group: the sums do not care which lane
        // holds what, and the rotation keeps the compiler from vectorising
        // across groups (with strided gathers) instead of within one.
        all = [all[1], all[2], all[3], all[0]];
        treated = [treated[1], treated[2], treated[3], treated[0]];
        for c in 0..GROUP / LANES {
            for l in 0..LANES {
                let j = c * LANES + l;
                let arm1 = b & BIT[j] != 0;
                let bound = if SAME {
                    lim[0]
                } else {
                    lim[0] ^ (flip & 0u32.wrapping_sub(u32::from(arm1)))
                };
                let hit = w[j] <= bound;
                all[l] += u32::from(hit);
                treated[l] += u32::from(hit & arm1);
            }
        }
    }
    (all.iter().sum(), treated.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::super::{UnitScratch, UnitSim, thresholds_with_excluded};
    use super::*;
    use crate::assignment::tests::assignment;
    use crate::assignment::{HashAssigner, Method};
    use crate::metric::{Distribution, Sampler};
    use crate::rng::Purpose;

    fn random(weights: &[f64], coverage: f64) -> Assigner {
        Assigner::Random {
            arms: RandomArms::new(&assignment(weights, coverage)),
            key: Box::new(StreamKey::new(11, Purpose::Assignment)),
        }
    }

    /// A Bernoulli metric with conversion rate `p[arm]`, built as
    /// `UnitSim::new` builds one.
    fn bernoulli(tag: u32, p: [f64; 2]) -> MetricSim {
        MetricSim {
            outcome: StreamKey::new(11, Purpose::Outcome(tag)),
            stride: 1,
            samplers: p
                .iter()
                .map(|&p| Sampler::new(&Distribution::Bernoulli { p }))
                .collect(),
            bernoulli: Some(thresholds_with_excluded(p.into_iter())),
            lost: None,
            covariate: None,
        }
    }

    /// A 50/50 random experiment of `users` units with these metrics, on
    /// the one-bit road or (`general`) forced onto the general one.
    fn fifty_fifty(users: u64, metrics: &[[f64; 2]], general: bool) -> UnitSim {
        let assigner = random(&[0.5, 0.5], 1.0);
        let metrics: Vec<MetricSim> = (0u32..)
            .zip(metrics)
            .map(|(tag, &p)| bernoulli(tag, p))
            .collect();
        let one_bit = OneBit::new(&assigner, 2, 1, false, &metrics);
        assert!(one_bit.is_some());
        UnitSim {
            users,
            arms: 2,
            segments: None,
            assigner,
            srm: None,
            metrics,
            one_bit: one_bit.filter(|_| !general),
        }
    }

    fn simulate(sim: &UnitSim, r: u64, boundaries: &[u64]) -> Vec<ReplicationStats> {
        let mut out = vec![ReplicationStats::new(2, sim.metrics.len()); boundaries.len()];
        sim.simulate(r, boundaries, &mut UnitScratch::default(), &mut out);
        out
    }

    /// Look boundaries that cut blocks and groups anywhere: group and block
    /// edges, one unit either side of them, single units, and more pieces
    /// per block than one batch holds.
    fn schedules(users: u64) -> Vec<Vec<u64>> {
        let mut odd: Vec<u64> = [
            1, 31, 32, 33, 63, 64, 65, 100, 1023, 1024, 1025, 1500, 2047, 4000,
        ]
        .into_iter()
        .filter(|&b| b < users)
        .collect();
        odd.push(users);
        let mut dense: Vec<u64> = (1..40).map(|i| i * 7).filter(|&b| b < users).collect();
        dense.push(users);
        vec![vec![users], odd, dense]
    }

    /// The one-bit road gives exactly the general road's statistics: A/A
    /// and A/B, several metrics, rates of 0 and 1, populations that end
    /// mid-group and mid-block, and looks anywhere.
    #[test]
    fn one_bit_road_matches_the_general_road() {
        let designs: [&[[f64; 2]]; 3] = [
            &[[0.1, 0.1]],
            &[[0.3, 0.36], [0.02, 0.005]],
            &[
                [0.0, 0.5],
                [1.0, 0.25],
                [0.5, 0.0],
                [0.7, 1.0],
                [1e-9, 1e-9],
            ],
        ];
        for metrics in designs {
            for users in [1u64, 31, 32, 33, 1025, 2048, 3001, 10_000] {
                let road = fifty_fifty(users, metrics, false);
                let general = fifty_fifty(users, metrics, true);
                for boundaries in schedules(users) {
                    for r in [0u64, 1, 7, 1 << 40] {
                        let fast = simulate(&road, r, &boundaries);
                        let case =
                            format!("{metrics:?}, {users} users, looks {boundaries:?}, r {r}");
                        assert_eq!(fast, simulate(&general, r, &boundaries), "{case}");
                        let units: u64 = fast.iter().flat_map(|s| &s.assigned).sum();
                        assert_eq!(units, users, "{case}");
                    }
                }
            }
        }
    }

    /// Whatever the one-bit road does not model goes the general way.
    #[test]
    fn one_bit_road_only_where_it_applies() {
        let plain = [bernoulli(0, [0.1, 0.1])];
        assert!(OneBit::new(&random(&[0.5, 0.5], 1.0), 2, 1, false, &plain).is_some());
        for (weights, coverage) in [
            (&[0.25, 0.75][..], 1.0),
            (&[0.5, 0.25, 0.25][..], 1.0),
            (&[0.5, 0.5][..], 0.5),
            (&[1.0][..], 0.5),
        ] {
            let arms = weights.len();
            let assigner = random(weights, coverage);
            assert!(
                OneBit::new(&assigner, arms, 1, false, &plain).is_none(),
                "{weights:?}"
            );
        }
        let mut hashed = assignment(&[0.5, 0.5], 1.0);
        hashed.method = Method::Hash {
            version: crate::assignment::HashVersion::V2,
            salt: "s".into(),
            salt_per_replication: false,
        };
        let hash = Assigner::Hash(Box::new(HashAssigner::new(&hashed, "user-")));
        assert!(OneBit::new(&hash, 2, 1, false, &plain).is_none());
        let fair = random(&[0.5, 0.5], 1.0);
        assert!(
            OneBit::new(&fair, 2, 2, false, &plain).is_none(),
            "segments"
        );
        assert!(OneBit::new(&fair, 2, 1, true, &plain).is_none(), "SRM loss");
        let key = StreamKey::new(11, Purpose::LostEvent(0));
        let lost = [MetricSim {
            lost: Some((key.clone(), vec![0, 1 << 20, 0])),
            ..bernoulli(0, [0.1, 0.1])
        }];
        assert!(
            OneBit::new(&fair, 2, 1, false, &lost).is_none(),
            "lost events"
        );
        let covariate = [MetricSim {
            covariate: Some((key, 1 << 31)),
            ..bernoulli(0, [0.1, 0.1])
        }];
        assert!(
            OneBit::new(&fair, 2, 1, false, &covariate).is_none(),
            "covariate"
        );
        let normal = Distribution::Normal { mean: 1.0, sd: 1.0 };
        let continuous = [
            bernoulli(0, [0.1, 0.1]),
            MetricSim {
                stride: normal.stride(),
                samplers: vec![Sampler::new(&normal); 2],
                bernoulli: None,
                ..bernoulli(1, [0.1, 0.1])
            },
        ];
        assert!(
            OneBit::new(&fair, 2, 1, false, &continuous).is_none(),
            "normal"
        );
    }

    /// The kernel and its edges against one unit at a time, with thresholds
    /// that never and always convert, and ranges cut anywhere.
    #[test]
    fn conversions_count_every_unit_once() {
        let mut rng = StreamKey::new(3, Purpose::Outcome(0)).replication(0);
        let mut bits = [0u32; BLOCK / GROUP];
        let mut words = [0u32; BLOCK];
        rng.fill(&mut bits[..]);
        rng.fill(&mut words[..]);
        // Words at the thresholds' edges.
        words[40] = 0;
        words[41] = u32::MAX;
        words[42] = 429_496_729;
        words[43] = 429_496_730;
        let edges = [0u64, 1, 429_496_730, 1 << 31, u64::from(u32::MAX), 1 << 32];
        for &t0 in &edges {
            for &t1 in &edges {
                for (lo, hi) in [
                    (0, BLOCK),
                    (0, 0),
                    (5, 6),
                    (3, 77),
                    (32, 64),
                    (31, 1000),
                    (64, 1024),
                ] {
                    for first in [0, lo.min(3)] {
                        let mut want = [0u32; 2];
                        for u in lo..hi {
                            let arm = ((bits[u / 32] >> (u % 32)) & 1) as usize;
                            want[arm] += u32::from(u64::from(words[u]) < [t0, t1][arm]);
                        }
                        let got = conversions(&bits, &words[first..], first, lo..hi, [t0, t1]);
                        assert_eq!(got, want, "t {t0} {t1}, units {lo}..{hi}");
                        let ones_want = (lo..hi)
                            .filter(|u| bits[u / 32] >> (u % 32) & 1 == 1)
                            .count();
                        assert_eq!(ones(&bits, lo, hi) as usize, ones_want, "{lo}..{hi}");
                    }
                }
            }
        }
    }
}

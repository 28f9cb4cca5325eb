//! Small statistical building blocks shared by the analyses and the measures:
//! normal quantiles, Wilson intervals, exact (order-independent) sums, and a
//! fixed-grid p-value histogram with its Kolmogorov–Smirnov distance.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// Φ⁻¹(q) for the standard normal.
pub fn normal_quantile(q: f64) -> f64 {
    // Normal::standard() cannot fail; its inverse_cdf asserts 0 ≤ q ≤ 1, which
    // every caller here guarantees (alpha is validated to lie in (0, 1)).
    Normal::standard().inverse_cdf(q)
}

/// Two-sided p-value of a standard-normal statistic: 2·(1 − Φ(|z|)), via erfc so
/// tiny p-values keep their precision.
pub fn normal_two_sided_p(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    libm::erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// Φ(x) for the standard normal.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// A proportion with its Wilson score interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proportion {
    /// Successes / trials (0 with no trials).
    pub value: f64,
    /// Lower end of the Wilson interval (0 with no trials).
    pub lo: f64,
    /// Upper end of the Wilson interval (1 with no trials).
    pub hi: f64,
    /// Trials that succeeded.
    pub successes: u64,
    /// Trials in all.
    pub trials: u64,
}

/// Wilson score interval at level 1 − alpha. With no trials the proportion is
/// undefined; we report 0 with the vacuous interval [0, 1] rather than NaN, so
/// JSON stays valid and bounds checks fail loudly instead of silently.
pub fn wilson(successes: u64, trials: u64, alpha: f64) -> Proportion {
    if trials == 0 {
        return Proportion {
            value: 0.0,
            lo: 0.0,
            hi: 1.0,
            successes,
            trials,
        };
    }
    let n = trials as f64;
    let x = successes as f64;
    let z = normal_quantile(1.0 - alpha / 2.0);
    let z2 = z * z;
    let denom = n + z2;
    let center = (x + z2 / 2.0) / denom;
    let half = z / denom * (x * (n - x) / n + z2 / 4.0).sqrt();
    Proportion {
        value: x / n,
        lo: (center - half).max(0.0),
        hi: (center + half).min(1.0),
        successes,
        trials,
    }
}

/// Fixed-point scale of [`ExactSum`]: 2^-40 ≈ 9.1e-13 absolute resolution per
/// term, and a range of ±1.5e26 for the running sum.
const EXACT_SCALE: f64 = (1u64 << 40) as f64;

/// `y.round() as i128` (half away from zero, saturating), without the two
/// library calls it compiles to on baseline x86-64 (`round`, for want of
/// SSE4.1, and the software `__fixdfti`): they were a tenth of an aggregate
/// run. Below 2^63 the hardware's truncating conversion to i64 is exact,
/// and so is the fraction `y − trunc(y)` (both are representable and share
/// y's exponent or less); from 2^52 on y is an integer and the fraction 0.
#[inline]
fn round_to_i128(y: f64) -> i128 {
    const I64_RANGE: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if y.abs() < I64_RANGE {
        let t = y as i64;
        let frac = y - t as f64;
        i128::from(t + i64::from(frac >= 0.5) - i64::from(frac <= -0.5))
    } else {
        y.round() as i128
    }
}

/// Serde's `skip_serializing_if` for counters that are absent from results
/// while zero (so results without them keep their bytes).
pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A sum of f64 terms in 128-bit fixed point. Integer addition is associative,
/// so sums over contiguous replication ranges merge to exactly the value a single
/// sequential pass gives: the foundation of byte-identical sharded results.
/// Non-finite terms are counted, not added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactSum {
    /// The sum in units of 2^-40, as a decimal string in JSON (i128 is wider than
    /// JSON numbers are portably).
    #[serde(with = "i128_string")]
    pub fixed: i128,
    /// Finite terms added.
    pub count: u64,
    /// Terms that were NaN or infinite, left out of the sum.
    pub non_finite: u64,
}

impl ExactSum {
    /// The largest magnitude the fixed-point sum holds (2^87 ≈ 1.5e26): a
    /// term or total at or beyond it saturates, and the sum is meaningless.
    pub const RANGE: f64 = i128::MAX as f64 / EXACT_SCALE;

    /// Adds `x` and says whether the sum is still exact: false when `x` is not
    /// finite (it is counted in `non_finite`, not summed), when `x` alone is
    /// beyond [`Self::RANGE`], or when the running total ran out of range (it
    /// then saturates rather than wrap).
    #[must_use]
    pub fn add_checked(&mut self, x: f64) -> bool {
        if !x.is_finite() {
            self.non_finite += 1;
            return false;
        }
        self.count += 1;
        // The cast saturates, so a term beyond the range saturates the sum.
        let term = round_to_i128(x * EXACT_SCALE);
        if x.abs() >= Self::RANGE {
            self.fixed = self.fixed.saturating_add(term);
            return false;
        }
        match self.fixed.checked_add(term) {
            Some(sum) => {
                self.fixed = sum;
                true
            }
            None => {
                self.fixed = self.fixed.saturating_add(term);
                false
            }
        }
    }

    /// Appends another sum and says whether the total is still exact (false
    /// when it ran out of range and saturated).
    #[must_use]
    pub fn merge_checked(&mut self, other: &ExactSum) -> bool {
        self.count += other.count;
        self.non_finite += other.non_finite;
        match self.fixed.checked_add(other.fixed) {
            Some(sum) => {
                self.fixed = sum;
                true
            }
            None => {
                self.fixed = self.fixed.saturating_add(other.fixed);
                false
            }
        }
    }

    /// Adds `x` (rounded to 2^-40), saturating at the range; a non-finite `x` is
    /// only counted in `non_finite`. See [`ExactSum::add_checked`] to detect overflow.
    pub fn add(&mut self, x: f64) {
        if x.is_finite() {
            // Saturate rather than wrap: a term near f64::MAX is meaningless as a
            // simulation measure, and saturation keeps the sum's sign honest.
            self.fixed = self.fixed.saturating_add(round_to_i128(x * EXACT_SCALE));
            self.count += 1;
        } else {
            self.non_finite += 1;
        }
    }

    /// Adds the whole number `v`: the same as `add(v as f64)`, without the
    /// float round trip. Below 2^53, `v as f64` and its scaling by 2^40
    /// are exact, so the fixed-point term is `v · 2^40` itself.
    #[inline]
    pub fn add_u64(&mut self, v: u64) {
        if v < 1 << 53 {
            self.fixed = self.fixed.saturating_add(i128::from(v) << 40);
            self.count += 1;
        } else {
            self.add(v as f64);
        }
    }

    /// Appends another sum, saturating at the range. See [`ExactSum::merge_checked`].
    pub fn merge(&mut self, other: &ExactSum) {
        self.fixed = self.fixed.saturating_add(other.fixed);
        self.count += other.count;
        self.non_finite += other.non_finite;
    }

    /// The sum of the finite terms, as f64.
    pub fn total(&self) -> f64 {
        self.fixed as f64 / EXACT_SCALE
    }

    /// The mean of the finite terms, or None when there were none.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.total() / self.count as f64)
    }
}

mod i128_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

/// Bins of the fine p-value grid. KS distances are evaluated on this grid, so
/// they are exact at the bin edges and within 1/P_BINS of the exact statistic.
pub const P_BINS: usize = 1000;
/// Bins of the coarse histogram shown to users.
pub const P_BINS_COARSE: usize = 20;

/// Counts of p-values on a grid of [`P_BINS`] equal bins over [0, 1]; p = 1 goes
/// in the last bin. Counts merge exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PValueHistogram {
    /// Count per bin: bin i holds p in [i/1000, (i+1)/1000) (p = 1 in the last).
    pub counts: Vec<u64>,
}

impl Default for PValueHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0; P_BINS],
        }
    }
}

impl PValueHistogram {
    /// Counts `p` (clamped to [0, 1]; NaN counts as 1).
    pub fn add(&mut self, p: f64) {
        let p = if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) };
        let bin = ((p * P_BINS as f64) as usize).min(P_BINS - 1);
        self.counts[bin] += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &PValueHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// P-values counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The 20-bin histogram, as counts.
    pub fn coarse(&self) -> Vec<u64> {
        self.counts
            .chunks(P_BINS / P_BINS_COARSE)
            .map(|c| c.iter().sum())
            .collect()
    }

    /// sup |F_n(x) − x| over the grid edges: a lower bound on the exact KS
    /// distance from Uniform(0, 1), within 1/P_BINS of it.
    pub fn ks_distance(&self) -> f64 {
        let n = self.total();
        if n == 0 {
            return 0.0;
        }
        let mut below = 0u64;
        let mut d: f64 = 0.0;
        for (i, c) in self.counts.iter().enumerate() {
            below += c;
            let edge = (i + 1) as f64 / P_BINS as f64;
            d = d.max((below as f64 / n as f64 - edge).abs());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole numbers summed as integers give the very sums (and counts) the
    /// float path gives, below 2^53 and beyond, and at saturation.
    #[test]
    fn add_u64_is_add_of_the_float() {
        let values = [
            0,
            1,
            2,
            10_000,
            (1 << 40) + 3,
            (1 << 53) - 1,
            1 << 53,
            (1 << 53) + 1,
            u64::MAX / 3,
            u64::MAX,
        ];
        for &v in &values {
            let (mut int, mut float) = (ExactSum::default(), ExactSum::default());
            int.add_u64(v);
            float.add(v as f64);
            assert_eq!(int, float, "{v}");
        }
        let (mut int, mut float) = (ExactSum::default(), ExactSum::default());
        for _ in 0..100_000 {
            for &v in &values {
                int.add_u64(v);
                float.add(v as f64);
            }
        }
        assert_eq!(int, float);
    }

    /// The fast conversion is the library's `round` then a saturating cast,
    /// bit for bit: halves both ways, the edges of the exact ranges, and a
    /// spread of magnitudes.
    #[test]
    fn round_to_i128_is_round_then_cast() {
        let edges = [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            -2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4503599627370495.5,
            -4503599627370495.5,
            4503599627370496.0,
            9007199254740993.0,
            9.223372036854775e18,
            -9.223372036854775e18,
            9_223_372_036_854_775_808.0,
            -9_223_372_036_854_775_808.0,
            1e30,
            -1e30,
            1.7e38,
            -1.7e38,
            1e300,
            f64::MAX,
            f64::MIN,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let spread = (0..200_000).map(|_| {
            // xorshift: any bits will do, and every exponent gets some.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            f64::from_bits(state)
        });
        for y in edges.into_iter().chain(spread) {
            assert_eq!(round_to_i128(y), y.round() as i128, "{y:e}");
            let half = (y * 2.0).trunc() / 2.0;
            assert_eq!(round_to_i128(half), half.round() as i128, "{half:e}");
        }
    }

    #[test]
    fn exact_sum_merges_independently_of_split() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| (f64::from(i) * 0.7311).sin() * 1e3)
            .collect();
        let mut whole = ExactSum::default();
        xs.iter().for_each(|&x| whole.add(x));
        for split in [0, 1, 333, 999, 1000] {
            let (mut a, mut b) = (ExactSum::default(), ExactSum::default());
            xs[..split].iter().for_each(|&x| a.add(x));
            xs[split..].iter().for_each(|&x| b.add(x));
            a.merge(&b);
            assert_eq!(a, whole);
        }
        let naive: f64 = xs.iter().sum();
        assert!((whole.total() - naive).abs() < 1e-6);
    }

    #[test]
    fn checked_sums_say_when_they_ran_out_of_range() {
        let near = ExactSum::RANGE * 0.75;
        let mut s = ExactSum::default();
        assert!(s.add_checked(near));
        assert!(!s.add_checked(near), "the total is beyond the range");
        assert!(!ExactSum::default().add_checked(ExactSum::RANGE));
        assert!(!ExactSum::default().add_checked(f64::NEG_INFINITY));
        let (mut a, mut b) = (ExactSum::default(), ExactSum::default());
        assert!(a.add_checked(near) && b.add_checked(near));
        assert!(!a.merge_checked(&b));
        assert_eq!(a.fixed, i128::MAX, "saturated, not wrapped");
        let (mut a, mut b) = (ExactSum::default(), ExactSum::default());
        assert!(a.add_checked(near) && b.add_checked(-near));
        assert!(a.merge_checked(&b));
        assert_eq!(a.total(), 0.0);
    }

    #[test]
    fn exact_sum_counts_non_finite() {
        let mut s = ExactSum::default();
        s.add(f64::NAN);
        s.add(1.5);
        s.add(f64::INFINITY);
        assert_eq!((s.count, s.non_finite), (1, 2));
        assert_eq!(s.mean(), Some(1.5));
    }

    #[test]
    fn histogram_ks_of_grid_midpoints_is_small() {
        let mut h = PValueHistogram::default();
        for i in 0..10_000 {
            h.add((f64::from(i) + 0.5) / 10_000.0);
        }
        assert!(h.ks_distance() < 1e-3);
        assert_eq!(h.coarse().len(), 20);
        assert_eq!(h.coarse().iter().sum::<u64>(), 10_000);
        let mut skew = PValueHistogram::default();
        (0..100).for_each(|_| skew.add(0.0));
        assert!((skew.ks_distance() - 0.999).abs() < 1e-12);
        // p = 1 is a valid p-value and lands in the last bin.
        skew.add(1.0);
        assert_eq!(skew.counts[P_BINS - 1], 1);
    }
}

//! Random streams: every draw in a simulation comes from a ChaCha8 stream keyed
//! by (seed, purpose) and positioned by (replication, unit).
//!
//! The key is derived from the run seed and a [`Purpose`] tag; the ChaCha stream
//! number is the replication index; and a unit's draws start at word
//! `unit × stride`. So a unit's numbers depend only on (seed, purpose,
//! replication, unit), never on thread scheduling or chunking. Different purposes
//! use different keys, which gives common random numbers: two policies or arms
//! evaluated on one seed see the same users behaving the same way.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// What a stream is used for. Each purpose gets its own key, so adding draws for
/// one purpose never shifts the draws of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Random (non-hash) assignment of units to variants.
    Assignment,
    /// Which segment a unit belongs to.
    Segment,
    /// When a unit arrives during the experiment.
    Arrival,
    /// A metric's outcome; the tag is the FNV-1a hash of the metric's name, so a
    /// metric's draws do not depend on which other metrics the scenario lists.
    Outcome(u32),
    /// The pre-period covariate of a metric (same tag as its outcome).
    Covariate(u32),
    /// Whether a unit is lost to a sample-ratio-mismatch fault.
    SrmFault,
    /// Whether a metric's event is lost (same tag as its outcome).
    LostEvent(u32),
    /// The aggregate fast path: a replication's sufficient statistics.
    Aggregate,
    /// Bandit policy randomness (reserved).
    Policy,
    /// Bandit reward draws (reserved).
    Reward,
}

impl Purpose {
    /// A stable 64-bit code. Changing any of these numbers changes every result
    /// that uses the purpose; the value-stability tests guard them.
    pub const fn code(self) -> u64 {
        let (kind, index): (u64, u32) = match self {
            Purpose::Assignment => (1, 0),
            Purpose::Segment => (2, 0),
            Purpose::Arrival => (3, 0),
            Purpose::Outcome(m) => (4, m),
            Purpose::Covariate(m) => (5, m),
            Purpose::SrmFault => (6, 0),
            Purpose::LostEvent(m) => (7, m),
            Purpose::Aggregate => (8, 0),
            Purpose::Policy => (9, 0),
            Purpose::Reward => (10, 0),
        };
        (kind << 32) | index as u64
    }
}

/// SplitMix64's output function: a fixed, well-mixed bijection on u64.
const fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 256-bit ChaCha key for (seed, purpose). The seed is mixed before the
/// purpose is folded in, so (seed, purpose) pairs do not collide by XOR.
pub fn derive_key(seed: u64, purpose: Purpose) -> [u8; 32] {
    let mut state = seed;
    let mixed_seed = splitmix64(&mut state);
    let mut state = mixed_seed ^ purpose.code().rotate_left(17);
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    key
}

/// A keyed generator for one purpose; cheap to clone and reposition.
#[derive(Clone, Debug)]
pub struct StreamKey {
    key: [u8; 32],
}

impl StreamKey {
    pub fn new(seed: u64, purpose: Purpose) -> Self {
        Self {
            key: derive_key(seed, purpose),
        }
    }

    /// The stream of one replication, positioned at its first unit. Built from
    /// the key rather than cloned: a fresh generator has an empty output
    /// buffer, a clone would copy 256 bytes that are then thrown away.
    pub fn replication(&self, replication: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(replication);
        rng
    }

    /// The stream of one replication, positioned at `unit`'s first word for a
    /// per-unit width of `stride` words.
    pub fn unit(&self, replication: u64, unit: u64, stride: u64) -> ChaCha8Rng {
        let mut rng = self.replication(replication);
        rng.set_word_pos(u128::from(unit) * u128::from(stride));
        rng
    }
}

/// A uniform in [0, 1) with 53 random bits.
#[inline]
pub fn unit_f64(word: u64) -> f64 {
    (word >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform in the open interval (0, 1), for inverse CDFs that diverge at 0 and 1.
/// It uses 52 bits: with 53, the largest value (2^53 − ½)·2^-53 rounds to 1.0.
#[inline]
pub fn open_unit_f64(word: u64) -> f64 {
    ((word >> 12) as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
}

/// Two consecutive stream words as one u64 (low word first, as rand_core does).
#[inline]
pub fn join_words(lo: u32, hi: u32) -> u64 {
    (u64::from(hi) << 32) | u64::from(lo)
}

/// A probability as a threshold on a u32 word: `word < threshold` has
/// probability `p` to within 2^-32, and p = 1 gives certainty.
pub fn u32_threshold(p: f64) -> u64 {
    let p = p.clamp(0.0, 1.0);
    (p * 4_294_967_296.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn purposes_have_distinct_codes() {
        let all = [
            Purpose::Assignment,
            Purpose::Segment,
            Purpose::Arrival,
            Purpose::Outcome(0),
            Purpose::Outcome(1),
            Purpose::Covariate(0),
            Purpose::SrmFault,
            Purpose::LostEvent(0),
            Purpose::Aggregate,
            Purpose::Policy,
            Purpose::Reward,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.code(), b.code(), "{a:?} {b:?}");
                assert_ne!(derive_key(1, *a), derive_key(1, *b));
            }
        }
    }

    #[test]
    fn unit_position_matches_sequential_reading() {
        let key = StreamKey::new(42, Purpose::Outcome(7));
        let mut seq = key.replication(3);
        let words: Vec<u32> = (0..300).map(|_| seq.next_u32()).collect();
        for unit in [0u64, 1, 5, 16, 63, 99] {
            let mut at = key.unit(3, unit, 3);
            for k in 0..3 {
                assert_eq!(at.next_u32(), words[(unit * 3 + k) as usize]);
            }
        }
    }

    #[test]
    fn uniform_conversions_stay_in_range() {
        assert_eq!(unit_f64(0), 0.0);
        assert!(unit_f64(u64::MAX) < 1.0);
        assert!(open_unit_f64(0) > 0.0);
        assert!(open_unit_f64(u64::MAX) < 1.0);
        assert_eq!(u32_threshold(1.0), 1 << 32);
        assert_eq!(u32_threshold(0.0), 0);
        assert_eq!(u32_threshold(0.5), 1 << 31);
    }
}

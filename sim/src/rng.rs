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
    /// A bandit policy's own randomness; the tag is the FNV-1a hash of the
    /// policy's name, so policies in one scenario draw independently. Build
    /// it with [`Purpose::policy`].
    Policy(u32),
    /// Bandit reward draws (shared by every policy: common random numbers).
    Reward,
    /// Random feedback delays of bandit rewards.
    Feedback,
    /// A served bandit's Monte Carlo propensities in one context; the tag is
    /// the FNV-1a hash of `"{bandit}/{context}"`. Build it with
    /// [`Purpose::propensity`].
    Propensity(u32),
    /// The load generator's own choices (which experiment, bandit and arm).
    LoadGenerator,
    /// A plug-in method's or policy's randomness; the tag is the FNV-1a hash
    /// of its name. Build it with [`Purpose::plugin`].
    Plugin(u32),
    /// How many events each user of a clustered population has.
    Events,
    /// How many denominator events (orders, say) each user has for a ratio
    /// metric (same tag as its outcome).
    Denominator(u32),
    /// The feature vectors of a contextual bandit's steps.
    Context,
    /// A feature environment's reward coefficients, when drawn from the seed.
    Coefficients,
    /// The contexts over which a policy's true value is averaged (off-policy
    /// evaluation's ground truth).
    Truth,
}

impl Purpose {
    /// The stream of the bandit policy named `name`, in the simulator and in
    /// the serving API alike.
    pub fn policy(name: &str) -> Self {
        Purpose::Policy(crate::assignment::growthbook::fnv1a32(name))
    }

    /// The stream of the plug-in (method or policy) named `name`. Its own
    /// kind, so a plug-in never shares a built-in policy's stream.
    pub fn plugin(name: &str) -> Self {
        Purpose::Plugin(crate::assignment::growthbook::fnv1a32(name))
    }

    /// The stream that estimates the propensities of served bandit `bandit`
    /// in `context`. Its own kind, so no policy name can share it.
    pub fn propensity(bandit: &str, context: usize) -> Self {
        Purpose::Propensity(
            crate::assignment::growthbook::Fnv32::new()
                .write_str(bandit)
                .write_str("/")
                .write_u64_decimal(context as u64)
                .finish(),
        )
    }

    /// The load generator's stream. Its own kind, so a bandit named
    /// `load-generator` does not share it.
    pub const fn load_generator() -> Self {
        Purpose::LoadGenerator
    }

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
            Purpose::Policy(p) => (9, p),
            Purpose::Reward => (10, 0),
            Purpose::Feedback => (11, 0),
            Purpose::Propensity(p) => (12, p),
            Purpose::LoadGenerator => (13, 0),
            Purpose::Plugin(p) => (14, p),
            Purpose::Events => (15, 0),
            Purpose::Denominator(m) => (16, m),
            Purpose::Context => (17, 0),
            Purpose::Coefficients => (18, 0),
            Purpose::Truth => (19, 0),
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
    /// The key of `seed`'s stream for `purpose` (a splitmix64 expansion of both).
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

/// Replications that share a ChaCha stream, eight to a stream.
pub const LANES: u64 = 8;
/// One lane's share of a 64-word window: half a ChaCha block.
const LANE_WORDS: usize = 8;

/// Streams for paths that draw only a few words per replication (the aggregate
/// path). ChaCha8 generates 4 blocks (64 words) at a time; giving a whole
/// stream to a replication that needs ~6 words (an A/B test's three binomial
/// draws by alias table) wastes most of it. Here replication r reads words
/// 8·(r mod 8) to 8·(r mod 8) + 7 of each successive 64-word window of
/// stream ⌊r/8⌋, so eight neighbouring replications share each generated
/// window; one that needs more words reads on into the next windows. A
/// replication's words still depend only on (seed, purpose, r).
///
/// This is a per-worker cache: it keeps the windows of the last stream used,
/// so consecutive replications on one worker generate each window once.
/// Which replications hit the cache affects speed only, never values.
#[derive(Clone, Debug)]
pub struct LaneStreams {
    key: StreamKey,
    stream: Option<u64>,
    rng: ChaCha8Rng,
    windows: Vec<[u32; 64]>,
}

impl LaneStreams {
    /// An empty cache over `key`'s streams.
    pub fn new(key: StreamKey) -> Self {
        let rng = key.replication(0);
        Self {
            key,
            stream: None,
            rng,
            windows: Vec::new(),
        }
    }

    /// The generator of replication `r`.
    pub fn replication(&mut self, r: u64) -> LaneRng<'_> {
        let stream = r / LANES;
        if self.stream != Some(stream) {
            self.rng = self.key.replication(stream);
            self.windows.clear();
            self.stream = Some(stream);
        }
        let lane = (r % LANES) as usize * LANE_WORDS;
        let block = self.block(0, lane);
        LaneRng {
            streams: self,
            lane,
            window: 0,
            block,
            pos: 0,
        }
    }

    /// One lane's block of a window, generating windows up to it on demand.
    fn block(&mut self, window: usize, lane: usize) -> [u32; LANE_WORDS] {
        while self.windows.len() <= window {
            let mut w = [0u32; 64];
            rand::RngExt::fill(&mut self.rng, &mut w[..]);
            self.windows.push(w);
        }
        let mut block = [0u32; LANE_WORDS];
        block.copy_from_slice(&self.windows[window][lane..lane + LANE_WORDS]);
        block
    }
}

/// One replication's view of a [`LaneStreams`]: its block of every window.
pub struct LaneRng<'a> {
    streams: &'a mut LaneStreams,
    lane: usize,
    window: usize,
    /// The current window's block, copied so reads need no bounds checks
    /// into the cache.
    block: [u32; LANE_WORDS],
    pos: usize,
}

impl rand_core::TryRng for LaneRng<'_> {
    type Error = std::convert::Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        if self.pos == LANE_WORDS {
            self.window += 1;
            self.block = self.streams.block(self.window, self.lane);
            self.pos = 0;
        }
        let w = self.block[self.pos];
        self.pos += 1;
        Ok(w)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let lo = self.try_next_u32()?;
        let hi = self.try_next_u32()?;
        Ok(join_words(lo, hi))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(4) {
            let w = self.try_next_u32()?.to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
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

/// Upper thresholds on a 32-bit word for picking a segment by weight: the
/// word's segment is the first whose threshold exceeds it. Weights are
/// normalised by their sum, and the last threshold is 2^32, so every word
/// maps to a segment. Experiments' populations and bandits' environments
/// both pick segments through it.
pub fn segment_thresholds(weights: impl Iterator<Item = f64> + Clone) -> Vec<u64> {
    let total: f64 = weights.clone().sum();
    let mut acc = 0.0;
    let mut out: Vec<u64> = weights
        .map(|w| {
            acc += w;
            u32_threshold(acc / total)
        })
        .collect();
    if let Some(last) = out.last_mut() {
        *last = 1 << 32;
    }
    out
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
            Purpose::Policy(0),
            Purpose::Policy(1),
            Purpose::Reward,
            Purpose::Feedback,
            Purpose::Propensity(0),
            Purpose::Propensity(1),
            Purpose::LoadGenerator,
            Purpose::Plugin(0),
            Purpose::Plugin(1),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.code(), b.code(), "{a:?} {b:?}");
                assert_ne!(derive_key(1, *a), derive_key(1, *b));
            }
        }
    }

    /// Every purpose a name can build, over names chosen to collide under
    /// the old scheme (everything a `Policy` hash): a bandit named like the
    /// load generator or like another bandit's propensity stream.
    #[test]
    fn purposes_built_from_names_never_collide() {
        let mut names: Vec<String> = [
            "load-generator",
            "x",
            "x/propensity/0",
            "x/0",
            "x/1",
            "thompson",
            "thompson/0",
            "",
            "/",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        names.extend((0..300).map(|i| format!("policy-{i}")));
        let mut seen = std::collections::HashMap::new();
        let mut add = |p: Purpose| {
            if let Some(old) = seen.insert(p.code(), p) {
                assert_eq!(old, p, "{old:?} and {p:?} share code {:#x}", p.code());
            }
        };
        add(Purpose::load_generator());
        for name in &names {
            add(Purpose::policy(name));
            for context in 0..3 {
                add(Purpose::propensity(name, context));
            }
        }
        assert_eq!(seen.len(), 1 + names.len() * 4);
    }

    /// The policy stream is the one results were published with.
    #[test]
    fn policy_purpose_keeps_its_code() {
        let hash = crate::assignment::growthbook::fnv1a32("thompson");
        assert_eq!(Purpose::policy("thompson"), Purpose::Policy(hash));
        assert_eq!(
            Purpose::policy("thompson").code(),
            (9 << 32) | u64::from(hash)
        );
        assert_eq!(
            Purpose::propensity("thompson", 12),
            Purpose::Propensity(crate::assignment::growthbook::fnv1a32("thompson/12"))
        );
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
    fn lanes_interleave_blocks_and_ignore_cache_history() {
        let key = StreamKey::new(5, Purpose::Aggregate);
        let mut whole = key.replication(2);
        let words: Vec<u32> = (0..512).map(|_| whole.next_u32()).collect();
        // Replication 17 is lane 1 of stream 2: words 8..16, then 72..80, ...
        let mut cache = LaneStreams::new(StreamKey::new(5, Purpose::Aggregate));
        let mut r17 = cache.replication(17);
        let got: Vec<u32> = (0..40).map(|_| r17.next_u32()).collect();
        let want: Vec<u32> = (0..40).map(|i| words[(i / 8) * 64 + 8 + i % 8]).collect();
        assert_eq!(got, want);
        // The same replication through a cache that last served another
        // stream, or a neighbour lane, gives the same words.
        let mut other = LaneStreams::new(StreamKey::new(5, Purpose::Aggregate));
        let _ = other.replication(60).next_u64();
        let _ = other.replication(16).next_u64();
        let mut again = other.replication(17);
        let got2: Vec<u32> = (0..40).map(|_| again.next_u32()).collect();
        assert_eq!(got2, want);
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

    #[test]
    fn segment_thresholds_normalise_and_end_at_two_to_the_32() {
        let t = |w: &[f64]| segment_thresholds(w.iter().copied());
        assert_eq!(t(&[0.25, 0.75]), vec![1 << 30, 1 << 32]);
        // Weights a hair off 1 in total (readers allow 1e-9) are normalised:
        // the shares stay exact.
        assert_eq!(
            t(&[0.5 * (1.0 + 1e-9), 0.5 * (1.0 + 1e-9)]),
            vec![1 << 31, 1 << 32]
        );
        assert_eq!(t(&[2.0, 6.0]), vec![1 << 30, 1 << 32]);
        assert_eq!(t(&[1.0]), vec![1 << 32]);
        assert!(t(&[]).is_empty());
    }
}

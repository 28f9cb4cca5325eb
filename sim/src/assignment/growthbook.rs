//! GrowthBook-compatible deterministic bucketing.
//!
//! This reproduces the assignment primitives of the GrowthBook JS SDK (`util.ts`) so that a
//! simulated unit lands in exactly the variation a real GrowthBook client would put it in:
//!
//! * 32-bit FNV-1a hashing over UTF-16 code units ([`Fnv32`], [`fnv1a32`]);
//! * the version-1 and version-2 bucket hashes ([`hash`], [`hash_with`]);
//! * bucket ranges from coverage and weights ([`bucket_ranges`], [`equal_weights`]);
//! * picking a variation from a bucket value ([`choose_variation`]);
//! * namespace (mutual-exclusion) membership ([`in_namespace`]).
//!
//! Simulations hash millions of synthetic ids of the form `prefix` + decimal index, so there are
//! also streaming variants ([`hash_prefixed_index`], [`PrefixedIdHasher`],
//! [`in_namespace_prefixed_index`]) that never build the id string. FNV-1a is a left fold over
//! the input, so feeding the pieces one after another gives the same state as hashing the
//! concatenation.
//!
//! The reference vectors are vendored in `sim/tests/data/growthbook/` (with their source and
//! licence) and checked by `tests/growthbook_vectors.rs`.

use serde::{Deserialize, Serialize};

/// 32-bit FNV-1a state over UTF-16 code units (JS semantics); for ASCII the same as byte-wise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv32(pub u32);

impl Fnv32 {
    /// FNV-1a 32-bit offset basis.
    pub const OFFSET: u32 = 2166136261;
    /// FNV 32-bit prime.
    pub const PRIME: u32 = 16777619;

    /// A fresh state at the offset basis.
    #[inline]
    pub fn new() -> Self {
        Self(Self::OFFSET)
    }

    #[inline]
    fn step(self, unit: u32) -> Self {
        Self((self.0 ^ unit).wrapping_mul(Self::PRIME))
    }

    /// Feeds `s` as the JS SDK sees it: one step per UTF-16 code unit.
    ///
    /// ASCII bytes are identical to their UTF-16 code units, so the common case skips the
    /// UTF-8 decoding entirely. Anything else must go through UTF-16, otherwise non-ASCII ids
    /// would bucket differently from the JS SDK.
    #[inline]
    pub fn write_str(self, s: &str) -> Self {
        if s.is_ascii() {
            self.write_ascii(s.as_bytes())
        } else {
            s.encode_utf16().fold(self, |h, u| h.step(u32::from(u)))
        }
    }

    /// Feeds raw bytes, one step per byte. Only equal to [`Fnv32::write_str`] when the bytes
    /// are ASCII, which the caller guarantees (decimal digits, mostly).
    #[inline]
    pub fn write_ascii(self, bytes: &[u8]) -> Self {
        bytes.iter().fold(self, |h, &b| h.step(u32::from(b)))
    }

    /// Feeds pre-encoded UTF-16 code units, so hot loops can skip re-encoding a fixed string.
    #[inline]
    fn write_utf16(self, units: &[u16]) -> Self {
        units.iter().fold(self, |h, &u| h.step(u32::from(u)))
    }

    /// Feeds the plain base-10 digits of `v` (no sign, no padding), as JS `String(v)` would
    /// print it, without allocating.
    #[inline]
    pub fn write_u64_decimal(self, v: u64) -> Self {
        // itoa formats into a stack buffer two digits at a time: no allocation,
        // and far fewer dependent divisions than a digit-by-digit loop.
        let mut buf = itoa::Buffer::new();
        self.write_ascii(buf.format(v).as_bytes())
    }

    /// The hash value as an unsigned 32-bit integer (what the JS `>>> 0` produces).
    #[inline]
    pub fn finish(self) -> u32 {
        self.0
    }
}

impl Default for Fnv32 {
    fn default() -> Self {
        Self::new()
    }
}

/// 32-bit FNV-1a of `s` over UTF-16 code units.
#[inline]
pub fn fnv1a32(s: &str) -> u32 {
    Fnv32::new().write_str(s).finish()
}

/// The GrowthBook hashing scheme used to turn a unit id into a bucket value in `[0, 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HashVersion {
    /// `fnv(value + seed) % 1000 / 1000`: the original scheme, kept for old experiments and
    /// always used for namespaces.
    V1,
    /// `fnv(decimal(fnv(seed + value))) % 10000 / 10000`: the re-hash removes the bias of v1.
    V2,
}

impl HashVersion {
    /// Maps GrowthBook's `hashVersion` number; anything but 1 or 2 is unknown.
    pub fn from_number(v: i64) -> Option<HashVersion> {
        match v {
            1 => Some(HashVersion::V1),
            2 => Some(HashVersion::V2),
            _ => None,
        }
    }

    /// The number GrowthBook uses for this version.
    pub fn number(self) -> u32 {
        match self {
            HashVersion::V1 => 1,
            HashVersion::V2 => 2,
        }
    }
}

// Dividing the small integer remainder (rather than multiplying by 0.001) yields the correctly
// rounded double, which is exactly what JS computes and what the JSON literals parse to.
#[inline]
fn v1_bucket(state: Fnv32) -> f64 {
    f64::from(v1_bucket_index(state)) / 1000.0
}

#[inline]
fn v2_bucket(state: Fnv32) -> f64 {
    f64::from(v2_bucket_index(state)) / 10000.0
}

/// The numerator of the v1 bucket value (`hash % 1000`).
#[inline]
fn v1_bucket_index(state: Fnv32) -> u32 {
    state.finish() % 1000
}

/// The numerator of the v2 bucket value: FNV of the first hash's decimal
/// digits, modulo 10000.
#[inline]
fn v2_bucket_index(state: Fnv32) -> u32 {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(state.finish());
    Fnv32::new().write_ascii(digits.as_bytes()).finish() % 10000
}

impl HashVersion {
    /// How many distinct bucket values the version produces (1000 or 10000):
    /// bucket values are `index / resolution`.
    pub fn resolution(self) -> u32 {
        match self {
            HashVersion::V1 => 1000,
            HashVersion::V2 => 10000,
        }
    }
}

/// GrowthBook `hash(seed, value, version)`; None for an unknown version.
pub fn hash(seed: &str, value: &str, version: i64) -> Option<f64> {
    HashVersion::from_number(version).map(|v| hash_with(seed, value, v))
}

/// Same, typed version; never fails.
pub fn hash_with(seed: &str, value: &str, version: HashVersion) -> f64 {
    // The two versions concatenate in opposite orders; feeding the parts in that order is the
    // same as hashing the concatenation and avoids building it.
    match version {
        HashVersion::V1 => v1_bucket(Fnv32::new().write_str(value).write_str(seed)),
        HashVersion::V2 => v2_bucket(Fnv32::new().write_str(seed).write_str(value)),
    }
}

/// The same hash for a unit id of the form `prefix` followed by the plain decimal digits of
/// `index`, computed without building the string (FNV is streaming).
/// Equals `hash_with(seed, &format!("{prefix}{index}"), version)`.
pub fn hash_prefixed_index(seed: &str, prefix: &str, index: u64, version: HashVersion) -> f64 {
    match version {
        HashVersion::V1 => v1_bucket(
            Fnv32::new()
                .write_str(prefix)
                .write_u64_decimal(index)
                .write_str(seed),
        ),
        HashVersion::V2 => v2_bucket(
            Fnv32::new()
                .write_str(seed)
                .write_str(prefix)
                .write_u64_decimal(index),
        ),
    }
}

/// Precomputed form of [`hash_prefixed_index`] for a hot loop: build once per
/// (seed, prefix, version), then call [`PrefixedIdHasher::hash`] per index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixedIdHasher {
    version: HashVersion,
    /// State after everything that precedes the digits: `seed + prefix` for v2, `prefix` for v1.
    head: Fnv32,
    /// What follows the digits: the seed for v1 (value comes first there), empty for v2.
    /// Kept as UTF-16 units so the per-index path does no re-encoding.
    tail: Box<[u16]>,
}

impl PrefixedIdHasher {
    /// Precomputes the parts of the hash that do not depend on the index.
    pub fn new(seed: &str, prefix: &str, version: HashVersion) -> Self {
        let (head, tail) = match version {
            HashVersion::V1 => (
                Fnv32::new().write_str(prefix),
                seed.encode_utf16().collect(),
            ),
            HashVersion::V2 => (
                Fnv32::new().write_str(seed).write_str(prefix),
                Box::default(),
            ),
        };
        Self {
            version,
            head,
            tail,
        }
    }

    /// Bucket value of the id `prefix` + `index`; equal to [`hash_prefixed_index`].
    #[inline]
    pub fn hash(&self, index: u64) -> f64 {
        f64::from(self.bucket_index(index)) / f64::from(self.version.resolution())
    }

    /// The bucket value's numerator: `hash(index) == bucket_index(index) /
    /// resolution` exactly, so callers can look buckets up in a table instead
    /// of dividing and searching ranges per unit.
    #[inline]
    pub fn bucket_index(&self, index: u64) -> u32 {
        let state = self.head.write_u64_decimal(index).write_utf16(&self.tail);
        match self.version {
            HashVersion::V1 => v1_bucket_index(state),
            HashVersion::V2 => v2_bucket_index(state),
        }
    }
}

/// GrowthBook `getEqualWeights`: `n` copies of `1/n`, empty for `n <= 0`.
///
/// A count too large to allocate also yields an empty list instead of aborting; the JS
/// `new Array(n)` throws in that situation, so there is no meaningful result to match.
pub fn equal_weights(n: i64) -> Vec<f64> {
    match usize::try_from(n) {
        Ok(count) if count > 0 => equal_weights_usize(count),
        _ => Vec::new(),
    }
}

fn equal_weights_usize(count: usize) -> Vec<f64> {
    let mut out = Vec::new();
    if count == 0 || out.try_reserve_exact(count).is_err() {
        return out;
    }
    // Precision loss for counts above 2^53 is irrelevant: such a list could not be allocated.
    let w = 1.0 / count as f64;
    out.resize(count, w);
    out
}

/// GrowthBook `getBucketRanges`: coverage clamped to [0,1]; weights replaced by equal weights
/// when missing, wrong length, or sum outside [0.99, 1.01].
///
/// Each range starts at the running total of the *full* weights and is only trimmed on the right
/// by coverage, so raising coverage later never moves an already-assigned unit to another
/// variation.
pub fn bucket_ranges(
    num_variations: usize,
    coverage: f64,
    weights: Option<&[f64]>,
) -> Vec<(f64, f64)> {
    // JS lets NaN through its `< 0` / `> 1` checks and produces NaN ranges that match nothing;
    // 0 gives the same assignments while keeping the ranges finite (and serialisable).
    let coverage = if coverage.is_nan() {
        0.0
    } else {
        coverage.clamp(0.0, 1.0)
    };

    let accepted = weights.filter(|w| {
        // Summed left to right from 0 like the JS `reduce`, so borderline sums agree.
        let total = w.iter().fold(0.0, |acc, x| acc + x);
        // Written as a range check so a NaN total is rejected too (JS would accept it).
        w.len() == num_variations && (0.99..=1.01).contains(&total)
    });
    let equal;
    let weights: &[f64] = match accepted {
        Some(w) => w,
        None => {
            equal = equal_weights_usize(num_variations);
            &equal
        }
    };

    let mut cumulative = 0.0;
    weights
        .iter()
        .map(|&w| {
            let start = cumulative;
            cumulative += w;
            // Same operation order as the JS so results match bit for bit.
            (start, start + coverage * w)
        })
        .collect()
}

/// GrowthBook `chooseVariation`: index of the first half-open range containing n, or None.
///
/// Half-open ranges make a value on a shared boundary go to the later variation, and make
/// zero-width ranges (zero coverage) unreachable.
pub fn choose_variation(n: f64, ranges: &[(f64, f64)]) -> Option<usize> {
    ranges
        .iter()
        .position(|&(start, end)| n >= start && n < end)
}

/// A GrowthBook namespace: experiments sharing an `id` with disjoint `[start, end)` slices are
/// mutually exclusive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    /// Namespace id; part of the hash seed.
    pub id: String,
    /// Inclusive lower bound of the slice, in `[0, 1]`.
    pub start: f64,
    /// Exclusive upper bound of the slice, in `[0, 1]`.
    pub end: f64,
}

#[inline]
fn namespace_contains(ns: &Namespace, n: f64) -> bool {
    n >= ns.start && n < ns.end
}

/// GrowthBook `inNamespace`: version-1 hash of seed `"__" + id` over value `hash_value`,
/// half-open `[start, end)`.
///
/// Always v1, whatever the experiment's hash version, because that is what the SDK does and
/// namespace slices must be stable across experiments.
pub fn in_namespace(hash_value: &str, ns: &Namespace) -> bool {
    // v1 hashes value + seed, i.e. hash_value + "__" + id, streamed to avoid allocating the seed.
    let state = Fnv32::new()
        .write_str(hash_value)
        .write_ascii(b"__")
        .write_str(&ns.id);
    namespace_contains(ns, v1_bucket(state))
}

/// Same as [`in_namespace`] for the id `prefix` + decimal `index`, without building the string.
pub fn in_namespace_prefixed_index(prefix: &str, index: u64, ns: &Namespace) -> bool {
    let state = Fnv32::new()
        .write_str(prefix)
        .write_u64_decimal(index)
        .write_ascii(b"__")
        .write_str(&ns.id);
    namespace_contains(ns, v1_bucket(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDICES: [u64; 9] = [0, 1, 9, 10, 99, 100, 12345, u64::MAX - 1, u64::MAX];
    const PREFIXES: [&str; 4] = ["", "user-", "ü-", "😀"];
    const SEEDS: [&str; 3] = ["", "exp-key", "é"];
    const VERSIONS: [HashVersion; 2] = [HashVersion::V1, HashVersion::V2];

    #[test]
    fn fnv_check_values() {
        assert_eq!(fnv1a32(""), 2166136261);
        assert_eq!(fnv1a32("a"), 3826002220);
        assert_eq!(Fnv32::default(), Fnv32::new());
        assert_eq!(Fnv32::new().finish(), Fnv32::OFFSET);
    }

    #[test]
    fn md_examples() {
        // v1: seed "", value "a" -> 3826002220 % 1000 = 220.
        assert_eq!(hash("", "a", 1), Some(0.22));
        // v2: FNV("seeda") = 717764279, FNV("717764279") = 2503390505 -> 505.
        assert_eq!(fnv1a32("seeda"), 717764279);
        assert_eq!(fnv1a32("717764279"), 2503390505);
        assert_eq!(hash("seed", "a", 2), Some(0.0505));
        assert_eq!(hash("abc", "def", 99), None);
        assert_eq!(hash("abc", "def", 0), None);
        // Namespace example: FNV("1__namespace1") = 98420680 -> 0.68.
        assert_eq!(fnv1a32("1__namespace1"), 98420680);
        let ns = |start, end| Namespace {
            id: "namespace1".into(),
            start,
            end,
        };
        assert!(in_namespace("1", &ns(0.4, 1.0)));
        assert!(!in_namespace("1", &ns(0.0, 0.4)));
    }

    #[test]
    fn hash_version_numbers() {
        for v in VERSIONS {
            assert_eq!(HashVersion::from_number(i64::from(v.number())), Some(v));
        }
        assert_eq!(HashVersion::from_number(-1), None);
        assert_eq!(HashVersion::from_number(3), None);
    }

    // Expected values computed with a small Python FNV-1a over `str.encode("utf-16-le")` units.
    #[test]
    fn non_ascii_uses_utf16_code_units() {
        // U+00E9 is one code unit 0x00E9 (UTF-8 would be two bytes C3 A9 -> 513665217).
        assert_eq!(fnv1a32("é"), 1812687940);
        // U+1F600 is the surrogate pair D83D DE00 (UTF-8 would be 4 bytes -> 866293256).
        assert_eq!(fnv1a32("😀"), 3409036472);
        assert_eq!(fnv1a32("ü-7"), 1495999759);
        assert_eq!(fnv1a32("naïve😀x"), 3801827059);
        // v1: FNV("😀é") = 811076483 -> 0.483.
        assert_eq!(hash("é", "😀", 1), Some(0.483));
        // v2: FNV("é😀") = 1154239905, FNV("1154239905") = 1454703576 -> 0.3576.
        assert_eq!(hash("é", "😀", 2), Some(0.3576));
        assert_eq!(hash("x", "naïve😀x", 1), Some(0.217));
        assert_eq!(hash("x", "naïve😀x", 2), Some(0.3832));
    }

    #[test]
    fn decimal_writer_matches_to_string() {
        for v in INDICES
            .into_iter()
            .chain([7, 1000, 4294967295, 10u64.pow(19)])
        {
            let expected = Fnv32::new().write_ascii(v.to_string().as_bytes());
            assert_eq!(Fnv32::new().write_u64_decimal(v), expected, "v = {v}");
        }
    }

    #[test]
    fn streaming_hashes_match_string_versions() {
        for version in VERSIONS {
            for seed in SEEDS {
                for prefix in PREFIXES {
                    let hasher = PrefixedIdHasher::new(seed, prefix, version);
                    for index in INDICES {
                        let id = format!("{prefix}{index}");
                        let expected = hash_with(seed, &id, version);
                        let ctx = format!("{version:?} seed={seed:?} id={id:?}");
                        assert_eq!(
                            hash_prefixed_index(seed, prefix, index, version),
                            expected,
                            "{ctx}"
                        );
                        assert_eq!(hasher.hash(index), expected, "{ctx}");
                    }
                }
            }
        }
    }

    #[test]
    fn namespace_streaming_matches_string_version() {
        for id in ["namespace1", "ns-ü"] {
            for (start, end) in [(0.0, 0.4), (0.4, 1.0), (0.25, 0.75), (0.0, 1.0)] {
                let ns = Namespace {
                    id: id.into(),
                    start,
                    end,
                };
                for prefix in PREFIXES {
                    for index in INDICES {
                        let uid = format!("{prefix}{index}");
                        assert_eq!(
                            in_namespace_prefixed_index(prefix, index, &ns),
                            in_namespace(&uid, &ns),
                            "ns={ns:?} id={uid:?}"
                        );
                        // Cross-check against the spelled-out definition.
                        let n = hash_with(&format!("__{id}"), &uid, HashVersion::V1);
                        assert_eq!(in_namespace(&uid, &ns), start <= n && n < end);
                    }
                }
            }
        }
    }

    #[test]
    fn bucket_ranges_edge_inputs_do_not_panic() {
        assert!(bucket_ranges(0, 1.0, None).is_empty());
        assert_eq!(
            bucket_ranges(2, f64::NAN, None),
            vec![(0.0, 0.0), (0.5, 0.5)]
        );
        assert_eq!(
            bucket_ranges(2, 1.0, Some(&[f64::NAN, 0.5])),
            vec![(0.0, 0.5), (0.5, 1.0)]
        );
        assert_eq!(
            choose_variation(f64::NAN, &bucket_ranges(2, 1.0, None)),
            None
        );
        assert!(equal_weights(i64::MIN).is_empty());
        assert!(equal_weights(i64::MAX).is_empty());
    }
}

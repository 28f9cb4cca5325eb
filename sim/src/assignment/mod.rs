//! Assignment of units to variants: GrowthBook-compatible hash bucketing, or
//! random draws over the same bucket ranges.
//!
//! Both methods map a unit to a number in [0, 1) and pick the variant whose
//! bucket range holds it (`growthbook::choose_variation`), so weights, coverage
//! and namespaces mean the same thing in both.

pub mod growthbook;

pub use growthbook::{HashVersion, Namespace};

use serde::{Deserialize, Serialize};

use growthbook::{PrefixedIdHasher, bucket_ranges, choose_variation, in_namespace_prefixed_index};

/// The arm code of a unit that is not in the experiment (outside coverage or
/// namespace, or lost to a fault).
pub const EXCLUDED: u8 = u8::MAX;

/// Most variants an experiment may have (arm codes are u8, with EXCLUDED kept).
pub const MAX_VARIANTS: usize = 64;

/// How units are assigned to variants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    /// Each replication draws every unit's bucket from the Assignment stream.
    Random,
    /// GrowthBook hash of (salt, unit id).
    Hash {
        /// GrowthBook hash version (v1 or v2).
        version: HashVersion,
        /// The hash seed (GrowthBook's experiment `seed`).
        salt: String,
        /// When true, replication r hashes with salt `"{salt}/{r}"`, so each
        /// replication is a fresh experiment; when false every replication has
        /// the same split, as one production experiment does.
        salt_per_replication: bool,
    },
}

/// How an experiment splits its units between variants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Variant names; the first is the control.
    pub variants: Vec<String>,
    /// Traffic weights, summing to 1.
    pub weights: Vec<f64>,
    /// Share of units in the experiment, in [0, 1].
    pub coverage: f64,
    /// Random draws or GrowthBook hashing.
    pub method: Method,
    /// GrowthBook namespace the experiment is restricted to, if any.
    pub namespace: Option<Namespace>,
}

impl Assignment {
    /// Each variant's bucket range `[start, end)` in [0, 1), GrowthBook's
    /// `getBucketRanges` of the weights and coverage.
    pub fn ranges(&self) -> Vec<(f64, f64)> {
        bucket_ranges(self.variants.len(), self.coverage, Some(&self.weights))
    }

    /// Whether units need their ids (hashing or namespaces), which rules out the
    /// aggregate fast path.
    pub fn needs_ids(&self) -> bool {
        matches!(self.method, Method::Hash { .. }) || self.namespace.is_some()
    }

    /// Share of all units expected in each arm: weight × coverage × namespace width.
    pub fn expected_shares(&self) -> Vec<f64> {
        let ns = self
            .namespace
            .as_ref()
            .map_or(1.0, |n| (n.end - n.start).clamp(0.0, 1.0));
        self.ranges().iter().map(|(a, b)| (b - a) * ns).collect()
    }
}

/// Random assignment on `bits`-bit draws. When every range endpoint is a
/// multiple of 2^-bits for bits ≤ 16 (50/50 needs one bit), a unit consumes only
/// `bits` bits of the stream and a table maps the draw to its arm; otherwise a
/// unit consumes one 32-bit word.
#[derive(Clone, Debug)]
pub struct RandomArms {
    bits: u32,
    table: Vec<u8>,
    ranges: Vec<(f64, f64)>,
}

impl RandomArms {
    /// Prepares the draw width and lookup table for `assignment`'s bucket ranges.
    pub fn new(assignment: &Assignment) -> Self {
        let ranges = assignment.ranges();
        let dyadic = |bits: u32| {
            let scale = f64::from(1u32 << bits);
            ranges
                .iter()
                .all(|&(a, b)| (a * scale).fract() == 0.0 && (b * scale).fract() == 0.0)
        };
        let bits = [1u32, 2, 4, 8, 16]
            .into_iter()
            .find(|&b| dyadic(b))
            .unwrap_or(32);
        let table = if bits <= 16 {
            let scale = f64::from(1u32 << bits);
            (0..1u32 << bits)
                .map(|v| arm_code(choose_variation(f64::from(v) / scale, &ranges)))
                .collect()
        } else {
            Vec::new()
        };
        Self {
            bits,
            table,
            ranges,
        }
    }

    /// Bits of the Assignment stream each unit consumes.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The arm of a unit whose draw is `v` (the low `bits` bits are used).
    #[inline]
    pub fn arm(&self, v: u32) -> u8 {
        if self.bits <= 16 {
            self.table[(v & ((1 << self.bits) - 1)) as usize]
        } else {
            arm_code(choose_variation(
                f64::from(v) / 4_294_967_296.0,
                &self.ranges,
            ))
        }
    }

    /// Fill `arms[i]` for units `first..first + arms.len()` from the stream words
    /// that hold their bits. `words` must start at the word holding `first`'s
    /// first bit, and `first × bits` must be a multiple of 32.
    pub fn fill(&self, words: &[u32], arms: &mut [u8]) {
        let per_word = (32 / self.bits) as usize;
        if self.bits == 32 {
            for (a, &w) in arms.iter_mut().zip(words) {
                *a = self.arm(w);
            }
            return;
        }
        let mask = (1u32 << self.bits) - 1;
        if self.bits == 1 && self.table == [0, 1] {
            // 50/50: the bit is the arm; a constant-shift loop the compiler
            // vectorises.
            for (chunk, &w) in arms.chunks_mut(32).zip(words) {
                for (j, a) in chunk.iter_mut().enumerate() {
                    *a = ((w >> j) & 1) as u8;
                }
            }
            return;
        }
        for (chunk, &w) in arms.chunks_mut(per_word).zip(words) {
            for (j, a) in chunk.iter_mut().enumerate() {
                *a = self.table[((w >> (j as u32 * self.bits)) & mask) as usize];
            }
        }
    }

    /// Stream words needed for `units` units.
    pub fn words_for(&self, units: usize) -> usize {
        (units * self.bits as usize).div_ceil(32)
    }
}

/// Hash assignment prepared once per run: the arm of every possible bucket
/// value, so the per-unit work is the hash and a table lookup.
#[derive(Clone, Debug)]
pub struct HashAssigner {
    version: HashVersion,
    salt: String,
    salt_per_replication: bool,
    /// `arms[k]` = arm of bucket value k / resolution (EXCLUDED outside coverage).
    arms: Vec<u8>,
    namespace: Option<Namespace>,
    prefix: String,
}

impl HashAssigner {
    /// Prepares the bucket-to-arm table of `assignment`; unit ids are `prefix`
    /// followed by the unit's decimal index.
    pub fn new(assignment: &Assignment, prefix: &str) -> Self {
        let (version, salt, salt_per_replication) = match &assignment.method {
            Method::Hash {
                version,
                salt,
                salt_per_replication,
            } => (*version, salt.clone(), *salt_per_replication),
            // A random-assignment scenario with a namespace still needs ids for
            // the namespace check; the hasher is then unused.
            Method::Random => (HashVersion::V2, String::new(), false),
        };
        let ranges = assignment.ranges();
        let res = version.resolution();
        // The same division the JS SDK does, so table and direct lookups agree bit for bit.
        let arms = (0..res)
            .map(|k| arm_code(choose_variation(f64::from(k) / f64::from(res), &ranges)))
            .collect();
        Self {
            version,
            salt,
            salt_per_replication,
            arms,
            namespace: assignment.namespace.clone(),
            prefix: prefix.to_owned(),
        }
    }

    /// The hasher of replication `r` (its salt may depend on r).
    pub fn replication(&self, r: u64) -> HashArms<'_> {
        let salt = if self.salt_per_replication {
            format!("{}/{r}", self.salt)
        } else {
            self.salt.clone()
        };
        HashArms {
            hasher: PrefixedIdHasher::new(&salt, &self.prefix, self.version),
            owner: self,
        }
    }
}

/// A served unit's assignment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnitAssignment {
    /// The variant's index, or None when the unit is outside the coverage or
    /// the namespace.
    pub variant: Option<usize>,
    /// The unit's hash value in [0, 1).
    pub bucket: f64,
}

impl HashAssigner {
    /// The assignment of a unit by its id, for serving. For an id of the form
    /// `prefix` + decimal index it equals [`HashArms::arm`] of replication 0
    /// with a fixed salt: the same hash and the same bucket table.
    pub fn assign_id(&self, id: &str) -> UnitAssignment {
        let bucket = growthbook::hash_with(&self.salt, id, self.version);
        let in_ns = self
            .namespace
            .as_ref()
            .is_none_or(|ns| growthbook::in_namespace(id, ns));
        // bucket = index / resolution exactly (see PrefixedIdHasher), so the
        // index is recovered without rounding error.
        let index = (bucket * f64::from(self.version.resolution())).round() as usize;
        let code = if in_ns {
            self.arms.get(index).copied().unwrap_or(EXCLUDED)
        } else {
            EXCLUDED
        };
        UnitAssignment {
            variant: (code != EXCLUDED).then_some(usize::from(code)),
            bucket,
        }
    }
}

/// Hash assignment for one replication: precomputed hasher state, no
/// allocation per unit.
#[derive(Clone, Debug)]
pub struct HashArms<'a> {
    hasher: PrefixedIdHasher,
    owner: &'a HashAssigner,
}

impl HashArms<'_> {
    /// Whether unit `index` passes the namespace filter.
    #[inline]
    pub fn in_namespace(&self, index: u64) -> bool {
        self.owner
            .namespace
            .as_ref()
            .is_none_or(|ns| in_namespace_prefixed_index(&self.owner.prefix, index, ns))
    }

    /// The bucket value of unit `index`.
    #[inline]
    pub fn bucket(&self, index: u64) -> f64 {
        self.hasher.hash(index)
    }

    /// The arm code of unit `index` ([`EXCLUDED`] outside the namespace or coverage).
    #[inline]
    pub fn arm(&self, index: u64) -> u8 {
        if !self.in_namespace(index) {
            return EXCLUDED;
        }
        self.owner.arms[self.hasher.bucket_index(index) as usize]
    }
}

fn arm_code(v: Option<usize>) -> u8 {
    // Validation caps variants at MAX_VARIANTS, so the index fits.
    v.map_or(EXCLUDED, |i| i as u8)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A random assignment over `weights` (for tests here and elsewhere).
    pub(crate) fn assignment(weights: &[f64], coverage: f64) -> Assignment {
        Assignment {
            variants: (0..weights.len()).map(|i| format!("v{i}")).collect(),
            weights: weights.to_vec(),
            coverage,
            method: Method::Random,
            namespace: None,
        }
    }

    #[test]
    fn served_ids_get_the_simulated_arms() {
        let a = Assignment {
            variants: vec!["a".into(), "b".into(), "c".into()],
            weights: vec![0.2, 0.3, 0.5],
            coverage: 0.9,
            method: Method::Hash {
                version: HashVersion::V2,
                salt: "exp-7".into(),
                salt_per_replication: false,
            },
            namespace: Some(Namespace {
                id: "ns".into(),
                start: 0.1,
                end: 0.8,
            }),
        };
        let h = HashAssigner::new(&a, "user-");
        let rep = h.replication(0);
        let mut seen = [0usize; 4];
        for i in 0..20_000u64 {
            let served = h.assign_id(&format!("user-{i}"));
            let code = rep.arm(i);
            assert_eq!(served.variant.map_or(EXCLUDED, |v| v as u8), code, "{i}");
            assert_eq!(served.bucket, rep.bucket(i));
            seen[served.variant.unwrap_or(3)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 1000), "{seen:?}");
    }

    #[test]
    fn draw_width_follows_weights() {
        assert_eq!(RandomArms::new(&assignment(&[0.5, 0.5], 1.0)).bits(), 1);
        assert_eq!(RandomArms::new(&assignment(&[0.25, 0.75], 1.0)).bits(), 2);
        assert_eq!(RandomArms::new(&assignment(&[0.5, 0.5], 0.5)).bits(), 2);
        assert_eq!(RandomArms::new(&assignment(&[0.2, 0.8], 1.0)).bits(), 32);
        let third = 1.0 / 3.0;
        assert_eq!(
            RandomArms::new(&assignment(&[third, third, 1.0 - 2.0 * third], 1.0)).bits(),
            32
        );
    }

    #[test]
    fn table_and_word_draws_agree_on_ranges() {
        let ra = RandomArms::new(&assignment(&[0.25, 0.75], 0.5));
        // ranges: [0, 0.125), [0.25, 0.625); 4 bits per unit
        assert_eq!(ra.bits(), 4);
        let words = [0xFEDC_BA98u32, 0x7654_3210];
        let mut arms = [0u8; 16];
        ra.fill(&words, &mut arms);
        let expect: Vec<u8> = (0..16u32)
            .map(|i| {
                let v = (words[(i / 8) as usize] >> ((i % 8) * 4)) & 15;
                let x = f64::from(v) / 16.0;
                if x < 0.125 {
                    0
                } else if (0.25..0.625).contains(&x) {
                    1
                } else {
                    EXCLUDED
                }
            })
            .collect();
        assert_eq!(arms.to_vec(), expect);
    }
}

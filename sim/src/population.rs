//! The synthetic population: how many units, their ids, segments and arrivals.

use serde::{Deserialize, Serialize};

/// A named share of the population. Segments carry heterogeneous effects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub name: String,
    pub weight: f64,
}

/// N units whose ids are `id_prefix` followed by the unit index in decimal,
/// like production keys (`user-0`, `user-1`, …). Ids are never materialised in
/// the simulation loop: hashing streams the prefix and the digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Population {
    pub users: u64,
    pub id_prefix: String,
    /// Units arrive uniformly over [0, duration_days).
    pub duration_days: f64,
    /// At least one segment; weights sum to 1.
    pub segments: Vec<Segment>,
}

impl Population {
    pub fn unit_id(&self, index: u64) -> String {
        format!("{}{}", self.id_prefix, index)
    }

    /// Cumulative segment thresholds on a u32 word: unit is in the first segment
    /// s with `word < thresholds[s]`; the last threshold is 2^32 so every word
    /// lands somewhere.
    pub fn segment_thresholds(&self) -> Vec<u64> {
        let mut acc = 0.0;
        let mut out: Vec<u64> = self
            .segments
            .iter()
            .map(|s| {
                acc += s.weight;
                crate::rng::u32_threshold(acc)
            })
            .collect();
        if let Some(last) = out.last_mut() {
            *last = 1 << 32;
        }
        out
    }
}

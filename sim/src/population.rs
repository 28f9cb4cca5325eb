//! The synthetic population: how many units, their ids, segments and arrivals.

use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::rng::{Purpose, StreamKey, unit_f64};

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

/// Arrival times: unit i of replication r arrives at `duration_days × U`, with U
/// the uniform from two words of the Arrival stream at word 2i. Analyses with
/// looks at day boundaries read them; the fixed-horizon path does not need them.
#[derive(Clone, Debug)]
pub struct Arrivals {
    key: StreamKey,
    duration_days: f64,
}

impl Arrivals {
    /// Stream words per unit.
    pub const STRIDE: u64 = 2;

    pub fn new(seed: u64, population: &Population) -> Self {
        Self {
            key: StreamKey::new(seed, Purpose::Arrival),
            duration_days: population.duration_days,
        }
    }

    /// Arrival time of one unit, in days since the start.
    pub fn time(&self, replication: u64, unit: u64) -> f64 {
        let mut rng = self.key.unit(replication, unit, Self::STRIDE);
        let mut w = [0u32; 2];
        rng.fill(&mut w);
        self.duration_days * unit_f64(crate::rng::join_words(w[0], w[1]))
    }

    /// Units arriving on each day (the last day may be partial) among the first
    /// `users` units, reading the stream sequentially.
    pub fn per_day(&self, replication: u64, users: u64) -> Vec<u64> {
        let days = self.duration_days.ceil().max(1.0) as usize;
        let mut counts = vec![0u64; days];
        let mut rng = self.key.replication(replication);
        let mut buf = [0u32; 2048];
        let mut left = users;
        while left > 0 {
            let n = left.min(1024) as usize;
            rng.fill(&mut buf[..2 * n]);
            for w in buf[..2 * n].chunks_exact(2) {
                let t = self.duration_days * unit_f64(crate::rng::join_words(w[0], w[1]));
                counts[(t as usize).min(days - 1)] += 1;
            }
            left -= n as u64;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn population(days: f64) -> Population {
        Population {
            users: 70_000,
            id_prefix: "u".into(),
            duration_days: days,
            segments: vec![Segment {
                name: "all".into(),
                weight: 1.0,
            }],
        }
    }

    #[test]
    fn arrivals_are_uniform_over_the_window_and_positioned_per_unit() {
        let arrivals = Arrivals::new(9, &population(7.0));
        let per_day = arrivals.per_day(2, 70_000);
        assert_eq!(per_day.len(), 7);
        assert_eq!(per_day.iter().sum::<u64>(), 70_000);
        // Each day expects 10,000 units, sd ≈ 93; allow 5 sd.
        for (d, &c) in per_day.iter().enumerate() {
            assert!((c as f64 - 10_000.0).abs() < 470.0, "day {d}: {c}");
        }
        // Seeking to each unit agrees with the sequential pass.
        let mut by_seek = vec![0u64; 7];
        for unit in 0..5000 {
            let t = arrivals.time(2, unit);
            assert!((0.0..7.0).contains(&t));
            by_seek[t as usize] += 1;
        }
        assert_eq!(by_seek, arrivals.per_day(2, 5000));
        let partial = Arrivals::new(9, &population(2.5)).per_day(0, 1000);
        assert_eq!(partial.len(), 3);
    }
}

//! The synthetic population: how many units, their ids, segments and arrivals.

use serde::{Deserialize, Serialize};

use crate::rng::{Purpose, StreamKey};

/// A named share of the population. Segments carry heterogeneous effects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// The segment's name in the scenario.
    pub name: String,
    /// Share of units in the segment, in [0, 1].
    pub weight: f64,
}

/// N units whose ids are `id_prefix` followed by the unit index in decimal,
/// like production keys (`user-0`, `user-1`, …). Ids are never materialised in
/// the simulation loop: hashing streams the prefix and the digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Population {
    /// Units per replication (N).
    pub users: u64,
    /// Prefix of every unit id.
    pub id_prefix: String,
    /// Units arrive uniformly over [0, duration_days).
    pub duration_days: f64,
    /// At least one segment; weights sum to 1.
    pub segments: Vec<Segment>,
    /// Events per user when metrics are observed per event (sessions, page
    /// views): the population is then clustered, see [`crate::cluster`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_per_unit: Option<crate::cluster::EventsPerUnit>,
}

impl Population {
    /// The id of unit `index`: `id_prefix` followed by the index in decimal.
    pub fn unit_id(&self, index: u64) -> String {
        format!("{}{}", self.id_prefix, index)
    }

    /// Cumulative segment thresholds on a u32 word: unit is in the first segment
    /// s with `word < thresholds[s]`; the last threshold is 2^32 so every word
    /// lands somewhere.
    pub fn segment_thresholds(&self) -> Vec<u64> {
        crate::rng::segment_thresholds(self.segments.iter().map(|s| s.weight))
    }
}

/// Arrivals: units are indexed in arrival order, so the units seen by a look
/// are always a prefix of the population. How many arrive on each day of the
/// window is multinomial (uniform arrival over `duration_days`), drawn from
/// the Arrival stream of the replication. Because units are exchangeable,
/// "the first n units" is the same in law as "the units that arrived by then",
/// and looks at day boundaries cost nothing in the per-unit loop.
#[derive(Clone, Debug)]
pub struct Arrivals {
    key: StreamKey,
    /// Share of the window each day covers (the last may be partial).
    day_shares: Vec<f64>,
}

impl Arrivals {
    /// The daily arrival shares of `population`'s window, drawing from `seed`'s Arrival stream.
    pub fn new(seed: u64, population: &Population) -> Self {
        let d = population.duration_days;
        let days = d.ceil().max(1.0) as usize;
        let day_shares = (0..days)
            .map(|i| ((i + 1) as f64).min(d) - (i as f64).min(d))
            .map(|w| w / d)
            .collect();
        Self {
            key: StreamKey::new(seed, Purpose::Arrival),
            day_shares,
        }
    }

    /// Days in the window: ⌈duration_days⌉, at least 1.
    pub fn days(&self) -> usize {
        self.day_shares.len()
    }

    /// Units arriving on each day among `users`: a multinomial draw by
    /// sequential conditional binomials.
    pub fn per_day(&self, replication: u64, users: u64) -> Vec<u64> {
        let mut rng = self.key.replication(replication);
        let mut left = users;
        let mut rest = 1.0;
        let mut counts = Vec::with_capacity(self.day_shares.len());
        for (i, &w) in self.day_shares.iter().enumerate() {
            let n = if i + 1 == self.day_shares.len() {
                left
            } else {
                crate::binomial::sample(&mut rng, left, (w / rest).clamp(0.0, 1.0))
            };
            counts.push(n);
            left -= n;
            rest -= w;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn population(days: f64) -> Population {
        Population {
            events_per_unit: None,
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
    fn arrivals_are_multinomial_over_the_window() {
        let arrivals = Arrivals::new(9, &population(7.0));
        let per_day = arrivals.per_day(2, 70_000);
        assert_eq!(per_day.len(), 7);
        assert_eq!(per_day.iter().sum::<u64>(), 70_000);
        // Each day expects 10,000 units, sd ≈ 93; allow 5 sd.
        for (d, &c) in per_day.iter().enumerate() {
            assert!((c as f64 - 10_000.0).abs() < 470.0, "day {d}: {c}");
        }
        assert_eq!(per_day, arrivals.per_day(2, 70_000), "deterministic");
        assert_ne!(per_day, arrivals.per_day(3, 70_000), "replications differ");
        // A partial last day gets its share: 2.5 days, the last has 1/5.
        let partial = Arrivals::new(9, &population(2.5)).per_day(0, 100_000);
        assert_eq!(partial.len(), 3);
        assert!((partial[2] as f64 - 20_000.0).abs() < 5.0 * (100_000.0f64 * 0.2 * 0.8).sqrt());
    }
}

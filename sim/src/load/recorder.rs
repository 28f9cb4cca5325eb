//! What the generator measures while it runs: latency histograms per
//! endpoint (raw, from the actual send, and corrected, from the intended
//! send), its own schedule lag, requests per second, and the served answers
//! the correctness checks need. umpire-loadgen fills it in; it lives here,
//! beside [`super::result`], which turns it into a result, so that the result
//! and its readers need no HTTP stack.

use std::collections::HashSet;
use std::time::Duration;

use hdrhistogram::{CreationError, Histogram};

/// Request kinds, in the order of [`crate::load::Endpoint`] after Overall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An assignment request.
    Assign = 0,
    /// A bandit decision.
    Decide = 1,
    /// A bandit reward.
    Reward = 2,
}

impl Kind {
    /// The kind's endpoint key, e.g. `"assign"`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Assign => "assign",
            Kind::Decide => "decide",
            Kind::Reward => "reward",
        }
    }
}

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, at 3
/// significant digits.
pub fn new_histogram() -> Result<Histogram<u64>, CreationError> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 600_000_000)
}

/// What one request kind measured.
pub struct EndpointRecord {
    /// Latency from the actual send, in microseconds.
    pub raw: Histogram<u64>,
    /// Latency from the intended send, in microseconds (never below raw).
    pub corrected: Histogram<u64>,
    /// Requests completed.
    pub count: u64,
    /// Requests that failed (non-2xx, transport error or timeout).
    pub errors: u64,
}

impl EndpointRecord {
    fn new() -> Result<Self, CreationError> {
        Ok(Self {
            raw: new_histogram()?,
            corrected: new_histogram()?,
            count: 0,
            errors: 0,
        })
    }
}

/// Per experiment: distinct units seen, and their served variants.
pub struct SplitRecord {
    /// Unit numbers (`N` of `user-N`) already counted.
    pub seen: HashSet<u64>,
    /// Per variant, then one more for "not in the experiment".
    pub counts: Vec<u64>,
}

/// Everything the generator measures in one run; shared by its users.
pub struct Recorder {
    /// Per request kind, indexed by [`Kind`].
    pub endpoints: [EndpointRecord; 3],
    /// The generator's own lag: how late a request left beyond both its
    /// intended time and the previous response of its user.
    pub lag: Histogram<u64>,
    /// Requests sent in each second since the start.
    pub per_second: Vec<u64>,
    /// Per experiment assigned in, in the order given to [`Recorder::new`].
    pub splits: Vec<SplitRecord>,
    /// Successful assignments seen (every `parity_every`-th is checked).
    pub assignments: u64,
    /// Assignments compared with umpire-sim's.
    pub parity_checked: u64,
    /// Distinct unit numbers whose assignment was compared.
    pub parity_units: HashSet<u64>,
    /// Compared assignments whose served variant differed.
    pub parity_mismatches: u64,
    /// The first few mismatches, for the report.
    pub parity_examples: Vec<String>,
    /// Decisions: (seconds since start, bandit, arm).
    pub decisions: Vec<(f32, u16, u16)>,
}

impl Recorder {
    /// An empty recorder for experiments with these numbers of variants; errs
    /// only if a histogram cannot be created.
    pub fn new(variants_per_experiment: &[usize]) -> Result<Self, CreationError> {
        Ok(Self {
            endpoints: [
                EndpointRecord::new()?,
                EndpointRecord::new()?,
                EndpointRecord::new()?,
            ],
            lag: new_histogram()?,
            per_second: Vec::new(),
            splits: variants_per_experiment
                .iter()
                .map(|&v| SplitRecord {
                    seen: HashSet::new(),
                    counts: vec![0; v + 1],
                })
                .collect(),
            assignments: 0,
            parity_checked: 0,
            parity_units: HashSet::new(),
            parity_mismatches: 0,
            parity_examples: Vec::new(),
            decisions: Vec::new(),
        })
    }

    /// One completed request: `raw` from the actual send, `corrected` from
    /// the intended send, `lag` the generator's own delay, `sent_at` seconds
    /// since the start.
    pub fn request(
        &mut self,
        kind: Kind,
        ok: bool,
        raw: Duration,
        corrected: Duration,
        lag: Duration,
        sent_at: f64,
    ) {
        let e = &mut self.endpoints[kind as usize];
        e.count += 1;
        e.errors += u64::from(!ok);
        // Values are clamped into the histogram's range, so recording cannot fail.
        let _ = e.raw.record(micros(raw));
        let _ = e.corrected.record(micros(corrected.max(raw)));
        let _ = self.lag.record(micros(lag));
        let second = sent_at.max(0.0) as usize;
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, 0);
        }
        self.per_second[second] += 1;
    }
}

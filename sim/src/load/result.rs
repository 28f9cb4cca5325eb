//! The load result: per endpoint counts, rates and raw and corrected
//! percentiles with SLO verdicts, the generator's self-check, the
//! correctness checks, the overall verdict, and the HDR histograms exported
//! so several workers' results merge exactly (their codec is here too).
//! Pure data, built by [`super::build`] and never by I/O, so the reports
//! read it without the generator's HTTP stack.

use crate::load::{Endpoint, ExpectedVerdict, Slo};
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

use super::recorder::EndpointRecord;

use crate::result::ResultHeader;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |us: u64| us as f64 / 1000.0;
    Percentiles {
        p50_ms: ms(h.value_at_quantile(0.50)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundCheck {
    /// e.g. "p99_ms (corrected)".
    pub measure: String,
    pub measured: f64,
    /// "≤ 25" or "≥ 300".
    pub bound: String,
    pub passed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointResult {
    pub endpoint: Endpoint,
    pub count: u64,
    pub errors: u64,
    pub error_rate: f64,
    /// Completed requests per second over the run.
    pub rps: f64,
    pub raw: Percentiles,
    pub corrected: Percentiles,
    /// The SLO's bounds, checked on corrected latency.
    pub slo: Vec<BoundCheck>,
    /// Base64 of the HdrHistogram V2 encoding (microseconds), raw and corrected.
    pub raw_histogram: String,
    pub corrected_histogram: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorCheck {
    pub target_rps: Option<f64>,
    /// Requests per second over the steady part (after ramp-up).
    pub achieved_rps: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    /// Base64 HdrHistogram V2 of the generator's own lag (µs), for merging.
    pub lag_histogram: String,
    /// True when the generator itself could not keep its schedule: the run
    /// says nothing about the server's latency.
    pub generator_bound: bool,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SrmCheck {
    pub experiment: String,
    /// Distinct units per variant, then those not in the experiment.
    pub counts: Vec<u64>,
    pub expected_shares: Vec<f64>,
    pub p_value: f64,
    pub passed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParityCheck {
    pub checked: u64,
    pub mismatches: u64,
    pub examples: Vec<String>,
    pub passed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceCheck {
    pub bandit: String,
    pub best_arm: usize,
    /// Decisions in the second half of the run, and the best arm's share.
    pub decisions: u64,
    pub best_share: f64,
    pub min_best_share: f64,
    pub passed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The generator could not keep its schedule.
    Inconclusive,
}

impl Verdict {
    /// Whether this is the verdict a scenario expects; an inconclusive run
    /// never is.
    pub fn is(self, expected: ExpectedVerdict) -> bool {
        matches!(
            (self, expected),
            (Verdict::Pass, ExpectedVerdict::Pass) | (Verdict::Fail, ExpectedVerdict::Fail)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    /// What every result starts with: schema, scenario, provenance and seed.
    #[serde(flatten)]
    pub header: ResultHeader,
    pub target: String,
    /// How many generator processes this result pools (1 unless merged).
    pub workers: u64,
    pub duration_seconds: f64,
    pub users: u64,
    pub endpoints: Vec<EndpointResult>,
    pub generator: GeneratorCheck,
    pub srm: Vec<SrmCheck>,
    pub parity: ParityCheck,
    pub convergence: Vec<ConvergenceCheck>,
    /// The run's verdict: SLOs and checks.
    pub verdict: Verdict,
    pub expected_verdict: ExpectedVerdict,
    /// Corrected over raw overall p99, when the scenario bounds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrected_over_raw_p99: Option<BoundCheck>,
    /// Whether the scenario's expectations held (verdict as expected, and the
    /// corrected/raw bound).
    pub passed: bool,
    pub messages: Vec<String>,
    pub reproduce: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goose_report: Option<String>,
}

pub(super) fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    match V2Serializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(_) => String::new(),
    }
}

/// Decode an exported histogram (for merging workers' results).
pub fn decode(s: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()
}

fn check(measure: &str, measured: f64, max: Option<f64>, min: Option<f64>) -> Option<BoundCheck> {
    match (max, min) {
        (Some(b), _) => Some(BoundCheck {
            measure: measure.to_owned(),
            measured,
            bound: format!("≤ {b}"),
            passed: measured <= b,
        }),
        (None, Some(b)) => Some(BoundCheck {
            measure: measure.to_owned(),
            measured,
            bound: format!("≥ {b}"),
            passed: measured >= b,
        }),
        (None, None) => None,
    }
}

fn slo_checks(slo: Option<&Slo>, e: &EndpointResult) -> Vec<BoundCheck> {
    let Some(s) = slo else { return Vec::new() };
    let c = &e.corrected;
    [
        check("p50_ms (corrected)", c.p50_ms, s.p50_ms, None),
        check("p95_ms (corrected)", c.p95_ms, s.p95_ms, None),
        check("p99_ms (corrected)", c.p99_ms, s.p99_ms, None),
        check("p999_ms (corrected)", c.p999_ms, s.p999_ms, None),
        check("max_ms (corrected)", c.max_ms, s.max_ms, None),
        check("error_rate", e.error_rate, s.error_rate, None),
        check("rps", e.rps, None, s.min_rps),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub(super) fn endpoint_result(
    endpoint: Endpoint,
    r: &EndpointRecord,
    seconds: f64,
    slo: Option<&Slo>,
) -> EndpointResult {
    let mut e = EndpointResult {
        endpoint,
        count: r.count,
        errors: r.errors,
        error_rate: if r.count > 0 {
            r.errors as f64 / r.count as f64
        } else {
            0.0
        },
        rps: r.count as f64 / seconds.max(1e-9),
        raw: percentiles(&r.raw),
        corrected: percentiles(&r.corrected),
        slo: Vec::new(),
        raw_histogram: encode(&r.raw),
        corrected_histogram: encode(&r.corrected),
    };
    e.slo = slo_checks(slo, &e);
    e
}

impl SrmCheck {
    /// No unit was assigned: the split is untested.
    pub fn no_data(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }
}

impl ParityCheck {
    /// The check ran but had nothing to compare. (A check that is off has
    /// no data either, but passes.)
    pub fn no_data(&self) -> bool {
        self.checked == 0 && !self.passed
    }
}

impl ConvergenceCheck {
    /// No decision fell in the second half of the run.
    pub fn no_data(&self) -> bool {
        self.decisions == 0
    }
}

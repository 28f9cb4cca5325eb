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

/// Latency percentiles of one endpoint, in milliseconds (HdrHistogram, 3
/// significant digits).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest request.
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

/// One measured figure against one bound, with the outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundCheck {
    /// e.g. "p99_ms (corrected)".
    pub measure: String,
    /// The measured value.
    pub measured: f64,
    /// "≤ 25" or "≥ 300".
    pub bound: String,
    /// Whether the value is within the bound.
    pub passed: bool,
}

/// One endpoint's (or all requests') counts, rates and latencies, with its SLO checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointResult {
    /// Which requests these are (`overall`: all of them).
    pub endpoint: Endpoint,
    /// Requests completed (successes and failures).
    pub count: u64,
    /// Requests that failed: a non-2xx answer, a transport error or a timeout.
    pub errors: u64,
    /// `errors / count` (0 with no requests).
    pub error_rate: f64,
    /// Completed requests per second over the run.
    pub rps: f64,
    /// Latency from each request's actual send.
    pub raw: Percentiles,
    /// Latency from each request's intended send: raw latency plus the time the
    /// request had already waited on its schedule (never below raw).
    pub corrected: Percentiles,
    /// The SLO's bounds, checked on corrected latency.
    pub slo: Vec<BoundCheck>,
    /// Base64 of the HdrHistogram V2 encoding (microseconds), raw and corrected.
    pub raw_histogram: String,
    /// Base64 HdrHistogram V2 of the corrected latencies (µs).
    pub corrected_histogram: String,
}

/// The load generator's self-check: whether it kept its own schedule, so the
/// run can judge the server at all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorCheck {
    /// The paced target rate, requests per second in total (`None` for a closed loop).
    pub target_rps: Option<f64>,
    /// Requests per second over the steady part (after ramp-up).
    pub achieved_rps: f64,
    /// p99 of the generator's own send lag, in milliseconds.
    pub lag_p99_ms: f64,
    /// Largest send lag, in milliseconds.
    pub lag_max_ms: f64,
    /// Base64 HdrHistogram V2 of the generator's own lag (µs), for merging.
    pub lag_histogram: String,
    /// True when the generator itself could not keep its schedule: the run
    /// says nothing about the server's latency.
    pub generator_bound: bool,
    /// Why the run is generator-bound, when it is.
    pub reason: Option<String>,
    /// p99 of how late the runtime probe woke from its short sleeps, in
    /// milliseconds: every ready task of a saturated runtime, response
    /// handling included, waits about this long (absent in older results).
    #[serde(default)]
    pub wake_lag_p99_ms: Option<f64>,
    /// The probe's latest wake-up, in milliseconds.
    #[serde(default)]
    pub wake_lag_max_ms: Option<f64>,
    /// Base64 HdrHistogram V2 of the probe's wake-up lag (µs), for merging.
    #[serde(default)]
    pub wake_lag_histogram: String,
    /// CPU seconds the generator's threads used over the run.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// Those CPU seconds as a share of the wall time of every core the
    /// process may use.
    #[serde(default)]
    pub cpu_share: Option<f64>,
    /// The share of that core time the generator's threads were running or
    /// runnable but waiting for a CPU: near 1 when it always had work.
    #[serde(default)]
    pub busy_share: Option<f64>,
    /// Cores the process may use.
    #[serde(default)]
    pub cores: Option<u64>,
    /// Per paced user, requests sent over requests scheduled in the
    /// sending window (absent for a closed loop).
    #[serde(default)]
    pub sends: Option<SendRatios>,
    /// Whether the generator itself was saturated (see `saturation` in the
    /// verdict rules): a shortfall of paced load is then its own.
    #[serde(default)]
    pub saturated: bool,
}

/// Achieved over scheduled sends, per paced user.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendRatios {
    /// Users with at least one scheduled slot.
    pub users: u64,
    /// The lowest user's ratio.
    pub min: f64,
    /// The median user's ratio.
    pub median: f64,
}

/// Latency and throughput over time: one entry per window of the run, by
/// each request's send time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Seconds per window: 1, or more for runs over 600 s.
    pub window_seconds: u64,
    /// The windows, from the start of the run.
    pub windows: Vec<Window>,
}

/// One window of the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Seconds from the start of the run to the window's start.
    pub start_s: f64,
    /// Requests sent in the window (each recorded once completed).
    pub requests: u64,
    /// Those that failed.
    pub errors: u64,
    /// Corrected median latency of those requests (none without requests).
    pub p50_ms: Option<f64>,
    /// Corrected p99 latency of those requests (none without requests).
    pub p99_ms: Option<f64>,
}

impl Timeline {
    /// Completed requests per second in each window.
    pub fn throughput(&self) -> Vec<f64> {
        let w = self.window_seconds.max(1) as f64;
        self.windows.iter().map(|x| x.requests as f64 / w).collect()
    }
}

/// The sample-ratio-mismatch test of one experiment's served split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SrmCheck {
    /// The experiment's name.
    pub experiment: String,
    /// Distinct units per variant, then those not in the experiment.
    pub counts: Vec<u64>,
    /// The shares the assignment should give, in the order of the counts tested
    /// (the last "not in the experiment" cell is dropped when no unit can land there).
    pub expected_shares: Vec<f64>,
    /// p-value of the chi-square test of the counts against the shares.
    pub p_value: f64,
    /// Whether units were seen and the p-value is at least the scenario's `srm_alpha`.
    pub passed: bool,
}

/// The parity check: served assignments compared with umpire-sim's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParityCheck {
    /// Served assignments compared.
    pub checked: u64,
    /// Distinct unit ids among them (when merged: the most any worker
    /// checked, since workers draw from the same ids).
    #[serde(default)]
    pub units: u64,
    /// Those whose served variant differed from umpire-sim's.
    pub mismatches: u64,
    /// The first few mismatches (at most five), for the report.
    pub examples: Vec<String>,
    /// Whether the check passed: off, or at least one assignment checked and none
    /// differing.
    pub passed: bool,
}

/// A convergence check: the share of a bandit's late decisions that went to
/// its best arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceCheck {
    /// The bandit's name.
    pub bandit: String,
    /// Index of the arm with the highest true mean.
    pub best_arm: usize,
    /// Decisions in the second half of the run, and the best arm's share.
    pub decisions: u64,
    /// Share of those decisions that went to `best_arm` (0 with none).
    pub best_share: f64,
    /// The smallest share the scenario accepts.
    pub min_best_share: f64,
    /// Whether there were late decisions and `best_share ≥ min_best_share`.
    pub passed: bool,
}

/// The verdict of a load run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every SLO and check held.
    Pass,
    /// An SLO was missed, a check failed, the server fell behind paced load, no
    /// request succeeded, or a figure is not a number.
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

/// The result of a load scenario (`kind = "load"`): per-endpoint latencies
/// and SLO checks, the generator's self-check, the correctness checks and the
/// verdict, with histograms that merge across workers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    /// What every result starts with: schema, scenario, provenance and seed.
    #[serde(flatten)]
    pub header: ResultHeader,
    /// The service loaded: the external host's URL, or the in-process server's
    /// description with its address.
    pub target: String,
    /// How many generator processes this result pools (1 unless merged).
    pub workers: u64,
    /// Wall time of the run in seconds, at most ramp-up plus duration: the
    /// span rates are measured over (the longest worker's when merged).
    pub duration_seconds: f64,
    /// Simulated users (of each worker, when merged).
    pub users: u64,
    /// Overall first, then each endpoint that was requested or has an SLO.
    pub endpoints: Vec<EndpointResult>,
    /// Whether the generator kept its schedule.
    pub generator: GeneratorCheck,
    /// Corrected p50/p99, throughput and errors per window of the run (empty
    /// in older results).
    #[serde(default)]
    pub timeline: Timeline,
    /// One SRM test per experiment assigned in.
    pub srm: Vec<SrmCheck>,
    /// Served assignments against umpire-sim's.
    pub parity: ParityCheck,
    /// One per convergence check whose bandit's best arm is known.
    pub convergence: Vec<ConvergenceCheck>,
    /// The run's verdict: SLOs and checks.
    pub verdict: Verdict,
    /// The verdict the scenario expects.
    pub expected_verdict: ExpectedVerdict,
    /// Corrected over raw overall p99, when the scenario bounds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrected_over_raw_p99: Option<BoundCheck>,
    /// Whether the scenario's expectations held (verdict as expected, and the
    /// corrected/raw bound).
    pub passed: bool,
    /// What went wrong or could not be judged, one line each: SLO misses, failed
    /// checks, missing data, generator-bound.
    pub messages: Vec<String>,
    /// The command that reproduces the run.
    pub reproduce: String,
    /// Path of goose's own report, when one was asked for (dropped on merge).
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
    /// The check ran but had too little to compare: nothing, or fewer
    /// distinct ids than `min_parity_units`, none differing. (A check that
    /// is off has no data either, but passes.)
    pub fn no_data(&self) -> bool {
        !self.passed && self.mismatches == 0
    }
}

impl ConvergenceCheck {
    /// No decision fell in the second half of the run.
    pub fn no_data(&self) -> bool {
        self.decisions == 0
    }
}

//! The load result: per endpoint counts, rates and raw and corrected
//! percentiles with SLO verdicts, the generator's self-check, the
//! correctness checks, the overall verdict, and the HDR histograms exported
//! so several workers' results merge exactly (their codec is here too).
//! Pure: built from a [`Recorder`] or from other results, never by I/O, so
//! the reports read it without the generator's HTTP stack.

use crate::analysis::srm_chi_square;
use crate::load::{Endpoint, ExpectedVerdict, LoadScenario, Model, Slo};
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

use super::recorder::{EndpointRecord, Recorder};

/// The schema name and version of [`LoadResult`] JSON.
pub use crate::outcome::{
    RESULT_SCHEMA as LOAD_SCHEMA, RESULT_SCHEMA_VERSION as LOAD_SCHEMA_VERSION,
};

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
    pub schema: String,
    pub schema_version: u32,
    pub kind: String,
    pub scenario: String,
    pub scenario_hash: String,
    pub scenario_file: String,
    pub umpire_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    pub seed: u64,
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

fn encode(h: &Histogram<u64>) -> String {
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

fn endpoint_result(
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

/// What the run measured, before verdicts: filled in by the runner.
pub struct Measured<'a> {
    pub scenario: &'a LoadScenario,
    pub scenario_hash: String,
    pub scenario_file: String,
    pub target: String,
    pub recorder: &'a Recorder,
    /// Wall time from the first request to the end of the run.
    pub seconds: f64,
    pub experiments: Vec<(String, Vec<f64>)>,
    /// Per bandit: name and the index of its best true arm, if known.
    pub bandits: Vec<(String, Option<usize>)>,
    pub reproduce: String,
    pub goose_report: Option<String>,
    pub git_commit: Option<String>,
}

/// Judge what a run measured: the result, with its checks and verdict.
pub fn build(m: Measured) -> LoadResult {
    let s = m.scenario;
    let rec = m.recorder;
    let overall = overall_record(rec);
    let endpoints = endpoint_results(s, rec, &overall, m.seconds);
    let generator = generator_check(s, rec, &endpoints[0], overall.count, m.seconds);
    let srm = srm_checks(s, rec, &m.experiments);
    let parity = ParityCheck {
        checked: rec.parity_checked,
        mismatches: rec.parity_mismatches,
        examples: rec.parity_examples.clone(),
        passed: parity_passed(
            s,
            m.experiments.len(),
            rec.parity_checked,
            rec.parity_mismatches,
        ),
    };
    let convergence = convergence_checks(s, rec, &m.bandits, m.seconds);
    let Judged {
        verdict,
        ratio,
        passed,
        messages,
    } = judge(s, &endpoints, &generator, &srm, &parity, &convergence);
    LoadResult {
        schema: LOAD_SCHEMA.to_owned(),
        schema_version: LOAD_SCHEMA_VERSION,
        kind: "load".to_owned(),
        scenario: s.name.clone(),
        scenario_hash: m.scenario_hash,
        scenario_file: m.scenario_file,
        umpire_version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: m.git_commit,
        seed: s.seed,
        target: m.target,
        workers: 1,
        duration_seconds: m.seconds,
        users: s.traffic.users,
        endpoints,
        generator,
        srm,
        parity,
        convergence,
        verdict,
        expected_verdict: s.expect.verdict,
        corrected_over_raw_p99: ratio,
        passed,
        messages,
        reproduce: m.reproduce,
        goose_report: m.goose_report,
    }
}

/// Every endpoint's histograms and counts, pooled.
fn overall_record(rec: &Recorder) -> EndpointRecord {
    let mut overall = EndpointRecord {
        raw: rec.endpoints[0].raw.clone(),
        corrected: rec.endpoints[0].corrected.clone(),
        count: 0,
        errors: 0,
    };
    overall.raw.reset();
    overall.corrected.reset();
    for r in &rec.endpoints {
        // Same bounds and precision: adding cannot fail.
        let _ = overall.raw.add(&r.raw);
        let _ = overall.corrected.add(&r.corrected);
        overall.count += r.count;
        overall.errors += r.errors;
    }
    overall
}

/// Overall first, then each endpoint that was requested or has an SLO.
fn endpoint_results(
    s: &LoadScenario,
    rec: &Recorder,
    overall: &EndpointRecord,
    seconds: f64,
) -> Vec<EndpointResult> {
    let slo_for = |e: Endpoint| s.slos.iter().find(|x| x.endpoint == Some(e));
    let mut endpoints = vec![endpoint_result(
        Endpoint::Overall,
        overall,
        seconds,
        slo_for(Endpoint::Overall),
    )];
    for (i, ep) in [Endpoint::Assign, Endpoint::Decide, Endpoint::Reward]
        .into_iter()
        .enumerate()
    {
        if rec.endpoints[i].count > 0 || slo_for(ep).is_some() {
            endpoints.push(endpoint_result(ep, &rec.endpoints[i], seconds, slo_for(ep)));
        }
    }
    endpoints
}

/// The generator's self-check, over the steady part of the run.
fn generator_check(
    s: &LoadScenario,
    rec: &Recorder,
    overall: &EndpointResult,
    count: u64,
    seconds: f64,
) -> GeneratorCheck {
    let ramp = s.traffic.ramp_up_seconds.ceil() as usize;
    let full_seconds = rec.per_second.len().saturating_sub(1);
    let steady: Vec<u64> = rec
        .per_second
        .iter()
        .copied()
        .take(full_seconds)
        .skip(ramp)
        .collect();
    let achieved = if steady.is_empty() {
        count as f64 / seconds.max(1e-9)
    } else {
        steady.iter().sum::<u64>() as f64 / steady.len() as f64
    };
    let target_rps = match s.traffic.model {
        Model::Paced { rate } => Some(rate),
        Model::Closed { .. } => None,
    };
    let lag_p99 = rec.lag.value_at_quantile(0.99) as f64 / 1000.0;
    let lag_max = rec.lag.max() as f64 / 1000.0;
    let raw_p50 = overall.raw.p50_ms;
    let mut reason = None;
    if lag_p99 > s.checks.max_generator_lag_ms {
        reason = Some(format!(
            "the generator's own send lag has p99 {lag_p99:.2} ms > {} ms",
            s.checks.max_generator_lag_ms
        ));
    } else if let Some(gap) = rate_gap(s, overall, achieved, target_rps)
        && gap.fault == Fault::Generator
    {
        reason = Some(format!(
            "achieved {achieved:.0} req/s < {} × the target {} req/s while the server answered in {raw_p50:.2} ms (p50)",
            s.checks.min_rate_ratio, gap.target
        ));
    }
    GeneratorCheck {
        target_rps,
        achieved_rps: achieved,
        lag_p99_ms: lag_p99,
        lag_max_ms: lag_max,
        lag_histogram: encode(&rec.lag),
        generator_bound: reason.is_some(),
        reason,
    }
}

/// Per experiment (name, expected shares): the split test of the served
/// variants.
fn srm_checks(
    s: &LoadScenario,
    rec: &Recorder,
    experiments: &[(String, Vec<f64>)],
) -> Vec<SrmCheck> {
    experiments
        .iter()
        .zip(&rec.splits)
        .map(|((name, shares), split)| {
            let mut shares = shares.clone();
            let outside = (1.0 - shares.iter().sum::<f64>()).max(0.0);
            shares.push(outside);
            // Drop the "outside" cell when no unit can land there.
            let (counts, shares) = if outside <= 1e-12 {
                (
                    split.counts[..split.counts.len() - 1].to_vec(),
                    shares[..shares.len() - 1].to_vec(),
                )
            } else {
                (split.counts.clone(), shares)
            };
            let p = srm_chi_square(&counts, &shares).p_value;
            SrmCheck {
                experiment: name.clone(),
                counts: split.counts.clone(),
                expected_shares: shares,
                p_value: p,
                // No units, no test: the statistic of an empty split is 0.
                passed: split.counts.iter().sum::<u64>() > 0 && p >= s.checks.srm_alpha,
            }
        })
        .collect()
}

/// Per convergence check: the best arm's share of the late decisions.
/// `bandits` holds each driven bandit's name and best arm, if known.
fn convergence_checks(
    s: &LoadScenario,
    rec: &Recorder,
    bandits: &[(String, Option<usize>)],
    seconds: f64,
) -> Vec<ConvergenceCheck> {
    let half = (seconds / 2.0) as f32;
    s.checks
        .convergence
        .iter()
        .filter_map(|c| {
            let (b, (_, best)) = bandits
                .iter()
                .enumerate()
                .find(|(_, (n, _))| *n == c.bandit)?;
            let best = (*best)?;
            let late: Vec<&(f32, u16, u16)> = rec
                .decisions
                .iter()
                .filter(|d| d.0 >= half && usize::from(d.1) == b)
                .collect();
            let n = late.len() as u64;
            let share = if n > 0 {
                late.iter().filter(|d| usize::from(d.2) == best).count() as f64 / n as f64
            } else {
                0.0
            };
            Some(ConvergenceCheck {
                bandit: c.bandit.clone(),
                best_arm: best,
                decisions: n,
                best_share: share,
                min_best_share: c.min_best_share,
                passed: n > 0 && share >= c.min_best_share,
            })
        })
        .collect()
}

/// Whether the parity check runs: it needs assignments to check.
fn parity_on(s: &LoadScenario, experiments: usize) -> bool {
    s.checks.parity_every > 0 && s.mix.assign > 0 && experiments > 0
}

/// A parity check that runs passes only on data: at least one served
/// assignment checked, and none differing. One that does not run passes.
fn parity_passed(s: &LoadScenario, experiments: usize, checked: u64, mismatches: u64) -> bool {
    !parity_on(s, experiments) || (checked > 0 && mismatches == 0)
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

/// The figures of a result that are not finite numbers, by name. Any one
/// makes the verdict FAIL: a NaN compares false with every bound, so it
/// would otherwise pass every `≤` check that is written as "not above".
fn non_finite(
    endpoints: &[EndpointResult],
    generator: &GeneratorCheck,
    srm: &[SrmCheck],
    convergence: &[ConvergenceCheck],
    ratio: Option<&BoundCheck>,
) -> Vec<String> {
    let mut figures: Vec<(String, f64)> = Vec::new();
    for e in endpoints {
        let k = e.endpoint.key();
        figures.push((format!("{k} error_rate"), e.error_rate));
        figures.push((format!("{k} rps"), e.rps));
        for (which, p) in [("raw", &e.raw), ("corrected", &e.corrected)] {
            for (name, x) in [
                ("p50_ms", p.p50_ms),
                ("p95_ms", p.p95_ms),
                ("p99_ms", p.p99_ms),
                ("p999_ms", p.p999_ms),
                ("max_ms", p.max_ms),
            ] {
                figures.push((format!("{k} {name} ({which})"), x));
            }
        }
        for b in &e.slo {
            figures.push((format!("{k} {}", b.measure), b.measured));
        }
    }
    figures.push(("generator achieved_rps".into(), generator.achieved_rps));
    figures.push(("generator lag_p99_ms".into(), generator.lag_p99_ms));
    figures.push(("generator lag_max_ms".into(), generator.lag_max_ms));
    if let Some(t) = generator.target_rps {
        figures.push(("generator target_rps".into(), t));
    }
    for c in srm {
        figures.push((format!("SRM {} p_value", c.experiment), c.p_value));
    }
    for c in convergence {
        figures.push((format!("convergence {} best_share", c.bandit), c.best_share));
    }
    if let Some(r) = ratio {
        figures.push((r.measure.clone(), r.measured));
    }
    figures
        .into_iter()
        .filter(|(_, x)| !x.is_finite())
        .map(|(name, x)| format!("{name} = {x}"))
        .collect()
}

/// Whose fault a paced run's shortfall is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The server answered within each user's interval, so the users could
    /// have kept the schedule: the generator fell behind (generator-bound).
    Generator,
    /// The server took at least each user's interval to answer (its raw
    /// p50), so the users were waiting on it: it did not keep up.
    Server,
}

/// A paced run whose achieved rate fell below `min_rate_ratio` × the target.
struct RateGap {
    fault: Fault,
    target: f64,
    raw_p50_ms: f64,
    interval_ms: f64,
}

/// The one place that decides whether paced load fell short and whose
/// fault that was, so that generator-bound and server-behind stay
/// complementary. `target` is the (possibly pooled) target rate; an empty
/// run has no p50 to judge by and is judged as missing data instead.
fn rate_gap(
    s: &LoadScenario,
    overall: &EndpointResult,
    achieved: f64,
    target: Option<f64>,
) -> Option<RateGap> {
    let (Model::Paced { rate }, Some(target)) = (s.traffic.model, target) else {
        return None;
    };
    if overall.count == 0 || achieved >= s.checks.min_rate_ratio * target {
        return None;
    }
    let interval_ms = 1000.0 * s.traffic.users as f64 / rate;
    let raw_p50_ms = overall.raw.p50_ms;
    let fault = if raw_p50_ms < interval_ms {
        Fault::Generator
    } else {
        Fault::Server
    };
    Some(RateGap {
        fault,
        target,
        raw_p50_ms,
        interval_ms,
    })
}

/// Paced load the server could not sustain (see [`rate_gap`]).
fn server_behind(s: &LoadScenario, overall: &EndpointResult, g: &GeneratorCheck) -> Option<String> {
    let gap = rate_gap(s, overall, g.achieved_rps, g.target_rps)?;
    (gap.fault == Fault::Server).then(|| {
        format!(
            "throughput: the server did not keep up: achieved {:.1} req/s < {} × the target {} req/s, \
             with a raw p50 of {:.2} ms against each user's interval of {:.2} ms",
            g.achieved_rps, s.checks.min_rate_ratio, gap.target, gap.raw_p50_ms, gap.interval_ms
        )
    })
}

/// The largest overall error rate a run may have when no `[slo]` table
/// bounds `error_rate`: a run in which most requests fail says nothing good
/// about the server, SLO tables or not.
pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.01;

/// The default error-rate bound's miss, when no SLO sets an error rate of
/// its own (a scenario that does has chosen its bound).
fn default_error_bound(s: &LoadScenario, overall: &EndpointResult) -> Option<String> {
    let own = s.slos.iter().any(|x| x.error_rate.is_some());
    (!own && overall.error_rate > DEFAULT_MAX_ERROR_RATE).then(|| {
        format!(
            "error rate: {} of {} requests failed ({:.2}%), above the default bound of {}% (no [slo] sets error_rate)",
            overall.errors,
            overall.count,
            100.0 * overall.error_rate,
            100.0 * DEFAULT_MAX_ERROR_RATE
        )
    })
}

/// The verdict and the expectations' outcome, from what was measured.
struct Judged {
    verdict: Verdict,
    ratio: Option<BoundCheck>,
    passed: bool,
    messages: Vec<String>,
}

/// The verdict, in this order:
/// 1. FAIL when the server is wrong whatever the generator did: a check
///    with data failed (SRM, parity, convergence), no request succeeded
///    (every one failed: non-2xx, transport error or timeout), or a figure
///    is not a number;
/// 2. INCONCLUSIVE when the run cannot judge the server: the generator fell
///    behind its schedule (generator-bound), no request was sent, or a
///    check got no data;
/// 3. FAIL on an SLO miss (including an overall error rate above
///    [`DEFAULT_MAX_ERROR_RATE`] when no SLO bounds the error rate), or
///    paced load the server did not keep up with;
/// 4. PASS otherwise.
///
/// A run in which no request succeeded, or with a figure that is not a
/// number, never meets its expectations, not even an expected failure: a
/// failure demonstration needs a working target.
fn judge(
    s: &LoadScenario,
    endpoints: &[EndpointResult],
    generator: &GeneratorCheck,
    srm: &[SrmCheck],
    parity: &ParityCheck,
    convergence: &[ConvergenceCheck],
) -> Judged {
    let mut messages = Vec::new();
    let overall = &endpoints[0];
    let mut slo_failed: Vec<String> = endpoints
        .iter()
        .flat_map(|e| {
            e.slo.iter().filter(|b| !b.passed).map(move |b| {
                format!(
                    "SLO miss: {} {} = {:.3}, expected {}",
                    e.endpoint.key(),
                    b.measure,
                    b.measured,
                    b.bound
                )
            })
        })
        .collect();
    let mut no_data = Vec::new();
    if overall.count == 0 {
        no_data.push(
            "no data: no request was sent (the first scheduled send fell after the end of the run)"
                .to_owned(),
        );
    }
    let checks_failed = judge_checks(s, srm, parity, convergence, &mut messages, &mut no_data);
    let none_succeeded = overall.count > 0 && overall.errors == overall.count;
    if none_succeeded {
        messages.push(format!(
            "no request succeeded: all {} failed (non-2xx answers, transport errors or timeouts)",
            overall.count
        ));
    }
    slo_failed.extend(default_error_bound(s, overall));
    messages.extend(slo_failed.iter().cloned());
    let behind = server_behind(s, overall, generator);
    messages.extend(behind.iter().cloned());
    let ratio = s.expect.corrected_over_raw_p99.map(|min| {
        let measured = overall.corrected.p99_ms / overall.raw.p99_ms.max(1e-9);
        BoundCheck {
            measure: "corrected p99 / raw p99".into(),
            measured,
            bound: format!("≥ {min}"),
            passed: measured >= min,
        }
    });
    let nan = non_finite(endpoints, generator, srm, convergence, ratio.as_ref());
    if !nan.is_empty() {
        messages.push(format!("not a number: {}", nan.join(", ")));
    }
    let verdict = if checks_failed || none_succeeded || !nan.is_empty() {
        Verdict::Fail
    } else if generator.generator_bound || !no_data.is_empty() {
        Verdict::Inconclusive
    } else if slo_failed.is_empty() && behind.is_none() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    if let Some(r) = &generator.reason {
        messages.push(format!("inconclusive: generator-bound: {r}"));
    }
    messages.extend(no_data);
    if let Some(r) = ratio.as_ref().filter(|r| !r.passed) {
        messages.push(format!(
            "expected corrected p99 / raw p99 {} but measured {:.2}",
            r.bound, r.measured
        ));
    }
    let passed = verdict.is(s.expect.verdict)
        && ratio.as_ref().is_none_or(|r| r.passed)
        && !none_succeeded
        && nan.is_empty();
    Judged {
        verdict,
        ratio,
        passed,
        messages,
    }
}

/// The correctness checks' part of the verdict: their failures go to
/// `messages` and their missing data to `no_data`; returns whether one
/// with data failed.
fn judge_checks(
    s: &LoadScenario,
    srm: &[SrmCheck],
    parity: &ParityCheck,
    convergence: &[ConvergenceCheck],
    messages: &mut Vec<String>,
    no_data: &mut Vec<String>,
) -> bool {
    let mut checks_failed = false;
    for c in srm {
        if c.no_data() {
            no_data.push(format!(
                "no data: SRM {}: no unit was assigned, so the split is untested",
                c.experiment
            ));
        } else if !c.passed {
            checks_failed = true;
            messages.push(format!(
                "SRM: {} split {:?} against shares {:?}, p = {:.2e} < {}",
                c.experiment, c.counts, c.expected_shares, c.p_value, s.checks.srm_alpha
            ));
        }
    }
    if parity.no_data() {
        no_data.push("no data: parity: no served assignment was checked".to_owned());
    } else if !parity.passed {
        checks_failed = true;
        messages.push(format!(
            "parity: {} of {} served assignments differ from umpire-sim's, e.g. {}",
            parity.mismatches,
            parity.checked,
            parity.examples.join("; ")
        ));
    }
    for c in convergence {
        if c.no_data() {
            no_data.push(format!(
                "no data: convergence {}: no decision in the second half of the run",
                c.bandit
            ));
        } else if !c.passed {
            checks_failed = true;
            messages.push(format!(
                "convergence: bandit {} sent {:.3} of {} late decisions to its best arm {}, expected ≥ {}",
                c.bandit, c.best_share, c.decisions, c.best_arm, c.min_best_share
            ));
        }
    }
    checks_failed
}

/// Merge the results of several generator processes that ran the same load
/// scenario at the same time against one target. Histograms add exactly, so
/// the merged percentiles are those of all requests; counts and rates add;
/// the checks pool their counts; SLOs and the verdict are judged again.
pub fn merge(results: &[LoadResult], s: &LoadScenario) -> Result<LoadResult, String> {
    let first = results.first().ok_or("no results to merge")?;
    for r in results {
        if r.scenario_hash != first.scenario_hash || r.endpoints.len() != first.endpoints.len() {
            return Err(format!(
                "results of different load scenarios: {} and {}",
                first.scenario, r.scenario
            ));
        }
    }
    let add_all = |pick: &dyn Fn(&LoadResult) -> &str| -> Result<Histogram<u64>, String> {
        let mut total = super::recorder::new_histogram().map_err(|e| e.to_string())?;
        for r in results {
            let h = decode(pick(r)).ok_or("an exported histogram does not decode")?;
            total.add(&h).map_err(|e| e.to_string())?;
        }
        Ok(total)
    };
    let seconds = results
        .iter()
        .map(|r| r.duration_seconds)
        .fold(0.0, f64::max);
    let mut endpoints = Vec::new();
    for (i, e) in first.endpoints.iter().enumerate() {
        let record = EndpointRecord {
            raw: add_all(&|r| r.endpoints[i].raw_histogram.as_str())?,
            corrected: add_all(&|r| r.endpoints[i].corrected_histogram.as_str())?,
            count: results.iter().map(|r| r.endpoints[i].count).sum(),
            errors: results.iter().map(|r| r.endpoints[i].errors).sum(),
        };
        let slo = s.slos.iter().find(|x| x.endpoint == Some(e.endpoint));
        endpoints.push(endpoint_result(e.endpoint, &record, seconds, slo));
    }
    let lag = add_all(&|r| r.generator.lag_histogram.as_str())?;
    let generator = merged_generator(results, s, &lag);
    let srm = merged_srm(results, s);
    let checked = results.iter().map(|r| r.parity.checked).sum();
    let mismatches = results.iter().map(|r| r.parity.mismatches).sum();
    let parity = ParityCheck {
        checked,
        mismatches,
        examples: results
            .iter()
            .flat_map(|r| r.parity.examples.iter().cloned())
            .take(5)
            .collect(),
        passed: parity_passed(s, first.srm.len(), checked, mismatches),
    };
    let convergence = merged_convergence(results);
    let Judged {
        verdict,
        ratio,
        passed,
        messages,
    } = judge(s, &endpoints, &generator, &srm, &parity, &convergence);
    Ok(LoadResult {
        workers: results.iter().map(|r| r.workers).sum(),
        duration_seconds: seconds,
        endpoints,
        generator,
        srm,
        parity,
        convergence,
        verdict,
        corrected_over_raw_p99: ratio,
        passed,
        messages,
        goose_report: None,
        ..first.clone()
    })
}

/// The pooled generator check: rates add, lag histograms add (`lag`), and
/// the run is generator-bound when a worker was or the pooled lag is.
fn merged_generator(
    results: &[LoadResult],
    s: &LoadScenario,
    lag: &Histogram<u64>,
) -> GeneratorCheck {
    let first = &results[0];
    let lag_p99 = lag.value_at_quantile(0.99) as f64 / 1000.0;
    let reasons: Vec<String> = results
        .iter()
        .filter_map(|r| r.generator.reason.clone())
        .collect();
    GeneratorCheck {
        target_rps: first.generator.target_rps.map(|t| t * results.len() as f64),
        achieved_rps: results.iter().map(|r| r.generator.achieved_rps).sum(),
        lag_p99_ms: lag_p99,
        lag_max_ms: lag.max() as f64 / 1000.0,
        lag_histogram: encode(lag),
        generator_bound: !reasons.is_empty() || lag_p99 > s.checks.max_generator_lag_ms,
        reason: if reasons.is_empty() && lag_p99 > s.checks.max_generator_lag_ms {
            Some(format!("the pooled generator lag has p99 {lag_p99:.2} ms"))
        } else {
            reasons.first().map(|r| format!("a worker: {r}"))
        },
    }
}

/// The SRM tests again, on the pooled counts.
fn merged_srm(results: &[LoadResult], s: &LoadScenario) -> Vec<SrmCheck> {
    let first = &results[0];
    first
        .srm
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut counts = vec![0u64; c.counts.len()];
            for r in results {
                for (t, x) in counts.iter_mut().zip(&r.srm[i].counts) {
                    *t += x;
                }
            }
            // The "outside" cell is dropped from the test when no unit can land there.
            let tested = &counts[..c.expected_shares.len().min(counts.len())];
            let p = srm_chi_square(tested, &c.expected_shares).p_value;
            SrmCheck {
                experiment: c.experiment.clone(),
                passed: counts.iter().sum::<u64>() > 0 && p >= s.checks.srm_alpha,
                counts,
                expected_shares: c.expected_shares.clone(),
                p_value: p,
            }
        })
        .collect()
}

/// The convergence checks again, on the pooled late decisions.
fn merged_convergence(results: &[LoadResult]) -> Vec<ConvergenceCheck> {
    results[0]
        .convergence
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n: u64 = results.iter().map(|r| r.convergence[i].decisions).sum();
            let best: f64 = results
                .iter()
                .map(|r| (r.convergence[i].best_share * r.convergence[i].decisions as f64).round())
                .sum();
            let share = if n > 0 { best / n as f64 } else { 0.0 };
            ConvergenceCheck {
                bandit: c.bandit.clone(),
                best_arm: c.best_arm,
                decisions: n,
                best_share: share,
                min_best_share: c.min_best_share,
                passed: n > 0 && share >= c.min_best_share,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Checks, LoadExpect, Mix, Target, Traffic};

    fn scenario() -> LoadScenario {
        LoadScenario {
            name: "nan".into(),
            seed: 1,
            target: Target {
                serve: "s.toml".into(),
                host: None,
                token_file: None,
                stall: None,
            },
            traffic: Traffic {
                users: 1,
                ramp_up_seconds: 0.0,
                duration_seconds: 1.0,
                model: Model::Closed { think_time_ms: 0 },
            },
            mix: Mix {
                assign: 0,
                decide: 1,
                reward: 0,
                experiments: Vec::new(),
                bandits: Vec::new(),
                units: 10,
            },
            slos: Vec::new(),
            checks: Checks {
                srm_alpha: 0.001,
                parity_every: 0,
                convergence: Vec::new(),
                max_generator_lag_ms: 10.0,
                min_rate_ratio: 0.9,
            },
            expect: LoadExpect {
                verdict: ExpectedVerdict::Pass,
                corrected_over_raw_p99: None,
            },
        }
    }

    /// Without SLO tables nothing compares a latency with a bound, so a
    /// NaN would slip through as a pass; it must not, even when a failure
    /// is expected.
    #[test]
    fn a_nan_figure_is_never_a_pass() {
        let mut s = scenario();
        let mut record = EndpointRecord {
            raw: super::super::recorder::new_histogram().expect("histogram"),
            corrected: super::super::recorder::new_histogram().expect("histogram"),
            count: 10,
            errors: 0,
        };
        for _ in 0..10 {
            record.raw.record(500).expect("in range");
            record.corrected.record(500).expect("in range");
        }
        let generator = GeneratorCheck {
            target_rps: None,
            achieved_rps: 10.0,
            lag_p99_ms: 0.1,
            lag_max_ms: 0.1,
            lag_histogram: String::new(),
            generator_bound: false,
            reason: None,
        };
        let parity = ParityCheck {
            checked: 0,
            mismatches: 0,
            examples: Vec::new(),
            passed: true,
        };
        let clean = endpoint_result(Endpoint::Overall, &record, 1.0, None);
        let ok = judge(
            &s,
            std::slice::from_ref(&clean),
            &generator,
            &[],
            &parity,
            &[],
        );
        assert_eq!(ok.verdict, Verdict::Pass, "{:?}", ok.messages);
        for poison in 0..3 {
            let mut e = clean.clone();
            let mut g = generator.clone();
            match poison {
                0 => e.corrected.p99_ms = f64::NAN,
                1 => e.rps = f64::INFINITY,
                _ => g.achieved_rps = f64::NAN,
            }
            for expected in [ExpectedVerdict::Pass, ExpectedVerdict::Fail] {
                s.expect.verdict = expected;
                let j = judge(&s, &[e.clone()], &g, &[], &parity, &[]);
                assert_eq!(
                    j.verdict,
                    Verdict::Fail,
                    "poison {poison}: {:?}",
                    j.messages
                );
                assert!(!j.passed, "poison {poison}, expected {expected:?}");
                assert!(
                    j.messages.iter().any(|m| m.starts_with("not a number: ")),
                    "{:?}",
                    j.messages
                );
            }
        }
    }
}

//! The verdict of a load run, from what it measured: SLO misses, the
//! correctness checks, the generator's self-check, missing data and
//! figures that are not numbers. One function, [`judge`], for a single run
//! and for merged workers alike.

use super::result::{
    BoundCheck, ConvergenceCheck, EndpointResult, GeneratorCheck, ParityCheck, SrmCheck, Verdict,
};
use crate::load::{CheckName, LoadScenario, Model};

/// Whether the parity check runs: it needs assignments to check.
fn parity_on(s: &LoadScenario, experiments: usize) -> bool {
    s.checks.parity_every > 0 && s.mix.assign > 0 && experiments > 0
}

/// A parity check that runs passes only on data: at least one served
/// assignment checked, at least `min_parity_units` distinct ids among them
/// (`units`), and none differing. One that does not run passes.
pub(super) fn parity_passed(
    s: &LoadScenario,
    experiments: usize,
    checked: u64,
    units: u64,
    mismatches: u64,
) -> bool {
    !parity_on(s, experiments)
        || (checked > 0 && mismatches == 0 && units >= s.checks.min_parity_units)
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
    for (name, x) in [
        ("wake_lag_p99_ms", generator.wake_lag_p99_ms),
        ("wake_lag_max_ms", generator.wake_lag_max_ms),
        ("cpu_seconds", generator.cpu_seconds),
        ("cpu_share", generator.cpu_share),
        ("busy_share", generator.busy_share),
        ("sends min", generator.sends.map(|r| r.min)),
        ("sends median", generator.sends.map(|r| r.median)),
    ] {
        if let Some(x) = x {
            figures.push((format!("generator {name}"), x));
        }
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

/// The share of its cores' time a generator may spend running or waiting
/// to run before it counts as saturated: a generator whose threads always
/// had work could not have sent faster.
pub const SATURATED_BUSY_SHARE: f64 = 0.9;

/// Why the generator was saturated, if it was, from its direct signals: the
/// runtime probe woke late (`wake_lag_p99_ms` above
/// `checks.max_generator_lag_ms`: every ready task waited that long, reading
/// responses included, which inflates the measured latency), or its threads
/// were running or runnable for at least [`SATURATED_BUSY_SHARE`] of its
/// cores' time. A signal that was not measured (older results, a platform
/// without per-thread accounting) says nothing.
pub(super) fn saturation(
    s: &LoadScenario,
    wake_lag_p99_ms: Option<f64>,
    busy_share: Option<f64>,
    ceiling: Option<CpuCeiling>,
) -> Option<String> {
    let max = s.checks.max_generator_lag_ms;
    // The generator's own CPU per request caps what it can send with every
    // core; a target above that cap cannot be kept by any server, however
    // fast (the signal that holds when the target shares the cores, and
    // neither the probe nor the busy share is decisive).
    let capped = ceiling.filter(|c| c.target_rps > c.ceiling_rps).map(|c| {
        format!(
            "its own CPU per request caps it at {:.0} req/s on all its cores, below the target {}",
            c.ceiling_rps, c.target_rps
        )
    });
    let late = wake_lag_p99_ms.filter(|&p| p > max).map(|p| {
        format!("its runtime probe woke late: p99 {p:.2} ms > checks.max_generator_lag_ms {max} ms")
    });
    let busy = busy_share.filter(|&b| b >= SATURATED_BUSY_SHARE).map(|b| {
        format!(
            "its threads were running or waiting for a CPU {:.0}% of its cores' time (≥ {:.0}%)",
            100.0 * b,
            100.0 * SATURATED_BUSY_SHARE
        )
    });
    let reasons: Vec<String> = [late, busy, capped].into_iter().flatten().collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// The most a generator can send on all its cores at the CPU cost per
/// request it measured (achieved rate over its share of the cores' time),
/// against the rate it was asked for.
#[derive(Clone, Copy, Debug)]
pub(super) struct CpuCeiling {
    pub(super) ceiling_rps: f64,
    pub(super) target_rps: f64,
}

impl CpuCeiling {
    /// From the achieved rate, the generator's CPU share and the target;
    /// None when one was not measured (or nothing was sent).
    pub(super) fn new(
        achieved_rps: f64,
        cpu_share: Option<f64>,
        target_rps: Option<f64>,
    ) -> Option<Self> {
        let (share, target) = (cpu_share?, target_rps?);
        (share > 0.0 && achieved_rps > 0.0).then(|| CpuCeiling {
            ceiling_rps: achieved_rps / share,
            target_rps: target,
        })
    }

    /// From the self-check's figures.
    pub(super) fn of(g: &GeneratorCheck) -> Option<Self> {
        Self::new(g.achieved_rps, g.cpu_share, g.target_rps)
    }
}

/// Whose fault a paced run's shortfall is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    /// The generator was saturated (the reason says by which signal): it
    /// could not keep its own schedule, so the run says nothing of the server.
    Generator(String),
    /// The generator had room to spare, so the shortfall is the server's.
    Server,
}

/// A paced run whose achieved rate fell below `min_rate_ratio` × the target.
pub(super) struct RateGap {
    pub(super) fault: Fault,
    pub(super) target: f64,
}

/// The one place that decides whether paced load fell short and whose
/// fault that was, so that generator-bound and server-behind stay
/// complementary: the generator's when it was saturated (`saturation`, see
/// [`saturation`]), else the server's. `target` is the (possibly pooled)
/// target rate; an empty run is judged as missing data instead.
pub(super) fn rate_gap(
    s: &LoadScenario,
    overall: &EndpointResult,
    achieved: f64,
    target: Option<f64>,
    saturation: Option<String>,
) -> Option<RateGap> {
    let (Model::Paced { .. }, Some(target)) = (s.traffic.model, target) else {
        return None;
    };
    if overall.count == 0 || achieved >= s.checks.min_rate_ratio * target {
        return None;
    }
    Some(RateGap {
        fault: saturation.map_or(Fault::Server, Fault::Generator),
        target,
    })
}

/// Paced load the server could not sustain (see [`rate_gap`]).
fn server_behind(s: &LoadScenario, overall: &EndpointResult, g: &GeneratorCheck) -> Option<String> {
    let sat = saturation(s, g.wake_lag_p99_ms, g.busy_share, CpuCeiling::of(g));
    let gap = rate_gap(s, overall, g.achieved_rps, g.target_rps, sat)?;
    let figures: Vec<String> = [
        g.wake_lag_p99_ms
            .map(|p| format!("probe wake-up lag p99 {p:.2} ms")),
        g.busy_share
            .map(|b| format!("busy {:.0}% of its cores' time", 100.0 * b)),
    ]
    .into_iter()
    .flatten()
    .collect();
    (gap.fault == Fault::Server).then(|| {
        format!(
            "throughput: the server did not keep up: achieved {:.1} req/s < {} × the target {} req/s \
             while the generator was not saturated ({}), with a raw p50 of {:.2} ms",
            g.achieved_rps,
            s.checks.min_rate_ratio,
            gap.target,
            if figures.is_empty() {
                "no saturation signal measured".to_owned()
            } else {
                figures.join(", ")
            },
            overall.raw.p50_ms
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
pub(super) struct Judged {
    pub(super) verdict: Verdict,
    pub(super) ratio: Option<BoundCheck>,
    pub(super) passed: bool,
    pub(super) messages: Vec<String>,
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
pub(super) fn judge(
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
    let failed = failed_checks(s, endpoints, srm, parity, convergence, behind.is_some());
    let mut demonstrated = true;
    for c in s.expect.failing.iter().filter(|c| !failed.contains(c)) {
        demonstrated = false;
        messages.push(format!(
            "expected {} to fail (expect.failing), but it did not",
            c.key()
        ));
    }
    let passed = verdict.is(s.expect.verdict)
        && demonstrated
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

/// The checks that failed with data, for `[expect] failing`: the same
/// outcomes the verdict rests on, named.
fn failed_checks(
    s: &LoadScenario,
    endpoints: &[EndpointResult],
    srm: &[SrmCheck],
    parity: &ParityCheck,
    convergence: &[ConvergenceCheck],
    behind: bool,
) -> Vec<CheckName> {
    let slo_missed = endpoints.iter().flat_map(|e| &e.slo).any(|b| !b.passed);
    let error_bound = endpoints
        .first()
        .is_some_and(|o| default_error_bound(s, o).is_some());
    [
        (CheckName::Slo, slo_missed),
        (CheckName::ErrorRate, error_bound),
        (CheckName::Throughput, behind),
        (
            CheckName::Srm,
            srm.iter().any(|c| !c.no_data() && !c.passed),
        ),
        (CheckName::Parity, !parity.no_data() && !parity.passed),
        (
            CheckName::Convergence,
            convergence.iter().any(|c| !c.no_data() && !c.passed),
        ),
    ]
    .into_iter()
    .filter_map(|(c, failed)| failed.then_some(c))
    .collect()
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
    if parity.no_data() && parity.checked == 0 {
        no_data.push("no data: parity: no served assignment was checked".to_owned());
    } else if parity.no_data() {
        // Too few ids to vouch for parity: the run lacks evidence, the
        // server is not shown wrong.
        no_data.push(format!(
            "no data: parity: only {} distinct ids checked, fewer than min_parity_units = {}",
            parity.units, s.checks.min_parity_units
        ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::api::ApiSpec;
    use crate::load::recorder::{EndpointRecord, new_histogram};
    use crate::load::result::endpoint_result;
    use crate::load::{
        Checks, Endpoint, ExpectedVerdict, LoadExpect, Mix, Target, Traffic, UnitOrder,
    };

    fn scenario() -> LoadScenario {
        LoadScenario {
            name: "nan".into(),
            seed: 1,
            target: Target {
                serve: "s.toml".into(),
                host: None,
                token_file: None,
                stall: None,
                process: None,
            },
            api: ApiSpec::umpire(),
            traffic: Traffic {
                users: 1,
                ramp_up_seconds: 0.0,
                duration_seconds: 1.0,
                model: Model::Closed { think_time_ms: 0 },
                stages: Vec::new(),
                arrivals: Default::default(),
            },
            mix: Mix {
                assign: 0,
                decide: 1,
                reward: 0,
                experiments: Vec::new(),
                bandits: Vec::new(),
                units: 10,
                unit_order: UnitOrder::Random,
            },
            slos: Vec::new(),
            checks: Checks {
                srm_alpha: 0.001,
                parity_every: 0,
                min_parity_units: 0,
                convergence: Vec::new(),
                max_generator_lag_ms: 10.0,
                min_rate_ratio: 0.9,
            },
            expect: LoadExpect {
                verdict: ExpectedVerdict::Pass,
                corrected_over_raw_p99: None,
                failing: Vec::new(),
            },
        }
    }

    fn generator(target_rps: Option<f64>, achieved_rps: f64) -> GeneratorCheck {
        GeneratorCheck {
            target_rps,
            achieved_rps,
            lag_p99_ms: 0.1,
            lag_max_ms: 0.1,
            lag_histogram: String::new(),
            generator_bound: false,
            reason: None,
            wake_lag_p99_ms: None,
            wake_lag_max_ms: None,
            wake_lag_histogram: String::new(),
            cpu_seconds: None,
            cpu_share: None,
            busy_share: None,
            cores: None,
            sends: None,
            saturated: false,
        }
    }

    fn served(count: u64, raw_us: u64) -> EndpointResult {
        let mut record = EndpointRecord {
            raw: new_histogram().expect("histogram"),
            corrected: new_histogram().expect("histogram"),
            count,
            errors: 0,
        };
        for _ in 0..count {
            record.raw.record(raw_us).expect("in range");
            record.corrected.record(raw_us).expect("in range");
        }
        endpoint_result(Endpoint::Overall, &record, 1.0, None)
    }

    /// Whose fault a paced shortfall is, for every combination of the
    /// signals: the generator's exactly when it was saturated (late probe
    /// or busy threads), the server's otherwise, nobody's when the rate was
    /// met, a closed loop, or nothing was sent. The raw latency plays no
    /// part: a saturated generator inflates it (the original rule compared
    /// it with each user's interval and blamed the server).
    #[test]
    fn rate_gap_decision_table() {
        let mut s = scenario();
        s.traffic.users = 100;
        s.traffic.model = Model::Paced { rate: 30_000.0 };
        let target = Some(30_000.0);
        // lag limit 10 ms, busy limit 0.9, rate ratio 0.9 (27,000 req/s).
        type Case = (f64, Option<f64>, Option<f64>, Option<bool>);
        let cases: [Case; 10] = [
            // achieved, wake p99, busy share → None (no gap) / generator's / server's
            (29_000.0, Some(50.0), Some(1.0), None),
            (27_000.0, None, None, None),
            (16_300.0, Some(50.0), None, Some(true)),
            (16_300.0, None, Some(0.95), Some(true)),
            (16_300.0, Some(10.5), Some(0.2), Some(true)),
            (16_300.0, Some(1.0), Some(0.9), Some(true)),
            (16_300.0, Some(10.0), Some(0.89), Some(false)),
            (16_300.0, Some(0.3), Some(0.1), Some(false)),
            (16_300.0, None, None, Some(false)),
            (0.0, Some(0.3), Some(0.1), Some(false)),
        ];
        // A raw p50 far below and far above each user's 3.3 ms interval.
        for raw_us in [200, 1_170_000] {
            let overall = served(10, raw_us);
            for (achieved, wake, busy, generator_fault) in cases {
                let gap = rate_gap(
                    &s,
                    &overall,
                    achieved,
                    target,
                    saturation(&s, wake, busy, None),
                );
                let got = gap.map(|g| matches!(g.fault, Fault::Generator(_)));
                assert_eq!(
                    got, generator_fault,
                    "achieved {achieved}, wake {wake:?}, busy {busy:?}, raw {raw_us} µs"
                );
                // The judge says the same: a server miss exactly when the
                // gap is the server's.
                let mut g = generator(target, achieved);
                g.wake_lag_p99_ms = wake;
                g.busy_share = busy;
                let behind = server_behind(&s, &overall, &g);
                assert_eq!(behind.is_some(), generator_fault == Some(false));
            }
        }
        // A target above what the generator's own CPU cost allows on all
        // its cores is saturation, whatever the probe and the busy share.
        let capped = |ceiling_rps| {
            saturation(
                &s,
                Some(1.0),
                Some(0.5),
                Some(CpuCeiling {
                    ceiling_rps,
                    target_rps: 30_000.0,
                }),
            )
        };
        assert!(capped(29_000.0).is_some_and(|r| r.contains("caps it at 29000 req/s")));
        assert!(capped(31_000.0).is_none());
        // Nothing sent, or a closed loop: no gap to judge.
        let silent = served(0, 200);
        assert!(rate_gap(&s, &silent, 0.0, target, None).is_none());
        s.traffic.model = Model::Closed { think_time_ms: 0 };
        assert!(rate_gap(&s, &served(10, 200), 10.0, None, None).is_none());
    }

    /// Without SLO tables nothing compares a latency with a bound, so a
    /// NaN would slip through as a pass; it must not, even when a failure
    /// is expected.
    #[test]
    fn a_nan_figure_is_never_a_pass() {
        let mut s = scenario();
        let mut record = EndpointRecord {
            raw: new_histogram().expect("histogram"),
            corrected: new_histogram().expect("histogram"),
            count: 10,
            errors: 0,
        };
        for _ in 0..10 {
            record.raw.record(500).expect("in range");
            record.corrected.record(500).expect("in range");
        }
        let generator = generator(None, 10.0);
        let parity = ParityCheck {
            checked: 0,
            units: 0,
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

    /// `[expect] failing` holds only when the named check is among the
    /// failures: a parity failure demonstrates parity, an SLO miss alone
    /// does not.
    #[test]
    fn an_expected_failure_must_fail_on_the_named_check() {
        let mut s = scenario();
        s.expect.verdict = ExpectedVerdict::Fail;
        s.expect.failing = vec![CheckName::Parity];
        let overall = served(10, 500);
        let g = generator(None, 10.0);
        let wrong = ParityCheck {
            checked: 10,
            units: 10,
            mismatches: 3,
            examples: Vec::new(),
            passed: false,
        };
        let j = judge(&s, std::slice::from_ref(&overall), &g, &[], &wrong, &[]);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.passed, "{:?}", j.messages);
        // The same FAIL from an SLO miss, with parity holding.
        let right = ParityCheck {
            mismatches: 0,
            passed: true,
            ..wrong
        };
        let mut slow = overall;
        slow.slo.push(BoundCheck {
            measure: "p99_ms (corrected)".into(),
            measured: 0.5,
            bound: "≤ 0.1".into(),
            passed: false,
        });
        let j = judge(&s, std::slice::from_ref(&slow), &g, &[], &right, &[]);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(!j.passed);
        assert!(
            j.messages
                .iter()
                .any(|m| m == "expected parity to fail (expect.failing), but it did not"),
            "{:?}",
            j.messages
        );
        // Named as failing, the SLO miss is demonstrated.
        s.expect.failing = vec![CheckName::Slo];
        assert!(judge(&s, std::slice::from_ref(&slow), &g, &[], &right, &[]).passed);
    }
}

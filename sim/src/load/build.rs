//! Building a [`LoadResult`]: from what one run measured ([`build`], from
//! the generator's [`Recorder`]), or from the results of several workers
//! that ran together ([`merge`]). Both judge the result with
//! [`super::judge`].

use hdrhistogram::Histogram;

use super::judge::{CpuCeiling, Fault, Judged, judge, parity_passed, rate_gap, saturation};
use super::recorder::{
    CpuUse, EndpointRecord, Recorder, UserProgress, WindowRecord, new_histogram,
};
use super::result::{
    ConvergenceCheck, EndpointResult, GeneratorCheck, LoadResult, ParityCheck, SendRatios,
    SrmCheck, Timeline, Window, decode, encode, endpoint_result,
};
use crate::analysis::srm_chi_square;
use crate::load::{Endpoint, LoadScenario, schedule};
use crate::result::{Provenance, ResultHeader, ResultKind};

/// What the run measured, before verdicts: filled in by the runner.
pub struct Measured<'a> {
    /// The scenario that ran.
    pub scenario: &'a LoadScenario,
    /// Where the scenario came from, how to redo the run, and the build.
    pub provenance: Provenance,
    /// The service loaded, as the result names it.
    pub target: String,
    /// What the generator recorded.
    pub recorder: &'a Recorder,
    /// Wall time from the first request to the end of the run.
    pub seconds: f64,
    /// Per experiment assigned in: its name and its variants' expected shares.
    pub experiments: Vec<(String, Vec<f64>)>,
    /// Per bandit: name and the index of its best true arm, if known.
    pub bandits: Vec<(String, Option<usize>)>,
    /// Path of goose's own report, if one was written.
    pub goose_report: Option<String>,
}

/// Judge what a run measured: the result, with its checks and verdict.
pub fn build(m: Measured) -> LoadResult {
    let s = m.scenario;
    let rec = m.recorder;
    let overall = overall_record(rec);
    let endpoints = endpoint_results(s, rec, &overall, m.seconds);
    let generator = generator_check(s, rec, &endpoints[0], overall.count, m.seconds);
    let srm = srm_checks(s, rec, &m.experiments);
    let units = rec.parity_units.len() as u64;
    let parity = ParityCheck {
        checked: rec.parity_checked,
        units,
        mismatches: rec.parity_mismatches,
        examples: rec.parity_examples.clone(),
        passed: parity_passed(
            s,
            m.experiments.len(),
            rec.parity_checked,
            units,
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
        header: ResultHeader::new(ResultKind::Load, &s.name, s.seed, &m.provenance),
        target: m.target,
        workers: 1,
        duration_seconds: m.seconds,
        users: s.traffic.users,
        endpoints,
        generator,
        timeline: timeline(rec.window_seconds, &rec.windows),
        srm,
        parity,
        convergence,
        verdict,
        expected_verdict: s.expect.verdict,
        corrected_over_raw_p99: ratio,
        passed,
        messages,
        reproduce: m.provenance.reproduce,
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
    let target_rps = schedule::target_rate(&s.traffic, ramp as f64, (ramp + steady.len()) as f64);
    let lag_p99 = rec.lag.value_at_quantile(0.99) as f64 / 1000.0;
    let lag_max = rec.lag.max() as f64 / 1000.0;
    let ms = |us: u64| us as f64 / 1000.0;
    let probed = !rec.wake_lag.is_empty();
    let wake_p99 = probed.then(|| ms(rec.wake_lag.value_at_quantile(0.99)));
    let cpu = rec.cpu.as_ref();
    let cpu_share = cpu
        .map(|c| (c.cpu_seconds, c.wall_seconds * c.cores.max(1) as f64))
        .filter(|&(_, t)| t > 0.0)
        .map(|(c, t)| c / t);
    let busy_share = cpu.and_then(CpuUse::busy_share);
    let ceiling = CpuCeiling::new(achieved, cpu_share, target_rps);
    let saturated = saturation(s, wake_p99, busy_share, ceiling);
    let mut reason = None;
    if lag_p99 > s.checks.max_generator_lag_ms {
        reason = Some(format!(
            "the generator's own send lag has p99 {lag_p99:.2} ms > {} ms",
            s.checks.max_generator_lag_ms
        ));
    } else if let Some(gap) = rate_gap(s, overall, achieved, target_rps, saturated.clone())
        && let Fault::Generator(why) = gap.fault
    {
        reason = Some(format!(
            "achieved {achieved:.0} req/s < {} × the target {} req/s, and the generator was saturated: {why}",
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
        wake_lag_p99_ms: wake_p99,
        wake_lag_max_ms: probed.then(|| ms(rec.wake_lag.max())),
        wake_lag_histogram: if probed {
            encode(&rec.wake_lag)
        } else {
            String::new()
        },
        cpu_seconds: cpu.map(|c| c.cpu_seconds),
        cpu_share,
        busy_share,
        cores: cpu.map(|c| c.cores),
        sends: target_rps.and_then(|_| send_ratios(&rec.users)),
        saturated: saturated.is_some(),
    }
}

/// Sent over scheduled requests per user that had a slot in the window:
/// the lowest and the median (the upper one of an even count).
pub(super) fn send_ratios(users: &[UserProgress]) -> Option<SendRatios> {
    let mut ratios: Vec<f64> = users
        .iter()
        .filter(|u| u.scheduled > 0)
        .map(|u| u.sent as f64 / u.scheduled as f64)
        .collect();
    ratios.sort_by(f64::total_cmp);
    Some(SendRatios {
        users: ratios.len() as u64,
        min: *ratios.first()?,
        median: ratios[ratios.len() / 2],
    })
}

/// The timeline from the recorded windows.
pub(super) fn timeline(window_seconds: u64, windows: &[WindowRecord]) -> Timeline {
    let ms = |us: u64| us as f64 / 1000.0;
    Timeline {
        window_seconds,
        windows: windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let any = w.requests > 0;
                Window {
                    start_s: (i as u64 * window_seconds) as f64,
                    requests: w.requests,
                    errors: w.errors,
                    p50_ms: any.then(|| ms(w.corrected.value_at_quantile(0.5))),
                    p99_ms: any.then(|| ms(w.corrected.value_at_quantile(0.99))),
                }
            })
            .collect(),
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

/// Merge the results of several generator processes that ran the same load
/// scenario at the same time against one target. Histograms add exactly, so
/// the merged percentiles are those of all requests; counts and rates add;
/// the checks pool their counts; SLOs and the verdict are judged again.
pub fn merge(results: &[LoadResult], s: &LoadScenario) -> Result<LoadResult, String> {
    let first = results.first().ok_or("no results to merge")?;
    for r in results {
        if r.header.scenario_hash != first.header.scenario_hash
            || r.endpoints.len() != first.endpoints.len()
        {
            return Err(format!(
                "results of different load scenarios: {} and {}",
                first.header.scenario, r.header.scenario
            ));
        }
    }
    let add_all = |pick: &dyn Fn(&LoadResult) -> &str| -> Result<Histogram<u64>, String> {
        let mut total = new_histogram().map_err(|e| e.to_string())?;
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
    let generator = merged_generator(results, s, &lag)?;
    let srm = merged_srm(results, s);
    let checked = results.iter().map(|r| r.parity.checked).sum();
    let mismatches = results.iter().map(|r| r.parity.mismatches).sum();
    let units = results.iter().map(|r| r.parity.units).max().unwrap_or(0);
    let parity = ParityCheck {
        checked,
        units,
        mismatches,
        examples: results
            .iter()
            .flat_map(|r| r.parity.examples.iter().cloned())
            .take(5)
            .collect(),
        passed: parity_passed(s, first.srm.len(), checked, units, mismatches),
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
        timeline: merged_timeline(results),
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

/// The pooled generator check: rates add, lag histograms add (`lag`, and
/// the probes'), CPU seconds add, the busiest worker's shares stand for
/// all, and the run is generator-bound when a worker was or the pooled lag is.
fn merged_generator(
    results: &[LoadResult],
    s: &LoadScenario,
    lag: &Histogram<u64>,
) -> Result<GeneratorCheck, String> {
    let first = &results[0];
    let lag_p99 = lag.value_at_quantile(0.99) as f64 / 1000.0;
    let reasons: Vec<String> = results
        .iter()
        .filter_map(|r| r.generator.reason.clone())
        .collect();
    let mut wake = new_histogram().map_err(|e| e.to_string())?;
    for r in results
        .iter()
        .filter(|r| !r.generator.wake_lag_histogram.is_empty())
    {
        let h = decode(&r.generator.wake_lag_histogram)
            .ok_or("an exported histogram does not decode")?;
        wake.add(&h).map_err(|e| e.to_string())?;
    }
    let probed = !wake.is_empty();
    let max_of = |pick: &dyn Fn(&GeneratorCheck) -> Option<f64>| {
        results
            .iter()
            .filter_map(|r| pick(&r.generator))
            .reduce(f64::max)
    };
    let mut medians: Vec<f64> = results
        .iter()
        .filter_map(|r| r.generator.sends.map(|x| x.median))
        .collect();
    medians.sort_by(f64::total_cmp);
    let sends = results
        .iter()
        .filter_map(|r| r.generator.sends)
        .reduce(|a, b| SendRatios {
            users: a.users + b.users,
            min: a.min.min(b.min),
            median: 0.0,
        })
        .map(|x| SendRatios {
            median: medians[medians.len() / 2],
            ..x
        });
    Ok(GeneratorCheck {
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
        wake_lag_p99_ms: probed.then(|| wake.value_at_quantile(0.99) as f64 / 1000.0),
        wake_lag_max_ms: probed.then(|| wake.max() as f64 / 1000.0),
        wake_lag_histogram: if probed { encode(&wake) } else { String::new() },
        cpu_seconds: results
            .iter()
            .filter_map(|r| r.generator.cpu_seconds)
            .reduce(|a, b| a + b),
        cpu_share: max_of(&|g| g.cpu_share),
        busy_share: max_of(&|g| g.busy_share),
        cores: first.generator.cores,
        sends,
        saturated: results.iter().any(|r| r.generator.saturated),
    })
}

/// The workers' timelines, window by window: counts add; the percentiles
/// are the slowest worker's (the windows' histograms are not kept, so this
/// is an upper bound of the pooled percentile).
fn merged_timeline(results: &[LoadResult]) -> Timeline {
    let mut t = Timeline {
        window_seconds: results[0].timeline.window_seconds,
        windows: Vec::new(),
    };
    let slower = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    for r in results
        .iter()
        .filter(|r| r.timeline.window_seconds == t.window_seconds)
    {
        for (i, w) in r.timeline.windows.iter().enumerate() {
            if let Some(m) = t.windows.get_mut(i) {
                m.requests += w.requests;
                m.errors += w.errors;
                m.p50_ms = slower(m.p50_ms, w.p50_ms);
                m.p99_ms = slower(m.p99_ms, w.p99_ms);
            } else {
                t.windows.push(*w);
            }
        }
    }
    t
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
    use std::time::Duration;

    use super::*;
    use crate::load::recorder::Kind;

    /// Windows become the timeline: start times by the window size, rates
    /// per second, and no percentile for a window without requests.
    #[test]
    fn the_timeline_of_recorded_windows() {
        let mut rec = Recorder::new(&[]).expect("recorder").with_window(3);
        let ms = Duration::from_millis;
        for i in 0..30 {
            rec.request(
                Kind::Assign,
                i != 0,
                ms(1),
                ms(2),
                ms(0),
                0.1 * f64::from(i),
            );
        }
        rec.request(Kind::Assign, true, ms(1), ms(900), ms(0), 6.5);
        let t = timeline(rec.window_seconds, &rec.windows);
        assert_eq!(t.window_seconds, 3);
        let starts: Vec<f64> = t.windows.iter().map(|w| w.start_s).collect();
        assert_eq!(starts, [0.0, 3.0, 6.0]);
        let w = &t.windows;
        assert_eq!((w[0].requests, w[0].errors, w[1].requests), (30, 1, 0));
        assert_eq!((w[1].p50_ms, w[1].p99_ms), (None, None));
        assert!((w[0].p99_ms.expect("data") - 2.0).abs() < 0.02, "{w:?}");
        assert!(w[2].p99_ms.expect("data") > 850.0, "{w:?}");
        assert_eq!(t.throughput(), [10.0, 0.0, 1.0 / 3.0]);
    }

    #[test]
    fn send_ratios_per_user() {
        let u = |scheduled, sent| UserProgress { scheduled, sent };
        assert_eq!(send_ratios(&[]), None);
        assert_eq!(send_ratios(&[u(0, 3)]), None);
        let r = send_ratios(&[u(10, 10), u(10, 1), u(0, 0), u(20, 10)]).expect("users");
        assert_eq!((r.users, r.min, r.median), (3, 0.1, 0.5));
    }
}

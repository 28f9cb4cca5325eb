//! The baseline comparison on real results (tests/data/baseline, see its
//! README) and on synthetic latency histograms, and its tests against
//! reference values computed once with statsmodels and scipy
//! (tests/reference/two_proportion.py and quantile_ci.py, committed with
//! their output).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use serde::Deserialize;
use statrs::distribution::{Binomial, DiscreteCDF};
use umpire_reports::AnyResult;
use umpire_reports::baseline::{
    BaselineOptions, Delta, compare, latency_quantile_ci, quantile_ci_ranks, two_proportion_z_test,
    welch_z_test,
};
use umpire_sim::experiment::Measure;
use umpire_sim::experiment::result::{ExpectationResult, ExperimentResult};
use umpire_sim::load::result::{EndpointResult, decode};
use umpire_sim::result::Bound;
use umpire_sim::stats::{Proportion, wilson};

const TOL: f64 = 1e-9;

fn data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/baseline")
        .join(dir)
}

/// Every result in a run directory, in file-name order.
fn load(dir: &str) -> Vec<AnyResult> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data(dir))
        .expect("test data directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("readable");
            AnyResult::from_json(&f.display().to_string(), &text).unwrap_or_else(|e| {
                panic!("{e}\n(regenerate the test data: see tests/data/baseline/README.md)")
            })
        })
        .collect()
}

fn one(dir: &str, scenario: &str) -> AnyResult {
    load(dir)
        .into_iter()
        .find(|r| r.scenario() == scenario)
        .unwrap_or_else(|| panic!("{scenario} in {dir}"))
}

fn experiment(r: &mut AnyResult) -> &mut ExperimentResult {
    match r {
        AnyResult::Experiment(e) => e,
        _ => panic!("not an experiment result"),
    }
}

fn row<'d>(deltas: &'d [Delta], scenario: &str, measure: &str) -> &'d Delta {
    deltas
        .iter()
        .find(|d| d.scenario == scenario && d.measure == measure)
        .unwrap_or_else(|| panic!("no row {scenario} / {measure} in {deltas:#?}"))
}

fn flagged(deltas: &[Delta]) -> Vec<&Delta> {
    deltas
        .iter()
        .filter(|d| d.flagged || d.regression)
        .collect()
}

fn prop(successes: u64, trials: u64) -> Proportion {
    wilson(successes, trials, 0.05)
}

fn opts() -> BaselineOptions {
    BaselineOptions::default()
}

const FPR: &str = "fixed/conversion/treatment rejection_rate";

#[test]
fn defaults() {
    let o = BaselineOptions::default();
    assert_eq!(o.alpha, 0.001);
    assert_eq!(o.latency_ratio, 1.25);
    assert_eq!(o.latency_min_tail, 10);
}

#[test]
fn a_run_compared_with_itself_flags_nothing() {
    for dir in ["run_a", "run_b"] {
        let run = load(dir);
        let deltas = compare(&run, &run, &opts());
        assert!(flagged(&deltas).is_empty(), "{:#?}", flagged(&deltas));
        for d in &deltas {
            assert_eq!(d.delta, 0.0, "{d:?}");
            assert!(!d.measure.contains("missing"), "{d:?}");
            // Every test that ran found no difference at all.
            if let Some(p) = d.p_value {
                assert_eq!(p, 1.0, "{d:?}");
            }
        }
        // Every scenario is there, in the run's order.
        let mut scenarios: Vec<&str> = deltas.iter().map(|d| d.scenario.as_str()).collect();
        scenarios.dedup();
        let expected: Vec<&str> = run.iter().map(AnyResult::scenario).collect();
        assert_eq!(scenarios, expected);
    }
}

#[test]
fn measures_come_in_a_fixed_order() {
    let (cur, base) = (load("run_b"), load("run_a"));
    let deltas = compare(&cur, &base, &opts());
    let of = |s: &str| -> Vec<&str> {
        deltas
            .iter()
            .filter(|d| d.scenario == s)
            .map(|d| d.measure.as_str())
            .collect()
    };
    assert_eq!(
        of("aa_conversion"),
        [
            FPR,
            "fixed/conversion/treatment coverage",
            "fixed/conversion/treatment relative_coverage",
            "fixed family_wise_error_rate",
            "srm_detection_rate",
        ]
    );
    // No true null: no family-wise error rate row.
    assert_eq!(
        of("ab_conversion_power"),
        [
            FPR,
            "fixed/conversion/treatment coverage",
            "fixed/conversion/treatment relative_coverage",
            "srm_detection_rate",
        ]
    );
    assert_eq!(
        of("bandit_small"),
        [
            "ucb1 regret",
            "ucb1 best_arm_identified",
            "thompson regret",
            "thompson best_arm_identified",
        ]
    );
    // Only in the baseline: reported last, not compared.
    assert_eq!(of("serving_slo"), ["missing in current run"]);
    assert_eq!(deltas.last().unwrap().scenario, "serving_slo");
    // The same inputs give the same rows.
    assert_eq!(deltas, compare(&cur, &base, &opts()));
}

#[test]
fn two_seeds_of_the_same_scenarios_flag_nothing() {
    let (cur, base) = (load("run_b"), load("run_a"));
    let deltas = compare(&cur, &base, &opts());
    assert!(flagged(&deltas).is_empty(), "{:#?}", flagged(&deltas));
    // Every row of a compared scenario ran its test.
    assert!(
        deltas
            .iter()
            .filter(|d| d.scenario != "serving_slo")
            .all(|d| d.p_value.is_some()),
        "{deltas:#?}"
    );

    // The A/A false positive rate, 115/2000 (seed 7) vs 92/2000 (seed
    // 20261125): the pooled two-proportion z by hand.
    let d = row(&deltas, "aa_conversion", FPR);
    let (mut c, mut b) = (cur[0].clone(), base[0].clone());
    let (c, b) = (experiment(&mut c), experiment(&mut b));
    assert_eq!(
        (c.header.scenario.as_str(), b.header.scenario.as_str()),
        ("aa_conversion", "aa_conversion")
    );
    let (x1, n1) = (
        c.methods[0].comparisons[0].rejection_rate.successes as f64,
        c.methods[0].comparisons[0].rejection_rate.trials as f64,
    );
    let (x2, n2) = (
        b.methods[0].comparisons[0].rejection_rate.successes as f64,
        b.methods[0].comparisons[0].rejection_rate.trials as f64,
    );
    assert_eq!((x1, n1, x2, n2), (115.0, 2000.0, 92.0, 2000.0));
    let pooled = (x1 + x2) / (n1 + n2);
    let z = (x1 / n1 - x2 / n2) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let p = statrs::function::erf::erfc(z.abs() / std::f64::consts::SQRT_2);
    assert!((z - 1.641_652_519_742_423_4).abs() < TOL, "z = {z}"); // the scipy reference
    assert!(
        (d.p_value.unwrap() - p).abs() <= 1e-12 * p,
        "{d:?} vs p = {p}"
    );
    assert!(
        d.test
            .starts_with(&format!("two-proportion z = {z:.2}, p = ")),
        "{}",
        d.test
    );
    assert!(d.test.contains("(115/2000 vs 92/2000)"), "{}", d.test);
    assert_eq!((d.baseline, d.current), (x2 / n2, x1 / n1));
    assert!((d.delta - (x1 / n1 - x2 / n2)).abs() < 1e-15);

    // alpha is what decides: p ≈ 0.10 is flagged at alpha = 0.2 (and, the
    // truth being a null, up is a regression).
    let loose = BaselineOptions {
        alpha: 0.2,
        ..opts()
    };
    let d = row(&compare(&cur, &base, &loose), "aa_conversion", FPR).clone();
    assert!(d.flagged && d.regression, "{d:?}");
}

/// aa_conversion (a true null) with its rejection rate set in both runs.
fn fpr_pair(current: (u64, u64), baseline: (u64, u64)) -> Vec<Delta> {
    let (mut c, mut b) = (one("run_a", "aa_conversion"), one("run_a", "aa_conversion"));
    experiment(&mut c).methods[0].comparisons[0].rejection_rate = prop(current.0, current.1);
    experiment(&mut b).methods[0].comparisons[0].rejection_rate = prop(baseline.0, baseline.1);
    compare(&[c], &[b], &opts())
}

#[test]
fn a_false_positive_rate_that_rises_is_a_regression() {
    // 0.05 -> 0.08 at 20,000 replications.
    let deltas = fpr_pair((1600, 20000), (1000, 20000));
    let d = row(&deltas, "aa_conversion", FPR);
    assert!(d.flagged && d.regression, "{d:?}");
    assert_eq!((d.baseline, d.current), (0.05, 0.08));
    assert!((d.delta - 0.03).abs() < 1e-15);
    assert!(d.p_value.unwrap() < 1e-30, "{d:?}");
    assert!(
        d.test.starts_with("two-proportion z = 12.17, p = 4.54e-34"),
        "{}",
        d.test
    );
    // Nothing else moved.
    assert_eq!(flagged(&deltas).len(), 1, "{deltas:#?}");
}

#[test]
fn a_false_positive_rate_that_falls_is_flagged_but_no_regression() {
    let deltas = fpr_pair((1000, 20000), (1600, 20000));
    let d = row(&deltas, "aa_conversion", FPR);
    assert!(d.flagged && !d.regression, "{d:?}");
    assert!(
        d.test.starts_with("two-proportion z = -12.17"),
        "{}",
        d.test
    );
}

#[test]
fn a_small_move_is_not_flagged() {
    // 0.050 -> 0.053 at 20,000: z ≈ 1.4.
    let d = fpr_pair((1060, 20000), (1000, 20000));
    let d = row(&d, "aa_conversion", FPR);
    assert!(!d.flagged && !d.regression, "{d:?}");
}

/// ab_conversion_power (a true effect) with its rejection rate set in both runs.
fn power_pair(current: u64, baseline: u64) -> Delta {
    let (mut c, mut b) = (
        one("run_a", "ab_conversion_power"),
        one("run_a", "ab_conversion_power"),
    );
    let comp = &experiment(&mut c).methods[0].comparisons[0];
    assert_eq!(comp.rejection_measure, Measure::Power);
    experiment(&mut c).methods[0].comparisons[0].rejection_rate = prop(current, 2000);
    experiment(&mut b).methods[0].comparisons[0].rejection_rate = prop(baseline, 2000);
    row(&compare(&[c], &[b], &opts()), "ab_conversion_power", FPR).clone()
}

#[test]
fn power_that_falls_is_a_regression_and_power_that_rises_is_not() {
    let down = power_pair(1400, 1600);
    assert!(down.flagged && down.regression, "{down:?}");
    assert_eq!(
        down.p_value,
        two_proportion_z_test(1400, 2000, 1600, 2000).map(|t| t.1)
    );
    let up = power_pair(1600, 1400);
    assert!(up.flagged && !up.regression, "{up:?}");
}

#[test]
fn coverage_that_falls_and_a_family_wise_error_rate_that_rises_are_regressions() {
    let (mut c, b) = (one("run_a", "aa_conversion"), one("run_a", "aa_conversion"));
    let trials = experiment(&mut c).methods[0].comparisons[0].coverage.trials;
    experiment(&mut c).methods[0].comparisons[0].coverage = prop(trials * 90 / 100, trials);
    let fwer = experiment(&mut c).methods[0].family_wise_error_rate;
    experiment(&mut c).methods[0].family_wise_error_rate = prop(fwer.successes * 2, fwer.trials);
    let deltas = compare(&[c], &[b], &opts());
    let cov = row(
        &deltas,
        "aa_conversion",
        "fixed/conversion/treatment coverage",
    );
    assert!(cov.flagged && cov.regression, "{cov:?}");
    let fw = row(&deltas, "aa_conversion", "fixed family_wise_error_rate");
    assert!(fw.flagged && fw.regression, "{fw:?}");
    assert_eq!(flagged(&deltas).len(), 2, "{deltas:#?}");
}

fn srm_expectation(bound: Bound) -> ExpectationResult {
    ExpectationResult {
        key: "expect.srm_detection_rate".to_owned(),
        measure: Measure::SrmDetectionRate,
        method: "fixed".to_owned(),
        metric: None,
        variant: None,
        bound,
        measured: 0.0,
        interval: None,
        theory: None,
        passed: true,
        message: String::new(),
    }
}

fn srm_pair(current: u64, baseline: u64, bound: Option<Bound>) -> Delta {
    let (mut c, mut b) = (one("run_a", "aa_conversion"), one("run_a", "aa_conversion"));
    for (r, x) in [(&mut c, current), (&mut b, baseline)] {
        let e = experiment(r);
        e.srm_detection_rate = prop(x, 2000);
        e.expectations.extend(bound.map(srm_expectation));
    }
    row(
        &compare(&[c], &[b], &opts()),
        "aa_conversion",
        "srm_detection_rate",
    )
    .clone()
}

#[test]
fn the_srm_detection_rate_direction_comes_from_the_scenarios_expectation() {
    let ceiling = Bound {
        max: Some(0.005),
        ..Bound::default()
    };
    let floor = Bound {
        min: Some(0.97),
        ..Bound::default()
    };
    // A ceiling: a false positive rate, up is bad.
    let d = srm_pair(40, 2, Some(ceiling));
    assert!(d.flagged && d.regression, "{d:?}");
    let d = srm_pair(2, 40, Some(ceiling));
    assert!(d.flagged && !d.regression, "{d:?}");
    // A floor: a detection power, down is bad.
    let d = srm_pair(1900, 1990, Some(floor));
    assert!(d.flagged && d.regression, "{d:?}");
    let d = srm_pair(1990, 1900, Some(floor));
    assert!(d.flagged && !d.regression, "{d:?}");
    // No expectation (aa_conversion's own): unknown, any flagged change counts.
    let d = srm_pair(40, 2, None);
    assert!(d.flagged && d.regression, "{d:?}");
    let d = srm_pair(2, 40, None);
    assert!(d.flagged && d.regression, "{d:?}");
}

#[test]
fn no_test_is_possible_without_variance_or_trials() {
    // Pooled rate 0: no SRM detections in either run.
    let d = srm_pair(0, 0, None);
    assert!(!d.flagged && !d.regression && d.p_value.is_none(), "{d:?}");
    assert_eq!(d.test, "no test: pooled rate is 0 (0/2000 vs 0/2000)");
    // Pooled rate 1.
    let d = srm_pair(2000, 2000, None);
    assert_eq!(d.test, "no test: pooled rate is 1 (2000/2000 vs 2000/2000)");
    assert!(!d.flagged && d.p_value.is_none());
    // No trials.
    let (mut c, b) = (one("run_a", "aa_conversion"), one("run_a", "aa_conversion"));
    experiment(&mut c).methods[0].comparisons[0].coverage = prop(0, 0);
    let deltas = compare(&[c], &[b], &opts());
    let d = row(
        &deltas,
        "aa_conversion",
        "fixed/conversion/treatment coverage",
    );
    assert_eq!(d.test, "no test: no trials in the current run");
    assert!(!d.flagged && !d.regression && d.p_value.is_none() && d.current == 0.0);

    assert_eq!(two_proportion_z_test(0, 0, 5, 10), None);
    assert_eq!(two_proportion_z_test(5, 10, 0, 0), None);
    assert_eq!(two_proportion_z_test(0, 10, 0, 10), None);
    assert_eq!(two_proportion_z_test(10, 10, 10, 10), None);
    assert_eq!(two_proportion_z_test(11, 10, 5, 10), None);
    assert_eq!(welch_z_test(1.0, 0.0, 10, 2.0, 0.0, 10), None);
    assert_eq!(welch_z_test(1.0, 1.0, 0, 2.0, 1.0, 10), None);
    assert_eq!(welch_z_test(f64::NAN, 1.0, 10, 2.0, 1.0, 10), None);
}

fn bandit_pair(edit: impl FnOnce(&mut umpire_sim::bandit::result::BanditResult)) -> Vec<Delta> {
    let (mut c, b) = (one("run_a", "bandit_small"), one("run_a", "bandit_small"));
    match &mut c {
        AnyResult::Bandit(r) => edit(r),
        _ => panic!("not a bandit result"),
    }
    compare(&[c], &[b], &opts())
}

#[test]
fn regret_that_rises_is_a_regression() {
    // Thompson: 19.53 ± sd 9.91 over 200 replications; SE of the difference
    // ≈ 0.99, so +5 is z ≈ 5.
    let deltas = bandit_pair(|r| r.policies[1].final_regret.value += 5.0);
    let d = row(&deltas, "bandit_small", "thompson regret");
    assert!(d.flagged && d.regression, "{d:?}");
    assert!((d.delta - 5.0).abs() < 1e-9, "{d:?}");
    let sd = 9.909_628_103_807_906_f64;
    let z = 5.0 / (2.0 * sd * sd / 200.0).sqrt();
    assert!(
        d.test.starts_with(&format!("Welch z = {z:.2}, p = ")),
        "{}",
        d.test
    );
    assert_eq!(flagged(&deltas).len(), 1, "{deltas:#?}");

    let deltas = bandit_pair(|r| r.policies[1].final_regret.value -= 5.0);
    let d = row(&deltas, "bandit_small", "thompson regret");
    assert!(d.flagged && !d.regression, "{d:?}");

    // +1 is z ≈ 1: not flagged.
    let deltas = bandit_pair(|r| r.policies[1].final_regret.value += 1.0);
    assert!(flagged(&deltas).is_empty(), "{deltas:#?}");
}

#[test]
fn best_arm_identification_that_falls_is_a_regression() {
    // ucb1 identified the best arm in 183 of 200; 140 of 200 is z ≈ -5.
    let deltas = bandit_pair(|r| r.policies[0].best_arm_identified = prop(140, 200));
    let d = row(&deltas, "bandit_small", "ucb1 best_arm_identified");
    assert!(d.flagged && d.regression, "{d:?}");
    assert!(d.test.contains("(140/200 vs 183/200)"), "{}", d.test);
}

fn load_pair_with(
    o: &BaselineOptions,
    edit: impl FnOnce(&mut umpire_sim::load::result::LoadResult),
) -> Vec<Delta> {
    let (mut c, b) = (one("run_a", "serving_slo"), one("run_a", "serving_slo"));
    match &mut c {
        AnyResult::Load(r) => edit(r),
        _ => panic!("not a load result"),
    }
    compare(&[c], &[b], o)
}

/// Without the 1 ms floor: loopback latencies are below it.
fn no_floor() -> BaselineOptions {
    BaselineOptions {
        latency_floor_ms: 0.0,
        ..opts()
    }
}

fn load_pair(edit: impl FnOnce(&mut umpire_sim::load::result::LoadResult)) -> Vec<Delta> {
    load_pair_with(&no_floor(), edit)
}

/// A histogram as the load generator keeps it: µs, 1 µs to 10 min, 3
/// significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .expect("serialise histogram");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// An exported histogram with every recorded value multiplied by `f`.
fn scaled(encoded: &str, f: f64) -> String {
    let h = decode(encoded).expect("histogram decodes");
    let mut out = histogram();
    for v in h.iter_recorded() {
        let x = (v.value_iterated_to() as f64 * f).round() as u64;
        out.record_n(x.clamp(1, 600_000_000), v.count_at_value())
            .expect("record");
    }
    encode(&out)
}

/// Scale an endpoint's corrected latency by `f`: histogram and stored
/// percentiles alike, as a run that was `f` times slower would write them.
fn slow_down(e: &mut EndpointResult, f: f64) {
    e.corrected_histogram = scaled(&e.corrected_histogram, f);
    let c = &mut e.corrected;
    for v in [
        &mut c.p50_ms,
        &mut c.p95_ms,
        &mut c.p99_ms,
        &mut c.p999_ms,
        &mut c.max_ms,
    ] {
        *v *= f;
    }
}

/// SplitMix64: a fixed, seeded stream for synthetic latencies.
struct SplitMix(u64);

impl SplitMix {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // (0, 1]: never 0, so the Pareto draw stays finite.
        ((z >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// Pareto latencies with a heavy tail like a loopback server's: scale
/// 0.5 ms, shape 2.5, so p50 ≈ 0.66 ms and p99.9 ≈ 8 ms (µs).
const PARETO_SCALE_US: f64 = 500.0;
const PARETO_SHAPE: f64 = 2.5;

fn pareto_quantile_us(q: f64) -> f64 {
    PARETO_SCALE_US * (1.0 - q).powf(-1.0 / PARETO_SHAPE)
}

fn pareto_cdf(x_us: f64) -> f64 {
    if x_us <= PARETO_SCALE_US {
        0.0
    } else {
        1.0 - (PARETO_SCALE_US / x_us).powf(PARETO_SHAPE)
    }
}

/// A load result whose only endpoint (overall) holds `n` requests drawn
/// from the Pareto latencies × `factor`, with seed `seed`.
fn synthetic(n: u64, seed: u64, factor: f64) -> AnyResult {
    let mut rng = SplitMix(seed);
    let mut h = histogram();
    for _ in 0..n {
        let us = PARETO_SCALE_US * rng.uniform().powf(-1.0 / PARETO_SHAPE) * factor;
        h.record((us.round() as u64).clamp(1, 600_000_000))
            .expect("record");
    }
    let mut r = match one("run_a", "serving_slo") {
        AnyResult::Load(r) => r,
        _ => panic!("not a load result"),
    };
    r.endpoints.truncate(1);
    let e = &mut r.endpoints[0];
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    e.count = n;
    e.errors = 0;
    e.error_rate = 0.0;
    e.corrected.p50_ms = ms(0.5);
    e.corrected.p95_ms = ms(0.95);
    e.corrected.p99_ms = ms(0.99);
    e.corrected.p999_ms = ms(0.999);
    e.corrected.max_ms = h.max() as f64 / 1000.0;
    e.corrected_histogram = encode(&h);
    e.raw_histogram = e.corrected_histogram.clone();
    e.raw = e.corrected;
    AnyResult::Load(r)
}

const PERCENTILES: [(&str, f64); 4] = [
    ("overall p50_ms (corrected)", 0.5),
    ("overall p95_ms (corrected)", 0.95),
    ("overall p99_ms (corrected)", 0.99),
    ("overall p999_ms (corrected)", 0.999),
];

/// An upper bound on the chance that two runs of `n` draws from the same
/// Pareto latencies flag percentile `q` at the default options. A flag needs
/// the current interval's lower end above ratio × the baseline's upper end,
/// so one of them missed the true percentile ξ by a factor √ratio: the lower
/// order statistic X₍ₗ₎ > √ratio·ξ, i.e. fewer than l draws below √ratio·ξ,
/// or X₍ᵤ₎ < ξ/√ratio, i.e. u or more draws below ξ/√ratio (and the same
/// with the runs swapped, for "faster").
fn false_flag_bound(n: u64, q: f64) -> f64 {
    let o = opts();
    let (l, u) = quantile_ci_ranks(n, q, o.alpha);
    let xi = pareto_quantile_us(q);
    let s = o.latency_ratio.sqrt();
    let above = Binomial::new(pareto_cdf(xi * s), n).expect("binomial");
    let below = Binomial::new(pareto_cdf(xi / s), n).expect("binomial");
    let lower_misses = if l == 0 { 0.0 } else { above.cdf(l - 1) };
    let upper_misses = if u > n { 0.0 } else { below.sf(u - 1) };
    2.0 * (lower_misses + upper_misses)
}

#[test]
fn identical_latency_distributions_at_small_n_are_not_flagged() {
    // The report in issue 11: two identical runs minutes apart flagged
    // `reward p999_ms 1.391 → 3.211` on 367 requests. The 99.9th
    // percentile of 367 draws is their largest or second-largest: noise.
    // 200 pairs of runs of the same heavy-tailed latencies, at 367 requests
    // (p50 and p95 testable) and at 20,000 (all four).
    let o = opts();
    let pairs = 200;
    let mut bound = 0.0;
    for (n, testable) in [(367u64, 2usize), (20_000, 4)] {
        for &(_, q) in &PERCENTILES[..testable] {
            bound += pairs as f64 * false_flag_bound(n, q);
        }
        let mut old_rule_would_flag = 0;
        for pair in 0..pairs {
            let base = synthetic(n, 2 * pair + 1, 1.0);
            let cur = synthetic(n, 2 * pair + 2, 1.0);
            let deltas = compare(&[cur], &[base], &o);
            assert!(
                flagged(&deltas).is_empty(),
                "n {n}: {:#?}",
                flagged(&deltas)
            );
            for (i, &(measure, q)) in PERCENTILES.iter().enumerate() {
                let d = row(&deltas, "serving_slo", measure);
                if i < testable {
                    assert!(d.test.contains("99.9% order-statistic CIs"), "{d:?}");
                } else {
                    let need = umpire_reports::baseline::min_requests(q, o.latency_min_tail);
                    let label = if q == 0.99 { "p99" } else { "p99.9" };
                    assert!(
                        d.test
                            .starts_with(&format!("no test: {label} needs ≥ {need} requests")),
                        "{d:?}"
                    );
                }
                let ratio = d.current / d.baseline;
                if (d.current - d.baseline).abs() >= o.latency_floor_ms
                    && !(1.0 / o.latency_ratio..=o.latency_ratio).contains(&ratio)
                {
                    old_rule_would_flag += 1;
                }
            }
        }
        if n == 367 {
            // What the ratio rule on point values did with the same pairs.
            assert!(old_rule_would_flag > pairs / 4, "{old_rule_would_flag}");
        }
    }
    // The assertion above is not luck: by the order statistics' binomial
    // law, the chance of any false flag in all 1,200 comparisons is at most
    // 2.8e-3 (mostly p95 at 367 and p99.9 at 20,000, 7e-6 a comparison), so
    // other seeds would pass too.
    assert!(bound < 1e-2, "false-flag bound {bound:e}");
}

#[test]
fn a_threefold_slowdown_is_flagged_where_the_requests_suffice() {
    let o = opts();
    // 20,000 requests: every percentile's intervals lie far apart.
    let deltas = compare(
        &[synthetic(20_000, 7, 3.0)],
        &[synthetic(20_000, 8, 1.0)],
        &o,
    );
    for (measure, _) in PERCENTILES {
        let d = row(&deltas, "serving_slo", measure);
        assert!(d.flagged && d.regression && d.p_value.is_none(), "{d:?}");
        assert!(
            d.test.starts_with("slower: 99.9% order-statistic CIs"),
            "{d:?}"
        );
    }
    // The other way round: faster, flagged, no regression.
    let deltas = compare(
        &[synthetic(20_000, 7, 1.0)],
        &[synthetic(20_000, 8, 3.0)],
        &o,
    );
    for (measure, _) in PERCENTILES {
        let d = row(&deltas, "serving_slo", measure);
        assert!(d.flagged && !d.regression, "{d:?}");
        assert!(d.test.starts_with("faster: "), "{d:?}");
    }
    // 367 requests: the median still shows it (p95's 99.9% intervals on so
    // heavy a tail are about a factor 3 wide there, so it may or may not);
    // p99 and p99.9 have too few requests beyond them to say anything, and
    // say so.
    let deltas = compare(&[synthetic(367, 7, 3.0)], &[synthetic(367, 8, 1.0)], &o);
    for (i, (measure, _)) in PERCENTILES.iter().enumerate() {
        let d = row(&deltas, "serving_slo", measure);
        if i == 0 {
            assert!(d.regression, "{d:?}");
        } else if i >= 2 {
            assert!(!d.flagged && d.test.starts_with("no test: p99"), "{d:?}");
            assert!(d.test.ends_with("367 now and 367 in the baseline"), "{d:?}");
        }
    }
}

#[test]
fn latency_changes_under_the_floor_are_not_flagged() {
    const P50: &str = "overall p50_ms (corrected)";
    // serving_slo's median is under a millisecond: tripling it moves the
    // intervals apart by far more than the ratio, but by less than the
    // default 1 ms floor, so it is noise, not a regression.
    let p50 = match one("run_a", "serving_slo") {
        AnyResult::Load(r) => r.endpoints[0].corrected.p50_ms,
        _ => panic!("not a load result"),
    };
    assert!(p50 < 0.3, "the test needs a sub-0.3 ms median, got {p50}");
    let d = load_pair_with(&opts(), |r| slow_down(&mut r.endpoints[0], 3.0));
    let p = row(&d, "serving_slo", P50);
    assert!(!p.flagged, "{p:#?}");
    assert!(p.test.ends_with("but by less than 1 ms"), "{}", p.test);
    // Without the floor, the same change is a regression.
    let d = load_pair(|r| slow_down(&mut r.endpoints[0], 3.0));
    assert!(row(&d, "serving_slo", P50).regression);
}

#[test]
fn latency_is_judged_by_its_intervals() {
    const P99: &str = "overall p99_ms (corrected)";
    let same = load_pair(|_| {});
    assert!(flagged(&same).is_empty(), "{same:#?}");
    let measures: Vec<&str> = same
        .iter()
        .filter(|d| d.measure.starts_with("overall "))
        .map(|d| d.measure.as_str())
        .collect();
    assert_eq!(
        measures,
        [
            "overall p50_ms (corrected)",
            "overall p95_ms (corrected)",
            P99,
            "overall p999_ms (corrected)",
            "overall error_rate",
        ]
    );
    let d = row(&same, "serving_slo", P99);
    assert!(
        d.test.starts_with("99.9% order-statistic CIs: [")
            && d.test
                .ends_with("(3440 vs 3440 requests); not apart by more than × 1.25"),
        "{}",
        d.test
    );
    // 3,440 requests: too few for p99.9 (10,000 at 10 beyond it).
    let d = row(&same, "serving_slo", "overall p999_ms (corrected)");
    assert_eq!(
        d.test,
        "no test: p99.9 needs ≥ 10000 requests per run (10 beyond it), 3440 now and 3440 in the baseline"
    );

    // × 3 on the real histogram: p99's intervals lie apart, a regression.
    let deltas = load_pair(|r| slow_down(&mut r.endpoints[0], 3.0));
    let d = row(&deltas, "serving_slo", P99);
    assert!(d.flagged && d.regression && d.p_value.is_none(), "{d:?}");
    // × 1.1: the intervals overlap within the ratio.
    let deltas = load_pair(|r| slow_down(&mut r.endpoints[0], 1.1));
    assert!(flagged(&deltas).is_empty(), "{deltas:#?}");
    // × 1/3: faster, flagged but no regression.
    let deltas = load_pair(|r| slow_down(&mut r.endpoints[0], 1.0 / 3.0));
    let d = row(&deltas, "serving_slo", P99);
    assert!(d.flagged && !d.regression, "{d:?}");
    // A stored percentile edited without its histogram changes the shown
    // value, not the verdict: the histogram judges.
    let deltas = load_pair(|r| r.endpoints[0].corrected.p99_ms *= 3.0);
    assert!(flagged(&deltas).is_empty(), "{deltas:#?}");
    // Raw latency is not judged.
    let deltas =
        load_pair(|r| r.endpoints[0].raw_histogram = scaled(&r.endpoints[0].raw_histogram, 3.0));
    assert!(flagged(&deltas).is_empty(), "{deltas:#?}");
    // A histogram that does not decode is no test, not a verdict.
    let deltas = load_pair(|r| r.endpoints[0].corrected_histogram = "not base64".to_owned());
    let d = row(&deltas, "serving_slo", P99);
    assert!(
        !d.flagged && d.test == "no test: the current histogram does not decode",
        "{d:?}"
    );
}

#[derive(Deserialize)]
struct QuantileCase {
    n: u64,
    q: f64,
    alpha: f64,
    lo: u64,
    hi: u64,
}

#[derive(Deserialize)]
struct QuantileReference {
    cases: Vec<QuantileCase>,
}

fn quantile_reference() -> QuantileReference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/quantile_ci.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference JSON"))
        .expect("reference shape")
}

#[test]
fn order_statistic_ranks_match_scipy_binomial() {
    let r = quantile_reference();
    assert_eq!(r.cases.len(), 96);
    for c in &r.cases {
        assert_eq!(
            quantile_ci_ranks(c.n, c.q, c.alpha),
            (c.lo, c.hi),
            "n {} q {} alpha {}",
            c.n,
            c.q,
            c.alpha
        );
    }
}

#[test]
fn the_latency_interval_is_the_order_statistics_of_the_histogram() {
    // 1,000 requests of 1, 2, …, 1000 µs: exact at 3 significant digits, so
    // the k-th smallest is k µs and the interval's ends are the reference
    // ranks in µs.
    let mut h = histogram();
    for us in 1..=1000 {
        h.record(us).expect("record");
    }
    let r = quantile_reference();
    for c in r.cases.iter().filter(|c| c.n == 1000) {
        let (lo, hi) = latency_quantile_ci(&h, c.q, c.alpha);
        assert_eq!(lo, c.lo as f64 / 1000.0, "q {} alpha {}", c.q, c.alpha);
        let want_hi = if c.hi > 1000 {
            f64::INFINITY
        } else {
            c.hi as f64 / 1000.0
        };
        assert_eq!(hi, want_hi, "q {} alpha {}", c.q, c.alpha);
    }
    // An empty histogram bounds nothing.
    assert_eq!(
        latency_quantile_ci(&histogram(), 0.5, 0.05),
        (0.0, f64::INFINITY)
    );
}

#[test]
fn an_error_rate_that_grows_is_a_regression() {
    let deltas = load_pair(|r| {
        let e = &mut r.endpoints[0];
        e.errors = 20;
        e.error_rate = 20.0 / e.count as f64;
    });
    let d = row(&deltas, "serving_slo", "overall error_rate");
    assert!(d.flagged && d.regression, "{d:?}");
    // The baseline had no errors: both at 0 is no test at all.
    let same = load_pair(|_| {});
    let d = row(&same, "serving_slo", "overall error_rate");
    assert!(
        d.test.starts_with("no test: pooled rate is 0"),
        "{}",
        d.test
    );
}

#[test]
fn missing_scenarios_are_reported_not_compared() {
    let (aa, bandit) = (one("run_a", "aa_conversion"), one("run_a", "bandit_small"));
    let deltas = compare(
        std::slice::from_ref(&aa),
        std::slice::from_ref(&bandit),
        &opts(),
    );
    assert_eq!(deltas.len(), 2, "{deltas:#?}");
    assert_eq!(
        (deltas[0].scenario.as_str(), deltas[0].measure.as_str()),
        ("aa_conversion", "missing in baseline")
    );
    assert_eq!(
        (deltas[1].scenario.as_str(), deltas[1].measure.as_str()),
        ("bandit_small", "missing in current run")
    );
    for d in &deltas {
        assert!(!d.flagged && !d.regression && d.p_value.is_none(), "{d:?}");
        assert_eq!((d.baseline, d.current, d.delta), (0.0, 0.0, 0.0));
        assert!(d.test.contains("values are 0"), "{}", d.test);
    }
    // Valid JSON, and it reads back.
    let json = serde_json::to_string(&deltas).unwrap();
    assert_eq!(serde_json::from_str::<Vec<Delta>>(&json).unwrap(), deltas);

    // Same name, another kind.
    let mut renamed = bandit;
    if let AnyResult::Bandit(r) = &mut renamed {
        r.header.scenario = "aa_conversion".to_owned();
    }
    let deltas = compare(&[aa], &[renamed], &opts());
    assert_eq!(deltas.len(), 1, "{deltas:#?}");
    assert_eq!(deltas[0].measure, "kind changed");
    assert!(!deltas[0].flagged && !deltas[0].regression);
}

#[test]
fn a_missing_method_or_policy_is_reported() {
    let (c, mut b) = (one("run_a", "bandit_small"), one("run_a", "bandit_small"));
    if let AnyResult::Bandit(r) = &mut b {
        r.policies[1].name = "thompson_old".to_owned();
    }
    let deltas = compare(&[c], &[b], &opts());
    let measures: Vec<&str> = deltas.iter().map(|d| d.measure.as_str()).collect();
    assert_eq!(
        measures,
        [
            "ucb1 regret",
            "ucb1 best_arm_identified",
            "thompson missing in baseline",
            "thompson_old missing in current run",
        ]
    );
    assert!(flagged(&deltas).is_empty());
}

// ---------------------------------------------------------------------------
// Reference values (scipy / statsmodels)
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct Reference {
    two_proportion: Vec<TwoProportionCase>,
    welch_z: Vec<WelchCase>,
}

#[derive(Deserialize)]
struct TwoProportionCase {
    name: String,
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
    z: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct WelchCase {
    name: String,
    m1: f64,
    sd1: f64,
    n1: u64,
    m2: f64,
    sd2: f64,
    n2: u64,
    z: f64,
    p_value: f64,
}

fn reference() -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/two_proportion.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference JSON"))
        .expect("reference shape")
}

/// z to 1e-9 absolute (relative beyond 1); p-values to 1e-9 relative, as
/// they span hundreds of orders of magnitude.
fn check(name: &str, got: (f64, f64), z: f64, p: f64) {
    assert!(
        (got.0 - z).abs() <= TOL * z.abs().max(1.0),
        "{name}: z {} vs {z}",
        got.0
    );
    assert!(
        (got.1 - p).abs() <= TOL * p,
        "{name}: p {:e} vs {p:e}",
        got.1
    );
}

#[test]
fn two_proportion_test_matches_statsmodels() {
    let r = reference();
    assert_eq!(r.two_proportion.len(), 12);
    for c in &r.two_proportion {
        let got = two_proportion_z_test(c.x1, c.n1, c.x2, c.n2)
            .unwrap_or_else(|| panic!("{}: no test", c.name));
        check(&c.name, got, c.z, c.p_value);
    }
}

#[test]
fn welch_z_test_matches_scipy() {
    let r = reference();
    assert_eq!(r.welch_z.len(), 5);
    for c in &r.welch_z {
        let got = welch_z_test(c.m1, c.sd1, c.n1, c.m2, c.sd2, c.n2)
            .unwrap_or_else(|| panic!("{}: no test", c.name));
        check(&c.name, got, c.z, c.p_value);
    }
}

#[test]
fn the_deltas_carry_the_reference_p_values() {
    // The real two-seed comparison's rows, against the reference computed
    // from the same counts and means.
    let r = reference();
    let deltas = compare(&load("run_b"), &load("run_a"), &opts());
    let case = |name: &str| r.two_proportion.iter().find(|c| c.name == name).unwrap();
    for (scenario, name) in [
        ("aa_conversion", "aa_fpr_seed7_vs_seed20261125"),
        ("ab_conversion_power", "ab_power_seed7_vs_seed8020"),
    ] {
        let c = case(name);
        let d = row(&deltas, scenario, FPR);
        assert!(
            d.test
                .contains(&format!("({}/{} vs {}/{})", c.x1, c.n1, c.x2, c.n2))
        );
        let p = d.p_value.unwrap();
        assert!(
            (p - c.p_value).abs() <= TOL * c.p_value,
            "{scenario}: {p} vs {}",
            c.p_value
        );
    }
    let w = r
        .welch_z
        .iter()
        .find(|c| c.name == "thompson_seed32_vs_seed31")
        .unwrap();
    let d = row(&deltas, "bandit_small", "thompson regret");
    assert_eq!((d.current, d.baseline), (w.m1, w.m2));
    let p = d.p_value.unwrap();
    assert!(
        (p - w.p_value).abs() <= TOL * w.p_value,
        "{p} vs {}",
        w.p_value
    );
}

fn render_fixture(name: &str) -> AnyResult {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/render")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    AnyResult::from_json(&path.display().to_string(), &text).expect("a result")
}

#[test]
fn a_sweep_is_compared_point_by_point() {
    let base = render_fixture("sweep_power_small.json");
    let same = compare(
        std::slice::from_ref(&base),
        std::slice::from_ref(&base),
        &opts(),
    );
    assert!(!same.is_empty() && flagged(&same).is_empty());
    assert!(
        same.iter()
            .all(|d| d.scenario.contains(" [population.users = "))
    );
    // Take every rejection of `fixed` at its most powerful point: that point
    // alone regresses.
    let mut cur = base.clone();
    let AnyResult::Sweep(sw) = &mut cur else {
        panic!("a sweep fixture")
    };
    let successes = |p: &umpire_sim::sweep::result::PointResult| match &p.result {
        umpire_sim::sweep::result::PointOutcome::Experiment(e) => {
            e.methods[0].comparisons[0].rejection_rate.successes
        }
        umpire_sim::sweep::result::PointOutcome::Bandit(_) => 0,
    };
    let point = sw
        .points
        .iter_mut()
        .max_by_key(|p| successes(p))
        .expect("a point");
    let label = umpire_reports::result::point_label(&point.at);
    let umpire_sim::sweep::result::PointOutcome::Experiment(e) = &mut point.result else {
        unreachable!()
    };
    let rate = &mut e.methods[0].comparisons[0].rejection_rate;
    assert!(rate.successes >= 20, "{rate:?}");
    *rate = prop(0, rate.trials);
    let deltas = compare(&[cur], &[base], &opts());
    let bad = flagged(&deltas);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].regression && bad[0].scenario.ends_with(&format!("[{label}]")),
        "{bad:?}"
    );
}

#[test]
fn a_design_answer_that_grows_is_a_regression() {
    use umpire_sim::design::search::Outcome;
    let base = render_fixture("sample_size_search.json");
    let same = compare(
        std::slice::from_ref(&base),
        std::slice::from_ref(&base),
        &opts(),
    );
    assert!(!same.is_empty() && flagged(&same).is_empty(), "{same:?}");
    let mut cur = base.clone();
    let AnyResult::Design(d) = &mut cur else {
        panic!("a design fixture")
    };
    let Outcome::Found {
        estimate,
        low,
        high,
        ..
    } = &mut d.methods[0].answer.outcome
    else {
        panic!("found")
    };
    let width = *high - *low;
    *estimate += 3.0 * width;
    *low += 3.0 * width;
    *high += 3.0 * width;
    let deltas = compare(&[cur], &[base], &opts());
    let bad = flagged(&deltas);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].regression && bad[0].measure.starts_with("fixed answer"),
        "{bad:?}"
    );
}

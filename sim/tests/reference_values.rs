//! The fixed-horizon analyses against reference values computed once with
//! scipy and statsmodels (tests/reference/make_reference.py, committed with
//! its output). Statistics and p-values must agree to 1e-9.

use serde::Deserialize;
use umpire_sim::analysis::{
    ArmStats, TestResult, TestSetup, srm_chi_square, two_proportion_z, welch_t, z_test_power,
};
use umpire_sim::stats::{P_BINS, PValueHistogram, wilson};

const TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Reference {
    ztest: Vec<ZCase>,
    welch: Vec<WelchCase>,
    srm: Vec<SrmCase>,
    wilson: Vec<WilsonCase>,
    power: Vec<PowerCase>,
    ks: Vec<KsCase>,
}

#[derive(Deserialize)]
struct ZCase {
    name: String,
    n_control: u64,
    x_control: u64,
    n_treatment: u64,
    x_treatment: u64,
    alpha: f64,
    z: f64,
    p_value: f64,
    diff: f64,
    diff_ci: (f64, f64),
    rel: f64,
    rel_ci: (f64, f64),
}

#[derive(Deserialize)]
struct WelchCase {
    name: String,
    control: Vec<f64>,
    treatment: Vec<f64>,
    alpha: f64,
    t: f64,
    df: f64,
    p_value: f64,
    diff: f64,
    diff_ci: (f64, f64),
    rel: f64,
    rel_ci: (f64, f64),
}

#[derive(Deserialize)]
struct SrmCase {
    name: String,
    observed: Vec<u64>,
    weights: Vec<f64>,
    chi2: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct WilsonCase {
    successes: u64,
    trials: u64,
    alpha: f64,
    lo: f64,
    hi: f64,
}

#[derive(Deserialize)]
struct PowerCase {
    p_control: f64,
    p_treatment: f64,
    n_control: u64,
    n_treatment: u64,
    alpha: f64,
    power: f64,
}

#[derive(Deserialize)]
struct KsCase {
    sample: Vec<f64>,
    d: f64,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/fixed_horizon.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Relative difference for statistics, absolute for values near zero.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL * b.abs().max(1.0)
}

fn check(failures: &mut Vec<String>, case: &str, what: &str, ours: f64, theirs: f64) {
    if !close(ours, theirs) {
        failures.push(format!(
            "{case}: {what}: ours {ours:e}, reference {theirs:e}"
        ));
    }
}

/// The absolute and relative lifts with their intervals.
fn check_lifts(
    f: &mut Vec<String>,
    case: &str,
    t: &TestResult,
    diff: f64,
    diff_ci: (f64, f64),
    rel: f64,
    rel_ci: (f64, f64),
) {
    check(f, case, "diff", t.diff, diff);
    check(f, case, "diff lo", t.diff_ci.0, diff_ci.0);
    check(f, case, "diff hi", t.diff_ci.1, diff_ci.1);
    check(f, case, "rel", t.rel, rel);
    check(f, case, "rel lo", t.rel_ci.0, rel_ci.0);
    check(f, case, "rel hi", t.rel_ci.1, rel_ci.1);
}

fn counts(n: u64, x: u64) -> ArmStats {
    ArmStats {
        n,
        sum: x as f64,
        sum_sq: x as f64,
        ..Default::default()
    }
}

#[test]
fn pooled_z_test_matches_statsmodels() {
    let r = reference();
    assert!(r.ztest.len() >= 10);
    let mut f = Vec::new();
    for c in &r.ztest {
        let t = two_proportion_z(
            &counts(c.n_control, c.x_control),
            &counts(c.n_treatment, c.x_treatment),
            &TestSetup::new(c.alpha),
        );
        check(&mut f, &c.name, "z", t.statistic, c.z);
        check(&mut f, &c.name, "p", t.p_value, c.p_value);
        check_lifts(&mut f, &c.name, &t, c.diff, c.diff_ci, c.rel, c.rel_ci);
    }
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn welch_t_test_matches_scipy() {
    let r = reference();
    assert!(r.welch.len() >= 8);
    let mut f = Vec::new();
    for c in &r.welch {
        let t = welch_t(
            &ArmStats::from_values(&c.control),
            &ArmStats::from_values(&c.treatment),
            &TestSetup::new(c.alpha),
        );
        check(&mut f, &c.name, "t", t.statistic, c.t);
        check(&mut f, &c.name, "df", t.df, c.df);
        check(&mut f, &c.name, "p", t.p_value, c.p_value);
        check_lifts(&mut f, &c.name, &t, c.diff, c.diff_ci, c.rel, c.rel_ci);
    }
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn srm_chi_square_matches_scipy() {
    let r = reference();
    assert!(r.srm.len() >= 6);
    let mut f = Vec::new();
    for c in &r.srm {
        let s = srm_chi_square(&c.observed, &c.weights);
        check(&mut f, &c.name, "chi2", s.chi2, c.chi2);
        check(&mut f, &c.name, "p", s.p_value, c.p_value);
        // A tiny p-value must keep its magnitude too (5e-30 must not pass as 0).
        if c.p_value < 1e-6 && (s.p_value / c.p_value - 1.0).abs() > 1e-6 {
            f.push(format!(
                "{}: tiny p: ours {:e}, reference {:e}",
                c.name, s.p_value, c.p_value
            ));
        }
    }
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn wilson_interval_matches_statsmodels() {
    let r = reference();
    let mut f = Vec::new();
    for c in &r.wilson {
        let name = format!("{}/{} at {}", c.successes, c.trials, c.alpha);
        let p = wilson(c.successes, c.trials, c.alpha);
        check(&mut f, &name, "lo", p.lo, c.lo);
        check(&mut f, &name, "hi", p.hi, c.hi);
    }
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn closed_form_power_matches_reference() {
    let r = reference();
    let mut f = Vec::new();
    for c in &r.power {
        let name = format!(
            "{} vs {} at {}/{}",
            c.p_control, c.p_treatment, c.n_control, c.n_treatment
        );
        let ours = z_test_power(
            c.p_control,
            c.p_treatment,
            c.n_control as f64,
            c.n_treatment as f64,
            c.alpha,
        );
        check(&mut f, &name, "power", ours, c.power);
    }
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn grid_ks_distance_brackets_the_exact_statistic() {
    let r = reference();
    for c in &r.ks {
        let mut h = PValueHistogram::default();
        c.sample.iter().for_each(|&p| h.add(p));
        let ours = h.ks_distance();
        assert!(
            ours <= c.d + 1e-12 && ours >= c.d - 1.0 / P_BINS as f64,
            "grid KS {ours} should be within [{} − 1/{P_BINS}, {}]",
            c.d,
            c.d
        );
    }
}

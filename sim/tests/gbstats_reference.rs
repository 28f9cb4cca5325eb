//! The ratio and quantile tests against GrowthBook's stats engine: reference
//! values computed once with gbstats 0.8.0 and numpy
//! (tests/reference/gbstats_reference.py, committed with its output
//! tests/reference/gbstats.json; the regression-adjusted ratio's statistic is
//! the script's, its test gbstats's, see tests/reference/README.md).
//!
//! Tolerance 1e-9 throughout. Estimates, statistics, df, p-values and
//! interval ends are compared with |ours − theirs| ≤ 1e-9·max(|theirs|, 1):
//! absolute for figures below 1 in magnitude, relative above (df in the
//! millions, large ratios). Variances, standard errors and θ, which can be
//! far below 1e-9 themselves, are compared relatively: ≤ 1e-9·|theirs|.

use serde::Deserialize;
use umpire_sim::analysis::quantile::{
    QuantileClusteredStatistic, QuantileStatistic, bound_levels, n_star_for,
    quantile_clustered_test, quantile_test,
};
use umpire_sim::analysis::ratio::{
    Comparison, GbTest, RatioStats, cuped_ratio_arms, ra_theta, ratio_comparison, ratio_test,
};
use umpire_sim::analysis::{ArmStats, TestKind, TestResult, TestSetup, run_test};

const TOL: f64 = 1e-9;

const REFERENCE: &str = include_str!("reference/gbstats.json");

#[derive(Deserialize)]
struct Reference {
    generated_with: Versions,
    ratio: Vec<RatioCase>,
    ratio_ra: Vec<RaCase>,
    quantile: Vec<QuantileCase>,
    quantile_clustered: Vec<ClusteredCase>,
    raw_ratio: RawRatio,
    raw_quantile: RawQuantile,
}

#[derive(Deserialize)]
struct Versions {
    gbstats: String,
}

/// One of gbstats's comparisons (absolute or relative).
#[derive(Deserialize)]
struct RefComparison {
    estimate: f64,
    variance: f64,
    se: f64,
    statistic: f64,
    df: f64,
    p_value: f64,
    ci: (f64, f64),
}

#[derive(Deserialize)]
struct RatioCase {
    name: String,
    alpha: f64,
    control: RatioStats,
    treatment: RatioStats,
    mean_control: f64,
    mean_treatment: f64,
    unit_variance_control: f64,
    unit_variance_treatment: f64,
    absolute: RefComparison,
    relative: RefComparison,
}

#[derive(Deserialize)]
struct RaCase {
    name: String,
    alpha: f64,
    control: RatioStats,
    treatment: RatioStats,
    theta: f64,
    mean_control: f64,
    mean_treatment: f64,
    unadjusted_mean_control: f64,
    unadjusted_mean_treatment: f64,
    unit_variance_control: f64,
    unit_variance_treatment: f64,
    absolute: RefComparison,
    relative: RefComparison,
}

#[derive(Deserialize)]
struct QuantileCase {
    name: String,
    alpha: f64,
    control: QuantileStatistic,
    treatment: QuantileStatistic,
    variance_init_control: f64,
    variance_init_treatment: f64,
    unit_variance_control: f64,
    unit_variance_treatment: f64,
    absolute: RefComparison,
    relative: RefComparison,
}

#[derive(Deserialize)]
struct ClusteredCase {
    name: String,
    alpha: f64,
    control: QuantileClusteredStatistic,
    treatment: QuantileClusteredStatistic,
    cluster_variance_control: f64,
    cluster_variance_treatment: f64,
    variance_init_control: f64,
    variance_init_treatment: f64,
    unit_variance_control: f64,
    unit_variance_treatment: f64,
    absolute: RefComparison,
    relative: RefComparison,
}

#[derive(Deserialize)]
struct RawArm {
    m: Vec<f64>,
    d: Vec<f64>,
    m_pre: Vec<f64>,
    d_pre: Vec<f64>,
}

/// numpy's delta-method figures from the arrays.
#[derive(Deserialize)]
struct NumpyArm {
    ratio: f64,
    unit_variance: f64,
    variance_of_ratio: f64,
    ra_unit_variance: f64,
}

#[derive(Deserialize)]
struct GbPair {
    absolute: RefComparison,
    relative: RefComparison,
}

#[derive(Deserialize)]
struct RawRatio {
    alpha: f64,
    control: RawArm,
    treatment: RawArm,
    numpy_control: NumpyArm,
    numpy_treatment: NumpyArm,
    numpy_theta: f64,
    gbstats: GbPair,
    gbstats_ra: GbPair,
}

/// numpy's quantile fields, with the cluster sums when clustered.
#[derive(Deserialize)]
struct Fields {
    #[serde(flatten)]
    q: QuantileStatistic,
    lower_level: f64,
    upper_level: f64,
    n_clusters: Option<u64>,
    main_sum: Option<f64>,
    main_sum_squares: Option<f64>,
    denominator_sum: Option<f64>,
    denominator_sum_squares: Option<f64>,
    main_denominator_sum_product: Option<f64>,
}

#[derive(Deserialize)]
struct RawUnclustered {
    nu: f64,
    control: Vec<f64>,
    treatment: Vec<f64>,
    fields_control: Fields,
    fields_treatment: Fields,
    unit_variance_control: f64,
    unit_variance_treatment: f64,
    absolute: RefComparison,
    relative: RefComparison,
}

#[derive(Deserialize)]
struct RawClustered {
    nu: f64,
    control_clusters: Vec<u64>,
    control_values: Vec<f64>,
    treatment_clusters: Vec<u64>,
    treatment_values: Vec<f64>,
    fields_control: Fields,
    fields_treatment: Fields,
    unit_variance_control: f64,
    unit_variance_treatment: f64,
    absolute: RefComparison,
    relative: RefComparison,
}

#[derive(Deserialize)]
struct RawQuantile {
    alpha: f64,
    unclustered: Vec<RawUnclustered>,
    clustered: Vec<RawClustered>,
}

fn reference() -> Reference {
    serde_json::from_str(REFERENCE).expect("tests/reference/gbstats.json parses")
}

/// |ours − theirs| ≤ tol, false when either is NaN.
fn within(ours: f64, theirs: f64, tol: f64) -> bool {
    (ours - theirs).abs() <= tol
}

/// Collects mismatches so one run reports all of them.
#[derive(Default)]
struct Checker(Vec<String>);

impl Checker {
    /// Absolute below magnitude 1, relative above (see the header).
    fn close(&mut self, case: &str, what: &str, ours: f64, theirs: f64) {
        if !within(ours, theirs, TOL * theirs.abs().max(1.0)) {
            self.0.push(format!(
                "{case}: {what}: ours {ours:e}, reference {theirs:e}"
            ));
        }
    }

    /// Relative, for variances and other possibly tiny positive figures.
    fn rel(&mut self, case: &str, what: &str, ours: f64, theirs: f64) {
        if !within(ours, theirs, TOL * theirs.abs()) {
            self.0.push(format!(
                "{case}: {what}: ours {ours:e}, reference {theirs:e}"
            ));
        }
    }

    fn comparison(&mut self, case: &str, kind: &str, ours: &Comparison, theirs: &RefComparison) {
        let w = |s: &str| format!("{kind} {s}");
        self.close(case, &w("estimate"), ours.estimate, theirs.estimate);
        self.rel(case, &w("variance"), ours.variance, theirs.variance);
        self.rel(case, &w("se"), ours.se, theirs.se);
        self.close(case, &w("statistic"), ours.statistic, theirs.statistic);
        self.close(case, &w("df"), ours.df, theirs.df);
        self.close(case, &w("p"), ours.p_value, theirs.p_value);
        self.close(case, &w("ci lo"), ours.ci.0, theirs.ci.0);
        self.close(case, &w("ci hi"), ours.ci.1, theirs.ci.1);
    }

    /// An engine test's absolute difference against gbstats's.
    fn engine(&mut self, case: &str, label: &str, t: &TestResult, a: &RefComparison) {
        let w = |s: &str| format!("{label} {s}");
        self.close(case, &w("diff"), t.diff, a.estimate);
        self.close(case, &w("statistic"), t.statistic, a.statistic);
        self.close(case, &w("df"), t.df, a.df);
        self.close(case, &w("p"), t.p_value, a.p_value);
        self.close(case, &w("diff lo"), t.diff_ci.0, a.ci.0);
        self.close(case, &w("diff hi"), t.diff_ci.1, a.ci.1);
    }

    fn test(&mut self, case: &str, ours: Option<GbTest>, abs: &RefComparison, rel: &RefComparison) {
        match ours {
            Some(t) => {
                self.comparison(case, "absolute", &t.absolute, abs);
                self.comparison(case, "relative", &t.relative, rel);
            }
            None => self.0.push(format!("{case}: undefined, gbstats tested it")),
        }
    }

    fn finish(self, what: &str, cases: usize) {
        assert!(
            self.0.is_empty(),
            "{what}: {} mismatches over {cases} cases:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

fn arm_stats(r: &RatioStats) -> ArmStats {
    ArmStats {
        n: r.n,
        sum: r.m_sum,
        sum_sq: r.m_sum_sq,
        x_sum: r.d_sum,
        x_sum_sq: r.d_sum_sq,
        xy_sum: r.md_sum,
    }
}

#[test]
fn reference_is_from_gbstats_0_8_0() {
    assert_eq!(reference().generated_with.gbstats, "0.8.0");
}

#[test]
fn ratio_tests_match_gbstats() {
    let r = reference();
    assert!(r.ratio.len() >= 8);
    let mut ck = Checker::default();
    for c in &r.ratio {
        let n = c.name.as_str();
        ck.close(n, "ratio control", c.control.ratio(), c.mean_control);
        ck.close(n, "ratio treatment", c.treatment.ratio(), c.mean_treatment);
        ck.rel(
            n,
            "unit var control",
            c.control.unit_variance(),
            c.unit_variance_control,
        );
        ck.rel(
            n,
            "unit var treatment",
            c.treatment.unit_variance(),
            c.unit_variance_treatment,
        );
        ck.test(
            n,
            ratio_comparison(&c.control, &c.treatment, c.alpha),
            &c.absolute,
            &c.relative,
        );

        // The engine's entry point on ArmStats.
        let t = ratio_test(
            &arm_stats(&c.control),
            &arm_stats(&c.treatment),
            &TestSetup::new(c.alpha),
        );
        let rel = &c.relative;
        ck.engine(n, "ratio_test", &t, &c.absolute);
        ck.close(n, "ratio_test rel", t.rel, rel.estimate);
        ck.close(n, "ratio_test rel lo", t.rel_ci.0, rel.ci.0);
        ck.close(n, "ratio_test rel hi", t.rel_ci.1, rel.ci.1);
    }
    ck.finish("ratio", r.ratio.len());
}

#[test]
fn regression_adjusted_ratio_tests_match() {
    let r = reference();
    assert!(r.ratio_ra.len() >= 4);
    let mut ck = Checker::default();
    for c in &r.ratio_ra {
        let n = c.name.as_str();
        let theta = ra_theta(&c.control, &c.treatment).expect("both arms have a pre-period part");
        ck.rel(n, "theta", theta, c.theta);
        let (ac, at) = (
            c.control.adjusted(theta).unwrap(),
            c.treatment.adjusted(theta).unwrap(),
        );
        ck.close(n, "mean control", ac.mean, c.mean_control);
        ck.close(n, "mean treatment", at.mean, c.mean_treatment);
        ck.close(
            n,
            "unadjusted control",
            ac.unadjusted_mean,
            c.unadjusted_mean_control,
        );
        ck.close(
            n,
            "unadjusted treatment",
            at.unadjusted_mean,
            c.unadjusted_mean_treatment,
        );
        ck.rel(n, "unit var control", ac.variance, c.unit_variance_control);
        ck.rel(
            n,
            "unit var treatment",
            at.variance,
            c.unit_variance_treatment,
        );
        ck.test(
            n,
            ratio_comparison(&c.control, &c.treatment, c.alpha),
            &c.absolute,
            &c.relative,
        );

        // The engine's path under CUPED: the adjusted arms as ArmStats,
        // then Welch's test, which must be gbstats's absolute test.
        let (pc, pt) = (c.control.pre.unwrap(), c.treatment.pre.unwrap());
        let (ec, et, _) = cuped_ratio_arms(
            (&arm_stats(&c.control), &pc),
            (&arm_stats(&c.treatment), &pt),
        )
        .expect("defined");
        let t = run_test(TestKind::Welch, &TestSetup::new(c.alpha), &ec, &et);
        ck.engine(n, "cuped welch", &t, &c.absolute);
    }
    ck.finish("ratio_ra", r.ratio_ra.len());
}

#[test]
fn quantile_tests_match_gbstats() {
    let r = reference();
    assert!(r.quantile.len() + r.quantile_clustered.len() >= 6);
    let mut ck = Checker::default();
    for c in &r.quantile {
        let n = c.name.as_str();
        for q in [&c.control, &c.treatment] {
            assert_eq!(q.n_star, n_star_for(q.n), "{n}: n_star");
        }
        ck.rel(
            n,
            "var init control",
            c.control.variance_init(),
            c.variance_init_control,
        );
        ck.rel(
            n,
            "var init treatment",
            c.treatment.variance_init(),
            c.variance_init_treatment,
        );
        ck.rel(
            n,
            "var control",
            c.control.estimate().variance,
            c.unit_variance_control,
        );
        ck.rel(
            n,
            "var treatment",
            c.treatment.estimate().variance,
            c.unit_variance_treatment,
        );
        ck.test(
            n,
            quantile_test(&c.control, &c.treatment, c.alpha),
            &c.absolute,
            &c.relative,
        );
    }
    for c in &r.quantile_clustered {
        let n = c.name.as_str();
        ck.rel(
            n,
            "cluster var control",
            c.control.cluster_variance(),
            c.cluster_variance_control,
        );
        ck.rel(
            n,
            "cluster var treatment",
            c.treatment.cluster_variance(),
            c.cluster_variance_treatment,
        );
        ck.rel(
            n,
            "var init control",
            c.control.variance_init(),
            c.variance_init_control,
        );
        ck.rel(
            n,
            "var init treatment",
            c.treatment.variance_init(),
            c.variance_init_treatment,
        );
        ck.rel(
            n,
            "var control",
            c.control.estimate().variance,
            c.unit_variance_control,
        );
        ck.rel(
            n,
            "var treatment",
            c.treatment.estimate().variance,
            c.unit_variance_treatment,
        );
        ck.test(
            n,
            quantile_clustered_test(&c.control, &c.treatment, c.alpha),
            &c.absolute,
            &c.relative,
        );
    }
    ck.finish("quantile", r.quantile.len() + r.quantile_clustered.len());
}

#[test]
fn ratio_stats_from_raw_data_match_numpy() {
    let raw = reference().raw_ratio;
    let mut ck = Checker::default();
    let arms = [
        ("control", &raw.control, &raw.numpy_control),
        ("treatment", &raw.treatment, &raw.numpy_treatment),
    ];
    let mut stats = Vec::new();
    for (name, arm, np) in arms {
        assert_eq!(arm.m.len(), 200);
        let plain = RatioStats::from_units(&arm.m, &arm.d);
        ck.close(name, "ratio", plain.ratio(), np.ratio);
        ck.rel(
            name,
            "unit variance",
            plain.unit_variance(),
            np.unit_variance,
        );
        ck.rel(
            name,
            "variance of ratio",
            plain.variance_of_ratio(),
            np.variance_of_ratio,
        );
        let with_pre = RatioStats::from_units_with_pre(&arm.m, &arm.d, &arm.m_pre, &arm.d_pre);
        stats.push((plain, with_pre));
    }
    let theta = ra_theta(&stats[0].1, &stats[1].1).unwrap();
    ck.rel("raw", "theta", theta, raw.numpy_theta);
    for (i, (name, _, np)) in arms.iter().enumerate() {
        let adj = stats[i].1.adjusted(theta).unwrap();
        ck.rel(name, "ra unit variance", adj.variance, np.ra_unit_variance);
    }
    let (g, ra) = (&raw.gbstats, &raw.gbstats_ra);
    let plain = ratio_comparison(&stats[0].0, &stats[1].0, raw.alpha);
    ck.test("raw plain", plain, &g.absolute, &g.relative);
    let adjusted = ratio_comparison(&stats[0].1, &stats[1].1, raw.alpha);
    ck.test("raw adjusted", adjusted, &ra.absolute, &ra.relative);
    ck.finish("raw_ratio", 2);
}

fn check_fields(ck: &mut Checker, case: &str, ours: &QuantileStatistic, f: &Fields) {
    assert_eq!(
        (ours.n, ours.n_star),
        (f.q.n, f.q.n_star),
        "{case}: n, n_star"
    );
    let (lo, hi) = bound_levels(f.q.nu, f.q.n_star);
    ck.close(case, "lower level", lo, f.lower_level);
    ck.close(case, "upper level", hi, f.upper_level);
    ck.close(case, "quantile", ours.quantile_hat, f.q.quantile_hat);
    ck.close(case, "lower", ours.quantile_lower, f.q.quantile_lower);
    ck.close(case, "upper", ours.quantile_upper, f.q.quantile_upper);
}

#[test]
fn quantile_statistics_from_raw_data_match_numpy() {
    let raw = reference().raw_quantile;
    assert_eq!(raw.unclustered.len() + raw.clustered.len(), 4);
    let mut ck = Checker::default();
    for (i, c) in raw.unclustered.iter().enumerate() {
        let case = format!("unclustered {i} (nu {})", c.nu);
        let qc = QuantileStatistic::from_values(&c.control, c.nu).unwrap();
        let qt = QuantileStatistic::from_values(&c.treatment, c.nu).unwrap();
        check_fields(&mut ck, &case, &qc, &c.fields_control);
        check_fields(&mut ck, &case, &qt, &c.fields_treatment);
        ck.rel(
            &case,
            "var control",
            qc.estimate().variance,
            c.unit_variance_control,
        );
        ck.rel(
            &case,
            "var treatment",
            qt.estimate().variance,
            c.unit_variance_treatment,
        );
        ck.test(
            &case,
            quantile_test(&qc, &qt, raw.alpha),
            &c.absolute,
            &c.relative,
        );
    }
    for (i, c) in raw.clustered.iter().enumerate() {
        let case = format!("clustered {i} (nu {})", c.nu);
        let events = |ids: &[u64], v: &[f64]| -> Vec<(u64, f64)> {
            ids.iter().copied().zip(v.iter().copied()).collect()
        };
        let qc = QuantileClusteredStatistic::from_events(
            &events(&c.control_clusters, &c.control_values),
            c.nu,
        )
        .unwrap();
        let qt = QuantileClusteredStatistic::from_events(
            &events(&c.treatment_clusters, &c.treatment_values),
            c.nu,
        )
        .unwrap();
        for (ours, f) in [(&qc, &c.fields_control), (&qt, &c.fields_treatment)] {
            check_fields(&mut ck, &case, &ours.quantile, f);
            assert_eq!(Some(ours.n_clusters), f.n_clusters, "{case}: clusters");
            // Counts: exact.
            assert_eq!(Some(ours.main_sum), f.main_sum, "{case}: main_sum");
            assert_eq!(Some(ours.main_sum_squares), f.main_sum_squares, "{case}");
            assert_eq!(Some(ours.denominator_sum), f.denominator_sum, "{case}");
            assert_eq!(
                Some(ours.denominator_sum_squares),
                f.denominator_sum_squares,
                "{case}"
            );
            assert_eq!(
                Some(ours.main_denominator_sum_product),
                f.main_denominator_sum_product,
                "{case}"
            );
        }
        ck.rel(
            &case,
            "var control",
            qc.estimate().variance,
            c.unit_variance_control,
        );
        ck.rel(
            &case,
            "var treatment",
            qt.estimate().variance,
            c.unit_variance_treatment,
        );
        ck.test(
            &case,
            quantile_clustered_test(&qc, &qt, raw.alpha),
            &c.absolute,
            &c.relative,
        );
    }
    ck.finish("raw_quantile", 4);
}

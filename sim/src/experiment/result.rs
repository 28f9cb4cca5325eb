//! The versioned result of an experiment run, built from its accumulators:
//! per method and comparison rates with Monte Carlo intervals, closed-form
//! theory where known, and the verdict on every expectation.

use serde::{Deserialize, Serialize};

use super::accumulator::{ComparisonAcc, ExperimentAcc, MethodAcc, SimPath};
use super::{Comparison, Expectation, Experiment, Measure};
use crate::analysis::TestKind;
use crate::analysis::group_sequential::exit_probability;
use crate::method::{Method, MethodKind};
use crate::result::{
    Bound, INTERVAL_ALPHA, MeanEstimate, NEAR_THEORY_Z, Provenance, ResultHeader, ResultKind,
    check_min_max, f64_or_nan, mean_estimate, not_finite_message, verdict_message,
};
use crate::stats::{ExactSum, Proportion, wilson};

/// One method's results on one comparison (one metric, one variant against the control).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonResult {
    /// Name of the metric compared.
    pub metric: String,
    /// Name of the control arm.
    pub control: String,
    /// Name of the treatment arm.
    pub variant: String,
    /// The test the method used on this metric (Welch whenever CUPED is on).
    pub test: TestKind,
    /// The estimands: true absolute and relative lift in the population.
    pub true_diff: f64,
    /// True relative lift (absolute lift / control mean); None when the control mean is 0.
    pub true_rel: Option<f64>,
    /// `false_positive_rate` when the true lift is zero, else `power`.
    pub rejection_measure: Measure,
    /// Share of replications that rejected, with its 95% Wilson interval.
    pub rejection_rate: Proportion,
    /// Closed-form value where one exists: the normal approximation for a
    /// fixed test; under a zero lift, the exact exit probability of naive
    /// peeking and alpha for group-sequential boundaries.
    pub theoretical_rejection_rate: Option<f64>,
    /// Cumulative rejection rate by each look.
    pub rejection_rate_by_look: Vec<Proportion>,
    /// Mean look at which the method stopped (1-based; a built-in stops at
    /// its first rejection, else at the last look).
    pub mean_stopping_look: f64,
    /// The look by which half the replications had stopped.
    pub median_stopping_look: usize,
    /// Mean units in the compared arms at stopping.
    pub mean_sample_size: f64,
    /// Mean sample size of the replications that stopped at the median
    /// stopping look (None when none stopped exactly there).
    pub median_sample_size: Option<f64>,
    /// p-value counts at stopping in 20 equal bins over [0, 1] (empty for
    /// methods without p-values).
    pub p_value_histogram: Vec<u64>,
    /// KS distance of the p-values from Uniform(0, 1), on a 1/1000 grid.
    pub ks_distance: Option<f64>,
    /// Share of finite absolute-lift intervals at stopping that contain the true lift (95% Wilson interval).
    pub coverage: Proportion,
    /// Share of finite relative-lift intervals at stopping that contain the true relative lift.
    pub relative_coverage: Proportion,
    /// Mean absolute-lift estimate at stopping, with its 95% Monte Carlo interval
    /// (None when no replication had a finite estimate).
    pub mean_estimate: Option<MeanEstimate>,
    /// Mean absolute-lift estimate minus the true lift, with its 95% Monte Carlo interval.
    pub bias: Option<MeanEstimate>,
    /// Mean relative-lift estimate at stopping (None when none was finite).
    pub mean_relative_estimate: Option<f64>,
    /// CUPED: mean variance reduction achieved, and 1 − (1 − ρ²) = ρ² from
    /// the configured covariate correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance_reduction: Option<MeanEstimate>,
    /// ρ² for the configured covariate correlation ρ: the variance reduction CUPED should achieve (CUPED methods only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theoretical_variance_reduction: Option<f64>,
    /// Replications whose estimate or relative estimate was undefined.
    pub undefined_estimates: u64,
    /// Replications whose relative estimate was undefined (e.g. a control mean of 0).
    pub undefined_relative_estimates: u64,
}

/// One method's results: its settings and its measures per comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    /// The method's name in the scenario.
    pub name: String,
    /// Which decision rule the method applies.
    pub kind: MethodKind,
    /// Whether the method adjusts for the pre-period covariate (CUPED).
    pub cuped: bool,
    /// Group-sequential critical values per look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critical_values: Vec<f64>,
    /// Per comparison, in the order of `Experiment::comparisons` (metric-major, then variant).
    pub comparisons: Vec<ComparisonResult>,
    /// Share of replications with at least one rejected true null.
    pub family_wise_error_rate: Proportion,
    /// Mean false discovery proportion.
    pub false_discovery_rate: Option<MeanEstimate>,
}

/// The verdict on one bound of the scenario's `[expect]` tables (or on a measure
/// that came out undefined or overflowed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectationResult {
    /// Where the bound sits in the scenario, e.g. `expect.power` or
    /// `expect.msprt.revenue.power`.
    pub key: String,
    /// What the bound is on.
    pub measure: Measure,
    /// Name of the method measured.
    pub method: String,
    /// Name of the metric, for per-comparison measures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Name of the treatment arm, for per-comparison measures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The bound as given: min, max and `near_theory`.
    pub bound: Bound,
    /// NaN when the measure is not a finite number (JSON `null`).
    #[serde(deserialize_with = "f64_or_nan")]
    pub measured: f64,
    /// 95% Monte Carlo interval of the measured value, where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    /// Closed-form value of the measure, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theory: Option<f64>,
    /// Whether the measured value satisfied the bound.
    pub passed: bool,
    /// The verdict in words, e.g. `ok power = 0.8012 [0.7900, 0.8120], expected ≥ 0.75`.
    pub message: String,
}

/// Facts about a run that are not measures: where it came from, how to redo it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// Scenario hash, file, commit, reproduce command, shard and quick scale.
    pub provenance: Provenance,
    /// How the replications were simulated.
    pub path: SimPath,
    /// Group-sequential critical values per method (empty for others).
    pub critical_values: Vec<Vec<f64>>,
}

/// The versioned result of an experiment run (`kind = "experiment"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    /// What every result starts with: schema, scenario, provenance and seed.
    #[serde(flatten)]
    pub header: ResultHeader,
    /// Replications this result covers (`replication_range.1 − replication_range.0`).
    pub replications: u64,
    /// Replication indices covered, as `(first, end)` with `end` exclusive.
    pub replication_range: (u64, u64),
    /// Users per replication (the population size).
    pub users: u64,
    /// Number of looks per replication.
    pub looks: usize,
    /// How the replications were simulated (aggregate or per unit).
    pub path: SimPath,
    /// Two-sided significance level of the tests.
    pub alpha: f64,
    /// Significance level of the SRM chi-square test.
    pub srm_alpha: f64,
    /// Mean units analysed per replication at the last look.
    pub mean_analysed_units: f64,
    /// One result per method, in scenario order.
    pub methods: Vec<MethodResult>,
    /// Share of replications whose SRM test fired, with its 95% Wilson interval.
    pub srm_detection_rate: Proportion,
    /// Verdicts on every bound, plus a failed verdict for every undefined or overflowed measure.
    pub expectations: Vec<ExpectationResult>,
    /// Whether every verdict passed.
    pub passed: bool,
    /// The command that reproduces the whole (unsharded) run.
    pub reproduce: String,
    /// The raw accumulators, for merging shards.
    pub accumulators: ExperimentAcc,
}

impl ExperimentResult {
    /// Builds the result from a run's accumulators: rates with their Monte Carlo
    /// intervals, theory where known, and the verdict on every expectation.
    pub fn build(exp: &Experiment, acc: ExperimentAcc, meta: RunMeta) -> Self {
        let r = acc.replications();
        let comparisons = exp.comparisons();
        let methods: Vec<MethodResult> = exp
            .methods
            .iter()
            .zip(&acc.methods)
            .enumerate()
            .map(|(mi, (method, macc))| {
                let critical = meta.critical_values.get(mi).cloned().unwrap_or_default();
                method_result(exp, method, macc, &comparisons, critical, r)
            })
            .collect();
        let srm_detection_rate = wilson(acc.srm_detections, r, INTERVAL_ALPHA);
        let mut expectations: Vec<ExpectationResult> = exp
            .expectations
            .iter()
            .map(|e| judge(e, &methods, &srm_detection_rate, r))
            .collect();
        if r > 0 {
            expectations.extend(undefined_measures(&methods, &acc));
        }
        ExperimentResult {
            header: ResultHeader::new(
                ResultKind::Experiment,
                &exp.name,
                exp.seed,
                &meta.provenance,
            ),
            replications: r,
            replication_range: (acc.first, acc.end),
            users: exp.population.users,
            looks: exp.analysis.looks,
            path: meta.path,
            alpha: exp.analysis.alpha,
            srm_alpha: exp.analysis.srm_alpha,
            mean_analysed_units: if r > 0 {
                acc.analysed_units as f64 / r as f64
            } else {
                0.0
            },
            passed: expectations.iter().all(|e| e.passed),
            methods,
            srm_detection_rate,
            expectations,
            reproduce: meta.provenance.reproduce,
            accumulators: acc,
        }
    }
}

fn method_result(
    exp: &Experiment,
    method: &Method,
    acc: &MethodAcc,
    comparisons: &[Comparison],
    critical_values: Vec<f64>,
    r: u64,
) -> MethodResult {
    MethodResult {
        name: method.name.clone(),
        kind: method.kind,
        cuped: method.cuped,
        comparisons: comparisons
            .iter()
            .zip(&acc.comparisons)
            .map(|(&c, a)| comparison_result(exp, method, c, a, r))
            .collect(),
        critical_values,
        family_wise_error_rate: wilson(acc.family_wise_errors, r, INTERVAL_ALPHA),
        false_discovery_rate: mean_estimate(
            &acc.false_discovery_proportion,
            Some(&acc.false_discovery_proportion_sq),
            0.0,
        ),
    }
}

/// The closed-form rejection rate of a method on a comparison, where known.
fn theory(exp: &Experiment, method: &Method, c: Comparison, null: bool) -> Option<f64> {
    if exp.has_novelty(c.metric) {
        // The lift changes by day: no fixed-effect closed form applies.
        return None;
    }
    let fixed = !method.cuped;
    match method.kind {
        MethodKind::Fixed { correction }
            if fixed && correction == crate::analysis::multiple::Correction::None =>
        {
            Some(exp.theoretical_rejection_rate(c))
        }
        MethodKind::Naive if null && fixed => {
            let z = crate::stats::normal_quantile(1.0 - exp.analysis.alpha / 2.0);
            let fractions = exp.planned_fractions();
            Some(exit_probability(&vec![z; fractions.len()], &fractions).0)
        }
        MethodKind::GroupSequential { .. } if null => Some(exp.analysis.alpha),
        _ => None,
    }
}

fn comparison_result(
    exp: &Experiment,
    method: &Method,
    c: Comparison,
    a: &ComparisonAcc,
    r: u64,
) -> ComparisonResult {
    let (true_diff, true_rel) = exp.true_effect(c);
    let mut cumulative = 0;
    let rejection_rate_by_look = a
        .rejections_by_look
        .iter()
        .map(|&n| {
            cumulative += n;
            wilson(cumulative, r, INTERVAL_ALPHA)
        })
        .collect();
    // The first look by which half the replications had stopped.
    let looks = a.sample_size_by_stopping_look.len();
    let mut seen = 0;
    let mut median_stopping_look = looks.max(1);
    for (k, s) in a.sample_size_by_stopping_look.iter().enumerate() {
        seen += s.count;
        if 2 * seen >= r.max(1) {
            median_stopping_look = k + 1;
            break;
        }
    }
    // A plug-in reports p-values or not, replication by replication: one
    // that never did has no p-value histogram (not an empty, "uniform" one).
    let has_p =
        method.kind.has_p_values() && (method.kind != MethodKind::Plugin || a.p_values.total() > 0);
    let rho = exp.metrics[c.metric].covariate_correlation;
    ComparisonResult {
        metric: exp.metrics[c.metric].name.clone(),
        control: exp.assignment.variants[0].clone(),
        variant: exp.assignment.variants[c.variant].clone(),
        test: if method.cuped {
            TestKind::Welch
        } else {
            exp.analysis.tests[c.metric]
        },
        true_diff,
        true_rel: true_rel.is_finite().then_some(true_rel),
        rejection_measure: if true_diff == 0.0 {
            Measure::FalsePositiveRate
        } else {
            Measure::Power
        },
        rejection_rate: wilson(a.rejections(), r, INTERVAL_ALPHA),
        theoretical_rejection_rate: theory(exp, method, c, true_diff == 0.0),
        rejection_rate_by_look,
        mean_stopping_look: a.stopping_look.mean().unwrap_or(f64::NAN),
        median_stopping_look,
        mean_sample_size: a.sample_size.mean().unwrap_or(f64::NAN),
        median_sample_size: a
            .sample_size_by_stopping_look
            .get(median_stopping_look - 1)
            .and_then(ExactSum::mean),
        p_value_histogram: if has_p {
            a.p_values.coarse()
        } else {
            Vec::new()
        },
        ks_distance: has_p.then(|| a.p_values.ks_distance()),
        coverage: wilson(a.covered, a.interval_defined, INTERVAL_ALPHA),
        relative_coverage: wilson(a.rel_covered, a.rel_interval_defined, INTERVAL_ALPHA),
        mean_estimate: mean_estimate(&a.estimate, Some(&a.estimate_sq), 0.0),
        bias: mean_estimate(&a.estimate, Some(&a.estimate_sq), true_diff),
        mean_relative_estimate: a.rel_estimate.mean(),
        variance_reduction: method
            .cuped
            .then(|| mean_estimate(&a.variance_reduction, Some(&a.variance_reduction_sq), 0.0))
            .flatten(),
        theoretical_variance_reduction: if method.cuped {
            rho.map(|p| p * p)
        } else {
            None
        },
        undefined_estimates: a.estimate.non_finite,
        undefined_relative_estimates: a.rel_estimate.non_finite,
    }
}

fn judge(e: &Expectation, methods: &[MethodResult], srm: &Proportion, r: u64) -> ExpectationResult {
    let method = &methods[e.method];
    let comp = e.comparison.map(|i| &method.comparisons[i]);
    let from_prop = |p: &Proportion| (p.value, Some((p.lo, p.hi)));
    let from_mean =
        |m: &Option<MeanEstimate>| m.map_or((f64::NAN, None), |m| (m.value, Some((m.lo, m.hi))));
    let (measured, interval) = match (e.measure, comp) {
        (Measure::SrmDetectionRate, _) => from_prop(srm),
        (Measure::FamilyWiseErrorRate, _) => from_prop(&method.family_wise_error_rate),
        (Measure::FalseDiscoveryRate, _) => from_mean(&method.false_discovery_rate),
        (_, None) => (f64::NAN, None),
        (m, Some(c)) => match m {
            Measure::FalsePositiveRate | Measure::Power | Measure::RejectionRate => {
                from_prop(&c.rejection_rate)
            }
            Measure::Coverage => from_prop(&c.coverage),
            Measure::RelativeCoverage => from_prop(&c.relative_coverage),
            Measure::KsDistance => (c.ks_distance.unwrap_or(f64::NAN), None),
            Measure::Bias => from_mean(&c.bias),
            Measure::MeanEstimate => from_mean(&c.mean_estimate),
            Measure::MeanStoppingLook => (c.mean_stopping_look, None),
            Measure::MeanSampleSize => (c.mean_sample_size, None),
            Measure::VarianceReduction => from_mean(&c.variance_reduction),
            Measure::SrmDetectionRate
            | Measure::FamilyWiseErrorRate
            | Measure::FalseDiscoveryRate => (f64::NAN, None),
        },
    };
    let theory = match (e.measure, comp) {
        (m, Some(c)) if m.is_rejection_rate() => c.theoretical_rejection_rate,
        (Measure::VarianceReduction, Some(c)) => c.theoretical_variance_reduction,
        _ => None,
    };
    let (mut passed, mut parts) = check_min_max(measured, &e.bound);
    if e.bound.near_theory {
        match (theory, e.measure, interval) {
            (Some(t), m, _) if m.is_rejection_rate() => {
                let tol = NEAR_THEORY_Z * (t * (1.0 - t) / r.max(1) as f64).sqrt();
                passed &= (measured - t).abs() <= tol;
                parts.push(format!("within {tol:.4} of theory {t:.4}"));
            }
            (Some(t), _, Some((lo, hi))) => {
                // A mean: theory within its 99.9% Monte Carlo interval.
                let widen =
                    NEAR_THEORY_Z / crate::stats::normal_quantile(1.0 - INTERVAL_ALPHA / 2.0);
                let (mid, half) = ((lo + hi) / 2.0, (hi - lo) / 2.0 * widen);
                passed &= (t - mid).abs() <= half;
                parts.push(format!("within {half:.4} of theory {t:.4}"));
            }
            _ => {
                passed = false;
                parts.push("near theory (no theory for this measure)".to_owned());
            }
        }
    }
    // A mean with no replication to average over is undefined: say so rather
    // than blame an overflow.
    let undefined = match (e.measure, comp) {
        (Measure::Bias, Some(c)) => c.bias.is_none(),
        (Measure::MeanEstimate, Some(c)) => c.mean_estimate.is_none(),
        (Measure::VarianceReduction, Some(c)) => c.variance_reduction.is_none(),
        _ => false,
    };
    let message = if undefined {
        format!(
            "FAILED {}: undefined: an arm never had enough units, expected {}",
            e.key.trim_start_matches("expect."),
            parts.join(" and ")
        )
    } else {
        verdict_message(passed, &e.key, measured, interval, &parts)
    };
    ExpectationResult {
        key: e.key.clone(),
        measure: e.measure,
        method: method.name.clone(),
        metric: comp.map(|c| c.metric.clone()),
        variant: comp.map(|c| c.variant.clone()),
        bound: e.bound,
        measured,
        interval,
        theory,
        passed,
        message,
    }
}

/// Every measure of every method and comparison that is not a finite number,
/// or whose exact sum overflowed, as a failed verdict. Validation's caps keep
/// this empty for every scenario that validates; this is the last line of
/// defence, so that no overflow can ever pass silently.
fn undefined_measures(methods: &[MethodResult], acc: &ExperimentAcc) -> Vec<ExpectationResult> {
    let mut out = Vec::new();
    let bad_mean = |m: &Option<MeanEstimate>| {
        m.is_some_and(|m| !(m.value.is_finite() && m.lo.is_finite() && m.hi.is_finite()))
    };
    for (m, macc) in methods.iter().zip(&acc.methods) {
        let mut flag =
            |measure: Measure, key: String, value: f64, comp: Option<&ComparisonResult>| {
                out.push(ExpectationResult {
                    message: not_finite_message(&key, value),
                    key,
                    measure,
                    method: m.name.clone(),
                    metric: comp.map(|c| c.metric.clone()),
                    variant: comp.map(|c| c.variant.clone()),
                    bound: Bound::default(),
                    measured: value,
                    interval: None,
                    theory: None,
                    passed: false,
                });
            };
        for (c, a) in m.comparisons.iter().zip(&macc.comparisons) {
            let at = |measure: Measure| {
                format!("{}.{}.{}.{}", m.name, c.metric, c.variant, measure.key())
            };
            let mut checks = vec![
                (
                    Measure::MeanStoppingLook,
                    !c.mean_stopping_look.is_finite(),
                    Some(c.mean_stopping_look),
                ),
                (
                    Measure::MeanSampleSize,
                    !c.mean_sample_size.is_finite(),
                    Some(c.mean_sample_size),
                ),
                (
                    Measure::KsDistance,
                    c.ks_distance.is_some_and(|k| !k.is_finite()),
                    c.ks_distance,
                ),
            ];
            // No estimate at all (an arm never had enough units) is
            // undefined, not an overflow: it is reported as such, and fails
            // only a bound on it (in `judge`).
            let overflowed = a.overflowed > 0;
            checks.push((
                Measure::MeanEstimate,
                overflowed || bad_mean(&c.mean_estimate),
                c.mean_estimate.map(|m| m.value),
            ));
            checks.push((
                Measure::Bias,
                overflowed || bad_mean(&c.bias),
                c.bias.map(|m| m.value),
            ));
            if c.variance_reduction.is_some() {
                checks.push((
                    Measure::VarianceReduction,
                    overflowed || bad_mean(&c.variance_reduction),
                    c.variance_reduction.map(|m| m.value),
                ));
            }
            for (measure, bad, value) in checks {
                if bad {
                    // A saturated sum has a finite but meaningless value.
                    let shown = value.filter(|x| !x.is_finite()).unwrap_or(f64::NAN);
                    flag(measure, at(measure), shown, Some(c));
                }
            }
        }
        if bad_mean(&m.false_discovery_rate) {
            let value = m
                .false_discovery_rate
                .map(|f| f.value)
                .filter(|x| !x.is_finite())
                .unwrap_or(f64::NAN);
            let key = format!("{}.{}", m.name, Measure::FalseDiscoveryRate.key());
            flag(Measure::FalseDiscoveryRate, key, value, None);
        }
    }
    out
}

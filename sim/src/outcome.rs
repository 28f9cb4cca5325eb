//! What a run measured: mergeable accumulators streamed per replication, and the
//! versioned result built from them, with expectation verdicts.
//!
//! Accumulators hold only integers (counts, fixed-point sums), so accumulators
//! of contiguous replication ranges merge to exactly the single-run value.

use serde::{Deserialize, Serialize};

use crate::analysis::TestResult;
use crate::experiment::{Bound, Comparison, Experiment, Measure, TestKind};
use crate::stats::{ExactSum, PValueHistogram, Proportion, wilson};

/// Confidence level of reported Monte Carlo intervals.
pub const INTERVAL_ALPHA: f64 = 0.05;
/// Half-width, in Monte Carlo standard errors, of the `near_theory` check
/// (two-sided 99.9%), so a correct simulation fails it one time in a thousand.
pub const NEAR_THEORY_Z: f64 = 3.290_526_731_491_926;

/// The schema name and version of [`ExperimentResult`] JSON.
pub const RESULT_SCHEMA: &str = "umpire.experiment-result";
pub const RESULT_SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComparisonAcc {
    pub rejections: u64,
    pub p_values: PValueHistogram,
    /// Replications whose absolute-lift interval is finite, and those of them
    /// that contain the true lift.
    pub interval_defined: u64,
    pub covered: u64,
    pub rel_interval_defined: u64,
    pub rel_covered: u64,
    pub estimate: ExactSum,
    pub estimate_sq: ExactSum,
    pub rel_estimate: ExactSum,
}

impl ComparisonAcc {
    fn add(&mut self, t: &TestResult, alpha: f64, true_diff: f64, true_rel: f64) {
        self.rejections += u64::from(t.p_value < alpha);
        self.p_values.add(t.p_value);
        if t.diff_ci.0.is_finite() && t.diff_ci.1.is_finite() {
            self.interval_defined += 1;
            self.covered += u64::from(t.diff_ci.0 <= true_diff && true_diff <= t.diff_ci.1);
        }
        if t.rel_ci.0.is_finite() && t.rel_ci.1.is_finite() {
            self.rel_interval_defined += 1;
            self.rel_covered += u64::from(t.rel_ci.0 <= true_rel && true_rel <= t.rel_ci.1);
        }
        self.estimate.add(t.diff);
        self.estimate_sq.add(t.diff * t.diff);
        self.rel_estimate.add(t.rel);
    }

    fn merge(&mut self, o: &ComparisonAcc) {
        self.rejections += o.rejections;
        self.p_values.merge(&o.p_values);
        self.interval_defined += o.interval_defined;
        self.covered += o.covered;
        self.rel_interval_defined += o.rel_interval_defined;
        self.rel_covered += o.rel_covered;
        self.estimate.merge(&o.estimate);
        self.estimate_sq.merge(&o.estimate_sq);
        self.rel_estimate.merge(&o.rel_estimate);
    }
}

/// Everything measured over the replications `first..end`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentAcc {
    pub first: u64,
    pub end: u64,
    pub comparisons: Vec<ComparisonAcc>,
    pub srm_detections: u64,
    /// Sum over replications of the units analysed (after exclusions and loss).
    pub analysed_units: u64,
}

/// Why two accumulators cannot merge.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("replication ranges are not contiguous: {0}..{1} then {2}..{3}")]
    NotContiguous(u64, u64, u64, u64),
    #[error("the results measure different comparisons ({0} vs {1})")]
    Shape(usize, usize),
}

impl ExperimentAcc {
    pub fn new(first: u64, comparisons: usize) -> Self {
        Self {
            first,
            end: first,
            comparisons: vec![ComparisonAcc::default(); comparisons],
            srm_detections: 0,
            analysed_units: 0,
        }
    }

    pub fn replications(&self) -> u64 {
        self.end - self.first
    }

    /// Fold the next replication (in order) into the accumulator.
    pub fn add(
        &mut self,
        exp: &Experiment,
        truth: &[(f64, f64)],
        tests: &[TestResult],
        srm_detected: bool,
        units: u64,
    ) {
        for ((acc, t), &(d, r)) in self.comparisons.iter_mut().zip(tests).zip(truth) {
            acc.add(t, exp.analysis.alpha, d, r);
        }
        self.srm_detections += u64::from(srm_detected);
        self.analysed_units += units;
        self.end += 1;
    }

    /// Append the accumulator of the range that follows this one.
    pub fn merge(&mut self, next: &ExperimentAcc) -> Result<(), MergeError> {
        if next.first != self.end {
            return Err(MergeError::NotContiguous(
                self.first, self.end, next.first, next.end,
            ));
        }
        if next.comparisons.len() != self.comparisons.len() {
            return Err(MergeError::Shape(
                self.comparisons.len(),
                next.comparisons.len(),
            ));
        }
        for (a, b) in self.comparisons.iter_mut().zip(&next.comparisons) {
            a.merge(b);
        }
        self.srm_detections += next.srm_detections;
        self.analysed_units += next.analysed_units;
        self.end = next.end;
        Ok(())
    }
}

/// A mean over replications with its normal-approximation Monte Carlo interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanEstimate {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
    /// Standard deviation across replications.
    pub sd: f64,
}

fn mean_estimate(sum: &ExactSum, sum_sq: &ExactSum, offset: f64) -> Option<MeanEstimate> {
    let n = sum.count as f64;
    let mean = sum.mean()?;
    let var = if sum.count > 1 {
        ((sum_sq.total() - n * mean * mean) / (n - 1.0)).max(0.0)
    } else {
        0.0
    };
    let sd = var.sqrt();
    let half = crate::stats::normal_quantile(1.0 - INTERVAL_ALPHA / 2.0) * sd / n.sqrt();
    Some(MeanEstimate {
        value: mean - offset,
        lo: mean - offset - half,
        hi: mean - offset + half,
        sd,
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonResult {
    pub metric: String,
    pub control: String,
    pub variant: String,
    pub test: TestKind,
    /// The estimands: true absolute and relative lift in the population.
    pub true_diff: f64,
    pub true_rel: Option<f64>,
    /// `false_positive_rate` when the true lift is zero, else `power`.
    pub rejection_measure: Measure,
    pub rejection_rate: Proportion,
    /// Closed-form normal-approximation value at the expected arm sizes.
    pub theoretical_rejection_rate: f64,
    /// p-value counts in 20 equal bins over [0, 1].
    pub p_value_histogram: Vec<u64>,
    /// KS distance of the p-values from Uniform(0, 1), on a 1/1000 grid.
    pub ks_distance: f64,
    pub coverage: Proportion,
    pub relative_coverage: Proportion,
    pub mean_estimate: Option<MeanEstimate>,
    pub bias: Option<MeanEstimate>,
    pub mean_relative_estimate: Option<f64>,
    /// Replications whose estimate or relative estimate was undefined (an arm
    /// too small, or a zero control mean).
    pub undefined_estimates: u64,
    pub undefined_relative_estimates: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectationResult {
    /// Where the bound sits in the scenario, e.g. `expect.power` or
    /// `expect.revenue.power`.
    pub key: String,
    pub measure: Measure,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub bound: Bound,
    pub measured: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theory: Option<f64>,
    pub passed: bool,
    pub message: String,
}

/// Facts about a run that are not measures: where it came from, how to redo it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub scenario_hash: String,
    pub path: crate::runner::SimPath,
    pub reproduce: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    pub schema: String,
    pub schema_version: u32,
    pub kind: String,
    pub scenario: String,
    pub scenario_hash: String,
    pub umpire_version: String,
    pub seed: u64,
    pub replications: u64,
    pub replication_range: (u64, u64),
    pub users: u64,
    pub path: crate::runner::SimPath,
    pub alpha: f64,
    pub srm_alpha: f64,
    pub mean_analysed_units: f64,
    pub comparisons: Vec<ComparisonResult>,
    pub srm_detection_rate: Proportion,
    pub expectations: Vec<ExpectationResult>,
    pub passed: bool,
    pub reproduce: String,
    /// The raw accumulators, for merging shards.
    pub accumulators: ExperimentAcc,
}

impl ExperimentResult {
    pub fn build(exp: &Experiment, acc: ExperimentAcc, meta: RunMeta) -> Self {
        let r = acc.replications();
        let comparisons: Vec<ComparisonResult> = exp
            .comparisons()
            .iter()
            .zip(&acc.comparisons)
            .map(|(&c, a)| comparison_result(exp, c, a, r))
            .collect();
        let srm_detection_rate = wilson(acc.srm_detections, r, INTERVAL_ALPHA);
        let expectations = exp
            .expectations
            .iter()
            .map(|e| {
                let comp = e
                    .comparison
                    .map(|i| (&comparisons[i], exp.comparisons()[i]));
                judge(exp, e.measure, e.bound, comp, &srm_detection_rate, r)
            })
            .collect::<Vec<_>>();
        ExperimentResult {
            schema: RESULT_SCHEMA.to_owned(),
            schema_version: RESULT_SCHEMA_VERSION,
            kind: "experiment".to_owned(),
            scenario: exp.name.clone(),
            scenario_hash: meta.scenario_hash,
            umpire_version: env!("CARGO_PKG_VERSION").to_owned(),
            seed: exp.seed,
            replications: r,
            replication_range: (acc.first, acc.end),
            users: exp.population.users,
            path: meta.path,
            alpha: exp.analysis.alpha,
            srm_alpha: exp.analysis.srm_alpha,
            mean_analysed_units: if r > 0 {
                acc.analysed_units as f64 / r as f64
            } else {
                0.0
            },
            passed: expectations.iter().all(|e| e.passed),
            comparisons,
            srm_detection_rate,
            expectations,
            reproduce: meta.reproduce,
            accumulators: acc,
        }
    }
}

fn comparison_result(
    exp: &Experiment,
    c: Comparison,
    a: &ComparisonAcc,
    r: u64,
) -> ComparisonResult {
    let (true_diff, true_rel) = exp.true_effect(c);
    ComparisonResult {
        metric: exp.metrics[c.metric].name.clone(),
        control: exp.assignment.variants[0].clone(),
        variant: exp.assignment.variants[c.variant].clone(),
        test: exp.analysis.tests[c.metric],
        true_diff,
        true_rel: true_rel.is_finite().then_some(true_rel),
        rejection_measure: if true_diff == 0.0 {
            Measure::FalsePositiveRate
        } else {
            Measure::Power
        },
        rejection_rate: wilson(a.rejections, r, INTERVAL_ALPHA),
        theoretical_rejection_rate: exp.theoretical_rejection_rate(c),
        p_value_histogram: a.p_values.coarse(),
        ks_distance: a.p_values.ks_distance(),
        coverage: wilson(a.covered, a.interval_defined, INTERVAL_ALPHA),
        relative_coverage: wilson(a.rel_covered, a.rel_interval_defined, INTERVAL_ALPHA),
        mean_estimate: mean_estimate(&a.estimate, &a.estimate_sq, 0.0),
        bias: mean_estimate(&a.estimate, &a.estimate_sq, true_diff),
        mean_relative_estimate: a.rel_estimate.mean(),
        undefined_estimates: a.estimate.non_finite,
        undefined_relative_estimates: a.rel_estimate.non_finite,
    }
}

fn judge(
    exp: &Experiment,
    measure: Measure,
    bound: Bound,
    comp: Option<(&ComparisonResult, Comparison)>,
    srm: &Proportion,
    r: u64,
) -> ExpectationResult {
    let from_prop = |p: &Proportion| (p.value, Some((p.lo, p.hi)));
    let from_mean =
        |m: &Option<MeanEstimate>| m.map_or((f64::NAN, None), |m| (m.value, Some((m.lo, m.hi))));
    let (measured, interval) = match (measure, comp) {
        (Measure::SrmDetectionRate, _) => from_prop(srm),
        (_, None) => (f64::NAN, None),
        (m, Some((c, _))) => match m {
            Measure::FalsePositiveRate | Measure::Power | Measure::RejectionRate => {
                from_prop(&c.rejection_rate)
            }
            Measure::Coverage => from_prop(&c.coverage),
            Measure::RelativeCoverage => from_prop(&c.relative_coverage),
            Measure::KsDistance => (c.ks_distance, None),
            Measure::Bias => from_mean(&c.bias),
            Measure::MeanEstimate => from_mean(&c.mean_estimate),
            Measure::SrmDetectionRate => unreachable_measure(),
        },
    };
    let theory = comp
        .filter(|_| measure.is_rejection_rate())
        .map(|(c, _)| c.theoretical_rejection_rate);
    let mut passed = measured.is_finite();
    let mut parts = Vec::new();
    if let Some(min) = bound.min {
        passed &= measured >= min;
        parts.push(format!("≥ {min}"));
    }
    if let Some(max) = bound.max {
        passed &= measured <= max;
        parts.push(format!("≤ {max}"));
    }
    if bound.near_theory {
        if let Some(t) = theory {
            let tol = NEAR_THEORY_Z * (t * (1.0 - t) / r.max(1) as f64).sqrt();
            passed &= (measured - t).abs() <= tol;
            parts.push(format!("within {tol:.4} of theory {t:.4}"));
        } else {
            passed = false;
            parts.push("near theory (no theory for this measure)".to_owned());
        }
    }
    let (metric, variant, key) = match comp {
        Some((c, cmp)) => {
            let primary = cmp.metric == exp.analysis.primary_metric && cmp.variant == 1;
            let key = if primary {
                format!("expect.{}", measure.key())
            } else if cmp.variant == 1 {
                format!("expect.{}.{}", c.metric, measure.key())
            } else {
                format!("expect.{}.{}.{}", c.metric, c.variant, measure.key())
            };
            (Some(c.metric.clone()), Some(c.variant.clone()), key)
        }
        None => (None, None, format!("expect.{}", measure.key())),
    };
    let shown = match interval {
        Some((lo, hi)) => format!("{measured:.4} [{lo:.4}, {hi:.4}]"),
        None => format!("{measured:.4}"),
    };
    let message = format!(
        "{} {} = {shown}, expected {}",
        if passed { "ok" } else { "FAILED" },
        key.trim_start_matches("expect."),
        parts.join(" and ")
    );
    ExpectationResult {
        key,
        measure,
        metric,
        variant,
        bound,
        measured,
        interval,
        theory,
        passed,
        message,
    }
}

/// Validation attaches SrmDetectionRate only to the experiment, never to a
/// comparison; reaching this arm would be a validation bug, reported as NaN
/// (a failed expectation) rather than a panic.
fn unreachable_measure() -> (f64, Option<(f64, f64)>) {
    (f64::NAN, None)
}

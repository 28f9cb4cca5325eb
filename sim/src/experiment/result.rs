//! What a run measured: mergeable accumulators streamed per replication, and the
//! versioned result built from them, with expectation verdicts.
//!
//! Accumulators hold only integers (counts, fixed-point sums), so accumulators
//! of contiguous replication ranges merge to exactly the single-run value.

use serde::{Deserialize, Serialize};

use crate::analysis::group_sequential::exit_probability;
use crate::experiment::{Bound, Comparison, Experiment, Measure, TestKind};
use crate::method::{Method, MethodKind};
use crate::runner::{Decision, SimPath};
use crate::stats::{ExactSum, PValueHistogram, Proportion, is_zero, wilson};

/// Confidence level of reported Monte Carlo intervals.
pub const INTERVAL_ALPHA: f64 = 0.05;
/// Half-width, in Monte Carlo standard errors, of the `near_theory` check
/// (two-sided 99.9%), so a correct simulation fails it one time in a thousand.
pub const NEAR_THEORY_Z: f64 = 3.290_526_731_491_926;

/// The schema name and version of [`ExperimentResult`] JSON.
/// One schema for every result kind (experiment, bandit, load): a common
/// header (`schema`, `schema_version`, `kind`, `scenario`, `scenario_hash`,
/// `umpire_version`, `git_commit`, `seed`, `reproduce`, `expectations`,
/// `passed`) and a body per kind. Documented in reports/README.md.
pub const RESULT_SCHEMA: &str = "umpire.result";
pub const RESULT_SCHEMA_VERSION: u32 = 3;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComparisonAcc {
    /// Rejections first made at each look; their sum is all rejections.
    pub rejections_by_look: Vec<u64>,
    /// p-values at stopping (methods with p-values only).
    pub p_values: PValueHistogram,
    /// Replications whose absolute-lift interval at stopping is finite, and
    /// those of them that contain the true lift.
    pub interval_defined: u64,
    pub covered: u64,
    pub rel_interval_defined: u64,
    pub rel_covered: u64,
    /// Estimates at stopping.
    pub estimate: ExactSum,
    pub estimate_sq: ExactSum,
    pub rel_estimate: ExactSum,
    /// Stopping look (1-based; the last look when never rejected).
    pub stopping_look: ExactSum,
    /// Units in the compared arms at stopping.
    pub sample_size: ExactSum,
    /// The same, split by the look at which the replication stopped (the
    /// last look for replications that never rejected).
    pub sample_size_by_stopping_look: Vec<ExactSum>,
    /// CUPED's variance reduction at stopping, and its square (for the
    /// Monte Carlo interval of the mean).
    pub variance_reduction: ExactSum,
    pub variance_reduction_sq: ExactSum,
    /// Replications whose estimate did not fit the exact sums' fixed-point
    /// range or was not finite although both arms had enough units (plus one
    /// per merge whose total ran out of range): the sums are then
    /// meaningless, and the run fails.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflowed: u64,
}

impl ComparisonAcc {
    fn new(looks: usize) -> Self {
        Self {
            rejections_by_look: vec![0; looks],
            ..Default::default()
        }
    }

    pub fn rejections(&self) -> u64 {
        self.rejections_by_look.iter().sum()
    }

    fn add(&mut self, d: &Decision, true_diff: f64, true_rel: f64) {
        if d.rejected {
            self.rejections_by_look[d.look] += 1;
        }
        if !d.p_value.is_nan() {
            self.p_values.add(d.p_value);
        }
        if d.diff_ci.0.is_finite() && d.diff_ci.1.is_finite() {
            self.interval_defined += 1;
            self.covered += u64::from(d.diff_ci.0 <= true_diff && true_diff <= d.diff_ci.1);
        }
        if d.rel_ci.0.is_finite() && d.rel_ci.1.is_finite() {
            self.rel_interval_defined += 1;
            self.rel_covered += u64::from(d.rel_ci.0 <= true_rel && true_rel <= d.rel_ci.1);
        }
        // A non-finite estimate is undefined when an arm had too few units
        // (it is counted in `non_finite` and reported), and an overflow when
        // the arms had enough. The relative estimate is legitimately
        // undefined whenever the control mean is 0, so only its range counts.
        let diff_ok = |exact: bool, x: f64| exact || (!x.is_finite() && !d.defined);
        let mut exact = diff_ok(self.estimate.add_checked(d.diff), d.diff);
        let sq = d.diff * d.diff;
        exact &= diff_ok(self.estimate_sq.add_checked(sq), d.diff);
        exact &= self.rel_estimate.add_checked(d.rel) || !d.rel.is_finite();
        self.stopping_look.add((d.look + 1) as f64);
        self.sample_size.add(d.sample_size as f64);
        if let Some(s) = self.sample_size_by_stopping_look.get_mut(d.look) {
            s.add(d.sample_size as f64);
        }
        if !d.variance_reduction.is_nan() {
            // Infinite only from a degenerate (constant) metric; an overflow
            // shows in the estimate itself.
            let vr = d.variance_reduction;
            let vr_sq = vr * vr;
            exact &= self.variance_reduction.add_checked(vr) || !vr.is_finite();
            exact &= self.variance_reduction_sq.add_checked(vr_sq) || !vr.is_finite();
        }
        self.overflowed += u64::from(!exact);
    }

    fn merge(&mut self, o: &ComparisonAcc) {
        self.rejections_by_look
            .iter_mut()
            .zip(&o.rejections_by_look)
            .for_each(|(a, b)| *a += b);
        self.p_values.merge(&o.p_values);
        self.interval_defined += o.interval_defined;
        self.covered += o.covered;
        self.rel_interval_defined += o.rel_interval_defined;
        self.rel_covered += o.rel_covered;
        // Each shard's sums may fit while their total does not.
        let mut exact = self.estimate.merge_checked(&o.estimate);
        exact &= self.estimate_sq.merge_checked(&o.estimate_sq);
        exact &= self.rel_estimate.merge_checked(&o.rel_estimate);
        exact &= self.stopping_look.merge_checked(&o.stopping_look);
        exact &= self.sample_size.merge_checked(&o.sample_size);
        for (a, b) in self
            .sample_size_by_stopping_look
            .iter_mut()
            .zip(&o.sample_size_by_stopping_look)
        {
            exact &= a.merge_checked(b);
        }
        exact &= self.variance_reduction.merge_checked(&o.variance_reduction);
        exact &= self
            .variance_reduction_sq
            .merge_checked(&o.variance_reduction_sq);
        self.overflowed += o.overflowed + u64::from(!exact);
    }
}

/// One method's accumulators: per comparison, and family-wide error rates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MethodAcc {
    pub comparisons: Vec<ComparisonAcc>,
    /// Replications with at least one rejected true null.
    pub family_wise_errors: u64,
    /// False discovery proportion V / max(R, 1) per replication, and its
    /// square (for the Monte Carlo interval).
    pub false_discovery_proportion: ExactSum,
    pub false_discovery_proportion_sq: ExactSum,
}

/// Everything measured over the replications `first..end`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentAcc {
    pub first: u64,
    pub end: u64,
    pub methods: Vec<MethodAcc>,
    pub srm_detections: u64,
    /// Sum over replications of the units analysed at the last look.
    pub analysed_units: u64,
}

/// Why two accumulators cannot merge.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("replication ranges are not contiguous: {0}..{1} then {2}..{3}")]
    NotContiguous(u64, u64, u64, u64),
    #[error("the results measure different things ({0} vs {1} accumulators)")]
    Shape(usize, usize),
}

impl ExperimentAcc {
    pub fn new(first: u64, methods: usize, comparisons: usize, looks: usize) -> Self {
        let method = MethodAcc {
            comparisons: vec![ComparisonAcc::new(looks); comparisons],
            ..Default::default()
        };
        Self {
            first,
            end: first,
            methods: vec![method; methods],
            srm_detections: 0,
            analysed_units: 0,
        }
    }

    pub fn replications(&self) -> u64 {
        self.end - self.first
    }

    /// Fold the next replication (in order): `decisions[method * C + c]`.
    pub fn add(
        &mut self,
        truth: &[(f64, f64)],
        decisions: &[Decision],
        srm_detected: bool,
        units: u64,
    ) {
        let nc = truth.len();
        for (mi, m) in self.methods.iter_mut().enumerate() {
            let row = &decisions[mi * nc..(mi + 1) * nc];
            let (mut rejected, mut false_rejected) = (0u64, 0u64);
            for ((acc, d), &(diff, rel)) in m.comparisons.iter_mut().zip(row).zip(truth) {
                acc.add(d, diff, rel);
                rejected += u64::from(d.rejected);
                false_rejected += u64::from(d.rejected && diff == 0.0);
            }
            m.family_wise_errors += u64::from(false_rejected > 0);
            m.false_discovery_proportion
                .add(false_rejected as f64 / rejected.max(1) as f64);
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
        let shape =
            |a: &ExperimentAcc| a.methods.iter().map(|m| m.comparisons.len()).sum::<usize>();
        if next.methods.len() != self.methods.len() || shape(next) != shape(self) {
            return Err(MergeError::Shape(shape(self), shape(next)));
        }
        for (a, b) in self.methods.iter_mut().zip(&next.methods) {
            for (x, y) in a.comparisons.iter_mut().zip(&b.comparisons) {
                x.merge(y);
            }
            a.family_wise_errors += b.family_wise_errors;
            a.false_discovery_proportion
                .merge(&b.false_discovery_proportion);
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

pub(crate) fn mean_estimate(
    sum: &ExactSum,
    sum_sq: Option<&ExactSum>,
    offset: f64,
) -> Option<MeanEstimate> {
    let n = sum.count as f64;
    let mean = sum.mean()?;
    let var = match sum_sq {
        Some(sq) if sum.count > 1 => ((sq.total() - n * mean * mean) / (n - 1.0)).max(0.0),
        _ => 0.0,
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
    /// Closed-form value where one exists: the normal approximation for a
    /// fixed test; under a zero lift, the exact exit probability of naive
    /// peeking and alpha for group-sequential boundaries.
    pub theoretical_rejection_rate: Option<f64>,
    /// Cumulative rejection rate by each look.
    pub rejection_rate_by_look: Vec<Proportion>,
    pub mean_stopping_look: f64,
    /// The look by which half the replications had stopped.
    pub median_stopping_look: usize,
    pub mean_sample_size: f64,
    /// Mean sample size of the replications that stopped at the median
    /// stopping look (None when none stopped exactly there).
    pub median_sample_size: Option<f64>,
    /// p-value counts at stopping in 20 equal bins over [0, 1] (empty for
    /// methods without p-values).
    pub p_value_histogram: Vec<u64>,
    /// KS distance of the p-values from Uniform(0, 1), on a 1/1000 grid.
    pub ks_distance: Option<f64>,
    pub coverage: Proportion,
    pub relative_coverage: Proportion,
    pub mean_estimate: Option<MeanEstimate>,
    pub bias: Option<MeanEstimate>,
    pub mean_relative_estimate: Option<f64>,
    /// CUPED: mean variance reduction achieved, and 1 − (1 − ρ²) = ρ² from
    /// the configured covariate correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance_reduction: Option<MeanEstimate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theoretical_variance_reduction: Option<f64>,
    /// Replications whose estimate or relative estimate was undefined.
    pub undefined_estimates: u64,
    pub undefined_relative_estimates: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    pub name: String,
    pub kind: MethodKind,
    pub cuped: bool,
    /// Group-sequential critical values per look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critical_values: Vec<f64>,
    pub comparisons: Vec<ComparisonResult>,
    /// Share of replications with at least one rejected true null.
    pub family_wise_error_rate: Proportion,
    /// Mean false discovery proportion.
    pub false_discovery_rate: Option<MeanEstimate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectationResult {
    /// Where the bound sits in the scenario, e.g. `expect.power` or
    /// `expect.msprt.revenue.power`.
    pub key: String,
    pub measure: Measure,
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub bound: Bound,
    /// NaN when the measure is not a finite number (JSON `null`).
    #[serde(deserialize_with = "f64_or_nan")]
    pub measured: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theory: Option<f64>,
    pub passed: bool,
    pub message: String,
}

/// Where a result came from and how to redo it: the header fields every
/// result kind shares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub scenario_hash: String,
    /// The scenario file as given on the command line.
    pub scenario_file: String,
    /// The commit of the umpire build, when known.
    pub git_commit: Option<String>,
    /// The command that reproduces the whole (unsharded) run.
    pub reproduce: String,
    /// Set on a shard's result; None on a whole or merged run.
    pub shard: Option<Shard>,
    /// `suite --quick`: the factor replication counts were scaled by.
    pub quick_scale: Option<f64>,
}

/// Shard `index` (0-based) of `count`: a contiguous slice of replications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The replications of this shard: ⌊i·R/n⌋ .. ⌊(i+1)·R/n⌋.
    pub fn range(self, replications: u64) -> std::ops::Range<u64> {
        let at =
            |i: u64| (u128::from(i) * u128::from(replications) / u128::from(self.count)) as u64;
        at(self.index)..at(self.index + 1)
    }
}

/// Facts about a run that are not measures: where it came from, how to redo it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub provenance: Provenance,
    pub path: SimPath,
    /// Group-sequential critical values per method (empty for others).
    pub critical_values: Vec<Vec<f64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    pub schema: String,
    pub schema_version: u32,
    pub kind: String,
    pub scenario: String,
    pub scenario_hash: String,
    pub scenario_file: String,
    pub umpire_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_scale: Option<f64>,
    pub seed: u64,
    pub replications: u64,
    pub replication_range: (u64, u64),
    pub users: u64,
    pub looks: usize,
    pub path: SimPath,
    pub alpha: f64,
    pub srm_alpha: f64,
    pub mean_analysed_units: f64,
    pub methods: Vec<MethodResult>,
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
            schema: RESULT_SCHEMA.to_owned(),
            schema_version: RESULT_SCHEMA_VERSION,
            kind: "experiment".to_owned(),
            scenario: exp.name.clone(),
            scenario_hash: meta.provenance.scenario_hash,
            scenario_file: meta.provenance.scenario_file,
            shard: meta.provenance.shard,
            quick_scale: meta.provenance.quick_scale,
            umpire_version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: meta.provenance.git_commit,
            seed: exp.seed,
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
    // Stopping looks: rejections at each look, the rest at the last look.
    let looks = a.rejections_by_look.len();
    let mut seen = 0;
    let mut median_stopping_look = looks;
    for (k, &n) in a.rejections_by_look.iter().enumerate() {
        seen += n;
        if 2 * seen >= r.max(1) {
            median_stopping_look = k + 1;
            break;
        }
    }
    let has_p = method.kind.has_p_values();
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

fn judge(
    e: &crate::experiment::Expectation,
    methods: &[MethodResult],
    srm: &Proportion,
    r: u64,
) -> ExpectationResult {
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

/// A failed verdict for a measure that came out as no finite number, whether
/// or not the scenario bounds it: a NaN must never let a run pass.
pub(crate) fn not_finite_message(key: &str, measured: f64) -> String {
    format!(
        "FAILED {key} = {measured}: not a finite number, so the run cannot pass (values beyond what the simulator can sum; see the caps in scenarios/README.md)"
    )
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

/// Reads a JSON number, or `null` (what serde_json writes for NaN) as NaN,
/// so a result holding a non-finite measure still reads back.
pub(crate) fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Whether `measured` lies within the bound's `min` and `max` (a non-finite
/// value never does), and the bound's parts for the message.
pub(crate) fn check_min_max(measured: f64, bound: &Bound) -> (bool, Vec<String>) {
    let passed = measured.is_finite()
        && bound.min.is_none_or(|min| measured >= min)
        && bound.max.is_none_or(|max| measured <= max);
    (passed, bound.parts())
}

/// The one-line verdict printed for an expectation.
pub(crate) fn verdict_message(
    passed: bool,
    key: &str,
    measured: f64,
    interval: Option<(f64, f64)>,
    parts: &[String],
) -> String {
    if !measured.is_finite() {
        return format!(
            "{}, expected {}",
            not_finite_message(key.trim_start_matches("expect."), measured),
            parts.join(" and ")
        );
    }
    let shown = match interval {
        Some((lo, hi)) => format!("{measured:.4} [{lo:.4}, {hi:.4}]"),
        None => format!("{measured:.4}"),
    };
    format!(
        "{} {} = {shown}, expected {}",
        if passed { "ok" } else { "FAILED" },
        key.trim_start_matches("expect."),
        parts.join(" and ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(diff: f64, defined: bool) -> Decision {
        Decision {
            diff,
            sample_size: 2,
            defined,
            ..Decision::empty()
        }
    }

    /// Before, non-finite terms were left out of the sums and not counted, so
    /// an estimate that overflowed to ±inf in one replication vanished and the
    /// others' mean was reported as if nothing had happened.
    #[test]
    fn a_partial_overflow_to_infinity_is_counted() {
        let mut acc = ComparisonAcc::new(1);
        for _ in 0..9 {
            acc.add(&decision(0.1, true), 0.0, 0.0);
        }
        acc.add(&decision(f64::INFINITY, true), 0.0, 0.0);
        assert_eq!(acc.overflowed, 1);
        let mut nan = ComparisonAcc::new(1);
        nan.add(&decision(f64::NAN, true), 0.0, 0.0);
        assert_eq!(nan.overflowed, 1, "inf − inf in a defined test overflowed");
    }

    #[test]
    fn an_undefined_estimate_is_not_an_overflow() {
        let mut acc = ComparisonAcc::new(1);
        acc.add(&decision(f64::NAN, false), 0.0, 0.0);
        acc.add(&decision(0.1, true), 0.0, 0.0);
        assert_eq!(acc.overflowed, 0);
        assert_eq!((acc.estimate.count, acc.estimate.non_finite), (1, 1));
    }

    /// Before, merging saturated silently: two shards whose estimate sums
    /// each fit gave a saturated total and no overflow.
    #[test]
    fn merging_accumulators_beyond_the_range_overflows() {
        let near = ExactSum::RANGE * 0.75;
        let (mut a, mut b) = (ComparisonAcc::new(1), ComparisonAcc::new(1));
        assert!(a.estimate.add_checked(near) && b.estimate.add_checked(near));
        a.merge(&b);
        assert_eq!(a.overflowed, 1);
        // Merges that fit stay exact.
        let (mut c, mut d) = (ComparisonAcc::new(1), ComparisonAcc::new(1));
        c.add(&decision(1e6, true), 0.0, 0.0);
        d.add(&decision(-1e6, true), 0.0, 0.0);
        c.merge(&d);
        assert_eq!(c.overflowed, 0);
    }
}

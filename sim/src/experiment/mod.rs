//! Experiments. This module holds the model: the typed, validated experiment
//! scenario, everything the engine needs, with derived quantities (per-cell
//! distributions, true effects, theoretical power). Its submodules hold the
//! [`engine`] that simulates replications, the [`accumulator`] that folds
//! them, and the [`result`] built from it.
//!
//! Values here have passed validation in [`crate::scenario`]: weights sum to 1,
//! probabilities are in range, every lifted cell is a valid distribution.

pub mod accumulator;
pub mod analysis_method;
pub mod engine;
pub mod plugged;
pub mod result;

use serde::{Deserialize, Serialize};

use crate::analysis::TestKind;
use crate::assignment::Assignment;
use crate::effect::{Faults, Lift};
use crate::metric::Distribution;
use crate::population::Population;
use crate::result::Bound;
use crate::stats::normal_quantile;

/// One metric of an experiment: its name, baseline distribution and covariate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's name in the scenario (and in the result's comparisons).
    pub name: String,
    /// Stream tag: FNV-1a of the name, so a metric's draws do not depend on the
    /// other metrics listed.
    pub tag: u32,
    /// Distribution of the metric under control, before any lift or fault.
    pub baseline: Distribution,
    /// Correlation of the pre-period covariate with the metric (under control),
    /// in [0, 1]; None when the scenario asks for no covariate.
    pub covariate_correlation: Option<f64>,
    /// Per-event observation in a clustered population: the within-user
    /// correlation and the unit of analysis. Some exactly when the
    /// population has `events_per_unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustering: Option<crate::cluster::Clustering>,
    /// For a `type = "quantile"` metric, the level q in (0, 1): the metric
    /// is the q-quantile of `baseline`'s values, not their mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// A cap on the values the analysis sees (never on the truth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<crate::metric::Cap>,
}

/// When the looks happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookSchedule {
    /// After equal numbers of units: look k sees the first ⌈N·k/K⌉ units.
    Samples,
    /// At day boundaries: look k at the end of day ⌈D·k/K⌉, seeing the
    /// units that arrived by then (a random number).
    Days,
}

/// How and when the experiment is analysed: looks, tests and significance levels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisConfig {
    /// Number of looks K (1 = fixed horizon only).
    pub looks: usize,
    /// When the looks happen (by sample size or at day boundaries).
    pub looks_at: LookSchedule,
    /// Two-sided significance level of the tests and 1 − confidence of intervals.
    pub alpha: f64,
    /// The test per metric (parallel to `Experiment::metrics`).
    pub tests: Vec<TestKind>,
    /// Significance level of the SRM chi-square test.
    pub srm_alpha: f64,
    /// Index of the metric the top-level `[expect]` bounds refer to.
    pub primary_metric: usize,
}

/// A measure of one comparison or of the whole experiment that an expectation
/// can bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Rejection rate when the true effect is zero.
    FalsePositiveRate,
    /// Rejection rate when the true effect is non-zero.
    Power,
    /// Rejection rate, whatever the truth.
    RejectionRate,
    /// Share of intervals for the absolute lift that contain the true lift.
    Coverage,
    /// Same for the relative lift.
    RelativeCoverage,
    /// KS distance of the p-values from Uniform(0, 1).
    KsDistance,
    /// Mean estimated absolute lift minus the true lift.
    Bias,
    /// Mean estimated absolute lift.
    MeanEstimate,
    /// Rate at which the SRM test fires (experiment-wide).
    SrmDetectionRate,
    /// Share of replications where a method rejected any true null.
    FamilyWiseErrorRate,
    /// Mean share of a method's rejections that are true nulls.
    FalseDiscoveryRate,
    /// Mean look at which the method stopped (1-based; the last when it never rejected).
    MeanStoppingLook,
    /// Mean units in the compared arms when the method stopped.
    MeanSampleSize,
    /// CUPED's mean variance reduction.
    VarianceReduction,
}

impl Measure {
    /// Every measure, in declaration order.
    pub const ALL: [Measure; 14] = [
        Measure::FalsePositiveRate,
        Measure::Power,
        Measure::RejectionRate,
        Measure::Coverage,
        Measure::RelativeCoverage,
        Measure::KsDistance,
        Measure::Bias,
        Measure::MeanEstimate,
        Measure::SrmDetectionRate,
        Measure::FamilyWiseErrorRate,
        Measure::FalseDiscoveryRate,
        Measure::MeanStoppingLook,
        Measure::MeanSampleSize,
        Measure::VarianceReduction,
    ];

    /// The measure's name in scenarios and results, e.g. `false_positive_rate`.
    pub fn key(self) -> &'static str {
        match self {
            Measure::FalsePositiveRate => "false_positive_rate",
            Measure::Power => "power",
            Measure::RejectionRate => "rejection_rate",
            Measure::Coverage => "coverage",
            Measure::RelativeCoverage => "relative_coverage",
            Measure::KsDistance => "ks_distance",
            Measure::Bias => "bias",
            Measure::MeanEstimate => "mean_estimate",
            Measure::SrmDetectionRate => "srm_detection_rate",
            Measure::FamilyWiseErrorRate => "family_wise_error_rate",
            Measure::FalseDiscoveryRate => "false_discovery_rate",
            Measure::MeanStoppingLook => "mean_stopping_look",
            Measure::MeanSampleSize => "mean_sample_size",
            Measure::VarianceReduction => "variance_reduction",
        }
    }

    /// The measure named `key` (see [`Measure::key`]), if any.
    pub fn from_key(key: &str) -> Option<Measure> {
        Self::ALL.into_iter().find(|m| m.key() == key)
    }

    /// Whether the measure is a rejection rate (false positive rate, power or rejection rate).
    pub fn is_rejection_rate(self) -> bool {
        matches!(
            self,
            Measure::FalsePositiveRate | Measure::Power | Measure::RejectionRate
        )
    }

    /// Where the measure lives: per comparison, per method, or per experiment.
    pub fn scope(self) -> MeasureScope {
        match self {
            Measure::SrmDetectionRate => MeasureScope::Experiment,
            Measure::FamilyWiseErrorRate | Measure::FalseDiscoveryRate => MeasureScope::Method,
            _ => MeasureScope::Comparison,
        }
    }

    /// Measures with a closed form to check `near_theory` against.
    pub fn has_theory(self) -> bool {
        self.is_rejection_rate() || self == Measure::VarianceReduction
    }
}

/// Where a measure lives, see [`Measure::scope`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeasureScope {
    /// Per comparison (one metric, one variant) of a method.
    Comparison,
    /// Per method, across its comparisons.
    Method,
    /// Experiment-wide, shared by all methods.
    Experiment,
}

/// One bound from the scenario's `[expect]` tables, resolved to what it measures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// The dotted key in the scenario, e.g. `expect.msprt.false_positive_rate`.
    pub key: String,
    /// What the bound is on.
    pub measure: Measure,
    /// Index into `Experiment::methods`.
    pub method: usize,
    /// The comparison (index into `Experiment::comparisons()`); None for
    /// method- and experiment-wide measures.
    pub comparison: Option<usize>,
    /// The minimum, maximum and `near_theory` check to apply.
    pub bound: Bound,
}

/// One treatment variant against the control on one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// Index into `Experiment::metrics`.
    pub metric: usize,
    /// Arm index of the treatment (≥ 1; arm 0 is the control).
    pub variant: usize,
}

/// A validated experiment scenario: everything the engine needs to simulate and judge it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// The scenario's name.
    pub name: String,
    /// Root seed of every random stream of the run.
    pub seed: u64,
    /// Number of replications (simulated experiments) to run.
    pub replications: u64,
    /// Who arrives, when, and in which segments.
    pub population: Population,
    /// How units are split between the arms (arm 0 is the control).
    pub assignment: Assignment,
    /// The metrics measured on every unit, in scenario order.
    pub metrics: Vec<Metric>,
    /// `lifts[arm][metric]`; the control row is all None.
    pub lifts: Vec<Vec<Option<Lift>>>,
    /// Data-quality faults: units lost per arm (SRM) and events lost per metric and arm.
    pub faults: Faults,
    /// Looks, tests and significance levels.
    pub analysis: AnalysisConfig,
    /// At least one; the first is the one top-level `[expect]` bounds refer to.
    pub methods: Vec<crate::method::Method>,
    /// The bounds to judge the run by.
    pub expectations: Vec<Expectation>,
}

impl Experiment {
    /// The day (1-based, capped at the window) at the end of which each look
    /// happens, for `looks_at = "days"`.
    pub fn look_days(&self) -> Vec<usize> {
        let days = self.population.duration_days.ceil().max(1.0) as usize;
        let k = self.analysis.looks;
        (1..=k)
            .map(|j| ((days * j).div_ceil(k)).clamp(1, days))
            .collect()
    }

    /// Units seen by each look when looks are by sample size.
    pub fn sample_boundaries(&self) -> Vec<u64> {
        let (n, k) = (self.population.users, self.analysis.looks as u64);
        (1..=k)
            .map(|j| ((u128::from(n) * u128::from(j)).div_ceil(u128::from(k))) as u64)
            .collect()
    }

    /// Planned information fractions of the looks (what group-sequential
    /// boundaries are computed for): the share of units, or of the window.
    pub fn planned_fractions(&self) -> Vec<f64> {
        match self.analysis.looks_at {
            LookSchedule::Samples => {
                let n = self.population.users as f64;
                self.sample_boundaries()
                    .iter()
                    .map(|&b| b as f64 / n)
                    .collect()
            }
            LookSchedule::Days => {
                let d = self.population.duration_days;
                self.look_days()
                    .iter()
                    .map(|&day| (day as f64).min(d) / d)
                    .collect()
            }
        }
    }

    /// Whether replications run on the clustered path: the population has
    /// events per user, a metric has its own (a ratio metric), a metric
    /// is a quantile (which needs every value), a metric is capped, or a
    /// lift has a novelty effect (which needs each user's arrival day).
    pub fn is_clustered(&self) -> bool {
        self.population.events_per_unit.is_some()
            || (0..self.metrics.len()).any(|m| self.has_novelty(m))
            || self.metrics.iter().any(|m| {
                m.quantile.is_some()
                    || m.cap.is_some()
                    || m.clustering.is_some_and(|c| c.events.is_some())
            })
    }

    /// Whether `metric` is analysed as a ratio (per-user sums, delta method)
    /// and has a pre-period covariate: its CUPED needs the pre-period
    /// numerator and denominator ([`crate::analysis::ratio::RatioPre`]).
    pub fn ratio_covariate(&self, metric: usize) -> bool {
        let m = &self.metrics[metric];
        m.covariate_correlation.is_some()
            && m.clustering
                .is_some_and(|c| c.unit == crate::cluster::AnalysisUnit::Ratio)
    }

    /// Whether any metric is a ratio with a covariate.
    pub fn has_ratio_covariate(&self) -> bool {
        (0..self.metrics.len()).any(|m| self.ratio_covariate(m))
    }

    /// Draws per user, summed over the metrics: one value each, plus the
    /// mean events per user of each per-event metric. What the work cap
    /// and the chunk size count.
    pub fn draws_per_user(&self) -> f64 {
        let per_metric = |m: &Metric| {
            1.0 + m
                .clustering
                .and_then(|c| c.events.or(self.population.events_per_unit))
                .map_or(0.0, |e| crate::cluster::EventCounts::new(&e).moments().mean)
        };
        self.metrics.iter().map(per_metric).sum()
    }

    /// Number of arms, the control included.
    pub fn arms(&self) -> usize {
        self.assignment.variants.len()
    }

    /// Number of population segments.
    pub fn segments(&self) -> usize {
        self.population.segments.len()
    }

    /// Comparisons in a fixed order: metric-major, then variant.
    pub fn comparisons(&self) -> Vec<Comparison> {
        (0..self.metrics.len())
            .flat_map(|metric| (1..self.arms()).map(move |variant| Comparison { metric, variant }))
            .collect()
    }

    /// Index in [`Experiment::comparisons`] of the comparison of `variant` (≥ 1) on `metric`.
    pub fn comparison_index(&self, metric: usize, variant: usize) -> usize {
        metric * (self.arms() - 1) + (variant - 1)
    }

    /// The distribution of `metric` for units of `segment` in `arm`. Validation
    /// guarantees the lifted cell is valid; should it not be, the baseline is
    /// used rather than panicking.
    pub fn cell(&self, metric: usize, segment: usize, arm: usize) -> Distribution {
        let base = self.metrics[metric].baseline;
        match self
            .lifts
            .get(arm)
            .and_then(|row| row.get(metric))
            .and_then(Option::as_ref)
        {
            Some(lift) => base
                .with_mean(lift.apply(base.mean(), segment))
                .unwrap_or(base),
            None => base,
        }
    }

    /// The cell of `metric` in `arm` (one segment) for users arriving on day
    /// `day` (0-based): the long-run lift plus the novelty's share that day.
    pub fn cell_on_day(&self, metric: usize, arm: usize, day: usize) -> Distribution {
        let base = self.metrics[metric].baseline;
        match self.lift(metric, arm) {
            Some(lift) => base
                .with_mean(lift.apply_on_day(base.mean(), 0, day))
                .unwrap_or(base),
            None => base,
        }
    }

    fn lift(&self, metric: usize, arm: usize) -> Option<&Lift> {
        self.lifts
            .get(arm)
            .and_then(|row| row.get(metric))
            .and_then(Option::as_ref)
    }

    /// Whether a variant's lift on `metric` has a novelty effect.
    pub fn has_novelty(&self, metric: usize) -> bool {
        (0..self.arms()).any(|a| self.lift(metric, a).is_some_and(|l| l.novelty.is_some()))
    }

    /// The population mean of `metric` in `arm` (segment mixture), before faults.
    pub fn true_mean(&self, metric: usize, arm: usize) -> f64 {
        if let Some(q) = self.metrics[metric].quantile {
            // One segment (validated): the cell's own quantile.
            let d = self.cell(metric, 0, arm);
            return d.quantile_and_density(q).map_or(f64::NAN, |(x, _)| x);
        }
        self.population
            .segments
            .iter()
            .enumerate()
            .map(|(s, seg)| seg.weight * self.cell(metric, s, arm).mean())
            .sum()
    }

    /// True absolute and relative lift of a comparison: the estimands.
    pub fn true_effect(&self, c: Comparison) -> (f64, f64) {
        let mc = self.true_mean(c.metric, 0);
        let mt = self.true_mean(c.metric, c.variant);
        (mt - mc, if mc != 0.0 { mt / mc - 1.0 } else { f64::NAN })
    }

    /// Mean and variance of the *observed* metric in `arm`: the segment mixture,
    /// with lost events recorded as 0.
    ///
    /// For a quantile metric: the quantile ξ and the asymptotic per-unit
    /// variance of the sample quantile, q(1 − q)/f(ξ)² (a mean of that
    /// variance behaves as the quantile does, to first order).
    fn observed_moments(&self, metric: usize, arm: usize) -> (f64, f64) {
        if let Some(q) = self.metrics[metric].quantile {
            let d = self.cell(metric, 0, arm);
            return d
                .quantile_and_density(q)
                .map_or((f64::NAN, f64::NAN), |(x, f)| (x, q * (1.0 - q) / (f * f)));
        }
        if let Some(cap) = self.metrics[metric].cap {
            // One segment and no faults (validated): the capped cell.
            return self
                .cell(metric, 0, arm)
                .capped_moments(self.cap_value(metric, cap));
        }
        let keep = 1.0 - self.faults.lost_rate(metric, arm);
        let (mut m1, mut m2) = (0.0, 0.0);
        for (s, seg) in self.population.segments.iter().enumerate() {
            let d = self.cell(metric, s, arm);
            m1 += seg.weight * d.mean();
            m2 += seg.weight * (d.variance() + d.mean() * d.mean());
        }
        let mean = keep * m1;
        (mean, keep * m2 - mean * mean)
    }

    /// The value a cap stands at: an absolute cap itself, or a quantile cap's
    /// population counterpart, the quantile of both arms' values pooled at
    /// the expected shares.
    pub fn cap_value(&self, metric: usize, cap: crate::metric::Cap) -> f64 {
        match cap {
            crate::metric::Cap::Absolute(c) => c,
            crate::metric::Cap::Quantile(q) => {
                let shares = self.assignment.expected_shares();
                let cells: Vec<_> = shares
                    .iter()
                    .enumerate()
                    .map(|(a, &w)| (w, self.cell(metric, 0, a)))
                    .collect();
                crate::metric::mixture_quantile(&cells, q)
            }
        }
    }

    /// Expected analysed units per arm.
    pub fn expected_arm_sizes(&self) -> Vec<f64> {
        let n = self.population.users as f64;
        self.assignment
            .expected_shares()
            .iter()
            .enumerate()
            .map(|(a, share)| {
                let loss = self.faults.srm_loss.get(a).copied().unwrap_or(0.0);
                n * share * (1.0 - loss)
            })
            .collect()
    }

    /// The normal approximation of a comparison's test at the expected arm
    /// sizes: the true difference Δ, the standard error σ₀ the test uses
    /// under H₀ (pooled for the z-test) and the unpooled one σ₁.
    ///
    /// In a clustered population the sizes are events or users, as the
    /// metric's unit counts them, and σ₁ carries the design effect where the
    /// test ignores it (see [`Experiment::clustered_scales`]).
    pub fn test_scales(&self, c: Comparison) -> (f64, f64, f64) {
        let sizes = self.expected_arm_sizes();
        let (nc, nt) = (sizes[0], sizes[c.variant]);
        let (mc, vc) = self.observed_moments(c.metric, 0);
        let (mt, vt) = self.observed_moments(c.metric, c.variant);
        let clustering = self.metrics[c.metric].clustering;
        if let Some((cl, events)) =
            clustering.and_then(|cl| Some((cl, cl.events.or(self.population.events_per_unit)?)))
        {
            let moments = crate::cluster::EventCounts::new(&events).moments();
            let pooled = self.analysis.tests[c.metric] == TestKind::Z;
            return clustered_scales(&moments, cl, pooled, [(nc, mc, vc), (nt, mt, vt)]);
        }
        let sigma1 = (vc / nc + vt / nt).sqrt();
        let sigma0 = match self.analysis.tests[c.metric] {
            TestKind::Z => {
                let pbar = (nc * mc + nt * mt) / (nc + nt);
                (pbar * (1.0 - pbar) * (1.0 / nc + 1.0 / nt)).sqrt()
            }
            TestKind::Welch | TestKind::Ratio | TestKind::Quantile => sigma1,
        };
        (mt - mc, sigma0, sigma1)
    }

    /// Closed-form normal-approximation rejection rate of a comparison at the
    /// expected arm sizes: Φ((|Δ| − z·σ₀)/σ₁) + Φ((−|Δ| − z·σ₀)/σ₁), with σ₀ the
    /// standard error the test uses under H₀ (pooled for the z-test) and σ₁ the
    /// unpooled one.
    pub fn theoretical_rejection_rate(&self, c: Comparison) -> f64 {
        let (d, sigma0, sigma1) = self.test_scales(c);
        let z = normal_quantile(1.0 - self.analysis.alpha / 2.0);
        crate::analysis::normal_approx_rejection_rate(d, sigma0, sigma1, z)
    }
}

/// [`Experiment::test_scales`] for a metric observed per event, from the
/// expected users, per-event mean and per-event variance of control and
/// treatment. With N = users × E[m] events and the design effect
/// DE = 1 + (E[m²]/E[m] − 1)·icc, the pooled per-event mean has variance
/// DE·σ²/N:
/// - `event` tests with σ²/N (σ₀, pooled when `pooled`: the z-test) while σ₁ has DE,
///   so it rejects a true null with probability 2Φ(−z·σ₀/σ₁) ≈ 2Φ(−z/√DE);
/// - `ratio` estimates DE·σ²/N itself: σ₀ = σ₁;
/// - `user` compares the means of the users with an event, whose variance
///   is σ²·(icc + (1 − icc)·E[1/m | m ≥ 1]): σ₀ = σ₁.
fn clustered_scales(
    events: &crate::cluster::EventMoments,
    cl: crate::cluster::Clustering,
    pooled: bool,
    arms: [(f64, f64, f64); 2],
) -> (f64, f64, f64) {
    use crate::cluster::AnalysisUnit;
    let [(nc, mc, vc), (nt, mt, vt)] = arms;
    let de = events.design_effect(cl.icc);
    let (ec, et) = (nc * events.mean, nt * events.mean);
    match cl.unit {
        AnalysisUnit::Event => {
            let naive = (vc / ec + vt / et).sqrt();
            let sigma0 = if pooled {
                let pbar = (ec * mc + et * mt) / (ec + et);
                (pbar * (1.0 - pbar) * (1.0 / ec + 1.0 / et)).sqrt()
            } else {
                naive
            };
            (mt - mc, sigma0, naive * de.sqrt())
        }
        AnalysisUnit::Ratio => {
            let s = (de * (vc / ec + vt / et)).sqrt();
            (mt - mc, s, s)
        }
        AnalysisUnit::User => {
            let per_user = |v: f64| v * (cl.icc + (1.0 - cl.icc) * events.mean_inverse);
            let (uc, ut) = (nc * events.p_any, nt * events.p_any);
            let s = (per_user(vc) / uc + per_user(vt) / ut).sqrt();
            (mt - mc, s, s)
        }
    }
}

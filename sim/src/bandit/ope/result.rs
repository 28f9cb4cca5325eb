//! The off-policy study's table and verdicts, built from a finished
//! [`OpeAcc`]: per target, its truth; per log size, target and estimator,
//! the bias with its Monte Carlo interval, the RMSE, the coverage with its
//! Wilson interval and the mean interval width.

use serde::{Deserialize, Serialize};

use super::acc::{OpeAcc, OpeCell};
use super::estimators::Estimator;
use super::study::{OpeExpectation, OpeMeasure, OpeSpec, StaticPolicy};
use crate::result::{
    Bound, INTERVAL_ALPHA, MeanEstimate, check_min_max, mean_estimate, not_finite_message,
    verdict_message,
};
use crate::stats::{Proportion, wilson};

/// A target with its true value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeTargetResult {
    /// The target's name.
    pub name: String,
    /// The policy.
    pub policy: StaticPolicy,
    /// Its true value, averaged over `truth_contexts` contexts.
    pub truth: f64,
    /// That average's Monte Carlo standard error.
    pub truth_se: f64,
}

/// One cell of the table: an estimator of one target at one log size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeRow {
    /// The target's name.
    pub target: String,
    /// The estimator.
    pub estimator: Estimator,
    /// Rounds in each log.
    pub log_size: u64,
    /// Replications that gave an estimate.
    pub estimates: u64,
    /// Mean error against the truth, with its Monte Carlo interval (`sd` is
    /// the estimator's standard deviation across logs).
    pub bias: MeanEstimate,
    /// Root mean squared error against the truth.
    pub rmse: f64,
    /// Share of intervals that held the truth, with its Wilson interval.
    pub coverage: Proportion,
    /// Mean width of the estimator's interval.
    pub mean_width: f64,
}

/// The study's result: the setting, the truths and the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeResult {
    /// The policy that logged the data.
    pub logging: StaticPolicy,
    /// Rounds per log, ascending.
    pub log_sizes: Vec<u64>,
    /// The estimators' intervals are at level 1 − alpha.
    pub alpha: f64,
    /// The ridge reward model's penalty.
    pub ridge_lambda: f64,
    /// Contexts each truth is averaged over.
    pub truth_contexts: u64,
    /// Draws behind each logged propensity, when they are estimates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity_draws: Option<u64>,
    /// The targets, in scenario order.
    pub targets: Vec<OpeTargetResult>,
    /// Log sizes × targets × estimators, in that order.
    pub rows: Vec<OpeRow>,
}

fn row(target: &str, estimator: Estimator, log_size: u64, cell: &OpeCell) -> OpeRow {
    let nan = MeanEstimate {
        value: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
        sd: f64::NAN,
    };
    let n = cell.estimates();
    OpeRow {
        target: target.to_owned(),
        estimator,
        log_size,
        estimates: n,
        bias: mean_estimate(&cell.error, Some(&cell.error_sq), 0.0).unwrap_or(nan),
        rmse: cell.error_sq.mean().map_or(f64::NAN, f64::sqrt),
        coverage: wilson(cell.covered, n, INTERVAL_ALPHA),
        mean_width: cell.width.mean().unwrap_or(f64::NAN),
    }
}

impl OpeResult {
    /// The table of `spec` from its finished accumulator.
    pub fn build(spec: &OpeSpec, acc: &OpeAcc) -> Self {
        let mut rows = Vec::with_capacity(spec.cells());
        let mut cells = acc.cells.iter();
        for &size in &spec.log_sizes {
            for t in &spec.targets {
                for e in Estimator::ALL {
                    if let Some(cell) = cells.next() {
                        rows.push(row(&t.name, e, size, cell));
                    }
                }
            }
        }
        OpeResult {
            logging: spec.logging,
            log_sizes: spec.log_sizes.clone(),
            alpha: spec.alpha,
            ridge_lambda: spec.ridge_lambda,
            truth_contexts: spec.truth_contexts,
            propensity_draws: spec.propensity_draws,
            targets: spec
                .targets
                .iter()
                .zip(&acc.truth)
                .map(|(t, &(truth, truth_se))| OpeTargetResult {
                    name: t.name.clone(),
                    policy: t.policy,
                    truth,
                    truth_se,
                })
                .collect(),
            rows,
        }
    }

    /// The row of target `t`, estimator `e` at log size index `s`.
    pub fn row(&self, s: usize, t: usize, e: Estimator) -> Option<&OpeRow> {
        if s >= self.log_sizes.len() || t >= self.targets.len() {
            return None;
        }
        let i = Estimator::ALL.iter().position(|&x| x == e)?;
        let per_size = self.targets.len() * Estimator::ALL.len();
        self.rows.get(s * per_size + t * Estimator::ALL.len() + i)
    }
}

/// One verdict on an off-policy measure.
#[derive(Clone, Debug, PartialEq)]
pub struct OpeVerdict {
    /// `expect.TARGET.ESTIMATOR.MEASURE`, with `@SIZE` when the expectation
    /// is judged at every log size.
    pub key: String,
    /// What was measured.
    pub measure: OpeMeasure,
    /// The target's name.
    pub target: String,
    /// The bounds.
    pub bound: Bound,
    /// The value (NaN when undefined).
    pub measured: f64,
    /// Its interval, for bias and coverage.
    pub interval: Option<(f64, f64)>,
    /// Whether it lies within the bounds.
    pub passed: bool,
    /// The verdict in words.
    pub message: String,
}

/// The verdicts of `spec`'s expectations on `result`, then a failed
/// verdict for every cell whose sums overflowed.
pub fn judge(spec: &OpeSpec, result: &OpeResult, acc: &OpeAcc) -> Vec<OpeVerdict> {
    let mut out = Vec::new();
    for e in &spec.expectations {
        let sizes: Vec<usize> = match e.log_size {
            Some(s) => vec![s],
            None => (0..spec.log_sizes.len()).collect(),
        };
        for s in sizes {
            let Some(r) = result.row(s, e.target, e.estimator) else {
                continue;
            };
            let (measured, interval) = match e.measure {
                OpeMeasure::Bias => (r.bias.value, Some((r.bias.lo, r.bias.hi))),
                OpeMeasure::Rmse => (r.rmse, None),
                OpeMeasure::Coverage => (r.coverage.value, Some((r.coverage.lo, r.coverage.hi))),
                OpeMeasure::RmseRatio => {
                    let other = e
                        .relative_to
                        .and_then(|o| result.row(s, o, e.estimator))
                        .map_or(f64::NAN, |o| o.rmse);
                    (r.rmse / other, None)
                }
            };
            out.push(verdict(e, spec, s, measured, interval, &result.targets));
        }
    }
    for (c, cell) in acc.cells.iter().enumerate() {
        if cell.overflowed > 0 {
            let per_size = spec.targets.len() * Estimator::ALL.len();
            let (s, t, i) = (c / per_size, (c % per_size) / 4, c % 4);
            let key = format!(
                "{}.{}.bias@{}",
                spec.targets[t].name,
                Estimator::ALL[i].name(),
                spec.log_sizes[s]
            );
            out.push(OpeVerdict {
                message: not_finite_message(&key, f64::NAN),
                key,
                measure: OpeMeasure::Bias,
                target: spec.targets[t].name.clone(),
                bound: Bound::default(),
                measured: f64::NAN,
                interval: None,
                passed: false,
            });
        }
    }
    out
}

fn verdict(
    e: &OpeExpectation,
    spec: &OpeSpec,
    s: usize,
    measured: f64,
    interval: Option<(f64, f64)>,
    targets: &[OpeTargetResult],
) -> OpeVerdict {
    let key = if e.log_size.is_some() {
        e.key.clone()
    } else {
        format!("{}@{}", e.key, spec.log_sizes[s])
    };
    let (passed, parts) = check_min_max(measured, &e.bound);
    OpeVerdict {
        message: verdict_message(passed, &key, measured, interval, &parts),
        key,
        measure: e.measure,
        target: targets[e.target].name.clone(),
        bound: e.bound,
        measured,
        interval,
        passed,
    }
}
